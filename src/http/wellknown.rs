//! What downstream services read to verify tokens offline: the JWKS and the
//! authorization-server metadata (RFC 8414, and its OpenID twin).

use actix_web::http::header::{self, ContentType};
use actix_web::{HttpRequest, HttpResponse, web};
use chrono::Utc;
use serde_json::json;

use super::token::{GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE};
use crate::state::AppState;

/// How long verifiers may cache the JWKS (and the metadata); defined with
/// the keys, whose rotation schedule depends on it.
pub use crate::signing::JWKS_MAX_AGE_SECS;

#[utoipa::path(get, path = "/.well-known/jwks.json", tag = "verification",
    params(("If-None-Match" = Option<String>, Header, description = "ETag of a cached copy")),
    responses((status = 200, description = "RFC 7517 key set", body = Object), (status = 304, description = "Not modified")))]
pub async fn jwks(request: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let jwks = state.signing.jwks(Utc::now());
    let max_age = state.signing.timing().jwks_max_age.as_secs();
    let cache_control = format!("public, max-age={max_age}");
    let not_modified = request
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|tags| {
            tags.split(',').any(|tag| {
                let tag = tag.trim();
                tag == "*" || tag.trim_start_matches("W/") == jwks.etag
            })
        });
    let mut response = if not_modified {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::CACHE_CONTROL, cache_control))
        .insert_header((header::ETAG, jwks.etag));
    if not_modified {
        response.finish()
    } else {
        response.content_type(ContentType::json()).body(jwks.body)
    }
}

/// The algorithms of every key in the JWKS now, each once.
fn published_algorithms(state: &AppState) -> Vec<&'static str> {
    let now = Utc::now();
    let mut algorithms: Vec<&'static str> = state
        .signing
        .snapshot()
        .iter()
        .filter(|key| state.signing.state_of(key, now) != crate::signing::KeyState::Removed)
        .map(|key| key.metadata.alg.as_str())
        .collect();
    algorithms.sort_unstable();
    algorithms.dedup();
    algorithms
}

/// The same metadata at the OpenID Connect discovery address.
#[utoipa::path(get, path = "/.well-known/openid-configuration", tag = "verification",
    responses((status = 200, description = "The RFC 8414 metadata", body = Object)))]
pub async fn openid_configuration(state: web::Data<AppState>) -> HttpResponse {
    authorization_server(state).await
}

/// RFC 8414 metadata; served at both well-known addresses.
#[utoipa::path(get, path = "/.well-known/oauth-authorization-server", tag = "verification",
    responses((status = 200, description = "RFC 8414 metadata", body = Object)))]
pub async fn authorization_server(state: web::Data<AppState>) -> HttpResponse {
    let issuer = &state.issuer;
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        ))
        .json(json!({
            "issuer": issuer,
            "token_endpoint": crate::exchange::token_endpoint(issuer),
            "jwks_uri": format!("{issuer}/.well-known/jwks.json"),
            "grant_types_supported": [GRANT_CLIENT_CREDENTIALS, GRANT_TOKEN_EXCHANGE],
            "token_endpoint_auth_methods_supported": ["client_secret_post", "client_secret_basic"],
            "introspection_endpoint": format!("{issuer}/auth/introspect"),
            // A management key (or one with tokens:introspect) as Bearer, or as Basic password.
            "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "bearer"],
            "revocation_endpoint": format!("{issuer}/auth/revoke"),
            // Whoever holds a leaked secret may revoke it.
            "revocation_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
            "scopes_supported": crate::access::all_keymint_scopes(),
            // No standard field names what signs access tokens (RFC 9068 has
            // none; OpenID's id_token_* would claim ID tokens keymint does
            // not issue): these are the algorithms of the published keys.
            "access_token_signing_alg_values_supported": published_algorithms(&state),
            // RFC 9449 section 5.1: the algorithms of the proofs accepted.
            "dpop_signing_alg_values_supported": crate::dpop::ALGORITHMS,
        }))
}
