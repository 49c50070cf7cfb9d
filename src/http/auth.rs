//! The [`Caller`] extractor: authenticates `Authorization: Bearer`
//! (a secret or a keymint JWT) or `X-Api-Key`, so handlers receive the
//! caller as an argument and never read credential headers themselves.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::client::client_ip;
use super::credentials;
use crate::access::ScopeSet;
use crate::api_keys;
use crate::authz::{Caller, Principal};
use crate::clock;
use crate::db;
use crate::error::ApiError;
use crate::secrets::Secret;
use crate::state::AppState;
use crate::tokens::{AccessClaims, own};

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move { authenticate(&request).await })
    }
}

async fn authenticate(request: &HttpRequest) -> Result<Caller, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppState missing"))?;
    let credential = credentials::bearer_or_api_key(request)?.ok_or(ApiError::Unauthorized)?;
    let client_ip = client_ip(request, &state.config.trusted_proxies);
    let user_agent = request
        .headers()
        .get(actix_web::http::header::USER_AGENT)
        .and_then(|v| v.to_str().ok())
        .map(|ua| ua.chars().take(256).collect());
    let now = clock::now();

    let (authenticated, token_scopes) = if looks_like_jwt(&credential) {
        let claims: AccessClaims =
            own::verify(&state.signing, &credential, &state.issuer, &state.issuer)?;
        let key_id = claims.client_id.clone();
        let authenticated = db::run(&state.pool, move |conn| {
            api_keys::authenticate_by_id(conn, &key_id, client_ip, now)
        })
        .await?;
        (
            authenticated,
            Some(ScopeSet::parse_space_separated(&claims.scope)),
        )
    } else {
        let secret = Secret::parse(&credential).map_err(|_| ApiError::InvalidApiKey)?;
        let authenticated = db::run(&state.pool, move |conn| {
            api_keys::authenticate(conn, &secret, client_ip, now)
        })
        .await?;
        // A secret used directly counts as a use of the key.
        state.usage.record(&authenticated.key.id, now);
        (authenticated, None)
    };
    Ok(Caller {
        principal: Principal::Key(authenticated),
        token_scopes,
        client_ip,
        user_agent,
    })
}

/// Three base64url segments: the compact JWS form. Secrets never contain dots.
fn looks_like_jwt(credential: &str) -> bool {
    credential.split('.').count() == 3
}
