//! The outbox as the worker and the inspector read it: local changes waiting to be
//! pushed, in creation order, the booking of the server's verdicts, and the refusals
//! shown to the person.

use super::idb::{range, Source, Tx};
use super::notify::ChangeOrigin;
use super::replica_tx::IdbTx;
use super::schema::{
    META, OUTBOX, OUTBOX_BY_SEQ, OUTBOX_QUEUE, OUTBOX_REFUSED, OUTBOX_SYNCED_AT, RECORD_STORES,
    VERSION_META,
};
use super::{from_js, get, put, readonly, readwrite, LocalStore, StoreError};
use crate::engine::{Epoch, Verdict};
use crate::replica::meta::keys;
use crate::replica::{rules, OutboxEntry, OutboxStats, Touched};
use sync_protocol::{OutboxEvent, Timestamp};
use wasm_bindgen::JsValue;
use web_sys::IdbCursorDirection;

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
        let tx = readonly(&db, &[OUTBOX, META])?;
        let waiting = waiting_range(&tx).await?;
        let queue = tx.store(OUTBOX)?.index(OUTBOX_QUEUE)?;
        // One getAll of the first `limit` entries rather than a cursor: a cursor costs a
        // round trip per entry, which made this 2.5x slower than a plain-JS cursor
        // (worker/tests/bench_store.rs, P3). getAll reads 0 as "no limit", hence max(1).
        let entries: Vec<OutboxEntry> = from_js(&queue.get_all(&waiting, limit.max(1)).await?)?;
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
        let tx = readonly(&db, &[OUTBOX, META])?;
        let waiting = waiting_range(&tx).await?;
        tx.store(OUTBOX)?.index(OUTBOX_QUEUE)?.count(&waiting).await
    }

    /// Counts of events by state.
    pub async fn outbox_stats(&self) -> Result<OutboxStats, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[OUTBOX])?;
        let (total, pending, synced) = counts(&tx).await?;
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
        let by_seq = tx.store(OUTBOX)?.index(OUTBOX_BY_SEQ)?;
        let mut entries = Vec::new();
        let mut cursor = by_seq
            .cursor(&JsValue::UNDEFINED, IdbCursorDirection::Prev)
            .await?;
        while let Some(at) = cursor {
            if entries.len() >= limit as usize {
                break;
            }
            entries.push(from_js::<OutboxEntry>(&at.value()?)?);
            cursor = at.next().await?;
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
        self.commit_and_tell(tx, &changed, ChangeOrigin::Sync)
            .await?;
        Ok(changed)
    }

    /// The server's refusals the person has not dismissed, oldest first.
    ///
    /// The page asks after every push, so this reads the sparse index of shown
    /// refusals: its cost follows how many are shown, not how many events the outbox
    /// keeps.
    pub async fn refusals(&self) -> Result<Vec<OutboxEntry>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[OUTBOX])?;
        let refused = tx.store(OUTBOX)?.index(OUTBOX_REFUSED)?;
        from_js(&refused.get_all(&JsValue::UNDEFINED, 0).await?)
    }

    /// The person read the notice of a refused change: stop showing it.
    pub async fn dismiss_refusal(&self, event_id: &str) -> Result<(), StoreError> {
        let db = self.db().await?;
        let tx = readwrite(&db, &[OUTBOX])?;
        {
            let store = tx.store(OUTBOX)?;
            if let Some(mut entry) = get::<OutboxEntry>(&store, event_id).await? {
                entry.dismiss();
                put(&store, &entry)?;
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
        let tx = readwrite(&db, &[OUTBOX, META])?;
        let mut removed = 0;
        {
            let synced_at = tx.store(OUTBOX)?.index(OUTBOX_SYNCED_AT)?;
            let older = range::below(&JsValue::from_f64(cutoff), true)?;
            let mut cursor = synced_at.cursor(&older, IdbCursorDirection::Next).await?;
            // The entries are deleted, so there is no need to decode them.
            while let Some(at) = cursor {
                at.delete()?;
                removed += 1;
                cursor = at.next().await?;
            }
        }
        if removed > 0 {
            // The newest events may have gone, and the next one may take a number
            // below the queue floor: the floor starts again from 0.
            tx.store(META)?.delete(&keys::QUEUE_FLOOR.into())?;
        }
        self.commit(tx).await?;
        Ok(removed)
    }
}

/// The keys of the `queue` index where the waiting events are: from the queue floor on
/// (see `ReplicaTx::queue_floor`). `tx` must span `Meta`.
pub(crate) async fn waiting_range(tx: &Tx) -> Result<JsValue, StoreError> {
    waiting_from(queue_floor(tx).await?)
}

/// The queue floor, as `tx` (spanning `Meta`) reads it.
pub(crate) async fn queue_floor(tx: &Tx) -> Result<u32, StoreError> {
    let floor: Option<u32> = get(&tx.store(META)?, keys::QUEUE_FLOOR).await?;
    Ok(floor.unwrap_or(0))
}

/// The keys of the `queue` index from `floor` on.
pub(crate) fn waiting_from(floor: u32) -> Result<JsValue, StoreError> {
    range::above(&JsValue::from(floor), false)
}

/// The outbox's entries: all of them, those waiting to be pushed, those synced.
async fn counts(tx: &super::idb::Tx) -> Result<(u32, u32, u32), StoreError> {
    let store = tx.store(OUTBOX)?;
    let (queue, synced_at) = (store.index(OUTBOX_QUEUE)?, store.index(OUTBOX_SYNCED_AT)?);
    let all = JsValue::UNDEFINED;
    futures::try_join!(store.count(&all), queue.count(&all), synced_at.count(&all))
}
