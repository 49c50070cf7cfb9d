//! Throttling failures: a fixed one-minute window per key (an IP address or
//! /64, an email, a key id). Over the limit, every attempt is refused until
//! the window ends, even a correct one, so secrets and passwords cannot be
//! guessed at speed.
//!
//! Memory is bounded whatever an attacker sends: past [`MAX_ENTRIES`],
//! stale windows go first, then the entries with the fewest failures,
//! which are the ones that block nothing. Counts are per replica: N
//! replicas allow up to N times the limit, which still bounds guessing to a
//! handful of attempts a minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};

use crate::error::ApiError;

/// Most keys held at once; a sweep brings the map down to three quarters.
pub const MAX_ENTRIES: usize = 50_000;
const WINDOW_SECS: i64 = 60;

#[derive(Debug, Default)]
pub struct FailureThrottle {
    /// key -> (window number, failures in it)
    windows: Mutex<HashMap<Box<str>, (i64, u32)>>,
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

impl FailureThrottle {
    fn lock(&self) -> MutexGuard<'_, HashMap<Box<str>, (i64, u32)>> {
        self.windows.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// 429 if any of `limits` (a key, and the failures it may have in a
    /// window) is used up: the first such, with the seconds left in it.
    pub fn check<'a>(
        &self,
        limits: impl IntoIterator<Item = (&'a str, u32)>,
        now_unix: i64,
    ) -> Result<(), ApiError> {
        let windows = self.lock();
        for (key, limit) in limits {
            blocked(&windows, key, limit, now_unix)?;
        }
        Ok(())
    }

    /// [`FailureThrottle::check`], and when nothing is used up, counts this
    /// attempt against every key at once, under one lock, before the work
    /// it guards: concurrent attempts cannot all pass the check before any
    /// of them is counted. An attempt that then succeeds is
    /// [`forgive`](FailureThrottle::forgive)n.
    pub fn begin(&self, limits: &[(&str, u32)], now_unix: i64) -> Result<(), ApiError> {
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
    pub fn forgive(&self, keys: &[&str], now_unix: i64) {
        let window = now_unix.div_euclid(WINDOW_SECS);
        let mut windows = self.lock();
        for key in keys {
            if let Some((w, failures)) = windows.get_mut(*key)
                && *w == window
            {
                *failures = failures.saturating_sub(1);
            }
        }
    }

    pub fn record_failure(&self, key: &str, now_unix: i64) {
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

/// 429 if `key` has reached `limit` failures in the current window.
fn blocked(
    windows: &HashMap<Box<str>, (i64, u32)>,
    key: &str,
    limit: u32,
    now_unix: i64,
) -> Result<(), ApiError> {
    let window = now_unix.div_euclid(WINDOW_SECS);
    match windows.get(key) {
        Some(&(w, failures)) if w == window && failures >= limit => Err(ApiError::RateLimited {
            limit,
            retry_after_secs: ((window + 1) * WINDOW_SECS - now_unix) as u64,
        }),
        _ => Ok(()),
    }
}

fn count(windows: &mut HashMap<Box<str>, (i64, u32)>, key: &str, now_unix: i64) {
    let window = now_unix.div_euclid(WINDOW_SECS);
    if !windows.contains_key(key) && windows.len() >= MAX_ENTRIES {
        sweep(windows, window);
    }
    let entry = windows.entry(key.into()).or_insert((window, 0));
    if entry.0 != window {
        *entry = (window, 0);
    }
    entry.1 = entry.1.saturating_add(1);
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

    fn is_blocked(throttle: &FailureThrottle, key: &str, limit: u32, now: i64) -> bool {
        throttle.check([(key, limit)], now).is_err()
    }

    #[test]
    fn blocks_at_the_limit_until_the_window_ends() {
        let throttle = FailureThrottle::default();
        let start = 6_000; // the start of a window
        for i in 0..3 {
            assert!(!is_blocked(&throttle, "ip:a", 3, start + i));
            throttle.record_failure("ip:a", start + i);
        }
        match throttle.check([("ip:a", 3)], start + 10) {
            Err(ApiError::RateLimited {
                retry_after_secs, ..
            }) => assert_eq!(retry_after_secs, 50),
            other => panic!("{other:?}"),
        }
        assert!(!is_blocked(&throttle, "ip:b", 3, start + 10), "keys apart");
        assert!(
            !is_blocked(&throttle, "ip:a", 3, start + 60),
            "a new window"
        );
    }

    #[test]
    fn attempts_count_when_they_begin_and_successes_are_forgiven() {
        let throttle = FailureThrottle::default();
        let limits = [("login:ip:a", 20), ("login:email:x", 3)];
        // Three attempts in flight at once use up the email's three.
        for _ in 0..3 {
            throttle.begin(&limits, 6_000).unwrap();
        }
        assert!(throttle.begin(&limits, 6_000).is_err(), "the fourth waits");
        // One of them succeeded: its count is taken back.
        throttle.forgive(&["login:ip:a", "login:email:x"], 6_000);
        assert!(throttle.begin(&limits, 6_000).is_ok());
        assert!(throttle.begin(&limits, 6_000).is_err());
    }

    #[test]
    fn memory_stays_bounded_and_keeps_what_blocks() {
        let throttle = FailureThrottle::default();
        for _ in 0..10 {
            throttle.record_failure("exchange:ip:guesser", 0);
        }
        for i in 0..MAX_ENTRIES * 2 {
            throttle.record_failure(&format!("login:email:{i}@x"), 0);
        }
        assert!(throttle.len() <= MAX_ENTRIES, "{}", throttle.len());
        assert!(is_blocked(&throttle, "exchange:ip:guesser", 10, 0));
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
