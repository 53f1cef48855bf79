//! The replica's rules over IndexedDB: [`ReplicaTx`] for one readwrite transaction.

use super::idb::{range, Source, Store, Tx};
use super::outbox::{queue_floor, waiting_from, waiting_range};
use super::records::{get_record, put_record};
use super::schema::{
    META, OUTBOX, OUTBOX_BY_SEQ, OUTBOX_PENDING_RECORD, OUTBOX_QUEUE, TODO, TODO_BY_BOARD,
    VERSION_META,
};
use super::{from_js, get, get_many, pair_key, put, put_at, to_js_array, StoreError};
use crate::replica::meta::keys;
use crate::replica::{version_key, Account, OutboxEntry, ReplicaTx, Stamp, VersionMeta, Write};
use sync_protocol::{Model, Record};
use uuid::Uuid;
use wasm_bindgen::JsValue;
use web_sys::IdbCursorDirection;

/// One IndexedDB transaction seen as the replica's. The transaction must span the
/// stores the rules it runs touch.
pub(crate) struct IdbTx<'a> {
    pub tx: &'a Tx,
}

impl IdbTx<'_> {
    async fn meta_value<T: serde::de::DeserializeOwned>(
        &self,
        key: &str,
    ) -> Result<Option<T>, StoreError> {
        get(&self.tx.store(META)?, key).await
    }

    async fn put_meta_value<T: serde::Serialize>(
        &self,
        key: &str,
        value: &T,
    ) -> Result<(), StoreError> {
        put_at(&self.tx.store(META)?, key, value)
    }
}

impl ReplicaTx for IdbTx<'_> {
    type Error = StoreError;

    async fn account(&self) -> Result<Option<Account>, StoreError> {
        self.meta_value(keys::ACCOUNT).await
    }

    async fn set_account(&self, account: Option<&Account>) -> Result<(), StoreError> {
        match account {
            Some(account) => self.put_meta_value(keys::ACCOUNT, account).await,
            None => self.tx.store(META)?.delete(&keys::ACCOUNT.into()),
        }
    }

    async fn term(&self) -> Result<u64, StoreError> {
        Ok(self.meta_value::<u64>(keys::TERM).await?.unwrap_or(0))
    }

    async fn set_term(&self, term: u64) -> Result<(), StoreError> {
        self.put_meta_value(keys::TERM, &term).await
    }

    async fn set_cursor(&self, cursor: &str) -> Result<(), StoreError> {
        self.put_meta_value(keys::CURSOR, &cursor).await
    }

    async fn clear_cursor(&self) -> Result<(), StoreError> {
        self.tx.store(META)?.delete(&keys::CURSOR.into())
    }

    async fn clear_data(&self) -> Result<(), StoreError> {
        let term = self.term().await?;
        for store in [OUTBOX, VERSION_META]
            .into_iter()
            .chain(super::schema::RECORD_STORES)
        {
            self.tx.store(store)?.clear().await?;
        }
        // Every key of `Meta` but the tombstones, which sort last.
        let kept = JsValue::from_str(keys::SPENT_STAMPS);
        self.tx.store(META)?.delete(&range::below(&kept, true)?)?;
        self.set_term(term).await
    }

    async fn stamp(&self) -> Result<Option<Stamp>, StoreError> {
        // The newest tombstone is the last key of its range (see [`Stamp`]); it holds
        // the stamp as a plain string: no JSON decoding to link in for it.
        let tombstones = range::between(&spent_key(None), &keys::SPENT_STAMPS_END.into())?;
        let newest = self
            .tx
            .store(META)?
            .cursor(&tombstones, IdbCursorDirection::Prev)
            .await?;
        Ok(match newest {
            Some(newest) => newest.value()?.as_string().map(Stamp::from),
            None => None,
        })
    }

    async fn replace_stamp(&self, spent: Option<&Stamp>, next: &Stamp) -> Result<(), StoreError> {
        // Added, not put: a tombstone there already fails the request, and with it the
        // transaction, when it commits (StoreError::Outdated). Nothing waits for the
        // answer, so a change that trusted its stamp commits without a round trip of
        // reads; and the tombstone holds the next stamp, so spending one and making the
        // next is one request.
        self.tx
            .store(META)?
            .add_at(&next.as_str().into(), &spent_key(spent))
    }

    async fn forget_spent_stamps(&self, bound: &Stamp) -> Result<(), StoreError> {
        let forgotten = range::between(&spent_key(None), &spent_key(Some(bound)))?;
        self.tx.store(META)?.delete(&forgotten)
    }

    async fn entry(&self, event_id: &str) -> Result<Option<OutboxEntry>, StoreError> {
        get(&self.tx.store(OUTBOX)?, event_id).await
    }

    async fn entries(&self, event_ids: &[String]) -> Result<Vec<Option<OutboxEntry>>, StoreError> {
        // A push's verdicts name up to 100 events: one await and one decoding for all.
        get_many(&self.tx.store(OUTBOX)?, event_ids).await
    }

    async fn put_entry(&self, entry: &OutboxEntry) -> Result<(), StoreError> {
        put(&self.tx.store(OUTBOX)?, entry)
    }

    async fn pending_of(&self, model: Model, id: &str) -> Result<Vec<OutboxEntry>, StoreError> {
        // The index holds an event only while it waits to be pushed (sparse).
        let pending = self.tx.store(OUTBOX)?.index(OUTBOX_PENDING_RECORD)?;
        from_js(
            &pending
                .get_all(&pair_key(version_key(model, id)), 0)
                .await?,
        )
    }

    async fn pending_total(&self) -> Result<u32, StoreError> {
        let waiting = waiting_range(self.tx).await?;
        self.tx
            .store(OUTBOX)?
            .index(OUTBOX_QUEUE)?
            .count(&waiting)
            .await
    }

    async fn queue_floor(&self) -> Result<u32, StoreError> {
        queue_floor(self.tx).await
    }

    async fn set_queue_floor(&self, floor: u32) -> Result<(), StoreError> {
        self.put_meta_value(keys::QUEUE_FLOOR, &floor).await
    }

    async fn first_waiting_from(&self, floor: u32) -> Result<Option<u32>, StoreError> {
        let queue = self.tx.store(OUTBOX)?.index(OUTBOX_QUEUE)?;
        let first: Vec<OutboxEntry> = from_js(&queue.get_all(&waiting_from(floor)?, 1).await?)?;
        Ok(first.first().map(|entry| entry.seq))
    }

    async fn applied_bound(&self) -> Result<String, StoreError> {
        if let Some(bound) = self.meta_value::<String>(keys::APPLIED_BOUND).await? {
            return Ok(bound);
        }
        // Not kept yet (a database of schema version 2, or just cleared): work it out
        // from the metadata once, and keep it. Left to a raise, it stayed unkept when no
        // raise followed (a booking reads the metadata it wrote, so its id is no higher),
        // and every later booking and pulled page read all the metadata again.
        let all = self.tx.store(VERSION_META)?;
        let metas: Vec<VersionMeta> = from_js(&all.get_all(&JsValue::UNDEFINED, 0).await?)?;
        let bound = metas
            .into_iter()
            .filter_map(|meta| meta.last_applied_change_id)
            .max()
            .unwrap_or_default();
        self.set_applied_bound(&bound).await?;
        Ok(bound)
    }

    async fn set_applied_bound(&self, id: &str) -> Result<(), StoreError> {
        self.put_meta_value(keys::APPLIED_BOUND, &id).await
    }

    async fn pulled_through(&self) -> Result<String, StoreError> {
        Ok(self
            .meta_value::<String>(keys::PULLED_THROUGH)
            .await?
            .unwrap_or_default())
    }

    async fn set_pulled_through(&self, id: &str) -> Result<(), StoreError> {
        self.put_meta_value(keys::PULLED_THROUGH, &id).await
    }

    async fn has_metas(&self) -> Result<bool, StoreError> {
        // One key, not a count: counting walks the whole store.
        let metas = self.tx.store(VERSION_META)?;
        Ok(metas.get_all_keys(&JsValue::UNDEFINED, 1).await?.length() > 0)
    }

    async fn last_seq(&self) -> Result<u32, StoreError> {
        let by_seq = self.tx.store(OUTBOX)?.index(OUTBOX_BY_SEQ)?;
        // The index key is the sequence number: a key cursor reads it without fetching
        // and decoding the whole entry (every local write asks for it).
        let last = by_seq.first_key(IdbCursorDirection::Prev).await?;
        // Sequence numbers are small positive integers; no entry yet reads as 0.
        Ok(last.as_f64().unwrap_or(0.0) as u32)
    }

    async fn metas(
        &self,
        keys: &[(Model, String)],
    ) -> Result<Vec<Option<VersionMeta>>, StoreError> {
        let store = self.tx.store(VERSION_META)?;
        // Every read is issued before any is awaited: one round trip for the lot, and
        // one decoding.
        let keys = keys
            .iter()
            .map(|(model, id)| pair_key(version_key(*model, id)));
        get_many(&store, keys).await
    }

    async fn put_meta(&self, meta: &VersionMeta) -> Result<(), StoreError> {
        put(&self.tx.store(VERSION_META)?, meta)
    }

    async fn remove_meta(&self, model: Model, id: &str) -> Result<(), StoreError> {
        self.tx
            .store(VERSION_META)?
            .delete(&pair_key(version_key(model, id)))
    }

    async fn record(&self, model: Model, id: &str) -> Result<Option<Record>, StoreError> {
        get_record(&self.tx.store(model.name())?, model, id).await
    }

    async fn put_record(&self, record: &Record) -> Result<(), StoreError> {
        put_record(&self.tx.store(record.model().name())?, record)
    }

    async fn remove_record(&self, model: Model, id: &str) -> Result<(), StoreError> {
        self.tx.store(model.name())?.delete(&id.into())
    }

    async fn write_all(&self, writes: &[Write]) -> Result<(), StoreError> {
        // IndexedDB runs a transaction's requests in the order they were made, so issuing
        // them all before awaiting keeps their order and costs one round trip. Every
        // value goes into one JSON array, parsed by JavaScript once: a pulled page puts
        // two values per record, and crossing from the module to JavaScript once per
        // value cost more than the puts.
        let mut text = Vec::with_capacity(256 * writes.len());
        text.push(b'[');
        for write in writes {
            let value = match write {
                Write::PutRecord(record) => serde_json::to_writer(&mut text, record),
                Write::PutMeta(meta) => serde_json::to_writer(&mut text, meta),
                Write::PutEntry(entry) => serde_json::to_writer(&mut text, entry),
                Write::RemoveRecord(..) => continue,
            };
            value?;
            text.push(b',');
        }
        if text.len() > 1 {
            text.pop();
        }
        text.push(b']');
        let values = to_js_array(&text)?;
        let mut stores = Stores::new(self.tx);
        let mut next = 0;
        for write in writes {
            let store = match write {
                Write::PutRecord(record) => stores.get(record.model().name())?,
                Write::PutMeta(_) => stores.get(VERSION_META)?,
                Write::PutEntry(_) => stores.get(OUTBOX)?,
                Write::RemoveRecord(model, id) => {
                    self.remove_record(*model, id).await?;
                    continue;
                }
            };
            store.put(&values.get(next))?;
            next += 1;
        }
        Ok(())
    }

    async fn todo_ids_of_board(&self, board: Uuid) -> Result<Vec<String>, StoreError> {
        let by_board = self.tx.store(TODO)?.index(TODO_BY_BOARD)?;
        let ids = by_board
            .get_all_keys(&super::queries::board_range(board)?, 0)
            .await?;
        Ok(ids.iter().filter_map(|id| id.as_string()).collect())
    }
}

/// Where the tombstone of a spent stamp is kept in `Meta` (None: the first change's,
/// which spent none, and sorts first).
fn spent_key(stamp: Option<&Stamp>) -> JsValue {
    let stamp = stamp.map(Stamp::as_str).unwrap_or_default();
    JsValue::from_str(&format!("{}{stamp}", keys::SPENT_STAMPS))
}

/// The object stores of one transaction by name, each looked up once.
struct Stores<'a> {
    tx: &'a Tx,
    open: Vec<(&'static str, Store)>,
}

impl<'a> Stores<'a> {
    fn new(tx: &'a Tx) -> Self {
        Stores {
            tx,
            open: Vec::new(),
        }
    }

    fn get(&mut self, name: &'static str) -> Result<&Store, StoreError> {
        let index = match self.open.iter().position(|(open, _)| *open == name) {
            Some(index) => index,
            None => {
                self.open.push((name, self.tx.store(name)?));
                self.open.len() - 1
            }
        };
        Ok(&self.open[index].1)
    }
}
