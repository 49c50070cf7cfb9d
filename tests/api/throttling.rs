//! Failed exchanges are throttled per client IP and per key id: a bounded
//! loop of wrong credentials, then 429 with `Retry-After` even for the
//! right secret, so secrets cannot be guessed at speed.
//!
//! The client IP comes from `X-Forwarded-For` (the test client is a trusted
//! proxy), so each test picks the addresses it needs.

use keymint::api_keys::KeyKind;
use keymint::exchange::{FAILURES_PER_IP, FAILURES_PER_KEY};
use keymint::secrets::Secret;
use reqwest::RequestBuilder;
use serde_json::{Value, json};

use crate::helpers::{Backend, TestApp, spawn_app_with, status_and_json};

/// The tests loop as many times as the constants say; these pin the
/// constants to the figures docs/api.md promises.
#[test]
fn the_limits_are_the_documented_ones() {
    assert_eq!((FAILURES_PER_IP, FAILURES_PER_KEY), (20, 10));
    assert_eq!(keymint::login::FAILURES_PER_EMAIL, 10);
}

async fn spawn_behind_proxy(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |config| {
        config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
    })
    .await
}

fn unknown_secret() -> String {
    Secret::generate(KeyKind::Workspace)
        .unwrap()
        .expose()
        .to_owned()
}

fn from(request: RequestBuilder, ip: &str) -> RequestBuilder {
    request.header("X-Forwarded-For", ip)
}

/// Status, body and `Retry-After` of an answer.
async fn outcome(request: RequestBuilder) -> (u16, Value, Option<u64>) {
    let response = request.send().await.expect("request");
    let retry_after = response
        .headers()
        .get("retry-after")
        .and_then(|v| v.to_str().ok()?.parse().ok());
    let (status, body) = status_and_json(response).await;
    (status, body, retry_after)
}

/// Runs `run` (with the attempt number, so each attempt can use fresh
/// addresses and keys) until one run starts and ends in the same minute.
/// Throttling counts per fixed minute, and a run crossing a boundary would
/// be split across two; two runs in a row cannot both cross one.
pub(crate) async fn within_one_minute<T, F, Fut>(mut run: F) -> T
where
    F: FnMut(u8) -> Fut,
    Fut: std::future::Future<Output = T>,
{
    let minute = || chrono::Utc::now().timestamp().div_euclid(60);
    for attempt in 0..2 {
        let before = minute();
        let result = run(attempt).await;
        if minute() == before {
            return result;
        }
    }
    panic!("two consecutive runs crossed a minute boundary")
}

/// The contract's 429 for failed exchanges: `Retry-After` until the end of
/// the minute, and the same number as `retryAfter`.
fn assert_throttled(answer: &(u16, Value, Option<u64>), limit: u32) {
    let (status, body, retry_after) = answer;
    assert_eq!(*status, 429, "{body}");
    assert_eq!(body["error"], "rate_limit_exceeded", "{body}");
    assert_eq!(body["limit"].as_u64(), Some(u64::from(limit)), "{body}");
    let seconds = body["retryAfter"].as_u64().expect("retryAfter");
    assert!((1..=60).contains(&seconds), "{body}");
    assert_eq!(*retry_after, Some(seconds));
}

async fn wrong_secrets_from_one_ip_are_throttled(backend: Backend) {
    let Some(app) = spawn_behind_proxy(backend).await else {
        return;
    };
    let (failures, blocked, elsewhere) = within_one_minute(|attempt| {
        let app = &app;
        async move {
            let guesser = format!("203.0.113.{}", attempt + 1);
            let mut failures = Vec::new();
            for _ in 0..FAILURES_PER_IP {
                let guess = app
                    .client
                    .post(app.url("/auth/token"))
                    .bearer_auth(unknown_secret());
                failures.push(outcome(from(guess, &guesser)).await.0);
            }
            let right = app
                .client
                .post(app.url("/auth/token"))
                .bearer_auth(&app.bootstrap.secret);
            let blocked = outcome(from(right.try_clone().unwrap(), &guesser)).await;
            let elsewhere = outcome(from(right, "198.51.100.1")).await.0;
            (failures, blocked, elsewhere)
        }
    })
    .await;
    assert!(failures.iter().all(|status| *status == 401), "{failures:?}");
    // Past the limit, even the right secret is refused from that address...
    assert_throttled(&blocked, FAILURES_PER_IP);
    // ...and only from that address.
    assert_eq!(elsewhere, 200);
}

/// SPEC: a failure counts on a key id only when it presented that key's
/// own secret; merely naming a key id (read in any of its JWTs) counts
/// against the guesser's IP alone, so nobody can lock the holder out.
async fn naming_a_key_id_locks_its_holder_out_of_nothing(backend: Backend) {
    let Some(app) = spawn_behind_proxy(backend).await else {
        return;
    };
    let (failures, holder, from_guesser) = within_one_minute(|attempt| {
        let app = &app;
        async move {
            let (target_id, target) = app.insert_key(|_| {}).await;
            let (_, other) = app.insert_key(|_| {}).await;
            let form = |secret: &str| {
                app.client.post(app.url("/auth/token")).form(&[
                    ("grant_type", "client_credentials"),
                    ("client_id", target_id.as_str()),
                    ("client_secret", secret),
                ])
            };
            let mut failures = Vec::new();
            // Each guess from a new address: the key id, not the IP, is counted.
            for i in 0..FAILURES_PER_KEY {
                let ip = format!("198.51.{attempt}.{}", i + 1);
                failures.push(outcome(from(form(&unknown_secret()), &ip)).await);
            }
            let fresh_ip = format!("192.0.2.{}", attempt + 1);
            let holder = outcome(from(form(target.expose()), &fresh_ip)).await;
            // The guesses did count against an address: one guesser's
            // twenty from one IP block that IP (the control).
            let guesser = format!("198.18.{attempt}.1");
            for _ in 0..FAILURES_PER_IP {
                outcome(from(form(&unknown_secret()), &guesser)).await;
            }
            let exchange_other = app
                .client
                .post(app.url("/auth/token"))
                .bearer_auth(other.expose());
            let from_guesser = outcome(from(exchange_other, &guesser)).await;
            (failures, holder, from_guesser)
        }
    })
    .await;
    for (status, body, _) in &failures {
        assert_eq!(
            (*status, body["error"].as_str()),
            (401, Some("invalid_client")),
            "{body}"
        );
    }
    assert_eq!(holder.0, 200, "the holder is not locked out: {}", holder.1);
    assert_throttled(&from_guesser, FAILURES_PER_IP);
}

async fn wrong_emails_for_a_personal_key_are_throttled(backend: Backend) {
    let Some(app) = spawn_behind_proxy(backend).await else {
        return;
    };
    let (failures, blocked) = within_one_minute(|attempt| {
        let app = &app;
        async move {
            let user_id = app.bootstrap.user_id.clone();
            let (_, secret) = app
                .insert_key(move |k| {
                    k.kind = KeyKind::Personal;
                    k.user_id = Some(user_id);
                })
                .await;
            let exchange = |email: &str| {
                app.client
                    .post(app.url("/auth/token"))
                    .json(&json!({ "secret": secret.expose(), "email": email }))
            };
            let mut failures = Vec::new();
            for i in 0..FAILURES_PER_KEY {
                let ip = format!("198.51.{attempt}.{}", i + 1);
                failures.push(outcome(from(exchange("someone@else.test"), &ip)).await.0);
            }
            let blocked = outcome(from(exchange("admin@localhost"), "192.0.2.200")).await;
            (failures, blocked)
        }
    })
    .await;
    assert!(failures.iter().all(|status| *status == 401), "{failures:?}");
    assert_throttled(&blocked, FAILURES_PER_KEY);
}

crate::on_both_backends!(
    wrong_secrets_from_one_ip_are_throttled,
    naming_a_key_id_locks_its_holder_out_of_nothing,
    wrong_emails_for_a_personal_key_are_throttled,
);
