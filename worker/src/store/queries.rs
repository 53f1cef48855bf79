//! What the app reads: boards with their todos, the account, the pull cursor.

use super::notify::ChangeOrigin;
use super::replica_tx::IdbTx;
use super::schema::{
    BOARD, BOARD_BY_USER, META, OUTBOX, RECORD_STORES, TODO, TODO_BY_BOARD, USER, VERSION_META,
};
use super::{get, readonly, readwrite, LocalStore, StoreError};
use crate::replica::meta::keys;
use crate::replica::{local, Account, ReplicaTx};
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;
use serde::de::DeserializeOwned;
use sync_protocol::{Board, Model, Todo, User};
use uuid::Uuid;

/// A board and its todos, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardWithTodos {
    pub board: Board,
    pub todos: Vec<Todo>,
}

impl LocalStore {
    /// The signed-in user's boards with their todos, both in creation order.
    pub async fn boards_with_todos(&self) -> Result<Vec<BoardWithTodos>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[BOARD, TODO, META])?;
        let Some(account) = get::<Account, _>(&tx.object_store(META)?, keys::ACCOUNT).await? else {
            return Ok(Vec::new());
        };
        let user = account.user.id.to_string();
        let boards: Vec<Board> = collect(
            tx.object_store(BOARD)?
                .index(BOARD_BY_USER)?
                .get_all()
                .with_query(KeyRange::Bound(
                    (user.clone(), serde_json::Value::String(String::new())),
                    false,
                    (user, serde_json::Value::Array(Vec::new())),
                    false,
                ))
                .serde()?
                .await?,
        )?;
        let todos = tx.object_store(TODO)?;
        let mut result = Vec::with_capacity(boards.len());
        for board in boards {
            let todos = todos_of(&todos, board.id).await?;
            result.push(BoardWithTodos { board, todos });
        }
        Ok(result)
    }

    /// One board with its todos.
    pub async fn board(&self, id: Uuid) -> Result<Option<BoardWithTodos>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[BOARD, TODO])?;
        let Some(board) = get::<Board, _>(&tx.object_store(BOARD)?, id.to_string()).await? else {
            return Ok(None);
        };
        let todos = todos_of(&tx.object_store(TODO)?, id).await?;
        Ok(Some(BoardWithTodos { board, todos }))
    }

    /// A user record as this device has it (with any unpushed local change).
    pub async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[USER])?;
        get(&tx.object_store(USER)?, id.to_string()).await
    }

    /// The signed-in account, if any.
    pub async fn account(&self) -> Result<Option<Account>, StoreError> {
        self.meta(keys::ACCOUNT).await
    }

    /// The pull cursor: where the next pull starts.
    pub async fn cursor(&self) -> Result<Option<String>, StoreError> {
        self.meta(keys::CURSOR).await
    }

    /// Signs in locally: keeps the account and, unless it has an unpushed local change,
    /// its user record.
    pub async fn set_account(&self, account: &Account) -> Result<(), StoreError> {
        let db = self.db().await?;
        let tx = readwrite(&db, &[META, USER, OUTBOX])?;
        local::sign_in(&IdbTx { tx: &tx }, account).await?;
        self.commit(tx).await?;
        self.notify(vec![Model::User], ChangeOrigin::Local);
        Ok(())
    }

    /// Forgets everything: records, outbox, sync state and the account (sign-out). The
    /// leadership term stays, so a cycle of the old session can write nothing.
    pub async fn clear_local_data(&self) -> Result<(), StoreError> {
        let mut stores = vec![OUTBOX, VERSION_META, META];
        stores.extend(RECORD_STORES);
        let db = self.db().await?;
        let tx = readwrite(&db, &stores)?;
        IdbTx { tx: &tx }.clear_data().await?;
        self.commit(tx).await?;
        self.notify(Model::ALL.to_vec(), ChangeOrigin::Local);
        Ok(())
    }

    /// Takes the lead for a worker: raises the leadership term and returns it. Cycles
    /// of every earlier term are fenced from then on.
    pub async fn claim_term(&self) -> Result<u64, StoreError> {
        let db = self.db().await?;
        let tx = readwrite(&db, &[META])?;
        let term = local::claim_term(&IdbTx { tx: &tx }).await?;
        self.commit(tx).await?;
        Ok(term)
    }

    async fn meta<T: DeserializeOwned>(&self, key: &str) -> Result<Option<T>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[META])?;
        get(&tx.object_store(META)?, key).await
    }
}

async fn todos_of(todos: &ObjectStore<'_>, board_id: Uuid) -> Result<Vec<Todo>, StoreError> {
    collect(
        todos
            .index(TODO_BY_BOARD)?
            .get_all()
            .with_query(board_range(board_id))
            .serde()?
            .await?,
    )
}

/// Every key of the `[boardId, createdAt]` index for one board: strings sort below
/// arrays, so `[id, ""]` to `[id, []]` spans every creation time.
pub(crate) fn board_range(board_id: Uuid) -> KeyRange<(String, serde_json::Value)> {
    let id = board_id.to_string();
    KeyRange::Bound(
        (id.clone(), serde_json::Value::String(String::new())),
        false,
        (id, serde_json::Value::Array(Vec::new())),
        false,
    )
}

fn collect<T>(
    items: impl Iterator<Item = indexed_db_futures::Result<T>>,
) -> Result<Vec<T>, StoreError> {
    items
        .collect::<Result<Vec<T>, _>>()
        .map_err(StoreError::from)
}
