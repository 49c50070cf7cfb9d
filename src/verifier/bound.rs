//! DPoP-bound tokens at a downstream service (RFC 9449 section 7): a token
//! whose `cnf.jkt` names a key is good only with a fresh proof of that key
//! for this very request, and each proof only once. The verifier keeps its
//! own memory of the proofs it took, bounded like keymint's.

use crate::dpop::proof::{self, Expected, ProofError};
use crate::dpop::replay::{self, ReplayCache};
use crate::tokens::AccessClaims;

/// Proofs one verifier remembers at once, by default.
pub const DEFAULT_REPLAY_CAPACITY: usize = 100_000;

/// Why a token's binding did not hold.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DpopError {
    #[error("the token is bound to a DPoP key: present it as DPoP with a proof of that key")]
    ProofRequired,
    #[error("the token is not DPoP-bound: present it as Bearer")]
    NotBound,
    #[error(transparent)]
    Proof(#[from] ProofError),
    #[error("the DPoP proof is of another key than the token's")]
    WrongKey,
    #[error("the DPoP proof was used before")]
    Replayed,
    #[error("too many recent DPoP proofs to remember another; try again shortly")]
    Busy,
}

impl DpopError {
    /// The RFC 9449 error code of the `DPoP` challenge.
    pub fn code(&self) -> &'static str {
        match self {
            DpopError::ProofRequired | DpopError::NotBound | DpopError::WrongKey => "invalid_token",
            DpopError::Proof(_) | DpopError::Replayed | DpopError::Busy => "invalid_dpop_proof",
        }
    }
}

/// The request a token came with, for its proof to be checked against.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    /// The `DPoP` header, when the token came as `Authorization: DPoP`;
    /// `None` when it came as Bearer.
    pub proof: Option<&'a str>,
    pub method: &'a str,
    /// The URL as the client addressed it (scheme, host, path).
    pub url: &'a str,
}

/// Checks the binding of verified `claims` presented with `presented`.
pub fn check(
    seen: &ReplayCache,
    claims: &AccessClaims,
    token: &str,
    presented: &Presented<'_>,
    now: i64,
) -> Result<(), DpopError> {
    let (cnf, proof) = match (&claims.cnf, presented.proof) {
        (None, None) => return Ok(()),
        (Some(_), None) => return Err(DpopError::ProofRequired),
        (None, Some(_)) => return Err(DpopError::NotBound),
        (Some(cnf), Some(proof)) => (cnf, proof),
    };
    let expected = Expected {
        method: presented.method,
        url: presented.url,
        access_token: Some(token),
        now,
    };
    let verified = proof::verify(proof, &expected)?;
    if verified.jkt != cnf.jkt {
        return Err(DpopError::WrongKey);
    }
    let id = replay::proof_id(&verified.jkt, &verified.jti);
    let until = verified.iat.saturating_add(proof::IAT_WINDOW_SECS);
    match seen.first_use(id, until, now) {
        Ok(true) => Ok(()),
        Ok(false) => Err(DpopError::Replayed),
        Err(replay::Full) => Err(DpopError::Busy),
    }
}
