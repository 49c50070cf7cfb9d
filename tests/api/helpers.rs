//! The test harness: a fresh database per test (a temporary SQLite file, or
//! a new PostgreSQL database when `KEYMINT_TEST_POSTGRES_URL` is set), the
//! real server on port 0, and an HTTP client.

use diesel::{Connection, PgConnection, RunQueryDsl};
use keymint::api_keys::{self, NewKey};
use keymint::config::Config;
use keymint::db::DbConnection;
use keymint::error::ApiError;
use keymint::secrets::Secret;
use keymint::server::Server;
use keymint::signing::KeyTiming;
use keymint::state::AppState;
use serde_json::Value;

pub const POSTGRES_ENV: &str = "KEYMINT_TEST_POSTGRES_URL";
/// The owner auto-bootstrap creates, without a password.
pub const OWNER_EMAIL: &str = "admin@localhost";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

/// One test's private database, removed when the test ends.
pub struct TestDb {
    pub url: String,
    _sqlite_dir: Option<tempfile::TempDir>,
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// `None` when the backend is PostgreSQL and no server is configured.
    pub fn create(backend: Backend) -> Option<Self> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                let url = format!("sqlite://{}", dir.path().join("keymint.db").display());
                Some(Self {
                    url,
                    _sqlite_dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let Ok(admin_url) = std::env::var(POSTGRES_ENV) else {
                    eprintln!("note: {POSTGRES_ENV} is not set; skipping the PostgreSQL run");
                    return None;
                };
                let name = format!("keymint_test_{}", uuid::Uuid::new_v4().simple());
                let mut admin = PgConnection::establish(&admin_url)
                    .unwrap_or_else(|e| panic!("{POSTGRES_ENV} is set but unreachable: {e}"));
                diesel::sql_query(format!("CREATE DATABASE {name}"))
                    .execute(&mut admin)
                    .unwrap();
                let url = replace_database(&admin_url, &name);
                Some(Self {
                    url,
                    _sqlite_dir: None,
                    postgres: Some((admin_url, name)),
                })
            }
        }
    }

    /// PostgreSQL only: refuses (or allows again) every new connection to
    /// this test's database and, when refusing, ends the open ones: the
    /// database is gone for the server until it is allowed back.
    pub fn set_postgres_reachable(&self, reachable: bool) {
        let (admin_url, name) = self.postgres.as_ref().expect("a PostgreSQL test database");
        let mut admin = PgConnection::establish(admin_url).expect("admin connection");
        diesel::sql_query(format!(
            "ALTER DATABASE {name} ALLOW_CONNECTIONS {reachable}"
        ))
        .execute(&mut admin)
        .unwrap();
        if !reachable {
            diesel::sql_query(format!(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = '{name}'"
            ))
            .execute(&mut admin)
            .unwrap();
        }
    }

    /// Drops the database now (it is also dropped when the test ends).
    pub fn drop_postgres_database(&self) {
        if let Some((admin_url, name)) = &self.postgres
            && let Ok(mut admin) = PgConnection::establish(admin_url)
        {
            let _ = diesel::sql_query(format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut admin);
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        self.drop_postgres_database();
    }
}

/// `postgres://u@h:p/db?x` with `db` replaced.
fn replace_database(url: &str, database: &str) -> String {
    let (base, query) = url
        .split_once('?')
        .map_or((url, None), |(b, q)| (b, Some(q)));
    let scheme_end = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[scheme_end..].find('/') {
        Some(slash) => &base[..scheme_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{host_part}/{database}?{query}"),
        None => format!("{host_part}/{database}"),
    }
}

/// What the first start printed: the bootstrap workspace and its key.
pub struct BootstrapKey {
    pub workspace_id: String,
    pub user_id: String,
    pub secret: String,
}

pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
    pub bootstrap: BootstrapKey,
    pub db: TestDb,
    /// Kept so the folder lives as long as the server using it.
    keys_folder: tempfile::TempDir,
}

/// A config for a test server on `db`, port 0, and a fresh keys folder.
pub fn test_config(db: &TestDb, keys_dir: &std::path::Path) -> Config {
    Config {
        database_url: db.url.clone(),
        keys_dir: keys_dir.to_owned(),
        bind: "127.0.0.1:0".to_owned(),
        ..Config::default()
    }
}

pub async fn spawn_app(backend: Backend) -> Option<TestApp> {
    spawn_app_with(backend, |_| {}).await
}

/// Starts the real server, with `adjust` applied to the test config.
pub async fn spawn_app_with(backend: Backend, adjust: impl FnOnce(&mut Config)) -> Option<TestApp> {
    spawn_app_with_key_timing(backend, KeyTiming::default(), adjust).await
}

/// Starts the real server with another key reload period and JWKS max-age.
pub async fn spawn_app_with_key_timing(
    backend: Backend,
    timing: KeyTiming,
    adjust: impl FnOnce(&mut Config),
) -> Option<TestApp> {
    let db = TestDb::create(backend)?;
    let keys_dir = tempfile::tempdir().expect("temp dir");
    let mut config = test_config(&db, keys_dir.path());
    adjust(&mut config);
    let scheme = if config.tls_enabled() {
        "https"
    } else {
        "http"
    };
    // Flushes happen when a test asks for one, never behind its back.
    let server = Server::build_with_key_timing(config, timing)
        .expect("server starts")
        .with_usage_flush_period(std::time::Duration::from_secs(24 * 3600));
    let base = format!("{scheme}://{}", server.local_addr());
    let state = server.state();
    let done = server
        .bootstrapped
        .as_ref()
        .expect("a fresh database is bootstrapped");
    let bootstrap = BootstrapKey {
        workspace_id: done.workspace.id.clone(),
        user_id: done.user.id.clone(),
        secret: done.api_key.secret.clone(),
    };
    tokio::spawn(server.run());
    Some(TestApp {
        base,
        client: http_client(),
        state,
        bootstrap,
        db,
        keys_folder: keys_dir,
    })
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub fn keys_dir(&self) -> &std::path::Path {
        self.keys_folder.path()
    }

    /// A fresh token from the bootstrap key.
    pub async fn token(&self) -> String {
        let (status, body) =
            status_and_json(self.exchange_bearer(&self.bootstrap.secret).await).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().expect("a token").to_owned()
    }

    /// The first token signed by `kid`, waiting (bounded) for the server to
    /// reload its keys folder.
    pub async fn token_signed_by(&self, kid: &str, within: std::time::Duration) -> String {
        eventually(within, &format!("a token signed by {kid}"), || async {
            // Until the reload, the exchange may also answer 503 (no key).
            let (status, body) =
                status_and_json(self.exchange_bearer(&self.bootstrap.secret).await).await;
            let token = body["access_token"].as_str().filter(|_| status == 200)?;
            (token_kid(token) == kid).then(|| token.to_owned())
        })
        .await
    }

    /// Runs database work with a pooled connection, as a handler would.
    pub async fn with_db<T: Send + 'static>(
        &self,
        work: impl FnOnce(&mut DbConnection) -> Result<T, ApiError> + Send + 'static,
    ) -> T {
        let done = keymint::db::run(&self.state.pool, work)
            .await
            .unwrap_or_else(|e| panic!("database: {e:?}"));
        // Written behind the server's back, as an operator's SQL would be:
        // wait until its check for changes has seen the write.
        self.state
            .pool
            .auth_version()
            .seen_changes_until_now()
            .await;
        done
    }

    /// Stores a key directly (the management API is not under test here)
    /// and returns its id and secret.
    pub async fn insert_key(
        &self,
        adjust: impl FnOnce(&mut NewKey) + Send + 'static,
    ) -> (String, Secret) {
        let mut new_key = NewKey::new(
            &self.bootstrap.workspace_id,
            api_keys::KeyKind::Workspace,
            "test",
        );
        adjust(&mut new_key);
        self.with_db(move |conn| {
            let (row, secret) = api_keys::issue(new_key, keymint::clock::now())?;
            keymint::db::models::api_keys::insert(conn, &row)?;
            Ok((row.id, secret))
        })
        .await
    }

    pub async fn exchange_bearer(&self, secret: &str) -> reqwest::Response {
        exchange_bearer(&self.client, &self.url("/auth/token"), secret).await
    }

    /// A second replica: another server on this app's database and keys
    /// folder, serving until the test ends.
    pub async fn replica(&self) -> Replica {
        self.replica_with(|_| {}).await
    }

    /// A second replica, with `adjust` applied to its config.
    pub async fn replica_with(&self, adjust: impl FnOnce(&mut Config)) -> Replica {
        let mut config = test_config(&self.db, self.keys_dir());
        adjust(&mut config);
        let server = Server::build(config)
            .expect("replica starts")
            .with_usage_flush_period(std::time::Duration::from_secs(24 * 3600));
        assert!(server.bootstrapped.is_none(), "the database is shared");
        let base = format!("http://{}", server.local_addr());
        let state = server.state();
        tokio::spawn(server.run());
        Replica {
            base,
            client: http_client(),
            state,
        }
    }

    pub async fn exchange_json(&self, body: Value) -> reqwest::Response {
        self.client
            .post(self.url("/auth/token"))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn exchange_form(&self, form: &[(&str, &str)]) -> reqwest::Response {
        self.client
            .post(self.url("/auth/token"))
            .form(form)
            .send()
            .await
            .expect("request")
    }
}

impl TestApp {
    /// `/api/v1/workspaces/<bootstrap workspace><rest>`.
    pub fn ws_path(&self, rest: &str) -> String {
        format!("/api/v1/workspaces/{}{rest}", self.bootstrap.workspace_id)
    }

    /// A management API request authenticated with `credential`.
    pub fn api(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
    ) -> reqwest::RequestBuilder {
        self.client
            .request(method, self.url(path))
            .bearer_auth(credential)
    }

    /// A management API call: its status and JSON body (`null` when the
    /// body is empty or not JSON).
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        credential: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        let request = self.api(method, path, credential);
        let request = match body {
            Some(body) => request.json(&body),
            None => request,
        };
        let response = request.send().await.expect("request");
        let status = response.status().as_u16();
        let text = response.text().await.expect("body");
        (status, serde_json::from_str(&text).unwrap_or(Value::Null))
    }

    /// Ends a rotated key's grace period now, by moving its deadline into
    /// the past rather than by waiting for it.
    pub async fn end_grace_period(&self, key_id: &str) {
        let key_id = key_id.to_owned();
        self.with_db(move |conn| {
            use diesel::prelude::*;
            use keymint::db::schema::api_keys;
            diesel::update(api_keys::table.find(key_id))
                .set(
                    api_keys::previous_secret_expires_at
                        .eq(keymint::clock::now() - chrono::Duration::seconds(1)),
                )
                .execute(conn)?;
            Ok(())
        })
        .await;
    }

    /// A portal session for `external_id` that expired half an hour ago,
    /// signed with the server's own key.
    pub fn expired_portal_session(&self, external_id: &str) -> String {
        let issued_at = chrono::Utc::now().timestamp() - 3600;
        keymint::tokens::issue::portal_session(
            &self.state.signer().unwrap(),
            &self.base,
            &self.bootstrap.workspace_id,
            external_id,
            issued_at,
            1800,
            None,
        )
        .unwrap()
    }

    /// Creates a key through the API and returns only its secret.
    pub async fn new_secret(&self, body: Value) -> String {
        self.create_key(body).await["secret"]
            .as_str()
            .expect("a secret")
            .to_owned()
    }

    /// Creates a key through the API with the bootstrap key; returns the
    /// 201 body (the key and its secret).
    /// The newest page of the bootstrap workspace's audit log.
    pub async fn audit_events(&self) -> Vec<Value> {
        let (status, log) = self
            .call(
                reqwest::Method::GET,
                &self.ws_path("/audit-log"),
                &self.bootstrap.secret,
                None,
            )
            .await;
        assert_eq!(status, 200, "{log}");
        log["data"].as_array().expect("a page of events").clone()
    }

    /// The actions of [`audit_events`](Self::audit_events), newest first.
    pub async fn audit_actions(&self) -> Vec<String> {
        self.audit_events()
            .await
            .iter()
            .filter_map(|event| event["action"].as_str().map(str::to_owned))
            .collect()
    }

    pub async fn create_key(&self, body: Value) -> Value {
        let response = self
            .api(
                reqwest::Method::POST,
                &self.ws_path("/keys"),
                &self.bootstrap.secret,
            )
            .json(&body)
            .send()
            .await
            .expect("request");
        let (status, created) = status_and_json(response).await;
        assert_eq!(status, 201, "{created}");
        created
    }
}

impl TestApp {
    /// Gives `email` a password directly in the database.
    pub async fn set_password(&self, email: &str, password: &str) {
        let (email, hash) = (
            email.to_owned(),
            keymint::passwords::hash(password).unwrap(),
        );
        self.with_db(move |conn| {
            let user =
                keymint::db::models::users::find_by_email(conn, &email)?.expect("user exists");
            keymint::db::models::users::set_password_hash(conn, &user.id, &hash)?;
            Ok(())
        })
        .await;
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.client
            .post(self.url("/auth/login"))
            .json(&serde_json::json!({ "email": email, "password": password }))
            .send()
            .await
            .expect("request")
    }

    /// Logs in and returns the access token (asserting success).
    pub async fn login_token(&self, email: &str, password: &str) -> String {
        let (status, body) = status_and_json(self.login(email, password).await).await;
        assert_eq!(status, 200, "{body}");
        body["access_token"].as_str().unwrap().to_owned()
    }

    /// Adds a member with the bootstrap key, accepts their invitation with
    /// `password`, and returns (user id, login token).
    pub async fn person(&self, email: &str, role: &str, password: &str) -> (String, String) {
        let response = self
            .api(
                reqwest::Method::POST,
                &self.ws_path("/members"),
                &self.bootstrap.secret,
            )
            .json(&serde_json::json!({ "email": email, "role": role }))
            .send()
            .await
            .expect("request");
        let (status, added) = status_and_json(response).await;
        assert_eq!(status, 201, "{added}");
        let token = added["invitation"]["token"]
            .as_str()
            .expect("an invitation")
            .to_owned();
        let accept = self
            .client
            .post(self.url("/auth/accept-invite"))
            .json(&serde_json::json!({ "token": token, "password": password }))
            .send()
            .await
            .expect("request");
        assert_eq!(accept.status(), 200);
        (
            added["user_id"].as_str().unwrap().to_owned(),
            self.login_token(email, password).await,
        )
    }
}

/// An HTTP client for the tests. reqwest is built without a rustls crypto
/// provider (keymint is ring-only, never aws-lc-rs), so ring is installed
/// first, as keymint's verifier does.
/// Another server on a [`TestApp`]'s database: see [`TestApp::replica`].
pub struct Replica {
    pub base: String,
    pub client: reqwest::Client,
    pub state: actix_web::web::Data<AppState>,
}

impl Replica {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn exchange_bearer(&self, secret: &str) -> reqwest::Response {
        exchange_bearer(&self.client, &self.url("/auth/token"), secret).await
    }
}

/// `POST url` with `secret` as the Bearer credential.
pub async fn exchange_bearer(
    client: &reqwest::Client,
    url: &str,
    secret: &str,
) -> reqwest::Response {
    client
        .post(url)
        .bearer_auth(secret)
        .send()
        .await
        .expect("request")
}

/// The value of the Prometheus sample whose name and labels are exactly
/// `series`, in a `/metrics` text.
/// Key lookups of the server at `base` so far, by result (hit or miss).
pub async fn lookups(client: &reqwest::Client, base: &str, result: &str) -> f64 {
    let metrics = client.get(format!("{base}/metrics")).send().await.unwrap();
    let text = metrics.text().await;
    let series = format!("keymint_key_cache_lookups_total{{result=\"{result}\"}}");
    metric_sample(&text.unwrap(), &series).unwrap_or_else(|| panic!("no {series}"))
}

/// Exchanges `secret` at the server at `base` until one is answered from
/// its cache: the first may come before the server's first check vouches
/// for its cache.
pub async fn exchange_until_a_cache_hit(client: &reqwest::Client, base: &str, secret: &str) {
    eventually(std::time::Duration::from_secs(5), "a cache hit", || async {
        let response = exchange_bearer(client, &format!("{base}/auth/token"), secret).await;
        assert_eq!(response.status(), 200);
        (lookups(client, base, "hit").await >= 1.0).then_some(())
    })
    .await;
}

pub fn metric_sample(text: &str, series: &str) -> Option<f64> {
    text.lines()
        .filter(|line| !line.starts_with('#'))
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' ')?.parse().ok())
}

pub fn http_client() -> reqwest::Client {
    // Err only means a provider is installed already.
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// [`http_client`] that also trusts the PEM certificate `ca_pem` (a test CA).
pub fn http_client_trusting(ca_pem: &str) -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(ca_pem.as_bytes()).expect("PEM"))
        .build()
        .expect("client")
}

/// The status and JSON body of a response.
pub async fn status_and_json(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.expect("body");
    let body =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("not JSON ({status}): {text}"));
    (status, body)
}

/// Asserts the contract's error shape and code, and returns the body.
pub async fn assert_error(response: reqwest::Response, status: u16, code: &str) -> Value {
    let (actual, body) = status_and_json(response).await;
    assert_eq!(
        (actual, body["error"].as_str()),
        (status, Some(code)),
        "{body}"
    );
    assert!(
        body["detail"].as_str().is_some_and(|d| !d.is_empty()),
        "{body}"
    );
    body
}

/// Decodes a JWT's claims without verifying (verification has its own test).
/// Waits until the whole second `token` was issued in (its `iat`) is over:
/// tokens are stamped in whole seconds, so a change meant to come after a
/// token must come in a later second.
pub async fn after_the_second_of(token: &str) {
    let issued = unverified_claims(token)["iat"].as_i64().expect("iat");
    while chrono::Utc::now().timestamp() <= issued {
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

pub fn unverified_claims(token: &str) -> Value {
    use base64::Engine;
    let payload = token.split('.').nth(1).expect("three parts");
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .expect("base64url");
    serde_json::from_slice(&bytes).expect("JSON claims")
}

/// The `kid` in a JWT's header.
pub fn token_kid(token: &str) -> String {
    jsonwebtoken::decode_header(token)
        .expect("a JWT header")
        .kid
        .expect("a kid")
}

/// Failure throttling counts in fixed clock minutes (`keymint::throttle`):
/// a test that needs N failures in one window waits, when fewer than
/// `needed` remain in the current minute, for the next one to begin. A
/// wait for a known instant, not for luck.
pub async fn within_one_throttle_window(needed: std::time::Duration) {
    let since_epoch = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("a clock after 1970");
    let into_minute = std::time::Duration::from_millis((since_epoch.as_millis() % 60_000) as u64);
    let left = std::time::Duration::from_secs(60) - into_minute;
    if left < needed {
        tokio::time::sleep(left + std::time::Duration::from_millis(100)).await;
    }
}

/// Polls `probe` every 50 ms until it gives a value; fails the test after
/// `within`. For waiting on a condition, never on luck.
pub async fn eventually<T, F, Fut>(within: std::time::Duration, what: &str, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + within;
    loop {
        if let Some(value) = probe().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "waited {within:?} for {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

/// Generates `#[tokio::test]`s that run each named test body once on SQLite
/// and once on PostgreSQL: `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Sqlite).await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::helpers::Backend::Postgres).await;
                }
            )*
        }
    };
}

/// A key's flushed usage, as stored (what a flush wrote, nothing pending).
pub async fn usage_of(app: &TestApp, key_id: &str) -> (i64, Option<chrono::NaiveDateTime>) {
    use diesel::prelude::*;
    use keymint::db::schema::api_key_usage;
    let id = key_id.to_owned();
    app.with_db(move |conn| {
        Ok(api_key_usage::table
            .find(id)
            .select((api_key_usage::usage_count, api_key_usage::last_used_at))
            .first(conn)?)
    })
    .await
}

#[cfg(test)]
mod tests {
    #[test]
    fn database_names_are_replaced_in_urls() {
        use super::replace_database;
        assert_eq!(
            replace_database("postgres://u@h:5432/test", "x"),
            "postgres://u@h:5432/x"
        );
        assert_eq!(
            replace_database("postgres://u@h/test?sslmode=disable", "x"),
            "postgres://u@h/x?sslmode=disable"
        );
        assert_eq!(replace_database("postgres://u@h", "x"), "postgres://u@h/x");
    }
}
