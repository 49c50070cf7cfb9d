//! How fresh this server's view of what authentication reads is, so that a
//! cache of it can answer without breaking "revocation is immediate on every
//! replica".
//!
//! Triggers bump a counter in `auth_versions` in the very transaction that
//! changes a key, a workspace's plan, a membership or a user, whoever writes
//! (any replica, the CLI, an operator's SQL). Every server reads the
//! counters every [`CHECK_PERIOD`]. A check that starts at instant `s` and
//! succeeds has seen every change committed before `s`: if it finds one, the
//! [generation](AuthVersion::generation) moves on, which makes every cached
//! entry stale; either way the check vouches for the caches until
//! `s + LEASE`. Past that without a newer check (database lost, server
//! starved of CPU), caches are not consulted at all.
//!
//! The triggers are the one source of truth for what counts as such a
//! change: every unit of database work is [fenced](AuthVersion::changed_since),
//! reading the counters again on its own connection once its work is done.
//! A unit that moved them moves this server's generation on at once, then
//! (PostgreSQL, where other replicas may exist) waits out [`LEASE`] before it
//! answers: by the time a client hears "revoked", every replica that still
//! consults its cache does so on a check started after the revocation
//! committed, which saw it.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use diesel::prelude::*;

use super::DbConnection;
use super::schema::auth_versions;

/// How often each server reads the counters.
pub const CHECK_PERIOD: Duration = Duration::from_millis(50);
/// How long a successful check vouches for the caches, measured from its
/// start: several periods, so a check delayed by a busy machine does not
/// switch the cache off, and short enough to wait out on every write.
pub const LEASE: Duration = Duration::from_millis(250);

/// The counters' sum: it only grows, as every trigger adds one.
fn counters(conn: &mut DbConnection) -> QueryResult<i64> {
    let versions = auth_versions::table
        .select(auth_versions::version)
        .load::<i64>(conn)?;
    Ok(versions.into_iter().fold(0i64, i64::wrapping_add))
}

/// What a unit of work saw of the counters before it started: the sum at
/// the last successful check (`None`: no check yet).
#[derive(Debug, Clone, Copy)]
pub struct Seen(Option<i64>);

pub struct AuthVersion {
    origin: Instant,
    generation: AtomicU64,
    /// Nanoseconds after `origin` until which caches may answer (0: not now).
    vouched_until: AtomicU64,
    /// The counters' sum at the last successful check.
    last_sum: Mutex<Option<i64>>,
    /// When the last successful check started (nanoseconds after `origin`),
    /// for whoever waits for the server to have seen a change.
    checked: tokio::sync::watch::Sender<u64>,
    /// How long a write made here waits before it answers: [`LEASE`] when
    /// other replicas may cache, nothing when this server is the only one.
    settle: Duration,
}

impl AuthVersion {
    /// `replicated`: other servers may share the database (PostgreSQL).
    pub fn new(replicated: bool) -> Self {
        Self {
            origin: Instant::now(),
            generation: AtomicU64::new(0),
            vouched_until: AtomicU64::new(0),
            last_sum: Mutex::new(None),
            checked: tokio::sync::watch::channel(0).0,
            settle: if replicated { LEASE } else { Duration::ZERO },
        }
    }

    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// Moves on with every change seen: what was cached under an earlier
    /// generation is stale. Read it before a lookup that will be cached.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Whether caches may answer now: a recent enough check vouches for them.
    pub fn vouches(&self) -> bool {
        self.elapsed_nanos() < self.vouched_until.load(Ordering::SeqCst)
    }

    /// Reads the counters: a change since the last check moves the generation
    /// on, then the check vouches for the caches until its start plus
    /// [`LEASE`]. A failed check withdraws the vouching at once: with the
    /// database out of reach, exchanges fail closed rather than answer from
    /// memory. Blocking.
    pub fn check(&self, conn: &mut DbConnection) -> QueryResult<()> {
        let started = self.elapsed_nanos();
        let sum = match counters(conn) {
            Ok(sum) => sum,
            Err(error) => {
                self.vouched_until.store(0, Ordering::SeqCst);
                return Err(error);
            }
        };
        let mut last_sum = self.last_sum.lock().unwrap_or_else(|p| p.into_inner());
        if *last_sum != Some(sum) {
            self.generation.fetch_add(1, Ordering::SeqCst);
            *last_sum = Some(sum);
        }
        let lease = u64::try_from(LEASE.as_nanos()).unwrap_or(u64::MAX);
        self.vouched_until
            .fetch_max(started.saturating_add(lease), Ordering::SeqCst);
        self.checked.send_replace(started);
        Ok(())
    }

    /// Taken before a unit of work starts, for [`Self::changed_since`].
    pub fn seen(&self) -> Seen {
        Seen(*self.last_sum.lock().unwrap_or_else(|p| p.into_inner()))
    }

    /// Whether the counters moved since `seen`, read on the connection that
    /// just did a unit of work (so its own commits are visible). Sound
    /// because `seen` comes from a check that read before the unit started:
    /// a unit that fired a trigger leaves a larger sum than any read before
    /// it. A change made elsewhere meanwhile also answers yes, which costs a
    /// needless settle, never a missed one. `None`: the counters could not
    /// be read.
    pub fn changed_since(&self, conn: &mut DbConnection, seen: Seen) -> Option<bool> {
        let now = counters(conn).ok()?;
        Some(seen.0 != Some(now))
    }

    /// A change made here: every cached entry is stale at once.
    pub fn saw_change_here(&self) {
        self.generation.fetch_add(1, Ordering::SeqCst);
    }

    /// After a write made here has committed: this server's caches are stale
    /// at once; the answer waits until no replica can vouch for a cache
    /// older than the write.
    pub async fn settle_write(&self) {
        self.saw_change_here();
        if !self.settle.is_zero() {
            tokio::time::sleep(self.settle).await;
        }
    }

    /// Returns once a check that started after this call has succeeded: the
    /// server has then seen every change committed before the call, even one
    /// written behind its back.
    pub async fn seen_changes_until_now(&self) {
        let now = self.elapsed_nanos();
        let mut checked = self.checked.subscribe();
        // The sender lives in `self`, so the channel cannot close meanwhile.
        let _ = checked.wait_for(|started| *started > now).await;
    }
}

/// An in-memory SQLite with the `auth_versions` table, for unit tests.
#[cfg(test)]
pub(crate) fn sqlite_with_counters() -> DbConnection {
    let mut conn = DbConnection::Sqlite(
        diesel::SqliteConnection::establish(":memory:").expect("in-memory SQLite"),
    );
    diesel::sql_query(
        "CREATE TABLE auth_versions (source TEXT PRIMARY KEY NOT NULL, \
         version BIGINT NOT NULL DEFAULT 0)",
    )
    .execute(&mut conn)
    .unwrap();
    diesel::sql_query("INSERT INTO auth_versions (source) VALUES ('api_keys'), ('users')")
        .execute(&mut conn)
        .unwrap();
    conn
}

/// Bumps one counter as a trigger would, for unit tests.
#[cfg(test)]
pub(crate) fn bump(conn: &mut DbConnection, source: &str) {
    diesel::update(auth_versions::table.find(source))
        .set(auth_versions::version.eq(auth_versions::version + 1))
        .execute(conn)
        .unwrap();
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nothing_is_vouched_for_before_the_first_check() {
        let version = AuthVersion::new(false);
        assert!(!version.vouches());
        version.check(&mut sqlite_with_counters()).unwrap();
        assert!(version.vouches());
    }

    #[test]
    fn a_check_moves_the_generation_only_when_a_counter_moved() {
        let mut conn = sqlite_with_counters();
        let version = AuthVersion::new(false);
        version.check(&mut conn).unwrap();
        let first = version.generation();
        version.check(&mut conn).unwrap();
        assert_eq!(version.generation(), first, "nothing changed");
        bump(&mut conn, "users");
        version.check(&mut conn).unwrap();
        assert_eq!(version.generation(), first + 1);
        version.check(&mut conn).unwrap();
        assert_eq!(version.generation(), first + 1);
    }

    #[test]
    fn a_failed_check_withdraws_the_vouching_at_once() {
        let mut conn = sqlite_with_counters();
        let version = AuthVersion::new(false);
        version.check(&mut conn).unwrap();
        assert!(version.vouches());
        diesel::sql_query("DROP TABLE auth_versions")
            .execute(&mut conn)
            .unwrap();
        assert!(version.check(&mut conn).is_err());
        assert!(!version.vouches());
    }

    #[test]
    fn a_unit_of_work_changed_authentication_exactly_when_a_counter_moved() {
        let mut conn = sqlite_with_counters();
        let version = AuthVersion::new(false);
        // Before any check nothing is known: every unit counts as a change.
        let seen = version.seen();
        assert_eq!(version.changed_since(&mut conn, seen), Some(true));

        version.check(&mut conn).unwrap();
        let seen = version.seen();
        assert_eq!(version.changed_since(&mut conn, seen), Some(false));
        bump(&mut conn, "api_keys");
        assert_eq!(version.changed_since(&mut conn, seen), Some(true));
        // The check after the change makes it the new baseline.
        version.check(&mut conn).unwrap();
        assert_eq!(
            version.changed_since(&mut conn, version.seen()),
            Some(false)
        );

        diesel::sql_query("DROP TABLE auth_versions")
            .execute(&mut conn)
            .unwrap();
        assert_eq!(version.changed_since(&mut conn, seen), None);
    }

    #[test]
    fn without_a_newer_check_the_vouching_ends_with_the_lease() {
        let version = AuthVersion::new(false);
        version.check(&mut sqlite_with_counters()).unwrap();
        // Past a deadline, not a guess: the lease ran from before the check.
        std::thread::sleep(LEASE);
        assert!(!version.vouches(), "a check vouches for {LEASE:?} at most");
    }

    #[tokio::test(start_paused = true)]
    async fn a_write_here_is_stale_at_once_and_waits_only_when_replicated() {
        // Paused clock: a sleep advances it by exactly its length.
        let single = AuthVersion::new(false);
        let before = single.generation();
        let started = tokio::time::Instant::now();
        single.settle_write().await;
        assert!(single.generation() > before);
        assert_eq!(started.elapsed(), Duration::ZERO, "one server: no wait");

        let replicated = AuthVersion::new(true);
        let started = tokio::time::Instant::now();
        replicated.settle_write().await;
        assert_eq!(started.elapsed(), LEASE);
    }
}
