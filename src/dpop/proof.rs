//! Checking one DPoP proof (RFC 9449 section 4.3), statelessly: its form,
//! its key, its signature and what it says about the request. Whether its
//! `jti` was seen before, and whether its nonce is current, are for the
//! caller (see [`super::replay`] and [`super::nonce`]).

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde::Deserialize;
use serde_json::{Map, Value};

use crate::jws::{self, JwsAlg, JwsError, PublicJwk};

/// The proof's `typ` header (RFC 9449 section 4.2).
pub const PROOF_TYPE: &str = "dpop+jwt";

/// How far a proof's `iat` may be from now, either way.
pub const IAT_WINDOW_SECS: i64 = 60;

/// A proof is one header line: anything longer is not one.
pub const MAX_PROOF_LEN: usize = 8 * 1024;

/// The algorithms a proof may be signed with, as discovery lists them.
/// `Ed25519` is RFC 9864's fully-specified name for EdDSA over Ed25519,
/// which newer clients (panva's `dpop`) send.
pub const ALGORITHMS: [&str; 5] = ["ES256", "EdDSA", "Ed25519", "RS256", "PS256"];

/// JWK members that only a private key has: a proof carrying any of them
/// has leaked its key, and keymint will not be the one to accept it.
const PRIVATE_MEMBERS: [&str; 8] = ["d", "p", "q", "dp", "dq", "qi", "oth", "k"];

/// Why a proof was refused: the check that failed, never the proof's text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProofError {
    #[error("the DPoP proof is not a well-formed JWT")]
    Malformed,
    #[error("the DPoP proof's typ is not dpop+jwt")]
    WrongType,
    #[error("the DPoP proof's algorithm is not one of ES256, EdDSA, RS256, PS256")]
    AlgorithmNotAllowed,
    #[error("the DPoP proof's jwk is not a public key of its algorithm")]
    BadKey,
    #[error("the DPoP proof's jwk holds a private key")]
    PrivateKey,
    #[error("the DPoP proof's signature does not verify")]
    BadSignature,
    #[error("the DPoP proof lacks the claim {0}")]
    MissingClaim(&'static str),
    #[error("the DPoP proof's htm is not this request's method")]
    WrongMethod,
    #[error("the DPoP proof's htu is not this request's URL")]
    WrongUrl,
    #[error("the DPoP proof's iat is more than 60 s from now")]
    Stale,
    #[error("the DPoP proof's ath is not the hash of the access token")]
    WrongAth,
}

/// The request a proof must be about.
#[derive(Debug, Clone, Copy)]
pub struct Expected<'a> {
    /// `POST`, `GET`, …: compared exactly (methods are case-sensitive).
    pub method: &'a str,
    /// The request's URL as the client addressed it; query and fragment
    /// are ignored on both sides.
    pub url: &'a str,
    /// At a resource: the access token presented with the proof, whose
    /// hash the proof's `ath` must be.
    pub access_token: Option<&'a str>,
    /// Unix seconds.
    pub now: i64,
}

/// A proof that checked out.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The RFC 7638 SHA-256 thumbprint of the proof's key: what a bound
    /// token's `cnf.jkt` holds.
    pub jkt: String,
    pub jti: String,
    pub iat: i64,
    /// The server nonce the proof carries, if any.
    pub nonce: Option<String>,
}

#[derive(Deserialize)]
struct Header {
    typ: Option<String>,
    alg: String,
    jwk: Option<Map<String, Value>>,
    crit: Option<Value>,
}

#[derive(Deserialize)]
struct Claims {
    jti: Option<String>,
    htm: Option<String>,
    htu: Option<String>,
    iat: Option<i64>,
    ath: Option<String>,
    nonce: Option<String>,
}

/// The one proof among a request's `DPoP` header values (RFC 9449 section
/// 4.3, check 1): none is `Ok(None)`; several, or one that is not text, is
/// refused. For keymint's routes and the verifier's extractor alike.
pub fn single_header<'a>(
    mut values: impl Iterator<Item = &'a [u8]>,
) -> Result<Option<&'a str>, &'static str> {
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.next().is_some() {
        return Err("send one DPoP header, not several");
    }
    std::str::from_utf8(first)
        .map(|proof| Some(proof.trim()))
        .map_err(|_| "the DPoP header is not text")
}

impl From<JwsError> for ProofError {
    fn from(error: JwsError) -> Self {
        match error {
            JwsError::Malformed => ProofError::Malformed,
            JwsError::BadKey => ProofError::BadKey,
            JwsError::BadSignature => ProofError::BadSignature,
        }
    }
}

/// Checks `proof` against the request it came with.
pub fn verify(proof: &str, expected: &Expected<'_>) -> Result<VerifiedProof, ProofError> {
    if proof.len() > MAX_PROOF_LEN {
        return Err(ProofError::Malformed);
    }
    let header: Header = jws::decode_header(proof)?;
    if !header
        .typ
        .as_deref()
        .is_some_and(|typ| typ.eq_ignore_ascii_case(PROOF_TYPE))
    {
        return Err(ProofError::WrongType);
    }
    if header.crit.is_some() {
        return Err(ProofError::Malformed);
    }
    let alg = JwsAlg::parse(&header.alg).ok_or(ProofError::AlgorithmNotAllowed)?;
    let members = header.jwk.ok_or(ProofError::BadKey)?;
    if PRIVATE_MEMBERS
        .iter()
        .any(|name| members.contains_key(*name))
    {
        return Err(ProofError::PrivateKey);
    }
    let key = PublicJwk::of(&members, alg)?;
    let claims = jws::decode_payload(&key.verify(proof)?)?;
    check_claims(claims, expected, key.thumbprint().to_owned())
}

fn check_claims(
    claims: Claims,
    expected: &Expected<'_>,
    jkt: String,
) -> Result<VerifiedProof, ProofError> {
    let jti = claims
        .jti
        .filter(|jti| !jti.is_empty())
        .ok_or(ProofError::MissingClaim("jti"))?;
    let htm = claims.htm.ok_or(ProofError::MissingClaim("htm"))?;
    let htu = claims.htu.ok_or(ProofError::MissingClaim("htu"))?;
    let iat = claims.iat.ok_or(ProofError::MissingClaim("iat"))?;
    if htm != expected.method {
        return Err(ProofError::WrongMethod);
    }
    if !same_target(&htu, expected.url) {
        return Err(ProofError::WrongUrl);
    }
    if iat.abs_diff(expected.now) > IAT_WINDOW_SECS.unsigned_abs() {
        return Err(ProofError::Stale);
    }
    if let Some(token) = expected.access_token {
        let ath = claims.ath.ok_or(ProofError::MissingClaim("ath"))?;
        if ath != access_token_hash(token) {
            return Err(ProofError::WrongAth);
        }
    }
    Ok(VerifiedProof {
        jkt,
        jti,
        iat,
        nonce: claims.nonce,
    })
}

/// `ath`: the base64url SHA-256 of the access token (RFC 9449 section 4.2).
pub fn access_token_hash(token: &str) -> String {
    B64.encode(ring::digest::digest(
        &ring::digest::SHA256,
        token.as_bytes(),
    ))
}

/// Whether two URLs name the same resource once normalised as RFC 9449
/// section 4.3 asks (RFC 3986 syntax- and scheme-based normalisation: case
/// of scheme and host, default ports, an empty path), without their query
/// and fragment.
pub fn same_target(presented: &str, expected: &str) -> bool {
    match (target(presented), target(expected)) {
        (Some(presented), Some(expected)) => presented == expected,
        _ => false,
    }
}

fn target(text: &str) -> Option<(String, String, u16, String)> {
    let url = url::Url::parse(text).ok()?;
    if !matches!(url.scheme(), "http" | "https") || url.cannot_be_a_base() {
        return None;
    }
    Some((
        url.scheme().to_owned(),
        url.host_str()?.to_owned(),
        url.port_or_known_default()?,
        url.path().to_owned(),
    ))
}

#[cfg(test)]
mod tests;
