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
    pub server: Option<ServerHandle>,
    pub database_url: String,
    app_dir: PathBuf,
    _data: tempfile::TempDir,
}

impl Stack {
    /// Starts a server on a fresh SQLite file; None when end-to-end tests cannot run here.
    pub async fn start() -> Option<Stack> {
        let app_dir = app_dir()?;
        let data = tempfile::tempdir().expect("temporary folder");
        let database_url = format!("sqlite://{}", data.path().join("sync.db").display());
        let server = Server::start(Config::local(&database_url, &app_dir))
            .await
            .expect("the sync server starts")
            .spawn();
        Some(Stack {
            url: server.url.clone(),
            server: Some(server),
            database_url,
            app_dir,
            _data: data,
        })
    }

    /// Starts the server again on the same database and port (after a kill or stop).
    pub async fn restart(&mut self) {
        let addr = self.server.as_ref().map(|s| s.addr).expect("a server ran");
        if let Some(server) = self.server.take() {
            server.kill();
        }
        let mut config = Config::local(&self.database_url, &self.app_dir);
        config.addr = addr;
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
}

/// A headless Chromium with its own profile, driven by its own ChromeDriver.
pub struct Browser {
    pub client: Client,
    driver: Child,
    _profile: tempfile::TempDir,
}

impl Browser {
    pub async fn open() -> Browser {
        let driver_path = std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
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
            let attempt = ClientBuilder::rustls()
                .expect("TLS roots load")
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
