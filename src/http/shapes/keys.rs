//! The JSON form of a key: everything about it except its secret and digest.

use chrono::NaiveDateTime;
use serde::Serialize;

use crate::api_keys::KeyKind;
use crate::clock::rfc3339;
use crate::db::models::api_keys::{ApiKey, StoredUsage};
use crate::secrets::Secret;
use crate::usage::UsageBuffer;

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub kind: KeyKind,
    pub start: String,
    pub environment: Option<String>,
    pub scopes: Vec<String>,
    pub partner: Option<String>,
    pub external_id: Option<String>,
    pub user_id: Option<String>,
    #[serde(with = "rfc3339")]
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
    #[serde(with = "rfc3339::option")]
    pub expires_at: Option<NaiveDateTime>,
    #[serde(with = "rfc3339::option")]
    pub last_used_at: Option<NaiveDateTime>,
    pub usage_count: i64,
    #[serde(with = "rfc3339::option")]
    pub revoked_at: Option<NaiveDateTime>,
    pub rate_limit: Option<i32>,
    pub allowed_cidrs: Option<Vec<String>>,
    pub remaining: Option<i64>,
    /// Exchanges need a DPoP proof; its tokens are all bound.
    pub dpop_required: bool,
}

/// A key as created or rotated: the only time its secret is shown.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct KeyWithSecret {
    #[serde(flatten)]
    pub key: KeyView,
    pub secret: String,
}

impl KeyView {
    /// The stored key and usage, plus the uses this replica has counted
    /// but not yet flushed, so a client reads its own usage at once.
    pub fn new(key: ApiKey, stored: StoredUsage, pending: &UsageBuffer) -> Self {
        let pending = pending.pending_for(&key.id);
        let kind = key.kind();
        let scopes = key.scopes().iter().map(str::to_owned).collect();
        let allowed_cidrs = key
            .allowed_cidrs()
            .map(|cidrs| cidrs.iter().map(ToString::to_string).collect());
        Self {
            usage_count: stored.usage_count + pending.map_or(0, |(uses, _)| uses),
            last_used_at: stored.last_used_at.max(pending.map(|(_, at)| at)),
            id: key.id,
            workspace_id: key.workspace_id,
            name: key.name,
            kind,
            start: key.start,
            environment: key.environment,
            scopes,
            partner: key.partner,
            external_id: key.external_id,
            user_id: key.user_id,
            created_at: key.created_at,
            created_by: key.created_by,
            expires_at: key.expires_at,
            revoked_at: key.revoked_at,
            rate_limit: key.rate_limit,
            allowed_cidrs,
            remaining: key.remaining,
            dpop_required: key.dpop_required,
        }
    }

    pub fn with_secret(self, secret: &Secret) -> KeyWithSecret {
        KeyWithSecret {
            key: self,
            secret: secret.expose().to_owned(),
        }
    }
}
