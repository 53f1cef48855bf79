//! The failure paths as a person meets them: a long time offline, an edit the server
//! refuses followed by one it accepts, and signing out while a pull is under way. A
//! change may only be lost when the server refuses it, and then the person is told.

use std::time::Duration;
use sync_protocol::{Board, Operation, OutboxEvent, Record, Timestamp, Todo};
use sync_test_support::{Browser, Stack};
use uuid::Uuid;

const PASSWORD: &str = "correct horse battery";

fn unique_email(who: &str) -> String {
    format!("{who}-{}@example.com", Uuid::new_v4())
}

#[tokio::test]
async fn retrying_offline_never_rolls_a_change_back() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let email = unique_email("ida");
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&email, PASSWORD, "Ida").await;
    a.create_board("Home").await;
    a.wait_synced().await;

    a.click("offline-toggle").await;
    assert!(a.try_rename_board("Home", "Home 2").await);
    a.find("board-Home 2").await;
    // More attempts than the server's retry limit: none of them may count as a try.
    for _ in 0..15 {
        a.click("sync-now-button").await;
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
    a.wait_for_text("pending-count", |t| t == "1").await;
    a.click("offline-toggle").await;
    a.click("sync-now-button").await;
    a.wait_synced().await;

    a.find("board-Home 2").await;
    assert!(!a.exists("board-Home").await, "the rename was rolled back");
    assert!(!a.exists("refused-changes").await, "nothing was refused");
    let server = stack.server_state(&email, PASSWORD).await;
    let names: Vec<&str> = server
        .boards
        .values()
        .filter_map(|b| b["name"].as_str())
        .collect();
    assert_eq!(names, ["Home 2"], "the rename reached the server");
    a.close().await;
}

#[tokio::test]
async fn a_refused_rename_then_an_accepted_one_keeps_the_accepted_and_says_why() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let email = unique_email("joan");
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&email, PASSWORD, "Joan").await;
    a.create_board("Home").await;
    a.create_board("Work").await;
    a.wait_synced().await;

    a.click("offline-toggle").await;
    // "home" clashes with "Home" on the server; "Office" does not.
    assert!(a.try_rename_board("Work", "home").await);
    a.find("board-home").await;
    assert!(a.try_rename_board("home", "Office").await);
    a.find("board-Office").await;
    a.click("offline-toggle").await;
    a.click("sync-now-button").await;
    a.wait_synced().await;

    a.find("board-Office").await;
    assert!(!a.exists("board-Work").await, "the accepted rename stays");
    let notice = a
        .wait_for_text("refused-change", |t| {
            t.contains("Renaming board \"Work\" to \"home\" was refused")
        })
        .await;
    assert!(
        notice.contains("name"),
        "the server's reason is shown: {notice}"
    );

    // After a reload: still "Office", and the refusal is still listed until dismissed.
    a.refresh().await;
    a.find("board-Office").await;
    a.find("refused-change").await;
    a.click("dismiss-refusal").await;
    a.wait_gone("refused-changes").await;

    let server = stack.server_state(&email, PASSWORD).await;
    let mut names: Vec<&str> = server
        .boards
        .values()
        .filter_map(|b| b["name"].as_str())
        .collect();
    names.sort_unstable();
    assert_eq!(names, ["Home", "Office"]);
    a.close().await;
}

#[tokio::test]
async fn signing_out_during_a_slow_pull_leaves_nothing_of_the_account() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    // An account with enough data that its first pull takes a while.
    let email = unique_email("kay");
    let token = seed_account(&stack.url, &email, 3000).await;
    assert!(!token.is_empty());

    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_in(&email, PASSWORD).await;
    a.wait_for_text("sync-status", |t| t == "Pulling").await;
    a.click("logout-button").await;
    a.find("auth-email").await;

    // Give any page still on its way time to (fail to) land.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let local = a.local_state().await;
    assert!(
        local.boards.is_empty() && local.todos.is_empty(),
        "records of the old account remain: {} boards, {} todos",
        local.boards.len(),
        local.todos.len()
    );
    let keys = a.stored_meta_keys().await;
    assert!(
        !keys.iter().any(|k| k == "cursor" || k == "account"),
        "the old account's cursor or session remains: {keys:?}"
    );

    // Signing in again fetches everything from the start.
    a.sign_in(&email, PASSWORD).await;
    let started = std::time::Instant::now();
    let mut count = 0;
    while started.elapsed() < Duration::from_secs(90) {
        count = a.local_state().await.todos.len();
        if count == 3000 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    assert_eq!(count, 3000, "a fresh pull brings every todo");
    a.close().await;
}

#[tokio::test]
async fn signing_in_as_someone_else_from_the_expired_banner_asks_first() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let (mine, theirs) = (unique_email("lin"), unique_email("mo"));
    seed_account(&stack.url, &theirs, 0).await;
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&mine, PASSWORD, "Lin").await;
    a.wait_synced().await;

    // The session expires with a change still to push.
    stack.execute_sql("DELETE FROM sessions").await;
    a.create_board("Not yet on the server").await;
    a.click("sync-now-button").await;
    a.find("session-expired").await;
    a.wait_for_text("pending-count", |t| t == "1").await;

    // Signing in as another account from the banner asks before discarding it.
    a.replace_text("auth-email", &theirs).await;
    a.replace_text("auth-password", PASSWORD).await;
    a.click("login-submit").await;
    a.find("confirm-switch-account").await;
    a.click("confirm-cancel").await;
    a.wait_gone("confirm-switch-account").await;
    assert_eq!(a.text("user-email").await, mine, "still the same account");
    a.find("board-Not yet on the server").await;

    // Confirmed: the other account, and none of the first one's data.
    a.click("login-submit").await;
    a.click("confirm-switch-account").await;
    a.wait_for_text("user-email", |t| t == theirs).await;
    a.wait_synced().await;
    a.find("board-Big board").await;
    assert!(!a.exists("board-Not yet on the server").await);
    a.close().await;
}

#[tokio::test]
async fn the_event_stream_reopens_after_the_server_restarts() {
    let Some(mut stack) = Stack::start().await else {
        return;
    };
    let a = Browser::open().await;
    a.goto(&stack.url).await;
    a.sign_up(&unique_email("nell"), PASSWORD, "Nell").await;
    a.wait_for_text("realtime-status", |t| t == "● Live").await;

    // The server goes away long enough for the stream to fail for good, then returns.
    stack.kill();
    a.wait_for_text("realtime-status", |t| t == "○ Not live")
        .await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    stack.restart().await;
    // No reload, no click: the worker reopens the stream by itself.
    a.wait_for_text("realtime-status", |t| t == "● Live").await;
    a.close().await;
}

/// Signs up `email` over HTTP and pushes one board with `todos` todos; returns the token.
async fn seed_account(url: &str, email: &str, todos: usize) -> String {
    let http = reqwest::Client::new();
    let session: serde_json::Value = http
        .post(format!("{url}/api/auth/signup"))
        .json(&serde_json::json!({"email": email, "password": PASSWORD, "name": "Seeded"}))
        .send()
        .await
        .expect("the server answers")
        .json()
        .await
        .expect("a session");
    let token = session["token"].as_str().expect("a token").to_string();
    let user_id: Uuid = session["user"]["id"]
        .as_str()
        .and_then(|id| id.parse().ok())
        .expect("a user id");
    let now = Timestamp::from_millis(1_767_225_600_000);
    let board = Board {
        id: Uuid::new_v4(),
        name: "Big board".into(),
        created_at: now,
        user_id,
    };
    let mut events = vec![OutboxEvent::new(
        Uuid::new_v4(),
        Operation::Create,
        &Record::Board(board.clone()),
        now,
    )];
    for n in 0..todos {
        let todo = Todo {
            id: Uuid::new_v4(),
            title: format!("Todo {n}"),
            description: None,
            is_completed: false,
            created_at: Timestamp::from_millis(now.as_millis() + n as i64),
            board_id: board.id,
        };
        events.push(OutboxEvent::new(
            Uuid::new_v4(),
            Operation::Create,
            &Record::Todo(todo),
            now,
        ));
    }
    for batch in events.chunks(100) {
        let results: serde_json::Value = http
            .post(format!("{url}/api/sync/push"))
            .bearer_auth(&token)
            .json(&serde_json::json!({ "events": batch }))
            .send()
            .await
            .expect("the server answers")
            .json()
            .await
            .expect("push results");
        assert!(
            results
                .as_array()
                .is_some_and(|r| r.iter().all(|r| r["error"].is_null())),
            "seeding failed: {results}"
        );
    }
    token
}
