//! Password hashing: PBKDF2-HMAC-SHA256 from ring with a per-user salt.
//!
//! The stored record names its algorithm and iteration count
//! (`pbkdf2-sha256$<iterations>$<salt>$<hash>`, base64), so the cost can be
//! raised later without invalidating existing passwords.

pub mod pool;

use std::num::NonZeroU32;

use base64::Engine;
use base64::engine::general_purpose::STANDARD_NO_PAD as B64;
use ring::pbkdf2;
use ring::rand::{SecureRandom, SystemRandom};

const SCHEME: &str = "pbkdf2-sha256";
/// OWASP's 2023 figure for PBKDF2-HMAC-SHA256.
pub const ITERATIONS: u32 = 600_000;
const SALT_LEN: usize = 16;
const HASH_LEN: usize = 32;
/// Refuse absurdly long inputs before spending 600,000 HMACs on them.
pub const MAX_PASSWORD_LEN: usize = 1024;

#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    #[error("the system random generator failed")]
    Random,
}

pub fn hash(password: &str) -> Result<String, PasswordError> {
    let mut salt = [0u8; SALT_LEN];
    SystemRandom::new()
        .fill(&mut salt)
        .map_err(|_| PasswordError::Random)?;
    let iterations = NonZeroU32::new(ITERATIONS).expect("non-zero");
    let mut out = [0u8; HASH_LEN];
    pbkdf2::derive(
        pbkdf2::PBKDF2_HMAC_SHA256,
        iterations,
        &salt,
        password.as_bytes(),
        &mut out,
    );
    Ok(format!(
        "{SCHEME}${ITERATIONS}${}${}",
        B64.encode(salt),
        B64.encode(out)
    ))
}

/// Constant-time check of `password` against a stored record. A malformed
/// record never verifies.
pub fn verify(password: &str, record: &str) -> bool {
    let mut parts = record.split('$');
    let (Some(SCHEME), Some(iterations), Some(salt), Some(expected), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return false;
    };
    let (Some(iterations), Ok(salt), Ok(expected)) = (
        iterations.parse().ok().and_then(NonZeroU32::new),
        B64.decode(salt),
        B64.decode(expected),
    ) else {
        return false;
    };
    password.len() <= MAX_PASSWORD_LEN
        && pbkdf2::verify(
            pbkdf2::PBKDF2_HMAC_SHA256,
            iterations,
            &salt,
            password.as_bytes(),
            &expected,
        )
        .is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_verify_only_the_right_password_and_salts_differ() {
        let first = hash("correct horse").unwrap();
        let second = hash("correct horse").unwrap();
        assert_ne!(first, second, "per-user salt");
        assert!(first.starts_with("pbkdf2-sha256$600000$"));
        assert!(verify("correct horse", &first));
        assert!(!verify("correct horsE", &first));
        assert!(!verify("correct horse", "pbkdf2-sha256$0$AA$AA"));
        assert!(!verify("correct horse", "garbage"));
    }
}
