//! The exchange benchmark: `bash bench/run.sh` (see bench/README.md).
//!
//! For each backend and key count: a fresh database seeded through the
//! library; then, for each number of keys in use (all of them, and `--hot`
//! of them when there are more), the release binary started on it,
//! exchanges at saturation (closed loop), then p50/p99 at half that rate
//! (open loop), the server's CPU time per exchange and its peak RSS; and
//! ring's ES256 signing rate as the floor. Not part of `cargo test`: a
//! `harness = false` bench target.

mod floor;
mod load;
mod seed;
mod server;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;

#[derive(Parser)]
#[command(about = "keymint exchange benchmark")]
struct Args {
    /// The keymint binary to start (build it with --release first).
    #[arg(long, default_value = "target/release/keymint")]
    server: PathBuf,
    #[arg(long, value_delimiter = ',', default_value = "sqlite,postgres")]
    backends: Vec<String>,
    #[arg(long, value_delimiter = ',', default_value = "1000,1000000")]
    keys: Vec<usize>,
    /// Keys in use in the extra run of a database with more keys than
    /// this: the traffic of a store where most keys sit idle, which the
    /// key cache holds. Every database also runs with all its keys in use.
    #[arg(long, default_value_t = 1000)]
    hot: usize,
    /// PostgreSQL server, without a database name: one is created per run.
    #[arg(long, default_value = "postgres://postgres@127.0.0.1:5432")]
    postgres: String,
    /// Length of each measured run.
    #[arg(long, default_value_t = 5)]
    seconds: u64,
    /// Keep-alive connections of the load generator.
    #[arg(long, default_value_t = 32)]
    connections: usize,
    // `cargo bench` passes --bench to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

struct Row {
    backend: String,
    keys: usize,
    in_use: usize,
    saturation: f64,
    errors: u64,
    p50_ms: f64,
    p99_ms: f64,
    half_rate: f64,
    cpu_us: f64,
    rss_mib: f64,
}

fn main() {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let seconds = Duration::from_secs(args.seconds);
    let mut rows = Vec::new();
    for backend in &args.backends {
        for &keys in &args.keys {
            rows.extend(runtime.block_on(scenario(&args, backend, keys, seconds)));
        }
    }
    let one = floor::es256_signs_per_second(1, Duration::from_secs(2));
    let two = floor::es256_signs_per_second(2, Duration::from_secs(2));
    print_report(&rows, one, two);
}

async fn scenario(args: &Args, backend: &str, keys: usize, seconds: Duration) -> Vec<Row> {
    let db = match backend {
        "sqlite" => seed::BenchDb::sqlite(),
        "postgres" => seed::BenchDb::postgres(&args.postgres),
        other => panic!("unknown backend {other}: sqlite or postgres"),
    };
    let seeding = Instant::now();
    let secrets = seed::seed(&db, keys);
    eprintln!(
        "{backend}: {keys} keys inserted in {:.1?}",
        seeding.elapsed()
    );
    let mut in_use = vec![args.hot.min(keys), keys];
    in_use.dedup();
    let mut rows = Vec::new();
    for in_use in in_use {
        // The first keys: the seed gives each a random secret, so any
        // `in_use` of them are as good as a random sample.
        let used = Arc::new(secrets[..in_use].to_vec());
        rows.push(run(args, &db, backend, keys, used, seconds).await);
    }
    rows
}

/// One row: a fresh server on `db`, exchanging the `secrets` given.
async fn run(
    args: &Args,
    db: &seed::BenchDb,
    backend: &str,
    keys: usize,
    secrets: Arc<Vec<String>>,
    seconds: Duration,
) -> Row {
    let in_use = secrets.len();
    let server = server::Server::start(&args.server, &db.url);
    let addr = server.addr.clone();

    // Warm-up: connections, caches, the pool.
    load::saturate(
        &addr,
        secrets.clone(),
        args.connections,
        Duration::from_secs(1),
    )
    .await;
    let cpu_before = server.cpu_micros();
    let saturated = load::saturate(&addr, secrets.clone(), args.connections, seconds).await;
    let cpu_used = server.cpu_micros() - cpu_before;
    let rate = saturated.per_second();
    eprintln!(
        "{backend}/{keys} ({in_use} in use): {rate:.0} exchanges/s at saturation ({} errors)",
        saturated.errors
    );
    let mut half = load::paced(&addr, secrets, args.connections, seconds, rate / 2.0).await;
    let row = Row {
        backend: backend.to_owned(),
        keys,
        in_use,
        saturation: rate,
        errors: saturated.errors + half.errors,
        p50_ms: half.percentile_ms(50.0),
        p99_ms: half.percentile_ms(99.0),
        half_rate: half.per_second(),
        cpu_us: cpu_used as f64 / saturated.ok.max(1) as f64,
        rss_mib: server.peak_rss_kib() as f64 / 1024.0,
    };
    server.stop();
    row
}

fn print_report(rows: &[Row], one_core: f64, two_threads: f64) {
    println!("machine: {}", machine());
    println!();
    println!(
        "| backend | keys | in use | exchanges/s (saturation) | p50 ms @ half | p99 ms @ half (achieved/s) | server CPU µs/exchange | peak RSS MiB | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {} | {} | {} | {:.0} | {:.2} | {:.2} ({:.0}) | {:.1} | {:.1} | {} |",
            r.backend,
            r.keys,
            r.in_use,
            r.saturation,
            r.p50_ms,
            r.p99_ms,
            r.half_rate,
            r.cpu_us,
            r.rss_mib,
            r.errors
        );
    }
    println!(
        "| floor: ring ES256 sign | | | {one_core:.0} per core ({:.1} µs); {two_threads:.0} on 2 threads | | | | | |",
        1e6 / one_core
    );
    println!();
    let find = |backend: &str, keys: usize, in_use: usize| {
        rows.iter()
            .find(|r| r.backend == backend && r.keys == keys && r.in_use == in_use)
            .map(|r| r.saturation)
    };
    let (small, large) = (
        rows.iter().map(|r| r.keys).min().unwrap_or(0),
        rows.iter().map(|r| r.keys).max().unwrap_or(0),
    );
    for backend in ["sqlite", "postgres"] {
        let Some(base) = find(backend, small, small) else {
            continue;
        };
        for in_use in [small, large] {
            if let Some(rate) = find(backend, large, in_use)
                && large != small
            {
                println!(
                    "{backend}: {large} keys ({in_use} in use) / {small} keys = {:.2}",
                    rate / base
                );
            }
        }
    }
    for r in rows {
        if r.backend == "postgres"
            && let Some(sqlite) = find("sqlite", r.keys, r.in_use)
        {
            println!(
                "{} keys ({} in use): postgres / sqlite = {:.2}",
                r.keys,
                r.in_use,
                r.saturation / sqlite
            );
        }
    }
}

/// CPU model, core count, kernel, and the load average when the run ended
/// (the machine is shared: the load says how much).
fn machine() -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|m| m.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_else(|| "unknown CPU".to_owned());
    let cores = std::thread::available_parallelism().map_or(0, usize::from);
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "{model}, {cores} cores, Linux {}, load average {}",
        kernel.trim(),
        load.join(" ")
    )
}
