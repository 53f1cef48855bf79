//! The page follows changes record by record: a change made on another device updates
//! the affected board and todo on screen, and the page reads just those records by id,
//! never a whole store (no getAll, no cursor) and never a query per board.

use sync_test_support::{Browser, Stack};

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
