//! Signing keys: the folder they live in, their states over time, the key
//! that signs now and the JWKS that publishes them.

pub mod import;
pub mod key;
pub mod rotation;
pub mod store;

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use base64::Engine;
use chrono::{DateTime, Duration, Utc};

pub use key::{KeyError, SigningAlg, SigningKey};
pub use store::{KeyMetadata, KeyState, StoreError, StoredKey};

/// How long verifiers may cache the JWKS (its `Cache-Control: max-age`).
/// Rotation waits longer than this before a new key signs, so every
/// verifier has it in time.
pub const JWKS_MAX_AGE_SECS: u32 = 300;

/// How the folder's keys reach the world: how often a running server
/// re-reads it and how long verifiers may cache what it publishes. The
/// defaults are the contract's; tests shorten both to watch a rotation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct KeyTiming {
    /// The contract allows 10 s between a change and its effect.
    pub reload_period: std::time::Duration,
    pub jwks_max_age: std::time::Duration,
}

impl Default for KeyTiming {
    fn default() -> Self {
        Self {
            reload_period: std::time::Duration::from_secs(5),
            jwks_max_age: std::time::Duration::from_secs(u64::from(JWKS_MAX_AGE_SECS)),
        }
    }
}

/// The JWKS document as served, with its entity tag.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Jwks {
    pub body: String,
    pub etag: String,
}

/// The keys of one folder, reloadable while the server runs. Readers take a
/// cheap snapshot (`Arc`) and never block a reload for long.
pub struct SigningKeys {
    dir: PathBuf,
    /// How long a token may live: a retired key stays published that long.
    max_token_ttl: Duration,
    timing: KeyTiming,
    keys: RwLock<Arc<Vec<StoredKey>>>,
    /// The problems the last reload logged, so a broken file is reported
    /// when it appears, not every few seconds for as long as it stays.
    reported: Mutex<Vec<String>>,
}

impl SigningKeys {
    /// Loads the folder as it is, creating nothing.
    pub fn open(
        dir: &Path,
        max_token_ttl: Duration,
        timing: KeyTiming,
    ) -> Result<Self, StoreError> {
        let keys = Self {
            dir: dir.to_owned(),
            max_token_ttl,
            timing,
            keys: RwLock::default(),
            reported: Mutex::default(),
        };
        keys.reload()?;
        Ok(keys)
    }

    /// Loads the folder; if no key there can sign now or later, creates one of
    /// `alg` that is active at once (a first start, or every key retired).
    pub fn open_or_create(
        dir: &Path,
        alg: SigningAlg,
        max_token_ttl: Duration,
        timing: KeyTiming,
    ) -> Result<Self, StoreError> {
        std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
            path: dir.to_owned(),
            source,
        })?;
        let keys = Self::open(dir, max_token_ttl, timing)?;
        let now = Utc::now();
        let usable = keys.snapshot().iter().any(|k| {
            matches!(
                k.state(now, max_token_ttl),
                KeyState::Next | KeyState::Active
            )
        });
        if !usable {
            let created = store::create_key(dir, alg, now, now)?;
            log::info!(
                "created signing key {} ({alg}) in {}",
                created.key.kid(),
                dir.display()
            );
            keys.reload()?;
        }
        Ok(keys)
    }

    /// Re-reads the folder, so added, rotated or retired keys take effect
    /// without a restart. Broken files are logged (once) and skipped.
    pub fn reload(&self) -> Result<(), StoreError> {
        let loaded = store::load_dir(&self.dir)?;
        self.report(&loaded.problems);
        *self
            .keys
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner()) = Arc::new(loaded.keys);
        Ok(())
    }

    fn report(&self, problems: &[StoreError]) {
        let messages: Vec<String> = problems.iter().map(ToString::to_string).collect();
        let mut reported = self
            .reported
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        for message in messages.iter().filter(|m| !reported.contains(m)) {
            log::error!("skipping signing key: {message}");
        }
        *reported = messages;
    }

    pub fn timing(&self) -> KeyTiming {
        self.timing
    }

    pub fn snapshot(&self) -> Arc<Vec<StoredKey>> {
        self.keys
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .clone()
    }

    pub fn state_of(&self, key: &StoredKey, now: DateTime<Utc>) -> KeyState {
        key.state(now, self.max_token_ttl)
    }

    /// The keys published at `now` (every state but removed), in the
    /// folder's order: what the JWKS lists and what verifies keymint's own
    /// tokens.
    pub fn published(&self, now: DateTime<Utc>) -> Vec<Arc<SigningKey>> {
        self.snapshot()
            .iter()
            .filter(|k| self.state_of(k, now) != KeyState::Removed)
            .map(|k| k.key.clone())
            .collect()
    }

    /// The key that signs at `now`: the most recently activated active key.
    pub fn signing_key(&self, now: DateTime<Utc>) -> Option<Arc<SigningKey>> {
        self.snapshot()
            .iter()
            .filter(|k| self.state_of(k, now) == KeyState::Active)
            .max_by_key(|k| k.metadata.activate_at)
            .map(|k| k.key.clone())
    }

    /// The public keys verifiers need at `now`: next, active and retired.
    pub fn jwks(&self, now: DateTime<Utc>) -> Jwks {
        let published = self.published(now);
        let published: Vec<&serde_json::Value> = published.iter().map(|k| k.jwk()).collect();
        let body = serde_json::json!({ "keys": published }).to_string();
        let digest = ring::digest::digest(&ring::digest::SHA256, body.as_bytes());
        let etag = format!(
            "\"{}\"",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&digest.as_ref()[..16])
        );
        Jwks { body, etag }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_folder_gets_one_active_key_and_a_second_open_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::seconds(3600);
        let keys =
            SigningKeys::open_or_create(dir.path(), SigningAlg::ES256, ttl, KeyTiming::default())
                .unwrap();
        let kid = keys.signing_key(Utc::now()).unwrap().kid().to_owned();
        let again =
            SigningKeys::open_or_create(dir.path(), SigningAlg::ES256, ttl, KeyTiming::default())
                .unwrap();
        assert_eq!(again.snapshot().len(), 1);
        assert_eq!(again.signing_key(Utc::now()).unwrap().kid(), kid);
        let jwks: serde_json::Value = serde_json::from_str(&keys.jwks(Utc::now()).body).unwrap();
        assert_eq!(jwks["keys"][0]["kid"], kid.as_str());
    }

    #[test]
    fn the_newest_active_key_signs_and_retired_keys_stay_published() {
        let dir = tempfile::tempdir().unwrap();
        let ttl = Duration::seconds(60);
        let t0 = Utc::now();
        let old = store::create_key(dir.path(), SigningAlg::ES256, t0, t0).unwrap();
        let new = store::create_key(
            dir.path(),
            SigningAlg::EdDSA,
            t0,
            t0 + Duration::seconds(30),
        )
        .unwrap();
        let mut retiring = old.metadata.clone();
        retiring.retire_at = Some(t0 + Duration::seconds(40));
        store::write_metadata(dir.path(), &retiring).unwrap();
        let keys =
            SigningKeys::open_or_create(dir.path(), SigningAlg::ES256, ttl, KeyTiming::default())
                .unwrap();

        let signer_at = |s: i64| {
            keys.signing_key(t0 + Duration::seconds(s))
                .map(|k| k.kid().to_owned())
        };
        assert_eq!(signer_at(0).as_deref(), Some(old.key.kid()));
        assert_eq!(signer_at(30).as_deref(), Some(new.key.kid()));
        let published_at = |s: i64| keys.jwks(t0 + Duration::seconds(s)).body;
        assert!(
            published_at(0).contains(new.key.kid()),
            "a next key is published"
        );
        assert!(
            published_at(40 + 119).contains(old.key.kid()),
            "retired, tokens may live"
        );
        assert!(
            !published_at(40 + 120).contains(old.key.kid()),
            "removed after ttl + 60 s"
        );
        assert_ne!(
            keys.jwks(t0).etag,
            keys.jwks(t0 + Duration::seconds(160)).etag
        );
    }
}
