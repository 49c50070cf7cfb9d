//! Whether the database answers, as the background check last found it.
//!
//! While the last check failed, a unit of work answers 503 at once instead
//! of waiting out the pool's checkout timeout: during an outage every
//! request would otherwise hold a thread for seconds, and the answers a
//! client needs ("unavailable, retry") would come late. Once a check
//! succeeds again, pooled connections are tested before use for a while:
//! those opened before the outage are dead, and each would otherwise fail
//! one request before the pool learns it.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long after an outage pooled connections are tested on checkout: long
/// enough for every idle connection to be handed out once.
pub const RECOVERY_WINDOW: Duration = Duration::from_secs(10);

pub struct Health {
    origin: Instant,
    down: AtomicBool,
    /// Nanoseconds after `origin` until which checkouts test connections.
    testing_until: AtomicU64,
}

impl Default for Health {
    fn default() -> Self {
        Self {
            origin: Instant::now(),
            down: AtomicBool::new(false),
            testing_until: AtomicU64::new(0),
        }
    }
}

impl Health {
    fn elapsed_nanos(&self) -> u64 {
        u64::try_from(self.origin.elapsed().as_nanos()).unwrap_or(u64::MAX)
    }

    /// A check could not reach the database.
    pub fn failed(&self) {
        self.down.store(true, Ordering::SeqCst);
    }

    /// A check reached the database: after an outage, connections are
    /// tested on checkout for [`RECOVERY_WINDOW`].
    pub fn answered(&self) {
        if self.down.swap(false, Ordering::SeqCst) {
            let window = u64::try_from(RECOVERY_WINDOW.as_nanos()).unwrap_or(u64::MAX);
            self.testing_until.store(
                self.elapsed_nanos().saturating_add(window),
                Ordering::SeqCst,
            );
        }
    }

    /// The last check failed: fail fast.
    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::SeqCst)
    }

    /// Whether a connection from the pool should be tested before use.
    pub fn testing_connections(&self) -> bool {
        self.elapsed_nanos() < self.testing_until.load(Ordering::SeqCst)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn down_from_a_failed_check_until_one_answers_then_testing_for_a_while() {
        let health = Health::default();
        assert!(!health.is_down() && !health.testing_connections());
        health.answered();
        assert!(!health.testing_connections(), "no outage, nothing to test");
        health.failed();
        assert!(health.is_down());
        health.answered();
        assert!(!health.is_down());
        assert!(
            health.testing_connections(),
            "connections from before the outage"
        );
    }
}
