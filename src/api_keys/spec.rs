//! What a request for a key asks for, once its body has been parsed (see
//! `http::shapes::key_bodies`): typed, every field checked on its own. What
//! needs the database or the caller's rights is checked by the lifecycle.

use chrono::NaiveDateTime;
use ipnet::IpNet;

use super::KeyKind;
use crate::access::ScopeSet;
use crate::error::ApiError;

/// A create request that passed validation. `scopes: None` means "the
/// default for the kind", decided with the caller's rights in view.
#[derive(Debug, Clone)]
pub struct CreateKeySpec {
    pub name: String,
    pub kind: KeyKind,
    pub scopes: Option<ScopeSet>,
    pub environment: Option<String>,
    pub partner: Option<String>,
    pub external_id: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub rate_limit: Option<i32>,
    pub allowed_cidrs: Option<Vec<IpNet>>,
    pub remaining: Option<i64>,
    /// Exchanges need a DPoP proof (RFC 9449).
    pub dpop_required: bool,
}

/// What every kind of key has, checked alike wherever it is created: a
/// name, an expiry, and (where the creator may choose them) scopes.
#[derive(Debug, Clone)]
pub struct CommonFields {
    pub name: String,
    pub expires_at: Option<NaiveDateTime>,
    pub scopes: Option<ScopeSet>,
}

/// A validated PATCH: what to change.
#[derive(Debug, Default)]
pub struct UpdateKeySpec {
    pub name: Option<String>,
    pub scopes: Option<ScopeSet>,
    pub rate_limit: Option<Option<i32>>,
    pub dpop_required: Option<bool>,
}

impl UpdateKeySpec {
    /// PATCH may only narrow a key's scopes: `current` are the key's now.
    pub fn check_narrows(&self, current: &ScopeSet) -> Result<(), ApiError> {
        if self
            .scopes
            .as_ref()
            .is_some_and(|s| !s.is_subset_of(current))
        {
            return Err(ApiError::validation(
                "scopes",
                "can only be narrowed: every scope must be one the key holds",
            ));
        }
        Ok(())
    }
}
