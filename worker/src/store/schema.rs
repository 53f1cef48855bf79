//! The IndexedDB schema and its upgrades.
//!
//! Each version's step only adds to the previous one, and opening runs every step the
//! stored database has not seen, so data written by an older version survives. An index
//! can only be created together with its store (indexed_db_futures cannot reach the
//! upgrade transaction to add one later), so a new index means a new store and a copy.
//!
//! Booleans are not valid IndexedDB keys, so "unsynced and retryable" is expressed by
//! fields that exist only while it holds (sparse indexes): an event is in the `queue`
//! index exactly while it waits to be pushed.

use indexed_db_futures::database::Database;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyPath;

/// The schema version this build writes.
pub const VERSION: u32 = 3;

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

/// Every store, for transactions that may touch any record.
pub const RECORD_STORES: [&str; 3] = [USER, BOARD, TODO];

/// Runs the steps from `old_version` up to `new_version`.
pub fn upgrade(
    db: &Database,
    old_version: u32,
    new_version: u32,
) -> indexed_db_futures::Result<()> {
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
    Ok(())
}

/// The first layout: the records, the outbox and the per-record sync metadata.
fn version_1(db: &Database) -> indexed_db_futures::Result<()> {
    db.create_object_store(USER)
        .with_key_path("id".into())
        .build()?;
    let boards = db
        .create_object_store(BOARD)
        .with_key_path("id".into())
        .build()?;
    boards
        .create_index(BOARD_BY_USER, KeyPath::from(["userId", "createdAt"]))
        .build()?;
    let todos = db
        .create_object_store(TODO)
        .with_key_path("id".into())
        .build()?;
    todos
        .create_index(TODO_BY_BOARD, KeyPath::from(["boardId", "createdAt"]))
        .build()?;
    let outbox = db
        .create_object_store(OUTBOX)
        .with_key_path("id".into())
        .build()?;
    outbox.create_index(OUTBOX_BY_SEQ, "seq".into()).build()?;
    outbox.create_index(OUTBOX_QUEUE, "queue".into()).build()?;
    outbox
        .create_index(OUTBOX_PENDING_RECORD, "pendingRecord".into())
        .build()?;
    outbox
        .create_index(OUTBOX_SYNCED_AT, "syncedAtMs".into())
        .build()?;
    db.create_object_store(VERSION_META)
        .with_key_path(KeyPath::from(["model", "key"]))
        .build()?;
    Ok(())
}

/// Version 2 keeps the pull cursor, the signed-in account and the outbox sequence in
/// the database (version 1 left them to the page), so the worker can resume a pull and
/// write atomically with the data they describe.
fn version_2(db: &Database) -> indexed_db_futures::Result<()> {
    db.create_object_store(META).build()?;
    Ok(())
}
