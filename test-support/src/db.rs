//! A fresh, empty database for one test or one benchmark run: a temporary SQLite file,
//! or a new PostgreSQL database that is dropped when the [`TestDb`] is.

use crate::ci;
use crate::postgres::{create_database, database_url, drop_database, postgres_admin_url};
use sqlx::Connection;

pub use sync_server::storage::Backend;

/// A fresh, empty database.
pub struct TestDb {
    pub backend: Backend,
    pub url: String,
    _dir: Option<tempfile::TempDir>,
    /// The admin URL and the database's name, to drop it at the end.
    postgres: Option<(String, String)>,
}

impl TestDb {
    /// None when PostgreSQL is unreachable outside CI (the caller then skips).
    pub async fn create(backend: Backend) -> Option<TestDb> {
        match backend {
            Backend::Sqlite => {
                let dir = tempfile::tempdir().expect("temp dir");
                // A folder that does not exist yet: the server creates it.
                let path = dir.path().join("data").join("sync.db");
                Some(TestDb {
                    backend,
                    url: format!("sqlite://{}", path.display()),
                    _dir: Some(dir),
                    postgres: None,
                })
            }
            Backend::Postgres => {
                let admin = postgres_admin_url();
                let name = match create_database(&admin).await {
                    Ok(name) => name,
                    Err(why) => {
                        ci::unavailable(
                            "PostgreSQL",
                            &format!(
                                "unreachable at {admin}: {why}; set TEST_POSTGRES_URL to use another"
                            ),
                        );
                        return None;
                    }
                };
                Some(TestDb {
                    backend,
                    url: database_url(&admin, &name),
                    _dir: None,
                    postgres: Some((admin, name)),
                })
            }
        }
    }

    /// A snapshot of every table the sync API writes, for "nothing changed" checks.
    pub async fn snapshot(&self) -> Vec<String> {
        const QUERIES: [&str; 7] = [
            "SELECT scope_key || '|' || seq || '|' || model || '|' || CAST(key_path AS TEXT) \
             || '|' || operation || '|' || outbox_event_id FROM changelog \
             ORDER BY scope_key, seq",
            "SELECT scope_key || '|' || last_seq FROM scopes ORDER BY scope_key",
            "SELECT outbox_event_id || '|' || scope_key || '|' || seq FROM push_receipts \
             ORDER BY outbox_event_id",
            "SELECT id || '|' || name || '|' || COALESCE(image, '<null>') || '|' || updated_at \
             || '|' || email FROM users ORDER BY id",
            "SELECT id || '|' || name || '|' || created_at || '|' || user_id FROM boards \
             ORDER BY id",
            "SELECT id || '|' || title || '|' || COALESCE(description, '<null>') || '|' || \
             CAST(is_completed AS TEXT) || '|' || created_at || '|' || board_id FROM todos \
             ORDER BY id",
            "SELECT user_id || '|' || expires_at FROM sessions ORDER BY token_hash",
        ];
        let mut rows = Vec::new();
        for (table, query) in QUERIES.iter().enumerate() {
            let found: Vec<String> = match self.backend {
                Backend::Sqlite => {
                    let mut db = sqlx::SqliteConnection::connect(&self.url).await.unwrap();
                    sqlx::query_scalar(query).fetch_all(&mut db).await.unwrap()
                }
                Backend::Postgres => {
                    let mut db = sqlx::PgConnection::connect(&self.url).await.unwrap();
                    sqlx::query_scalar(query).fetch_all(&mut db).await.unwrap()
                }
            };
            rows.extend(found.into_iter().map(|row| format!("{table}:{row}")));
        }
        rows
    }

    /// Runs SQL on the database behind the server's back (for seeding, for faults, and
    /// for what the app cannot cause itself, such as sessions expiring). Several
    /// statements separated by `;` are allowed.
    pub async fn execute(&self, sql: &str) {
        match self.backend {
            Backend::Sqlite => run_statements::<sqlx::SqliteConnection>(&self.url, sql).await,
            Backend::Postgres => run_statements::<sqlx::PgConnection>(&self.url, sql).await,
        }
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if let Some((admin, name)) = self.postgres.take() {
            drop_database(admin, name);
        }
    }
}

/// Runs SQL on a new connection of type `C`.
async fn run_statements<C>(url: &str, sql: &str)
where
    C: Connection,
    for<'c> &'c mut C: sqlx::Executor<'c, Database = C::Database>,
{
    let mut db = C::connect(url).await.expect("the database opens");
    sqlx::raw_sql(sql)
        .execute(&mut db)
        .await
        .unwrap_or_else(|e| panic!("{sql:?} fails: {e}"));
}
