//! `sync-server`: serves the built app and the sync API until Ctrl-C or SIGTERM.

use clap::Parser;
use sync_server::{Config, Server};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> std::process::ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn")),
        )
        .init();
    let config = Config::parse();
    let server = match Server::start(config).await {
        Ok(server) => server,
        Err(error) => {
            tracing::error!("cannot start: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    println!("sync-server listening on {}", server.url());
    server.run_until(shutdown_signal()).await;
    std::process::ExitCode::SUCCESS
}

/// Resolves on Ctrl-C, or on SIGTERM where there is one (what service managers send).
async fn shutdown_signal() {
    let ctrl_c = async {
        if let Err(error) = tokio::signal::ctrl_c().await {
            tracing::warn!("cannot listen for Ctrl-C: {error}");
            std::future::pending::<()>().await;
        }
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {},
        () = terminate => {},
    }
    tracing::info!("shutting down: finishing open requests");
}
