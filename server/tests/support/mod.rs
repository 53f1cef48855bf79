//! Test support (also used by the benchmark): a server on a fresh database (a temporary SQLite file, or a new,
//! randomly named PostgreSQL database that is dropped afterwards), a client that speaks
//! the protocol over real HTTP, and record builders.
//!
//! PostgreSQL comes from `TEST_POSTGRES_URL` (an admin URL; default
//! `postgres://postgres@127.0.0.1:5432/postgres`). When it cannot be reached, a test on
//! PostgreSQL prints a note and passes, unless `CI` is set, where it fails.

#![allow(dead_code)] // Each test file uses its own part of this module.

use reqwest::StatusCode;
use serde_json::{json, Value};
use sqlx::Connection;
use std::future::Future;
use std::time::Duration;
use sync_protocol::{
    Board, LogWithRecord, Operation, OutboxEvent, PullResponse, PushResult, Record, Timestamp,
    Todo, User,
};
use sync_server::{Config, Server, ServerHandle};
use uuid::Uuid;

pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
pub const PASSWORD: &str = "correct horse battery";

/// Runs each named `async fn(Backend)` as two tests, `sqlite::name` and `postgres::name`.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::support::Backend::Postgres).await
                }
            )*
        }
    };
}

pub use sync_server::storage::Backend;

/// Whether this run is CI's, where a suite that cannot run fails instead of skipping.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !v.is_empty() && v != "false" && v != "0")
}

pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_ADMIN_URL.into())
}

/// A fresh, empty database for one test.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The admin URL and the database's name, to drop it at the end.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// None when PostgreSQL is unreachable outside CI (the test then skips).
    pub async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                // A folder that does not exist yet: the server creates it.
                let path = dir.path().join("data").join("sync.db");
                Some(TestDb {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let mut connection = match tokio::time::timeout(
                    Duration::from_secs(5),
                    sqlx::PgConnection::connect(&admin),
                )
                .await
                {
                    Ok(Ok(connection)) => connection,
                    Ok(Err(error)) => return skip_postgres(&admin, &error.to_string()),
                    Err(_) => return skip_postgres(&admin, "timed out"),
                };
                let name = format!("sync_test_{}", Uuid::new_v4().simple());
                sqlx::query(&format!("CREATE DATABASE {name}"))
                    .execute(&mut connection)
                    .await
                    .expect("create the test database");
                let _ = connection.close().await;
                let url = database_url(&admin, &name);
                Some(TestDb {
                    backend,
                    url,
                    _dir: None,
                    postgres: Some((admin, name)),
                })
            }
        }
    }

    /// A snapshot of every table the sync API writes, for "nothing changed" checks.
    pub async fn snapshot(&self) -> Vec<String> {
        const QUERIES: [&str; 7] = [
            "SELECT scope_key || '|' || seq || '|' || model || '|' || CAST(key_path AS TEXT) \
             || '|' || operation || '|' || outbox_event_id FROM changelog \
             ORDER BY scope_key, seq",
            "SELECT scope_key || '|' || last_seq FROM scopes ORDER BY scope_key",
            "SELECT outbox_event_id || '|' || scope_key || '|' || seq FROM push_receipts \
             ORDER BY outbox_event_id",
            "SELECT id || '|' || name || '|' || COALESCE(image, '<null>') || '|' || updated_at \
             || '|' || email FROM users ORDER BY id",
            "SELECT id || '|' || name || '|' || created_at || '|' || user_id FROM boards \
             ORDER BY id",
            "SELECT id || '|' || title || '|' || COALESCE(description, '<null>') || '|' || \
             CAST(is_completed AS TEXT) || '|' || created_at || '|' || board_id FROM todos \
             ORDER BY id",
            "SELECT user_id || '|' || expires_at FROM sessions ORDER BY token_hash",
        ];
        let mut rows = Vec::new();
        for (table, query) in QUERIES.iter().enumerate() {
            let found: Vec<String> = match self.backend {
                Backend::Sqlite => {
                    let mut db = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                    sqlx::query_scalar(query).fetch_all(&mut db).await.unwrap()
                }
                Backend::Postgres => {
                    let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
                    sqlx::query_scalar(query).fetch_all(&mut db).await.unwrap()
                }
            };
            rows.extend(found.into_iter().map(|row| format!("{table}:{row}")));
        }
        rows
    }

    /// Runs one statement on the test database (for seeding and for tests of faults).
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => {
                let mut db = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut db).await.unwrap();
            }
            Backend::Postgres => {
                let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
                sqlx::query(sql).execute(&mut db).await.unwrap();
            }
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code (and during a panic): use a thread of our own.
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .expect("runtime");
            runtime.block_on(async move {
                let mut connection = sqlx::PgConnection::connect(&admin).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut connection)
                    .await
                    .map(|_| ())
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("note: could not drop a test database: {dropped:?}");
        }
    }
}

/// Runs one statement on the PostgreSQL server through the admin URL.
pub async fn admin_execute(sql: &str) {
    let mut connection = sqlx::PgConnection::connect(&postgres_admin_url())
        .await
        .expect("admin connection");
    sqlx::query(sql).execute(&mut connection).await.unwrap();
}

fn skip_postgres(admin: &str, why: &str) -> Option<TestDb> {
    if in_ci() {
        panic!("PostgreSQL at {admin} is required under CI but unreachable: {why}");
    }
    eprintln!(
        "SKIPPED (PostgreSQL unreachable at {admin}: {why}; set TEST_POSTGRES_URL to use another)"
    );
    None
}

/// The admin URL with its database name replaced.
pub fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

/// A server on its own fresh database.
pub struct TestServer {
    // Fields drop in order: the server stops before its database is dropped.
    handle: Option<ServerHandle>,
    pub url: String,
    pub db: TestDb,
    _app_dir: tempfile::TempDir,
}

impl TestServer {
    pub async fn start(backend: Backend) -> Option<TestServer> {
        TestServer::start_with(backend, |_| {}).await
    }

    /// Starts with a configuration adjusted by `configure`.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> Option<TestServer> {
        TestServer::start_custom(backend, configure, |config| async {
            Server::start(config).await
        })
        .await
    }

    /// Starts with a configuration adjusted by `configure` and a server built by `build`.
    pub async fn start_custom<F, Fut>(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
        build: F,
    ) -> Option<TestServer>
    where
        F: FnOnce(Config) -> Fut,
        Fut: Future<Output = Result<Server, sync_server::Error>>,
    {
        let db = TestDb::create(backend).await?;
        let app_dir = tempfile::tempdir().expect("temp dir");
        std::fs::write(app_dir.path().join("index.html"), "<!doctype html>").unwrap();
        let mut config = Config::local(db.url.clone(), app_dir.path());
        configure(&mut config);
        let handle = build(config).await.expect("server starts").spawn();
        Some(TestServer {
            url: handle.url.clone(),
            handle: Some(handle),
            db,
            _app_dir: app_dir,
        })
    }

    /// Another server process-alike on the same database (its own pool and listener).
    pub async fn second_instance(&self) -> ServerHandle {
        let config = Config::local(self.db.url.clone(), self._app_dir.path());
        Server::start(config)
            .await
            .expect("second server starts")
            .spawn()
    }

    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop().await;
        }
    }

    /// A client without a session.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url)
    }

    /// A client signed up as a new user.
    pub async fn user(&self, name: &str) -> Client {
        let mut client = Client::new(&self.url);
        let email = format!("{name}-{}@example.com", Uuid::new_v4().simple());
        let response = client.signup(&email, PASSWORD, name).await;
        assert_eq!(response.status(), StatusCode::CREATED, "sign-up");
        let session: Value = response.json().await.unwrap();
        client.token = Some(session["token"].as_str().unwrap().to_string());
        client.user = Some(serde_json::from_value(session["user"].clone()).unwrap());
        client
    }
}

/// An HTTP client of the API, with an optional session.
#[derive(Clone)]
pub struct Client {
    pub http: reqwest::Client,
    pub base: String,
    pub token: Option<String>,
    pub user: Option<User>,
}

impl Client {
    pub fn new(base: &str) -> Client {
        Client {
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(60))
                .build()
                .unwrap(),
            base: base.to_string(),
            token: None,
            user: None,
        }
    }

    /// A client of the same user talking to another server.
    pub fn via(&self, base: &str) -> Client {
        Client {
            base: base.to_string(),
            ..self.clone()
        }
    }

    pub fn user(&self) -> &User {
        self.user.as_ref().expect("a signed-up client")
    }

    pub fn user_id(&self) -> Uuid {
        self.user().id
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authorized(&self, request: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        match &self.token {
            Some(token) => request.bearer_auth(token),
            None => request,
        }
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.authorized(self.http.get(self.url(path)))
            .send()
            .await
            .unwrap()
    }

    pub async fn post_json(&self, path: &str, body: &Value) -> reqwest::Response {
        self.authorized(self.http.post(self.url(path)).json(body))
            .send()
            .await
            .unwrap()
    }

    /// Posts raw bytes as JSON, malformed or not.
    pub async fn post_raw(&self, path: &str, body: impl Into<reqwest::Body>) -> reqwest::Response {
        self.authorized(
            self.http
                .post(self.url(path))
                .header("content-type", "application/json")
                .body(body),
        )
        .send()
        .await
        .unwrap()
    }

    pub async fn signup(&self, email: &str, password: &str, name: &str) -> reqwest::Response {
        self.post_json(
            "/api/auth/signup",
            &json!({"email": email, "password": password, "name": name}),
        )
        .await
    }

    pub async fn login(&self, email: &str, password: &str) -> reqwest::Response {
        self.post_json(
            "/api/auth/login",
            &json!({"email": email, "password": password}),
        )
        .await
    }

    /// Pushes and expects 200.
    pub async fn push(&self, events: &[OutboxEvent]) -> Vec<PushResult> {
        let response = self.push_response(events).await;
        assert_eq!(response.status(), StatusCode::OK, "push");
        response.json().await.unwrap()
    }

    pub async fn push_response(&self, events: &[OutboxEvent]) -> reqwest::Response {
        self.post_json("/api/sync/push", &json!({ "events": events }))
            .await
    }

    /// Pushes one event and expects it applied; returns its changelog id.
    pub async fn apply(&self, event: &OutboxEvent) -> String {
        let results = self.push(std::slice::from_ref(event)).await;
        assert_eq!(results.len(), 1);
        assert!(
            results[0].error.is_none(),
            "event should apply: {:?}",
            results[0].error
        );
        results[0].applied_changelog_id.clone().unwrap()
    }

    /// One pull page; expects 200.
    pub async fn pull(&self, cursor: Option<&str>, limit: Option<u32>) -> PullResponse {
        let mut body = json!({});
        if let Some(cursor) = cursor {
            body["lastChangelogId"] = json!(cursor);
        }
        if let Some(limit) = limit {
            body["limit"] = json!(limit);
        }
        let response = self.post_json("/api/sync/pull", &body).await;
        assert_eq!(response.status(), StatusCode::OK, "pull");
        response.json().await.unwrap()
    }

    /// The whole changelog, page by page.
    pub async fn pull_all(&self) -> Vec<LogWithRecord> {
        let mut cursor: Option<String> = None;
        let mut logs = Vec::new();
        loop {
            let page = self.pull(cursor.as_deref(), Some(1000)).await;
            if page.logs_with_records.is_empty() {
                return logs;
            }
            cursor = page.cursor;
            logs.extend(page.logs_with_records);
        }
    }

    /// The current state of one record as the last entry for it in a full pull shows.
    pub async fn pulled_record(&self, id: Uuid) -> Option<Value> {
        self.pull_all()
            .await
            .into_iter()
            .rev()
            .find(|log| log.record_id() == Some(&id.to_string()))
            .and_then(|log| log.record)
    }
}

/// Asserts the status and the `error` text of a JSON error answer; returns the body.
pub async fn expect_error(response: reqwest::Response, status: u16, error: &str) -> Value {
    assert_eq!(response.status().as_u16(), status);
    let body: Value = response.json().await.expect("a JSON error body");
    assert_eq!(body["error"], json!(error), "{body}");
    body
}

pub fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

pub fn board(user: Uuid, name: &str) -> Board {
    Board {
        id: Uuid::new_v4(),
        name: name.to_string(),
        created_at: now(),
        user_id: user,
    }
}

pub fn todo(board: Uuid, title: &str) -> Todo {
    Todo {
        id: Uuid::new_v4(),
        title: title.to_string(),
        description: None,
        is_completed: false,
        created_at: now(),
        board_id: board,
    }
}

/// A fresh outbox event carrying `record` after `operation`.
pub fn event(operation: Operation, record: impl Into<Record>) -> OutboxEvent {
    OutboxEvent::new(Uuid::new_v4(), operation, &record.into(), now())
}

pub fn create(record: impl Into<Record>) -> OutboxEvent {
    event(Operation::Create, record)
}

pub fn update(record: impl Into<Record>) -> OutboxEvent {
    event(Operation::Update, record)
}

pub fn delete(record: impl Into<Record>) -> OutboxEvent {
    event(Operation::Delete, record)
}

/// The error type name of a result (panics if it applied).
pub fn error_type(result: &PushResult) -> &'static str {
    result
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected an error for {}", result.id))
        .kind
        .name()
}
