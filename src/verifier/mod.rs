//! A verifier for downstream Rust services: checks keymint access tokens
//! offline against keymint's published JWKS, and an actix-web extractor
//! ([`Verified`]) that hands handlers typed [`AccessClaims`].
//!
//! ```no_run
//! # async fn demo(token: &str) -> Result<(), Box<dyn std::error::Error>> {
//! let verifier = keymint::verifier::Verifier::builder("https://auth.example.com")
//!     .audience("https://api.example.com")
//!     .build()?;
//! let claims = verifier.verify(token).await?;
//! println!("{} acting for workspace {}", claims.registered.sub, claims.ws);
//! # Ok(()) }
//! ```
//!
//! The rules are those of [`crate::tokens::verify`]; this module adds where
//! the keys come from (see [`jwks`]) and DPoP-bound tokens (see [`bound`]):
//! [`Verifier::verify`] refuses a bound token, which
//! [`Verifier::verify_presented`] takes with a proof of its key.

pub mod bound;
mod extract;
pub mod jwks;

use std::sync::Arc;
use std::time::Duration;

pub use bound::{DpopError, Presented};
pub use extract::{Rejection, Verified};
pub use jwks::{FetchError, JwksStats};

use crate::dpop::replay::ReplayCache;
use crate::signing::SigningAlg;
use crate::tokens::AccessClaims;
use crate::tokens::verify::{self, Expectations, VerifyError};

/// Unknown kids cause at most one early JWKS fetch per this interval.
pub const UNKNOWN_KID_REFETCH_INTERVAL: Duration = Duration::from_secs(10);

/// Why a verifier could not be built.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    #[error("the HTTP client could not be built: {0}")]
    Client(#[from] reqwest::Error),
    /// Keys fetched over plain HTTP could be swapped by anyone on the path.
    #[error(
        "the JWKS URL {0:?} is not HTTPS on a host other than loopback (allow it explicitly with allow_insecure_http)"
    )]
    InsecureUrl(String),
}

#[derive(Debug, thiserror::Error)]
pub enum VerifierError {
    /// The token is not acceptable: a 401 for the caller.
    #[error(transparent)]
    Token(#[from] VerifyError),
    /// The keys could not be had: the verifier cannot tell, a 503.
    #[error(transparent)]
    Keys(#[from] FetchError),
    /// The token's DPoP binding did not hold: a 401 with a DPoP challenge.
    #[error(transparent)]
    Dpop(#[from] DpopError),
}

/// Verifies keymint tokens for one issuer and audience. Cheap to clone;
/// clones share one JWKS cache.
#[derive(Clone)]
pub struct Verifier {
    expected: Arc<Expectations>,
    jwks: Arc<jwks::JwksCache>,
    /// DPoP proofs taken, each accepted once.
    seen_proofs: Arc<ReplayCache>,
    public_url: Option<Arc<str>>,
}

impl Verifier {
    /// A verifier for tokens of `issuer` (keymint's `KEYMINT_ISSUER`). By
    /// default the JWKS is `<issuer>/.well-known/jwks.json` and the expected
    /// audience is the issuer itself (keymint's default `aud`).
    pub fn builder(issuer: impl Into<String>) -> VerifierBuilder {
        let issuer = issuer.into().trim_end_matches('/').to_owned();
        VerifierBuilder {
            jwks_url: format!("{issuer}/.well-known/jwks.json"),
            expected: Expectations::new(issuer.clone(), issuer),
            unknown_kid_interval: UNKNOWN_KID_REFETCH_INTERVAL,
            client: None,
            allow_insecure_http: false,
            replay_capacity: bound::DEFAULT_REPLAY_CAPACITY,
            public_url: None,
        }
    }

    /// The claims of a token presented as Bearer, or why it is refused. A
    /// DPoP-bound token is refused: it needs its proof
    /// ([`verify_presented`](Self::verify_presented)).
    pub async fn verify(&self, token: &str) -> Result<AccessClaims, VerifierError> {
        let bearer = Presented {
            proof: None,
            method: "",
            url: "",
        };
        self.verify_presented(token, &bearer).await
    }

    /// The claims of a token as it was presented: as Bearer, or as DPoP
    /// with its proof of the request (`method`, `url`). A bound token is
    /// taken only with a fresh proof of its key, each proof once; an
    /// unbound one only as Bearer.
    pub async fn verify_presented(
        &self,
        token: &str,
        presented: &Presented<'_>,
    ) -> Result<AccessClaims, VerifierError> {
        let claims = self.verify_signed(token).await?;
        bound::check(&self.seen_proofs, &claims, token, presented, now())?;
        Ok(claims)
    }

    /// The claims of a valid token, bound or not, with no proof checked:
    /// for looking at a token (`keymint token verify`), never for letting
    /// a request in.
    pub async fn inspect(&self, token: &str) -> Result<AccessClaims, VerifierError> {
        self.verify_signed(token).await
    }

    async fn verify_signed(&self, token: &str) -> Result<AccessClaims, VerifierError> {
        let keys = self.jwks.keys().await?;
        match verify::verify(token, &keys, &self.expected, now()) {
            Err(VerifyError::UnknownKey(kid)) => {
                // A key published after the cached copy was fetched (or a
                // forged kid: the cache decides whether to ask again).
                let Some(newer) = self.jwks.keys_for_unknown_kid(&keys).await else {
                    return Err(VerifyError::UnknownKey(kid).into());
                };
                Ok(verify::verify(token, &newer, &self.expected, now())?)
            }
            verified => Ok(verified?),
        }
    }

    /// The public base URL set with [`VerifierBuilder::public_url`].
    pub fn public_url(&self) -> Option<&str> {
        self.public_url.as_deref()
    }

    pub fn stats(&self) -> JwksStats {
        self.jwks.stats()
    }
}

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

pub struct VerifierBuilder {
    jwks_url: String,
    expected: Expectations,
    unknown_kid_interval: Duration,
    client: Option<reqwest::Client>,
    allow_insecure_http: bool,
    replay_capacity: usize,
    public_url: Option<String>,
}

impl VerifierBuilder {
    /// The service's public base URL (`https://api.example.com`): what
    /// clients address, so what their DPoP proofs name, when a proxy
    /// stands in front. The actix extractor adds the request's path.
    pub fn public_url(mut self, url: impl Into<String>) -> Self {
        self.public_url = Some(url.into());
        self
    }

    /// How many DPoP proofs to remember at once (default 100,000): about
    /// two minutes' worth of requests with proofs. Past it, new proofs are
    /// refused until old ones expire, rather than old ones forgotten.
    pub fn dpop_replay_capacity(mut self, capacity: usize) -> Self {
        self.replay_capacity = capacity;
        self
    }

    /// Fetch the JWKS over plain HTTP from any host. Without this, only
    /// HTTPS, or HTTP to a loopback host, is accepted.
    pub fn allow_insecure_http(mut self) -> Self {
        self.allow_insecure_http = true;
        self
    }

    /// The `aud` tokens must carry (the `audience` clients ask for).
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.expected.audience = crate::tokens::verify::Audiences::OneOf(vec![audience.into()]);
        self
    }

    /// Where the JWKS is, if not under the issuer.
    pub fn jwks_url(mut self, url: impl Into<String>) -> Self {
        self.jwks_url = url.into();
        self
    }

    /// Accept only these algorithms (default: ES256, EdDSA, RS256).
    pub fn algorithms(mut self, algorithms: &[SigningAlg]) -> Self {
        self.expected.algorithms = algorithms.to_vec();
        self
    }

    /// Clock difference forgiven on `exp`/`nbf`; more than 60 s counts as 60.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.expected.leeway_secs = leeway.as_secs().min(verify::MAX_LEEWAY_SECS);
        self
    }

    /// How often an unknown kid may cause an early fetch (default 10 s).
    pub fn unknown_kid_refetch_interval(mut self, interval: Duration) -> Self {
        self.unknown_kid_interval = interval;
        self
    }

    /// Fetch with this client (a proxy, extra roots). It must not enable
    /// aws-lc-rs or OpenSSL if the service is to stay ring-only.
    pub fn http_client(mut self, client: reqwest::Client) -> Self {
        self.client = Some(client);
        self
    }

    /// Without a client of its own, the verifier builds one on rustls (see
    /// [`jwks::http_client`]): ring as the process's rustls provider if
    /// none is installed yet, no redirects. It also installs keymint's ring provider for jsonwebtoken.
    /// The JWKS URL must be HTTPS, or HTTP to a loopback host, unless
    /// [`allow_insecure_http`](Self::allow_insecure_http) was called.
    pub fn build(self) -> Result<Verifier, BuildError> {
        if !self.allow_insecure_http && !jwks::is_safe_url(&self.jwks_url) {
            return Err(BuildError::InsecureUrl(self.jwks_url));
        }
        crate::tokens::provider::install();
        let client = match self.client {
            Some(client) => client,
            None => jwks::http_client(Duration::from_secs(5), Duration::from_secs(10))?,
        };
        Ok(Verifier {
            expected: Arc::new(self.expected),
            jwks: Arc::new(jwks::JwksCache::new(
                self.jwks_url,
                client,
                self.unknown_kid_interval,
            )),
            seen_proofs: Arc::new(ReplayCache::new(self.replay_capacity)),
            public_url: self.public_url.map(Into::into),
        })
    }
}
