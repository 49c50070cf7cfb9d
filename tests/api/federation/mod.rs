//! Workload identity federation: tokens of issuers keymint does not run,
//! exchanged under trust policies. Every refusal has its control.

mod issuer;
mod oidc_provider;

use std::sync::atomic::Ordering;

use keymint::access::ScopeSet;
use keymint::dpop::prover::ProofKey;
use keymint::signing::SigningAlg;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_error, spawn_app, spawn_app_with, status_and_json, unverified_claims,
};
use issuer::TestIssuer;

const TOKEN_EXCHANGE: &str = "urn:ietf:params:oauth:grant-type:token-exchange";
const JWT_BEARER: &str = "urn:ietf:params:oauth:grant-type:jwt-bearer";
const JWT: &str = "urn:ietf:params:oauth:token-type:jwt";
const ID_TOKEN: &str = "urn:ietf:params:oauth:token-type:id_token";
const AUDIENCE: &str = "https://keymint.example";

fn policies_url(app: &TestApp) -> String {
    app.url(&format!(
        "/api/v1/workspaces/{}/trust-policies",
        app.bootstrap.workspace_id
    ))
}

async fn create_policy(app: &TestApp, body: Value) -> (u16, Value) {
    let response = app
        .client
        .post(policies_url(app))
        .bearer_auth(&app.bootstrap.secret)
        .json(&body)
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

/// The policy GitHub's docs show: pushes to main of one repository.
async fn github_policy(app: &TestApp, issuer: &TestIssuer) -> String {
    let (status, policy) = create_policy(
        app,
        json!({
            "name": "deploy from main",
            "issuer": issuer.base,
            "audiences": [AUDIENCE],
            "subject": "repo:acme/api:ref:refs/heads/main",
            "claims": {"job_workflow_ref": "acme/api/.github/workflows/*"},
            "scopes": ["deploy"],
        }),
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    policy["id"].as_str().unwrap().to_owned()
}

/// RFC 8693 with the workload's JWT as `subject_token`.
async fn exchange(
    app: &TestApp,
    policy: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    exchange_at(&app.client, app.url("/auth/token"), policy, token, extra).await
}

async fn exchange_at(
    client: &reqwest::Client,
    token_url: String,
    policy: &str,
    token: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("client_id", policy),
        ("subject_token", token),
        ("subject_token_type", JWT),
    ];
    form.extend_from_slice(extra);
    client.post(token_url).form(&form).send().await.unwrap()
}

async fn policies_are_managed_with_keys_write_and_audited(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let issuer = TestIssuer::start();
    let first = github_policy(&app, &issuer).await;
    let second = github_policy(&app, &issuer).await;
    let auth = |request: reqwest::RequestBuilder| request.bearer_auth(&app.bootstrap.secret);
    let one = format!("{}/{first}", policies_url(&app));

    // Read, list by pages.
    let (status, policy) = status_and_json(auth(app.client.get(&one)).send().await.unwrap()).await;
    assert_eq!(status, 200, "{policy}");
    assert_eq!(policy["issuer"], issuer.base);
    assert_eq!(policy["audiences"], json!([AUDIENCE]));
    assert_eq!(policy["scopes"], json!(["deploy"]));
    assert!(policy["created_at"].is_string() && policy["created_by"].is_string());
    let page = format!("{}?limit=1", policies_url(&app));
    let (_, page1) = status_and_json(auth(app.client.get(&page)).send().await.unwrap()).await;
    assert_eq!(page1["data"][0]["id"], second, "newest first");
    let cursor = page1["next_cursor"]
        .as_str()
        .expect("a second page")
        .to_owned();
    let next = format!("{page}&cursor={cursor}");
    let (_, page2) = status_and_json(auth(app.client.get(&next)).send().await.unwrap()).await;
    assert_eq!(page2["data"][0]["id"], first);
    assert!(page2["next_cursor"].is_null());

    // Change, then delete.
    let patch = json!({"name": "renamed", "subject": null, "claims": {"repository": "acme/api"}});
    let (status, patched) = status_and_json(
        auth(app.client.patch(&one))
            .json(&patch)
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (patched["name"].clone(), patched["subject"].clone()),
        (json!("renamed"), Value::Null)
    );
    let unpinned = json!({"claims": {}});
    let refused = auth(app.client.patch(&one))
        .json(&unpinned)
        .send()
        .await
        .unwrap();
    assert_error(refused, 422, "validation_error").await;
    assert_eq!(
        auth(app.client.delete(&one)).send().await.unwrap().status(),
        204
    );
    assert_error(
        auth(app.client.get(&one)).send().await.unwrap(),
        404,
        "not_found",
    )
    .await;

    // What no policy may be, each beside the policy that may.
    let valid = json!({"name": "ok", "issuer": issuer.base, "audiences": [AUDIENCE], "subject": "repo:a/b:*"});
    assert_eq!(create_policy(&app, valid.clone()).await.0, 201, "control");
    let with = |field: &str, value: Value| {
        let mut body = valid.clone();
        body[field] = value;
        body
    };
    let invalid = [
        ("no subject nor claim", with("subject", Value::Null)),
        ("a subject of only *", with("subject", json!("*"))),
        (
            "a claim of only *",
            with("subject", Value::Null)
                .as_object()
                .cloned()
                .map(|mut b| {
                    b.insert("claims".into(), json!({"repository": "**"}));
                    Value::Object(b)
                })
                .unwrap(),
        ),
        (
            "plain HTTP off loopback",
            with("issuer", json!("http://issuer.example")),
        ),
        (
            "keymint's own issuer",
            with("issuer", json!(app.base.clone())),
        ),
        (
            "an issuer on keymint's origin",
            with("issuer", json!(format!("{}/elsewhere", app.base))),
        ),
        (
            "keymint's own JWKS",
            with(
                "jwks_uri",
                json!(format!("{}/.well-known/jwks.json", app.base)),
            ),
        ),
        ("no audience", with("audiences", json!([]))),
        ("an unknown field", with("trust_everyone", json!(true))),
        (
            "an unknown environment",
            with("environment", json!("nowhere")),
        ),
        (
            "a lifetime over a day",
            with("max_ttl_seconds", json!(86_401)),
        ),
    ];
    for (what, body) in invalid {
        let (status, answer) = create_policy(&app, body).await;
        assert_eq!(status, 422, "{what}: {answer}");
    }
    // Scopes follow the rules of a workspace key: none the caller lacks.
    // A management key that may write keys but not members, and a key
    // that may not write keys at all.
    let (_, narrowed) = app
        .insert_key(|k| {
            k.kind = keymint::api_keys::KeyKind::Management;
            k.scopes = ScopeSet::parse_space_separated("keys:read keys:write");
        })
        .await;
    let (_, plain) = app.insert_key(|_| {}).await;
    let create_as = |secret: String, body: Value| {
        let request = app
            .client
            .post(policies_url(&app))
            .bearer_auth(secret)
            .json(&body);
        async move { status_and_json(request.send().await.unwrap()).await }
    };
    let (status, answer) = create_as(narrowed.expose().to_owned(), valid.clone()).await;
    assert_eq!(status, 201, "control: {answer}");
    let wider = with("scopes", json!(["members:write"]));
    let (status, answer) = create_as(narrowed.expose().to_owned(), wider).await;
    assert_eq!(status, 403, "{answer}");
    let (status, answer) = create_as(plain.expose().to_owned(), valid.clone()).await;
    assert_eq!(status, 403, "{answer}");

    // The audit log saw each change.
    let actions = app.audit_actions().await;
    for action in [
        "trust_policy.created",
        "trust_policy.updated",
        "trust_policy.deleted",
    ] {
        assert!(
            actions.iter().any(|a| a == action),
            "{action} in {actions:?}"
        );
    }
}

async fn workloads_exchange_their_own_tokens_under_a_policy(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let issuer = TestIssuer::start();
    let policy = github_policy(&app, &issuer).await;
    let token = issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    let (status, body) = status_and_json(exchange(&app, &policy, &token, &[]).await).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["issued_token_type"], JWT);
    assert_eq!(body["token_type"], "Bearer");
    let issued_token = body["access_token"].as_str().unwrap().to_owned();
    let claims = unverified_claims(&issued_token);
    assert_eq!(claims["sub"], "repo:acme/api:ref:refs/heads/main");
    assert_eq!(claims["client_id"], policy);
    assert_eq!(claims["kind"], "federated");
    assert_eq!(claims["ws"], app.bootstrap.workspace_id);
    assert_eq!(claims["scope"], "deploy");
    assert_eq!(claims["fed_iss"], issuer.base);
    assert_eq!(claims["iss"], app.base);

    // With a DPoP proof, the federated token is bound like a key's.
    let holder = ProofKey::generate(SigningAlg::ES256).unwrap();
    let now = chrono::Utc::now().timestamp();
    let proof = holder
        .proof("POST", &app.url("/auth/token"), None, None, now)
        .unwrap();
    let bound = issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    let form = [
        ("grant_type", TOKEN_EXCHANGE),
        ("client_id", policy.as_str()),
        ("subject_token", bound.as_str()),
        ("subject_token_type", JWT),
    ];
    let response = app
        .client
        .post(app.url("/auth/token"))
        .header("DPoP", proof)
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(
        (status, body["token_type"].as_str()),
        (200, Some("DPoP")),
        "{body}"
    );
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["cnf"]["jkt"], holder.thumbprint());

    // RFC 7523's jwt-bearer grant, with an ES256 token of the same issuer.
    let es256 = issuer.sign_as(
        &issuer.ec,
        issuer.ec.kid(),
        &issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"),
    );
    let form = [
        ("grant_type", JWT_BEARER),
        ("client_id", policy.as_str()),
        ("assertion", es256.as_str()),
    ];
    let response = app
        .client
        .post(app.url("/auth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    assert!(body.get("issued_token_type").is_none(), "{body}");

    // A Kubernetes service account, by a claim in its nested claims.
    let (status, k8s) = create_policy(
        &app,
        json!({
            "name": "deployer in prod",
            "issuer": issuer.base,
            "audiences": [AUDIENCE],
            "claims": {"/kubernetes.io/namespace": "prod", "/kubernetes.io/serviceaccount/name": "deployer"},
        }),
    )
    .await;
    assert_eq!(status, 201, "{k8s}");
    let k8s = k8s["id"].as_str().unwrap();
    let pod = issuer.sign(&issuer.kubernetes(AUDIENCE, "prod", "deployer"));
    let id_token = [("subject_token_type", ID_TOKEN)];
    let mut form = vec![
        ("grant_type", TOKEN_EXCHANGE),
        ("client_id", k8s),
        ("subject_token", pod.as_str()),
    ];
    form.extend_from_slice(&id_token);
    let response = app
        .client
        .post(app.url("/auth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    let (status, body) = status_and_json(response).await;
    assert_eq!(status, 200, "{body}");
    let claims = unverified_claims(body["access_token"].as_str().unwrap());
    assert_eq!(claims["sub"], "system:serviceaccount:prod:deployer");
    let other_namespace = issuer.sign(&issuer.kubernetes(AUDIENCE, "dev", "deployer"));
    assert_error(
        exchange(&app, k8s, &other_namespace, &[]).await,
        400,
        "invalid_request",
    )
    .await;

    // keymint's own API does not take a federated token; a key's is the control.
    let me = |token: String| {
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(token)
            .send()
    };
    assert_error(
        me(issued_token.clone()).await.unwrap(),
        401,
        "invalid_token",
    )
    .await;
    let (_, own) = status_and_json(app.exchange_bearer(&app.bootstrap.secret).await).await;
    let own = own["access_token"].as_str().unwrap().to_owned();
    assert_eq!(me(own).await.unwrap().status(), 200);

    // Every exchange so far was checked against one fetch of the JWKS.
    assert_eq!(issuer.jwks_fetches.load(Ordering::Relaxed), 1);

    // Introspection sees the token while its policy stands.
    let introspect = |token: String| {
        app.client
            .post(app.url("/auth/introspect"))
            .bearer_auth(&app.bootstrap.secret)
            .form(&[("token", token)])
            .send()
    };
    let token = issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    let (_, body) = status_and_json(exchange(&app, &policy, &token, &[]).await).await;
    let issued = body["access_token"].as_str().unwrap().to_owned();
    let (_, seen) = status_and_json(introspect(issued.clone()).await.unwrap()).await;
    assert_eq!(
        (seen["active"].clone(), seen["kind"].clone()),
        (json!(true), json!("federated")),
        "{seen}"
    );

    // Deleting the policy stops its exchanges at once, and its tokens.
    let one = format!("{}/{policy}", policies_url(&app));
    let deleted = app
        .client
        .delete(&one)
        .bearer_auth(&app.bootstrap.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    let fresh = issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    assert_error(
        exchange(&app, &policy, &fresh, &[]).await,
        401,
        "invalid_client",
    )
    .await;
    let (_, seen) = status_and_json(introspect(issued).await.unwrap()).await;
    assert_eq!(seen, json!({"active": false}));
}

async fn every_check_refuses_its_token(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let issuer = TestIssuer::start();
    let policy = github_policy(&app, &issuer).await;
    let good = || issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main");
    let with = |change: Value| {
        let mut claims = good();
        for (name, value) in change.as_object().unwrap() {
            if value.is_null() {
                claims.as_object_mut().unwrap().remove(name);
            } else {
                claims[name] = value.clone();
            }
        }
        issuer.sign(&claims)
    };
    let now = chrono::Utc::now().timestamp();
    let b64 = |value: &Value| {
        use base64::Engine;
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(value.to_string())
    };
    let unsigned = format!(
        "{}.{}.",
        b64(&json!({"alg": "none", "kid": issuer.rsa.kid()})),
        b64(&good())
    );
    // HS256 keyed with the issuer's public JWK: accepted by a verifier that
    // lets the header pick the algorithm.
    let hs_input = format!(
        "{}.{}",
        b64(&json!({"alg": "HS256", "kid": issuer.rsa.kid()})),
        b64(&good())
    );
    let mac_key = ring::hmac::Key::new(
        ring::hmac::HMAC_SHA256,
        issuer.rsa.jwk().to_string().as_bytes(),
    );
    let symmetric = {
        use base64::Engine;
        let mac = ring::hmac::sign(&mac_key, hs_input.as_bytes());
        format!(
            "{hs_input}.{}",
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(mac)
        )
    };
    let tampered = {
        let token = issuer.sign(&good());
        let mut parts: Vec<String> = token.split('.').map(str::to_owned).collect();
        let mut claims = good();
        claims["sub"] = json!("repo:acme/api:ref:refs/heads/main");
        claims["scope_hint"] = json!("admin");
        parts[1] = b64(&claims);
        parts.join(".")
    };
    let refusals = [
        (
            "another issuer",
            with(json!({"iss": "https://token.actions.githubusercontent.com"})),
            "issuer",
        ),
        (
            "another audience",
            with(json!({"aud": "https://elsewhere.example"})),
            "audience",
        ),
        (
            "another subject",
            with(json!({"sub": "repo:acme/api:ref:refs/heads/dev"})),
            "sub",
        ),
        (
            "another workflow",
            with(json!({"job_workflow_ref": "evil/api/.github/workflows/x.yml@main"})),
            "job_workflow_ref",
        ),
        ("expired", with(json!({"exp": now - 120})), "expired"),
        ("no exp", with(json!({"exp": null})), "exp"),
        (
            "iat in the future",
            with(json!({"iat": now + 600, "nbf": null})),
            "future",
        ),
        (
            "a lifetime over 24 h",
            with(json!({"exp": now + 25 * 3600})),
            "24 hours",
        ),
        ("a tampered payload", tampered, "signature"),
        ("alg none", unsigned, "algorithm"),
        ("HS256 keyed with the public key", symmetric, "algorithm"),
        (
            "a key never published",
            issuer.sign_as(&issuer.stranger, issuer.stranger.kid(), &good()),
            "does not publish",
        ),
        (
            "an unpublished key under a published kid",
            issuer.sign_as(&issuer.stranger, issuer.ec.kid(), &good()),
            "signature",
        ),
        (
            "keymint's own kind of token",
            "kmk_not_a_jwt".to_owned(),
            "well-formed",
        ),
    ];
    let fetched = issuer.jwks_fetches.load(Ordering::Relaxed);
    for (what, token, check) in refusals {
        let body = assert_error(
            exchange(&app, &policy, &token, &[]).await,
            400,
            "invalid_request",
        )
        .await;
        let detail = body["error_description"].as_str().unwrap_or_default();
        assert!(detail.contains(check), "{what}: {body}");
        assert!(
            !body.to_string().contains(&token),
            "{what}: the token echoed"
        );
    }

    // Unknown kids made keymint refetch the JWKS once, not once each.
    let another_stranger = issuer.sign_as(&issuer.stranger, "kid-2", &good());
    assert_error(
        exchange(&app, &policy, &another_stranger, &[]).await,
        400,
        "invalid_request",
    )
    .await;
    assert_eq!(issuer.jwks_fetches.load(Ordering::Relaxed), fetched + 1);

    // Replay: a token is exchanged once.
    let once = issuer.sign(&good());
    assert_eq!(
        exchange(&app, &policy, &once, &[]).await.status(),
        200,
        "control"
    );
    let body = assert_error(
        exchange(&app, &policy, &once, &[]).await,
        400,
        "invalid_request",
    )
    .await;
    assert!(
        body["error_description"]
            .as_str()
            .unwrap()
            .contains("before"),
        "{body}"
    );

    // What the exchange asks for beyond the token.
    let token = || issuer.sign(&good());
    assert_error(
        exchange(&app, "no-such-policy", &token(), &[]).await,
        401,
        "invalid_client",
    )
    .await;
    assert_error(
        exchange(&app, &policy, &token(), &[("scope", "deploy admin")]).await,
        400,
        "invalid_scope",
    )
    .await;
    let own = format!("{}/api", app.base);
    assert_error(
        exchange(&app, &policy, &token(), &[("audience", &own)]).await,
        400,
        "invalid_target",
    )
    .await;
    let (status, body) = status_and_json(
        exchange(
            &app,
            &policy,
            &token(),
            &[("scope", "deploy"), ("audience", "https://api.example")],
        )
        .await,
    )
    .await;
    assert_eq!(status, 200, "control: {body}");
    assert_eq!(
        unverified_claims(body["access_token"].as_str().unwrap())["aud"],
        "https://api.example"
    );
    // A federated exchange carries no client secret.
    let form = [
        ("grant_type", TOKEN_EXCHANGE),
        ("client_id", policy.as_str()),
        ("subject_token", &token()),
        ("subject_token_type", JWT),
        ("client_secret", "x"),
    ];
    let response = app
        .client
        .post(app.url("/auth/token"))
        .form(&form)
        .send()
        .await
        .unwrap();
    assert_error(response, 400, "invalid_request").await;

    // The refusals are in the audit log, with the issuer.
    let log = app.audit_events().await;
    let refused = log
        .iter()
        .find(|e| e["action"] == "federation.refused")
        .expect("a refusal audited");
    assert_eq!(refused["detail"]["issuer"], issuer.base, "{refused}");
    assert!(
        refused["detail"]["claimed_subject"].is_string(),
        "{refused}"
    );
    assert!(refused["detail"]["reason"].is_string(), "{refused}");
    let exchanged = log
        .iter()
        .find(|e| e["action"] == "federation.exchanged")
        .unwrap();
    assert_eq!(
        exchanged["detail"]["subject"], "repo:acme/api:ref:refs/heads/main",
        "{exchanged}"
    );
}

/// An issuer that takes connections and never answers costs its own
/// exchanges a bounded wait and then a 503, at once while it backs off;
/// exchanges under another issuer go on meanwhile.
async fn an_issuer_that_hangs_slows_only_its_own_exchanges(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let issuer = TestIssuer::start();
    let working = github_policy(&app, &issuer).await;
    let silent = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let silent_base = format!("http://{}", silent.local_addr().unwrap());
    let (status, hanging) = create_policy(
        &app,
        json!({"name": "hangs", "issuer": silent_base, "audiences": [AUDIENCE], "subject": "x"}),
    )
    .await;
    assert_eq!(status, 201, "{hanging}");
    let hanging = hanging["id"].as_str().unwrap().to_owned();
    let token = issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    let stuck = {
        let (client, url, hanging, token) = (
            app.client.clone(),
            app.url("/auth/token"),
            hanging.clone(),
            token.clone(),
        );
        tokio::spawn(async move {
            exchange_at(&client, url, &hanging, &token, &[])
                .await
                .status()
        })
    };
    // While that exchange waits on its issuer, another issuer's goes through.
    let meanwhile = std::time::Instant::now();
    let other = issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    assert_eq!(exchange(&app, &working, &other, &[]).await.status(), 200);
    assert!(
        !stuck.is_finished(),
        "the hanging issuer's exchange is still waiting"
    );
    assert!(meanwhile.elapsed() < std::time::Duration::from_secs(2));
    assert_eq!(
        stuck.await.unwrap(),
        503,
        "a bounded wait, then unavailable"
    );
    // Backing off: the next one is refused at once.
    let again = std::time::Instant::now();
    assert_error(
        exchange(&app, &hanging, &token, &[]).await,
        503,
        "unavailable",
    )
    .await;
    assert!(again.elapsed() < std::time::Duration::from_secs(1));
    drop(silent);
}

/// A policy belongs to its workspace: by the path of another workspace,
/// even one its caller owns, it is not found, not listed, not changed and
/// not deleted; by its own, it is (the control).
async fn a_policy_is_reached_only_through_its_workspace(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let issuer = TestIssuer::start();
    let policy = github_policy(&app, &issuer).await;
    app.set_password("admin@localhost", "a long enough password")
        .await;
    let owner = app
        .login_token("admin@localhost", "a long enough password")
        .await;
    let (status, other) = app
        .call(
            Method::POST,
            "/api/v1/workspaces",
            &owner,
            Some(json!({"slug": "other", "name": "Other"})),
        )
        .await;
    assert_eq!(status, 201, "{other}");
    let elsewhere = format!("/api/v1/workspaces/other/trust-policies/{policy}");
    for (method, body) in [
        (Method::GET, None),
        (Method::PATCH, Some(json!({"name": "taken over"}))),
        (Method::DELETE, None),
    ] {
        let (status, answer) = app.call(method.clone(), &elsewhere, &owner, body).await;
        assert_eq!(status, 404, "{method} {answer}");
    }
    let (_, listed) = app
        .call(
            Method::GET,
            "/api/v1/workspaces/other/trust-policies",
            &owner,
            None,
        )
        .await;
    assert_eq!(listed["data"], json!([]));
    // The bootstrap key of the first workspace may not reach the other.
    let (status, _) = app
        .call(
            Method::GET,
            "/api/v1/workspaces/other/trust-policies",
            &app.bootstrap.secret,
            None,
        )
        .await;
    assert_eq!(status, 403);
    let own = format!(
        "/api/v1/workspaces/{}/trust-policies/{policy}",
        app.bootstrap.workspace_id
    );
    let (status, read) = app.call(Method::GET, &own, &owner, None).await;
    assert_eq!(
        (status, read["name"].as_str()),
        (200, Some("deploy from main")),
        "untouched"
    );
}

/// A policy's id is no secret (every federated token carries it): forged
/// tokens naming it do not spend its workloads' rate limit, which still
/// holds for the tokens that check out.
async fn forged_tokens_do_not_spend_a_policys_rate(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let issuer = TestIssuer::start();
    let (status, policy) = create_policy(
        &app,
        json!({"name": "slow", "issuer": issuer.base, "audiences": [AUDIENCE],
               "subject": "repo:acme/api:ref:refs/heads/main", "rate_limit": 1}),
    )
    .await;
    assert_eq!(status, 201, "{policy}");
    let policy = policy["id"].as_str().unwrap();
    let good = || issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    let forged = || {
        let claims = issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main");
        issuer.sign_as(&issuer.stranger, issuer.ec.kid(), &claims)
    };
    for _ in 0..5 {
        assert_error(
            exchange(&app, policy, &forged(), &[]).await,
            400,
            "invalid_request",
        )
        .await;
    }
    assert_eq!(exchange(&app, policy, &good(), &[]).await.status(), 200);
    // The limit holds for real tokens: one a second.
    assert_error(
        exchange(&app, policy, &good(), &[]).await,
        429,
        "rate_limit_exceeded",
    )
    .await;
}

crate::on_both_backends!(
    forged_tokens_do_not_spend_a_policys_rate,
    a_policy_is_reached_only_through_its_workspace,
    an_issuer_that_hangs_slows_only_its_own_exchanges,
    policies_are_managed_with_keys_write_and_audited,
    workloads_exchange_their_own_tokens_under_a_policy,
    every_check_refuses_its_token,
);

/// Two replicas on one PostgreSQL: a token exchanged on one is a replay on
/// the other; a fresh one is the control.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_replicas_exchange_a_token_once() {
    let Some(app) = spawn_app_with(Backend::Postgres, |_| {}).await else {
        return;
    };
    let replica = app.replica_with(|_| {}).await;
    let issuer = TestIssuer::start();
    let policy = github_policy(&app, &issuer).await;
    let token = issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    assert_eq!(exchange(&app, &policy, &token, &[]).await.status(), 200);
    let on_replica = |token: String| {
        let (client, url, policy) = (
            app.client.clone(),
            replica.url("/auth/token"),
            policy.clone(),
        );
        async move { exchange_at(&client, url, &policy, &token, &[]).await }
    };
    assert_error(on_replica(token).await, 400, "invalid_request").await;
    let fresh = || issuer.sign(&issuer.github_actions(AUDIENCE, "acme/api", "refs/heads/main"));
    assert_eq!(on_replica(fresh()).await.status(), 200);
    // Deleted on one replica, the policy is gone on the other at once.
    let one = format!("{}/{policy}", policies_url(&app));
    let deleted = app
        .client
        .delete(&one)
        .bearer_auth(&app.bootstrap.secret)
        .send()
        .await
        .unwrap();
    assert_eq!(deleted.status(), 204);
    assert_error(on_replica(fresh()).await, 401, "invalid_client").await;
}
