//! Storage: what the sync logic and the accounts need from a database, as two small
//! traits ([`Storage`] for the whole database, [`ScopeTx`] for a write transaction over
//! a set of scopes), so that the logic in `sync` and `auth` is written once.
//!
//! One implementation, [`sql::SqlStore`], serves both databases: the SQL they share is
//! written once in `sql`, and what differs (connecting, migrations, how a writer locks
//! its scope, how pokes travel between processes) lives in `sqlite` and `postgres`.

mod postgres;
mod sql;
mod sqlite;

use crate::realtime::Hub;
use crate::{Config, Error};
use async_trait::async_trait;
use std::sync::Arc;
use sync_protocol::{Model, Operation, Record, Timestamp, User};
use uuid::Uuid;

/// Which database a store runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    Sqlite,
    Postgres,
}

impl Backend {
    /// The name `/api/health` reports.
    pub fn name(self) -> &'static str {
        match self {
            Backend::Sqlite => "sqlite",
            Backend::Postgres => "postgres",
        }
    }
}

/// One changelog entry as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangelogEntry {
    pub seq: u64,
    pub model: String,
    pub key_path: Vec<serde_json::Value>,
    pub operation: Operation,
    pub outbox_event_id: String,
}

/// A record as stored, with the account its ownership path (Todo → Board → User) ends
/// at: a user is their own, a board its user's, a todo its board's.
#[derive(Debug, Clone, PartialEq)]
pub struct OwnedRecord {
    pub record: Record,
    pub owner: Uuid,
}

/// Where an outbox event was applied.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Receipt {
    pub scope_key: String,
    pub seq: u64,
}

/// What [`ScopeTx::prefetch`] found: only rows that exist.
#[derive(Debug, Default)]
pub struct Prefetched {
    pub receipts: Vec<(String, Receipt)>,
    pub todos: Vec<sync_protocol::Todo>,
    pub boards: Vec<sync_protocol::Board>,
    /// `(id, owner scope)`.
    pub owners: Vec<(Uuid, Uuid)>,
    /// `(board, member)` of the boards found.
    pub members: Vec<(Uuid, Uuid)>,
}

/// A new account: the user record and its password hash.
pub struct NewAccount<'a> {
    pub user: &'a User,
    pub password_hash: &'a str,
    /// The outbox event id logged with the user's first changelog entry.
    pub outbox_event_id: &'a str,
}

/// A user and the stored password hash, for login.
pub struct Credentials {
    pub user: User,
    pub password_hash: String,
}

/// The database as a whole.
#[async_trait]
pub trait Storage: Send + Sync {
    fn backend(&self) -> Backend;

    /// One round trip, to prove the database answers.
    async fn ping(&self) -> Result<(), Error>;

    /// Starts a write transaction acting as the user `acting`, holding the lock of every
    /// scope among `scopes` (and of `acting`) until it commits or is dropped (dropping
    /// rolls back). The locks are taken one at a time in ascending scope-key order, the
    /// same order for every writer, so two writers never wait for each other in a
    /// circle. Fails if a scope does not exist.
    async fn begin_scopes(&self, acting: Uuid, scopes: &[Uuid]) -> Result<Box<dyn ScopeTx>, Error>;

    /// The last changelog number of `scope`; None when there is no such scope.
    async fn last_seq(&self, scope: Uuid) -> Result<Option<u64>, Error>;

    /// Up to `limit` entries of `scope` numbered above `after`, in order.
    async fn changelog_after(
        &self,
        scope: Uuid,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChangelogEntry>, Error>;

    /// The records among `keys` that exist, each with its owner, whoever that is: which
    /// of them a user may see is the sync service's rule, not the store's.
    async fn records(&self, keys: &[(Model, Uuid)]) -> Result<Vec<OwnedRecord>, Error>;

    /// `(board, owner)` of every board shared with `user` (as a member), as committed.
    async fn shared_with(&self, user: Uuid) -> Result<Vec<(Uuid, Uuid)>, Error>;

    /// The members of `board` (not its owner), in the order they joined.
    async fn board_members(&self, board: Uuid) -> Result<Vec<User>, Error>;

    /// Tells the realtime streams of `scope`, in every server process sharing this
    /// database, that its changelog grew. Call after commit.
    async fn notify(&self, scope: Uuid) -> Result<(), Error>;

    /// Creates the user, its scope and the changelog entry that lets clients pull it.
    /// [`Error::EmailTaken`] when the email is registered already.
    async fn create_account(&self, account: NewAccount<'_>) -> Result<(), Error>;

    /// The account with this (normalised) email.
    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, Error>;

    /// Stores a session by its token's hash (and forgets the user's expired ones).
    async fn create_session(
        &self,
        token_hash: &str,
        user: Uuid,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), Error>;

    /// The user of an unexpired session.
    async fn session_user(&self, token_hash: &str, now: Timestamp) -> Result<Option<User>, Error>;

    /// Ends a session; false when there was none.
    async fn delete_session(&self, token_hash: &str) -> Result<bool, Error>;

    /// Stores a stream ticket of a session (and forgets expired tickets).
    async fn create_stream_ticket(
        &self,
        ticket_hash: &str,
        session_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), Error>;

    /// Uses up an unexpired ticket, once: the hash of its session, or None.
    async fn redeem_stream_ticket(
        &self,
        ticket_hash: &str,
        now: Timestamp,
    ) -> Result<Option<String>, Error>;
}

/// Reads inside a write transaction: they see everything committed before its scopes'
/// locks were taken, and this transaction's own writes. They are not filtered by
/// scope: the caller decides what the user may see.
#[async_trait]
pub trait ScopeView: Send {
    /// The user this transaction acts for (the pusher); their scope is always held.
    fn scope(&self) -> Uuid;
    async fn user(&mut self, id: Uuid) -> Result<Option<User>, Error>;
    async fn board(&mut self, id: Uuid) -> Result<Option<sync_protocol::Board>, Error>;
    async fn todo(&mut self, id: Uuid) -> Result<Option<sync_protocol::Todo>, Error>;
    async fn boards_of_user(&mut self, user: Uuid) -> Result<Vec<sync_protocol::Board>, Error>;
    async fn todo_ids_of_board(&mut self, board: Uuid) -> Result<Vec<Uuid>, Error>;
    /// The scope a board or todo id belongs to, also after the record was deleted (see
    /// [`ScopeTx::claim`]); None for an id never used.
    async fn owner(&mut self, id: Uuid) -> Result<Option<Uuid>, Error>;
    /// The members of `board` (not its owner), in the order they joined.
    async fn members(&mut self, board: Uuid) -> Result<Vec<Uuid>, Error>;
    /// The boards of `owner` that `member` is a member of.
    async fn shared_boards(&mut self, owner: Uuid, member: Uuid) -> Result<Vec<Uuid>, Error>;
    /// Everyone who is a member of at least one board of `owner`.
    async fn members_of_owner(&mut self, owner: Uuid) -> Result<Vec<Uuid>, Error>;
}

/// A write transaction over a set of scopes (the acting user's and those it appends
/// to). Its writes never touch a record of a scope it does not hold, even when one
/// commits concurrently under an id this transaction saw free.
///
/// Outside a savepoint, [`ScopeTx::put`] and [`ScopeTx::remove`] may be sent later,
/// together with other writes, before the next read that could see them or at commit:
/// their failure then shows there (the transaction as a whole has failed). Under a
/// savepoint each write is sent before it returns, so a failure is that event's.
#[async_trait]
pub trait ScopeTx: ScopeView {
    /// Where this outbox event was applied, in any scope.
    async fn receipt(&mut self, outbox_event_id: &str) -> Result<Option<Receipt>, Error>;

    /// [`ScopeTx::receipt`] for many events in one query: the ones applied, by event id.
    async fn receipts(
        &mut self,
        outbox_event_ids: &[&str],
    ) -> Result<Vec<(String, Receipt)>, Error>;

    /// The boards among `ids` that exist (in any scope), in one query.
    async fn boards(&mut self, ids: &[Uuid]) -> Result<Vec<sync_protocol::Board>, Error>;

    /// The todos among `ids` that exist (in any scope), in one query.
    async fn todos(&mut self, ids: &[Uuid]) -> Result<Vec<sync_protocol::Todo>, Error>;

    /// `(id, owner scope)` of the ids among `ids` that were ever claimed, in one query.
    async fn owners(&mut self, ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>, Error>;

    /// `(board, member)` of the boards among `ids`, in one query.
    async fn members_of_boards(&mut self, ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>, Error>;

    /// Whether this transaction holds the lock of `scope`.
    fn holds(&self, scope: Uuid) -> bool;

    /// What a batch reads up front, in as few round trips as the backend allows: the
    /// receipts of `outbox_event_ids`, the todos among `todo_ids`, the boards among
    /// `board_ids` and those the found todos are on, the owners of all those ids, and
    /// the members of those boards.
    async fn prefetch(
        &mut self,
        outbox_event_ids: &[&str],
        todo_ids: &[Uuid],
        board_ids: &[Uuid],
    ) -> Result<Prefetched, Error> {
        prefetch_each(self, outbox_event_ids, todo_ids, board_ids).await
    }

    /// Makes `id` the scope `owner`'s for good (written at commit). The commit fails with
    /// [`Error::WriteConflict`] when another scope claimed it first.
    async fn claim(&mut self, id: Uuid, owner: Uuid) -> Result<(), Error>;

    /// Marks a point to roll back to: one event's writes go between this and
    /// [`ScopeTx::release_savepoint`] or [`ScopeTx::rollback_to_savepoint`], so a failing
    /// event leaves the others of its batch applied. Savepoints do not nest.
    async fn savepoint(&mut self) -> Result<(), Error>;

    /// Keeps what was written since [`ScopeTx::savepoint`].
    async fn release_savepoint(&mut self) -> Result<(), Error>;

    /// Undoes what was written since [`ScopeTx::savepoint`] (the transaction goes on).
    async fn rollback_to_savepoint(&mut self) -> Result<(), Error>;

    /// Writes the record: inserts or replaces a board or todo; for a user, replaces the
    /// fields a client may change (name, image, updatedAt). [`Error::WriteConflict`]
    /// when the id turns out to belong to another scope.
    async fn put(&mut self, record: &Record) -> Result<(), Error>;

    /// Deletes a board (with its todos and memberships) of the acting user, or a todo on
    /// a board they own or are a member of; nothing when it is gone already (or is
    /// another scope's).
    async fn remove(&mut self, model: Model, id: Uuid) -> Result<(), Error>;

    /// Adds `user` to the members of `board`; false when they were one already.
    async fn add_member(&mut self, board: Uuid, user: Uuid) -> Result<bool, Error>;

    /// Takes `user` off the members of `board`; false when they were not one.
    async fn remove_member(&mut self, board: Uuid, user: Uuid) -> Result<bool, Error>;

    /// Appends an entry for `(model, id)` to the changelog of every scope in `audience`
    /// (each numbered with that scope's next number), and returns the acting user's
    /// number when they are in the audience. Every scope of the audience must be held.
    /// Entries may be written at commit, all in one statement.
    async fn append(
        &mut self,
        audience: &[Uuid],
        model: Model,
        id: Uuid,
        operation: Operation,
        outbox_event_id: &str,
    ) -> Result<Option<u64>, Error>;

    /// Remembers that `outbox_event_id` was applied as entry `seq` of the acting user's
    /// scope (written at commit, like entries; a duplicate then fails the commit as a
    /// write conflict).
    async fn save_receipt(&mut self, outbox_event_id: &str, seq: u64) -> Result<(), Error>;

    /// Rolls back at once, releasing the scopes' locks before the next transaction of
    /// this task takes them again (dropping also rolls back, but may leave the locks held
    /// a moment longer).
    async fn rollback(self: Box<Self>) -> Result<(), Error>;

    /// Commits, releasing the scopes' locks; the streams of every scope whose changelog
    /// grew are poked in every server process (no separate [`Storage::notify`] needed).
    async fn commit(self: Box<Self>) -> Result<(), Error>;
}

/// [`ScopeTx::prefetch`] a query for each kind of row.
async fn prefetch_each<T: ScopeTx + ?Sized>(
    tx: &mut T,
    outbox_event_ids: &[&str],
    todo_ids: &[Uuid],
    board_ids: &[Uuid],
) -> Result<Prefetched, Error> {
    let receipts = tx.receipts(outbox_event_ids).await?;
    let todos = tx.todos(todo_ids).await?;
    let mut all: Vec<Uuid> = board_ids.to_vec();
    all.extend(todos.iter().map(|todo| todo.board_id));
    all.sort_unstable();
    all.dedup();
    let boards = tx.boards(&all).await?;
    all.extend_from_slice(todo_ids);
    all.sort_unstable();
    all.dedup();
    let owners = tx.owners(&all).await?;
    let found: Vec<Uuid> = boards.iter().map(|board| board.id).collect();
    let members = tx.members_of_boards(&found).await?;
    Ok(Prefetched {
        receipts,
        todos,
        boards,
        owners,
        members,
    })
}

/// Opens the database named by the configuration (creating a SQLite file if needed),
/// brings its schema up to date, and starts relaying pokes between processes.
pub async fn connect(config: &Config, hub: Arc<Hub>) -> Result<Arc<dyn Storage>, Error> {
    let url = config.database_url.as_str();
    let pool = if url.starts_with("sqlite:") {
        sql::Pool::Sqlite(sqlite::connect(url, config.db_max_connections).await?)
    } else if url.starts_with("postgres:") || url.starts_with("postgresql:") {
        sql::Pool::Postgres(postgres::connect(url, config.db_max_connections).await?)
    } else {
        // Only the scheme: the rest of a URL may hold a password.
        let scheme = url.split(':').next().unwrap_or_default();
        return Err(Error::Config(format!(
            "unsupported database URL scheme `{scheme}` (expected sqlite:// or postgres://)"
        )));
    };
    Ok(Arc::new(sql::SqlStore::new(pool, hub).await?))
}

/// Opens the database like [`connect`], with no process of its own to poke: for tools
/// and the simulator, which call the sync service directly.
pub async fn open(config: &Config) -> Result<Arc<dyn Storage>, Error> {
    connect(config, Arc::new(Hub::default())).await
}
