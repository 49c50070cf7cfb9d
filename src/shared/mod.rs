//! The state replicas share so that they limit as one service: rate
//! buckets and failure counts, in PostgreSQL or in the Redis that
//! `KEYMINT_REDIS_URL` names. With neither (SQLite, one node) there is no
//! [`Shared`], and limits live in memory.
//!
//! The store is off the critical path where it can be: the rate limiter
//! decides most requests from its own view and tells the store what it
//! admitted every [`SYNC_PERIOD`]. When the store cannot be reached, every
//! call here answers `None` at once, limits are per replica (logged, and
//! `keymint_shared_limits` in `/metrics` says so), and the next sync that
//! works brings them back.

pub mod redis;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use ring::digest;

use crate::db::models::shared_limits::{self, Consumed};
use crate::db::{self, Pool};

/// How often a replica tells the store what it admitted on its own, and
/// reads the buckets the others are using.
pub const SYNC_PERIOD: Duration = Duration::from_millis(50);

/// The longest a call waits for the store before it counts as
/// unreachable. Generous: a store that is down refuses connections at
/// once, and after the first failure no request waits for it (the syncs
/// probe it); a busy store answering late must not flip limits to per
/// replica.
const TIMEOUT: Duration = Duration::from_secs(2);

enum Store {
    Postgres(Pool),
    Redis(Box<redis::RedisStore>),
}

pub struct Shared {
    store: Store,
    /// The store failed, and has not answered a sync since.
    degraded: AtomicBool,
    /// Times the store became unreachable since start.
    fallbacks: AtomicU64,
}

/// How limits are kept now, for `/metrics`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    /// One node, nothing to share (SQLite without Redis).
    Memory,
    Shared,
    /// The store is unreachable: each replica limits on its own.
    PerReplica,
}

impl Mode {
    pub fn label(self) -> &'static str {
        match self {
            Self::Memory => "memory",
            Self::Shared => "shared",
            Self::PerReplica => "per_replica",
        }
    }

    pub const ALL: [Mode; 3] = [Mode::Memory, Mode::Shared, Mode::PerReplica];
}

#[derive(Debug, thiserror::Error)]
#[error("KEYMINT_REDIS_URL: {0}")]
pub struct UrlError(String);

impl Shared {
    /// Redis when a URL is given, else PostgreSQL when that is the
    /// database, else nothing to share.
    pub fn for_server(redis_url: Option<&str>, pool: &Pool) -> Result<Option<Self>, UrlError> {
        let store = match redis_url {
            Some(url) => Store::Redis(Box::new(
                redis::RedisStore::new(url).map_err(|e| UrlError(e.to_string()))?,
            )),
            None if pool.target_is_postgres() => Store::Postgres(pool.clone()),
            None => return Ok(None),
        };
        Ok(Some(Self {
            store,
            degraded: AtomicBool::new(false),
            fallbacks: AtomicU64::new(0),
        }))
    }

    pub fn is_degraded(&self) -> bool {
        self.degraded.load(Ordering::Relaxed)
    }

    pub fn mode(shared: Option<&Self>) -> Mode {
        match shared {
            None => Mode::Memory,
            Some(shared) if shared.is_degraded() => Mode::PerReplica,
            Some(_) => Mode::Shared,
        }
    }

    pub fn fallbacks(&self) -> u64 {
        self.fallbacks.load(Ordering::Relaxed)
    }

    fn store_name(&self) -> &'static str {
        match self.store {
            Store::Postgres(_) => "PostgreSQL",
            Store::Redis(_) => "Redis",
        }
    }

    /// `Some` when the store answered in time; else marks it unreachable.
    async fn answer<T, E: std::fmt::Display>(
        &self,
        call: impl Future<Output = Result<T, E>>,
    ) -> Option<T> {
        let failure = match tokio::time::timeout(TIMEOUT, call).await {
            Ok(Ok(answer)) => return Some(answer),
            Ok(Err(error)) => error.to_string(),
            Err(_) => format!("no answer within {} ms", TIMEOUT.as_millis()),
        };
        if !self.degraded.swap(true, Ordering::Relaxed) {
            self.fallbacks.fetch_add(1, Ordering::Relaxed);
            log::warn!(
                "shared limits: {} unreachable ({failure}); each replica limits on its own until it answers",
                self.store_name()
            );
        }
        None
    }

    /// Tells the store what this replica admitted, and answers every
    /// bucket that is not full. Tried even when degraded: this is how
    /// shared limits come back.
    pub async fn sync_buckets(
        &self,
        mut consumed: Vec<Consumed>,
        now_us: i64,
    ) -> Option<Vec<(String, i64)>> {
        let answer = match &self.store {
            Store::Postgres(pool) => {
                let pool = pool.clone();
                self.answer(db::run_unfenced(&pool, move |conn| {
                    Ok(shared_limits::sync_buckets(conn, &mut consumed, now_us)?)
                }))
                .await
            }
            Store::Redis(redis) => {
                self.answer(redis.sync_buckets(&consumed, now_us, TIMEOUT))
                    .await
            }
        }?;
        if self.degraded.swap(false, Ordering::Relaxed) {
            log::info!("shared limits: {} answers again", self.store_name());
        }
        Some(answer)
    }

    /// One request decided by the store: whether it passes, and the
    /// bucket's arrival time after it. `None` when degraded.
    pub async fn acquire_bucket(
        &self,
        consumed: Consumed,
        interval_us: i64,
        now_us: i64,
    ) -> Option<(bool, i64)> {
        if self.is_degraded() {
            return None;
        }
        match &self.store {
            Store::Postgres(pool) => {
                self.answer(db::run_unfenced(pool, move |conn| {
                    Ok(shared_limits::acquire_bucket(
                        conn,
                        &consumed,
                        interval_us,
                        now_us,
                    )?)
                }))
                .await
            }
            Store::Redis(redis) => {
                self.answer(redis.acquire_bucket(&consumed, interval_us, now_us, TIMEOUT))
                    .await
            }
        }
    }

    /// Adds `delta` to the failures of each of `keys` in `window`; the
    /// counts after. `None` when degraded.
    pub async fn add_failures(&self, keys: &[&str], delta: i32, window: i64) -> Option<Vec<u32>> {
        self.on_failure_keys(
            keys,
            move |conn, keys| shared_limits::add_failures(conn, keys, delta, window),
            async |redis, keys| redis.add_failures(keys, delta, window, TIMEOUT).await,
        )
        .await
    }

    /// The failures of each of `keys` in `window`. `None` when degraded.
    pub async fn read_failures(&self, keys: &[&str], window: i64) -> Option<Vec<u32>> {
        self.on_failure_keys(
            keys,
            move |conn, keys| shared_limits::read_failures(conn, keys, window),
            async |redis, keys| redis.read_failures(keys, window, TIMEOUT).await,
        )
        .await
    }

    /// Runs one operation on the store's counters of `keys` (as digests):
    /// `postgres` or `redis`, whichever holds them. `None` when degraded.
    async fn on_failure_keys<T: Send + 'static>(
        &self,
        keys: &[&str],
        postgres: impl FnOnce(&mut db::DbConnection, &[&str]) -> diesel::QueryResult<T> + Send + 'static,
        redis: impl AsyncFnOnce(&redis::RedisStore, &[&str]) -> ::redis::RedisResult<T>,
    ) -> Option<T> {
        if self.is_degraded() {
            return None;
        }
        let hashed = hashed(keys);
        match &self.store {
            Store::Postgres(pool) => {
                self.answer(db::run_unfenced(pool, move |conn| {
                    let keys: Vec<&str> = hashed.iter().map(String::as_str).collect();
                    Ok(postgres(conn, &keys)?)
                }))
                .await
            }
            Store::Redis(store) => {
                let keys: Vec<&str> = hashed.iter().map(String::as_str).collect();
                self.answer(redis(store, &keys)).await
            }
        }
    }

    /// Counts an attempt on every key of `limits` unless one is used up
    /// (then its index). `None` when degraded.
    pub async fn begin_attempt(
        &self,
        limits: &[(&str, u32)],
        window: i64,
    ) -> Option<Option<usize>> {
        if self.is_degraded() {
            return None;
        }
        let keys: Vec<&str> = limits.iter().map(|(key, _)| *key).collect();
        let hashed: Vec<(String, u32)> = hashed(&keys)
            .into_iter()
            .zip(limits.iter().map(|(_, limit)| *limit))
            .collect();
        match &self.store {
            Store::Postgres(pool) => {
                self.answer(db::run_unfenced(pool, move |conn| {
                    let limits: Vec<(&str, u32)> =
                        hashed.iter().map(|(k, l)| (k.as_str(), *l)).collect();
                    Ok(shared_limits::begin_attempt(conn, &limits, window)?)
                }))
                .await
            }
            Store::Redis(redis) => {
                let limits: Vec<(&str, u32)> =
                    hashed.iter().map(|(k, l)| (k.as_str(), *l)).collect();
                self.answer(redis.begin_attempt(&limits, window, TIMEOUT))
                    .await
            }
        }
    }

    /// Forgets full buckets and past windows (Redis expires its own).
    /// Blocking; for a background task.
    pub fn sweep(&self, now_us: i64, window: i64) -> Result<(), String> {
        match &self.store {
            Store::Postgres(pool) => {
                db::with_connection(pool, |conn| Ok(shared_limits::sweep(conn, now_us, window)?))
                    .map(drop)
                    .map_err(|e| e.detail())
            }
            Store::Redis(_) => Ok(()),
        }
    }
}

/// Throttle keys hold emails and addresses, of any length a client sends:
/// the store sees a fixed-size digest of each instead.
fn hashed(keys: &[&str]) -> Vec<String> {
    use base64::Engine as _;
    keys.iter()
        .map(|key| {
            let digest = digest::digest(&digest::SHA256, key.as_bytes());
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest)
        })
        .collect()
}
