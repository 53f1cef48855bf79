//! Fencing a leader that lost the lock, from the moment it learns it.
//!
//! The store holds the real fence: the worker that takes the lead raises the stored
//! leadership term, and every transaction of an older term's cycle is refused. But until
//! the new leader has opened its store, the old term is still the stored one, and a cycle
//! the old leader started would go on pushing and writing. So each term of leadership
//! also carries a [`Lease`], revoked by the state machine as soon as the lock is lost, and
//! the engine runs over a [`Fenced`] store that refuses everything once its lease is gone:
//! the cycle ends `Superseded` at its next step, before any further request or write.

use crate::engine::{Epoch, StoreFailure, SyncStore, Verdict};
use crate::messages::PullStats;
use std::cell::Cell;
use std::rc::Rc;
use sync_protocol::{OutboxEvent, PullResponse, Timestamp};
use uuid::Uuid;

/// One term of leadership, as the engine sees it: held until revoked, never again after.
#[derive(Debug, Clone, Default)]
pub struct Lease {
    revoked: Rc<Cell<bool>>,
}

impl Lease {
    /// A lease that is held.
    pub fn new() -> Lease {
        Lease::default()
    }

    pub fn is_held(&self) -> bool {
        !self.revoked.get()
    }

    /// Ends the lease for every copy of it.
    pub fn revoke(&self) {
        self.revoked.set(true);
    }
}

/// Two leases are equal when they are copies of one.
impl PartialEq for Lease {
    fn eq(&self, other: &Lease) -> bool {
        Rc::ptr_eq(&self.revoked, &other.revoked)
    }
}

impl Eq for Lease {}

/// A store that works only while its lease is held.
pub struct Fenced<S> {
    pub store: S,
    pub lease: Lease,
}

impl<S> Fenced<S> {
    pub fn new(store: S, lease: Lease) -> Fenced<S> {
        Fenced { store, lease }
    }

    fn held(&self) -> Result<(), StoreFailure> {
        if self.lease.is_held() {
            Ok(())
        } else {
            Err(StoreFailure::Superseded)
        }
    }
}

/// Every step that starts a cycle, sends a request (the engine checks the epoch right
/// before each) or writes is refused once the lease is revoked; plain reads pass.
impl<S: SyncStore> SyncStore for Fenced<S> {
    async fn session(&self) -> Result<Option<(Uuid, String)>, StoreFailure> {
        self.held()?;
        self.store.session().await
    }

    async fn check_epoch(&self, epoch: &Epoch) -> Result<(), StoreFailure> {
        self.held()?;
        self.store.check_epoch(epoch).await
    }

    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreFailure> {
        self.store.next_batch(limit, ready).await
    }

    async fn pending_count(&self) -> Result<u32, StoreFailure> {
        self.store.pending_count().await
    }

    async fn book_verdicts(
        &self,
        epoch: &Epoch,
        verdicts: &[(String, Verdict)],
        now: Timestamp,
    ) -> Result<(), StoreFailure> {
        self.held()?;
        self.store.book_verdicts(epoch, verdicts, now).await
    }

    async fn cursor(&self) -> Result<Option<String>, StoreFailure> {
        self.store.cursor().await
    }

    async fn apply_pull(
        &self,
        epoch: &Epoch,
        page: &PullResponse,
    ) -> Result<PullStats, StoreFailure> {
        self.held()?;
        self.store.apply_pull(epoch, page).await
    }
}
