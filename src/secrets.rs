//! API secrets: generation, the public format (typed prefix, base62 body,
//! CRC32 checksum) and the digest that is the only thing ever stored.
//!
//! Format: `<prefix><random><checksum>` where `random` is 32 bytes from
//! `ring::rand::SystemRandom` as a big-endian base62 number left-padded to 43
//! characters, and `checksum` is the CRC32 (IEEE) of everything before it,
//! base62 left-padded to 6. Every secret matches `^km[pkimc]_[0-9A-Za-z]{49}$`.

use std::fmt;

use ring::digest::{SHA256, digest};
use ring::rand::{SecureRandom, SystemRandom};
use subtle::ConstantTimeEq;

use crate::key_kind::KeyKind;

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
const RANDOM_BYTES: usize = 32;
/// ceil(256 / log2(62)): the base62 width of 32 random bytes.
const RANDOM_CHARS: usize = 43;
/// ceil(32 / log2(62)): the base62 width of a CRC32.
const CHECKSUM_CHARS: usize = 6;
const PREFIX_CHARS: usize = 4;
/// The length of every secret, prefix included.
pub const SECRET_LEN: usize = PREFIX_CHARS + RANDOM_CHARS + CHECKSUM_CHARS;
/// How many characters of the random part `start` shows after the prefix.
const START_CHARS: usize = 6;

/// A plaintext secret. It exists only between generation and the one response
/// that shows it, or between reading a request and hashing it; `Debug` never
/// prints it.
///
/// ```
/// use keymint::api_keys::KeyKind;
/// use keymint::secrets::Secret;
///
/// let secret = Secret::generate(KeyKind::Workspace).unwrap();
/// assert!(secret.expose().starts_with("kmk_") && secret.expose().len() == 53);
/// // Anyone can check a secret's checksum offline...
/// assert_eq!(Secret::parse(secret.expose()).unwrap(), secret);
/// // ...and a typo never reaches the database.
/// let typo = secret.expose().replace(&secret.expose()[4..5], "_");
/// assert!(Secret::parse(&typo).is_err());
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

/// Why a presented string is not a keymint secret. Deliberately coarse: the
/// caller answers `invalid_api_key` whatever the reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum MalformedSecret {
    #[error("not a keymint secret")]
    Shape,
    #[error("secret checksum mismatch")]
    Checksum,
}

/// SHA-256 of a secret: what the database stores and looks keys up by.
#[derive(Clone, PartialEq, Eq)]
pub struct SecretDigest([u8; 32]);

impl Secret {
    /// Generates a fresh secret of the given kind from the system CSPRNG.
    pub fn generate(kind: KeyKind) -> Result<Self, ring::error::Unspecified> {
        let mut random = [0u8; RANDOM_BYTES];
        SystemRandom::new().fill(&mut random)?;
        let mut text = String::with_capacity(SECRET_LEN);
        text.push_str(kind.prefix());
        text.push_str(&base62_fixed(&random, RANDOM_CHARS));
        let checksum = crc32fast::hash(text.as_bytes());
        text.push_str(&base62_fixed(&checksum.to_be_bytes(), CHECKSUM_CHARS));
        Ok(Self(text))
    }

    /// Checks shape and checksum offline, before any database work.
    pub fn parse(text: &str) -> Result<Self, MalformedSecret> {
        let bytes = text.as_bytes();
        if bytes.len() != SECRET_LEN
            || !text.is_ascii()
            || KeyKind::from_secret_prefix(&text[..PREFIX_CHARS]).is_none()
            || !bytes[PREFIX_CHARS..].iter().all(u8::is_ascii_alphanumeric)
        {
            return Err(MalformedSecret::Shape);
        }
        let (payload, checksum) = text.split_at(SECRET_LEN - CHECKSUM_CHARS);
        let expected = base62_fixed(
            &crc32fast::hash(payload.as_bytes()).to_be_bytes(),
            CHECKSUM_CHARS,
        );
        if expected.as_bytes().ct_eq(checksum.as_bytes()).into() {
            Ok(Self(text.to_owned()))
        } else {
            Err(MalformedSecret::Checksum)
        }
    }

    pub fn kind(&self) -> KeyKind {
        KeyKind::from_secret_prefix(&self.0[..PREFIX_CHARS]).expect("validated at construction")
    }

    /// The prefix and the first characters of the random part, shown in lists
    /// so a person can recognise a key without it being usable.
    pub fn start(&self) -> String {
        self.0[..PREFIX_CHARS + START_CHARS].to_owned()
    }

    pub fn digest(&self) -> SecretDigest {
        digest_of(&self.0)
    }

    /// The plaintext, for the single response that reveals it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Secret({}…)", self.start())
    }
}

impl SecretDigest {
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    pub fn as_array(&self) -> &[u8; 32] {
        &self.0
    }

    /// Constant-time comparison with a stored digest. The database lookup
    /// already matched by digest; this re-check keeps the final decision off
    /// any early-exit comparison.
    pub fn matches(&self, stored: &[u8]) -> bool {
        self.0.as_slice().ct_eq(stored).into()
    }
}

impl fmt::Debug for SecretDigest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("SecretDigest(..)")
    }
}

/// A one-time token that is not an API key (an invitation): `prefix`
/// followed by 256 random bits in base62. Store only its digest.
pub fn random_token(prefix: &str) -> Result<(String, SecretDigest), ring::error::Unspecified> {
    let mut random = [0u8; RANDOM_BYTES];
    SystemRandom::new().fill(&mut random)?;
    let token = format!("{prefix}{}", base62_fixed(&random, RANDOM_CHARS));
    let digest = digest_of(&token);
    Ok((token, digest))
}

/// SHA-256 of any presented token.
pub fn digest_of(text: &str) -> SecretDigest {
    let mut out = [0u8; 32];
    out.copy_from_slice(digest(&SHA256, text.as_bytes()).as_ref());
    SecretDigest(out)
}

/// Encodes `bytes` as one big-endian number in base62, left-padded with '0'
/// to `width` characters.
fn base62_fixed(bytes: &[u8], width: usize) -> String {
    let mut number = bytes.to_vec();
    let mut digits = Vec::with_capacity(width);
    while number.iter().any(|&b| b != 0) {
        // Long division of the whole number by 62; the remainder is the next
        // least significant digit.
        let mut remainder = 0u32;
        for byte in number.iter_mut() {
            let value = (remainder << 8) | u32::from(*byte);
            *byte = (value / 62) as u8;
            remainder = value % 62;
        }
        digits.push(ALPHABET[remainder as usize]);
    }
    digits.resize(width.max(digits.len()), b'0');
    digits.reverse();
    String::from_utf8(digits).expect("alphabet is ASCII")
}

/// `N` bytes from the system's random source, for keys keymint makes
/// itself (a DPoP nonce key).
pub fn random_bytes<const N: usize>() -> Result<[u8; N], ring::error::Unspecified> {
    let mut bytes = [0u8; N];
    SystemRandom::new().fill(&mut bytes)?;
    Ok(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_documented_shape(text: &str) -> bool {
        let b = text.as_bytes();
        b.len() == 53
            && text.starts_with("km")
            && b"pkimc".contains(&b[2])
            && b[3] == b'_'
            && b[4..].iter().all(u8::is_ascii_alphanumeric)
    }

    #[test]
    fn base62_matches_known_values() {
        assert_eq!(base62_fixed(&[0], 3), "000");
        assert_eq!(base62_fixed(&[61], 1), "z");
        assert_eq!(base62_fixed(&[62], 2), "10");
        assert_eq!(base62_fixed(&u32::MAX.to_be_bytes(), 6), "4gfFC3");
        assert_eq!(base62_fixed(&[0xff; 32], 43).len(), 43);
    }

    #[test]
    fn generated_secrets_have_the_documented_shape_and_parse_back() {
        for kind in KeyKind::ALL {
            let secret = Secret::generate(kind).unwrap();
            assert!(is_documented_shape(secret.expose()), "{}", secret.expose());
            assert!(secret.expose().starts_with(kind.prefix()));
            assert_eq!(Secret::parse(secret.expose()).unwrap(), secret);
            assert_eq!(secret.kind(), kind);
            assert_eq!(secret.start().len(), 10);
        }
    }

    #[test]
    fn a_single_changed_character_breaks_the_checksum() {
        let secret = Secret::generate(KeyKind::Workspace).unwrap();
        let mut chars: Vec<char> = secret.expose().chars().collect();
        chars[10] = if chars[10] == 'a' { 'b' } else { 'a' };
        let tampered: String = chars.into_iter().collect();
        assert_eq!(Secret::parse(&tampered), Err(MalformedSecret::Checksum));
    }

    #[test]
    fn wrong_shapes_are_refused() {
        for text in [
            "",
            "kmk_",
            "kmx_abc",
            "kmk_ü",
            &"kmk_".repeat(14)[..53],
            "bearer kmk_x",
        ] {
            assert!(Secret::parse(text).is_err(), "{text}");
        }
    }

    #[test]
    fn digests_compare_by_value_and_debug_hides_the_secret() {
        let secret = Secret::generate(KeyKind::Personal).unwrap();
        let other = Secret::generate(KeyKind::Personal).unwrap();
        assert!(secret.digest().matches(secret.digest().as_bytes()));
        assert!(!secret.digest().matches(other.digest().as_bytes()));
        assert!(!format!("{secret:?}").contains(&secret.expose()[10..]));
    }
}
