//! Throttling failures: a fixed one-minute window per key (an IP address,
//! an email, a key id). Over the limit, every attempt is refused until the
//! window ends, even a correct one, so secrets and passwords cannot be
//! guessed at speed.
//!
//! Counts are per replica: N replicas allow up to N times the limit, which
//! still bounds guessing to a handful of attempts a minute.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;

use crate::error::ApiError;

/// Entries kept before stale windows are swept, bounding memory however
/// many distinct addresses fail.
const SWEEP_AT: usize = 10_000;
const WINDOW_SECS: i64 = 60;

#[derive(Debug, Default)]
pub struct FailureThrottle {
    /// key -> (window number, failures in it)
    windows: Mutex<HashMap<String, (i64, u32)>>,
}

/// The throttle key of a client address in `scope` ("exchange", "login").
pub fn ip_key(scope: &str, ip: Option<IpAddr>) -> String {
    match ip {
        Some(ip) => format!("{scope}:ip:{ip}"),
        None => format!("{scope}:ip:"),
    }
}

impl FailureThrottle {
    /// 429 if any of `limits` (a key, and the failures it may have in a
    /// window) is used up: the first such, with the seconds left in it.
    pub fn check<'a>(
        &self,
        limits: impl IntoIterator<Item = (&'a str, u32)>,
        now_unix: i64,
    ) -> Result<(), ApiError> {
        for (key, limit) in limits {
            if let Some(retry_after_secs) = self.blocked(key, limit, now_unix) {
                return Err(ApiError::RateLimited {
                    limit,
                    retry_after_secs,
                });
            }
        }
        Ok(())
    }

    /// `Some(seconds until the window ends)` if `key` has reached `limit`
    /// failures in the current window.
    fn blocked(&self, key: &str, limit: u32, now_unix: i64) -> Option<u64> {
        let window = now_unix.div_euclid(WINDOW_SECS);
        let windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        match windows.get(key) {
            Some(&(w, failures)) if w == window && failures >= limit => {
                Some(((window + 1) * WINDOW_SECS - now_unix) as u64)
            }
            _ => None,
        }
    }

    pub fn record_failure(&self, key: &str, now_unix: i64) {
        let window = now_unix.div_euclid(WINDOW_SECS);
        let mut windows = self.windows.lock().unwrap_or_else(|p| p.into_inner());
        if windows.len() >= SWEEP_AT {
            windows.retain(|_, (w, _)| *w == window);
        }
        let entry = windows.entry(key.to_owned()).or_insert((window, 0));
        if entry.0 != window {
            *entry = (window, 0);
        }
        entry.1 += 1;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_at_the_limit_until_the_window_ends() {
        let throttle = FailureThrottle::default();
        let start = 6_000; // the start of a window
        for i in 0..3 {
            assert_eq!(throttle.blocked("ip:a", 3, start + i), None);
            throttle.record_failure("ip:a", start + i);
        }
        assert_eq!(throttle.blocked("ip:a", 3, start + 10), Some(50));
        assert_eq!(
            throttle.blocked("ip:b", 3, start + 10),
            None,
            "keys are separate"
        );
        assert_eq!(
            throttle.blocked("ip:a", 3, start + 60),
            None,
            "a new window"
        );
    }

    #[test]
    fn memory_stays_bounded() {
        let throttle = FailureThrottle::default();
        for i in 0..SWEEP_AT + 5 {
            throttle.record_failure(&format!("ip:{i}"), if i < SWEEP_AT { 0 } else { 120 });
        }
        assert!(throttle.windows.lock().unwrap().len() <= 6);
    }
}
