//! A key's uses (`api_key_usage`), kept apart from the key: the flush of
//! [`crate::usage`] rewrites these narrow rows every few seconds, and the
//! authentication path never reads them.

use chrono::NaiveDateTime;
use diesel::dsl::case_when;
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Timestamp};

use super::api_keys::ApiKey;
use crate::db::DbConnection;
use crate::db::schema::api_key_usage;

/// A key's uses as flushed (see [`crate::usage`]), kept apart from the key
/// in `api_key_usage`: the flush rewrites these rows every few seconds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Queryable, Selectable)]
#[diesel(table_name = api_key_usage)]
pub struct StoredUsage {
    pub usage_count: i64,
    pub last_used_at: Option<NaiveDateTime>,
}

/// Uses of one key to add to what is stored.
#[derive(Debug, Clone, Copy)]
pub struct UsageDelta<'a> {
    pub key_id: &'a str,
    pub uses: i64,
    pub last_used_at: NaiveDateTime,
}

/// Keys per statement of a PostgreSQL flush: three arrays of this length
/// are one message, and a statement this size is still a short lock.
const USAGE_BATCH: usize = 5_000;

/// Adds buffered uses to their keys. Additive, so replicas flushing their
/// own counts sum up; `last_used_at` only moves forward; a key deleted
/// meanwhile is skipped. Pass the deltas in key order: rows are then
/// visited in the order they are stored (SQLite reads and writes each page
/// once), and two replicas flushing at once lock rows in the same order.
///
/// A flush after busy seconds on a large store writes tens of thousands of
/// rows. PostgreSQL gets them in batches, one round trip each (`unnest` of
/// three arrays); SQLite, in process, one prepared statement per key.
pub fn add_usage(conn: &mut DbConnection, deltas: &[UsageDelta<'_>]) -> QueryResult<()> {
    match conn {
        DbConnection::Pg(conn) => {
            use diesel::sql_types::{Array, BigInt, Text};
            for batch in deltas.chunks(USAGE_BATCH) {
                diesel::sql_query(
                    "UPDATE api_key_usage AS stored \
                     SET usage_count = stored.usage_count + delta.uses, \
                         last_used_at = GREATEST(stored.last_used_at, delta.last_used_at) \
                     FROM unnest($1::text[], $2::int8[], $3::timestamp[]) \
                         AS delta (key_id, uses, last_used_at) \
                     WHERE stored.key_id = delta.key_id",
                )
                .bind::<Array<Text>, _>(batch.iter().map(|d| d.key_id).collect::<Vec<_>>())
                .bind::<Array<BigInt>, _>(batch.iter().map(|d| d.uses).collect::<Vec<_>>())
                .bind::<Array<Timestamp>, _>(
                    batch.iter().map(|d| d.last_used_at).collect::<Vec<_>>(),
                )
                .execute(conn)?;
            }
        }
        DbConnection::Sqlite(conn) => {
            for delta in deltas {
                diesel::update(api_key_usage::table.find(delta.key_id))
                    .set((
                        api_key_usage::usage_count.eq(api_key_usage::usage_count + delta.uses),
                        api_key_usage::last_used_at.eq(case_when(
                            api_key_usage::last_used_at
                                .is_null()
                                .or(api_key_usage::last_used_at.lt(delta.last_used_at)),
                            Some(delta.last_used_at).into_sql::<Nullable<Timestamp>>(),
                        )
                        .otherwise(api_key_usage::last_used_at)),
                    ))
                    .execute(conn)?;
            }
        }
    }
    Ok(())
}

/// A key with its flushed usage (zero for a key without a usage row), for
/// showing it.
pub fn with_usage(conn: &mut DbConnection, key: ApiKey) -> QueryResult<(ApiKey, StoredUsage)> {
    let stored = api_key_usage::table
        .find(&key.id)
        .select(StoredUsage::as_select())
        .get_result(conn)
        .optional()?;
    Ok((key, stored.unwrap_or_default()))
}
