//! The page follows changes record by record: a change made on another device updates
//! the affected board and todo on screen, and the page reads just those records by id,
//! never a whole store (no getAll, no cursor) and never a query per board.

use sync_protocol::Timestamp;
use sync_test_support::{board, create, now, todo, Browser, Client, Stack};

const PASSWORD: &str = "correct horse battery";

/// Counts this page's IndexedDB reads from now on (the worker's are its own context's).
const COUNT_READS: &str = r#"
if (!window.__readsWrapped) {
  window.__readsWrapped = true;
  for (const proto of [IDBObjectStore.prototype, IDBIndex.prototype]) {
    for (const name of ['get', 'getAll', 'getAllKeys', 'openCursor', 'openKeyCursor']) {
      const original = proto[name];
      proto[name] = function (...args) {
        window.__reads[name] = (window.__reads[name] || 0) + 1;
        return original.apply(this, args);
      };
    }
  }
}
window.__reads = {};
return true;
"#;

async fn reads(browser: &Browser) -> serde_json::Value {
    browser
        .client
        .execute("return window.__reads;", vec![])
        .await
        .expect("the script runs")
}

async fn start_counting(browser: &Browser) {
    browser
        .client
        .execute(COUNT_READS, vec![])
        .await
        .expect("the script runs");
}

fn count(reads: &serde_json::Value, name: &str) -> u64 {
    reads[name].as_u64().unwrap_or(0)
}

#[tokio::test]
async fn a_change_elsewhere_reads_and_renders_only_what_it_touched() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_nanos();
    let devices = stack
        .devices(2, &format!("incremental-{nanos:x}@example.com"), PASSWORD)
        .await;
    let (a, b) = (&devices[0], &devices[1]);
    a.create_board("Home").await;
    a.create_board("Work").await;
    a.add_todo("Home", "Milk").await;
    a.add_todo("Work", "Report").await;
    b.find("todo-Milk").await;
    let report = b.find("todo-Report").await;
    let work = b.find("board-Work").await;

    start_counting(b).await;
    a.click("toggle-todo-Milk").await;
    b.wait_for_checked("toggle-todo-Milk", true).await;
    let after_toggle = reads(b).await;

    a.add_todo("Work", "Slides").await;
    b.find("todo-Slides").await;
    let after_add = reads(b).await;

    // Read by id: the toggled todo, then the new one. Nothing read whole.
    for reads in [&after_toggle, &after_add] {
        for whole in ["getAll", "getAllKeys", "openCursor", "openKeyCursor"] {
            assert_eq!(count(reads, whole), 0, "{whole} in {reads}");
        }
    }
    assert!(count(&after_toggle, "get") >= 1, "{after_toggle}");
    assert!(
        count(&after_add, "get") > count(&after_toggle, "get"),
        "{after_add}"
    );
    // The untouched todo and the board keep their elements (keyed rendering): the
    // references taken before the changes still answer.
    let report = report.text().await.expect("the todo's element is the same");
    assert!(report.contains("Report"), "{report}");
    let work = work.text().await.expect("the board's element is the same");
    assert!(work.contains("Slides") && work.contains("0/2"), "{work}");
}

/// With more boards than the page holds, it shows the newest and offers the earlier
/// ones a slice at a time; a new board lands at the end, in view.
#[tokio::test]
async fn many_boards_show_the_newest_and_the_earlier_ones_on_request() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let email = format!("many-boards-{}@example.com", uuid::Uuid::new_v4().simple());
    let devices = stack.devices(1, &email, PASSWORD).await;
    let page = &devices[0];
    // 31 boards made elsewhere, a millisecond apart, oldest first.
    let elsewhere = Client::logged_in(&stack.url, &email, PASSWORD).await;
    let user = elsewhere.user().id;
    let start = now().as_millis();
    let events: Vec<_> = (0..31)
        .map(|n| {
            let mut made = board(user, &format!("Old {n:02}"));
            made.created_at = Timestamp::from_millis(start + n);
            create(made)
        })
        .collect();
    let results = elsewhere.push(&events).await;
    assert!(
        results.iter().all(|result| result.error.is_none()),
        "{results:?}"
    );

    page.find("board-Old 30").await;
    page.find("board-Old 01").await;
    assert!(
        !page.exists("board-Old 00").await,
        "the oldest waits behind the button"
    );
    assert_eq!(
        page.text("show-earlier-boards").await,
        "Show 1 earlier board (1 hidden)"
    );
    page.create_board("New").await;
    page.find("board-New").await;
    assert_eq!(
        page.text("show-earlier-boards").await,
        "Show 2 earlier boards (2 hidden)"
    );
    page.click("show-earlier-boards").await;
    page.find("board-Old 00").await;
    assert!(!page.exists("show-earlier-boards").await);
}

/// A burst of todos from elsewhere, more than a card lists in the render that brings
/// them (it lists them in a task of its own), shows on the card: the count, the newest
/// thirty, the earlier ones behind the button; and a todo added here just after shows
/// at once.
#[tokio::test]
async fn a_burst_of_todos_from_elsewhere_lists_the_newest_on_the_card() {
    let Some(stack) = Stack::start().await else {
        return;
    };
    let email = format!("burst-{}@example.com", uuid::Uuid::new_v4().simple());
    let devices = stack.devices(1, &email, PASSWORD).await;
    let page = &devices[0];
    let elsewhere = Client::logged_in(&stack.url, &email, PASSWORD).await;
    let inbox = board(elsewhere.user().id, "Inbox");
    let start = now().as_millis();
    let made = |n: i64, title: &str| {
        let mut made = todo(inbox.id, title);
        made.created_at = Timestamp::from_millis(start + n);
        create(made)
    };
    let first = [create(inbox.clone()), made(0, "First")];
    assert!(elsewhere
        .push(&first)
        .await
        .iter()
        .all(|r| r.error.is_none()));
    page.find("todo-First").await;

    let burst: Vec<_> = (1..=40)
        .map(|n| made(n, &format!("Burst {n:02}")))
        .collect();
    let results = elsewhere.push(&burst).await;
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    page.wait_for_text("board-Inbox", |text| text.contains("0/41"))
        .await;
    page.find("todo-Burst 40").await;
    page.find("todo-Burst 11").await;
    for earlier in ["todo-First", "todo-Burst 01", "todo-Burst 10"] {
        assert!(
            !page.exists(earlier).await,
            "{earlier} waits behind the button"
        );
    }
    assert_eq!(
        page.text("show-earlier-Inbox").await,
        "Show 11 earlier (11 hidden)"
    );
    let busy = page
        .client
        .execute(
            r#"return document.querySelector('[data-testid="board-Inbox"] ul.todos').getAttribute("aria-busy");"#,
            vec![],
        )
        .await
        .expect("the script runs");
    assert_eq!(busy, "false", "the list caught up with the card");

    page.add_todo("Inbox", "Here").await;
    page.find("todo-Here").await;
    page.wait_for_text("board-Inbox", |text| text.contains("0/42"))
        .await;
}
