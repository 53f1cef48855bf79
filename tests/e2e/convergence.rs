//! Many devices, one truth: several browsers signed in as one person converge, whatever
//! the order of their edits, their time offline, or a server crash in the middle.

use std::time::Duration;
use sync_test_support::fantoccini::wd::WindowHandle;
use sync_test_support::{app_dir_for_tests, copy_app, Browser, Stack};

const PASSWORD: &str = "correct horse battery";

fn unique_email() -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    format!("devices-{nanos:x}@example.com")
}

/// Opens `count` browsers signed in as one new person.
async fn devices(stack: &Stack, count: usize) -> (String, Vec<Browser>) {
    let email = unique_email();
    let browsers = stack.devices(count, &email, PASSWORD).await;
    (email, browsers)
}

async fn go_offline(browser: &Browser) {
    browser.click("offline-toggle").await;
}

async fn go_online_and_sync(browser: &Browser) {
    browser.click("offline-toggle").await;
    browser.click("sync-now-button").await;
    browser.wait_synced().await;
}

async fn rename_board(browser: &Browser, from: &str, to: &str) {
    browser.click(&format!("rename-board-{from}")).await;
    browser.replace_text("rename-board-input", to).await;
    browser.click("rename-board-submit").await;
    browser.find(&format!("board-{to}")).await;
}

/// Waits until the element exists on every device.
async fn everywhere(browsers: &[Browser], test_id: &str) {
    for browser in browsers {
        browser.find(test_id).await;
    }
}

/// Waits until the element is gone on every device.
async fn nowhere(browsers: &[Browser], test_id: &str) {
    for browser in browsers {
        browser.wait_gone(test_id).await;
    }
}

#[tokio::test]
async fn changes_travel_both_ways_and_deletes_cascade() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (_, devices) = devices(&stack, 2).await;
    let (a, b) = (&devices[0], &devices[1]);

    // Nobody presses anything: the event stream brings each change over.
    a.create_board("Trip").await;
    b.find("board-Trip").await;
    b.add_todo("Trip", "Passport").await;
    a.find("todo-Passport").await;
    rename_board(b, "Trip", "Holiday").await;
    a.find("board-Holiday").await;
    a.click("toggle-todo-Passport").await;
    b.wait_for_checked("toggle-todo-Passport", true).await;

    // Deleting a board removes its todos everywhere.
    a.click("delete-board-Holiday").await;
    a.click("confirm-delete").await;
    nowhere(&devices, "board-Holiday").await;
    nowhere(&devices, "todo-Passport").await;
    for device in devices {
        device.close().await;
    }
}

#[tokio::test]
async fn concurrent_edits_end_as_the_change_the_server_applied_last() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (_, devices) = devices(&stack, 3).await;
    let (a, b) = (&devices[0], &devices[1]);
    a.create_board("Shared").await;
    a.add_todo("Shared", "Draft").await;
    everywhere(&devices, "todo-Draft").await;

    // Both rename the same board offline; A reconnects first, so B's rename is applied
    // last and wins on every device.
    go_offline(a).await;
    go_offline(b).await;
    rename_board(a, "Shared", "Named by A").await;
    rename_board(b, "Shared", "Named by B").await;
    go_online_and_sync(a).await;
    go_online_and_sync(b).await;
    everywhere(&devices, "board-Named by B").await;
    nowhere(&devices, "board-Named by A").await;

    // An edit of a todo that another device deleted brings it back when applied last.
    go_offline(b).await;
    a.click("delete-todo-Draft").await;
    a.wait_synced().await;
    b.click("edit-todo-Draft").await;
    b.replace_text("edit-todo-input", "Revived").await;
    b.click("edit-todo-submit").await;
    go_online_and_sync(b).await;
    everywhere(&devices, "todo-Revived").await;

    // A delete applied last removes it everywhere.
    go_offline(b).await;
    b.click("toggle-todo-Revived").await;
    go_online_and_sync(b).await;
    a.click("delete-todo-Revived").await;
    nowhere(&devices, "todo-Revived").await;
    for device in devices {
        device.close().await;
    }
}

#[tokio::test]
async fn offline_edits_and_a_server_crash_lose_nothing_and_duplicate_nothing() {
    let Some(mut stack) = Stack::start().await else {
        return;
    };
    let (email, devices) = devices(&stack, 2).await;
    let (a, b) = (&devices[0], &devices[1]);
    a.create_board("Log").await;
    everywhere(&devices, "board-Log").await;

    // Edits made offline, kept across a reload while offline, reach the other device.
    go_offline(a).await;
    for n in 0..5 {
        a.add_todo("Log", &format!("offline {n}")).await;
    }
    a.refresh().await;
    a.find("todo-offline 4").await;
    // The offline switch does not survive a reload: the reload reconnects and syncs.
    a.wait_synced().await;
    everywhere(&devices, "todo-offline 4").await;

    // The server dies while B pushes many changes, then comes back.
    for n in 0..8 {
        b.add_todo("Log", &format!("crash {n}")).await;
    }
    stack.kill();
    tokio::time::sleep(Duration::from_millis(300)).await;
    stack.restart().await;
    b.click("sync-now-button").await;
    b.wait_synced().await;
    a.click("sync-now-button").await;
    a.wait_synced().await;
    everywhere(&devices, "todo-crash 7").await;

    let expected: Vec<String> = (0..5)
        .map(|n| format!("offline {n}"))
        .chain((0..8).map(|n| format!("crash {n}")))
        .collect();
    let server = server_titles(&stack, &email).await;
    assert_eq!(
        sorted(server.clone()),
        sorted(expected.clone()),
        "the server has each change once"
    );
    for device in &devices {
        let local = device_titles(device).await;
        assert_eq!(
            sorted(local),
            sorted(expected.clone()),
            "each device has each change once"
        );
    }
    for device in devices {
        device.close().await;
    }
}

fn sorted(mut items: Vec<String>) -> Vec<String> {
    items.sort();
    items
}

/// The titles of every todo on a device, read from its IndexedDB.
async fn device_titles(browser: &Browser) -> Vec<String> {
    let state = browser.local_state().await;
    state
        .todos
        .values()
        .map(|todo| todo["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// The titles of every todo the server has for this person.
async fn server_titles(stack: &Stack, email: &str) -> Vec<String> {
    let state = stack.server_state(email, PASSWORD).await;
    state
        .todos
        .values()
        .map(|todo| todo["title"].as_str().unwrap_or_default().to_string())
        .collect()
}

#[tokio::test]
async fn two_tabs_of_one_device_share_one_sync_and_show_the_same() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let email = unique_email();
    let (browser, first, second) = two_tabs(&stack, &email).await;

    // Changes made in either tab show in the other, without a reload.
    browser.create_board("From tab two").await;
    browser.wait_synced().await;
    browser.switch_to(first.clone()).await;
    browser.find("board-From tab two").await;
    browser.add_todo("From tab two", "Written in tab one").await;
    browser.wait_synced().await;
    browser.switch_to(second.clone()).await;
    browser.find("todo-Written in tab one").await;
    browser.wait_synced().await;

    // Each change reached the server exactly once.
    let server = stack.server_state(&email, PASSWORD).await;
    assert_eq!(server.boards.len(), 1);
    assert_eq!(server.todos.len(), 1);

    // The first tab (whose worker leads) closes: the second takes over syncing.
    browser.switch_to(first).await;
    browser
        .client
        .close_window()
        .await
        .expect("the first tab closes");
    browser.switch_to(second).await;
    browser.create_board("After the first tab closed").await;
    browser.wait_synced().await;
    let server = stack.server_state(&email, PASSWORD).await;
    assert_eq!(server.boards.len(), 2, "the second tab synced on its own");
    browser.close().await;
}

#[tokio::test]
async fn the_event_stream_brings_changes_without_waiting_for_the_interval() {
    let Some(app) = app_dir_for_tests() else {
        return;
    };
    // A ten-minute interval: only the server's poke can bring a change over quickly.
    let custom = tempfile::tempdir().expect("temporary folder");
    copy_app(
        &app,
        custom.path(),
        r#"{"serverUrl": "", "syncIntervalMs": 600000}"#,
    );
    let stack = Stack::start_with_app(custom.path()).await;
    let (_, devices) = devices(&stack, 2).await;
    let (a, b) = (&devices[0], &devices[1]);
    b.wait_for_text("realtime-status", |t| t.contains("Live"))
        .await;
    for n in 0..3 {
        let name = format!("Pushed {n}");
        a.create_board(&name).await;
        // Well under the interval: only a poke explains it.
        b.find_within(&format!("board-{name}"), std::time::Duration::from_secs(5))
            .await;
    }
    for device in devices {
        device.close().await;
    }
}

#[tokio::test]
async fn a_frozen_leader_tab_hands_leadership_to_the_other_tab() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (browser, first, second) = two_tabs(&stack, &unique_email()).await;
    let leader = lock_holder(&browser).await;

    // The first tab is frozen between cycles, as a browser freezes a background tab: it
    // keeps the lock but runs nothing, so it sends no heartbeat.
    browser.switch_to(first).await;
    browser.wait_synced().await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    browser.freeze_current_tab().await;
    browser.switch_to(second).await;

    // The second tab's worker notices the silence and takes the lock.
    let started = std::time::Instant::now();
    while lock_holder(&browser).await == leader {
        assert!(
            started.elapsed() < Duration::from_secs(5),
            "the frozen tab's worker still holds the lock"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    browser.close().await;
}

/// One browser signed up as `email`, with the app open in two tabs; the second (whose
/// worker stands by) is current. Returns the browser and both tabs' handles.
async fn two_tabs(stack: &Stack, email: &str) -> (Browser, WindowHandle, WindowHandle) {
    let browser = Browser::open().await;
    browser.goto(&stack.url).await;
    browser.sign_up(email, PASSWORD, "Two Tabs").await;
    browser.wait_synced().await;
    let first = browser.client.window().await.expect("the first tab");
    let second = browser
        .client
        .new_window(true)
        .await
        .expect("a second tab")
        .handle;
    browser.switch_to(second.clone()).await;
    browser.goto(&stack.url).await;
    // The second tab finds the session in IndexedDB and shows the same account.
    browser.wait_for_text("user-email", |t| t == email).await;
    (browser, first, second)
}

/// The client (worker) that holds the leader lock, as the page sees it.
async fn lock_holder(browser: &Browser) -> String {
    let held = browser
        .client
        .execute_async(
            "const [name, done] = arguments;
             navigator.locks.query().then((q) => done(JSON.stringify(
               q.held.filter((l) => l.name === name).map((l) => l.clientId))));",
            vec![serde_json::json!(sync_worker::host::leader::LOCK_NAME)],
        )
        .await
        .expect("the lock manager answers");
    held.as_str().unwrap_or_default().to_string()
}
