//! Checking a workload's own token against a trust policy: its signature
//! by a key its issuer publishes, then its registered claims, then the
//! policy's conditions. Every refusal names the check, never the token.

use serde::Deserialize;
use serde_json::{Map, Value};

use super::issuers::{IssuerError, Issuers};
use super::policy::{self, Mismatch};
use crate::db::models::trust_policies::TrustPolicy;
use crate::jws::{self, JwsAlg, JwsError, PublicJwk};

/// A token longer than this is not a workload's JWT (GitHub's are ~1 KiB).
pub const MAX_TOKEN_LEN: usize = 16 * 1024;
/// The longest lifetime an external token may have: longer-lived ones are
/// credentials of their own, not proofs of a running workload.
pub const MAX_LIFETIME_SECS: i64 = 24 * 3600;
/// Clock difference forgiven on `exp`, `nbf` and `iat`.
pub const LEEWAY_SECS: i64 = 30;

/// Why a token was refused: the check that failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("the subject_token is not a well-formed JWT")]
    Malformed,
    #[error("the subject_token's algorithm is not one of RS256, PS256, ES256, EdDSA")]
    AlgorithmNotAllowed,
    #[error("the subject_token names no key (kid)")]
    MissingKid,
    #[error("the subject_token is signed by a key its issuer does not publish")]
    UnknownKey,
    #[error("the issuer's key is not a key of the subject_token's algorithm")]
    KeyMismatch,
    #[error("the subject_token's signature does not verify")]
    BadSignature,
    #[error("the subject_token comes from another issuer than the policy trusts")]
    WrongIssuer,
    #[error("the subject_token is meant for another audience than the policy's")]
    WrongAudience,
    #[error("the subject_token has no exp")]
    NoExpiry,
    #[error("the subject_token has expired")]
    Expired,
    #[error("the subject_token is not valid yet (nbf)")]
    NotYetValid,
    #[error("the subject_token is issued in the future (iat)")]
    IssuedInTheFuture,
    #[error("the subject_token lives longer than 24 hours")]
    TooLongLived,
    #[error("the subject_token has no sub")]
    NoSubject,
    #[error("the subject_token's sub does not match the policy")]
    WrongSubject,
    #[error("the subject_token's claim {0} does not match the policy")]
    WrongClaim(String),
    #[error("the subject_token was exchanged before")]
    Replayed,
}

/// A refusal, or the issuer's keys could not be had (503: try again).
#[derive(Debug, thiserror::Error)]
pub enum Unverified {
    #[error(transparent)]
    Refused(#[from] Refusal),
    #[error(transparent)]
    Keys(#[from] IssuerError),
}

/// A token that met every check.
#[derive(Debug, Clone)]
pub struct ExternalToken {
    pub sub: String,
    pub exp: i64,
    /// What the token is remembered by so it is exchanged once: a hash of
    /// its issuer and `jti`, or of what its signature covers when it has
    /// no `jti` (see `token_replay_id`).
    pub replay_id: String,
}

#[derive(Deserialize)]
struct Header {
    alg: String,
    kid: Option<String>,
    crit: Option<Value>,
}

/// The `sub` a token claims, unverified and cut to 256 characters: for the
/// audit log of a refusal, never for a decision.
pub fn claimed_subject(token: &str) -> Option<String> {
    if token.len() > MAX_TOKEN_LEN {
        return None;
    }
    let payload = token.split('.').nth(1)?;
    let bytes =
        base64::Engine::decode(&base64::engine::general_purpose::URL_SAFE_NO_PAD, payload).ok()?;
    let claims: Map<String, Value> = serde_json::from_slice(&bytes).ok()?;
    let sub = claims.get("sub")?.as_str()?;
    Some(sub.chars().take(256).collect())
}

/// Checks `token` against `policy` at `now` (unix seconds).
pub async fn verify(
    issuers: &Issuers,
    policy: &TrustPolicy,
    token: &str,
    now: i64,
) -> Result<ExternalToken, Unverified> {
    if token.len() > MAX_TOKEN_LEN {
        return Err(Refusal::Malformed.into());
    }
    let header: Header = jws::decode_header(token).map_err(|_| Refusal::Malformed)?;
    if header.crit.is_some() {
        return Err(Refusal::Malformed.into());
    }
    let alg = JwsAlg::parse(&header.alg).ok_or(Refusal::AlgorithmNotAllowed)?;
    let kid = header.kid.ok_or(Refusal::MissingKid)?;
    let cache = issuers
        .keys_of(&policy.issuer, policy.jwks_uri.as_deref())
        .await?;
    let mut keys = cache.keys().await.map_err(IssuerError::from)?;
    if keys.get(&kid).is_none() {
        // A key the issuer has just rotated in; at most once per 10 s.
        keys = cache
            .keys_for_unknown_kid(&keys)
            .await
            .ok_or(Refusal::UnknownKey)?;
    }
    let member = keys.get(&kid).ok_or(Refusal::UnknownKey)?;
    if member
        .get("alg")
        .and_then(Value::as_str)
        .is_some_and(|named| !alg.is_named_by(named))
    {
        return Err(Refusal::KeyMismatch.into());
    }
    let key = PublicJwk::of(member, alg).map_err(|_| Refusal::KeyMismatch)?;
    let payload = key.verify(token).map_err(|error| match error {
        JwsError::BadSignature => Refusal::BadSignature,
        JwsError::Malformed | JwsError::BadKey => Refusal::Malformed,
    })?;
    let claims: Map<String, Value> =
        jws::decode_payload(&payload).map_err(|_| Refusal::Malformed)?;
    let checked = check_claims(policy, &claims, now)?;
    Ok(ExternalToken {
        replay_id: token_replay_id(&policy.issuer, &claims, token),
        ..checked
    })
}

/// What a token is remembered by: its issuer and `jti`, or, without a
/// `jti`, what its signature covers. Never the signature itself: an ECDSA
/// signature has a twin (`s` and `n - s`) that verifies as well, so a
/// replay could pass for a new token.
fn token_replay_id(issuer: &str, claims: &Map<String, Value>, token: &str) -> String {
    match claims.get("jti").and_then(Value::as_str) {
        Some(jti) => replay_id(&[issuer.as_bytes(), jti.as_bytes()]),
        None => {
            let signed = token.rsplit_once('.').map_or(token, |(signed, _)| signed);
            replay_id(&[issuer.as_bytes(), b"", signed.as_bytes()])
        }
    }
}

fn check_claims(
    policy: &TrustPolicy,
    claims: &Map<String, Value>,
    now: i64,
) -> Result<ExternalToken, Refusal> {
    if claims.get("iss").and_then(Value::as_str) != Some(policy.issuer.as_str()) {
        return Err(Refusal::WrongIssuer);
    }
    let audiences = policy.audiences();
    let accepted = |aud: &Value| {
        aud.as_str()
            .is_some_and(|a| audiences.iter().any(|x| x == a))
    };
    let audience_ok = match claims.get("aud") {
        Some(Value::Array(auds)) => auds.iter().any(accepted),
        Some(aud) => accepted(aud),
        None => false,
    };
    if !audience_ok {
        return Err(Refusal::WrongAudience);
    }
    let exp = numeric_date(claims, "exp")?.ok_or(Refusal::NoExpiry)?;
    if exp + LEEWAY_SECS <= now {
        return Err(Refusal::Expired);
    }
    if numeric_date(claims, "nbf")?.is_some_and(|nbf| nbf - LEEWAY_SECS > now) {
        return Err(Refusal::NotYetValid);
    }
    let iat = numeric_date(claims, "iat")?;
    if iat.is_some_and(|iat| iat - LEEWAY_SECS > now) {
        return Err(Refusal::IssuedInTheFuture);
    }
    if exp - iat.unwrap_or(now) > MAX_LIFETIME_SECS {
        return Err(Refusal::TooLongLived);
    }
    let sub = claims
        .get("sub")
        .and_then(Value::as_str)
        .filter(|sub| !sub.is_empty())
        .ok_or(Refusal::NoSubject)?;
    policy::check_conditions(policy, sub, claims).map_err(|mismatch| match mismatch {
        Mismatch::Subject => Refusal::WrongSubject,
        Mismatch::Claim(name) => Refusal::WrongClaim(name),
    })?;
    Ok(ExternalToken {
        sub: sub.to_owned(),
        exp,
        replay_id: String::new(),
    })
}

/// A NumericDate claim (RFC 7519 section 2), whole seconds; a claim of
/// another type is malformed, not absent.
fn numeric_date(claims: &Map<String, Value>, name: &str) -> Result<Option<i64>, Refusal> {
    match claims.get(name) {
        None => Ok(None),
        Some(value) => value
            .as_f64()
            .filter(|secs| secs.is_finite() && secs.abs() < 1e12)
            .map(|secs| Some(secs.floor() as i64))
            .ok_or(Refusal::Malformed),
    }
}

/// `fed:` and the hex SHA-256 of the parts, each length-prefixed so that
/// no two lists of parts hash alike.
fn replay_id(parts: &[&[u8]]) -> String {
    let mut context = ring::digest::Context::new(&ring::digest::SHA256);
    for part in parts {
        context.update(&(part.len() as u64).to_be_bytes());
        context.update(part);
    }
    let digest = context.finish();
    let hex: String = digest.as_ref()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("fed:{hex}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy() -> TrustPolicy {
        TrustPolicy {
            id: "p".to_owned(),
            workspace_id: "w".to_owned(),
            name: "ci".to_owned(),
            issuer: "https://token.actions.githubusercontent.com".to_owned(),
            jwks_uri: None,
            audiences: r#"["https://keymint.example"]"#.to_owned(),
            subject: Some("repo:acme/api:ref:refs/heads/main".to_owned()),
            claims: r#"{"repository": "acme/api"}"#.to_owned(),
            scopes: String::new(),
            environment: None,
            max_ttl_seconds: None,
            rate_limit: None,
            created_at: chrono::DateTime::from_timestamp(0, 0).unwrap().naive_utc(),
            created_by: None,
        }
    }

    const NOW: i64 = 1_800_000_000;

    fn claims() -> Value {
        json!({
            "iss": "https://token.actions.githubusercontent.com",
            "aud": "https://keymint.example",
            "sub": "repo:acme/api:ref:refs/heads/main",
            "repository": "acme/api",
            "iat": NOW - 10,
            "nbf": NOW - 10,
            "exp": NOW + 300,
        })
    }

    fn check(change: impl FnOnce(&mut Map<String, Value>)) -> Result<ExternalToken, Refusal> {
        let mut claims = claims().as_object().unwrap().clone();
        change(&mut claims);
        check_claims(&policy(), &claims, NOW)
    }

    #[test]
    fn every_registered_claim_and_condition_is_checked() {
        assert_eq!(
            check(|_| {}).unwrap().sub,
            "repo:acme/api:ref:refs/heads/main"
        );
        assert!(
            check(|c| drop(c.insert("aud".into(), json!(["x", "https://keymint.example"]))))
                .is_ok()
        );
        let refused = [
            (Refusal::WrongIssuer, json!({"iss": "https://evil.example"})),
            (
                Refusal::WrongAudience,
                json!({"aud": "https://other.example"}),
            ),
            (Refusal::WrongAudience, json!({"aud": ["a", "b"]})),
            (Refusal::Expired, json!({"exp": NOW - 31})),
            (Refusal::Malformed, json!({"exp": "tomorrow"})),
            (Refusal::NotYetValid, json!({"nbf": NOW + 60})),
            (Refusal::IssuedInTheFuture, json!({"iat": NOW + 60})),
            (Refusal::TooLongLived, json!({"exp": NOW + 25 * 3600})),
            (
                Refusal::WrongSubject,
                json!({"sub": "repo:acme/api:ref:refs/heads/dev"}),
            ),
            (Refusal::NoSubject, json!({"sub": ""})),
            (
                Refusal::WrongClaim("repository".into()),
                json!({"repository": "evil/api"}),
            ),
        ];
        for (expected, change) in refused {
            let result = check(|c| {
                for (name, value) in change.as_object().unwrap() {
                    c.insert(name.clone(), value.clone());
                }
            });
            assert_eq!(result.unwrap_err(), expected, "{change}");
        }
        assert_eq!(
            check(|c| drop(c.remove("exp"))).unwrap_err(),
            Refusal::NoExpiry
        );
        assert_eq!(
            check(|c| drop(c.remove("aud"))).unwrap_err(),
            Refusal::WrongAudience
        );
        assert_eq!(
            check(|c| drop(c.remove("repository"))).unwrap_err(),
            Refusal::WrongClaim("repository".into())
        );
        // Without iat the lifetime counts from now.
        assert_eq!(
            check(|c| {
                c.remove("iat");
                c.insert("exp".into(), json!(NOW + 25 * 3600));
            })
            .unwrap_err(),
            Refusal::TooLongLived
        );
    }

    #[test]
    fn a_token_without_jti_is_remembered_by_what_its_signature_covers() {
        let none = Map::new();
        let one = token_replay_id("https://i", &none, "aGVhZA.Ym9keQ.c2lnMQ");
        // The same header and payload under another (say, twin) signature.
        assert_eq!(
            one,
            token_replay_id("https://i", &none, "aGVhZA.Ym9keQ.c2lnMg")
        );
        assert_ne!(
            one,
            token_replay_id("https://i", &none, "aGVhZA.Ym9keTI.c2lnMQ")
        );
        let jti = json!({"jti": "j"}).as_object().unwrap().clone();
        let by_jti = token_replay_id("https://i", &jti, "aGVhZA.Ym9keQ.c2lnMQ");
        assert_eq!(
            by_jti,
            token_replay_id("https://i", &jti, "other.token.entirely")
        );
        assert_ne!(
            by_jti,
            token_replay_id("https://j", &jti, "aGVhZA.Ym9keQ.c2lnMQ")
        );
    }

    #[test]
    fn replay_ids_tell_issuer_and_jti_apart() {
        assert_ne!(replay_id(&[b"ab", b"c"]), replay_id(&[b"a", b"bc"]));
        assert_eq!(replay_id(&[b"a"]), replay_id(&[b"a"]));
        assert!(replay_id(&[b"a"]).starts_with("fed:"));
    }
}
