//! Who belongs to which workspace, with which role.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::access::Role;
use crate::db::DbConnection;
use crate::db::schema::memberships;

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = memberships)]
pub struct Membership {
    pub workspace_id: String,
    pub user_id: String,
    pub role: String,
    pub joined_at: NaiveDateTime,
}

/// Adds the user to the workspace, or changes the role of an existing member.
pub fn upsert(
    conn: &mut DbConnection,
    workspace_id: &str,
    user_id: &str,
    role: Role,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let updated = diesel::update(memberships::table.find((workspace_id, user_id)))
        .set(memberships::role.eq(role.as_str()))
        .execute(conn)?;
    if updated == 0 {
        diesel::insert_into(memberships::table)
            .values(&Membership {
                workspace_id: workspace_id.to_owned(),
                user_id: user_id.to_owned(),
                role: role.as_str().to_owned(),
                joined_at: now,
            })
            .execute(conn)?;
    }
    Ok(())
}

/// The user's current role in the workspace, if they are a member.
pub fn role_of(
    conn: &mut DbConnection,
    workspace_id: &str,
    user_id: &str,
) -> QueryResult<Option<Role>> {
    let role: Option<String> = memberships::table
        .find((workspace_id, user_id))
        .select(memberships::role)
        .first(conn)
        .optional()?;
    // The column's CHECK constraint admits only the four role names.
    Ok(role.as_deref().and_then(Role::parse))
}
