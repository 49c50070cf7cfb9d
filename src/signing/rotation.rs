//! Changing which key signs, by writing schedules into the folder: `rotate`
//! and `import` add a key that activates later and schedule the current
//! keys' retirement for that instant; `retire` retires one key now.
//!
//! Nothing is told to the servers: each derives the new states from the
//! files and its clock on its next reload.

use std::path::Path;

use chrono::{DateTime, Duration, Utc};

use super::JWKS_MAX_AGE_SECS;
use super::import::Imported;
use super::key::SigningAlg;
use super::store::{self, KeyMetadata, KeyState, StoreError, StoredKey};

/// Added to the JWKS max-age before a new key may sign: covers reload
/// periods, clock skew between replicas and a slow verifier fetch.
pub const ACTIVATION_MARGIN_SECS: i64 = 60;

/// How long after a rotation the new key starts signing, unless told
/// otherwise: every verifier that honours the JWKS max-age has fetched the
/// new key by then.
pub fn default_activate_in() -> Duration {
    Duration::seconds(i64::from(JWKS_MAX_AGE_SECS) + ACTIVATION_MARGIN_SECS)
}

#[derive(Debug, thiserror::Error)]
pub enum RotationError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("no key {0} in the keys folder")]
    UnknownKid(String),
    #[error(
        "retiring {0} would leave no key signing; add one first \
         (`keymint signing-keys rotate --activate-in 0` in an emergency)"
    )]
    LastSigner(String),
}

/// What a rotation did.
#[derive(Debug)]
pub struct Rotation {
    pub added: StoredKey,
    /// The keys whose `retire_at` was set to the new key's `activate_at`.
    pub retiring: Vec<KeyMetadata>,
}

/// Generates a key of `alg` that activates `activate_in` from `now` (at
/// once if no key signs now: waiting would only prolong an outage).
pub fn rotate(
    dir: &Path,
    alg: SigningAlg,
    now: DateTime<Utc>,
    activate_in: Duration,
) -> Result<Rotation, RotationError> {
    supersede(dir, now, activate_in, |activate_at| {
        store::create_key(dir, alg, now, activate_at)
    })
}

/// Adds an imported key on the same schedule as [`rotate`].
pub fn import(
    dir: &Path,
    imported: &Imported,
    now: DateTime<Utc>,
    activate_in: Duration,
) -> Result<Rotation, RotationError> {
    supersede(dir, now, activate_in, |activate_at| {
        store::add_key(dir, imported.alg, &imported.pkcs8, now, activate_at)
    })
}

/// Adds the key `add` makes, activating after `activate_in` (or at once when
/// no key signs at `now`), then schedules every key not retired by then to
/// retire then. The new key is written first: if the process stops in
/// between, the old keys simply keep signing.
fn supersede(
    dir: &Path,
    now: DateTime<Utc>,
    activate_in: Duration,
    add: impl FnOnce(DateTime<Utc>) -> Result<StoredKey, StoreError>,
) -> Result<Rotation, RotationError> {
    std::fs::create_dir_all(dir).map_err(|source| StoreError::Io {
        path: dir.to_owned(),
        source,
    })?;
    let existing = store::load_dir(dir)?.keys;
    let activate_at = if existing.iter().any(|key| signs_at(key, now)) {
        now + activate_in
    } else {
        now
    };
    let added = add(activate_at)?;
    let mut retiring = Vec::new();
    for key in existing {
        if key.metadata.retire_at.is_none_or(|at| at > activate_at) {
            let mut metadata = key.metadata;
            metadata.retire_at = Some(activate_at);
            store::write_metadata(dir, &metadata)?;
            retiring.push(metadata);
        }
    }
    Ok(Rotation { added, retiring })
}

/// Retires `kid` at `now` (earlier than scheduled, if it was). Refused when
/// no other key would sign at `now`: that would stop every exchange.
pub fn retire(dir: &Path, kid: &str, now: DateTime<Utc>) -> Result<KeyMetadata, RotationError> {
    let keys = store::load_dir(dir)?.keys;
    let target = keys
        .iter()
        .find(|key| key.metadata.kid == kid)
        .ok_or_else(|| RotationError::UnknownKid(kid.to_owned()))?;
    let mut metadata = target.metadata.clone();
    if metadata.retire_at.is_some_and(|at| at <= now) {
        return Ok(metadata);
    }
    let another_signs = keys
        .iter()
        .any(|key| key.metadata.kid != kid && signs_at(key, now));
    if !another_signs {
        return Err(RotationError::LastSigner(kid.to_owned()));
    }
    metadata.retire_at = Some(now);
    store::write_metadata(dir, &metadata)?;
    Ok(metadata)
}

fn signs_at(key: &StoredKey, now: DateTime<Utc>) -> bool {
    // The token lifetime only matters to retired keys; any value will do.
    key.state(now, Duration::zero()) == KeyState::Active
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule(dir: &Path) -> Vec<KeyMetadata> {
        store::load_dir(dir)
            .unwrap()
            .keys
            .into_iter()
            .map(|key| key.metadata)
            .collect()
    }

    #[test]
    fn rotate_schedules_the_new_key_after_the_jwks_max_age_and_retires_the_old_then() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc::now();
        let old = store::create_key(dir.path(), SigningAlg::ES256, t0, t0).unwrap();
        let rotation = rotate(dir.path(), SigningAlg::EdDSA, t0, default_activate_in()).unwrap();
        let activate_at = t0 + Duration::seconds(360);
        assert_eq!(rotation.added.metadata.activate_at, activate_at);
        assert_eq!(rotation.added.metadata.alg, SigningAlg::EdDSA);
        assert_eq!(rotation.retiring.len(), 1);
        assert_eq!(rotation.retiring[0].kid, old.key.kid());

        let stored = schedule(dir.path());
        assert_eq!(stored.len(), 2);
        assert_eq!(stored[0].retire_at, Some(activate_at), "written to disk");
        assert_eq!(stored[1].retire_at, None);
    }

    #[test]
    fn with_no_key_signing_the_new_key_signs_at_once() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc::now();
        let rotation = rotate(dir.path(), SigningAlg::ES256, t0, default_activate_in()).unwrap();
        assert_eq!(rotation.added.metadata.activate_at, t0);
        assert!(rotation.retiring.is_empty());
    }

    #[test]
    fn a_second_rotation_supersedes_a_pending_one_and_keeps_earlier_retirements() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc::now();
        store::create_key(dir.path(), SigningAlg::ES256, t0, t0).unwrap();
        let first = rotate(dir.path(), SigningAlg::ES256, t0, Duration::seconds(100)).unwrap();
        let second = rotate(dir.path(), SigningAlg::ES256, t0, Duration::seconds(200)).unwrap();
        // The first key keeps its earlier retirement; the pending one retires
        // when the newest activates.
        assert_eq!(second.retiring.len(), 1);
        assert_eq!(second.retiring[0].kid, first.added.metadata.kid);
        let stored = schedule(dir.path());
        assert_eq!(stored[0].retire_at, Some(t0 + Duration::seconds(100)));
        assert_eq!(stored[1].retire_at, Some(t0 + Duration::seconds(200)));
        assert_eq!(stored[2].retire_at, None);
    }

    #[test]
    fn retire_refuses_the_last_signer_and_unknown_kids() {
        let dir = tempfile::tempdir().unwrap();
        let t0 = Utc::now();
        let only = store::create_key(dir.path(), SigningAlg::ES256, t0, t0).unwrap();
        let kid = only.key.kid();
        assert!(matches!(
            retire(dir.path(), kid, t0),
            Err(RotationError::LastSigner(_))
        ));
        assert!(matches!(
            retire(dir.path(), "nope", t0),
            Err(RotationError::UnknownKid(_))
        ));
        // A key that is only scheduled does not sign yet either.
        rotate(dir.path(), SigningAlg::ES256, t0, Duration::seconds(60)).unwrap();
        assert!(matches!(
            retire(dir.path(), kid, t0),
            Err(RotationError::LastSigner(_))
        ));
        // Once the new key signs, the old one can go at once.
        let later = t0 + Duration::seconds(30);
        store::create_key(dir.path(), SigningAlg::EdDSA, t0, t0).unwrap();
        let retired = retire(dir.path(), kid, later).unwrap();
        assert_eq!(retired.retire_at, Some(later));
        let stored = schedule(dir.path());
        let on_disk = stored.iter().find(|m| m.kid == kid).unwrap();
        assert_eq!(on_disk.retire_at, Some(later));
    }
}
