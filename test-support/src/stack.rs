//! The server stack of an end-to-end test or benchmark program: the sync server on a
//! fresh database, serving the built app that the browsers load.

use crate::app::app_dir_for_tests;
use crate::client::Client;
use crate::dataset::DataSet;
use crate::db::{Backend, TestDb};
use crate::server::TestServer;
use std::path::Path;
use sync_server::Server;

/// The server and its fresh database, serving a built app, for one test.
pub struct Stack {
    pub url: String,
    server: TestServer,
}

impl Stack {
    /// Starts a server on a fresh SQLite file serving the app the run built; None when
    /// end-to-end tests cannot run here.
    pub async fn start() -> Option<Stack> {
        let app_dir = app_dir_for_tests()?;
        Some(Stack::start_with_app(&app_dir).await)
    }

    /// Starts a server on a fresh SQLite file, serving the app in `app_dir`.
    pub async fn start_with_app(app_dir: &Path) -> Stack {
        let db = TestDb::create(Backend::Sqlite)
            .await
            .expect("SQLite is always available");
        Stack::launch(db, app_dir, |_| {}).await
    }

    /// Starts a server on a fresh SQLite file that accepts cross-origin requests only
    /// from `origin` (where the app is hosted statically).
    pub async fn start_for_origin(origin: &str) -> Option<Stack> {
        let app_dir = app_dir_for_tests()?;
        let db = TestDb::create(Backend::Sqlite).await?;
        let origin = origin.to_string();
        Some(Stack::launch(db, &app_dir, |config| config.cors_origins = vec![origin]).await)
    }

    /// Starts a server on a new PostgreSQL database (dropped afterwards); None when
    /// end-to-end tests cannot run here, or PostgreSQL is unreachable outside CI.
    pub async fn start_postgres() -> Option<Stack> {
        let app_dir = app_dir_for_tests()?;
        let db = TestDb::create(Backend::Postgres).await?;
        Some(Stack::launch(db, &app_dir, |_| {}).await)
    }

    async fn launch(
        db: TestDb,
        app_dir: &Path,
        configure: impl FnOnce(&mut sync_server::Config),
    ) -> Stack {
        let server = TestServer::launch(db, Some(app_dir), configure, |config| async {
            Server::start(config).await
        })
        .await;
        Stack {
            url: server.url.clone(),
            server,
        }
    }

    /// The database the server runs on.
    pub fn db(&self) -> &TestDb {
        &self.server.db
    }

    /// Runs SQL on the server's database, behind its back (to simulate what the app
    /// cannot cause itself, such as sessions expiring).
    pub async fn execute_sql(&self, sql: &str) {
        self.server.db.execute(sql).await;
    }

    /// Stops the server at once, as a crash would.
    pub fn kill(&mut self) {
        self.server.kill();
    }

    /// Starts the server again on the same database and port (killing it first if it runs).
    pub async fn restart(&mut self) {
        self.server.restart().await;
    }

    /// What the server holds for a person: every live board and todo, read by signing in
    /// and pulling the whole changelog (each entry carries its record's current state).
    pub async fn server_state(&self, email: &str, password: &str) -> DataSet {
        let client = Client::logged_in(&self.url, email, password).await;
        DataSet::from_changelog(client.pull_all().await)
    }
}

#[cfg(feature = "browser")]
impl Stack {
    /// Opens `count` browsers signed in as one new person (`email`, `password`), each
    /// synced once.
    pub async fn devices(&self, count: usize, email: &str, password: &str) -> Vec<crate::Browser> {
        let mut browsers = Vec::with_capacity(count);
        for n in 0..count {
            let browser = crate::Browser::open().await;
            browser.goto(&self.url).await;
            if n == 0 {
                browser.sign_up(email, password, "Many Devices").await;
            } else {
                browser.sign_in(email, password).await;
            }
            browser.wait_synced().await;
            browsers.push(browser);
        }
        browsers
    }
}
