//! Exchanging a secret for a short-lived access token: the rules of
//! `POST /auth/token`, independent of which of its request forms was used.

use std::net::IpAddr;

use chrono::{NaiveDateTime, Utc};

use crate::access::ScopeSet;
use crate::api_keys::{self, AuthenticatedKey, KeyKind};
use crate::clock;
use crate::db::{self, models};
use crate::error::ApiError;
use crate::secrets::Secret;
use crate::state::AppState;
use crate::tokens::AccessClaims;

/// What the client asked for, whichever form it used.
#[derive(Default, Clone)]
pub struct ExchangeRequest {
    /// As presented: validated here, never logged.
    pub secret: String,
    /// Required for personal keys, ignored for every other kind.
    pub email: Option<String>,
    /// Space-separated; must be a subset of the key's scopes.
    pub scope: Option<String>,
    pub audience: Option<String>,
    pub expires_in: Option<i64>,
    /// With client_credentials: the owner's email, or the key's id.
    pub client_id: Option<String>,
    pub client_ip: Option<IpAddr>,
}

/// A signed token and what the response reports about it.
#[derive(Clone)]
pub struct IssuedToken {
    pub access_token: String,
    pub expires_in: u32,
    pub scope: String,
    pub key_id: String,
}

impl std::fmt::Debug for ExchangeRequest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ExchangeRequest")
            .field("secret", &"[redacted]")
            .field("email", &self.email)
            .field("scope", &self.scope)
            .field("audience", &self.audience)
            .field("expires_in", &self.expires_in)
            .field("client_id", &self.client_id)
            .field("client_ip", &self.client_ip)
            .finish()
    }
}

pub async fn exchange(state: &AppState, request: ExchangeRequest) -> Result<IssuedToken, ApiError> {
    // Offline checks first: a malformed secret costs no database work.
    let secret = Secret::parse(request.secret.trim()).map_err(|_| ApiError::InvalidApiKey)?;
    let lifetime = token_lifetime(state, request.expires_in)?;
    let audience = match request.audience.as_deref().map(str::trim) {
        None | Some("") => state.issuer.clone(),
        Some(audience) => audience.to_owned(),
    };
    let requested_scope = request
        .scope
        .as_deref()
        .map(ScopeSet::parse_space_separated);
    let signing_key = state
        .signing
        .signing_key(Utc::now())
        .ok_or(ApiError::NoSigningKey)?;

    let now = clock::now();
    let client_ip = request.client_ip;
    let (email, client_id) = (request.email, request.client_id);
    let (authenticated, scope) = db::run(&state.pool, move |conn| {
        let authenticated = api_keys::authenticate(conn, &secret, client_ip, now)?;
        check_identity(&authenticated, email.as_deref(), client_id.as_deref())?;
        let scope = grant_scope(&authenticated.key.scopes(), requested_scope)?;
        // Last, so a request refused for any other reason costs no use.
        if authenticated.key.remaining.is_some()
            && !models::api_keys::take_one_use(conn, &authenticated.key.id)?
        {
            return Err(ApiError::UsageExceeded);
        }
        Ok((authenticated, scope))
    })
    .await?;

    let claims = claims_for(state, &authenticated, audience, &scope, lifetime, now);
    let access_token = signing_key
        .sign_jwt(&claims)
        .map_err(|e| ApiError::internal(format!("signing with {}: {e}", signing_key.kid())))?;
    state.usage.record(&authenticated.key.id, now);
    Ok(IssuedToken {
        access_token,
        expires_in: lifetime,
        scope: scope.to_space_separated(),
        key_id: authenticated.key.id,
    })
}

/// `expires_in` if asked (capped at the configured maximum), else the default.
fn token_lifetime(state: &AppState, requested: Option<i64>) -> Result<u32, ApiError> {
    match requested {
        None => Ok(state.config.token_ttl),
        Some(seconds) if seconds <= 0 => Err(ApiError::validation(
            "expires_in",
            "must be a positive number of seconds",
        )),
        Some(seconds) => Ok(u32::try_from(seconds)
            .unwrap_or(u32::MAX)
            .min(state.config.token_max_ttl)),
    }
}

/// A personal key also needs its owner's email; `client_id`, when sent, must
/// name the key (or, for personal keys, the owner).
fn check_identity(
    authenticated: &AuthenticatedKey,
    email: Option<&str>,
    client_id: Option<&str>,
) -> Result<(), ApiError> {
    let key = &authenticated.key;
    let client_id = client_id.map(str::trim).filter(|id| !id.is_empty());
    match &authenticated.owner {
        Some(owner) => {
            // The form's client_id carries the email when no email field does.
            let presented = email.or(client_id).map(models::users::normalize_email);
            if presented.as_deref() != Some(owner.user.email.as_str()) {
                return Err(ApiError::InvalidApiKey);
            }
        }
        None => {
            if client_id.is_some_and(|id| id != key.id) {
                return Err(ApiError::InvalidClient);
            }
        }
    }
    Ok(())
}

/// The scopes of the token: the requested subset, or all the key holds.
fn grant_scope(held: &ScopeSet, requested: Option<ScopeSet>) -> Result<ScopeSet, ApiError> {
    match requested {
        Some(requested) if !requested.is_empty() => {
            if requested.is_subset_of(held) {
                Ok(requested)
            } else {
                Err(ApiError::InvalidScope)
            }
        }
        _ => Ok(held.clone()),
    }
}

fn claims_for(
    state: &AppState,
    authenticated: &AuthenticatedKey,
    audience: String,
    scope: &ScopeSet,
    lifetime: u32,
    now: NaiveDateTime,
) -> AccessClaims {
    let key = &authenticated.key;
    let kind = key.kind();
    let issued_at = now.and_utc().timestamp();
    let sub = match (&authenticated.owner, kind) {
        (Some(owner), _) => owner.user.id.clone(),
        (None, KeyKind::Customer) => key.external_id.clone().unwrap_or_else(|| key.id.clone()),
        (None, _) => key.id.clone(),
    };
    AccessClaims {
        iss: state.issuer.clone(),
        sub,
        aud: audience,
        exp: issued_at + i64::from(lifetime),
        iat: issued_at,
        nbf: issued_at,
        jti: models::new_id(),
        client_id: key.id.clone(),
        scope: scope.to_space_separated(),
        ws: key.workspace_id.clone(),
        kind,
        env: key.environment.clone(),
        role: authenticated
            .owner
            .as_ref()
            .map(|o| o.role.as_str().to_owned()),
        email: authenticated.owner.as_ref().map(|o| o.user.email.clone()),
        partner: key.partner.clone(),
        cidr: key
            .allowed_cidrs()
            .map(|cidrs| cidrs.iter().map(ToString::to_string).collect()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scope_is_narrowed_only_to_a_subset() {
        let held = ScopeSet::parse_space_separated("read write");
        let narrowed = grant_scope(&held, Some(ScopeSet::parse_space_separated("read"))).unwrap();
        assert_eq!(narrowed.to_space_separated(), "read");
        assert_eq!(grant_scope(&held, None).unwrap(), held);
        assert_eq!(grant_scope(&held, Some(ScopeSet::default())).unwrap(), held);
        assert!(matches!(
            grant_scope(&held, Some(ScopeSet::parse_space_separated("read admin"))),
            Err(ApiError::InvalidScope)
        ));
    }
}
