//! The local store's speed beside plain JavaScript doing the same IndexedDB work in the
//! same page and run (headless Chromium): P1 a local write, P2 applying pulled pages,
//! P3 reading the next outbox batch.
//!
//! Ignored in ordinary test runs: `cargo xtask bench` runs it with `--include-ignored`
//! and `--nocapture`, so the figures printed with `console.log` reach the terminal.
//! Nothing here asserts a time: figures depend on the machine and its load, so they
//! are printed for a person to read beside the load average.
#![cfg(target_arch = "wasm32")]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

#[path = "store/test_db.rs"]
mod test_db;

use serde::Serialize;
use sync_protocol::Todo;
use sync_protocol::{LogWithRecord, Operation, OutboxEvent, PullResponse, Record, Timestamp};
use sync_worker::engine::Verdict;
use sync_worker::store::OutboxEntry;
use test_db::TestDb;
use uuid::Uuid;
use wasm_bindgen::prelude::*;
use wasm_bindgen_test::wasm_bindgen_test;

// The plain-JavaScript side: what a hand-written client would do, with the same stores,
// key paths and indexes as the store's schema (so index upkeep costs both the same),
// in its own database.
#[wasm_bindgen(inline_js = r#"
const request = (r) => new Promise((resolve, reject) => {
  r.onsuccess = () => resolve(r.result);
  r.onerror = () => reject(r.error);
});
const committed = (tx) => new Promise((resolve, reject) => {
  tx.oncomplete = () => resolve();
  tx.onerror = () => reject(tx.error);
  tx.onabort = () => reject(tx.error || new Error("transaction aborted"));
});

export function now() { return performance.now(); }

export async function openPlain(name) {
  const open = indexedDB.open(name, 1);
  open.onupgradeneeded = () => {
    const db = open.result;
    db.createObjectStore("Board", { keyPath: "id" }).createIndex("byUser", ["userId", "createdAt"]);
    db.createObjectStore("Todo", { keyPath: "id" }).createIndex("byBoard", ["boardId", "createdAt"]);
    const outbox = db.createObjectStore("OutboxEvent", { keyPath: "id" });
    outbox.createIndex("bySeq", "seq");
    outbox.createIndex("queue", "queue");
    outbox.createIndex("pendingRecord", "pendingRecord");
    outbox.createIndex("syncedAtMs", "syncedAtMs");
    // Only the store's own requests below use these (the same key paths as its schema).
    db.createObjectStore("User", { keyPath: "id" });
    db.createObjectStore("VersionMeta", { keyPath: ["model", "key"] });
    db.createObjectStore("Meta");
  };
  return await request(open);
}

export async function deletePlain(db, name) {
  db.close();
  await request(indexedDB.deleteDatabase(name));
}

// P1: a new board and its outbox event; returns the milliseconds from opening the
// transaction to its commit.
let seq = 0;
function newBoard(userId, name) {
  const createdAt = new Date().toJSON();
  const board = { id: crypto.randomUUID(), name, createdAt, userId };
  seq += 1;
  const event = {
    id: crypto.randomUUID(), entityType: "Board", operation: "create", payload: board,
    createdAt, tries: 0, lastError: null, synced: false, syncedAt: null, retryable: true,
    lastAttemptedAt: null, seq, queue: seq, pendingRecord: ["Board", board.id],
    summary: `Creating board "${name}"`,
  };
  return { board, event };
}

// The plain client: record + event in one transaction, nothing else.
export async function createBoard(db, userId, name) {
  const started = performance.now();
  const { board, event } = newBoard(userId, name);
  const tx = db.transaction(["Board", "OutboxEvent"], "readwrite");
  tx.objectStore("Board").put(board);
  tx.objectStore("OutboxEvent").put(event);
  await committed(tx);
  return performance.now() - started;
}

// The store's requests for a create that trusts its context's last change, by hand:
// over the stores a local change may touch, the tombstone of the stamp it spends (added,
// so that it fails if another tab spent it first), which holds its own stamp, then
// record, event and metadata, and the commit at once. What IndexedDB alone costs for
// what the store does; the rest of the store's time is its own.
let stamp = `${String(Date.now()).padStart(15, "0")}:${crypto.randomUUID()}`;
export async function createBoardAsTheStoreDoes(db, userId, name) {
  const started = performance.now();
  const { board, event } = newBoard(userId, name);
  const meta = { model: "Board", key: board.id, localChangePending: true };
  const tx = db.transaction(
    ["User", "Board", "Todo", "OutboxEvent", "VersionMeta", "Meta"], "readwrite");
  const next = `${String(Date.now()).padStart(15, "0")}:${event.id}`;
  tx.objectStore("Meta").add(next, `~spent:${stamp}`);
  stamp = next;
  tx.objectStore("Board").put(board);
  tx.objectStore("OutboxEvent").put(event);
  tx.objectStore("VersionMeta").put(meta);
  tx.commit();
  await committed(tx);
  return performance.now() - started;
}

// P2: `records` written `perTx` to a transaction, one transaction after another;
// returns each transaction's milliseconds.
export async function putInTransactions(db, storeName, records, perTx) {
  const times = [];
  for (let start = 0; start < records.length; start += perTx) {
    const started = performance.now();
    const tx = db.transaction([storeName], "readwrite");
    const store = tx.objectStore(storeName);
    for (const record of records.slice(start, start + perTx)) store.put(record);
    await committed(tx);
    times.push(performance.now() - started);
  }
  return times;
}

// Seeding (untimed): every value into `storeName` of the database `name`, in one
// transaction.
export async function seed(name, storeName, values) {
  const db = await request(indexedDB.open(name));
  const tx = db.transaction([storeName], "readwrite");
  const store = tx.objectStore(storeName);
  for (const value of values) store.put(value);
  await committed(tx);
  db.close();
}

// P3: the first `limit` pending events through the `queue` index's cursor; returns
// the milliseconds it took (the count read is checked by the caller).
export async function nextBatch(db, limit) {
  const started = performance.now();
  const tx = db.transaction(["OutboxEvent"], "readonly");
  const cursorRequest = tx.objectStore("OutboxEvent").index("queue").openCursor();
  const batch = await new Promise((resolve, reject) => {
    const values = [];
    cursorRequest.onerror = () => reject(cursorRequest.error);
    cursorRequest.onsuccess = () => {
      const cursor = cursorRequest.result;
      if (!cursor) return resolve(values);
      values.push(cursor.value);
      if (values.length >= limit) return resolve(values);
      cursor.continue();
    };
  });
  return [performance.now() - started, batch.length];
}
"#)]
extern "C" {
    fn now() -> f64;
    #[wasm_bindgen(js_name = openPlain)]
    async fn open_plain(name: &str) -> JsValue;
    #[wasm_bindgen(js_name = deletePlain)]
    async fn delete_plain(db: &JsValue, name: &str);
    #[wasm_bindgen(js_name = createBoard)]
    async fn plain_create_board(db: &JsValue, user_id: &str, name: &str) -> JsValue;
    #[wasm_bindgen(js_name = createBoardAsTheStoreDoes)]
    async fn plain_create_board_as_the_store_does(
        db: &JsValue,
        user_id: &str,
        name: &str,
    ) -> JsValue;
    #[wasm_bindgen(js_name = putInTransactions)]
    async fn plain_put_in_transactions(
        db: &JsValue,
        store: &str,
        records: &JsValue,
        per_tx: u32,
    ) -> JsValue;
    async fn seed(name: &str, store: &str, values: &JsValue);
    #[wasm_bindgen(js_name = nextBatch)]
    async fn plain_next_batch(db: &JsValue, limit: u32) -> JsValue;
}

fn say(line: &str) {
    web_sys::console::log_1(&line.into());
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    let middle = values.len() / 2;
    if values.len() % 2 == 1 {
        values[middle]
    } else {
        (values[middle - 1] + values[middle]) / 2.0
    }
}

/// A value as the store writes it (its JSON, parsed), for seeding and for handing the
/// same records to the plain-JS side.
fn to_js<T: Serialize>(value: &T) -> JsValue {
    js_sys::JSON::parse(&serde_json::to_string(value).expect("serialises")).expect("parses")
}

fn to_js_array<T: Serialize>(values: &[T]) -> JsValue {
    values.iter().map(to_js).collect::<js_sys::Array>().into()
}

fn numbers(value: &JsValue) -> Vec<f64> {
    js_sys::Array::from(value)
        .iter()
        .map(|n| n.as_f64().expect("a number"))
        .collect()
}

/// A signed-in store of its own, leading, and a plain-JS database of its own.
struct Bench {
    db: TestDb,
    plain_name: String,
    plain: JsValue,
}

impl Bench {
    async fn new() -> Bench {
        let db = TestDb::new().await;
        let plain_name = format!("bench-plain-{}", Uuid::new_v4());
        let plain = open_plain(&plain_name).await;
        Bench {
            db,
            plain_name,
            plain,
        }
    }

    async fn finish(self) {
        self.db.finish().await;
        delete_plain(&self.plain, &self.plain_name).await;
    }
}

fn todo(board_id: Uuid, n: usize) -> Todo {
    Todo {
        id: Uuid::new_v4(),
        title: format!("Todo number {n}"),
        description: n.is_multiple_of(3).then(|| format!("Details of todo {n}")),
        is_completed: n.is_multiple_of(2),
        created_at: Timestamp::from_millis(1_796_292_000_000 + n as i64),
        board_id,
    }
}

/// The pull pages a server would send for `todos`, `per_page` entries each.
fn pull_pages(todos: &[Todo], per_page: usize) -> Vec<PullResponse> {
    let mut changelog = 0u64;
    todos
        .chunks(per_page)
        .map(|chunk| {
            let logs_with_records: Vec<LogWithRecord> = chunk
                .iter()
                .map(|todo| {
                    changelog += 1;
                    let id = format!("{changelog:020}");
                    LogWithRecord {
                        id: id.clone(),
                        model: "Todo".into(),
                        key_path: vec![serde_json::Value::String(todo.id.to_string())],
                        operation: Operation::Create,
                        scope_key: "scope".into(),
                        outbox_event_id: Uuid::new_v4().to_string(),
                        record: Some(Record::Todo(todo.clone()).to_json()),
                        changelog_id: id,
                    }
                })
                .collect();
            PullResponse {
                cursor: Some(format!("{changelog:020}")),
                logs_with_records,
            }
        })
        .collect()
}

/// Records per second over the pages whose times are `times` (ms), `per_page` each.
fn rate(times: &[f64], per_page: usize) -> f64 {
    let total: f64 = times.iter().sum();
    (times.len() * per_page) as f64 / (total / 1000.0)
}

#[wasm_bindgen_test]
#[ignore = "benchmark: `cargo xtask bench` runs it"]
async fn p1_local_write_commit() {
    const WRITES: usize = 200;
    let bench = Bench::new().await;
    let user_id = bench.db.user.id.to_string();
    let (mut store_ms, mut plain_ms, mut requests_ms) = (Vec::new(), Vec::new(), Vec::new());
    // Interleaved, so all sides see the same warm-up, collections and machine load.
    for n in 0..WRITES {
        let name = format!("Board {n}");
        let started = now();
        bench.db.store.create_board(&name).await.expect("writes");
        store_ms.push(now() - started);
        let plain = plain_create_board(&bench.plain, &user_id, &name).await;
        plain_ms.push(plain.as_f64().expect("a duration"));
        let requests = plain_create_board_as_the_store_does(&bench.plain, &user_id, &name).await;
        requests_ms.push(requests.as_f64().expect("a duration"));
    }
    let early = median(store_ms[..20].to_vec());
    let late = median(store_ms[WRITES - 20..].to_vec());
    let (store, plain, requests) = (median(store_ms), median(plain_ms), median(requests_ms));
    say(&format!(
        "P1 local write commit (create_board: record + outbox event + metadata), median of {WRITES}: \
         store {store:.2} ms, plain JS (record + event, one transaction) {plain:.2} ms, \
         ratio {:.2}x (aim <= 1.5x); store median of writes 1-20 {early:.2} ms, of 181-200 {late:.2} ms",
        store / plain
    ));
    say(&format!(
        "P1 the store's requests made by plain JS (a trusting create: spend the stamp, its \
         tombstone holding the next, then record + event + metadata): {requests:.2} ms, {:.2}x the plain client; the store \
         takes {:.2}x that",
        requests / plain,
        store / requests
    ));
    bench.finish().await;
}

async fn apply_pull_run(count: usize) {
    const PER_PAGE: usize = 100;
    const SEGMENT: usize = 10_000;
    let bench = Bench::new().await;
    let board = Uuid::new_v4();
    let todos: Vec<Todo> = (0..count).map(|n| todo(board, n)).collect();
    let pages = pull_pages(&todos, PER_PAGE);

    // Page by page, the store's and plain JS's turns alternate, so both see the same
    // machine load (two shared cores move it a lot over a long run).
    let mut store_ms = Vec::with_capacity(pages.len());
    let mut plain_ms = Vec::with_capacity(pages.len());
    for (page, chunk) in pages.iter().zip(todos.chunks(PER_PAGE)) {
        let started = now();
        let stats = bench
            .db
            .store
            .apply_pull(&bench.db.epoch, page)
            .await
            .expect("applies");
        store_ms.push(now() - started);
        assert_eq!(stats.applied as usize, page.logs_with_records.len());
        let records = to_js_array(chunk);
        let plain =
            plain_put_in_transactions(&bench.plain, "Todo", &records, PER_PAGE as u32).await;
        plain_ms.extend(numbers(&plain));
    }
    assert_eq!(plain_ms.len(), pages.len());

    let (store, plain) = (rate(&store_ms, PER_PAGE), rate(&plain_ms, PER_PAGE));
    say(&format!(
        "P2 apply pulled pages, {count} todos in pages of {PER_PAGE}: store {store:.0} records/s \
         ({:.2} s), plain JS ({PER_PAGE} puts per transaction) {plain:.0} records/s ({:.2} s), \
         ratio {:.2}x (aim >= 0.5x)",
        store_ms.iter().sum::<f64>() / 1000.0,
        plain_ms.iter().sum::<f64>() / 1000.0,
        store / plain
    ));
    let pages_per_segment = SEGMENT / PER_PAGE;
    if store_ms.len() > pages_per_segment {
        let segments: Vec<String> = store_ms
            .chunks(pages_per_segment)
            .zip(plain_ms.chunks(pages_per_segment))
            .enumerate()
            .map(|(i, (store, plain))| {
                format!(
                    "{}-{}k store {:.0}/s plain {:.0}/s",
                    i * 10,
                    i * 10 + 10,
                    rate(store, PER_PAGE),
                    rate(plain, PER_PAGE)
                )
            })
            .collect();
        say(&format!(
            "P2 flatness, records/s per 10,000 of the {count}: {}",
            segments.join("; ")
        ));
    }
    bench.finish().await;
}

#[wasm_bindgen_test]
#[ignore = "benchmark: `cargo xtask bench` runs it"]
async fn p2_apply_pulled_pages_10k() {
    apply_pull_run(10_000).await;
}

#[wasm_bindgen_test]
#[ignore = "benchmark: `cargo xtask bench` runs it"]
async fn p2_apply_pulled_pages_50k() {
    apply_pull_run(50_000).await;
}

/// Pending outbox entries with sequence numbers `from..to`, as local writes make them.
fn outbox_entries(board: Uuid, from: u32, to: u32) -> Vec<OutboxEntry> {
    (from..to)
        .map(|seq| {
            let record = Record::Todo(todo(board, seq as usize));
            let event = OutboxEvent::new(
                Uuid::new_v4(),
                Operation::Create,
                &record,
                Timestamp::from_millis(1_796_292_000_000 + i64::from(seq)),
            );
            OutboxEntry::new(event, seq, Some(format!("Adding todo {seq}")))
        })
        .collect()
}

#[wasm_bindgen_test]
#[ignore = "benchmark: `cargo xtask bench` runs it"]
async fn p3_next_outbox_batch() {
    const BATCH: u32 = 50;
    const READS: usize = 30;
    let bench = Bench::new().await;
    let board = Uuid::new_v4();
    let mut pending = 0;
    for target in [1_000, 10_000] {
        // Both databases get the same entries, written as the store writes them.
        let entries = to_js_array(&outbox_entries(board, pending + 1, target + 1));
        seed(&bench.db.name, "OutboxEvent", &entries).await;
        seed(&bench.plain_name, "OutboxEvent", &entries).await;
        pending = target;
        let (mut store_ms, mut plain_ms) = (Vec::new(), Vec::new());
        for _ in 0..READS {
            let started = now();
            let batch = bench
                .db
                .store
                .next_batch(BATCH, |_| true)
                .await
                .expect("reads");
            store_ms.push(now() - started);
            assert_eq!(batch.len() as u32, BATCH);
            let plain = js_sys::Array::from(&plain_next_batch(&bench.plain, BATCH).await);
            plain_ms.push(plain.get(0).as_f64().expect("a duration"));
            assert_eq!(plain.get(1).as_f64(), Some(f64::from(BATCH)));
        }
        let (store, plain) = (median(store_ms), median(plain_ms));
        say(&format!(
            "P3 next outbox batch of {BATCH} with {pending} pending, median of {READS}: \
             store {store:.2} ms, plain JS (index cursor) {plain:.2} ms, ratio {:.2}x (aim <= 1.2x)",
            store / plain
        ));
    }
    bench.finish().await;
}

/// P3 as the outbox lives: the cost of the sync cycle's outbox work (the next batch,
/// the pending count, booking the server's verdicts) while one change after another is
/// made and pushed. IndexedDB leaves an index entry behind when an event leaves the
/// sparse `queue` index, so a read of that index from its start costs more with every
/// event pushed in the session; read from the queue floor, it stays flat.
#[wasm_bindgen_test]
#[ignore = "benchmark: `cargo xtask bench` runs it"]
async fn p3_outbox_work_as_events_are_pushed() {
    const PUSHED: usize = 1_000;
    const WINDOW: usize = 100;
    let bench = Bench::new().await;
    let store = &bench.db.store;
    let (mut batch_ms, mut count_ms, mut book_ms) = (Vec::new(), Vec::new(), Vec::new());
    for n in 0..PUSHED {
        store
            .create_board(&format!("Board {n}"))
            .await
            .expect("writes");
        let started = now();
        let events = store.next_batch(50, |_| true).await.expect("reads");
        batch_ms.push(now() - started);
        assert_eq!(events.len(), 1, "the change just made, alone");
        let verdicts: Vec<(String, Verdict)> = events
            .iter()
            .map(|event| {
                let changelog_id = format!("{:020}", n + 1);
                (event.id.clone(), Verdict::Applied { changelog_id })
            })
            .collect();
        let started = now();
        store
            .book_verdicts(&bench.db.epoch, &verdicts, Timestamp::from_millis(n as i64))
            .await
            .expect("books");
        book_ms.push(now() - started);
        let started = now();
        assert_eq!(store.pending_count().await.expect("counts"), 0);
        count_ms.push(now() - started);
    }
    let window = |values: &[f64], end: usize| median(values[end - WINDOW..end].to_vec());
    for end in [WINDOW, PUSHED] {
        say(&format!(
            "P3 outbox work with {} events pushed (median of the last {WINDOW}): next batch \
             {:.2} ms, pending count {:.2} ms, booking one verdict {:.2} ms",
            end - WINDOW / 2,
            window(&batch_ms, end),
            window(&count_ms, end),
            window(&book_ms, end)
        ));
    }
    bench.finish().await;
}
