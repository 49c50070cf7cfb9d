//! DPoP (RFC 9449): tokens bound to a key the client holds, refused
//! without a fresh proof of that key. Every refusal has its control.

use reqwest::Method;
use serde_json::{Value, json};

use keymint::dpop::prover::ProofKey;
use keymint::signing::{SigningAlg, SigningKey};

use crate::helpers::{
    Backend, TestApp, assert_error, spawn_app, spawn_app_with, status_and_json, unverified_claims,
};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

fn holder() -> ProofKey {
    ProofKey::generate(SigningAlg::ES256).unwrap()
}

/// A proof of `key` for `method` on keymint's `path`.
fn proof(app: &TestApp, key: &ProofKey, method: &str, path: &str, token: Option<&str>) -> String {
    key.proof(method, &app.url(path), token, None, now())
        .unwrap()
}

async fn exchange_with_proof(app: &TestApp, secret: &str, proof: &str) -> reqwest::Response {
    app.client
        .post(app.url("/auth/token"))
        .bearer_auth(secret)
        .header("DPoP", proof)
        .send()
        .await
        .unwrap()
}

/// A bound token of the bootstrap key, and the key it is bound to.
async fn bound_token(app: &TestApp) -> (String, ProofKey) {
    let key = holder();
    let proof = proof(app, &key, "POST", "/auth/token", None);
    let (status, body) =
        status_and_json(exchange_with_proof(app, &app.bootstrap.secret, &proof).await).await;
    assert_eq!(status, 200, "{body}");
    (body["access_token"].as_str().unwrap().to_owned(), key)
}

/// `GET /api/v1/me` with `authorization` and, if given, a `DPoP` header.
async fn me(app: &TestApp, authorization: &str, proof: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url("/api/v1/me"))
        .header("Authorization", authorization);
    if let Some(proof) = proof {
        request = request.header("DPoP", proof);
    }
    request.send().await.unwrap()
}

async fn assert_dpop_refusal(response: reqwest::Response, code: &str) {
    let challenge = response
        .headers()
        .get("www-authenticate")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_eq!(
        challenge.as_deref(),
        Some(format!("DPoP error=\"{code}\"").as_str())
    );
    assert_error(response, 401, code).await;
}

async fn every_form_of_the_exchange_binds_its_token_to_the_proofs_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let secret = app.bootstrap.secret.clone();
    let key = holder();
    let with_proof = |request: reqwest::RequestBuilder| {
        request.header("DPoP", proof(&app, &key, "POST", "/auth/token", None))
    };
    let url = app.url("/auth/token");
    let forms = [
        with_proof(app.client.post(&url).bearer_auth(&secret)),
        with_proof(app.client.post(&url).header("X-Api-Key", &secret)),
        with_proof(app.client.post(&url).json(&json!({ "secret": secret }))),
        with_proof(app.client.post(&url).form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ])),
        with_proof(app.client.post(&url).form(&[
            (
                "grant_type",
                "urn:ietf:params:oauth:grant-type:token-exchange",
            ),
            ("subject_token", &secret),
            (
                "subject_token_type",
                "urn:keymint:params:oauth:token-type:api-key",
            ),
        ])),
    ];
    for form in forms {
        let (status, body) = status_and_json(form.send().await.unwrap()).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["token_type"], "DPoP", "{body}");
        let claims = unverified_claims(body["access_token"].as_str().unwrap());
        assert_eq!(claims["cnf"]["jkt"], key.thumbprint(), "{claims}");
    }
    // The control: without a proof, a plain bearer token with no cnf.
    let (status, body) = status_and_json(app.exchange_bearer(&secret).await).await;
    assert_eq!((status, body["token_type"].as_str()), (200, Some("Bearer")));
    assert!(unverified_claims(body["access_token"].as_str().unwrap())["cnf"].is_null());
}

async fn the_exchange_refuses_every_bad_proof(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let secret = app.bootstrap.secret.clone();
    let key = holder();
    let at = |path: &str, method: &str, iat: i64| {
        key.proof(method, &app.url(path), None, None, iat).unwrap()
    };
    let good = at("/auth/token", "POST", now());
    assert_eq!(
        exchange_with_proof(&app, &secret, &good).await.status(),
        200
    );
    // The same proof again: a replay.
    assert_error(
        exchange_with_proof(&app, &secret, &good).await,
        400,
        "invalid_dpop_proof",
    )
    .await;
    let signer = SigningKey::from_pkcs8(
        SigningAlg::ES256,
        &SigningKey::generate_pkcs8(SigningAlg::ES256).unwrap(),
    )
    .unwrap();
    let mut private_jwk = signer.jwk().clone();
    private_jwk["d"] = json!("AAAA");
    let claims = json!({"jti": "x", "htm": "POST", "htu": app.url("/auth/token"), "iat": now()});
    let private = signer
        .sign_with_header(
            &json!({"typ": "dpop+jwt", "alg": "ES256", "jwk": private_jwk}),
            &claims,
        )
        .unwrap();
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"typ": "dpop+jwt", "alg": "none", "jwk": signer.jwk()})),
        b64(&claims)
    );
    // HS256 keyed with the public JWK's own bytes: what a library that
    // takes the header's algorithm would accept.
    let hs256_input = format!(
        "{}.{}",
        b64(&json!({"typ": "dpop+jwt", "alg": "HS256", "jwk": signer.jwk()})),
        b64(&claims)
    );
    let mac_key =
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, signer.jwk().to_string().as_bytes());
    let symmetric = format!(
        "{hs256_input}.{}",
        base64::Engine::encode(
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
            ring::hmac::sign(&mac_key, hs256_input.as_bytes())
        )
    );
    let bad = [
        ("another URL", at("/api/v1/me", "POST", now())),
        ("another method", at("/auth/token", "GET", now())),
        ("a stale iat", at("/auth/token", "POST", now() - 120)),
        (
            "an iat in the future",
            at("/auth/token", "POST", now() + 120),
        ),
        ("a private key", private),
        ("alg none", unsigned),
        ("HS256 keyed with the public key", symmetric),
        ("not a JWT", "garbage".to_owned()),
    ];
    for (what, proof) in bad {
        let body = assert_error(
            exchange_with_proof(&app, &secret, &proof).await,
            400,
            "invalid_dpop_proof",
        )
        .await;
        assert!(!body.to_string().contains(&proof), "{what}: echoed");
    }
    // Two DPoP headers.
    let twice = app
        .client
        .post(app.url("/auth/token"))
        .bearer_auth(&secret)
        .header("DPoP", at("/auth/token", "POST", now()))
        .header("DPoP", at("/auth/token", "POST", now()))
        .send()
        .await
        .unwrap();
    assert_error(twice, 400, "invalid_dpop_proof").await;
    // The OAuth forms say it in RFC 6749's shape.
    let form = app
        .client
        .post(app.url("/auth/token"))
        .header("DPoP", at("/api/v1/me", "POST", now()))
        .form(&[
            ("grant_type", "client_credentials"),
            ("client_secret", &secret),
        ])
        .send()
        .await
        .unwrap();
    let body = assert_error(form, 400, "invalid_dpop_proof").await;
    assert!(body["error_description"].is_string(), "{body}");
    // A wrong secret is still a wrong secret, proof or not.
    let wrong = exchange_with_proof(&app, "kmk_nope", &at("/auth/token", "POST", now())).await;
    assert_eq!(wrong.status(), 401);
}

fn b64(value: &Value) -> String {
    use base64::Engine;
    base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
}

async fn a_key_can_require_a_proof(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(json!({ "name": "bound", "kind": "workspace", "dpop_required": true }))
        .await;
    assert_eq!(created["dpop_required"], true, "{created}");
    let secret = created["secret"].as_str().unwrap().to_owned();
    let id = created["id"].as_str().unwrap().to_owned();
    assert_error(
        app.exchange_bearer(&secret).await,
        400,
        "invalid_dpop_proof",
    )
    .await;
    let key = holder();
    let proof = proof(&app, &key, "POST", "/auth/token", None);
    let (status, body) = status_and_json(exchange_with_proof(&app, &secret, &proof).await).await;
    assert_eq!((status, body["token_type"].as_str()), (200, Some("DPoP")));
    // PATCH turns it off, and the next exchange needs no proof.
    let path = app.ws_path(&format!("/keys/{id}"));
    let (status, patched) = app
        .call(
            Method::PATCH,
            &path,
            &app.bootstrap.secret,
            Some(json!({ "dpop_required": false })),
        )
        .await;
    assert_eq!((status, &patched["dpop_required"]), (200, &json!(false)));
    assert_eq!(app.exchange_bearer(&secret).await.status(), 200);
    // And on again; a key made without it does not require it.
    let (status, _) = app
        .call(
            Method::PATCH,
            &path,
            &app.bootstrap.secret,
            Some(json!({ "dpop_required": true })),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(app.exchange_bearer(&secret).await.status(), 400);
    let plain = app
        .create_key(json!({ "name": "plain", "kind": "workspace" }))
        .await;
    assert_eq!(plain["dpop_required"], false);
    let invalid = app
        .call(
            Method::PATCH,
            &path,
            &app.bootstrap.secret,
            Some(json!({ "dpop_required": "yes" })),
        )
        .await;
    assert_eq!(invalid.0, 422, "{}", invalid.1);
}

async fn keymints_api_takes_a_bound_token_only_with_a_proof_of_its_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, key) = bound_token(&app).await;
    let dpop = format!("DPoP {token}");
    let fresh = || proof(&app, &key, "GET", "/api/v1/me", Some(&token));
    let (status, body) = status_and_json(me(&app, &dpop, Some(&fresh())).await).await;
    assert_eq!(status, 200, "{body}");

    // Stolen: as Bearer, or with a proof of the thief's own key.
    let bearer = format!("Bearer {token}");
    assert_dpop_refusal(me(&app, &bearer, None).await, "invalid_token").await;
    assert_dpop_refusal(me(&app, &bearer, Some(&fresh())).await, "invalid_token").await;
    let thief = holder();
    let thiefs = proof(&app, &thief, "GET", "/api/v1/me", Some(&token));
    assert_dpop_refusal(me(&app, &dpop, Some(&thiefs)).await, "invalid_token").await;
    // Proofs of something else: no proof, no ath, another URL or method, a replay.
    assert_dpop_refusal(me(&app, &dpop, None).await, "invalid_dpop_proof").await;
    let no_ath = proof(&app, &key, "GET", "/api/v1/me", None);
    assert_dpop_refusal(me(&app, &dpop, Some(&no_ath)).await, "invalid_dpop_proof").await;
    let elsewhere = proof(&app, &key, "GET", "/api/v1/workspaces", Some(&token));
    assert_dpop_refusal(
        me(&app, &dpop, Some(&elsewhere)).await,
        "invalid_dpop_proof",
    )
    .await;
    let post = proof(&app, &key, "POST", "/api/v1/me", Some(&token));
    assert_dpop_refusal(me(&app, &dpop, Some(&post)).await, "invalid_dpop_proof").await;
    let once = fresh();
    assert_eq!(me(&app, &dpop, Some(&once)).await.status(), 200);
    assert_dpop_refusal(me(&app, &dpop, Some(&once)).await, "invalid_dpop_proof").await;

    // What is not bound is not taken as DPoP: a plain token, a secret.
    let plain = app.token().await;
    let unbound = proof(&app, &key, "GET", "/api/v1/me", Some(&plain));
    assert_eq!(
        me(&app, &format!("Bearer {plain}"), None).await.status(),
        200
    );
    assert_dpop_refusal(
        me(&app, &format!("DPoP {plain}"), Some(&unbound)).await,
        "invalid_token",
    )
    .await;
    let secret = &app.bootstrap.secret;
    let with_secret = proof(&app, &key, "GET", "/api/v1/me", Some(secret));
    assert_dpop_refusal(
        me(&app, &format!("DPoP {secret}"), Some(&with_secret)).await,
        "invalid_token",
    )
    .await;
}

async fn introspection_shows_the_binding_and_takes_dpop_callers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (token, key) = bound_token(&app).await;
    let management = app
        .new_secret(json!({ "name": "rs", "kind": "management" }))
        .await;
    let report = |credential: String, proof: Option<String>| {
        let mut request = app
            .client
            .post(app.url("/auth/introspect"))
            .header("Authorization", credential)
            .form(&[("token", token.as_str())]);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        async move { status_and_json(request.send().await.unwrap()).await }
    };
    let (status, body) = report(format!("Bearer {management}"), None).await;
    assert_eq!(status, 200);
    assert_eq!(body["active"], true, "{body}");
    assert_eq!(body["token_type"], "DPoP");
    assert_eq!(body["cnf"]["jkt"], key.thumbprint());

    // A bound management token introspects with its proof, not without.
    let rs_key = holder();
    let exchange_proof = proof(&app, &rs_key, "POST", "/auth/token", None);
    let (_, exchanged) =
        status_and_json(exchange_with_proof(&app, &management, &exchange_proof).await).await;
    let rs_token = exchanged["access_token"].as_str().unwrap().to_owned();
    let rs_proof = proof(&app, &rs_key, "POST", "/auth/introspect", Some(&rs_token));
    let (status, body) = report(format!("DPoP {rs_token}"), Some(rs_proof)).await;
    assert_eq!((status, &body["active"]), (200, &json!(true)), "{body}");
    let (status, body) = report(format!("Bearer {rs_token}"), None).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (401, Some("invalid_token"))
    );
}

async fn with_nonces_a_proof_must_carry_the_current_one(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |config| config.dpop_nonce = true).await else {
        return;
    };
    let key = holder();
    let url = app.url("/auth/token");
    let secret = app.bootstrap.secret.clone();
    let without = key.proof("POST", &url, None, None, now()).unwrap();
    let refused = exchange_with_proof(&app, &secret, &without).await;
    let nonce = refused.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    assert_error(refused, 400, "use_dpop_nonce").await;
    let forged = key
        .proof("POST", &url, None, Some("made-up"), now())
        .unwrap();
    let refused = exchange_with_proof(&app, &secret, &forged).await;
    assert_error(refused, 400, "use_dpop_nonce").await;

    let with = key.proof("POST", &url, None, Some(&nonce), now()).unwrap();
    let issued = exchange_with_proof(&app, &secret, &with).await;
    assert!(issued.headers().contains_key("dpop-nonce"));
    let (status, body) = status_and_json(issued).await;
    assert_eq!((status, body["token_type"].as_str()), (200, Some("DPoP")));
    let token = body["access_token"].as_str().unwrap().to_owned();

    // At a resource: 401 with the nonce, then 200 with it.
    let me_url = app.url("/api/v1/me");
    let dpop = format!("DPoP {token}");
    let stale = key
        .proof("GET", &me_url, Some(&token), None, now())
        .unwrap();
    let refused = me(&app, &dpop, Some(&stale)).await;
    assert!(refused.headers().contains_key("dpop-nonce"));
    assert_dpop_refusal(refused, "use_dpop_nonce").await;
    let current = key
        .proof("GET", &me_url, Some(&token), Some(&nonce), now())
        .unwrap();
    assert_eq!(me(&app, &dpop, Some(&current)).await.status(), 200);
}

async fn a_portal_session_can_be_bound_to_the_browsers_key(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let key = holder();
    let mint = |body: Value| {
        app.api(
            Method::POST,
            &app.ws_path("/portal-sessions"),
            &app.bootstrap.secret,
        )
        .json(&body)
        .send()
    };
    let bound = json!({ "external_id": "cus_1", "dpop_jkt": key.thumbprint() });
    let (status, session) = status_and_json(mint(bound).await.unwrap()).await;
    assert_eq!(status, 201, "{session}");
    let token = session["token"].as_str().unwrap().to_owned();
    assert_eq!(unverified_claims(&token)["cnf"]["jkt"], key.thumbprint());
    let keys = |authorization: String, proof: Option<String>| {
        let mut request = app
            .client
            .get(app.url("/portal/api/keys"))
            .header("Authorization", authorization);
        if let Some(proof) = proof {
            request = request.header("DPoP", proof);
        }
        request.send()
    };
    let with_proof = || Some(proof(&app, &key, "GET", "/portal/api/keys", Some(&token)));
    let response = keys(format!("DPoP {token}"), with_proof()).await.unwrap();
    assert_eq!(response.status(), 200);
    let as_bearer = keys(format!("Bearer {token}"), None).await.unwrap();
    assert_dpop_refusal(as_bearer, "invalid_token").await;
    let thiefs = proof(&app, &holder(), "GET", "/portal/api/keys", Some(&token));
    let stolen = keys(format!("DPoP {token}"), Some(thiefs)).await.unwrap();
    assert_dpop_refusal(stolen, "invalid_token").await;
    // The control: an unbound session as Bearer; and a jkt that is none.
    let (_, plain) = status_and_json(mint(json!({ "external_id": "cus_1" })).await.unwrap()).await;
    let plain = plain["token"].as_str().unwrap();
    assert_eq!(
        keys(format!("Bearer {plain}"), None)
            .await
            .unwrap()
            .status(),
        200
    );
    let bad = json!({ "external_id": "cus_1", "dpop_jkt": "not-a-thumbprint" });
    assert_error(mint(bad).await.unwrap(), 422, "validation_error").await;
}

async fn discovery_lists_the_proof_algorithms(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let response = app
        .client
        .get(app.url("/.well-known/oauth-authorization-server"))
        .send()
        .await
        .unwrap();
    let (_, metadata) = status_and_json(response).await;
    assert_eq!(
        metadata["dpop_signing_alg_values_supported"],
        json!(["ES256", "EdDSA", "Ed25519", "RS256", "PS256"])
    );
}

crate::on_both_backends!(
    every_form_of_the_exchange_binds_its_token_to_the_proofs_key,
    the_exchange_refuses_every_bad_proof,
    a_key_can_require_a_proof,
    keymints_api_takes_a_bound_token_only_with_a_proof_of_its_key,
    introspection_shows_the_binding_and_takes_dpop_callers,
    with_nonces_a_proof_must_carry_the_current_one,
    a_portal_session_can_be_bound_to_the_browsers_key,
    discovery_lists_the_proof_algorithms,
);

/// Replicas on one PostgreSQL share what a proof is checked against: a
/// proof taken on one is a replay on the other, and a nonce one handed out
/// is current on the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_take_a_proof_once_and_share_their_nonces() {
    const ISSUER: &str = "http://keymint.test";
    let shared = |config: &mut keymint::config::Config| {
        config.issuer = Some(ISSUER.to_owned());
        config.dpop_nonce = true;
    };
    let Some(app) = spawn_app_with(Backend::Postgres, shared).await else {
        return;
    };
    let replica = app.replica_with(shared).await;
    let secret = app.bootstrap.secret.clone();
    let key = holder();
    let token_url = format!("{ISSUER}/auth/token");
    let send = |base: &str, proof: &str| {
        app.client
            .post(format!("{base}/auth/token"))
            .bearer_auth(&secret)
            .header("DPoP", proof.to_owned())
            .send()
    };
    let first = key.proof("POST", &token_url, None, None, now()).unwrap();
    let refused = send(&app.base, &first).await.unwrap();
    let nonce = refused.headers()["dpop-nonce"].to_str().unwrap().to_owned();
    let proof = key
        .proof("POST", &token_url, None, Some(&nonce), now())
        .unwrap();
    let (status, body) = status_and_json(send(&app.base, &proof).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    let token = body["access_token"].as_str().unwrap().to_owned();
    // The other replica knows the proof was taken...
    assert_error(
        send(&replica.base, &proof).await.unwrap(),
        400,
        "invalid_dpop_proof",
    )
    .await;
    // ...and takes a fresh one made with the first replica's nonce.
    let fresh = key
        .proof("POST", &token_url, None, Some(&nonce), now())
        .unwrap();
    assert_eq!(send(&replica.base, &fresh).await.unwrap().status(), 200);

    // At the API: a proof used on the replica is a replay here.
    let me_url = format!("{ISSUER}/api/v1/me");
    let at_me = key
        .proof("GET", &me_url, Some(&token), Some(&nonce), now())
        .unwrap();
    let call = |base: &str| {
        app.client
            .get(format!("{base}/api/v1/me"))
            .header("Authorization", format!("DPoP {token}"))
            .header("DPoP", at_me.clone())
            .send()
    };
    let (status, body) = status_and_json(call(&replica.base).await.unwrap()).await;
    assert_eq!(status, 200, "{body}");
    assert_dpop_refusal(call(&app.base).await.unwrap(), "invalid_dpop_proof").await;
}

/// Proofs taken at once on one replica are written together (see
/// `dpop::ledger`), and each of them is still a replay on the other
/// replica; a fresh proof there is the control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_refuse_each_of_many_proofs_taken_at_once() {
    const ISSUER: &str = "http://keymint.test";
    const AT_ONCE: usize = 40;
    let issuer = |config: &mut keymint::config::Config| {
        config.issuer = Some(ISSUER.to_owned());
    };
    let Some(app) = spawn_app_with(Backend::Postgres, issuer).await else {
        return;
    };
    let replica = app.replica_with(issuer).await;
    let (_, secret) = app.insert_key(|_| {}).await;
    let key = holder();
    let token_url = format!("{ISSUER}/auth/token");
    let proofs: Vec<String> = (0..AT_ONCE)
        .map(|_| key.proof("POST", &token_url, None, None, now()).unwrap())
        .collect();
    let send_all = |base: &str, proofs: Vec<String>| {
        let mut exchanges = tokio::task::JoinSet::new();
        for proof in proofs {
            let request = app
                .client
                .post(format!("{base}/auth/token"))
                .bearer_auth(secret.expose())
                .header("DPoP", proof);
            exchanges.spawn(async move { request.send().await.unwrap().status().as_u16() });
        }
        exchanges.join_all()
    };
    let taken = send_all(&app.base, proofs.clone()).await;
    assert!(taken.iter().all(|s| *s == 200), "{taken:?}");
    let replayed = send_all(&replica.base, proofs).await;
    assert!(replayed.iter().all(|s| *s == 400), "{replayed:?}");
    let fresh = key.proof("POST", &token_url, None, None, now()).unwrap();
    let control = send_all(&replica.base, vec![fresh]).await;
    assert_eq!(control, [200]);
}
