//! Bad input gets a clear 4xx in the contract's shape; a lost database gets
//! 503, never a 500 and never a request let through.

use serde_json::json;

use std::time::Duration;

use crate::helpers::{Backend, assert_error, eventually, spawn_app};

async fn bad_requests_get_contract_errors(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let post = |body: Vec<u8>, content_type: &'static str| {
        app.client
            .post(app.url("/auth/token"))
            .header("content-type", content_type)
            .body(body)
            .send()
    };
    assert_error(
        post(vec![b' '; 70 * 1024], "application/json")
            .await
            .unwrap(),
        413,
        "payload_too_large",
    )
    .await;
    assert_error(
        post(b"{\"secret\":".to_vec(), "application/json")
            .await
            .unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        post(b"{}".to_vec(), "application/json").await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    assert_error(
        post(b"secret".to_vec(), "text/plain").await.unwrap(),
        415,
        "unsupported_media_type",
    )
    .await;
    let wrong_type = app
        .exchange_json(json!({ "secret": app.bootstrap.secret, "expires_in": "soon" }))
        .await;
    assert_eq!(
        assert_error(wrong_type, 422, "validation_error").await["errors"][0]["field"],
        "expires_in"
    );
    let nothing = app
        .client
        .post(app.url("/auth/token"))
        .send()
        .await
        .unwrap();
    assert_eq!(nothing.headers()["www-authenticate"], "Bearer");
    assert_error(nothing, 401, "unauthorized").await;
    let bad_header = app
        .client
        .post(app.url("/auth/token"))
        .header("authorization", "Token x")
        .send()
        .await
        .unwrap();
    assert_error(bad_header, 401, "unauthorized").await;
    assert_error(
        app.client.get(app.url("/nowhere")).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;
    assert_error(
        app.client.get(app.url("/auth/token")).send().await.unwrap(),
        405,
        "method_not_allowed",
    )
    .await;
    let invalid_utf8 = post(vec![b'{', 0xff, b'}'], "application/json")
        .await
        .unwrap();
    assert_error(invalid_utf8, 400, "invalid_request").await;
}

async fn error_bodies_never_echo_the_secret(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let mut almost = app.bootstrap.secret.clone();
    almost.push('x');
    let body = assert_error(app.exchange_bearer(&almost).await, 401, "invalid_api_key").await;
    assert!(
        !body.to_string().contains(&app.bootstrap.secret[4..]),
        "{body}"
    );
}

crate::on_both_backends!(
    bad_requests_get_contract_errors,
    error_bodies_never_echo_the_secret
);

/// PostgreSQL only: SQLite has no server to lose. Dropping the database under
/// the running service must turn exchanges into 503 `unavailable` (fail
/// closed) and `/readyz` into 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_lost_database_fails_closed_with_503() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    assert_eq!(
        app.exchange_bearer(&app.bootstrap.secret).await.status(),
        200
    );
    app.db.drop_postgres_database();
    // The key cache answers for at most a lease after the database's last
    // word (docs/storage.md: within 250 ms); one check period and a second of slack
    // for a loaded machine on top.
    use keymint::db::auth_version::{CHECK_PERIOD, LEASE};
    let refused = eventually(
        LEASE + CHECK_PERIOD + Duration::from_secs(1),
        "503 from the exchange",
        || async {
            let answer = app.exchange_bearer(&app.bootstrap.secret).await;
            (answer.status() == 503).then_some(answer)
        },
    )
    .await;
    assert_error(refused, 503, "unavailable").await;
    let ready = app.client.get(app.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 503);
}
