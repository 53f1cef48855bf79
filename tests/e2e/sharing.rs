//! Shared boards as two people meet them, each in a browser of their own: the owner
//! invites another account by email, both edit the board's todos live and offline, and
//! the member is removed, leaves, or sees the board deleted. The app served here syncs
//! on its own only every ten minutes, so whatever shows on the other browser within
//! [`LIVE`] came through the server's event stream, without anyone pressing anything.

use std::time::{Duration, Instant};
use sync_test_support::{app_dir_for_tests, copy_app, Browser, Stack};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

/// Well under the app's sync interval: only the server's poke brings a change this soon.
const LIVE: Duration = Duration::from_secs(8);

fn unique_email(who: &str) -> String {
    format!("{who}-{}@example.com", Uuid::new_v4())
}

/// The server serving the app with a ten-minute sync interval (the folder holding that
/// copy of the app lives as long as the stack is used).
async fn live_stack() -> Option<(Stack, tempfile::TempDir)> {
    let app = app_dir_for_tests()?;
    let custom = tempfile::tempdir().expect("temporary folder");
    copy_app(
        &app,
        custom.path(),
        r#"{"serverUrl": "", "syncIntervalMs": 600000}"#,
    );
    let stack = Stack::start_with_app(custom.path()).await;
    Some((stack, custom))
}

/// A new account in a browser of its own, listening to the event stream.
async fn person(stack: &Stack, who: &str, name: &str) -> (Browser, String) {
    let email = unique_email(who);
    let browser = Browser::open().await;
    browser.goto(&stack.url).await;
    browser.sign_up(&email, PASSWORD, name).await;
    browser
        .wait_for_text("realtime-status", |t| t.contains("Live"))
        .await;
    (browser, email)
}

/// Waits until the element is gone, but only for `limit`.
async fn gone_within(browser: &Browser, test_id: &str, limit: Duration) {
    let started = Instant::now();
    while browser.exists(test_id).await {
        assert!(
            started.elapsed() < limit,
            "{test_id} did not go within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The titles of the todos the server holds for `email`.
async fn server_titles(stack: &Stack, email: &str) -> Vec<String> {
    let server = stack.server_state(email, PASSWORD).await;
    let mut titles: Vec<String> = server
        .todos
        .values()
        .filter_map(|todo| todo["title"].as_str().map(str::to_string))
        .collect();
    titles.sort_unstable();
    titles
}

#[tokio::test]
async fn a_shared_board_is_edited_together_live_and_offline_until_the_member_is_removed() {
    let Some((stack, _app)) = live_stack().await else {
        return;
    };
    let (alice, alice_email) = person(&stack, "alice", "Alice").await;
    let (bob, bob_email) = person(&stack, "bob", "Bob").await;
    alice.create_board("Trip").await;
    alice.add_todo("Trip", "Tickets").await;
    alice.wait_synced().await;

    // Alice shares the board: Bob's open page shows it, with who shared it.
    alice.share_board("Trip", &bob_email).await;
    let badge = bob.find_within("shared-badge-Trip", LIVE).await;
    assert_eq!(badge.text().await.unwrap().trim(), "Shared by Alice");
    bob.find("todo-Tickets").await;
    for owners_only in ["rename-board-Trip", "delete-board-Trip", "share-board-Trip"] {
        assert!(
            !bob.exists(owners_only).await,
            "{owners_only} on a member's copy"
        );
    }
    assert!(
        !alice.exists("shared-badge-Trip").await,
        "the owner's copy is hers"
    );
    alice.close_sharing().await;

    // Bob adds a todo and ticks it; Alice renames hers: each sees the other's live.
    bob.add_todo("Trip", "Passports").await;
    bob.click("toggle-todo-Passports").await;
    alice.find_within("todo-Passports", LIVE).await;
    alice.wait_for_checked("toggle-todo-Passports", true).await;
    assert!(alice.try_edit_todo("Tickets", "Train tickets").await);
    bob.find_within("todo-Train tickets", LIVE).await;

    // Bob edits offline; back online, his edit reaches Alice.
    bob.wait_synced().await;
    bob.toggle_offline().await;
    assert!(bob.try_edit_todo("Passports", "Passports and visas").await);
    bob.find("todo-Passports and visas").await;
    bob.toggle_offline().await;
    bob.click("sync-now-button").await;
    alice.find_within("todo-Passports and visas", LIVE).await;

    // Bob edits offline again while Alice removes him from the board.
    bob.wait_synced().await;
    bob.toggle_offline().await;
    assert!(bob.try_edit_todo("Train tickets", "Bob's tickets").await);
    bob.find("todo-Bob's tickets").await;
    bob.add_todo("Trip", "Snacks").await;
    alice.remove_member("Trip", &bob_email).await;
    alice.close_sharing().await;
    bob.toggle_offline().await;
    bob.click("sync-now-button").await;
    // The board leaves Bob's screen, and his edit is refused, visibly, not dropped.
    bob.wait_gone("board-Trip").await;
    let notice = bob
        .wait_for_text("refused-change", |t| {
            t.contains("Renaming todo \"Train tickets\" to \"Bob's tickets\" was refused")
        })
        .await;
    let notices = bob
        .wait_for_text("refused-changes", |t| {
            t.contains("Adding todo \"Snacks\" was refused")
        })
        .await;
    assert!(notices.contains("no longer shared with you"), "{notices}");
    assert!(!bob.exists("todo-Bob's tickets").await, "{notice}");
    assert!(!bob.exists("todo-Passports and visas").await);
    // Nothing of the board is left on Bob's device: the refused edit is undone, not
    // kept out of sight.
    bob.wait_synced().await;
    let left = bob.local_state().await;
    assert!(left.boards.is_empty() && left.todos.is_empty(), "{left:?}");
    // Never applied on Alice's side.
    alice.find("todo-Train tickets").await;
    assert!(!alice.exists("todo-Bob's tickets").await);
    assert_eq!(
        server_titles(&stack, &alice_email).await,
        ["Passports and visas", "Train tickets"],
        "neither Bob's rename nor his new todo reached Alice"
    );
    assert!(server_titles(&stack, &bob_email).await.is_empty());
    alice.close().await;
    bob.close().await;
}

#[tokio::test]
async fn a_member_leaves_is_invited_again_removed_and_sees_a_deleted_board_go() {
    let Some((stack, _app)) = live_stack().await else {
        return;
    };
    let (alice, _) = person(&stack, "alice", "Alice").await;
    let (bob, bob_email) = person(&stack, "bob", "Bob").await;
    alice.create_board("Home").await;
    alice.create_board("Trip").await;
    alice.add_todo("Trip", "Tickets").await;
    // Shared once the server has the boards (before, the panel says they are syncing).
    alice.wait_synced().await;

    // An address with no account: the owner is told so.
    let nobody = unique_email("nobody");
    alice.submit_share("Home", &nobody).await;
    let message = alice.wait_for_text("share-error", |t| !t.is_empty()).await;
    assert!(message.contains("account"), "{message}");
    assert!(
        !message.contains("404"),
        "a sentence, not a status: {message}"
    );
    alice.close_sharing().await;

    alice.share_board("Home", &bob_email).await;
    alice.close_sharing().await;
    alice.share_board("Trip", &bob_email).await;
    alice.close_sharing().await;
    bob.find_within("board-Home", LIVE).await;
    bob.find_within("todo-Tickets", LIVE).await;

    // Bob leaves Home: gone from his screen at once; Alice keeps it, without him.
    bob.leave_board("Home").await;
    gone_within(&bob, "board-Home", LIVE).await;
    bob.find("board-Trip").await;
    alice.open_sharing("Home").await;
    alice
        .wait_for_text("board-members-Home", |t| !t.contains(&bob_email))
        .await;
    // Invited again, then removed while online: it comes and goes on Bob's screen live.
    alice.share_board("Home", &bob_email).await;
    bob.find_within("shared-badge-Home", LIVE).await;
    alice.remove_member("Home", &bob_email).await;
    alice.close_sharing().await;
    gone_within(&bob, "board-Home", LIVE).await;
    assert!(alice.exists("board-Home").await);

    // Alice deletes the shared board: gone for Bob too, todos and all.
    alice.click("delete-board-Trip").await;
    alice.click("confirm-delete").await;
    alice.wait_gone("board-Trip").await;
    gone_within(&bob, "board-Trip", LIVE).await;
    assert!(!bob.exists("todo-Tickets").await);
    assert!(
        !bob.exists("refused-changes").await,
        "nothing of Bob's was refused"
    );
    alice.close().await;
    bob.close().await;
}
