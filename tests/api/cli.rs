//! The `keymint` binary itself: bootstrap, migrate, and a first `serve`
//! whose printed curl command works.

use std::time::Duration;

use serde_json::Value;

use crate::binary::{keymint, serve};
use crate::helpers::{Backend, TestDb, status_and_json};

async fn bootstrap_prints_json_and_refuses_an_existing_slug(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let migrated = keymint(&db, keys.path(), "warn")
        .arg("migrate")
        .output()
        .unwrap();
    assert!(
        migrated.status.success(),
        "{}",
        String::from_utf8_lossy(&migrated.stderr)
    );
    let applied: Value = serde_json::from_slice(&migrated.stdout).unwrap();
    let migrations = std::fs::read_dir("migrations/sqlite").unwrap().count();
    assert_eq!(applied["applied"], migrations as u64);
    let again = keymint(&db, keys.path(), "warn")
        .arg("migrate")
        .output()
        .unwrap();
    let again: Value = serde_json::from_slice(&again.stdout).unwrap();
    assert_eq!(
        again["applied"], 0,
        "a second run has nothing left to apply"
    );

    let args = [
        "bootstrap",
        "--workspace",
        "acme",
        "--email",
        "Ops@Acme.test",
        "--password",
        "pw-1234567",
    ];
    let first = keymint(&db, keys.path(), "warn")
        .args(args)
        .output()
        .unwrap();
    assert!(
        first.status.success(),
        "{}",
        String::from_utf8_lossy(&first.stderr)
    );
    let printed: Value = serde_json::from_slice(&first.stdout).unwrap();
    assert_eq!(printed["workspace"]["slug"], "acme");
    assert_eq!(printed["user"]["email"], "ops@acme.test");
    assert_eq!(printed["api_key"]["kind"], "workspace");
    assert!(
        printed["api_key"]["secret"]
            .as_str()
            .unwrap()
            .starts_with("kmk_")
    );

    let again = keymint(&db, keys.path(), "warn")
        .args(args)
        .output()
        .unwrap();
    assert_eq!(again.status.code(), Some(1));
    assert!(again.stdout.is_empty());
    assert!(String::from_utf8_lossy(&again.stderr).contains("acme"));

    // Same owner, new workspace: the user is reused.
    let other = keymint(&db, keys.path(), "warn")
        .args([
            "bootstrap",
            "--workspace",
            "acme-eu",
            "--email",
            "ops@acme.test",
        ])
        .output()
        .unwrap();
    let other: Value = serde_json::from_slice(&other.stdout).unwrap();
    assert_eq!(other["user"]["id"], printed["user"]["id"]);
}

/// `keymint serve` on an empty database prints a key and a curl command;
/// what the command does (POST with that Bearer) returns a token. SIGTERM
/// then stops the server cleanly.
async fn first_serve_prints_a_working_curl_command(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let mut served = serve(&db, keys.path(), "warn");
    assert!(
        served.curl.starts_with("curl -s -X POST http://127.0.0.1:"),
        "{}",
        served.curl
    );
    assert!(
        served.secret.starts_with("kmk_") && served.secret.len() == 53,
        "{}",
        served.secret
    );

    let response = crate::helpers::http_client()
        .post(served.url("/auth/token"))
        .bearer_auth(&served.secret)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(
        keys.path().read_dir().unwrap().count() >= 2,
        "a key and its metadata were written"
    );

    served.terminate();
    let exit = served.wait_for_exit(Duration::from_secs(30));
    assert!(exit.success(), "{exit:?}");
}

crate::on_both_backends!(
    bootstrap_prints_json_and_refuses_an_existing_slug,
    first_serve_prints_a_working_curl_command,
);
