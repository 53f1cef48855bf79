//! The local store: IndexedDB, the app's source of truth, shared by the page (which
//! reads and writes it directly) and the sync worker (which pushes its outbox and
//! applies pulled changes to it).
//!
//! Every local change is one readwrite transaction over the record, its outbox event and
//! its sync metadata, so they commit together or not at all. Inside a transaction only
//! IndexedDB requests are awaited: awaiting anything else (fetch, timers) would let the
//! browser commit it early.

mod error;
mod idb;
mod mutations;
pub mod notify;
mod outbox;
mod pull;
mod queries;
mod records;
mod replica_tx;
pub mod schema;
mod sync_store;

pub use crate::replica::{Account, OutboxEntry, OutboxStats, TodoEdit, Touched, VersionMeta};
pub use error::StoreError;
pub use queries::{todo_order, BoardWithTodos, BoardsSnapshot, RecordsById};

use idb::Tx;
use notify::{Change, ChangeListener, ChangeNotifier, ChangeOrigin};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::cell::RefCell;
use std::rc::Rc;
use sync_protocol::Timestamp;
use wasm_bindgen::{JsCast, JsValue};
use web_sys::IdbDatabase;

/// The database every context of the app opens.
pub const DATABASE_NAME: &str = "boards-sync";

/// A handle on the local database. Cheap to clone; clones share one connection.
#[derive(Clone)]
pub struct LocalStore {
    name: Rc<str>,
    connection: Rc<RefCell<Option<IdbDatabase>>>,
    notifier: Rc<ChangeNotifier>,
    /// Fault injection for tests: fail the next write transaction after its writes,
    /// just before it would commit.
    abort_next_write: Rc<std::cell::Cell<bool>>,
    /// What this context's last local change left, for the next create to trust.
    expected: Rc<std::cell::RefCell<Option<crate::replica::local::Expected>>>,
    /// The time of this context's last local change, in milliseconds (see
    /// [`LocalStore::change_time`]).
    last_change_at: Rc<std::cell::Cell<i64>>,
}

impl LocalStore {
    /// Opens (creating or upgrading) the app's database.
    pub async fn open() -> Result<LocalStore, StoreError> {
        LocalStore::open_named(DATABASE_NAME).await
    }

    /// Opens a database by name (tests use their own).
    pub async fn open_named(name: &str) -> Result<LocalStore, StoreError> {
        let store = LocalStore {
            name: name.into(),
            connection: Rc::new(RefCell::new(None)),
            notifier: Rc::new(ChangeNotifier::new()),
            abort_next_write: Rc::default(),
            expected: Rc::default(),
            last_change_at: Rc::default(),
        };
        store.db().await?;
        Ok(store)
    }

    /// Deletes a database and everything in it (sign-out, tests).
    pub async fn delete_database(name: &str) -> Result<(), StoreError> {
        idb::delete_database(name).await
    }

    /// Closes this context's connection (the next call reopens it).
    pub fn close(&self) {
        if let Some(db) = self.connection.borrow_mut().take() {
            db.close();
        }
    }

    /// The open connection, opened on first use and again after a version change closed it.
    pub(crate) async fn db(&self) -> Result<IdbDatabase, StoreError> {
        if let Some(db) = self.connection.borrow().as_ref() {
            return Ok(db.clone());
        }
        let db = open_database(&self.name, schema::VERSION).await?;
        self.watch_version_changes(&db);
        *self.connection.borrow_mut() = Some(db.clone());
        Ok(db)
    }

    /// When another tab upgrades the database, close ours so the upgrade is not blocked;
    /// the next operation reopens it (and, if this build is older, reports that a reload
    /// is needed).
    fn watch_version_changes(&self, db: &IdbDatabase) {
        let connection = Rc::downgrade(&self.connection);
        idb::on_version_change(db, move || {
            if let Some(connection) = connection.upgrade() {
                if let Some(db) = connection.borrow_mut().take() {
                    db.close();
                }
            }
        });
    }

    /// Makes the next write transaction fail after all its writes, before it commits:
    /// for tests that prove a failed write leaves nothing behind.
    #[doc(hidden)]
    pub fn abort_next_write(&self) {
        self.abort_next_write.set(true);
    }

    /// Commits a write transaction, unless a test asked for it to fail (dropping an
    /// uncommitted transaction aborts it).
    pub(crate) async fn commit(&self, tx: Tx) -> Result<(), StoreError> {
        self.commit_and_tell(tx, &Touched::default(), ChangeOrigin::Local)
            .await
    }

    /// Commits a write transaction (as [`Self::commit`]) and tells every context, this
    /// one too, which records it changed.
    ///
    /// The notice goes out as soon as the commit is requested, while the database
    /// writes, rather than after: a context that reads on hearing it opens its
    /// transaction after this one, and IndexedDB starts no transaction over the same
    /// stores before an earlier read-write one has finished, so the read sees these
    /// writes. Should the commit fail after all, the notice costs a needless read.
    pub(crate) async fn commit_and_tell(
        &self,
        tx: Tx,
        touched: &Touched,
        origin: ChangeOrigin,
    ) -> Result<(), StoreError> {
        if self.abort_next_write.take() {
            drop(tx);
            return Err(StoreError::Aborted("aborted by the test".into()));
        }
        tx.commit(|| {
            if !touched.is_empty() {
                self.notifier.post(Change::new(touched, origin));
            }
        })
        .await
    }

    /// Calls `callback` with every change notice, from this context or any other, until
    /// the returned listener is dropped (None without BroadcastChannel).
    pub fn watch(&self, callback: impl Fn(&Change) + 'static) -> Option<ChangeListener> {
        ChangeListener::new(move |change| callback(&change))
    }
}

/// Opens `name` at `version`, running the schema steps it has not seen.
pub(crate) async fn open_database(name: &str, version: u32) -> Result<IdbDatabase, StoreError> {
    idb::open(name, version, move |db, tx, old_version| {
        schema::upgrade(db, tx, old_version, version)
    })
    .await
}

/// Opens a database at an older schema version, as a build of that version would have
/// made it (for upgrade tests).
#[doc(hidden)]
pub async fn create_database_at_version(name: &str, version: u32) -> Result<(), StoreError> {
    open_database(name, version).await?.close();
    Ok(())
}

impl LocalStore {
    /// The time of a local change: now, but always after this context's previous one.
    /// Two todos added within a millisecond (a fast write takes less) would otherwise
    /// share a creation time and list in the order of their random ids.
    pub(crate) fn change_time(&self) -> Timestamp {
        let at = (js_sys::Date::now() as i64).max(self.last_change_at.get() + 1);
        self.last_change_at.set(at);
        Timestamp::from_millis(at)
    }
}

pub(crate) fn readwrite(db: &IdbDatabase, stores: &[&'static str]) -> Result<Tx, StoreError> {
    Tx::new(db, stores, true)
}

pub(crate) fn readonly(db: &IdbDatabase, stores: &[&'static str]) -> Result<Tx, StoreError> {
    Tx::new(db, stores, false)
}

// Stored values go through JSON text: serde_json to write, JSON.parse to make the
// object IndexedDB clones, and back through JSON.stringify and serde_json to read.
// serde_json is in the module anyway (HTTP, the page↔worker messages), whereas
// serde-wasm-bindgen instantiated a second (de)serialiser for every stored type: about
// 5 KB of the gzipped download. Data that serde-wasm-bindgen wrote still reads: it left
// a `None` (and a JSON null inside an event's payload) as an undefined property, which
// JSON.stringify drops, and serde reads a missing `Option` field as `None`. Index key
// paths see the same values: the sparse indexes' fields are skipped when `None`, so
// they stay absent rather than null.

/// A value as IndexedDB stores it.
pub(crate) fn to_js<V: Serialize>(value: &V) -> Result<JsValue, StoreError> {
    parse_json(serde_json::to_string(value)?.as_bytes())
}

/// The values of a JSON array written by serde_json, as IndexedDB stores them: one
/// `JSON.parse` for all of them (see `IdbTx::write_all`).
pub(crate) fn to_js_array(json: &[u8]) -> Result<js_sys::Array, StoreError> {
    Ok(parse_json(json)?.unchecked_into())
}

/// JSON text that serde_json wrote, parsed by JavaScript.
fn parse_json(json: &[u8]) -> Result<JsValue, StoreError> {
    std::str::from_utf8(json)
        .ok()
        .and_then(|text| js_sys::JSON::parse(text).ok())
        .ok_or_else(|| StoreError::InvalidData("a value did not convert to JSON".into()))
}

/// A stored value read back (or all the values of a getAll, read back as one array:
/// one JSON text for the lot).
pub(crate) fn from_js<V: DeserializeOwned>(value: &JsValue) -> Result<V, StoreError> {
    let text = js_sys::JSON::stringify(value)
        .ok()
        .and_then(|text| text.as_string())
        .ok_or_else(|| StoreError::InvalidData("a stored value is not JSON".into()))?;
    Ok(serde_json::from_str(&text)?)
}

/// The values under `keys` in one store (`None`: no such key), read as
/// [`idb::Store::get_many`] does and decoded as one JSON text: what reading a hundred
/// records costs is mostly crossing into the module, once for all of them here.
pub(crate) async fn get_many<V: DeserializeOwned>(
    store: &idb::Store,
    keys: impl IntoIterator<Item = impl Into<JsValue>>,
) -> Result<Vec<Option<V>>, StoreError> {
    let values = store.get_many(keys.into_iter().map(Into::into)).await?;
    // JSON.stringify writes an undefined element as null, which reads as None.
    from_js(&values.into())
}

/// A compound key `[first, second]`: the version metadata's `(model, id)`, or a bound
/// of a two-part index.
pub(crate) fn pair_key((first, second): (impl Into<JsValue>, impl Into<JsValue>)) -> JsValue {
    js_sys::Array::of2(&first.into(), &second.into()).into()
}

/// Reads one value by key (a string, or [`pair_key`] for a compound key).
pub(crate) async fn get<V: DeserializeOwned>(
    store: &idb::Store,
    key: impl Into<JsValue>,
) -> Result<Option<V>, StoreError> {
    let value = store.get(&key.into()).await?;
    match value.is_undefined() {
        true => Ok(None),
        false => from_js(&value).map(Some),
    }
}

/// Writes one value whose key is inside it (in-line key path).
pub(crate) fn put<V: Serialize>(store: &idb::Store, value: &V) -> Result<(), StoreError> {
    store.put(&to_js(value)?)
}

/// Writes one value under `key` (out-of-line key).
pub(crate) fn put_at<V: Serialize>(
    store: &idb::Store,
    key: &str,
    value: &V,
) -> Result<(), StoreError> {
    store.put_at(&to_js(value)?, &JsValue::from_str(key))
}
