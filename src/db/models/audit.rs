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
