//! Workspaces and their environments.

use chrono::NaiveDateTime;
use diesel::prelude::*;
use serde::Serialize;

use crate::db::DbConnection;
use crate::db::schema::{environments, workspaces};

/// The environment every workspace has from its creation on.
pub const DEFAULT_ENVIRONMENT: &str = "production";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Plan {
    Hobby,
    Starter,
    Pro,
    Enterprise,
}

impl Plan {
    pub const ALL: [Plan; 4] = [Plan::Hobby, Plan::Starter, Plan::Pro, Plan::Enterprise];

    pub fn as_str(self) -> &'static str {
        match self {
            Plan::Hobby => "hobby",
            Plan::Starter => "starter",
            Plan::Pro => "pro",
            Plan::Enterprise => "enterprise",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|plan| plan.as_str() == text)
    }

    /// Requests per second allowed to a key of this plan without its own
    /// `rate_limit`, and to people through login tokens.
    pub fn rate_limit(self) -> u32 {
        match self {
            Plan::Hobby => 3,
            Plan::Starter => 5,
            Plan::Pro => 10,
            Plan::Enterprise => 100,
        }
    }

    /// The plan stored in a workspace row; an unknown name (which the
    /// column's CHECK forbids) gets the strictest limit.
    pub fn from_column(text: &str) -> Self {
        Self::parse(text).unwrap_or(Plan::Hobby)
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = workspaces)]
pub struct Workspace {
    pub id: String,
    pub slug: String,
    pub name: String,
    pub plan: String,
    pub portal_origins: String,
    pub created_at: NaiveDateTime,
}

impl Workspace {
    pub fn new(slug: &str, name: &str, plan: Plan, now: NaiveDateTime) -> Self {
        Self {
            id: super::new_id(),
            slug: slug.to_owned(),
            name: name.to_owned(),
            plan: plan.as_str().to_owned(),
            portal_origins: "[]".to_owned(),
            created_at: now,
        }
    }
}

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = environments)]
pub struct Environment {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub created_at: NaiveDateTime,
}

/// Inserts the workspace and its `production` environment.
pub fn insert(conn: &mut DbConnection, workspace: &Workspace) -> QueryResult<()> {
    conn.transaction(|conn| {
        diesel::insert_into(workspaces::table)
            .values(workspace)
            .execute(conn)?;
        diesel::insert_into(environments::table)
            .values(&Environment {
                id: super::new_id(),
                workspace_id: workspace.id.clone(),
                name: DEFAULT_ENVIRONMENT.to_owned(),
                created_at: workspace.created_at,
            })
            .execute(conn)?;
        Ok(())
    })
}

/// Finds a workspace by id or by slug, as `{ws}` in a path may be either.
pub fn find(conn: &mut DbConnection, id_or_slug: &str) -> QueryResult<Option<Workspace>> {
    workspaces::table
        .filter(
            workspaces::id
                .eq(id_or_slug)
                .or(workspaces::slug.eq(id_or_slug)),
        )
        .select(Workspace::as_select())
        .first(conn)
        .optional()
}

pub fn count(conn: &mut DbConnection) -> QueryResult<i64> {
    workspaces::table.count().get_result(conn)
}

pub fn environment_exists(
    conn: &mut DbConnection,
    workspace_id: &str,
    name: &str,
) -> QueryResult<bool> {
    diesel::select(diesel::dsl::exists(
        environments::table
            .filter(environments::workspace_id.eq(workspace_id))
            .filter(environments::name.eq(name)),
    ))
    .get_result(conn)
}

/// Workspace settings a PATCH may change.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = workspaces)]
pub struct WorkspaceChanges {
    pub name: Option<String>,
    pub plan: Option<String>,
    pub portal_origins: Option<String>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &WorkspaceChanges) -> QueryResult<()> {
    if changes.name.is_none() && changes.plan.is_none() && changes.portal_origins.is_none() {
        return Ok(());
    }
    diesel::update(workspaces::table.find(id))
        .set(changes)
        .execute(conn)
        .map(drop)
}

pub fn environments(conn: &mut DbConnection, workspace_id: &str) -> QueryResult<Vec<Environment>> {
    environments::table
        .filter(environments::workspace_id.eq(workspace_id))
        .select(Environment::as_select())
        .order((environments::created_at.asc(), environments::name.asc()))
        .load(conn)
}

pub fn insert_environment(conn: &mut DbConnection, environment: &Environment) -> QueryResult<()> {
    diesel::insert_into(environments::table)
        .values(environment)
        .execute(conn)
        .map(drop)
}

impl Workspace {
    /// The allowed portal embed origins (a JSON array in the column).
    pub fn portal_origins(&self) -> Vec<String> {
        serde_json::from_str(&self.portal_origins).unwrap_or_default()
    }
}

/// Holds the workspace's row until the transaction ends, so writers that
/// count before they insert (a customer's key cap) take turns. It writes
/// no column that authentication reads, so no key cache goes stale.
pub fn lock(conn: &mut DbConnection, id: &str) -> QueryResult<()> {
    diesel::update(workspaces::table.find(id))
        .set(workspaces::name.eq(workspaces::name))
        .execute(conn)
        .map(drop)
}
