//! Rate buckets and failure windows that replicas share on PostgreSQL
//! (`rate_buckets`, `failure_windows`). With SQLite there is one node and
//! no sharing: every function here refuses to run on it.
//!
//! Rows are written in name order, so that two replicas writing the same
//! rows lock them in the same order and never deadlock.

use diesel::prelude::*;
use diesel::sql_types::{Array, BigInt, Integer, Text};

use crate::db::DbConnection;

/// Consumption a replica admitted on its own since it last told the others.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Consumed {
    pub bucket: String,
    /// Microseconds of the bucket's arrival time taken (requests x interval).
    pub add_us: i64,
    /// A full bucket's worth (interval x limit): nothing records more debt.
    pub window_us: i64,
}

#[derive(QueryableByName)]
struct Bucket {
    #[diesel(sql_type = Text)]
    bucket: String,
    #[diesel(sql_type = BigInt)]
    tat: i64,
}

#[derive(QueryableByName)]
struct Tat {
    #[diesel(sql_type = BigInt)]
    tat: i64,
}

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = Text)]
    key: String,
    #[diesel(sql_type = Integer)]
    failures: i32,
}

fn postgres(conn: &mut DbConnection) -> QueryResult<&mut PgConnection> {
    match conn {
        DbConnection::Pg(conn) => Ok(conn),
        DbConnection::Sqlite(_) => Err(diesel::result::Error::QueryBuilderError(
            "shared limits live in PostgreSQL (or Redis), not SQLite".into(),
        )),
    }
}

/// Adds what `consumed` took to each bucket (a bucket never owes more than
/// one window), then answers every bucket that is not full at `now_us`.
pub fn sync_buckets(
    conn: &mut DbConnection,
    consumed: &mut [Consumed],
    now_us: i64,
) -> QueryResult<Vec<(String, i64)>> {
    let conn = postgres(conn)?;
    if !consumed.is_empty() {
        consumed.sort_by(|a, b| a.bucket.cmp(&b.bucket));
        let buckets: Vec<&str> = consumed.iter().map(|c| c.bucket.as_str()).collect();
        let adds: Vec<i64> = consumed.iter().map(|c| c.add_us).collect();
        let windows: Vec<i64> = consumed.iter().map(|c| c.window_us).collect();
        diesel::sql_query(
            "INSERT INTO rate_buckets (bucket, tat, window_us) \
             SELECT b, $4 + LEAST(a, w), w FROM unnest($1::text[], $2::int8[], $3::int8[]) AS t(b, a, w) \
             ON CONFLICT (bucket) DO UPDATE SET \
               tat = GREATEST(LEAST(GREATEST(rate_buckets.tat, $4) + (excluded.tat - $4), \
                 $4 + excluded.window_us), rate_buckets.tat), \
               window_us = excluded.window_us",
        )
        .bind::<Array<Text>, _>(&buckets)
        .bind::<Array<BigInt>, _>(&adds)
        .bind::<Array<BigInt>, _>(&windows)
        .bind::<BigInt, _>(now_us)
        .execute(conn)?;
    }
    Ok(
        diesel::sql_query("SELECT bucket, tat FROM rate_buckets WHERE tat > $1")
            .bind::<BigInt, _>(now_us)
            .load::<Bucket>(conn)?
            .into_iter()
            .map(|b| (b.bucket, b.tat))
            .collect(),
    )
}

/// One request against `bucket`, decided here under the row's lock, after
/// adding `consumed.add_us` this replica had admitted on its own: whether
/// it passes, and the bucket's arrival time after it.
pub fn acquire_bucket(
    conn: &mut DbConnection,
    consumed: &Consumed,
    interval_us: i64,
    now_us: i64,
) -> QueryResult<(bool, i64)> {
    let conn = postgres(conn)?;
    conn.transaction(|conn| {
        diesel::sql_query(
            "INSERT INTO rate_buckets (bucket, tat, window_us) VALUES ($1, 0, $2) \
             ON CONFLICT (bucket) DO NOTHING",
        )
        .bind::<Text, _>(&consumed.bucket)
        .bind::<BigInt, _>(consumed.window_us)
        .execute(conn)?;
        let Tat { tat } =
            diesel::sql_query("SELECT tat FROM rate_buckets WHERE bucket = $1 FOR UPDATE")
                .bind::<Text, _>(&consumed.bucket)
                .get_result::<Tat>(conn)?;
        let window = consumed.window_us;
        let base = capped(tat, consumed.add_us, window, now_us);
        let admitted = base + interval_us - now_us <= window;
        let tat = if admitted { base + interval_us } else { base };
        diesel::sql_query("UPDATE rate_buckets SET tat = $2, window_us = $3 WHERE bucket = $1")
            .bind::<Text, _>(&consumed.bucket)
            .bind::<BigInt, _>(tat)
            .bind::<BigInt, _>(window)
            .execute(conn)?;
        Ok((admitted, tat))
    })
}

/// `tat` after `add_us` more at `now_us`: never owing more than a window,
/// and never lower than it was. A replica's `now` may be a little older
/// than the last writer's; a cap at its own `now + window` must not give
/// back what the other took.
pub fn capped(tat: i64, add_us: i64, window_us: i64, now_us: i64) -> i64 {
    (tat.max(now_us) + add_us.min(window_us))
        .min(now_us + window_us)
        .max(tat)
}

/// Adds `delta` (never below zero) to each key's failures in `window`,
/// starting it afresh when the stored window is another; answers the
/// counts after, in the order of `keys`.
pub fn add_failures(
    conn: &mut DbConnection,
    keys: &[&str],
    delta: i32,
    window: i64,
) -> QueryResult<Vec<u32>> {
    let conn = postgres(conn)?;
    add_failures_pg(conn, keys, delta, window)
}

fn add_failures_pg(
    conn: &mut PgConnection,
    keys: &[&str],
    delta: i32,
    window: i64,
) -> QueryResult<Vec<u32>> {
    let mut sorted = keys.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    let counts = diesel::sql_query(
        "INSERT INTO failure_windows (key, window_start, failures) \
         SELECT k, $2, GREATEST($3, 0) FROM unnest($1::text[]) AS t(k) \
         ON CONFLICT (key) DO UPDATE SET \
           failures = CASE WHEN failure_windows.window_start = $2 \
             THEN GREATEST(failure_windows.failures + $3, 0) ELSE GREATEST($3, 0) END, \
           window_start = $2 \
         RETURNING key, failures",
    )
    .bind::<Array<Text>, _>(&sorted)
    .bind::<BigInt, _>(window)
    .bind::<Integer, _>(delta)
    .load::<Count>(conn)?;
    Ok(in_order(keys, counts))
}

/// Each key's failures in `window`, in the order of `keys`.
pub fn read_failures(conn: &mut DbConnection, keys: &[&str], window: i64) -> QueryResult<Vec<u32>> {
    let conn = postgres(conn)?;
    let counts = diesel::sql_query(
        "SELECT key, failures FROM failure_windows WHERE key = ANY($1) AND window_start = $2",
    )
    .bind::<Array<Text>, _>(keys)
    .bind::<BigInt, _>(window)
    .load::<Count>(conn)?;
    Ok(in_order(keys, counts))
}

/// Counts one attempt against every key of `limits` (a key and the
/// failures it may have) at once, unless one is used up already: then
/// nothing is counted and the answer is that key's index.
pub fn begin_attempt(
    conn: &mut DbConnection,
    limits: &[(&str, u32)],
    window: i64,
) -> QueryResult<Option<usize>> {
    let conn = postgres(conn)?;
    let keys: Vec<&str> = limits.iter().map(|(key, _)| *key).collect();
    let counted = conn.transaction(|conn| {
        let after = add_failures_pg(conn, &keys, 1, window)?;
        match limits
            .iter()
            .zip(after)
            .position(|((_, limit), after)| after > *limit)
        {
            // An error, so that the count rolls back: a refused attempt
            // is not one more failure.
            Some(index) => Err(Begin::Blocked(index)),
            None => Ok(()),
        }
    });
    match counted {
        Ok(()) => Ok(None),
        Err(Begin::Blocked(index)) => Ok(Some(index)),
        Err(Begin::Database(error)) => Err(error),
    }
}

/// Why [`begin_attempt`]'s transaction ended without committing.
enum Begin {
    Blocked(usize),
    Database(diesel::result::Error),
}

impl From<diesel::result::Error> for Begin {
    fn from(error: diesel::result::Error) -> Self {
        Self::Database(error)
    }
}

/// Forgets full buckets and past windows: an absent row means the same.
pub fn sweep(conn: &mut DbConnection, now_us: i64, window: i64) -> QueryResult<usize> {
    let conn = postgres(conn)?;
    let buckets = diesel::sql_query("DELETE FROM rate_buckets WHERE tat < $1")
        .bind::<BigInt, _>(now_us)
        .execute(conn)?;
    let windows = diesel::sql_query("DELETE FROM failure_windows WHERE window_start < $1")
        .bind::<BigInt, _>(window)
        .execute(conn)?;
    Ok(buckets + windows)
}

fn in_order(keys: &[&str], counts: Vec<Count>) -> Vec<u32> {
    let counts: std::collections::HashMap<String, i32> =
        counts.into_iter().map(|c| (c.key, c.failures)).collect();
    keys.iter()
        .map(|key| {
            counts
                .get(*key)
                .map_or(0, |&n| u32::try_from(n).unwrap_or(0))
        })
        .collect()
}
