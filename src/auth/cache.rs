//! Keys by secret digest, in memory, so that most exchanges need no database
//! work at all: the lookup and the hop to a blocking thread were a third of
//! an exchange's CPU, and on PostgreSQL a round trip each.
//!
//! An entry answers only while [`AuthVersion`] vouches for this server's
//! view and only under the generation it was loaded in: any change to what
//! authentication reads, made here or on another replica, makes every entry
//! stale (see `db::auth_version` for why revocation stays immediate). Keys
//! with a use budget are never kept: taking a use is a database write anyway.
//!
//! The map finds a digest in ordinary (not constant) time, as the
//! database's index does; the final comparison, as after a lookup in the
//! database, is constant-time (`KnownKey::is_named_at`).

use std::sync::Arc;

use chrono::NaiveDateTime;
use quick_cache::sync::Cache;

use super::KnownKey;
use crate::db::AuthVersion;
use crate::secrets::SecretDigest;

#[derive(Clone)]
struct Entry {
    generation: u64,
    key: Arc<KnownKey>,
}

pub struct KeyCache {
    /// `None`: the cache is off (a size of 0).
    entries: Option<Cache<[u8; 32], Entry>>,
    auth_version: Arc<AuthVersion>,
}

impl KeyCache {
    /// Holds at most `capacity` keys, least recently and least often used
    /// out first.
    pub fn new(capacity: usize, auth_version: Arc<AuthVersion>) -> Self {
        Self {
            entries: (capacity > 0).then(|| Cache::new(capacity)),
            auth_version,
        }
    }

    /// The key `digest` names at `now`, if cached and still current.
    pub fn get(&self, digest: &SecretDigest, now: NaiveDateTime) -> Option<Arc<KnownKey>> {
        let entries = self.entries.as_ref()?;
        // Vouching first: a check that vouches has moved the generation on
        // for every change it saw, so the comparison below sees them.
        if !self.auth_version.vouches() {
            return None;
        }
        let entry = entries.get(digest.as_array())?;
        let current = entry.generation == self.auth_version.generation();
        (current && entry.key.is_named_at(digest, now)).then_some(entry.key)
    }

    /// The generation to file a lookup under: read before the lookup, so a
    /// change committed while it runs makes the entry stale at once.
    pub fn generation(&self) -> u64 {
        self.auth_version.generation()
    }

    /// Keeps what a lookup found (unless the key has a use budget) and hands
    /// it back, shared.
    pub fn insert(&self, digest: &SecretDigest, generation: u64, key: KnownKey) -> Arc<KnownKey> {
        let key = Arc::new(key);
        if let Some(entries) = &self.entries
            && key.key.remaining.is_none()
        {
            let entry = Entry {
                generation,
                key: key.clone(),
            };
            entries.insert(*digest.as_array(), entry);
        }
        key
    }

    pub fn len(&self) -> usize {
        self.entries.as_ref().map_or(0, Cache::len)
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use chrono::Duration;

    use super::*;
    use crate::api_keys::{KeyKind, NewKey, issue};
    use crate::db::DbConnection;
    use crate::db::auth_version::{bump, sqlite_with_counters};
    use crate::db::models::workspaces::Plan;
    use crate::secrets::Secret;

    fn now() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .unwrap()
            .naive_utc()
    }

    fn known(adjust: impl FnOnce(&mut NewKey)) -> (KnownKey, Secret) {
        let mut new = NewKey::new("ws", KeyKind::Workspace, "k");
        adjust(&mut new);
        let (key, secret) = issue(new, now()).unwrap();
        let known = KnownKey {
            key,
            plan: Plan::Pro,
            owner: None,
            previous_secret_dies_at: None,
        };
        (known, secret)
    }

    /// A cache whose view was just checked, and the database it checks.
    fn vouched_cache(capacity: usize) -> (KeyCache, DbConnection) {
        let mut conn = sqlite_with_counters();
        let auth_version = Arc::new(AuthVersion::new(false));
        auth_version.check(&mut conn).unwrap();
        (KeyCache::new(capacity, auth_version), conn)
    }

    fn put(cache: &KeyCache, known: KnownKey, secret: &Secret) {
        let generation = cache.generation();
        cache.insert(&secret.digest(), generation, known);
    }

    #[test]
    fn a_found_key_answers_until_anything_changes() {
        let (cache, mut conn) = vouched_cache(10);
        let (key, secret) = known(|_| {});
        put(&cache, key, &secret);
        assert!(cache.get(&secret.digest(), now()).is_some());

        bump(&mut conn, "api_keys");
        cache.auth_version.check(&mut conn).unwrap();
        assert!(cache.get(&secret.digest(), now()).is_none());
    }

    #[tokio::test]
    async fn a_write_here_makes_every_entry_stale_at_once() {
        let (cache, _conn) = vouched_cache(10);
        let (key, secret) = known(|_| {});
        put(&cache, key, &secret);
        assert!(cache.get(&secret.digest(), now()).is_some());
        cache.auth_version.settle_write().await;
        assert!(cache.get(&secret.digest(), now()).is_none());
    }

    #[test]
    fn a_lookup_that_raced_a_change_is_stale_when_filed() {
        let (cache, mut conn) = vouched_cache(10);
        let (key, secret) = known(|_| {});
        let generation = cache.generation();
        // The change commits while the lookup runs; the check sees it.
        bump(&mut conn, "api_keys");
        cache.auth_version.check(&mut conn).unwrap();
        cache.insert(&secret.digest(), generation, key);
        assert!(cache.get(&secret.digest(), now()).is_none());
        // A lookup that started after the change is current.
        let (control, control_secret) = known(|_| {});
        put(&cache, control, &control_secret);
        assert!(cache.get(&control_secret.digest(), now()).is_some());
    }

    #[test]
    fn an_entry_answers_only_a_secret_of_its_key() {
        let (cache, _conn) = vouched_cache(10);
        let (key, _) = known(|_| {});
        let (_, other) = known(|_| {});
        // Filed under a digest that is not the key's: never handed out.
        cache.insert(&other.digest(), cache.generation(), key);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&other.digest(), now()).is_none());
    }

    #[test]
    fn nothing_answers_without_a_check_that_vouches() {
        let cache = KeyCache::new(10, Arc::new(AuthVersion::new(false)));
        let (key, secret) = known(|_| {});
        put(&cache, key, &secret);
        assert_eq!(cache.len(), 1);
        assert!(cache.get(&secret.digest(), now()).is_none());
    }

    #[test]
    fn keys_with_a_use_budget_and_a_cache_of_size_zero_keep_nothing() {
        let (cache, _conn) = vouched_cache(10);
        let (key, secret) = known(|new| new.remaining = Some(5));
        let handed_back = cache.insert(&secret.digest(), cache.generation(), key);
        assert_eq!(handed_back.key.remaining, Some(5));
        assert!(cache.is_empty());

        let (off, _conn) = vouched_cache(0);
        let (key, secret) = known(|_| {});
        put(&off, key, &secret);
        assert!(off.get(&secret.digest(), now()).is_none());
    }

    #[test]
    fn a_previous_secret_answers_until_its_grace_period_ends() {
        let (cache, _conn) = vouched_cache(10);
        let (mut key, secret) = known(|_| {});
        let dies_at = now() + Duration::seconds(60);
        key.previous_secret_dies_at = Some(dies_at);
        put(&cache, key, &secret);
        assert!(cache.get(&secret.digest(), now()).is_some());
        assert!(cache.get(&secret.digest(), dies_at).is_none());
    }

    #[test]
    fn the_cache_stays_within_its_capacity() {
        let (cache, _conn) = vouched_cache(100);
        for _ in 0..1_000 {
            let (key, secret) = known(|_| {});
            put(&cache, key, &secret);
        }
        assert!(cache.len() <= 100, "{} entries", cache.len());
    }
}
