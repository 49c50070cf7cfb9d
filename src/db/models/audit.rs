//! The audit log: who did what, to what, from where, and when.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::db::DbConnection;
use crate::db::schema::audit_events;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = audit_events)]
pub struct AuditEvent {
    pub id: String,
    pub workspace_id: Option<String>,
    pub actor: Option<String>,
    pub action: String,
    pub target: Option<String>,
    pub client_ip: Option<String>,
    pub user_agent: Option<String>,
    /// A JSON object; never holds a secret.
    pub detail: String,
    pub created_at: NaiveDateTime,
}

pub fn insert(conn: &mut DbConnection, event: &AuditEvent) -> QueryResult<()> {
    diesel::insert_into(audit_events::table)
        .values(event)
        .execute(conn)
        .map(drop)
}

/// A page of a workspace's audit events, newest first.
pub fn list(
    conn: &mut DbConnection,
    workspace_id: &str,
    after: Option<&crate::db::models::api_keys::Position>,
    limit: i64,
) -> QueryResult<Vec<AuditEvent>> {
    let mut query = audit_events::table
        .filter(audit_events::workspace_id.eq(workspace_id))
        .select(AuditEvent::as_select())
        .order((audit_events::created_at.desc(), audit_events::id.desc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(
            audit_events::created_at
                .lt(after.created_at)
                .or(audit_events::created_at
                    .eq(after.created_at)
                    .and(audit_events::id.lt(after.id.clone()))),
        );
    }
    query.load(conn)
}
