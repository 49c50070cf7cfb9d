//! Sender-constrained tokens (DPoP, RFC 9449): a client proves, request by
//! request, that it holds the private key its token is bound to, so a
//! token that leaks is useless without that key.
//!
//! [`proof`] checks one proof statelessly; [`replay`] remembers the proofs
//! one process used (`crate::used_once` those all replicas used); [`nonce`] makes and checks server nonces; [`prover`] makes proofs
//! (a client's side). [`DpopGuard`] is keymint's own use of them: a proof
//! presented to keymint is checked, then (once its request's credential
//! checked out) taken, once, on every replica.

pub mod nonce;
pub mod proof;
pub mod prover;
pub mod replay;

pub use proof::{ALGORITHMS, Expected, ProofError, VerifiedProof};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;

use crate::db::{self, Pool, models};
use crate::error::ApiError;
use crate::used_once::Ledger;
use nonce::Nonces;
use replay::ReplayCache;

/// A proof as it came with a request to keymint's own API, not yet
/// checked: the authentication core checks it with the token it binds.
#[derive(Debug, Clone)]
pub struct PresentedProof {
    pub proof: String,
    pub method: String,
    pub url: String,
}

/// Proofs one process remembers at once: at most a window's worth
/// (2 × 60 s) of DPoP requests, about 4,000 a second, in some 20 MiB.
pub const REPLAY_CAPACITY: usize = 500_000;

/// The name of the nonce key among the secrets replicas share.
const NONCE_KEY: &str = "dpop_nonce_key";

/// keymint's checks of the proofs presented to it.
pub struct DpopGuard {
    seen: ReplayCache,
    nonces: Option<Nonces>,
    /// Replicas share a database (PostgreSQL): a proof is also taken there,
    /// so that it is accepted once across all of them.
    shared: bool,
}

impl DpopGuard {
    pub fn new(nonces: Option<Nonces>, shared: bool) -> Self {
        Self {
            seen: ReplayCache::new(REPLAY_CAPACITY),
            nonces,
            shared,
        }
    }

    /// The guard of a server: with nonces (`KEYMINT_DPOP_NONCE`) under the
    /// key every replica shares, made by the first to start. Blocking.
    pub fn for_server(pool: &Pool, with_nonces: bool) -> Result<Self, ApiError> {
        let shared = pool.target_is_postgres();
        if !with_nonces {
            return Ok(Self::new(None, shared));
        }
        let candidate = crate::secrets::random_bytes::<32>()
            .map_err(|_| ApiError::internal("system random failed"))?;
        let key = db::with_connection(pool, |conn| {
            Ok(models::server_secrets::shared_secret(
                conn,
                NONCE_KEY,
                &B64.encode(candidate),
            )?)
        })?;
        let key = B64
            .decode(key)
            .map_err(|_| ApiError::internal("the stored DPoP nonce key is not base64url"))?;
        Ok(Self::new(Some(Nonces::new(&key)), shared))
    }

    /// The nonce to hand out now, when nonces are on.
    pub fn nonce(&self, now: i64) -> Option<String> {
        self.nonces.as_ref().map(|nonces| nonces.current(now))
    }

    /// Checks a proof for the request it came with, and its nonce.
    pub fn verify(&self, proof: &str, expected: &Expected<'_>) -> Result<VerifiedProof, ApiError> {
        let verified = proof::verify(proof, expected)
            .map_err(|refused| ApiError::InvalidDpopProof(refused.to_string()))?;
        if let Some(nonces) = &self.nonces
            && !verified
                .nonce
                .as_deref()
                .is_some_and(|nonce| nonces.is_current(nonce, expected.now))
        {
            return Err(ApiError::UseDpopNonce {
                nonce: nonces.current(expected.now),
            });
        }
        Ok(verified)
    }

    /// Takes a checked proof: it is accepted this once, on every replica.
    pub async fn take(
        &self,
        shared: &Ledger,
        proof: &VerifiedProof,
        now: i64,
    ) -> Result<(), ApiError> {
        let replayed = || ApiError::InvalidDpopProof("it was used before".to_owned());
        let id = replay::proof_id(&proof.jkt, &proof.jti);
        // Acceptable until its iat leaves the window: remembered that long.
        let until = proof.iat.saturating_add(proof::IAT_WINDOW_SECS);
        match self.seen.first_use(id, until, now) {
            Ok(true) => {}
            Ok(false) => return Err(replayed()),
            Err(replay::Full) => {
                log::warn!("DPoP replay cache full: proofs refused until some expire");
                return Err(ApiError::InvalidDpopProof(
                    "keymint holds too many recent proofs; try again shortly".to_owned(),
                ));
            }
        }
        if self.shared && !shared.first_use(format!("{id:032x}"), until).await? {
            return Err(replayed());
        }
        Ok(())
    }
}
