//! The JWKS as a verifier holds it (and any JSON document fetched the same
//! way: an issuer's OpenID discovery document): fetched over HTTPS (rustls with ring),
//! at most [`MAX_DOCUMENT_BYTES`] of it, kept as long as the response's
//! `Cache-Control: max-age` allows, revalidated with its `ETag`, and
//! refetched early for an unknown `kid` at most once per interval, so
//! forged kids cannot make a verifier hammer keymint. After a failed fetch
//! the next waits, longer after each failure in a row (up to
//! [`LONGEST_BACK_OFF`]), so a keymint that is down is not hammered either.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use reqwest::header::{self, HeaderMap};

use crate::tokens::verify::KeySet;

/// How long to cache when the response does not say.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(300);
/// Never trust a document longer than this, whatever it says.
pub const LONGEST_MAX_AGE: Duration = Duration::from_secs(24 * 3600);
/// Never fetch more often than this, even for `max-age=0`.
pub const SHORTEST_MAX_AGE: Duration = Duration::from_secs(1);
/// A JWKS larger than this is refused unread: keymint's is a few KiB.
pub const MAX_DOCUMENT_BYTES: usize = 256 * 1024;
/// The wait after a first failed fetch; it doubles with each failure in a
/// row, up to [`LONGEST_BACK_OFF`].
pub const FIRST_BACK_OFF: Duration = Duration::from_secs(1);
pub const LONGEST_BACK_OFF: Duration = Duration::from_secs(60);

/// Whether keys may be fetched from `url` without an explicit opt-in:
/// HTTPS, or HTTP to a loopback host (a sidecar, a test).
pub fn is_safe_url(url: &str) -> bool {
    let Ok(url) = reqwest::Url::parse(url) else {
        return false;
    };
    match (url.scheme(), url.host()) {
        ("https", Some(_)) => true,
        ("http", Some(url::Host::Domain(domain))) => domain.eq_ignore_ascii_case("localhost"),
        ("http", Some(url::Host::Ipv4(ip))) => ip.is_loopback(),
        ("http", Some(url::Host::Ipv6(ip))) => ip.is_loopback(),
        _ => false,
    }
}

/// A client for fetching keys: rustls with ring (installed as the process's
/// rustls provider if none is yet), bounded waits, and no redirects, which
/// could lead off HTTPS or off the host that was named.
pub fn http_client(connect: Duration, total: Duration) -> Result<reqwest::Client, reqwest::Error> {
    // Err only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .connect_timeout(connect)
        .timeout(total)
        .redirect(reqwest::redirect::Policy::none())
        .build()
}

#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    #[error("fetching the JWKS failed: {0}")]
    Http(#[from] reqwest::Error),
    #[error("the JWKS answered {0}")]
    Status(StatusCode),
    #[error("the JWKS is not a JWKS document: {0}")]
    Document(serde_json::Error),
    #[error("the JWKS is larger than {MAX_DOCUMENT_BYTES} bytes")]
    TooLarge,
    #[error("the last JWKS fetch failed; the next is not due yet")]
    BackingOff,
}

/// Counters, for tests and metrics.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct JwksStats {
    /// Requests sent for the JWKS, for any reason.
    pub fetches: u64,
    /// Of those, early ones for a kid the cached set lacked.
    pub unknown_kid_refetches: u64,
    /// Unknown kids that did not cause a fetch (one was too recent).
    pub unknown_kid_refetches_refused: u64,
}

/// When the last fetch was, and how the fetches have been failing.
#[derive(Default)]
struct Fetching {
    last: Option<Instant>,
    failures_in_a_row: u32,
    not_before: Option<Instant>,
}

/// What a [`DocumentCache`] holds: a document parsed from its JSON.
pub trait Document: Default + Send + Sync + 'static {
    fn parse(json: &[u8]) -> Result<Self, serde_json::Error>;
}

impl Document for KeySet {
    fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        KeySet::from_jwks_json(json)
    }
}

/// keymint's JWKS, as the verifier library holds it.
pub type JwksCache = DocumentCache<KeySet>;

struct Cached<D> {
    keys: Arc<D>,
    fresh_until: Instant,
    etag: Option<String>,
}

pub struct DocumentCache<D> {
    url: String,
    client: reqwest::Client,
    unknown_kid_interval: Duration,
    cached: RwLock<Option<Cached<D>>>,
    /// Held while fetching, so concurrent requests wait for one fetch
    /// instead of sending their own.
    fetching: tokio::sync::Mutex<Fetching>,
    fetches: AtomicU64,
    refetches: AtomicU64,
    refused: AtomicU64,
}

impl<D: Document> DocumentCache<D> {
    pub fn new(url: String, client: reqwest::Client, unknown_kid_interval: Duration) -> Self {
        Self {
            url,
            client,
            unknown_kid_interval,
            cached: RwLock::default(),
            fetching: tokio::sync::Mutex::default(),
            fetches: AtomicU64::default(),
            refetches: AtomicU64::default(),
            refused: AtomicU64::default(),
        }
    }

    pub fn stats(&self) -> JwksStats {
        JwksStats {
            fetches: self.fetches.load(Ordering::Relaxed),
            unknown_kid_refetches: self.refetches.load(Ordering::Relaxed),
            unknown_kid_refetches_refused: self.refused.load(Ordering::Relaxed),
        }
    }

    fn current(&self, fresh_only: bool) -> Option<Arc<D>> {
        let cached = self.cached.read().unwrap_or_else(|p| p.into_inner());
        cached
            .as_ref()
            .filter(|c| !fresh_only || Instant::now() < c.fresh_until)
            .map(|c| c.keys.clone())
    }

    /// The keys, fetched if the cached copy is stale or missing.
    pub async fn keys(&self) -> Result<Arc<D>, FetchError> {
        if let Some(keys) = self.current(true) {
            return Ok(keys);
        }
        let mut fetching = self.fetching.lock().await;
        // Another task may have fetched while this one waited.
        if let Some(keys) = self.current(true) {
            return Ok(keys);
        }
        if fetching.not_before.is_some_and(|at| Instant::now() < at) {
            return Err(FetchError::BackingOff);
        }
        self.fetch(&mut fetching).await
    }

    /// Called when `seen` lacks a token's kid: the keys again, fetched early
    /// unless a fetch happened within the interval. `None` when nothing
    /// newer than `seen` is available.
    pub async fn keys_for_unknown_kid(&self, seen: &Arc<D>) -> Option<Arc<D>> {
        let mut fetching = self.fetching.lock().await;
        if let Some(keys) = self.current(false).filter(|keys| !Arc::ptr_eq(keys, seen)) {
            return Some(keys);
        }
        let too_recent = fetching
            .last
            .is_some_and(|at| at.elapsed() < self.unknown_kid_interval);
        let backing_off = fetching.not_before.is_some_and(|at| Instant::now() < at);
        if too_recent || backing_off {
            self.refused.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.refetches.fetch_add(1, Ordering::Relaxed);
        let keys = self.fetch(&mut fetching).await.ok()?;
        (!Arc::ptr_eq(&keys, seen)).then_some(keys)
    }

    /// One request, made while holding `fetching`. When it fails, the next
    /// waits out a back-off; if an older copy exists, that copy is kept
    /// meanwhile (keys change rarely).
    async fn fetch(&self, fetching: &mut Fetching) -> Result<Arc<D>, FetchError> {
        let now = Instant::now();
        fetching.last = Some(now);
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let etag = self
            .cached
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .and_then(|c| c.etag.clone());
        let result = self.request(etag).await;
        if result.is_ok() {
            fetching.failures_in_a_row = 0;
            fetching.not_before = None;
        } else {
            let wait = FIRST_BACK_OFF
                .saturating_mul(2u32.saturating_pow(fetching.failures_in_a_row))
                .min(LONGEST_BACK_OFF);
            fetching.failures_in_a_row = fetching.failures_in_a_row.saturating_add(1);
            // From the failure, not the request: a fetch that timed out
            // must not have used up its own back-off.
            fetching.not_before = Some(Instant::now() + wait);
        }
        match result {
            Ok(update) => Ok(self.store(update)),
            Err(error) => {
                let mut cached = self.cached.write().unwrap_or_else(|p| p.into_inner());
                let Some(stale) = cached.as_mut() else {
                    return Err(error);
                };
                log::warn!("{error}; keeping the JWKS fetched earlier");
                stale.fresh_until = Instant::now() + self.unknown_kid_interval;
                Ok(stale.keys.clone())
            }
        }
    }

    async fn request(&self, etag: Option<String>) -> Result<Update<D>, FetchError> {
        let mut request = self
            .client
            .get(&self.url)
            .header(header::ACCEPT, "application/json");
        if let Some(etag) = etag {
            request = request.header(header::IF_NONE_MATCH, etag);
        }
        let response = request.send().await?;
        let fresh_for = freshness(response.headers());
        let etag = response
            .headers()
            .get(header::ETAG)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        match response.status() {
            StatusCode::NOT_MODIFIED => Ok(Update {
                keys: None,
                etag,
                fresh_for,
            }),
            StatusCode::OK => {
                let body = read_bounded(response).await?;
                let keys = D::parse(&body).map_err(FetchError::Document)?;
                Ok(Update {
                    keys: Some(Arc::new(keys)),
                    etag,
                    fresh_for,
                })
            }
            status => Err(FetchError::Status(status)),
        }
    }

    fn store(&self, update: Update<D>) -> Arc<D> {
        let mut cached = self.cached.write().unwrap_or_else(|p| p.into_inner());
        let fresh_until = Instant::now() + update.fresh_for;
        let keys = match (update.keys, cached.as_ref()) {
            (Some(keys), _) => keys,
            (None, Some(previous)) => previous.keys.clone(),
            // A 304 to a request that sent no ETag: nothing to keep.
            (None, None) => Arc::new(D::default()),
        };
        let etag = update
            .etag
            .or_else(|| cached.as_ref().and_then(|c| c.etag.clone()));
        *cached = Some(Cached {
            keys: keys.clone(),
            fresh_until,
            etag,
        });
        keys
    }
}

/// The body, refused once it passes [`MAX_DOCUMENT_BYTES`], whatever its
/// `Content-Length` claims.
async fn read_bounded(mut response: reqwest::Response) -> Result<Vec<u8>, FetchError> {
    if response
        .content_length()
        .is_some_and(|length| length > MAX_DOCUMENT_BYTES as u64)
    {
        return Err(FetchError::TooLarge);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > MAX_DOCUMENT_BYTES {
            return Err(FetchError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

struct Update<D> {
    /// `None` for 304 Not Modified.
    keys: Option<Arc<D>>,
    etag: Option<String>,
    fresh_for: Duration,
}

/// How long a response may be used (RFC 9111): `max-age` less `Age`;
/// `no-cache`/`no-store` mean now; bounded by the constants above.
pub fn freshness(headers: &HeaderMap) -> Duration {
    let directives: Vec<String> = headers
        .get_all(header::CACHE_CONTROL)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|d| d.trim().to_ascii_lowercase())
        .collect();
    let max_age = if directives
        .iter()
        .any(|d| d == "no-cache" || d == "no-store")
    {
        Some(0)
    } else {
        directives
            .iter()
            .find_map(|d| d.strip_prefix("max-age="))
            .and_then(|secs| secs.trim_matches('"').parse::<u64>().ok())
    };
    let Some(max_age) = max_age else {
        return DEFAULT_MAX_AGE;
    };
    let age = headers
        .get(header::AGE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok())
        .unwrap_or(0);
    Duration::from_secs(max_age.saturating_sub(age)).clamp(SHORTEST_MAX_AGE, LONGEST_MAX_AGE)
}

#[cfg(test)]
mod tests;
