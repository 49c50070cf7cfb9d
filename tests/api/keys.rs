//! The key lifecycle through the management API: create, list, read,
//! change, rotate, revoke; who may do what; and what never leaks.

use keymint::api_keys::lifecycle;
use reqwest::Method;
use serde_json::{Value, json};

use crate::helpers::{
    Backend, TestApp, after_the_second_of, assert_error, spawn_app, status_and_json,
    unverified_claims,
};

fn secret_of(created: &Value) -> String {
    created["secret"]
        .as_str()
        .expect("secret shown at creation")
        .to_owned()
}

async fn get_json(app: &TestApp, path: &str, credential: &str) -> (u16, Value) {
    app.call(Method::GET, path, credential, None).await
}

async fn created_keys_show_their_secret_once(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(json!({ "name": "billing", "kind": "workspace", "scopes": ["invoices:read"], "expires_in_days": 30 }))
        .await;
    let secret = secret_of(&created);
    assert!(secret.starts_with("kmk_"));
    assert_eq!(created["start"], &secret[..10]);
    assert_eq!(
        (created["kind"].as_str(), created["name"].as_str()),
        (Some("workspace"), Some("billing"))
    );
    assert_eq!(created["scopes"], json!(["invoices:read"]));
    assert_eq!(
        created["created_by"],
        format!("key:{}", unverified_claims_key_id(&app).await)
    );
    let expires =
        chrono::DateTime::parse_from_rfc3339(created["expires_at"].as_str().unwrap()).unwrap();
    assert_eq!((expires.to_utc() - chrono::Utc::now()).num_days(), 29);

    let id = created["id"].as_str().unwrap();
    let (status, read) = get_json(
        &app,
        &app.ws_path(&format!("/keys/{id}")),
        &app.bootstrap.secret,
    )
    .await;
    assert_eq!(status, 200);
    let (_, listed) = get_json(&app, &app.ws_path("/keys"), &app.bootstrap.secret).await;
    assert_eq!(listed["data"][0]["id"], id, "newest first");
    for shown in [&read, &listed] {
        let text = shown.to_string();
        assert!(
            !text.contains(&secret[4..])
                && !text.contains("digest")
                && !text.contains("\"secret\""),
            "{text}"
        );
    }
    let (status, body) = status_and_json(app.exchange_bearer(&secret).await).await;
    assert_eq!(
        (status, body["scope"].as_str()),
        (200, Some("invoices:read"))
    );
}

/// The bootstrap key's id, as a token's `client_id` names it.
async fn unverified_claims_key_id(app: &TestApp) -> String {
    let (_, body) = status_and_json(app.exchange_bearer(&app.bootstrap.secret).await).await;
    unverified_claims(body["access_token"].as_str().unwrap())["client_id"]
        .as_str()
        .unwrap()
        .to_owned()
}

async fn lists_page_newest_first_and_filter(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    for (i, kind) in ["workspace", "partner", "customer", "customer", "management"]
        .iter()
        .enumerate()
    {
        let mut body = json!({ "name": format!("k{i}"), "kind": kind });
        match *kind {
            "partner" => body["partner"] = json!("n8n"),
            "customer" => body["external_id"] = json!(format!("cus_{}", i % 3)),
            _ => {}
        }
        app.create_key(body).await;
    }
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => app.ws_path(&format!("/keys?limit=2&cursor={c}")),
            None => app.ws_path("/keys?limit=2"),
        };
        let (status, page) = get_json(&app, &path, &app.bootstrap.secret).await;
        assert_eq!(status, 200, "{page}");
        assert!(page["data"].as_array().unwrap().len() <= 2);
        seen.extend(
            page["data"]
                .as_array()
                .unwrap()
                .iter()
                .map(|k| k["name"].as_str().unwrap().to_owned()),
        );
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ["k4", "k3", "k2", "k1", "k0", "bootstrap"]);

    let (_, customers) = get_json(
        &app,
        &app.ws_path("/keys?kind=customer&external_id=cus_2"),
        &app.bootstrap.secret,
    )
    .await;
    let names: Vec<&str> = customers["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["k2"]);
    for bad in [
        "?limit=0",
        "?limit=101",
        "?limit=x",
        "?cursor=garbage",
        "?kind=admin",
    ] {
        let response = app
            .api(
                Method::GET,
                &app.ws_path(&format!("/keys{bad}")),
                &app.bootstrap.secret,
            )
            .send()
            .await
            .unwrap();
        assert_error(response, 422, "validation_error").await;
    }
}

async fn rotation_kills_the_old_secret_now_or_after_the_grace_period(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(json!({ "name": "ci", "kind": "workspace" }))
        .await;
    let (id, first) = (
        created["id"].as_str().unwrap().to_owned(),
        secret_of(&created),
    );
    let rotate = |body: Option<Value>| {
        let request = app.api(
            Method::POST,
            &app.ws_path(&format!("/keys/{id}/rotate")),
            &app.bootstrap.secret,
        );
        match body {
            Some(body) => request.json(&body),
            None => request,
        }
        .send()
    };

    // No grace: the old secret fails on the very next request.
    let (status, rotated) = status_and_json(rotate(None).await.unwrap()).await;
    assert_eq!(
        (status, rotated["id"].as_str()),
        (200, Some(id.as_str())),
        "{rotated}"
    );
    let second = secret_of(&rotated);
    assert_ne!(first, second);
    assert_eq!(rotated["name"], "ci", "same settings");
    assert_error(app.exchange_bearer(&first).await, 401, "invalid_api_key").await;
    assert_eq!(app.exchange_bearer(&second).await.status(), 200);

    // With grace: both work until the grace period ends.
    let (_, rotated) = status_and_json(
        rotate(Some(json!({ "grace_period_seconds": 3600 })))
            .await
            .unwrap(),
    )
    .await;
    let third = secret_of(&rotated);
    assert_eq!(
        app.exchange_bearer(&second).await.status(),
        200,
        "old secret inside its grace period"
    );
    assert_eq!(app.exchange_bearer(&third).await.status(), 200);
    app.end_grace_period(&id).await;
    assert_error(app.exchange_bearer(&second).await, 401, "invalid_api_key").await;
    assert_eq!(app.exchange_bearer(&third).await.status(), 200);

    let too_long = rotate(Some(json!({ "grace_period_seconds": 604_801 })))
        .await
        .unwrap();
    assert_error(too_long, 422, "validation_error").await;
}

/// An actor that records nothing, for driving the lifecycle directly.
struct Operator;

impl lifecycle::KeyActor for Operator {
    fn audit(
        &self,
        _: &mut keymint::db::DbConnection,
        _: &str,
        _: &keymint::db::models::api_keys::ApiKey,
        _: serde_json::Value,
    ) -> diesel::QueryResult<()> {
        Ok(())
    }
}

/// Two rotations with a grace period, both started from the same read of
/// the key (as two admins clicking at once): the second keeps the first
/// one's new secret alive, not the secret both of them read.
async fn concurrent_rotations_keep_the_newer_secret_alive(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (id, original) = app.insert_key(|_| {}).await;
    let (first, second) = app
        .with_db(move |conn| {
            let read = keymint::db::models::api_keys::find(conn, &id)?.expect("the key");
            let now = keymint::clock::now();
            let grace = Some(chrono::Duration::hours(1));
            let first = lifecycle::rotate(conn, &Operator, &read, grace, now)?;
            let second = lifecycle::rotate(conn, &Operator, &read, grace, now)?;
            Ok((first, second))
        })
        .await;
    assert_eq!(app.exchange_bearer(second.expose()).await.status(), 200);
    assert_eq!(
        app.exchange_bearer(first.expose()).await.status(),
        200,
        "the secret the second rotation replaced is in its grace period"
    );
    assert_error(
        app.exchange_bearer(original.expose()).await,
        401,
        "invalid_api_key",
    )
    .await;
}

/// A token exchanged from a secret that was then rotated away (no grace)
/// dies with it on the management API, as at introspection.
async fn tokens_of_a_rotated_away_secret_stop_on_the_api(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(json!({ "name": "ops", "kind": "management" }))
        .await;
    let id = created["id"].as_str().unwrap();
    let (_, token) = status_and_json(app.exchange_bearer(&secret_of(&created)).await).await;
    let jwt = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get_json(&app, &app.ws_path("/keys"), &jwt).await.0, 200);

    after_the_second_of(&jwt).await;
    let rotate = app.ws_path(&format!("/keys/{id}/rotate"));
    let (status, rotated) = app
        .call(Method::POST, &rotate, &app.bootstrap.secret, None)
        .await;
    assert_eq!(status, 200, "{rotated}");
    let with_jwt = app
        .api(Method::GET, &app.ws_path("/keys"), &jwt)
        .send()
        .await
        .unwrap();
    assert_error(with_jwt, 401, "invalid_token").await;
    let (_, fresh) = status_and_json(app.exchange_bearer(&secret_of(&rotated)).await).await;
    let fresh = fresh["access_token"].as_str().unwrap();
    assert_eq!(get_json(&app, &app.ws_path("/keys"), fresh).await.0, 200);
}

async fn revocation_is_immediate_for_secrets_and_their_tokens(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(json!({ "name": "ops", "kind": "management" }))
        .await;
    let (id, secret) = (
        created["id"].as_str().unwrap().to_owned(),
        secret_of(&created),
    );
    let (_, token) = status_and_json(app.exchange_bearer(&secret).await).await;
    let jwt = token["access_token"].as_str().unwrap().to_owned();
    assert_eq!(get_json(&app, &app.ws_path("/keys"), &secret).await.0, 200);
    assert_eq!(get_json(&app, &app.ws_path("/keys"), &jwt).await.0, 200);

    let revoked = app
        .api(
            Method::DELETE,
            &app.ws_path(&format!("/keys/{id}")),
            &app.bootstrap.secret,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(revoked.status(), 204);
    assert_error(app.exchange_bearer(&secret).await, 401, "invalid_api_key").await;
    let with_secret = app
        .api(Method::GET, &app.ws_path("/keys"), &secret)
        .send()
        .await
        .unwrap();
    assert_error(with_secret, 401, "invalid_api_key").await;
    let with_jwt = app
        .api(Method::GET, &app.ws_path("/keys"), &jwt)
        .send()
        .await
        .unwrap();
    assert_error(with_jwt, 401, "invalid_token").await;

    let (_, read) = get_json(
        &app,
        &app.ws_path(&format!("/keys/{id}")),
        &app.bootstrap.secret,
    )
    .await;
    assert!(
        read["revoked_at"].is_string(),
        "revoked keys stay readable: {read}"
    );
    let ids = |page: &Value| {
        page["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["id"].clone())
            .collect::<Vec<_>>()
    };
    let (_, live) = get_json(&app, &app.ws_path("/keys"), &app.bootstrap.secret).await;
    assert!(!ids(&live).contains(&json!(id)));
    let (_, all) = get_json(
        &app,
        &app.ws_path("/keys?include_revoked=true"),
        &app.bootstrap.secret,
    )
    .await;
    assert!(ids(&all).contains(&json!(id)));
    let again = app
        .api(
            Method::DELETE,
            &app.ws_path(&format!("/keys/{id}")),
            &app.bootstrap.secret,
        )
        .send()
        .await
        .unwrap();
    assert_eq!(again.status(), 204, "revoking twice is harmless");
}

async fn bad_fields_get_422_with_each_field_named(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let post = |body: Value| {
        app.api(Method::POST, &app.ws_path("/keys"), &app.bootstrap.secret)
            .json(&body)
            .send()
    };
    let body = assert_error(
        post(json!({ "name": "x", "kind": "workspace", "expires_in_days": 31, "allowed_cidrs": ["nope"] })).await.unwrap(),
        422,
        "validation_error",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["expires_in_days", "allowed_cidrs"]);
    for body in [
        json!({ "name": "x", "kind": "workspace", "expires_at": "2001-01-01T00:00:00Z" }),
        json!({ "name": "x", "kind": "customer", "external_id": "c", "scopes": ["keys:read"] }),
        json!({ "name": "x", "kind": "workspace", "environment": "staging" }),
        json!({ "name": "x", "kind": "workspace", "rate_limit": "fast" }),
    ] {
        assert_error(post(body).await.unwrap(), 422, "validation_error").await;
    }
    assert_error(
        post(json!({ "kind": "workspace" })).await.unwrap(),
        400,
        "invalid_request",
    )
    .await;
    let text = app
        .api(Method::POST, &app.ws_path("/keys"), &app.bootstrap.secret)
        .header("content-type", "text/plain")
        .body("name=x")
        .send()
        .await
        .unwrap();
    assert_error(text, 415, "unsupported_media_type").await;
}

async fn rights_follow_scopes_and_workspaces(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let reader = secret_of(
        &app.create_key(json!({ "name": "r", "kind": "workspace", "scopes": ["keys:read"] }))
            .await,
    );
    assert_eq!(get_json(&app, &app.ws_path("/keys"), &reader).await.0, 200);
    let denied = app
        .api(Method::POST, &app.ws_path("/keys"), &reader)
        .json(&json!({"name": "x", "kind": "workspace"}))
        .send()
        .await
        .unwrap();
    assert_error(denied, 403, "insufficient_permissions").await;

    // A management key: creates customer keys, never management keys or
    // scopes it does not hold.
    let management = secret_of(
        &app.create_key(json!({ "name": "m", "kind": "management" }))
            .await,
    );
    let post = |body: Value| {
        app.api(Method::POST, &app.ws_path("/keys"), &management)
            .json(&body)
            .send()
    };
    let (status, customer) = status_and_json(
        post(json!({ "name": "c", "kind": "customer", "external_id": "cus_1" }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(
        (status, customer["scopes"].clone()),
        (201, json!([])),
        "{customer}"
    );
    assert_error(
        post(json!({ "name": "m2", "kind": "management" }))
            .await
            .unwrap(),
        403,
        "insufficient_permissions",
    )
    .await;
    assert_error(
        post(json!({ "name": "w", "kind": "workspace", "scopes": ["members:write"] }))
            .await
            .unwrap(),
        403,
        "insufficient_permissions",
    )
    .await;

    // A key of another workspace, and a workspace that does not exist.
    let other = app
        .with_db(|conn| {
            let request = keymint::bootstrap::BootstrapRequest {
                workspace_slug: "other".into(),
                email: "owner@other.test".into(),
                password: None,
            };
            keymint::bootstrap::bootstrap(conn, &request)
        })
        .await;
    let foreign = app
        .api(Method::GET, &app.ws_path("/keys"), &other.api_key.secret)
        .send()
        .await
        .unwrap();
    assert_error(foreign, 403, "api_key_account_mismatch").await;
    let by_slug = app
        .api(
            Method::GET,
            "/api/v1/workspaces/default/keys",
            &other.api_key.secret,
        )
        .send()
        .await
        .unwrap();
    assert_error(by_slug, 403, "api_key_account_mismatch").await;
    let missing = app
        .api(
            Method::GET,
            "/api/v1/workspaces/nowhere/keys",
            &app.bootstrap.secret,
        )
        .send()
        .await
        .unwrap();
    assert_error(missing, 404, "not_found").await;
}

async fn exchanged_tokens_work_narrowed_to_their_scope(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, token) = status_and_json(
        app.exchange_json(json!({ "secret": app.bootstrap.secret, "scope": "keys:read" }))
            .await,
    )
    .await;
    let jwt = token["access_token"].as_str().unwrap();
    assert_eq!(get_json(&app, &app.ws_path("/keys"), jwt).await.0, 200);
    let denied = app
        .api(Method::POST, &app.ws_path("/keys"), jwt)
        .json(&json!({"name": "x", "kind": "workspace"}))
        .send()
        .await
        .unwrap();
    assert_error(denied, 403, "insufficient_permissions").await;

    let mut forged = jwt.to_owned();
    forged.pop();
    forged.push(if jwt.ends_with('A') { 'B' } else { 'A' });
    let response = app
        .api(Method::GET, &app.ws_path("/keys"), &forged)
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "invalid_token").await;
    let (_, other_audience) = status_and_json(
        app.exchange_json(
            json!({ "secret": app.bootstrap.secret, "audience": "https://downstream.example" }),
        )
        .await,
    )
    .await;
    let response = app
        .api(
            Method::GET,
            &app.ws_path("/keys"),
            other_audience["access_token"].as_str().unwrap(),
        )
        .send()
        .await
        .unwrap();
    assert_error(response, 401, "invalid_token").await;
}

async fn unknown_api_routes_need_a_credential_first(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let anonymous = app
        .client
        .get(app.url("/api/v1/nothing-here"))
        .send()
        .await
        .unwrap();
    assert_error(anonymous, 401, "unauthorized").await;
    let (status, _) = get_json(&app, "/api/v1/nothing-here", &app.bootstrap.secret).await;
    assert_eq!(status, 404);
    let anonymous_keys = app
        .client
        .get(app.url(&app.ws_path("/keys")))
        .send()
        .await
        .unwrap();
    assert_error(anonymous_keys, 401, "unauthorized").await;
}

async fn patch_renames_narrows_and_clears_the_rate_limit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(
            json!({ "name": "a", "kind": "workspace", "scopes": ["x", "y"], "rate_limit": 5 }),
        )
        .await;
    let path = app.ws_path(&format!("/keys/{}", created["id"].as_str().unwrap()));
    let patch = |body: Value| {
        app.api(Method::PATCH, &path, &app.bootstrap.secret)
            .json(&body)
            .send()
    };
    let (status, patched) = status_and_json(
        patch(json!({ "name": "b", "scopes": ["y"], "rate_limit": null }))
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 200, "{patched}");
    assert_eq!(
        (
            patched["name"].as_str(),
            patched["scopes"].clone(),
            patched["rate_limit"].clone()
        ),
        (Some("b"), json!(["y"]), Value::Null)
    );
    assert_error(
        patch(json!({ "scopes": ["x"] })).await.unwrap(),
        422,
        "validation_error",
    )
    .await;
    // A misspelt field is refused, never silently ignored.
    let unknown = assert_error(
        patch(json!({ "colour": "red" })).await.unwrap(),
        422,
        "validation_error",
    )
    .await;
    assert_eq!(unknown["errors"][0]["field"], "colour");
}

async fn direct_use_of_a_secret_counts_as_usage(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let created = app
        .create_key(json!({ "name": "r", "kind": "workspace", "scopes": ["keys:read"] }))
        .await;
    let secret = secret_of(&created);
    for _ in 0..2 {
        assert_eq!(get_json(&app, &app.ws_path("/keys"), &secret).await.0, 200);
    }
    assert_eq!(app.exchange_bearer(&secret).await.status(), 200);
    let (_, read) = get_json(
        &app,
        &app.ws_path(&format!("/keys/{}", created["id"].as_str().unwrap())),
        &app.bootstrap.secret,
    )
    .await;
    assert_eq!(read["usage_count"], 3, "{read}");
    assert!(read["last_used_at"].is_string());
}

async fn limits_set_through_the_api_apply_at_exchange(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let elsewhere = secret_of(
        &app.create_key(
            json!({ "name": "vpn", "kind": "workspace", "allowed_cidrs": ["10.0.0.0/8"] }),
        )
        .await,
    );
    assert_error(app.exchange_bearer(&elsewhere).await, 403, "ip_not_allowed").await;
    let twice = secret_of(
        &app.create_key(json!({ "name": "once", "kind": "workspace", "remaining": 2 }))
            .await,
    );
    for _ in 0..2 {
        assert_eq!(app.exchange_bearer(&twice).await.status(), 200);
    }
    assert_error(app.exchange_bearer(&twice).await, 403, "usage_exceeded").await;
    let local = app
        .create_key(json!({ "name": "prod", "kind": "workspace", "environment": "production", "allowed_cidrs": ["127.0.0.1"], "rate_limit": 7 }))
        .await;
    assert_eq!(local["rate_limit"], 7);
    let (_, token) = status_and_json(app.exchange_bearer(&secret_of(&local)).await).await;
    let claims = unverified_claims(token["access_token"].as_str().unwrap());
    assert_eq!(
        (claims["env"].as_str(), claims["cidr"].clone()),
        (Some("production"), json!(["127.0.0.1/32"]))
    );
}

crate::on_both_backends!(
    limits_set_through_the_api_apply_at_exchange,
    created_keys_show_their_secret_once,
    lists_page_newest_first_and_filter,
    rotation_kills_the_old_secret_now_or_after_the_grace_period,
    concurrent_rotations_keep_the_newer_secret_alive,
    tokens_of_a_rotated_away_secret_stop_on_the_api,
    revocation_is_immediate_for_secrets_and_their_tokens,
    bad_fields_get_422_with_each_field_named,
    rights_follow_scopes_and_workspaces,
    exchanged_tokens_work_narrowed_to_their_scope,
    unknown_api_routes_need_a_credential_first,
    patch_renames_narrows_and_clears_the_rate_limit,
    direct_use_of_a_secret_counts_as_usage,
);
