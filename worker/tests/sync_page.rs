//! The sync engine with its real adapters (IndexedDB, fetch, EventSource, Web Locks)
//! in headless Chromium, against a real sync-server that `cargo xtask test` starts on a
//! temporary database and names in SYNC_TEST_SERVER_URL.
#![cfg(target_arch = "wasm32")]

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use sync_protocol::auth::{Session, SignupRequest};
use sync_worker::engine::status::StatusBoard;
use sync_worker::engine::{CycleOutcome, Engine, SyncStore};
use sync_worker::host::leader::{self, Claim};
use sync_worker::host::realtime::Realtime;
use sync_worker::host::transport::{Connection, FetchTransport};
use sync_worker::host::{post_json, BrowserClock};
use sync_worker::messages::{SyncConfig, SyncErrorKind, WorkerOutput};
use sync_worker::store::{Account, LocalStore};
use uuid::Uuid;
use wasm_bindgen_test::wasm_bindgen_test;

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

const SERVER: Option<&str> = option_env!("SYNC_TEST_SERVER_URL");

/// The server's URL; these tests need one (`cargo xtask test` starts it). Built without
/// SYNC_TEST_SERVER_URL, as a plain `wasm-pack test` does, each test says so and skips.
macro_rules! server_or_skip {
    () => {
        match SERVER {
            Some(url) => url,
            None => {
                web_sys::console::log_1(
                    &"skipped: no SYNC_TEST_SERVER_URL at build time (run `cargo xtask test`)"
                        .into(),
                );
                return;
            }
        }
    };
}

type TestEngine = Engine<LocalStore, FetchTransport, BrowserClock>;

/// One device: its own database, signed in, with an engine over the real server.
struct Device {
    name: String,
    store: LocalStore,
    engine: TestEngine,
    connection: Connection,
    reports: Rc<RefCell<Vec<WorkerOutput>>>,
}

impl Device {
    async fn new(server: &str, session: &Session) -> Device {
        let name = format!("sync-test-{}", Uuid::new_v4());
        let store = LocalStore::open_named(&name).await.unwrap();
        store
            .set_account(&Account {
                user: session.user.clone(),
                token: session.token.clone(),
            })
            .await
            .unwrap();
        let connection = Connection::default();
        *connection.config.borrow_mut() = config(server);
        *connection.token.borrow_mut() = Some(session.token.clone());
        let reports: Rc<RefCell<Vec<WorkerOutput>>> = Rc::default();
        let sink = Rc::clone(&reports);
        let term = store.claim_term().await.unwrap();
        let engine = Engine::new(
            store.clone(),
            FetchTransport {
                connection: connection.clone(),
            },
            BrowserClock,
            config(server),
            StatusBoard::new(Rc::new(move |output| sink.borrow_mut().push(output))),
            term,
        );
        Device {
            name,
            store,
            engine,
            connection,
            reports,
        }
    }

    async fn finish(self) {
        self.store.close();
        LocalStore::delete_database(&self.name).await.unwrap();
    }

    fn point_at(&self, base_url: &str) {
        let config = config(base_url);
        *self.connection.config.borrow_mut() = config.clone();
        self.engine.configure(config);
    }

    fn last_pull_applied(&self) -> Option<u32> {
        self.reports.borrow().iter().rev().find_map(|o| match o {
            WorkerOutput::PullCompleted(stats) => Some(stats.applied),
            _ => None,
        })
    }
}

fn config(base_url: &str) -> SyncConfig {
    SyncConfig {
        base_url: base_url.to_string(),
        ..SyncConfig::default()
    }
}

async fn sign_up(server: &str) -> Session {
    let request = SignupRequest {
        email: format!("device-{}@example.com", Uuid::new_v4()),
        password: "correct horse battery".into(),
        name: "Device tester".into(),
    };
    post_json(&format!("{server}/api/auth/signup"), &request, None)
        .await
        .expect("signs up")
}

async fn sleep(ms: u32) {
    gloo_timers::future::TimeoutFuture::new(ms).await;
}

#[wasm_bindgen_test]
async fn local_writes_reach_the_server_and_arrive_on_another_device() {
    let server = server_or_skip!();
    let session = sign_up(server).await;
    let a = Device::new(server, &session).await;
    let b = Device::new(server, &session).await;
    let board = a.store.create_board("From A").await.unwrap();
    let todo = a
        .store
        .create_todo(board.id, "Written on A", None)
        .await
        .unwrap();
    assert_eq!(a.engine.run_cycle(false).await, CycleOutcome::Synced);
    assert_eq!(a.store.pending_count().await.unwrap(), 0);

    assert_eq!(b.engine.run_cycle(false).await, CycleOutcome::Synced);
    let on_b = b
        .store
        .board(board.id)
        .await
        .unwrap()
        .expect("the board arrived");
    assert_eq!(on_b.board.name, "From A");
    assert_eq!(on_b.todos, vec![todo]);

    // And back: B's change reaches A.
    b.store
        .rename_board(board.id, "Renamed on B")
        .await
        .unwrap();
    b.engine.run_cycle(false).await;
    a.engine.run_cycle(false).await;
    assert_eq!(
        a.store.board(board.id).await.unwrap().unwrap().board.name,
        "Renamed on B"
    );
    a.finish().await;
    b.finish().await;
}

#[wasm_bindgen_test]
async fn the_cursor_survives_reopening_the_database() {
    let server = server_or_skip!();
    let session = sign_up(server).await;
    let a = Device::new(server, &session).await;
    a.store.create_board("Pulled once").await.unwrap();
    a.engine.run_cycle(false).await;
    let b = Device::new(server, &session).await;
    b.engine.run_cycle(false).await;
    let cursor = b.store.cursor().await.unwrap();
    assert!(cursor.is_some());

    // Reopen B's database, as after a reload: the cursor is still there and nothing is
    // pulled twice.
    b.store.close();
    let reopened = LocalStore::open_named(&b.name).await.unwrap();
    assert_eq!(reopened.cursor().await.unwrap(), cursor);
    b.engine.run_cycle(false).await;
    assert_eq!(b.last_pull_applied(), Some(0));
    a.finish().await;
    b.finish().await;
}

#[wasm_bindgen_test]
async fn with_the_server_down_events_wait_then_sync_when_it_returns() {
    let server = server_or_skip!();
    let session = sign_up(server).await;
    let a = Device::new(server, &session).await;
    a.store.create_board("Waiting").await.unwrap();
    // Nothing listens on port 9 (discard): the server is "down".
    a.point_at("http://127.0.0.1:9");
    let CycleOutcome::Failed(error) = a.engine.run_cycle(false).await else {
        panic!("the cycle fails while the server is down");
    };
    assert_eq!(error.kind, SyncErrorKind::Offline);
    assert_eq!(a.store.pending_count().await.unwrap(), 1, "the event waits");
    let event = a.store.outbox(1).await.unwrap().remove(0).event;
    assert_eq!(
        (event.tries, event.retryable),
        (0, true),
        "a request with no answer costs the event no try"
    );

    a.point_at(server);
    assert_eq!(a.engine.run_cycle(false).await, CycleOutcome::Synced);
    assert_eq!(a.store.pending_count().await.unwrap(), 0);
    a.finish().await;
}

#[wasm_bindgen_test]
async fn an_expired_session_stops_the_cycle() {
    let server = server_or_skip!();
    let session = sign_up(server).await;
    let a = Device::new(server, &session).await;
    a.store.create_board("Not sent").await.unwrap();
    // The session this device holds is no longer valid on the server.
    a.store
        .set_account(&Account {
            user: session.user.clone(),
            token: "not-a-valid-token".into(),
        })
        .await
        .unwrap();
    assert_eq!(a.engine.run_cycle(false).await, CycleOutcome::Unauthorized);
    let event = a.store.outbox(1).await.unwrap().remove(0).event;
    assert_eq!(event.tries, 0, "a 401 does not count as a try");
    a.finish().await;
}

#[wasm_bindgen_test]
async fn a_push_by_another_device_pokes_the_event_stream() {
    let server = server_or_skip!();
    let session = sign_up(server).await;
    let pokes = Rc::new(Cell::new(0u32));
    let connected = Rc::new(Cell::new(false));
    let (poked, opened) = (Rc::clone(&pokes), Rc::clone(&connected));
    let stream = Realtime::open(
        &format!("{server}/api/sync/events"),
        &session.token,
        move || poked.set(poked.get() + 1),
        move |is_open| opened.set(is_open),
    )
    .expect("the stream opens");
    for _ in 0..100 {
        if connected.get() {
            break;
        }
        sleep(50).await;
    }
    assert!(connected.get(), "the stream connects");

    let a = Device::new(server, &session).await;
    a.store.create_board("Poke").await.unwrap();
    a.engine.run_cycle(false).await;
    for _ in 0..100 {
        if pokes.get() > 0 {
            break;
        }
        sleep(50).await;
    }
    assert!(pokes.get() > 0, "a poke arrived");
    drop(stream);
    a.finish().await;
}

#[wasm_bindgen_test]
async fn two_workers_of_one_origin_elect_one_leader() {
    let first = Rc::new(Cell::new(false));
    let second = Rc::new(Cell::new(false));
    let (f, s) = (Rc::clone(&first), Rc::clone(&second));
    let lock = format!("test-{}", Uuid::new_v4());
    leader::request_lock(&lock, Claim::Wait, move || f.set(true), || {});
    leader::request_lock(&lock, Claim::Wait, move || s.set(true), || {});
    sleep(500).await;
    assert!(first.get(), "the first request leads");
    assert!(
        !second.get(),
        "the second stands by while the first holds the lock"
    );
}

#[wasm_bindgen_test]
async fn a_standby_can_seize_the_lock_from_a_leader_that_stopped_answering() {
    // The first holder stands for a frozen tab's worker: it holds the lock, says nothing.
    let frozen_lost = Rc::new(Cell::new(false));
    let seizer_leads = Rc::new(Cell::new(false));
    let lock = format!("test-{}", Uuid::new_v4());
    let lost = Rc::clone(&frozen_lost);
    leader::request_lock(&lock, Claim::Wait, || {}, move || lost.set(true));
    sleep(100).await;
    let leads = Rc::clone(&seizer_leads);
    leader::request_lock(&lock, Claim::Seize, move || leads.set(true), || {});
    sleep(300).await;
    assert!(seizer_leads.get(), "the seizing worker leads at once");
    assert!(frozen_lost.get(), "the old holder learns it lost the lock");
}

#[wasm_bindgen_test]
async fn engines_and_the_store_agree_on_pending_counts() {
    let server = server_or_skip!();
    let session = sign_up(server).await;
    let a = Device::new(server, &session).await;
    for n in 0..25 {
        a.store.create_board(&format!("Board {n}")).await.unwrap();
    }
    assert_eq!(SyncStore::pending_count(&a.store).await.unwrap(), 25);
    assert_eq!(a.engine.run_cycle(false).await, CycleOutcome::Synced);
    let pending: Vec<u32> = a
        .reports
        .borrow()
        .iter()
        .filter_map(|o| match o {
            WorkerOutput::Pending { count } => Some(*count),
            _ => None,
        })
        .collect();
    assert_eq!(pending.first(), Some(&0), "{pending:?}");
    a.finish().await;
}
