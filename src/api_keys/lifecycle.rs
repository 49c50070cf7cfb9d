//! The one lifecycle of a key, whatever its kind and whoever drives it:
//! create, rotate and revoke, each with its audit entry in one transaction,
//! so a key never changes without its entry (nor a caller sees a secret
//! whose change was not recorded). The kinds differ only in who may (the
//! callers check rights first) and in what is fixed (the callers build the
//! [`NewKey`]).

use chrono::{Duration, NaiveDateTime};
use diesel::Connection as _;
use serde_json::{Value, json};

use super::{NewKey, issue};
use crate::audit::{self, Event};
use crate::authz::{Caller, WorkspaceAccess};
use crate::db::DbConnection;
use crate::db::models::api_keys::{self, ApiKey};
use crate::error::ApiError;
use crate::origin::Origin;
use crate::secrets::Secret;

/// Who acts on a key, as the audit log records them.
pub trait KeyActor {
    fn audit(
        &self,
        conn: &mut DbConnection,
        action: &str,
        key: &ApiKey,
        detail: Value,
    ) -> diesel::QueryResult<()>;
}

/// An authenticated caller acting in a workspace (the management API and
/// personal tokens).
pub struct Acting<'a> {
    pub caller: &'a Caller,
    pub access: &'a WorkspaceAccess,
}

impl KeyActor for Acting<'_> {
    fn audit(
        &self,
        conn: &mut DbConnection,
        action: &str,
        key: &ApiKey,
        detail: Value,
    ) -> diesel::QueryResult<()> {
        audit::record(conn, self.caller, self.access, action, &key.id, detail)
    }
}

/// Whoever presented a key's own secret at `/auth/revoke`: unnamed, as any
/// holder of a leaked secret may kill it; recorded with where it came from.
pub struct SecretHolder<'a> {
    pub origin: &'a Origin,
}

impl KeyActor for SecretHolder<'_> {
    fn audit(
        &self,
        conn: &mut DbConnection,
        action: &str,
        key: &ApiKey,
        mut detail: Value,
    ) -> diesel::QueryResult<()> {
        detail["via"] = json!("/auth/revoke");
        let event = Event {
            workspace_id: Some(&key.workspace_id),
            actor: None,
            action,
            target: Some(&key.id),
            detail,
        };
        audit::write(conn, self.origin, event)
    }
}

/// Creates the key. `admit` runs first inside the transaction, for a rule
/// that must see the other keys as they are (a customer's key cap).
pub fn create(
    conn: &mut DbConnection,
    actor: &impl KeyActor,
    new_key: NewKey,
    now: NaiveDateTime,
    admit: impl FnOnce(&mut DbConnection) -> Result<(), ApiError>,
) -> Result<(ApiKey, Secret), ApiError> {
    let (key, secret) = issue(new_key, now)?;
    conn.transaction(|conn| {
        admit(conn)?;
        api_keys::insert(conn, &key)?;
        actor.audit(conn, "key.created", &key, describe(&key))?;
        Ok::<_, ApiError>(())
    })?;
    Ok((key, secret))
}

/// A new secret for the same key (409 for a revoked key). The old secret
/// dies now, or at the end of `grace`. The grace period keeps the secret
/// stored when the update runs, so two rotations at once keep the newer.
pub fn rotate(
    conn: &mut DbConnection,
    actor: &impl KeyActor,
    key: &ApiKey,
    grace: Option<Duration>,
    now: NaiveDateTime,
) -> Result<Secret, ApiError> {
    live(key)?;
    let secret =
        Secret::generate(key.kind()).map_err(|_| ApiError::internal("system random failed"))?;
    conn.transaction(|conn| {
        api_keys::rotate(
            conn,
            &key.id,
            secret.digest().as_bytes(),
            &secret.start(),
            grace.map(|g| now + g),
            now,
        )?;
        let mut detail = describe(key);
        detail["grace_period_seconds"] = json!(grace.map_or(0, |g| g.num_seconds()));
        actor.audit(conn, "key.rotated", key, detail)?;
        Ok::<_, ApiError>(())
    })?;
    Ok(secret)
}

/// Revokes the key; revoking a revoked key changes nothing.
pub fn revoke(
    conn: &mut DbConnection,
    actor: &impl KeyActor,
    key: &ApiKey,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if let Some(revoked_at) = key.revoked_at {
        // Revoked a moment ago by another request, whose answer may still
        // be waiting for other replicas to see it: this answer must not
        // come first. The update changes no row, but on PostgreSQL its
        // statement trigger moves the counters, so this unit settles too.
        // Only a moment ago: older revocations have settled, and repeating
        // this would let anyone holding a revoked secret invalidate every
        // replica's cache at will.
        if now - revoked_at < Duration::seconds(1) {
            api_keys::revoke(conn, &key.id, now)?;
        }
        return Ok(());
    }
    conn.transaction(|conn| {
        api_keys::revoke(conn, &key.id, now)?;
        actor.audit(conn, "key.revoked", key, describe(key))?;
        Ok(())
    })
}

/// 409 for a revoked key: it cannot be changed, only replaced.
pub fn live(key: &ApiKey) -> Result<(), ApiError> {
    match key.revoked_at {
        Some(_) => Err(ApiError::Conflict(
            "The key is revoked; create a new one.".to_owned(),
        )),
        None => Ok(()),
    }
}

/// What the audit log says about a key: never its secret or digest.
pub fn describe(key: &ApiKey) -> Value {
    json!({ "kind": key.kind, "name": key.name, "start": key.start })
}
