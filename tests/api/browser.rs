//! The portal and the dashboard in a real headless Chromium (Debian's, via
//! playwright-core). The customer's app is a one-page server on another
//! port, embedding the portal in an iframe: from an allowed origin it works
//! end to end; from another origin the browser refuses to render it.
//!
//! Needs KEYMINT_TEST_BROWSER (Chromium) and KEYMINT_TEST_NODE with
//! tests/browser's packages installed (`.ci/run` does both); without them
//! the test says it skipped. The browser does not care about the database
//! backend, so this runs on SQLite only.

use std::io::{BufRead, BufReader, Write};
use std::net::TcpListener;
use std::process::Command;

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app, status_and_json};

const BROWSER_ENV: &str = "KEYMINT_TEST_BROWSER";
const NODE_ENV: &str = "KEYMINT_TEST_NODE";
const SCRIPT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/browser/portal.mjs");
const SCREENSHOTS: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/target/browser-screenshots");
const PASSWORD: &str = "browser test password";

/// Serves `html` to every request on a port of its own: a customer's app.
fn host_page(html: String) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let origin = format!("http://{}", listener.local_addr().unwrap());
    std::thread::spawn(move || {
        for mut stream in listener.incoming().flatten() {
            let mut reader = BufReader::new(&stream);
            let mut line = String::new();
            while reader.read_line(&mut line).is_ok_and(|n| n > 2) {
                line.clear();
            }
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: text/html\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{html}",
                html.len()
            );
            let _ = stream.write_all(response.as_bytes());
        }
    });
    origin
}

fn embedding(portal_url: &str) -> String {
    format!(
        "<!doctype html><title>Acme</title><h1>Acme settings</h1>\
         <iframe id=\"keymint\" src=\"{portal_url}\" width=\"1060\" height=\"520\" allow=\"clipboard-write\"></iframe>"
    )
}

fn expired_session_url(app: &TestApp) -> String {
    let token = app.expired_portal_session("cus_browser");
    format!("{}/portal/default#session={token}", app.base)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_portal_and_dashboard_work_in_a_real_browser() {
    let (Ok(browser), Ok(node)) = (std::env::var(BROWSER_ENV), std::env::var(NODE_ENV)) else {
        eprintln!(
            "skipped: {BROWSER_ENV} and {NODE_ENV} not set (bash .ci/run installs Chromium and playwright-core)"
        );
        return;
    };
    let Some(app) = spawn_app(Backend::Sqlite).await else {
        return;
    };
    let session = app
        .api(
            Method::POST,
            &app.ws_path("/portal-sessions"),
            &app.bootstrap.secret,
        )
        .json(&json!({ "external_id": "cus_browser" }))
        .send()
        .await
        .unwrap();
    let (status, session) = status_and_json(session).await;
    assert_eq!(status, 201, "{session}");
    let portal_url = session["url"].as_str().unwrap();
    let allowed = host_page(embedding(portal_url));
    let denied = host_page(embedding(portal_url));
    let origins = json!({ "portal_origins": [allowed] });
    let patched = app
        .api(Method::PATCH, &app.ws_path(""), &app.bootstrap.secret)
        .json(&origins)
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    app.set_password("admin@localhost", PASSWORD).await;
    let (_, me) = app
        .call(Method::GET, "/api/v1/me", &app.bootstrap.secret, None)
        .await;
    let bootstrap_key = me["key"]["id"].as_str().expect("the key's id").to_owned();

    let args = [
        SCRIPT.to_owned(),
        allowed,
        denied,
        expired_session_url(&app),
        app.url("/dashboard"),
        SCREENSHOTS.to_owned(),
    ];
    let output = tokio::task::spawn_blocking(move || {
        Command::new(node)
            .args(&args)
            .env(BROWSER_ENV, browser)
            .env("KEYMINT_TEST_EMAIL", "admin@localhost")
            .env("KEYMINT_TEST_PASSWORD", PASSWORD)
            .env("KEYMINT_TEST_KEY_ID", &bootstrap_key)
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    assert!(
        output.status.success(),
        "browser run failed (screenshots in {SCREENSHOTS}):\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("a JSON report");

    // Created inside the iframe, shown once with its warning.
    let secret = report["secret"].as_str().unwrap();
    assert!(secret.starts_with("kmc_") && secret.len() == 53, "{report}");
    assert!(
        report["warning"]
            .as_str()
            .unwrap()
            .contains("You will not see it again")
    );
    // Copied, or at least selected for the person to copy (no clipboard).
    assert!(
        report["copied"]
            .as_str()
            .is_some_and(|text| text == "Copied." || text.starts_with("Selected")),
        "{report}"
    );
    // After a reload: only its start, never the secret.
    assert_eq!(report["revealAfterReload"], false);
    assert_eq!(report["startAfterReload"], format!("{}…", &secret[..10]));
    assert!(
        !report["textAfterReload"]
            .as_str()
            .unwrap()
            .contains(&secret[10..])
    );
    for column in ["Name", "Created", "Last used", "Usage", "Expires"] {
        assert!(
            report["columns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == column),
            "{column}"
        );
    }
    // Revoked with a confirmation, and then dead for real.
    assert_eq!(report["rowsAfterRevoke"], 0);
    assert!(
        report["lastConfirm"]
            .as_str()
            .unwrap()
            .starts_with("Revoke")
    );
    let (status, body) = status_and_json(app.exchange_bearer(secret).await).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_api_key"))
    );
    // Another origin cannot frame it; an expired session says so.
    assert_eq!(report["deniedFrameRendered"], false);
    assert!(
        report["expiredMessage"]
            .as_str()
            .unwrap()
            .contains("expired")
    );
    // The dashboard: a personal token created, listed with its columns, deleted.
    assert!(
        report["dashboardSecret"]
            .as_str()
            .unwrap()
            .starts_with("kmp_")
    );
    for column in ["Name", "Created", "Last used", "Usage", "Expires"] {
        assert!(
            report["dashboardColumns"]
                .as_array()
                .unwrap()
                .iter()
                .any(|c| c == column),
            "{column}"
        );
    }
    assert_eq!(
        report["workspaceKeysTab"], true,
        "the owner sees the workspace keys"
    );
    assert_eq!(report["dashboardRowsAfterDelete"], 0);
    // The owner made the bootstrap key require DPoP from the page.
    assert_eq!(
        (&report["dpopBefore"], &report["dpopAfter"]),
        (&json!("Require DPoP"), &json!("Stop requiring DPoP")),
        "{report}"
    );
    let refused = app.exchange_bearer(&app.bootstrap.secret).await;
    assert_eq!(refused.status(), 400, "a proof is required now");
    // The owner made a trust policy from the page, then deleted it.
    let cells = report["policyCells"].as_array().expect("a policy row");
    assert_eq!(cells[0], "deploy from main", "{report}");
    assert_eq!(cells[2], "https://token.actions.githubusercontent.com");
    assert_eq!(
        cells[3],
        "repo:acme/api:ref:refs/heads/main, job_workflow_ref=acme/api/.github/workflows/*"
    );
    assert_eq!(cells[4], "deploy");
    assert_eq!(report["policiesAfterDelete"], 0);
    let actions = app.audit_actions().await;
    assert!(
        ["trust_policy.created", "trust_policy.deleted"]
            .iter()
            .all(|action| actions.iter().any(|a| a == action)),
        "{actions:?}"
    );
}
