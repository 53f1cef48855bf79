//! P1 click → rendered: boards created one after another through the form, each timed
//! in the page from the click to the board's element in the DOM.

use serde_json::json;
use sync_test_support::{Browser, PASSWORD};

/// Clicks "create board" and answers the milliseconds until the board named
/// `arguments[0]` is in the DOM (a MutationObserver sees it before the next paint).
const CLICK_AND_WAIT: &str = r#"
const [name] = arguments;
const done = arguments[arguments.length - 1];
const selector = `[data-testid="board-${name}"]`;
let clickedAt;
const observer = new MutationObserver(() => {
  if (document.querySelector(selector)) {
    observer.disconnect();
    done(performance.now() - clickedAt);
  }
});
observer.observe(document.body, { subtree: true, childList: true, attributes: true });
clickedAt = performance.now();
document.querySelector('[data-testid="create-board-button"]').click();
"#;

/// Milliseconds from click to render for each of `count` boards, in order.
pub async fn measure(url: &str, count: usize) -> Vec<f64> {
    let browser = Browser::open().await;
    browser.goto(url).await;
    let email = format!("clicks-{}@example.com", uuid::Uuid::new_v4().simple());
    browser.sign_up(&email, PASSWORD, "Clicks").await;
    browser.wait_synced().await;
    let mut times = Vec::with_capacity(count);
    for n in 0..count {
        let name = format!("p1-{n:03}");
        browser.type_into("new-board-name", &name).await;
        let value = browser
            .client
            .execute_async(CLICK_AND_WAIT, vec![json!(name)])
            .await
            .unwrap_or_else(|e| panic!("board {name} never rendered: {e}"));
        times.push(value.as_f64().expect("milliseconds from the page"));
    }
    browser.close().await;
    times
}
