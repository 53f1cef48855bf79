//! Where the suites find PostgreSQL, and (feature `server`) the databases they make on
//! it: each test creates a randomly named database and drops it afterwards.

/// The admin URL used when `TEST_POSTGRES_URL` is not set: the local server with trust
/// authentication, as `xtask` installs or starts it.
pub const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

/// The admin URL of the PostgreSQL server the suites use (`TEST_POSTGRES_URL`).
pub fn postgres_admin_url() -> String {
    std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_ADMIN_URL.into())
}

/// `admin` with its database name replaced by `name`, keeping user, password, host,
/// port and query parameters; `admin` may name no database at all.
pub fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = match admin.split_once('?') {
        Some((base, query)) => (base, Some(query)),
        None => (admin, None),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_start..].find('/') {
        Some(slash) => &base[..authority_start + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}

#[cfg(feature = "server")]
use sqlx::{Connection, PgConnection};

/// Runs one statement on the PostgreSQL server through the admin URL.
#[cfg(feature = "server")]
pub async fn admin_execute(sql: &str) {
    let mut connection = PgConnection::connect(&postgres_admin_url())
        .await
        .expect("admin connection");
    sqlx::query(sql).execute(&mut connection).await.unwrap();
}

/// Creates a new, randomly named database through `admin`; returns its name, or why
/// the server could not be reached.
#[cfg(feature = "server")]
pub(crate) async fn create_database(admin: &str) -> Result<String, String> {
    let mut connection = match tokio::time::timeout(
        std::time::Duration::from_secs(5),
        PgConnection::connect(admin),
    )
    .await
    {
        Ok(Ok(connection)) => connection,
        Ok(Err(error)) => return Err(error.to_string()),
        Err(_) => return Err("timed out".into()),
    };
    let name = format!("sync_test_{}", uuid::Uuid::new_v4().simple());
    sqlx::query(&format!("CREATE DATABASE {name}"))
        .execute(&mut connection)
        .await
        .expect("create the test database");
    let _ = connection.close().await;
    Ok(name)
}

/// Drops a database made by [`create_database`], closing its connections first.
/// Blocking: it runs from `Drop`, outside async code and possibly during a panic, so
/// it uses a thread and a runtime of its own.
#[cfg(feature = "server")]
pub(crate) fn drop_database(admin: String, name: String) {
    let dropped = std::thread::spawn(move || {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime");
        runtime.block_on(async move {
            let mut connection = PgConnection::connect(&admin).await?;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut connection)
                .await
                .map(|_| ())
        })
    })
    .join();
    if !matches!(dropped, Ok(Ok(()))) {
        eprintln!("note: could not drop a test database: {dropped:?}");
    }
}

#[cfg(test)]
mod tests {
    use super::database_url;

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            database_url("postgres://postgres@127.0.0.1:5432/postgres", "t1"),
            "postgres://postgres@127.0.0.1:5432/t1"
        );
    }

    #[test]
    fn query_parameters_and_credentials_survive() {
        assert_eq!(
            database_url("postgres://u:p%2Fw@db.local/admin?sslmode=disable", "t1"),
            "postgres://u:p%2Fw@db.local/t1?sslmode=disable"
        );
    }

    #[test]
    fn a_url_without_a_database_gets_one() {
        assert_eq!(
            database_url("postgres://localhost", "t1"),
            "postgres://localhost/t1"
        );
        assert_eq!(
            database_url("postgres://localhost?host=/run/postgresql", "t1"),
            "postgres://localhost/t1?host=/run/postgresql"
        );
    }
}
