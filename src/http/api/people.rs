//! Workspaces, members, environments, the audit log, and `/me`.

use actix_web::{HttpResponse, web};

use crate::authz::{Caller, Principal};
use crate::clock;
use crate::db::models::api_keys::Position;
use crate::db::models::{audit::AuditEvent, memberships};
use crate::db::{self, models};
use crate::error::ApiError;
use crate::http::json::Json;
use crate::http::pagination::{Page, PageQuery};
use crate::http::shapes::people::{
    AddedMember, AuditView, CreateWorkspaceBody, EnvironmentBody, EnvironmentView, MeWorkspace,
    MemberBody, MemberView, RoleBody, UpdateWorkspaceBody, WorkspaceView,
};
use crate::members;
use crate::state::AppState;
use crate::workspaces;

#[utoipa::path(post, path = "/api/v1/workspaces", tag = "people", request_body = CreateWorkspaceBody,
    responses((status = 201, body = WorkspaceView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn create_workspace(
    state: web::Data<AppState>,
    caller: Caller,
    Json(body): Json<CreateWorkspaceBody>,
) -> Result<HttpResponse, ApiError> {
    let plan = state.config.default_plan;
    let workspace = db::run(&state.pool, move |conn| {
        let name = body.name.as_deref();
        workspaces::create(conn, &caller, &body.slug, name, plan, clock::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(WorkspaceView::from(workspace)))
}

/// Any credential holding one of keymint's scopes in the workspace may
/// read it.
#[utoipa::path(get, path = "/api/v1/workspaces/{ws}", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug")),
    responses((status = 200, body = WorkspaceView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn get_workspace(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let access = db::run(&state.pool, move |conn| caller.access(conn, &ws)).await?;
    Ok(HttpResponse::Ok().json(WorkspaceView::from(access.workspace)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{ws}", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug")), request_body = UpdateWorkspaceBody,
    responses((status = 200, body = WorkspaceView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn update_workspace(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    Json(body): Json<UpdateWorkspaceBody>,
) -> Result<HttpResponse, ApiError> {
    let workspace = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        workspaces::update(conn, &caller, &access, body.into())
    })
    .await?;
    Ok(HttpResponse::Ok().json(WorkspaceView::from(workspace)))
}

fn by_join_time(member: &members::Member) -> Position {
    Position {
        created_at: member.joined_at,
        id: member.user_id.clone(),
    }
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/members", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug"), ("limit" = Option<i64>, Query, description = "1 to 100, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = Page<MemberView>)), security(("bearer" = []), ("api_key" = [])))]
pub async fn list_members(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let rows = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        members::list(conn, &access, page.after.as_ref(), page.limit)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page::from_rows(
        rows,
        page.limit,
        by_join_time,
        MemberView::from,
    )))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/members", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug")), request_body = MemberBody,
    responses((status = 201, body = crate::http::shapes::people::AddedMember)), security(("bearer" = []), ("api_key" = [])))]
pub async fn add_member(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    Json(body): Json<MemberBody>,
) -> Result<HttpResponse, ApiError> {
    let issuer = state.issuer.clone();
    let added = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        members::add(
            conn,
            &caller,
            &access,
            &body.email,
            &body.role,
            &issuer,
            clock::now(),
        )
    })
    .await?;
    Ok(HttpResponse::Created()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(AddedMember::from(added)))
}

#[utoipa::path(patch, path = "/api/v1/workspaces/{ws}/members/{user_id}", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug"), ("user_id" = String, Path)), request_body = RoleBody,
    responses((status = 200, body = MemberView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn change_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
    Json(body): Json<RoleBody>,
) -> Result<HttpResponse, ApiError> {
    let (ws, user_id) = path.into_inner();
    let member = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        members::change_role(conn, &caller, &access, &user_id, &body.role, clock::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(MemberView::from(member)))
}

#[utoipa::path(delete, path = "/api/v1/workspaces/{ws}/members/{user_id}", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug"), ("user_id" = String, Path)),
    responses((status = 204, description = "Removed")), security(("bearer" = []), ("api_key" = [])))]
pub async fn remove_member(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (ws, user_id) = path.into_inner();
    db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        members::remove(conn, &caller, &access, &user_id, clock::now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/environments", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug")),
    responses((status = 200, body = Page<crate::http::shapes::people::EnvironmentView>)), security(("bearer" = []), ("api_key" = [])))]
pub async fn list_environments(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let environments = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        workspaces::environments(conn, &access)
    })
    .await?;
    Ok(HttpResponse::Ok().json(Page {
        data: environments
            .into_iter()
            .map(EnvironmentView::from)
            .collect::<Vec<_>>(),
        next_cursor: None,
    }))
}

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/environments", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug")), request_body = EnvironmentBody,
    responses((status = 201, body = crate::http::shapes::people::EnvironmentView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn add_environment(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    Json(body): Json<EnvironmentBody>,
) -> Result<HttpResponse, ApiError> {
    let environment = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        workspaces::add_environment(conn, &caller, &access, body.name.trim(), clock::now())
    })
    .await?;
    Ok(HttpResponse::Created().json(EnvironmentView::from(environment)))
}

#[utoipa::path(get, path = "/api/v1/workspaces/{ws}/audit-log", tag = "people", params(("ws" = String, Path, description = "Workspace id or slug"), ("limit" = Option<i64>, Query, description = "1 to 100, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = Page<AuditView>)), security(("bearer" = []), ("api_key" = [])))]
pub async fn audit_log(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let rows = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        access.require(crate::access::AUDIT_READ)?;
        Ok(models::audit::list(
            conn,
            &access.workspace.id,
            page.after.as_ref(),
            page.limit,
        )?)
    })
    .await?;
    let position = |event: &AuditEvent| Position {
        created_at: event.created_at,
        id: event.id.clone(),
    };
    Ok(HttpResponse::Ok().json(Page::from_rows(rows, page.limit, position, AuditView::from)))
}

/// Who the caller is (a person or a key), where, and with which rights.
#[utoipa::path(get, path = "/api/v1/me", tag = "people",
    responses((status = 200, description = "The caller, its workspaces, role and scopes", body = Object)), security(("bearer" = []), ("api_key" = [])))]
pub async fn me(state: web::Data<AppState>, caller: Caller) -> Result<HttpResponse, ApiError> {
    let body = db::run(&state.pool, move |conn| {
        let workspace_ids: Vec<String> = match &caller.principal {
            Principal::Key(authenticated) => vec![authenticated.key.workspace_id.clone()],
            Principal::User(user) => memberships::of_user(conn, &user.id)?
                .into_iter()
                .map(|m| m.workspace_id)
                .collect(),
        };
        let mut workspaces = Vec::new();
        for id in workspace_ids {
            let access = caller.standing(conn, &id)?;
            workspaces.push(MeWorkspace {
                id: access.workspace.id,
                slug: access.workspace.slug,
                name: access.workspace.name,
                role: access.role,
                scopes: access.scopes,
            });
        }
        let user = caller
            .user()
            .map(|u| serde_json::json!({ "id": u.id, "email": u.email }));
        let key = match &caller.principal {
            Principal::Key(a) => {
                Some(serde_json::json!({ "id": a.key.id, "kind": a.key.kind, "name": a.key.name }))
            }
            Principal::User(_) => None,
        };
        let kind = if key.is_some() { "key" } else { "user" };
        Ok(serde_json::json!({ "type": kind, "user": user, "key": key, "workspaces": workspaces }))
    })
    .await?;
    Ok(HttpResponse::Ok().json(body))
}
