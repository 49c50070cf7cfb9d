//! Rate limits over HTTP: `X-RateLimit-*` on every authenticated answer
//! (errors included), 429 past a key's limit, the plan's limit when a key
//! has none, and one bucket per key whichever way the key is presented.
//!
//! Bursts are sent all at once and judged against how long they took, so
//! no expectation depends on the machine being fast.

use std::time::Instant;

use reqwest::{Method, RequestBuilder};
use serde_json::{Value, json};

use crate::helpers::{Backend, spawn_app, status_and_json};

/// One answer with its rate-limit headers.
struct Answer {
    status: u16,
    limit: Option<u64>,
    remaining: Option<u64>,
    reset: Option<u64>,
    retry_after: Option<u64>,
    body: Value,
}

fn header(response: &reqwest::Response, name: &str) -> Option<u64> {
    response.headers().get(name)?.to_str().ok()?.parse().ok()
}

async fn answer(response: reqwest::Response) -> Answer {
    let (limit, remaining, reset, retry_after) = (
        header(&response, "x-ratelimit-limit"),
        header(&response, "x-ratelimit-remaining"),
        header(&response, "x-ratelimit-reset"),
        header(&response, "retry-after"),
    );
    let (status, body) = status_and_json(response).await;
    Answer {
        status,
        limit,
        remaining,
        reset,
        retry_after,
        body,
    }
}

async fn send(request: RequestBuilder) -> Answer {
    answer(request.send().await.expect("request")).await
}

fn unix_now() -> u64 {
    chrono::Utc::now().timestamp().try_into().unwrap()
}

/// Sends every request at once and waits for all the answers.
async fn burst(requests: Vec<RequestBuilder>) -> Vec<Answer> {
    let tasks: Vec<_> = requests
        .into_iter()
        .map(|request| tokio::spawn(send(request)))
        .collect();
    let mut answers = Vec::with_capacity(tasks.len());
    for task in tasks {
        answers.push(task.await.expect("request task"));
    }
    answers
}

/// The most requests a GCRA of `limit` req/s can let through in `seconds`:
/// a full bucket, then one per `1/limit` s.
fn most_allowed(limit: u64, seconds: f64) -> u64 {
    limit + (limit as f64 * seconds).ceil() as u64
}

/// Every 429 has the contract's body, `Retry-After` equal to `retryAfter`,
/// and nothing remaining.
fn assert_refusals_are_well_formed(answers: &[Answer], limit: u64) {
    for refused in answers.iter().filter(|a| a.status == 429) {
        let body = &refused.body;
        assert_eq!(body["error"], "rate_limit_exceeded", "{body}");
        assert!(body["detail"].as_str().is_some_and(|d| !d.is_empty()));
        assert_eq!(body["limit"].as_u64(), Some(limit), "{body}");
        let retry_after = body["retryAfter"].as_u64().expect("retryAfter");
        assert_eq!(refused.retry_after, Some(retry_after));
        // At a limit of one or more a second, a slot frees within one
        // second, rounded up.
        assert_eq!(retry_after, 1, "{body}");
        assert_eq!(refused.remaining, Some(0));
    }
}

async fn exchanges_past_a_keys_limit_get_429_with_headers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, secret) = app.insert_key(|k| k.rate_limit = Some(3)).await;
    let (started, clock) = (unix_now(), Instant::now());
    let requests = (0..30)
        .map(|_| {
            app.client
                .post(app.url("/auth/token"))
                .bearer_auth(secret.expose())
        })
        .collect();
    let answers = burst(requests).await;
    let (seconds, finished) = (clock.elapsed().as_secs_f64(), unix_now());

    let passed = answers.iter().filter(|a| a.status == 200).count() as u64;
    let refused = answers.iter().filter(|a| a.status == 429).count() as u64;
    assert_eq!(passed + refused, 30, "only 200 or 429");
    assert!(passed >= 3, "a full bucket lets 3 through: {passed}");
    assert!(passed <= most_allowed(3, seconds), "{passed} in {seconds}s");
    assert!(refused > 0, "30 at once on a limit of 3");
    // The bucket starts full: the first use leaves 2 of 3.
    assert!(
        answers
            .iter()
            .any(|a| a.status == 200 && a.remaining == Some(2)),
        "no answer saw the full bucket"
    );
    for answer in &answers {
        assert_eq!(answer.limit, Some(3));
        assert!(answer.remaining.is_some_and(|r| r < 3));
        // The bucket is full again at most one second after the last use.
        let reset = answer.reset.expect("X-RateLimit-Reset");
        assert!((started..=finished + 2).contains(&reset), "{reset}");
    }
    assert_refusals_are_well_formed(&answers, 3);
}

async fn keys_without_an_override_get_their_plans_limit(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    // The bootstrap key changes the plan; its own override keeps it out of
    // the way of the plan it sets.
    let bootstrap_id = send(
        app.client
            .get(app.url("/api/v1/me"))
            .bearer_auth(&app.bootstrap.secret),
    )
    .await
    .body["key"]["id"]
        .as_str()
        .expect("the key behind /me")
        .to_owned();
    app.with_db(move |conn| {
        use diesel::prelude::*;
        use keymint::db::schema::api_keys;
        diesel::update(api_keys::table.find(bootstrap_id))
            .set(api_keys::rate_limit.eq(Some(1000)))
            .execute(conn)?;
        Ok(())
    })
    .await;
    for (plan, limit) in [
        ("hobby", 3),
        ("starter", 5),
        ("pro", 10),
        ("enterprise", 100),
    ] {
        let changed = send(
            app.api(Method::PATCH, &app.ws_path(""), &app.bootstrap.secret)
                .json(&json!({ "plan": plan })),
        )
        .await;
        assert_eq!(changed.status, 200, "{}", changed.body);
        assert_eq!(changed.limit, Some(1000), "the key's override wins");
        // A fresh key per plan: a bucket remembers its earlier requests.
        let (_, probe) = app.insert_key(|_| {}).await;
        let exchanged = answer(app.exchange_bearer(probe.expose()).await).await;
        assert_eq!(exchanged.status, 200, "{}", exchanged.body);
        assert_eq!(exchanged.limit, Some(limit), "{plan}");
        assert_eq!(exchanged.remaining, Some(limit - 1), "{plan}");
    }
}

async fn a_key_its_tokens_and_its_errors_share_one_bucket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let (_, secret) = app
        .insert_key(|k| {
            k.rate_limit = Some(2);
            k.scopes = keymint::access::ScopeSet::parse_space_separated("keys:read");
        })
        .await;
    let clock = Instant::now();
    let exchanged = answer(app.exchange_bearer(secret.expose()).await).await;
    assert_eq!(exchanged.status, 200, "{}", exchanged.body);
    assert_eq!((exchanged.limit, exchanged.remaining), (Some(2), Some(1)));
    let token = exchanged.body["access_token"].as_str().unwrap().to_owned();

    // Reading a key that does not exist: 404, or 429 once the bucket is dry.
    let missing = app.ws_path("/keys/no-such-key");
    let requests = (0..40)
        .map(|i| {
            let credential = if i % 2 == 0 { secret.expose() } else { &token };
            app.api(Method::GET, &missing, credential)
        })
        .collect();
    let answers = burst(requests).await;
    let seconds = clock.elapsed().as_secs_f64();

    let passed = answers.iter().filter(|a| a.status == 404).count() as u64;
    let refused = answers.iter().filter(|a| a.status == 429).count() as u64;
    assert_eq!(passed + refused, 40, "only 404 or 429");
    // The exchange took one; separate buckets for the secret and its token
    // would let 4 through at once.
    assert!(passed >= 1, "one request was left in the bucket");
    assert!(passed < most_allowed(2, seconds), "{passed} in {seconds}s");
    for answer in &answers {
        assert_eq!(answer.limit, Some(2), "error answers carry the headers too");
        assert!(answer.remaining.is_some() && answer.reset.is_some());
    }
    assert_refusals_are_well_formed(&answers, 2);
}

async fn login_tokens_draw_from_the_persons_bucket(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let password = "a long passphrase";
    app.set_password("admin@localhost", password).await;
    let token = app.login_token("admin@localhost", password).await;
    let me = send(app.api(Method::GET, "/api/v1/me", &token)).await;
    assert_eq!(me.status, 200, "{}", me.body);
    // The person owns the bootstrap workspace, whose plan is enterprise.
    assert_eq!((me.limit, me.remaining), (Some(100), Some(99)));
    // Twenty at once take from the person's bucket faster than it refills
    // (one every 10 ms).
    let requests = (0..20)
        .map(|_| app.api(Method::GET, "/api/v1/me", &token))
        .collect();
    let lowest = burst(requests)
        .await
        .iter()
        .filter_map(|a| a.remaining)
        .min();
    assert!(lowest.is_some_and(|r| r < 99), "{lowest:?}");
    // The bootstrap key's bucket is untouched by the person's requests.
    let key = send(app.api(Method::GET, "/api/v1/me", &app.bootstrap.secret)).await;
    assert_eq!((key.limit, key.remaining), (Some(100), Some(99)));
}

async fn unauthenticated_answers_carry_no_rate_headers(backend: Backend) {
    let Some(app) = spawn_app(backend).await else {
        return;
    };
    let anonymous = send(app.client.get(app.url("/api/v1/me"))).await;
    assert_eq!(anonymous.status, 401);
    let unknown =
        keymint::secrets::Secret::generate(keymint::api_keys::KeyKind::Workspace).unwrap();
    let wrong = answer(app.exchange_bearer(unknown.expose()).await).await;
    assert_eq!(wrong.status, 401);
    for answer in [anonymous, wrong] {
        assert_eq!(
            (answer.limit, answer.remaining, answer.reset),
            (None, None, None)
        );
    }
}

crate::on_both_backends!(
    exchanges_past_a_keys_limit_get_429_with_headers,
    keys_without_an_override_get_their_plans_limit,
    a_key_its_tokens_and_its_errors_share_one_bucket,
    login_tokens_draw_from_the_persons_bucket,
    unauthenticated_answers_carry_no_rate_headers,
);
