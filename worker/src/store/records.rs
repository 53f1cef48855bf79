//! Reading and writing records of any model in their stores.

use super::{get, put, StoreError};
use indexed_db_futures::object_store::ObjectStore;
use sync_protocol::{Board, Model, Record, Todo, User};

/// Writes a record into its model's store (which `store` must be).
pub(crate) async fn put_record(store: &ObjectStore<'_>, record: &Record) -> Result<(), StoreError> {
    put(store, record).await
}

/// Reads a record of `model` from its store (which `store` must be).
pub(crate) async fn get_record(
    store: &ObjectStore<'_>,
    model: Model,
    id: &str,
) -> Result<Option<Record>, StoreError> {
    let key = id.to_string();
    Ok(match model {
        Model::User => get::<User, _>(store, key).await?.map(Record::User),
        Model::Board => get::<Board, _>(store, key).await?.map(Record::Board),
        Model::Todo => get::<Todo, _>(store, key).await?.map(Record::Todo),
    })
}
