//! Throttling failures: a fixed one-minute window per key (an IP address or
//! /64, an email, a key id). Over the limit, every attempt is refused until
//! the window ends, even a correct one, so secrets and passwords cannot be
//! guessed at speed.
//!
//! With a shared store ([`Shared`]) the counts are the cluster's: failures
//! are counted in the store, and attempts that begin (a login, an
//! invitation) are counted there under one lock. A check reads the store
//! for keys this replica has seen fail this window, so a guesser spread
//! over N replicas is stopped after the same count as on one; a key with
//! no failure seen here costs no round trip. While the store is
//! unreachable, counts are per replica.
//!
//! Memory is bounded whatever an attacker sends: past [`MAX_ENTRIES`],
//! stale windows go first, then the entries with the fewest failures,
//! which are the ones that block nothing.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, MutexGuard};

use crate::error::ApiError;
use crate::shared::Shared;

/// Most keys held at once; a sweep brings the map down to three quarters.
pub const MAX_ENTRIES: usize = 50_000;
const WINDOW_SECS: i64 = 60;

#[derive(Default)]
pub struct FailureThrottle {
    /// key -> (window number, failures in it): the store's counts as last
    /// seen, or this replica's own without a store.
    windows: Mutex<HashMap<Box<str>, (i64, u32)>>,
    shared: Option<Arc<Shared>>,
}

/// The throttle key of a client address in `scope` ("exchange", "login").
/// IPv6 clients count per /64, the block one subscriber usually holds, so
/// rotating addresses within it buys no attempts.
pub fn ip_key(scope: &str, ip: Option<IpAddr>) -> String {
    match ip.map(|ip| ip.to_canonical()) {
        Some(IpAddr::V6(v6)) => {
            let [a, b, c, d, ..] = v6.segments();
            format!("{scope}:ip6:{a:x}:{b:x}:{c:x}:{d:x}::/64")
        }
        Some(ip) => format!("{scope}:ip:{ip}"),
        None => format!("{scope}:ip:"),
    }
}

fn window_of(now_unix: i64) -> i64 {
    now_unix.div_euclid(WINDOW_SECS)
}

impl FailureThrottle {
    /// Counts shared through `shared`, when there is one.
    pub fn new(shared: Option<Arc<Shared>>) -> Self {
        Self {
            windows: Mutex::default(),
            shared,
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, (i64, u32)>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The store, unless there is none or it is unreachable.
    fn shared(&self) -> Option<&Shared> {
        self.shared
            .as_deref()
            .filter(|shared| !shared.is_degraded())
    }

    /// Takes the store's counts of `keys` as this replica's view.
    fn learn(&self, keys: &[&str], counts: &[u32], window: i64) {
        let mut windows = self.lock();
        for (key, count) in keys.iter().zip(counts) {
            set(&mut windows, key, window, *count);
        }
    }

    /// 429 if any of `limits` (a key, and the failures it may have in a
    /// window) is used up: the first such, with the seconds left in it.
    pub async fn check(&self, limits: &[(&str, u32)], now_unix: i64) -> Result<(), ApiError> {
        let window = window_of(now_unix);
        let seen_failing: Vec<&str> = {
            let windows = self.lock();
            for (key, limit) in limits {
                blocked(&windows, key, *limit, now_unix)?;
            }
            limits
                .iter()
                .filter(
                    |(key, _)| matches!(windows.get(*key), Some(&(w, n)) if w == window && n > 0),
                )
                .map(|(key, _)| *key)
                .collect()
        };
        // Other replicas may have counted more failures of these since.
        if let Some(shared) = self.shared()
            && !seen_failing.is_empty()
            && let Some(counts) = shared.read_failures(&seen_failing, window).await
        {
            self.learn(&seen_failing, &counts, window);
            let windows = self.lock();
            for (key, limit) in limits {
                blocked(&windows, key, *limit, now_unix)?;
            }
        }
        Ok(())
    }

    /// [`FailureThrottle::check`], and when nothing is used up, counts this
    /// attempt against every key at once (under one lock, here or in the
    /// store), before the work it guards: concurrent attempts cannot all
    /// pass the check before any of them is counted. An attempt that then
    /// succeeds is [`forgive`](FailureThrottle::forgive)n.
    pub async fn begin(&self, limits: &[(&str, u32)], now_unix: i64) -> Result<(), ApiError> {
        let window = window_of(now_unix);
        {
            let windows = self.lock();
            for (key, limit) in limits {
                blocked(&windows, key, *limit, now_unix)?;
            }
        }
        if let Some(shared) = self.shared()
            && let Some(blocked_at) = shared.begin_attempt(limits, window).await
        {
            return match blocked_at {
                Some(index) => {
                    let (key, limit) = limits[index];
                    self.learn(&[key], &[limit], window);
                    Err(used_up(limit, now_unix))
                }
                None => Ok(()),
            };
        }
        let mut windows = self.lock();
        for (key, limit) in limits {
            blocked(&windows, key, *limit, now_unix)?;
        }
        for (key, _) in limits {
            count(&mut windows, key, now_unix);
        }
        Ok(())
    }

    /// Takes back the count [`FailureThrottle::begin`] made for an attempt
    /// that succeeded.
    pub async fn forgive(&self, keys: &[&str], now_unix: i64) {
        let window = window_of(now_unix);
        if let Some(shared) = self.shared()
            && let Some(counts) = shared.add_failures(keys, -1, window).await
        {
            self.learn(keys, &counts, window);
            return;
        }
        let mut windows = self.lock();
        for key in keys {
            if let Some((w, failures)) = windows.get_mut(*key)
                && *w == window
            {
                *failures = failures.saturating_sub(1);
            }
        }
    }

    pub async fn record_failure(&self, key: &str, now_unix: i64) {
        let window = window_of(now_unix);
        if let Some(shared) = self.shared()
            && let Some(counts) = shared.add_failures(&[key], 1, window).await
        {
            self.learn(&[key], &counts, window);
            return;
        }
        count(&mut self.lock(), key, now_unix);
    }

    /// Keys held now (for tests of the memory bound).
    pub fn len(&self) -> usize {
        self.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

fn used_up(limit: u32, now_unix: i64) -> ApiError {
    ApiError::RateLimited {
        limit,
        retry_after_secs: ((window_of(now_unix) + 1) * WINDOW_SECS - now_unix) as u64,
    }
}

/// 429 if `key` has reached `limit` failures in the current window.
fn blocked(
    windows: &HashMap<Box<str>, (i64, u32)>,
    key: &str,
    limit: u32,
    now_unix: i64,
) -> Result<(), ApiError> {
    match windows.get(key) {
        Some(&(w, failures)) if w == window_of(now_unix) && failures >= limit => {
            Err(used_up(limit, now_unix))
        }
        _ => Ok(()),
    }
}

fn count(windows: &mut HashMap<Box<str>, (i64, u32)>, key: &str, now_unix: i64) {
    let window = window_of(now_unix);
    let failures = match windows.get(key) {
        Some(&(w, failures)) if w == window => failures,
        _ => 0,
    };
    set(windows, key, window, failures.saturating_add(1));
}

fn set(windows: &mut HashMap<Box<str>, (i64, u32)>, key: &str, window: i64, failures: u32) {
    if !windows.contains_key(key) && windows.len() >= MAX_ENTRIES {
        sweep(windows, window);
    }
    windows.insert(key.into(), (window, failures));
}

/// Brings the map to three quarters of its bound: stale windows first, then
/// the current window's entries with the fewest failures.
fn sweep(windows: &mut HashMap<Box<str>, (i64, u32)>, window: i64) {
    let target = MAX_ENTRIES * 3 / 4;
    windows.retain(|_, (w, _)| *w == window);
    let mut fewest = 1;
    while windows.len() > target {
        windows.retain(|_, (_, failures)| *failures > fewest);
        fewest = fewest.saturating_mul(2);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn is_blocked(throttle: &FailureThrottle, key: &str, limit: u32, now: i64) -> bool {
        throttle.check(&[(key, limit)], now).await.is_err()
    }

    #[tokio::test]
    async fn blocks_at_the_limit_until_the_window_ends() {
        let throttle = FailureThrottle::default();
        let start = 6_000; // the start of a window
        for i in 0..3 {
            assert!(!is_blocked(&throttle, "ip:a", 3, start + i).await);
            throttle.record_failure("ip:a", start + i).await;
        }
        match throttle.check(&[("ip:a", 3)], start + 10).await {
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 50),
            other => panic!("{other:?}"),
        }
        assert!(
            !is_blocked(&throttle, "ip:b", 3, start + 10).await,
            "keys apart"
        );
        assert!(
            !is_blocked(&throttle, "ip:a", 3, start + 60).await,
            "a new window"
        );
    }

    #[tokio::test]
    async fn attempts_count_when_they_begin_and_successes_are_forgiven() {
        let throttle = FailureThrottle::default();
        let limits = [("login:ip:a", 20), ("login:email:x", 3)];
        // Three attempts in flight at once use up the email's three.
        for _ in 0..3 {
            throttle.begin(&limits, 6_000).await.unwrap();
        }
        assert!(
            throttle.begin(&limits, 6_000).await.is_err(),
            "the fourth waits"
        );
        // One of them succeeded: its count is taken back.
        throttle
            .forgive(&["login:ip:a", "login:email:x"], 6_000)
            .await;
        assert!(throttle.begin(&limits, 6_000).await.is_ok());
        assert!(throttle.begin(&limits, 6_000).await.is_err());
    }

    #[tokio::test]
    async fn memory_stays_bounded_and_keeps_what_blocks() {
        let throttle = FailureThrottle::default();
        for _ in 0..10 {
            throttle.record_failure("exchange:ip:guesser", 0).await;
        }
        for i in 0..MAX_ENTRIES * 2 {
            throttle
                .record_failure(&format!("login:email:{i}@x"), 0)
                .await;
        }
        assert!(throttle.len() <= MAX_ENTRIES, "{}", throttle.len());
        assert!(is_blocked(&throttle, "exchange:ip:guesser", 10, 0).await);
    }

    #[test]
    fn ipv6_clients_count_per_64() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let other: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(ip_key("login", Some(a)), ip_key("login", Some(b)));
        assert_ne!(ip_key("login", Some(a)), ip_key("login", Some(other)));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(ip_key("x", Some(mapped)), "x:ip:192.0.2.1");
    }
}
