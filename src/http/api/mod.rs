//! The management API under `/api/v1`: every route needs a credential
//! (the [`Caller`](crate::authz::Caller) extractor), so even unknown routes
//! answer 401 without one and 404 with one.

pub mod keys;
pub mod people;
pub mod personal;
pub mod portal_sessions;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::api_keys::request::RotateKeyBody;
use crate::api_keys::view::KeyView;
use crate::authz::Caller;
use crate::db::models::api_keys::{ApiKey, Position};
use crate::error::ApiError;
use crate::http::pagination::Page;
use crate::secrets::Secret;
use crate::usage::UsageBuffer;

pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(
        web::scope("/api/v1")
            .service(super::endpoint("/me").route(web::get().to(people::me)))
            .service(super::endpoint("/workspaces").route(web::post().to(people::create_workspace)))
            .service(
                super::endpoint("/workspaces/{ws}")
                    .route(web::get().to(people::get_workspace))
                    .route(web::patch().to(people::update_workspace)),
            )
            .service(
                super::endpoint("/workspaces/{ws}/members")
                    .route(web::get().to(people::list_members))
                    .route(web::post().to(people::add_member)),
            )
            .service(
                super::endpoint("/workspaces/{ws}/members/{user_id}")
                    .route(web::patch().to(people::change_member))
                    .route(web::delete().to(people::remove_member)),
            )
            .service(
                super::endpoint("/workspaces/{ws}/environments")
                    .route(web::get().to(people::list_environments))
                    .route(web::post().to(people::add_environment)),
            )
            .service(
                super::endpoint("/workspaces/{ws}/audit-log")
                    .route(web::get().to(people::audit_log)),
            )
            .service(
                super::endpoint("/workspaces/{ws}/portal-sessions")
                    .route(web::post().to(portal_sessions::create)),
            )
            .service(
                super::endpoint("/users/me/api-keys")
                    .route(web::get().to(personal::list))
                    .route(web::post().to(personal::create)),
            )
            .service(
                super::endpoint("/users/me/api-keys/{id}")
                    .route(web::delete().to(personal::revoke)),
            )
            .service(
                super::endpoint("/users/me/api-keys/{id}/rotate")
                    .route(web::post().to(personal::rotate)),
            )
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

/// A page of keys as the API shows them, newest first.
pub(crate) fn key_page(rows: Vec<ApiKey>, limit: i64, usage: &UsageBuffer) -> Page<KeyView> {
    let position = |key: &ApiKey| Position {
        created_at: key.created_at,
        id: key.id.clone(),
    };
    Page::from_rows(rows, limit, position, |key| KeyView::new(key, usage))
}

/// The one answer that shows a key's secret (create, rotate): never cached.
pub(crate) fn reveal(
    status: StatusCode,
    key: ApiKey,
    secret: &Secret,
    usage: &UsageBuffer,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(KeyView::new(key, usage).with_secret(secret))
}

/// The optional body of a rotation, `{"grace_period_seconds": N}`: how long
/// the old secret keeps working (`None`: it dies now).
fn grace_period(
    request: &HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<Option<chrono::Duration>, ApiError> {
    let body = body.map_err(super::json::body_error)?;
    super::json::parse_body::<RotateKeyBody>(request, &body)?
        .unwrap_or_default()
        .grace_period()
}
