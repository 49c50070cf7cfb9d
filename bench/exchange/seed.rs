//! A fresh database with one enterprise workspace and N keys, inserted
//! through the library in one transaction (batched on PostgreSQL), not
//! through N HTTP calls.

use diesel::prelude::*;
use diesel::{Connection, PgConnection};
use keymint::api_keys::{self, KeyKind, NewKey};
use keymint::db::models::api_keys::ApiKey;
use keymint::db::models::workspaces::{self, Plan, Workspace};
use keymint::db::schema::api_keys as table;
use keymint::db::{self, DbConnection};

/// High enough that the limiter never refuses during the run: the
/// benchmark measures exchanges, not 429s.
const BENCH_RATE_LIMIT: i32 = 1_000_000;
/// Rows per multi-row INSERT on PostgreSQL (23 columns: under its
/// 65,535 bind parameters).
const PG_BATCH: usize = 2_000;

/// Where a scenario's database lives; dropped (PostgreSQL) when done.
pub struct BenchDb {
    pub url: String,
    postgres: Option<(String, String)>,
    _dir: Option<tempfile::TempDir>,
}

impl BenchDb {
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let url = format!("sqlite://{}", dir.path().join("bench.db").display());
        Self {
            url,
            postgres: None,
            _dir: Some(dir),
        }
    }

    /// `server` is `postgres://user@host:port` (no database).
    pub fn postgres(server: &str) -> Self {
        let admin_url = format!("{server}/postgres");
        let name = format!("keymint_bench_{}", std::process::id());
        let mut admin = PgConnection::establish(&admin_url).expect("PostgreSQL reachable");
        diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
            .execute(&mut admin)
            .expect("drop an old bench database");
        diesel::sql_query(format!("CREATE DATABASE {name}"))
            .execute(&mut admin)
            .expect("create the bench database");
        Self {
            url: format!("{server}/{name}"),
            postgres: Some((admin_url, name)),
            _dir: None,
        }
    }
}

impl Drop for BenchDb {
    fn drop(&mut self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

/// The seeded workspace and the secrets of its keys.
pub struct Seeded {
    pub workspace_id: String,
    pub secrets: Vec<String>,
}

/// Migrates, creates the workspace and `count` workspace keys; returns the
/// secrets (the load generator presents them at random).
pub fn seed(db: &BenchDb, count: usize) -> Seeded {
    let pool = db::connect(&db.url, 1).expect("database");
    db::migrate(&pool).expect("migrations");
    let mut conn = pool.get().expect("connection");
    let now = keymint::clock::now();
    let workspace = Workspace::new("bench", "bench", Plan::Enterprise, now);
    workspaces::insert(&mut conn, &workspace).expect("workspace");
    let mut secrets = Vec::with_capacity(count);
    let mut rows = Vec::with_capacity(count);
    for i in 0..count {
        let mut new_key = NewKey::new(&workspace.id, KeyKind::Workspace, &format!("bench {i}"));
        new_key.rate_limit = Some(BENCH_RATE_LIMIT);
        let (row, secret) = api_keys::issue(new_key, now).expect("key");
        secrets.push(secret.expose().to_owned());
        rows.push(row);
    }
    insert_all(&mut conn, &rows);
    settle(&mut conn);
    Seeded {
        workspace_id: workspace.id,
        secrets,
    }
}

/// Leaves a PostgreSQL database as a production one would be: statistics
/// gathered, the fresh rows vacuumed, their pages written out. Otherwise
/// autovacuum and the checkpointer do it during the measured run, on the
/// same two cores. (SQLite has neither to get ahead of.)
fn settle(conn: &mut DbConnection) {
    if let DbConnection::Pg(conn) = conn {
        for sql in ["VACUUM ANALYZE", "CHECKPOINT"] {
            diesel::sql_query(sql).execute(conn).expect(sql);
        }
    }
}

fn insert_all(conn: &mut DbConnection, rows: &[ApiKey]) {
    match conn {
        DbConnection::Pg(conn) => conn
            .transaction(|conn| {
                for batch in rows.chunks(PG_BATCH) {
                    diesel::insert_into(table::table)
                        .values(batch)
                        .execute(conn)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .expect("insert keys"),
        // SQLite cannot batch rows holding DEFAULTs; one transaction of
        // single-row inserts (a cached prepared statement) is as fast.
        DbConnection::Sqlite(conn) => conn
            .transaction(|conn| {
                for row in rows {
                    diesel::insert_into(table::table)
                        .values(row)
                        .execute(conn)?;
                }
                Ok::<_, diesel::result::Error>(())
            })
            .expect("insert keys"),
    }
}
