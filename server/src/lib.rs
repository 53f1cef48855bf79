//! The sync server: serves the built app and the sync API (accounts, push, pull,
//! realtime pokes) over SQLite or PostgreSQL.
//!
//! [`Server::start`] binds and prepares everything that can fail (including opening and
//! migrating the database), so that a caller (the binary, a test, a benchmark) learns of
//! a bad address or database before serving.
//!
//! Layout: `routes` (thin HTTP handlers) call the services in `auth` (accounts,
//! sessions, throttling) and `sync` (push, pull, scopes, custom validation), which work
//! over the traits in `storage` (one SQL implementation for SQLite and PostgreSQL);
//! `realtime` carries pokes to open event streams.

mod auth;
pub mod config;
pub mod error;
mod realtime;
mod routes;
mod serve;
mod state;
pub mod storage;
pub mod sync;

pub use config::Config;
pub use error::Error;
pub use sync::custom::{CustomValidator, UniqueBoardNames, Verdict};

use realtime::Hub;
use serve::ConnectionLimits;
use state::AppState;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

/// A server that is bound and ready to serve.
pub struct Server {
    listener: TcpListener,
    addr: SocketAddr,
    router: axum::Router,
    hub: Arc<Hub>,
    limits: ConnectionLimits,
}

impl Server {
    /// Binds the address and prepares the app state, with the default custom
    /// validators ([`sync::default_validators`]).
    pub async fn start(config: Config) -> Result<Server, Error> {
        Server::start_with_validators(config, sync::default_validators()).await
    }

    /// Like [`Server::start`], with the application's own list of custom validators.
    pub async fn start_with_validators(
        config: Config,
        validators: Vec<Arc<dyn CustomValidator>>,
    ) -> Result<Server, Error> {
        let state = AppState::new(&config, validators).await?;
        let hub = state.hub.clone();
        let listener = TcpListener::bind(config.addr)
            .await
            .map_err(|source| Error::Bind {
                addr: config.addr,
                source,
            })?;
        let addr = listener.local_addr()?;
        let router = routes::router(state, &config)?;
        let limits = ConnectionLimits {
            max_connections: config.max_connections,
            header_read_timeout: Duration::from_secs(config.header_timeout_secs.max(1)),
            // Event streams write a heartbeat at least this often, so they never go idle.
            idle_timeout: Duration::from_secs(
                config
                    .idle_timeout_secs
                    .max(config.heartbeat_secs.max(1) * 2),
            ),
            grace: Duration::from_secs(10),
        };
        Ok(Server {
            listener,
            addr,
            router,
            hub,
            limits,
        })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://host:port`, with `localhost` for a loopback address so that browsers treat
    /// the app as a secure context (service workers, `crypto.randomUUID`).
    pub fn url(&self) -> String {
        url_of(self.addr)
    }

    /// Serves until `shutdown` resolves, then finishes open requests and returns.
    pub async fn run_until(self, shutdown: impl Future<Output = ()> + Send + 'static) {
        let hub = self.hub;
        let shutdown = async move {
            shutdown.await;
            // Event streams never end by themselves; graceful shutdown waits for them.
            hub.close();
        };
        serve::serve(self.listener, self.router, self.limits, shutdown).await;
    }

    /// Serves on a runtime of its own (for tests and tools), so that
    /// [`ServerHandle::kill`] can end it as a crash would: every connection task dies
    /// with the runtime, mid-request.
    pub fn spawn(self) -> ServerHandle {
        let url = self.url();
        let addr = self.addr;
        let (stop, stopped) = oneshot::channel::<()>();
        // Building a runtime fails only when the OS refuses threads; a tool cannot serve then.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("sync-server")
            .enable_all()
            .build()
            .expect("the OS provides threads for the server's runtime");
        let task = runtime.spawn(self.run_until(async {
            let _ = stopped.await;
        }));
        ServerHandle {
            url,
            addr,
            stop: Some(stop),
            task: Some(task),
            runtime: Some(runtime),
        }
    }
}

/// A server running on a runtime of its own. Dropping it kills the server.
pub struct ServerHandle {
    pub url: String,
    pub addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
    runtime: Option<tokio::runtime::Runtime>,
}

impl ServerHandle {
    /// Stops gracefully: open requests finish first.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }

    /// Stops at once, as a crash would: open requests and streams are cut.
    pub fn kill(mut self) {
        self.shut_down();
    }

    fn shut_down(&mut self) {
        if let Some(runtime) = self.runtime.take() {
            // Drops every task (listener, connections) without waiting; allowed in async code.
            runtime.shutdown_background();
        }
    }
}

impl Drop for ServerHandle {
    fn drop(&mut self) {
        self.shut_down();
    }
}

fn url_of(addr: SocketAddr) -> String {
    if addr.ip().is_loopback() {
        format!("http://localhost:{}", addr.port())
    } else {
        format!("http://{addr}")
    }
}
