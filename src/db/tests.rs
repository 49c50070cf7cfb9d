//! The pool, its backends, and the migrations that move data.
use super::*;

#[test]
fn postgres_urls_get_timeouts_unless_they_set_their_own() {
    assert_eq!(
        with_timeouts("postgres://u@h/db"),
        "postgres://u@h/db?connect_timeout=3&tcp_user_timeout=5000"
    );
    assert_eq!(
        with_timeouts("postgres://u@h/db?sslmode=require&connect_timeout=10"),
        "postgres://u@h/db?sslmode=require&connect_timeout=10&tcp_user_timeout=5000"
    );
}

#[test]
fn urls_pick_the_backend_by_scheme() {
    assert!(matches!(
        Target::parse("sqlite://keymint.db").unwrap(),
        Target::Sqlite { path } if path == "keymint.db"
    ));
    assert!(matches!(
        Target::parse("sqlite:///var/lib/keymint.db").unwrap(),
        Target::Sqlite { path } if path == "/var/lib/keymint.db"
    ));
    assert_eq!(
        Target::parse("postgresql://u@h/db").unwrap().backend_name(),
        "postgres"
    );
    assert!(Target::parse("mysql://u@h/db").is_err());
    assert!(Target::parse("sqlite://:memory:").is_err());
    assert!(Target::parse("keymint.db").is_err());
}

/// Whatever writes a column the triggers watch, through any model
/// function or none, makes this server's cached keys stale; work that
/// writes nothing they watch leaves them alone.
#[test]
fn every_unit_of_work_is_fenced_by_the_triggers() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fence.db").display());
    let pool = connect(&url, 2).unwrap();
    migrate(&pool).unwrap();
    let check = |pool: &Pool| pool.check_auth_version(&mut None).unwrap();
    let write = |pool: &Pool, sql: &'static str| {
        with_connection(pool, |conn| Ok(conn.batch_execute(sql)?)).unwrap();
    };
    check(&pool);
    let generation = pool.auth_version().generation();
    write(
        &pool,
        "INSERT INTO workspaces (id, slug, name, plan, created_at) \
         VALUES ('w', 'w', 'W', 'pro', '2026-01-01 00:00:00')",
    );
    write(
        &pool,
        "UPDATE workspaces SET name = 'renamed' WHERE id = 'w'",
    );
    assert_eq!(pool.auth_version().generation(), generation, "not watched");

    write(&pool, "UPDATE workspaces SET plan = 'hobby' WHERE id = 'w'");
    assert_eq!(pool.auth_version().generation(), generation + 1);
}

/// [`read`]'s connections refuse writes, on SQLite and (when a server is
/// configured for the tests) on PostgreSQL, so work that writes cannot
/// slip past the fence by running there.
#[test]
fn readers_refuse_writes_and_answer_reads() {
    let dir = tempfile::tempdir().unwrap();
    let mut urls = vec![format!("sqlite://{}", dir.path().join("read.db").display())];
    urls.extend(std::env::var("KEYMINT_TEST_POSTGRES_URL").ok());
    for url in urls {
        let pool = connect(&url, 1).unwrap();
        let mut writer = pool.connections.get().unwrap();
        let mut reader = pool.readers.get().unwrap();
        assert!(reader.batch_execute("SELECT 1").is_ok(), "{url}");
        let write = "CREATE TABLE IF NOT EXISTS readers_refuse_writes (x INT)";
        assert!(
            reader.batch_execute(write).is_err(),
            "{url}: a reader wrote"
        );
        assert!(writer.batch_execute(write).is_ok(), "{url}: control");
        writer
            .batch_execute("DROP TABLE readers_refuse_writes")
            .unwrap();
    }
}

/// The migration that moves usage counts into `api_key_usage` keeps
/// them, and so does its revert.
#[test]
fn usage_counts_survive_their_move_to_their_own_table_and_back() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("upgrade.db");
    let mut conn = SqliteConnection::establish(path.to_str().unwrap()).unwrap();
    let applied = |conn: &mut SqliteConnection| conn.applied_migrations().unwrap().len();
    while applied(&mut conn) < 3 {
        conn.run_next_migration(SQLITE_MIGRATIONS).unwrap();
    }
    conn.batch_execute(
        "INSERT INTO workspaces (id, slug, name, plan, created_at) \
         VALUES ('w', 'w', 'W', 'pro', '2026-01-01 00:00:00');
         INSERT INTO api_keys (id, workspace_id, kind, name, start, secret_digest, \
             created_at, usage_count, last_used_at) \
         VALUES ('k', 'w', 'workspace', 'K', 'kmw_x', x'00', \
             '2026-01-01 00:00:00', 7, '2026-02-03 04:05:06');",
    )
    .unwrap();
    let usage = |conn: &mut SqliteConnection, table: &str, id: &str| {
        #[derive(QueryableByName, Debug, PartialEq)]
        struct Row {
            #[diesel(sql_type = diesel::sql_types::BigInt)]
            usage_count: i64,
            #[diesel(sql_type = diesel::sql_types::Nullable<diesel::sql_types::Text>)]
            last_used_at: Option<String>,
        }
        diesel::sql_query(format!(
            "SELECT usage_count, last_used_at FROM {table} WHERE {id} = 'k'"
        ))
        .get_result::<Row>(conn)
        .unwrap()
    };
    let before = usage(&mut conn, "api_keys", "id");

    conn.run_next_migration(SQLITE_MIGRATIONS).unwrap();
    assert_eq!(usage(&mut conn, "api_key_usage", "key_id"), before);
    assert_eq!(before.usage_count, 7);

    conn.revert_last_migration(SQLITE_MIGRATIONS).unwrap();
    assert_eq!(usage(&mut conn, "api_keys", "id"), before);
}

/// A batch of used DPoP proofs records each id once: the second of two
/// equal ids in one batch, and an id recorded by an earlier batch, are
/// replays; the answers come in the batch's order.
#[test]
fn proofs_are_recorded_once_within_and_across_batches() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("proofs.db").display());
    let pool = connect(&url, 1).unwrap();
    migrate(&pool).unwrap();
    let mut conn = pool.get().unwrap();
    let proof = |id: &str| (id.to_owned(), 2_000_000_000);
    let first = models::used_once::first_uses(&mut conn, &[proof("a"), proof("b"), proof("a")]);
    assert_eq!(first.unwrap(), [true, true, false]);
    let second = models::used_once::first_uses(&mut conn, &[proof("b"), proof("c")]);
    assert_eq!(second.unwrap(), [false, true]);
}

/// Uses are forgotten once they can no longer be replayed, and not before.
#[test]
fn used_once_forgets_only_what_has_expired() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("sweep.db").display());
    let pool = connect(&url, 1).unwrap();
    migrate(&pool).unwrap();
    let mut conn = pool.get().unwrap();
    let uses = [("old".to_owned(), 100), ("new".to_owned(), 300)];
    models::used_once::first_uses(&mut conn, &uses).unwrap();
    assert_eq!(
        models::used_once::forget_expired(&mut conn, 200).unwrap(),
        1
    );
    let again = models::used_once::first_uses(&mut conn, &uses).unwrap();
    assert_eq!(
        again,
        [true, false],
        "the old one forgotten, the new one kept"
    );
}
