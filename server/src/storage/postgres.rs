//! What is particular to PostgreSQL: connecting, the migrations, how a writer locks its
//! scope's row, and pokes between server processes (LISTEN/NOTIFY).

use crate::realtime::Hub;
use crate::Error;
use sqlx::postgres::{PgConnectOptions, PgListener, PgPoolOptions};
use sqlx::{PgPool, Postgres, Transaction};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::AbortHandle;
use uuid::Uuid;

/// The NOTIFY channel; the payload is the scope key whose changelog grew.
pub const POKE_CHANNEL: &str = "sync_poke";

/// Connects and brings the schema up to date. Several processes may start at once:
/// sqlx's migrator serialises them with an advisory lock.
pub async fn connect(url: &str, max_connections: u32) -> Result<PgPool, Error> {
    let options = PgConnectOptions::from_str(url)
        .map_err(|e| Error::Config(format!("invalid PostgreSQL URL: {e}")))?
        // Prepared statements live as long as their connection, and PostgreSQL may settle
        // on one generic plan for them, chosen while a table was small (a full scan for
        // the push's `id IN (...)` lookups); a plan per execution follows the tables as
        // they grow, and costs little for these short queries.
        .options([("plan_cache_mode", "force_custom_plan")]);
    let pool = PgPoolOptions::new()
        .max_connections(max_connections.max(2))
        .acquire_timeout(Duration::from_secs(10))
        .connect_with(options)
        .await?;
    sqlx::migrate!("./migrations/postgres").run(&pool).await?;
    Ok(pool)
}

/// Begins a write transaction holding the scopes among `scopes` and reads their last
/// changelog numbers (a scope that does not exist is left out).
///
/// `FOR UPDATE` locks the scopes' rows until commit, so each scope's writers, in any
/// process, take turns: the numbers they hand out commit in order, and a pull "after N"
/// never misses an N-1 that commits later. Under READ COMMITTED the statements after
/// the lock see everything the previous holders committed.
///
/// The rows are sorted before they are locked (PostgreSQL locks the rows of a
/// `SELECT ... ORDER BY ... FOR UPDATE` as the sorted rows come out), one at a time in
/// ascending key order, byte-wise (`COLLATE "C"`, whatever the database's collation):
/// every writer takes its locks in the same order, so two never wait for each other in
/// a circle.
pub async fn begin_scopes(
    pool: &PgPool,
    scopes: &[Uuid],
) -> Result<(Transaction<'static, Postgres>, Vec<(String, i64)>), Error> {
    let mut tx = pool.begin().await?;
    let keys: Vec<String> = scopes.iter().map(Uuid::to_string).collect();
    let found: Vec<(String, i64)> = sqlx::query_as(
        "SELECT scope_key, last_seq FROM scopes WHERE scope_key = ANY($1::text[]) \
         ORDER BY scope_key COLLATE \"C\" FOR UPDATE",
    )
    .bind(&keys)
    .fetch_all(&mut *tx)
    .await?;
    Ok((tx, found))
}

/// Tells every listening process (this one included) that `scope` changed.
pub async fn notify(pool: &PgPool, scope: Uuid) -> Result<(), Error> {
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(POKE_CHANNEL)
        .bind(scope.to_string())
        .execute(pool)
        .await?;
    Ok(())
}

/// The task relaying notifications to this process's streams; stopped on drop.
pub struct Relay(AbortHandle);

impl Relay {
    /// Listens before returning, so no poke sent after start-up is missed.
    pub async fn start(pool: &PgPool, hub: Arc<Hub>) -> Result<Relay, Error> {
        let mut listener = PgListener::connect_with(pool).await?;
        listener.listen(POKE_CHANNEL).await?;
        let task = tokio::spawn(async move {
            let mut failures = 0u32;
            loop {
                match listener.try_recv().await {
                    Ok(Some(notification)) => {
                        failures = 0;
                        match Uuid::parse_str(notification.payload()) {
                            Ok(scope) => hub.poke(scope),
                            Err(_) => tracing::warn!(
                                "ignoring a poke for `{}`: not a scope key",
                                notification.payload()
                            ),
                        }
                    }
                    // The connection dropped and pokes may have been lost with it: poke
                    // everyone (a needless pull is cheap). The next call reconnects.
                    Ok(None) => {
                        tracing::warn!("lost the LISTEN connection; reconnecting");
                        hub.poke_all();
                    }
                    Err(error) => {
                        failures = failures.saturating_add(1);
                        let wait = Duration::from_millis(250 * 2u64.pow(failures.min(7)));
                        tracing::warn!("LISTEN failed ({error}); retrying in {wait:?}");
                        tokio::time::sleep(wait).await;
                    }
                }
            }
        });
        Ok(Relay(task.abort_handle()))
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.0.abort();
    }
}
