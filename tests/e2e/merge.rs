//! Field-level merge as people meet it: concurrent edits of different fields of one
//! record, made on two devices of one person, both survive on every device.

use sync_test_support::{Browser, Stack};

const PASSWORD: &str = "correct horse battery";

fn unique_email() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("merge-{nanos:x}@example.com")
}

async fn toggle_offline(browser: &Browser) {
    browser.click("offline-toggle").await;
}

/// Waits until the element exists on every device.
async fn everywhere(browsers: &[Browser], test_id: &str) {
    for browser in browsers {
        browser.find(test_id).await;
    }
}

async fn go_online_and_sync(browser: &Browser) {
    toggle_offline(browser).await;
    browser.click("sync-now-button").await;
    browser.wait_synced().await;
}

#[tokio::test]
async fn a_tick_on_one_device_and_a_rename_on_another_both_survive() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let devices = stack.devices(2, &unique_email(), PASSWORD).await;
    let (a, b) = (&devices[0], &devices[1]);
    a.create_board("Errands").await;
    a.add_todo("Errands", "Milk").await;
    b.find("todo-Milk").await;

    // Both offline: A ticks the todo done, B renames it.
    toggle_offline(a).await;
    toggle_offline(b).await;
    a.click("toggle-todo-Milk").await;
    a.wait_for_checked("toggle-todo-Milk", true).await;
    assert!(b.try_edit_todo("Milk", "Oat milk").await, "B renames it");
    b.find("todo-Oat milk").await;

    // Both come online, A first: neither edit is lost, on either device.
    go_online_and_sync(a).await;
    go_online_and_sync(b).await;
    // A hears of B's rename through the event stream; a sync now makes sure.
    a.click("sync-now-button").await;
    for device in &devices {
        device.find("todo-Oat milk").await;
        device.wait_for_checked("toggle-todo-Oat milk", true).await;
        device.wait_gone("todo-Milk").await;
    }
    for device in devices {
        device.close().await;
    }
}

#[tokio::test]
async fn a_board_renamed_on_one_device_keeps_the_todos_added_on_another() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let devices = stack.devices(2, &unique_email(), PASSWORD).await;
    let (a, b) = (&devices[0], &devices[1]);
    a.create_board("Groceries").await;
    b.find("board-Groceries").await;

    // A renames the board offline while B, online, adds todos to it.
    toggle_offline(a).await;
    assert!(a.try_rename_board("Groceries", "Shopping").await);
    a.find("board-Shopping").await;
    b.add_todo("Groceries", "Bread").await;
    b.add_todo("Groceries", "Eggs").await;
    b.wait_synced().await;
    go_online_and_sync(a).await;
    everywhere(&devices, "board-Shopping").await;

    // Both offline: A renames it again, B adds one more.
    toggle_offline(a).await;
    toggle_offline(b).await;
    assert!(a.try_rename_board("Shopping", "Weekly shop").await);
    a.find("board-Weekly shop").await;
    b.add_todo("Shopping", "Apples").await;
    go_online_and_sync(b).await;
    go_online_and_sync(a).await;
    b.click("sync-now-button").await;
    for device in &devices {
        device.find("board-Weekly shop").await;
        device.wait_gone("board-Shopping").await;
        for title in ["Bread", "Eggs", "Apples"] {
            device.find(&format!("todo-{title}")).await;
        }
    }
    for device in devices {
        device.close().await;
    }
}
