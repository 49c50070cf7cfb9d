//! Portal sessions, the portal API (one customer's keys and nothing else),
//! and the portal and dashboard pages' headers.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, assert_error, spawn_app, status_and_json, unverified_claims,
};

async fn mint(app: &TestApp, credential: &str, body: Value) -> (u16, Value) {
    let response = app
        .api(Method::POST, &app.ws_path("/portal-sessions"), credential)
        .json(&body)
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

async fn session(app: &TestApp, external_id: &str) -> String {
    let (status, body) = mint(
        app,
        &app.bootstrap.secret,
        json!({ "external_id": external_id }),
    )
    .await;
    assert_eq!(status, 201, "{body}");
    body["token"].as_str().unwrap().to_owned()
}

async fn sessions_are_minted_by_management_keys_and_admins(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let management = app
        .new_secret(json!({ "name": "backend", "kind": "management" }))
        .await;
    let (status, minted) = mint(&app, &management, json!({ "external_id": "cus_1" })).await;
    assert_eq!(status, 201, "{minted}");
    let token = minted["token"].as_str().unwrap();
    assert_eq!(
        minted["url"],
        format!("{}/portal/default#session={token}", app.base)
    );
    let claims = unverified_claims(token);
    assert_eq!(
        (claims["sub"].as_str(), claims["aud"].clone()),
        (Some("cus_1"), json!(format!("{}/portal", app.base)))
    );
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        900,
        "default 900 s"
    );
    assert!(minted["expires_at"].is_string());

    let (_, day) = mint(
        &app,
        &management,
        json!({ "external_id": "cus_1", "ttl_seconds": 86_400 }),
    )
    .await;
    let claims = unverified_claims(day["token"].as_str().unwrap());
    assert_eq!(
        claims["exp"].as_i64().unwrap() - claims["iat"].as_i64().unwrap(),
        86_400
    );
    for bad in [
        json!({ "external_id": "cus_1", "ttl_seconds": 86_401 }),
        json!({ "external_id": "cus_1", "ttl_seconds": 0 }),
        json!({ "external_id": "" }),
    ] {
        assert_eq!(mint(&app, &management, bad).await.0, 422);
    }
    let plain = app
        .new_secret(json!({ "name": "p", "kind": "workspace" }))
        .await;
    assert_eq!(
        mint(&app, &plain, json!({ "external_id": "cus_1" }))
            .await
            .0,
        403
    );

    let events = app.audit_events().await;
    assert!(
        events
            .iter()
            .any(|e| e["action"] == "portal.session_created" && e["target"] == "cus_1")
    );
}

async fn session_tokens_work_in_the_portal_only(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let token = session(&app, "cus_1").await;
    assert_eq!(
        app.call(Method::GET, "/portal/api/keys", &token, None)
            .await
            .0,
        200
    );
    assert_error(
        app.api(Method::GET, &app.ws_path("/keys"), &token)
            .send()
            .await
            .unwrap(),
        401,
        "invalid_token",
    )
    .await;
    assert_error(app.exchange_bearer(&token).await, 401, "invalid_api_key").await;
    // A downstream service expecting exchanged tokens refuses it.
    let keys = keymint::tokens::verify::KeySet::published(&app.state.signing, chrono::Utc::now());
    let expected = keymint::tokens::verify::Expectations::new(app.base.clone(), app.base.clone());
    let refused =
        keymint::tokens::verify::verify(&token, &keys, &expected, chrono::Utc::now().timestamp());
    assert!(refused.is_err());
    // And an exchanged token is no portal session.
    let (_, exchanged) = status_and_json(app.exchange_bearer(&app.bootstrap.secret).await).await;
    let (status, _) = app
        .call(
            Method::GET,
            "/portal/api/keys",
            exchanged["access_token"].as_str().unwrap(),
            None,
        )
        .await;
    assert_eq!(status, 401);
    assert_eq!(
        app.call(Method::GET, "/portal/api/keys", "garbage", None)
            .await
            .0,
        401
    );
}

async fn the_portal_api_sees_one_customers_keys(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (first, second) = (session(&app, "cus_1").await, session(&app, "cus_2").await);
    let (status, created) = app
        .call(
            Method::POST,
            "/portal/api/keys",
            &first,
            Some(json!({ "name": "prod", "expires_in_days": 90 })),
        )
        .await;
    assert_eq!(status, 201, "{created}");
    let (id, secret) = (
        created["id"].as_str().unwrap().to_owned(),
        created["secret"].as_str().unwrap().to_owned(),
    );
    assert!(secret.starts_with("kmc_"));
    assert_eq!(
        (created["external_id"].as_str(), created["scopes"].clone()),
        (Some("cus_1"), json!([]))
    );
    assert_eq!(created["created_by"], "portal:cus_1");
    // A key the workspace made for cus_1 shows too; other kinds never do.
    app.create_key(json!({ "name": "by admin", "kind": "customer", "external_id": "cus_1" }))
        .await;
    let (_, listed) = app
        .call(Method::GET, "/portal/api/keys", &first, None)
        .await;
    let names: Vec<&str> = listed["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["by admin", "prod"]);
    assert!(
        !listed.to_string().contains(&secret[4..]),
        "the secret is shown once"
    );
    let (_, other) = app
        .call(Method::GET, "/portal/api/keys", &second, None)
        .await;
    assert_eq!(other["data"], json!([]));
    for (method, path) in [
        (Method::DELETE, format!("/portal/api/keys/{id}")),
        (Method::POST, format!("/portal/api/keys/{id}/rotate")),
    ] {
        assert_eq!(
            app.call(method, &path, &second, None).await.0,
            404,
            "another customer's key"
        );
    }

    let (_, token) = status_and_json(app.exchange_bearer(&secret).await).await;
    assert_eq!(
        unverified_claims(token["access_token"].as_str().unwrap())["sub"],
        "cus_1"
    );
    let (status, rotated) = app
        .call(
            Method::POST,
            &format!("/portal/api/keys/{id}/rotate"),
            &first,
            None,
        )
        .await;
    assert_eq!(status, 200, "{rotated}");
    assert_error(app.exchange_bearer(&secret).await, 401, "invalid_api_key").await;
    let fresh = rotated["secret"].as_str().unwrap();
    assert_eq!(
        app.call(
            Method::DELETE,
            &format!("/portal/api/keys/{id}"),
            &first,
            None
        )
        .await
        .0,
        204
    );
    assert_error(app.exchange_bearer(fresh).await, 401, "invalid_api_key").await;
    assert_eq!(
        app.call(
            Method::POST,
            "/portal/api/keys",
            &first,
            Some(json!({ "name": "x", "expires_in_days": 31 }))
        )
        .await
        .0,
        422
    );
    assert_eq!(
        app.call(
            Method::POST,
            "/portal/api/keys",
            &first,
            Some(json!({ "name": "x", "scopes": ["admin"] }))
        )
        .await
        .0,
        422
    );
}

async fn expired_sessions_are_refused(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let expired = app.expired_portal_session("cus_1");
    assert_error(
        app.api(Method::GET, "/portal/api/keys", &expired)
            .send()
            .await
            .unwrap(),
        401,
        "invalid_token",
    )
    .await;
}

async fn pages_are_framed_only_by_allowed_origins(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let page = app
        .client
        .get(app.url("/portal/default"))
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200);
    assert!(
        page.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let csp = page.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        csp.contains("frame-ancestors 'none'") && csp.contains("script-src 'self'"),
        "{csp}"
    );
    assert_eq!(page.headers()["x-content-type-options"], "nosniff");
    assert!(page.text().await.unwrap().contains("/assets/portal.js"));

    let origins = json!({ "portal_origins": ["https://app.acme.test", "http://localhost:3000"] });
    assert_eq!(
        app.call(
            Method::PATCH,
            &app.ws_path(""),
            &app.bootstrap.secret,
            Some(origins)
        )
        .await
        .0,
        200
    );
    let page = app
        .client
        .get(app.url("/portal/default"))
        .send()
        .await
        .unwrap();
    let csp = page.headers()["content-security-policy"].to_str().unwrap();
    assert!(
        csp.ends_with("frame-ancestors https://app.acme.test http://localhost:3000"),
        "{csp}"
    );
    assert_eq!(
        app.client
            .get(app.url("/portal/nowhere"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );

    let dashboard = app.client.get(app.url("/dashboard")).send().await.unwrap();
    assert_eq!(dashboard.headers()["x-frame-options"], "DENY");
    assert!(
        dashboard.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'")
    );
    let script = app
        .client
        .get(app.url("/assets/portal.js"))
        .send()
        .await
        .unwrap();
    assert!(
        script.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/javascript")
    );
    assert_eq!(
        app.client
            .get(app.url("/assets/nothing.js"))
            .send()
            .await
            .unwrap()
            .status(),
        404
    );
}

crate::on_both_backends!(
    sessions_are_minted_by_management_keys_and_admins,
    session_tokens_work_in_the_portal_only,
    the_portal_api_sees_one_customers_keys,
    expired_sessions_are_refused,
    pages_are_framed_only_by_allowed_origins,
);
