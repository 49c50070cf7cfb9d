//! The exchange benchmark: `bash bench/run.sh` (see bench/README.md).
//!
//! For each backend and key count: a fresh database seeded through the
//! library; then, for each number of keys in use (all of them, and `--hot`
//! of them when there are more), the release binary started on it,
//! exchanges at saturation (closed loop), then p50/p99 at half that rate
//! (open loop), the server's CPU time per exchange and its peak RSS; the
//! same again with a DPoP proof on every exchange, and with federated
//! exchanges (a workload's token under a trust policy), for the cached rows;
//! and ring's ES256 signing and verifying rates as the floor. Not part of
//! `cargo test`: a `harness = false` bench target.

mod floor;
mod load;
mod once;
mod replicas;
mod seed;
mod server;
mod workload;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::{ArgAction, Parser};

use load::Traffic;
use once::OncePool;
use workload::WorkloadIssuer;

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
    /// After each row with at most `--hot` keys in use, the same row with
    /// a DPoP proof on every exchange (proofs made before the run).
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    dpop: bool,
    /// After each row with at most `--hot` keys in use, federated
    /// exchanges: a workload's token (one each, made before the run) under
    /// a trust policy, its issuer's JWKS served from this process.
    #[arg(long, action = ArgAction::Set, default_value_t = true)]
    federated: bool,
    /// Extra rows: PostgreSQL, `--hot` keys, this many replicas at once
    /// (the load generator takes turns over them), e.g. `1,2,3`.
    #[arg(long, value_delimiter = ',')]
    replicas: Vec<usize>,
    /// With `--replicas`: the same rows again with limits shared in this
    /// Redis instead of PostgreSQL.
    #[arg(long)]
    redis: Option<String>,
    // `cargo bench` passes --bench to every bench target.
    #[arg(long, hide = true)]
    bench: bool,
}

struct Row {
    backend: String,
    /// "" for plain exchanges, else what each exchange also presents.
    variant: &'static str,
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
    if !args.replicas.is_empty() {
        rows.extend(runtime.block_on(replicas::rows(&args, seconds)));
    }
    let floor = floor::Floor::measure(Duration::from_secs(2));
    print_report(&rows, &floor);
}

async fn scenario(args: &Args, backend: &str, keys: usize, seconds: Duration) -> Vec<Row> {
    let db = match backend {
        "sqlite" => seed::BenchDb::sqlite(),
        "postgres" => seed::BenchDb::postgres(&args.postgres),
        other => panic!("unknown backend {other}: sqlite or postgres"),
    };
    let seeding = Instant::now();
    let seeded = seed::seed(&db, keys);
    eprintln!(
        "{backend}: {keys} keys inserted in {:.1?}",
        seeding.elapsed()
    );
    let mut in_use = vec![args.hot.min(keys), keys];
    in_use.dedup();
    let target = Target::single(backend);
    let mut rows = Vec::new();
    for in_use in in_use {
        // The first keys: the seed gives each a random secret, so any
        // `in_use` of them are as good as a random sample.
        let secrets = Arc::new(seeded.secrets[..in_use].to_vec());
        let plain = Traffic::Secrets {
            secrets: secrets.clone(),
            proofs: None,
        };
        let row = run(args, &db, &target, keys, in_use, &plain, seconds).await;
        let plain_rate = row.saturation;
        rows.push(row);
        if in_use > args.hot {
            continue;
        }
        if args.dpop {
            let with_proofs = |count| Traffic::Secrets {
                secrets: secrets.clone(),
                proofs: Some(Arc::new(OncePool::proofs(count))),
            };
            let once = OnceEach {
                variant: "DPoP",
                plain_rate,
                make: &with_proofs,
            };
            rows.push(run_once_each(args, &db, &target, keys, in_use, once, seconds).await);
        }
        if args.federated {
            let issuer = WorkloadIssuer::start();
            let policy = issuer.trust(&db.url, &seeded.workspace_id);
            let exchanges = |count| Traffic::Federated {
                bodies: Arc::new(issuer.exchanges(&policy, count)),
            };
            let once = OnceEach {
                variant: "federated",
                plain_rate,
                make: &exchanges,
            };
            rows.push(run_once_each(args, &db, &target, keys, 1, once, seconds).await);
        }
    }
    rows
}

/// A row whose every exchange presents something good once (a DPoP proof,
/// a workload's token), made by `make(count)` before each phase.
struct OnceEach<'a> {
    variant: &'static str,
    /// The plain row's rate: these cost the server more, never less, so
    /// pools sized from it with room to spare do not run dry.
    plain_rate: f64,
    make: &'a (dyn Fn(usize) -> Traffic + Sync),
}

async fn run_once_each(
    args: &Args,
    db: &seed::BenchDb,
    target: &Target<'_>,
    keys: usize,
    in_use: usize,
    once: OnceEach<'_>,
    seconds: Duration,
) -> Row {
    let sized = |rate: f64, duration: Duration| {
        let count = (rate * 1.5 * duration.as_secs_f64()) as usize + 10 * args.connections;
        let making = Instant::now();
        let traffic = (once.make)(count);
        eprintln!(
            "{count} for {} made in {:.1?}",
            once.variant,
            making.elapsed()
        );
        traffic
    };
    let phases = Phases {
        warm_up: sized(once.plain_rate, Duration::from_secs(1)),
        saturation: sized(once.plain_rate, seconds),
        // Made once the saturation rate is known: see `run_phases`.
        half_load: Box::new(move |rate| sized(rate / 2.0, seconds)),
    };
    run_phases(
        args,
        db,
        target,
        (keys, in_use),
        once.variant,
        phases,
        seconds,
    )
    .await
}

/// Where a row's servers run: one or several replicas, limits shared in
/// the database or in Redis.
struct Target<'a> {
    /// The row's backend column.
    label: String,
    replicas: usize,
    redis: Option<&'a str>,
}

impl Target<'_> {
    fn single(backend: &str) -> Self {
        Self {
            label: backend.to_owned(),
            replicas: 1,
            redis: None,
        }
    }
}

/// One row: a fresh server on `db`, exchanging the keys of `traffic`.
async fn run(
    args: &Args,
    db: &seed::BenchDb,
    target: &Target<'_>,
    keys: usize,
    in_use: usize,
    traffic: &Traffic,
    seconds: Duration,
) -> Row {
    let half_load = traffic.clone();
    let phases = Phases {
        warm_up: traffic.clone(),
        saturation: traffic.clone(),
        half_load: Box::new(move |_| half_load.clone()),
    };
    run_phases(args, db, target, (keys, in_use), "", phases, seconds).await
}

/// What each phase of a row sends; the half-load traffic is made from the
/// saturation rate.
struct Phases<'a> {
    warm_up: Traffic,
    saturation: Traffic,
    half_load: Box<dyn FnOnce(f64) -> Traffic + 'a>,
}

async fn run_phases(
    args: &Args,
    db: &seed::BenchDb,
    target: &Target<'_>,
    (keys, in_use): (usize, usize),
    variant: &'static str,
    phases: Phases<'_>,
    seconds: Duration,
) -> Row {
    let backend = &target.label;
    let server = server::Servers::start(&args.server, &db.url, target.replicas, target.redis);
    let addr = server.addr();
    let label = if variant.is_empty() {
        String::new()
    } else {
        format!(" ({variant})")
    };

    // Warm-up: connections, caches, the pool.
    let warm_up = &phases.warm_up;
    load::saturate(&addr, warm_up, args.connections, Duration::from_secs(1)).await;
    let cpu_before = server.cpu_micros();
    let saturated = load::saturate(&addr, &phases.saturation, args.connections, seconds).await;
    let cpu_used = server.cpu_micros() - cpu_before;
    let rate = saturated.per_second();
    eprintln!(
        "{backend}/{keys} ({in_use} in use){label}: {rate:.0} exchanges/s at saturation ({} errors)",
        saturated.errors
    );
    let half_load = (phases.half_load)(rate);
    let mut half = load::paced(&addr, &half_load, args.connections, seconds, rate / 2.0).await;
    let out_of_proofs = saturated.out_of_proofs + half.out_of_proofs;
    assert_eq!(
        out_of_proofs, 0,
        "{out_of_proofs} connections ran out of one-use credentials: the figures would be wrong"
    );
    let row = Row {
        backend: backend.to_owned(),
        variant,
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

fn print_report(rows: &[Row], floor: &floor::Floor) {
    println!("machine: {}", machine());
    println!();
    println!(
        "| backend | keys | in use | exchanges/s (saturation) | p50 ms @ half | p99 ms @ half (achieved/s) | server CPU µs/exchange | peak RSS MiB | errors |"
    );
    println!("|---|---:|---:|---:|---:|---:|---:|---:|---:|");
    for r in rows {
        println!(
            "| {}{} | {} | {} | {:.0} | {:.2} | {:.2} ({:.0}) | {:.1} | {:.1} | {} |",
            r.backend,
            if r.variant.is_empty() {
                String::new()
            } else {
                format!(" + {}", r.variant)
            },
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
        "| floor: ring ES256 sign | | | {:.0} per core ({:.1} µs); {:.0} on 2 threads | | | | | |",
        floor.sign_one_core,
        1e6 / floor.sign_one_core,
        floor.sign_two_threads
    );
    println!(
        "| floor: ring ES256 verify | | | {:.0} per core ({:.1} µs) | | | | | |",
        floor.verify_one_core,
        1e6 / floor.verify_one_core
    );
    println!();
    let plain = |backend: &str, keys: usize, in_use: usize| {
        rows.iter().find(|r| {
            r.backend == backend && r.keys == keys && r.in_use == in_use && r.variant.is_empty()
        })
    };
    let find = |backend: &str, keys: usize, in_use: usize| {
        plain(backend, keys, in_use).map(|r| r.saturation)
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
    for (i, r) in rows
        .iter()
        .enumerate()
        .filter(|(_, r)| !r.variant.is_empty())
    {
        // Against the plain row it follows.
        if let Some(plain) = rows[..i].iter().rev().find(|p| p.variant.is_empty()) {
            println!(
                "{} / {} keys: {} / plain = {:.2} of the rate, {:+.1} µs of server CPU per exchange",
                r.backend,
                r.keys,
                r.variant,
                r.saturation / plain.saturation,
                r.cpu_us - plain.cpu_us
            );
        }
    }
    for r in rows.iter().filter(|r| r.variant.is_empty()) {
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
