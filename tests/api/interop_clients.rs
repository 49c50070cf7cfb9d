//! Clients nobody here wrote: authlib's OAuth2 client (client_credentials,
//! basic and post) and node's `jose` (createRemoteJWKSet + jwtVerify),
//! against the live server. `.ci/run` installs them inside the clone; where
//! they are missing (a laptop offline) each test says it skipped.

use std::process::Command;

use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app, status_and_json};

const PYTHON_ENV: &str = "KEYMINT_TEST_PYTHON";
pub(crate) const NODE_ENV: &str = "KEYMINT_TEST_NODE";
pub(crate) const INTEROP: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop");

/// Runs a client script and parses the one JSON object it prints.
pub(crate) fn run_script(program: &str, args: &[&str]) -> Value {
    let output = Command::new(program)
        .args(args)
        .output()
        .expect("the interpreter runs");
    assert!(
        output.status.success(),
        "{program} {:?} failed:\n{}",
        args.first(),
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON object on stdout")
}

async fn authlib_fetches_tokens_by_client_credentials(backend: Backend) {
    let Ok(python) = std::env::var(PYTHON_ENV) else {
        eprintln!("skipped: {PYTHON_ENV} not set (bash .ci/run sets it up)");
        return;
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app.create_key(json!({ "name": "authlib", "kind": "workspace", "scopes": ["orders:read", "orders:write"] })).await;
    let (id, secret) = (
        created["id"].as_str().unwrap(),
        created["secret"].as_str().unwrap(),
    );
    let base = app.base.clone();
    let script = format!("{INTEROP}/oauth_client.py");
    let report = tokio::task::spawn_blocking({
        let (id, secret) = (id.to_owned(), secret.to_owned());
        move || run_script(&python, &[&script, &base, &id, &secret])
    })
    .await
    .unwrap();

    assert_eq!(report["basic"]["token_type"], "Bearer", "{report}");
    assert_eq!(
        report["basic"]["scope"], "orders:read",
        "down-scoped by authlib's scope"
    );
    assert_eq!(report["post"]["scope"], "orders:read orders:write");
    assert_eq!(report["wrong_secret_error"], "invalid_client");
    for method in ["basic", "post"] {
        let token = report[method]["access_token"].as_str().unwrap();
        let claims = crate::helpers::unverified_claims(token);
        assert_eq!(claims["client_id"], id, "{method}");
    }
}

async fn node_jose_verifies_tokens_from_the_remote_jwks(backend: Backend) {
    let Ok(node) = std::env::var(NODE_ENV) else {
        eprintln!("skipped: {NODE_ENV} not set (bash .ci/run installs jose and sets it)");
        return;
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, body) = status_and_json(app.exchange_bearer(&app.bootstrap.secret).await).await;
    let token = body["access_token"].as_str().unwrap().to_owned();
    let (base, script) = (app.base.clone(), format!("{INTEROP}/node/verify_jose.mjs"));
    let report = tokio::task::spawn_blocking(move || run_script(&node, &[&script, &base, &token]))
        .await
        .unwrap();
    assert_eq!(report["header"]["typ"], "at+jwt", "{report}");
    assert_eq!(report["header"]["alg"], "ES256");
    assert_eq!(report["payload"]["ws"], app.bootstrap.workspace_id.as_str());
    assert_eq!(
        report["tamperedError"],
        "ERR_JWS_SIGNATURE_VERIFICATION_FAILED"
    );
}

crate::on_both_backends!(
    authlib_fetches_tokens_by_client_credentials,
    node_jose_verifies_tokens_from_the_remote_jwks,
);
