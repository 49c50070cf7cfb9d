//! Workspaces and their environments, as the management API changes them.

use chrono::NaiveDateTime;
use diesel::Connection as _;
use serde_json::json;

use crate::access::{self, Role};
use crate::audit;
use crate::authz::{Caller, WorkspaceAccess};
use crate::bootstrap::validate_slug;
use crate::db::DbConnection;
use crate::db::models::workspaces::{self, Environment, Plan, Workspace, WorkspaceChanges};
use crate::db::models::{self, memberships};
use crate::error::{ApiError, FieldError};

/// Creates a workspace owned by the calling person, on `plan`.
pub fn create(
    conn: &mut DbConnection,
    caller: &Caller,
    slug: &str,
    name: Option<&str>,
    plan: Plan,
    now: NaiveDateTime,
) -> Result<Workspace, ApiError> {
    let user = caller.whole_person(conn)?;
    validate_slug(slug)?;
    let name = name
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .unwrap_or(slug);
    let workspace = Workspace::new(slug, name, plan, now);
    conn.transaction(|conn| {
        if workspaces::find(conn, &workspace.slug)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "The slug {:?} is taken.",
                workspace.slug
            )));
        }
        workspaces::insert(conn, &workspace)?;
        memberships::upsert(conn, &workspace.id, &user.id, Role::Owner, now)?;
        let event = audit::Event {
            workspace_id: Some(&workspace.id),
            actor: Some(&format!("user:{}", user.id)),
            action: "workspace.created",
            target: Some(&workspace.id),
            detail: json!({ "slug": workspace.slug }),
        };
        audit::write(conn, &caller.origin, event)?;
        Ok(workspace)
    })
}

/// What a PATCH of a workspace asks to change.
#[derive(Debug, Default)]
pub struct WorkspaceEdit {
    pub name: Option<String>,
    pub plan: Option<String>,
    pub portal_origins: Option<Vec<String>>,
}

/// Name and portal origins need `workspace:write`; the plan is the owner's.
pub fn update(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    body: WorkspaceEdit,
) -> Result<Workspace, ApiError> {
    access.require(access::WORKSPACE_WRITE)?;
    if body.plan.is_some() {
        access.require(access::WORKSPACE_OWNER)?;
    }
    let mut problems = Vec::new();
    let name = body.name.map(|n| n.trim().to_owned());
    if name
        .as_deref()
        .is_some_and(|n| n.is_empty() || n.chars().count() > 200)
    {
        problems.push(FieldError::new("name", "must be 1 to 200 characters"));
    }
    let plan = body.plan.map(|p| match Plan::parse(&p) {
        Some(plan) => plan.as_str().to_owned(),
        None => {
            problems.push(FieldError::new(
                "plan",
                "must be hobby, starter, pro or enterprise",
            ));
            p
        }
    });
    let origins = body.portal_origins.map(|origins| {
        if let Some(bad) = origins.iter().find(|o| !is_origin(o)) {
            problems.push(FieldError::new(
                "portal_origins",
                format!("{bad:?} is not an origin like https://app.example.com"),
            ));
        }
        serde_json::to_string(&origins).unwrap_or_else(|_| "[]".to_owned())
    });
    if !problems.is_empty() {
        return Err(ApiError::Validation(problems));
    }
    let changes = WorkspaceChanges {
        name,
        plan,
        portal_origins: origins,
    };
    conn.transaction(|conn| {
        workspaces::update(conn, &access.workspace.id, &changes)?;
        let changed = audit::changed_fields(&[
            ("name", changes.name.is_some()),
            ("plan", changes.plan.is_some()),
            ("portal_origins", changes.portal_origins.is_some()),
        ]);
        audit::record(
            conn,
            caller,
            access,
            "workspace.updated",
            &access.workspace.id,
            changed,
        )?;
        workspaces::find(conn, &access.workspace.id)?
            .ok_or_else(|| ApiError::not_found("workspace"))
    })
}

/// `scheme://host[:port]`, http or https, nothing after: what a browser
/// sends as `Origin` and what CSP `frame-ancestors` accepts.
fn is_origin(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    matches!(scheme, "https" | "http")
        && !rest.is_empty()
        && !rest.contains(['/', '?', '#', ' ', '*', ';', '\'', '"', ','])
}

pub fn environments(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
) -> Result<Vec<Environment>, ApiError> {
    access.require(access::KEYS_READ)?;
    Ok(workspaces::environments(conn, &access.workspace.id)?)
}

pub fn add_environment(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    name: &str,
    now: NaiveDateTime,
) -> Result<Environment, ApiError> {
    access.require(access::ENVIRONMENTS_WRITE)?;
    validate_slug(name).map_err(|_| {
        ApiError::validation("name", "1 to 63 lower-case letters, digits or dashes")
    })?;
    let environment = Environment {
        id: models::new_id(),
        workspace_id: access.workspace.id.clone(),
        name: name.to_owned(),
        created_at: now,
    };
    conn.transaction(|conn| {
        if workspaces::environment_exists(conn, &access.workspace.id, name)? {
            return Err(ApiError::Conflict(format!(
                "The environment {name:?} exists already."
            )));
        }
        workspaces::insert_environment(conn, &environment)?;
        audit::record(
            conn,
            caller,
            access,
            "environment.created",
            &environment.id,
            json!({ "name": name }),
        )?;
        Ok(environment)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn origins_are_scheme_host_and_port_only() {
        for good in ["https://app.example.com", "http://localhost:3000"] {
            assert!(super::is_origin(good), "{good}");
        }
        for bad in [
            "app.example.com",
            "https://",
            "https://a.com/path",
            "ftp://a.com",
            "https://*.a.com",
            "https://a.com 'self'",
        ] {
            assert!(!super::is_origin(bad), "{bad}");
        }
    }
}
