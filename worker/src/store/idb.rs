//! IndexedDB as the store uses it, straight over the browser's API: a request is a
//! future of its result, a transaction aborts unless it is committed, and a failure is
//! a [`StoreError`].
//!
//! This replaced the `indexed_db_futures` crate. The store issues a few requests per
//! transaction and decodes values itself (one JSON text per batch, see `super::to_js`),
//! so what it needs is small; the crate's typed layers cost the download 26 KB gzipped
//! (its error messages alone linked the formatting of floating-point numbers), and each
//! request and transaction paid for closures and a channel in the module. Here
//! a request's events resolve a promise directly, and a transaction's scope (its list of
//! store names) is built once per distinct scope.

use super::StoreError;
use js_sys::{Array, Promise};
use std::cell::RefCell;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::{JsCast, JsValue};
use wasm_bindgen_futures::JsFuture;
use web_sys::{
    DomException, IdbCursor, IdbCursorDirection, IdbCursorWithValue, IdbDatabase, IdbFactory,
    IdbIndex, IdbObjectStore, IdbOpenDbRequest, IdbRequest, IdbTransaction, IdbTransactionMode,
    IdbVersionChangeEvent,
};

/// What a request settled to: its result, or the error the browser gave for it.
async fn settle(request: &IdbRequest) -> Result<JsValue, StoreError> {
    // The promise's own functions are the event handlers: no closure of ours per request.
    let events = Promise::new(&mut |resolve, reject| {
        request.set_onsuccess(Some(&resolve));
        request.set_onerror(Some(&reject));
    });
    match JsFuture::from(events).await {
        Ok(_) => request.result().map_err(js_error),
        Err(_) => Err(request
            .error()
            .ok()
            .flatten()
            .map(|error| StoreError::from_dom_exception(&error))
            .unwrap_or_else(|| StoreError::Aborted("a request failed".into()))),
    }
}

/// A failed call into IndexedDB (most throw a DOMException).
pub(crate) fn js_error(error: JsValue) -> StoreError {
    match error.dyn_into::<DomException>() {
        Ok(exception) => StoreError::from_dom_exception(&exception),
        Err(other) => StoreError::Aborted(
            other
                .dyn_ref::<js_sys::Error>()
                .map(|error| String::from(error.message()))
                .unwrap_or_else(|| "the database failed without saying why".into()),
        ),
    }
}

fn factory() -> Result<IdbFactory, StoreError> {
    js_sys::Reflect::get(&js_sys::global(), &JsValue::from_str("indexedDB"))
        .ok()
        .and_then(|factory| factory.dyn_into::<IdbFactory>().ok())
        .ok_or_else(|| StoreError::Unavailable("IndexedDB is not available".into()))
}

/// Opens `name` at `version`; `upgrade(db, tx, old_version)` runs inside the upgrade
/// transaction `tx` when the stored database is older (or new: version 0).
pub(crate) async fn open(
    name: &str,
    version: u32,
    upgrade: impl Fn(&IdbDatabase, &IdbTransaction, u32) -> Result<(), JsValue> + 'static,
) -> Result<IdbDatabase, StoreError> {
    let request: IdbOpenDbRequest = factory()?
        .open_with_u32(name, version)
        .map_err(|e| unavailable(js_error(e)))?;
    let on_upgrade = Closure::<dyn FnMut(IdbVersionChangeEvent)>::new({
        let request = request.clone();
        move |event: IdbVersionChangeEvent| {
            let tx = request.transaction();
            let db = request.result().ok().and_then(|db| db.dyn_into().ok());
            let upgraded = match (db, &tx) {
                (Some(db), Some(tx)) => upgrade(&db, tx, event.old_version() as u32).is_ok(),
                _ => false,
            };
            if !upgraded {
                // The upgrade transaction aborts, and the open fails with it.
                if let Some(tx) = tx {
                    let _ = tx.abort();
                }
            }
        }
    });
    request.set_onupgradeneeded(Some(on_upgrade.as_ref().unchecked_ref()));
    let opened = settle(&request).await;
    request.set_onupgradeneeded(None);
    let db = opened.map_err(unavailable)?;
    db.dyn_into().map_err(js_error)
}

/// A database that fails to open makes the store unavailable, unless the failure says
/// what to do (a newer version elsewhere, a full disk).
fn unavailable(error: StoreError) -> StoreError {
    match error {
        StoreError::Aborted(message) => StoreError::Unavailable(message),
        other => other,
    }
}

/// Deletes the database `name` (waiting until every connection to it closed).
pub(crate) async fn delete_database(name: &str) -> Result<(), StoreError> {
    let request = factory()?.delete_database(name).map_err(js_error)?;
    settle(&request).await.map(drop)
}

/// Calls `on_change` once another connection asks to upgrade `db` (another tab with a
/// newer build): the connection must close for the upgrade to go ahead.
pub(crate) fn on_version_change(db: &IdbDatabase, on_change: impl FnOnce() + 'static) {
    let on_change = Closure::once_into_js(on_change);
    db.set_onversionchange(Some(on_change.unchecked_ref()));
}

/// A transaction's scope as the browser takes it: one array per distinct list of store
/// names, built once.
fn scope(stores: &[&'static str]) -> Array {
    thread_local! {
        static SCOPES: RefCell<Vec<(Vec<&'static str>, Array)>> = const { RefCell::new(Vec::new()) };
    }
    SCOPES.with_borrow_mut(|scopes| {
        if let Some((_, array)) = scopes.iter().find(|(names, _)| names == stores) {
            return array.clone();
        }
        let array: Array = stores.iter().map(|name| JsValue::from_str(name)).collect();
        scopes.push((stores.to_vec(), array.clone()));
        array
    })
}

/// One transaction. Dropping a read-write one before [`Tx::commit`] aborts it, with
/// every write made in it: a change that fails halfway leaves nothing behind.
pub(crate) struct Tx {
    tx: IdbTransaction,
    /// Settles when the transaction completes or aborts (readwrite transactions only,
    /// listened to from the start so that no event is missed).
    outcome: Option<JsFuture>,
    /// Committed, or read-only: nothing to abort when dropped.
    finished: bool,
}

impl Tx {
    pub(crate) fn new(
        db: &IdbDatabase,
        stores: &[&'static str],
        writes: bool,
    ) -> Result<Tx, StoreError> {
        let mode = if writes {
            IdbTransactionMode::Readwrite
        } else {
            IdbTransactionMode::Readonly
        };
        let tx = db
            .transaction_with_str_sequence_and_mode(&scope(stores), mode)
            .map_err(js_error)?;
        let outcome = writes.then(|| {
            JsFuture::from(Promise::new(&mut |resolve, reject| {
                tx.set_oncomplete(Some(&resolve));
                tx.set_onabort(Some(&reject));
            }))
        });
        Ok(Tx {
            tx,
            outcome,
            // A read-only transaction finishes on its own once its reads are answered.
            // Aborting it when dropped, usually after it finished, cost an exception
            // each time: about 0.4 ms of the page's read after every change notice.
            finished: !writes,
        })
    }

    pub(crate) fn store(&self, name: &str) -> Result<Store, StoreError> {
        self.tx.object_store(name).map(Store).map_err(js_error)
    }

    /// Commits every write made in this transaction and waits until they are durable as
    /// the browser defines it; fails, with nothing written, if the transaction aborted.
    /// `meanwhile` runs once the commit is requested, while the database writes.
    pub(crate) async fn commit(mut self, meanwhile: impl FnOnce()) -> Result<(), StoreError> {
        self.finished = true;
        // web-sys marks `commit()` deprecated (its IDL was), but every current browser
        // has it, and committing at once saves waiting for the transaction to notice it
        // has no more requests.
        #[allow(deprecated)]
        self.tx.commit().map_err(js_error)?;
        meanwhile();
        match self.outcome.take() {
            Some(outcome) => outcome.await.map(drop).map_err(|_| self.abort_reason()),
            None => Ok(()),
        }
    }

    fn abort_reason(&self) -> StoreError {
        match self.tx.error() {
            Some(error) => StoreError::from_dom_exception(&error),
            None => StoreError::Aborted("the transaction was aborted".into()),
        }
    }
}

impl Drop for Tx {
    fn drop(&mut self) {
        if !self.finished {
            // It may have aborted on its own already; nothing to undo then.
            let _ = self.tx.abort();
        }
    }
}

/// An object store or one of its indexes: what reads can be made through.
pub(crate) trait Source {
    fn get_all_request(&self, query: &JsValue, limit: u32) -> Result<IdbRequest, JsValue>;
    fn get_all_keys_request(&self, query: &JsValue, limit: u32) -> Result<IdbRequest, JsValue>;
    fn count_request(&self, query: &JsValue) -> Result<IdbRequest, JsValue>;
    fn cursor_request(
        &self,
        query: &JsValue,
        direction: IdbCursorDirection,
        values: bool,
    ) -> Result<IdbRequest, JsValue>;

    /// The values in `query` (every value for `JsValue::UNDEFINED`), in key order, at
    /// most `limit` of them (0: no limit), as one array (decoded whole by `from_js`).
    async fn get_all(&self, query: &JsValue, limit: u32) -> Result<JsValue, StoreError> {
        let request = self.get_all_request(query, limit).map_err(js_error)?;
        settle(&request).await
    }

    /// The primary keys in `query`, as [`Source::get_all`] takes them.
    async fn get_all_keys(&self, query: &JsValue, limit: u32) -> Result<Array, StoreError> {
        let request = self.get_all_keys_request(query, limit).map_err(js_error)?;
        Ok(settle(&request).await?.unchecked_into())
    }

    /// How many values `query` holds (every value for `JsValue::UNDEFINED`).
    async fn count(&self, query: &JsValue) -> Result<u32, StoreError> {
        let request = self.count_request(query).map_err(js_error)?;
        // A count is an integer well below 2^32 here.
        Ok(settle(&request).await?.as_f64().unwrap_or(0.0) as u32)
    }

    /// A cursor over `query` in `direction`, on its first value (None: nothing there).
    async fn cursor(
        &self,
        query: &JsValue,
        direction: IdbCursorDirection,
    ) -> Result<Option<Cursor>, StoreError> {
        let request = self
            .cursor_request(query, direction, true)
            .map_err(js_error)?;
        Cursor::first(request).await
    }

    /// The first key in `direction` (the index's key for an index), without its value.
    async fn first_key(&self, direction: IdbCursorDirection) -> Result<JsValue, StoreError> {
        let request = self
            .cursor_request(&JsValue::UNDEFINED, direction, false)
            .map_err(js_error)?;
        let cursor = settle(&request).await?;
        Ok(match cursor.dyn_into::<IdbCursor>() {
            Ok(cursor) => cursor.key().map_err(js_error)?,
            Err(_) => JsValue::UNDEFINED,
        })
    }
}

/// An object store of a transaction.
pub(crate) struct Store(IdbObjectStore);

impl Store {
    pub(crate) fn index(&self, name: &str) -> Result<Index, StoreError> {
        self.0.index(name).map(Index).map_err(js_error)
    }

    /// The value under `key` (a string, or an array for a compound key), or `undefined`.
    pub(crate) async fn get(&self, key: &JsValue) -> Result<JsValue, StoreError> {
        let request = self.0.get(key).map_err(js_error)?;
        settle(&request).await
    }

    /// The values under `keys`, in order, as one array (`undefined` where there is
    /// none; decoded whole by `from_js`). Every request is issued at once and only the
    /// last is awaited: a transaction answers its requests in the order they were made,
    /// so once the last has succeeded so has every other (had one failed, the
    /// transaction would have aborted and the last failed with it). Awaiting each cost a
    /// promise, a wake and a poll of the module per value: most of the time a page of
    /// reads took on the thread.
    pub(crate) async fn get_many(
        &self,
        keys: impl IntoIterator<Item = JsValue>,
    ) -> Result<Array, StoreError> {
        let requests = keys
            .into_iter()
            .map(|key| self.0.get(&key).map_err(js_error))
            .collect::<Result<Vec<IdbRequest>, StoreError>>()?;
        if let Some(last) = requests.last() {
            settle(last).await?;
        }
        requests
            .iter()
            .map(|request| request.result().map_err(js_error))
            .collect()
    }

    // Writes are issued and not awaited: a transaction runs its requests in order, so a
    // later read sees them, and a write that fails aborts the transaction, which its
    // commit then reports. Awaiting each would cost a round trip for nothing.

    /// Writes a value whose key is inside it (in-line key path).
    pub(crate) fn put(&self, value: &JsValue) -> Result<(), StoreError> {
        self.0.put(value).map(drop).map_err(js_error)
    }

    /// Writes a value under `key` (out-of-line key).
    pub(crate) fn put_at(&self, value: &JsValue, key: &JsValue) -> Result<(), StoreError> {
        self.0.put_with_key(value, key).map(drop).map_err(js_error)
    }

    /// Writes a value under `key` (out-of-line key) that must not be there yet. If it
    /// is, the request fails and, as nothing handles its error, the transaction aborts
    /// with a `ConstraintError`.
    pub(crate) fn add_at(&self, value: &JsValue, key: &JsValue) -> Result<(), StoreError> {
        self.0.add_with_key(value, key).map(drop).map_err(js_error)
    }

    /// Deletes the value at `key`, or every value in a key range.
    pub(crate) fn delete(&self, key: &JsValue) -> Result<(), StoreError> {
        self.0.delete(key).map(drop).map_err(js_error)
    }

    /// Deletes every value.
    pub(crate) async fn clear(&self) -> Result<(), StoreError> {
        let request = self.0.clear().map_err(js_error)?;
        settle(&request).await.map(drop)
    }
}

/// An index of an object store.
pub(crate) struct Index(IdbIndex);

/// Object stores and indexes answer the same read requests (web-sys gives each its own
/// methods, with the same names).
macro_rules! impl_source {
    ($source:ty) => {
        impl Source for $source {
            fn get_all_request(&self, query: &JsValue, limit: u32) -> Result<IdbRequest, JsValue> {
                self.0.get_all_with_key_and_limit(query, limit)
            }

            fn get_all_keys_request(
                &self,
                query: &JsValue,
                limit: u32,
            ) -> Result<IdbRequest, JsValue> {
                self.0.get_all_keys_with_key_and_limit(query, limit)
            }

            fn count_request(&self, query: &JsValue) -> Result<IdbRequest, JsValue> {
                self.0.count_with_key(query)
            }

            fn cursor_request(
                &self,
                query: &JsValue,
                direction: IdbCursorDirection,
                values: bool,
            ) -> Result<IdbRequest, JsValue> {
                match values {
                    true => self
                        .0
                        .open_cursor_with_range_and_direction(query, direction),
                    false => self
                        .0
                        .open_key_cursor_with_range_and_direction(query, direction),
                }
            }
        }
    };
}

impl_source!(Store);
impl_source!(Index);

/// A cursor on a value.
pub(crate) struct Cursor {
    request: IdbRequest,
    cursor: IdbCursorWithValue,
}

impl Cursor {
    async fn first(request: IdbRequest) -> Result<Option<Cursor>, StoreError> {
        let cursor = settle(&request).await?;
        Ok(cursor
            .dyn_into::<IdbCursorWithValue>()
            .ok()
            .map(|cursor| Cursor { request, cursor }))
    }

    pub(crate) fn value(&self) -> Result<JsValue, StoreError> {
        self.cursor.value().map_err(js_error)
    }

    /// Deletes the value under the cursor (issued, not awaited, like other writes).
    pub(crate) fn delete(&self) -> Result<(), StoreError> {
        self.cursor.delete().map(drop).map_err(js_error)
    }

    /// Moves to the next value; None at the end.
    pub(crate) async fn next(self) -> Result<Option<Cursor>, StoreError> {
        self.cursor.continue_().map_err(js_error)?;
        Cursor::first(self.request).await
    }
}

/// Key ranges, as IndexedDB takes them for a query.
pub(crate) mod range {
    use super::{js_error, StoreError};
    use wasm_bindgen::JsValue;
    use web_sys::IdbKeyRange;

    /// Keys above `lower` (`open`: not `lower` itself).
    pub(crate) fn above(lower: &JsValue, open: bool) -> Result<JsValue, StoreError> {
        Ok(IdbKeyRange::lower_bound_with_open(lower, open)
            .map_err(js_error)?
            .into())
    }

    /// Keys below `upper` (`open`: not `upper` itself).
    pub(crate) fn below(upper: &JsValue, open: bool) -> Result<JsValue, StoreError> {
        Ok(IdbKeyRange::upper_bound_with_open(upper, open)
            .map_err(js_error)?
            .into())
    }

    /// Keys from `lower` to `upper`, both included.
    pub(crate) fn between(lower: &JsValue, upper: &JsValue) -> Result<JsValue, StoreError> {
        Ok(IdbKeyRange::bound(lower, upper).map_err(js_error)?.into())
    }
}
