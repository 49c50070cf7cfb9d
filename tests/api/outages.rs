//! The database going away under a running server, and coming back. The
//! outage is this test's own database refusing every connection and ending
//! the open ones (`TestDb::set_postgres_reachable`), so other tests' servers
//! keep theirs.

use std::time::{Duration, Instant};

use keymint::db::auth_version::{CHECK_PERIOD, LEASE};
use reqwest::Method;
use serde_json::json;

use crate::helpers::{Backend, assert_error, eventually, spawn_app, usage_of};

/// The pool's checkout timeout is 3 s: an answer well inside it came from
/// a server that knew the database was down, not from one that waited.
const FAST: Duration = Duration::from_secs(1);

/// During an outage: no 200 for a key revoked just before it, 503
/// `unavailable` within the cache's lease and quickly, never a 500. After
/// it: exchanges and the API work again with no restart, every pooled
/// connection renewed, and the uses counted before it flushed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_an_outage_fails_closed_at_once_and_heals_by_itself() {
    let Some(app) = spawn_app(Backend::Postgres).await else {
        return;
    };
    let live = app.bootstrap.secret.clone();
    let victim = app
        .create_key(json!({ "name": "victim", "kind": "workspace" }))
        .await;
    let (victim_id, victim) = (
        victim["id"].as_str().unwrap().to_owned(),
        victim["secret"].as_str().unwrap().to_owned(),
    );
    for secret in [&live, &victim] {
        for _ in 0..3 {
            assert_eq!(app.exchange_bearer(secret).await.status(), 200);
        }
    }
    let (status, _) = app
        .call(
            Method::DELETE,
            &app.ws_path(&format!("/keys/{victim_id}")),
            &live,
            None,
        )
        .await;
    assert_eq!(status, 204);
    assert_error(app.exchange_bearer(&victim).await, 401, "invalid_api_key").await;
    let (_, me) = app.call(Method::GET, "/api/v1/me", &live, None).await;
    let live_id = me["key"]["id"].as_str().expect("the key's id").to_owned();

    app.db.set_postgres_reachable(false);
    let outage = Instant::now();
    // Within the lease (plus a check period and slack for a loaded
    // machine), the cached live key stops answering.
    eventually(
        LEASE + CHECK_PERIOD + Duration::from_secs(1),
        "503 for the cached key",
        || async { (app.exchange_bearer(&live).await.status() == 503).then_some(()) },
    )
    .await;
    // From then on, for a while: every answer is a quick 503, whatever
    // the credential and the route.
    let mut answered = 0;
    while outage.elapsed() < Duration::from_secs(3) {
        for secret in [&live, &victim] {
            let sent = Instant::now();
            let answer = app.exchange_bearer(secret).await;
            assert!(sent.elapsed() < FAST, "took {:?}", sent.elapsed());
            assert_error(answer, 503, "unavailable").await;
            answered += 1;
        }
        let sent = Instant::now();
        let (status, body) = app
            .call(Method::GET, &app.ws_path("/keys"), &live, None)
            .await;
        assert!(sent.elapsed() < FAST, "took {:?}", sent.elapsed());
        assert_eq!((status, body["error"].as_str()), (503, Some("unavailable")));
    }
    assert!(answered > 10, "{answered} answers during the outage");

    app.db.set_postgres_reachable(true);
    eventually(Duration::from_secs(10), "200 after the outage", || async {
        (app.exchange_bearer(&live).await.status() == 200).then_some(())
    })
    .await;
    assert_error(app.exchange_bearer(&victim).await, 401, "invalid_api_key").await;
    // Every pooled connection predates the outage: none may fail a request.
    for _ in 0..2 * app.state.pool.max_size() {
        let (status, body) = app
            .call(Method::GET, &app.ws_path("/keys"), &live, None)
            .await;
        assert_eq!(status, 200, "{body}");
    }
    let state = app.state.clone();
    tokio::task::spawn_blocking(move || state.usage.flush(&state.pool))
        .await
        .unwrap()
        .unwrap();
    let (uses, _) = usage_of(&app, &live_id).await;
    assert!(uses >= 4, "{uses} uses flushed");
}

/// A tmpfs of its own, so a test can fill a disk without touching
/// anything else. Needs root (CI and this machine run as root); elsewhere
/// the test says so and returns.
struct SmallDisk {
    dir: tempfile::TempDir,
}

impl SmallDisk {
    fn mount(size: &str) -> Option<Self> {
        let dir = tempfile::tempdir().ok()?;
        let mounted = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(dir.path())
            .stderr(std::process::Stdio::null())
            .status()
            .is_ok_and(|status| status.success());
        mounted.then_some(Self { dir })
    }

    fn remount(&self, options: &str) {
        let status = std::process::Command::new("mount")
            .args(["-o", &format!("remount,{options}")])
            .arg(self.dir.path())
            .status()
            .unwrap();
        assert!(status.success(), "remount {options}");
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        // Lazy: the server may still hold the files open.
        let _ = std::process::Command::new("umount")
            .arg("-l")
            .arg(self.dir.path())
            .status();
    }
}

/// SQLite on a disk that fills up, then gets room again: every write it
/// cannot make is 503 `unavailable` (never a 500), every key it
/// acknowledged is stored and nothing else, the file stays sound, and once
/// the disk has room writes work again with no restart. (A read-only
/// remount is refused while the server holds its files open for writing,
/// so SQLite's read-only error is covered by the mapping's unit test.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_a_full_disk_answers_503_and_corrupts_nothing() {
    let Some(disk) = SmallDisk::mount("2m") else {
        eprintln!("note: cannot mount a tmpfs (needs root); skipping");
        return;
    };
    let path = disk.dir.path().join("keymint.db");
    let url = format!("sqlite://{}", path.display());
    let Some(app) = crate::helpers::spawn_app_with(Backend::Sqlite, |config| {
        config.database_url = url.clone();
    })
    .await
    else {
        return;
    };
    let keys = app.ws_path("/keys");
    let create = |n: usize| {
        let body =
            json!({ "name": format!("filler {n} {}", "x".repeat(150)), "kind": "workspace" });
        app.call(Method::POST, &keys, &app.bootstrap.secret, Some(body))
    };
    let mut created = 0;
    let refused = loop {
        let (status, body) = create(created).await;
        match status {
            201 => created += 1,
            _ => break (status, body),
        }
        assert!(created < 20_000, "the disk never filled");
    };
    assert_eq!(
        (refused.0, refused.1["error"].as_str()),
        (503, Some("unavailable")),
        "{}",
        refused.1
    );
    assert!(created > 10, "{created} keys fitted");
    // Reads still work on a full disk.
    assert_eq!(
        app.exchange_bearer(&app.bootstrap.secret).await.status(),
        200
    );

    // Still full: still 503, still no 500.
    let (status, body) = create(created).await;
    assert_eq!(
        (status, body["error"].as_str()),
        (503, Some("unavailable")),
        "{body}"
    );

    disk.remount("size=16m");
    let (status, body) = eventually(
        Duration::from_secs(5),
        "a write after the disk came back",
        || async {
            let (status, body) = create(created).await;
            (status != 503).then_some((status, body))
        },
    )
    .await;
    assert_eq!(status, 201, "{body}");
    let (status, page) = app
        .call(
            Method::GET,
            &app.ws_path("/keys?limit=1"),
            &app.bootstrap.secret,
            None,
        )
        .await;
    assert_eq!(status, 200, "{page}");

    // Exactly the acknowledged keys (the bootstrap key, the fillers, the
    // one after the disk came back), and a sound file.
    let stored = app
        .with_db(|conn| {
            use diesel::prelude::*;
            use keymint::db::schema::api_keys;
            Ok(api_keys::table.count().get_result::<i64>(conn)?)
        })
        .await;
    assert_eq!(stored, i64::try_from(created).unwrap() + 2);
    let integrity = app
        .with_db(|conn| {
            use diesel::prelude::*;
            #[derive(QueryableByName)]
            struct Check {
                #[diesel(sql_type = diesel::sql_types::Text)]
                integrity_check: String,
            }
            Ok(diesel::sql_query("PRAGMA integrity_check").get_result::<Check>(conn)?)
        })
        .await;
    assert_eq!(integrity.integrity_check, "ok");
}
