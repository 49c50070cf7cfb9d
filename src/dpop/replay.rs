//! Remembering the proofs already used, so each is accepted once (RFC 9449
//! section 11.1). A proof is only acceptable while its `iat` is within the
//! window of now, so a proof needs remembering only that long: entries are
//! kept in buckets of a few seconds and forgotten a bucket at a time.
//!
//! Memory is bounded. When the bound is reached, a new proof is refused
//! rather than an old one forgotten: forgetting would let that one be
//! replayed. Only authenticated callers reach this (a proof is recorded
//! once its credential checked out), and each is rate limited.

use std::collections::{HashSet, VecDeque};
use std::sync::Mutex;

/// How many seconds one bucket spans.
const BUCKET_SECS: i64 = 10;

/// The cache is full: the proof cannot be remembered, so it is not taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("too many DPoP proofs are in use at once")]
pub struct Full;

/// Proof ids seen, each until its proof could no longer be accepted.
pub struct ReplayCache {
    capacity: usize,
    state: Mutex<Buckets>,
}

#[derive(Default)]
struct Buckets {
    /// Oldest first: (the bucket's last second, its ids).
    buckets: VecDeque<(i64, HashSet<u128>)>,
    len: usize,
}

impl ReplayCache {
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity,
            state: Mutex::default(),
        }
    }

    /// Records `id` as used until `until` (unix seconds). `Ok(true)` the
    /// first time, `Ok(false)` for a replay.
    pub fn first_use(&self, id: u128, until: i64, now: i64) -> Result<bool, Full> {
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        while state.buckets.front().is_some_and(|(end, _)| *end < now) {
            if let Some((_, expired)) = state.buckets.pop_front() {
                state.len -= expired.len();
            }
        }
        if state.buckets.iter().any(|(_, ids)| ids.contains(&id)) {
            return Ok(false);
        }
        if state.len >= self.capacity {
            return Err(Full);
        }
        // The bucket that ends at or after `until`, so nothing is forgotten early.
        let end = until.div_euclid(BUCKET_SECS) * BUCKET_SECS + BUCKET_SECS - 1;
        let position = state.buckets.iter().position(|(e, _)| *e >= end);
        match position {
            Some(i) if state.buckets[i].0 == end => {
                state.buckets[i].1.insert(id);
            }
            Some(i) => state.buckets.insert(i, (end, HashSet::from([id]))),
            None => state.buckets.push_back((end, HashSet::from([id]))),
        }
        state.len += 1;
        Ok(true)
    }

    pub fn len(&self) -> usize {
        self.state.lock().unwrap_or_else(|p| p.into_inner()).len
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// The id a proof is remembered by: its key and its `jti` together, so
/// one client's ids never collide with, or block, another's. 128 bits of
/// SHA-256 keep accidental collisions out of reach.
pub fn proof_id(jkt: &str, jti: &str) -> u128 {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    // The key's length first, so no (key, jti) pair reads as another.
    context.update(&(jkt.len() as u64).to_be_bytes());
    context.update(jkt.as_bytes());
    context.update(jti.as_bytes());
    let digest = context.finish();
    let mut first = [0u8; 16];
    first.copy_from_slice(&digest.as_ref()[..16]);
    u128::from_be_bytes(first)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_id_is_taken_once_until_it_expires() {
        let cache = ReplayCache::new(10);
        assert_eq!(cache.first_use(1, 1_000, 900), Ok(true));
        assert_eq!(cache.first_use(1, 1_000, 950), Ok(false));
        assert_eq!(cache.first_use(2, 1_000, 950), Ok(true));
        // Past its bucket, an id is forgotten (its proof is stale by then).
        assert_eq!(cache.first_use(1, 1_100, 1_010), Ok(true));
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_full_cache_refuses_new_ids_and_still_knows_old_ones() {
        let cache = ReplayCache::new(2);
        assert_eq!(cache.first_use(1, 100, 0), Ok(true));
        assert_eq!(cache.first_use(2, 200, 0), Ok(true));
        assert_eq!(cache.first_use(3, 100, 0), Err(Full));
        assert_eq!(cache.first_use(1, 100, 0), Ok(false));
        // Room comes back as entries expire.
        assert_eq!(cache.first_use(3, 300, 150), Ok(true));
    }

    #[test]
    fn proof_ids_depend_on_key_and_jti() {
        assert_ne!(proof_id("a", "1"), proof_id("b", "1"));
        assert_ne!(proof_id("a", "1"), proof_id("a", "2"));
        assert_ne!(proof_id("ab", "c"), proof_id("a", "bc"));
        assert_eq!(proof_id("a", "1"), proof_id("a", "1"));
    }
}
