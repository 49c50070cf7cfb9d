//! `/api/v1/users/me/api-keys`: the caller's own personal tokens.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::key_page;
use crate::api_keys::personal;
use crate::authz::Caller;
use crate::clock;
use crate::db;
use crate::db::models::api_keys;
use crate::error::ApiError;
use crate::http::json::Json;
use crate::http::pagination::PageQuery;
use crate::http::shapes::key_bodies::CreatePersonalBody;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    include_revoked: Option<bool>,
    #[serde(flatten)]
    page: PageQuery,
}

#[utoipa::path(get, path = "/api/v1/users/me/api-keys", tag = "keys", params(("include_revoked" = Option<bool>, Query), ("limit" = Option<i64>, Query, description = "1 to 100, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = crate::http::pagination::Page<crate::http::shapes::keys::KeyView>)), security(("bearer" = []), ("api_key" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.page.validate()?;
    let include_revoked = query.include_revoked.unwrap_or(false);
    let rows = db::run(&state.pool, move |conn| {
        personal::list(
            conn,
            &caller,
            include_revoked,
            page.after.as_ref(),
            page.limit,
        )
    })
    .await?;
    Ok(HttpResponse::Ok().json(key_page(rows, page.limit, &state.usage)))
}

#[utoipa::path(post, path = "/api/v1/users/me/api-keys", tag = "keys", request_body = CreatePersonalBody,
    responses((status = 201, body = crate::http::shapes::keys::KeyWithSecret)), security(("bearer" = []), ("api_key" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<CreatePersonalBody>,
) -> Result<HttpResponse, ApiError> {
    let now = clock::now();
    let (workspace, fields) = body.validate(now)?;
    let (key, secret) = db::run(&state.pool, move |conn| {
        personal::create(conn, &caller, workspace, fields, now)
    })
    .await?;
    Ok(super::created(key, &secret, &state.usage))
}

#[utoipa::path(post, path = "/api/v1/users/me/api-keys/{id}/rotate", tag = "keys", params(("id" = String, Path, description = "Key id")),
    request_body(content = Option<crate::http::shapes::key_bodies::RotateKeyBody>, content_type = "application/json"),
    responses((status = 200, body = crate::http::shapes::keys::KeyWithSecret)), security(("bearer" = []), ("api_key" = [])))]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let grace = super::grace_period(&request, body)?;
    let (key, secret) = db::run(&state.pool, move |conn| {
        let (key, secret) = personal::rotate(conn, &caller, &id, grace, clock::now())?;
        Ok((api_keys::with_usage(conn, key)?, secret))
    })
    .await?;
    Ok(super::rotated(key, &secret, &state.usage))
}

#[utoipa::path(delete, path = "/api/v1/users/me/api-keys/{id}", tag = "keys", params(("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Revoked")), security(("bearer" = []), ("api_key" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    db::run(&state.pool, move |conn| {
        personal::revoke(conn, &caller, &id, clock::now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
