//! The key cache: exchanges answered from memory, and every change to what
//! authentication reads reaching every replica before the change is
//! answered (docs/storage.md, "Key cache").

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_error, exchange_until_a_cache_hit, lookups, spawn_app, spawn_app_with,
    status_and_json, unverified_claims,
};

async fn scope_of_token(response: reqwest::Response) -> String {
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    claims["scope"].as_str().unwrap().to_owned()
}

async fn read_write_key(app: &TestApp) -> (String, String) {
    let created = app
        .create_key(
            json!({ "name": "cached", "kind": "workspace", "scopes": ["keys:read", "keys:write"] }),
        )
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    (created["id"].as_str().unwrap().to_owned(), secret)
}

async fn revoke(app: &TestApp, id: &str) {
    let path = app.ws_path(&format!("/keys/{id}"));
    let (status, body) = app
        .call(Method::DELETE, &path, &app.bootstrap.secret, None)
        .await;
    assert_eq!(status, 204, "{body}");
}

async fn patch_scopes(app: &TestApp, id: &str, scopes: Value) {
    let path = app.ws_path(&format!("/keys/{id}"));
    let (status, body) = app
        .call(
            Method::PATCH,
            &path,
            &app.bootstrap.secret,
            Some(json!({ "scopes": scopes })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

async fn exchanges_come_from_memory_until_the_key_changes(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, secret) = read_write_key(&app).await;
    exchange_until_a_cache_hit(&app.client, &app.base, &secret).await;
    let hits = lookups(&app.client, &app.base, "hit").await;
    assert_eq!(app.exchange_bearer(&secret).await.status(), 200);
    assert_eq!(lookups(&app.client, &app.base, "hit").await, hits + 1.0);

    // A rename changes nothing authentication reads: still from memory.
    let path = app.ws_path(&format!("/keys/{id}"));
    let rename = json!({ "name": "renamed" });
    let (status, body) = app
        .call(Method::PATCH, &path, &app.bootstrap.secret, Some(rename))
        .await;
    assert_eq!(status, 200, "{body}");
    let misses = lookups(&app.client, &app.base, "miss").await;
    assert_eq!(app.exchange_bearer(&secret).await.status(), 200);
    assert_eq!(lookups(&app.client, &app.base, "miss").await, misses);

    // A change is seen by the very next exchange, cached or not.
    patch_scopes(&app, &id, json!(["keys:read"])).await;
    assert_eq!(
        scope_of_token(app.exchange_bearer(&secret).await).await,
        "keys:read"
    );
    revoke(&app, &id).await;
    assert_error(app.exchange_bearer(&secret).await, 401, "invalid_api_key").await;
}

async fn a_cache_of_size_zero_asks_the_database_every_time(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |config| config.key_cache_size = 0).await else {
        return;
    };
    for _ in 0..3 {
        assert_eq!(
            app.exchange_bearer(&app.bootstrap.secret).await.status(),
            200
        );
    }
    assert_eq!(lookups(&app.client, &app.base, "hit").await, 0.0);
    assert_eq!(lookups(&app.client, &app.base, "miss").await, 3.0);
}

crate::on_both_backends!(
    exchanges_come_from_memory_until_the_key_changes,
    a_cache_of_size_zero_asks_the_database_every_time,
);

/// Two replicas on one PostgreSQL: once a change made on one is answered,
/// the other no longer answers from what it had cached, with no waiting in
/// between.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_changes_on_one_replica_are_seen_by_the_next_request_on_another() {
    let Some(a) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let b = a.replica().await;
    let (id, secret) = read_write_key(&a).await;
    exchange_until_a_cache_hit(&b.client, &b.base, &secret).await;

    patch_scopes(&a, &id, json!(["keys:read"])).await;
    assert_eq!(
        scope_of_token(b.exchange_bearer(&secret).await).await,
        "keys:read"
    );

    let rotate = a.ws_path(&format!("/keys/{id}/rotate"));
    let (status, rotated) = a
        .call(Method::POST, &rotate, &a.bootstrap.secret, None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_error(b.exchange_bearer(&secret).await, 401, "invalid_api_key").await;
    let new_secret = rotated["secret"].as_str().unwrap();
    assert_eq!(b.exchange_bearer(new_secret).await.status(), 200);
    assert_eq!(b.exchange_bearer(new_secret).await.status(), 200);

    revoke(&a, &id).await;
    assert_error(b.exchange_bearer(new_secret).await, 401, "invalid_api_key").await;
}

/// PostgreSQL: a revocation of a key revoked a moment ago (a second admin,
/// `/auth/revoke` with the leaked secret) answers no sooner than the first
/// could: both come after no replica trusts its cached copy any more.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_a_repeated_revocation_answers_only_once_it_has_settled() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let (id, secret) = read_write_key(&app).await;
    let lease = keymint::db::auth_version::LEASE;
    let started = std::time::Instant::now();
    revoke(&app, &id).await;
    assert!(
        started.elapsed() >= lease,
        "the first: {:?}",
        started.elapsed()
    );
    let again = std::time::Instant::now();
    revoke(&app, &id).await;
    assert!(
        again.elapsed() >= lease,
        "the repeat: {:?}",
        again.elapsed()
    );
    assert_error(app.exchange_bearer(&secret).await, 401, "invalid_api_key").await;
}
