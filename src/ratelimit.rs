//! Per-key (and per-user) request rate limits: a GCRA, the "leaky bucket as
//! a meter", with one timestamp per bucket, so every answer can say exactly
//! how many requests are left and when the full limit is back.
//!
//! A limit of `L` req/s lets `L` requests through at once and then one every
//! `1/L` s. A bucket whose theoretical arrival time is in the past holds no
//! information (it is full), so such buckets are swept: memory follows the
//! keys active in the last second, however many keys exist.
//!
//! Buckets are per replica: N replicas behind a balancer allow up to N
//! times the limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{SystemTime, UNIX_EPOCH};

use crate::error::ApiError;

const NANOS_PER_SEC: u64 = 1_000_000_000;
/// Buckets a map holds before its first sweep; after a sweep, the next one
/// waits until the map has doubled, so sweeping costs O(1) per request.
const MIN_SWEEP_AT: usize = 1024;

/// Whose bucket a request draws from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Subject<'a> {
    /// An API key, by id: its secret used directly, its exchanges, and the
    /// tokens exchanged from it.
    Key(&'a str),
    /// A person, by user id: requests with a login token.
    User(&'a str),
    /// One customer in the portal, by [`customer_bucket`]: its sessions'
    /// requests, at its workspace plan's limit.
    Customer(&'a str),
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

#[derive(Debug, Default)]
pub struct RateLimiter {
    keys: Mutex<Buckets>,
    users: Mutex<Buckets>,
    customers: Mutex<Buckets>,
}

#[derive(Debug, Default)]
struct Buckets {
    /// Bucket -> theoretical arrival time, in unix nanoseconds.
    tat: HashMap<Box<str>, u64>,
    sweep_at: usize,
}

impl RateLimiter {
    /// Counts one request of `subject` against `limit` req/s, now.
    pub fn acquire(&self, subject: Subject<'_>, limit: u32) -> RateStatus {
        let now = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| u64::try_from(d.as_nanos()).unwrap_or(u64::MAX));
        self.acquire_at(subject, limit, now)
    }

    fn acquire_at(&self, subject: Subject<'_>, limit: u32, now: u64) -> RateStatus {
        let (buckets, id) = match subject {
            Subject::Key(id) => (&self.keys, id),
            Subject::User(id) => (&self.users, id),
            Subject::Customer(id) => (&self.customers, id),
        };
        let mut buckets = buckets.lock().unwrap_or_else(|p| p.into_inner());
        buckets.acquire(id, limit.max(1), now)
    }

    /// Buckets held now (for tests of the memory bound).
    pub fn len(&self) -> usize {
        let count = |b: &Mutex<Buckets>| b.lock().unwrap_or_else(|p| p.into_inner()).tat.len();
        count(&self.keys) + count(&self.users) + count(&self.customers)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl Buckets {
    fn acquire(&mut self, id: &str, limit: u32, now: u64) -> RateStatus {
        // One request every `interval`; `window` is a full bucket's worth.
        let interval = NANOS_PER_SEC / u64::from(limit);
        let window = interval * u64::from(limit);
        let tat = self.tat.get(id).copied().unwrap_or(now).max(now);
        let next = tat + interval;
        if next - now > window {
            // Refused: nothing changes; retry once a slot has leaked away.
            return RateStatus {
                limit,
                remaining: 0,
                reset_unix: tat.div_ceil(NANOS_PER_SEC),
                retry_after_secs: Some((next - window - now).div_ceil(NANOS_PER_SEC).max(1)),
            };
        }
        match self.tat.get_mut(id) {
            Some(stored) => *stored = next,
            None => {
                self.sweep(now);
                self.tat.insert(id.into(), next);
            }
        }
        RateStatus {
            limit,
            remaining: u32::try_from((window - (next - now)) / interval).unwrap_or(u32::MAX),
            reset_unix: next.div_ceil(NANOS_PER_SEC),
            retry_after_secs: None,
        }
    }

    /// Drops full buckets (arrival time passed) once the map has grown
    /// enough since the last sweep.
    fn sweep(&mut self, now: u64) {
        if self.tat.len() < self.sweep_at.max(MIN_SWEEP_AT) {
            return;
        }
        self.tat.retain(|_, tat| *tat > now);
        self.sweep_at = self.tat.len() * 2;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const START: u64 = 1_800_000_000 * NANOS_PER_SEC;

    #[test]
    fn a_full_bucket_lets_the_limit_through_then_refuses() {
        let limiter = RateLimiter::default();
        let remaining: Vec<u32> = (0..3)
            .map(|_| limiter.acquire_at(Subject::Key("a"), 3, START).remaining)
            .collect();
        assert_eq!(remaining, [2, 1, 0]);
        let refused = limiter.acquire_at(Subject::Key("a"), 3, START);
        assert_eq!(refused.retry_after_secs, Some(1));
        assert_eq!(refused.remaining, 0);
        // Full again one second after the burst.
        assert_eq!(refused.reset_unix, 1_800_000_001);
        assert!(matches!(
            refused.check(),
            Err(ApiError::RateLimited { limit: 3, .. })
        ));
        assert_eq!(
            limiter
                .acquire_at(Subject::Key("b"), 3, START)
                .retry_after_secs,
            None,
            "buckets are per key"
        );
        assert_eq!(
            limiter
                .acquire_at(Subject::User("a"), 3, START)
                .retry_after_secs,
            None,
            "users and keys never share a bucket"
        );
    }

    #[test]
    fn requests_leak_back_at_the_rate() {
        let limiter = RateLimiter::default();
        for _ in 0..10 {
            assert!(
                limiter
                    .acquire_at(Subject::Key("a"), 10, START)
                    .check()
                    .is_ok()
            );
        }
        assert!(
            limiter
                .acquire_at(Subject::Key("a"), 10, START)
                .check()
                .is_err()
        );
        // A tenth of a second later, exactly one more request passes.
        let later = START + NANOS_PER_SEC / 10;
        let status = limiter.acquire_at(Subject::Key("a"), 10, later);
        assert_eq!((status.retry_after_secs, status.remaining), (None, 0));
        assert!(
            limiter
                .acquire_at(Subject::Key("a"), 10, later)
                .check()
                .is_err()
        );
        // After a quiet second the bucket is full again.
        let quiet = later + NANOS_PER_SEC;
        assert_eq!(
            limiter.acquire_at(Subject::Key("a"), 10, quiet).remaining,
            9
        );
    }

    #[test]
    fn idle_buckets_are_evicted_so_memory_stays_bounded() {
        let limiter = RateLimiter::default();
        let mut now = START;
        for i in 0..100_000 {
            // A new key every 100 µs: at most ~10,000 are active in any second.
            now += 100_000;
            limiter.acquire_at(Subject::Key(&format!("key-{i}")), 1, now);
        }
        assert!(
            limiter.len() <= 2 * 10_001 + MIN_SWEEP_AT,
            "{}",
            limiter.len()
        );
    }
}
