//! What every handler shares: configuration, database pool, signing keys,
//! the usage buffer, the rate limiter and the metrics. Built once per
//! server, passed as `web::Data`.

use std::sync::Arc;

use crate::auth::cache::KeyCache;
use crate::config::Config;
use crate::db::Pool;
use crate::error::ApiError;
use crate::metrics::Metrics;
use crate::passwords::pool::HashPool;
use crate::ratelimit::RateLimiter;
use crate::signing::{SigningKey, SigningKeys};
use crate::throttle::FailureThrottle;
use crate::tokens::own::OwnKeys;
use crate::usage::UsageBuffer;

pub struct AppState {
    pub config: Config,
    /// `iss` of every token: configured, or derived from the bound address.
    pub issuer: String,
    pub pool: Pool,
    /// Keys by secret, for exchanges that need no database work.
    pub keys: KeyCache,
    pub signing: SigningKeys,
    pub usage: UsageBuffer,
    /// Failed logins (and exchanges) per IP and per target.
    pub failures: FailureThrottle,
    /// The threads that hash passwords, apart from the database's.
    pub hashing: HashPool,
    /// Request rate per key (and per user, for login tokens).
    pub limiter: RateLimiter,
    /// Where replicas share the limiter's and the throttle's state (none:
    /// one node, in memory).
    pub shared: Option<Arc<crate::shared::Shared>>,
    /// keymint's own published keys, for tokens presented back to it.
    pub own_keys: OwnKeys,
    /// The DPoP proofs presented to keymint: replay and nonces.
    pub dpop: crate::dpop::DpopGuard,
    /// The keys of the external issuers trust policies name.
    pub federation: crate::federation::Issuers,
    /// What every replica accepts once (DPoP proofs, federated tokens).
    pub used_once: crate::used_once::Ledger,
    /// This server's Prometheus registry (`GET /metrics`).
    pub metrics: Metrics,
}

impl AppState {
    /// The key that signs now; none is 503 `unavailable` (`/readyz` says so too).
    pub fn signer(&self) -> Result<Arc<SigningKey>, ApiError> {
        self.signing
            .signing_key(chrono::Utc::now())
            .ok_or(ApiError::NoSigningKey)
    }
}
