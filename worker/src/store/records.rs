//! Reading and writing records of any model in their stores.

use super::idb::Store;
use super::{get, put, StoreError};
use sync_protocol::{Board, Model, Record, Todo, User};

/// Writes a record into its model's store (which `store` must be).
pub(crate) fn put_record(store: &Store, record: &Record) -> Result<(), StoreError> {
    put(store, record)
}

/// Reads a record of `model` from its store (which `store` must be).
pub(crate) async fn get_record(
    store: &Store,
    model: Model,
    id: &str,
) -> Result<Option<Record>, StoreError> {
    let key = wasm_bindgen::JsValue::from_str(id);
    Ok(match model {
        Model::User => get::<User>(store, key).await?.map(Record::User),
        Model::Board => get::<Board>(store, key).await?.map(Record::Board),
        Model::Todo => get::<Todo>(store, key).await?.map(Record::Todo),
    })
}
