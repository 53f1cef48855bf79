//! What is particular to SQLite: opening the file (creating it and its folder), the
//! connection settings, the migrations, and how a writer takes its scope.

use crate::Error;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Sqlite, SqlitePool, Transaction};
use std::str::FromStr;
use std::time::Duration;
use uuid::Uuid;

/// How much of the database file each connection maps (a limit, not an allocation).
const MMAP_BYTES: u64 = 1 << 30;
/// Each connection's own page cache, in KiB (SQLite's default is 2 MiB).
const CACHE_KIB: u32 = 16 * 1024;

/// How long a statement waits for another process's write lock before failing.
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// Opens (creating if missing) the database file and brings its schema up to date.
pub async fn connect(url: &str, max_connections: u32) -> Result<SqlitePool, Error> {
    let options = SqliteConnectOptions::from_str(url)
        .map_err(|e| Error::Config(format!("invalid SQLite URL: {e}")))?
        .create_if_missing(true)
        // WAL: readers (pulls) never wait for the writer, nor the writer for them.
        .journal_mode(SqliteJournalMode::Wal)
        // NORMAL is durable across process crashes in WAL mode and skips an fsync
        // per commit; only a power cut can lose the last commits.
        .synchronous(SqliteSynchronous::Normal)
        .foreign_keys(true)
        .busy_timeout(BUSY_TIMEOUT)
        // Pages through the OS page cache, mapped: every pooled connection shares it,
        // where each would otherwise warm its own small cache with read() calls.
        .pragma("mmap_size", MMAP_BYTES.to_string())
        .pragma("cache_size", format!("-{CACHE_KIB}"));
    if let Some(folder) = options.get_filename().parent() {
        if !folder.as_os_str().is_empty() {
            std::fs::create_dir_all(folder)?;
        }
    }
    let pool = SqlitePoolOptions::new()
        .max_connections(max_connections.max(1))
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/sqlite").run(&pool).await?;
    Ok(pool)
}

/// Begins a write transaction holding the scopes among `scopes` and reads their last
/// changelog numbers (a scope that does not exist is left out).
///
/// `BEGIN IMMEDIATE` takes SQLite's single write lock before anything is read. A
/// deferred transaction that read first would hold a snapshot it might not be allowed
/// to upgrade (SQLITE_BUSY_SNAPSHOT, which no busy timeout cures). Holding the write
/// lock until commit is also what makes a scope's numbers commit in order; it holds
/// every scope at once, so the set of scopes is only bookkeeping here.
pub async fn begin_scopes(
    pool: &SqlitePool,
    scopes: &[Uuid],
) -> Result<(Transaction<'static, Sqlite>, Vec<(String, i64)>), Error> {
    let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
    let mut found = Vec::with_capacity(scopes.len());
    for scope in scopes {
        let key = scope.to_string();
        let last: Option<i64> =
            sqlx::query_scalar("SELECT last_seq FROM scopes WHERE scope_key = $1")
                .bind(&key)
                .fetch_optional(&mut *tx)
                .await?;
        found.extend(last.map(|last| (key, last)));
    }
    Ok((tx, found))
}
