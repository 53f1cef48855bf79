//! An independent check on epoch fencing: before each write a cycle asks of the replica,
//! the simulator works out on its own whether the cycle's epoch is still current. A
//! write that lands under a stale epoch, or a cursor that moves back, is a violation,
//! whatever the replica's rules decided. It also checks the lease fence (a cycle whose
//! lease was revoked writes nothing) and counts the writes an old leader tries after the
//! lock passed on and before it learnt so.

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use sync_protocol::{OutboxEvent, PullResponse, Timestamp};
use sync_worker::engine::leadership::Lease;
use sync_worker::engine::{Epoch, StoreFailure, SyncStore, Verdict};
use sync_worker::messages::PullStats;
use sync_worker::replica::memory::MemoryReplica;
use uuid::Uuid;

/// Writes tried by a tab that no longer held the lock (it had not read its `LockLost`).
#[derive(Default)]
pub struct Window {
    /// Refused: the successor had raised the stored term.
    pub refused: Cell<usize>,
    /// Accepted: the successor had not opened the store yet, so no newer term existed
    /// (a write under a newer term is a stale-epoch violation instead).
    pub accepted: Cell<usize>,
}

/// The store under one tab's engine (inside the leadership's own `Fenced`).
pub struct FencedStore {
    replica: Rc<MemoryReplica>,
    violations: Rc<RefCell<Vec<String>>>,
    device: usize,
    tab: usize,
    lease: Lease,
    /// The tab that holds the device's lock, as the lock model says.
    holder: Rc<Cell<Option<usize>>>,
    window: Rc<Window>,
}

impl FencedStore {
    pub fn new(
        replica: Rc<MemoryReplica>,
        violations: Rc<RefCell<Vec<String>>>,
        device: usize,
        tab: usize,
        lease: Lease,
        holder: Rc<Cell<Option<usize>>>,
        window: Rc<Window>,
    ) -> FencedStore {
        FencedStore {
            replica,
            violations,
            device,
            tab,
            lease,
            holder,
            window,
        }
    }

    fn is_current(&self, epoch: &Epoch) -> bool {
        let state = self.replica.state();
        state.term == epoch.term
            && state
                .account
                .is_some_and(|a| a.user.id == epoch.user_id && a.token == epoch.token)
    }

    fn after_write<T>(&self, stale: bool, result: &Result<T, StoreFailure>, what: &str) {
        if stale && result.is_ok() {
            self.violations.borrow_mut().push(format!(
                "device {} tab {}: {what} was written under a stale epoch",
                self.device, self.tab
            ));
        }
        if !self.lease.is_held() && result.is_ok() {
            self.violations.borrow_mut().push(format!(
                "device {} tab {}: {what} was written after the tab's lease was revoked",
                self.device, self.tab
            ));
        }
        if self.holder.get() != Some(self.tab) {
            let count = match result {
                Ok(_) => &self.window.accepted,
                Err(StoreFailure::Superseded) => &self.window.refused,
                Err(StoreFailure::Failed(_)) => return,
            };
            count.set(count.get() + 1);
        }
    }
}

impl SyncStore for FencedStore {
    async fn session(&self) -> Result<Option<(Uuid, String)>, StoreFailure> {
        self.replica.session().await
    }

    async fn check_epoch(&self, epoch: &Epoch) -> Result<(), StoreFailure> {
        self.replica.check_epoch(epoch).await
    }

    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreFailure> {
        self.replica.next_batch(limit, ready).await
    }

    async fn pending_count(&self) -> Result<u32, StoreFailure> {
        self.replica.pending_count().await
    }

    async fn book_verdicts(
        &self,
        epoch: &Epoch,
        verdicts: &[(String, Verdict)],
        now: Timestamp,
    ) -> Result<(), StoreFailure> {
        let stale = !self.is_current(epoch);
        let result = self.replica.book_verdicts(epoch, verdicts, now).await;
        self.after_write(stale, &result, "a push verdict");
        result
    }

    async fn cursor(&self) -> Result<Option<String>, StoreFailure> {
        self.replica.cursor().await
    }

    async fn apply_pull(
        &self,
        epoch: &Epoch,
        page: &PullResponse,
    ) -> Result<PullStats, StoreFailure> {
        let stale = !self.is_current(epoch);
        let before = self.replica.state().cursor;
        let result = self.replica.apply_pull(epoch, page).await;
        self.after_write(stale, &result, "a pulled page");
        let after = self.replica.state().cursor;
        if let (Some(before), Some(after)) = (&before, &after) {
            if after < before {
                self.violations.borrow_mut().push(format!(
                    "device {}: the cursor moved back from {before} to {after}",
                    self.device
                ));
            }
        }
        result
    }
}
