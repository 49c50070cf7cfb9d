//! Writing the audit log: who did what, to what, from where, and when.

use serde_json::Value;

use crate::authz::{Caller, WorkspaceAccess};
use crate::clock;
use crate::db::DbConnection;
use crate::db::models::{self, audit::AuditEvent};

/// Records `action` on `target` by the caller. `detail` must never hold a
/// secret.
pub fn record(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    action: &str,
    target: &str,
    detail: Value,
) -> diesel::QueryResult<()> {
    models::audit::insert(
        conn,
        &AuditEvent {
            id: models::new_id(),
            workspace_id: Some(access.workspace.id.clone()),
            actor: Some(access.actor.clone()),
            action: action.to_owned(),
            target: Some(target.to_owned()),
            client_ip: caller.client_ip.map(|ip| ip.to_string()),
            user_agent: caller.user_agent.clone(),
            detail: detail.to_string(),
            created_at: clock::now(),
        },
    )
}
