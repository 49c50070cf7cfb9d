//! The [`Caller`] extractor: reads `Authorization: Bearer` (a secret, an
//! exchanged JWT or a login JWT) or `X-Api-Key` and hands it to
//! [`crate::auth`], so handlers receive the caller as an argument and never
//! read credential headers.

use std::future::Future;
use std::pin::Pin;

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use super::client::client_ip;
use super::credentials;
use super::rate_limit;
use crate::auth;
use crate::authz::{Caller, Principal};
use crate::error::ApiError;
use crate::origin::Origin;
use crate::state::AppState;

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, ApiError>>>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        let request = request.clone();
        Box::pin(async move {
            let (credential, dpop) =
                credentials::presented(&request)?.ok_or(ApiError::Unauthorized)?;
            authenticate_credential(&request, credential, dpop).await
        })
    }
}

/// Where the request came from: for the audit log and CIDR checks.
pub fn origin(request: &HttpRequest, state: &AppState) -> Origin {
    Origin {
        client_ip: client_ip(request, &state.config.trusted_proxies),
        user_agent: request
            .headers()
            .get(actix_web::http::header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .map(|ua| ua.chars().take(256).collect()),
    }
}

/// Authenticates a credential however it arrived (Bearer, DPoP with its
/// proof, X-Api-Key, or the password of HTTP Basic for the OAuth
/// endpoints), and records its rate decision for the response headers.
pub async fn authenticate_credential(
    request: &HttpRequest,
    credential: String,
    dpop: bool,
) -> Result<Caller, ApiError> {
    let state = request
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or_else(|| ApiError::internal("AppState missing"))?;
    let origin = origin(request, &state);
    let proof = if dpop {
        Some(super::dpop::presented_proof(&state, request)?)
    } else {
        None
    };
    let authenticated =
        auth::authenticate(&state, &credential, proof.as_ref(), origin.client_ip).await?;
    rate_limit::record(request, authenticated.rate)?;
    if let Principal::Key(key) = &authenticated.principal {
        super::observe::note_key_id(request, &key.key.id);
    }
    Ok(Caller {
        principal: authenticated.principal,
        token_scopes: authenticated.token_scopes,
        origin,
    })
}
