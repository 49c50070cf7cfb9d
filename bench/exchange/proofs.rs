//! DPoP proofs for the DPoP rows, made before a run so the load generator
//! spends no signature of its own while it measures: one client key, a
//! fresh `jti` per proof, all proving `POST <issuer>/auth/token`.

use std::sync::atomic::{AtomicUsize, Ordering};

use keymint::dpop::prover::ProofKey;
use keymint::signing::SigningAlg;

/// The issuer the benchmark's servers are started with: proofs name its
/// token endpoint.
pub const ISSUER: &str = "http://bench";

/// Proofs handed out once each, in order, to every connection of a run.
pub struct ProofPool {
    proofs: Vec<String>,
    next: AtomicUsize,
}

impl ProofPool {
    /// `count` proofs, made on every core (about 30 µs each here).
    pub fn make(count: usize) -> Self {
        let key = ProofKey::generate(SigningAlg::ES256).expect("proof key");
        let url = format!("{ISSUER}/auth/token");
        let iat = chrono::Utc::now().timestamp();
        let threads = std::thread::available_parallelism().map_or(1, usize::from);
        let share = count.div_ceil(threads);
        let proofs = std::thread::scope(|scope| {
            let workers: Vec<_> = (0..threads)
                .map(|_| {
                    scope.spawn(|| {
                        (0..share)
                            .map(|_| key.proof("POST", &url, None, None, iat).expect("proof"))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().expect("proof maker"))
                .collect()
        });
        Self {
            proofs,
            next: AtomicUsize::new(0),
        }
    }

    /// The next unused proof; `None` once all are spent.
    pub fn take(&self) -> Option<&str> {
        let index = self.next.fetch_add(1, Ordering::Relaxed);
        self.proofs.get(index).map(String::as_str)
    }
}
