//! Benchmark (a program, not a test): the time from a write on device A to its render on
//! device B, over 100 changes, with the server's event stream on and off.
//!
//! Both pages record `Date.now()` when a board first appears in their DOM (a
//! MutationObserver), so A's time is when its write committed and rendered, and B's when
//! the synced change rendered; both browsers run on this machine, on one clock.
//!
//! Run with `cargo xtask bench` (which builds the app first), or
//! `cargo run --example realtime_latency -- <dist dir> [changes]`.

#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main]
async fn main() {
    use std::path::PathBuf;
    let mut args = std::env::args().skip(1);
    let dist = PathBuf::from(args.next().unwrap_or_else(|| "dist".into()));
    let changes: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(100);
    assert!(
        dist.join("index.html").is_file(),
        "{} has no built app: run `cargo xtask build`",
        dist.display()
    );
    for realtime in [true, false] {
        let latencies = bench::measure(&dist, realtime, changes).await;
        let (p50, p95, max) = bench::percentiles(&latencies);
        println!(
            "realtime {:<3}: write on A → render on B over {} changes: p50 {:.0} ms, p95 {:.0} ms, max {:.0} ms",
            if realtime { "on" } else { "off" },
            latencies.len(),
            p50,
            p95,
            max
        );
    }
}

#[cfg(not(target_arch = "wasm32"))]
mod bench {
    use std::path::Path;
    use std::time::Duration;
    use sync_test_support::{copy_app, Browser, Stack};

    /// Records when each board first appears on the page.
    const OBSERVE: &str = r#"
window.__seen = {};
const mark = () => document.querySelectorAll('[data-testid^="board-"]').forEach((e) => {
  if (!(e.dataset.testid in window.__seen)) window.__seen[e.dataset.testid] = Date.now();
});
mark();
new MutationObserver(mark).observe(document.body, { subtree: true, childList: true });
"#;

    pub async fn measure(dist: &Path, realtime: bool, changes: usize) -> Vec<f64> {
        let app = tempfile::tempdir().expect("temporary folder");
        let config = serde_json::json!({ "serverUrl": "", "realtime": realtime });
        copy_app(dist, app.path(), &config.to_string());
        let stack = Stack::start_with_app(app.path()).await;
        let email = format!("bench-{}-{}@example.com", realtime, std::process::id());
        let (a, b) = (Browser::open().await, Browser::open().await);
        a.goto(&stack.url).await;
        a.sign_up(&email, "correct horse battery", "Bench").await;
        b.goto(&stack.url).await;
        b.sign_in(&email, "correct horse battery").await;
        a.wait_synced().await;
        b.wait_synced().await;
        for browser in [&a, &b] {
            browser
                .client
                .execute(OBSERVE, vec![])
                .await
                .expect("observer installed");
        }
        let mut latencies = Vec::with_capacity(changes);
        for n in 0..changes {
            let name = format!("board-lat {n}");
            a.create_board(&format!("lat {n}")).await;
            let written = seen(&a, &name).await;
            let rendered = seen(&b, &name).await;
            latencies.push(rendered - written);
        }
        a.close().await;
        b.close().await;
        latencies
    }

    /// When the page first showed `test_id`, waiting for it (up to a minute).
    async fn seen(browser: &Browser, test_id: &str) -> f64 {
        let script = format!(
            "return window.__seen[{}] || null",
            serde_json::json!(test_id)
        );
        for _ in 0..6000 {
            let value = browser
                .client
                .execute(&script, vec![])
                .await
                .expect("script runs");
            if let Some(time) = value.as_f64() {
                return time;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{test_id} never rendered");
    }

    pub fn percentiles(values: &[f64]) -> (f64, f64, f64) {
        let mut sorted = values.to_vec();
        sorted.sort_by(f64::total_cmp);
        let at = |q: f64| sorted[((sorted.len() as f64 - 1.0) * q).round() as usize];
        (at(0.5), at(0.95), at(1.0))
    }
}
