//! The Web Worker host: receives the app's messages and runs the sync loop.

use crate::messages::{SyncStatus, WorkerInput, WorkerOutput};
use gloo_worker::{HandlerId, Worker, WorkerScope};

/// The dedicated worker that runs sync off the main thread.
pub struct SyncWorker {
    status: SyncStatus,
}

impl Worker for SyncWorker {
    type Message = ();
    type Input = WorkerInput;
    type Output = WorkerOutput;

    fn create(_scope: &WorkerScope<Self>) -> Self {
        SyncWorker {
            status: SyncStatus::default(),
        }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: ()) {}

    fn connected(&mut self, scope: &WorkerScope<Self>, id: HandlerId) {
        // A new page connected: tell it where sync stands before anything happens.
        scope.respond(id, WorkerOutput::Status(self.status.clone()));
    }

    fn received(&mut self, _scope: &WorkerScope<Self>, _msg: WorkerInput, _id: HandlerId) {}
}
