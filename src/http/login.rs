//! `POST /auth/login` and `POST /auth/accept-invite`.

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::origin;
use super::json::Json;
use crate::clock;
use crate::db;
use crate::error::ApiError;
use crate::passwords::{self, MAX_PASSWORD_LEN};
use crate::state::AppState;

/// Shortest password accepted when one is set.
pub const MIN_PASSWORD_LEN: usize = 8;

#[derive(Deserialize)]
pub struct LoginBody {
    email: String,
    password: String,
}

pub async fn login(
    request: HttpRequest,
    state: web::Data<AppState>,
    Json(body): Json<LoginBody>,
) -> Result<HttpResponse, ApiError> {
    let origin = origin(&request, &state);
    let logged_in = crate::login::login(&state, &body.email, &body.password, origin).await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(json!({ "access_token": logged_in.access_token, "token_type": "Bearer", "expires_in": logged_in.expires_in })))
}

#[derive(Deserialize)]
pub struct AcceptBody {
    token: String,
    password: String,
}

/// Sets the invited person's password; they log in with it afterwards.
pub async fn accept_invite(
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
    let password = body.password;
    let hash = web::block(move || passwords::hash(&password))
        .await?
        .map_err(ApiError::internal)?;
    let user = db::run(&state.pool, move |conn| {
        crate::members::accept_invitation(conn, body.token.trim(), &hash, clock::now())
    })
    .await?;
    Ok(HttpResponse::Ok().json(json!({ "user": { "id": user.id, "email": user.email } })))
}
