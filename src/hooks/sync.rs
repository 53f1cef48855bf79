//! The sync worker, spawned once per page, and the state it reports.

use crate::module_url::worker_script_url;
use gloo_worker::{Spawnable, WorkerBridge};
use std::cell::Cell;
use std::rc::Rc;
use sync_protocol::PushResult;
use sync_worker::codec::JsonCodec;
use sync_worker::host::SyncWorker;
use sync_worker::messages::{Phase, PullStats, SyncStatus, WorkerInput, WorkerOutput};
use yew::prelude::*;

/// Everything the worker has reported so far.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SyncState {
    /// None until the worker's first message: the page then says "Starting".
    pub status: Option<SyncStatus>,
    pub pending: u32,
    pub realtime_connected: bool,
    pub last_push: Vec<PushResult>,
    pub last_pull: Option<PullStats>,
    /// Bumped by every push result, so the outbox and refusal views re-read.
    pub pushes: u32,
}

impl Reducible for SyncState {
    type Action = WorkerOutput;

    fn reduce(self: Rc<Self>, output: WorkerOutput) -> Rc<Self> {
        let mut next = (*self).clone();
        match output {
            WorkerOutput::Status(status) => next.status = Some(status),
            WorkerOutput::Pending { count } => next.pending = count,
            WorkerOutput::Realtime { connected } => next.realtime_connected = connected,
            WorkerOutput::PushCompleted { results } => {
                next.pushes = next.pushes.wrapping_add(1);
                next.last_push = results;
            }
            // The lists follow the store's change notices, not this.
            WorkerOutput::PullCompleted(stats) => next.last_pull = Some(stats),
        }
        Rc::new(next)
    }
}

/// The sync context: the latest state and a way to talk to the worker.
#[derive(Clone)]
pub struct SyncHandle {
    pub state: UseReducerHandle<SyncState>,
    bridge: Rc<WorkerBridge<SyncWorker>>,
    /// The latest phase, readable from async code (the reducer's value is a snapshot).
    phase: Rc<Cell<Option<Phase>>>,
}

impl PartialEq for SyncHandle {
    fn eq(&self, other: &Self) -> bool {
        self.state == other.state && Rc::ptr_eq(&self.bridge, &other.bridge)
    }
}

impl SyncHandle {
    pub fn send(&self, input: WorkerInput) {
        self.bridge.send(input);
    }

    /// Waits until no sync cycle is under way (the worker reports a resting phase), or
    /// `limit_ms` passed: sign-out stops the loop and lets the running cycle end before
    /// it clears local data. (Writes of a late cycle are refused anyway: its epoch ends
    /// with the session.)
    pub async fn until_cycle_ends(&self, limit_ms: u32) {
        let mut waited = 0;
        while waited < limit_ms && matches!(self.phase.get(), Some(Phase::Pushing | Phase::Pulling))
        {
            gloo_timers::future::TimeoutFuture::new(50).await;
            waited += 50;
        }
    }
}

/// Spawns the worker on first render and keeps it for the page's life (dropping the
/// bridge would close the worker).
#[hook]
pub fn use_sync_worker() -> SyncHandle {
    let state = use_reducer(SyncState::default);
    let dispatcher = state.dispatcher();
    let phase: Rc<Cell<Option<Phase>>> = (*use_memo((), |_| Rc::new(Cell::new(None)))).clone();
    let latest = phase.clone();
    let bridge = use_memo((), move |_| {
        SyncWorker::spawner()
            .encoding::<JsonCodec>()
            .callback(move |output| {
                if let WorkerOutput::Status(status) = &output {
                    latest.set(Some(status.status));
                }
                dispatcher.dispatch(output)
            })
            // A module worker that starts the page's own module, which then serves the
            // sync worker (see `main.rs`).
            .with_loader(true)
            .spawn(&worker_script_url().expect("index.html names the app's module"))
    });
    SyncHandle {
        state,
        bridge,
        phase,
    }
}
