//! `POST /api/v1/workspaces/{ws}/portal-sessions`: a short-lived session
//! for one customer in the embedded portal.

use actix_web::{HttpResponse, web};
use chrono::Duration;

use crate::authz::Caller;
use crate::clock;
use crate::db;
use crate::error::ApiError;
use crate::http::json::Json;
use crate::http::shapes::portal::{SessionRequest, SessionView};
use crate::portal;
use crate::state::AppState;
use crate::tokens::issue;

#[utoipa::path(post, path = "/api/v1/workspaces/{ws}/portal-sessions", tag = "portal", params(("ws" = String, Path, description = "Workspace id or slug")), request_body = SessionRequest,
    responses((status = 201, body = SessionView)), security(("bearer" = []), ("api_key" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    caller: Caller,
    ws: web::Path<String>,
    Json(body): Json<SessionRequest>,
) -> Result<HttpResponse, ApiError> {
    let spec = body.validate(state.config.portal_session_ttl)?;
    let (external_id, ttl) = (spec.external_id, spec.ttl);
    let signer = state.signer()?;
    let customer = external_id.clone();
    let workspace = db::run(&state.pool, move |conn| {
        let access = caller.access(conn, &ws)?;
        portal::authorize_session(conn, &caller, &access, &customer, ttl)?;
        Ok(access.workspace)
    })
    .await?;
    let now = clock::now();
    let issued_at = now.and_utc().timestamp();
    let token = issue::portal_session(
        &signer,
        &state.issuer,
        &workspace.id,
        &external_id,
        issued_at,
        ttl.num_seconds(),
        spec.dpop_jkt,
    )?;
    // The fragment keeps the session out of server logs and Referer headers.
    let url = format!("{}/portal/{}#session={token}", state.issuer, workspace.slug);
    Ok(HttpResponse::Created()
        .insert_header(("cache-control", "no-store"))
        .json(SessionView {
            token,
            url,
            expires_at: now + Duration::seconds(ttl.num_seconds()),
        }))
}
