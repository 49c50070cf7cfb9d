//! Replicas that act as one service: one rate limit per key and one
//! failure throttle across all of them, usage summed, revocation seen at
//! once. Each test runs on every way limits can be kept: in memory (SQLite,
//! one node), in PostgreSQL, and in Redis (`KEYMINT_TEST_REDIS_URL`, the
//! machine's real one); a store that is not configured is skipped, said on
//! stderr.
//!
//! Clients are told apart by `X-Forwarded-For` (the test client is a
//! trusted proxy): Redis is shared by every test of the run, and each test
//! uses addresses of its own.

mod accuracy;
mod degraded;
mod proxy;

use keymint::api_keys::KeyKind;
use keymint::exchange::FAILURES_PER_IP;
use keymint::secrets::Secret;
use reqwest::Method;
use serde_json::json;

use crate::helpers::{
    Backend, TestApp, exchange_bearer, exchange_until_a_cache_hit, spawn_app_with, status_and_json,
};

pub const REDIS_ENV: &str = "KEYMINT_TEST_REDIS_URL";

/// Where the replicas of a test keep their shared limits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Store {
    /// SQLite: one node, limits in memory.
    Memory,
    Postgres,
    /// PostgreSQL for the data, Redis for the limits.
    Redis,
}

/// The machine's Redis, or `None` (said on stderr) when not configured.
pub fn redis_url() -> Option<String> {
    let url = std::env::var(REDIS_ENV).ok();
    if url.is_none() {
        eprintln!("note: {REDIS_ENV} is not set; skipping the Redis run");
    }
    url
}

/// `replicas` servers on one database, with `redis_url` for limits when
/// given; the first is the [`TestApp`].
pub struct Cluster {
    pub app: TestApp,
    /// Every replica's base URL, the app's first.
    pub bases: Vec<String>,
    pub states: Vec<actix_web::web::Data<keymint::state::AppState>>,
}

impl Cluster {
    pub async fn start(store: Store, replicas: usize) -> Option<Self> {
        let redis = match store {
            Store::Redis => Some(redis_url()?),
            _ => None,
        };
        Self::start_with(store, replicas, redis).await
    }

    /// [`Cluster::start`] with limits in the Redis at `redis`.
    pub async fn start_with(store: Store, replicas: usize, redis: Option<String>) -> Option<Self> {
        assert!(
            store != Store::Memory || replicas == 1,
            "SQLite is one node"
        );
        let backend = match store {
            Store::Memory => Backend::Sqlite,
            Store::Postgres | Store::Redis => Backend::Postgres,
        };
        let adjust = |config: &mut keymint::config::Config| {
            config.trusted_proxies = vec!["127.0.0.1/32".parse().unwrap()];
            config.redis_url.clone_from(&redis);
        };
        let app = spawn_app_with(backend, adjust).await?;
        let mut bases = vec![app.base.clone()];
        let mut states = vec![app.state.clone()];
        for _ in 1..replicas {
            let replica = app.replica_with(adjust).await;
            bases.push(replica.base);
            states.push(replica.state);
        }
        Some(Self { app, bases, states })
    }

    pub fn url(&self, replica: usize, path: &str) -> String {
        format!("{}{path}", self.bases[replica % self.bases.len()])
    }

    /// A key of the bootstrap workspace with `rate_limit` req/s.
    pub async fn key_limited_to(&self, rate_limit: u32) -> (String, Secret) {
        self.app
            .insert_key(move |key| key.rate_limit = Some(i32::try_from(rate_limit).unwrap()))
            .await
    }

    /// `POST /auth/token` with `secret`, on `replica`, from `ip`: the status.
    pub async fn exchange(&self, replica: usize, secret: &str, ip: &str) -> u16 {
        self.exchange_task(replica, secret, ip).await.unwrap()
    }

    /// [`Cluster::exchange`] sent at once, answered by the task.
    pub fn exchange_task(
        &self,
        replica: usize,
        secret: &str,
        ip: &str,
    ) -> tokio::task::JoinHandle<u16> {
        let request = self
            .app
            .client
            .post(self.url(replica, "/auth/token"))
            .bearer_auth(secret)
            .header("X-Forwarded-For", ip);
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) => response.status().as_u16(),
                Err(error) => panic!("request: {error:?}"),
            }
        })
    }

    /// Flushes every replica's usage counts, as each does every few seconds.
    pub async fn flush_usage(&self) {
        for state in &self.states {
            let state = state.clone();
            tokio::task::spawn_blocking(move || state.usage.flush(&state.pool))
                .await
                .unwrap()
                .expect("usage flushed");
        }
    }
}

/// An address of this test's own, so tests sharing one Redis never count
/// each other's failures.
pub fn own_ip() -> String {
    let [a, b, c, ..] = *uuid::Uuid::new_v4().as_bytes();
    format!("10.{a}.{b}.{}", c.max(1))
}

fn unknown_secret() -> String {
    Secret::generate(KeyKind::Workspace)
        .unwrap()
        .expose()
        .to_owned()
}

/// Wrong secrets from one address, round robin over the replicas: how many
/// are answered 401 before the first 429. Then every replica refuses that
/// address, and the right secret from another address still passes on each.
async fn failures_until_throttled(cluster: &Cluster) -> usize {
    let guesser = own_ip();
    let mut failures = 0;
    let mut statuses = Vec::new();
    for attempt in 0..usize::try_from(FAILURES_PER_IP).unwrap() * 2 {
        let status = cluster.exchange(attempt, &unknown_secret(), &guesser).await;
        statuses.push(status);
        match status {
            401 => failures += 1,
            429 => break,
            other => panic!("{other} after {statuses:?}"),
        }
    }
    let secret = &cluster.app.bootstrap.secret;
    let bystander = own_ip();
    for replica in 0..cluster.bases.len() {
        assert_eq!(cluster.exchange(replica, secret, &guesser).await, 429);
        assert_eq!(cluster.exchange(replica, secret, &bystander).await, 200);
    }
    failures
}

/// SPEC: one failure throttle across all replicas: a guesser spread over
/// three is stopped after the same count as on one.
async fn failed_exchanges_are_throttled_after_the_same_count_on_any_replicas(store: Store) {
    let Some(one) = Cluster::start(store, 1).await else {
        return;
    };
    let expected = usize::try_from(FAILURES_PER_IP).unwrap();
    let on_one = crate::throttling::within_one_minute(|_| failures_until_throttled(&one)).await;
    assert_eq!(on_one, expected);
    if store == Store::Memory {
        return;
    }
    let Some(three) = Cluster::start(store, 3).await else {
        return;
    };
    let on_three = crate::throttling::within_one_minute(|_| failures_until_throttled(&three)).await;
    assert_eq!(on_three, expected, "three replicas, one throttle");
}

/// SPEC: usage counts summed across replicas, exactly, once each flushed.
async fn usage_counts_sum_across_replicas(store: Store) {
    let replicas = if store == Store::Memory { 1 } else { 3 };
    let Some(cluster) = Cluster::start(store, replicas).await else {
        return;
    };
    let (key_id, secret) = cluster.key_limited_to(1000).await;
    let ip = own_ip();
    let mut sent = 0;
    for replica in 0..replicas {
        // 5, 6 and 7 uses.
        for _ in 0..5 + replica {
            assert_eq!(cluster.exchange(replica, secret.expose(), &ip).await, 200);
            sent += 1;
        }
    }
    cluster.flush_usage().await;
    let (stored, last_used) = crate::helpers::usage_of(&cluster.app, &key_id).await;
    assert_eq!(stored, sent);
    assert!(last_used.is_some());
    // Every replica reads the sum.
    for replica in 0..replicas {
        let path = cluster.app.ws_path(&format!("/keys/{key_id}"));
        let response = cluster
            .app
            .client
            .get(cluster.url(replica, &path))
            .bearer_auth(&cluster.app.bootstrap.secret)
            .send()
            .await
            .unwrap();
        let (status, body) = status_and_json(response).await;
        assert_eq!(status, 200, "{body}");
        assert_eq!(body["usage_count"], json!(sent), "{body}");
    }
}

/// SPEC: a revocation is refused at once on every replica, even on those
/// that answer the key from their cache.
async fn a_revocation_is_refused_on_the_next_request_on_every_replica(store: Store) {
    let replicas = if store == Store::Memory { 1 } else { 3 };
    let Some(cluster) = Cluster::start(store, replicas).await else {
        return;
    };
    let (key_id, secret) = cluster.key_limited_to(1000).await;
    let client = &cluster.app.client;
    for base in &cluster.bases {
        exchange_until_a_cache_hit(client, base, secret.expose()).await;
    }
    let revoke = cluster.app.ws_path(&format!("/keys/{key_id}"));
    let admin = &cluster.app.bootstrap.secret;
    let (status, body) = cluster.app.call(Method::DELETE, &revoke, admin, None).await;
    assert_eq!(status, 204, "{body}");
    for base in &cluster.bases {
        let answer = exchange_bearer(client, &format!("{base}/auth/token"), secret.expose()).await;
        assert_eq!(answer.status(), 401, "revoked, on {base}");
    }
    // The control: the other keys still work everywhere.
    for base in &cluster.bases {
        let answer = exchange_bearer(
            client,
            &format!("{base}/auth/token"),
            &cluster.app.bootstrap.secret,
        )
        .await;
        assert_eq!(answer.status(), 200);
    }
}

/// `on_both_backends!` for the three stores.
macro_rules! on_every_store {
    ($($name:ident),* $(,)?) => {
        mod memory {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Memory).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Postgres).await;
                }
            )*
        }
        mod redis {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name(super::Store::Redis).await;
                }
            )*
        }
    };
}
pub(crate) use on_every_store;

on_every_store!(
    failed_exchanges_are_throttled_after_the_same_count_on_any_replicas,
    usage_counts_sum_across_replicas,
    a_revocation_is_refused_on_the_next_request_on_every_replica,
);
