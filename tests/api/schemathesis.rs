//! schemathesis against `/openapi.json`: generated requests to the public
//! endpoints and the key API must never get a 5xx, and every answer must
//! match the document. Needs KEYMINT_TEST_SCHEMATHESIS (the `st` command;
//! `.ci/run` installs it in `.venv`); without it the test says it skipped.

use std::process::Command;

use crate::helpers::{Backend, spawn_app};

const ST_ENV: &str = "KEYMINT_TEST_SCHEMATHESIS";
/// The public endpoints and the key API.
const PATHS: &str = r"^/(auth/.*|\.well-known/.*|healthz|readyz|metrics|openapi\.json|api/v1/workspaces/\{ws\}/keys.*)$";

async fn generated_requests_get_no_5xx_and_match_the_document(backend: Backend) {
    let Ok(st) = std::env::var(ST_ENV) else {
        eprintln!("skipped: {ST_ENV} not set (bash .ci/run installs schemathesis)");
        return;
    };
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // `{ws}` is the bootstrap workspace, so key routes reach real data.
    let config = tempfile::tempdir().unwrap();
    std::fs::write(
        config.path().join("schemathesis.toml"),
        "[parameters]\n\"path.ws\" = \"default\"\n",
    )
    .unwrap();
    let url = app.url("/openapi.json");
    let auth = format!("Authorization: Bearer {}", app.bootstrap.secret);
    let output = tokio::task::spawn_blocking(move || {
        Command::new(st)
            .current_dir(config.path())
            .args([
                "run",
                &url,
                "--checks",
                "not_a_server_error,response_schema_conformance",
            ])
            .args([
                "-H",
                &auth,
                "--include-path-regex",
                PATHS,
                "--max-examples",
                "25",
                "--seed",
                "20261122",
            ])
            // Without the stateful phase, which may revoke the very key it
            // authenticates with and so test nothing but 401s after that.
            .args(["--phases", "coverage,fuzzing", "--no-color"])
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let report = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{report}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let totals = report
        .lines()
        .find(|line| line.contains(" generated, "))
        .expect("a summary line");
    eprintln!("schemathesis: {}", totals.trim());
    assert!(!totals.contains("failed"), "{totals}");
}

crate::on_both_backends!(generated_requests_get_no_5xx_and_match_the_document);
