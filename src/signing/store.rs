//! The `keys/` folder: one `<kid>.pem` (PKCS#8, mode 0600) and one
//! `<kid>.json` (algorithm and schedule) per signing key.
//!
//! A key's state is never stored: every replica derives it from the key's
//! times and its own clock, so replicas sharing the folder agree without
//! talking to each other.

use std::fs;
use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use chrono::{DateTime, Duration, Utc};
use serde::{Deserialize, Serialize};

use super::key::{KeyError, SigningAlg, SigningKey};

const PEM_TAG: &str = "PRIVATE KEY";

/// Where a key is in its life at a given instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum KeyState {
    /// Published, not yet signing: verifiers learn it before it is used.
    Next,
    /// Signs new tokens (the newest active key does).
    Active,
    /// No longer signs; published until every token it signed has expired.
    Retired,
    /// Out of the JWKS.
    Removed,
}

/// The schedule stored beside each private key.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct KeyMetadata {
    pub kid: String,
    pub alg: SigningAlg,
    pub created_at: DateTime<Utc>,
    pub activate_at: DateTime<Utc>,
    pub retire_at: Option<DateTime<Utc>>,
}

#[derive(Debug)]
pub struct StoredKey {
    pub metadata: KeyMetadata,
    pub key: Arc<SigningKey>,
}

/// How long a retired key stays published after the last token it signed
/// may have expired (clock skew, slow verifiers).
pub const UNPUBLISH_MARGIN_SECS: i64 = 60;

impl KeyMetadata {
    /// The state at `now`, given how long the tokens it signed may live.
    pub fn state(&self, now: DateTime<Utc>, max_token_ttl: Duration) -> KeyState {
        // Retirement comes first: a key superseded before it activated
        // (a second rotation) never signs.
        match self.retire_at {
            Some(retire_at) if now >= retire_at => {
                if self
                    .unpublish_at(max_token_ttl)
                    .is_some_and(|unpublish_at| now >= unpublish_at)
                {
                    KeyState::Removed
                } else {
                    KeyState::Retired
                }
            }
            _ if now < self.activate_at => KeyState::Next,
            _ => KeyState::Active,
        }
    }

    /// When the key leaves the JWKS: once every token it signed has expired,
    /// plus a margin.
    pub fn unpublish_at(&self, max_token_ttl: Duration) -> Option<DateTime<Utc>> {
        self.retire_at
            .map(|retire_at| retire_at + max_token_ttl + Duration::seconds(UNPUBLISH_MARGIN_SECS))
    }
}

impl StoredKey {
    pub fn state(&self, now: DateTime<Utc>, max_token_ttl: Duration) -> KeyState {
        self.metadata.state(now, max_token_ttl)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("keys folder {path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("key {path}: {reason}")]
    Invalid { path: PathBuf, reason: String },
    #[error(transparent)]
    Key(#[from] KeyError),
    #[error("key {0} is already in the folder")]
    Exists(String),
}

fn io_error(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

/// What one read of the folder found.
#[derive(Debug, Default)]
pub struct Loaded {
    /// The keys that parsed, oldest activation first.
    pub keys: Vec<StoredKey>,
    /// Why the others were skipped.
    pub problems: Vec<StoreError>,
}

/// Reads every key in `dir`. A broken key is skipped and reported in
/// `problems`, so one bad file never stops signing with the good ones.
pub fn load_dir(dir: &Path) -> Result<Loaded, StoreError> {
    let mut loaded = Loaded::default();
    for entry in fs::read_dir(dir).map_err(io_error(dir))? {
        let path = entry.map_err(io_error(dir))?.path();
        if path.extension().is_some_and(|ext| ext == "json") {
            match load_key(&path) {
                Ok(key) => loaded.keys.push(key),
                Err(error) => loaded.problems.push(error),
            }
        }
    }
    loaded.keys.sort_by_key(|key| key.metadata.activate_at);
    Ok(loaded)
}

fn load_key(metadata_path: &Path) -> Result<StoredKey, StoreError> {
    let invalid = |reason: String| StoreError::Invalid {
        path: metadata_path.to_owned(),
        reason,
    };
    let metadata: KeyMetadata =
        serde_json::from_slice(&fs::read(metadata_path).map_err(io_error(metadata_path))?)
            .map_err(|e| invalid(format!("metadata: {e}")))?;
    let pem_path = metadata_path.with_extension("pem");
    let pem = pem::parse(fs::read(&pem_path).map_err(io_error(&pem_path))?)
        .map_err(|e| invalid(format!("PEM: {e}")))?;
    if pem.tag() != PEM_TAG {
        return Err(invalid(format!(
            "expected a PKCS#8 {PEM_TAG:?}, found {:?}",
            pem.tag()
        )));
    }
    let key = SigningKey::from_pkcs8(metadata.alg, pem.contents())?;
    if key.kid() != metadata.kid {
        return Err(invalid(format!(
            "kid {} does not match the key's thumbprint",
            metadata.kid
        )));
    }
    Ok(StoredKey {
        metadata,
        key: Arc::new(key),
    })
}

/// Generates a key of `alg` in `dir` that activates at `activate_at`.
pub fn create_key(
    dir: &Path,
    alg: SigningAlg,
    now: DateTime<Utc>,
    activate_at: DateTime<Utc>,
) -> Result<StoredKey, StoreError> {
    add_key(
        dir,
        alg,
        &SigningKey::generate_pkcs8(alg)?,
        now,
        activate_at,
    )
}

/// Stores the PKCS#8 key `pkcs8` in `dir`, activating at `activate_at`. The
/// private key is written (0600) before the metadata that makes it visible,
/// each through a temporary file and a rename, so a reader never sees half a
/// key. A kid already in the folder is refused: its schedule is not replaced.
pub fn add_key(
    dir: &Path,
    alg: SigningAlg,
    pkcs8: &[u8],
    now: DateTime<Utc>,
    activate_at: DateTime<Utc>,
) -> Result<StoredKey, StoreError> {
    fs::create_dir_all(dir).map_err(io_error(dir))?;
    let key = SigningKey::from_pkcs8(alg, pkcs8)?;
    if metadata_path(dir, key.kid()).exists() {
        return Err(StoreError::Exists(key.kid().to_owned()));
    }
    let metadata = KeyMetadata {
        kid: key.kid().to_owned(),
        alg,
        created_at: now,
        activate_at,
        retire_at: None,
    };
    let pem = pem::encode(&pem::Pem::new(PEM_TAG, pkcs8.to_vec()));
    write_atomically(
        &dir.join(format!("{}.pem", key.kid())),
        pem.as_bytes(),
        0o600,
    )?;
    write_metadata(dir, &metadata)?;
    Ok(StoredKey {
        metadata,
        key: Arc::new(key),
    })
}

fn metadata_path(dir: &Path, kid: &str) -> PathBuf {
    dir.join(format!("{kid}.json"))
}

pub fn write_metadata(dir: &Path, metadata: &KeyMetadata) -> Result<(), StoreError> {
    let json = serde_json::to_vec_pretty(metadata).expect("metadata serialises");
    write_atomically(&metadata_path(dir, &metadata.kid), &json, 0o644)
}

fn write_atomically(path: &Path, contents: &[u8], mode: u32) -> Result<(), StoreError> {
    let temporary = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .open(&temporary)
        .map_err(io_error(&temporary))?;
    file.write_all(contents)
        .and_then(|()| file.sync_all())
        .map_err(io_error(&temporary))?;
    fs::rename(&temporary, path).map_err(io_error(path))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn states_follow_the_clock() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc::now();
        let mut key = create_key(
            dir.path(),
            SigningAlg::ES256,
            t0,
            t0 + Duration::seconds(10),
        )
        .unwrap();
        let ttl = Duration::seconds(3600);
        assert_eq!(key.state(t0, ttl), KeyState::Next);
        assert_eq!(key.state(t0 + Duration::seconds(10), ttl), KeyState::Active);
        key.metadata.retire_at = Some(t0 + Duration::seconds(100));
        assert_eq!(key.state(t0 + Duration::seconds(99), ttl), KeyState::Active);
        assert_eq!(
            key.state(t0 + Duration::seconds(100), ttl),
            KeyState::Retired
        );
        assert_eq!(
            key.state(t0 + Duration::seconds(100 + 3659), ttl),
            KeyState::Retired
        );
        assert_eq!(
            key.state(t0 + Duration::seconds(100 + 3660), ttl),
            KeyState::Removed
        );
        // Superseded before it activated: retired, never active.
        key.metadata.retire_at = Some(t0 + Duration::seconds(5));
        assert_eq!(key.state(t0, ttl), KeyState::Next);
        assert_eq!(key.state(t0 + Duration::seconds(5), ttl), KeyState::Retired);
        assert_eq!(
            key.state(t0 + Duration::seconds(10), ttl),
            KeyState::Retired
        );
    }

    #[test]
    fn created_keys_load_back_and_the_private_file_is_private() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let created = create_key(dir.path(), SigningAlg::EdDSA, now, now).unwrap();
        let pem_path = dir.path().join(format!("{}.pem", created.key.kid()));
        assert_eq!(
            fs::metadata(&pem_path).unwrap().permissions().mode() & 0o777,
            0o600
        );
        let loaded = load_dir(dir.path()).unwrap().keys;
        assert_eq!(loaded.len(), 1);
        // Debug output (what a log line or a panic would show) holds no
        // private material.
        let private_body = fs::read_to_string(&pem_path)
            .unwrap()
            .lines()
            .nth(1)
            .unwrap()
            .to_owned();
        let shown = format!("{loaded:?}");
        assert!(shown.contains(created.key.kid()));
        assert!(!shown.contains(&private_body[..20]), "{shown}");
        assert_eq!(loaded[0].key.kid(), created.key.kid());
        assert_eq!(loaded[0].metadata.alg, SigningAlg::EdDSA);
        let pkcs8 = pem::parse(fs::read(&pem_path).unwrap()).unwrap();
        assert!(matches!(
            add_key(dir.path(), SigningAlg::EdDSA, pkcs8.contents(), now, now),
            Err(StoreError::Exists(kid)) if kid == created.key.kid()
        ));
    }

    #[test]
    fn a_broken_key_is_skipped_and_the_good_one_kept() {
        let dir = tempfile::tempdir().unwrap();
        let now = Utc::now();
        let good = create_key(dir.path(), SigningAlg::ES256, now, now).unwrap();
        fs::write(dir.path().join("broken.json"), b"{not json").unwrap();
        let bad = create_key(dir.path(), SigningAlg::ES256, now, now).unwrap();
        fs::write(
            dir.path().join(format!("{}.pem", bad.key.kid())),
            b"garbage",
        )
        .unwrap();
        let loaded = load_dir(dir.path()).unwrap();
        assert_eq!(loaded.keys.len(), 1);
        assert_eq!(loaded.keys[0].key.kid(), good.key.kid());
        assert_eq!(loaded.problems.len(), 2, "{:?}", loaded.problems);
    }
}
