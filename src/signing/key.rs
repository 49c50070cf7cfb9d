//! One signing key: its algorithm, its ring key pair (parsed once, reused for
//! every signature), its public JWK and its RFC 7638 `kid`.

use std::fmt;
use std::sync::{Arc, RwLock};

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::rand::SystemRandom;
use ring::signature::{self as sig, KeyPair as _};
use serde::{Deserialize, Serialize};
use serde_json::json;

/// The JWS algorithms keymint signs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum SigningAlg {
    ES256,
    EdDSA,
    /// Import only: ring cannot generate RSA keys.
    RS256,
}

impl SigningAlg {
    pub fn as_str(self) -> &'static str {
        match self {
            SigningAlg::ES256 => "ES256",
            SigningAlg::EdDSA => "EdDSA",
            SigningAlg::RS256 => "RS256",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256]
            .into_iter()
            .find(|alg| alg.as_str() == text)
    }
}

/// For command-line flags.
impl std::str::FromStr for SigningAlg {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        Self::parse(text).ok_or_else(|| format!("{text:?} is not one of ES256, EdDSA, RS256"))
    }
}

impl fmt::Display for SigningAlg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("the PKCS#8 document is not a valid {0} private key")]
    Rejected(SigningAlg),
    #[error("{0} keys cannot be generated here; import one instead")]
    CannotGenerate(SigningAlg),
    #[error("the system random generator failed")]
    Random,
    #[error("signing failed")]
    Sign,
}

/// A key that fails to sign is the server's fault: a logged 500.
impl From<KeyError> for crate::error::ApiError {
    fn from(error: KeyError) -> Self {
        crate::error::ApiError::internal(format!("signing: {error}"))
    }
}

enum KeyPair {
    Ecdsa(sig::EcdsaKeyPair),
    Ed25519(sig::Ed25519KeyPair),
    Rsa(sig::RsaKeyPair),
}

/// A parsed private key. `Debug` shows only the public parts.
pub struct SigningKey {
    alg: SigningAlg,
    kid: String,
    pair: KeyPair,
    /// The public JWK, `kid`, `alg` and `use` included.
    jwk: serde_json::Value,
    /// base64url of the JWS header for each `typ` this key has signed: the
    /// same for every token of a kind, and there are few kinds, so a short
    /// list built once beats writing the header on every signature.
    headers: RwLock<Vec<(&'static str, Arc<str>)>>,
    rng: SystemRandom,
}

impl SigningKey {
    /// Generates a new private key, returned as PKCS#8 DER.
    pub fn generate_pkcs8(alg: SigningAlg) -> Result<Vec<u8>, KeyError> {
        let rng = SystemRandom::new();
        let document = match alg {
            SigningAlg::ES256 => {
                sig::EcdsaKeyPair::generate_pkcs8(&sig::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
            }
            SigningAlg::EdDSA => sig::Ed25519KeyPair::generate_pkcs8(&rng),
            SigningAlg::RS256 => return Err(KeyError::CannotGenerate(alg)),
        };
        document
            .map(|d| d.as_ref().to_vec())
            .map_err(|_| KeyError::Random)
    }

    pub fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let rng = SystemRandom::new();
        let rejected = |_| KeyError::Rejected(alg);
        let (pair, public_members) = match alg {
            SigningAlg::ES256 => {
                let pair = sig::EcdsaKeyPair::from_pkcs8(
                    &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
                    pkcs8,
                    &rng,
                )
                .map_err(rejected)?;
                // ring's public key is 0x04 || x (32 bytes) || y (32 bytes).
                let point = pair.public_key().as_ref();
                let members = json!({
                    "crv": "P-256", "kty": "EC",
                    "x": B64.encode(&point[1..33]), "y": B64.encode(&point[33..65]),
                });
                (KeyPair::Ecdsa(pair), members)
            }
            SigningAlg::EdDSA => {
                let pair =
                    sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(pkcs8).map_err(rejected)?;
                let members = json!({
                    "crv": "Ed25519", "kty": "OKP", "x": B64.encode(pair.public_key().as_ref()),
                });
                (KeyPair::Ed25519(pair), members)
            }
            SigningAlg::RS256 => {
                let pair = sig::RsaKeyPair::from_pkcs8(pkcs8).map_err(rejected)?;
                let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
                let members =
                    json!({ "e": B64.encode(&public.e), "kty": "RSA", "n": B64.encode(&public.n) });
                (KeyPair::Rsa(pair), members)
            }
        };
        let kid = thumbprint(&public_members);
        let mut jwk = public_members;
        jwk["kid"] = json!(kid);
        jwk["alg"] = json!(alg.as_str());
        jwk["use"] = json!("sig");
        let key = Self {
            alg,
            kid,
            pair,
            jwk,
            headers: RwLock::default(),
            rng,
        };
        // ring parses some inconsistent RSA keys (CRT values that disagree
        // with d) and refuses only when it signs, which would make every
        // exchange a 500: a key that cannot sign is refused here, at import
        // and at load (found by the pem_import fuzz target).
        key.sign(b"keymint: can this key sign?")
            .map_err(|_| KeyError::Rejected(alg))?;
        Ok(key)
    }

    pub fn alg(&self) -> SigningAlg {
        self.alg
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn jwk(&self) -> &serde_json::Value {
        &self.jwk
    }

    /// Signs `claims` as a compact JWS with header `{"alg", "typ", "kid"}`.
    /// `typ` says which kind of token it is (RFC 8725 section 3.11); only
    /// `tokens::issue` chooses it.
    pub fn sign_jwt<C: Serialize>(
        &self,
        typ: &'static str,
        claims: &C,
    ) -> Result<String, KeyError> {
        self.sign_compact(&self.header_b64(typ), claims)
    }

    /// Signs `claims` as a compact JWS under a header of the caller's
    /// (already base64url-encoded): for DPoP proofs, whose header carries
    /// the public key instead of a `kid`.
    pub fn sign_with_header<C: Serialize>(
        &self,
        header: &serde_json::Value,
        claims: &C,
    ) -> Result<String, KeyError> {
        self.sign_compact(&B64.encode(header.to_string()), claims)
    }

    fn sign_compact<C: Serialize>(&self, header: &str, claims: &C) -> Result<String, KeyError> {
        let claims = serde_json::to_vec(claims).map_err(|_| KeyError::Sign)?;
        let mut token = String::with_capacity(header.len() + claims.len() * 4 / 3 + 100);
        token.push_str(header);
        token.push('.');
        B64.encode_string(&claims, &mut token);
        let signature = self.sign(token.as_bytes())?;
        token.push('.');
        B64.encode_string(&signature, &mut token);
        Ok(token)
    }

    fn header_b64(&self, typ: &'static str) -> Arc<str> {
        let known = self.headers.read().unwrap_or_else(|p| p.into_inner());
        if let Some((_, header)) = known.iter().find(|(t, _)| *t == typ) {
            return header.clone();
        }
        drop(known);
        let header = json!({ "alg": self.alg.as_str(), "typ": typ, "kid": self.kid });
        let header: Arc<str> = B64.encode(header.to_string()).into();
        let mut known = self.headers.write().unwrap_or_else(|p| p.into_inner());
        if !known.iter().any(|(t, _)| *t == typ) {
            known.push((typ, header.clone()));
        }
        header
    }

    fn sign(&self, message: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            KeyPair::Ecdsa(pair) => pair
                .sign(&self.rng, message)
                .map(|s| s.as_ref().to_vec())
                .map_err(|_| KeyError::Sign),
            KeyPair::Ed25519(pair) => Ok(pair.sign(message).as_ref().to_vec()),
            KeyPair::Rsa(pair) => {
                let mut signature = vec![0; pair.public().modulus_len()];
                pair.sign(&sig::RSA_PKCS1_SHA256, &self.rng, message, &mut signature)
                    .map_err(|_| KeyError::Sign)?;
                Ok(signature)
            }
        }
    }
}

impl fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SigningKey")
            .field("alg", &self.alg)
            .field("kid", &self.kid)
            .finish_non_exhaustive()
    }
}

/// RFC 7638: SHA-256 over the required public members, serialised with
/// sorted keys and no white space (serde_json's map is sorted).
pub fn thumbprint(required_members: &serde_json::Value) -> String {
    let canonical = required_members.to_string();
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        canonical.as_bytes(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc7638_example_thumbprint() {
        // The RSA key of RFC 7638 section 3.1 and its published thumbprint.
        let members = json!({
            "e": "AQAB", "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        });
        assert_eq!(
            thumbprint(&members),
            "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
        );
    }

    #[test]
    fn generated_keys_sign_tokens_their_jwk_describes() {
        for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
            let key =
                SigningKey::from_pkcs8(alg, &SigningKey::generate_pkcs8(alg).unwrap()).unwrap();
            assert_eq!(key.jwk()["kid"], key.kid());
            assert_eq!(key.jwk()["alg"], alg.as_str());
            assert_eq!(key.kid().len(), 43);
            let token = key.sign_jwt("at+jwt", &json!({"sub": "x"})).unwrap();
            let header: serde_json::Value =
                serde_json::from_slice(&B64.decode(token.split('.').next().unwrap()).unwrap())
                    .unwrap();
            assert_eq!(
                header,
                json!({"alg": alg.as_str(), "typ": "at+jwt", "kid": key.kid()})
            );
            assert!(!format!("{key:?}").contains("pair"));
        }
        assert!(matches!(
            SigningKey::generate_pkcs8(SigningAlg::RS256),
            Err(KeyError::CannotGenerate(_))
        ));
    }

    #[test]
    fn a_key_of_another_algorithm_is_rejected() {
        let ed = SigningKey::generate_pkcs8(SigningAlg::EdDSA).unwrap();
        assert!(SigningKey::from_pkcs8(SigningAlg::ES256, &ed).is_err());
    }
}
