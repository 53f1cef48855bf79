//! The local replica's rules, in plain Rust: what a local write, a push verdict and a
//! pulled changelog entry do to a record, its sync metadata and the outbox.
//!
//! The rules are written once, over [`ReplicaTx`] (one atomic transaction on the local
//! data). The IndexedDB store ([`crate::store`]) implements it over a readwrite
//! transaction; [`memory::MemoryReplica`] implements it over maps, for the engine's
//! native tests and the simulator. Neither can drift from the other: there is one copy
//! of every decision.

pub mod local;
pub mod memory;
#[cfg(test)]
mod merge_tests;
pub mod meta;
pub mod outbox;
pub mod pending;
pub mod rules;
pub mod touched;
#[cfg(test)]
mod trust_tests;

pub use local::TodoEdit;
pub use meta::{version_key, Account, Stamp, VersionMeta};
pub use outbox::{OutboxEntry, OutboxStats};
pub use pending::Pending;
pub use touched::Touched;

use sync_protocol::{Model, Record};
use uuid::Uuid;

/// Why a rule refused to go on. Each store's error type converts from it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RuleError {
    /// The transaction belongs to a sync cycle of another account, session or leadership
    /// term than the current one: a late answer that must not be written.
    #[error("this sync cycle was superseded (another account, session or tab took over)")]
    StaleEpoch,
    #[error("sign in before making changes")]
    SignedOut,
    #[error("{0} no longer exists (it may have been deleted on another device).")]
    NotFound(String),
    #[error("Invalid data: {0}")]
    Invalid(String),
    /// What a create trusted ([`local::Expected`]) was no longer so: another context
    /// wrote meanwhile. The caller abandons the transaction and makes the change again.
    #[error("another tab changed the local data meanwhile")]
    Outdated,
}

/// One atomic transaction over the local data: the records, their sync metadata, the
/// outbox and the small key-value metadata (account, cursor, leadership term).
///
/// Everything written through one value commits together or not at all.
#[allow(async_fn_in_trait)]
pub trait ReplicaTx {
    type Error: From<RuleError>;

    /// The signed-in account.
    async fn account(&self) -> Result<Option<Account>, Self::Error>;
    async fn set_account(&self, account: Option<&Account>) -> Result<(), Self::Error>;
    /// The current leadership term (0 before any worker led).
    async fn term(&self) -> Result<u64, Self::Error>;
    async fn set_term(&self, term: u64) -> Result<(), Self::Error>;
    async fn set_cursor(&self, cursor: &str) -> Result<(), Self::Error>;
    /// Forgets the cursor: the next pull reads the changelog from its start.
    async fn clear_cursor(&self) -> Result<(), Self::Error>;
    /// Forgets the records, their metadata, the outbox, the cursor and the account
    /// (sign-out), but not the term: a cycle of the old session stays fenced; nor the
    /// tombstones of spent stamps, which fence a local change that trusted one.
    async fn clear_data(&self) -> Result<(), Self::Error>;

    /// The stamp of the last local change, sign-in or sign-out: what the newest
    /// tombstone holds (see [`Stamp`]; None before the first).
    async fn stamp(&self) -> Result<Option<Stamp>, Self::Error>;
    /// Spends `spent`, the stamp this transaction read or trusted (None: there was none
    /// yet), and makes `next` the stamp, in one write: `spent`'s tombstone, holding
    /// `next`. A stamp is spent once: if its tombstone is there already, the
    /// transaction fails with [`RuleError::Outdated`] (IndexedDB when it commits, the
    /// memory replica at once).
    async fn replace_stamp(&self, spent: Option<&Stamp>, next: &Stamp) -> Result<(), Self::Error>;
    /// Forgets the tombstones of stamps that sort below `bound` (made before it). The
    /// caller bounds it below the stamp it spends, so the newest is kept.
    async fn forget_spent_stamps(&self, bound: &Stamp) -> Result<(), Self::Error>;

    async fn entry(&self, event_id: &str) -> Result<Option<OutboxEntry>, Self::Error>;
    /// The entries of `event_ids`, in order (None: no such event): one read each, all
    /// issued together, unless the replica reads many keys at once more cheaply.
    async fn entries(&self, event_ids: &[String]) -> Result<Vec<Option<OutboxEntry>>, Self::Error> {
        futures::future::try_join_all(event_ids.iter().map(|id| self.entry(id))).await
    }
    async fn put_entry(&self, entry: &OutboxEntry) -> Result<(), Self::Error>;
    /// The record's events that still wait to be pushed, in no particular order.
    async fn pending_of(&self, model: Model, id: &str) -> Result<Vec<OutboxEntry>, Self::Error>;
    /// What of the record its events that still wait to be pushed touch.
    async fn pending_part(&self, model: Model, id: &str) -> Result<Pending, Self::Error> {
        let entries = self.pending_of(model, id).await?;
        Ok(Pending::of(entries.iter().map(|entry| &entry.event)))
    }
    /// How many events, of any record, still wait to be pushed.
    async fn pending_total(&self) -> Result<u32, Self::Error>;
    /// No event numbered below the queue floor waits to be pushed (0 until a booking
    /// raised it). Reads of the waiting events start there: IndexedDB leaves an index
    /// entry behind when a record leaves a sparse index, and skips it on every later
    /// read, so a read from the start would cost more with every event ever pushed.
    async fn queue_floor(&self) -> Result<u32, Self::Error>;
    async fn set_queue_floor(&self, floor: u32) -> Result<(), Self::Error>;
    /// The number of the first event at or after `floor` that waits to be pushed.
    async fn first_waiting_from(&self, floor: u32) -> Result<Option<u32>, Self::Error>;
    /// The highest outbox sequence number in use (0 when the outbox is empty).
    async fn last_seq(&self) -> Result<u32, Self::Error>;

    /// An upper bound of every record's last applied changelog id ("" when none is
    /// applied): a pulled page whose entries all come after it holds no stale entry, so
    /// it needs no record's metadata (see [`rules::apply_page`]).
    async fn applied_bound(&self) -> Result<String, Self::Error>;
    async fn set_applied_bound(&self, id: &str) -> Result<(), Self::Error>;
    /// The newest changelog id a pulled page brought ("" before the first): an entry
    /// at or below it comes again, in a replay of the changelog from its start.
    async fn pulled_through(&self) -> Result<String, Self::Error>;
    async fn set_pulled_through(&self, id: &str) -> Result<(), Self::Error>;
    /// Whether any record has metadata (a replica that only ever applied pulled pages
    /// has none).
    async fn has_metas(&self) -> Result<bool, Self::Error>;
    /// Raises the bound to `id` when `id` is above it.
    async fn raise_applied_bound(&self, id: &str) -> Result<(), Self::Error> {
        if self.applied_bound().await?.as_str() < id {
            self.set_applied_bound(id).await?;
        }
        Ok(())
    }

    /// The metadata of several records, in the order asked (issued together where the
    /// store can, so a page of pulled entries costs one round of reads).
    async fn metas(
        &self,
        keys: &[(Model, String)],
    ) -> Result<Vec<Option<VersionMeta>>, Self::Error>;
    async fn put_meta(&self, meta: &VersionMeta) -> Result<(), Self::Error>;
    async fn remove_meta(&self, model: Model, id: &str) -> Result<(), Self::Error>;

    async fn record(&self, model: Model, id: &str) -> Result<Option<Record>, Self::Error>;
    async fn put_record(&self, record: &Record) -> Result<(), Self::Error>;
    async fn remove_record(&self, model: Model, id: &str) -> Result<(), Self::Error>;
    /// The ids of a board's todos.
    async fn todo_ids_of_board(&self, board: Uuid) -> Result<Vec<String>, Self::Error>;

    /// Carries out several writes. A store that can issues them all before awaiting any
    /// (IndexedDB: one round trip for a whole pulled page); the order of writes to one
    /// key is kept.
    async fn write_all(&self, writes: &[Write]) -> Result<(), Self::Error> {
        for write in writes {
            match write {
                Write::PutRecord(record) => self.put_record(record).await?,
                Write::RemoveRecord(model, id) => self.remove_record(*model, id).await?,
                Write::PutMeta(meta) => self.put_meta(meta).await?,
                Write::PutEntry(entry) => self.put_entry(entry).await?,
            }
        }
        Ok(())
    }
}

/// One write of [`ReplicaTx::write_all`].
#[derive(Debug, Clone, PartialEq)]
pub enum Write {
    PutRecord(Record),
    RemoveRecord(Model, String),
    PutEntry(OutboxEntry),
    PutMeta(VersionMeta),
}
