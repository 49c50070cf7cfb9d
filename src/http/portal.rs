//! The portal's API (`/portal/api/...`), authenticated by a portal session
//! token (as Bearer, or as DPoP with its proof when the session is bound)
//! and confined to that session's customer.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, HttpResponse, dev::Payload, web};

use super::api::key_page;
use super::auth::origin;
use super::credentials;
use super::json::Json;
use super::pagination::PageQuery;
use super::rate_limit;
use crate::auth;
use crate::clock;
use crate::db;
use crate::db::models::api_keys;
use crate::db::models::workspaces::{self, Plan};
use crate::error::ApiError;
use crate::http::shapes::key_bodies::PortalKeyBody;
use crate::portal::{self, PortalSession};
use crate::ratelimit::{Subject, customer_bucket};
use crate::state::AppState;
use crate::tokens::TokenKind;
use crate::tokens::portal::PortalClaims;
use crate::tokens::verify::Audiences;

impl FromRequest for PortalSession {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let state = request
                .app_data::<web::Data<AppState>>()
                .cloned()
                .ok_or_else(|| ApiError::internal("AppState missing"))?;
            let (token, dpop) = credentials::presented(&request)?.ok_or(ApiError::Unauthorized)?;
            let audience = TokenKind::Portal.fixed_audience(&state.issuer);
            let audience = Audiences::OneOf(audience.into_iter().collect());
            let claims: PortalClaims =
                state
                    .own_keys
                    .verify(&state.signing, &token, &state.issuer, audience)?;
            // A session minted with `dpop_jkt` comes only with a proof of
            // that key, as the management API's bound tokens do.
            let presented = match dpop {
                true => Some(super::dpop::presented_proof(&state, &request)?),
                false => None,
            };
            let now = clock::now();
            let proof =
                auth::check_binding(&state, claims.cnf.as_ref(), presented.as_ref(), &token, now)?;
            // The least trusted caller is limited too: its workspace plan's
            // rate, one bucket per customer whatever the session.
            let workspace_id = claims.ws.clone();
            let plan = db::run(&state.pool, move |conn| {
                Ok(workspaces::find(conn, &workspace_id)?.map(|w| Plan::from_column(&w.plan)))
            })
            .await?
            .ok_or(ApiError::InvalidToken)?;
            let bucket = customer_bucket(&claims.ws, &claims.registered.sub);
            let rate = state
                .limiter
                .acquire(Subject::Customer(&bucket), plan.rate_limit())
                .await;
            rate_limit::record(&request, rate)?;
            if let Some(proof) = &proof {
                let now = now.and_utc().timestamp();
                (state.dpop.take(&state.used_once, proof, now).await)
                    .map_err(ApiError::at_resource)?;
            }
            Ok(PortalSession {
                workspace_id: claims.ws,
                external_id: claims.registered.sub,
                origin: origin(&request, &state),
            })
        })
    }
}

#[utoipa::path(get, path = "/portal/api/keys", tag = "portal", params(("limit" = Option<i64>, Query, description = "1 to 100, default 50"), ("cursor" = Option<String>, Query, description = "next_cursor of the previous page")),
    responses((status = 200, body = crate::http::pagination::Page<crate::http::shapes::keys::KeyView>)), security(("bearer" = [])))]
pub async fn list(
    state: web::Data<AppState>,
    session: PortalSession,
    query: web::Query<PageQuery>,
) -> Result<HttpResponse, ApiError> {
    let page = query.validate()?;
    let rows = db::run(&state.pool, move |conn| {
        portal::list(conn, &session, page.after.as_ref(), page.limit)
    })
    .await?;
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(key_page(rows, page.limit, &state.usage)))
}

#[utoipa::path(post, path = "/portal/api/keys", tag = "portal", request_body = PortalKeyBody,
    responses((status = 201, body = crate::http::shapes::keys::KeyWithSecret)), security(("bearer" = [])))]
pub async fn create(
    state: web::Data<AppState>,
    session: PortalSession,
    Json(body): Json<PortalKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let max_keys = state.config.portal_max_keys;
    let now = clock::now();
    let fields = body.validate(now)?;
    let (key, secret) = db::run(&state.pool, move |conn| {
        portal::create(conn, &session, fields, max_keys, now)
    })
    .await?;
    Ok(super::api::created(key, &secret, &state.usage))
}

#[utoipa::path(post, path = "/portal/api/keys/{id}/rotate", tag = "portal", params(("id" = String, Path, description = "Key id")),
    responses((status = 200, body = crate::http::shapes::keys::KeyWithSecret)), security(("bearer" = [])))]
pub async fn rotate(
    state: web::Data<AppState>,
    session: PortalSession,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let (key, secret) = db::run(&state.pool, move |conn| {
        let (key, secret) = portal::rotate(conn, &session, &id, clock::now())?;
        Ok((api_keys::with_usage(conn, key)?, secret))
    })
    .await?;
    Ok(super::api::rotated(key, &secret, &state.usage))
}

#[utoipa::path(delete, path = "/portal/api/keys/{id}", tag = "portal", params(("id" = String, Path, description = "Key id")),
    responses((status = 204, description = "Revoked")), security(("bearer" = [])))]
pub async fn revoke(
    state: web::Data<AppState>,
    session: PortalSession,
    id: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    db::run(&state.pool, move |conn| {
        portal::revoke(conn, &session, &id, clock::now())
    })
    .await?;
    Ok(HttpResponse::NoContent().finish())
}
