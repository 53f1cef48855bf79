//! P7 cold load: from navigation start to the sign-in form in the DOM, in a browser
//! with a fresh profile each time (nothing cached, no service worker yet).

use std::time::{Duration, Instant};
use sync_test_support::{Browser, PATIENCE};

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
