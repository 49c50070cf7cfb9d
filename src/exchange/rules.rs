//! The rules of an exchange that need no database: the audience, the
//! lifetime, who may present the key, the scope granted, and the claims of
//! the token.

use chrono::NaiveDateTime;

use crate::access::ScopeSet;
use crate::auth::KnownKey;
use crate::db::models;
use crate::error::ApiError;
use crate::key_kind::KeyKind;
use crate::state::AppState;
use crate::tokens::claims::Registered;
use crate::tokens::{AccessClaims, kind};

/// The `aud` of the token: the one asked for, else the issuer. Audiences
/// keymint itself consumes are refused (RFC 8707 `invalid_target`): an
/// access token is never made to look like a login token or a session.
pub(super) fn audience(state: &AppState, requested: Option<&str>) -> Result<String, ApiError> {
    match requested.map(str::trim) {
        None | Some("") => Ok(state.issuer.clone()),
        Some(audience) if kind::is_keymint_audience(&state.issuer, audience) => {
            Err(ApiError::InvalidTarget)
        }
        Some(audience) => Ok(audience.to_owned()),
    }
}

/// `expires_in` if asked (capped at the configured maximum), else the default.
pub(super) fn token_lifetime(state: &AppState, requested: Option<i64>) -> Result<u32, ApiError> {
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
pub(super) fn check_identity(
    known: &KnownKey,
    email: Option<&str>,
    client_id: Option<&str>,
) -> Result<(), ApiError> {
    let key = &known.key;
    let client_id = client_id.map(str::trim).filter(|id| !id.is_empty());
    match &known.owner {
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
pub(super) fn grant_scope(
    held: &ScopeSet,
    requested: Option<ScopeSet>,
) -> Result<ScopeSet, ApiError> {
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

pub(super) fn claims_for(
    state: &AppState,
    known: &KnownKey,
    audience: String,
    scope: &ScopeSet,
    lifetime: u32,
    now: NaiveDateTime,
) -> AccessClaims {
    let key = &known.key;
    let kind = key.kind();
    let issued_at = now.and_utc().timestamp();
    let sub = match (&known.owner, kind) {
        (Some(owner), _) => owner.user.id.clone(),
        (None, KeyKind::Customer) => key.external_id.clone().unwrap_or_else(|| key.id.clone()),
        (None, _) => key.id.clone(),
    };
    AccessClaims {
        registered: Registered::issued(
            &state.issuer,
            sub,
            audience,
            issued_at,
            i64::from(lifetime),
        ),
        client_id: key.id.clone(),
        scope: scope.to_space_separated(),
        ws: key.workspace_id.clone(),
        kind: kind.into(),
        env: key.environment.clone(),
        role: known.owner.as_ref().map(|o| o.role.as_str().to_owned()),
        email: known.owner.as_ref().map(|o| o.user.email.clone()),
        partner: key.partner.clone(),
        cidr: key
            .allowed_cidrs()
            .map(|cidrs| cidrs.iter().map(ToString::to_string).collect()),
        cnf: None,
        fed_iss: None,
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
