//! The browser process: ChromeDriver on a port of its own, headless Chromium with a
//! fresh profile behind it, and Chrome DevTools Protocol commands through the driver.

use crate::PATIENCE;
use fantoccini::{Client, ClientBuilder};
use std::net::TcpListener;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running ChromeDriver and the profile its Chromium uses; both go when it is dropped.
pub(super) struct Driver {
    process: Child,
    _profile: tempfile::TempDir,
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The driver leads a process group of its own, and Chromium and its helpers are
        // in it. Killing the driver alone left Chromium behind, re-parented and still
        // running the app (a test that panicked never ends its session), taking the CPU
        // from every later test and benchmark.
        if let Ok(group) = libc::pid_t::try_from(self.process.id()) {
            // SAFETY: kill(2) takes plain integers and touches no memory of ours; a
            // negative pid names the process group of that id.
            unsafe { libc::kill(-group, libc::SIGKILL) };
        }
        let _ = self.process.kill();
        let _ = self.process.wait();
    }
}

/// Starts ChromeDriver (`CHROMEDRIVER`, default /usr/bin/chromedriver) and a headless
/// Chromium (`CHROME`, default /usr/bin/chromium) with a fresh profile.
pub(super) async fn launch() -> (Client, Driver) {
    let driver_path =
        std::env::var("CHROMEDRIVER").unwrap_or_else(|_| "/usr/bin/chromedriver".into());
    let port = free_port();
    let process = Command::new(&driver_path)
        .arg(format!("--port={port}"))
        // A process group of its own, for Chromium to go with it (see `Driver`).
        .process_group(0)
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
    let serde_json::Value::Object(capabilities) = capabilities else {
        unreachable!("built as an object above")
    };
    let driver = Driver {
        process,
        _profile: profile,
    };
    // The driver takes a moment to listen.
    let started = Instant::now();
    let client = loop {
        let connector = hyper_util::client::legacy::connect::HttpConnector::new();
        let attempt = ClientBuilder::new(connector)
            .capabilities(capabilities.clone())
            .connect(&format!("http://127.0.0.1:{port}"))
            .await;
        match attempt {
            Ok(client) => break client,
            Err(_) if started.elapsed() < PATIENCE => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => panic!("cannot start a browser session: {e}"),
        }
    };
    (client, driver)
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|listener| listener.local_addr())
        .map(|addr| addr.port())
        .expect("a free port")
}

/// A Chrome DevTools Protocol command, sent through ChromeDriver's endpoint for them.
#[derive(Debug)]
pub(super) struct DevTools {
    pub command: &'static str,
    pub params: serde_json::Value,
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
