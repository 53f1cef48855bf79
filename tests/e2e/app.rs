//! The app as a person uses it: accounts, every board and todo action, the sync bar,
//! the offline switch, reloads, and starting with the network cut.

use std::time::Duration;
use sync_test_support::{app_dir_for_tests, copy_app, Browser, Stack, StaticHost};

const PASSWORD: &str = "correct horse battery";

fn unique_email(who: &str) -> String {
    format!("{who}-{}@example.com", uuid_like())
}

fn uuid_like() -> String {
    format!(
        "{:x}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default()
            .as_nanos()
    )
}

#[tokio::test]
async fn accounts_boards_and_todos_work_end_to_end() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let email = unique_email("ada");
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&email, PASSWORD, "Ada").await;

    a.create_board("Groceries").await;
    a.click("rename-board-Groceries").await;
    a.replace_text("rename-board-input", "Shopping").await;
    a.click("rename-board-submit").await;
    a.find("board-Shopping").await;
    a.wait_gone("board-Groceries").await;

    a.add_todo("Shopping", "Milk").await;
    a.add_todo("Shopping", "Eggs").await;
    a.click("toggle-todo-Milk").await;
    a.click("edit-todo-Eggs").await;
    a.replace_text("edit-todo-input", "Free-range eggs").await;
    a.click("edit-todo-submit").await;
    a.find("todo-Free-range eggs").await;
    a.click("delete-todo-Milk").await;
    a.wait_gone("todo-Milk").await;

    a.create_board("Temporary").await;
    a.add_todo("Temporary", "Scratch").await;
    a.click("delete-board-Temporary").await;
    a.click("confirm-delete").await;
    a.wait_gone("board-Temporary").await;
    a.wait_synced().await;

    // The inspector shows the outbox and the last exchanges.
    a.click("sync-details-button").await;
    // The table shows at once and fills when IndexedDB answers.
    a.wait_for_text("outbox-table", |t| {
        t.contains("Board") && t.contains("Todo")
    })
    .await;
    a.find("push-table").await;
    a.find("pull-table").await;

    // A second device, signed in as the same person, gets the same data.
    let b = Browser::open().await;
    b.goto(&stack.url).await;
    b.sign_in(&email, PASSWORD).await;
    b.find("todo-Free-range eggs").await;
    let board = b.text("board-Shopping").await;
    assert!(!board.contains("Milk"), "{board}");
    assert!(!b.exists("board-Temporary").await);
    assert!(!b.exists("todo-Scratch").await);

    b.click("logout-button").await;
    b.find("auth-email").await;
    assert!(
        !b.exists("board-Shopping").await,
        "signing out clears local data"
    );
    a.close().await;
    b.close().await;
}

#[tokio::test]
async fn the_offline_switch_keeps_changes_pending_until_back_online() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&unique_email("grace"), PASSWORD, "Grace").await;
    a.wait_synced().await;

    a.click("offline-toggle").await;
    a.create_board("Written offline").await;
    a.wait_for_text("pending-count", |t| t == "1").await;
    a.click("sync-now-button").await;
    a.wait_for_text("sync-error", |t| t.contains("offline"))
        .await;
    a.wait_for_text("pending-count", |t| t == "1").await;

    a.click("offline-toggle").await;
    a.click("sync-now-button").await;
    a.wait_synced().await;
    a.wait_for_text("sync-error", str::is_empty).await;
    a.close().await;
}

#[tokio::test]
async fn a_reload_keeps_data_and_the_app_starts_without_the_network() {
    let Some(mut stack) = Stack::start().await else {
        return;
    };
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&unique_email("edsger"), PASSWORD, "Edsger").await;
    a.create_board("Before the outage").await;
    a.wait_synced().await;
    wait_for_service_worker(&a).await;

    // The server goes away; the app keeps working and keeps the change pending.
    stack.kill();
    a.create_board("During the outage").await;
    a.wait_for_text("pending-count", |t| t == "1").await;

    // A reload with no server: the service worker serves the app, IndexedDB the data.
    a.refresh().await;
    a.find("board-Before the outage").await;
    a.find("board-During the outage").await;
    a.wait_for_text("pending-count", |t| t == "1").await;

    stack.restart().await;
    a.click("sync-now-button").await;
    a.wait_synced().await;
    a.close().await;
}

/// Waits until the service worker controls the page (it has cached the app shell).
async fn wait_for_service_worker(browser: &Browser) {
    for _ in 0..200 {
        let controlled = browser
            .client
            .execute(
                "return !!(navigator.serviceWorker && navigator.serviceWorker.controller)",
                vec![],
            )
            .await
            .ok()
            .and_then(|v| v.as_bool())
            .unwrap_or(false);
        if controlled {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the service worker never took control");
}

#[tokio::test]
async fn an_expired_session_asks_to_sign_in_again_and_keeps_every_change() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let email = unique_email("barbara");
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&email, PASSWORD, "Barbara").await;
    a.wait_synced().await;

    // The server forgets every session (as after an expiry or a revocation).
    stack.execute_sql("DELETE FROM sessions").await;
    a.create_board("Made after expiry").await;
    a.click("sync-now-button").await;
    a.find("session-expired").await;
    a.wait_for_text("sync-error", |t| t.contains("session has expired"))
        .await;
    a.wait_for_text("pending-count", |t| t == "1").await;

    // Signing in again resumes sync; nothing was lost.
    a.replace_text("auth-password", PASSWORD).await;
    a.click("login-submit").await;
    a.wait_gone("session-expired").await;
    a.wait_synced().await;
    a.find("board-Made after expiry").await;
    a.close().await;
}

#[tokio::test]
async fn the_app_hosted_statically_syncs_with_a_server_on_another_origin() {
    let host = StaticHost::start().await;
    let Some(stack) = Stack::start_for_origin(&host.url).await else {
        return;
    };
    let Some(app) = app_dir_for_tests() else {
        return;
    };
    copy_app(
        &app,
        host.dir.path(),
        &serde_json::json!({ "serverUrl": stack.url }).to_string(),
    );
    let email = unique_email("hedy");
    let a = Browser::open().await;
    a.goto(&host.url).await;
    a.sign_up(&email, PASSWORD, "Hedy").await;
    a.create_board("From a static host").await;
    a.wait_synced().await;

    // The change reached the server on the other origin (the static host has no API).
    let held = stack.server_state(&email, PASSWORD).await;
    let names: Vec<_> = held.boards.values().map(|b| b["name"].clone()).collect();
    assert_eq!(names, [serde_json::json!("From a static host")]);
    a.close().await;
}
