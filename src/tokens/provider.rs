//! A ring-backed `CryptoProvider` for jsonwebtoken.
//!
//! jsonwebtoken 10+ ships only aws-lc-rs and RustCrypto backends; keymint's
//! crypto is ring. This provider serves `jsonwebtoken::decode` (verification
//! of keymint's own tokens and downstream verification) and `encode` (tests
//! and tools). keymint's hot path signs with a cached key pair instead, see
//! `signing::SigningKey::sign_jwt`.

use jsonwebtoken::crypto::{CryptoProvider, JwtSigner, JwtVerifier, KeyUtils};
use jsonwebtoken::errors::{Error, ErrorKind, Result};
use jsonwebtoken::jwk::{EllipticCurve, ThumbprintHash};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey};
use ring::rand::SystemRandom;
use ring::{digest, hmac, signature as sig};

/// Installs the provider for this process; later calls are no-ops.
pub fn install() {
    // Err only means a provider is installed already (ours, by an earlier call).
    let _ = PROVIDER.install_default();
}

static PROVIDER: CryptoProvider = CryptoProvider {
    signer_factory: new_signer,
    verifier_factory: new_verifier,
    key_utils: KeyUtils {
        rsa_pub_components_from_private_key,
        rsa_pub_components_from_public_key,
        ec_pub_components_from_private_key,
        ed_pub_components_from_private_key,
        compute_digest,
    },
};

struct RingSigner {
    alg: Algorithm,
    key: Vec<u8>,
}

struct RingVerifier {
    alg: Algorithm,
    key: DecodingKey,
}

fn new_signer(alg: &Algorithm, key: &EncodingKey) -> Result<Box<dyn JwtSigner>> {
    Ok(Box::new(RingSigner {
        alg: *alg,
        key: key.as_bytes().to_vec(),
    }))
}

fn new_verifier(alg: &Algorithm, key: &DecodingKey) -> Result<Box<dyn JwtVerifier>> {
    Ok(Box::new(RingVerifier {
        alg: *alg,
        key: key.clone(),
    }))
}

/// How ring implements one JWS algorithm.
enum Scheme {
    Hmac(hmac::Algorithm),
    Rsa {
        verify: &'static sig::RsaParameters,
        padding: &'static dyn sig::RsaEncoding,
    },
    Ecdsa {
        verify: &'static sig::EcdsaVerificationAlgorithm,
        signing: &'static sig::EcdsaSigningAlgorithm,
    },
    Ed25519,
}

/// `None` for algorithms a newer jsonwebtoken may add that ring lacks.
fn scheme(alg: Algorithm) -> Option<Scheme> {
    Some(match alg {
        Algorithm::HS256 => Scheme::Hmac(hmac::HMAC_SHA256),
        Algorithm::HS384 => Scheme::Hmac(hmac::HMAC_SHA384),
        Algorithm::HS512 => Scheme::Hmac(hmac::HMAC_SHA512),
        Algorithm::RS256 => Scheme::Rsa {
            verify: &sig::RSA_PKCS1_2048_8192_SHA256,
            padding: &sig::RSA_PKCS1_SHA256,
        },
        Algorithm::RS384 => Scheme::Rsa {
            verify: &sig::RSA_PKCS1_2048_8192_SHA384,
            padding: &sig::RSA_PKCS1_SHA384,
        },
        Algorithm::RS512 => Scheme::Rsa {
            verify: &sig::RSA_PKCS1_2048_8192_SHA512,
            padding: &sig::RSA_PKCS1_SHA512,
        },
        Algorithm::PS256 => Scheme::Rsa {
            verify: &sig::RSA_PSS_2048_8192_SHA256,
            padding: &sig::RSA_PSS_SHA256,
        },
        Algorithm::PS384 => Scheme::Rsa {
            verify: &sig::RSA_PSS_2048_8192_SHA384,
            padding: &sig::RSA_PSS_SHA384,
        },
        Algorithm::PS512 => Scheme::Rsa {
            verify: &sig::RSA_PSS_2048_8192_SHA512,
            padding: &sig::RSA_PSS_SHA512,
        },
        Algorithm::ES256 => Scheme::Ecdsa {
            verify: &sig::ECDSA_P256_SHA256_FIXED,
            signing: &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
        },
        Algorithm::ES384 => Scheme::Ecdsa {
            verify: &sig::ECDSA_P384_SHA384_FIXED,
            signing: &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
        },
        Algorithm::EdDSA => Scheme::Ed25519,
        _ => return None,
    })
}

fn failed<E>(_: E) -> signature::Error {
    signature::Error::new()
}

impl signature::Signer<Vec<u8>> for RingSigner {
    fn try_sign(&self, msg: &[u8]) -> std::result::Result<Vec<u8>, signature::Error> {
        let rng = SystemRandom::new();
        match scheme(self.alg).ok_or_else(signature::Error::new)? {
            Scheme::Hmac(alg) => Ok(hmac::sign(&hmac::Key::new(alg, &self.key), msg)
                .as_ref()
                .to_vec()),
            Scheme::Rsa { padding, .. } => {
                let pair = sig::RsaKeyPair::from_pkcs8(&self.key)
                    .or_else(|_| sig::RsaKeyPair::from_der(&self.key))
                    .map_err(failed)?;
                let mut out = vec![0; pair.public().modulus_len()];
                pair.sign(padding, &rng, msg, &mut out).map_err(failed)?;
                Ok(out)
            }
            Scheme::Ecdsa { signing, .. } => {
                let pair =
                    sig::EcdsaKeyPair::from_pkcs8(signing, &self.key, &rng).map_err(failed)?;
                Ok(pair.sign(&rng, msg).map_err(failed)?.as_ref().to_vec())
            }
            Scheme::Ed25519 => {
                let pair =
                    sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(&self.key).map_err(failed)?;
                Ok(pair.sign(msg).as_ref().to_vec())
            }
        }
    }
}

impl JwtSigner for RingSigner {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

impl signature::Verifier<Vec<u8>> for RingVerifier {
    fn verify(&self, msg: &[u8], signature: &Vec<u8>) -> std::result::Result<(), signature::Error> {
        use jsonwebtoken::DecodingKeyKind::{RsaModulusExponent, SecretOrDer};
        let Some(scheme) = scheme(self.alg) else {
            return Err(signature::Error::new());
        };
        let verified = match (scheme, self.key.kind()) {
            (Scheme::Hmac(alg), SecretOrDer(secret)) => {
                hmac::verify(&hmac::Key::new(alg, secret), msg, signature).is_ok()
            }
            (Scheme::Rsa { verify, .. }, RsaModulusExponent { n, e }) => {
                sig::RsaPublicKeyComponents { n, e }
                    .verify(verify, msg, signature)
                    .is_ok()
            }
            (Scheme::Rsa { verify, .. }, SecretOrDer(der)) => {
                sig::UnparsedPublicKey::new(verify, der)
                    .verify(msg, signature)
                    .is_ok()
            }
            (Scheme::Ecdsa { verify, .. }, SecretOrDer(point)) => {
                sig::UnparsedPublicKey::new(verify, point)
                    .verify(msg, signature)
                    .is_ok()
            }
            (Scheme::Ed25519, SecretOrDer(public)) => {
                sig::UnparsedPublicKey::new(&sig::ED25519, public)
                    .verify(msg, signature)
                    .is_ok()
            }
            // A key of another family never verifies.
            _ => false,
        };
        if verified {
            Ok(())
        } else {
            Err(signature::Error::new())
        }
    }
}

impl JwtVerifier for RingVerifier {
    fn algorithm(&self) -> Algorithm {
        self.alg
    }
}

fn rsa_pub_components_from_private_key(der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    let pair = sig::RsaKeyPair::from_pkcs8(der)
        .or_else(|_| sig::RsaKeyPair::from_der(der))
        .map_err(|e| Error::from(ErrorKind::InvalidRsaKey(e.to_string())))?;
    let public = sig::RsaPublicKeyComponents::<Vec<u8>>::from(pair.public());
    Ok((public.n, public.e))
}

fn rsa_pub_components_from_public_key(_der: &[u8]) -> Result<(Vec<u8>, Vec<u8>)> {
    // ring has no public parser for PKCS#1 public keys; keymint builds RSA
    // JWKs from the private key instead.
    Err(ErrorKind::InvalidKeyFormat.into())
}

fn ec_pub_components_from_private_key(
    der: &[u8],
    alg: Algorithm,
) -> Result<(EllipticCurve, Vec<u8>, Vec<u8>)> {
    let (signing, curve, width) = match alg {
        Algorithm::ES256 => (
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            EllipticCurve::P256,
            32,
        ),
        Algorithm::ES384 => (
            &sig::ECDSA_P384_SHA384_FIXED_SIGNING,
            EllipticCurve::P384,
            48,
        ),
        _ => return Err(ErrorKind::InvalidEcdsaKey.into()),
    };
    let pair = sig::EcdsaKeyPair::from_pkcs8(signing, der, &SystemRandom::new())
        .map_err(|_| Error::from(ErrorKind::InvalidEcdsaKey))?;
    let point = sig::KeyPair::public_key(&pair).as_ref();
    let (x, y) = point[1..].split_at(width);
    Ok((curve, x.to_vec(), y.to_vec()))
}

fn ed_pub_components_from_private_key(der: &[u8], curve: &EllipticCurve) -> Result<Vec<u8>> {
    if *curve != EllipticCurve::Ed25519 {
        return Err(ErrorKind::InvalidAlgorithm.into());
    }
    let pair = sig::Ed25519KeyPair::from_pkcs8_maybe_unchecked(der)
        .map_err(|_| Error::from(ErrorKind::InvalidEddsaKey))?;
    Ok(sig::KeyPair::public_key(&pair).as_ref().to_vec())
}

fn compute_digest(data: &[u8], hash: ThumbprintHash) -> Result<Vec<u8>> {
    let alg = match hash {
        ThumbprintHash::SHA256 => &digest::SHA256,
        ThumbprintHash::SHA384 => &digest::SHA384,
        ThumbprintHash::SHA512 => &digest::SHA512,
        _ => return Err(ErrorKind::InvalidAlgorithm.into()),
    };
    Ok(digest::digest(alg, data).as_ref().to_vec())
}

#[cfg(test)]
mod tests {
    use super::*;
    use jsonwebtoken::{Header, Validation, decode, encode};
    use serde_json::{Value, json};

    #[test]
    fn round_trips_hmac_ecdsa_and_eddsa_and_refuses_tampering() {
        install();
        let claims = json!({"sub": "s", "exp": 4_000_000_000u64});
        let es = ring::signature::EcdsaKeyPair::generate_pkcs8(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            &SystemRandom::new(),
        )
        .unwrap();
        let ed = sig::Ed25519KeyPair::generate_pkcs8(&SystemRandom::new()).unwrap();
        let es_pair = sig::EcdsaKeyPair::from_pkcs8(
            &sig::ECDSA_P256_SHA256_FIXED_SIGNING,
            es.as_ref(),
            &SystemRandom::new(),
        )
        .unwrap();
        let ed_pair = sig::Ed25519KeyPair::from_pkcs8(ed.as_ref()).unwrap();
        let cases = [
            (
                Algorithm::HS256,
                EncodingKey::from_secret(b"k"),
                DecodingKey::from_secret(b"k"),
            ),
            (
                Algorithm::ES256,
                EncodingKey::from_ec_der(es.as_ref()),
                DecodingKey::from_ec_der(sig::KeyPair::public_key(&es_pair).as_ref()),
            ),
            (
                Algorithm::EdDSA,
                EncodingKey::from_ed_der(ed.as_ref()),
                DecodingKey::from_ed_der(sig::KeyPair::public_key(&ed_pair).as_ref()),
            ),
        ];
        for (alg, encoding, decoding) in cases {
            let token = encode(&Header::new(alg), &claims, &encoding).unwrap();
            let mut validation = Validation::new(alg);
            validation.required_spec_claims.clear();
            let decoded = decode::<Value>(&token, &decoding, &validation).unwrap();
            assert_eq!(decoded.claims["sub"], "s", "{alg:?}");
            let forged = token.replace(
                &token[token.find('.').unwrap() + 1..token.rfind('.').unwrap()],
                "e30",
            );
            assert!(
                decode::<Value>(&forged, &decoding, &validation).is_err(),
                "{alg:?}"
            );
        }
    }
}
