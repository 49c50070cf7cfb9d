//! Trust policies: which tokens of an external issuer a workspace
//! exchanges for its own (see `crate::federation`).

use std::collections::BTreeMap;

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::api_keys::Position;
use crate::access::ScopeSet;
use crate::db::DbConnection;
use crate::db::schema::trust_policies;

#[derive(Debug, Clone, PartialEq, Queryable, Selectable, Insertable)]
#[diesel(table_name = trust_policies)]
pub struct TrustPolicy {
    pub id: String,
    pub workspace_id: String,
    pub name: String,
    pub issuer: String,
    pub jwks_uri: Option<String>,
    /// A JSON array of strings.
    pub audiences: String,
    pub subject: Option<String>,
    /// A JSON object, claim name to pattern.
    pub claims: String,
    /// Space-separated.
    pub scopes: String,
    pub environment: Option<String>,
    pub max_ttl_seconds: Option<i32>,
    pub rate_limit: Option<i32>,
    pub created_at: NaiveDateTime,
    pub created_by: Option<String>,
}

impl TrustPolicy {
    /// The audiences as stored; a row keymint did not write reads as none,
    /// which no token matches.
    pub fn audiences(&self) -> Vec<String> {
        serde_json::from_str(&self.audiences).unwrap_or_default()
    }

    /// The claim patterns as stored; a row keymint did not write reads as
    /// one pattern no claim can match, never as "no conditions".
    pub fn claims(&self) -> BTreeMap<String, String> {
        serde_json::from_str(&self.claims)
            .unwrap_or_else(|_| BTreeMap::from([(String::new(), "\0unreadable".to_owned())]))
    }

    pub fn scopes(&self) -> ScopeSet {
        ScopeSet::parse_space_separated(&self.scopes)
    }

    pub fn position(&self) -> Position {
        Position {
            created_at: self.created_at,
            id: self.id.clone(),
        }
    }
}

/// A validated PATCH, as stored. `Some(None)` clears an optional field.
#[derive(Debug, Default, Clone, AsChangeset)]
#[diesel(table_name = trust_policies)]
pub struct PolicyChanges {
    pub name: Option<String>,
    pub issuer: Option<String>,
    pub jwks_uri: Option<Option<String>>,
    pub audiences: Option<String>,
    pub subject: Option<Option<String>>,
    pub claims: Option<String>,
    pub scopes: Option<String>,
    pub environment: Option<Option<String>>,
    pub max_ttl_seconds: Option<Option<i32>>,
    pub rate_limit: Option<Option<i32>>,
}

impl PolicyChanges {
    /// The names of the fields this changes, for the audit log.
    pub fn fields(&self) -> [(&'static str, bool); 10] {
        [
            ("name", self.name.is_some()),
            ("issuer", self.issuer.is_some()),
            ("jwks_uri", self.jwks_uri.is_some()),
            ("audiences", self.audiences.is_some()),
            ("subject", self.subject.is_some()),
            ("claims", self.claims.is_some()),
            ("scopes", self.scopes.is_some()),
            ("environment", self.environment.is_some()),
            ("max_ttl_seconds", self.max_ttl_seconds.is_some()),
            ("rate_limit", self.rate_limit.is_some()),
        ]
    }

    pub fn is_empty(&self) -> bool {
        self.fields().iter().all(|(_, changed)| !changed)
    }

    /// `policy` as it is once these changes are made.
    pub fn applied_to(&self, policy: TrustPolicy) -> TrustPolicy {
        let changes = self.clone();
        TrustPolicy {
            name: changes.name.unwrap_or(policy.name),
            issuer: changes.issuer.unwrap_or(policy.issuer),
            jwks_uri: changes.jwks_uri.unwrap_or(policy.jwks_uri),
            audiences: changes.audiences.unwrap_or(policy.audiences),
            subject: changes.subject.unwrap_or(policy.subject),
            claims: changes.claims.unwrap_or(policy.claims),
            scopes: changes.scopes.unwrap_or(policy.scopes),
            environment: changes.environment.unwrap_or(policy.environment),
            max_ttl_seconds: changes.max_ttl_seconds.unwrap_or(policy.max_ttl_seconds),
            rate_limit: changes.rate_limit.unwrap_or(policy.rate_limit),
            ..policy
        }
    }
}

pub fn insert(conn: &mut DbConnection, policy: &TrustPolicy) -> QueryResult<()> {
    diesel::insert_into(trust_policies::table)
        .values(policy)
        .execute(conn)
        .map(drop)
}

/// A policy by id, in any workspace: the exchange names it as `client_id`.
pub fn find(conn: &mut DbConnection, id: &str) -> QueryResult<Option<TrustPolicy>> {
    trust_policies::table
        .find(id)
        .select(TrustPolicy::as_select())
        .first(conn)
        .optional()
}

pub fn find_in_workspace(
    conn: &mut DbConnection,
    workspace_id: &str,
    id: &str,
) -> QueryResult<Option<TrustPolicy>> {
    trust_policies::table
        .find(id)
        .filter(trust_policies::workspace_id.eq(workspace_id))
        .select(TrustPolicy::as_select())
        .first(conn)
        .optional()
}

/// One page of a workspace's policies, newest first (ties broken by id);
/// `limit + 1` rows, so the caller can tell whether more follow.
pub fn list(
    conn: &mut DbConnection,
    workspace_id: &str,
    after: Option<&Position>,
    limit: i64,
) -> QueryResult<Vec<TrustPolicy>> {
    let mut query = trust_policies::table
        .filter(trust_policies::workspace_id.eq(workspace_id))
        .order((trust_policies::created_at.desc(), trust_policies::id.desc()))
        .limit(limit + 1)
        .select(TrustPolicy::as_select())
        .into_boxed();
    if let Some(after) = after {
        query = query.filter(
            trust_policies::created_at
                .lt(after.created_at)
                .or(trust_policies::created_at
                    .eq(after.created_at)
                    .and(trust_policies::id.lt(after.id.clone()))),
        );
    }
    query.load(conn)
}

pub fn update(conn: &mut DbConnection, id: &str, changes: &PolicyChanges) -> QueryResult<usize> {
    if changes.is_empty() {
        return Ok(0);
    }
    diesel::update(trust_policies::table.find(id))
        .set(changes)
        .execute(conn)
}

pub fn delete(conn: &mut DbConnection, id: &str) -> QueryResult<usize> {
    diesel::delete(trust_policies::table.find(id)).execute(conn)
}
