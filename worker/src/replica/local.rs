//! Local writes: the app's typed changes. Each runs inside one [`ReplicaTx`]: it changes
//! the record(s), appends the outbox event carrying the full record after the change
//! (with the change in words, for the notice if the server refuses it), and marks the
//! record as having a local change pending.

use super::meta::VersionMeta;
use super::outbox::OutboxEntry;
use super::touched::Touched;
use super::{Account, ReplicaTx, RuleError};
use sync_protocol::validation::validate_record;
use sync_protocol::{Board, Model, Operation, OutboxEvent, Record, Timestamp, Todo, User};
use uuid::Uuid;

/// A todo's editable fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoEdit {
    pub title: String,
    pub description: Option<String>,
}

impl TodoEdit {
    /// Trimmed title; a blank description is no description.
    pub fn normalized(title: &str, description: Option<&str>) -> TodoEdit {
        TodoEdit {
            title: title.trim().to_string(),
            description: description
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        }
    }
}

/// One local change in progress inside its transaction.
pub struct LocalWriter<'a, T: ReplicaTx> {
    tx: &'a T,
    next_seq: Option<u32>,
    pub now: Timestamp,
    new_id: &'a mut dyn FnMut() -> Uuid,
    /// The records this change touched, for the change notice.
    pub touched: Touched,
}

impl<'a, T: ReplicaTx> LocalWriter<'a, T> {
    pub fn new(tx: &'a T, now: Timestamp, new_id: &'a mut dyn FnMut() -> Uuid) -> Self {
        LocalWriter {
            tx,
            next_seq: None,
            now,
            new_id,
            touched: Touched::default(),
        }
    }

    pub fn tx(&self) -> &T {
        self.tx
    }

    async fn account(&self) -> Result<Account, T::Error> {
        Ok(self.tx.account().await?.ok_or(RuleError::SignedOut)?)
    }

    async fn record(&self, model: Model, id: Uuid) -> Result<Record, T::Error> {
        self.tx
            .record(model, &id.to_string())
            .await?
            .ok_or_else(|| not_found(model).into())
    }

    /// Applies `operation` to `record` locally and queues it for the server.
    async fn save(
        &mut self,
        operation: Operation,
        record: Record,
        summary: String,
    ) -> Result<(), T::Error> {
        validate_record(&record).map_err(|e| RuleError::Invalid(e.message))?;
        let model = record.model();
        let id = record.id().to_string();
        let tx = self.tx;
        // The requests go out together: one round trip for the reads, one for the writes.
        let change = async {
            match operation {
                Operation::Delete => tx.remove_record(model, &id).await,
                Operation::Create | Operation::Update => tx.put_record(&record).await,
            }
        };
        let known_seq = self.next_seq;
        let seq = async {
            match known_seq {
                Some(seq) => Ok(seq),
                None => Ok(tx.last_seq().await? + 1),
            }
        };
        let key = [(model, id.clone())];
        let (_, seq, mut metas) = futures::try_join!(change, seq, tx.metas(&key))?;
        self.next_seq = Some(seq + 1);
        let event = OutboxEvent::new((self.new_id)(), operation, &record, self.now);
        let entry = OutboxEntry::new(event, seq, Some(summary));
        let mut meta = metas
            .pop()
            .flatten()
            .unwrap_or_else(|| VersionMeta::new(model, &id));
        meta.local_change_pending = true;
        futures::try_join!(tx.put_entry(&entry), tx.put_meta(&meta))?;
        self.touched.record(model, &id);
        Ok(())
    }
}

fn not_found(model: Model) -> RuleError {
    RuleError::NotFound(format!("That {}", model.name().to_ascii_lowercase()))
}

pub async fn create_board<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    name: &str,
) -> Result<Board, T::Error> {
    let account = write.account().await?;
    let board = Board {
        id: (write.new_id)(),
        name: name.trim().to_string(),
        created_at: write.now,
        user_id: account.user.id,
    };
    let summary = format!("Creating board \"{}\"", board.name);
    write
        .save(Operation::Create, board.clone().into(), summary)
        .await?;
    Ok(board)
}

pub async fn rename_board<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
    name: &str,
) -> Result<Board, T::Error> {
    let Record::Board(mut board) = write.record(Model::Board, id).await? else {
        return Err(not_found(Model::Board).into());
    };
    let summary = format!("Renaming board \"{}\" to \"{}\"", board.name, name.trim());
    board.name = name.trim().to_string();
    write
        .save(Operation::Update, board.clone().into(), summary)
        .await?;
    Ok(board)
}

/// Deletes a board and, locally, its todos. Only the board's deletion is queued: the
/// server deletes the todos with it and logs each, so every device ends the same.
pub async fn delete_board<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
) -> Result<(), T::Error> {
    let (board, todo_ids) = futures::try_join!(
        write.record(Model::Board, id),
        write.tx.todo_ids_of_board(id)
    )?;
    // Its todos' metadata goes too: should the server refuse the delete, a resync
    // brings the todos back (see `rules::book_verdicts`). All requests go out together.
    let tx = write.tx;
    futures::future::try_join_all(todo_ids.iter().map(|todo_id| async move {
        futures::try_join!(
            tx.remove_record(Model::Todo, todo_id),
            tx.remove_meta(Model::Todo, todo_id)
        )
    }))
    .await?;
    for todo_id in &todo_ids {
        write.touched.record(Model::Todo, todo_id);
    }
    let summary = match &board {
        Record::Board(board) => format!("Deleting board \"{}\"", board.name),
        _ => "Deleting a board".into(),
    };
    write.save(Operation::Delete, board, summary).await
}

pub async fn create_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    board_id: Uuid,
    edit: TodoEdit,
) -> Result<Todo, T::Error> {
    // The board must exist here; the server checks it is the user's.
    write.record(Model::Board, board_id).await?;
    let todo = Todo {
        id: (write.new_id)(),
        title: edit.title,
        description: edit.description,
        is_completed: false,
        created_at: write.now,
        board_id,
    };
    let summary = format!("Adding todo \"{}\"", todo.title);
    write
        .save(Operation::Create, todo.clone().into(), summary)
        .await?;
    Ok(todo)
}

pub async fn edit_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
    edit: TodoEdit,
) -> Result<Todo, T::Error> {
    update_todo(write, id, move |todo| {
        let summary = if todo.title == edit.title {
            format!("Editing todo \"{}\"", todo.title)
        } else {
            format!("Renaming todo \"{}\" to \"{}\"", todo.title, edit.title)
        };
        todo.title = edit.title;
        todo.description = edit.description;
        summary
    })
    .await
}

pub async fn toggle_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
) -> Result<Todo, T::Error> {
    update_todo(write, id, |todo| {
        todo.is_completed = !todo.is_completed;
        let state = if todo.is_completed {
            "done"
        } else {
            "not done"
        };
        format!("Marking todo \"{}\" {state}", todo.title)
    })
    .await
}

pub async fn delete_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
) -> Result<(), T::Error> {
    let todo = write.record(Model::Todo, id).await?;
    let summary = match &todo {
        Record::Todo(todo) => format!("Deleting todo \"{}\"", todo.title),
        _ => "Deleting a todo".into(),
    };
    write.save(Operation::Delete, todo, summary).await
}

/// Changes the signed-in user's display name.
pub async fn update_profile<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    name: &str,
) -> Result<User, T::Error> {
    let account = write.account().await?;
    let mut user = match write.record(Model::User, account.user.id).await {
        Ok(Record::User(user)) => user,
        _ => account.user,
    };
    user.name = name.trim().to_string();
    user.updated_at = write.now;
    let summary = format!("Changing your name to \"{}\"", user.name);
    write
        .save(Operation::Update, user.clone().into(), summary)
        .await?;
    Ok(user)
}

/// Changes a todo with `change`, which answers the change in words.
async fn update_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
    change: impl FnOnce(&mut Todo) -> String,
) -> Result<Todo, T::Error> {
    let Record::Todo(mut todo) = write.record(Model::Todo, id).await? else {
        return Err(not_found(Model::Todo).into());
    };
    let summary = change(&mut todo);
    write
        .save(Operation::Update, todo.clone().into(), summary)
        .await?;
    Ok(todo)
}

/// Signs in locally: keeps the account and, unless it has a local change waiting to be
/// pushed (which is newer than the server's copy), its user record.
pub async fn sign_in<T: ReplicaTx>(tx: &T, account: &Account) -> Result<(), T::Error> {
    tx.set_account(Some(account)).await?;
    let id = account.user.id.to_string();
    if !tx.has_pending(Model::User, &id).await? {
        tx.put_record(&Record::User(account.user.clone())).await?;
    }
    Ok(())
}

/// Takes the lead: raises the leadership term and returns the new one. Every write of a
/// cycle started under an older term is refused from now on.
pub async fn claim_term<T: ReplicaTx>(tx: &T) -> Result<u64, T::Error> {
    let term = tx.term().await? + 1;
    tx.set_term(term).await?;
    Ok(term)
}
