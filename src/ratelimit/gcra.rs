//! The arithmetic of one bucket: a GCRA, the "leaky bucket as a meter",
//! over a theoretical arrival time (`tat`) in unix microseconds. The same
//! arithmetic runs in the shared store (`db::models::shared_limits`, the
//! Redis scripts), so a bucket means the same everywhere.

use super::RateStatus;

const MICROS_PER_SEC: u64 = 1_000_000;
/// Past a million per second an interval would round to nothing.
const MAX_LIMIT: u32 = 1_000_000;

/// A limit of `limit` requests per second: `limit` at once from a full
/// bucket, then one every `interval`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub limit: u32,
    /// Microseconds between requests at the limit.
    pub interval: u64,
    /// A full bucket's worth of arrival time: `interval x limit`.
    pub window: u64,
}

impl Rate {
    pub fn per_second(limit: u32) -> Self {
        let limit = limit.clamp(1, MAX_LIMIT);
        let interval = MICROS_PER_SEC / u64::from(limit);
        Self {
            limit,
            interval,
            window: interval * u64::from(limit),
        }
    }

    /// One request at `now` on a bucket at `tat`: the bucket's new `tat`
    /// and the answer when it passes, or the answer when it is refused
    /// (and the bucket stays as it was).
    pub fn admit(&self, tat: u64, now: u64) -> Result<(u64, RateStatus), RateStatus> {
        let tat = tat.max(now);
        let next = tat + self.interval;
        if next - now > self.window {
            return Err(self.refused(tat, now));
        }
        Ok((next, self.passed(next, now)))
    }

    /// The answer to a request that passed and left the bucket at `tat`.
    pub fn passed(&self, tat: u64, now: u64) -> RateStatus {
        let used = tat.saturating_sub(now).min(self.window);
        RateStatus {
            limit: self.limit,
            remaining: u32::try_from((self.window - used) / self.interval).unwrap_or(u32::MAX),
            reset_unix: tat.div_ceil(MICROS_PER_SEC),
            retry_after_secs: None,
        }
    }

    /// The answer to a request refused on a bucket at `tat`: retry once a
    /// slot has leaked away.
    pub fn refused(&self, tat: u64, now: u64) -> RateStatus {
        let tat = tat.max(now);
        let free_at = (tat + self.interval).saturating_sub(self.window);
        RateStatus {
            limit: self.limit,
            remaining: 0,
            reset_unix: tat.div_ceil(MICROS_PER_SEC),
            retry_after_secs: Some(free_at.saturating_sub(now).div_ceil(MICROS_PER_SEC).max(1)),
        }
    }

    /// Requests a bucket at `tat` would still let through at `now`.
    pub fn remaining(&self, tat: u64, now: u64) -> u64 {
        (self.window - tat.saturating_sub(now).min(self.window)) / self.interval
    }

    /// What a replica may still admit on its own from its view of a shared
    /// bucket: the store decides the rest. Half the limit, so that a burst
    /// on a full bucket spread over N replicas overshoots by at most half a
    /// bucket per other replica, once, and never once a bucket is near
    /// empty, which is when limits bite.
    pub fn local_margin(&self) -> u64 {
        u64::from(self.limit / 2).max(1)
    }
}

/// Now, in unix microseconds.
pub fn now_us() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_micros()).unwrap_or(u64::MAX))
}
