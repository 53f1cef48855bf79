//! P1 click → rendered: boards created one after another through the form, each timed
//! in the page from the click to the board's element in the DOM. Beside it, when a
//! listener of the channel (as another tab would) heard the store's change notice: the
//! notice goes out as the write requests its commit, and the page itself hears it
//! directly, so this only bounds the write; the page's read and render may have run
//! before it.

use crate::report::{figure, median, trend};
use serde_json::json;
use sync_test_support::{Browser, PASSWORD};

/// Clicks "create board" and answers `[click → DOM, click → notice]` in milliseconds
/// for the board named `arguments[0]` (a MutationObserver sees it before the next
/// paint; a channel of the bench's own hears the notice the write posts).
const CLICK_AND_WAIT: &str = r#"
const [name] = arguments;
const done = arguments[arguments.length - 1];
const selector = `[data-testid="board-${name}"]`;
let clickedAt;
let noticeAt = null;
const channel = new BroadcastChannel("boards-sync:changes");
channel.onmessage = (event) => {
  if (noticeAt === null && String(event.data).includes('"local"')) noticeAt = performance.now();
};
// Only the added nodes are searched: a search of the whole page on every mutation would
// grow with the number of boards and be timed as the app's.
const added = (mutations) => mutations.some((mutation) => [...mutation.addedNodes].some(
  (node) => node.nodeType === 1 && (node.matches(selector) || node.querySelector(selector))));
const observer = new MutationObserver((mutations) => {
  if (added(mutations)) {
    observer.disconnect();
    channel.close();
    const renderedAt = performance.now();
    done([renderedAt - clickedAt, (noticeAt ?? renderedAt) - clickedAt]);
  }
});
observer.observe(document.body, { subtree: true, childList: true });
clickedAt = performance.now();
document.querySelector('[data-testid="create-board-button"]').click();
"#;

/// One board's timings, in milliseconds.
#[derive(Debug, Clone, Copy)]
pub struct Click {
    /// From the click to the board in the DOM.
    pub rendered: f64,
    /// From the click to the change notice, as the bench's channel heard it.
    pub written: f64,
}

/// The timings of `count` boards, in order.
pub async fn measure(url: &str, count: usize) -> Vec<Click> {
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
        let number = |i: usize| value[i].as_f64().expect("milliseconds from the page");
        times.push(Click {
            rendered: number(0),
            written: number(1),
        });
    }
    browser.close().await;
    times
}

/// Prints the medians of the first and last 20 boards (flat means alike) and of all.
pub fn report(clicks: &[Click]) {
    let rendered: Vec<f64> = clicks.iter().map(|c| c.rendered).collect();
    let written: Vec<f64> = clicks.iter().map(|c| c.written).collect();
    let last = clicks.len().saturating_sub(20)..clicks.len();
    for (label, range) in [
        (
            format!("boards 1-{}", 20.min(clicks.len())),
            0..20.min(clicks.len()),
        ),
        (format!("boards {}-{}", last.start + 1, last.end), last),
    ] {
        figure(
            &format!("P1 median, {label}"),
            format!(
                "{:.1} ms (the channel heard the notice after {:.1} ms)",
                median(&rendered[range.clone()]),
                median(&written[range])
            ),
        );
    }
    figure(
        &format!("P1 median, all {}", clicks.len()),
        format!("{:.1} ms (aim ≤ 16 ms, flat)", median(&rendered)),
    );
    // Two medians of 20 clicks move by a millisecond or two from run to run; the trend
    // over every click says more about flatness.
    figure(
        "P1 trend over all boards",
        format!(
            "{:+.2} ms per 100 boards (Theil–Sen; 0 is flat)",
            trend(&rendered) * 100.0
        ),
    );
}
