//! The accuracy matrix of SPEC ("Operations"), after Unkey's multi-node
//! rate-limit tests: 1 and 3 replicas x limits of 5 and 50 req/s x a load
//! of 0.9 and 2 times the limit, spread round robin over the replicas.
//! Once a burst has emptied the key's bucket, the successes in 5 s must be
//! at least 95 % of what could pass (5L, or all that was sent when that is
//! less) and at most 5L x (1 + 0.1 N).
//!
//! Requests go out on a fixed schedule, each without waiting for the one
//! before, so a slow answer does not slow the load down; the server's
//! answers alone decide the counts.

use std::time::Duration;

use tokio::time::{Instant, sleep_until};

use super::{Cluster, Store, on_every_store, own_ip};

const SECONDS: f64 = 5.0;

/// One cell of the matrix, as measured.
#[derive(Debug)]
struct Cell {
    replicas: usize,
    limit: u32,
    load: f64,
    sent: usize,
    passed: usize,
}

impl Cell {
    /// SPEC's range for this cell.
    fn range(&self) -> (usize, usize) {
        let could_pass = (SECONDS * f64::from(self.limit)).min(self.sent as f64);
        let lowest = (0.95 * could_pass).ceil() as usize;
        let most = SECONDS * f64::from(self.limit) * (1.0 + 0.1 * self.replicas as f64);
        (lowest, most.floor() as usize)
    }
}

/// Sends bursts of `limit` at once until one is refused: the bucket is empty.
async fn empty_the_bucket(cluster: &Cluster, secret: &str, limit: u32, ip: &str) {
    for _ in 0..10 {
        let burst: Vec<_> = (0..limit as usize)
            .map(|i| cluster.exchange_task(i, secret, ip))
            .collect();
        let mut refused = false;
        for answer in burst {
            refused |= answer.await.unwrap() == 429;
        }
        if refused {
            return;
        }
    }
    panic!("ten bursts of {limit} and no refusal");
}

async fn measure(cluster: &Cluster, limit: u32, load: f64) -> Cell {
    let (_, secret) = cluster.key_limited_to(limit).await;
    let secret = secret.expose().to_owned();
    let ip = own_ip();
    empty_the_bucket(cluster, &secret, limit, &ip).await;
    let every = Duration::from_secs_f64(1.0 / (load * f64::from(limit)));
    let count = (SECONDS / every.as_secs_f64()).floor() as usize;
    // One step after the burst, so the schedule starts where the key's
    // traffic would have gone on.
    let start = Instant::now() + every;
    let mut answers = Vec::with_capacity(count);
    for i in 0..count {
        sleep_until(start + every * u32::try_from(i).unwrap()).await;
        answers.push(cluster.exchange_task(i, &secret, &ip));
    }
    let mut passed = 0;
    let sent_by = Instant::now();
    for answer in answers {
        match answer.await.unwrap() {
            200 => passed += 1,
            429 => {}
            other => panic!("only 200 and 429 are expected, got {other}"),
        }
    }
    eprintln!(
        "limit {limit} load {load}: schedule {:?}, sent by {:?}, answered by {:?}",
        every * u32::try_from(count).unwrap(),
        sent_by - start,
        Instant::now() - start
    );
    Cell {
        replicas: cluster.bases.len(),
        limit,
        load,
        sent: count,
        passed,
    }
}

/// The four cells of one replica count, at once on four keys (their
/// buckets are apart), checked together so a failure shows the whole row.
/// One matrix row at a time: the rows measure timing, and six of them at
/// once on two cores would mostly measure each other.
static ONE_ROW_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn cells_within_specs_range(store: Store, replicas: usize) {
    // Taken before the replicas start: rows waiting with their replicas up
    // would hold PostgreSQL connections the other tests need.
    let _alone = ONE_ROW_AT_A_TIME.lock().await;
    let Some(cluster) = Cluster::start(store, replicas).await else {
        return;
    };
    let (a, b, c, d) = tokio::join!(
        measure(&cluster, 5, 0.9),
        measure(&cluster, 5, 2.0),
        measure(&cluster, 50, 0.9),
        measure(&cluster, 50, 2.0),
    );
    let cells = [a, b, c, d];
    let fallbacks: Vec<u64> = (cluster.states.iter())
        .map(|state| state.shared.as_ref().map_or(0, |s| s.fallbacks()))
        .collect();
    eprintln!("accuracy {store:?}: fallbacks to per replica {fallbacks:?}");
    let mut outside = Vec::new();
    for cell in &cells {
        let (lowest, most) = cell.range();
        eprintln!(
            "accuracy {store:?}: {} replicas, limit {}, load {}: {} of {} passed (range {lowest}..={most})",
            cell.replicas, cell.limit, cell.load, cell.passed, cell.sent
        );
        if !(lowest..=most).contains(&cell.passed) {
            outside.push(cell);
        }
    }
    assert!(outside.is_empty(), "outside SPEC's range: {outside:?}");
}

async fn one_replica_limits_within_specs_range(store: Store) {
    cells_within_specs_range(store, 1).await;
}

on_every_store!(one_replica_limits_within_specs_range);

// SQLite is one node: three replicas share PostgreSQL, limits in it or in Redis.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_three_replicas_limit_as_one_within_specs_range() {
    cells_within_specs_range(Store::Postgres, 3).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn redis_three_replicas_limit_as_one_within_specs_range() {
    cells_within_specs_range(Store::Redis, 3).await;
}
