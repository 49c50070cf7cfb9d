//! `keymint signing-keys ...` and `keymint token verify`, run as the binary.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::Value;

use crate::helpers::{Backend, spawn_app};

const RSA_PKCS1: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/fixtures/rsa-2048-test-only.pkcs1.pem"
);
const RSA_KID: &str = include_str!("../fixtures/rsa-2048-test-only.kid");

fn keymint(keys_dir: &Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_keymint"))
        .env_clear()
        .env("RUST_LOG", "warn")
        .arg("--keys-dir")
        .arg(keys_dir)
        .args(args)
        .output()
        .unwrap()
}

fn json_of(output: &Output) -> Value {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

fn fails_with(output: &Output, reason: &str) {
    assert_eq!(output.status.code(), Some(1));
    assert!(output.stdout.is_empty());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(reason), "{stderr}");
}

#[test]
fn signing_keys_rotate_import_list_and_retire() {
    let dir = tempfile::tempdir().unwrap();
    let keys = dir.path();

    // An empty folder: nothing signs, so the first key signs at once.
    let first = json_of(&keymint(
        keys,
        &["signing-keys", "rotate", "--alg", "EdDSA"],
    ));
    assert_eq!(first["created"]["state"], "active");
    assert_eq!(first["created"]["alg"], "EdDSA");
    let first_kid = first["created"]["kid"].as_str().unwrap().to_owned();

    // Import a PKCS#1 RSA key: RS256, the RFC 7638 kid, the rotate schedule.
    let imported = json_of(&keymint(keys, &["signing-keys", "import", RSA_PKCS1]));
    let created = &imported["created"];
    assert_eq!(
        (created["alg"].as_str(), created["kid"].as_str()),
        (Some("RS256"), Some(RSA_KID.trim()))
    );
    assert_eq!(created["state"], "next");
    assert_eq!(imported["retiring"][0]["kid"], first_kid.as_str());
    assert_eq!(
        imported["retiring"][0]["retire_at"], created["activate_at"],
        "the old key retires when the new one activates"
    );
    let activate =
        chrono::DateTime::parse_from_rfc3339(created["activate_at"].as_str().unwrap()).unwrap();
    let made =
        chrono::DateTime::parse_from_rfc3339(created["created_at"].as_str().unwrap()).unwrap();
    assert_eq!((activate - made).num_seconds(), 360, "JWKS max-age + 60 s");
    let mode = std::fs::metadata(keys.join(format!("{}.pem", RSA_KID.trim())))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
    fails_with(
        &keymint(keys, &["signing-keys", "import", RSA_PKCS1]),
        "already",
    );

    let listed = json_of(&keymint(keys, &["signing-keys", "list"]));
    let states: Vec<(&str, &str)> = listed["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| (k["alg"].as_str().unwrap(), k["state"].as_str().unwrap()))
        .collect();
    assert_eq!(states, [("EdDSA", "active"), ("RS256", "next")]);
    assert!(listed["keys"][0]["unpublish_at"].is_string());

    // The active key is the only signer until the RSA key activates.
    fails_with(
        &keymint(keys, &["signing-keys", "retire", &first_kid]),
        "would leave no key signing",
    );
    let now = json_of(&keymint(
        keys,
        &["signing-keys", "rotate", "--activate-in", "0"],
    ));
    assert_eq!(now["created"]["state"], "active");
    let retired = json_of(&keymint(keys, &["signing-keys", "retire", &first_kid]));
    assert_eq!(retired["state"], "retired");

    fails_with(
        &keymint(keys, &["signing-keys", "retire", "no-such-kid"]),
        "no key no-such-kid",
    );
    fails_with(
        &keymint(keys, &["signing-keys", "rotate", "--alg", "RS256"]),
        "cannot be generated",
    );
    fails_with(
        &keymint(keys, &["signing-keys", "import", "Cargo.toml"]),
        "PEM",
    );
}

async fn token_verify_prints_claims_or_the_reason(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = app.token().await;
    let keys = app.keys_dir().to_owned();
    let base = app.base.clone();
    let jwks = app.url("/.well-known/jwks.json");
    let mut tampered = token.clone();
    tampered.insert(token.rfind('.').unwrap() + 1, 'A');
    let run = |args: Vec<String>| {
        let keys = keys.clone();
        tokio::task::spawn_blocking(move || {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            keymint(&keys, &args)
        })
    };
    let args = |list: &[&str]| list.iter().map(|s| s.to_string()).collect::<Vec<_>>();

    let from_folder = run(args(&["--issuer", &base, "token", "verify", &token]))
        .await
        .unwrap();
    assert_eq!(
        json_of(&from_folder)["ws"],
        app.bootstrap.workspace_id.as_str()
    );
    let from_jwks = run(args(&["token", "verify", &token, "--jwks", &jwks]))
        .await
        .unwrap();
    assert_eq!(
        json_of(&from_jwks)["client_id"],
        json_of(&from_folder)["client_id"]
    );

    fails_with(
        &run(args(&["token", "verify", &tampered, "--jwks", &jwks]))
            .await
            .unwrap(),
        "invalid token: the token's signature does not verify",
    );
    fails_with(
        &run(args(&[
            "--issuer",
            &base,
            "token",
            "verify",
            &token,
            "--audience",
            "other",
        ]))
        .await
        .unwrap(),
        "another audience",
    );
    fails_with(
        &run(args(&[
            "--issuer",
            "https://elsewhere.test",
            "token",
            "verify",
            &token,
        ]))
        .await
        .unwrap(),
        "another issuer",
    );
}

crate::on_both_backends!(token_verify_prints_claims_or_the_reason);
