//! Starting and running the service: everything `keymint serve` does, as a
//! library so integration tests run the very same server on port 0.

use std::net::{SocketAddr, TcpListener};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use actix_web::middleware::from_fn;
use actix_web::{App, HttpServer, web};
use chrono::Duration as ChronoDuration;

use crate::auth::cache::KeyCache;
use crate::bootstrap::{self, Bootstrapped};
use crate::config::{Config, ConfigError, redact_url};
use crate::db::{self, SetupError, auth_version};
use crate::dpop::DpopGuard;
use crate::error::ApiError;
use crate::federation::Issuers;
use crate::metrics::Metrics;
use crate::passwords::pool::HashPool;
use crate::ratelimit::RateLimiter;
use crate::shared::{self, Shared};
use crate::signing::{KeyTiming, SigningKeys, StoreError};
use crate::state::AppState;
use crate::throttle::FailureThrottle;
use crate::tokens::own::OwnKeys;
use crate::usage::UsageBuffer;
use crate::used_once::Ledger;
use crate::{http, shutdown, tls, tokens};

/// How often buffered usage counts are written.
const USAGE_FLUSH_PERIOD: Duration = Duration::from_secs(5);
/// How often uses past their window (DPoP proofs, federated tokens) are forgotten.
const USED_ONCE_SWEEP_PERIOD: Duration = Duration::from_secs(60);
/// How long requests in flight may take to finish after a stop signal.
/// Kubernetes kills a pod 30 s after SIGTERM by default: this leaves time
/// for the usage flush that follows.
const SHUTDOWN_TIMEOUT_SECS: u64 = 20;
/// Database connections (and blocking threads that use them) per core.
/// A request's database work is a few microseconds of CPU (SQLite) or one
/// round trip (PostgreSQL): more threads than this only add context
/// switches and contention on the pool, measured by bench/.
const CONNECTIONS_PER_CORE: usize = 2;
/// Blocking threads per HTTP worker beyond the pool, so a slow PBKDF2
/// login cannot hold up every lookup.
const SPARE_BLOCKING_THREADS: usize = 2;

fn cores() -> usize {
    std::thread::available_parallelism().map_or(2, usize::from)
}

/// Connections per replica, sized for the machine.
fn pool_size() -> u32 {
    u32::try_from((cores() * CONNECTIONS_PER_CORE).max(4)).unwrap_or(u32::MAX)
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Database(#[from] SetupError),
    #[error("signing keys: {0}")]
    Keys(#[from] StoreError),
    #[error("cannot listen on {address}: {source}")]
    Bind {
        address: String,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(String),
    #[error("bootstrap: {0}")]
    Bootstrap(ApiError),
    #[error(transparent)]
    Shared(#[from] crate::shared::UrlError),
    #[error("the HTTP client for federated issuers: {0}")]
    Federation(reqwest::Error),
}

/// A server that is set up and bound, not yet serving.
pub struct Server {
    state: web::Data<AppState>,
    listener: TcpListener,
    tls: Option<rustls::ServerConfig>,
    usage_flush_period: Duration,
    /// Set when this start bootstrapped an empty database.
    pub bootstrapped: Option<Bootstrapped>,
}

impl Server {
    /// Connects and migrates the database, loads (or creates) signing keys,
    /// binds the listener and, on an empty database, bootstraps. Blocking.
    pub fn build(config: Config) -> Result<Self, StartError> {
        Self::build_with_key_timing(config, KeyTiming::default())
    }

    /// [`Server::build`] with another key reload period and JWKS max-age
    /// (tests watch a whole rotation in seconds).
    pub fn build_with_key_timing(config: Config, timing: KeyTiming) -> Result<Self, StartError> {
        config.validate()?;
        tokens::provider::install();
        let pool = db::connect(&config.database_url, pool_size())?;
        let migrated = db::migrate(&pool)?;
        log::info!(
            "database {} ready ({migrated} migrations applied)",
            redact_url(&config.database_url)
        );
        let max_ttl = ChronoDuration::seconds(i64::from(config.token_max_ttl));
        let signing =
            SigningKeys::open_or_create(&config.keys_dir, config.signing_alg, max_ttl, timing)?;
        let tls = match (&config.tls_cert, &config.tls_key) {
            (Some(cert), Some(key)) => {
                Some(tls::server_config(cert, key).map_err(StartError::Tls)?)
            }
            _ => None,
        };
        let listener = TcpListener::bind(&config.bind).map_err(|source| StartError::Bind {
            address: config.bind.clone(),
            source,
        })?;
        let bootstrapped = if config.auto_bootstrap {
            let mut conn = pool.get().map_err(|e| StartError::Bootstrap(e.into()))?;
            bootstrap::bootstrap_if_empty(&mut conn).map_err(StartError::Bootstrap)?
        } else {
            None
        };
        let issuer =
            config.issuer_for(listener.local_addr().map_err(|source| StartError::Bind {
                address: config.bind.clone(),
                source,
            })?);
        let keys = KeyCache::new(config.key_cache_size, pool.auth_version().clone());
        let dpop =
            DpopGuard::for_server(&pool, config.dpop_nonce).map_err(StartError::Bootstrap)?;
        let shared = Shared::for_server(config.redis_url.as_deref(), &pool)?.map(Arc::new);
        log::info!(
            "rate limits and failure throttles: {}",
            Shared::mode(shared.as_deref()).label()
        );
        let state = AppState {
            config,
            issuer,
            keys,
            pool: pool.clone(),
            signing,
            usage: UsageBuffer::default(),
            failures: FailureThrottle::new(shared.clone()),
            hashing: HashPool::for_this_machine(),
            limiter: RateLimiter::new(shared.clone()),
            shared,
            own_keys: OwnKeys::default(),
            dpop,
            federation: Issuers::new().map_err(StartError::Federation)?,
            used_once: Ledger::new(pool.clone()),
            metrics: Metrics::new(crate::exchange::OUTCOMES),
        };
        Ok(Self {
            state: web::Data::new(state),
            listener,
            tls,
            usage_flush_period: USAGE_FLUSH_PERIOD,
            bootstrapped,
        })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listener
            .local_addr()
            .expect("a bound listener has an address")
    }

    /// Overrides how often usage counts are flushed (tests that inspect the
    /// buffer pick a period that cannot elapse during the test).
    pub fn with_usage_flush_period(mut self, period: Duration) -> Self {
        self.usage_flush_period = period;
        self
    }

    pub fn state(&self) -> web::Data<AppState> {
        self.state.clone()
    }

    /// Serves until SIGTERM or SIGINT, then stops gracefully: the listener
    /// closes, requests in flight finish (for at most
    /// `SHUTDOWN_TIMEOUT_SECS`), keep-alive connections close, the background
    /// tasks end and the usage counts are flushed.
    pub async fn run(self) -> std::io::Result<()> {
        let state = self.state;
        log::info!(
            "keymint listening on {} (issuer {})",
            self.listener.local_addr()?,
            state.issuer
        );
        let app_state = state.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(app_state.clone())
                .wrap(from_fn(http::text::refuse_nul_in_url))
                .wrap(http::json_errors())
                // Outside json_errors, so rewritten errors get the headers too.
                .wrap(from_fn(http::rate_limit::headers))
                .wrap(from_fn(http::require_https))
                // Outermost: logs and counts every answer, refusals included.
                .wrap(from_fn(http::observe::observe))
                .configure(http::configure)
        })
        .shutdown_timeout(SHUTDOWN_TIMEOUT_SECS)
        .shutdown_signal(shutdown::requested())
        // One HTTP worker per core, each with its share of the pool in
        // blocking threads (actix's default is 512 / workers).
        .workers(cores())
        .worker_max_blocking_threads(pool_size() as usize / cores() + SPARE_BLOCKING_THREADS);
        let server = match self.tls {
            Some(tls) => server.listen_rustls_0_23(self.listener, tls)?,
            None => server.listen(self.listener)?,
        };

        let (stop_background, stopped) = tokio::sync::watch::channel(false);
        let background = [
            every(
                state.signing.timing().reload_period,
                "reloading signing keys",
                stopped.clone(),
                {
                    let state = state.clone();
                    move || state.signing.reload().map_err(|e| e.to_string())
                },
            ),
            every(
                auth_version::CHECK_PERIOD,
                "checking for changes to keys",
                stopped.clone(),
                {
                    let pool = state.pool.clone();
                    let failing = AtomicBool::new(false);
                    let own = Mutex::new(None);
                    move || {
                        let checked = pool
                            .check_auth_version(&mut own.lock().unwrap_or_else(|p| p.into_inner()));
                        // Said when checks start and stop failing, not 20
                        // times a second.
                        match checked {
                            Ok(()) if failing.swap(false, Ordering::Relaxed) => {
                                log::info!("checking for changes to keys works again");
                            }
                            Err(error) if !failing.swap(true, Ordering::Relaxed) => {
                                return Err(format!(
                                    "{error}; exchanges use no cached key until it works"
                                ));
                            }
                            _ => {}
                        }
                        Ok(())
                    }
                },
            ),
            every(
                USED_ONCE_SWEEP_PERIOD,
                "forgetting used DPoP proofs and federated tokens",
                stopped.clone(),
                {
                    let state = state.clone();
                    move || {
                        let now = chrono::Utc::now().timestamp();
                        state
                            .used_once
                            .forget_expired(now)
                            .map(drop)
                            .map_err(|e| e.detail())
                    }
                },
            ),
            syncing_limits(state.clone(), stopped.clone()),
            every(
                USED_ONCE_SWEEP_PERIOD,
                "forgetting full rate buckets and past failure windows",
                stopped.clone(),
                {
                    let state = state.clone();
                    move || match &state.shared {
                        Some(shared) => {
                            let now = chrono::Utc::now();
                            shared.sweep(now.timestamp_micros(), now.timestamp().div_euclid(60))
                        }
                        None => Ok(()),
                    }
                },
            ),
            every(self.usage_flush_period, "flushing usage counts", stopped, {
                let state = state.clone();
                move || {
                    state
                        .usage
                        .flush(&state.pool)
                        .map(drop)
                        .map_err(|e| e.detail())
                }
            }),
        ];
        let served = server.run().await;
        // Let a flush that is writing finish (aborting would leave its
        // blocking transaction to die with the process), then flush the rest.
        let _ = stop_background.send(true);
        for task in background {
            if let Err(error) = task.await {
                log::error!("background task failed: {error}");
            }
        }
        let flushed = tokio::task::spawn_blocking(move || state.usage.flush(&state.pool)).await;
        match flushed {
            Ok(Ok(keys)) => log::info!("stopped; flushed usage of {keys} keys"),
            Ok(Err(error)) => log::error!("stopped; usage counts not flushed: {}", error.detail()),
            Err(error) => log::error!("stopped; usage flush failed: {error}"),
        }
        served
    }
}

/// Syncs the rate limiter with the shared store every
/// [`shared::SYNC_PERIOD`], until `stop` turns true; nothing to do
/// without a store.
fn syncing_limits(
    state: web::Data<AppState>,
    mut stop: tokio::sync::watch::Receiver<bool>,
) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        if state.shared.is_none() {
            return;
        }
        let mut ticks = tokio::time::interval(shared::SYNC_PERIOD);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            state.limiter.sync().await;
        }
    })
}

/// Runs blocking `work` every `period` on the blocking pool, logging
/// failures, until `stop` turns true (a run in progress completes first).
fn every<F>(
    period: Duration,
    what: &'static str,
    mut stop: tokio::sync::watch::Receiver<bool>,
    work: F,
) -> tokio::task::JoinHandle<()>
where
    F: Fn() -> Result<(), String> + Send + Sync + 'static,
{
    let work = Arc::new(work);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(period);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        ticks.tick().await; // the first tick is immediate
        loop {
            tokio::select! {
                _ = ticks.tick() => {}
                _ = stop.wait_for(|stop| *stop) => return,
            }
            let work = work.clone();
            match tokio::task::spawn_blocking(move || work()).await {
                Ok(Ok(())) => {}
                Ok(Err(error)) => log::warn!("{what}: {error}"),
                Err(error) => log::error!("{what}: task failed: {error}"),
            }
        }
    })
}
