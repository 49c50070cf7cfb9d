//! Prometheus metrics of one server: the families, how they are recorded and
//! their text exposition (the `prometheus` crate's encoder).
//!
//! Each server owns its own [`Registry`] (in `AppState`), never the crate's
//! global one, so several servers in one process (the tests) keep their
//! counts apart.

use std::time::Duration;

use http::{Method, StatusCode};
use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts,
    Registry, TextEncoder,
};

use crate::shared::Mode;
use crate::signing::KeyState;

/// Buckets of the `/auth/token` latency histogram, in seconds: an exchange
/// takes a few milliseconds; the tail shows a slow database.
const TOKEN_LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0,
];

/// The `route` label of a request that matched no route: raw paths would
/// give one series per probe of a scanner, and may hold ids or secrets.
pub const UNMATCHED_ROUTE: &str = "unmatched";

pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    rate_limited: IntCounterVec,
    token_latency: Histogram,
    exchanges: IntCounterVec,
    signing_keys: IntGaugeVec,
    pool_connections: IntGaugeVec,
    pool_max: IntGauge,
    usage_pending: IntGauge,
    key_cache_hits: IntCounter,
    key_cache_misses: IntCounter,
    key_cache_entries: IntGauge,
    limits_mode: IntGaugeVec,
    limits_fallbacks: IntCounter,
}

/// Where rate limits and failure throttles are kept, at one moment.
#[derive(Debug, Clone, Copy)]
pub struct LimitsGauges {
    pub mode: Mode,
    /// Times the shared store became unreachable since start.
    pub fallbacks: u64,
}

/// The pool's numbers at one moment (r2d2's `State`, plus its size).
#[derive(Debug, Clone, Copy)]
pub struct PoolGauges {
    pub connections: u32,
    pub idle: u32,
    pub max: u32,
}

impl Metrics {
    /// A registry whose exchange counter starts every one of
    /// `exchange_outcomes` at 0, so a dashboard sees each series from the
    /// first scrape.
    pub fn new(exchange_outcomes: &[&str]) -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "keymint_http_requests_total",
                "HTTP requests answered, by route pattern, method and status.",
            ),
            &["route", "method", "status"],
        )
        .expect("valid metric");
        let rate_limited = IntCounterVec::new(
            Opts::new(
                "keymint_rate_limited_total",
                "Requests refused with 429 rate_limit_exceeded, by route pattern.",
            ),
            &["route"],
        )
        .expect("valid metric");
        let token_latency = Histogram::with_opts(
            HistogramOpts::new(
                "keymint_token_request_duration_seconds",
                "Time to answer POST /auth/token, whatever the outcome.",
            )
            .buckets(TOKEN_LATENCY_BUCKETS.to_vec()),
        )
        .expect("valid metric");
        let exchanges = IntCounterVec::new(
            Opts::new(
                "keymint_token_exchanges_total",
                "Exchanges at POST /auth/token, by outcome.",
            ),
            &["outcome"],
        )
        .expect("valid metric");
        let signing_keys = IntGaugeVec::new(
            Opts::new(
                "keymint_signing_keys",
                "Signing keys in the keys folder, by state (next, active, retired, removed).",
            ),
            &["state"],
        )
        .expect("valid metric");
        let pool_connections = IntGaugeVec::new(
            Opts::new(
                "keymint_db_pool_connections",
                "Database pool connections, by state (in_use, idle).",
            ),
            &["state"],
        )
        .expect("valid metric");
        let pool_max = IntGauge::new(
            "keymint_db_pool_max_connections",
            "Most connections the database pool opens.",
        )
        .expect("valid metric");
        let usage_pending = IntGauge::new(
            "keymint_usage_pending_keys",
            "Keys whose usage counts wait in memory for the next flush.",
        )
        .expect("valid metric");
        let key_cache_lookups = IntCounterVec::new(
            Opts::new(
                "keymint_key_cache_lookups_total",
                "Exchanges that found their key in memory (hit) or asked the database (miss).",
            ),
            &["result"],
        )
        .expect("valid metric");
        let key_cache_entries = IntGauge::new(
            "keymint_key_cache_entries",
            "Keys held in memory by the key cache.",
        )
        .expect("valid metric");
        let limits_mode = IntGaugeVec::new(
            Opts::new(
                "keymint_shared_limits",
                "1 for how rate limits and failure throttles are kept now: memory (one node), \
                 shared (across replicas) or per_replica (the shared store is unreachable).",
            ),
            &["mode"],
        )
        .expect("valid metric");
        let limits_fallbacks = IntCounter::new(
            "keymint_shared_limits_fallbacks_total",
            "Times the shared store of limits became unreachable and limits fell back to per replica.",
        )
        .expect("valid metric");
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(rate_limited.clone()),
            Box::new(token_latency.clone()),
            Box::new(exchanges.clone()),
            Box::new(signing_keys.clone()),
            Box::new(pool_connections.clone()),
            Box::new(pool_max.clone()),
            Box::new(usage_pending.clone()),
            Box::new(key_cache_lookups.clone()),
            Box::new(key_cache_entries.clone()),
            Box::new(limits_mode.clone()),
            Box::new(limits_fallbacks.clone()),
        ] {
            registry
                .register(collector)
                .expect("each family is registered once");
        }
        // Series that exist from the start, so rates and alerts see a 0
        // rather than nothing before the first event.
        for outcome in exchange_outcomes {
            exchanges.with_label_values(&[outcome]);
        }
        rate_limited.with_label_values(&["/auth/token"]);
        Self {
            registry,
            requests,
            rate_limited,
            token_latency,
            exchanges,
            signing_keys,
            pool_connections,
            pool_max,
            usage_pending,
            // Resolved once: this is counted on every exchange.
            key_cache_hits: key_cache_lookups.with_label_values(&["hit"]),
            key_cache_misses: key_cache_lookups.with_label_values(&["miss"]),
            key_cache_entries,
            limits_mode,
            limits_fallbacks,
        }
    }

    /// Counts one exchange's key lookup: from memory, or from the database.
    pub fn record_key_lookup(&self, hit: bool) {
        if hit {
            self.key_cache_hits.inc();
        } else {
            self.key_cache_misses.inc();
        }
    }

    /// Counts one answered request. `route` is the matched pattern (e.g.
    /// `/api/v1/workspaces/{ws}/keys/{id}`), or [`UNMATCHED_ROUTE`].
    pub fn record_request(&self, route: &str, method: &Method, status: StatusCode) {
        self.requests
            .with_label_values(&[route, method_label(method), status.as_str()])
            .inc();
        if status == StatusCode::TOO_MANY_REQUESTS {
            self.rate_limited.with_label_values(&[route]).inc();
        }
    }

    /// Counts one `/auth/token` request and how long it took.
    pub fn record_exchange(&self, outcome: &str, elapsed: Duration) {
        self.exchanges.with_label_values(&[outcome]).inc();
        self.token_latency.observe(elapsed.as_secs_f64());
    }

    /// The text exposition, with the gauges set to the values given (they
    /// are read at scrape time rather than tracked as they change).
    pub fn render(
        &self,
        key_states: impl IntoIterator<Item = KeyState>,
        pool: PoolGauges,
        usage_pending: usize,
        key_cache_entries: usize,
        limits: LimitsGauges,
    ) -> String {
        let mut counts = [0_i64; 4];
        for state in key_states {
            counts[state_index(state)] += 1;
        }
        for state in [
            KeyState::Next,
            KeyState::Active,
            KeyState::Retired,
            KeyState::Removed,
        ] {
            self.signing_keys
                .with_label_values(&[state_label(state)])
                .set(counts[state_index(state)]);
        }
        let in_use = pool.connections.saturating_sub(pool.idle);
        self.pool_connections
            .with_label_values(&["in_use"])
            .set(i64::from(in_use));
        self.pool_connections
            .with_label_values(&["idle"])
            .set(i64::from(pool.idle));
        self.pool_max.set(i64::from(pool.max));
        self.usage_pending
            .set(i64::try_from(usage_pending).unwrap_or(i64::MAX));
        self.key_cache_entries
            .set(i64::try_from(key_cache_entries).unwrap_or(i64::MAX));

        for mode in Mode::ALL {
            self.limits_mode
                .with_label_values(&[mode.label()])
                .set(i64::from(mode == limits.mode));
        }
        self.limits_fallbacks
            .inc_by(limits.fallbacks.saturating_sub(self.limits_fallbacks.get()));

        let mut text = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut text)
            .expect("the text encoder writes into memory");
        String::from_utf8(text).expect("the text format is UTF-8")
    }
}

/// The `Content-Type` of [`Metrics::render`]'s output.
pub const CONTENT_TYPE: &str = prometheus::TEXT_FORMAT;

/// Standard methods by name; anything else is one `other` series, so a
/// client inventing methods cannot grow the label set.
fn method_label(method: &Method) -> &'static str {
    match *method {
        Method::GET => "GET",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::HEAD => "HEAD",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

fn state_index(state: KeyState) -> usize {
    match state {
        KeyState::Next => 0,
        KeyState::Active => 1,
        KeyState::Retired => 2,
        KeyState::Removed => 3,
    }
}

fn state_label(state: KeyState) -> &'static str {
    match state {
        KeyState::Next => "next",
        KeyState::Active => "active",
        KeyState::Retired => "retired",
        KeyState::Removed => "removed",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pool() -> PoolGauges {
        PoolGauges {
            connections: 3,
            idle: 2,
            max: 16,
        }
    }

    #[test]
    fn exposition_holds_every_family_with_its_labels() {
        let metrics = Metrics::new(crate::exchange::OUTCOMES);
        metrics.record_request("/auth/token", &Method::POST, StatusCode::OK);
        metrics.record_request("/auth/token", &Method::POST, StatusCode::TOO_MANY_REQUESTS);
        metrics.record_request(
            UNMATCHED_ROUTE,
            &Method::from_bytes(b"BREW").unwrap(),
            StatusCode::NOT_FOUND,
        );
        metrics.record_exchange("issued", Duration::from_millis(3));
        let text = metrics.render(
            [KeyState::Active, KeyState::Retired],
            pool(),
            5,
            0,
            LimitsGauges {
                mode: Mode::PerReplica,
                fallbacks: 2,
            },
        );
        for line in [
            r#"keymint_http_requests_total{method="POST",route="/auth/token",status="200"} 1"#,
            r#"keymint_http_requests_total{method="other",route="unmatched",status="404"} 1"#,
            r#"keymint_rate_limited_total{route="/auth/token"} 1"#,
            r#"keymint_token_exchanges_total{outcome="issued"} 1"#,
            r#"keymint_token_request_duration_seconds_bucket{le="0.005"} 1"#,
            r#"keymint_token_request_duration_seconds_bucket{le="0.0025"} 0"#,
            "keymint_token_request_duration_seconds_count 1",
            r#"keymint_signing_keys{state="active"} 1"#,
            r#"keymint_signing_keys{state="next"} 0"#,
            r#"keymint_db_pool_connections{state="in_use"} 1"#,
            r#"keymint_db_pool_connections{state="idle"} 2"#,
            "keymint_db_pool_max_connections 16",
            "keymint_usage_pending_keys 5",
            r#"keymint_shared_limits{mode="per_replica"} 1"#,
            r#"keymint_shared_limits{mode="shared"} 0"#,
            "keymint_shared_limits_fallbacks_total 2",
        ] {
            assert!(
                text.lines().any(|l| l == line),
                "{line} missing in:\n{text}"
            );
        }
    }

    fn memory() -> LimitsGauges {
        LimitsGauges {
            mode: Mode::Memory,
            fallbacks: 0,
        }
    }

    #[test]
    fn two_servers_keep_their_counts_apart() {
        let (a, b) = (
            Metrics::new(crate::exchange::OUTCOMES),
            Metrics::new(crate::exchange::OUTCOMES),
        );
        a.record_request("/healthz", &Method::GET, StatusCode::OK);
        assert!(!b.render([], pool(), 0, 0, memory()).contains("/healthz"));
    }
}
