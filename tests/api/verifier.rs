//! keymint's verifier as a downstream service uses it: the example service
//! (examples/downstream.rs) runs on port 0 next to keymint, and tokens,
//! genuine and forged, are sent to it over HTTP.

use std::time::Duration;

use actix_web::{App, HttpServer, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
use chrono::Utc;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use keymint::signing::{KeyTiming, SigningAlg, store};
use keymint::tokens::verify::VerifyError;
use keymint::verifier::{UNKNOWN_KID_REFETCH_INTERVAL, Verifier, VerifierError};
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, eventually, http_client, spawn_app, spawn_app_with_key_timing,
    status_and_json, unverified_claims,
};

#[allow(dead_code)] // its `main` is the example's, not the tests'
#[path = "../../examples/downstream.rs"]
mod downstream;

/// Starts the example's routes, protected by `verifier`, on port 0.
pub(crate) fn spawn_downstream(verifier: Verifier) -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let verifier = web::Data::new(verifier);
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .configure(downstream::routes)
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    base
}

/// The server's own signing key, PKCS#8 DER, to forge tokens a real
/// signature cannot tell apart.
fn server_key(app: &TestApp) -> (String, Vec<u8>) {
    let kid = store::load_dir(app.keys_dir()).unwrap().keys[0]
        .metadata
        .kid
        .clone();
    let pem = std::fs::read(app.keys_dir().join(format!("{kid}.pem"))).unwrap();
    (kid, pem::parse(pem).unwrap().into_contents())
}

fn sign(header: &Header, claims: &Value, pkcs8: &[u8]) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_ec_der(pkcs8)).unwrap()
}

fn access_header(kid: &str) -> Header {
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some(kid.to_owned());
    header
}

/// HS256 over header.payload, keyed with public material.
fn hs256_forgery(kid: &str, claims: &Value, secret: &[u8]) -> String {
    let header = json!({"alg": "HS256", "typ": "at+jwt", "kid": kid});
    let message = format!(
        "{}.{}",
        B64.encode(header.to_string()),
        B64.encode(claims.to_string())
    );
    let tag = ring::hmac::sign(
        &ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret),
        message.as_bytes(),
    );
    format!("{message}.{}", B64.encode(tag.as_ref()))
}

async fn get(url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = http_client().get(url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    status_and_json(request.send().await.unwrap()).await
}

async fn the_example_service_accepts_real_tokens_and_refuses_forged_ones(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let verifier = Verifier::builder(&app.base).build().unwrap();
    let downstream = spawn_downstream(verifier);
    let whoami = format!("{downstream}/whoami");

    let token = app.token().await;
    let (status, body) = get(&whoami, Some(&token)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["workspace"], app.bootstrap.workspace_id.as_str());
    assert_eq!(body["kind"], "workspace");
    let (status, body) = get(&format!("{downstream}/reports"), Some(&token)).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_permissions"))
    );

    // WebSocket upgrades may carry the token in the query; other requests not.
    let upgrade = http_client()
        .get(format!("{whoami}?token={token}"))
        .header("Upgrade", "websocket")
        .send()
        .await
        .unwrap();
    assert_eq!(upgrade.status(), 200);
    let (status, body) = get(&format!("{whoami}?token={token}"), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("unauthorized"))
    );

    let (kid, pkcs8) = server_key(&app);
    let genuine = unverified_claims(&token);
    let now = Utc::now().timestamp();
    let with = |field: &str, value: Value| {
        let mut claims = genuine.clone();
        claims[field] = value;
        claims
    };
    let jwk: Value = serde_json::from_str(&app.state.signing.jwks(Utc::now()).body).unwrap();
    let jwk = &jwk["keys"][0];
    let point = [
        vec![4u8],
        B64.decode(jwk["x"].as_str().unwrap()).unwrap(),
        B64.decode(jwk["y"].as_str().unwrap()).unwrap(),
    ]
    .concat();
    let mut no_typ = access_header(&kid);
    no_typ.typ = None;
    let mut unknown_kid = access_header("forged-kid");
    unknown_kid.kid = Some("forged-kid".to_owned());
    let none = format!(
        "{}.{}.",
        B64.encode(json!({"alg": "none", "typ": "at+jwt", "kid": kid}).to_string()),
        B64.encode(genuine.to_string())
    );
    let forged = [
        ("alg none", none),
        (
            "HS256 keyed with the public JWK",
            hs256_forgery(&kid, &genuine, jwk.to_string().as_bytes()),
        ),
        (
            "HS256 keyed with the public point",
            hs256_forgery(&kid, &genuine, &point),
        ),
        ("unknown kid", sign(&unknown_kid, &genuine, &pkcs8)),
        (
            "expired",
            sign(&access_header(&kid), &with("exp", json!(now - 120)), &pkcs8),
        ),
        (
            "not yet valid",
            sign(&access_header(&kid), &with("nbf", json!(now + 120)), &pkcs8),
        ),
        (
            "wrong iss",
            sign(
                &access_header(&kid),
                &with("iss", json!("https://evil.test")),
                &pkcs8,
            ),
        ),
        (
            "wrong aud",
            sign(
                &access_header(&kid),
                &with("aud", json!(format!("{}/api", app.base))),
                &pkcs8,
            ),
        ),
        ("missing typ", sign(&no_typ, &genuine, &pkcs8)),
    ];
    for (what, token) in &forged {
        let response = http_client()
            .get(&whoami)
            .bearer_auth(token)
            .send()
            .await
            .unwrap();
        let challenge = response.headers()["www-authenticate"]
            .to_str()
            .unwrap()
            .to_owned();
        let (status, body) = status_and_json(response).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (401, Some("invalid_token")),
            "{what}: {body}"
        );
        assert!(challenge.contains("invalid_token"), "{what}: {challenge}");
    }
    eprintln!("refused {} forged tokens", forged.len());
    // The control: the genuine claims under a genuine header do verify, so
    // each refusal above is the forgery's doing.
    let (status, _) = get(&whoami, Some(&sign(&access_header(&kid), &genuine, &pkcs8))).await;
    assert_eq!(status, 200);
}

async fn unknown_kids_refetch_the_jwks_at_most_once_per_interval(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    assert_eq!(UNKNOWN_KID_REFETCH_INTERVAL, Duration::from_secs(10));
    let interval = Duration::from_secs(2);
    let verifier = Verifier::builder(&app.base)
        .unknown_kid_refetch_interval(interval)
        .build()
        .unwrap();
    assert!(verifier.verify(&app.token().await).await.is_ok());
    let (_, pkcs8) = server_key(&app);
    let genuine = unverified_claims(&app.token().await);
    let forge = |n: usize| sign(&access_header(&format!("forged-{n}")), &genuine, &pkcs8);
    let refused = |result: Result<_, VerifierError>| {
        matches!(
            result,
            Err(VerifierError::Token(VerifyError::UnknownKey(_)))
        )
    };

    for n in 0..20 {
        assert!(refused(verifier.verify(&forge(n)).await));
    }
    let stats = verifier.stats();
    assert_eq!(
        (
            stats.fetches,
            stats.unknown_kid_refetches,
            stats.unknown_kid_refetches_refused
        ),
        (1, 0, 20),
        "within the interval of the first fetch, no refetch"
    );
    // Once the interval has passed, one forged kid buys one refetch...
    eventually(interval * 3, "an unknown-kid refetch", || async {
        assert!(refused(verifier.verify(&forge(99)).await));
        (verifier.stats().unknown_kid_refetches == 1).then_some(())
    })
    .await;
    // ...and the next ones none.
    for n in 100..120 {
        assert!(refused(verifier.verify(&forge(n)).await));
    }
    let stats = verifier.stats();
    assert_eq!(
        (stats.fetches, stats.unknown_kid_refetches),
        (2, 1),
        "{stats:?}"
    );
}

async fn a_key_published_after_the_last_fetch_is_found_by_a_refetch(backend: Backend) {
    let timing = KeyTiming {
        reload_period: Duration::from_millis(100),
        ..KeyTiming::default()
    };
    let Some(app) = spawn_app_with_key_timing(backend, timing, |_| {}).await else {
        return;
    };
    let verifier = Verifier::builder(&app.base)
        .unknown_kid_refetch_interval(Duration::from_millis(200))
        .build()
        .unwrap();
    assert!(verifier.verify(&app.token().await).await.is_ok());
    // Emergency-style: a key that signs at once, before the verifier's
    // cached JWKS (max-age 300 s) could know it.
    let now = Utc::now();
    let added = store::create_key(app.keys_dir(), SigningAlg::EdDSA, now, now).unwrap();
    let token = app
        .token_signed_by(added.key.kid(), Duration::from_secs(10))
        .await;
    let claims = eventually(Duration::from_secs(5), "the new key to verify", || async {
        verifier.verify(&token).await.ok()
    })
    .await;
    assert_eq!(claims.ws, app.bootstrap.workspace_id);
    let stats = verifier.stats();
    assert!(stats.unknown_kid_refetches >= 1, "{stats:?}");
    assert!(stats.fetches >= 2, "{stats:?}");
}

#[tokio::test]
async fn unreachable_keys_are_503_not_401() {
    let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let address = closed.local_addr().unwrap();
    drop(closed);
    let verifier = Verifier::builder(format!("http://{address}"))
        .build()
        .unwrap();
    assert!(matches!(
        verifier.verify("a.b.c").await,
        Err(VerifierError::Keys(_))
    ));
    let downstream = spawn_downstream(verifier);
    let (status, body) = get(&format!("{downstream}/whoami"), Some("a.b.c")).await;
    assert_eq!((status, body["error"].as_str()), (503, Some("unavailable")));
}

crate::on_both_backends!(
    the_example_service_accepts_real_tokens_and_refuses_forged_ones,
    unknown_kids_refetch_the_jwks_at_most_once_per_interval,
    a_key_published_after_the_last_fetch_is_found_by_a_refetch,
);
