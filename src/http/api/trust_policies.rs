//! `/api/v1/workspaces/{ws}/trust-policies`: which workloads' own tokens
//! the workspace exchanges for its own (federation). Each handler
//! extracts, validates, does its database work in one `db::run`, responds.

use actix_web::{HttpResponse, web};

use crate::authz::Caller;
use crate::clock;
use crate::db;
use crate::error::ApiError;
use crate::federation::manage;
use crate::http::json::Json;
use crate::http::pagination::{Page, PageQuery};
use crate::http::shapes::trust_policies::{CreatePolicyBody, PolicyView, UpdatePolicyBody};
use crate::state::AppState;

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/trust-policies", tag = "federation", params(("ws" = String, Path, description = "Workspace id or slug"), ("limit" = Option<i64>, Query, description = "1 to 100, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = Page<PolicyView>)), security(("bearer" = []), ("api_key" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let after = page.after.clone();
    let rows = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        manage::list(conn, &access, after.as_ref(), page.limit)
    })
    .await?;
    let page = Page::from_rows(rows, page.limit, |p| p.position(), PolicyView::from);
    Ok(HttpResponse::Ok().json(page))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/trust-policies", tag = "federation", params(("ws" = String, Path, description = "Workspace id or slug")), request_body = CreatePolicyBody,
    responses((status = 201, body = PolicyView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    Json(body): Json<CreatePolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let issuer = state.issuer.clone();
    let policy = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        // Rights before field checks: a caller who may not create learns nothing more.
        access.require(crate::access::KEYS_WRITE)?;
        let spec = body.validate()?;
        manage::create(conn, &caller, &access, &issuer, spec, clock::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(PolicyView::from(policy)))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/trust-policies/{id}", tag = "federation", params(("ws" = String, Path, description = "Workspace id or slug"), ("id" = String, Path, description = "Policy id")),
    responses((status = 200, body = PolicyView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn get(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, id) = path.into_inner();
    let policy = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        manage::get(conn, &access, &id)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PolicyView::from(policy)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{ws}/trust-policies/{id}", tag = "federation", params(("ws" = String, Path, description = "Workspace id or slug"), ("id" = String, Path, description = "Policy id")), request_body = UpdatePolicyBody,
    responses((status = 200, body = PolicyView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn update(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Json(body): Json<UpdatePolicyBody>,
) -> Result<HttpResponse, ApiError> {
    let (ws, id) = path.into_inner();
    let issuer = state.issuer.clone();
    let policy = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        access.require(crate::access::KEYS_WRITE)?;
        let update = body.validate()?;
        manage::update(conn, &caller, &access, &issuer, &id, update)
    })
    .await?;
    Ok(HttpResponse::Ok().json(PolicyView::from(policy)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/trust-policies/{id}", tag = "federation", params(("ws" = String, Path, description = "Workspace id or slug"), ("id" = String, Path, description = "Policy id")),
    responses((status = 204, description = "Deleted: its exchanges stop at once")), security(("bearer" = []), ("api_key" = [])))]
pub async fn delete(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, id) = path.into_inner();
    db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        manage::delete(conn, &caller, &access, &id)
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
