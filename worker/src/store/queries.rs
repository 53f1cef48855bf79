//! What the app reads: boards with their todos, the account, the pull cursor.

use super::notify::ChangeOrigin;
use super::replica_tx::IdbTx;
use super::schema::{
    BOARD, BOARD_BY_USER, META, OUTBOX, RECORD_STORES, TODO, TODO_BY_BOARD, USER, VERSION_META,
};
use super::{from_js_all, get, pair_key, readonly, readwrite, LocalStore, StoreError};
use crate::replica::meta::keys;
use crate::replica::{local, Account, ReplicaTx, Touched};
use futures::future::try_join_all;
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::KeyRange;
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use sync_protocol::{Board, Model, Todo, User};
use uuid::Uuid;
use wasm_bindgen::JsValue;

/// How many records one read of a long list returns (about a millisecond of work).
const READ_CHUNK: u32 = 1000;

/// Boards and todos by id, as [`LocalStore::records_by_id`] found them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordsById {
    pub boards: Vec<(String, Option<Board>)>,
    pub todos: Vec<(String, Option<Todo>)>,
}

/// Where a todo sorts on its board: creation order, as the `[boardId, createdAt]` index.
pub fn todo_order(todo: &Todo) -> (sync_protocol::Timestamp, Uuid) {
    (todo.created_at, todo.id)
}

/// A board and its todos, in creation order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoardWithTodos {
    pub board: Board,
    pub todos: Vec<Todo>,
}

impl LocalStore {
    /// The signed-in user's boards with their todos, both in creation order.
    ///
    /// Two reads, whatever the number of boards: the boards by the user index, then
    /// every todo in chunks (each chunk a short task, so a page reading 50,000 todos
    /// never blocks its thread for long), grouped by board here.
    pub async fn boards_with_todos(&self) -> Result<Vec<BoardWithTodos>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[BOARD, TODO, META])?;
        let Some(account) = get::<Account, _>(&tx.object_store(META)?, keys::ACCOUNT).await? else {
            return Ok(Vec::new());
        };
        let user = account.user.id.to_string();
        let boards: Vec<Board> = from_js_all(
            tx.object_store(BOARD)?
                .index(BOARD_BY_USER)?
                .get_all::<JsValue>()
                .with_query::<JsValue, _>(prefix_range(user))
                .primitive()?
                .await?,
        )?;
        let mut by_board: HashMap<Uuid, Vec<Todo>> =
            boards.iter().map(|board| (board.id, Vec::new())).collect();
        let todos = tx.object_store(TODO)?;
        let mut after: Option<String> = None;
        loop {
            let chunk: Vec<Todo> = match &after {
                None => from_js_all(
                    todos
                        .get_all::<JsValue>()
                        .with_limit(READ_CHUNK)
                        .primitive()?
                        .await?,
                )?,
                Some(last) => from_js_all(
                    todos
                        .get_all::<JsValue>()
                        .with_query::<String, _>(KeyRange::LowerBound(last.clone(), true))
                        .with_limit(READ_CHUNK)
                        .primitive()?
                        .await?,
                )?,
            };
            let Some(last) = chunk.last() else {
                break;
            };
            after = Some(last.id.to_string());
            let full = chunk.len() == READ_CHUNK as usize;
            for todo in chunk {
                if let Some(list) = by_board.get_mut(&todo.board_id) {
                    list.push(todo);
                }
            }
            if !full {
                break;
            }
        }
        Ok(boards
            .into_iter()
            .map(|board| {
                let mut todos = by_board.remove(&board.id).unwrap_or_default();
                todos.sort_by_key(todo_order);
                BoardWithTodos { board, todos }
            })
            .collect())
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

    /// The current state of the given boards and todos (`None`: gone), read in one
    /// transaction with every request issued before the first answer is awaited: what
    /// a page needs to follow a change notice.
    pub async fn records_by_id(
        &self,
        board_ids: &[String],
        todo_ids: &[String],
    ) -> Result<RecordsById, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[BOARD, TODO])?;
        let (boards, todos) = (tx.object_store(BOARD)?, tx.object_store(TODO)?);
        let (boards, todos) = futures::try_join!(
            try_join_all(
                board_ids
                    .iter()
                    .map(|id| get::<Board, _>(&boards, id.as_str()))
            ),
            try_join_all(
                todo_ids
                    .iter()
                    .map(|id| get::<Todo, _>(&todos, id.as_str()))
            ),
        )?;
        Ok(RecordsById {
            boards: board_ids.iter().cloned().zip(boards).collect(),
            todos: todo_ids.iter().cloned().zip(todos).collect(),
        })
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
        let mut touched = Touched::default();
        touched.record(Model::User, &account.user.id.to_string());
        self.notify(&touched, ChangeOrigin::Local);
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
        self.notify(&Touched::everything(), ChangeOrigin::Local);
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
    from_js_all(
        todos
            .index(TODO_BY_BOARD)?
            .get_all::<JsValue>()
            .with_query::<JsValue, _>(board_range(board_id))
            .primitive()?
            .await?,
    )
}

/// Every key of the `[boardId, createdAt]` index for one board: strings sort below
/// arrays, so `[id, ""]` to `[id, []]` spans every creation time.
pub(crate) fn board_range(board_id: Uuid) -> KeyRange<JsValue> {
    prefix_range(board_id.to_string())
}

/// Every key `[prefix, anything]` of a two-part index (the same bounds as
/// [`board_range`], for the `[userId, createdAt]` index too).
fn prefix_range(prefix: String) -> KeyRange<JsValue> {
    KeyRange::Bound(
        pair_key((prefix.as_str(), "")),
        false,
        pair_key((prefix.as_str(), js_sys::Array::new())),
        false,
    )
}
