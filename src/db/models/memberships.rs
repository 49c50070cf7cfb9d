//! Who belongs to which workspace, with which role.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::access::Role;
use crate::db::DbConnection;
use crate::db::models::workspaces::Plan;
use crate::db::schema::{memberships, workspaces};

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

/// Every workspace the user belongs to, with the role there.
pub fn of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Vec<Membership>> {
    memberships::table
        .filter(memberships::user_id.eq(user_id))
        .select(Membership::as_select())
        .order(memberships::joined_at.asc())
        .load(conn)
}

/// The best plan among the workspaces a user belongs to (`None`: none).
/// A login token acts in all of them, so its rate limit follows this plan.
pub fn best_plan_of_user(conn: &mut DbConnection, user_id: &str) -> QueryResult<Option<Plan>> {
    let plans: Vec<String> = memberships::table
        .inner_join(workspaces::table)
        .filter(memberships::user_id.eq(user_id))
        .select(workspaces::plan)
        .load(conn)?;
    Ok(plans
        .iter()
        .map(|plan| Plan::from_column(plan))
        .max_by_key(|plan| plan.rate_limit()))
}

pub fn find(
    conn: &mut DbConnection,
    workspace_id: &str,
    user_id: &str,
) -> QueryResult<Option<Membership>> {
    memberships::table
        .find((workspace_id, user_id))
        .select(Membership::as_select())
        .first(conn)
        .optional()
}

pub fn count_owners(conn: &mut DbConnection, workspace_id: &str) -> QueryResult<i64> {
    memberships::table
        .filter(memberships::workspace_id.eq(workspace_id))
        .filter(memberships::role.eq(Role::Owner.as_str()))
        .count()
        .get_result(conn)
}

pub fn remove(conn: &mut DbConnection, workspace_id: &str, user_id: &str) -> QueryResult<()> {
    diesel::delete(memberships::table.find((workspace_id, user_id)))
        .execute(conn)
        .map(drop)
}

/// A page of members with their emails, oldest member first.
pub fn list_with_emails(
    conn: &mut DbConnection,
    workspace_id: &str,
    after: Option<&crate::db::models::api_keys::Position>,
    limit: i64,
) -> QueryResult<Vec<(Membership, String)>> {
    use crate::db::schema::users;
    let mut query = memberships::table
        .inner_join(users::table)
        .filter(memberships::workspace_id.eq(workspace_id))
        .select((Membership::as_select(), users::email))
        .order((memberships::joined_at.asc(), memberships::user_id.asc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(
            memberships::joined_at
                .gt(after.created_at)
                .or(memberships::joined_at
                    .eq(after.created_at)
                    .and(memberships::user_id.gt(after.id.clone()))),
        );
    }
    query.load(conn)
}
