//! Personal tokens (`kmp_`): a person's own keys, managed by that person at
//! `/api/v1/users/me/api-keys`. A token acts with its owner's current role.

use chrono::NaiveDateTime;

use super::lifecycle::{self, Acting};
use super::spec::CommonFields;
use super::{KeyKind, NewKey};
use crate::access;
use crate::access::ScopeSet;
use crate::authz::{Caller, Principal, WorkspaceAccess};
use crate::db::DbConnection;
use crate::db::models::api_keys::{self, ApiKey, KeyFilter, Position, StoredUsage};
use crate::db::models::{memberships, users::User};
use crate::error::ApiError;
use crate::secrets::Secret;

/// The refusal of `scopes: []` for a personal token, at creation or PATCH.
pub fn no_empty_scopes() -> ApiError {
    ApiError::validation(
        "scopes",
        "a personal token needs at least one scope; leave scopes out for its owner's role",
    )
}

fn person(caller: &Caller) -> Result<&User, ApiError> {
    caller.user().ok_or_else(|| {
        ApiError::InsufficientPermissions(
            "Personal tokens belong to a person: log in or use a personal token.".to_owned(),
        )
    })
}

pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    workspace: Option<String>,
    spec: CommonFields,
    now: NaiveDateTime,
) -> Result<(ApiKey, Secret), ApiError> {
    let user = person(caller)?;
    let workspace = match workspace {
        Some(workspace) => workspace,
        None => {
            let mut memberships = memberships::of_user(conn, &user.id)?;
            match memberships.len() {
                1 => memberships.remove(0).workspace_id,
                0 => {
                    return Err(ApiError::InsufficientPermissions(
                        "You belong to no workspace.".to_owned(),
                    ));
                }
                _ => {
                    return Err(ApiError::validation(
                        "workspace",
                        "required when you belong to several workspaces",
                    ));
                }
            }
        }
    };
    let access = caller.access(conn, &workspace)?;
    access.require(access::TOKENS_SELF)?;
    let mut new_key = NewKey::new(&access.workspace.id, KeyKind::Personal, &spec.name);
    new_key.user_id = Some(user.id.clone());
    new_key.scopes = match spec.scopes {
        // Stored empty, a personal token's scopes mean its owner's whole
        // role: asked for explicitly, that would let a narrowed credential
        // mint a token wider than itself.
        Some(scopes) if scopes.is_empty() => return Err(no_empty_scopes()),
        Some(scopes) => scopes,
        // No scopes, asked by the whole person: the token follows the
        // owner's role as it changes.
        None if access.is_whole_role() => ScopeSet::default(),
        // Asked by a narrowed credential: what it holds, nothing more.
        None => access.scopes.clone(),
    };
    access.require_all_keymint(&new_key.scopes)?;
    new_key.expires_at = spec.expires_at;
    new_key.created_by = Some(format!("user:{}", user.id));
    let actor = Acting {
        caller,
        access: &access,
    };
    lifecycle::create(conn, &actor, new_key, now, |_| Ok(()))
}

pub fn list(
    conn: &mut DbConnection,
    caller: &Caller,
    include_revoked: bool,
    after: Option<&Position>,
    limit: i64,
) -> Result<Vec<(ApiKey, StoredUsage)>, ApiError> {
    let user = person(caller)?;
    // A key acts for its owner here only with the right to.
    if let Principal::Key(known) = &caller.principal {
        caller
            .access(conn, &known.key.workspace_id)?
            .require(access::TOKENS_SELF)?;
    }
    let filter = KeyFilter {
        kind: Some(KeyKind::Personal.as_str().to_owned()),
        user_id: Some(user.id.clone()),
        include_revoked,
        ..KeyFilter::default()
    };
    Ok(api_keys::list(conn, None, &filter, after, limit)?)
}

pub fn rotate(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    grace: Option<chrono::Duration>,
    now: NaiveDateTime,
) -> Result<(ApiKey, Secret), ApiError> {
    let (key, access) = own_token(conn, caller, id)?;
    let actor = Acting {
        caller,
        access: &access,
    };
    let secret = lifecycle::rotate(conn, &actor, &key, grace, now)?;
    let rotated = api_keys::find(conn, id)?.ok_or_else(|| ApiError::not_found("token"))?;
    Ok((rotated, secret))
}

pub fn revoke(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let (key, access) = own_token(conn, caller, id)?;
    let actor = Acting {
        caller,
        access: &access,
    };
    lifecycle::revoke(conn, &actor, &key, now)
}

/// One of the caller's own personal tokens; anyone else's is 404, so
/// token ids cannot be probed.
fn own_token(
    conn: &mut DbConnection,
    caller: &Caller,
    id: &str,
) -> Result<(ApiKey, WorkspaceAccess), ApiError> {
    let user = person(caller)?;
    let key = api_keys::find(conn, id)?
        .filter(|key| key.kind() == KeyKind::Personal && key.user_id.as_deref() == Some(&user.id))
        .ok_or_else(|| ApiError::not_found("token"))?;
    let access = caller.access(conn, &key.workspace_id)?;
    access.require(access::TOKENS_SELF)?;
    Ok((key, access))
}
