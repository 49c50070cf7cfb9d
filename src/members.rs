//! Membership rules: who may add, promote, demote and remove whom.
//! Roles rank owner > admin > member > viewer; only owners make (or unmake)
//! owners; a workspace always keeps at least one owner.

use chrono::{Duration, NaiveDateTime};
use diesel::Connection as _;
use serde_json::json;

use crate::access::{self, Role};
use crate::audit;
use crate::authz::{Caller, WorkspaceAccess};
use crate::db::DbConnection;
use crate::db::models::invitations::{self, Invitation};
use crate::db::models::{self, api_keys, memberships, users};
use crate::error::ApiError;
use crate::secrets;

/// How long an invitation can be accepted.
pub const INVITATION_LIFETIME_DAYS: i64 = 7;
const INVITE_PREFIX: &str = "kminv_";

/// A person as a member of one workspace.
#[derive(Debug)]
pub struct Member {
    pub user_id: String,
    pub email: String,
    pub role: Role,
    pub joined_at: NaiveDateTime,
}

/// A one-time invitation, for the admin who added the member to pass on.
#[derive(Debug)]
pub struct Invite {
    pub token: String,
    pub url: String,
    pub expires_at: NaiveDateTime,
}

/// A member just added, and their invitation when this created their
/// account.
#[derive(Debug)]
pub struct Added {
    pub member: Member,
    pub invitation: Option<Invite>,
}

fn parse_role(text: &str) -> Result<Role, ApiError> {
    Role::parse(text)
        .ok_or_else(|| ApiError::validation("role", "must be owner, admin, member or viewer"))
}

/// Changing anything about an owner, or making one, is an owner's right.
fn require_owner_rights_if(access: &WorkspaceAccess, involves_owner: bool) -> Result<(), ApiError> {
    if involves_owner {
        access.require(access::WORKSPACE_OWNER)
    } else {
        Ok(())
    }
}

/// Adds a person by email (creating their account if needed) with `role`.
/// Only an account this request creates gets an invitation (to set its
/// first password): an existing account, with a password or not, never
/// does, so adding someone to a workspace cannot take their account.
pub fn add(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    email: &str,
    role: &str,
    issuer: &str,
    now: NaiveDateTime,
) -> Result<Added, ApiError> {
    access.require(access::MEMBERS_WRITE)?;
    let role = parse_role(role)?;
    require_owner_rights_if(access, role == Role::Owner)?;
    // Giving a role grants its scopes: nobody grants what they do not hold.
    access.require_all_keymint(&role.scopes())?;
    let email = users::normalize_email(email);
    if !looks_like_email(&email) {
        return Err(ApiError::validation("email", "must be an email address"));
    }
    conn.transaction(|conn| {
        let (user, created) = match users::find_by_email(conn, &email)? {
            Some(user) => (user, false),
            None => {
                let user = users::User::new(&email, None, now);
                users::insert(conn, &user)?;
                (user, true)
            }
        };
        if memberships::find(conn, &access.workspace.id, &user.id)?.is_some() {
            return Err(ApiError::Conflict(format!("{email} is a member already.")));
        }
        memberships::upsert(conn, &access.workspace.id, &user.id, role, now)?;
        let invitation = if created {
            Some(invite(conn, access, &user.id, role, issuer, now)?)
        } else {
            None
        };
        audit::record(
            conn,
            caller,
            access,
            "member.added",
            &user.id,
            json!({ "email": email, "role": role }),
        )?;
        Ok(Added {
            member: Member {
                user_id: user.id,
                email: user.email,
                role,
                joined_at: now,
            },
            invitation,
        })
    })
}

fn invite(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    user_id: &str,
    role: Role,
    issuer: &str,
    now: NaiveDateTime,
) -> Result<Invite, ApiError> {
    let (token, digest) = secrets::random_token(INVITE_PREFIX)
        .map_err(|_| ApiError::internal("system random failed"))?;
    let expires_at = now + Duration::days(INVITATION_LIFETIME_DAYS);
    invitations::insert(
        conn,
        &Invitation {
            id: models::new_id(),
            workspace_id: access.workspace.id.clone(),
            user_id: user_id.to_owned(),
            role: role.as_str().to_owned(),
            token_digest: digest.as_bytes().to_vec(),
            created_by: Some(access.actor.clone()),
            created_at: now,
            expires_at,
            used_at: None,
        },
    )?;
    // The fragment never reaches a server log.
    let url = format!("{issuer}/dashboard#invite={token}");
    Ok(Invite {
        token,
        url,
        expires_at,
    })
}

pub fn change_role(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    user_id: &str,
    role: &str,
    now: NaiveDateTime,
) -> Result<Member, ApiError> {
    access.require(access::MEMBERS_WRITE)?;
    let role = parse_role(role)?;
    conn.transaction(|conn| {
        let current = member(conn, access, user_id)?;
        let current_role = Role::parse(&current.role).unwrap_or(Role::Viewer);
        require_owner_rights_if(access, role == Role::Owner || current_role == Role::Owner)?;
        access.require_all_keymint(&role.scopes())?;
        if current_role == Role::Owner && role != Role::Owner {
            keep_an_owner(conn, access)?;
        }
        memberships::upsert(conn, &access.workspace.id, user_id, role, now)?;
        audit::record(
            conn,
            caller,
            access,
            "member.role_changed",
            user_id,
            json!({ "from": current_role, "to": role }),
        )?;
        let email = users::find(conn, user_id)?
            .map(|u| u.email)
            .unwrap_or_default();
        Ok(Member {
            user_id: user_id.to_owned(),
            email,
            role,
            joined_at: current.joined_at,
        })
    })
}

/// Removes a member (or, when it is the caller, leaves). Their personal
/// tokens in this workspace are revoked with the membership.
pub fn remove(
    conn: &mut DbConnection,
    caller: &Caller,
    access: &WorkspaceAccess,
    user_id: &str,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    let leaving = caller.user().is_some_and(|user| user.id == user_id);
    if !leaving {
        access.require(access::MEMBERS_WRITE)?;
    }
    conn.transaction(|conn| {
        let current = member(conn, access, user_id)?;
        if current.role == Role::Owner.as_str() {
            if !leaving {
                access.require(access::WORKSPACE_OWNER)?;
            }
            keep_an_owner(conn, access)?;
        }
        memberships::remove(conn, &access.workspace.id, user_id)?;
        let revoked = api_keys::revoke_personal(conn, &access.workspace.id, user_id, now)?;
        audit::record(
            conn,
            caller,
            access,
            "member.removed",
            user_id,
            json!({ "revoked_personal_tokens": revoked }),
        )?;
        Ok(())
    })
}

pub fn list(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    after: Option<&api_keys::Position>,
    limit: i64,
) -> Result<Vec<Member>, ApiError> {
    access.require(access::MEMBERS_READ)?;
    Ok(
        memberships::list_with_emails(conn, &access.workspace.id, after, limit)?
            .into_iter()
            .map(|(membership, email)| Member {
                role: Role::parse(&membership.role).unwrap_or(Role::Viewer),
                user_id: membership.user_id,
                email,
                joined_at: membership.joined_at,
            })
            .collect(),
    )
}

fn member(
    conn: &mut DbConnection,
    access: &WorkspaceAccess,
    user_id: &str,
) -> Result<memberships::Membership, ApiError> {
    memberships::find(conn, &access.workspace.id, user_id)?
        .ok_or_else(|| ApiError::not_found("member"))
}

/// 409 when the change would leave the workspace without an owner.
fn keep_an_owner(conn: &mut DbConnection, access: &WorkspaceAccess) -> Result<(), ApiError> {
    if memberships::count_owners(conn, &access.workspace.id)? <= 1 {
        Err(ApiError::Conflict(
            "The last owner cannot leave or be demoted; make another owner first.".to_owned(),
        ))
    } else {
        Ok(())
    }
}

/// Deliberately loose: one `@` with text on both sides and no spaces. The
/// only real check of an address is sending to it.
pub fn looks_like_email(email: &str) -> bool {
    let mut parts = email.split('@');
    matches!((parts.next(), parts.next(), parts.next()), (Some(local), Some(domain), None)
        if !local.is_empty() && !domain.is_empty() && email.len() <= 254 && !email.contains(char::is_whitespace))
}

/// The invitation a presented token names, if it can still be redeemed:
/// a cheap lookup made before any password is hashed for it.
pub fn usable_invitation(
    conn: &mut DbConnection,
    token: &str,
    now: NaiveDateTime,
) -> Result<Invitation, ApiError> {
    let digest = secrets::digest_of(token);
    let invitation =
        invitations::find_usable(conn, digest.as_bytes(), now)?.ok_or_else(unusable)?;
    match users::find(conn, &invitation.user_id)? {
        Some(user) if user.password_hash.is_none() => Ok(invitation),
        _ => Err(unusable()),
    }
}

fn unusable() -> ApiError {
    ApiError::InvalidRequest("The invitation is unknown, used or expired.".to_owned())
}

/// Accepts an invitation: sets the invited person's first password. In one
/// transaction: the invitation is taken (it works once, even when
/// presented twice at the same moment), every other invitation of the
/// person is voided, and the password is set only if the account has none.
pub fn accept_invitation(
    conn: &mut DbConnection,
    token: &str,
    password_hash: &str,
    now: NaiveDateTime,
) -> Result<users::User, ApiError> {
    let digest = secrets::digest_of(token);
    conn.transaction(|conn| {
        let invitation = invitations::redeem(conn, digest.as_bytes(), now)?.ok_or_else(unusable)?;
        invitations::void_all_of_user(conn, &invitation.user_id, now)?;
        if !users::set_first_password_hash(conn, &invitation.user_id, password_hash)? {
            // Rolled back with the rest: the account keeps its password.
            return Err(unusable());
        }
        let user =
            users::find(conn, &invitation.user_id)?.ok_or_else(|| ApiError::not_found("user"))?;
        let event = audit::Event {
            workspace_id: Some(&invitation.workspace_id),
            actor: Some(&format!("user:{}", user.id)),
            action: "member.invitation_accepted",
            target: Some(&user.id),
            detail: json!({}),
        };
        audit::write(conn, &audit::Origin::default(), event)?;
        Ok(user)
    })
}

#[cfg(test)]
mod tests {
    #[test]
    fn emails_are_checked_loosely() {
        for good in ["a@b", "first.last+tag@example.co.uk"] {
            assert!(super::looks_like_email(good), "{good}");
        }
        for bad in ["", "a", "@b", "a@", "a@b@c", "a b@c"] {
            assert!(!super::looks_like_email(bad), "{bad}");
        }
    }
}
