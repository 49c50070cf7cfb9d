//! `kill -9` in the middle of key writes, then a start on the same
//! database: every write the server acknowledged is there, whatever was in
//! flight. The real binary, killed with SIGKILL while several clients
//! create, rotate and revoke keys.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use diesel::prelude::*;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::binary::{serve, serve_again};
use crate::helpers::{Backend, TestDb, http_client};

const CLIENTS: usize = 3;
/// The kill comes once this many writes were acknowledged (or after
/// [`WRITING_AT_MOST`]): enough that it falls among writes in flight.
const ACKNOWLEDGED_BEFORE_KILL: usize = 30;
const WRITING_AT_MOST: Duration = Duration::from_secs(20);

/// What the server said about a key, as far as a client heard it.
#[derive(Debug, Clone)]
enum Heard {
    /// Created or rotated: this secret works, and no other.
    Live(String),
    /// Revoked: this, its last secret, is refused.
    Revoked(String),
    /// A write to it was in flight at the kill: either outcome may stand.
    InFlight,
}

#[derive(Default)]
struct Ledger {
    keys: HashMap<String, Heard>,
    /// Secrets rotated away with no grace period: refused for good.
    retired: Vec<String>,
    acknowledged: usize,
}

/// One client: create a key, then rotate every key it made whose number
/// leaves 1 modulo 3 and revoke those leaving 2, until the server dies.
async fn write_until_killed(
    base: String,
    admin: String,
    client: usize,
    ledger: Arc<Mutex<Ledger>>,
) {
    let http = http_client();
    let keys_url = format!("{base}/api/v1/workspaces/default/keys");
    let send = |request: reqwest::RequestBuilder| async {
        let response = request
            .bearer_auth(&admin)
            .timeout(Duration::from_secs(10))
            .send()
            .await
            .ok()?;
        let status = response.status();
        Some((
            status,
            response.json::<Value>().await.unwrap_or(Value::Null),
        ))
    };
    let mark = |id: &str, heard: Heard| {
        let mut ledger = ledger.lock().unwrap();
        ledger.keys.insert(id.to_owned(), heard);
    };
    for n in 0.. {
        let name = format!("crash-{client}-{n}");
        let body = json!({ "name": name, "kind": "workspace" });
        let Some((StatusCode::CREATED, created)) = send(http.post(&keys_url).json(&body)).await
        else {
            return;
        };
        let id = created["id"].as_str().unwrap().to_owned();
        let secret = created["secret"].as_str().unwrap().to_owned();
        mark(&id, Heard::Live(secret.clone()));
        ledger.lock().unwrap().acknowledged += 1;
        match n % 3 {
            1 => {
                mark(&id, Heard::InFlight);
                let rotate = http.post(format!("{keys_url}/{id}/rotate"));
                let Some((StatusCode::OK, rotated)) = send(rotate).await else {
                    return;
                };
                let mut ledger = ledger.lock().unwrap();
                let new = rotated["secret"].as_str().unwrap().to_owned();
                ledger.keys.insert(id, Heard::Live(new));
                ledger.retired.push(secret);
                ledger.acknowledged += 1;
            }
            2 => {
                mark(&id, Heard::InFlight);
                let Some((StatusCode::NO_CONTENT, _)) =
                    send(http.delete(format!("{keys_url}/{id}"))).await
                else {
                    return;
                };
                let mut ledger = ledger.lock().unwrap();
                ledger.keys.insert(id, Heard::Revoked(secret));
                ledger.acknowledged += 1;
            }
            _ => {}
        }
    }
}

async fn exchange(http: &reqwest::Client, base: &str, secret: &str) -> StatusCode {
    http.post(format!("{base}/auth/token"))
        .bearer_auth(secret)
        .send()
        .await
        .expect("the restarted server answers")
        .status()
}

/// The uses of `key_id` stored in the database (flushed, nothing pending).
fn stored_uses(db: &TestDb, key_id: &str) -> i64 {
    use keymint::db::schema::api_key_usage;
    let pool = keymint::db::connect(&db.url, 1).unwrap();
    let id = key_id.to_owned();
    keymint::db::with_connection(&pool, move |conn| {
        Ok(api_key_usage::table
            .find(id)
            .select(api_key_usage::usage_count)
            .first::<i64>(conn)?)
    })
    .unwrap()
}

/// Before the kill: `FLUSHED` uses that a flush has written, then
/// `PENDING` more that none has yet.
const FLUSHED: i64 = 5;
const PENDING: i64 = 3;

async fn acknowledged_writes_survive_kill_9(backend: Backend) {
    let Some(db) = TestDb::create(backend) else {
        return;
    };
    let keys_dir = tempfile::tempdir().unwrap();
    let mut served = serve(&db, keys_dir.path(), "warn");
    let admin = served.secret.clone();
    let http = http_client();

    // Usage: counted in memory, flushed every 5 s.
    let (status, counted) = crate::helpers::status_and_json(
        http.post(served.url("/api/v1/workspaces/default/keys"))
            .bearer_auth(&admin)
            .json(&json!({ "name": "counted", "kind": "workspace" }))
            .send()
            .await
            .unwrap(),
    )
    .await;
    assert_eq!(status, 201, "{counted}");
    let (counted_id, counted) = (
        counted["id"].as_str().unwrap().to_owned(),
        counted["secret"].as_str().unwrap().to_owned(),
    );
    for _ in 0..FLUSHED {
        assert_eq!(exchange(&http, &served.base, &counted).await, 200);
    }
    let flushed = crate::helpers::eventually(
        Duration::from_secs(15),
        "a flush of the first uses",
        || async { (stored_uses(&db, &counted_id) == FLUSHED).then_some(()) },
    );
    flushed.await;
    for _ in 0..PENDING {
        assert_eq!(exchange(&http, &served.base, &counted).await, 200);
    }

    let ledger = Arc::new(Mutex::new(Ledger::default()));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|client| {
            tokio::spawn(write_until_killed(
                served.base.clone(),
                admin.clone(),
                client,
                ledger.clone(),
            ))
        })
        .collect();
    let started = Instant::now();
    while ledger.lock().unwrap().acknowledged < ACKNOWLEDGED_BEFORE_KILL
        && started.elapsed() < WRITING_AT_MOST
    {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    served.signal("KILL");
    let status = served.wait_for_exit(Duration::from_secs(10));
    assert!(!status.success(), "killed, not stopped: {status:?}");
    for client in clients {
        client.await.unwrap();
    }

    let served = serve_again(&db, keys_dir.path(), &admin);
    // What was flushed survives; at most the uses since the last flush
    // (one flush period's) are lost.
    let uses = stored_uses(&db, &counted_id);
    assert!(
        (FLUSHED..=FLUSHED + PENDING).contains(&uses),
        "{uses} uses stored"
    );
    let ledger = Arc::into_inner(ledger).unwrap().into_inner().unwrap();
    assert!(
        ledger.acknowledged >= ACKNOWLEDGED_BEFORE_KILL,
        "only {} writes",
        ledger.acknowledged
    );
    let (mut live, mut revoked) = (0, 0);
    for (id, heard) in &ledger.keys {
        match heard {
            Heard::Live(secret) => {
                assert_eq!(exchange(&http, &served.base, secret).await, 200, "key {id}");
                live += 1;
            }
            Heard::Revoked(secret) => {
                assert_eq!(exchange(&http, &served.base, secret).await, 401, "key {id}");
                revoked += 1;
            }
            Heard::InFlight => {}
        }
    }
    for secret in &ledger.retired {
        assert_eq!(
            exchange(&http, &served.base, secret).await,
            401,
            "a rotated-away secret"
        );
    }
    assert!(
        live > 0 && revoked > 0 && !ledger.retired.is_empty(),
        "{live} live, {revoked} revoked"
    );
    assert_eq!(exchange(&http, &served.base, &admin).await, 200);

    if backend == Backend::Sqlite {
        let path = db.url.trim_start_matches("sqlite://");
        let mut conn = diesel::SqliteConnection::establish(path).unwrap();
        #[derive(QueryableByName)]
        struct Check {
            #[diesel(sql_type = diesel::sql_types::Text)]
            integrity_check: String,
        }
        let check: Check = diesel::sql_query("PRAGMA integrity_check")
            .get_result(&mut conn)
            .unwrap();
        assert_eq!(check.integrity_check, "ok");
    }
}

crate::on_both_backends!(acknowledged_writes_survive_kill_9);
