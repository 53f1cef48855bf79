//! The sync engine: the push → pull cycle and the decisions around it, in plain Rust.
//!
//! The engine never touches web-sys. What it needs from the outside world is behind three
//! small traits: [`SyncStore`] (the outbox and the local records), [`Transport`] (push and
//! pull requests) and [`Clock`]. The worker plugs in IndexedDB, `fetch` and `Date.now`;
//! native tests and the simulator plug in the in-memory replica, a server and a manual
//! clock. When to run a cycle is the [`controller`]'s business; this module runs one.
//!
//! The engine owns its types: the store implements [`SyncStore`] with them, and nothing
//! here depends on a store.

pub mod backoff;
pub mod controller;
pub mod leadership;
pub mod status;

use crate::messages::{Phase, PullStats, SyncConfig, SyncError, SyncErrorKind, WorkerOutput};
use status::StatusBoard;
use std::cell::RefCell;
use std::collections::HashSet;
use sync_protocol::push::ServerState;
use sync_protocol::{
    OutboxEvent, PullResponse, PushError, PushErrorKind, PushResult, Timestamp, MAX_PULL_LIMIT,
};
use uuid::Uuid;

/// Who a cycle works for: the account and session it was started under, and the
/// leadership term of the worker that runs it. Every store transaction of the cycle
/// checks it first, so a late answer never writes under a stale epoch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Epoch {
    pub user_id: Uuid,
    pub token: String,
    pub term: u64,
}

/// The server's verdict on one pushed event.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// Applied (now or before) as this changelog entry.
    Applied { changelog_id: String },
    /// Not applied; the server says it may succeed later. Counts as a try.
    Retry(PushError),
    /// Refused for good, with the record's state on the server when it said so.
    Rejected {
        error: PushError,
        server_state: Option<ServerState>,
    },
}

/// Why the store could not do what the engine asked.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreFailure {
    /// The cycle's epoch is no longer current (sign-out, another account or session,
    /// another worker took the lead): nothing was written.
    #[error("this sync cycle was superseded")]
    Superseded,
    #[error("{0}")]
    Failed(String),
}

/// What the engine needs from the local database.
#[allow(async_fn_in_trait)]
pub trait SyncStore {
    /// The signed-in account's user id and session token.
    async fn session(&self) -> Result<Option<(Uuid, String)>, StoreFailure>;
    /// Fails with [`StoreFailure::Superseded`] unless `epoch` is current.
    async fn check_epoch(&self, epoch: &Epoch) -> Result<(), StoreFailure>;
    /// Up to `limit` pending events in creation order, stopping at the first that
    /// `ready` refuses: no event overtakes an earlier one.
    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreFailure>;
    /// Unsynced retryable events.
    async fn pending_count(&self) -> Result<u32, StoreFailure>;
    /// Books the server's verdicts (event id, verdict) in event order, atomically, under
    /// `epoch`.
    async fn book_verdicts(
        &self,
        epoch: &Epoch,
        verdicts: &[(String, Verdict)],
        now: Timestamp,
    ) -> Result<(), StoreFailure>;
    async fn cursor(&self) -> Result<Option<String>, StoreFailure>;
    /// Applies a page and stores its cursor, atomically, under `epoch`.
    async fn apply_pull(
        &self,
        epoch: &Epoch,
        page: &PullResponse,
    ) -> Result<PullStats, StoreFailure>;
}

/// Why a request to the server did not succeed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TransportError {
    /// 401: the session is gone.
    #[error("your session has expired: sign in again")]
    Unauthorized,
    /// No connection (or the offline switch), or no answer in time.
    #[error("offline: {0}")]
    Offline(String),
    /// The server answered with an error status.
    #[error("the server answered {status}: {message}")]
    Http { status: u16, message: String },
    /// The server's answer could not be read.
    #[error("unreadable answer from the server: {0}")]
    Invalid(String),
}

/// What the engine needs from the network. Each request carries the session token of
/// the cycle's epoch.
#[allow(async_fn_in_trait)]
pub trait Transport {
    async fn push(
        &self,
        token: &str,
        events: &[OutboxEvent],
    ) -> Result<Vec<PushResult>, TransportError>;
    async fn pull(
        &self,
        token: &str,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<PullResponse, TransportError>;
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
    /// A request or the store failed; the cycle ended there. No event was charged a try
    /// for a request that got no usable answer.
    Failed(SyncError),
    /// The server said 401: stop until there is a new session.
    Unauthorized,
    /// Nobody is signed in, or the epoch changed under the cycle: it ended without
    /// writing anything more.
    Superseded,
}

/// Runs sync cycles over a store and a transport.
pub struct Engine<S, T, C> {
    pub store: S,
    pub transport: T,
    pub clock: C,
    config: RefCell<SyncConfig>,
    status: StatusBoard,
    /// The leadership term this engine works under.
    term: u64,
}

/// Ends a cycle early with an outcome.
type Step<V> = Result<V, CycleOutcome>;

/// The message of a single event the server still finds too large.
const TOO_LARGE: &str = "this change is too large for the server to accept";

/// Events per push while a backlog drains (a full batch came back and more wait): fewer,
/// larger requests. The configured batch size still starts every cycle.
pub const BACKLOG_BATCH: u32 = 50;

impl<S: SyncStore, T: Transport, C: Clock> Engine<S, T, C> {
    pub fn new(
        store: S,
        transport: T,
        clock: C,
        config: SyncConfig,
        status: StatusBoard,
        term: u64,
    ) -> Self {
        Engine {
            store,
            transport,
            clock,
            config: RefCell::new(config.sanitized()),
            status,
            term,
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

    pub fn term(&self) -> u64 {
        self.term
    }

    /// One cycle: push everything that is ready, then, if nothing retryable is left,
    /// pull until the changelog is exhausted. Statuses and results are reported as it goes.
    pub async fn run_cycle(&self, override_backoff: bool) -> CycleOutcome {
        let outcome = match self.epoch().await {
            Ok(epoch) => match self.push_phase(&epoch, override_backoff).await {
                Ok(true) => match self.pull_phase(&epoch).await {
                    Ok(()) => CycleOutcome::Synced,
                    Err(outcome) => outcome,
                },
                Ok(false) => CycleOutcome::PullDeferred,
                Err(outcome) => outcome,
            },
            Err(outcome) => outcome,
        };
        self.status.finish(match &outcome {
            CycleOutcome::Synced => Ok(self.clock.now()),
            CycleOutcome::PullDeferred | CycleOutcome::Superseded => Err(None),
            CycleOutcome::Failed(error) => Err(Some(error.clone())),
            CycleOutcome::Unauthorized => Err(Some(SyncError {
                kind: SyncErrorKind::SessionExpired,
                message: TransportError::Unauthorized.to_string(),
            })),
        });
        outcome
    }

    /// The epoch of a cycle starting now.
    async fn epoch(&self) -> Step<Epoch> {
        match self.store.session().await.map_err(storage_failure)? {
            Some((user_id, token)) => Ok(Epoch {
                user_id,
                token,
                term: self.term,
            }),
            None => Err(CycleOutcome::Superseded),
        }
    }

    /// Pushes events batch by batch, in creation order, until the queue is empty or its
    /// head must wait (in backoff, or already tried in this cycle, so that a retryable
    /// failure with backoff overridden cannot loop). Returns whether the pull may run (no
    /// retryable event left).
    ///
    /// A request without a usable answer (offline, timeout, 5xx, 429, unreadable) ends
    /// the cycle and charges no event a try: the controller backs the cycle off. A 413
    /// halves the batch, down to one event; one event still too large is refused.
    async fn push_phase(&self, epoch: &Epoch, override_backoff: bool) -> Step<bool> {
        let (mut batch_size, backoff_ms) = {
            let config = self.config.borrow();
            (config.batch_size, config.backoff_ms)
        };
        let mut attempted: HashSet<String> = HashSet::new();
        let mut results: Vec<PushResult> = Vec::new();
        // Cleared by a 413: the server's size limit wins over draining fast.
        let mut may_grow = true;
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
            // A worker that lost the lead, or a signed-out session, sends nothing more.
            self.store
                .check_epoch(epoch)
                .await
                .map_err(storage_failure)?;
            match self.transport.push(&epoch.token, &batch).await {
                Ok(answers) => {
                    attempted.extend(batch.iter().map(|event| event.id.clone()));
                    let verdicts = verdicts(&batch, &answers);
                    self.book(epoch, &verdicts).await?;
                    results.extend(answers);
                    if may_grow && batch.len() as u32 == batch_size {
                        // A full batch: there may be a backlog; drain it in larger ones.
                        batch_size = batch_size.max(BACKLOG_BATCH);
                    }
                }
                Err(TransportError::Unauthorized) => return Err(CycleOutcome::Unauthorized),
                Err(TransportError::Http { status: 413, .. }) if batch.len() > 1 => {
                    batch_size = (batch.len() / 2) as u32;
                    may_grow = false;
                }
                Err(TransportError::Http { status: 413, .. }) => {
                    may_grow = false;
                    attempted.insert(batch[0].id.clone());
                    let error = PushError {
                        kind: PushErrorKind::RecordValidationFailure,
                        message: TOO_LARGE.into(),
                        retryable: false,
                    };
                    let refused = PushResult::failed(batch[0].id.clone(), error.clone());
                    let verdict = Verdict::Rejected {
                        error,
                        server_state: None,
                    };
                    self.book(epoch, &[(batch[0].id.clone(), verdict)]).await?;
                    results.push(refused);
                }
                Err(error) => {
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

    async fn book(&self, epoch: &Epoch, verdicts: &[(String, Verdict)]) -> Step<()> {
        self.store
            .book_verdicts(epoch, verdicts, self.clock.now())
            .await
            .map_err(storage_failure)?;
        Ok(())
    }

    /// Pulls page after page from the stored cursor until a page comes back empty. Each
    /// page is applied together with its cursor, so the cursor never runs ahead of the data.
    ///
    /// A full page means a backlog (an initial sync, a device long offline): each full
    /// page doubles the next one's size, up to the protocol's maximum, so a backlog costs
    /// fewer requests and transactions. The configured size starts every cycle.
    ///
    /// The next page is asked for while this one is applied: the server's answer does not
    /// depend on what the client stored, the next cursor is in this page, and the network
    /// and the database then work at the same time. A page that fails to apply ends the
    /// phase and the page fetched beside it is dropped; the epoch is checked before every
    /// request, as before.
    async fn pull_phase(&self, epoch: &Epoch) -> Step<()> {
        self.status.set_phase(Phase::Pulling);
        let mut limit = self.config.borrow().pull_limit;
        let mut cursor = self.store.cursor().await.map_err(storage_failure)?;
        let mut total = PullStats::default();
        self.store
            .check_epoch(epoch)
            .await
            .map_err(storage_failure)?;
        let mut page = self.fetch_page(epoch, cursor.as_deref(), limit).await?;
        while !page.logs_with_records.is_empty() {
            if page.logs_with_records.len() as u32 >= limit {
                limit = limit.saturating_mul(2).min(MAX_PULL_LIMIT);
            }
            // A server that does not move its cursor would otherwise be asked forever.
            if page.cursor.is_none() || page.cursor == cursor {
                let stats = self.store.apply_pull(epoch, &page).await;
                total.add(&stats.map_err(storage_failure)?);
                break;
            }
            self.store
                .check_epoch(epoch)
                .await
                .map_err(storage_failure)?;
            let (stats, next) = futures::future::join(
                self.store.apply_pull(epoch, &page),
                self.fetch_page(epoch, page.cursor.as_deref(), limit),
            )
            .await;
            total.add(&stats.map_err(storage_failure)?);
            cursor = page.cursor;
            page = next?;
        }
        self.status.report(WorkerOutput::PullCompleted(total));
        self.report_pending().await;
        Ok(())
    }

    /// One page of the changelog after `cursor`.
    async fn fetch_page(
        &self,
        epoch: &Epoch,
        cursor: Option<&str>,
        limit: u32,
    ) -> Step<PullResponse> {
        match self.transport.pull(&epoch.token, cursor, limit).await {
            Ok(page) => Ok(page),
            Err(TransportError::Unauthorized) => Err(CycleOutcome::Unauthorized),
            Err(error) => Err(CycleOutcome::Failed(transport_failure(&error))),
        }
    }

    async fn report_pending(&self) {
        if let Ok(count) = self.store.pending_count().await {
            self.status.report(WorkerOutput::Pending { count });
        }
    }
}

/// The server's answers as verdicts, in the batch's order. An event the answer leaves
/// out is a retryable failure (the server answered, but not about it).
fn verdicts(batch: &[OutboxEvent], answers: &[PushResult]) -> Vec<(String, Verdict)> {
    batch
        .iter()
        .map(|event| {
            let verdict = match answers.iter().find(|answer| answer.id == event.id) {
                Some(PushResult {
                    error: None,
                    applied_changelog_id: Some(changelog_id),
                    ..
                }) => Verdict::Applied {
                    changelog_id: changelog_id.clone(),
                },
                Some(PushResult {
                    error: Some(error),
                    server_state,
                    ..
                }) if !error.retryable => Verdict::Rejected {
                    error: error.clone(),
                    server_state: server_state.clone(),
                },
                Some(PushResult {
                    error: Some(error), ..
                }) => Verdict::Retry(error.clone()),
                _ => Verdict::Retry(PushError::new(
                    PushErrorKind::UnknownError,
                    "the server's answer did not include this event",
                )),
            };
            (event.id.clone(), verdict)
        })
        .collect()
}

fn storage_failure(error: StoreFailure) -> CycleOutcome {
    match error {
        StoreFailure::Superseded => CycleOutcome::Superseded,
        StoreFailure::Failed(message) => CycleOutcome::Failed(SyncError {
            kind: SyncErrorKind::Storage,
            message,
        }),
    }
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

/// A shared store (the simulator keeps one replica under successive engines).
impl<S: SyncStore> SyncStore for std::rc::Rc<S> {
    async fn session(&self) -> Result<Option<(Uuid, String)>, StoreFailure> {
        S::session(self).await
    }

    async fn check_epoch(&self, epoch: &Epoch) -> Result<(), StoreFailure> {
        S::check_epoch(self, epoch).await
    }

    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreFailure> {
        S::next_batch(self, limit, ready).await
    }

    async fn pending_count(&self) -> Result<u32, StoreFailure> {
        S::pending_count(self).await
    }

    async fn book_verdicts(
        &self,
        epoch: &Epoch,
        verdicts: &[(String, Verdict)],
        now: Timestamp,
    ) -> Result<(), StoreFailure> {
        S::book_verdicts(self, epoch, verdicts, now).await
    }

    async fn cursor(&self) -> Result<Option<String>, StoreFailure> {
        S::cursor(self).await
    }

    async fn apply_pull(
        &self,
        epoch: &Epoch,
        page: &PullResponse,
    ) -> Result<PullStats, StoreFailure> {
        S::apply_pull(self, epoch, page).await
    }
}
