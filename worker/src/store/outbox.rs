//! The outbox as the worker and the inspector read it: local changes waiting to be
//! pushed, in creation order, the booking of the server's verdicts, and the refusals
//! shown to the person.

use super::notify::ChangeOrigin;
use super::replica_tx::IdbTx;
use super::schema::{
    META, OUTBOX, OUTBOX_BY_SEQ, OUTBOX_QUEUE, OUTBOX_SYNCED_AT, RECORD_STORES, VERSION_META,
};
use super::{from_js, from_js_all, get, put, readonly, readwrite, LocalStore, StoreError};
use crate::engine::{Epoch, Verdict};
use crate::replica::{rules, OutboxEntry, OutboxStats, Touched};
use indexed_db_futures::cursor::CursorDirection;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;
use sync_protocol::{OutboxEvent, Timestamp};
use wasm_bindgen::JsValue;

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
        // One getAll of the first `limit` entries rather than a cursor: a cursor costs a
        // round trip per entry, which made this 2.5x slower than a plain-JS cursor
        // (worker/tests/bench_store.rs, P3). getAll reads 0 as "no limit", hence max(1).
        let entries: Vec<OutboxEntry> = from_js_all(
            store
                .index(OUTBOX_QUEUE)?
                .get_all::<JsValue>()
                .with_limit(limit.max(1))
                .primitive()?
                .await?,
        )?;
        let mut batch = Vec::new();
        for entry in entries {
            if !ready(&entry.event) {
                break;
            }
            batch.push(entry.event);
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
            .primitive()?
            .await?;
        if let Some(mut cursor) = cursor {
            while entries.len() < limit as usize {
                match cursor.next_record::<JsValue>().await? {
                    Some(entry) => entries.push(from_js::<OutboxEntry>(&entry)?),
                    None => break,
                }
            }
        }
        Ok(entries)
    }

    /// Books the server's verdicts on pushed events, in event order, in one transaction
    /// that first checks the cycle's epoch (see [`rules::book_verdicts`]). Returns the
    /// records that were rolled back.
    pub async fn book_verdicts(
        &self,
        epoch: &Epoch,
        verdicts: &[(String, Verdict)],
        now: Timestamp,
    ) -> Result<Touched, StoreError> {
        if verdicts.is_empty() {
            return Ok(Touched::default());
        }
        let mut stores = vec![OUTBOX, VERSION_META, META];
        stores.extend(RECORD_STORES);
        let db = self.db().await?;
        let tx = readwrite(&db, &stores)?;
        let changed = rules::book_verdicts(&IdbTx { tx: &tx }, epoch, verdicts, now).await?;
        self.commit(tx).await?;
        self.notify(&changed, ChangeOrigin::Sync);
        Ok(changed)
    }

    /// The server's refusals the person has not dismissed, oldest first.
    ///
    /// The page asks after every push, so the common case (nothing refused) is answered
    /// from the outbox's index counts; only when refused events exist is the outbox
    /// walked. (A sparse index on `refused` would need a new store: see `schema`.)
    pub async fn refusals(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[OUTBOX])?;
        let store = tx.object_store(OUTBOX)?;
        let (total, pending, synced) = futures::try_join!(
            async { Ok::<u32, StoreError>(store.count().await?) },
            async { Ok(store.index(OUTBOX_QUEUE)?.count().await?) },
            async { Ok(store.index(OUTBOX_SYNCED_AT)?.count().await?) },
        )?;
        if total.saturating_sub(pending + synced) == 0 {
            return Ok(Vec::new());
        }
        let index = store.index(OUTBOX_BY_SEQ)?;
        let mut refused = Vec::new();
        if let Some(mut cursor) = index.open_cursor().primitive()?.await? {
            while let Some(entry) = cursor.next_record::<JsValue>().await? {
                let entry = from_js::<OutboxEntry>(&entry)?;
                if entry.is_refusal_shown() {
                    refused.push(entry);
                }
            }
        }
        Ok(refused)
    }

    /// The person read the notice of a refused change: stop showing it.
    pub async fn dismiss_refusal(&self, event_id: &str) -> Result<(), StoreError> {
        let db = self.db().await?;
        let tx = readwrite(&db, &[OUTBOX])?;
        {
            let store = tx.object_store(OUTBOX)?;
            if let Some(mut entry) = get::<OutboxEntry, _>(&store, event_id).await? {
                entry.dismiss();
                put(&store, &entry).await?;
            }
        }
        self.commit(tx).await?;
        Ok(())
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
                .primitive()?
                .await?;
            if let Some(mut cursor) = cursor {
                // The entry is deleted, so there is no need to decode it.
                while cursor.next_record::<JsValue>().await?.is_some() {
                    cursor.delete()?.await?;
                    removed += 1;
                }
            }
        }
        self.commit(tx).await?;
        Ok(removed)
    }
}
