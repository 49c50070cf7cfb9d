//! panva's oidc-provider (OpenID-certified, npm), a real OIDC server that
//! keymint does not run, as a workload's issuer: keymint finds its keys
//! through its discovery document and exchanges its JWT access tokens.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::json;

use super::{AUDIENCE, create_policy, exchange};
use crate::helpers::{Backend, assert_error, spawn_app, status_and_json, unverified_claims};
use crate::interop_clients::{INTEROP, NODE_ENV};

/// The node process, stopped when dropped.
struct NodeIssuer {
    child: Child,
    base: String,
}

impl NodeIssuer {
    fn start(node: &str) -> Self {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .unwrap()
            .port();
        let mut child = Command::new(node)
            .arg(format!("{INTEROP}/node/oidc_issuer.mjs"))
            .args([&port.to_string(), AUDIENCE])
            .env("NODE_ENV", "production")
            .stdout(Stdio::piped())
            .spawn()
            .expect("node runs");
        let stdout = child.stdout.take().unwrap();
        let (ready, waiting) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = BufReader::new(stdout).read_line(&mut line);
            let _ = ready.send(line);
        });
        let line = waiting
            .recv_timeout(Duration::from_secs(30))
            .unwrap_or_default();
        assert_eq!(line.trim(), "ready", "oidc-provider did not start");
        Self {
            child,
            base: format!("http://127.0.0.1:{port}"),
        }
    }
}

impl Drop for NodeIssuer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn oidc_provider_tokens_are_exchanged_through_discovery(backend: Backend) {
    let Ok(node) = std::env::var(NODE_ENV) else {
        eprintln!("skipped: {NODE_ENV} not set (bash .ci/run installs oidc-provider and sets it)");
        return;
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let issuer = tokio::task::spawn_blocking(move || NodeIssuer::start(&node))
        .await
        .unwrap();
    // The workload's own token, by client_credentials at oidc-provider.
    let response = app
        .client
        .post(format!("{}/token", issuer.base))
        .basic_auth("workload", Some("workload-secret"))
        .form(&[("grant_type", "client_credentials"), ("scope", "deploy")])
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    assert_eq!(
        unverified_claims(&token)["aud"],
        AUDIENCE,
        "a JWT access token"
    );

    // No jwks_uri: keymint reads it from oidc-provider's discovery.
    let policy = |subject: &str| json!({"name": "oidc-provider", "issuer": issuer.base, "audiences": [AUDIENCE], "subject": subject});
    let (status, trusted) = create_policy(&app, policy("workload")).await;
    assert_eq!(status, 201, "{trusted}");
    let (status, other) = create_policy(&app, policy("someone-else")).await;
    assert_eq!(status, 201, "{other}");
    // The policy for another subject refuses it; the right one takes it.
    let refused = exchange(&app, other["id"].as_str().unwrap(), &token, &[]).await;
    let body = assert_error(refused, 400, "invalid_request").await;
    assert!(
        body["error_description"].as_str().unwrap().contains("sub"),
        "{body}"
    );
    let trusted = trusted["id"].as_str().unwrap();
    let (status, body) = status_and_json(exchange(&app, trusted, &token, &[]).await).await;
    assert_eq!(status, 200, "{body}");
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "workload");
    assert_eq!(claims["fed_iss"], issuer.base);
    assert_eq!(claims["kind"], "federated");
}

crate::on_both_backends!(oidc_provider_tokens_are_exchanged_through_discovery);
