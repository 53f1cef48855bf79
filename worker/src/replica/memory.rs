//! The replica in memory: the same rules as the IndexedDB store, over maps. The engine's
//! native tests and the simulator use it; since every decision lives in
//! [`super::rules`] and [`super::local`], it behaves as the browser's store does.
//!
//! A transaction works on a copy of the state and replaces it on commit, so a rule that
//! fails part-way leaves nothing behind, as an aborted IndexedDB transaction does.

use super::local::{self, LocalWriter};
use super::rules;
use super::{Account, OutboxEntry, OutboxStats, ReplicaTx, RuleError, Stamp, VersionMeta};
use crate::engine::{Epoch, StoreFailure, SyncStore, Verdict};
use crate::messages::PullStats;
use std::cell::RefCell;
use std::collections::btree_map::Entry;
use std::collections::BTreeMap;
use sync_protocol::{Model, OutboxEvent, PullResponse, Record, Timestamp};
use uuid::Uuid;

/// Everything a replica holds.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ReplicaState {
    pub account: Option<Account>,
    pub term: u64,
    pub cursor: Option<String>,
    /// Records by (model, id).
    pub records: BTreeMap<(Model, String), Record>,
    pub metas: BTreeMap<(Model, String), VersionMeta>,
    /// Outbox entries by creation sequence.
    pub outbox: BTreeMap<u32, OutboxEntry>,
    /// The stored bound of applied changelog ids; None, as in a database from before it
    /// was kept, until a rule sets it (read, it is then worked out from the metadata).
    pub applied_bound: Option<String>,
    pub pulled_through: Option<String>,
    /// The tombstones of spent stamps (None: the first change's, which spent none),
    /// each holding the stamp that spent it.
    pub spent_stamps: BTreeMap<Option<Stamp>, Stamp>,
    /// See [`ReplicaTx::queue_floor`]; the memory replica's reads of the waiting events
    /// start there too, so that a floor set too high loses changes here as it would in
    /// IndexedDB.
    pub queue_floor: u32,
}

impl ReplicaState {
    /// The stamp: what the newest tombstone holds (see [`Stamp`]).
    pub fn stamp(&self) -> Option<Stamp> {
        self.spent_stamps
            .last_key_value()
            .map(|(_, next)| next.clone())
    }
}

/// One transaction: a working copy of the state.
pub struct MemoryTx {
    state: RefCell<ReplicaState>,
}

impl MemoryTx {
    fn entry_seq(&self, event_id: &str) -> Option<u32> {
        self.state
            .borrow()
            .outbox
            .iter()
            .find(|(_, entry)| entry.event.id == event_id)
            .map(|(seq, _)| *seq)
    }
}

fn key(model: Model, id: &str) -> (Model, String) {
    (model, id.to_string())
}

impl ReplicaTx for MemoryTx {
    type Error = RuleError;

    async fn account(&self) -> Result<Option<Account>, RuleError> {
        Ok(self.state.borrow().account.clone())
    }

    async fn set_account(&self, account: Option<&Account>) -> Result<(), RuleError> {
        self.state.borrow_mut().account = account.cloned();
        Ok(())
    }

    async fn term(&self) -> Result<u64, RuleError> {
        Ok(self.state.borrow().term)
    }

    async fn set_term(&self, term: u64) -> Result<(), RuleError> {
        self.state.borrow_mut().term = term;
        Ok(())
    }

    async fn set_cursor(&self, cursor: &str) -> Result<(), RuleError> {
        self.state.borrow_mut().cursor = Some(cursor.to_string());
        Ok(())
    }

    async fn clear_cursor(&self) -> Result<(), RuleError> {
        self.state.borrow_mut().cursor = None;
        Ok(())
    }

    async fn clear_data(&self) -> Result<(), RuleError> {
        let mut state = self.state.borrow_mut();
        *state = ReplicaState {
            term: state.term,
            spent_stamps: std::mem::take(&mut state.spent_stamps),
            ..ReplicaState::default()
        };
        Ok(())
    }

    async fn stamp(&self) -> Result<Option<Stamp>, RuleError> {
        Ok(self.state.borrow().stamp())
    }

    async fn replace_stamp(&self, spent: Option<&Stamp>, next: &Stamp) -> Result<(), RuleError> {
        let mut state = self.state.borrow_mut();
        match state.spent_stamps.entry(spent.cloned()) {
            Entry::Occupied(_) => Err(RuleError::Outdated),
            Entry::Vacant(tombstone) => {
                tombstone.insert(next.clone());
                Ok(())
            }
        }
    }

    async fn forget_spent_stamps(&self, bound: &Stamp) -> Result<(), RuleError> {
        self.state
            .borrow_mut()
            .spent_stamps
            .retain(|spent, _| spent.as_ref().is_some_and(|spent| spent >= bound));
        Ok(())
    }

    async fn entry(&self, event_id: &str) -> Result<Option<OutboxEntry>, RuleError> {
        let seq = self.entry_seq(event_id);
        Ok(seq.and_then(|seq| self.state.borrow().outbox.get(&seq).cloned()))
    }

    async fn put_entry(&self, entry: &OutboxEntry) -> Result<(), RuleError> {
        self.state
            .borrow_mut()
            .outbox
            .insert(entry.seq, entry.clone());
        Ok(())
    }

    async fn pending_of(&self, model: Model, id: &str) -> Result<Vec<OutboxEntry>, RuleError> {
        let key = Some((model, id.to_string()));
        let state = self.state.borrow();
        let waiting = state
            .outbox
            .values()
            .filter(|entry| entry.event.is_pending() && entry.record_key() == key);
        Ok(waiting.cloned().collect())
    }

    async fn queue_floor(&self) -> Result<u32, RuleError> {
        Ok(self.state.borrow().queue_floor)
    }

    async fn set_queue_floor(&self, floor: u32) -> Result<(), RuleError> {
        self.state.borrow_mut().queue_floor = floor;
        Ok(())
    }

    async fn first_waiting_from(&self, floor: u32) -> Result<Option<u32>, RuleError> {
        let state = self.state.borrow();
        let mut waiting = state.outbox.range(floor..).map(|(_, entry)| entry);
        Ok(waiting
            .find(|entry| entry.event.is_pending())
            .map(|entry| entry.seq))
    }

    async fn pending_total(&self) -> Result<u32, RuleError> {
        let state = self.state.borrow();
        let waiting = state
            .outbox
            .values()
            .filter(|entry| entry.event.is_pending() && entry.event.record_id().is_some());
        Ok(waiting.count() as u32)
    }

    async fn applied_bound(&self) -> Result<String, RuleError> {
        let state = self.state.borrow();
        Ok(state.applied_bound.clone().unwrap_or_else(|| {
            state
                .metas
                .values()
                .filter_map(|meta| meta.last_applied_change_id.clone())
                .max()
                .unwrap_or_default()
        }))
    }

    async fn pulled_through(&self) -> Result<String, RuleError> {
        Ok(self
            .state
            .borrow()
            .pulled_through
            .clone()
            .unwrap_or_default())
    }

    async fn set_pulled_through(&self, id: &str) -> Result<(), RuleError> {
        self.state.borrow_mut().pulled_through = Some(id.to_string());
        Ok(())
    }

    async fn has_metas(&self) -> Result<bool, RuleError> {
        Ok(!self.state.borrow().metas.is_empty())
    }

    async fn set_applied_bound(&self, id: &str) -> Result<(), RuleError> {
        self.state.borrow_mut().applied_bound = Some(id.to_string());
        Ok(())
    }

    async fn last_seq(&self) -> Result<u32, RuleError> {
        Ok(self
            .state
            .borrow()
            .outbox
            .keys()
            .next_back()
            .copied()
            .unwrap_or(0))
    }

    async fn metas(&self, keys: &[(Model, String)]) -> Result<Vec<Option<VersionMeta>>, RuleError> {
        let state = self.state.borrow();
        Ok(keys.iter().map(|k| state.metas.get(k).cloned()).collect())
    }

    async fn put_meta(&self, meta: &VersionMeta) -> Result<(), RuleError> {
        let model = Model::parse(&meta.model)
            .ok_or_else(|| RuleError::Invalid(format!("unknown model {}", meta.model)))?;
        self.state
            .borrow_mut()
            .metas
            .insert(key(model, &meta.key), meta.clone());
        Ok(())
    }

    async fn remove_meta(&self, model: Model, id: &str) -> Result<(), RuleError> {
        self.state.borrow_mut().metas.remove(&key(model, id));
        Ok(())
    }

    async fn record(&self, model: Model, id: &str) -> Result<Option<Record>, RuleError> {
        Ok(self.state.borrow().records.get(&key(model, id)).cloned())
    }

    async fn put_record(&self, record: &Record) -> Result<(), RuleError> {
        self.state.borrow_mut().records.insert(
            key(record.model(), &record.id().to_string()),
            record.clone(),
        );
        Ok(())
    }

    async fn remove_record(&self, model: Model, id: &str) -> Result<(), RuleError> {
        self.state.borrow_mut().records.remove(&key(model, id));
        Ok(())
    }

    async fn todo_ids_of_board(&self, board: Uuid) -> Result<Vec<String>, RuleError> {
        Ok(self
            .state
            .borrow()
            .records
            .values()
            .filter_map(|record| match record {
                Record::Todo(todo) if todo.board_id == board => Some(todo.id.to_string()),
                _ => None,
            })
            .collect())
    }
}

/// A replica in memory.
#[derive(Default)]
pub struct MemoryReplica {
    state: RefCell<ReplicaState>,
    /// Pages applied so far.
    pages_applied: std::cell::Cell<usize>,
    /// Makes the page with this number (counting from 0) fail to apply, as an aborted
    /// transaction would.
    fail_page: std::cell::Cell<Option<usize>>,
}

impl MemoryReplica {
    pub fn new() -> MemoryReplica {
        MemoryReplica::default()
    }

    /// A copy of everything it holds.
    pub fn state(&self) -> ReplicaState {
        self.state.borrow().clone()
    }

    /// Makes the page after `applied` successful ones fail to apply (a test's aborted
    /// transaction).
    pub fn fail_page_after(&self, applied: usize) {
        self.fail_page.set(Some(applied));
    }

    /// Runs `rule` in one transaction: its writes land only if it succeeds.
    pub async fn transaction<V>(
        &self,
        rule: impl AsyncFnOnce(&MemoryTx) -> Result<V, RuleError>,
    ) -> Result<V, RuleError> {
        let tx = MemoryTx {
            state: RefCell::new(self.state.borrow().clone()),
        };
        let value = rule(&tx).await?;
        *self.state.borrow_mut() = tx.state.into_inner();
        Ok(value)
    }

    /// A local change, as the app makes it (`ids` makes new record and event ids).
    pub async fn local_change<V>(
        &self,
        now: Timestamp,
        ids: &mut dyn FnMut() -> Uuid,
        change: impl for<'w> AsyncFnOnce(&mut LocalWriter<'w, MemoryTx>) -> Result<V, RuleError>,
    ) -> Result<V, RuleError> {
        self.transaction(async |tx| {
            let mut write = LocalWriter::new(tx, now, ids);
            change(&mut write).await
        })
        .await
    }

    /// A local change made by a context (a tab) that keeps what its last change left
    /// in `expected`, as the app's store does (see [`local::Expected`]).
    pub async fn local_change_trusting<V>(
        &self,
        expected: &mut Option<local::Expected>,
        now: Timestamp,
        ids: &mut dyn FnMut() -> Uuid,
        change: impl for<'w> AsyncFn(&mut LocalWriter<'w, MemoryTx>) -> Result<V, RuleError>,
    ) -> Result<V, RuleError> {
        let (value, next) = local::trusting(expected.take(), async |trusted| {
            self.transaction(async |tx| {
                let mut write = LocalWriter::new(tx, now, ids).expecting(trusted);
                let value = change(&mut write).await?;
                Ok((value, write.expected_next()))
            })
            .await
        })
        .await?;
        *expected = next;
        Ok(value)
    }

    pub async fn sign_in(&self, account: &Account) -> Result<(), RuleError> {
        self.transaction(async |tx| local::sign_in(tx, account).await)
            .await
    }

    pub async fn clear_local_data(&self) -> Result<(), RuleError> {
        self.transaction(async |tx| local::sign_out(tx).await).await
    }

    pub async fn claim_term(&self) -> Result<u64, RuleError> {
        self.transaction(async |tx| local::claim_term(tx).await)
            .await
    }

    pub fn outbox_stats(&self) -> OutboxStats {
        let state = self.state.borrow();
        let mut stats = OutboxStats::default();
        for entry in state.outbox.values() {
            stats.total += 1;
            if entry.event.is_pending() {
                stats.pending += 1;
            } else if entry.event.synced {
                stats.synced += 1;
            } else {
                stats.failed += 1;
            }
        }
        stats
    }

    /// The refusal notices still shown, oldest first.
    pub fn refusals(&self) -> Vec<OutboxEntry> {
        self.state
            .borrow()
            .outbox
            .values()
            .filter(|entry| entry.is_refusal_shown())
            .cloned()
            .collect()
    }
}

fn failure(error: RuleError) -> StoreFailure {
    match error {
        RuleError::StaleEpoch | RuleError::SignedOut => StoreFailure::Superseded,
        other => StoreFailure::Failed(other.to_string()),
    }
}

impl SyncStore for MemoryReplica {
    async fn session(&self) -> Result<Option<(Uuid, String)>, StoreFailure> {
        Ok(self
            .state
            .borrow()
            .account
            .as_ref()
            .map(|a| (a.user.id, a.token.clone())))
    }

    async fn check_epoch(&self, epoch: &Epoch) -> Result<(), StoreFailure> {
        self.transaction(async |tx| rules::check_epoch(tx, epoch).await)
            .await
            .map_err(failure)
    }

    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreFailure> {
        let state = self.state.borrow();
        Ok(state
            .outbox
            .range(state.queue_floor..)
            .map(|(_, entry)| entry)
            .filter(|entry| entry.event.is_pending())
            .take_while(|entry| ready(&entry.event))
            .take(limit as usize)
            .map(|entry| entry.event.clone())
            .collect())
    }

    async fn pending_count(&self) -> Result<u32, StoreFailure> {
        Ok(self.outbox_stats().pending)
    }

    async fn book_verdicts(
        &self,
        epoch: &Epoch,
        verdicts: &[(String, Verdict)],
        now: Timestamp,
    ) -> Result<(), StoreFailure> {
        self.transaction(async |tx| rules::book_verdicts(tx, epoch, verdicts, now).await)
            .await
            .map(drop)
            .map_err(failure)
    }

    async fn cursor(&self) -> Result<Option<String>, StoreFailure> {
        Ok(self.state.borrow().cursor.clone())
    }

    async fn apply_pull(
        &self,
        epoch: &Epoch,
        page: &PullResponse,
    ) -> Result<PullStats, StoreFailure> {
        if self.fail_page.get() == Some(self.pages_applied.get()) {
            self.fail_page.set(None);
            return Err(StoreFailure::Failed("simulated abort".into()));
        }
        let stats = self
            .transaction(async |tx| rules::apply_page(tx, epoch, page).await)
            .await
            .map(|(stats, _)| stats)
            .map_err(failure)?;
        self.pages_applied.set(self.pages_applied.get() + 1);
        Ok(stats)
    }
}
