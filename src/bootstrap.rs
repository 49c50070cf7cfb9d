//! Bootstrapping: a workspace, its owner and a first workspace key with every
//! keymint scope. Used by `keymint bootstrap` and by the first start on an
//! empty database.

use diesel::Connection as _;
use serde::Serialize;

use crate::access::{self, Role};
use crate::api_keys::{self, KeyKind, NewKey};
use crate::clock;
use crate::db::DbConnection;
use crate::db::models::workspaces::{self, Plan, Workspace};
use crate::db::models::{memberships, users};
use crate::error::ApiError;
use crate::passwords;

/// The slug and owner of the workspace created on a first start.
pub const AUTO_WORKSPACE_SLUG: &str = "default";
pub const AUTO_OWNER_EMAIL: &str = "admin@localhost";

#[derive(Debug)]
pub struct BootstrapRequest {
    pub workspace_slug: String,
    pub email: String,
    pub password: Option<String>,
}

/// The JSON `keymint bootstrap` prints. Holds the new secret: print it once.
#[derive(Serialize)]
pub struct Bootstrapped {
    pub workspace: WorkspaceRef,
    pub user: UserRef,
    pub api_key: NewSecretRef,
}

#[derive(Serialize)]
pub struct WorkspaceRef {
    pub id: String,
    pub slug: String,
}

#[derive(Serialize)]
pub struct UserRef {
    pub id: String,
    pub email: String,
}

#[derive(Serialize)]
pub struct NewSecretRef {
    pub id: String,
    pub kind: KeyKind,
    pub secret: String,
}

/// Creates the workspace (plan `enterprise`), makes the user (created, or
/// reused by email) its owner, and issues a `workspace` key with every
/// keymint scope, all in one transaction. An existing slug is a conflict.
pub fn bootstrap(
    conn: &mut DbConnection,
    request: &BootstrapRequest,
) -> Result<Bootstrapped, ApiError> {
    validate_slug(&request.workspace_slug)?;
    let password_hash = match &request.password {
        Some(password) => Some(passwords::hash(password).map_err(ApiError::internal)?),
        None => None,
    };
    let now = clock::now();
    conn.transaction(|conn| {
        if workspaces::find(conn, &request.workspace_slug)?.is_some() {
            return Err(ApiError::Conflict(format!(
                "A workspace with slug {:?} exists already.",
                request.workspace_slug
            )));
        }
        let user = match users::find_by_email(conn, &request.email)? {
            Some(user) => user,
            None => {
                let user = users::User::new(&request.email, None, now);
                users::insert(conn, &user)?;
                user
            }
        };
        if let Some(hash) = &password_hash {
            users::set_password_hash(conn, &user.id, hash)?;
        }
        let workspace = Workspace::new(
            &request.workspace_slug,
            &request.workspace_slug,
            Plan::Enterprise,
            now,
        );
        workspaces::insert(conn, &workspace)?;
        memberships::upsert(conn, &workspace.id, &user.id, Role::Owner, now)?;

        let mut new_key = NewKey::new(&workspace.id, KeyKind::Workspace, "bootstrap");
        new_key.scopes = access::all_keymint_scopes();
        new_key.created_by = Some(format!("user:{}", user.id));
        let (key, secret) = api_keys::issue(new_key, now)?;
        crate::db::models::api_keys::insert(conn, &key)?;

        Ok(Bootstrapped {
            workspace: WorkspaceRef {
                id: workspace.id,
                slug: workspace.slug,
            },
            user: UserRef {
                id: user.id,
                email: user.email,
            },
            api_key: NewSecretRef {
                id: key.id,
                kind: KeyKind::Workspace,
                secret: secret.expose().to_owned(),
            },
        })
    })
}

/// On a database with no workspace at all, bootstraps the `default` one.
/// Returns `None` when there was something already (or another replica won
/// the race to create it).
pub fn bootstrap_if_empty(conn: &mut DbConnection) -> Result<Option<Bootstrapped>, ApiError> {
    if workspaces::count(conn)? > 0 {
        return Ok(None);
    }
    let request = BootstrapRequest {
        workspace_slug: AUTO_WORKSPACE_SLUG.to_owned(),
        email: AUTO_OWNER_EMAIL.to_owned(),
        password: None,
    };
    match bootstrap(conn, &request) {
        Ok(done) => Ok(Some(done)),
        Err(ApiError::Conflict(_)) => Ok(None),
        Err(other) => Err(other),
    }
}

/// Slugs name workspaces in URLs: lower-case letters, digits and dashes.
pub fn validate_slug(slug: &str) -> Result<(), ApiError> {
    let valid = (1..=63).contains(&slug.len())
        && slug
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
        && !slug.starts_with('-')
        && !slug.ends_with('-');
    if valid {
        Ok(())
    } else {
        Err(ApiError::validation(
            "slug",
            "1 to 63 lower-case letters, digits or dashes, not starting or ending with a dash",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slugs_are_url_safe() {
        assert!(validate_slug("acme-2").is_ok());
        for bad in ["", "Acme", "a b", "-a", "a-", "a/b", &"a".repeat(64)] {
            assert!(validate_slug(bad).is_err(), "{bad}");
        }
    }
}
