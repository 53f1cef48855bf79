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

impl LocalStore {
    /// Runs one local change in one transaction and tells the other contexts. A create
    /// trusts what this context's previous change left, and so commits without waiting
    /// for a read (see [`Expected`]); if another context wrote meanwhile, that
    /// transaction fails and the change is made again, reading first.
    async fn local_change<T>(
        &self,
        change: impl for<'w, 'a> AsyncFn(&mut LocalWriter<'w, IdbTx<'a>>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let expected = self.expected.take();
        let (value, next) = local::trusting(expected, async |expected| {
            self.local_change_expecting(&change, expected).await
        })
        .await?;
        self.expected.replace(next);
        Ok(value)
    }

    async fn local_change_expecting<T>(
        &self,
        change: &impl for<'w, 'a> AsyncFn(&mut LocalWriter<'w, IdbTx<'a>>) -> Result<T, StoreError>,
        expected: Option<Expected>,
    ) -> Result<(T, Option<Expected>), StoreError> {
        let db = self.db().await?;
        let tx = readwrite(&db, &WRITE_STORES)?;
        let (value, touched, next) = {
            let replica = IdbTx { tx: &tx };
            let mut ids = Uuid::new_v4;
            let mut write =
                LocalWriter::new(&replica, self.change_time(), &mut ids).expecting(expected);
            let value = change(&mut write).await?;
            let next = write.expected_next();
            (value, write.touched, next)
        };
        self.commit_and_tell(tx, &touched, ChangeOrigin::Local)
            .await?;
        Ok((value, next))
    }

    pub async fn create_board(&self, name: &str) -> Result<Board, StoreError> {
        self.local_change(async |write| local::create_board(write, name).await)
            .await
    }

    pub async fn rename_board(&self, id: Uuid, name: &str) -> Result<Board, StoreError> {
        self.local_change(async |write| local::rename_board(write, id, name).await)
            .await
    }

    /// Deletes a board and, locally, its todos. Only the board's deletion is queued: the
    /// server deletes the todos with it and logs each, so every device ends the same.
    pub async fn delete_board(&self, id: Uuid) -> Result<(), StoreError> {
        self.local_change(async |write| local::delete_board(write, id).await)
            .await
    }

    pub async fn create_todo(
        &self,
        board_id: Uuid,
        title: &str,
        description: Option<&str>,
    ) -> Result<Todo, StoreError> {
        let edit = TodoEdit::normalized(title, description);
        self.local_change(async |write| local::create_todo(write, board_id, edit.clone()).await)
            .await
    }

    pub async fn edit_todo(&self, id: Uuid, edit: TodoEdit) -> Result<Todo, StoreError> {
        let edit = TodoEdit::normalized(&edit.title, edit.description.as_deref());
        self.local_change(async |write| local::edit_todo(write, id, edit.clone()).await)
            .await
    }

    pub async fn toggle_todo(&self, id: Uuid) -> Result<Todo, StoreError> {
        self.local_change(async |write| local::toggle_todo(write, id).await)
            .await
    }

    pub async fn delete_todo(&self, id: Uuid) -> Result<(), StoreError> {
        self.local_change(async |write| local::delete_todo(write, id).await)
            .await
    }

    /// Changes the signed-in user's display name.
    pub async fn update_profile(&self, name: &str) -> Result<User, StoreError> {
        self.local_change(async |write| local::update_profile(write, name).await)
            .await
    }
}
