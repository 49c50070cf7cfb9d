//! Database access: one connection type over SQLite and PostgreSQL, a pool
//! that picks the backend from the URL scheme, and the embedded migrations.
//!
//! Handlers never touch a connection on an async worker: they call [`run`],
//! which checks one out on the runtime's blocking threads.

pub mod auth_version;
pub mod health;
pub mod models;
pub mod schema;
mod work;

use std::sync::Arc;
use std::time::Duration;

use diesel::connection::{SimpleConnection, TransactionManager};
use diesel::prelude::*;
use diesel::r2d2::{self, ManageConnection};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use auth_version::AuthVersion;
pub use health::Health;
pub use work::{ping, read, run, run_unfenced, with_connection};

const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");
const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");

/// Serialises migrations between replicas starting at once on one PostgreSQL.
const MIGRATION_LOCK_ID: i64 = 0x006b_6579_6d69_6e74; // "keymint" in ASCII

/// How long a request waits for a connection before answering 503: the
/// database is treated as unreachable, and requests fail closed.
const CHECKOUT_TIMEOUT: Duration = Duration::from_secs(3);

#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Pg(PgConnection),
    // Last, as the derive tries variants in order and SQLite accepts any path.
    Sqlite(SqliteConnection),
}

/// Connections to one database, and how fresh this server's view of what
/// authentication reads is (shared by every clone).
#[derive(Clone)]
pub struct Pool {
    connections: r2d2::Pool<Manager>,
    /// Connections the database keeps read-only, for [`read`].
    readers: r2d2::Pool<Manager>,
    /// What the pool connects to, for the one connection kept outside it.
    target: Target,
    auth_version: Arc<AuthVersion>,
    health: Arc<Health>,
}

pub type PooledConnection = r2d2::PooledConnection<Manager>;

impl Pool {
    /// A connection, waiting at most `CHECKOUT_TIMEOUT`. Blocking.
    pub fn get(&self) -> Result<PooledConnection, r2d2::PoolError> {
        self.connections.get()
    }

    pub fn max_size(&self) -> u32 {
        self.connections.max_size()
    }

    pub fn state(&self) -> r2d2::State {
        self.connections.state()
    }

    /// Whether this is PostgreSQL, which several replicas may share.
    pub fn target_is_postgres(&self) -> bool {
        matches!(self.target, Target::Postgres { .. })
    }

    pub fn auth_version(&self) -> &Arc<AuthVersion> {
        &self.auth_version
    }

    pub fn health(&self) -> &Health {
        &self.health
    }

    /// Checks for changes to what authentication reads (see
    /// [`AuthVersion::check`]) on `own`, a connection kept outside the pool
    /// for this alone, opened first if needed and closed when a check
    /// fails. Outside the pool, because a check queued behind busy requests
    /// would let the cache's lease run out and send every exchange to the
    /// database just when it is busiest. Blocking.
    pub fn check_auth_version(&self, own: &mut Option<DbConnection>) -> Result<(), String> {
        // A connection that worked before may have been ended on its own
        // (a backend terminated, a proxy reset): one more try on a fresh
        // connection before the database counts as down.
        let reused = own.is_some();
        let mut checked = self.check_once(own);
        if checked.is_err() && reused {
            checked = self.check_once(own);
        }
        match checked {
            Ok(()) => self.health.answered(),
            Err(_) => self.health.failed(),
        }
        checked
    }

    fn check_once(&self, own: &mut Option<DbConnection>) -> Result<(), String> {
        let conn = match own {
            Some(conn) => conn,
            None => {
                let manager = Manager {
                    target: self.target.clone(),
                    read_only: false,
                };
                own.insert(
                    manager
                        .connect()
                        .map_err(|error| format!("cannot connect: {error}"))?,
                )
            }
        };
        self.auth_version.check(conn).map_err(|error| {
            *own = None;
            format!("database: {error}")
        })
    }
}

/// Where the database lives, parsed from `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum Target {
    Sqlite { path: String },
    Postgres { url: String },
}

#[derive(Debug, thiserror::Error)]
pub enum SetupError {
    #[error(
        "unsupported DATABASE_URL: use sqlite://PATH or postgres://USER@HOST/DB (got scheme {0:?})"
    )]
    UnsupportedUrl(String),
    #[error("cannot connect to the database: {0}")]
    Connect(#[from] ConnectionError),
    #[error("cannot open a connection pool: {0}")]
    Pool(#[from] r2d2::PoolError),
    #[error("migrations failed: {0}")]
    Migrate(String),
    #[error("database error during setup: {0}")]
    Query(#[from] diesel::result::Error),
}

impl Target {
    pub fn parse(url: &str) -> Result<Self, SetupError> {
        if let Some(path) = url.strip_prefix("sqlite://") {
            // `:memory:` would give every pooled connection its own database.
            if path.is_empty() || path.contains(":memory:") {
                return Err(SetupError::UnsupportedUrl("sqlite in-memory".into()));
            }
            Ok(Target::Sqlite {
                path: path.to_owned(),
            })
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Ok(Target::Postgres {
                url: url.to_owned(),
            })
        } else {
            let scheme = url.split(':').next().unwrap_or_default();
            Err(SetupError::UnsupportedUrl(scheme.to_owned()))
        }
    }

    pub fn backend_name(&self) -> &'static str {
        match self {
            Target::Sqlite { .. } => "sqlite",
            Target::Postgres { .. } => "postgres",
        }
    }
}

/// r2d2 manager that connects to the backend named by the URL scheme, so a
/// PostgreSQL outage reports PostgreSQL's own error instead of falling
/// through to another backend.
pub struct Manager {
    target: Target,
    /// Open the connection read-only: PostgreSQL's
    /// `default_transaction_read_only`, SQLite's `query_only`.
    read_only: bool,
}

impl ManageConnection for Manager {
    type Connection = DbConnection;
    type Error = ConnectionError;

    fn connect(&self) -> Result<DbConnection, ConnectionError> {
        match &self.target {
            Target::Postgres { url } => {
                let mut conn = PgConnection::establish(&with_timeouts(url))?;
                if self.read_only {
                    conn.batch_execute("SET default_transaction_read_only = on")
                        .map_err(ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(DbConnection::Pg(conn))
            }
            Target::Sqlite { path } => {
                let mut conn = SqliteConnection::establish(path)?;
                // busy_timeout first: switching to WAL may itself wait on a lock.
                conn.batch_execute(
                    "PRAGMA busy_timeout = 5000; PRAGMA journal_mode = WAL; \
                     PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;",
                )
                .map_err(ConnectionError::CouldntSetupConfiguration)?;
                if self.read_only {
                    conn.batch_execute("PRAGMA query_only = ON")
                        .map_err(ConnectionError::CouldntSetupConfiguration)?;
                }
                Ok(DbConnection::Sqlite(conn))
            }
        }
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), ConnectionError> {
        conn.batch_execute("SELECT 1")
            .map_err(ConnectionError::CouldntSetupConfiguration)
    }

    /// Checked when a connection goes back to the pool. A connection that
    /// lost its server is marked broken by [`run`] (and by diesel inside a
    /// failed transaction), so it is dropped here instead of being handed
    /// out again.
    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        diesel::r2d2::R2D2Connection::is_broken(conn)
    }
}

/// `url` with libpq's `connect_timeout` (3 s) and `tcp_user_timeout` (5 s)
/// unless it sets them: without them, a server that stops answering (a
/// black-holed network, not a refused connection) holds a connect or a
/// query for minutes, and with it the change check that decides whether
/// the database is down.
fn with_timeouts(url: &str) -> String {
    let mut url = url.to_owned();
    for (name, value) in [("connect_timeout", "3"), ("tcp_user_timeout", "5000")] {
        if !url.contains(&format!("{name}=")) {
            let separator = if url.contains('?') { '&' } else { '?' };
            url.push_str(&format!("{separator}{name}={value}"));
        }
    }
    url
}

/// Opens a pool on `url`, first connecting once directly so that a bad URL or
/// an unreachable server fails with the backend's own message.
pub fn connect(url: &str, max_size: u32) -> Result<Pool, SetupError> {
    let target = Target::parse(url)?;
    let manager = |read_only| Manager {
        target: target.clone(),
        read_only,
    };
    manager(false).connect()?;
    let replicated = matches!(target, Target::Postgres { .. });
    let pool = |read_only| {
        r2d2::Pool::builder()
            .max_size(max_size)
            // No `SELECT 1` round trip before every request: a connection that
            // fails is marked broken by `run` and discarded on return instead.
            .test_on_check_out(false)
            // Grow on demand rather than opening every connection at start.
            .min_idle(Some(max_size.min(2)))
            .connection_timeout(CHECKOUT_TIMEOUT)
            .build(manager(read_only))
    };
    Ok(Pool {
        connections: pool(false)?,
        readers: pool(true)?,
        target,
        auth_version: Arc::new(AuthVersion::new(replicated)),
        health: Arc::default(),
    })
}

/// Applies pending migrations of the pool's backend; returns how many ran.
pub fn migrate(pool: &Pool) -> Result<usize, SetupError> {
    let mut conn = pool.get()?;
    let migrate_err =
        |e: Box<dyn std::error::Error + Send + Sync>| SetupError::Migrate(e.to_string());
    match &mut *conn {
        DbConnection::Sqlite(conn) => Ok(conn
            .run_pending_migrations(SQLITE_MIGRATIONS)
            .map_err(migrate_err)?
            .len()),
        DbConnection::Pg(conn) => {
            conn.batch_execute(&format!("SELECT pg_advisory_lock({MIGRATION_LOCK_ID})"))?;
            let ran = conn
                .run_pending_migrations(POSTGRES_MIGRATIONS)
                .map(|m| m.len());
            conn.batch_execute(&format!("SELECT pg_advisory_unlock({MIGRATION_LOCK_ID})"))?;
            ran.map_err(migrate_err)
        }
    }
}

#[cfg(test)]
mod tests;
