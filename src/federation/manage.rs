//! Trust policies as the management API drives them: create, list, read,
//! change, delete, with the rights of `keys:write` (reading: `keys:read`),
//! each change in the audit log.

use chrono::NaiveDateTime;
use diesel::Connection as _;

use super::policy::{PolicySpec, PolicyUpdate, pins_something};
use crate::access::{self, ScopeSet};
use crate::audit;
use crate::authz::{Caller, WorkspaceAccess};
use crate::db::DbConnection;
use crate::db::models::api_keys::Position;
use crate::db::models::trust_policies::{self, PolicyChanges, TrustPolicy};
use crate::db::models::{new_id, workspaces};
use crate::error::ApiError;

pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    own_issuer: &str,
    spec: PolicySpec,
    now: NaiveDateTime,
) -> Result<TrustPolicy, ApiError> {
    access.require(access::KEYS_WRITE)?;
    check_grants(conn, access, &spec.scopes, spec.environment.as_deref())?;
    let policy = TrustPolicy {
        id: new_id(),
        workspace_id: access.workspace.id.clone(),
        name: spec.name,
        issuer: spec.issuer,
        jwks_uri: spec.jwks_uri,
        audiences: serde_json::to_string(&spec.audiences).unwrap_or_default(),
        subject: spec.subject,
        claims: serde_json::to_string(&spec.claims).unwrap_or_default(),
        scopes: spec.scopes.to_space_separated(),
        environment: spec.environment,
        max_ttl_seconds: spec.max_ttl_seconds,
        rate_limit: spec.rate_limit,
        created_at: now,
        created_by: Some(access.actor.clone()),
    };
    check_trust(&policy, own_issuer)?;
    conn.transaction(|conn| {
        trust_policies::insert(conn, &policy)?;
        let detail = serde_json::json!({ "issuer": policy.issuer });
        audit::record(
            conn,
            caller,
            access,
            "trust_policy.created",
            &policy.id,
            detail,
        )?;
        Ok::<_, ApiError>(())
    })?;
    Ok(policy)
}

pub fn list(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    after: Option<&Position>,
    limit: i64,
) -> Result<Vec<TrustPolicy>, ApiError> {
    access.require(access::KEYS_READ)?;
    Ok(trust_policies::list(
        conn,
        &access.workspace.id,
        after,
        limit,
    )?)
}

pub fn get(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    id: &str,
) -> Result<TrustPolicy, ApiError> {
    access.require(access::KEYS_READ)?;
    find(conn, access, id)
}

pub fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    own_issuer: &str,
    id: &str,
    update: PolicyUpdate,
) -> Result<TrustPolicy, ApiError> {
    access.require(access::KEYS_WRITE)?;
    let current = find(conn, access, id)?;
    if let Some(scopes) = &update.scopes {
        check_grants(conn, access, scopes, None)?;
    }
    if let Some(Some(environment)) = &update.environment {
        check_grants(conn, access, &ScopeSet::default(), Some(environment))?;
    }
    let changes = PolicyChanges {
        name: update.name,
        issuer: update.issuer,
        jwks_uri: update.jwks_uri,
        audiences: update
            .audiences
            .map(|a| serde_json::to_string(&a).unwrap_or_default()),
        subject: update.subject,
        claims: update
            .claims
            .map(|c| serde_json::to_string(&c).unwrap_or_default()),
        scopes: update.scopes.map(|s| s.to_space_separated()),
        environment: update.environment,
        max_ttl_seconds: update.max_ttl_seconds,
        rate_limit: update.rate_limit,
    };
    // The policy as it would be: it must still pin something and trust
    // no keymint token.
    check_trust(&changes.applied_to(current), own_issuer)?;
    conn.transaction(|conn| {
        trust_policies::update(conn, id, &changes)?;
        let detail = audit::changed_fields(&changes.fields());
        audit::record(conn, caller, access, "trust_policy.updated", id, detail)?;
        Ok::<_, ApiError>(())
    })?;
    find(conn, access, id)
}

/// Deletes a policy: its exchanges stop at once (each reads its policy),
/// and its tokens are inactive at introspection.
pub fn delete(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    id: &str,
) -> Result<(), ApiError> {
    access.require(access::KEYS_WRITE)?;
    let policy = find(conn, access, id)?;
    conn.transaction(|conn| {
        trust_policies::delete(conn, id)?;
        let detail = serde_json::json!({ "issuer": policy.issuer });
        audit::record(conn, caller, access, "trust_policy.deleted", id, detail)?;
        Ok::<_, ApiError>(())
    })
}

fn find(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    id: &str,
) -> Result<TrustPolicy, ApiError> {
    trust_policies::find_in_workspace(conn, &access.workspace.id, id)?
        .ok_or_else(|| ApiError::not_found("trust policy"))
}

/// The rules of a workspace key: no keymint scope the caller lacks, an
/// environment the workspace has.
fn check_grants(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    scopes: &ScopeSet,
    environment: Option<&str>,
) -> Result<(), ApiError> {
    access.require_all_keymint(scopes)?;
    if let Some(environment) = environment
        && !workspaces::environment_exists(conn, &access.workspace.id, environment)?
    {
        return Err(ApiError::validation(
            "environment",
            "no such environment in this workspace",
        ));
    }
    Ok(())
}

/// What no policy may be: one that trusts a whole issuer, or keymint's own
/// tokens (a keymint token is never a way to mint another).
fn check_trust(policy: &TrustPolicy, own_issuer: &str) -> Result<(), ApiError> {
    let pinned = policy.subject.as_deref().is_some_and(pins_something)
        || policy
            .claims()
            .values()
            .any(|pattern| pins_something(pattern));
    if !pinned {
        return Err(ApiError::validation(
            "subject",
            "a policy must pin a subject or at least one claim (a pattern that is more than *)",
        ));
    }
    // Keys served by keymint itself are keymint's: neither the issuer nor
    // the JWKS may be on its origin.
    let own = |url: &str| same_origin(url, own_issuer);
    if own(&policy.issuer) {
        return Err(ApiError::validation(
            "issuer",
            "keymint's own tokens cannot be exchanged for others",
        ));
    }
    if policy.jwks_uri.as_deref().is_some_and(own) {
        return Err(ApiError::validation(
            "jwks_uri",
            "keymint's own keys cannot vouch for an external issuer",
        ));
    }
    Ok(())
}

/// Scheme, host and port alike (RFC 6454), default ports made explicit.
fn same_origin(a: &str, b: &str) -> bool {
    match (url::Url::parse(a), url::Url::parse(b)) {
        (Ok(a), Ok(b)) => a.origin() == b.origin(),
        _ => false,
    }
}
