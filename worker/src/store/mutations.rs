//! The app's typed changes over IndexedDB. Each is one readwrite transaction running
//! one of the replica's local-write rules ([`crate::replica::local`]): the record(s),
//! the outbox event carrying the full record after the change, and the record's pending
//! mark commit together; then other contexts are told.

use super::notify::ChangeOrigin;
use super::replica_tx::IdbTx;
use super::schema::{BOARD, META, OUTBOX, TODO, USER, VERSION_META};
use super::{readwrite, LocalStore, StoreError};
use crate::replica::local::{self, Expected, LocalWriter, TodoEdit};
use sync_protocol::{Board, Todo, User};
use uuid::Uuid;

/// Every store a local change may touch.
const WRITE_STORES: [&str; 6] = [USER, BOARD, TODO, OUTBOX, VERSION_META, META];

/// A local change, by what it does. Every kind of change runs through one copy of the
/// transaction code ([`LocalStore::local_change`]): a copy per kind, each with the
/// retry and the commit inlined, cost the download about 4 KB gzipped.
enum Mutation<'a> {
    CreateBoard(&'a str),
    RenameBoard(Uuid, &'a str),
    DeleteBoard(Uuid),
    CreateTodo(Uuid, &'a TodoEdit),
    EditTodo(Uuid, &'a TodoEdit),
    ToggleTodo(Uuid),
    DeleteTodo(Uuid),
    UpdateProfile(&'a str),
}

/// What a [`Mutation`] made.
enum Mutated {
    Board(Board),
    Todo(Todo),
    User(User),
    Nothing,
}

impl Mutation<'_> {
    /// Runs the replica's rule for this change.
    async fn run(&self, write: &mut LocalWriter<'_, IdbTx<'_>>) -> Result<Mutated, StoreError> {
        Ok(match *self {
            Mutation::CreateBoard(name) => Mutated::Board(local::create_board(write, name).await?),
            Mutation::RenameBoard(id, name) => {
                Mutated::Board(local::rename_board(write, id, name).await?)
            }
            Mutation::DeleteBoard(id) => {
                local::delete_board(write, id).await?;
                Mutated::Nothing
            }
            Mutation::CreateTodo(board_id, edit) => {
                Mutated::Todo(local::create_todo(write, board_id, edit.clone()).await?)
            }
            Mutation::EditTodo(id, edit) => {
                Mutated::Todo(local::edit_todo(write, id, edit.clone()).await?)
            }
            Mutation::ToggleTodo(id) => Mutated::Todo(local::toggle_todo(write, id).await?),
            Mutation::DeleteTodo(id) => {
                local::delete_todo(write, id).await?;
                Mutated::Nothing
            }
            Mutation::UpdateProfile(name) => {
                Mutated::User(local::update_profile(write, name).await?)
            }
        })
    }
}

impl LocalStore {
    /// Runs one local change in one transaction and tells the other contexts. A create
    /// trusts what this context's previous change left, and so commits without waiting
    /// for a read (see [`Expected`]); if another context wrote meanwhile, that
    /// transaction fails and the change is made again, reading first.
    async fn local_change(&self, mutation: Mutation<'_>) -> Result<Mutated, StoreError> {
        let expected = self.expected.take();
        let (value, next) = local::trusting(expected, async |expected| {
            self.local_change_expecting(&mutation, expected).await
        })
        .await?;
        self.expected.replace(next);
        Ok(value)
    }

    async fn local_change_expecting(
        &self,
        mutation: &Mutation<'_>,
        expected: Option<Expected>,
    ) -> Result<(Mutated, Option<Expected>), StoreError> {
        let db = self.db().await?;
        let tx = readwrite(&db, &WRITE_STORES)?;
        let (value, touched, next) = {
            let replica = IdbTx { tx: &tx };
            let mut ids = Uuid::new_v4;
            let mut write =
                LocalWriter::new(&replica, self.change_time(), &mut ids).expecting(expected);
            let value = mutation.run(&mut write).await?;
            let next = write.expected_next();
            (value, write.touched, next)
        };
        self.commit_and_tell(tx, &touched, ChangeOrigin::Local)
            .await?;
        Ok((value, next))
    }

    pub async fn create_board(&self, name: &str) -> Result<Board, StoreError> {
        board(self.local_change(Mutation::CreateBoard(name)).await?)
    }

    pub async fn rename_board(&self, id: Uuid, name: &str) -> Result<Board, StoreError> {
        board(self.local_change(Mutation::RenameBoard(id, name)).await?)
    }

    /// Deletes a board and, locally, its todos. Only the board's deletion is queued: the
    /// server deletes the todos with it and logs each, so every device ends the same.
    pub async fn delete_board(&self, id: Uuid) -> Result<(), StoreError> {
        self.local_change(Mutation::DeleteBoard(id)).await.map(drop)
    }

    pub async fn create_todo(
        &self,
        board_id: Uuid,
        title: &str,
        description: Option<&str>,
    ) -> Result<Todo, StoreError> {
        let edit = TodoEdit::normalized(title, description);
        todo(
            self.local_change(Mutation::CreateTodo(board_id, &edit))
                .await?,
        )
    }

    pub async fn edit_todo(&self, id: Uuid, edit: TodoEdit) -> Result<Todo, StoreError> {
        let edit = TodoEdit::normalized(&edit.title, edit.description.as_deref());
        todo(self.local_change(Mutation::EditTodo(id, &edit)).await?)
    }

    pub async fn toggle_todo(&self, id: Uuid) -> Result<Todo, StoreError> {
        todo(self.local_change(Mutation::ToggleTodo(id)).await?)
    }

    pub async fn delete_todo(&self, id: Uuid) -> Result<(), StoreError> {
        self.local_change(Mutation::DeleteTodo(id)).await.map(drop)
    }

    /// Changes the signed-in user's display name.
    pub async fn update_profile(&self, name: &str) -> Result<User, StoreError> {
        match self.local_change(Mutation::UpdateProfile(name)).await? {
            Mutated::User(user) => Ok(user),
            _ => unreachable!("a profile update makes a user"),
        }
    }
}

fn board(mutated: Mutated) -> Result<Board, StoreError> {
    match mutated {
        Mutated::Board(board) => Ok(board),
        _ => unreachable!("a board change makes a board"),
    }
}

fn todo(mutated: Mutated) -> Result<Todo, StoreError> {
    match mutated {
        Mutated::Todo(todo) => Ok(todo),
        _ => unreachable!("a todo change makes a todo"),
    }
}
