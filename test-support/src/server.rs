//! The sync server on a fresh database, in this process, over real HTTP on a loopback
//! port of its own.

use crate::client::Client;
use crate::db::{Backend, TestDb};
use std::future::Future;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};
use sync_server::{Config, Server, ServerHandle};

/// Runs each named `async fn(Backend)` as two tests, `sqlite::name` and `postgres::name`.
/// The calling crate needs `tokio` (with `macros` and the multi-thread runtime).
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Sqlite).await
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    super::$name($crate::Backend::Postgres).await
                }
            )*
        }
    };
}

/// A server on its own fresh database.
pub struct TestServer {
    // Fields drop in order: the server stops (a handle kills it when dropped) before its
    // database is dropped.
    handle: Option<ServerHandle>,
    pub url: String,
    pub db: TestDb,
    /// The configuration it runs with, its port pinned so that a restart reuses it.
    config: Config,
    /// A placeholder app when the caller gave none (API tests need no real one).
    _placeholder_app: Option<tempfile::TempDir>,
}

impl TestServer {
    /// None when the backend is unavailable outside CI (the test then skips).
    pub async fn start(backend: Backend) -> Option<TestServer> {
        TestServer::start_with(backend, |_| {}).await
    }

    /// Starts with a configuration adjusted by `configure`.
    pub async fn start_with(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
    ) -> Option<TestServer> {
        TestServer::start_custom(backend, configure, |config| async {
            Server::start(config).await
        })
        .await
    }

    /// Starts with a configuration adjusted by `configure` and a server built by `build`.
    pub async fn start_custom<F, Fut>(
        backend: Backend,
        configure: impl FnOnce(&mut Config),
        build: F,
    ) -> Option<TestServer>
    where
        F: FnOnce(Config) -> Fut,
        Fut: Future<Output = Result<Server, sync_server::Error>>,
    {
        let db = TestDb::create(backend).await?;
        Some(TestServer::launch(db, None, configure, build).await)
    }

    /// Starts on `db`, serving the app in `app_dir` (a placeholder page when None).
    pub(crate) async fn launch<F, Fut>(
        db: TestDb,
        app_dir: Option<&Path>,
        configure: impl FnOnce(&mut Config),
        build: F,
    ) -> TestServer
    where
        F: FnOnce(Config) -> Fut,
        Fut: Future<Output = Result<Server, sync_server::Error>>,
    {
        let (app_dir, placeholder): (PathBuf, _) = match app_dir {
            Some(dir) => (dir.to_path_buf(), None),
            None => {
                let dir = tempfile::tempdir().expect("temp dir");
                std::fs::write(dir.path().join("index.html"), "<!doctype html>").unwrap();
                (dir.path().to_path_buf(), Some(dir))
            }
        };
        let mut config = Config::local(db.url.clone(), app_dir);
        configure(&mut config);
        let handle = build(config.clone()).await.expect("server starts").spawn();
        config.addr = handle.addr;
        TestServer {
            url: handle.url.clone(),
            handle: Some(handle),
            db,
            config,
            _placeholder_app: placeholder,
        }
    }

    /// Another server process-alike on the same database (its own pool and listener).
    pub async fn second_instance(&self) -> ServerHandle {
        let config = Config::local(self.db.url.clone(), self.config.app_dir.clone());
        Server::start(config)
            .await
            .expect("second server starts")
            .spawn()
    }

    /// Stops the server gracefully.
    pub async fn stop(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.stop().await;
        }
    }

    /// Stops the server at once, as a crash would.
    pub fn kill(&mut self) {
        if let Some(handle) = self.handle.take() {
            handle.kill();
        }
    }

    /// Starts the server again on the same database, port and configuration (killing it
    /// first if it runs).
    pub async fn restart(&mut self) {
        self.kill();
        // The old listener may take a moment to close.
        let started = Instant::now();
        let server = loop {
            match Server::start(self.config.clone()).await {
                Ok(server) => break server,
                Err(e) if started.elapsed() < crate::PATIENCE => {
                    eprintln!("waiting to restart: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
                Err(e) => panic!("the server does not restart: {e}"),
            }
        };
        self.handle = Some(server.spawn());
    }

    /// A client without a session.
    pub fn anonymous(&self) -> Client {
        Client::new(&self.url)
    }

    /// A client signed up as a new user.
    pub async fn user(&self, name: &str) -> Client {
        Client::signed_up(&self.url, name).await
    }
}
