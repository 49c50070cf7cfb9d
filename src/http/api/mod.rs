//! The management API under `/api/v1`: every route needs a credential
//! (the [`Caller`](crate::authz::Caller) extractor), so even unknown routes
//! answer 401 without one and 404 with one.

pub mod keys;
pub mod people;
pub mod personal;
pub mod portal_sessions;
pub mod trust_policies;

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, web};

use crate::authz::Caller;
use crate::db::models::api_keys::{ApiKey, Position, StoredUsage};
use crate::error::ApiError;
use crate::http::pagination::Page;
use crate::http::shapes::key_bodies::RotateKeyBody;
use crate::http::shapes::keys::KeyView;
use crate::secrets::Secret;
use crate::usage::UsageBuffer;

/// The `/api/v1` fallback; its routes are in the table of [`super`].
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(web::scope("/api/v1").default_service(web::to(unknown_route)));
}

/// Authenticates first, so probing for routes needs a credential.
async fn unknown_route(_caller: Caller) -> Result<HttpResponse, ApiError> {
    Err(ApiError::not_found("route"))
}

/// A page of keys as the API shows them, newest first.
pub(crate) fn key_page(
    rows: Vec<(ApiKey, StoredUsage)>,
    limit: i64,
    pending: &UsageBuffer,
) -> Page<KeyView> {
    let position = |(key, _): &(ApiKey, StoredUsage)| Position {
        created_at: key.created_at,
        id: key.id.clone(),
    };
    Page::from_rows(rows, limit, position, |(key, stored)| {
        KeyView::new(key, stored, pending)
    })
}

/// A key just created: 201 with its secret, shown this once. It has no
/// uses yet.
pub(crate) fn created(key: ApiKey, secret: &Secret, pending: &UsageBuffer) -> HttpResponse {
    reveal(
        StatusCode::CREATED,
        (key, StoredUsage::default()),
        secret,
        pending,
    )
}

/// A key just rotated: 200 with its new secret, shown this once, and the
/// uses it had.
pub(crate) fn rotated(
    shown: (ApiKey, StoredUsage),
    secret: &Secret,
    pending: &UsageBuffer,
) -> HttpResponse {
    reveal(StatusCode::OK, shown, secret, pending)
}

/// The only answers that show a key's secret: never cached.
fn reveal(
    status: StatusCode,
    (key, stored): (ApiKey, StoredUsage),
    secret: &Secret,
    pending: &UsageBuffer,
) -> HttpResponse {
    HttpResponse::build(status)
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(KeyView::new(key, stored, pending).with_secret(secret))
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
