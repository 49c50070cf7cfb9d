//! API keys as the service sees them: kinds, and issuing a new key with its
//! one-time secret. What a presented secret names, and whether it may be
//! used, is `crate::auth`'s.

pub mod lifecycle;
pub mod manage;
pub mod personal;
pub mod spec;

use chrono::NaiveDateTime;

use crate::access::ScopeSet;
use crate::db::models::{self, api_keys::ApiKey};
use crate::error::ApiError;
use crate::secrets::Secret;

pub use crate::key_kind::KeyKind;

/// What a new key is; everything else (id, secret, times) is generated.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub workspace_id: String,
    pub kind: KeyKind,
    pub name: String,
    pub user_id: Option<String>,
    pub environment: Option<String>,
    pub partner: Option<String>,
    pub external_id: Option<String>,
    pub scopes: ScopeSet,
    pub created_by: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub rate_limit: Option<i32>,
    pub allowed_cidrs: Option<Vec<ipnet::IpNet>>,
    pub remaining: Option<i64>,
    pub dpop_required: bool,
}

impl NewKey {
    /// A key with no scopes, limits or expiry; set the fields that apply.
    pub fn new(workspace_id: &str, kind: KeyKind, name: &str) -> Self {
        Self {
            workspace_id: workspace_id.to_owned(),
            kind,
            name: name.to_owned(),
            user_id: None,
            environment: None,
            partner: None,
            external_id: None,
            scopes: ScopeSet::default(),
            created_by: None,
            expires_at: None,
            rate_limit: None,
            allowed_cidrs: None,
            remaining: None,
            dpop_required: false,
        }
    }
}

/// Builds the row of a new key and its secret, which the caller shows once.
pub fn issue(new: NewKey, now: NaiveDateTime) -> Result<(ApiKey, Secret), ApiError> {
    let kind = new.kind;
    let secret = Secret::generate(kind).map_err(|_| ApiError::internal("system random failed"))?;
    let row = ApiKey {
        id: models::new_id(),
        workspace_id: new.workspace_id,
        kind: kind.as_str().to_owned(),
        name: new.name,
        start: secret.start(),
        secret_digest: secret.digest().as_bytes().to_vec(),
        previous_secret_digest: None,
        previous_secret_expires_at: None,
        user_id: new.user_id,
        environment: new.environment,
        partner: new.partner,
        external_id: new.external_id,
        scopes: new.scopes.to_space_separated(),
        created_at: now,
        created_by: new.created_by,
        expires_at: new.expires_at,
        revoked_at: None,
        rate_limit: new.rate_limit,
        allowed_cidrs: new.allowed_cidrs.map(|cidrs| {
            cidrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }),
        remaining: new.remaining,
        rotated_at: None,
        dpop_required: new.dpop_required,
    };
    Ok((row, secret))
}
