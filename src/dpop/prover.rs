//! Making DPoP proofs: the client's side, for Rust callers of a keymint
//! (or any RFC 9449) endpoint, and for keymint's own tests and benchmark.

use serde_json::json;

use crate::signing::{KeyError, SigningAlg, SigningKey};

/// A key pair a client holds and proves possession of.
pub struct ProofKey {
    key: SigningKey,
    /// The public JWK as a proof's header carries it: no `kid`, no `use`.
    public_jwk: serde_json::Value,
}

impl ProofKey {
    /// A new key pair (ES256 or EdDSA; ring cannot generate RSA keys).
    pub fn generate(alg: SigningAlg) -> Result<Self, KeyError> {
        Self::from_pkcs8(alg, &SigningKey::generate_pkcs8(alg)?)
    }

    pub fn from_pkcs8(alg: SigningAlg, pkcs8: &[u8]) -> Result<Self, KeyError> {
        let key = SigningKey::from_pkcs8(alg, pkcs8)?;
        let mut public_jwk = key.jwk().clone();
        if let Some(members) = public_jwk.as_object_mut() {
            members.remove("kid");
            members.remove("use");
        }
        Ok(Self { key, public_jwk })
    }

    /// The RFC 7638 thumbprint of the public key: a bound token's `cnf.jkt`.
    /// (keymint's kids are thumbprints too.)
    pub fn thumbprint(&self) -> &str {
        self.key.kid()
    }

    /// A proof for one request: `method` and `url` as sent, the access
    /// token sent beside it (at a resource), the server's nonce if it gave
    /// one, at `iat` (unix seconds), with a fresh `jti`.
    pub fn proof(
        &self,
        method: &str,
        url: &str,
        access_token: Option<&str>,
        nonce: Option<&str>,
        iat: i64,
    ) -> Result<String, KeyError> {
        let header = json!({
            "typ": super::proof::PROOF_TYPE,
            "alg": self.key.alg().as_str(),
            "jwk": self.public_jwk,
        });
        let mut claims = json!({
            "jti": uuid::Uuid::new_v4().to_string(),
            "htm": method,
            "htu": url,
            "iat": iat,
        });
        if let Some(token) = access_token {
            claims["ath"] = json!(super::proof::access_token_hash(token));
        }
        if let Some(nonce) = nonce {
            claims["nonce"] = json!(nonce);
        }
        self.key.sign_with_header(&header, &claims)
    }
}
