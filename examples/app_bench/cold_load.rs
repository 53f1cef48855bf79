//! P7 cold load: from navigation start to the sign-in form in the DOM, in a browser
//! with a fresh profile each time (nothing cached, no service worker yet); and the
//! bytes such a first visit transfers, service worker install included.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use sync_test_support::{Browser, PATIENCE};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// Installed before the page's own scripts: notes when the sign-in form first exists,
/// in `performance.now()` time, whose zero is the navigation's start.
const OBSERVE_FORM: &str = r#"
(() => {
  const seen = () => {
    if (window.__signInFormAt === undefined && document.querySelector('[data-testid="auth-email"]')) {
      window.__signInFormAt = performance.now();
    }
    return window.__signInFormAt !== undefined;
  };
  const observer = new MutationObserver(() => { if (seen()) observer.disconnect(); });
  observer.observe(document, { subtree: true, childList: true });
})();
"#;

/// Milliseconds to the sign-in form, once per fresh browser.
pub async fn measure(url: &str, times: usize) -> Vec<f64> {
    let mut loads = Vec::with_capacity(times);
    for _ in 0..times {
        let browser = Browser::open().await;
        browser.on_new_document(OBSERVE_FORM).await;
        browser.goto(url).await;
        let started = Instant::now();
        let at = loop {
            let value = browser
                .client
                .execute("return window.__signInFormAt ?? null", vec![])
                .await
                .expect("the script runs");
            if let Some(at) = value.as_f64() {
                break at;
            }
            assert!(
                started.elapsed() < PATIENCE,
                "the sign-in form never showed"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        loads.push(at);
        browser.close().await;
    }
    loads
}

/// Waits (in the page) until the service worker is active, that is until its install,
/// which caches the app shell, has finished.
const UNTIL_SERVICE_WORKER_ACTIVE: &str = r#"
const done = arguments[arguments.length - 1];
navigator.serviceWorker.ready.then(() => done(true), () => done(false));
"#;

/// What a first visit costs on the wire: the bytes the server sends (compressed as served,
/// headers included) from navigation until the service worker has cached the app shell,
/// counted by a proxy in front of the server. A shell downloaded twice shows here.
pub async fn first_visit_bytes(url: &str) -> usize {
    let proxy = CountingProxy::start(url).await;
    let browser = Browser::open().await;
    browser.goto(&proxy.url).await;
    let active = browser
        .client
        .execute_async(UNTIL_SERVICE_WORKER_ACTIVE, vec![])
        .await
        .expect("the script runs");
    assert_eq!(
        active.as_bool(),
        Some(true),
        "the service worker never activated"
    );
    // The sync worker starts with the page; let anything still in flight land.
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.close().await;
    proxy.sent()
}

/// A TCP proxy to the server that counts the bytes flowing back to the browser.
struct CountingProxy {
    url: String,
    sent: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl CountingProxy {
    async fn start(server_url: &str) -> CountingProxy {
        let upstream = server_url
            .trim_start_matches("http://")
            .trim_end_matches('/')
            .to_string();
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port for the proxy");
        let url = format!("http://{}", listener.local_addr().expect("an address"));
        let sent = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&sent);
        let task = tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                let Ok(server) = TcpStream::connect(&upstream).await else {
                    continue;
                };
                tokio::spawn(relay(client, server, Arc::clone(&counter)));
            }
        });
        CountingProxy { url, sent, task }
    }

    fn sent(&self) -> usize {
        self.sent.load(Ordering::SeqCst)
    }
}

impl Drop for CountingProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Relays one connection both ways, counting what the server sends as it passes.
async fn relay(client: TcpStream, server: TcpStream, sent: Arc<AtomicUsize>) {
    let (mut from_client, mut to_client) = client.into_split();
    let (mut from_server, mut to_server) = server.into_split();
    let upstream = tokio::spawn(async move {
        let _ = tokio::io::copy(&mut from_client, &mut to_server).await;
        let _ = to_server.shutdown().await;
    });
    let mut buffer = vec![0; 64 * 1024];
    loop {
        match from_server.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => {
                sent.fetch_add(n, Ordering::SeqCst);
                if to_client.write_all(&buffer[..n]).await.is_err() {
                    break;
                }
            }
        }
    }
    upstream.abort();
}
