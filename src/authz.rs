//! Authorization: what an authenticated caller may do in one workspace.
//!
//! Rights are scopes. A key holds its own scopes; a personal key also
//! carries its owner's *current* role (narrowed by the key's scopes; see
//! [`KnownKey::rights`]); a JWT is further narrowed to the scopes it was
//! issued with. A credential holding none of keymint's scopes in a
//! workspace acts there as nobody.

use crate::access::{Role, ScopeSet};
pub use crate::auth::Principal;
use crate::db::DbConnection;
use crate::db::models::memberships;
use crate::db::models::users::User;
use crate::db::models::workspaces::{self, Workspace};
use crate::error::ApiError;
use crate::key_kind::KeyKind;
use crate::origin::Origin;

/// An authenticated request's caller, with what the audit log records.
pub struct Caller {
    pub principal: Principal,
    /// The scopes of the presented JWT; `None` when a secret was presented.
    pub token_scopes: Option<ScopeSet>,
    pub origin: Origin,
}

/// The caller's standing in one workspace.
pub struct WorkspaceAccess {
    pub workspace: Workspace,
    pub scopes: ScopeSet,
    /// `key:<id>` or `user:<id>`, as stored in `created_by` and the audit log.
    pub actor: String,
    /// The role behind these rights, when a person is behind them.
    pub role: Option<Role>,
    /// The kind of key acting, when a key is.
    pub key_kind: Option<KeyKind>,
}

impl Caller {
    /// Resolves `{ws}` (id or slug) and the caller's rights in it, which
    /// must hold at least one of keymint's scopes: a credential without any
    /// acts on the API as nobody (403 `insufficient_permissions`). A
    /// credential of another workspace is 403 `api_key_account_mismatch`.
    pub fn access(&self, conn: &mut DbConnection, ws: &str) -> Result<WorkspaceAccess, ApiError> {
        let access = self.standing(conn, ws)?;
        if !access.scopes.iter().any(crate::access::is_keymint_scope) {
            return Err(ApiError::InsufficientPermissions(
                "This credential holds none of keymint's scopes here.".to_owned(),
            ));
        }
        Ok(access)
    }

    /// The caller's rights in `{ws}`, possibly none: what `/api/v1/me`
    /// reports. Everything else asks [`Caller::access`].
    pub fn standing(&self, conn: &mut DbConnection, ws: &str) -> Result<WorkspaceAccess, ApiError> {
        let workspace =
            workspaces::find(conn, ws)?.ok_or_else(|| ApiError::not_found("workspace"))?;
        let authenticated = match &self.principal {
            Principal::Key(authenticated) => authenticated,
            Principal::User(user) => {
                let role = memberships::role_of(conn, &workspace.id, &user.id)?
                    .ok_or(ApiError::AccountMismatch)?;
                return Ok(WorkspaceAccess {
                    workspace,
                    scopes: role.scopes(),
                    actor: format!("user:{}", user.id),
                    role: Some(role),
                    key_kind: None,
                });
            }
        };
        let key = &authenticated.key;
        if key.workspace_id != workspace.id {
            return Err(ApiError::AccountMismatch);
        }
        let mut scopes = authenticated.rights();
        if let Some(token_scopes) = &self.token_scopes {
            scopes = scopes.intersect(token_scopes);
        }
        Ok(WorkspaceAccess {
            workspace,
            scopes,
            actor: format!("key:{}", key.id),
            role: authenticated.owner.as_ref().map(|owner| owner.role),
            key_kind: Some(key.kind()),
        })
    }
}

impl Caller {
    /// The person behind the request: a logged-in user, or the owner of a
    /// personal key. Keys of other kinds have no person behind them.
    pub fn user(&self) -> Option<&User> {
        match &self.principal {
            Principal::User(user) => Some(user),
            Principal::Key(authenticated) => authenticated.owner.as_ref().map(|owner| &owner.user),
        }
    }
}

impl Caller {
    /// The person behind the request, acting with their whole role: a
    /// login token, or a personal key (or a token of one) that holds all of
    /// its owner's role. What needs a person and is not bound to one
    /// workspace (creating a workspace) asks for this, so a narrowed
    /// credential never becomes the owner of anything.
    pub fn whole_person(&self, conn: &mut DbConnection) -> Result<&User, ApiError> {
        let narrowed = || {
            ApiError::InsufficientPermissions(
                "This needs a login, or a personal token with all of its owner's role.".to_owned(),
            )
        };
        match &self.principal {
            Principal::User(user) => Ok(user),
            Principal::Key(known) => {
                let owner = known.owner.as_ref().ok_or_else(narrowed)?;
                let access = self.access(conn, &known.key.workspace_id)?;
                if owner.role.scopes().is_subset_of(&access.scopes) {
                    Ok(&owner.user)
                } else {
                    Err(narrowed())
                }
            }
        }
    }
}

impl WorkspaceAccess {
    /// Whether these rights are the whole of the person's role: a login, or
    /// a personal credential narrowed to nothing less than its role.
    pub fn is_whole_role(&self) -> bool {
        self.role
            .is_some_and(|role| role.scopes().is_subset_of(&self.scopes))
    }

    /// 403 `insufficient_permissions` unless the caller holds `scope`.
    pub fn require(&self, scope: &str) -> Result<(), ApiError> {
        if self.scopes.contains(scope) {
            Ok(())
        } else {
            Err(ApiError::InsufficientPermissions(format!(
                "This needs the {scope} scope."
            )))
        }
    }

    /// 403 unless the caller holds every keymint scope in `granted`: nobody
    /// grants a right they do not have. Free-form scopes are not keymint's
    /// to police.
    pub fn require_all_keymint(&self, granted: &ScopeSet) -> Result<(), ApiError> {
        match granted
            .iter()
            .find(|scope| crate::access::is_keymint_scope(scope) && !self.scopes.contains(scope))
        {
            Some(missing) => Err(ApiError::InsufficientPermissions(format!(
                "You cannot grant {missing}, which you do not hold."
            ))),
            None => Ok(()),
        }
    }
}
