//! Work for strangers: what an unauthenticated or least-trusted caller can
//! make the server do is bounded. Tokens are looked up and attempts counted
//! before any password is hashed; concurrent attempts count before their
//! hashes run; form bodies parse in linear time; a portal session is rate
//! limited and caps its customer's keys.

use std::time::Duration;

use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    Backend, OWNER_EMAIL, TestApp, spawn_app, spawn_app_with, status_and_json,
    within_one_throttle_window,
};

fn hashes(app: &TestApp) -> u64 {
    app.state.hashing.started()
}

async fn accept(app: &TestApp, token: &str) -> u16 {
    app.client
        .post(app.url("/auth/accept-invite"))
        .json(&json!({ "token": token, "password": "a long enough password" }))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

async fn bogus_invitations_cost_no_hashing_and_are_throttled(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    within_one_throttle_window(Duration::from_secs(20)).await;
    // The control first: a real invitation hashes exactly once.
    let (status, added) = app
        .call(
            Method::POST,
            &app.ws_path("/members"),
            &app.bootstrap.secret,
            Some(json!({ "email": "real@example.test", "role": "viewer" })),
        )
        .await;
    assert_eq!(status, 201, "{added}");
    let before = hashes(&app);
    assert_eq!(
        accept(&app, added["invitation"]["token"].as_str().unwrap()).await,
        200
    );
    assert_eq!(hashes(&app), before + 1);

    for i in 0..keymint::http::login::INVITE_FAILURES_PER_IP {
        assert_eq!(accept(&app, &format!("kminv_bogus{i}")).await, 400);
    }
    assert_eq!(hashes(&app), before + 1, "no bogus token was hashed for");
    assert_eq!(accept(&app, "kminv_one_more").await, 429);
}

async fn concurrent_bad_logins_count_before_they_hash(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    app.set_password(OWNER_EMAIL, "the owner's password").await;
    within_one_throttle_window(Duration::from_secs(20)).await;
    let before = hashes(&app);
    let attempts: Vec<_> = (0..30)
        .map(|i| {
            let request = app
                .client
                .post(app.url("/auth/login"))
                .json(&json!({ "email": OWNER_EMAIL, "password": format!("wrong guess {i}") }));
            tokio::spawn(async move { request.send().await.unwrap().status().as_u16() })
        })
        .collect();
    let mut statuses = Vec::new();
    for attempt in attempts {
        statuses.push(attempt.await.unwrap());
    }
    let wrong = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!((wrong, throttled), (10, 20), "{statuses:?}");
    assert_eq!(
        hashes(&app) - before,
        10,
        "only the counted attempts hashed"
    );
    // The control: another person logs in from the same address.
    app.person("other@example.test", "viewer", "other password")
        .await;
}

/// `&<name>=` for 12,000 distinct short names: a body just under 64 KiB
/// (the case that cost 0.3 s a request when names were compared pairwise).
fn many_names() -> String {
    const DIGITS: &[u8] = b"0123456789abcdefghijklmnopqrstuvwxyz";
    let mut text = String::new();
    for i in 0..12_000usize {
        text.push('&');
        for place in [1296, 36, 1] {
            text.push(DIGITS[i / place % 36] as char);
        }
        text.push('=');
    }
    text
}

async fn post_form(app: &TestApp, body: String) -> (u16, serde_json::Value) {
    let response = app
        .client
        .post(app.url("/auth/token"))
        .header("content-type", "application/x-www-form-urlencoded")
        .body(body)
        .send()
        .await
        .unwrap();
    status_and_json(response).await
}

async fn a_form_with_many_names_is_answered_like_any_other(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let body = format!(
        "grant_type=client_credentials&client_secret=kmk_bogus{}",
        many_names()
    );
    let (status, answer) = post_form(&app, body.clone()).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (401, Some("invalid_client"))
    );
    // A repeated name is still found, at the end of the same long body.
    let (status, answer) = post_form(&app, format!("{body}&000=y")).await;
    assert_eq!(
        (status, answer["error"].as_str()),
        (400, Some("invalid_request"))
    );
    // The control: the same long form with the right secret is granted.
    let good = format!(
        "grant_type=client_credentials&client_secret={}{}",
        app.bootstrap.secret,
        many_names()
    );
    assert_eq!(post_form(&app, good).await.0, 200);
}

async fn session(app: &TestApp, external_id: &str) -> String {
    let (status, minted) = app
        .call(
            Method::POST,
            &app.ws_path("/portal-sessions"),
            &app.bootstrap.secret,
            Some(json!({ "external_id": external_id })),
        )
        .await;
    assert_eq!(status, 201, "{minted}");
    minted["token"].as_str().unwrap().to_owned()
}

async fn portal_sessions_are_rate_limited_per_customer(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let first = session(&app, "cus_1").await;
    let second = session(&app, "cus_1").await;
    let other = session(&app, "cus_2").await;
    let (status, body) = app
        .call(
            Method::PATCH,
            &app.ws_path(""),
            &app.bootstrap.secret,
            Some(json!({ "plan": "hobby" })),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let response = app
        .api(Method::GET, "/portal/api/keys", &first)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()["x-ratelimit-limit"],
        "3",
        "the hobby plan's"
    );
    // Both sessions of the customer draw from one bucket of three.
    let mut statuses = Vec::new();
    for token in [&first, &second, &second, &second] {
        let response = app
            .api(Method::GET, "/portal/api/keys", token)
            .send()
            .await
            .unwrap();
        statuses.push(response.status().as_u16());
    }
    assert!(statuses.contains(&429), "{statuses:?}");
    // The control: another customer has a bucket of its own.
    let response = app
        .api(Method::GET, "/portal/api/keys", &other)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
}

async fn a_customer_holds_at_most_the_configured_live_keys(backend: Backend) {
    let Some(app) = spawn_app_with(backend, |config| config.portal_max_keys = 2).await else {
        return;
    };
    let token = session(&app, "cus_1").await;
    let create = || {
        let app = &app;
        let token = token.clone();
        async move {
            let response = app
                .api(Method::POST, "/portal/api/keys", &token)
                .json(&json!({ "name": "k" }))
                .send()
                .await
                .unwrap();
            status_and_json(response).await
        }
    };
    let (status, first) = create().await;
    assert_eq!(status, 201, "{first}");
    assert_eq!(create().await.0, 201);
    let (status, body) = create().await;
    assert_eq!(
        (status, body["error"].as_str()),
        (409, Some("conflict")),
        "{body}"
    );
    // The control: revoking one makes room again.
    let id = first["id"].as_str().unwrap();
    let response = app
        .api(Method::DELETE, &format!("/portal/api/keys/{id}"), &token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 204);
    assert_eq!(create().await.0, 201);
}

crate::on_both_backends!(
    bogus_invitations_cost_no_hashing_and_are_throttled,
    concurrent_bad_logins_count_before_they_hash,
    a_form_with_many_names_is_answered_like_any_other,
    portal_sessions_are_rate_limited_per_customer,
    a_customer_holds_at_most_the_configured_live_keys,
);
