//! DPoP with clients nobody here wrote: panva's oauth4webapi (discovery,
//! client_credentials with DPoP, a protected resource request) and proofs
//! made by panva's `dpop` with RSA-PSS, RSA and Ed25519 keys. `.ci/run`
//! installs both under tests/interop/node; without them each test says it
//! skipped.

use serde_json::json;

use crate::helpers::{Backend, spawn_app};
use crate::interop_clients::{INTEROP, NODE_ENV, run_script};

async fn oauth4webapi_gets_a_bound_token_and_calls_the_api_with_it(backend: Backend) {
    let Ok(node) = std::env::var(NODE_ENV) else {
        eprintln!("skipped: {NODE_ENV} not set (bash .ci/run installs oauth4webapi and sets it)");
        return;
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(json!({ "name": "oauth4webapi", "kind": "workspace", "dpop_required": true }))
        .await;
    let id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();
    let (base, script) = (
        app.base.clone(),
        format!("{INTEROP}/node/dpop_oauth4webapi.mjs"),
    );
    let report =
        tokio::task::spawn_blocking(move || run_script(&node, &[&script, &base, &id, &secret]))
            .await
            .unwrap();
    assert_eq!(report["token_type"], "dpop", "{report}");
    assert!(report["cnf"]["jkt"].is_string(), "{report}");
    assert_eq!(
        report["dpop_algs"],
        json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
    );
    assert_eq!(report["me"]["status"], 200, "{report}");
    assert_eq!(report["me"]["body"]["key"]["id"], created["id"], "{report}");
    // The same client without its DPoP handle: the token alone is refused.
    assert_eq!(report["bearer"]["status"], 401, "{report}");
    assert!(
        report["bearer"]["challenge"]
            .as_str()
            .is_some_and(|c| c.starts_with("DPoP")),
        "{report}"
    );
}

async fn proofs_of_the_dpop_library_bind_tokens_for_every_algorithm(backend: Backend) {
    let Ok(node) = std::env::var(NODE_ENV) else {
        eprintln!("skipped: {NODE_ENV} not set (bash .ci/run installs dpop and sets it)");
        return;
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (base, secret, script) = (
        app.base.clone(),
        app.bootstrap.secret.clone(),
        format!("{INTEROP}/node/dpop_proofs.mjs"),
    );
    let report = tokio::task::spawn_blocking(move || run_script(&node, &[&script, &base, &secret]))
        .await
        .unwrap();
    for alg in ["PS256", "RS256", "Ed25519"] {
        let result = &report[alg];
        assert_eq!(result["status"], 200, "{alg}: {result}");
        assert_eq!(result["token_type"], "DPoP", "{alg}");
        assert_eq!(
            result["cnf"]["jkt"], result["thumbprint"],
            "{alg}: {result}"
        );
        assert_eq!(result["me"], 200, "{alg}: {result}");
    }
}

crate::on_both_backends!(
    oauth4webapi_gets_a_bound_token_and_calls_the_api_with_it,
    proofs_of_the_dpop_library_bind_tokens_for_every_algorithm,
);
