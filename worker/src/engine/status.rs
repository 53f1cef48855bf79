//! The sync status, and its reporting: every change is sent to the app at once.

use crate::messages::{Phase, SyncError, SyncStatus, WorkerOutput};
use std::cell::RefCell;
use std::rc::Rc;
use sync_protocol::Timestamp;

/// Where the engine's reports go (the app, through the worker host).
pub type Reporter = Rc<dyn Fn(WorkerOutput)>;

/// The current status, shared by the controller (looping) and the engine (phases).
#[derive(Clone)]
pub struct StatusBoard {
    status: Rc<RefCell<SyncStatus>>,
    reporter: Reporter,
}

impl StatusBoard {
    pub fn new(reporter: Reporter) -> StatusBoard {
        StatusBoard {
            status: Rc::new(RefCell::new(SyncStatus::default())),
            reporter,
        }
    }

    pub fn current(&self) -> SyncStatus {
        self.status.borrow().clone()
    }

    pub fn report(&self, output: WorkerOutput) {
        (self.reporter)(output);
    }

    /// Changes the status and reports it if it changed.
    fn update(&self, change: impl FnOnce(&mut SyncStatus)) {
        let changed = {
            let mut status = self.status.borrow_mut();
            let before = status.clone();
            change(&mut status);
            *status != before
        };
        if changed {
            self.report(WorkerOutput::Status(self.current()));
        }
    }

    /// Loop on or off; an idle status follows the loop (Idle while looping, else Stopped).
    pub fn set_looping(&self, looping: bool) {
        self.update(|status| {
            status.is_looping = looping;
            if matches!(status.status, Phase::Idle | Phase::Stopped) {
                status.status = resting(looping);
            }
        });
    }

    pub fn set_phase(&self, phase: Phase) {
        self.update(|status| status.status = phase);
    }

    /// A cycle ended: rest, and record how it went.
    pub fn finish(&self, outcome: Result<Timestamp, Option<SyncError>>) {
        self.update(|status| {
            status.status = resting(status.is_looping);
            match outcome {
                Ok(synced_at) => {
                    status.last_sync_time = Some(synced_at);
                    status.last_error = None;
                }
                Err(Some(error)) => status.last_error = Some(error),
                // Ended early for a reason that is not an error (pull deferred).
                Err(None) => {}
            }
        });
    }

    /// Sets or clears the error without ending a cycle (e.g. a new token clears a 401).
    pub fn set_error(&self, error: Option<SyncError>) {
        self.update(|status| status.last_error = error);
    }
}

fn resting(looping: bool) -> Phase {
    if looping {
        Phase::Idle
    } else {
        Phase::Stopped
    }
}
