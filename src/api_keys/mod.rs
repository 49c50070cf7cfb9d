//! API keys as the service sees them: kinds, issuing a new key with its
//! one-time secret, and authenticating a presented secret.

pub mod cache;
pub mod kind;
pub mod manage;
pub mod personal;
pub mod request;
pub mod view;

use std::net::IpAddr;

use chrono::NaiveDateTime;

use crate::access::{Role, ScopeSet};
use crate::db::DbConnection;
use crate::db::models::workspaces::Plan;
use crate::db::models::{self, api_keys::ApiKey, memberships, users::User};
use crate::error::ApiError;
use crate::secrets::{Secret, SecretDigest};

pub use kind::KeyKind;

/// What a new key is; everything else (id, secret, times) is generated.
#[derive(Debug, Clone)]
pub struct NewKey {
    pub workspace_id: String,
    pub kind: KeyKind,
    pub name: String,
    pub user_id: Option<String>,
    pub environment: Option<String>,
    pub partner: Option<String>,
    pub external_id: Option<String>,
    pub scopes: ScopeSet,
    pub created_by: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub rate_limit: Option<i32>,
    pub allowed_cidrs: Option<Vec<ipnet::IpNet>>,
    pub remaining: Option<i64>,
}

impl NewKey {
    /// A key with no scopes, limits or expiry; set the fields that apply.
    pub fn new(workspace_id: &str, kind: KeyKind, name: &str) -> Self {
        Self {
            workspace_id: workspace_id.to_owned(),
            kind,
            name: name.to_owned(),
            user_id: None,
            environment: None,
            partner: None,
            external_id: None,
            scopes: ScopeSet::default(),
            created_by: None,
            expires_at: None,
            rate_limit: None,
            allowed_cidrs: None,
            remaining: None,
        }
    }
}

/// Builds the row of a new key and its secret, which the caller shows once.
pub fn issue(new: NewKey, now: NaiveDateTime) -> Result<(ApiKey, Secret), ApiError> {
    let kind = new.kind;
    let secret = Secret::generate(kind).map_err(|_| ApiError::internal("system random failed"))?;
    let row = ApiKey {
        id: models::new_id(),
        workspace_id: new.workspace_id,
        kind: kind.as_str().to_owned(),
        name: new.name,
        start: secret.start(),
        secret_digest: secret.digest().as_bytes().to_vec(),
        previous_secret_digest: None,
        previous_secret_expires_at: None,
        user_id: new.user_id,
        environment: new.environment,
        partner: new.partner,
        external_id: new.external_id,
        scopes: new.scopes.to_space_separated(),
        created_at: now,
        created_by: new.created_by,
        expires_at: new.expires_at,
        revoked_at: None,
        rate_limit: new.rate_limit,
        allowed_cidrs: new.allowed_cidrs.map(|cidrs| {
            cidrs
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join(" ")
        }),
        remaining: new.remaining,
        rotated_at: None,
    };
    Ok((row, secret))
}

/// The owner of a personal key and their role now.
#[derive(Debug, Clone)]
pub struct KeyOwner {
    pub user: User,
    pub role: Role,
}

/// A key's limit in requests per second: its override, else its plan's.
pub fn rate_limit_of(key: &ApiKey, plan: Plan) -> u32 {
    key.rate_limit
        .and_then(|limit| u32::try_from(limit).ok())
        .filter(|limit| *limit > 0)
        .unwrap_or_else(|| plan.rate_limit())
}

/// The key a secret's digest names (current secret, or previous one in its
/// grace period) with its workspace's plan, whatever its state; `None` if
/// it names none.
pub fn find_presented(
    conn: &mut DbConnection,
    digest: &SecretDigest,
    now: NaiveDateTime,
) -> Result<Option<(ApiKey, Plan)>, ApiError> {
    let found = models::api_keys::find_by_digest(conn, digest.as_bytes(), now)?;
    Ok(found.filter(|(key, _)| is_named_by(key, digest)))
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
    let (key, plan) =
        models::api_keys::find_with_plan(conn, key_id)?.ok_or(ApiError::InvalidToken)?;
    if !key.honours_token_issued_at(issued_at, now) {
        return Err(ApiError::InvalidToken);
    }
    let owner = owner_of(conn, &key)?;
    let known = KnownKey {
        key,
        plan,
        owner,
        previous_secret_dies_at: None,
    };
    known.vet(client_ip, now).map_err(|error| match error {
        ApiError::InvalidApiKey | ApiError::ApiKeyExpired => ApiError::InvalidToken,
        other => other,
    })?;
    Ok(known)
}

/// The checks every use of a key passes: not revoked, not expired, owner
/// still a member (personal keys), caller inside `allowed_cidrs`.
fn check(
    key: &ApiKey,
    owner: Option<&KeyOwner>,
    client_ip: Option<IpAddr>,
    now: NaiveDateTime,
) -> Result<(), ApiError> {
    if key.revoked_at.is_some() {
        return Err(ApiError::InvalidApiKey);
    }
    if key.is_expired_at(now) {
        return Err(ApiError::ApiKeyExpired);
    }
    if key.kind() == KeyKind::Personal && owner.is_none() {
        return Err(ApiError::InvalidApiKey);
    }
    if let Some(allowed) = key.allowed_cidrs()
        && !client_ip.is_some_and(|ip| allowed.iter().any(|cidr| cidr.contains(&ip)))
    {
        return Err(ApiError::IpNotAllowed);
    }
    Ok(())
}

/// A key as a presented secret found it, with everything checking it reads
/// (its workspace's plan; for a personal key, its owner): what the key
/// cache holds. It holds no decision: [`KnownKey::vet`] runs on every use.
pub struct KnownKey {
    pub key: ApiKey,
    pub plan: Plan,
    /// A personal key's owner while still a member; `None` for other kinds.
    pub owner: Option<KeyOwner>,
    /// Set when the secret was the key's previous one: it names the key only
    /// until its grace period ends.
    previous_secret_dies_at: Option<NaiveDateTime>,
}

impl KnownKey {
    /// The key `digest` names now, loaded for checking; `None` if none.
    pub fn find(
        conn: &mut DbConnection,
        digest: &SecretDigest,
        now: NaiveDateTime,
    ) -> Result<Option<Self>, ApiError> {
        let Some((key, plan)) = find_presented(conn, digest, now)? else {
            return Ok(None);
        };
        let owner = owner_of(conn, &key)?;
        let previous_secret_dies_at = if digest.matches(&key.secret_digest) {
            None
        } else {
            key.previous_secret_expires_at
        };
        Ok(Some(Self {
            key,
            plan,
            owner,
            previous_secret_dies_at,
        }))
    }

    /// Whether `digest`, the secret that found this key, still names it at
    /// `now` (compared in constant time).
    pub fn is_named_at(&self, digest: &SecretDigest, now: NaiveDateTime) -> bool {
        is_named_by(&self.key, digest)
            && self
                .previous_secret_dies_at
                .is_none_or(|dies_at| dies_at > now)
    }

    /// The checks every use of the key passes, on what was loaded.
    pub fn vet(&self, client_ip: Option<IpAddr>, now: NaiveDateTime) -> Result<(), ApiError> {
        check(&self.key, self.owner.as_ref(), client_ip, now)
    }

    /// Requests per second: the key's own `rate_limit`, else its plan's.
    pub fn rate_limit(&self) -> u32 {
        rate_limit_of(&self.key, self.plan)
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
            .filter(|scope| !crate::access::is_keymint_scope(scope) || role.contains(scope))
            .collect()
    }
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
