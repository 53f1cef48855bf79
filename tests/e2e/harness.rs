//! The parts an end-to-end test stands on: a sync server on a temporary SQLite file
//! serving the built app, and headless Chromium driven through ChromeDriver.

use fantoccini::{Client, ClientBuilder, Locator};
use std::net::TcpListener;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};
use sync_server::{Config, Server, ServerHandle};

/// How long a test waits for something to appear before it fails.
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Whether a missing browser or app must fail the run (under `cargo xtask test` in CI).
fn required() -> bool {
    std::env::var_os("SYNC_REQUIRE_ALL_SUITES").is_some()
}

/// Where the built app is, or None (with a note) when the run did not build it.
pub fn app_dir_for_tests() -> Option<PathBuf> {
    app_dir()
}

/// Copies a built app to `to`, with its own `config.json`.
pub fn copy_app(from: &std::path::Path, to: &std::path::Path, config_json: &str) {
    for entry in std::fs::read_dir(from)
        .expect("the app folder is readable")
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("a folder");
            copy_app(&entry.path(), &target, config_json);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
    std::fs::write(to.join("config.json"), config_json).expect("config.json");
}

fn app_dir() -> Option<PathBuf> {
    match std::env::var_os("SYNC_E2E_APP_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None if required() => panic!("SYNC_E2E_APP_DIR is not set: run `cargo xtask test`"),
        None => {
            eprintln!("skipped: no built app (run `cargo xtask test` to run end-to-end tests)");
            None
        }
    }
}

/// The server and its temporary database, for one test.
pub struct Stack {
    pub url: String,
    server: Option<ServerHandle>,
    pub database_url: String,
    config: Config,
    _data: tempfile::TempDir,
    /// A PostgreSQL database made for this stack, dropped with it: (admin URL, name).
    postgres: Option<(String, String)>,
}

impl Stack {
    /// Starts a server on a fresh SQLite file; None when end-to-end tests cannot run here.
    pub async fn start() -> Option<Stack> {
        let app_dir = app_dir()?;
        Some(Stack::start_with_app(&app_dir).await)
    }

    /// Starts a server on a fresh SQLite file, serving the app in `app_dir`.
    pub async fn start_with_app(app_dir: &std::path::Path) -> Stack {
        let data = tempfile::tempdir().expect("temporary folder");
        let database_url = format!("sqlite://{}", data.path().join("sync.db").display());
        let config = Config::local(&database_url, app_dir);
        Stack::launch(config, data, None).await
    }

    /// Starts a server on a fresh SQLite file that accepts cross-origin requests only
    /// from `origin` (where the app is hosted statically).
    pub async fn start_for_origin(origin: &str) -> Option<Stack> {
        let app_dir = app_dir()?;
        let data = tempfile::tempdir().expect("temporary folder");
        let database_url = format!("sqlite://{}", data.path().join("sync.db").display());
        let mut config = Config::local(&database_url, app_dir);
        config.cors_origins = vec![origin.to_string()];
        Some(Stack::launch(config, data, None).await)
    }

    /// Starts a server on a new PostgreSQL database (dropped afterwards); None when
    /// end-to-end tests cannot run here, or PostgreSQL is unreachable outside CI.
    pub async fn start_postgres() -> Option<Stack> {
        use sqlx::Connection;
        let app_dir = app_dir()?;
        let admin = std::env::var("TEST_POSTGRES_URL")
            .unwrap_or_else(|_| "postgres://postgres@127.0.0.1:5432/postgres".into());
        let mut connection = match sqlx::PgConnection::connect(&admin).await {
            Ok(connection) => connection,
            Err(e) if required() => {
                panic!("PostgreSQL at {admin} is required but unreachable: {e}")
            }
            Err(e) => {
                eprintln!("skipped: PostgreSQL at {admin} is unreachable: {e}");
                return None;
            }
        };
        let name = format!(
            "sync_e2e_{}",
            std::process::id() as u64 * 1000 + free_port() as u64
        );
        sqlx::query(&format!("CREATE DATABASE {name}"))
            .execute(&mut connection)
            .await
            .expect("a test database is created");
        let database_url = match admin.rsplit_once('/') {
            Some((base, _)) => format!("{base}/{name}"),
            None => panic!("TEST_POSTGRES_URL has no database path: {admin}"),
        };
        let data = tempfile::tempdir().expect("temporary folder");
        let config = Config::local(&database_url, app_dir);
        Some(Stack::launch(config, data, Some((admin, name))).await)
    }

    async fn launch(
        mut config: Config,
        data: tempfile::TempDir,
        postgres: Option<(String, String)>,
    ) -> Stack {
        let server = Server::start(config.clone())
            .await
            .expect("the sync server starts")
            .spawn();
        // A restart must come back on the same port.
        config.addr = server.addr;
        Stack {
            url: server.url.clone(),
            server: Some(server),
            database_url: config.database_url.clone(),
            config,
            _data: data,
            postgres,
        }
    }

    /// Opens `count` browsers signed in as one new person (`email`, `password`), each
    /// synced once.
    pub async fn devices(&self, count: usize, email: &str, password: &str) -> Vec<Browser> {
        let mut browsers = Vec::with_capacity(count);
        for n in 0..count {
            let browser = Browser::open().await;
            browser.goto(&self.url).await;
            if n == 0 {
                browser.sign_up(email, password, "Many Devices").await;
            } else {
                browser.sign_in(email, password).await;
            }
            browser.wait_synced().await;
            browsers.push(browser);
        }
        browsers
    }

    /// Runs a statement on the server's database, behind its back (to simulate what
    /// the app cannot cause itself, such as sessions expiring).
    pub async fn execute_sql(&self, sql: &str) {
        if self.database_url.starts_with("sqlite:") {
            run_statement::<sqlx::SqliteConnection>(&self.database_url, sql).await;
        } else {
            run_statement::<sqlx::PgConnection>(&self.database_url, sql).await;
        }
    }

    /// Stops the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(server) = self.server.take() {
            server.kill();
        }
    }

    /// Starts the server again on the same database and port (killing it first if it runs).
    pub async fn restart(&mut self) {
        self.kill();
        let config = self.config.clone();
        // The old listener may take a moment to close.
        let started = Instant::now();
        let server = loop {
            match Server::start(config.clone()).await {
                Ok(server) => break server,
                Err(e) if started.elapsed() < PATIENCE => {
                    eprintln!("waiting to restart: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the server does not restart: {e}"),
            }
        };
        self.server = Some(server.spawn());
    }

    /// What the server holds for a person: every live board and todo, read by signing in
    /// and pulling the whole changelog (each entry carries its record's current state).
    pub async fn server_state(&self, email: &str, password: &str) -> DataSet {
        let http = reqwest::Client::new();
        let session: serde_json::Value = http
            .post(format!("{}/api/auth/login", self.url))
            .json(&serde_json::json!({"email": email, "password": password}))
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("a session");
        let token = session["token"].as_str().expect("a token").to_string();
        let mut state = DataSet::default();
        let mut cursor: Option<String> = None;
        loop {
            let page: serde_json::Value = http
                .post(format!("{}/api/sync/pull", self.url))
                .bearer_auth(&token)
                .json(&serde_json::json!({"lastChangelogId": cursor, "limit": 1000}))
                .send()
                .await
                .expect("the server answers")
                .json()
                .await
                .expect("a page");
            let entries = page["logsWithRecords"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if entries.is_empty() {
                break;
            }
            for entry in entries {
                let id = entry["keyPath"][0].as_str().unwrap_or_default().to_string();
                let map = match entry["model"].as_str() {
                    Some("Board") => &mut state.boards,
                    Some("Todo") => &mut state.todos,
                    _ => continue,
                };
                match &entry["record"] {
                    serde_json::Value::Null => map.remove(&id),
                    record => map.insert(id, without_nulls(record)),
                };
            }
            cursor = page["cursor"].as_str().map(str::to_string);
        }
        state
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.kill();
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        // Drop runs outside async code: drop the database from a thread of its own.
        let dropped = std::thread::spawn(move || {
            use sqlx::Connection;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut connection = sqlx::PgConnection::connect(&admin)
                    .await
                    .map_err(std::io::Error::other)?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                    .execute(&mut connection)
                    .await
                    .map(|_| ())
                    .map_err(std::io::Error::other)
            })
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("warning: could not drop a test database");
        }
    }
}

/// Runs one SQL statement on a new connection of type `C`.
async fn run_statement<C>(url: &str, sql: &str)
where
    C: sqlx::Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut db = C::connect(url).await.expect("the database opens");
    sqlx::raw_sql(sql)
        .execute(&mut db)
        .await
        .expect("the statement runs");
}

/// Boards and todos by id, as JSON records: what a device or the server holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DataSet {
    pub boards: std::collections::BTreeMap<String, serde_json::Value>,
    pub todos: std::collections::BTreeMap<String, serde_json::Value>,
}

/// Reads what a device still has to sync, for failure reports.
const READ_SYNC_STATE: &str = r#"
const done = arguments[arguments.length - 1];
const request = indexedDB.open("boards-sync");
request.onsuccess = () => {
  const db = request.result;
  const tx = db.transaction(["OutboxEvent", "VersionMeta", "Meta"], "readonly");
  const events = tx.objectStore("OutboxEvent").getAll();
  const metas = tx.objectStore("VersionMeta").getAll();
  const cursor = tx.objectStore("Meta").get("cursor");
  tx.oncomplete = () => {
    db.close();
    done(JSON.stringify({
      cursor: cursor.result,
      unsynced: events.result.filter((e) => !e.synced).map((e) =>
        [e.entityType, e.operation, e.payload.name || e.payload.title, e.tries, e.retryable, e.lastError]),
      pendingRecords: metas.result.filter((m) => m.localChangePending).map((m) => [m.model, m.key]),
    }));
  };
};
"#;

/// A record without its null fields: IndexedDB stores an absent optional field as
/// missing, the server's JSON as null; both mean the same.
fn without_nulls(record: &serde_json::Value) -> serde_json::Value {
    match record {
        serde_json::Value::Object(fields) => fields
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

/// Reads the app's IndexedDB from the page.
const READ_LOCAL_STATE: &str = r#"
const done = arguments[arguments.length - 1];
const request = indexedDB.open("boards-sync");
request.onerror = () => done(JSON.stringify({error: String(request.error)}));
request.onsuccess = () => {
  const db = request.result;
  const tx = db.transaction(["Board", "Todo"], "readonly");
  const boards = tx.objectStore("Board").getAll();
  const todos = tx.objectStore("Todo").getAll();
  tx.oncomplete = () => { db.close(); done(JSON.stringify({boards: boards.result, todos: todos.result})); };
  tx.onerror = () => done(JSON.stringify({error: String(tx.error)}));
};
"#;

/// The keys of the `Meta` store (cursor, account, term) as a JSON array.
const READ_META_KEYS: &str = r#"
const done = arguments[arguments.length - 1];
const request = indexedDB.open("boards-sync");
request.onerror = () => done(JSON.stringify({error: String(request.error)}));
request.onsuccess = () => {
  const db = request.result;
  const tx = db.transaction(["Meta"], "readonly");
  const keys = tx.objectStore("Meta").getAllKeys();
  tx.oncomplete = () => { db.close(); done(JSON.stringify(keys.result)); };
  tx.onerror = () => done(JSON.stringify({error: String(tx.error)}));
};
"#;

/// A headless Chromium with its own profile, driven by its own ChromeDriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open() -> Browser {
        let driver_path =
            std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
        let port = free_port();
        let driver = Command::new(&driver_path)
            .arg(format!("--port={port}"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {driver_path}: {e}"));
        let profile = tempfile::tempdir().expect("temporary profile");
        let capabilities = serde_json::json!({
            "goog:chromeOptions": {
                "binary": std::env::var("CHROME").unwrap_or_else(|_| "/usr/bin/chromium".into()),
                // The flags that keep Chromium from hanging on this closed network.
                "args": [
                    "--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                    "--no-first-run", "--disable-background-networking",
                    "--disable-component-update", "--disable-sync",
                    "--disable-dev-shm-usage", "--window-size=1280,900",
                    format!("--user-data-dir={}", profile.path().display()),
                ]
            }
        });
        let capabilities = match capabilities {
            serde_json::Value::Object(map) => map,
            _ => unreachable!("built as an object above"),
        };
        let started = Instant::now();
        let client = loop {
            let connector = hyper_util::client::legacy::connect::HttpConnector::new();
            let attempt = ClientBuilder::new(connector)
                .capabilities(capabilities.clone())
                .connect(&format!("http://127.0.0.1:{port}"))
                .await;
            match attempt {
                Ok(client) => break client,
                Err(e) if started.elapsed() < PATIENCE => {
                    let _ = e;
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("cannot start a browser session: {e}"),
            }
        };
        Browser {
            client,
            driver,
            _profile: profile,
        }
    }

    /// Makes another tab of this browser the current one.
    pub async fn switch_to(&self, tab: fantoccini::wd::WindowHandle) {
        self.client
            .switch_to_window(tab)
            .await
            .expect("the tab is there");
    }

    pub async fn goto(&self, url: &str) {
        self.client.goto(url).await.expect("the page loads");
    }

    /// Waits until the element with `data-testid` exists and its text satisfies `check`;
    /// returns that text.
    pub async fn wait_for_text(&self, test_id: &str, check: impl Fn(&str) -> bool) -> String {
        let selector = format!("[data-testid=\"{test_id}\"]");
        let started = Instant::now();
        let mut last = String::from("<missing>");
        while started.elapsed() < PATIENCE {
            if let Ok(element) = self.client.find(Locator::Css(&selector)).await {
                if let Ok(text) = element.text().await {
                    if check(text.trim()) {
                        return text.trim().to_string();
                    }
                    last = text;
                }
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("{test_id} never matched; its last text was {last:?}");
    }

    fn selector(test_id: &str) -> String {
        format!("[data-testid=\"{}\"]", test_id.replace('"', "\\\""))
    }

    /// Waits for the element with `data-testid` and returns it.
    pub async fn find(&self, test_id: &str) -> fantoccini::elements::Element {
        let selector = Browser::selector(test_id);
        let started = Instant::now();
        loop {
            match self.client.find(Locator::Css(&selector)).await {
                Ok(element) => return element,
                Err(e) if started.elapsed() > PATIENCE => panic!("{test_id} never appeared: {e}"),
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    /// Waits for the element, but only for `limit`.
    pub async fn find_within(
        &self,
        test_id: &str,
        limit: Duration,
    ) -> fantoccini::elements::Element {
        let selector = Browser::selector(test_id);
        let started = Instant::now();
        loop {
            match self.client.find(Locator::Css(&selector)).await {
                Ok(element) => return element,
                Err(e) if started.elapsed() > limit => {
                    panic!("{test_id} did not appear within {limit:?}: {e}")
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    }

    /// Whether the element is on the page now.
    pub async fn exists(&self, test_id: &str) -> bool {
        self.client
            .find(Locator::Css(&Browser::selector(test_id)))
            .await
            .is_ok()
    }

    /// Waits until the element is gone.
    pub async fn wait_gone(&self, test_id: &str) {
        let started = Instant::now();
        while self.exists(test_id).await {
            assert!(started.elapsed() < PATIENCE, "{test_id} never went away");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn click(&self, test_id: &str) {
        self.find(test_id)
            .await
            .click()
            .await
            .unwrap_or_else(|e| panic!("cannot click {test_id}: {e}"));
    }

    /// Types into an empty field.
    pub async fn type_into(&self, test_id: &str, text: &str) {
        self.find(test_id)
            .await
            .send_keys(text)
            .await
            .unwrap_or_else(|e| panic!("cannot type into {test_id}: {e}"));
    }

    /// Replaces a field's text as a person would: select all, type over it.
    pub async fn replace_text(&self, test_id: &str, text: &str) {
        // Control+A selects; the NULL key releases Control before the new text.
        let keys = format!("\u{E009}a\u{E000}{text}");
        self.type_into(test_id, &keys).await;
    }

    /// The element's visible text.
    pub async fn text(&self, test_id: &str) -> String {
        self.find(test_id)
            .await
            .text()
            .await
            .unwrap_or_default()
            .trim()
            .to_string()
    }

    /// Waits until a checkbox is (or is not) checked.
    pub async fn wait_for_checked(&self, test_id: &str, checked: bool) {
        let started = Instant::now();
        loop {
            let element = self.find(test_id).await;
            if element.prop("checked").await.ok().flatten().as_deref()
                == Some(if checked { "true" } else { "false" })
            {
                return;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "{test_id} never became checked={checked}"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Everything in this device's IndexedDB.
    pub async fn local_state(&self) -> DataSet {
        let value = self
            .client
            .execute_async(READ_LOCAL_STATE, vec![])
            .await
            .expect("the script runs");
        let parsed: serde_json::Value =
            serde_json::from_str(value.as_str().unwrap_or("{}")).expect("JSON from the page");
        assert!(
            parsed.get("error").is_none(),
            "reading IndexedDB failed: {parsed}"
        );
        let by_id = |records: &serde_json::Value| {
            records
                .as_array()
                .into_iter()
                .flatten()
                .map(|record| {
                    (
                        record["id"].as_str().unwrap_or_default().to_string(),
                        without_nulls(record),
                    )
                })
                .collect()
        };
        DataSet {
            boards: by_id(&parsed["boards"]),
            todos: by_id(&parsed["todos"]),
        }
    }

    /// The keys this device keeps in its `Meta` store ("account", "cursor", "term").
    pub async fn stored_meta_keys(&self) -> Vec<String> {
        let value = self
            .client
            .execute_async(READ_META_KEYS, vec![])
            .await
            .expect("the script runs");
        let text = value.as_str().unwrap_or("[]").to_string();
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("reading Meta failed: {text}"))
    }

    /// What this device shows and still has to sync, for a failure report.
    pub async fn diagnosis(&self) -> String {
        let mut report = String::new();
        for id in [
            "sync-status",
            "pending-count",
            "sync-error",
            "realtime-status",
        ] {
            let text = match self.client.find(Locator::Css(&Browser::selector(id))).await {
                Ok(element) => element.text().await.unwrap_or_default(),
                Err(_) => "<missing>".into(),
            };
            report.push_str(&format!("{id}: {text:?}; "));
        }
        let sync = self
            .client
            .execute_async(READ_SYNC_STATE, vec![])
            .await
            .map(|v| v.as_str().unwrap_or_default().to_string())
            .unwrap_or_else(|e| e.to_string());
        report.push_str(&sync);
        report
    }

    pub async fn refresh(&self) {
        self.client.refresh().await.expect("the page reloads");
    }

    /// Signs up a new account and waits until the app shows it.
    pub async fn sign_up(&self, email: &str, password: &str, name: &str) {
        self.type_into("auth-email", email).await;
        self.type_into("auth-password", password).await;
        self.type_into("auth-name", name).await;
        self.click("signup-submit").await;
        self.wait_for_text("user-email", |text| text == email).await;
    }

    /// Signs in to an existing account and waits until the app shows it.
    pub async fn sign_in(&self, email: &str, password: &str) {
        self.type_into("auth-email", email).await;
        self.type_into("auth-password", password).await;
        self.click("login-submit").await;
        self.wait_for_text("user-email", |text| text == email).await;
    }

    /// Creates a board through the form and waits for it to show.
    pub async fn create_board(&self, name: &str) {
        self.type_into("new-board-name", name).await;
        self.click("create-board-button").await;
        self.find(&format!("board-{name}")).await;
    }

    /// Adds a todo to a board and waits for it to show.
    pub async fn add_todo(&self, board: &str, title: &str) {
        self.type_into(&format!("new-todo-title-{board}"), title)
            .await;
        self.click(&format!("add-todo-{board}")).await;
        self.find(&format!("todo-{title}")).await;
    }

    /// Clicks the element if it shows up within a moment; false when it does not (sync
    /// may have removed it since the test looked).
    pub async fn try_click(&self, test_id: &str) -> bool {
        match self.find_soon(test_id).await {
            Some(element) => element.click().await.is_ok(),
            None => false,
        }
    }

    async fn find_soon(&self, test_id: &str) -> Option<fantoccini::elements::Element> {
        let selector = Browser::selector(test_id);
        for _ in 0..20 {
            if let Ok(element) = self.client.find(Locator::Css(&selector)).await {
                return Some(element);
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        None
    }

    /// Adds a todo if the board is still there.
    pub async fn try_add_todo(&self, board: &str, title: &str) -> bool {
        let Some(input) = self.find_soon(&format!("new-todo-title-{board}")).await else {
            return false;
        };
        input.send_keys(title).await.is_ok() && self.try_click(&format!("add-todo-{board}")).await
    }

    /// Renames a board if it is still there.
    pub async fn try_rename_board(&self, from: &str, to: &str) -> bool {
        if !self.try_click(&format!("rename-board-{from}")).await {
            return false;
        }
        let Some(input) = self.find_soon("rename-board-input").await else {
            return false;
        };
        input
            .send_keys(&format!("\u{E009}a\u{E000}{to}"))
            .await
            .is_ok()
            && self.try_click("rename-board-submit").await
    }

    /// Edits a todo's title if the todo is still there.
    pub async fn try_edit_todo(&self, from: &str, to: &str) -> bool {
        if !self.try_click(&format!("edit-todo-{from}")).await {
            return false;
        }
        let Some(input) = self.find_soon("edit-todo-input").await else {
            return false;
        };
        input
            .send_keys(&format!("\u{E009}a\u{E000}{to}"))
            .await
            .is_ok()
            && self.try_click("edit-todo-submit").await
    }

    /// Waits until nothing is pending and the worker rests.
    pub async fn wait_synced(&self) {
        self.wait_for_text("pending-count", |text| text == "0")
            .await;
        self.wait_for_text("sync-status", |text| text == "Idle")
            .await;
    }

    /// Freezes the current tab as the browser does to a background tab (Page Lifecycle):
    /// nothing in it runs until it is resumed. Switch to another tab afterwards.
    pub async fn freeze_current_tab(&self) {
        self.client
            .issue_cmd(DevTools {
                command: "Page.setWebLifecycleState",
                params: serde_json::json!({ "state": "frozen" }),
            })
            .await
            .expect("the tab freezes");
    }

    pub async fn close(mut self) {
        let _ = self.client.clone().close().await;
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A plain static file host on its own origin, as a CDN or `python -m http.server`
/// would serve the built app: files only, no API, unknown paths get index.html.
pub struct StaticHost {
    pub url: String,
    pub dir: tempfile::TempDir,
    task: tokio::task::JoinHandle<()>,
}

impl StaticHost {
    pub async fn start() -> StaticHost {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the static host");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let dir = tempfile::tempdir().expect("temporary folder");
        let root = dir.path().to_path_buf();
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                tokio::spawn(serve_file(stream, root.clone()));
            }
        });
        StaticHost { url, dir, task }
    }
}

impl Drop for StaticHost {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Answers one HTTP/1.1 GET with a file (connection: close, which keeps this simple).
async fn serve_file(mut stream: tokio::net::TcpStream, root: PathBuf) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut request = Vec::new();
    let mut buffer = [0u8; 4096];
    while !request.windows(4).any(|w| w == b"\r\n\r\n") {
        match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => return,
            Ok(n) => request.extend_from_slice(&buffer[..n]),
        }
    }
    let head = String::from_utf8_lossy(&request);
    let path = head
        .split_whitespace()
        .nth(1)
        .unwrap_or("/")
        .split('?')
        .next()
        .unwrap_or("/")
        .trim_start_matches('/')
        .to_string();
    let requested = root.join(if path.is_empty() { "index.html" } else { &path });
    let file = if !path.contains("..") && requested.is_file() {
        requested
    } else {
        root.join("index.html")
    };
    let body = tokio::fs::read(&file).await.unwrap_or_default();
    let content_type = match file.extension().and_then(|e| e.to_str()) {
        Some("html") => "text/html; charset=utf-8",
        Some("js") => "text/javascript",
        Some("wasm") => "application/wasm",
        Some("css") => "text/css",
        Some("json") | Some("webmanifest") => "application/json",
        Some("svg") => "image/svg+xml",
        _ => "application/octet-stream",
    };
    let header = format!(
        "HTTP/1.1 200 OK\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n",
        body.len()
    );
    let _ = stream.write_all(header.as_bytes()).await;
    let _ = stream.write_all(&body).await;
    let _ = stream.shutdown().await;
}

/// A Chrome DevTools Protocol command, sent through ChromeDriver's endpoint for them.
#[derive(Debug)]
struct DevTools {
    command: &'static str,
    params: serde_json::Value,
}

impl fantoccini::wd::WebDriverCompatibleCommand for DevTools {
    fn endpoint(
        &self,
        base_url: &url::Url,
        session_id: Option<&str>,
    ) -> Result<url::Url, url::ParseError> {
        base_url.join(&format!(
            "session/{}/goog/cdp/execute",
            session_id.unwrap_or_default()
        ))
    }

    fn method_and_body(&self, _request_url: &url::Url) -> (http::Method, Option<String>) {
        let body = serde_json::json!({ "cmd": self.command, "params": self.params });
        (http::Method::POST, Some(body.to_string()))
    }
}
