//! The whole chain works: Trunk's output loads, the worker starts, its first status
//! message reaches the page and is rendered.

use sync_test_support::{Browser, Stack};

#[tokio::test]
async fn the_page_renders_the_workers_status() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let browser = Browser::open().await;
    browser.goto(&stack.url).await;
    let status = browser
        .wait_for_text("sync-status", |text| {
            ["Stopped", "Idle", "Pushing", "Pulling"].contains(&text)
        })
        .await;
    assert!(!status.is_empty());
    browser.close().await;
}
