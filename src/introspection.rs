//! What a presented token or secret stands for right now: RFC 7662
//! introspection, the online check for services that cannot wait for a
//! token to expire.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::api_keys::{self, KeyKind};
use crate::db::DbConnection;
use crate::db::models::{self, api_keys::ApiKey, memberships};
use crate::error::ApiError;
use crate::secrets::Secret;
use crate::tokens::AccessClaims;

/// An active token: its workspace (who may see it) and the RFC 7662 answer.
pub struct Active {
    pub workspace_id: String,
    pub response: Value,
}

/// The key behind a token still stands: not revoked or expired, its secret
/// not rotated away since `issued_at`, and (personal keys) its owner still a
/// member.
fn stands(
    conn: &mut DbConnection,
    key: &ApiKey,
    issued_at: NaiveDateTime,
    now: NaiveDateTime,
) -> Result<bool, ApiError> {
    if !key.honours_token_issued_at(issued_at, now) {
        return Ok(false);
    }
    match (key.kind(), key.user_id.as_deref()) {
        (KeyKind::Personal, Some(user_id)) => {
            Ok(memberships::role_of(conn, &key.workspace_id, user_id)?.is_some())
        }
        (KeyKind::Personal, None) => Ok(false),
        _ => Ok(true),
    }
}

/// An access token keymint issued (signature already verified).
pub fn access_token(
    conn: &mut DbConnection,
    claims: AccessClaims,
    now: NaiveDateTime,
) -> Result<Option<Active>, ApiError> {
    let Some(key) = models::api_keys::find(conn, &claims.client_id)? else {
        return Ok(None);
    };
    let issued_at = claims.registered.issued_at().unwrap_or(now);
    if key.workspace_id != claims.ws || !stands(conn, &key, issued_at, now)? {
        return Ok(None);
    }
    let mut response = serde_json::to_value(&claims).map_err(ApiError::internal)?;
    response["active"] = json!(true);
    response["token_type"] = json!("Bearer");
    Ok(Some(Active {
        workspace_id: key.workspace_id,
        response,
    }))
}

/// A secret: the key it names, if it is usable now.
pub fn secret(
    conn: &mut DbConnection,
    secret: &Secret,
    now: NaiveDateTime,
) -> Result<Option<Active>, ApiError> {
    let Some((key, _plan)) = api_keys::find_presented(conn, &secret.digest(), now)? else {
        return Ok(None);
    };
    // Found by its digest, the secret is being presented now: only the
    // key's own state decides (a rotated-away secret is not found at all).
    if !stands(conn, &key, now, now)? {
        return Ok(None);
    }
    let mut response = json!({
        "active": true,
        "token_type": "api_key",
        "client_id": key.id,
        "scope": key.scopes().to_space_separated(),
        "ws": key.workspace_id,
        "kind": key.kind,
        "iat": key.created_at.and_utc().timestamp(),
    });
    if let Some(expires_at) = key.expires_at {
        response["exp"] = json!(expires_at.and_utc().timestamp());
    }
    if let Some(user_id) = &key.user_id {
        response["sub"] = json!(user_id);
    }
    Ok(Some(Active {
        workspace_id: key.workspace_id,
        response,
    }))
}
