//! `POST /auth/introspect` (RFC 7662) and `POST /auth/revoke` (RFC 7009).

use actix_web::{HttpRequest, HttpResponse, web};
use serde::Deserialize;
use serde_json::json;

use super::auth::{authenticate_credential, origin};
use super::credentials::{self, Authorization};
use crate::access;
use crate::api_keys::lifecycle::{self, SecretHolder};
use crate::auth::KnownKey;
use crate::authz::{Caller, Principal};
use crate::clock;
use crate::db;
use crate::error::ApiError;
use crate::introspection;
use crate::secrets::Secret;
use crate::state::AppState;
use crate::tokens::AccessClaims;
use crate::tokens::verify::Audiences;

#[derive(Deserialize, utoipa::ToSchema)]
pub struct TokenForm {
    token: Option<String>,
    /// A hint only (RFC 7662 2.1): keymint tells tokens apart by their form.
    #[allow(dead_code)]
    token_type_hint: Option<String>,
}

impl TokenForm {
    fn token(&self) -> Result<&str, ApiError> {
        self.token
            .as_deref()
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .ok_or_else(|| ApiError::InvalidRequest("The parameter token is required.".to_owned()))
    }
}

fn inactive() -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .json(json!({ "active": false }))
}

/// The caller, from Bearer / X-Api-Key, or from HTTP Basic's password
/// (client_secret_basic, what RFC 7662 clients usually send).
async fn introspecting_caller(request: &HttpRequest) -> Result<Caller, ApiError> {
    let credential = match credentials::authorization(request)? {
        Some(Authorization::Basic { password, .. }) => Some((password, false)),
        _ => credentials::presented(request)?,
    };
    let (credential, dpop) = credential.ok_or(ApiError::Unauthorized)?;
    authenticate_credential(request, credential, dpop).await
}

/// Whether the caller may introspect tokens of `workspace_id`: its rights
/// there (a token's narrowed by its scopes) hold `tokens:introspect`. A
/// management key holds it by default, and loses it when narrowed away.
fn may_introspect(
    conn: &mut db::DbConnection,
    caller: &Caller,
    workspace_id: &str,
) -> Result<bool, ApiError> {
    match caller.standing(conn, workspace_id) {
        Ok(access) => Ok(access.scopes.contains(access::TOKENS_INTROSPECT)),
        Err(ApiError::AccountMismatch) => Ok(false),
        Err(other) => Err(other),
    }
}

#[utoipa::path(post, path = "/auth/introspect", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "RFC 7662: {\"active\": true, ...claims} or {\"active\": false}", body = Object)),
    security(("bearer" = []), ("api_key" = []), ("basic" = [])))]
pub async fn introspect(
    request: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    let caller = introspecting_caller(&request).await?;
    let token = form.token()?.to_owned();
    // A key must hold the right in its own workspace, whatever it asks about.
    let own_workspace = match &caller.principal {
        Principal::Key(authenticated) => Some(authenticated.key.workspace_id.clone()),
        Principal::User(_) => None,
    };
    let claims: Option<AccessClaims> = if token.split('.').count() == 3 {
        state
            .own_keys
            .verify(&state.signing, &token, &state.issuer, Audiences::Any)
            .ok()
    } else {
        None
    };
    let secret = Secret::parse(&token).ok();
    let active = db::run(&state.pool, move |conn| {
        if let Some(workspace_id) = &own_workspace
            && !may_introspect(conn, &caller, workspace_id)?
        {
            return Err(ApiError::InsufficientPermissions(
                "Introspection needs the tokens:introspect scope.".to_owned(),
            ));
        }
        let now = clock::now();
        let active = match (claims, secret) {
            (Some(claims), _) => introspection::access_token(conn, claims, now)?,
            (None, Some(secret)) => introspection::secret(conn, &secret, now)?,
            (None, None) => None,
        };
        // Only tokens of a workspace the caller may introspect are reported.
        match active {
            Some(active) if may_introspect(conn, &caller, &active.workspace_id)? => {
                Ok(Some(active.response))
            }
            _ => Ok(None),
        }
    })
    .await?;
    Ok(match active {
        Some(response) => HttpResponse::Ok()
            .insert_header(("cache-control", "no-store"))
            .json(response),
        None => inactive(),
    })
}

/// Revokes the key a presented secret names. No authentication: whoever
/// holds a leaked secret may kill it. Always 200, so the answer tells
/// nothing about the token (RFC 7009 2.2); tokens themselves are not
/// revocable one by one (revoke their key instead).
#[utoipa::path(post, path = "/auth/revoke", tag = "oauth",
    request_body(content = TokenForm, content_type = "application/x-www-form-urlencoded"),
    responses((status = 200, description = "RFC 7009: always 200 for a well-formed request")))]
pub async fn revoke(
    request: HttpRequest,
    state: web::Data<AppState>,
    form: web::Form<TokenForm>,
) -> Result<HttpResponse, ApiError> {
    let token = form.token()?;
    if let Ok(secret) = Secret::parse(token) {
        let origin = origin(&request, &state);
        db::run(&state.pool, move |conn| {
            let now = clock::now();
            let Some(KnownKey { key, .. }) = KnownKey::find(conn, &secret.digest(), now)? else {
                return Ok(());
            };
            let holder = SecretHolder { origin: &origin };
            lifecycle::revoke(conn, &holder, &key, now)
        })
        .await?;
    }
    Ok(HttpResponse::Ok()
        .insert_header(("cache-control", "no-store"))
        .finish())
}
