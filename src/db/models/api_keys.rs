//! API keys: one table for every kind, looked up by secret digest.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use crate::access::ScopeSet;
use crate::api_keys::KeyKind;
use crate::db::DbConnection;
use crate::db::schema::api_keys;

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
    pub last_used_at: Option<NaiveDateTime>,
    pub usage_count: i64,
    pub revoked_at: Option<NaiveDateTime>,
    pub rate_limit: Option<i32>,
    pub allowed_cidrs: Option<String>,
    pub remaining: Option<i64>,
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
}

pub fn insert(conn: &mut DbConnection, key: &ApiKey) -> QueryResult<()> {
    diesel::insert_into(api_keys::table)
        .values(key)
        .execute(conn)
        .map(drop)
}

/// The key whose current secret has this digest, or whose previous secret
/// has it and is still inside its rotation grace period.
pub fn find_by_digest(
    conn: &mut DbConnection,
    digest: &[u8],
    now: NaiveDateTime,
) -> QueryResult<Option<ApiKey>> {
    api_keys::table
        .filter(
            api_keys::secret_digest
                .eq(digest)
                .or(api_keys::previous_secret_digest
                    .eq(digest)
                    .and(api_keys::previous_secret_expires_at.gt(now))),
        )
        .select(ApiKey::as_select())
        .first(conn)
        .optional()
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

/// Adds buffered uses to a key. Additive, so several replicas flushing their
/// own counts sum up; `last_used_at` only moves forward.
pub fn add_usage(
    conn: &mut DbConnection,
    id: &str,
    uses: i64,
    last_used_at: NaiveDateTime,
) -> QueryResult<()> {
    diesel::update(api_keys::table.find(id))
        .set(api_keys::usage_count.eq(api_keys::usage_count + uses))
        .execute(conn)?;
    diesel::update(
        api_keys::table.find(id).filter(
            api_keys::last_used_at
                .is_null()
                .or(api_keys::last_used_at.lt(last_used_at)),
        ),
    )
    .set(api_keys::last_used_at.eq(last_used_at))
    .execute(conn)?;
    Ok(())
}
