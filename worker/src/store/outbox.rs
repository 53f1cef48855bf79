//! The outbox: local changes waiting to be pushed, in creation order, and the
//! bookkeeping of their push results.

use super::meta::{version_key, VersionMeta};
use super::notify::ChangeOrigin;
use super::schema::{
    OUTBOX, OUTBOX_BY_SEQ, OUTBOX_PENDING_RECORD, OUTBOX_QUEUE, OUTBOX_SYNCED_AT, RECORD_STORES,
    VERSION_META,
};
use super::{delete, get, put, readonly, readwrite, LocalStore, StoreError};
use indexed_db_futures::cursor::CursorDirection;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::Transaction;
use indexed_db_futures::KeyRange;
use serde::{Deserialize, Serialize};
use sync_protocol::push::ServerState;
use sync_protocol::{Model, Operation, OutboxEvent, PushError, Record, Timestamp};
use uuid::Uuid;

/// An outbox event as stored: the protocol's event and the local fields that index it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    #[serde(flatten)]
    pub event: OutboxEvent,
    /// Creation order (timestamps tie within a millisecond).
    pub seq: u32,
    /// `seq` while the event waits to be pushed (unsynced and retryable), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<u32>,
    /// `[model, id]` while the event waits to be pushed, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_record: Option<(String, String)>,
    /// When it synced, in milliseconds, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    synced_at_ms: Option<f64>,
}

impl OutboxEntry {
    fn new(event: OutboxEvent, seq: u32) -> OutboxEntry {
        let mut entry = OutboxEntry {
            event,
            seq,
            queue: None,
            pending_record: None,
            synced_at_ms: None,
        };
        entry.reindex();
        entry
    }

    /// Brings the index fields in line with the event's state.
    fn reindex(&mut self) {
        let pending = self.event.is_pending();
        self.queue = pending.then_some(self.seq);
        self.pending_record = if pending {
            self.event
                .record_id()
                .map(|id| (self.event.entity_type.clone(), id.to_string()))
        } else {
            None
        };
        self.synced_at_ms = self.event.synced_at.map(|t| t.as_millis() as f64);
    }

    fn record_key(&self) -> Option<(Model, String)> {
        Some((self.event.model()?, self.event.record_id()?.to_string()))
    }
}

/// How many events are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxStats {
    pub total: u32,
    /// Unsynced and retryable: will be pushed.
    pub pending: u32,
    /// Rejected for good by the server.
    pub failed: u32,
    pub synced: u32,
}

/// A rejected or failed push of one event.
#[derive(Debug, Clone, PartialEq)]
pub struct PushFailure {
    pub event_id: String,
    pub error: PushError,
    /// The server's current state of the record, when it rejected the change for good.
    pub server_state: Option<ServerState>,
}

/// Appends events inside a write transaction.
pub(crate) struct OutboxWriter<'tx> {
    store: ObjectStore<'tx>,
    next_seq: u32,
}

impl<'tx> OutboxWriter<'tx> {
    pub(crate) async fn open(tx: &'tx Transaction<'_>) -> Result<OutboxWriter<'tx>, StoreError> {
        let store = tx.object_store(OUTBOX)?;
        let last: Option<OutboxEntry> = {
            let index = store.index(OUTBOX_BY_SEQ)?;
            let cursor = index
                .open_cursor()
                .with_direction(CursorDirection::Prev)
                .serde()?
                .await?;
            match cursor {
                Some(mut cursor) => cursor.next_record_ser().await?,
                None => None,
            }
        };
        let next_seq = last.map_or(1, |entry| entry.seq + 1);
        Ok(OutboxWriter { store, next_seq })
    }

    /// Appends an event carrying `record` after `operation`.
    pub(crate) async fn append(
        &mut self,
        operation: Operation,
        record: &Record,
        now: Timestamp,
    ) -> Result<OutboxEntry, StoreError> {
        let event = OutboxEvent::new(Uuid::new_v4(), operation, record, now);
        let entry = OutboxEntry::new(event, self.next_seq);
        self.next_seq += 1;
        put(&self.store, &entry).await?;
        Ok(entry)
    }
}

/// Whether any event for the record still waits to be pushed.
async fn has_pending_for(
    outbox: &ObjectStore<'_>,
    model: Model,
    id: &str,
) -> Result<bool, StoreError> {
    let count = outbox
        .index(OUTBOX_PENDING_RECORD)?
        .count()
        .with_query(KeyRange::Only(version_key(model, id)))
        .serde()?
        .await?;
    Ok(count > 0)
}

/// Marks a record as having a local change pending.
pub(crate) async fn mark_pending(
    version_meta: &ObjectStore<'_>,
    model: Model,
    id: &str,
) -> Result<(), StoreError> {
    let mut meta: VersionMeta = get(version_meta, version_key(model, id))
        .await?
        .unwrap_or_else(|| VersionMeta::new(model, id));
    meta.local_change_pending = true;
    put(version_meta, &meta).await
}

/// Clears a record's pending mark unless another of its events is still pending, and
/// records the changelog entry that applied it, if any.
async fn settle(
    outbox: &ObjectStore<'_>,
    version_meta: &ObjectStore<'_>,
    model: Model,
    id: &str,
    applied: Option<&str>,
) -> Result<(), StoreError> {
    let mut meta: VersionMeta = get(version_meta, version_key(model, id))
        .await?
        .unwrap_or_else(|| VersionMeta::new(model, id));
    if let Some(changelog_id) = applied {
        meta.applied(changelog_id);
    }
    meta.local_change_pending = has_pending_for(outbox, model, id).await?;
    put(version_meta, &meta).await
}

impl LocalStore {
    /// The next events to push: up to `limit` pending events in creation order, stopping
    /// at the first one `ready` refuses (one still in backoff). Nothing overtakes an
    /// earlier change, so the server applies a device's changes in the order they were
    /// made: a later edit is never undone by an earlier one retried after it, and a todo
    /// never arrives before its board.
    pub async fn next_batch(
        &self,
        limit: u32,
        ready: impl Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[OUTBOX])?;
        let store = tx.object_store(OUTBOX)?;
        let index = store.index(OUTBOX_QUEUE)?;
        let mut batch = Vec::new();
        if let Some(mut cursor) = index.open_cursor().serde()?.await? {
            while let Some(entry) = cursor.next_record_ser::<OutboxEntry>().await? {
                if !ready(&entry.event) {
                    break;
                }
                batch.push(entry.event);
                if batch.len() as u32 >= limit {
                    break;
                }
            }
        }
        Ok(batch)
    }

    /// How many events wait to be pushed.
    pub async fn pending_count(&self) -> Result<u32, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[OUTBOX])?;
        let count = tx
            .object_store(OUTBOX)?
            .index(OUTBOX_QUEUE)?
            .count()
            .await?;
        Ok(count)
    }

    /// Counts of events by state.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[OUTBOX])?;
        let store = tx.object_store(OUTBOX)?;
        let total = store.count().await?;
        let pending = store.index(OUTBOX_QUEUE)?.count().await?;
        let synced = store.index(OUTBOX_SYNCED_AT)?.count().await?;
        Ok(OutboxStats {
            total,
            pending,
            synced,
            failed: total.saturating_sub(pending + synced),
        })
    }

    /// The newest `limit` events, newest first (the sync inspector's view).
    pub async fn outbox(&self, limit: u32) -> Result<Vec<OutboxEntry>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[OUTBOX])?;
        let store = tx.object_store(OUTBOX)?;
        let index = store.index(OUTBOX_BY_SEQ)?;
        let mut entries = Vec::new();
        let cursor = index
            .open_cursor()
            .with_direction(CursorDirection::Prev)
            .serde()?
            .await?;
        if let Some(mut cursor) = cursor {
            while entries.len() < limit as usize {
                match cursor.next_record_ser::<OutboxEntry>().await? {
                    Some(entry) => entries.push(entry),
                    None => break,
                }
            }
        }
        Ok(entries)
    }

    /// Marks pushed events synced, with the changelog entry that applied each, and
    /// clears their records' pending marks where no other change waits.
    pub async fn mark_synced(
        &self,
        acks: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        if acks.is_empty() {
            return Ok(());
        }
        let db = self.db().await?;
        let tx = readwrite(&db, &[OUTBOX, VERSION_META])?;
        {
            let outbox = tx.object_store(OUTBOX)?;
            let version_meta = tx.object_store(VERSION_META)?;
            for (event_id, changelog_id) in acks {
                let Some(mut entry) = get::<OutboxEntry, _>(&outbox, event_id).await? else {
                    continue;
                };
                entry.event.synced = true;
                entry.event.synced_at = Some(now);
                entry.event.last_attempted_at = Some(now);
                entry.event.last_error = None;
                entry.reindex();
                put(&outbox, &entry).await?;
                if let Some((model, id)) = entry.record_key() {
                    settle(&outbox, &version_meta, model, &id, Some(changelog_id)).await?;
                }
            }
        }
        self.commit(tx).await?;
        Ok(())
    }

    /// Records failed pushes: one more try, the error as `"TYPE: message"`, and the
    /// server's verdict on retrying. A change rejected for good is rolled back to the
    /// server's state of the record (or removed when the server has none), unless a later
    /// change to the same record still waits. Returns the models whose records changed.
    pub async fn mark_failed(
        &self,
        failures: &[PushFailure],
        now: Timestamp,
    ) -> Result<Vec<Model>, StoreError> {
        if failures.is_empty() {
            return Ok(Vec::new());
        }
        let mut stores = vec![OUTBOX, VERSION_META];
        stores.extend(RECORD_STORES);
        let db = self.db().await?;
        let tx = readwrite(&db, &stores)?;
        let mut changed = Vec::new();
        {
            let outbox = tx.object_store(OUTBOX)?;
            let version_meta = tx.object_store(VERSION_META)?;
            for failure in failures {
                let Some(mut entry) = get::<OutboxEntry, _>(&outbox, &failure.event_id).await?
                else {
                    continue;
                };
                entry.event.tries += 1;
                entry.event.last_error = Some(failure.error.to_string());
                entry.event.last_attempted_at = Some(now);
                entry.event.retryable = failure.error.retryable;
                entry.reindex();
                put(&outbox, &entry).await?;
                if failure.error.retryable {
                    continue;
                }
                let Some((model, id)) = entry.record_key() else {
                    continue;
                };
                if has_pending_for(&outbox, model, &id).await? {
                    continue;
                }
                if let Some(state) = &failure.server_state {
                    let records = tx.object_store(model.name())?;
                    roll_back(&records, model, &id, state).await?;
                    if !changed.contains(&model) {
                        changed.push(model);
                    }
                }
                settle(&outbox, &version_meta, model, &id, None).await?;
            }
        }
        self.commit(tx).await?;
        self.notify(changed.clone(), ChangeOrigin::Sync);
        Ok(changed)
    }

    /// Deletes synced events that synced more than `days` days before `now`.
    pub async fn clear_synced_older_than(
        &self,
        days: u32,
        now: Timestamp,
    ) -> Result<u32, StoreError> {
        let cutoff = now.as_millis() as f64 - f64::from(days) * 86_400_000.0;
        let db = self.db().await?;
        let tx = readwrite(&db, &[OUTBOX])?;
        let mut removed = 0;
        {
            let store = tx.object_store(OUTBOX)?;
            let index = store.index(OUTBOX_SYNCED_AT)?;
            let cursor = index
                .open_cursor()
                .with_query::<f64, _>(KeyRange::UpperBound(cutoff, true))
                .serde()?
                .await?;
            if let Some(mut cursor) = cursor {
                while cursor.next_record_ser::<OutboxEntry>().await?.is_some() {
                    cursor.delete()?.await?;
                    removed += 1;
                }
            }
        }
        self.commit(tx).await?;
        Ok(removed)
    }
}

/// Puts the server's state of a record back, or removes the record when it has none.
async fn roll_back(
    records: &ObjectStore<'_>,
    model: Model,
    id: &str,
    state: &ServerState,
) -> Result<(), StoreError> {
    match &state.record {
        Some(value) => match Record::from_json(model, value.clone()) {
            Ok(record) => super::records::put_record(records, &record).await,
            // A server state we cannot read is no better than ours: keep ours.
            Err(_) => Ok(()),
        },
        None => delete(records, id.to_string()).await,
    }
}
