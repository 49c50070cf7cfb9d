//! The signing keys of external issuers, fetched with the verifier
//! library's own cache (`verifier::jwks`): `max-age`, `ETag`, at most one
//! early refetch per 10 s for an unknown `kid`, 256 KiB at most, back-off
//! after failures. Each issuer has caches of its own, so one that is down
//! slows only its own exchanges, and only until its back-off starts.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Map, Value};

use crate::verifier::UNKNOWN_KID_REFETCH_INTERVAL;
use crate::verifier::jwks::{Document, DocumentCache, FetchError, http_client, is_safe_url};

/// Issuers (and JWKS URLs) whose documents are kept at once; past that the
/// caches start over, so policies naming ever new issuers cannot grow
/// memory without bound.
const MAX_CACHED: usize = 1_000;

/// An issuer's JWKS: its signature keys by `kid`, as JWK members.
#[derive(Default)]
pub struct IssuerKeys {
    keys: HashMap<String, Map<String, Value>>,
}

impl IssuerKeys {
    pub fn get(&self, kid: &str) -> Option<&Map<String, Value>> {
        self.keys.get(kid)
    }
}

impl Document for IssuerKeys {
    /// Members without a `kid`, or meant for encryption, are left out.
    fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Jwks {
            keys: Vec<Value>,
        }
        let jwks: Jwks = serde_json::from_slice(json)?;
        let keys = jwks
            .keys
            .into_iter()
            .filter_map(|member| match member {
                Value::Object(members) => Some(members),
                _ => None,
            })
            .filter(|members| members.get("use").is_none_or(|usage| usage == "sig"))
            .filter_map(|members| {
                let kid = members.get("kid")?.as_str()?.to_owned();
                Some((kid, members))
            })
            .collect();
        Ok(Self { keys })
    }
}

/// The part of an OpenID Provider's discovery document keymint reads.
#[derive(Default, Deserialize)]
pub struct Discovery {
    pub issuer: String,
    pub jwks_uri: String,
}

impl Document for Discovery {
    fn parse(json: &[u8]) -> Result<Self, serde_json::Error> {
        serde_json::from_slice(json)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum IssuerError {
    #[error("the issuer's keys are not served over HTTPS ({0})")]
    Insecure(String),
    #[error("the issuer's discovery document names another issuer")]
    DiscoveryMismatch,
    #[error("{0}")]
    Fetch(#[from] FetchError),
}

pub struct Issuers {
    client: reqwest::Client,
    discovery: Mutex<HashMap<String, Arc<DocumentCache<Discovery>>>>,
    jwks: Mutex<HashMap<String, Arc<DocumentCache<IssuerKeys>>>>,
}

impl Issuers {
    pub fn new() -> Result<Self, reqwest::Error> {
        // Short waits: an exchange waits for a first fetch.
        let client = http_client(Duration::from_secs(3), Duration::from_secs(5))?;
        Ok(Self {
            client,
            discovery: Mutex::default(),
            jwks: Mutex::default(),
        })
    }

    /// The JWKS of a policy's issuer: `jwks_uri` when the policy names it,
    /// else the one the issuer's discovery document names.
    pub async fn keys_of(
        &self,
        issuer: &str,
        jwks_uri: Option<&str>,
    ) -> Result<Arc<DocumentCache<IssuerKeys>>, IssuerError> {
        let jwks_uri = match jwks_uri {
            Some(uri) => uri.to_owned(),
            None => {
                let url = format!(
                    "{}/.well-known/openid-configuration",
                    issuer.trim_end_matches('/')
                );
                let discovery = cached(&self.discovery, &url, &self.client)?.keys().await?;
                if discovery.issuer.trim_end_matches('/') != issuer.trim_end_matches('/') {
                    return Err(IssuerError::DiscoveryMismatch);
                }
                discovery.jwks_uri.clone()
            }
        };
        cached(&self.jwks, &jwks_uri, &self.client)
    }
}

/// The cache of the document at `url`, made on first use.
fn cached<D: Document>(
    caches: &Mutex<HashMap<String, Arc<DocumentCache<D>>>>,
    url: &str,
    client: &reqwest::Client,
) -> Result<Arc<DocumentCache<D>>, IssuerError> {
    if !is_safe_url(url) {
        return Err(IssuerError::Insecure(url.to_owned()));
    }
    let mut caches = caches.lock().unwrap_or_else(PoisonError::into_inner);
    if let Some(cache) = caches.get(url) {
        return Ok(cache.clone());
    }
    if caches.len() >= MAX_CACHED {
        caches.clear();
    }
    let cache = Arc::new(DocumentCache::new(
        url.to_owned(),
        client.clone(),
        UNKNOWN_KID_REFETCH_INTERVAL,
    ));
    caches.insert(url.to_owned(), cache.clone());
    Ok(cache)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_jwks_keeps_signature_keys_with_a_kid() {
        let keys = IssuerKeys::parse(
            br#"{"keys": [
                {"kty": "RSA", "kid": "a", "n": "x", "e": "AQAB"},
                {"kty": "RSA", "kid": "b", "use": "sig", "n": "x", "e": "AQAB"},
                {"kty": "RSA", "kid": "c", "use": "enc", "n": "x", "e": "AQAB"},
                {"kty": "RSA", "n": "x", "e": "AQAB"},
                "not a key"
            ]}"#,
        )
        .unwrap();
        assert!(keys.get("a").is_some() && keys.get("b").is_some());
        assert!(keys.get("c").is_none(), "an encryption key");
        assert_eq!(keys.keys.len(), 2);
    }

    #[test]
    fn documents_come_over_https_or_from_loopback() {
        let issuers = Issuers::new().unwrap();
        let insecure = cached(&issuers.jwks, "http://issuer.example/jwks", &issuers.client);
        assert!(matches!(insecure, Err(IssuerError::Insecure(_))));
        assert!(
            cached(
                &issuers.jwks,
                "https://issuer.example/jwks",
                &issuers.client
            )
            .is_ok()
        );
        assert!(cached(&issuers.jwks, "http://127.0.0.1:1/jwks", &issuers.client).is_ok());
    }
}
