//! The app's typed changes. Each is one readwrite transaction that changes the
//! record(s), appends the outbox event(s) carrying the full record after the change, and
//! marks the record as having a local change pending; then other contexts are told.

use super::meta::{keys, Account};
use super::notify::ChangeOrigin;
use super::outbox::{mark_pending, OutboxWriter};
use super::records::{get_record, put_record};
use super::schema::{BOARD, META, OUTBOX, TODO, TODO_BY_BOARD, USER, VERSION_META};
use super::{delete, get, now, readwrite, LocalStore, StoreError};
use indexed_db_futures::object_store::ObjectStore;
use indexed_db_futures::prelude::*;
use indexed_db_futures::transaction::Transaction;
use indexed_db_futures::KeyRange;
use sync_protocol::validation::validate_record;
use sync_protocol::{Board, Model, Operation, Record, Timestamp, Todo, User};
use uuid::Uuid;

/// Every store a local change may touch.
const WRITE_STORES: [&str; 6] = [USER, BOARD, TODO, OUTBOX, VERSION_META, META];

/// A todo's editable fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoEdit {
    pub title: String,
    pub description: Option<String>,
}

/// One local change in progress: its transaction's stores and what it changed.
struct LocalWrite<'tx> {
    tx: &'tx Transaction<'tx>,
    outbox: OutboxWriter<'tx>,
    version_meta: ObjectStore<'tx>,
    now: Timestamp,
    models: Vec<Model>,
}

impl<'tx> LocalWrite<'tx> {
    async fn begin(tx: &'tx Transaction<'tx>) -> Result<LocalWrite<'tx>, StoreError> {
        Ok(LocalWrite {
            tx,
            outbox: OutboxWriter::open(tx).await?,
            version_meta: tx.object_store(VERSION_META)?,
            now: now(),
            models: Vec::new(),
        })
    }

    async fn account(&self) -> Result<Account, StoreError> {
        let meta = self.tx.object_store(META)?;
        get::<Account, _>(&meta, keys::ACCOUNT)
            .await?
            .ok_or_else(|| StoreError::InvalidData("sign in before making changes".into()))
    }

    async fn record(&self, model: Model, id: Uuid) -> Result<Record, StoreError> {
        let store = self.tx.object_store(model.name())?;
        get_record(&store, model, &id.to_string())
            .await?
            .ok_or_else(|| StoreError::not_found(format!("That {}", model.name().to_lowercase())))
    }

    /// Applies `operation` to `record` locally and queues it for the server.
    async fn save(&mut self, operation: Operation, record: Record) -> Result<(), StoreError> {
        validate_record(&record).map_err(|e| StoreError::InvalidData(e.message))?;
        let model = record.model();
        let store = self.tx.object_store(model.name())?;
        match operation {
            Operation::Delete => delete(&store, record.id().to_string()).await?,
            Operation::Create | Operation::Update => put_record(&store, &record).await?,
        }
        self.outbox.append(operation, &record, self.now).await?;
        mark_pending(&self.version_meta, model, &record.id().to_string()).await?;
        if !self.models.contains(&model) {
            self.models.push(model);
        }
        Ok(())
    }
}

impl LocalStore {
    /// Runs one local change in one transaction and, once it committed, tells the other
    /// contexts. `change` gets the transaction's [`LocalWrite`].
    async fn local_change<T>(
        &self,
        change: impl for<'tx> AsyncFnOnce(&mut LocalWrite<'tx>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let db = self.db().await?;
        let tx = readwrite(&db, &WRITE_STORES)?;
        let (value, models) = {
            let mut write = LocalWrite::begin(&tx).await?;
            let value = change(&mut write).await?;
            (value, write.models)
        };
        self.commit(tx).await?;
        self.notify(models, ChangeOrigin::Local);
        Ok(value)
    }

    pub async fn create_board(&self, name: &str) -> Result<Board, StoreError> {
        let name = name.trim().to_string();
        self.local_change(async move |write| {
            let account = write.account().await?;
            let board = Board {
                id: Uuid::new_v4(),
                name,
                created_at: write.now,
                user_id: account.user.id,
            };
            write.save(Operation::Create, board.clone().into()).await?;
            Ok(board)
        })
        .await
    }

    pub async fn rename_board(&self, id: Uuid, name: &str) -> Result<Board, StoreError> {
        let name = name.trim().to_string();
        self.local_change(async move |write| {
            let Record::Board(mut board) = write.record(Model::Board, id).await? else {
                return Err(StoreError::not_found("That board"));
            };
            board.name = name;
            write.save(Operation::Update, board.clone().into()).await?;
            Ok(board)
        })
        .await
    }

    /// Deletes a board and, locally, its todos. Only the board's deletion is queued: the
    /// server deletes the todos with it and logs each, so every device ends the same.
    pub async fn delete_board(&self, id: Uuid) -> Result<(), StoreError> {
        self.local_change(async move |write| {
            let board = write.record(Model::Board, id).await?;
            let todos = write.tx.object_store(TODO)?;
            let todo_ids: Vec<String> = todos
                .index(TODO_BY_BOARD)?
                .get_all_keys::<String>()
                .with_query(board_range(id))
                .serde()?
                .await?
                .collect::<Result<_, _>>()?;
            for todo_id in todo_ids {
                delete(&todos, todo_id).await?;
            }
            write.save(Operation::Delete, board).await
        })
        .await
    }

    pub async fn create_todo(
        &self,
        board_id: Uuid,
        title: &str,
        description: Option<&str>,
    ) -> Result<Todo, StoreError> {
        let edit = TodoEdit::normalized(title, description);
        self.local_change(async move |write| {
            // The board must exist here; the server checks it is the user's.
            write.record(Model::Board, board_id).await?;
            let todo = Todo {
                id: Uuid::new_v4(),
                title: edit.title,
                description: edit.description,
                is_completed: false,
                created_at: write.now,
                board_id,
            };
            write.save(Operation::Create, todo.clone().into()).await?;
            Ok(todo)
        })
        .await
    }

    pub async fn edit_todo(&self, id: Uuid, edit: TodoEdit) -> Result<Todo, StoreError> {
        let edit = TodoEdit::normalized(&edit.title, edit.description.as_deref());
        self.update_todo(id, move |todo| {
            todo.title = edit.title;
            todo.description = edit.description;
        })
        .await
    }

    pub async fn toggle_todo(&self, id: Uuid) -> Result<Todo, StoreError> {
        self.update_todo(id, |todo| todo.is_completed = !todo.is_completed)
            .await
    }

    pub async fn delete_todo(&self, id: Uuid) -> Result<(), StoreError> {
        self.local_change(async move |write| {
            let todo = write.record(Model::Todo, id).await?;
            write.save(Operation::Delete, todo).await
        })
        .await
    }

    /// Changes the signed-in user's display name.
    pub async fn update_profile(&self, name: &str) -> Result<User, StoreError> {
        let name = name.trim().to_string();
        self.local_change(async move |write| {
            let account = write.account().await?;
            let mut user = match write.record(Model::User, account.user.id).await {
                Ok(Record::User(user)) => user,
                _ => account.user,
            };
            user.name = name;
            user.updated_at = write.now;
            write.save(Operation::Update, user.clone().into()).await?;
            Ok(user)
        })
        .await
    }

    async fn update_todo(
        &self,
        id: Uuid,
        change: impl FnOnce(&mut Todo),
    ) -> Result<Todo, StoreError> {
        self.local_change(async move |write| {
            let Record::Todo(mut todo) = write.record(Model::Todo, id).await? else {
                return Err(StoreError::not_found("That todo"));
            };
            change(&mut todo);
            write.save(Operation::Update, todo.clone().into()).await?;
            Ok(todo)
        })
        .await
    }
}

impl TodoEdit {
    /// Trimmed title; a blank description is no description.
    fn normalized(title: &str, description: Option<&str>) -> TodoEdit {
        TodoEdit {
            title: title.trim().to_string(),
            description: description
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        }
    }
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
