//! Verifying a compact JWS with a public JWK, with ring directly: for the
//! signatures keymint checks but did not make (DPoP proofs, federated
//! workloads' tokens). Only asymmetric algorithms exist here: `none` and
//! HS* cannot be expressed, so no header can pick them.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use ring::signature::{self as sig, UnparsedPublicKey};
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

/// The algorithms keymint verifies in others' signatures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JwsAlg {
    Es256,
    /// `EdDSA`, or RFC 9864's fully-specified `Ed25519`.
    Ed25519,
    Rs256,
    Ps256,
}

impl JwsAlg {
    pub fn parse(alg: &str) -> Option<Self> {
        Some(match alg {
            "ES256" => JwsAlg::Es256,
            "EdDSA" | "Ed25519" => JwsAlg::Ed25519,
            "RS256" => JwsAlg::Rs256,
            "PS256" => JwsAlg::Ps256,
            _ => return None,
        })
    }

    /// Whether a JWK's own `alg` member allows this algorithm.
    pub fn is_named_by(self, jwk_alg: &str) -> bool {
        JwsAlg::parse(jwk_alg) == Some(self)
    }
}

/// Why a signature was not verified; never the token's text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum JwsError {
    #[error("not a well-formed compact JWS")]
    Malformed,
    #[error("the key is not a public key of the algorithm")]
    BadKey,
    #[error("the signature does not verify")]
    BadSignature,
}

/// A public key, checked to be of one algorithm, with its RFC 7638
/// thumbprint.
pub struct PublicJwk {
    alg: JwsAlg,
    /// The key as ring takes it: an uncompressed P-256 point, the Ed25519
    /// bytes, or RSA's modulus and exponent.
    material: Material,
    thumbprint: String,
}

enum Material {
    Bytes(Vec<u8>),
    Rsa { n: Vec<u8>, e: Vec<u8> },
}

impl PublicJwk {
    /// The key of JWK `members` for `alg`, or `BadKey` if it is not one
    /// (another key type or curve, a wrong length, bad base64).
    pub fn of(members: &Map<String, Value>, alg: JwsAlg) -> Result<Self, JwsError> {
        let text = |name: &str| members.get(name).and_then(Value::as_str);
        let bytes = |name: &str| {
            let value = text(name).ok_or(JwsError::BadKey)?;
            B64.decode(value).map_err(|_| JwsError::BadKey)
        };
        // The members RFC 7638 names for the key's type, in its order.
        let (required, material): (&[&str], Material) = match (text("kty"), alg) {
            (Some("EC"), JwsAlg::Es256) if text("crv") == Some("P-256") => {
                let (x, y) = (bytes("x")?, bytes("y")?);
                if x.len() != 32 || y.len() != 32 {
                    return Err(JwsError::BadKey);
                }
                let point = [&[0x04][..], &x, &y].concat();
                (&["crv", "kty", "x", "y"], Material::Bytes(point))
            }
            (Some("OKP"), JwsAlg::Ed25519) if text("crv") == Some("Ed25519") => {
                (&["crv", "kty", "x"], Material::Bytes(bytes("x")?))
            }
            (Some("RSA"), JwsAlg::Rs256 | JwsAlg::Ps256) => {
                let (n, e) = (bytes("n")?, bytes("e")?);
                (&["e", "kty", "n"], Material::Rsa { n, e })
            }
            _ => return Err(JwsError::BadKey),
        };
        let thumbprinted: Map<String, Value> = required
            .iter()
            .map(|name| {
                (
                    (*name).to_owned(),
                    members.get(*name).cloned().unwrap_or_default(),
                )
            })
            .collect();
        Ok(Self {
            alg,
            material,
            thumbprint: crate::signing::key::thumbprint(&Value::Object(thumbprinted)),
        })
    }

    pub fn thumbprint(&self) -> &str {
        &self.thumbprint
    }

    /// The payload of `compact`, base64url-decoded, once its signature
    /// verifies with this key by this key's algorithm (RSA keys of 2,048
    /// to 8,192 bits).
    pub fn verify(&self, compact: &str) -> Result<Vec<u8>, JwsError> {
        let (signed, signature) = compact.rsplit_once('.').ok_or(JwsError::Malformed)?;
        let signature = B64.decode(signature).map_err(|_| JwsError::Malformed)?;
        let message = signed.as_bytes();
        let verified = match (&self.material, self.alg) {
            (Material::Bytes(point), JwsAlg::Es256) => {
                UnparsedPublicKey::new(&sig::ECDSA_P256_SHA256_FIXED, point)
                    .verify(message, &signature)
            }
            (Material::Bytes(x), JwsAlg::Ed25519) => {
                UnparsedPublicKey::new(&sig::ED25519, x).verify(message, &signature)
            }
            (Material::Rsa { n, e }, JwsAlg::Rs256 | JwsAlg::Ps256) => {
                let params = if self.alg == JwsAlg::Rs256 {
                    &sig::RSA_PKCS1_2048_8192_SHA256
                } else {
                    &sig::RSA_PSS_2048_8192_SHA256
                };
                sig::RsaPublicKeyComponents { n, e }.verify(params, message, &signature)
            }
            _ => return Err(JwsError::BadKey),
        };
        verified.map_err(|_| JwsError::BadSignature)?;
        let payload = signed.split('.').nth(1).ok_or(JwsError::Malformed)?;
        B64.decode(payload).map_err(|_| JwsError::Malformed)
    }
}

/// The protected header of a compact JWS, unverified: what to verify it
/// with. Three segments or it is not one.
pub fn decode_header<T: DeserializeOwned>(compact: &str) -> Result<T, JwsError> {
    if compact.split('.').count() != 3 {
        return Err(JwsError::Malformed);
    }
    let encoded = compact.split('.').next().ok_or(JwsError::Malformed)?;
    let bytes = B64.decode(encoded).map_err(|_| JwsError::Malformed)?;
    serde_json::from_slice(&bytes).map_err(|_| JwsError::Malformed)
}

/// A verified payload as JSON of type `T`.
pub fn decode_payload<T: DeserializeOwned>(payload: &[u8]) -> Result<T, JwsError> {
    serde_json::from_slice(payload).map_err(|_| JwsError::Malformed)
}
