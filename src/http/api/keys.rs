//! `/api/v1/workspaces/{ws}/keys`: the workspace's keys. Each handler
//! extracts, validates, does its database work in one `db::run`, responds.

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::key_page;
use crate::api_keys::{KeyKind, manage};
use crate::authz::Caller;
use crate::clock;
use crate::db;
use crate::db::models::api_keys::{self, KeyFilter};
use crate::error::ApiError;
use crate::http::json::Json;
use crate::http::pagination::PageQuery;
use crate::http::shapes::key_bodies::{CreateKeyBody, UpdateKeyBody};
use crate::http::shapes::keys::KeyView;
use crate::state::AppState;

#[derive(Debug, Deserialize)]
pub struct ListQuery {
    kind: Option<String>,
    environment: Option<String>,
    external_id: Option<String>,
    include_revoked: Option<String>,
    #[serde(flatten)]
    page: PageQuery,
}

impl ListQuery {
    fn filter(&self) -> Result<KeyFilter, ApiError> {
        let kind = match self.kind.as_deref() {
            None => None,
            Some(text) => Some(
                KeyKind::parse(text)
                    .ok_or_else(|| ApiError::validation("kind", "must be a key kind"))?
                    .as_str()
                    .to_owned(),
            ),
        };
        let include_revoked = match self.include_revoked.as_deref() {
            None | Some("false") => false,
            Some("true") => true,
            Some(_) => {
                return Err(ApiError::validation(
                    "include_revoked",
                    "must be true or false",
                ));
            }
        };
        Ok(KeyFilter {
            kind,
            environment: self.environment.clone(),
            external_id: self.external_id.clone(),
            user_id: None,
            include_revoked,
        })
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/keys", tag = "keys", params(("ws" = String, Path, description = "Workspace id or slug"), ("kind" = Option<String>, Query), ("environment" = Option<String>, Query), ("external_id" = Option<String>, Query), ("include_revoked" = Option<bool>, Query), ("limit" = Option<i64>, Query, description = "1 to 100, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = crate::http::pagination::Page<KeyView>)), security(("bearer" = []), ("api_key" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    query: web::Query<ListQuery>,
) -> Result<HttpResponse, ApiError> {
    let filter = query.filter()?;
    let page = query.page.validate()?;
    let rows = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        manage::list(conn, &access, &filter, page.after.as_ref(), page.limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(key_page(rows, page.limit, &state.usage)))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/keys", tag = "keys", params(("ws" = String, Path, description = "Workspace id or slug")), request_body = CreateKeyBody,
    responses((status = 201, description = "The key and its secret, shown once", body = crate::http::shapes::keys::KeyWithSecret)), security(("bearer" = []), ("api_key" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    Json(body): Json<CreateKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let (key, secret) = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        // Rights before field checks: a caller who may not create learns nothing more.
        access.require(crate::access::KEYS_WRITE)?;
        let now = clock::now();
        let spec = body.validate(now)?;
        manage::create(conn, &caller, &access, spec, now)
    })
    .await?;
    Ok(super::created(key, &secret, &state.usage))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/keys/{id}", tag = "keys", params(("ws" = String, Path, description = "Workspace id or slug"), ("id" = String, Path, description = "Key id")),
    responses((status = 200, body = KeyView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, id) = path.into_inner();
    let (key, stored) = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        let key = manage::get(conn, &access, &id)?;
        Ok(api_keys::with_usage(conn, key)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(KeyView::new(key, stored, &state.usage)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{ws}/keys/{id}", tag = "keys", params(("ws" = String, Path, description = "Workspace id or slug"), ("id" = String, Path, description = "Key id")), request_body = UpdateKeyBody,
    responses((status = 200, body = KeyView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Json(body): Json<UpdateKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let (ws, id) = path.into_inner();
    let (key, stored) = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        // Rights before field checks, as on create: a caller who may not
        // write keys learns nothing about its body.
        access.require(crate::access::KEYS_WRITE)?;
        let spec = body.validate()?;
        let key = manage::update(conn, &caller, &access, &id, spec)?;
        Ok(api_keys::with_usage(conn, key)?)
    })
    .await?;
    Ok(HttpResponse::Ok().json(KeyView::new(key, stored, &state.usage)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/keys/{id}", tag = "keys", params(("ws" = String, Path, description = "Workspace id or slug"), ("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Revoked")), security(("bearer" = []), ("api_key" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, id) = path.into_inner();
    db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        manage::revoke(conn, &caller, &access, &id, clock::now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

/// The body is optional: `{"grace_period_seconds": N}` or nothing.
#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/keys/{id}/rotate", tag = "keys", params(("ws" = String, Path, description = "Workspace id or slug"), ("id" = String, Path, description = "Key id")),
    request_body(content = Option<crate::http::shapes::key_bodies::RotateKeyBody>, content_type = "application/json"),
    responses((status = 200, description = "The key and its new secret, shown once", body = crate::http::shapes::keys::KeyWithSecret)), security(("bearer" = []), ("api_key" = [])))]
pub async fn rotate(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    request: HttpRequest,
    body: Result<web::Bytes, actix_web::Error>,
) -> Result<HttpResponse, ApiError> {
    let grace = super::grace_period(&request, body)?;
    let (ws, id) = path.into_inner();
    let (key, secret) = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        let (key, secret) = manage::rotate(conn, &caller, &access, &id, grace, clock::now())?;
        Ok((api_keys::with_usage(conn, key)?, secret))
    })
    .await?;
    Ok(super::rotated(key, &secret, &state.usage))
}
