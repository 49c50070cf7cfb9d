//! Server nonces for DPoP (RFC 9449 section 8), with `KEYMINT_DPOP_NONCE`:
//! a proof must carry a nonce keymint gave out recently, so a proof made
//! ahead of time (by a client whose key was briefly reachable) is useless.
//!
//! A nonce is stateless: the time slot it was made in and an HMAC of that
//! slot, under a key every replica shares (kept in the database), so any
//! replica accepts what another handed out, and nothing is stored per
//! client. A nonce is current in its slot and the next.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::hmac;

/// How long one nonce is handed out for.
pub const SLOT_SECS: i64 = 300;

pub struct Nonces {
    key: hmac::Key,
}

impl Nonces {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            key: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    /// The nonce to hand out at `now` (unix seconds).
    pub fn current(&self, now: i64) -> String {
        self.for_slot(now.div_euclid(SLOT_SECS))
    }

    fn for_slot(&self, slot: i64) -> String {
        let slot = slot.to_be_bytes();
        let mut nonce = slot.to_vec();
        nonce.extend_from_slice(hmac::sign(&self.key, &slot).as_ref());
        B64.encode(nonce)
    }

    /// Whether `nonce` was handed out in this slot or the one before.
    pub fn is_current(&self, nonce: &str, now: i64) -> bool {
        let Ok(bytes) = B64.decode(nonce) else {
            return false;
        };
        let Some((slot, tag)) = bytes.split_first_chunk::<8>() else {
            return false;
        };
        let current = now.div_euclid(SLOT_SECS);
        let made_in = i64::from_be_bytes(*slot);
        (made_in == current || made_in == current - 1) && hmac::verify(&self.key, slot, tag).is_ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_nonce_is_current_for_its_slot_and_the_next_only() {
        let nonces = Nonces::new(b"shared by every replica");
        let handed_out = nonces.current(1_000);
        assert!(nonces.is_current(&handed_out, 1_000));
        assert!(nonces.is_current(&handed_out, 1_000 + SLOT_SECS));
        assert!(!nonces.is_current(&handed_out, 1_000 + 2 * SLOT_SECS));
        assert!(!nonces.is_current("not-a-nonce", 1_000));
        // Another key's nonce, or a forged slot, is refused.
        let other = Nonces::new(b"another deployment");
        assert!(!nonces.is_current(&other.current(1_000), 1_000));
        let mut forged = B64.decode(&handed_out).unwrap();
        forged[7] ^= 1;
        assert!(!nonces.is_current(&B64.encode(forged), 1_000));
    }
}
