//! Workspace keys as the management API drives them: create, list, read,
//! change, revoke, rotate. Each operation checks the caller's rights in the
//! workspace; creating, rotating and revoking are the one
//! [`lifecycle`](super::lifecycle) of every key.

use chrono::NaiveDateTime;
use diesel::Connection as _;

use super::lifecycle::{self, Acting};
use super::spec::{CreateKeySpec, UpdateKeySpec};
use super::{KeyKind, NewKey};
use crate::access::{self, ScopeSet};
use crate::audit;
use crate::authz::{Caller, WorkspaceAccess};
use crate::db::DbConnection;
use crate::db::models::api_keys::{self, ApiKey, KeyChanges, KeyFilter, Position, StoredUsage};
use crate::db::models::workspaces;
use crate::error::ApiError;
use crate::secrets::Secret;

/// The scopes a key gets when created without `scopes`: a management key
/// gets the admin scopes except `members:write`; every other kind gets none
/// of keymint's own (it can be exchanged, nothing more).
pub fn default_scopes(kind: KeyKind) -> ScopeSet {
    match kind {
        KeyKind::Management => access::Role::Admin
            .scopes()
            .iter()
            .filter(|scope| *scope != access::MEMBERS_WRITE && *scope != access::TOKENS_SELF)
            .collect(),
        _ => ScopeSet::default(),
    }
}

pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    spec: CreateKeySpec,
    now: NaiveDateTime,
) -> Result<(ApiKey, Secret), ApiError> {
    access.require(access::KEYS_WRITE)?;
    if spec.kind == KeyKind::Management && access.key_kind == Some(KeyKind::Management) {
        return Err(ApiError::InsufficientPermissions(
            "Management keys cannot create management keys.".to_owned(),
        ));
    }
    let scopes = spec.scopes.unwrap_or_else(|| default_scopes(spec.kind));
    access.require_all_keymint(&scopes)?;
    if let Some(environment) = &spec.environment
        && !workspaces::environment_exists(conn, &access.workspace.id, environment)?
    {
        return Err(ApiError::validation(
            "environment",
            "no such environment in this workspace",
        ));
    }
    let mut new_key = NewKey::new(&access.workspace.id, spec.kind, &spec.name);
    new_key.scopes = scopes;
    new_key.environment = spec.environment;
    new_key.partner = spec.partner;
    new_key.external_id = spec.external_id;
    new_key.expires_at = spec.expires_at;
    new_key.rate_limit = spec.rate_limit;
    new_key.allowed_cidrs = spec.allowed_cidrs;
    new_key.remaining = spec.remaining;
    new_key.dpop_required = spec.dpop_required;
    new_key.created_by = Some(access.actor.clone());
    lifecycle::create(conn, &Acting { caller, access }, new_key, now, |_| Ok(()))
}

pub fn list(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    filter: &KeyFilter,
    after: Option<&Position>,
    limit: i64,
) -> Result<Vec<(ApiKey, StoredUsage)>, ApiError> {
    access.require(access::KEYS_READ)?;
    Ok(api_keys::list(
        conn,
        Some(&access.workspace.id),
        filter,
        after,
        limit,
    )?)
}

/// A key of the workspace, revoked or not (revoked keys stay readable).
pub fn get(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    id: &str,
) -> Result<ApiKey, ApiError> {
    access.require(access::KEYS_READ)?;
    find(conn, access, id)
}

pub fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    id: &str,
    spec: UpdateKeySpec,
) -> Result<ApiKey, ApiError> {
    access.require(access::KEYS_WRITE)?;
    let key = find(conn, access, id)?;
    lifecycle::live(&key)?;
    spec.check_narrows(&key.scopes())?;
    if key.kind() == KeyKind::Personal && spec.scopes.as_ref().is_some_and(ScopeSet::is_empty) {
        return Err(super::personal::no_empty_scopes());
    }
    let changes = KeyChanges {
        name: spec.name,
        scopes: spec.scopes.map(|s| s.to_space_separated()),
        rate_limit: spec.rate_limit,
        dpop_required: spec.dpop_required,
    };
    conn.transaction(|conn| {
        api_keys::update(conn, id, &changes)?;
        let changed = audit::changed_fields(&[
            ("name", changes.name.is_some()),
            ("scopes", changes.scopes.is_some()),
            ("rate_limit", changes.rate_limit.is_some()),
            ("dpop_required", changes.dpop_required.is_some()),
        ]);
        audit::record(conn, caller, access, "key.updated", id, changed)?;
        Ok::<_, ApiError>(())
    })?;
    find(conn, access, id)
}

pub fn revoke(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    id: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    access.require(access::KEYS_WRITE)?;
    let key = find(conn, access, id)?;
    lifecycle::revoke(conn, &Acting { caller, access }, &key, now)
}

/// A new secret for the same key. The old secret dies now, or at the end of
/// `grace` (`None`: now).
pub fn rotate(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    id: &str,
    grace: Option<chrono::Duration>,
    now: NaiveDateTime,
) -> Result<(ApiKey, Secret), ApiError> {
    access.require(access::KEYS_WRITE)?;
    let key = find(conn, access, id)?;
    lifecycle::live(&key)?;
    match key.kind() {
        // Rotating hands over a working secret: for a personal token that
        // would let an admin act as its owner.
        KeyKind::Personal => {
            return Err(ApiError::InsufficientPermissions(
                "Personal tokens are rotated by their owner, at /api/v1/users/me/api-keys."
                    .to_owned(),
            ));
        }
        KeyKind::Management if access.key_kind == Some(KeyKind::Management) => {
            return Err(ApiError::InsufficientPermissions(
                "Management keys cannot rotate management keys.".to_owned(),
            ));
        }
        _ => {}
    }
    // Rotating hands the caller a working secret of the key: nobody may
    // take one of a key holding rights they do not hold.
    access.require_all_keymint(&key.scopes())?;
    let secret = lifecycle::rotate(conn, &Acting { caller, access }, &key, grace, now)?;
    Ok((find(conn, access, id)?, secret))
}

fn find(conn: &mut DbConnection, access: &WorkspaceAccess, id: &str) -> Result<ApiKey, ApiError> {
    api_keys::find_in_workspace(conn, &access.workspace.id, id)?
        .ok_or_else(|| ApiError::not_found("key"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn management_keys_default_to_admin_scopes_without_members_write() {
        let scopes = default_scopes(KeyKind::Management);
        assert!(scopes.contains(access::KEYS_WRITE) && scopes.contains(access::PORTAL_WRITE));
        assert!(!scopes.contains(access::MEMBERS_WRITE));
        assert!(!scopes.contains(access::WORKSPACE_OWNER));
        for kind in [KeyKind::Workspace, KeyKind::Partner, KeyKind::Customer] {
            assert!(default_scopes(kind).is_empty());
        }
    }
}
