//! The embeddable developer portal: sessions a workspace mints for one of
//! its customers, and what such a session may do, which is that customer's
//! own `kmc_` keys and nothing else.

use chrono::{Duration, NaiveDateTime};
use serde_json::json;

use crate::access;
use crate::api_keys::lifecycle::{self, KeyActor};
use crate::api_keys::spec::CommonFields;
use crate::api_keys::{KeyKind, NewKey};
use crate::audit::{self, Event, Origin};
use crate::authz::{Caller, WorkspaceAccess};
use crate::db::DbConnection;
use crate::db::models::api_keys::{self as key_rows, ApiKey, KeyFilter, Position, StoredUsage};
use crate::db::models::workspaces;
use crate::error::ApiError;
use crate::secrets::Secret;

/// Who a portal session is: one customer of one workspace.
#[derive(Debug, Clone)]
pub struct PortalSession {
    pub workspace_id: String,
    pub external_id: String,
    pub origin: Origin,
}

impl PortalSession {
    fn actor(&self) -> String {
        format!("portal:{}", self.external_id)
    }
}

impl KeyActor for PortalSession {
    fn audit(
        &self,
        conn: &mut DbConnection,
        action: &str,
        key: &ApiKey,
        detail: serde_json::Value,
    ) -> diesel::QueryResult<()> {
        let event = Event {
            workspace_id: Some(&self.workspace_id),
            actor: Some(&self.actor()),
            action,
            target: Some(&key.id),
            detail,
        };
        audit::write(conn, &self.origin, event)
    }
}

/// Checks the caller may open portal sessions here, and audits the minting.
pub fn authorize_session(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    external_id: &str,
    ttl: Duration,
) -> Result<(), ApiError> {
    access.require(access::PORTAL_WRITE)?;
    audit::record(
        conn,
        caller,
        access,
        "portal.session_created",
        external_id,
        json!({ "external_id": external_id, "ttl_seconds": ttl.num_seconds() }),
    )?;
    Ok(())
}

/// The session's own keys, newest first.
pub fn list(
    conn: &mut DbConnection,
    session: &PortalSession,
    after: Option<&Position>,
    limit: i64,
) -> Result<Vec<(ApiKey, StoredUsage)>, ApiError> {
    let filter = KeyFilter {
        kind: Some(KeyKind::Customer.as_str().to_owned()),
        external_id: Some(session.external_id.clone()),
        ..KeyFilter::default()
    };
    Ok(key_rows::list(
        conn,
        Some(&session.workspace_id),
        &filter,
        after,
        limit,
    )?)
}

/// A new customer key. Portal keys carry no scopes: the customer cannot
/// grant itself rights; downstream services decide by `sub` (its id). A
/// customer holds at most `max_keys` live keys (409 beyond).
pub fn create(
    conn: &mut DbConnection,
    session: &PortalSession,
    spec: CommonFields,
    max_keys: u32,
    now: NaiveDateTime,
) -> Result<(ApiKey, Secret), ApiError> {
    let mut new_key = NewKey::new(&session.workspace_id, KeyKind::Customer, &spec.name);
    new_key.external_id = Some(session.external_id.clone());
    new_key.expires_at = spec.expires_at;
    new_key.created_by = Some(session.actor());
    lifecycle::create(conn, session, new_key, now, |conn| {
        // Counted under the workspace's lock, so racing creates cannot
        // both see room for one more.
        workspaces::lock(conn, &session.workspace_id)?;
        let live = key_rows::count_live_of_customer(
            conn,
            &session.workspace_id,
            &session.external_id,
            now,
        )?;
        if live >= i64::from(max_keys) {
            return Err(ApiError::Conflict(format!(
                "A customer holds at most {max_keys} live keys; revoke one first."
            )));
        }
        Ok(())
    })
}

pub fn rotate(
    conn: &mut DbConnection,
    session: &PortalSession,
    id: &str,
    now: NaiveDateTime,
) -> Result<(ApiKey, Secret), ApiError> {
    let key = own_key(conn, session, id)?;
    let secret = lifecycle::rotate(conn, session, &key, None, now)?;
    Ok((own_key(conn, session, id)?, secret))
}

pub fn revoke(
    conn: &mut DbConnection,
    session: &PortalSession,
    id: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let key = own_key(conn, session, id)?;
    lifecycle::revoke(conn, session, &key, now)
}

/// One of the session customer's keys; any other key is 404.
fn own_key(conn: &mut DbConnection, session: &PortalSession, id: &str) -> Result<ApiKey, ApiError> {
    key_rows::find_in_workspace(conn, &session.workspace_id, id)?
        .filter(|key| {
            key.kind() == KeyKind::Customer
                && key.external_id.as_deref() == Some(&session.external_id)
        })
        .ok_or_else(|| ApiError::not_found("key"))
}
