//! `POST /auth/login` and `POST /auth/accept-invite`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;

use super::auth::origin;
use super::json::Json;
use crate::clock;
use crate::db;
use crate::error::ApiError;
use crate::passwords::{self, MAX_PASSWORD_LEN};
use crate::state::AppState;
use crate::throttle;

/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_LEN: usize = 8;

/// What `/auth/login` answers.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct LoginResponse {
    access_token: String,
    token_type: &'static str,
    expires_in: u32,
}

/// What `/auth/accept-invite` answers: who can now log in.
#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct AcceptedInvitation {
    user: InvitedUser,
}

#[derive(serde::Serialize, utoipa::ToSchema)]
pub struct InvitedUser {
    id: String,
    email: String,
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct LoginBody {
    email: String,
    password: String,
}

#[utoipa::path(post, path = "/auth/login", tag = "people", request_body = LoginBody,
    responses((status = 200, description = "A login token (audience <issuer>/api)", body = LoginResponse)))]
pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&request, &state);
    let logged_in = crate::login::login(&state, &body.email, &body.password, origin).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(LoginResponse {
            access_token: logged_in.access_token,
            token_type: "Bearer",
            expires_in: logged_in.expires_in,
        }))
}

#[derive(Deserialize, utoipa::ToSchema)]
pub struct AcceptBody {
    token: String,
    password: String,
}

/// Failed invitation attempts allowed per minute from one client address.
pub const INVITE_FAILURES_PER_IP: u32 = 20;

/// Sets the invited person's password; they log in with it afterwards.
/// The attempt is counted and the token looked up before the password is
/// hashed, so bogus tokens cost the server no hashing.
#[utoipa::path(post, path = "/auth/accept-invite", tag = "people", request_body = AcceptBody,
    responses((status = 200, description = "The password is set", body = AcceptedInvitation)))]
pub async fn accept_invite(
    request: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<AcceptBody>,
) -> Result<HttpResponse, ApiError> {
    let length = body.password.chars().count();
    if length < MIN_PASSWORD_LEN || body.password.len() > MAX_PASSWORD_LEN {
        return Err(ApiError::validation(
            "password",
            "must be at least 8 characters (and at most 1024 bytes)",
        ));
    }
    let now = clock::now();
    let now_unix = now.and_utc().timestamp();
    let ip_key = throttle::ip_key("invite", origin(&request, &state).client_ip);
    state
        .failures
        .begin(&[(&ip_key, INVITE_FAILURES_PER_IP)], now_unix)
        .await?;
    let token = body.token.trim().to_owned();
    let lookup = token.clone();
    db::run(&state.pool, move |conn| {
        crate::members::usable_invitation(conn, &lookup, now)
    })
    .await?;
    let password = body.password;
    let hash = state
        .hashing
        .run(move || passwords::hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let user = db::run(&state.pool, move |conn| {
        crate::members::accept_invitation(conn, &token, &hash, clock::now())
    })
    .await?;
    state.failures.forgive(&[&ip_key], now_unix).await;
    Ok(HttpResponse::Ok().json(AcceptedInvitation {
        user: InvitedUser {
            id: user.id,
            email: user.email,
        },
    }))
}
