//! Interoperability: tokens of every algorithm keymint signs with (ES256,
//! EdDSA, RS256) verify in PyJWT against the published JWKS alone.
//!
//! Needs a Python with `pyjwt[crypto]` in KEYMINT_TEST_PYTHON (`.ci/run`
//! makes one in `.venv`); without it the test says so and returns.

use std::io::Write;
use std::process::{Command, Stdio};
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use keymint::signing::{KeyTiming, SigningAlg, import, store};
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app_with_key_timing, status_and_json, token_kid};

const PYTHON_ENV: &str = "KEYMINT_TEST_PYTHON";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/verify_pyjwt.py");
const RSA_PKCS1: &str = include_str!("../fixtures/rsa-2048-test-only.pkcs1.pem");

fn decoded_len(member: &Value, field: &str) -> usize {
    B64.decode(member[field].as_str().unwrap()).unwrap().len()
}

/// Each member has exactly the public fields of its key type.
fn assert_public_member(member: &Value) {
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        assert!(member.get(private).is_none(), "{private} in {member}");
    }
    assert_eq!(member["use"], "sig");
    match member["alg"].as_str().unwrap() {
        "ES256" => {
            assert_eq!(
                (member["kty"].as_str(), member["crv"].as_str()),
                (Some("EC"), Some("P-256"))
            );
            assert_eq!(
                (decoded_len(member, "x"), decoded_len(member, "y")),
                (32, 32)
            );
        }
        "EdDSA" => {
            assert_eq!(
                (member["kty"].as_str(), member["crv"].as_str()),
                (Some("OKP"), Some("Ed25519"))
            );
            assert_eq!(decoded_len(member, "x"), 32);
        }
        "RS256" => {
            assert_eq!(member["kty"], "RSA");
            assert_eq!(
                decoded_len(member, "n"),
                256,
                "2048-bit modulus, no leading zero"
            );
            assert_eq!(member["e"], "AQAB");
        }
        other => panic!("unexpected alg {other}"),
    }
}

async fn pyjwt_verifies_es256_eddsa_and_rs256_tokens(backend: Backend) {
    let Ok(python) = std::env::var(PYTHON_ENV) else {
        eprintln!("skipped: {PYTHON_ENV} not set (bash .ci/run sets it up)");
        return;
    };
    let timing = KeyTiming {
        reload_period: Duration::from_millis(100),
        ..KeyTiming::default()
    };
    let Some(app) = spawn_app_with_key_timing(backend, timing, |_| {}).await else {
        return;
    };
    let within = Duration::from_secs(10);
    let es256 = app.token().await;
    let now = Utc::now();
    let ed = store::create_key(app.keys_dir(), SigningAlg::EdDSA, now, now).unwrap();
    let eddsa = app.token_signed_by(ed.key.kid(), within).await;
    let rsa = import::from_pem(RSA_PKCS1.as_bytes()).unwrap();
    let now = Utc::now();
    let rsa = store::add_key(app.keys_dir(), rsa.alg, &rsa.pkcs8, now, now).unwrap();
    let rs256 = app.token_signed_by(rsa.key.kid(), within).await;

    let (_, jwks) = status_and_json(
        app.client
            .get(app.url("/.well-known/jwks.json"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    let members = jwks["keys"].as_array().unwrap();
    let mut algs: Vec<&str> = members.iter().map(|m| m["alg"].as_str().unwrap()).collect();
    algs.sort_unstable();
    assert_eq!(algs, ["ES256", "EdDSA", "RS256"]);
    members.iter().for_each(assert_public_member);

    let mut tampered = rs256.clone();
    let signature_start = tampered.rfind('.').unwrap() + 1;
    tampered.replace_range(signature_start..signature_start + 4, "AAAA");
    let request = json!({
        "jwks_uri": app.url("/.well-known/jwks.json"),
        "issuer": app.base,
        "audience": app.base,
        "tokens": [
            {"token": es256, "expect": "valid"},
            {"token": eddsa, "expect": "valid"},
            {"token": rs256, "expect": "valid"},
            {"token": tampered, "expect": "invalid"},
        ],
    });
    let output = tokio::task::spawn_blocking(move || {
        let mut child = Command::new(&python)
            .arg(SCRIPT)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap_or_else(|e| panic!("{PYTHON_ENV}={python} cannot run: {e}"));
        child
            .stdin
            .take()
            .unwrap()
            .write_all(request.to_string().as_bytes())
            .unwrap();
        child.wait_with_output().unwrap()
    })
    .await
    .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "PyJWT disagreed: {stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let results: Vec<Value> = serde_json::from_str(&stdout).unwrap();
    let verified: Vec<(&str, bool)> = results
        .iter()
        .map(|r| (r["alg"].as_str().unwrap(), r["valid"].as_bool().unwrap()))
        .collect();
    assert_eq!(
        verified,
        [
            ("ES256", true),
            ("EdDSA", true),
            ("RS256", true),
            ("RS256", false)
        ]
    );
    assert_eq!(results[2]["kid"], token_kid(&rs256).as_str());
    eprintln!("PyJWT: {stdout}");
}

crate::on_both_backends!(pyjwt_verifies_es256_eddsa_and_rs256_tokens);
