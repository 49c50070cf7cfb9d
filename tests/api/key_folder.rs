//! A running server and its keys folder: changes take effect within 10 s
//! without a restart, broken files are skipped, and with no key able to
//! sign the service says so (503) instead of failing strangely.

use std::time::{Duration, Instant};

use chrono::Utc;
use keymint::signing::{KeyTiming, SigningAlg, store};
use serde_json::Value;

use crate::helpers::{
    Backend, TestApp, assert_error, eventually, spawn_app, spawn_app_with_key_timing,
    status_and_json, token_kid,
};

/// The contract's bound on how long a folder change may take to matter.
const PICKUP_BOUND: Duration = Duration::from_secs(10);

async fn jwks(app: &TestApp) -> Value {
    let response = app
        .client
        .get(app.url("/.well-known/jwks.json"))
        .send()
        .await
        .unwrap();
    status_and_json(response).await.1
}

async fn ready_status(app: &TestApp) -> u16 {
    app.client
        .get(app.url("/readyz"))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

/// With the default reload period, a key added to the folder is published
/// and signs within 10 s.
async fn a_key_added_to_the_folder_signs_within_ten_seconds(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = token_kid(&app.token().await);
    let now = Utc::now();
    let added = store::create_key(app.keys_dir(), SigningAlg::EdDSA, now, now).unwrap();
    let kid = added.key.kid().to_owned();
    let started = Instant::now();
    let token = app.token_signed_by(&kid, PICKUP_BOUND).await;
    eprintln!("new key signed after {:?}", started.elapsed());
    assert_ne!(first, kid);
    assert_eq!(
        jsonwebtoken::decode_header(&token).unwrap().alg,
        jsonwebtoken::Algorithm::EdDSA
    );
    let published = jwks(&app).await;
    let member = published["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["kid"] == kid.as_str())
        .expect("the new key is published");
    assert_eq!(
        (member["kty"].as_str(), member["crv"].as_str()),
        (Some("OKP"), Some("Ed25519"))
    );
    assert!(member.get("d").is_none());
    assert!(
        published["keys"]
            .as_array()
            .unwrap()
            .iter()
            .any(|k| k["kid"] == first.as_str()),
        "the previous key stays published"
    );
}

/// Broken files never stop the good keys; with every key retired, /readyz
/// and /auth/token say 503 until a key is added again.
async fn broken_files_are_skipped_and_no_signer_means_503(backend: Backend) {
    let timing = KeyTiming {
        reload_period: Duration::from_millis(100),
        ..KeyTiming::default()
    };
    let Some(app) = spawn_app_with_key_timing(backend, timing, |_| {}).await else {
        return;
    };
    let dir = app.keys_dir().to_owned();
    let now = Utc::now();
    std::fs::write(dir.join("garbage.json"), b"{ not json").unwrap();
    let broken = store::create_key(&dir, SigningAlg::ES256, now, now).unwrap();
    std::fs::write(
        dir.join(format!("{}.pem", broken.key.kid())),
        b"-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n",
    )
    .unwrap();
    let good = store::create_key(&dir, SigningAlg::ES256, now, now).unwrap();
    app.token_signed_by(good.key.kid(), PICKUP_BOUND).await;
    assert_eq!(ready_status(&app).await, 200);
    let published = jwks(&app).await.to_string();
    assert!(
        !published.contains(broken.key.kid()),
        "a broken key is not published"
    );

    // Retire every key now: nothing can sign.
    for key in store::load_dir(&dir).unwrap().keys {
        let mut metadata = key.metadata;
        metadata.retire_at = Some(Utc::now());
        store::write_metadata(&dir, &metadata).unwrap();
    }
    eventually(PICKUP_BOUND, "/readyz to fail", || async {
        (ready_status(&app).await == 503).then_some(())
    })
    .await;
    let (_, ready) =
        status_and_json(app.client.get(app.url("/readyz")).send().await.unwrap()).await;
    assert_eq!(
        (ready["database"].as_bool(), ready["signing_key"].as_bool()),
        (Some(true), Some(false))
    );
    assert_error(
        app.exchange_bearer(&app.bootstrap.secret).await,
        503,
        "unavailable",
    )
    .await;
    assert!(
        jwks(&app).await.to_string().contains(good.key.kid()),
        "retired keys stay published for the tokens they signed"
    );

    // An operator adds a key: service resumes without a restart.
    let now = Utc::now();
    let fresh = store::create_key(&dir, SigningAlg::EdDSA, now, now).unwrap();
    app.token_signed_by(fresh.key.kid(), PICKUP_BOUND).await;
    assert_eq!(ready_status(&app).await, 200);
}

crate::on_both_backends!(
    a_key_added_to_the_folder_signs_within_ten_seconds,
    broken_files_are_skipped_and_no_signer_means_503,
);
