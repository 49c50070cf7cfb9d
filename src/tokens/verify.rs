//! Verifying an access token against a set of public keys: the pure core of
//! keymint's verifier (no HTTP, no cache, the time passed in), shared by the
//! downstream [`crate::verifier`], `keymint token verify`, and anything in
//! keymint that checks its own tokens.
//!
//! The rules: the header's `alg` must be on the allow-list (never `none` or
//! HS*), its `kid` must name a published key whose JWK has that same `alg`,
//! and the signature is checked with the JWK's algorithm, never one the
//! token picks; `typ` is `at+jwt`; `iss` and `aud` are the expected ones;
//! `exp` and `nbf` hold within a leeway of at most 60 s.

use std::collections::HashMap;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use super::claims::{AccessClaims, Registered};
use super::kind::TokenKind;
use super::login::LoginClaims;
use super::portal::PortalClaims;
use crate::signing::{SigningAlg, SigningKeys};

/// The most clock difference a verifier may forgive.
pub const MAX_LEEWAY_SECS: u64 = 60;
/// What it forgives unless told otherwise.
pub const DEFAULT_LEEWAY_SECS: u64 = 30;

/// Why a token was refused. The messages never repeat token contents.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("the token is not a well-formed JWT")]
    Malformed,
    #[error("the token's algorithm {0:?} is not accepted")]
    AlgorithmNotAllowed(String),
    #[error("the token names no signing key (kid)")]
    MissingKid,
    /// The kid is kept for the caller (a cache may refetch the JWKS).
    #[error("no published key matches the token's kid")]
    UnknownKey(String),
    #[error("the token's algorithm is not its key's")]
    AlgorithmMismatch,
    #[error("the token is not of the expected kind (its typ header)")]
    WrongType,
    #[error("the token's signature does not verify")]
    BadSignature,
    #[error("the token's claims are not an access token's")]
    BadClaims,
    #[error("the token has expired")]
    Expired,
    #[error("the token is not valid yet")]
    NotYetValid,
    #[error("the token comes from another issuer")]
    WrongIssuer,
    #[error("the token is meant for another audience")]
    WrongAudience,
}

/// Which `aud` a token may carry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Audiences {
    /// One of these.
    OneOf(Vec<String>),
    /// Any: for introspection, which reports on tokens meant for anyone.
    Any,
}

/// What a valid token must say, and how strictly.
#[derive(Debug, Clone)]
pub struct Expectations {
    pub issuer: String,
    pub audience: Audiences,
    /// Accepted algorithms: a subset of keymint's; `none` and HS* cannot be
    /// expressed.
    pub algorithms: Vec<SigningAlg>,
    /// Seconds of clock difference forgiven on `exp` and `nbf`, capped at
    /// [`MAX_LEEWAY_SECS`].
    pub leeway_secs: u64,
}

impl Expectations {
    /// Every keymint algorithm, the default leeway.
    pub fn new(issuer: impl Into<String>, audience: impl Into<String>) -> Self {
        Self {
            issuer: issuer.into(),
            audience: Audiences::OneOf(vec![audience.into()]),
            algorithms: vec![SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256],
            leeway_secs: DEFAULT_LEEWAY_SECS,
        }
    }
}

/// A published public key, with the one algorithm it verifies.
struct VerifyingKey {
    alg: SigningAlg,
    key: DecodingKey,
}

/// Public keys by `kid`, as read from a JWKS document.
#[derive(Default)]
pub struct KeySet {
    keys: HashMap<String, VerifyingKey>,
}

impl std::fmt::Debug for KeySet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_set().entries(self.keys.keys()).finish()
    }
}

impl KeySet {
    /// Reads a JWKS document (`{"keys": [...]}`). Members that are not
    /// signature keys of an accepted algorithm (symmetric keys, other
    /// curves, no `kid`) are left out, so one odd member spoils nothing.
    pub fn from_jwks_json(text: &[u8]) -> Result<Self, serde_json::Error> {
        #[derive(Deserialize)]
        struct Document {
            keys: Vec<serde_json::Value>,
        }
        let document: Document = serde_json::from_slice(text)?;
        Ok(Self::from_members(&document.keys))
    }

    /// The keys of JWKS members, leaving out those that cannot verify.
    pub fn from_members<'a>(members: impl IntoIterator<Item = &'a serde_json::Value>) -> Self {
        let keys = members
            .into_iter()
            .filter_map(|member| {
                let jwk: Jwk = serde_json::from_value(member.clone()).ok()?;
                let kid = jwk.common.key_id.clone()?;
                Some((kid, verifying_key(&jwk)?))
            })
            .collect();
        Self { keys }
    }

    /// The keys keymint itself publishes at `now`, read from its key
    /// store: the same JWKs the JWKS document lists, without writing and
    /// parsing the document.
    pub fn published(signing: &SigningKeys, now: chrono::DateTime<chrono::Utc>) -> Self {
        Self::from_members(signing.published(now).iter().map(|key| key.jwk()))
    }

    pub fn contains(&self, kid: &str) -> bool {
        self.keys.contains_key(kid)
    }

    pub fn len(&self) -> usize {
        self.keys.len()
    }

    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }
}

/// The algorithm a JWK verifies, from its `alg` or, when absent, from its
/// curve, if that algorithm is one of keymint's and the key material fits.
fn verifying_key(jwk: &Jwk) -> Option<VerifyingKey> {
    if jwk
        .common
        .public_key_use
        .as_ref()
        .is_some_and(|usage| *usage != PublicKeyUse::Signature)
    {
        return None;
    }
    let fits = match &jwk.algorithm {
        AlgorithmParameters::EllipticCurve(ec) if ec.curve == EllipticCurve::P256 => {
            SigningAlg::ES256
        }
        AlgorithmParameters::OctetKeyPair(okp) if okp.curve == EllipticCurve::Ed25519 => {
            SigningAlg::EdDSA
        }
        AlgorithmParameters::RSA(_) => SigningAlg::RS256,
        _ => return None,
    };
    let alg = match jwk.common.key_algorithm {
        Some(KeyAlgorithm::ES256) => SigningAlg::ES256,
        Some(KeyAlgorithm::EdDSA) => SigningAlg::EdDSA,
        Some(KeyAlgorithm::RS256) => SigningAlg::RS256,
        // RSA keys serve several algorithms: only a stated one is trusted.
        None if fits != SigningAlg::RS256 => fits,
        _ => return None,
    };
    if alg != fits {
        return None;
    }
    let key = DecodingKey::from_jwk(jwk).ok()?;
    Some(VerifyingKey { alg, key })
}

fn jwt_algorithm(alg: SigningAlg) -> Algorithm {
    match alg {
        SigningAlg::ES256 => Algorithm::ES256,
        SigningAlg::EdDSA => Algorithm::EdDSA,
        SigningAlg::RS256 => Algorithm::RS256,
    }
}

/// The JOSE header fields this check reads.
#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    typ: Option<String>,
    /// Extensions a verifier must understand (RFC 7515 section 4.1.11):
    /// keymint understands none, so their presence refuses the token.
    crit: Option<serde_json::Value>,
}

fn header(token: &str) -> Result<Header, VerifyError> {
    let encoded = token.split('.').next().ok_or(VerifyError::Malformed)?;
    let bytes = B64.decode(encoded).map_err(|_| VerifyError::Malformed)?;
    let header: Header = serde_json::from_slice(&bytes).map_err(|_| VerifyError::Malformed)?;
    if header.crit.is_some() {
        return Err(VerifyError::Malformed);
    }
    Ok(header)
}

/// The kind a token says it is (its `typ`), read without verifying
/// anything: only to choose which kind to verify it as, which then checks
/// the signed header says the same.
pub fn claimed_kind(token: &str) -> Option<TokenKind> {
    header(token)
        .ok()?
        .typ
        .as_deref()
        .and_then(TokenKind::from_typ)
}

/// The claims of one kind of keymint token: the kind ties the claims type
/// to its `typ` header, both when keymint signs and when it verifies, so a
/// token of one kind never parses as another. [`verify_as`] checks the
/// [`Registered`] part.
pub trait TokenClaims: serde::Serialize + DeserializeOwned {
    const KIND: TokenKind;
    fn registered(&self) -> &Registered;
}

impl TokenClaims for AccessClaims {
    const KIND: TokenKind = TokenKind::Access;
    fn registered(&self) -> &Registered {
        &self.registered
    }
}

impl TokenClaims for LoginClaims {
    const KIND: TokenKind = TokenKind::Login;
    fn registered(&self) -> &Registered {
        &self.registered
    }
}

impl TokenClaims for PortalClaims {
    const KIND: TokenKind = TokenKind::Portal;
    fn registered(&self) -> &Registered {
        &self.registered
    }
}

/// Verifies an access token against `keys` at `now` (unix seconds) and
/// returns its claims.
pub fn verify(
    token: &str,
    keys: &KeySet,
    expected: &Expectations,
    now: i64,
) -> Result<AccessClaims, VerifyError> {
    verify_as(token, keys, expected, now)
}

/// [`verify`] for any kind of keymint token (`C`: its claims, whose kind
/// the token's `typ` must name).
pub fn verify_as<C: TokenClaims>(
    token: &str,
    keys: &KeySet,
    expected: &Expectations,
    now: i64,
) -> Result<C, VerifyError> {
    if token.split('.').count() != 3 {
        return Err(VerifyError::Malformed);
    }
    let header = header(token)?;
    let allowed = SigningAlg::parse(&header.alg).filter(|alg| expected.algorithms.contains(alg));
    let Some(alg) = allowed else {
        return Err(VerifyError::AlgorithmNotAllowed(header.alg));
    };
    let kid = header.kid.ok_or(VerifyError::MissingKid)?;
    let key = keys
        .keys
        .get(&kid)
        .ok_or_else(|| VerifyError::UnknownKey(kid.clone()))?;
    if key.alg != alg {
        return Err(VerifyError::AlgorithmMismatch);
    }
    if header.typ.as_deref().and_then(TokenKind::from_typ) != Some(C::KIND) {
        return Err(VerifyError::WrongType);
    }
    let claims = check_signature(token, key)?;
    check_claims(&claims, expected, now)?;
    Ok(claims)
}

/// The signature, by jsonwebtoken and ring with the key's own algorithm;
/// the claims are only parsed once it holds.
fn check_signature<C: DeserializeOwned>(token: &str, key: &VerifyingKey) -> Result<C, VerifyError> {
    super::provider::install();
    let mut validation = Validation::new(jwt_algorithm(key.alg));
    // Times, issuer and audience are checked below, against the given time.
    validation.required_spec_claims.clear();
    validation.validate_exp = false;
    validation.validate_nbf = false;
    validation.validate_aud = false;
    jsonwebtoken::decode::<C>(token, &key.key, &validation)
        .map(|data| data.claims)
        .map_err(|error| match error.kind() {
            ErrorKind::InvalidSignature => VerifyError::BadSignature,
            ErrorKind::Json(_) => VerifyError::BadClaims,
            _ => VerifyError::Malformed,
        })
}

fn check_claims(
    claims: &impl TokenClaims,
    expected: &Expectations,
    now: i64,
) -> Result<(), VerifyError> {
    let claims = claims.registered();
    let leeway = i64::try_from(expected.leeway_secs.min(MAX_LEEWAY_SECS)).unwrap_or(0);
    if now >= claims.exp.saturating_add(leeway) {
        return Err(VerifyError::Expired);
    }
    if now.saturating_add(leeway) < claims.nbf {
        return Err(VerifyError::NotYetValid);
    }
    if claims.iss != expected.issuer {
        return Err(VerifyError::WrongIssuer);
    }
    match &expected.audience {
        Audiences::OneOf(accepted) if !accepted.contains(&claims.aud) => {
            Err(VerifyError::WrongAudience)
        }
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
