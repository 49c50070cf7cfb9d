//! Credentials that are good once (DPoP proofs, workloads' tokens), made
//! before a run so the load generator spends no signature of its own while
//! it measures, and handed out once each.

use std::sync::atomic::{AtomicUsize, Ordering};

use keymint::dpop::prover::ProofKey;
use keymint::signing::SigningAlg;

/// The issuer the benchmark's servers are started with: proofs name its
/// token endpoint.
pub const ISSUER: &str = "http://bench";

/// Strings handed out once each, in order, to every connection of a run.
pub struct OncePool {
    items: Vec<String>,
    next: AtomicUsize,
}

impl OncePool {
    /// `count` items made by `make` on every core.
    pub fn make(count: usize, make: impl Fn() -> String + Sync) -> Self {
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let share = count.div_ceil(threads);
        let items = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| scope.spawn(|| (0..share).map(|_| make()).collect::<Vec<_>>()))
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("maker"))
                .collect()
        });
        Self {
            items,
            next: AtomicUsize::new(0),
        }
    }

    /// `count` DPoP proofs of one client key, each with a fresh `jti`, all
    /// proving `POST <issuer>/auth/token` (about 30 µs each here).
    pub fn proofs(count: usize) -> Self {
        let key = ProofKey::generate(SigningAlg::ES256).expect("proof key");
        let url = format!("{ISSUER}/auth/token");
        let iat = chrono::Utc::now().timestamp();
        Self::make(count, || {
            key.proof("POST", &url, None, None, iat).expect("proof")
        })
    }

    /// The next unused item; `None` once all are spent.
    pub fn take(&self) -> Option<&str> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        self.items.get(index).map(String::as_str)
    }
}
