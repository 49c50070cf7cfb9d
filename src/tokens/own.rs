//! Verifying tokens keymint issued itself, when they come back as
//! credentials on the management API: signature against keymint's own
//! published keys (algorithm from the key, never from the token), `typ`,
//! `iss`, `aud`, `exp` and `nbf`.

use chrono::Utc;
use jsonwebtoken::jwk::Jwk;
use jsonwebtoken::{DecodingKey, Validation};
use serde::de::DeserializeOwned;

use super::claims::ACCESS_TOKEN_TYP;
use crate::error::ApiError;
use crate::signing::{KeyState, SigningKeys};

/// Clock skew tolerated on `exp` and `nbf`, in seconds.
pub const LEEWAY_SECS: u64 = 60;

/// Verifies `token` and returns its claims; any failure is 401
/// `invalid_token`, whatever the reason (the reason is not a client's
/// business, and telling it would help forgers).
pub fn verify<C: DeserializeOwned>(
    signing: &SigningKeys,
    token: &str,
    issuer: &str,
    audiences: &[&str],
) -> Result<C, ApiError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| ApiError::InvalidToken)?;
    if header.typ.as_deref() != Some(ACCESS_TOKEN_TYP) {
        return Err(ApiError::InvalidToken);
    }
    let kid = header.kid.ok_or(ApiError::InvalidToken)?;
    let now = Utc::now();
    let snapshot = signing.snapshot();
    let stored = snapshot
        .iter()
        .find(|k| k.key.kid() == kid && signing.state_of(k, now) != KeyState::Removed)
        .ok_or(ApiError::InvalidToken)?;
    let jwk: Jwk = serde_json::from_value(stored.key.jwk().clone()).map_err(ApiError::internal)?;
    let decoding_key = DecodingKey::from_jwk(&jwk).map_err(ApiError::internal)?;
    let algorithm = stored
        .metadata
        .alg
        .as_str()
        .parse()
        .map_err(ApiError::internal)?;

    let mut validation = Validation::new(algorithm);
    validation.leeway = LEEWAY_SECS;
    validation.validate_nbf = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(audiences);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<C>(token, &decoding_key, &validation)
        .map(|data| data.claims)
        .map_err(|_| ApiError::InvalidToken)
}
