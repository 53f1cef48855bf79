//! The IndexedDB schema and its upgrades.
//!
//! Each version's step only adds to the previous one (version 6 also clears the sync
//! stamps of version 5, no one's data), and opening runs every step the stored database
//! has not seen, so data written by an older version survives.
//!
//! Booleans are not valid IndexedDB keys, so "unsynced and retryable" is expressed by
//! fields that exist only while it holds (sparse indexes): an event is in the `queue`
//! index exactly while it waits to be pushed.

use crate::replica::meta::keys;
use wasm_bindgen::JsValue;
use web_sys::{IdbDatabase, IdbKeyRange, IdbObjectStore, IdbObjectStoreParameters, IdbTransaction};

/// The schema version this build writes.
pub const VERSION: u32 = 6;

pub const USER: &str = "User";
pub const BOARD: &str = "Board";
pub const TODO: &str = "Todo";
pub const OUTBOX: &str = "OutboxEvent";
pub const VERSION_META: &str = "VersionMeta";
pub const META: &str = "Meta";

/// Boards of a user in creation order: `[userId, createdAt]`.
pub const BOARD_BY_USER: &str = "byUser";
/// Todos of a board in creation order: `[boardId, createdAt]`.
pub const TODO_BY_BOARD: &str = "byBoard";
/// Every event by creation sequence.
pub const OUTBOX_BY_SEQ: &str = "bySeq";
/// Events waiting to be pushed, in creation order (sparse: `queue` = `seq` while pending).
pub const OUTBOX_QUEUE: &str = "queue";
/// Pending events by record, `[model, id]` (sparse), to know whether a record still has
/// an unpushed change.
pub const OUTBOX_PENDING_RECORD: &str = "pendingRecord";
/// Synced events by the time they synced (sparse), for clearing old ones.
pub const OUTBOX_SYNCED_AT: &str = "syncedAtMs";
/// Refused events the person has not dismissed, in creation order (sparse: `refused` =
/// `seq` while the refusal is shown). Added in version 5.
pub const OUTBOX_REFUSED: &str = "refused";

/// Every store, for transactions that may touch any record.
pub const RECORD_STORES: [&str; 3] = [USER, BOARD, TODO];

/// Runs the steps from `old_version` up to `new_version`, in the upgrade transaction `tx`.
pub fn upgrade(
    db: &IdbDatabase,
    tx: &IdbTransaction,
    old_version: u32,
    new_version: u32,
) -> Result<(), JsValue> {
    if old_version < 1 && new_version >= 1 {
        version_1(db)?;
    }
    if old_version < 2 && new_version >= 2 {
        version_2(db)?;
    }
    // Version 3 changes no store. It keeps the applied bound in `Meta`
    // (`keys::APPLIED_BOUND`), which pulled pages rely on to skip the records'
    // metadata; a build of version 2 would apply changes without raising it, so opening
    // at version 3 closes its connections (it then asks for a reload). The first
    // transaction that needs the bound works it out from the metadata.
    //
    // Version 4 changes no store either. Every local change, sign-in and sign-out
    // spends the stamp in `Meta` (`replica::meta::Stamp`), on which a create of another
    // tab relies to skip its reads; a build of version 3 would write without spending
    // it, so it must not share the database.
    if old_version < 5 && new_version >= 5 {
        version_5(tx)?;
    }
    if old_version < 6 && new_version >= 6 {
        version_6(tx)?;
    }
    Ok(())
}

/// The first layout: the records, the outbox and the per-record sync metadata.
fn version_1(db: &IdbDatabase) -> Result<(), JsValue> {
    store(db, USER, &JsValue::from_str("id"))?;
    store(db, BOARD, &JsValue::from_str("id"))?
        .create_index_with_str_sequence(BOARD_BY_USER, &pair("userId", "createdAt"))?;
    store(db, TODO, &JsValue::from_str("id"))?
        .create_index_with_str_sequence(TODO_BY_BOARD, &pair("boardId", "createdAt"))?;
    let outbox = store(db, OUTBOX, &JsValue::from_str("id"))?;
    outbox.create_index_with_str(OUTBOX_BY_SEQ, "seq")?;
    outbox.create_index_with_str(OUTBOX_QUEUE, "queue")?;
    outbox.create_index_with_str(OUTBOX_PENDING_RECORD, "pendingRecord")?;
    outbox.create_index_with_str(OUTBOX_SYNCED_AT, "syncedAtMs")?;
    store(db, VERSION_META, &pair("model", "key"))?;
    Ok(())
}

/// Version 2 keeps the pull cursor, the signed-in account and the outbox sequence in
/// the database (version 1 left them to the page), so the worker can resume a pull and
/// write atomically with the data they describe.
fn version_2(db: &IdbDatabase) -> Result<(), JsValue> {
    db.create_object_store(META)?;
    Ok(())
}

/// Version 5 indexes the refusals still shown. The page asks for them after every push,
/// and without the index it had to count the whole outbox to know there were none:
/// IndexedDB counts by walking the entries, so every push cost more as synced events
/// piled up. Entries written before carry the field already; the browser indexes them.
fn version_5(tx: &IdbTransaction) -> Result<(), JsValue> {
    tx.object_store(OUTBOX)?
        .create_index_with_str(OUTBOX_REFUSED, "refused")?;
    Ok(())
}

/// Version 6 keeps the stamp in the newest tombstone, which holds the stamp that spent
/// it, rather than under a key of its own: spending a stamp and making the next is one
/// request. The stamp and the tombstones of version 5 are cleared (version-5 tombstones
/// hold no stamp). Nothing trusts them by now: opening at version 6 closed every
/// connection of an older build, and a context of this build trusts only a stamp it
/// made after opening.
fn version_6(tx: &IdbTransaction) -> Result<(), JsValue> {
    let meta = tx.object_store(META)?;
    meta.delete(&"stamp".into())?;
    let tombstones =
        IdbKeyRange::bound(&keys::SPENT_STAMPS.into(), &keys::SPENT_STAMPS_END.into())?;
    meta.delete(&tombstones)?;
    Ok(())
}

/// Creates a store whose values carry their key at `key_path`.
fn store(db: &IdbDatabase, name: &str, key_path: &JsValue) -> Result<IdbObjectStore, JsValue> {
    let parameters = IdbObjectStoreParameters::new();
    parameters.set_key_path(key_path);
    db.create_object_store_with_optional_parameters(name, &parameters)
}

/// A compound key path.
fn pair(first: &str, second: &str) -> JsValue {
    js_sys::Array::of2(&first.into(), &second.into()).into()
}
