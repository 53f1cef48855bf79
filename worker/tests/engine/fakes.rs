//! In-memory stand-ins for the engine's IO: a store, a scripted server, a manual clock.

use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use sync_protocol::push::ServerState;
use sync_protocol::{
    LogWithRecord, Model, Operation, OutboxEvent, PullResponse, PushResult, Timestamp,
};
use sync_worker::engine::status::StatusBoard;
use sync_worker::engine::{Clock, Engine, SyncStore, Transport, TransportError};
use sync_worker::messages::{PullStats, SyncConfig, WorkerOutput};
use sync_worker::store::{PushFailure, StoreError};

/// The outbox and cursor, in memory, with the store's semantics.
#[derive(Default)]
pub struct MemoryStore {
    pub events: RefCell<Vec<OutboxEvent>>,
    pub cursor: RefCell<Option<String>>,
    pub applied_pages: RefCell<Vec<PullResponse>>,
    /// Rollbacks the engine asked for: (event id, server state).
    pub rollbacks: RefCell<Vec<(String, ServerState)>>,
    /// Makes `apply_pull` fail, as an aborted transaction would, once this many pages
    /// have been applied.
    pub fail_apply_after: Cell<Option<usize>>,
}

impl MemoryStore {
    pub fn with_events(count: usize) -> MemoryStore {
        let store = MemoryStore::default();
        for n in 0..count {
            store.events.borrow_mut().push(event(&format!("e{n:03}")));
        }
        store
    }

    pub fn event(&self, id: &str) -> OutboxEvent {
        self.events
            .borrow()
            .iter()
            .find(|e| e.id == id)
            .cloned()
            .expect("event exists")
    }
}

pub fn event(id: &str) -> OutboxEvent {
    let payload = serde_json::json!({"id": uuid::Uuid::new_v4()});
    OutboxEvent::untried(id, "Board", "create", payload, Timestamp::from_millis(0))
}

impl SyncStore for MemoryStore {
    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        Ok(self
            .events
            .borrow()
            .iter()
            .filter(|e| e.is_pending())
            .take_while(|e| ready(e))
            .take(limit as usize)
            .cloned()
            .collect())
    }

    async fn pending_count(&self) -> Result<u32, StoreError> {
        Ok(self
            .events
            .borrow()
            .iter()
            .filter(|e| e.is_pending())
            .count() as u32)
    }

    async fn mark_synced(
        &self,
        acks: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        for (id, _) in acks {
            if let Some(event) = self.events.borrow_mut().iter_mut().find(|e| &e.id == id) {
                event.synced = true;
                event.synced_at = Some(now);
                event.last_attempted_at = Some(now);
            }
        }
        Ok(())
    }

    async fn mark_failed(
        &self,
        failures: &[PushFailure],
        now: Timestamp,
    ) -> Result<Vec<Model>, StoreError> {
        for failure in failures {
            if let Some(event) = self
                .events
                .borrow_mut()
                .iter_mut()
                .find(|e| e.id == failure.event_id)
            {
                event.tries += 1;
                event.last_error = Some(failure.error.to_string());
                event.last_attempted_at = Some(now);
                event.retryable = failure.error.retryable;
            }
            if let Some(state) = &failure.server_state {
                self.rollbacks
                    .borrow_mut()
                    .push((failure.event_id.clone(), state.clone()));
            }
        }
        Ok(Vec::new())
    }

    async fn cursor(&self) -> Result<Option<String>, StoreError> {
        Ok(self.cursor.borrow().clone())
    }

    async fn apply_pull(&self, page: &PullResponse) -> Result<PullStats, StoreError> {
        if self.fail_apply_after.get() == Some(self.applied_pages.borrow().len()) {
            self.fail_apply_after.set(None);
            return Err(StoreError::Aborted("simulated abort".into()));
        }
        self.applied_pages.borrow_mut().push(page.clone());
        *self.cursor.borrow_mut() = page.cursor.clone();
        Ok(PullStats {
            applied: page.logs_with_records.len() as u32,
            pages: 1,
            ..PullStats::default()
        })
    }
}

/// What the scripted server answers to a push.
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
    async fn push(&self, events: &[OutboxEvent]) -> Result<Vec<PushResult>, TransportError> {
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
        cursor: Option<&str>,
        _limit: u32,
    ) -> Result<PullResponse, TransportError> {
        self.pulls.borrow_mut().push(cursor.map(str::to_string));
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

/// A page of `count` entries ending at changelog id `last`.
pub fn page(last: u64, count: u64) -> PullResponse {
    let logs_with_records = (last + 1 - count..=last)
        .map(|n| {
            let id = format!("{n:020}");
            LogWithRecord {
                id: id.clone(),
                model: "Board".into(),
                key_path: vec![serde_json::json!(uuid::Uuid::new_v4().to_string())],
                operation: Operation::Update,
                scope_key: "user".into(),
                outbox_event_id: format!("remote-{n}"),
                record: None,
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
    pub engine: Engine<MemoryStore, ScriptedServer, ManualClock>,
    pub clock: ManualClock,
    pub reports: Rc<RefCell<Vec<WorkerOutput>>>,
}

impl Rig {
    pub fn new(store: MemoryStore, config: SyncConfig) -> Rig {
        let reports: Rc<RefCell<Vec<WorkerOutput>>> = Rc::default();
        let sink = Rc::clone(&reports);
        let status = StatusBoard::new(Rc::new(move |output| sink.borrow_mut().push(output)));
        let clock = ManualClock::default();
        clock.0.set(1_000_000);
        let engine = Engine::new(
            store,
            ScriptedServer::default(),
            clock.clone(),
            config,
            status,
        );
        Rig {
            engine,
            clock,
            reports,
        }
    }

    pub fn store(&self) -> &MemoryStore {
        &self.engine.store
    }

    pub fn server(&self) -> &ScriptedServer {
        &self.engine.transport
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
