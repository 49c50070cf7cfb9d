//! `/readyz` follows the database: unready while no connection can be had,
//! ready again once one can, without a restart. (It follows the signing
//! keys too: see key_folder.rs, `broken_files_are_skipped_and_no_signer_means_503`.)

use std::time::Duration;

use serde_json::Value;

use crate::helpers::{
    Backend, TestApp, eventually, exchange_until_a_cache_hit, lookups, spawn_app, status_and_json,
};

/// Generous next to the pool's 3 s checkout timeout that `/readyz` waits out.
const WITHIN: Duration = Duration::from_secs(20);

async fn readiness(app: &TestApp) -> (u16, Value) {
    status_and_json(app.client.get(app.url("/readyz")).send().await.unwrap()).await
}

async fn wait_for_readiness(app: &TestApp, status: u16, database: bool) {
    let (_, body) = eventually(WITHIN, &format!("/readyz {status}"), || async {
        let (actual, body) = readiness(app).await;
        (actual == status).then_some(((), body))
    })
    .await;
    assert_eq!(body["database"], database, "{body}");
    assert_eq!(body["signing_key"], true, "{body}");
}

/// Every pooled connection held elsewhere: to a request, the database is
/// out of reach (this is what SQLite's "unreachable" really looks like; its
/// file cannot vanish from under open connections, and the tests run as
/// root, so permissions cannot lock it away).
async fn readyz_is_unready_while_no_connection_can_be_had(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    wait_for_readiness(&app, 200, true).await;
    let secret = app.bootstrap.secret.clone();
    exchange_until_a_cache_hit(&app.client, &app.base, &secret).await;
    let pool = app.state.pool.clone();
    let held = tokio::task::spawn_blocking(move || {
        (0..pool.max_size())
            .map(|_| pool.get().expect("a connection"))
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    wait_for_readiness(&app, 503, false).await;
    // The key cache's checks have a connection of their own: a cached key
    // is still served while requests wait for the pool.
    let hits = lookups(&app.client, &app.base, "hit").await;
    assert_eq!(app.exchange_bearer(&secret).await.status(), 200);
    assert_eq!(lookups(&app.client, &app.base, "hit").await, hits + 1.0);
    drop(held);
    wait_for_readiness(&app, 200, true).await;
}

crate::on_both_backends!(readyz_is_unready_while_no_connection_can_be_had);

/// PostgreSQL refuses every connection to the database and ends the open
/// ones: unready (and exchanges 503); allowed back: ready, exchanges work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_readyz_follows_the_database_going_and_coming_back() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    wait_for_readiness(&app, 200, true).await;
    app.db.set_postgres_reachable(false);
    wait_for_readiness(&app, 503, false).await;
    crate::helpers::assert_error(
        app.exchange_bearer(&app.bootstrap.secret).await,
        503,
        "unavailable",
    )
    .await;
    app.db.set_postgres_reachable(true);
    wait_for_readiness(&app, 200, true).await;
    assert_eq!(
        app.exchange_bearer(&app.bootstrap.secret).await.status(),
        200
    );
}
