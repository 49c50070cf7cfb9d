//! Writing the audit log: who did what, to what, from where, and when.

use serde_json::Value;

use crate::authz::{Caller, WorkspaceAccess};
use crate::clock;
use crate::db::DbConnection;
use crate::db::models::{self, audit::AuditEvent};
pub use crate::origin::Origin;

/// One event. `detail` must never hold a secret.
pub struct Event<'a> {
    pub workspace_id: Option<&'a str>,
    pub actor: Option<&'a str>,
    pub action: &'a str,
    pub target: Option<&'a str>,
    pub detail: Value,
}

pub fn write(
    conn: &mut DbConnection,
    origin: &Origin,
    event: Event<'_>,
) -> diesel::QueryResult<()> {
    models::audit::insert(
        conn,
        &AuditEvent {
            id: models::new_id(),
            workspace_id: event.workspace_id.map(str::to_owned),
            actor: event.actor.map(str::to_owned),
            action: event.action.to_owned(),
            target: event.target.map(str::to_owned),
            client_ip: origin.client_ip.map(|ip| ip.to_string()),
            user_agent: origin.user_agent.clone(),
            detail: event.detail.to_string(),
            created_at: clock::now(),
        },
    )
}

/// The audit detail of an update: the names of the fields it changed
/// (never their values, which may be sensitive).
pub fn changed_fields(fields: &[(&str, bool)]) -> Value {
    let changed: Vec<&str> = fields
        .iter()
        .filter(|(_, changed)| *changed)
        .map(|(name, _)| *name)
        .collect();
    serde_json::json!({ "changed": changed })
}

/// Records `action` on `target` by an authenticated caller in the
/// workspace it is acting in.
pub fn record(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    action: &str,
    target: &str,
    detail: Value,
) -> diesel::QueryResult<()> {
    let event = Event {
        workspace_id: Some(&access.workspace.id),
        actor: Some(&access.actor),
        action,
        target: Some(target),
        detail,
    };
    write(conn, &caller.origin, event)
}
