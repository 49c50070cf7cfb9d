//! SIGTERM (or SIGINT) to the real binary in the middle of a burst of
//! exchanges: the process exits 0, no request is broken, and usage counts
//! survive.
//!
//! What "not broken" means, precisely. Every request of the burst ends in
//! exactly one of these ways:
//! - answered: a complete HTTP response, status line to last body byte;
//! - refused: the TCP connect failed (the listener is closed);
//! - unstarted: the connection closed before any byte of a response came
//!   back. This happens, by design, to a request that actix had not begun to
//!   handle when the stop began (it closes idle keep-alive connections and
//!   does not start requests that arrive on them), and to a connection still
//!   in the kernel's accept queue when the listener closes. It is allowed
//!   only because the test proves that no such request was handled: the
//!   burst key has a `remaining` budget, from which every handled exchange
//!   takes one use in the database, so
//!   `uses taken == usage_count == 200s received` holds only if every
//!   request that the server worked on was answered in full.
//!
//! Anything else fails the test: a response cut in the middle, an error
//! status, or a count that does not add up.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use keymint::db::models::api_keys;
use serde_json::json;

use crate::binary::serve;
use crate::helpers::{Backend, TestDb, eventually, http_client, status_and_json};

const CLIENTS: usize = 4;
/// Each client's loop is bounded in count as well as in time.
const MAX_REQUESTS_PER_CLIENT: u64 = 20_000;
const BUDGET: i64 = 1_000_000;
const BOUND: Duration = Duration::from_secs(60);

#[derive(Default)]
struct Tally {
    ok: AtomicU64,
    refused: AtomicU64,
    unstarted: AtomicU64,
    /// Responses cut short, or errors of any other kind: must stay 0.
    broken: AtomicU64,
    /// Answers other than 200: must stay 0.
    not_ok: AtomicU64,
}

/// One client: exchanges until a connect is refused (the server is gone).
async fn client_loop(url: String, secret: String, tally: Arc<Tally>) -> bool {
    let client = http_client();
    for _ in 0..MAX_REQUESTS_PER_CLIENT {
        match client.post(&url).bearer_auth(&secret).send().await {
            Ok(response) => {
                let status = response.status();
                match response.text().await {
                    Ok(_) if status == 200 => tally.ok.fetch_add(1, Ordering::SeqCst),
                    Ok(body) => {
                        eprintln!("answered {status}: {body}");
                        tally.not_ok.fetch_add(1, Ordering::SeqCst)
                    }
                    Err(error) => {
                        eprintln!("response cut short: {error:?}");
                        tally.broken.fetch_add(1, Ordering::SeqCst)
                    }
                };
            }
            Err(error) if error.is_connect() => {
                tally.refused.fetch_add(1, Ordering::SeqCst);
                return true;
            }
            Err(error) if error.is_request() => {
                tally.unstarted.fetch_add(1, Ordering::SeqCst);
            }
            Err(error) => {
                eprintln!("request failed: {error:?}");
                tally.broken.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
    false
}

async fn sigterm_during_a_burst_breaks_no_request_and_keeps_usage(backend: Backend) {
    stop_during_a_burst(backend, "TERM").await;
}

/// Ctrl-C is graceful too (actix alone would drop requests in flight).
async fn sigint_during_a_burst_breaks_no_request_and_keeps_usage(backend: Backend) {
    stop_during_a_burst(backend, "INT").await;
}

async fn stop_during_a_burst(backend: Backend, signal: &str) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let keys = tempfile::tempdir().unwrap();
    let mut served = serve(&db, keys.path(), "info");

    // A key with a use budget (the oracle above) and a rate limit that the
    // burst stays under.
    let response = http_client()
        .post(served.url("/api/v1/workspaces/default/keys"))
        .bearer_auth(&served.secret)
        .json(&json!({
            "name": "burst", "kind": "workspace", "remaining": BUDGET, "rate_limit": 100_000
        }))
        .send()
        .await
        .unwrap();
    let (status, created) = status_and_json(response).await;
    assert_eq!(status, 201, "{created}");
    let key_id = created["id"].as_str().unwrap().to_owned();
    let secret = created["secret"].as_str().unwrap().to_owned();

    let tally = Arc::new(Tally::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|_| {
            tokio::spawn(client_loop(
                served.url("/auth/token"),
                secret.clone(),
                tally.clone(),
            ))
        })
        .collect();
    eventually(BOUND, "the burst to get going", || async {
        (tally.ok.load(Ordering::SeqCst) >= 50).then_some(())
    })
    .await;
    served.signal(signal);
    let ok_at_signal = tally.ok.load(Ordering::SeqCst);

    for client in clients {
        let ended_by_refusal = tokio::time::timeout(BOUND, client)
            .await
            .expect("clients end once the server is gone")
            .unwrap();
        assert!(ended_by_refusal, "a client ran out of requests first");
    }
    let exit = served.wait_for_exit(BOUND);
    assert!(exit.success(), "{exit:?}");
    served.log_line(Duration::from_secs(5), |line| {
        line.contains("stopped; flushed usage")
    });

    let ok = tally.ok.load(Ordering::SeqCst);
    eprintln!(
        "burst: {ok} answered 200 ({ok_at_signal} before SIG{signal} was sent), {} refused at \
         connect, {} closed unstarted",
        tally.refused.load(Ordering::SeqCst),
        tally.unstarted.load(Ordering::SeqCst),
    );
    assert_eq!(tally.broken.load(Ordering::SeqCst), 0, "broken requests");
    assert_eq!(tally.not_ok.load(Ordering::SeqCst), 0, "error answers");

    let url = db.url.clone();
    let key = tokio::task::spawn_blocking(move || {
        let pool = keymint::db::connect(&url, 1).expect("database");
        let mut conn = pool.get().unwrap();
        let key = api_keys::find(&mut conn, &key_id)
            .unwrap()
            .expect("the key");
        api_keys::with_usage(&mut conn, key).unwrap()
    })
    .await
    .unwrap();
    let (key, stored) = key;
    let taken = BUDGET - key.remaining.expect("a budget");
    assert_eq!(
        (taken, stored.usage_count),
        (ok as i64, ok as i64),
        "(uses taken, usage_count) against 200s received"
    );
}

crate::on_both_backends!(
    sigterm_during_a_burst_breaks_no_request_and_keeps_usage,
    sigint_during_a_burst_breaks_no_request_and_keeps_usage,
);
