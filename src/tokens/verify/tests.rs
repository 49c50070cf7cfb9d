//! The verification rules, one forged token at a time.

use jsonwebtoken::{EncodingKey, Header};
use ring::hmac;
use serde_json::json;

use super::*;
use crate::key_kind::KeyKind;
use crate::signing::SigningKey;

const ISSUER: &str = "https://keymint.test";
const NOW: i64 = 1_800_000_000;

struct Signer {
    key: SigningKey,
    pkcs8: Vec<u8>,
}

impl Signer {
    fn new(alg: SigningAlg) -> Self {
        let pkcs8 = match alg {
            SigningAlg::RS256 => pem::parse(include_str!(
                "../../../tests/fixtures/rsa-2048-test-only.pkcs8.pem"
            ))
            .unwrap()
            .into_contents(),
            _ => SigningKey::generate_pkcs8(alg).unwrap(),
        };
        Self {
            key: SigningKey::from_pkcs8(alg, &pkcs8).unwrap(),
            pkcs8,
        }
    }

    /// A token with any header, signed by this key through jsonwebtoken.
    fn sign_with_header(&self, header: &Header, claims: &AccessClaims) -> String {
        crate::tokens::provider::install();
        let encoding = match self.key.alg() {
            SigningAlg::ES256 => EncodingKey::from_ec_der(&self.pkcs8),
            SigningAlg::EdDSA => EncodingKey::from_ed_der(&self.pkcs8),
            SigningAlg::RS256 => EncodingKey::from_rsa_der(&self.pkcs8),
        };
        jsonwebtoken::encode(header, claims, &encoding).unwrap()
    }
}

fn keys_of(signers: &[&Signer]) -> KeySet {
    let jwks = json!({ "keys": signers.iter().map(|s| s.key.jwk()).collect::<Vec<_>>() });
    KeySet::from_jwks_json(jwks.to_string().as_bytes()).unwrap()
}

fn claims() -> AccessClaims {
    AccessClaims {
        registered: Registered {
            iss: ISSUER.to_owned(),
            sub: "key-1".to_owned(),
            aud: ISSUER.to_owned(),
            exp: NOW + 900,
            iat: NOW,
            nbf: NOW,
            jti: "00000000-0000-4000-8000-000000000000".to_owned(),
        },
        client_id: "key-1".to_owned(),
        scope: "read".to_owned(),
        ws: "ws-1".to_owned(),
        kind: KeyKind::Workspace.into(),
        env: None,
        role: None,
        email: None,
        partner: None,
        cidr: None,
        cnf: None,
        fed_iss: None,
    }
}

fn expected() -> Expectations {
    Expectations::new(ISSUER, ISSUER)
}

fn b64(bytes: &[u8]) -> String {
    B64.encode(bytes)
}

/// header.payload with no signature at all.
fn unsigned(header: serde_json::Value, claims: &AccessClaims) -> String {
    format!(
        "{}.{}.",
        b64(header.to_string().as_bytes()),
        b64(&serde_json::to_vec(claims).unwrap())
    )
}

#[test]
fn tokens_of_every_algorithm_verify_with_their_published_key() {
    let signers: Vec<Signer> = [SigningAlg::ES256, SigningAlg::EdDSA, SigningAlg::RS256]
        .into_iter()
        .map(Signer::new)
        .collect();
    let keys = keys_of(&signers.iter().collect::<Vec<_>>());
    assert_eq!(keys.len(), 3);
    for signer in &signers {
        let token = signer.key.sign_jwt("at+jwt", &claims()).unwrap();
        assert_eq!(verify(&token, &keys, &expected(), NOW), Ok(claims()));
        let mut only_this = expected();
        only_this.algorithms = vec![signer.key.alg()];
        assert!(verify(&token, &keys, &only_this, NOW).is_ok());
        only_this.algorithms.retain(|alg| *alg != signer.key.alg());
        assert!(matches!(
            verify(&token, &keys, &only_this, NOW),
            Err(VerifyError::AlgorithmNotAllowed(_))
        ));
    }
}

#[test]
fn forged_headers_are_refused() {
    let signer = Signer::new(SigningAlg::ES256);
    let keys = keys_of(&[&signer]);
    let kid = signer.key.kid();

    let none = unsigned(
        json!({"alg": "none", "typ": "at+jwt", "kid": kid}),
        &claims(),
    );
    assert_eq!(
        verify(&none, &keys, &expected(), NOW),
        Err(VerifyError::AlgorithmNotAllowed("none".to_owned()))
    );

    // The classic confusion: HMAC keyed with the public key, here both its
    // raw point and its JWK text.
    for secret in [
        signer.key.jwk().to_string().into_bytes(),
        [
            b"\x04".as_slice(),
            &B64.decode(signer.key.jwk()["x"].as_str().unwrap()).unwrap(),
        ]
        .concat(),
    ] {
        let message = unsigned(
            json!({"alg": "HS256", "typ": "at+jwt", "kid": kid}),
            &claims(),
        );
        let message = message.trim_end_matches('.');
        let tag = hmac::sign(
            &hmac::Key::new(hmac::HMAC_SHA256, &secret),
            message.as_bytes(),
        );
        let forged = format!("{message}.{}", b64(tag.as_ref()));
        assert_eq!(
            verify(&forged, &keys, &expected(), NOW),
            Err(VerifyError::AlgorithmNotAllowed("HS256".to_owned()))
        );
    }

    let mut unknown = Header::new(Algorithm::ES256);
    unknown.typ = Some("at+jwt".to_owned());
    unknown.kid = Some("not-a-published-kid".to_owned());
    let token = signer.sign_with_header(&unknown, &claims());
    assert_eq!(
        verify(&token, &keys, &expected(), NOW),
        Err(VerifyError::UnknownKey("not-a-published-kid".to_owned()))
    );

    let mut no_kid = unknown.clone();
    no_kid.kid = None;
    let token = signer.sign_with_header(&no_kid, &claims());
    assert_eq!(
        verify(&token, &keys, &expected(), NOW),
        Err(VerifyError::MissingKid)
    );

    let mut no_typ = Header::new(Algorithm::ES256);
    no_typ.kid = Some(kid.to_owned());
    let token = signer.sign_with_header(&no_typ, &claims());
    assert_eq!(
        verify(&token, &keys, &expected(), NOW),
        Err(VerifyError::WrongType)
    );
    no_typ.typ = Some("JWT".to_owned());
    let token = signer.sign_with_header(&no_typ, &claims());
    assert_eq!(
        verify(&token, &keys, &expected(), NOW),
        Err(VerifyError::WrongType)
    );
    no_typ.typ = Some("application/AT+JWT".to_owned());
    let token = signer.sign_with_header(&no_typ, &claims());
    assert!(
        verify(&token, &keys, &expected(), NOW).is_ok(),
        "RFC 9068 long form"
    );
}

#[test]
fn a_token_claiming_another_algorithm_than_its_key_is_refused() {
    let es = Signer::new(SigningAlg::ES256);
    let ed = Signer::new(SigningAlg::EdDSA);
    let keys = keys_of(&[&es, &ed]);
    // Signed by the Ed25519 key but naming the P-256 key's kid.
    let mut header = Header::new(Algorithm::EdDSA);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(es.key.kid().to_owned());
    let token = ed.sign_with_header(&header, &claims());
    assert_eq!(
        verify(&token, &keys, &expected(), NOW),
        Err(VerifyError::AlgorithmMismatch)
    );
}

#[test]
fn changed_payloads_and_other_keys_signatures_fail() {
    let signer = Signer::new(SigningAlg::EdDSA);
    let keys = keys_of(&[&signer]);
    let token = signer.key.sign_jwt("at+jwt", &claims()).unwrap();
    let parts: Vec<&str> = token.split('.').collect();
    let mut changed = claims();
    changed.scope = "admin".to_owned();
    let forged = format!(
        "{}.{}.{}",
        parts[0],
        b64(&serde_json::to_vec(&changed).unwrap()),
        parts[2]
    );
    assert_eq!(
        verify(&forged, &keys, &expected(), NOW),
        Err(VerifyError::BadSignature)
    );
    for malformed in [
        "",
        "a.b",
        "a.b.c.d",
        "!!.e30.x",
        &format!("{}.!!.{}", parts[0], parts[2]),
    ] {
        assert!(
            verify(malformed, &keys, &expected(), NOW).is_err(),
            "{malformed}"
        );
    }
}

#[test]
fn times_issuer_and_audience_are_checked_with_a_capped_leeway() {
    let signer = Signer::new(SigningAlg::ES256);
    let keys = keys_of(&[&signer]);
    let check = |claims: AccessClaims, expected: &Expectations, now: i64| {
        verify(
            &signer.key.sign_jwt("at+jwt", &claims).unwrap(),
            &keys,
            expected,
            now,
        )
    };
    let mut strict = expected();
    strict.leeway_secs = 0;
    let exp = claims().registered.exp;
    assert!(check(claims(), &strict, exp - 1).is_ok());
    assert_eq!(check(claims(), &strict, exp), Err(VerifyError::Expired));
    assert_eq!(
        check(claims(), &strict, NOW - 1),
        Err(VerifyError::NotYetValid)
    );

    let lenient = expected();
    assert!(check(claims(), &lenient, exp + 29).is_ok(), "30 s default");
    assert_eq!(
        check(claims(), &lenient, exp + 30),
        Err(VerifyError::Expired)
    );
    assert!(check(claims(), &lenient, NOW - 30).is_ok());

    let mut generous = expected();
    generous.leeway_secs = 3600;
    assert_eq!(
        check(claims(), &generous, exp + 60),
        Err(VerifyError::Expired),
        "capped at 60 s"
    );
    assert_eq!(
        check(claims(), &generous, NOW - 61),
        Err(VerifyError::NotYetValid)
    );

    let mut other_issuer = claims();
    other_issuer.registered.iss = "https://evil.test".to_owned();
    assert_eq!(
        check(other_issuer, &lenient, NOW),
        Err(VerifyError::WrongIssuer)
    );
    let mut other_audience = claims();
    other_audience.registered.aud = format!("{ISSUER}/api");
    assert_eq!(
        check(other_audience, &lenient, NOW),
        Err(VerifyError::WrongAudience)
    );
}

#[test]
fn claims_missing_a_required_field_are_refused_after_the_signature() {
    let signer = Signer::new(SigningAlg::ES256);
    let keys = keys_of(&[&signer]);
    let mut partial = serde_json::to_value(claims()).unwrap();
    partial.as_object_mut().unwrap().remove("exp");
    let token = signer.key.sign_jwt("at+jwt", &partial).unwrap();
    assert_eq!(
        verify(&token, &keys, &expected(), NOW),
        Err(VerifyError::BadClaims)
    );
    let mut string_nbf = serde_json::to_value(claims()).unwrap();
    string_nbf["nbf"] = json!("1800000000");
    let token = signer.key.sign_jwt("at+jwt", &string_nbf).unwrap();
    assert_eq!(
        verify(&token, &keys, &expected(), NOW),
        Err(VerifyError::BadClaims),
        "CVE-2026-25537: a string nbf is not a time"
    );
}

#[test]
fn jwks_members_that_cannot_verify_keymint_tokens_are_left_out() {
    let es = Signer::new(SigningAlg::ES256);
    let mut wrong_alg = es.key.jwk().clone();
    wrong_alg["alg"] = json!("ES384");
    wrong_alg["kid"] = json!("wrong-alg");
    let mut rsa_without_alg = Signer::new(SigningAlg::RS256).key.jwk().clone();
    rsa_without_alg.as_object_mut().unwrap().remove("alg");
    let mut encryption = es.key.jwk().clone();
    encryption["use"] = json!("enc");
    encryption["kid"] = json!("enc");
    let jwks = json!({"keys": [
        es.key.jwk(),
        {"kty": "oct", "k": "c2VjcmV0", "alg": "HS256", "kid": "hmac"},
        {"kty": "EC", "crv": "P-256", "alg": "ES256"},
        {"kty": "weird"},
        wrong_alg,
        rsa_without_alg,
        encryption,
    ]});
    let keys = KeySet::from_jwks_json(jwks.to_string().as_bytes()).unwrap();
    assert_eq!(keys.len(), 1, "{keys:?}");
    assert!(keys.contains(es.key.kid()));
    assert!(KeySet::from_jwks_json(b"{\"nope\": 1}").is_err());
}
