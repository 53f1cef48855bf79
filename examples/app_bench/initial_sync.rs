//! P2 initial sync and P6 main-thread responsiveness: a person with many records signs
//! in on a new device; how fast do the records reach the page's IndexedDB, beside plain
//! JavaScript writing as many records into a database of its own in the same page, and
//! how often is the main thread blocked meanwhile?

use crate::report::figure;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use sync_test_support::{board, create, todo, Browser, Client, Stack};

/// The longest a sync may take before the run reports how far it got, in seconds
/// (`APP_BENCH_SYNC_LIMIT_SECS`, default 20 minutes).
fn sync_limit() -> Duration {
    let secs = std::env::var("APP_BENCH_SYNC_LIMIT_SECS")
        .ok()
        .and_then(|secs| secs.parse().ok())
        .unwrap_or(20 * 60);
    Duration::from_secs(secs)
}

/// Installed before sign-in: long tasks and frame gaps on the main thread, and (once
/// started) a poll of the app's database that notes when it holds `target` records.
const OBSERVE: &str = r#"
const bench = window.__bench = { start: null, stored: null, done: null, count: 0, shown: 0, longTasks: [], maxFrameGap: 0, error: null };
new PerformanceObserver((list) => {
  for (const entry of list.getEntries()) bench.longTasks.push([entry.startTime, entry.duration]);
}).observe({ type: "longtask" });
let lastFrame = null;
const frame = (now) => {
  if (bench.start !== null && lastFrame !== null) bench.maxFrameGap = Math.max(bench.maxFrameGap, now - lastFrame);
  if (bench.start !== null) lastFrame = now;
  if (bench.done === null) requestAnimationFrame(frame);
};
requestAnimationFrame(frame);
"#;

/// Clicks "sign in" and polls every 100 ms until the app's database holds `arguments[0]`
/// boards and todos (`stored`), then until the page shows `arguments[2]` todos in its
/// board cards' counts (`done`), or `arguments[1]` ms pass. It never creates the
/// database itself: it waits until the app has.
const SIGN_IN_AND_POLL: &str = r#"
const [target, limitMs, todos] = arguments;
const bench = window.__bench;
const count = () => new Promise((resolve) => {
  const request = indexedDB.open("boards-sync");
  request.onupgradeneeded = () => request.transaction.abort();
  request.onerror = () => resolve(0);
  request.onsuccess = () => {
    const db = request.result;
    if (!db.objectStoreNames.contains("Todo")) { db.close(); resolve(0); return; }
    const tx = db.transaction(["Board", "Todo"], "readonly");
    const boards = tx.objectStore("Board").count();
    const todos = tx.objectStore("Todo").count();
    tx.oncomplete = () => { db.close(); resolve(boards.result + todos.result); };
    tx.onerror = () => { db.close(); resolve(0); };
  };
});
// Each card's count reads "<done> of <todos> done".
const shown = () => [...document.querySelectorAll("article.board .count")]
  .reduce((sum, count) => sum + Number((count.getAttribute("aria-label") || "").split(" ")[2] || 0), 0);
const tick = async () => {
  try {
    if (bench.stored === null) {
      const names = (await indexedDB.databases()).map((d) => d.name);
      if (names.includes("boards-sync")) bench.count = await count();
      if (bench.count >= target) bench.stored = performance.now();
    }
    bench.shown = shown();
  } catch (e) { bench.error = String(e); }
  if ((bench.stored !== null && bench.shown >= todos) || performance.now() - bench.start > limitMs) {
    bench.done = performance.now();
  } else {
    setTimeout(tick, 100);
  }
};
bench.start = performance.now();
document.querySelector('[data-testid="login-submit"]').click();
setTimeout(tick, 100);
"#;

/// What the poll and the observers saw.
const READ: &str = r#"
const b = window.__bench;
const during = b.longTasks.filter(([start]) => start >= b.start && start <= (b.done ?? Infinity));
return { done: b.done, stored: b.stored, start: b.start, count: b.count, shown: b.shown, error: b.error, maxFrameGap: b.maxFrameGap,
  longTasks: during.length, longestTask: Math.max(0, ...during.map(([, d]) => d)),
  longTaskTotal: during.reduce((sum, [, d]) => sum + d, 0) };
"#;

/// Plain JavaScript's baseline in the same page: `arguments[0]` boards and `arguments[1]`
/// todos shaped as the app stores them, in stores with the app's indexes, written 100
/// per transaction, each transaction awaited; answers the milliseconds it took.
const PLAIN_JS: &str = r#"
const [boardCount, todoCount] = arguments;
const done = arguments[arguments.length - 1];
const request = (r) => new Promise((resolve, reject) => { r.onsuccess = () => resolve(r.result); r.onerror = () => reject(r.error); });
(async () => {
  await new Promise((resolve) => { const d = indexedDB.deleteDatabase("bench-plain"); d.onsuccess = d.onerror = d.onblocked = resolve; });
  const open = indexedDB.open("bench-plain", 1);
  open.onupgradeneeded = () => {
    const db = open.result;
    db.createObjectStore("Board", { keyPath: "id" }).createIndex("boardsByUser", ["userId", "createdAt"]);
    db.createObjectStore("Todo", { keyPath: "id" }).createIndex("todosByBoard", ["boardId", "createdAt"]);
  };
  const db = await request(open);
  const userId = crypto.randomUUID();
  const now = () => new Date().toISOString();
  const boards = Array.from({ length: boardCount }, (_, n) => ["Board", { id: crypto.randomUUID(), name: `Board ${n}`, createdAt: now(), userId }]);
  const todos = Array.from({ length: todoCount }, (_, n) => ["Todo", { id: crypto.randomUUID(), title: `Todo ${n}`, isCompleted: false, createdAt: now(), boardId: boards[n % boardCount][1].id }]);
  const records = boards.concat(todos);
  const started = performance.now();
  for (let i = 0; i < records.length; i += 100) {
    await new Promise((resolve, reject) => {
      const tx = db.transaction(["Board", "Todo"], "readwrite");
      for (const [store, record] of records.slice(i, i + 100)) tx.objectStore(store).put(record);
      tx.oncomplete = resolve;
      tx.onerror = () => reject(tx.error);
    });
  }
  const elapsed = performance.now() - started;
  db.close();
  indexedDB.deleteDatabase("bench-plain");
  done({ elapsed, count: records.length });
})().catch((e) => done({ error: String(e) }));
"#;

/// One initial sync's figures.
pub struct Run {
    boards: usize,
    todos: usize,
    synced: u64,
    /// From the click on "sign in" until the app's database held every record.
    app_ms: f64,
    /// From the click until the page showed every todo (the app's reads after the
    /// worker's writes), or None when the limit came first.
    page_ms: Option<f64>,
    timed_out: bool,
    plain_ms: f64,
    /// Long tasks and frame gaps during the sync.
    main_thread: serde_json::Value,
    /// What a reload with every record in the database cost the main thread.
    reload: Option<serde_json::Value>,
}

impl Run {
    pub fn app_rate(&self) -> f64 {
        self.synced as f64 / (self.app_ms / 1000.0)
    }

    fn plain_rate(&self) -> f64 {
        (self.boards + self.todos) as f64 / (self.plain_ms / 1000.0)
    }

    pub fn report(&self) {
        let total = self.boards + self.todos;
        let size = format!("{} + {}", self.boards, self.todos);
        figure(
            &format!("P2 app, {size}"),
            format!(
                "{:.0} records/s ({} records in {:.1} s{})",
                self.app_rate(),
                self.synced,
                self.app_ms / 1000.0,
                if self.timed_out {
                    format!(", stopped after the limit at {} of {total}", self.synced)
                } else {
                    String::new()
                }
            ),
        );
        figure(
            &format!("P2 app, {size}, until the page shows every todo"),
            match self.page_ms {
                Some(page_ms) => format!(
                    "{:.1} s ({:.1} s after the database held them)",
                    page_ms / 1000.0,
                    (page_ms - self.app_ms) / 1000.0
                ),
                None => "not within the limit".into(),
            },
        );
        figure(
            &format!("P2 plain JS, {size}, 100 per transaction"),
            format!(
                "{:.0} records/s ({:.2} s)",
                self.plain_rate(),
                self.plain_ms / 1000.0
            ),
        );
        figure(
            &format!("P2 app ÷ plain JS, {size}"),
            format!("{:.3}x (aim ≥ 0.5x)", self.app_rate() / self.plain_rate()),
        );
        let seen = &self.main_thread;
        figure(
            &format!("P6 long tasks during the {size} sync"),
            format!(
                "{} (longest {:.0} ms, total {:.1} s, until the page showed every todo; aim: none over 50 ms)",
                seen["longTasks"],
                seen["longestTask"].as_f64().unwrap_or_default(),
                seen["longTaskTotal"].as_f64().unwrap_or_default() / 1000.0
            ),
        );
        figure(
            &format!("P6 longest gap between animation frames, {size}"),
            format!("{:.0} ms", seen["maxFrameGap"].as_f64().unwrap_or_default()),
        );
        if let Some(seen) = &self.reload {
            figure(
                &format!("P6 the app opened again with {size} in the database"),
                format!(
                    "every board shown after {:.0} ms; long tasks meanwhile: {} (longest {:.0} ms; aim: none over 50 ms)",
                    seen["shownAt"].as_f64().unwrap_or_default(),
                    seen["longTasks"],
                    seen["longestTask"].as_f64().unwrap_or_default(),
                ),
            );
        }
    }
}

/// Seeds a new person with `boards` boards and `todos` todos through the API (pushes of
/// 100); in a fresh browser, runs plain JavaScript's baseline, then signs in and times
/// the initial sync, in the same page, with the main thread's long tasks and frames
/// meanwhile and when the app is opened again with every record.
pub async fn measure(dist: &Path, boards: usize, todos: usize) -> Run {
    let stack = Stack::start_with_app(dist).await;
    let seeded = Instant::now();
    let client = Client::signed_up(&stack.url, "Bench").await;
    seed(&client, boards, todos).await;
    eprintln!(
        "seeded {boards} boards + {todos} todos in {:.1} s",
        seeded.elapsed().as_secs_f64()
    );

    let browser = Browser::open().await;
    browser
        .client
        .update_timeouts(fantoccini_timeouts(Duration::from_secs(600)))
        .await
        .expect("script timeout");
    browser.goto(&stack.url).await;
    browser.find("auth-email").await;
    // The baseline first, while the app rests at its sign-in form: afterwards (or after
    // a sync stopped at the limit) the app's own work would slow it down.
    let plain = browser
        .client
        .execute_async(PLAIN_JS, vec![json!(boards), json!(todos)])
        .await
        .expect("the plain JS baseline runs");
    assert!(plain["error"].is_null(), "plain JS failed: {plain}");
    browser
        .client
        .execute(OBSERVE, vec![])
        .await
        .expect("observers installed");
    browser.type_into("auth-email", &client.user().email).await;
    browser
        .type_into("auth-password", sync_test_support::PASSWORD)
        .await;
    let target = (boards + todos) as u64;
    browser
        .client
        .execute(
            SIGN_IN_AND_POLL,
            vec![
                json!(target),
                json!(sync_limit().as_millis() as u64),
                json!(todos),
            ],
        )
        .await
        .expect("signed in");
    // Progress on stderr every ten seconds: a long sync shows how far it is.
    let mut last_note = Instant::now();
    let seen = loop {
        tokio::time::sleep(Duration::from_secs(1)).await;
        let seen = browser
            .client
            .execute(READ, vec![])
            .await
            .expect("the page answers");
        if !seen["done"].is_null() {
            break seen;
        }
        if last_note.elapsed() >= Duration::from_secs(10) {
            eprintln!(
                "  … {} of {target} records in the app's database, {} todos on the page",
                seen["count"], seen["shown"]
            );
            last_note = Instant::now();
        }
    };
    assert!(
        seen["error"].is_null(),
        "polling the app's database failed: {seen}"
    );
    let synced = seen["count"].as_u64().unwrap_or_default();
    let start = seen["start"].as_f64().unwrap_or_default();
    let done = seen["done"].as_f64().unwrap_or_default();
    let app_ms = seen["stored"].as_f64().unwrap_or(done) - start;
    let page_ms = (seen["shown"].as_u64() >= Some(todos as u64)).then_some(done - start);

    let reload = if synced == target {
        Some(reload(&browser, &stack.url, boards).await)
    } else {
        None
    };
    browser.close().await;
    Run {
        boards,
        todos,
        synced,
        app_ms,
        page_ms,
        timed_out: synced < target,
        plain_ms: plain["elapsed"].as_f64().expect("milliseconds"),
        main_thread: seen,
        reload,
    }
}

/// The records, through the API as devices would push them: 100 events per request.
async fn seed(client: &Client, boards: usize, todos: usize) {
    let board_records: Vec<_> = (0..boards)
        .map(|n| board(client.user_id(), &format!("Board {n}")))
        .collect();
    let mut events: Vec<_> = board_records.iter().cloned().map(create).collect();
    events.extend((0..todos).map(|n| {
        let on = &board_records[n % boards];
        create(todo(on.id, &format!("Todo {n}")))
    }));
    for batch in events.chunks(100) {
        let results = client.push(batch).await;
        assert!(
            results.iter().all(|result| result.error.is_none()),
            "seeding failed: {:?}",
            results.iter().find(|result| result.error.is_some())
        );
    }
}

fn fantoccini_timeouts(
    script: Duration,
) -> sync_test_support::fantoccini::wd::TimeoutConfiguration {
    sync_test_support::fantoccini::wd::TimeoutConfiguration::new(
        Some(script),
        Some(Duration::from_secs(60)),
        Some(Duration::ZERO),
    )
}

/// The app opened again with everything synced (as a person does the next day), in a
/// frame of this page so that an observer installed before it started sees every long
/// task it causes (a frame of the same origin shares the page's main thread): from
/// opening until every board shows its todos.
const OPEN_AGAIN: &str = r#"
const [url, boards] = arguments;
const done = arguments[arguments.length - 1];
const tasks = [];
const observer = new PerformanceObserver((list) => {
  for (const e of list.getEntries()) tasks.push(e.duration);
});
observer.observe({ type: "longtask" });
const frame = document.createElement("iframe");
frame.style.cssText = "position:fixed;inset:0;width:100%;height:100%;border:0;background:white";
const openedAt = performance.now();
const check = () => {
  const page = frame.contentDocument;
  const shown = page ? [...page.querySelectorAll("article.board")] : [];
  const full = shown.filter((board) => board.querySelectorAll(".todos li").length > 0);
  if (full.length >= boards || performance.now() - openedAt > 60000) {
    const shownAt = performance.now() - openedAt;
    // Long task entries arrive a moment after their task.
    setTimeout(() => {
      observer.disconnect();
      done({ shownAt, longTasks: tasks.length, longestTask: Math.max(0, ...tasks) });
    }, 300);
  } else {
    setTimeout(check, 10);
  }
};
frame.src = url;
document.body.append(frame);
check();
"#;

async fn reload(browser: &Browser, url: &str, boards: usize) -> serde_json::Value {
    browser
        .client
        .execute_async(OPEN_AGAIN, vec![json!(url), json!(boards)])
        .await
        .expect("the boards show in the app opened again")
}
