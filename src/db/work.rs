//! Units of database work: each runs on one pooled connection, off the
//! async workers, and is fenced by the `auth_versions` counters so that a
//! change to what authentication reads is settled before anyone is told.

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::r2d2;

use super::{DbConnection, Pool, PooledConnection};
use crate::error::ApiError;

/// Runs blocking database work on the runtime's blocking threads with a pooled
/// connection. A pool that cannot hand out a connection is a 503. Work that
/// changed what authentication reads is settled (see [`super::AuthVersion`])
/// before this returns, so the caller's answer comes after every replica
/// stopped trusting what it had cached.
pub async fn run<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let connections = pool.clone();
    let (result, changed) = tokio::task::spawn_blocking(move || fenced(&connections, work))
        .await
        .map_err(|_| ApiError::internal("a database task ended abnormally"))?;
    if changed {
        pool.auth_version.settle_write().await;
    }
    result
}

/// Runs blocking work that writes only what no credential's check reads
/// (the record of used DPoP proofs) on a pooled connection, without the
/// fence: nothing it changes is cached, so there is nothing to settle, and
/// it saves the fence's round trip on a request's path.
pub async fn run_unfenced<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let connections = pool.clone();
    tokio::task::spawn_blocking(move || on_connection(&connections, &connections.connections, work))
        .await
        .map_err(|_| ApiError::internal("a database task ended abnormally"))?
}

/// Runs blocking work that only reads (the lookups on an exchange's path)
/// on a connection the database itself keeps read-only, so that a write
/// slipped in fails instead of escaping the fence; it needs none, and
/// saves the fence's round trip.
pub async fn read<T, F>(pool: &Pool, work: F) -> Result<T, ApiError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    T: Send + 'static,
{
    let readers = pool.clone();
    tokio::task::spawn_blocking(move || on_connection(&readers, &readers.readers, work))
        .await
        .map_err(|_| ApiError::internal("a database task ended abnormally"))?
}

/// Whether the database answers now, on both pools (`/readyz`). Exchanges
/// look keys up on the read-only pool, whose connections an outage killed
/// as well: ready means both hand out live ones again. A dead connection
/// found here is dropped, as a request would drop it.
pub fn ping(pool: &Pool) -> bool {
    [&pool.connections, &pool.readers]
        .into_iter()
        .all(|connections| {
            checkout(pool, connections).is_ok_and(|mut conn| {
                let answered = conn.batch_execute("SELECT 1").is_ok();
                if !answered {
                    mark_broken(&mut conn);
                }
                answered
            })
        })
}

/// `work` on a connection of `connections`, dropped afterwards if it was
/// lost.
fn on_connection<T>(
    pool: &Pool,
    connections: &r2d2::Pool<super::Manager>,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let mut conn = checkout(pool, connections)?;
    let result = work(&mut conn);
    if matches!(result, Err(ApiError::Unavailable)) {
        mark_broken(&mut conn);
    }
    result
}

/// Runs blocking `work` on a pooled connection, here and now, for work that
/// answers no client (a background flush): a change it made is stale here
/// at once, with no wait for other replicas.
pub fn with_connection<T>(
    pool: &Pool,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> Result<T, ApiError> {
    let (result, changed) = fenced(pool, work);
    if changed {
        pool.auth_version.saw_change_here();
    }
    result
}

/// One unit of work on a pooled connection, and whether it changed what
/// authentication reads, as the triggers count it (see
/// [`super::AuthVersion::changed_since`]).
fn fenced<T>(
    pool: &Pool,
    work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError>,
) -> (Result<T, ApiError>, bool) {
    let seen = pool.auth_version.seen();
    let mut conn = match checkout(pool, &pool.connections) {
        Ok(conn) => conn,
        Err(error) => return (Err(error), false),
    };
    let result = work(&mut conn);
    if matches!(result, Err(ApiError::Unavailable)) {
        // The connection is lost: never hand it out again; the next request
        // gets a new one. The work may have committed before the loss (a
        // revocation whose answer never came back), and the client's retry
        // would find nothing left to change: settle as if it had.
        mark_broken(&mut conn);
        return (result, true);
    }
    // Counters that cannot be read after a success: assume the worst.
    let changed = pool
        .auth_version
        .changed_since(&mut conn, seen)
        .unwrap_or(result.is_ok());
    (result, changed)
}

/// A pooled connection, or 503 at once while the database is known to be
/// down (see [`super::Health`]). Just after an outage, each connection is
/// tested first and a dead one dropped, so the pool renews itself without
/// failing a request per connection it held.
fn checkout(
    pool: &Pool,
    connections: &r2d2::Pool<super::Manager>,
) -> Result<PooledConnection, ApiError> {
    if pool.health.is_down() {
        return Err(ApiError::Unavailable);
    }
    let testing = pool.health.testing_connections();
    // Every idle connection may be dead: one more try than the pool holds.
    for _ in 0..=connections.max_size() {
        let mut conn = connections.get()?;
        if !testing || conn.batch_execute("SELECT 1").is_ok() {
            return Ok(conn);
        }
        mark_broken(&mut conn);
    }
    Err(ApiError::Unavailable)
}

/// Never hand this connection out again: it is dropped when it returns.
fn mark_broken(conn: &mut DbConnection) {
    <DbConnection as TransactionManager<DbConnection>>::transaction_manager_status_mut(conn)
        .set_in_error();
}
