//! What the app reads: boards with their todos, the account, the pull cursor.

use super::idb::{range, Source, Store};
use super::notify::ChangeOrigin;
use super::replica_tx::IdbTx;
use super::schema::{BOARD, META, OUTBOX, RECORD_STORES, TODO, TODO_BY_BOARD, USER, VERSION_META};
use super::{from_js, get, get_many, pair_key, readonly, readwrite, LocalStore, StoreError};
use crate::replica::meta::keys;
use crate::replica::{local, Account, Touched};
use serde::de::DeserializeOwned;
use std::collections::HashMap;
use sync_protocol::{Board, Model, Todo, User};
use uuid::Uuid;
use wasm_bindgen::JsValue;

/// How many records one read of a long list returns (about a millisecond of work).
const READ_CHUNK: u32 = 1000;

/// Users, boards and todos by id, as [`LocalStore::records_by_id`] found them, and
/// whose they are.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RecordsById {
    /// The signed-in account when they were read (None: signed out). The records are
    /// that account's: a page that shows another one must not show them.
    pub account: Option<Uuid>,
    pub users: Vec<(String, Option<User>)>,
    pub boards: Vec<(String, Option<Board>)>,
    pub todos: Vec<(String, Option<Todo>)>,
}

/// Everything the board list shows, read in one transaction (see
/// [`LocalStore::boards_snapshot`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BoardsSnapshot {
    /// The signed-in account (None: signed out, and nothing else is read).
    pub account: Option<Uuid>,
    /// Every board the replica holds, in creation order: the account's own and those
    /// other accounts share with it (the server sends only what the account may see).
    pub boards: Vec<BoardWithTodos>,
    /// Every user record the replica holds: the account's own and the public profiles
    /// of the owners of boards shared with it.
    pub users: Vec<User>,
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
    /// The boards the signed-in account sees with their todos, both in creation order:
    /// its own and those shared with it ([`Self::boards_snapshot`]'s boards).
    pub async fn boards_with_todos(&self) -> Result<Vec<BoardWithTodos>, StoreError> {
        Ok(self.boards_snapshot().await?.boards)
    }

    /// What the board list shows, in one transaction: the account, every board with
    /// its todos, and the user records (for who shared a board).
    ///
    /// Three reads, whatever the number of boards: the boards and the users whole (a
    /// person has tens of them, not thousands), then every todo in chunks (each chunk a
    /// short task, so a page reading 50,000 todos never blocks its thread for long),
    /// grouped by board here. Every board, not the account's alone: the replica holds
    /// only what the server let this account see, its own and what is shared with it.
    pub async fn boards_snapshot(&self) -> Result<BoardsSnapshot, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[USER, BOARD, TODO, META])?;
        let Some(account) = get::<Account>(&tx.store(META)?, keys::ACCOUNT).await? else {
            return Ok(BoardsSnapshot::default());
        };
        let (users, boards, all) = (tx.store(USER)?, tx.store(BOARD)?, JsValue::UNDEFINED);
        let (users, boards) = futures::try_join!(users.get_all(&all, 0), boards.get_all(&all, 0))?;
        let users: Vec<User> = from_js(&users)?;
        let mut boards: Vec<Board> = from_js(&boards)?;
        boards.sort_by_key(|board| (board.created_at, board.id));
        let mut by_board: HashMap<Uuid, Vec<Todo>> =
            boards.iter().map(|board| (board.id, Vec::new())).collect();
        let todos = tx.store(TODO)?;
        let mut after: Option<String> = None;
        loop {
            let query = match &after {
                None => JsValue::UNDEFINED,
                Some(last) => range::above(&JsValue::from_str(last), true)?,
            };
            let chunk: Vec<Todo> = from_js(&todos.get_all(&query, READ_CHUNK).await?)?;
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
        let boards = boards
            .into_iter()
            .map(|board| {
                let mut todos = by_board.remove(&board.id).unwrap_or_default();
                todos.sort_by_key(todo_order);
                BoardWithTodos { board, todos }
            })
            .collect();
        Ok(BoardsSnapshot {
            account: Some(account.user.id),
            boards,
            users,
        })
    }

    /// One board with its todos.
    pub async fn board(&self, id: Uuid) -> Result<Option<BoardWithTodos>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[BOARD, TODO])?;
        let Some(board) = get::<Board>(&tx.store(BOARD)?, id.to_string()).await? else {
            return Ok(None);
        };
        let todos = todos_of(&tx.store(TODO)?, id).await?;
        Ok(Some(BoardWithTodos { board, todos }))
    }

    /// The current state of the given users, boards and todos (`None`: gone) and the
    /// signed-in account, read in one transaction with every request issued before the
    /// first answer is awaited: what a page needs to follow a change notice.
    pub async fn records_by_id(
        &self,
        user_ids: &[String],
        board_ids: &[String],
        todo_ids: &[String],
    ) -> Result<RecordsById, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[META, USER, BOARD, TODO])?;
        let (meta, users, boards, todos) = (
            tx.store(META)?,
            tx.store(USER)?,
            tx.store(BOARD)?,
            tx.store(TODO)?,
        );
        let (account, users, boards, todos) = futures::try_join!(
            get::<Account>(&meta, keys::ACCOUNT),
            get_many(&users, user_ids),
            get_many(&boards, board_ids),
            get_many(&todos, todo_ids),
        )?;
        Ok(RecordsById {
            account: account.map(|account| account.user.id),
            users: user_ids.iter().cloned().zip(users).collect(),
            boards: board_ids.iter().cloned().zip(boards).collect(),
            todos: todo_ids.iter().cloned().zip(todos).collect(),
        })
    }

    /// A user record as this device has it (with any unpushed local change).
    pub async fn user(&self, id: Uuid) -> Result<Option<User>, StoreError> {
        let db = self.db().await?;
        let tx = readonly(&db, &[USER])?;
        get(&tx.store(USER)?, id.to_string()).await
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
        let mut touched = Touched::default();
        touched.record(Model::User, &account.user.id.to_string());
        self.commit_and_tell(tx, &touched, ChangeOrigin::Local)
            .await?;
        Ok(())
    }

    /// Forgets everything: records, outbox, sync state and the account (sign-out). The
    /// leadership term stays, so a cycle of the old session can write nothing.
    pub async fn clear_local_data(&self) -> Result<(), StoreError> {
        let mut stores = vec![OUTBOX, VERSION_META, META];
        stores.extend(RECORD_STORES);
        let db = self.db().await?;
        let tx = readwrite(&db, &stores)?;
        local::sign_out(&IdbTx { tx: &tx }).await?;
        self.commit_and_tell(tx, &Touched::everything(), ChangeOrigin::Local)
            .await?;
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
        get(&tx.store(META)?, key).await
    }
}

async fn todos_of(todos: &Store, board_id: Uuid) -> Result<Vec<Todo>, StoreError> {
    let by_board = todos.index(TODO_BY_BOARD)?;
    from_js(&by_board.get_all(&board_range(board_id)?, 0).await?)
}

/// Every key of the `[boardId, createdAt]` index for one board: strings sort below
/// arrays, so `[id, ""]` to `[id, []]` spans every creation time.
pub(crate) fn board_range(board_id: Uuid) -> Result<JsValue, StoreError> {
    let prefix = board_id.to_string();
    range::between(
        &pair_key((prefix.as_str(), "")),
        &pair_key((prefix.as_str(), js_sys::Array::new())),
    )
}
