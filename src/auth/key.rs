//! A key as a presented credential names it: loaded with everything
//! checking it reads (its workspace's plan; for a personal key, its owner
//! and their role now), what the key cache holds, and the checks every use
//! of it passes. It holds no decision: the checks run on every use.

use std::net::IpAddr;
use std::sync::Arc;

use chrono::NaiveDateTime;

use crate::access::{Role, ScopeSet, is_keymint_scope};
use crate::db::DbConnection;
use crate::db::models::workspaces::Plan;
use crate::db::models::{self, api_keys::ApiKey, memberships, users::User};
use crate::error::ApiError;
use crate::key_kind::KeyKind;
use crate::secrets::SecretDigest;

/// Who is calling, established by the credential they presented.
pub enum Principal {
    /// A secret presented directly, or a token exchanged from one.
    Key(Arc<KnownKey>),
    /// A person, through a login token: their rights come from their
    /// current membership in each workspace.
    User(User),
}

/// The owner of a personal key and their role now.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub user: User,
    pub role: Role,
}

pub struct KnownKey {
    pub key: ApiKey,
    pub plan: Plan,
    /// A personal key's owner while still a member; `None` for other kinds.
    pub owner: Option<KeyOwner>,
    /// Set when the secret was the key's previous one: it names the key only
    /// until its grace period ends.
    pub(crate) previous_secret_dies_at: Option<NaiveDateTime>,
}

impl KnownKey {
    /// The key a secret's `digest` names now (its current secret, or its
    /// previous one in its grace period), whatever its state; `None` if
    /// none.
    pub fn find(
        conn: &mut DbConnection,
        digest: &SecretDigest,
        now: NaiveDateTime,
    ) -> Result<Option<Self>, ApiError> {
        let found = models::api_keys::find_by_digest(conn, digest.as_bytes(), now)?;
        let Some((key, plan)) = found.filter(|(key, _)| is_named_by(key, digest)) else {
            return Ok(None);
        };
        let previous_secret_dies_at = if digest.matches(&key.secret_digest) {
            None
        } else {
            key.previous_secret_expires_at
        };
        Self::load(conn, key, plan, previous_secret_dies_at).map(Some)
    }

    /// The key a token names (`client_id`), whatever its state.
    pub fn by_id(conn: &mut DbConnection, key_id: &str) -> Result<Option<Self>, ApiError> {
        match models::api_keys::find_with_plan(conn, key_id)? {
            Some((key, plan)) => Self::load(conn, key, plan, None).map(Some),
            None => Ok(None),
        }
    }

    fn load(
        conn: &mut DbConnection,
        key: ApiKey,
        plan: Plan,
        previous_secret_dies_at: Option<NaiveDateTime>,
    ) -> Result<Self, ApiError> {
        let owner = owner_of(conn, &key)?;
        Ok(Self {
            key,
            plan,
            owner,
            previous_secret_dies_at,
        })
    }

    /// Whether `digest`, the secret that found this key, still names it at
    /// `now` (compared in constant time).
    pub fn is_named_at(&self, digest: &SecretDigest, now: NaiveDateTime) -> bool {
        is_named_by(&self.key, digest)
            && self
                .previous_secret_dies_at
                .is_none_or(|dies_at| dies_at > now)
    }

    /// Whether the key stands at `now`, wherever it is presented from: not
    /// revoked, not expired, and (a personal key) its owner still a member.
    /// Introspection asks this: the caller there is not the key's user.
    pub fn stands(&self, now: NaiveDateTime) -> Result<(), ApiError> {
        if self.key.revoked_at.is_some() {
            return Err(ApiError::InvalidApiKey);
        }
        if self.key.is_expired_at(now) {
            return Err(ApiError::ApiKeyExpired);
        }
        if self.key.kind() == KeyKind::Personal && self.owner.is_none() {
            return Err(ApiError::InvalidApiKey);
        }
        Ok(())
    }

    /// The checks every use of the key passes: it [stands](Self::stands),
    /// and the caller is inside its `allowed_cidrs`.
    pub fn vet(&self, client_ip: Option<IpAddr>, now: NaiveDateTime) -> Result<(), ApiError> {
        self.stands(now)?;
        if let Some(allowed) = self.key.allowed_cidrs()
            && !client_ip.is_some_and(|ip| allowed.iter().any(|cidr| cidr.contains(&ip)))
        {
            return Err(ApiError::IpNotAllowed);
        }
        Ok(())
    }

    /// Whether a token issued from this key at `issued_at` still speaks for
    /// it: its secret was not rotated away since.
    pub fn honours_token_issued_at(&self, issued_at: NaiveDateTime, now: NaiveDateTime) -> bool {
        self.key.honours_token_issued_at(issued_at, now)
    }

    /// Requests per second: the key's own `rate_limit`, else its plan's.
    pub fn rate_limit(&self) -> u32 {
        self.key
            .rate_limit
            .and_then(|limit| u32::try_from(limit).ok())
            .filter(|limit| *limit > 0)
            .unwrap_or_else(|| self.plan.rate_limit())
    }

    /// What the key may do, the same whether its secret is used directly
    /// or a token exchanged from it: its scopes, except that a personal
    /// key's keymint scopes are its owner's current role narrowed by them
    /// (all of the role when the key has none). The exchange puts exactly
    /// these in the `scope` claim.
    pub fn rights(&self) -> ScopeSet {
        let held = self.key.scopes();
        let Some(owner) = &self.owner else {
            return match self.key.kind() {
                // A personal key whose owner left holds nothing.
                KeyKind::Personal => ScopeSet::default(),
                _ => held,
            };
        };
        let role = owner.role.scopes();
        if held.is_empty() {
            return role;
        }
        held.iter()
            .filter(|scope| !is_keymint_scope(scope) || role.contains(scope))
            .collect()
    }
}

/// Authenticates the key behind a token keymint issued at `issued_at`
/// (`client_id`, `iat`): the key must still pass every check a secret
/// would, and the secret the token came from must not have been rotated
/// away since, so revoking or rotating a key also stops its tokens on the
/// management API, as at introspection.
pub fn authenticate_by_id(
    conn: &mut DbConnection,
    key_id: &str,
    issued_at: NaiveDateTime,
    client_ip: Option<IpAddr>,
    now: NaiveDateTime,
) -> Result<KnownKey, ApiError> {
    let known = KnownKey::by_id(conn, key_id)?.ok_or(ApiError::InvalidToken)?;
    if !known.honours_token_issued_at(issued_at, now) {
        return Err(ApiError::InvalidToken);
    }
    known.vet(client_ip, now).map_err(|error| match error {
        ApiError::InvalidApiKey | ApiError::ApiKeyExpired => ApiError::InvalidToken,
        other => other,
    })?;
    Ok(known)
}

/// Whether `digest` is the key's current or previous secret's, compared in
/// constant time: the final comparison of every use of a secret, however
/// the key was found (index, cache).
fn is_named_by(key: &ApiKey, digest: &SecretDigest) -> bool {
    digest.matches(&key.secret_digest)
        | key
            .previous_secret_digest
            .as_deref()
            .is_some_and(|d| digest.matches(d))
}

/// A personal key's owner while still a member of the key's workspace;
/// `None` for other kinds, or when the owner is gone.
fn owner_of(conn: &mut DbConnection, key: &ApiKey) -> Result<Option<KeyOwner>, ApiError> {
    if key.kind() != KeyKind::Personal {
        return Ok(None);
    }
    let Some(user_id) = key.user_id.as_deref() else {
        return Ok(None);
    };
    let Some(user) = models::users::find(conn, user_id)? else {
        return Ok(None);
    };
    let role = memberships::role_of(conn, &key.workspace_id, user_id)?;
    Ok(role.map(|role| KeyOwner { user, role }))
}
