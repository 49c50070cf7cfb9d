//! What a presented token or secret stands for right now: RFC 7662
//! introspection, the online check for services that cannot wait for a
//! token to expire.

use chrono::NaiveDateTime;
use serde_json::{Value, json};

use crate::auth::KnownKey;
use crate::db::DbConnection;
use crate::db::models::trust_policies;
use crate::error::ApiError;
use crate::secrets::Secret;
use crate::tokens::AccessClaims;

/// An active token: its workspace (who may see it) and the RFC 7662 answer.
pub struct Active {
    pub workspace_id: String,
    pub response: Value,
}

/// An access token keymint issued (signature already verified): active
/// while its key [stands](KnownKey::stands) and its secret was not rotated
/// away since the token was issued, or, for a federated token, while its
/// trust policy exists. The introspecting service is not the token's user,
/// so the key's CIDRs are not checked here.
pub fn access_token(
    conn: &mut DbConnection,
    claims: AccessClaims,
    now: NaiveDateTime,
) -> Result<Option<Active>, ApiError> {
    let Some(workspace_id) = client_stands(conn, &claims, now)? else {
        return Ok(None);
    };
    // A bound token's `cnf` is among its claims (RFC 9449 section 6.2).
    let token_type = if claims.cnf.is_some() {
        "DPoP"
    } else {
        "Bearer"
    };
    let mut response = serde_json::to_value(&claims).map_err(ApiError::internal)?;
    response["active"] = json!(true);
    response["token_type"] = json!(token_type);
    Ok(Some(Active {
        workspace_id,
        response,
    }))
}

/// The workspace of what the token was issued to, if that still stands:
/// the key of its kind, or the trust policy of a federated token.
fn client_stands(
    conn: &mut DbConnection,
    claims: &AccessClaims,
    now: NaiveDateTime,
) -> Result<Option<String>, ApiError> {
    let Some(kind) = claims.kind.key() else {
        let policy = trust_policies::find(conn, &claims.client_id)?;
        return Ok(policy
            .filter(|policy| policy.workspace_id == claims.ws)
            .map(|policy| policy.workspace_id));
    };
    let Some(known) = KnownKey::by_id(conn, &claims.client_id)? else {
        return Ok(None);
    };
    let issued_at = claims.registered.issued_at().unwrap_or(now);
    let stands = known.key.workspace_id == claims.ws
        && known.key.kind() == kind
        && known.honours_token_issued_at(issued_at, now)
        && known.stands(now).is_ok();
    Ok(stands.then_some(known.key.workspace_id))
}

/// A secret: the key it names, if it stands now (a rotated-away secret
/// names none).
pub fn secret(
    conn: &mut DbConnection,
    secret: &Secret,
    now: NaiveDateTime,
) -> Result<Option<Active>, ApiError> {
    let Some(known) = KnownKey::find(conn, &secret.digest(), now)? else {
        return Ok(None);
    };
    if known.stands(now).is_err() || !known.is_named_at(&secret.digest(), now) {
        return Ok(None);
    }
    let key = known.key;
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
