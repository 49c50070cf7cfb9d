//! Per-key (and per-user, per-customer) request rate limits, one per
//! bucket across every replica: a GCRA ([`gcra`]) with one arrival time
//! per bucket, so every answer says exactly how many requests are left and
//! when the full limit is back.
//!
//! With a shared store ([`Shared`]), each replica keeps a view of the
//! buckets: the store's arrival times as of the last sync, plus what it
//! admitted itself since. It refuses on its own when its view is empty
//! (the store can only be emptier), admits on its own while its view holds
//! more than [`Rate::local_margin`], and asks the store, which decides
//! under a lock, for the requests in between. Every [`SYNC_PERIOD`] it
//! tells the store what it admitted and reads the buckets that are not
//! full. So a key far from its limit costs no round trip, and a key at its
//! limit is decided by the store: one limit for all replicas.
//!
//! Without a store, or while it is unreachable, the view is the bucket:
//! limits are per replica. Full buckets hold no information and are
//! dropped, so memory follows the keys active in the last second.
//!
//! [`SYNC_PERIOD`]: crate::shared::SYNC_PERIOD

pub mod gcra;
mod views;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::db::models::shared_limits::Consumed;
use crate::error::ApiError;
use crate::shared::Shared;
use gcra::{Rate, now_us};
use views::{Buckets, Decision, Footing};

/// Whose bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An API key (or a trust policy), by id: its secret used directly,
    /// its exchanges, and the tokens exchanged from it.
    Key(&'a str),
    /// A person, by user id: requests with a login token.
    User(&'a str),
    /// One customer in the portal, by [`customer_bucket`]: its sessions'
    /// requests, at its workspace plan's limit.
    Customer(&'a str),
}

impl Subject<'_> {
    /// The bucket's name, here and in the shared store: ids are UUIDs; a
    /// customer's `external_id` is the client's, so it goes in as a digest.
    fn bucket(&self) -> String {
        match self {
            Self::Key(id) => format!("k:{id}"),
            Self::User(id) => format!("u:{id}"),
            Self::Customer(bucket) => {
                use base64::Engine as _;
                let digest = ring::digest::digest(&ring::digest::SHA256, bucket.as_bytes());
                let digest = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(digest);
                format!("c:{digest}")
            }
        }
    }
}

/// The bucket of one customer of one workspace. Workspace ids are UUIDs,
/// so the first `/` separates them from any `external_id`.
pub fn customer_bucket(workspace_id: &str, external_id: &str) -> String {
    format!("{workspace_id}/{external_id}")
}

/// The decision on one request, and what the `X-RateLimit-*` headers say.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateStatus {
    /// Requests per second.
    pub limit: u32,
    /// Requests that would pass right now after this one.
    pub remaining: u32,
    /// Unix seconds (rounded up) when the full limit is available again.
    pub reset_unix: u64,
    /// `Some(seconds)` when the request was refused.
    pub retry_after_secs: Option<u64>,
}

impl RateStatus {
    /// 429 `rate_limit_exceeded` if the request was refused.
    pub fn check(&self) -> Result<(), ApiError> {
        match self.retry_after_secs {
            None => Ok(()),
            Some(retry_after_secs) => Err(ApiError::RateLimited {
                limit: self.limit,
                retry_after_secs,
            }),
        }
    }
}

/// A view not synced for this long admits nothing on its own. Syncs run
/// every [`SYNC_PERIOD`](crate::shared::SYNC_PERIOD); a second without
/// one means the store is slow, and a shorter bound would send every
/// request to it just then.
const STALE_AFTER_US: u64 = 1_000_000;

#[derive(Default)]
pub struct RateLimiter {
    buckets: Mutex<Buckets>,
    shared: Option<Arc<Shared>>,
    /// When the view was last brought up to date with the store (unix µs).
    synced_at: AtomicU64,
}

impl RateLimiter {
    /// Limits shared through `shared`, when there is one.
    pub fn new(shared: Option<Arc<Shared>>) -> Self {
        Self {
            shared,
            ..Self::default()
        }
    }

    /// Counts one request of `subject` against `limit` req/s, now.
    pub async fn acquire(&self, subject: Subject<'_>, limit: u32) -> RateStatus {
        let bucket = subject.bucket();
        let rate = Rate::per_second(limit);
        let now = now_us();
        let footing = match self.shared.as_deref() {
            None => Footing::Alone,
            Some(shared) if shared.is_degraded() => Footing::Cut,
            Some(_) => Footing::Shared {
                fresh: now.saturating_sub(self.synced_at.load(Ordering::Relaxed)) < STALE_AFTER_US,
            },
        };
        let unsynced = match self.lock().decide(&bucket, rate, now, footing) {
            Decision::Answered(status) => return status,
            Decision::AskStore { unsynced } => unsynced,
        };
        let consumed = Consumed {
            bucket: bucket.clone(),
            add_us: i64::from(unsynced) * rate.interval as i64,
            window_us: rate.window as i64,
        };
        let decided = match self.shared.as_deref() {
            Some(shared) => {
                shared
                    .acquire_bucket(consumed, rate.interval as i64, now as i64)
                    .await
            }
            None => None,
        };
        let mut buckets = self.lock();
        match decided {
            Some((admitted, tat)) => {
                buckets.settle(&bucket, rate, admitted, tat.max(0) as u64, now)
            }
            // The store is unreachable: this replica decides alone.
            None => {
                buckets.hand_back(&bucket, unsynced);
                buckets.decide(&bucket, rate, now, Footing::Cut).answered()
            }
        }
    }

    /// Tells the store what this replica admitted on its own and brings
    /// its view up to date; a failure leaves limits per replica until a
    /// sync works. For a task that runs every
    /// [`SYNC_PERIOD`](crate::shared::SYNC_PERIOD).
    pub async fn sync(&self) {
        let Some(shared) = &self.shared else { return };
        let now = now_us();
        let consumed = self.lock().take_unsynced(now);
        let told = consumed.clone();
        match shared.sync_buckets(consumed, now as i64).await {
            Some(not_full) => {
                self.lock().mirror(not_full, now);
                self.synced_at.store(now, Ordering::Relaxed);
            }
            // Told next time: what replicas admit while cut off still counts.
            None => {
                let mut buckets = self.lock();
                for consumed in told {
                    let interval = Rate::per_second(buckets.limit_of(&consumed.bucket)).interval;
                    let count =
                        u32::try_from(consumed.add_us / interval as i64).unwrap_or(u32::MAX);
                    buckets.hand_back(&consumed.bucket, count);
                }
            }
        }
    }

    fn lock(&self) -> MutexGuard<'_, Buckets> {
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Buckets held now (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.lock().views.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}
