//! The store over SQL: every query both databases share, written once.
//!
//! The two drivers have different types, so a value of either is held in [`Either`] and
//! `on_backend!` expands one body for each: the code (and the SQL, with `$n` parameters,
//! which SQLite accepts too) is written once and compiled for both drivers. What differs
//! is delegated to `super::sqlite` and `super::postgres`.

use super::{
    postgres, sqlite, Backend, ChangelogEntry, Credentials, NewAccount, OwnedRecord, Prefetched,
    Receipt, ScopeTx, ScopeView, Storage,
};
use crate::realtime::Hub;
use crate::Error;
use async_trait::async_trait;
use sqlx::types::Json;
use sqlx::{PgPool, Postgres, QueryBuilder, Sqlite, SqlitePool, Transaction};
use std::collections::BTreeMap;
use std::sync::Arc;
use sync_protocol::{Board, Model, Operation, Record, Timestamp, Todo, User};
use tokio::sync::{Mutex, OwnedMutexGuard};
use uuid::Uuid;

/// A value for one of the two backends.
pub enum Either<S, P> {
    Sqlite(S),
    Postgres(P),
}

/// A connection pool of either backend.
pub type Pool = Either<SqlitePool, PgPool>;
type Tx = Either<Transaction<'static, Sqlite>, Transaction<'static, Postgres>>;

/// Evaluates `$body` with `$x` bound to the value inside `$value`, whichever backend it
/// belongs to: one body, compiled once per driver.
macro_rules! on_backend {
    ($value:expr, |$x:ident| $body:expr) => {
        match $value {
            Either::Sqlite($x) => $body,
            Either::Postgres($x) => $body,
        }
    };
}

/// Fetches the rows whose id is among `$ids`: `$sql` is the query up to `IN (`.
macro_rules! by_ids {
    ($pool:expr, $sql:expr, $ids:expr) => {{
        let mut query = QueryBuilder::new($sql);
        let mut list = query.separated(", ");
        for id in $ids {
            list.push_bind(id);
        }
        query.push(")");
        query.build_query_as().fetch_all($pool).await?
    }};
}

// Each table's columns as its row type reads them, written once; macros rather than
// constants so that `concat!` builds each statement at compile time.
macro_rules! user_columns {
    () => {
        "id, name, email, email_verified, image, created_at, updated_at, is_anonymous"
    };
}
macro_rules! board_columns {
    () => {
        "id, name, created_at, user_id"
    };
}
macro_rules! todo_columns {
    () => {
        "id, title, description, is_completed, created_at, board_id"
    };
}

/// The store: a pool, the local realtime hub, and what each backend needs beside.
pub struct SqlStore {
    pool: Pool,
    hub: Arc<Hub>,
    /// SQLite has one writer at a time: queueing this process's writers here is fairer
    /// and faster than letting them poll SQLite's busy handler.
    sqlite_writer: Arc<Mutex<()>>,
    /// Relays pokes from other processes (PostgreSQL); stops when the store is dropped.
    _relay: Option<postgres::Relay>,
}

impl SqlStore {
    /// A store over `pool`; on PostgreSQL it starts relaying pokes into `hub`.
    pub async fn new(pool: Pool, hub: Arc<Hub>) -> Result<SqlStore, Error> {
        let relay = match &pool {
            Either::Sqlite(_) => None,
            Either::Postgres(pool) => Some(postgres::Relay::start(pool, hub.clone()).await?),
        };
        Ok(SqlStore {
            pool,
            hub,
            sqlite_writer: Arc::new(Mutex::new(())),
            _relay: relay,
        })
    }
}

#[async_trait]
impl Storage for SqlStore {
    fn backend(&self) -> Backend {
        match self.pool {
            Either::Sqlite(_) => Backend::Sqlite,
            Either::Postgres(_) => Backend::Postgres,
        }
    }

    async fn ping(&self) -> Result<(), Error> {
        on_backend!(&self.pool, |pool| sqlx::query("SELECT 1")
            .execute(pool)
            .await
            .map(|_| ())
            .map_err(|e| Error::Unavailable(e.to_string())))
    }

    async fn begin_scopes(&self, acting: Uuid, scopes: &[Uuid]) -> Result<Box<dyn ScopeTx>, Error> {
        let mut wanted: Vec<Uuid> = scopes.to_vec();
        wanted.push(acting);
        wanted.sort_unstable();
        wanted.dedup();
        let (tx, found, writer) = match &self.pool {
            Either::Sqlite(pool) => {
                let writer = self.sqlite_writer.clone().lock_owned().await;
                let (tx, found) = sqlite::begin_scopes(pool, &wanted).await?;
                (Either::Sqlite(tx), found, Some(writer))
            }
            Either::Postgres(pool) => {
                let (tx, found) = postgres::begin_scopes(pool, &wanted).await?;
                (Either::Postgres(tx), found, None)
            }
        };
        let mut last = BTreeMap::new();
        for (key, seq) in found {
            last.insert(parse_uuid(&key)?, to_u64(seq)?);
        }
        if let Some(missing) = wanted.iter().find(|scope| !last.contains_key(scope)) {
            return Err(Error::CorruptData(format!("no scope {missing}")));
        }
        Ok(Box::new(SqlScopeTx {
            tx,
            scope: acting,
            next: last.clone(),
            last,
            pending: Pending::default(),
            queued: Vec::new(),
            savepoint: None,
            release_pending: false,
            savepoint_unsent: false,
            hub: self.hub.clone(),
            _writer: writer,
        }))
    }

    async fn last_seq(&self, scope: Uuid) -> Result<Option<u64>, Error> {
        let last: Option<i64> = on_backend!(&self.pool, |pool| sqlx::query_scalar(
            "SELECT last_seq FROM scopes WHERE scope_key = $1"
        )
        .bind(scope.to_string())
        .fetch_optional(pool)
        .await?);
        last.map(to_u64).transpose()
    }

    async fn changelog_after(
        &self,
        scope: Uuid,
        after: u64,
        limit: u32,
    ) -> Result<Vec<ChangelogEntry>, Error> {
        let rows: Vec<EntryRow> = on_backend!(&self.pool, |pool| sqlx::query_as(
            "SELECT seq, model, key_path, operation, outbox_event_id FROM changelog \
             WHERE scope_key = $1 AND seq > $2 ORDER BY seq LIMIT $3"
        )
        .bind(scope.to_string())
        .bind(to_i64(after)?)
        .bind(i64::from(limit))
        .fetch_all(pool)
        .await?);
        rows.into_iter().map(EntryRow::into_entry).collect()
    }

    async fn records(&self, keys: &[(Model, Uuid)]) -> Result<Vec<OwnedRecord>, Error> {
        let ids_of = |model: Model| -> Vec<String> {
            keys.iter()
                .filter(|(m, _)| *m == model)
                .map(|(_, id)| id.to_string())
                .collect()
        };
        let mut records = Vec::new();

        // Records are fetched by primary key only: a join or an owner filter in SQL lets
        // the planner walk a whole board or user instead (seen at 100,000 todos on one
        // board: 50 ms instead of 1 ms per page).
        let user_ids = ids_of(Model::User);
        if !user_ids.is_empty() {
            let rows: Vec<UserRow> = on_backend!(&self.pool, |pool| by_ids!(
                pool,
                concat!("SELECT ", user_columns!(), " FROM users WHERE id IN ("),
                &user_ids
            ));
            for row in rows {
                let user = User::try_from(row)?;
                records.push(OwnedRecord {
                    owner: user.id,
                    record: Record::User(user),
                });
            }
        }

        let board_ids = ids_of(Model::Board);
        if !board_ids.is_empty() {
            let rows: Vec<BoardRow> = on_backend!(&self.pool, |pool| by_ids!(
                pool,
                concat!("SELECT ", board_columns!(), " FROM boards WHERE id IN ("),
                &board_ids
            ));
            for row in rows {
                let board = Board::try_from(row)?;
                records.push(OwnedRecord {
                    owner: board.user_id,
                    record: Record::Board(board),
                });
            }
        }

        // Each todo with its board's owner, in one query that starts from the todos'
        // primary keys and looks each board up by its own.
        let todo_ids = ids_of(Model::Todo);
        if !todo_ids.is_empty() {
            let rows: Vec<OwnedTodoRow> = on_backend!(&self.pool, |pool| by_ids!(
                pool,
                concat!(
                    "SELECT ",
                    todo_columns!(),
                    ", (SELECT user_id FROM boards WHERE boards.id = todos.board_id) AS owner \
                     FROM todos WHERE id IN ("
                ),
                &todo_ids
            ));
            for row in rows {
                // A todo always has its board (the foreign key removes todos with it).
                let Some(owner) = row.owner.as_deref() else {
                    continue;
                };
                records.push(OwnedRecord {
                    owner: parse_uuid(owner)?,
                    record: Record::Todo(row.todo.try_into()?),
                });
            }
        }
        Ok(records)
    }

    async fn shared_with(&self, user: Uuid) -> Result<Vec<(Uuid, Uuid)>, Error> {
        let rows: Vec<(String, String)> = on_backend!(&self.pool, |pool| sqlx::query_as(
            "SELECT m.board_id, b.user_id FROM board_members m \
             JOIN boards b ON b.id = m.board_id WHERE m.user_id = $1"
        )
        .bind(user.to_string())
        .fetch_all(pool)
        .await?);
        rows.iter()
            .map(|(board, owner)| Ok((parse_uuid(board)?, parse_uuid(owner)?)))
            .collect()
    }

    async fn board_members(&self, board: Uuid) -> Result<Vec<User>, Error> {
        let rows: Vec<UserRow> = on_backend!(&self.pool, |pool| sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM (SELECT u.*, m.created_at AS joined_at FROM board_members m \
             JOIN users u ON u.id = m.user_id WHERE m.board_id = $1) AS joined \
             ORDER BY joined_at, id"
        ))
        .bind(board.to_string())
        .fetch_all(pool)
        .await?);
        rows.into_iter().map(User::try_from).collect()
    }

    async fn notify(&self, scope: Uuid) -> Result<(), Error> {
        match &self.pool {
            // One process per SQLite file: its own streams are all there are.
            Either::Sqlite(_) => {
                self.hub.poke(scope);
                Ok(())
            }
            // Every process listening, this one included, relays it to its streams.
            Either::Postgres(pool) => postgres::notify(pool, scope).await,
        }
    }

    async fn create_account(&self, account: NewAccount<'_>) -> Result<(), Error> {
        let user = account.user;
        let id = user.id.to_string();
        // An async block, so that `?` stops here and a taken email can be told apart.
        let result: Result<(), sqlx::Error> = on_backend!(&self.pool, |pool| async {
            let mut tx = pool.begin().await?;
            sqlx::query(
                "INSERT INTO users (id, name, email, email_verified, image, created_at, \
                 updated_at, is_anonymous, password_hash) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)",
            )
            .bind(&id)
            .bind(&user.name)
            .bind(&user.email)
            .bind(user.email_verified)
            .bind(&user.image)
            .bind(user.created_at.as_millis())
            .bind(user.updated_at.as_millis())
            .bind(user.is_anonymous)
            .bind(account.password_hash)
            .execute(&mut *tx)
            .await?;
            // The user record is the scope's first change: clients pull it like any other.
            sqlx::query("INSERT INTO scopes (scope_key, last_seq) VALUES ($1, 1)")
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            sqlx::query(
                "INSERT INTO changelog (scope_key, seq, model, key_path, operation, \
                 outbox_event_id, created_at) VALUES ($1, 1, $2, $3, $4, $5, $6)",
            )
            .bind(&id)
            .bind(Model::User.name())
            .bind(Json(key_path(user.id)))
            .bind(Operation::Create.name())
            .bind(account.outbox_event_id)
            .bind(user.created_at.as_millis())
            .execute(&mut *tx)
            .await?;
            tx.commit().await
        }
        .await);
        match result.map_err(Error::from) {
            // The only unique key a new account can collide on is its email.
            Err(error) if error.is_unique_violation() => Err(Error::EmailTaken),
            other => other,
        }
    }

    async fn credentials(&self, email: &str) -> Result<Option<Credentials>, Error> {
        let sql = concat!(
            "SELECT ",
            user_columns!(),
            ", password_hash FROM users WHERE email = $1"
        );
        let row: Option<CredentialsRow> = on_backend!(&self.pool, |pool| sqlx::query_as(sql)
            .bind(email)
            .fetch_optional(pool)
            .await?);
        row.map(|row| {
            Ok(Credentials {
                user: row.user.try_into()?,
                password_hash: row.password_hash,
            })
        })
        .transpose()
    }

    async fn create_session(
        &self,
        token_hash: &str,
        user: Uuid,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        let user = user.to_string();
        on_backend!(&self.pool, |pool| {
            sqlx::query("DELETE FROM sessions WHERE user_id = $1 AND expires_at <= $2")
                .bind(&user)
                .bind(now.as_millis())
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO sessions (token_hash, user_id, created_at, expires_at) \
                 VALUES ($1, $2, $3, $4)",
            )
            .bind(token_hash)
            .bind(&user)
            .bind(now.as_millis())
            .bind(expires_at.as_millis())
            .execute(pool)
            .await?;
        });
        Ok(())
    }

    async fn session_user(&self, token_hash: &str, now: Timestamp) -> Result<Option<User>, Error> {
        let row: Option<UserRow> = on_backend!(&self.pool, |pool| sqlx::query_as(concat!(
            "SELECT ",
            user_columns!(),
            " FROM users WHERE id = (SELECT user_id FROM sessions \
                 WHERE token_hash = $1 AND expires_at > $2)"
        ))
        .bind(token_hash)
        .bind(now.as_millis())
        .fetch_optional(pool)
        .await?);
        row.map(User::try_from).transpose()
    }

    async fn delete_session(&self, token_hash: &str) -> Result<bool, Error> {
        let deleted = on_backend!(&self.pool, |pool| sqlx::query(
            "DELETE FROM sessions WHERE token_hash = $1"
        )
        .bind(token_hash)
        .execute(pool)
        .await?
        .rows_affected());
        Ok(deleted > 0)
    }

    async fn create_stream_ticket(
        &self,
        ticket_hash: &str,
        session_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        self.insert_stream_ticket(ticket_hash, session_hash, now, expires_at)
            .await
    }

    async fn redeem_stream_ticket(
        &self,
        ticket_hash: &str,
        now: Timestamp,
    ) -> Result<Option<String>, Error> {
        // One statement takes the ticket away and reads it: two streams racing with one
        // ticket cannot both get it.
        let session: Option<(String, i64)> = on_backend!(&self.pool, |pool| sqlx::query_as(
            "DELETE FROM stream_tickets WHERE ticket_hash = $1 \
             RETURNING session_hash, expires_at"
        )
        .bind(ticket_hash)
        .fetch_optional(pool)
        .await?);
        Ok(session
            .filter(|(_, expires_at)| *expires_at > now.as_millis())
            .map(|(session, _)| session))
    }
}

impl SqlStore {
    /// See [`Storage::create_stream_ticket`].
    async fn insert_stream_ticket(
        &self,
        ticket_hash: &str,
        session_hash: &str,
        now: Timestamp,
        expires_at: Timestamp,
    ) -> Result<(), Error> {
        on_backend!(&self.pool, |pool| {
            sqlx::query("DELETE FROM stream_tickets WHERE expires_at <= $1")
                .bind(now.as_millis())
                .execute(pool)
                .await?;
            sqlx::query(
                "INSERT INTO stream_tickets (ticket_hash, session_hash, expires_at) \
                 VALUES ($1, $2, $3)",
            )
            .bind(ticket_hash)
            .bind(session_hash)
            .bind(expires_at.as_millis())
            .execute(pool)
            .await?;
        });
        Ok(())
    }
}

/// A write transaction over a set of scopes. Their locks were taken by its first
/// statement; each scope's entries are numbered from its last number when the
/// transaction began, and the new last numbers are written at commit.
///
/// Changelog entries, receipts and claims are kept here and written at commit with one
/// statement each (per chunk; on PostgreSQL one statement for all of them, with the
/// scope's last number and the poke): a batch of 100 events then costs a few statements
/// more than one event, not three times as many.
///
/// Record writes outside a savepoint are queued too, and sent as one statement per run
/// of like writes (all the batch's new todos in one upsert) before the next read of the
/// records' tables, or at commit. Under a savepoint each write is sent at once, so its
/// failure is known to be its event's.
struct SqlScopeTx {
    tx: Tx,
    /// The acting user.
    scope: Uuid,
    /// Each held scope's last number when the transaction began.
    last: BTreeMap<Uuid, u64>,
    /// Each held scope's last number handed out by this transaction.
    next: BTreeMap<Uuid, u64>,
    pending: Pending,
    /// Record writes not sent yet, in order.
    queued: Vec<Write>,
    /// What `pending` held, and `next`, when the open savepoint was taken.
    savepoint: Option<(PendingMark, BTreeMap<Uuid, u64>)>,
    /// A savepoint released by the caller whose RELEASE has not been sent yet.
    release_pending: bool,
    /// The open savepoint was taken by the caller but not sent yet.
    savepoint_unsent: bool,
    /// This process's streams, poked after a commit on SQLite.
    hub: Arc<Hub>,
    /// This process's SQLite writer slot, held until commit or drop.
    _writer: Option<OwnedMutexGuard<()>>,
}

/// Rows to write at commit.
#[derive(Default)]
struct Pending {
    entries: Vec<PendingEntry>,
    receipts: Vec<(String, u64)>,
    /// `(id, owner scope)`.
    claims: Vec<(Uuid, Uuid)>,
}

/// The lengths of [`Pending`]'s lists, to cut them back to on rollback.
#[derive(Clone, Copy)]
struct PendingMark {
    entries: usize,
    receipts: usize,
    claims: usize,
}

impl Pending {
    fn mark(&self) -> PendingMark {
        PendingMark {
            entries: self.entries.len(),
            receipts: self.receipts.len(),
            claims: self.claims.len(),
        }
    }

    fn truncate(&mut self, mark: PendingMark) {
        self.entries.truncate(mark.entries);
        self.receipts.truncate(mark.receipts);
        self.claims.truncate(mark.claims);
    }
}

/// A record write not sent yet.
enum Write {
    Put(Record),
    Remove(Model, Uuid),
}

impl Write {
    /// Writes of one kind in a row go in one statement.
    fn kind(&self) -> (bool, Model) {
        match self {
            Write::Put(record) => (true, record.model()),
            Write::Remove(model, _) => (false, *model),
        }
    }
}

struct PendingEntry {
    scope: Uuid,
    seq: u64,
    model: Model,
    id: Uuid,
    operation: Operation,
    outbox_event_id: String,
    created_at: i64,
}

/// Rows per multi-row INSERT: 7 parameters each stays far below both databases' limits
/// (SQLite 32,766, PostgreSQL 65,535), whatever a board delete cascades to.
const ROWS_PER_INSERT: usize = 1000;

/// The savepoint's name; savepoints do not nest, so one name serves.
const SAVEPOINT: &str = "sync_event";

impl SqlScopeTx {
    /// Whether a board names the acting user as its owner (todos are checked by the
    /// upsert).
    fn may_hold(&self, record: &Record) -> bool {
        match record {
            Record::Board(board) => board.user_id == self.scope,
            Record::User(user) => user.id == self.scope,
            Record::Todo(_) => true,
        }
    }
}

#[async_trait]
impl ScopeView for SqlScopeTx {
    fn scope(&self) -> Uuid {
        self.scope
    }

    async fn user(&mut self, id: Uuid) -> Result<Option<User>, Error> {
        self.flush().await?;
        let sql = concat!("SELECT ", user_columns!(), " FROM users WHERE id = $1");
        let row: Option<UserRow> = on_backend!(&mut self.tx, |tx| sqlx::query_as(sql)
            .bind(id.to_string())
            .fetch_optional(&mut **tx)
            .await?);
        row.map(User::try_from).transpose()
    }

    async fn board(&mut self, id: Uuid) -> Result<Option<Board>, Error> {
        self.flush().await?;
        let row: Option<BoardRow> = on_backend!(&mut self.tx, |tx| sqlx::query_as(concat!(
            "SELECT ",
            board_columns!(),
            " FROM boards WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?);
        row.map(Board::try_from).transpose()
    }

    async fn todo(&mut self, id: Uuid) -> Result<Option<Todo>, Error> {
        self.flush().await?;
        let row: Option<TodoRow> = on_backend!(&mut self.tx, |tx| sqlx::query_as(concat!(
            "SELECT ",
            todo_columns!(),
            " FROM todos WHERE id = $1"
        ))
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?);
        row.map(Todo::try_from).transpose()
    }

    async fn boards_of_user(&mut self, user: Uuid) -> Result<Vec<Board>, Error> {
        self.flush().await?;
        let rows: Vec<BoardRow> = on_backend!(&mut self.tx, |tx| sqlx::query_as(concat!(
            "SELECT ",
            board_columns!(),
            " FROM boards WHERE user_id = $1"
        ))
        .bind(user.to_string())
        .fetch_all(&mut **tx)
        .await?);
        rows.into_iter().map(Board::try_from).collect()
    }

    async fn todo_ids_of_board(&mut self, board: Uuid) -> Result<Vec<Uuid>, Error> {
        self.flush().await?;
        let ids: Vec<String> = on_backend!(&mut self.tx, |tx| sqlx::query_scalar(
            "SELECT id FROM todos WHERE board_id = $1 ORDER BY id"
        )
        .bind(board.to_string())
        .fetch_all(&mut **tx)
        .await?);
        ids.iter().map(|id| parse_uuid(id)).collect()
    }

    async fn owner(&mut self, id: Uuid) -> Result<Option<Uuid>, Error> {
        if let Some(owner) = self.pending_claim(id) {
            return Ok(Some(owner));
        }
        let owner: Option<String> = on_backend!(&mut self.tx, |tx| sqlx::query_scalar(
            "SELECT scope_key FROM record_owners WHERE id = $1"
        )
        .bind(id.to_string())
        .fetch_optional(&mut **tx)
        .await?);
        owner.as_deref().map(parse_uuid).transpose()
    }

    async fn members(&mut self, board: Uuid) -> Result<Vec<Uuid>, Error> {
        self.flush().await?;
        let ids: Vec<String> = on_backend!(&mut self.tx, |tx| {
            sqlx::query_scalar(
            "SELECT user_id FROM board_members WHERE board_id = $1 ORDER BY created_at, user_id"
        )
        .bind(board.to_string())
        .fetch_all(&mut **tx)
        .await?
        });
        ids.iter().map(|id| parse_uuid(id)).collect()
    }

    async fn shared_boards(&mut self, owner: Uuid, member: Uuid) -> Result<Vec<Uuid>, Error> {
        self.flush().await?;
        let ids: Vec<String> = on_backend!(&mut self.tx, |tx| sqlx::query_scalar(
            "SELECT m.board_id FROM board_members m JOIN boards b ON b.id = m.board_id \
             WHERE m.user_id = $1 AND b.user_id = $2 ORDER BY m.board_id"
        )
        .bind(member.to_string())
        .bind(owner.to_string())
        .fetch_all(&mut **tx)
        .await?);
        ids.iter().map(|id| parse_uuid(id)).collect()
    }

    async fn members_of_owner(&mut self, owner: Uuid) -> Result<Vec<Uuid>, Error> {
        self.flush().await?;
        let ids: Vec<String> = on_backend!(&mut self.tx, |tx| {
            sqlx::query_scalar(
            "SELECT DISTINCT m.user_id FROM board_members m JOIN boards b ON b.id = m.board_id \
             WHERE b.user_id = $1 ORDER BY m.user_id"
        )
        .bind(owner.to_string())
        .fetch_all(&mut **tx)
        .await?
        });
        ids.iter().map(|id| parse_uuid(id)).collect()
    }
}

#[async_trait]
impl ScopeTx for SqlScopeTx {
    async fn receipt(&mut self, outbox_event_id: &str) -> Result<Option<Receipt>, Error> {
        if let Some(receipt) = self.pending_receipt(outbox_event_id) {
            return Ok(Some(receipt));
        }
        let row: Option<(String, i64)> = on_backend!(&mut self.tx, |tx| sqlx::query_as(
            "SELECT scope_key, seq FROM push_receipts WHERE outbox_event_id = $1"
        )
        .bind(outbox_event_id)
        .fetch_optional(&mut **tx)
        .await?);
        row.map(|(scope_key, seq)| {
            Ok(Receipt {
                scope_key,
                seq: to_u64(seq)?,
            })
        })
        .transpose()
    }

    async fn receipts(
        &mut self,
        outbox_event_ids: &[&str],
    ) -> Result<Vec<(String, Receipt)>, Error> {
        if outbox_event_ids.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<(String, String, i64)> = on_backend!(&mut self.tx, |tx| by_ids!(
            &mut **tx,
            "SELECT outbox_event_id, scope_key, seq FROM push_receipts \
             WHERE outbox_event_id IN (",
            outbox_event_ids
        ));
        let mut found = rows
            .into_iter()
            .map(|(id, scope_key, seq)| {
                Ok((
                    id,
                    Receipt {
                        scope_key,
                        seq: to_u64(seq)?,
                    },
                ))
            })
            .collect::<Result<Vec<_>, Error>>()?;
        for id in outbox_event_ids {
            if let Some(receipt) = self.pending_receipt(id) {
                found.push((id.to_string(), receipt));
            }
        }
        Ok(found)
    }

    async fn boards(&mut self, ids: &[Uuid]) -> Result<Vec<Board>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.flush().await?;
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let rows: Vec<BoardRow> = on_backend!(&mut self.tx, |tx| by_ids!(
            &mut **tx,
            concat!("SELECT ", board_columns!(), " FROM boards WHERE id IN ("),
            &ids
        ));
        rows.into_iter().map(Board::try_from).collect()
    }

    async fn todos(&mut self, ids: &[Uuid]) -> Result<Vec<Todo>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.flush().await?;
        let ids: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let rows: Vec<TodoRow> = on_backend!(&mut self.tx, |tx| by_ids!(
            &mut **tx,
            concat!("SELECT ", todo_columns!(), " FROM todos WHERE id IN ("),
            &ids
        ));
        rows.into_iter().map(Todo::try_from).collect()
    }

    async fn owners(&mut self, ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let rows: Vec<(String, String)> = on_backend!(&mut self.tx, |tx| by_ids!(
            &mut **tx,
            "SELECT id, scope_key FROM record_owners WHERE id IN (",
            &texts
        ));
        let mut owners = rows
            .iter()
            .map(|(id, scope)| Ok((parse_uuid(id)?, parse_uuid(scope)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        owners.extend(
            ids.iter()
                .filter_map(|id| Some((*id, self.pending_claim(*id)?))),
        );
        Ok(owners)
    }

    async fn members_of_boards(&mut self, ids: &[Uuid]) -> Result<Vec<(Uuid, Uuid)>, Error> {
        if ids.is_empty() {
            return Ok(Vec::new());
        }
        self.flush().await?;
        let texts: Vec<String> = ids.iter().map(Uuid::to_string).collect();
        let rows: Vec<(String, String)> = on_backend!(&mut self.tx, |tx| by_ids!(
            &mut **tx,
            "SELECT board_id, user_id FROM board_members WHERE board_id IN (",
            &texts
        ));
        rows.iter()
            .map(|(board, user)| Ok((parse_uuid(board)?, parse_uuid(user)?)))
            .collect()
    }

    fn holds(&self, scope: Uuid) -> bool {
        self.last.contains_key(&scope)
    }

    async fn prefetch(
        &mut self,
        outbox_event_ids: &[&str],
        todo_ids: &[Uuid],
        board_ids: &[Uuid],
    ) -> Result<Prefetched, Error> {
        let fresh = self.queued.is_empty()
            && self.pending.receipts.is_empty()
            && self.pending.claims.is_empty();
        if fresh {
            if let Either::Postgres(tx) = &mut self.tx {
                return prefetch_postgres(tx, outbox_event_ids, todo_ids, board_ids).await;
            }
        }
        // SQLite has no round trips to save; writes not sent yet (and pending receipts
        // and claims) are taken into account by the reads of one kind each.
        super::prefetch_each(self, outbox_event_ids, todo_ids, board_ids).await
    }

    async fn claim(&mut self, id: Uuid, owner: Uuid) -> Result<(), Error> {
        match self.pending_claim(id) {
            None => self.pending.claims.push((id, owner)),
            Some(claimed) if claimed == owner => {}
            Some(claimed) => {
                return Err(Error::Internal(format!(
                    "{id} claimed for both {claimed} and {owner}"
                )))
            }
        }
        Ok(())
    }

    async fn savepoint(&mut self) -> Result<(), Error> {
        if self.savepoint.is_some() {
            return Err(Error::Internal("savepoints do not nest".into()));
        }
        // Writes queued before the savepoint belong before it.
        self.flush().await?;
        // Sent before the event's first write (see `send_savepoint`): none for an event
        // that writes nothing.
        self.savepoint_unsent = true;
        self.savepoint = Some((self.pending.mark(), self.next.clone()));
        Ok(())
    }

    async fn release_savepoint(&mut self) -> Result<(), Error> {
        if self.savepoint.take().is_none() {
            return Err(Error::Internal("no savepoint to release".into()));
        }
        // Never sent: nothing was written under it, nothing to release. Otherwise the
        // RELEASE goes with the next savepoint, or the commit releases it; until then
        // this event's writes simply stay, as released ones do.
        if !std::mem::take(&mut self.savepoint_unsent) {
            self.release_pending = true;
        }
        Ok(())
    }

    async fn rollback_to_savepoint(&mut self) -> Result<(), Error> {
        let Some((mark, next)) = self.savepoint.take() else {
            return Err(Error::Internal("no savepoint to roll back to".into()));
        };
        self.pending.truncate(mark);
        self.next = next;
        // Writes are sent at once under a savepoint; one whose sending failed is gone.
        self.queued.clear();
        if std::mem::take(&mut self.savepoint_unsent) {
            // Nothing was written under it.
            return Ok(());
        }
        // ROLLBACK TO keeps the savepoint; release it so the next event can take its own.
        execute_script(
            &mut self.tx,
            &format!("ROLLBACK TO SAVEPOINT {SAVEPOINT}; RELEASE SAVEPOINT {SAVEPOINT}"),
        )
        .await
        .map(|_| ())
    }

    async fn put(&mut self, record: &Record) -> Result<(), Error> {
        if !self.may_hold(record) {
            return Err(Error::Internal(format!(
                "{} {} is outside scope {}",
                record.model(),
                record.id(),
                self.scope
            )));
        }
        self.queued.push(Write::Put(record.clone()));
        if self.savepoint.is_some() {
            self.flush().await?;
        }
        Ok(())
    }

    async fn remove(&mut self, model: Model, id: Uuid) -> Result<(), Error> {
        if model == Model::User {
            // Accounts are not deleted through sync; the sync logic never asks.
            return Err(Error::Internal("users are not removed by sync".into()));
        }
        self.queued.push(Write::Remove(model, id));
        if self.savepoint.is_some() {
            self.flush().await?;
        }
        Ok(())
    }

    async fn add_member(&mut self, board: Uuid, user: Uuid) -> Result<bool, Error> {
        self.flush().await?;
        self.send_savepoint().await?;
        let now = Timestamp::from_datetime(chrono::Utc::now()).as_millis();
        let added = on_backend!(&mut self.tx, |tx| sqlx::query(
            "INSERT INTO board_members (board_id, user_id, created_at) VALUES ($1, $2, $3) \
             ON CONFLICT (board_id, user_id) DO NOTHING"
        )
        .bind(board.to_string())
        .bind(user.to_string())
        .bind(now)
        .execute(&mut **tx)
        .await?
        .rows_affected());
        Ok(added > 0)
    }

    async fn remove_member(&mut self, board: Uuid, user: Uuid) -> Result<bool, Error> {
        self.flush().await?;
        self.send_savepoint().await?;
        let removed = on_backend!(&mut self.tx, |tx| sqlx::query(
            "DELETE FROM board_members WHERE board_id = $1 AND user_id = $2"
        )
        .bind(board.to_string())
        .bind(user.to_string())
        .execute(&mut **tx)
        .await?
        .rows_affected());
        Ok(removed > 0)
    }

    async fn append(
        &mut self,
        audience: &[Uuid],
        model: Model,
        id: Uuid,
        operation: Operation,
        outbox_event_id: &str,
    ) -> Result<Option<u64>, Error> {
        let created_at = Timestamp::from_datetime(chrono::Utc::now()).as_millis();
        let mut own = None;
        let mut scopes = audience.to_vec();
        scopes.sort_unstable();
        scopes.dedup();
        for scope in scopes {
            let Some(next) = self.next.get_mut(&scope) else {
                // The caller works out the audience under the locks it took: this is a
                // bug, and the transaction must not commit half an audience.
                return Err(Error::Internal(format!(
                    "append to scope {scope}, whose lock is not held"
                )));
            };
            *next += 1;
            let seq = *next;
            self.pending.entries.push(PendingEntry {
                scope,
                seq,
                model,
                id,
                operation,
                outbox_event_id: outbox_event_id.to_string(),
                created_at,
            });
            if scope == self.scope {
                own = Some(seq);
            }
        }
        Ok(own)
    }

    async fn save_receipt(&mut self, outbox_event_id: &str, seq: u64) -> Result<(), Error> {
        self.pending
            .receipts
            .push((outbox_event_id.to_string(), seq));
        Ok(())
    }

    async fn rollback(self: Box<Self>) -> Result<(), Error> {
        on_backend!(self.tx, |tx| tx.rollback().await?);
        Ok(())
    }

    async fn commit(mut self: Box<Self>) -> Result<(), Error> {
        if self.savepoint.is_some() {
            return Err(Error::Internal("commit with an open savepoint".into()));
        }
        self.flush().await?;
        // The scopes whose changelog grew, with their new last numbers.
        let grown: Vec<(Uuid, u64)> = self
            .next
            .iter()
            .filter(|(scope, next)| self.last.get(scope) != Some(next))
            .map(|(scope, next)| (*scope, *next))
            .collect();
        if !grown.is_empty() && matches!(self.tx, Either::Postgres(_)) {
            // Claims, entries, receipts, the last numbers and the pokes in one round trip.
            self.flush_all_postgres(&grown).await?;
        } else {
            self.flush_claims().await?;
            self.flush_entries().await?;
            self.flush_receipts().await?;
            for (scope, next) in &grown {
                on_backend!(&mut self.tx, |tx| sqlx::query(
                    "UPDATE scopes SET last_seq = $1 WHERE scope_key = $2"
                )
                .bind(to_i64(*next)?)
                .bind(scope.to_string())
                .execute(&mut **tx)
                .await?
                .rows_affected());
            }
        }
        let sqlite = matches!(self.tx, Either::Sqlite(_));
        on_backend!(self.tx, |tx| tx.commit().await?);
        if sqlite {
            // One process per SQLite file: its own streams are all there are.
            for (scope, _) in grown {
                self.hub.poke(scope);
            }
        }
        Ok(())
    }
}

impl SqlScopeTx {
    /// Sends the savepoint statements not sent yet: the previous event's RELEASE and
    /// this event's SAVEPOINT, in one round trip before the event's first write. Reads
    /// need none: what they see is the same either way.
    async fn send_savepoint(&mut self) -> Result<(), Error> {
        let mut script = String::new();
        if std::mem::take(&mut self.release_pending) {
            script.push_str(&format!("RELEASE SAVEPOINT {SAVEPOINT}; "));
        }
        if std::mem::take(&mut self.savepoint_unsent) {
            script.push_str(&format!("SAVEPOINT {SAVEPOINT}; "));
        }
        if !script.is_empty() {
            execute_script(&mut self.tx, &script).await?;
        }
        Ok(())
    }

    /// Sends the queued record writes, a statement (per chunk) for each run of writes
    /// of one kind: runs keep their order, so a todo is written after its board and a
    /// board's delete after the writes before it.
    async fn flush(&mut self) -> Result<(), Error> {
        if self.queued.is_empty() {
            return Ok(());
        }
        let writes = std::mem::take(&mut self.queued);
        self.send_savepoint().await?;
        for run in writes.chunk_by(|a, b| a.kind() == b.kind()) {
            match run[0].kind() {
                (true, Model::User) => {
                    for write in run {
                        if let Write::Put(Record::User(user)) = write {
                            self.update_user(user).await?;
                        }
                    }
                }
                (true, Model::Board) => {
                    let boards = latest(run, |write| match write {
                        Write::Put(Record::Board(board)) => Some((board.id, board)),
                        _ => None,
                    });
                    self.upsert_boards(&boards).await?;
                }
                (true, Model::Todo) => {
                    let todos = latest(run, |write| match write {
                        Write::Put(Record::Todo(todo)) => Some((todo.id, todo)),
                        _ => None,
                    });
                    self.upsert_todos(&todos).await?;
                }
                (false, model) => {
                    let ids = latest(run, |write| match write {
                        Write::Remove(_, id) => Some((*id, id)),
                        Write::Put(_) => None,
                    });
                    self.delete(model, &ids).await?;
                }
            }
        }
        Ok(())
    }

    /// Replaces the fields of the scope's user that a client may change.
    async fn update_user(&mut self, user: &User) -> Result<(), Error> {
        let written = on_backend!(&mut self.tx, |tx| sqlx::query(
            "UPDATE users SET name = $2, image = $3, updated_at = $4 WHERE id = $1"
        )
        .bind(user.id.to_string())
        .bind(&user.name)
        .bind(&user.image)
        .bind(user.updated_at.as_millis())
        .execute(&mut **tx)
        .await?
        .rows_affected());
        if written == 0 {
            return Err(Error::Internal(format!("scope {} has no user", self.scope)));
        }
        Ok(())
    }

    // The `WHERE` of each upsert leaves a row of another scope alone: between this
    // transaction's checks and its write, another scope may commit a record with the
    // same new id (PostgreSQL then applies `DO UPDATE` to that row). Fewer rows written
    // than sent means exactly that race, and the push tries again.

    /// Inserts or replaces boards of this scope (each id once).
    async fn upsert_boards(&mut self, boards: &[&Board]) -> Result<(), Error> {
        for chunk in boards.chunks(ROWS_PER_INSERT) {
            let written = on_backend!(&mut self.tx, |tx| {
                let mut query =
                    QueryBuilder::new(concat!("INSERT INTO boards (", board_columns!(), ") "));
                query.push_values(chunk, |mut row, board| {
                    row.push_bind(board.id.to_string())
                        .push_bind(&board.name)
                        .push_bind(board.created_at.as_millis())
                        .push_bind(board.user_id.to_string());
                });
                query.push(
                    " ON CONFLICT (id) DO UPDATE SET name = excluded.name, \
                     created_at = excluded.created_at WHERE boards.user_id = excluded.user_id",
                );
                query.build().execute(&mut **tx).await?.rows_affected()
            });
            if written != chunk.len() as u64 {
                return Err(Error::WriteConflict(
                    "a board id belongs to another scope".into(),
                ));
            }
        }
        Ok(())
    }

    /// Inserts or replaces todos (each id once). A stored todo is replaced only by one on
    /// a board of the same owner: a todo never leaves its owner's boards (whose todo it
    /// is was checked under that owner's lock; this guards the race for a new id).
    async fn upsert_todos(&mut self, todos: &[&Todo]) -> Result<(), Error> {
        for chunk in todos.chunks(ROWS_PER_INSERT) {
            let written = on_backend!(&mut self.tx, |tx| {
                let mut query =
                    QueryBuilder::new(concat!("INSERT INTO todos (", todo_columns!(), ") "));
                query.push_values(chunk, |mut row, todo| {
                    row.push_bind(todo.id.to_string())
                        .push_bind(&todo.title)
                        .push_bind(&todo.description)
                        .push_bind(todo.is_completed)
                        .push_bind(todo.created_at.as_millis())
                        .push_bind(todo.board_id.to_string());
                });
                query.push(
                    " ON CONFLICT (id) DO UPDATE SET title = excluded.title, \
                     description = excluded.description, is_completed = excluded.is_completed, \
                     created_at = excluded.created_at, board_id = excluded.board_id \
                     WHERE (SELECT user_id FROM boards WHERE boards.id = todos.board_id) = \
                     (SELECT user_id FROM boards WHERE boards.id = excluded.board_id)",
                );
                query.build().execute(&mut **tx).await?.rows_affected()
            });
            if written != chunk.len() as u64 {
                return Err(Error::WriteConflict(
                    "a todo id belongs to another scope".into(),
                ));
            }
        }
        Ok(())
    }

    /// Deletes boards of the acting user (with their todos and memberships), or todos on
    /// boards they own or are a member of; rows already gone, or another scope's
    /// (committed since the checks), are left alone.
    async fn delete(&mut self, model: Model, ids: &[&Uuid]) -> Result<(), Error> {
        if model == Model::User {
            return Err(Error::Internal("users are not removed by sync".into()));
        }
        let scope = self.scope.to_string();
        for chunk in ids.chunks(ROWS_PER_INSERT) {
            on_backend!(&mut self.tx, |tx| {
                let mut query = QueryBuilder::new("");
                if model == Model::Board {
                    query.push("DELETE FROM boards WHERE user_id = ");
                    query.push_bind(&scope);
                } else {
                    query.push(
                        "DELETE FROM todos WHERE board_id IN \
                         (SELECT id FROM boards WHERE user_id = ",
                    );
                    query.push_bind(&scope);
                    query.push(" UNION SELECT board_id FROM board_members WHERE user_id = ");
                    query.push_bind(&scope);
                    query.push(")");
                }
                query.push(" AND id IN (");
                let mut list = query.separated(", ");
                for id in chunk {
                    list.push_bind(id.to_string());
                }
                query.push(")");
                query.build().execute(&mut **tx).await?.rows_affected()
            });
        }
        Ok(())
    }

    /// PostgreSQL, at the commit of a transaction that appended: writes the claims, the
    /// entries and the receipts, sets the grown scopes' last numbers and queues their
    /// pokes, in one statement (and one round trip instead of four): each list travels
    /// as an array parameter, so the statement's text is the same whatever the batch's
    /// size.
    ///
    /// Data-modifying CTEs all run, to completion, whether or not the final SELECT reads
    /// them; they see the same snapshot, which is fine here as none of them reads what
    /// another writes (the foreign keys, checked at the statement's end, see it all).
    /// `pg_notify` is transactional like NOTIFY: delivered only if the commit succeeds.
    async fn flush_all_postgres(&mut self, grown: &[(Uuid, u64)]) -> Result<(), Error> {
        const SQL: &str = "WITH claimed AS ( \
                INSERT INTO record_owners (id, scope_key) \
                SELECT id, scope FROM unnest($2::text[], $3::text[]) AS c (id, scope) \
                ON CONFLICT (id) DO UPDATE SET scope_key = excluded.scope_key \
                WHERE record_owners.scope_key = excluded.scope_key \
                RETURNING 1 \
            ), logged AS ( \
                INSERT INTO changelog (scope_key, seq, model, key_path, operation, \
                    outbox_event_id, created_at) \
                SELECT scope, seq, model, jsonb_build_array(id), operation, event, created_at \
                FROM unnest($4::text[], $5::bigint[], $6::text[], $7::text[], $8::text[], \
                    $9::text[], $10::bigint[]) \
                    AS e (scope, seq, model, id, operation, event, created_at) \
            ), receipted AS ( \
                INSERT INTO push_receipts (outbox_event_id, scope_key, seq) \
                SELECT event, $1, seq FROM unnest($11::text[], $12::bigint[]) AS r (event, seq) \
            ), numbered AS ( \
                UPDATE scopes SET last_seq = n.seq \
                FROM unnest($13::text[], $14::bigint[]) AS n (scope, seq) \
                WHERE scopes.scope_key = n.scope \
            ) \
            SELECT (SELECT count(*) FROM claimed), \
                (SELECT count(pg_notify($15, p.scope)) FROM unnest($13::text[]) AS p (scope))";
        let Either::Postgres(tx) = &mut self.tx else {
            return Err(Error::Internal("not a PostgreSQL transaction".into()));
        };
        let pending = std::mem::take(&mut self.pending);
        let claim_ids: Vec<String> = pending
            .claims
            .iter()
            .map(|(id, _)| id.to_string())
            .collect();
        let claim_scopes: Vec<String> = pending
            .claims
            .iter()
            .map(|(_, owner)| owner.to_string())
            .collect();
        let entries = &pending.entries;
        let scopes: Vec<String> = entries
            .iter()
            .map(|entry| entry.scope.to_string())
            .collect();
        let seqs = entries
            .iter()
            .map(|entry| to_i64(entry.seq))
            .collect::<Result<Vec<_>, _>>()?;
        let models: Vec<&str> = entries.iter().map(|entry| entry.model.name()).collect();
        let ids: Vec<String> = entries.iter().map(|entry| entry.id.to_string()).collect();
        let operations: Vec<&str> = entries.iter().map(|e| e.operation.name()).collect();
        let events: Vec<&str> = entries.iter().map(|e| e.outbox_event_id.as_str()).collect();
        let created: Vec<i64> = entries.iter().map(|entry| entry.created_at).collect();
        let receipt_events: Vec<&str> =
            pending.receipts.iter().map(|(id, _)| id.as_str()).collect();
        let receipt_seqs = pending
            .receipts
            .iter()
            .map(|(_, seq)| to_i64(*seq))
            .collect::<Result<Vec<_>, _>>()?;
        let grown_scopes: Vec<String> = grown.iter().map(|(scope, _)| scope.to_string()).collect();
        let grown_seqs = grown
            .iter()
            .map(|(_, seq)| to_i64(*seq))
            .collect::<Result<Vec<_>, _>>()?;
        // A unique violation (an event id another scope applied meanwhile) and a claim
        // left unwritten (an id another scope claimed first) are both write conflicts,
        // which the push answers by trying the batch again.
        let (claimed, _): (i64, Option<i64>) = sqlx::query_as(SQL)
            .bind(self.scope.to_string())
            .bind(&claim_ids)
            .bind(&claim_scopes)
            .bind(&scopes)
            .bind(&seqs)
            .bind(&models)
            .bind(&ids)
            .bind(&operations)
            .bind(&events)
            .bind(&created)
            .bind(&receipt_events)
            .bind(&receipt_seqs)
            .bind(&grown_scopes)
            .bind(&grown_seqs)
            .bind(postgres::POKE_CHANNEL)
            .fetch_one(&mut **tx)
            .await?;
        if claimed != claim_ids.len() as i64 {
            return Err(Error::WriteConflict(
                "a new id was claimed by another scope".into(),
            ));
        }
        Ok(())
    }

    /// The owner this transaction claimed `id` for, if it did.
    fn pending_claim(&self, id: Uuid) -> Option<Uuid> {
        self.pending
            .claims
            .iter()
            .find(|(claimed, _)| *claimed == id)
            .map(|(_, owner)| *owner)
    }

    fn pending_receipt(&self, outbox_event_id: &str) -> Option<Receipt> {
        self.pending
            .receipts
            .iter()
            .find(|(id, _)| id == outbox_event_id)
            .map(|(_, seq)| Receipt {
                scope_key: self.scope.to_string(),
                seq: *seq,
            })
    }

    /// Claims the new ids; another scope's claim of one of them (committed, or committing
    /// while this waits for it) fails the commit as a write conflict.
    async fn flush_claims(&mut self) -> Result<(), Error> {
        let claims = std::mem::take(&mut self.pending.claims);
        for chunk in claims.chunks(ROWS_PER_INSERT) {
            let written = on_backend!(&mut self.tx, |tx| {
                let mut query = QueryBuilder::new("INSERT INTO record_owners (id, scope_key) ");
                query.push_values(chunk, |mut row, (id, owner)| {
                    row.push_bind(id.to_string()).push_bind(owner.to_string());
                });
                // An id this scope claimed before (a re-create) is fine; only another
                // scope's claim is a conflict.
                query.push(
                    " ON CONFLICT (id) DO UPDATE SET scope_key = excluded.scope_key \
                     WHERE record_owners.scope_key = excluded.scope_key",
                );
                query.build().execute(&mut **tx).await?.rows_affected()
            });
            if written != chunk.len() as u64 {
                return Err(Error::WriteConflict(
                    "a new id was claimed by another scope".into(),
                ));
            }
        }
        Ok(())
    }

    async fn flush_entries(&mut self) -> Result<(), Error> {
        let entries = std::mem::take(&mut self.pending.entries);
        let seqs = entries
            .iter()
            .map(|entry| to_i64(entry.seq))
            .collect::<Result<Vec<_>, _>>()?;
        let rows: Vec<(&PendingEntry, i64)> = entries.iter().zip(seqs).collect();
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            on_backend!(&mut self.tx, |tx| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO changelog (scope_key, seq, model, key_path, operation, \
                     outbox_event_id, created_at) ",
                );
                query.push_values(chunk, |mut row, (entry, seq)| {
                    row.push_bind(entry.scope.to_string())
                        .push_bind(*seq)
                        .push_bind(entry.model.name())
                        .push_bind(Json(key_path(entry.id)))
                        .push_bind(entry.operation.name())
                        .push_bind(&entry.outbox_event_id)
                        .push_bind(entry.created_at);
                });
                query.build().execute(&mut **tx).await?.rows_affected()
            });
        }
        Ok(())
    }

    async fn flush_receipts(&mut self) -> Result<(), Error> {
        let scope = self.scope.to_string();
        let receipts = std::mem::take(&mut self.pending.receipts);
        let rows = receipts
            .iter()
            .map(|(id, seq)| Ok((id, to_i64(*seq)?)))
            .collect::<Result<Vec<_>, Error>>()?;
        for chunk in rows.chunks(ROWS_PER_INSERT) {
            // A unique violation here is an event id another scope applied meanwhile: a
            // write conflict, which the push answers by trying the batch again.
            on_backend!(&mut self.tx, |tx| {
                let mut query = QueryBuilder::new(
                    "INSERT INTO push_receipts (outbox_event_id, scope_key, seq) ",
                );
                query.push_values(chunk, |mut row, (id, seq)| {
                    row.push_bind(*id).push_bind(&scope).push_bind(*seq);
                });
                query.build().execute(&mut **tx).await?.rows_affected()
            });
        }
        Ok(())
    }
}

/// [`ScopeTx::prefetch`] on PostgreSQL in one round trip instead of five: the five reads
/// as one UNION ALL, each row tagged with its kind, in a shape wide enough for a todo.
///
/// The ids travel as arrays (`= ANY`), each list matched against a primary key; the
/// found todos' boards join the lists through `ARRAY(...)`, which PostgreSQL computes
/// once before the scan (an `OR id IN (subquery)` would let the planner scan the table;
/// the casts keep `ANY ((SELECT ...))` an array expression, not a subquery form).
async fn prefetch_postgres(
    tx: &mut Transaction<'static, Postgres>,
    outbox_event_ids: &[&str],
    todo_ids: &[Uuid],
    board_ids: &[Uuid],
) -> Result<Prefetched, Error> {
    // Columns: kind, id (a board's for a member), then `a` (the receipt's or owner's
    // scope, the todo's board, the board's user, the member), `b` (title, name), `c` (description), `n` (seq, created_at), `f`
    // (is_completed).
    const SQL: &str = "WITH t AS ( \
            SELECT id, title, description, is_completed, created_at, board_id \
            FROM todos WHERE id = ANY($2::text[]) \
        ), b AS ( \
            SELECT $3::text[] || ARRAY(SELECT board_id FROM t) AS ids \
        ) \
        SELECT 0 AS kind, outbox_event_id AS id, scope_key AS a, NULL::text AS b, \
            NULL::text AS c, seq AS n, NULL::bool AS f \
        FROM push_receipts WHERE outbox_event_id = ANY($1::text[]) \
        UNION ALL \
        SELECT 1, id, board_id, title, description, created_at, is_completed FROM t \
        UNION ALL \
        SELECT 2, id, user_id, name, NULL, created_at, NULL FROM boards \
        WHERE id = ANY((SELECT ids FROM b)::text[]) \
        UNION ALL \
        SELECT 3, id, scope_key, NULL, NULL, NULL, NULL FROM record_owners \
        WHERE id = ANY((SELECT ids FROM b)::text[] || $2::text[]) \
        UNION ALL \
        SELECT 4, board_id, user_id, NULL, NULL, NULL, NULL FROM board_members \
        WHERE board_id = ANY((SELECT ids FROM b)::text[])";
    let todos: Vec<String> = todo_ids.iter().map(Uuid::to_string).collect();
    let boards: Vec<String> = board_ids.iter().map(Uuid::to_string).collect();
    let rows: Vec<PrefetchRow> = sqlx::query_as(SQL)
        .bind(outbox_event_ids)
        .bind(&todos)
        .bind(&boards)
        .fetch_all(&mut **tx)
        .await?;
    let missing = |column: &str| Error::CorruptData(format!("prefetch row without {column}"));
    let mut found = Prefetched::default();
    for row in rows {
        match row.kind {
            0 => found.receipts.push((
                row.id,
                Receipt {
                    scope_key: row.a,
                    seq: to_u64(row.n.ok_or_else(|| missing("seq"))?)?,
                },
            )),
            1 => found.todos.push(Todo::try_from(TodoRow {
                id: row.id,
                title: row.b.ok_or_else(|| missing("title"))?,
                description: row.c,
                is_completed: row.f.ok_or_else(|| missing("is_completed"))?,
                created_at: row.n.ok_or_else(|| missing("created_at"))?,
                board_id: row.a,
            })?),
            2 => found.boards.push(Board::try_from(BoardRow {
                id: row.id,
                name: row.b.ok_or_else(|| missing("name"))?,
                created_at: row.n.ok_or_else(|| missing("created_at"))?,
                user_id: row.a,
            })?),
            3 => found
                .owners
                .push((parse_uuid(&row.id)?, parse_uuid(&row.a)?)),
            _ => found
                .members
                .push((parse_uuid(&row.id)?, parse_uuid(&row.a)?)),
        }
    }
    // A row matches once however often the arrays list its id; this only guards the
    // callers, who expect each record once, against a change of plan.
    found.boards.sort_unstable_by_key(|board| board.id);
    found.boards.dedup_by_key(|board| board.id);
    found.owners.sort_unstable();
    found.owners.dedup();
    found.members.sort_unstable();
    found.members.dedup();
    Ok(found)
}

/// One row of [`prefetch_postgres`].
#[derive(sqlx::FromRow)]
struct PrefetchRow {
    kind: i32,
    id: String,
    a: String,
    b: Option<String>,
    c: Option<String>,
    n: Option<i64>,
    f: Option<bool>,
}

/// The last value of each id among a run's writes, in id order: a statement may name a
/// row once only (PostgreSQL refuses an upsert that touches a row twice), and a
/// concurrent writer meets the rows in the same order (no deadlock between two scopes
/// racing for the same new ids).
fn latest<'a, T: ?Sized>(
    run: &'a [Write],
    each: impl Fn(&'a Write) -> Option<(Uuid, &'a T)>,
) -> Vec<&'a T> {
    run.iter()
        .filter_map(each)
        .collect::<std::collections::BTreeMap<_, _>>()
        .into_values()
        .collect()
}

/// Runs statements without parameters in one round trip (PostgreSQL's simple protocol;
/// SQLite runs each statement of the text in turn).
/// Returns the rows the statements changed, together.
async fn execute_script(tx: &mut Tx, sql: &str) -> Result<u64, Error> {
    // A bare string carries no arguments: PostgreSQL then takes the simple protocol,
    // which allows several statements in one message.
    Ok(on_backend!(tx, |tx| sqlx::Executor::execute(
        &mut **tx, sql
    )
    .await?
    .rows_affected()))
}

/// The key path of a record: our models have a single-field key, the id.
fn key_path(id: Uuid) -> Vec<serde_json::Value> {
    vec![serde_json::Value::String(id.to_string())]
}

fn to_i64(value: u64) -> Result<i64, Error> {
    i64::try_from(value).map_err(|_| Error::Internal(format!("{value} does not fit a BIGINT")))
}

fn to_u64(value: i64) -> Result<u64, Error> {
    u64::try_from(value).map_err(|_| Error::CorruptData(format!("negative sequence {value}")))
}

fn parse_uuid(text: &str) -> Result<Uuid, Error> {
    Uuid::parse_str(text).map_err(|_| Error::CorruptData(format!("`{text}` is not a UUID")))
}

#[derive(sqlx::FromRow)]
struct UserRow {
    id: String,
    name: String,
    email: String,
    email_verified: bool,
    image: Option<String>,
    created_at: i64,
    updated_at: i64,
    is_anonymous: bool,
}

impl TryFrom<UserRow> for User {
    type Error = Error;
    fn try_from(row: UserRow) -> Result<User, Error> {
        Ok(User {
            id: parse_uuid(&row.id)?,
            name: row.name,
            email: row.email,
            email_verified: row.email_verified,
            image: row.image,
            created_at: Timestamp::from_millis(row.created_at),
            updated_at: Timestamp::from_millis(row.updated_at),
            is_anonymous: row.is_anonymous,
        })
    }
}

#[derive(sqlx::FromRow)]
struct CredentialsRow {
    #[sqlx(flatten)]
    user: UserRow,
    password_hash: String,
}

#[derive(sqlx::FromRow)]
struct BoardRow {
    id: String,
    name: String,
    created_at: i64,
    user_id: String,
}

impl TryFrom<BoardRow> for Board {
    type Error = Error;
    fn try_from(row: BoardRow) -> Result<Board, Error> {
        Ok(Board {
            id: parse_uuid(&row.id)?,
            name: row.name,
            created_at: Timestamp::from_millis(row.created_at),
            user_id: parse_uuid(&row.user_id)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct TodoRow {
    id: String,
    title: String,
    description: Option<String>,
    is_completed: bool,
    created_at: i64,
    board_id: String,
}

impl TryFrom<TodoRow> for Todo {
    type Error = Error;
    fn try_from(row: TodoRow) -> Result<Todo, Error> {
        Ok(Todo {
            id: parse_uuid(&row.id)?,
            title: row.title,
            description: row.description,
            is_completed: row.is_completed,
            created_at: Timestamp::from_millis(row.created_at),
            board_id: parse_uuid(&row.board_id)?,
        })
    }
}

#[derive(sqlx::FromRow)]
struct OwnedTodoRow {
    #[sqlx(flatten)]
    todo: TodoRow,
    owner: Option<String>,
}

#[derive(sqlx::FromRow)]
struct EntryRow {
    seq: i64,
    model: String,
    key_path: Json<Vec<serde_json::Value>>,
    operation: String,
    outbox_event_id: String,
}

impl EntryRow {
    fn into_entry(self) -> Result<ChangelogEntry, Error> {
        let operation = Operation::parse(&self.operation).ok_or_else(|| {
            Error::CorruptData(format!("unknown changelog operation `{}`", self.operation))
        })?;
        Ok(ChangelogEntry {
            seq: to_u64(self.seq)?,
            model: self.model,
            key_path: self.key_path.0,
            operation,
            outbox_event_id: self.outbox_event_id,
        })
    }
}
