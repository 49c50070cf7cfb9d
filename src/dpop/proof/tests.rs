use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use serde_json::{Value, json};

use super::*;
use crate::dpop::prover::ProofKey;
use crate::signing::{SigningAlg, SigningKey};

const URL: &str = "https://auth.example.com/auth/token";
const NOW: i64 = 1_800_000_000;

fn expected() -> Expected<'static> {
    Expected {
        method: "POST",
        url: URL,
        access_token: None,
        now: NOW,
    }
}

fn key(alg: SigningAlg) -> SigningKey {
    SigningKey::from_pkcs8(alg, &SigningKey::generate_pkcs8(alg).unwrap()).unwrap()
}

fn public_jwk(key: &SigningKey) -> Value {
    let mut jwk = key.jwk().clone();
    jwk.as_object_mut().unwrap().remove("kid");
    jwk
}

fn claims() -> Value {
    json!({"jti": "j-1", "htm": "POST", "htu": URL, "iat": NOW})
}

/// A proof signed by `key` with `header` and `claims` as given.
fn signed(key: &SigningKey, header: Value, claims: Value) -> String {
    key.sign_with_header(&header, &claims).unwrap()
}

fn header(key: &SigningKey) -> Value {
    json!({"typ": "dpop+jwt", "alg": key.alg().as_str(), "jwk": public_jwk(key)})
}

#[test]
fn a_proof_of_either_algorithm_verifies_and_names_its_key() {
    for alg in [SigningAlg::ES256, SigningAlg::EdDSA] {
        let holder = ProofKey::generate(alg).unwrap();
        let proof = holder.proof("POST", URL, None, None, NOW).unwrap();
        let verified = verify(&proof, &expected()).unwrap();
        assert_eq!(verified.jkt, holder.thumbprint(), "{alg:?}");
        assert_eq!(verified.iat, NOW);
        assert!(!verified.jti.is_empty());
    }
}

#[test]
fn the_header_must_be_a_dpop_proofs() {
    let key = key(SigningAlg::ES256);
    let good = signed(&key, header(&key), claims());
    assert!(verify(&good, &expected()).is_ok(), "control");

    let mut typ = header(&key);
    typ["typ"] = json!("JWT");
    assert_eq!(
        verify(&signed(&key, typ, claims()), &expected()),
        Err(ProofError::WrongType)
    );
    let mut no_typ = header(&key);
    no_typ.as_object_mut().unwrap().remove("typ");
    assert_eq!(
        verify(&signed(&key, no_typ, claims()), &expected()),
        Err(ProofError::WrongType)
    );
    let mut no_jwk = header(&key);
    no_jwk.as_object_mut().unwrap().remove("jwk");
    assert_eq!(
        verify(&signed(&key, no_jwk, claims()), &expected()),
        Err(ProofError::BadKey)
    );
    let mut crit = header(&key);
    crit["crit"] = json!(["exp"]);
    assert_eq!(
        verify(&signed(&key, crit, claims()), &expected()),
        Err(ProofError::Malformed)
    );
}

#[test]
fn none_and_symmetric_algorithms_are_refused() {
    let key = key(SigningAlg::ES256);
    let body = B64.encode(claims().to_string());
    for alg in ["none", "HS256", "ES384", "RS384"] {
        let mut forged = header(&key);
        forged["alg"] = json!(alg);
        let proof = format!("{}.{body}.", B64.encode(forged.to_string()));
        assert_eq!(
            verify(&proof, &expected()),
            Err(ProofError::AlgorithmNotAllowed),
            "{alg}"
        );
    }
    // HS256 keyed with the public key's own bytes, as in the classic attack.
    let mut hs = header(&key);
    hs["alg"] = json!("HS256");
    let message = format!("{}.{body}", B64.encode(hs.to_string()));
    let mac_key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, key.jwk().to_string().as_bytes());
    let tag = ring::hmac::sign(&mac_key, message.as_bytes());
    let proof = format!("{message}.{}", B64.encode(tag.as_ref()));
    assert_eq!(
        verify(&proof, &expected()),
        Err(ProofError::AlgorithmNotAllowed)
    );
}

#[test]
fn the_key_must_be_public_and_of_the_proofs_algorithm() {
    let key = key(SigningAlg::ES256);
    let mut private = header(&key);
    private["jwk"]["d"] = json!(B64.encode([7u8; 32]));
    assert_eq!(
        verify(&signed(&key, private, claims()), &expected()),
        Err(ProofError::PrivateKey)
    );
    // An Ed25519 key under alg ES256.
    let other = self::key(SigningAlg::EdDSA);
    let mut mismatched = header(&key);
    mismatched["jwk"] = public_jwk(&other);
    assert_eq!(
        verify(&signed(&key, mismatched, claims()), &expected()),
        Err(ProofError::BadKey)
    );
    // A symmetric key is never a proof's.
    let mut symmetric = header(&key);
    symmetric["jwk"] = json!({"kty": "oct", "k": "c2VjcmV0"});
    assert_eq!(
        verify(&signed(&key, symmetric, claims()), &expected()),
        Err(ProofError::PrivateKey)
    );
}

#[test]
fn a_proof_signed_by_another_key_than_its_header_names_fails() {
    let named = key(SigningAlg::ES256);
    let signer = key(SigningAlg::ES256);
    let proof = signed(&signer, header(&named), claims());
    assert_eq!(verify(&proof, &expected()), Err(ProofError::BadSignature));
    // And a tampered body.
    let good = signed(&named, header(&named), claims());
    let mut parts: Vec<String> = good.split('.').map(str::to_owned).collect();
    let mut changed = claims();
    changed["htm"] = json!("GET");
    parts[1] = B64.encode(changed.to_string());
    let tampered = parts.join(".");
    let get = Expected {
        method: "GET",
        ..expected()
    };
    assert_eq!(verify(&tampered, &get), Err(ProofError::BadSignature));
}

#[test]
fn the_proof_must_be_about_this_request() {
    let key = key(SigningAlg::ES256);
    let with = |edit: &dyn Fn(&mut Value)| {
        let mut claims = claims();
        edit(&mut claims);
        verify(&signed(&key, header(&key), claims), &expected())
    };
    assert!(with(&|_| {}).is_ok(), "control");
    assert_eq!(
        with(&|c| c["htm"] = json!("GET")),
        Err(ProofError::WrongMethod)
    );
    assert_eq!(
        with(&|c| c["htm"] = json!("post")),
        Err(ProofError::WrongMethod)
    );
    assert_eq!(
        with(&|c| c["htu"] = json!("https://auth.example.com/api/v1/me")),
        Err(ProofError::WrongUrl)
    );
    assert_eq!(
        with(&|c| c["htu"] = json!("https://evil.example/auth/token")),
        Err(ProofError::WrongUrl)
    );
    assert_eq!(
        with(&|c| c["htu"] = json!("http://auth.example.com/auth/token")),
        Err(ProofError::WrongUrl)
    );
    assert_eq!(
        with(&|c| c["iat"] = json!(NOW - 61)),
        Err(ProofError::Stale)
    );
    assert_eq!(
        with(&|c| c["iat"] = json!(NOW + 61)),
        Err(ProofError::Stale)
    );
    assert!(with(&|c| c["iat"] = json!(NOW - 60)).is_ok());
    for claim in ["jti", "htm", "htu", "iat"] {
        assert_eq!(
            with(&|c| {
                c.as_object_mut().unwrap().remove(claim);
            }),
            Err(ProofError::MissingClaim(claim)),
            "{claim}"
        );
    }
    assert_eq!(
        with(&|c| c["jti"] = json!("")),
        Err(ProofError::MissingClaim("jti"))
    );
}

#[test]
fn htu_is_compared_normalised_without_query_or_fragment() {
    for same in [
        "https://auth.example.com/auth/token",
        "HTTPS://Auth.Example.COM/auth/token",
        "https://auth.example.com:443/auth/token",
        "https://auth.example.com/auth/token?x=1",
        "https://auth.example.com/auth/token#f",
    ] {
        assert!(same_target(same, URL), "{same}");
    }
    for other in [
        "https://auth.example.com/auth/token/",
        "https://auth.example.com/Auth/token",
        "https://auth.example.com:8443/auth/token",
        "https://auth.example.com.evil/auth/token",
        "not a url",
        "mailto:someone@example.com",
    ] {
        assert!(!same_target(other, URL), "{other}");
    }
    assert!(same_target("http://127.0.0.1:80/", "http://127.0.0.1"));
}

#[test]
fn at_a_resource_ath_must_hash_the_token_presented() {
    let holder = ProofKey::generate(SigningAlg::ES256).unwrap();
    let url = "https://auth.example.com/api/v1/me";
    let at_resource = |token| Expected {
        method: "GET",
        url,
        access_token: Some(token),
        now: NOW,
    };
    let proof = holder
        .proof("GET", url, Some("token-a"), None, NOW)
        .unwrap();
    assert!(verify(&proof, &at_resource("token-a")).is_ok(), "control");
    assert_eq!(
        verify(&proof, &at_resource("token-b")),
        Err(ProofError::WrongAth)
    );
    let without = holder.proof("GET", url, None, None, NOW).unwrap();
    assert_eq!(
        verify(&without, &at_resource("token-a")),
        Err(ProofError::MissingClaim("ath"))
    );
    // RFC 9449 section 7.1's example: ath of its access token.
    assert_eq!(
        access_token_hash("Kz~8mXK1EalYznwH-LC-1fBAo.4Ljp~zsPE_NeO.gxU"),
        "fUHyO2r2Z3DZ53EsNrWBb0xWXoaNy59IiKCAqksmQEo"
    );
}

#[test]
fn oversized_and_malformed_proofs_are_refused_cheaply() {
    let long = "a".repeat(MAX_PROOF_LEN + 1);
    for proof in ["", "a.b", "a.b.c", "!!.!!.!!", long.as_str()] {
        assert_eq!(
            verify(proof, &expected()),
            Err(ProofError::Malformed),
            "{proof:.20}"
        );
    }
}

#[test]
fn a_request_carries_at_most_one_proof() {
    let one: [&[u8]; 1] = [b" a.b.c "];
    assert_eq!(single_header(one.into_iter()), Ok(Some("a.b.c")));
    assert_eq!(single_header(std::iter::empty()), Ok(None));
    let two: [&[u8]; 2] = [b"a.b.c", b"d.e.f"];
    assert!(single_header(two.into_iter()).is_err());
    let binary: [&[u8]; 1] = [b"\xff"];
    assert!(single_header(binary.into_iter()).is_err());
}
