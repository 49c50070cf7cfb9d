//! RFC 7662 introspection and RFC 7009 revocation.

use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, assert_error, spawn_app, status_and_json};

async fn introspect(app: &TestApp, credential: &str, token: &str) -> (u16, Value) {
    let response = app
        .api(Method::POST, "/auth/introspect", credential)
        .form(&[("token", token)])
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

async fn exchange(app: &TestApp, secret: &str) -> String {
    let (status, body) = status_and_json(app.exchange_bearer(secret).await).await;
    assert_eq!(status, 200, "{body}");
    body["access_token"].as_str().unwrap().to_owned()
}

async fn live_tokens_and_secrets_are_active_and_garbage_is_not(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let management = app
        .new_secret(json!({ "name": "rs", "kind": "management" }))
        .await;
    let created = app
        .create_key(json!({ "name": "client", "kind": "workspace", "scopes": ["orders:read"] }))
        .await;
    let secret = created["secret"].as_str().unwrap().to_owned();
    let jwt = exchange(&app, &secret).await;

    let (status, report) = introspect(&app, &management, &jwt).await;
    assert_eq!(status, 200);
    assert_eq!(report["active"], true, "{report}");
    assert_eq!(
        (report["client_id"].clone(), report["scope"].as_str()),
        (created["id"].clone(), Some("orders:read"))
    );
    assert_eq!(
        (report["token_type"].as_str(), report["iss"].as_str()),
        (Some("Bearer"), Some(app.base.as_str()))
    );
    let (_, report) = introspect(&app, &management, &secret).await;
    assert_eq!(
        (report["active"].as_bool(), report["client_id"].clone()),
        (Some(true), created["id"].clone())
    );
    for garbage in ["nonsense", "a.b.c", &jwt[..jwt.len() - 2]] {
        assert_eq!(
            introspect(&app, &management, garbage).await.1,
            json!({ "active": false }),
            "{garbage}"
        );
    }

    // Basic authentication with the secret as password works too.
    let basic = app
        .client
        .post(app.url("/auth/introspect"))
        .basic_auth("ignored", Some(&management))
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(status_and_json(basic).await.1["active"], true);
}

async fn tokens_of_revoked_or_rotated_keys_are_inactive(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let management = app
        .new_secret(json!({ "name": "rs", "kind": "management" }))
        .await;
    let revoked = app
        .create_key(json!({ "name": "r", "kind": "workspace" }))
        .await;
    let revoked_jwt = exchange(&app, revoked["secret"].as_str().unwrap()).await;
    let path = app.ws_path(&format!("/keys/{}", revoked["id"].as_str().unwrap()));
    assert_eq!(
        app.api(Method::DELETE, &path, &app.bootstrap.secret)
            .send()
            .await
            .unwrap()
            .status(),
        204
    );
    assert_eq!(
        introspect(&app, &management, &revoked_jwt).await.1,
        json!({ "active": false })
    );

    let rotated = app
        .create_key(json!({ "name": "o", "kind": "workspace" }))
        .await;
    let before = exchange(&app, rotated["secret"].as_str().unwrap()).await;
    let rotate = app.ws_path(&format!("/keys/{}/rotate", rotated["id"].as_str().unwrap()));
    crate::helpers::after_the_second_of(&before).await;
    let (_, new) = status_and_json(
        app.api(Method::POST, &rotate, &app.bootstrap.secret)
            .json(&json!({ "grace_period_seconds": 600 }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        introspect(&app, &management, &before).await.1["active"],
        true,
        "inside the grace period"
    );
    app.end_grace_period(rotated["id"].as_str().unwrap()).await;
    assert_eq!(
        introspect(&app, &management, &before).await.1,
        json!({ "active": false }),
        "rotated away"
    );
    let after = exchange(&app, new["secret"].as_str().unwrap()).await;
    assert_eq!(
        introspect(&app, &management, &after).await.1["active"],
        true
    );
    assert_eq!(
        introspect(&app, &management, new["secret"].as_str().unwrap())
            .await
            .1["active"],
        true
    );
}

async fn introspection_needs_the_right_and_sees_only_its_workspace(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let jwt = exchange(&app, &app.bootstrap.secret).await;
    let plain = app
        .new_secret(json!({ "name": "p", "kind": "workspace" }))
        .await;
    let (status, body) = introspect(&app, &plain, &jwt).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (403, Some("insufficient_permissions"))
    );
    let scoped = app
        .new_secret(json!({ "name": "s", "kind": "workspace", "scopes": ["tokens:introspect"] }))
        .await;
    assert_eq!(introspect(&app, &scoped, &jwt).await.1["active"], true);
    let anonymous = app
        .client
        .post(app.url("/auth/introspect"))
        .form(&[("token", jwt.as_str())])
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthorized").await;

    let other = app
        .with_db(|conn| {
            let request = keymint::bootstrap::BootstrapRequest {
                workspace_slug: "other".into(),
                email: "o@other.test".into(),
                password: None,
            };
            keymint::bootstrap::bootstrap(conn, &request)
        })
        .await;
    assert_eq!(
        introspect(&app, &other.api_key.secret, &jwt).await.1,
        json!({ "active": false }),
        "another workspace's token"
    );
}

async fn whoever_holds_a_secret_can_revoke_it(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let leaked = app
        .new_secret(json!({ "name": "leaked", "kind": "workspace" }))
        .await;
    let revoke = |token: &str| {
        app.client
            .post(app.url("/auth/revoke"))
            .form(&[("token", token)])
            .send()
    };
    assert_eq!(revoke(&leaked).await.unwrap().status(), 200);
    assert_error(app.exchange_bearer(&leaked).await, 401, "invalid_api_key").await;
    assert_eq!(revoke(&leaked).await.unwrap().status(), 200, "again");
    // Revoked through the one key lifecycle: audited once, by nobody named.
    let events = app.audit_events().await;
    let revocations: Vec<&Value> = events
        .iter()
        .filter(|event| event["action"] == "key.revoked")
        .collect();
    assert_eq!(revocations.len(), 1, "{events:?}");
    assert_eq!(revocations[0]["detail"]["via"], "/auth/revoke");
    assert_eq!(revocations[0]["detail"]["name"], "leaked");
    assert!(revocations[0]["actor"].is_null(), "{events:?}");
    assert_eq!(revoke("not-a-secret").await.unwrap().status(), 200);
    let jwt = exchange(&app, &app.bootstrap.secret).await;
    assert_eq!(revoke(&jwt).await.unwrap().status(), 200);
    assert_eq!(
        app.exchange_bearer(&app.bootstrap.secret).await.status(),
        200,
        "the bootstrap key is untouched"
    );
    let missing = app
        .client
        .post(app.url("/auth/revoke"))
        .form(&[("nothing", "")])
        .send()
        .await
        .unwrap();
    assert_error(missing, 400, "invalid_request").await;
    let (_, discovery) = status_and_json(
        app.client
            .get(app.url("/.well-known/openid-configuration"))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        discovery["revocation_endpoint"],
        format!("{}/auth/revoke", app.base)
    );
    assert_eq!(
        discovery["introspection_endpoint"],
        format!("{}/auth/introspect", app.base)
    );
}

crate::on_both_backends!(
    live_tokens_and_secrets_are_active_and_garbage_is_not,
    tokens_of_revoked_or_rotated_keys_are_inactive,
    introspection_needs_the_right_and_sees_only_its_workspace,
    whoever_holds_a_secret_can_revoke_it,
);
