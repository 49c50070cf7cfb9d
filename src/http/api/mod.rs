//! The management API under `/api/v1`: every route needs a credential
//! (the [`Caller`](crate::authz::Caller) extractor), so even unknown routes
//! answer 401 without one and 404 with one.

pub mod keys;

use actix_web::{HttpResponse, web};

use crate::authz::Caller;
use crate::error::ApiError;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(
                super::endpoint("/workspaces/{ws}/keys")
                    .route(web::get().to(keys::list))
                    .route(web::post().to(keys::create)),
            )
            .service(
                super::endpoint("/workspaces/{ws}/keys/{id}")
                    .route(web::get().to(keys::get))
                    .route(web::patch().to(keys::update))
                    .route(web::delete().to(keys::revoke)),
            )
            .service(
                super::endpoint("/workspaces/{ws}/keys/{id}/rotate")
                    .route(web::post().to(keys::rotate)),
            )
            .default_service(web::to(unknown_route)),
    );
}

/// Authenticates first, so probing for routes needs a credential.
async fn unknown_route(_caller: Caller) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}
