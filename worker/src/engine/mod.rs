//! The sync engine: the push → pull cycle and the decisions around it, in plain Rust.
//!
//! The engine never touches web-sys. What it needs from the outside world is behind three
//! small traits: [`SyncStore`] (the outbox and the local records), [`Transport`] (push and
//! pull requests) and [`Clock`]. The worker plugs in IndexedDB, `fetch` and `Date.now`;
//! native tests plug in an in-memory store, a scripted server and a manual clock. When
//! to run a cycle is the [`controller`]'s business; this module runs one.

pub mod backoff;
pub mod controller;
pub mod leadership;
pub mod status;

use crate::messages::{Phase, PullStats, SyncConfig, SyncError, SyncErrorKind, WorkerOutput};
use crate::store::{PushFailure, StoreError};
use status::StatusBoard;
use std::cell::RefCell;
use std::collections::HashSet;
use sync_protocol::{
    Model, OutboxEvent, PullResponse, PushError, PushErrorKind, PushResult, Timestamp,
};

/// What the engine needs from the local database.
#[allow(async_fn_in_trait)]
pub trait SyncStore {
    /// Up to `limit` pending events in creation order, stopping at the first that
    /// `ready` refuses: no event overtakes an earlier one.
    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreError>;
    /// Unsynced retryable events.
    async fn pending_count(&self) -> Result<u32, StoreError>;
    async fn mark_synced(
        &self,
        acks: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), StoreError>;
    async fn mark_failed(
        &self,
        failures: &[PushFailure],
        now: Timestamp,
    ) -> Result<Vec<Model>, StoreError>;
    async fn cursor(&self) -> Result<Option<String>, StoreError>;
    /// Applies a page and stores its cursor, atomically.
    async fn apply_pull(&self, page: &PullResponse) -> Result<PullStats, StoreError>;
}

/// Why a request to the server did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// 401: the session is gone.
    #[error("your session has expired: sign in again")]
    Unauthorized,
    /// No connection (or the offline switch).
    #[error("offline: {0}")]
    Offline(String),
    /// The server answered with an error status.
    #[error("the server answered {status}: {message}")]
    Http { status: u16, message: String },
    /// The server's answer could not be read.
    #[error("unreadable answer from the server: {0}")]
    Invalid(String),
}

/// What the engine needs from the network.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn push(&self, events: &[OutboxEvent]) -> Result<Vec<PushResult>, TransportError>;
    async fn pull(&self, cursor: Option<&str>, limit: u32) -> Result<PullResponse, TransportError>;
}

/// The time, so tests can control it.
pub trait Clock {
    fn now(&self) -> Timestamp;
}

/// How a cycle ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CycleOutcome {
    /// Pushed what was ready and pulled to the end of the changelog.
    Synced,
    /// Pushed what was ready, but retryable events are left (in backoff), so the pull
    /// waits for a later cycle.
    PullDeferred,
    /// A request or the store failed; the cycle ended there.
    Failed(SyncError),
    /// The server said 401: stop until there is a new session.
    Unauthorized,
}

/// Runs sync cycles over a store and a transport.
pub struct Engine<S, T, C> {
    pub store: S,
    pub transport: T,
    pub clock: C,
    config: RefCell<SyncConfig>,
    status: StatusBoard,
}

/// Ends a cycle early with an outcome.
type Step<V> = Result<V, CycleOutcome>;

impl<S: SyncStore, T: Transport, C: Clock> Engine<S, T, C> {
    pub fn new(store: S, transport: T, clock: C, config: SyncConfig, status: StatusBoard) -> Self {
        Engine {
            store,
            transport,
            clock,
            config: RefCell::new(config.sanitized()),
            status,
        }
    }

    pub fn configure(&self, config: SyncConfig) {
        *self.config.borrow_mut() = config.sanitized();
    }

    pub fn config(&self) -> SyncConfig {
        self.config.borrow().clone()
    }

    pub fn status(&self) -> &StatusBoard {
        &self.status
    }

    /// One cycle: push everything that is ready, then, if nothing retryable is left,
    /// pull until the changelog is exhausted. Statuses and results are reported as it goes.
    pub async fn run_cycle(&self, override_backoff: bool) -> CycleOutcome {
        let outcome = match self.push_phase(override_backoff).await {
            Ok(true) => match self.pull_phase().await {
                Ok(()) => CycleOutcome::Synced,
                Err(outcome) => outcome,
            },
            Ok(false) => CycleOutcome::PullDeferred,
            Err(outcome) => outcome,
        };
        self.status.finish(match &outcome {
            CycleOutcome::Synced => Ok(self.clock.now()),
            CycleOutcome::PullDeferred => Err(None),
            CycleOutcome::Failed(error) => Err(Some(error.clone())),
            CycleOutcome::Unauthorized => Err(Some(SyncError {
                kind: SyncErrorKind::SessionExpired,
                message: TransportError::Unauthorized.to_string(),
            })),
        });
        outcome
    }

    /// Pushes events batch by batch, in creation order, until the queue is empty or its
    /// head must wait (in backoff, or already tried in this cycle, so that a retryable
    /// failure with backoff overridden cannot loop). Returns whether the pull may run (no
    /// retryable event left).
    async fn push_phase(&self, override_backoff: bool) -> Step<bool> {
        let (batch_size, backoff_ms) = {
            let config = self.config.borrow();
            (config.batch_size, config.backoff_ms)
        };
        let mut attempted: HashSet<String> = HashSet::new();
        let mut results: Vec<PushResult> = Vec::new();
        loop {
            let now = self.clock.now();
            let ready = |event: &OutboxEvent| {
                !attempted.contains(&event.id)
                    && backoff::is_ready(event, now, backoff_ms, override_backoff)
            };
            let batch = self
                .store
                .next_batch(batch_size, &ready)
                .await
                .map_err(storage_failure)?;
            if batch.is_empty() {
                break;
            }
            self.status.set_phase(Phase::Pushing);
            attempted.extend(batch.iter().map(|event| event.id.clone()));
            match self.transport.push(&batch).await {
                Ok(answers) => {
                    self.record_results(&batch, &answers).await?;
                    results.extend(answers);
                }
                Err(TransportError::Unauthorized) => return Err(CycleOutcome::Unauthorized),
                Err(error) => {
                    let failures: Vec<PushFailure> = batch
                        .iter()
                        .map(|event| PushFailure {
                            event_id: event.id.clone(),
                            error: PushError::new(PushErrorKind::UnknownError, error.to_string()),
                            server_state: None,
                        })
                        .collect();
                    self.store
                        .mark_failed(&failures, self.clock.now())
                        .await
                        .map_err(storage_failure)?;
                    self.report_pending().await;
                    return Err(CycleOutcome::Failed(transport_failure(&error)));
                }
            }
        }
        if !results.is_empty() {
            self.status.report(WorkerOutput::PushCompleted { results });
        }
        let left = self.store.pending_count().await.map_err(storage_failure)?;
        self.status.report(WorkerOutput::Pending { count: left });
        Ok(left == 0)
    }

    /// Marks each event of a pushed batch by the server's answer for it. An event the
    /// answer leaves out is treated as a retryable failure.
    async fn record_results(&self, batch: &[OutboxEvent], answers: &[PushResult]) -> Step<()> {
        let now = self.clock.now();
        let mut acks = Vec::new();
        let mut failures = Vec::new();
        for event in batch {
            match answers.iter().find(|answer| answer.id == event.id) {
                Some(PushResult {
                    error: None,
                    applied_changelog_id: Some(changelog_id),
                    ..
                }) => acks.push((event.id.clone(), changelog_id.clone())),
                Some(PushResult {
                    error: Some(error),
                    server_state,
                    ..
                }) => failures.push(PushFailure {
                    event_id: event.id.clone(),
                    error: error.clone(),
                    server_state: if error.retryable {
                        None
                    } else {
                        server_state.clone()
                    },
                }),
                _ => failures.push(PushFailure {
                    event_id: event.id.clone(),
                    error: PushError::new(
                        PushErrorKind::UnknownError,
                        "the server's answer did not include this event",
                    ),
                    server_state: None,
                }),
            }
        }
        self.store
            .mark_synced(&acks, now)
            .await
            .map_err(storage_failure)?;
        self.store
            .mark_failed(&failures, now)
            .await
            .map_err(storage_failure)?;
        Ok(())
    }

    /// Pulls page after page from the stored cursor until a page comes back empty. Each
    /// page is applied together with its cursor, so the cursor never runs ahead of the data.
    async fn pull_phase(&self) -> Step<()> {
        self.status.set_phase(Phase::Pulling);
        let limit = self.config.borrow().pull_limit;
        let mut cursor = self.store.cursor().await.map_err(storage_failure)?;
        let mut total = PullStats::default();
        loop {
            let page = match self.transport.pull(cursor.as_deref(), limit).await {
                Ok(page) => page,
                Err(TransportError::Unauthorized) => return Err(CycleOutcome::Unauthorized),
                Err(error) => return Err(CycleOutcome::Failed(transport_failure(&error))),
            };
            if page.logs_with_records.is_empty() {
                break;
            }
            let stats = self
                .store
                .apply_pull(&page)
                .await
                .map_err(storage_failure)?;
            total.add(&stats);
            // A server that does not move its cursor would otherwise be asked forever.
            if page.cursor.is_none() || page.cursor == cursor {
                break;
            }
            cursor = page.cursor;
        }
        self.status.report(WorkerOutput::PullCompleted(total));
        self.report_pending().await;
        Ok(())
    }

    async fn report_pending(&self) {
        if let Ok(count) = self.store.pending_count().await {
            self.status.report(WorkerOutput::Pending { count });
        }
    }
}

fn storage_failure(error: StoreError) -> CycleOutcome {
    CycleOutcome::Failed(SyncError {
        kind: SyncErrorKind::Storage,
        message: error.to_string(),
    })
}

fn transport_failure(error: &TransportError) -> SyncError {
    let kind = match error {
        TransportError::Unauthorized => SyncErrorKind::SessionExpired,
        TransportError::Offline(_) => SyncErrorKind::Offline,
        TransportError::Http { .. } | TransportError::Invalid(_) => SyncErrorKind::Server,
    };
    SyncError {
        kind,
        message: error.to_string(),
    }
}
