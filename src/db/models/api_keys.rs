//! API keys: one table for every kind, looked up by secret digest.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::access::ScopeSet;
use crate::db::DbConnection;
use crate::db::models::workspaces::Plan;
use crate::db::schema::{api_key_usage, api_keys, workspaces};
use crate::key_kind::KeyKind;

pub use super::key_usage::{StoredUsage, UsageDelta, add_usage, with_usage};

/// A stored key. Holds digests, never a secret; no `Debug`, so it cannot
/// end up in a log line whole.
#[derive(Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
pub struct ApiKey {
    pub id: String,
    pub workspace_id: String,
    pub kind: String,
    pub name: String,
    pub start: String,
    pub secret_digest: Vec<u8>,
    pub previous_secret_digest: Option<Vec<u8>>,
    pub previous_secret_expires_at: Option<NaiveDateTime>,
    pub user_id: Option<String>,
    pub environment: Option<String>,
    pub partner: Option<String>,
    pub external_id: Option<String>,
    pub scopes: String,
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
    pub expires_at: Option<NaiveDateTime>,
    pub revoked_at: Option<NaiveDateTime>,
    pub rate_limit: Option<i32>,
    pub allowed_cidrs: Option<String>,
    pub remaining: Option<i64>,
    pub rotated_at: Option<NaiveDateTime>,
    /// Exchanges must come with a DPoP proof, so every token is bound.
    pub dpop_required: bool,
}

impl ApiKey {
    pub fn kind(&self) -> KeyKind {
        // The column's CHECK constraint admits only the five kind names.
        KeyKind::parse(&self.kind).unwrap_or(KeyKind::Workspace)
    }

    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse_space_separated(&self.scopes)
    }

    /// `None`: usable from anywhere.
    pub fn allowed_cidrs(&self) -> Option<Vec<ipnet::IpNet>> {
        self.allowed_cidrs.as_deref().map(|text| {
            text.split_ascii_whitespace()
                .filter_map(|cidr| cidr.parse().ok())
                .collect()
        })
    }

    pub fn is_expired_at(&self, now: NaiveDateTime) -> bool {
        self.expires_at.is_some_and(|expires_at| expires_at <= now)
    }

    /// Whether a token issued at `issued_at` still stands for this key: the
    /// key is live, and the secret it was exchanged from has not been
    /// rotated away since (a grace period keeps it alive until it ends).
    /// Compared in whole seconds, the precision of `iat`: a token from the
    /// very second of a rotation counts as issued after it.
    pub fn honours_token_issued_at(&self, issued_at: NaiveDateTime, now: NaiveDateTime) -> bool {
        let seconds = |t: NaiveDateTime| t.and_utc().timestamp();
        let rotated_away = self.rotated_at.is_some_and(|rotated| {
            seconds(issued_at) < seconds(rotated)
                && self
                    .previous_secret_expires_at
                    .is_none_or(|dies| dies <= now)
        });
        self.revoked_at.is_none() && !self.is_expired_at(now) && !rotated_away
    }
}

pub fn insert(conn: &mut DbConnection, key: &ApiKey) -> QueryResult<()> {
    diesel::insert_into(api_keys::table)
        .values(key)
        .execute(conn)
        .map(drop)
}

/// The key whose current secret has this digest, or whose previous secret
/// has it and is still inside its rotation grace period, with its
/// workspace's plan (which sets the key's default rate limit): one joined
/// query, as this runs on every exchange.
pub fn find_by_digest(
    conn: &mut DbConnection,
    digest: &[u8],
    now: NaiveDateTime,
) -> QueryResult<Option<(ApiKey, Plan)>> {
    // Run on the backend's own connection: through the multi-backend
    // wrapper, diesel writes the SQL anew on every call; here the prepared
    // statement is reused. No `.first()`: SQLite's planner reads the value
    // bound to `LIMIT ?` and so re-prepares the statement on every call
    // (45% of an exchange's CPU); the digests are UNIQUE, so at most one
    // row comes back anyway. Current digest first, then the previous one,
    // each an index lookup. (A macro, as the query's type depends on the
    // backend.)
    macro_rules! lookup {
        ($conn:expr, $condition:expr) => {
            api_keys::table
                .inner_join(workspaces::table)
                .filter($condition)
                .select((ApiKey::as_select(), workspaces::plan))
                .get_result::<(ApiKey, String)>($conn)
                .optional()
        };
    }
    macro_rules! current_then_previous {
        ($conn:expr) => {
            match lookup!($conn, api_keys::secret_digest.eq(digest))? {
                Some(row) => Some(row),
                None => lookup!(
                    $conn,
                    api_keys::previous_secret_digest
                        .eq(digest)
                        .and(api_keys::previous_secret_expires_at.gt(now))
                )?,
            }
        };
    }
    let row = match conn {
        DbConnection::Pg(conn) => current_then_previous!(conn),
        DbConnection::Sqlite(conn) => current_then_previous!(conn),
    };
    Ok(with_plan(row))
}

pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .find(id)
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
}

/// [`find`] with the workspace's plan, in one query (by primary key, so no
/// `LIMIT`, which would make SQLite re-prepare it on every call).
pub fn find_with_plan(conn: &mut DbConnection, id: &str) -> QueryResult<Option<(ApiKey, Plan)>> {
    api_keys::table
        .inner_join(workspaces::table)
        .filter(api_keys::id.eq(id))
        .select((ApiKey::as_select(), workspaces::plan))
        .get_result::<(ApiKey, String)>(conn)
        .optional()
        .map(with_plan)
}

fn with_plan(row: Option<(ApiKey, String)>) -> Option<(ApiKey, Plan)> {
    row.map(|(key, plan)| (key, Plan::from_column(&plan)))
}

/// Takes one use from a key with a `remaining` budget, atomically: the
/// conditional update is a single statement, so concurrent exchanges can
/// never take more uses than there were. Returns false when none was left.
pub fn take_one_use(conn: &mut DbConnection, id: &str) -> QueryResult<bool> {
    let updated = diesel::update(
        api_keys::table
            .filter(api_keys::id.eq(id))
            .filter(api_keys::remaining.gt(0)),
    )
    .set(api_keys::remaining.eq(api_keys::remaining - 1))
    .execute(conn)?;
    Ok(updated == 1)
}

/// Filters of the key list; `None` means any.
#[derive(Debug, Default, Clone)]
pub struct KeyFilter {
    pub kind: Option<String>,
    pub environment: Option<String>,
    pub external_id: Option<String>,
    pub user_id: Option<String>,
    pub include_revoked: bool,
}

/// A position in the newest-first order: the last row of the previous page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Position {
    pub created_at: NaiveDateTime,
    pub id: String,
}

/// One page of keys, newest first (ties broken by id), of one workspace or
/// (`None`, for a user's personal tokens) of all. Fetches `limit + 1` rows
/// so the caller can tell whether more follow.
pub fn list(
    conn: &mut DbConnection,
    workspace_id: Option<&str>,
    filter: &KeyFilter,
    after: Option<&Position>,
    limit: i64,
) -> QueryResult<Vec<(ApiKey, StoredUsage)>> {
    let mut query = api_keys::table
        .left_join(api_key_usage::table)
        .select((ApiKey::as_select(), Option::<StoredUsage>::as_select()))
        .order((api_keys::created_at.desc(), api_keys::id.desc()))
        .limit(limit + 1)
        .into_boxed();
    if let Some(workspace_id) = workspace_id {
        query = query.filter(api_keys::workspace_id.eq(workspace_id.to_owned()));
    }
    if let Some(kind) = &filter.kind {
        query = query.filter(api_keys::kind.eq(kind.clone()));
    }
    if let Some(environment) = &filter.environment {
        query = query.filter(api_keys::environment.eq(environment.clone()));
    }
    if let Some(external_id) = &filter.external_id {
        query = query.filter(api_keys::external_id.eq(external_id.clone()));
    }
    if let Some(user_id) = &filter.user_id {
        query = query.filter(api_keys::user_id.eq(user_id.clone()));
    }
    if !filter.include_revoked {
        query = query.filter(api_keys::revoked_at.is_null());
    }
    if let Some(after) = after {
        query = query.filter(
            api_keys::created_at
                .lt(after.created_at)
                .or(api_keys::created_at
                    .eq(after.created_at)
                    .and(api_keys::id.lt(after.id.clone()))),
        );
    }
    let rows = query.load::<(ApiKey, Option<StoredUsage>)>(conn)?;
    Ok(rows
        .into_iter()
        .map(|(key, usage)| (key, usage.unwrap_or_default()))
        .collect())
}

/// A customer's keys that can still be used: not revoked, not expired.
pub fn count_live_of_customer(
    conn: &mut DbConnection,
    workspace_id: &str,
    external_id: &str,
    now: NaiveDateTime,
) -> QueryResult<i64> {
    api_keys::table
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::kind.eq(KeyKind::Customer.as_str()))
        .filter(api_keys::external_id.eq(external_id))
        .filter(api_keys::revoked_at.is_null())
        .filter(
            api_keys::expires_at
                .is_null()
                .or(api_keys::expires_at.gt(now)),
        )
        .count()
        .get_result(conn)
}

pub fn find_in_workspace(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(api_keys::workspace_id.eq(workspace_id))
        .filter(api_keys::id.eq(id))
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
}

/// The settings PATCH may change.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = api_keys)]
pub struct KeyChanges {
    pub name: Option<String>,
    pub scopes: Option<String>,
    /// `Some(None)` clears the override.
    pub rate_limit: Option<Option<i32>>,
    pub dpop_required: Option<bool>,
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &KeyChanges) -> QueryResult<()> {
    if changes.name.is_none()
        && changes.scopes.is_none()
        && changes.rate_limit.is_none()
        && changes.dpop_required.is_none()
    {
        return Ok(());
    }
    diesel::update(api_keys::table.find(id))
        .set(changes)
        .execute(conn)
        .map(drop)
}

/// Revokes a key now; a key revoked already keeps its first `revoked_at`.
pub fn revoke(conn: &mut DbConnection, id: &str, now: NaiveDateTime) -> QueryResult<()> {
    diesel::update(
        api_keys::table
            .find(id)
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)
    .map(drop)
}

/// Gives a key a new secret. The old one keeps working until
/// `old_secret_dies_at` (`None`: it dies now). "The old one" is the secret
/// stored when the statement runs, not the one the caller read earlier: of
/// two rotations at once, the second keeps the first one's new secret alive
/// for the grace period instead of one nobody holds.
pub fn rotate(
    conn: &mut DbConnection,
    id: &str,
    new_digest: &[u8],
    new_start: &str,
    old_secret_dies_at: Option<NaiveDateTime>,
    now: NaiveDateTime,
) -> QueryResult<()> {
    let key = api_keys::table.find(id);
    let new_secret = (
        api_keys::secret_digest.eq(new_digest),
        api_keys::start.eq(new_start),
        api_keys::previous_secret_expires_at.eq(old_secret_dies_at),
        api_keys::rotated_at.eq(now),
    );
    // SET reads the row as it was before the statement, on both backends.
    let previous = old_secret_dies_at
        .is_some()
        .then_some(api_keys::secret_digest.nullable());
    match previous {
        Some(current) => diesel::update(key)
            .set((new_secret, api_keys::previous_secret_digest.eq(current)))
            .execute(conn),
        None => diesel::update(key)
            .set((
                new_secret,
                api_keys::previous_secret_digest.eq(None::<Vec<u8>>),
            ))
            .execute(conn),
    }
    .map(drop)
}

/// Revokes every personal token of a user in a workspace (they left it).
pub fn revoke_personal(
    conn: &mut DbConnection,
    workspace_id: &str,
    user_id: &str,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(
        api_keys::table
            .filter(api_keys::workspace_id.eq(workspace_id))
            .filter(api_keys::user_id.eq(user_id))
            .filter(api_keys::revoked_at.is_null()),
    )
    .set(api_keys::revoked_at.eq(now))
    .execute(conn)
}
