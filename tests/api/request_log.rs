//! Request ids and the request log: one line per request with method, route
//! pattern, status, duration, request id and key id; never a secret, a JWT
//! or a raw path.

use std::time::Duration;

use crate::binary::serve;
use crate::helpers::{Backend, TestDb, http_client, spawn_app, status_and_json, unverified_claims};

const WITHIN: Duration = Duration::from_secs(10);

async fn request_ids_are_echoed_or_generated(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let echoed = app
        .client
        .get(app.url("/healthz"))
        .header("x-request-id", "req-42.a_b:c")
        .send()
        .await
        .unwrap();
    assert_eq!(echoed.headers()["x-request-id"], "req-42.a_b:c");
    for unsafe_id in ["has spaces", "quote\"d", &"x".repeat(129)] {
        let replaced = app
            .client
            .get(app.url("/nowhere"))
            .header("x-request-id", unsafe_id)
            .send()
            .await
            .unwrap();
        assert_eq!(replaced.status(), 404);
        let generated = replaced.headers()["x-request-id"].to_str().unwrap();
        assert!(
            generated.len() == 32 && generated.chars().all(|c| c.is_ascii_hexdigit()),
            "{generated}"
        );
    }
    let none_sent = app.exchange_bearer(&app.bootstrap.secret).await;
    assert!(none_sent.headers().contains_key("x-request-id"));
}

async fn the_log_has_one_safe_line_per_request(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let served = serve(&db, keys.path(), "warn,keymint::http::observe=info");
    let client = http_client();

    let response = client
        .post(served.url("/auth/token"))
        .bearer_auth(&served.secret)
        .header("x-request-id", "exchange-1")
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    let key_id = unverified_claims(&token)["client_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let listed = client
        .get(served.url("/api/v1/workspaces/default/keys?limit=5"))
        .bearer_auth(&token)
        .header("x-request-id", "list-1")
        .send()
        .await
        .unwrap();
    assert_eq!(listed.status(), 200);
    let probe = client
        .get(served.url(&format!("/debug/{}", served.secret)))
        .header("x-request-id", "probe-1")
        .send()
        .await
        .unwrap();
    assert_eq!(probe.status(), 404);

    let mut lines = Vec::new();
    for (id, expected) in [
        ("exchange-1", "method=POST route=/auth/token status=200 "),
        (
            "list-1",
            "method=GET route=/api/v1/workspaces/{ws}/keys status=200 ",
        ),
        ("probe-1", "method=GET route=unmatched status=404 "),
    ] {
        let line = served.log_line(WITHIN, |line| line.contains(&format!("request_id={id} ")));
        assert!(line.contains(expected), "{line}");
        assert!(line.contains(" duration_ms="), "{line}");
        assert!(line.contains(" client=127.0.0.1 "), "{line}");
        lines.push(line);
    }
    assert!(
        lines[0].ends_with(&format!("key_id={key_id}")),
        "{}",
        lines[0]
    );
    assert!(
        lines[1].ends_with(&format!("key_id={key_id}")),
        "{}",
        lines[1]
    );
    assert!(lines[2].ends_with("key_id=-"), "{}", lines[2]);
    let secret_body = &served.secret[4..];
    let signature = token.rsplit('.').next().unwrap();
    for line in &lines {
        assert!(!line.contains(secret_body), "a secret in the log: {line}");
        assert!(!line.contains(signature), "a JWT in the log: {line}");
        assert!(
            !line.contains("limit=5"),
            "a query string in the log: {line}"
        );
        assert!(!line.contains("default"), "a raw path in the log: {line}");
    }
}

crate::on_both_backends!(
    request_ids_are_echoed_or_generated,
    the_log_has_one_safe_line_per_request,
);
