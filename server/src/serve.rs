//! Connections: the accept loop, with the limits that keep slow and idle clients from
//! holding the process's file descriptors and memory.
//!
//! - At most `max_connections` are open; past it the loop stops accepting, so new
//!   clients wait in the kernel's backlog (and are served as slots free up) instead of
//!   the process running out of file descriptors.
//! - Request headers must arrive within `header_read_timeout` (hyper's own timer).
//! - A connection with no bytes read or written for `idle_timeout` is shut down: that
//!   ends silent connections and idle keep-alives. Event streams stay: their
//!   heartbeats are traffic.
//! - Bodies have their own deadline, where they are read (`routes::body`).
//!
//! axum's `serve` offers none of these, so this loop replaces it, with the same graceful
//! shutdown: stop accepting, let open requests finish, then return.

use axum::extract::ConnectInfo;
use axum::Router;
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, Instant};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{watch, Semaphore};
use tower::Service;

/// The connection limits, from the configuration.
#[derive(Debug, Clone, Copy)]
pub struct ConnectionLimits {
    pub max_connections: usize,
    pub header_read_timeout: Duration,
    pub idle_timeout: Duration,
    /// How long open requests may run on after shutdown began, or after an idle
    /// connection was asked to close.
    pub grace: Duration,
}

/// Serves `router` on `listener` until `shutdown` resolves, then lets open connections
/// finish (up to the grace period) and returns.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    limits: ConnectionLimits,
    shutdown: impl Future<Output = ()>,
) {
    let max = limits.max_connections.clamp(1, Semaphore::MAX_PERMITS);
    let slots = Arc::new(Semaphore::new(max));
    let (stop, stopping) = watch::channel(false);
    // HTTP/1.1 only, as axum's `serve` with its default features: browsers speak it to
    // a plain-HTTP server, and a TLS proxy in front speaks it to us.
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout);
    let builder = Arc::new(builder);

    tokio::pin!(shutdown);
    loop {
        // A slot first: while all are taken, new clients wait in the backlog.
        let slot = tokio::select! {
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                // Never closed; nothing sensible is left to serve if it were.
                Err(_) => break,
            },
            () = &mut shutdown => break,
        };
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors (another part of the process holds them),
                    // or a connection that died in the backlog: wait a little, go on.
                    tracing::warn!("accept failed: {error}");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        // Without TCP_NODELAY a response written in several pieces (a pull page of a few
        // hundred kilobytes) waits on the client's delayed ACK: 40 ms per page.
        if let Err(error) = stream.set_nodelay(true) {
            tracing::debug!("cannot set TCP_NODELAY: {error}");
        }
        let connection = Connection {
            router: router.clone(),
            builder: builder.clone(),
            stopping: stopping.clone(),
            limits,
        };
        tokio::spawn(async move {
            connection.run(stream, peer).await;
            drop(slot);
        });
    }
    drop(listener);
    let _ = stop.send(true);
    // Every connection holds a slot until it ends.
    let all = u32::try_from(max).unwrap_or(u32::MAX);
    let _ = slots.acquire_many(all).await;
}

/// What one connection's task needs.
struct Connection {
    router: Router,
    builder: Arc<http1::Builder>,
    stopping: watch::Receiver<bool>,
    limits: ConnectionLimits,
}

impl Connection {
    async fn run(mut self, stream: TcpStream, peer: SocketAddr) {
        let activity = Activity::new();
        let io = TokioIo::new(Watched {
            inner: stream,
            activity: activity.clone(),
        });
        let router = self.router;
        // Handlers learn the peer's address (login throttling) as with axum's serve.
        let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
            request.extensions_mut().insert(ConnectInfo(peer));
            router.clone().call(request)
        });
        let connection = self.builder.serve_connection(io, service).with_upgrades();
        tokio::pin!(connection);
        let check = (self.limits.idle_timeout / 4).max(Duration::from_millis(50));
        let mut closing_since: Option<tokio::time::Instant> = None;
        loop {
            let deadline = closing_since.map(|since| since + self.limits.grace);
            tokio::select! {
                result = connection.as_mut() => {
                    if let Err(error) = result {
                        tracing::debug!("connection from {peer} ended: {error}");
                    }
                    return;
                }
                changed = self.stopping.changed(), if closing_since.is_none() => {
                    if changed.is_err() || *self.stopping.borrow() {
                        connection.as_mut().graceful_shutdown();
                        closing_since = Some(tokio::time::Instant::now());
                    }
                }
                () = tokio::time::sleep(check), if closing_since.is_none() => {
                    if activity.idle_for() >= self.limits.idle_timeout {
                        connection.as_mut().graceful_shutdown();
                        closing_since = Some(tokio::time::Instant::now());
                    }
                }
                () = sleep_until_or_never(deadline) => {
                    // Asked to close, and still busy after the grace period: cut it.
                    tracing::debug!("closing the connection from {peer} after the grace period");
                    return;
                }
            }
        }
    }
}

async fn sleep_until_or_never(deadline: Option<tokio::time::Instant>) {
    match deadline {
        Some(deadline) => tokio::time::sleep_until(deadline).await,
        None => std::future::pending().await,
    }
}

/// When a connection last moved a byte, shared between its IO and its watchdog.
#[derive(Clone)]
struct Activity {
    start: Instant,
    last_millis: Arc<AtomicU64>,
}

impl Activity {
    fn new() -> Activity {
        Activity {
            start: Instant::now(),
            last_millis: Arc::new(AtomicU64::new(0)),
        }
    }

    fn touch(&self) {
        let now = u64::try_from(self.start.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.last_millis.store(now, Ordering::Relaxed);
    }

    fn idle_for(&self) -> Duration {
        let last = Duration::from_millis(self.last_millis.load(Ordering::Relaxed));
        self.start.elapsed().saturating_sub(last)
    }
}

/// A stream that records its traffic in an [`Activity`].
struct Watched {
    inner: TcpStream,
    activity: Activity,
}

impl AsyncRead for Watched {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let result = Pin::new(&mut self.inner).poll_read(cx, buf);
        if buf.filled().len() > before {
            self.activity.touch();
        }
        result
    }
}

impl AsyncWrite for Watched {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write(cx, buf);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let result = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        if matches!(result, Poll::Ready(Ok(n)) if n > 0) {
            self.activity.touch();
        }
        result
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}
