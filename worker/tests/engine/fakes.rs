//! The engine's IO for native tests: the in-memory replica (the store's own rules), a
//! scripted server and a manual clock.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use sync_protocol::{
    Board, LogWithRecord, Operation, OutboxEvent, PullResponse, PushResult, Record, Timestamp, User,
};
use sync_worker::engine::status::StatusBoard;
use sync_worker::engine::{Clock, Engine, Transport, TransportError};
use sync_worker::messages::{SyncConfig, WorkerOutput};
use sync_worker::replica::local;
use sync_worker::replica::memory::MemoryReplica;
use sync_worker::replica::{Account, OutboxEntry};
use uuid::Uuid;

pub fn user() -> User {
    User {
        id: Uuid::from_u128(1),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        email_verified: false,
        image: None,
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(0),
        is_anonymous: false,
    }
}

/// A replica signed in as [`user`], leading with term 1, with `boards` boards created
/// locally (events `e(0)`, `e(1)`, … in that order).
pub fn replica(boards: usize) -> MemoryReplica {
    let replica = MemoryReplica::new();
    futures::executor::block_on(async {
        replica
            .sign_in(&Account {
                user: user(),
                token: "token".into(),
            })
            .await
            .unwrap();
        assert_eq!(replica.claim_term().await.unwrap(), 1);
        for n in 0..boards {
            add_board(&replica, n).await;
        }
    });
    replica
}

/// Creates board `n` locally; its event id is `e(n)`.
pub async fn add_board(replica: &MemoryReplica, n: usize) {
    let mut count = 0u128;
    let mut ids = move || {
        count += 1;
        // The board's id, then the event's.
        if count == 1 {
            Uuid::from_u128(1_000_000 + n as u128)
        } else {
            Uuid::from_u128(n as u128 + 10)
        }
    };
    replica
        .local_change(Timestamp::from_millis(0), &mut ids, async |write| {
            local::create_board(write, &format!("B{n:03}")).await
        })
        .await
        .unwrap();
}

/// The id of the event that created board `n`.
pub fn e(n: usize) -> String {
    Uuid::from_u128(n as u128 + 10).to_string()
}

/// The id of board `n`.
pub fn board_id(n: usize) -> Uuid {
    Uuid::from_u128(1_000_000 + n as u128)
}

/// What the server answers to a push.
pub enum PushAnswer {
    /// Every event applied.
    AllApplied,
    /// Exactly these results.
    Results(Vec<PushResult>),
    Error(TransportError),
}

/// A server that answers from a script and records what it was asked.
#[derive(Default)]
pub struct ScriptedServer {
    pub push_script: RefCell<VecDeque<PushAnswer>>,
    pub pull_script: RefCell<VecDeque<Result<PullResponse, TransportError>>>,
    pub pushes: RefCell<Vec<Vec<String>>>,
    pub pulls: RefCell<Vec<Option<String>>>,
    /// The page size each pull asked for.
    pub pull_limits: RefCell<Vec<u32>>,
    next_changelog: Cell<u64>,
}

impl ScriptedServer {
    pub fn answer_push(&self, answer: PushAnswer) {
        self.push_script.borrow_mut().push_back(answer);
    }

    pub fn answer_pull(&self, answer: Result<PullResponse, TransportError>) {
        self.pull_script.borrow_mut().push_back(answer);
    }
}

impl Transport for ScriptedServer {
    async fn push(
        &self,
        _token: &str,
        events: &[OutboxEvent],
    ) -> Result<Vec<PushResult>, TransportError> {
        self.pushes
            .borrow_mut()
            .push(events.iter().map(|e| e.id.clone()).collect());
        let answer = self
            .push_script
            .borrow_mut()
            .pop_front()
            .unwrap_or(PushAnswer::AllApplied);
        match answer {
            PushAnswer::AllApplied => Ok(events
                .iter()
                .map(|e| {
                    let n = self.next_changelog.get() + 1;
                    self.next_changelog.set(n);
                    PushResult::applied(e.id.clone(), format!("{n:020}"))
                })
                .collect()),
            PushAnswer::Results(results) => Ok(results),
            PushAnswer::Error(error) => Err(error),
        }
    }

    async fn pull(
        &self,
        _token: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<PullResponse, TransportError> {
        self.pulls.borrow_mut().push(cursor.map(str::to_string));
        self.pull_limits.borrow_mut().push(limit);
        self.pull_script
            .borrow_mut()
            .pop_front()
            .unwrap_or_else(|| {
                Ok(PullResponse {
                    cursor: cursor.map(str::to_string),
                    logs_with_records: Vec::new(),
                })
            })
    }
}

/// A page of `count` board creations from another device, ending at changelog id `last`.
pub fn page(last: u64, count: u64) -> PullResponse {
    let logs_with_records = (last + 1 - count..=last)
        .map(|n| {
            let id = format!("{n:020}");
            let board = Board {
                id: Uuid::from_u128(5_000_000 + u128::from(n)),
                name: format!("remote {n}"),
                created_at: Timestamp::from_millis(0),
                user_id: user().id,
            };
            LogWithRecord {
                id: id.clone(),
                model: "Board".into(),
                key_path: vec![serde_json::json!(board.id.to_string())],
                operation: Operation::Create,
                scope_key: user().id.to_string(),
                outbox_event_id: format!("remote-{n}"),
                record: Some(Record::Board(board).to_json()),
                changelog_id: id,
            }
        })
        .collect();
    PullResponse {
        cursor: Some(format!("{last:020}")),
        logs_with_records,
    }
}

/// A clock the test moves by hand.
#[derive(Clone, Default)]
pub struct ManualClock(pub Rc<Cell<i64>>);

impl ManualClock {
    pub fn advance(&self, ms: i64) {
        self.0.set(self.0.get() + ms);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.get())
    }
}

/// An engine over the fakes, and everything it reported.
pub struct Rig {
    pub engine: Engine<MemoryReplica, ScriptedServer, ManualClock>,
    pub clock: ManualClock,
    pub reports: Rc<RefCell<Vec<WorkerOutput>>>,
}

impl Rig {
    pub fn new(store: MemoryReplica, config: SyncConfig) -> Rig {
        let reports: Rc<RefCell<Vec<WorkerOutput>>> = Rc::default();
        let sink = Rc::clone(&reports);
        let status = StatusBoard::new(Rc::new(move |output| sink.borrow_mut().push(output)));
        let clock = ManualClock::default();
        clock.0.set(1_000_000);
        let term = store.state().term;
        let engine = Engine::new(
            store,
            ScriptedServer::default(),
            clock.clone(),
            config,
            status,
            term,
        );
        Rig {
            engine,
            clock,
            reports,
        }
    }

    pub fn store(&self) -> &MemoryReplica {
        &self.engine.store
    }

    pub fn server(&self) -> &ScriptedServer {
        &self.engine.transport
    }

    /// The outbox entry of event `id`.
    pub fn entry(&self, id: &str) -> OutboxEntry {
        self.store()
            .state()
            .outbox
            .values()
            .find(|entry| entry.event.id == id)
            .cloned()
            .expect("the event exists")
    }

    pub fn event(&self, id: &str) -> OutboxEvent {
        self.entry(id).event
    }

    pub fn events(&self) -> Vec<OutboxEvent> {
        self.store()
            .state()
            .outbox
            .values()
            .map(|entry| entry.event.clone())
            .collect()
    }

    pub fn cursor(&self) -> Option<String> {
        self.store().state().cursor
    }

    pub fn cycle(&self, override_backoff: bool) -> sync_worker::engine::CycleOutcome {
        futures::executor::block_on(self.engine.run_cycle(override_backoff))
    }

    /// The statuses reported, as (status name, looping, has error).
    pub fn statuses(&self) -> Vec<(String, bool, bool)> {
        self.reports
            .borrow()
            .iter()
            .filter_map(|output| match output {
                WorkerOutput::Status(status) => Some((
                    status.status.name().to_string(),
                    status.is_looping,
                    status.last_error.is_some(),
                )),
                _ => None,
            })
            .collect()
    }
}
