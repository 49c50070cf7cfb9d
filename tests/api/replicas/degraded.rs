//! SPEC: when the shared store is unreachable, limits fall back to each
//! replica, never to no limit and never to refusing every request, say so
//! in `/metrics`, and become shared again by themselves.
//!
//! The store is the machine's Redis behind a forwarder the test cuts.

use std::time::{Duration, Instant};

use super::proxy::{CutProxy, redis_address};
use super::{Cluster, Store, own_ip, redis_url};
use crate::helpers::{eventually, metric_sample};

const LIMIT: u32 = 20;

/// `/metrics` of one replica, as text.
async fn metrics(cluster: &Cluster, replica: usize) -> String {
    let url = cluster.url(replica, "/metrics");
    let response = cluster.app.client.get(url).send().await.unwrap();
    response.text().await.unwrap()
}

async fn wait_for_mode(cluster: &Cluster, replica: usize, mode: &str) {
    let series = format!("keymint_shared_limits{{mode=\"{mode}\"}}");
    eventually(Duration::from_secs(10), &series, || async {
        let text = metrics(cluster, replica).await;
        (metric_sample(&text, &series) == Some(1.0)).then_some(())
    })
    .await;
}

/// Times the replicas lost the store since they started.
fn fallbacks(cluster: &Cluster) -> u64 {
    (cluster.states.iter())
        .map(|state| state.shared.as_ref().map_or(0, |s| s.fallbacks()))
        .sum()
}

/// A burst of twice the limit on every replica at once, on a fresh key:
/// the successes per replica, and how long the burst took.
async fn burst(cluster: &Cluster) -> (Vec<usize>, Duration) {
    let (_, secret) = cluster.key_limited_to(LIMIT).await;
    let ip = own_ip();
    let started = Instant::now();
    let tasks: Vec<Vec<_>> = (0..cluster.bases.len())
        .map(|replica| {
            (0..2 * LIMIT)
                .map(|_| cluster.exchange_task(replica, secret.expose(), &ip))
                .collect()
        })
        .collect();
    let mut passed = Vec::new();
    for replica in tasks {
        let mut ok = 0;
        for task in replica {
            match task.await.unwrap() {
                200 => ok += 1,
                429 => {}
                other => panic!("only 200 and 429 are expected, got {other}"),
            }
        }
        passed.push(ok);
    }
    (passed, started.elapsed())
}

/// The most a bucket of `LIMIT` lets through in `elapsed`: full, then
/// refilling at the limit.
fn refill(elapsed: Duration) -> usize {
    (f64::from(LIMIT) * elapsed.as_secs_f64()).ceil() as usize
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_fall_back_to_each_replica_while_redis_is_out_of_reach_and_come_back() {
    let Some(url) = redis_url() else {
        return;
    };
    let (address, path) = redis_address(&url);
    let proxy = CutProxy::start(address).await;
    let through_proxy = format!("redis://127.0.0.1:{}{path}", proxy.port);
    let Some(cluster) = Cluster::start_with(Store::Redis, 2, Some(through_proxy)).await else {
        return;
    };
    let limit = LIMIT as usize;
    for replica in 0..2 {
        wait_for_mode(&cluster, replica, "shared").await;
    }
    // Shared: one bucket for both replicas.
    one_bucket_for_both(&cluster, "shared").await;

    proxy.cut();
    for replica in 0..2 {
        wait_for_mode(&cluster, replica, "per_replica").await;
        let text = metrics(&cluster, replica).await;
        let fallbacks = metric_sample(&text, "keymint_shared_limits_fallbacks_total");
        assert!(fallbacks >= Some(1.0), "{fallbacks:?}");
    }
    // Each replica limits on its own: a full bucket each, and a limit.
    let (alone, elapsed) = burst(&cluster).await;
    eprintln!(
        "degraded test, per replica: {alone:?} passed of {} each in {elapsed:?}",
        2 * LIMIT
    );
    for passed in &alone {
        assert!(
            (limit..=limit + refill(elapsed)).contains(passed),
            "per replica: {alone:?} in {elapsed:?}"
        );
    }

    proxy.restore();
    for replica in 0..2 {
        wait_for_mode(&cluster, replica, "shared").await;
    }
    one_bucket_for_both(&cluster, "shared again").await;
}

/// A burst on both replicas passes one bucket's worth in all, and at most
/// the half bucket more that the other replica may admit from its view of
/// the full bucket (the store's bucket and each view refill meanwhile),
/// with the store reachable throughout. Per replica it would be two.
async fn one_bucket_for_both(cluster: &Cluster, phase: &str) {
    let limit = LIMIT as usize;
    let lost = fallbacks(cluster);
    let (passed, elapsed) = burst(cluster).await;
    assert_eq!(
        fallbacks(cluster),
        lost,
        "{phase}: the store was lost during the burst"
    );
    eprintln!(
        "degraded test, {phase}: {passed:?} passed of {} each in {elapsed:?}",
        2 * LIMIT
    );
    let total: usize = passed.iter().sum();
    assert!(
        (limit..=limit * 3 / 2 + 2 * refill(elapsed)).contains(&total),
        "{phase}: {passed:?} in {elapsed:?}"
    );
}
