//! What every test suite and benchmark program of this workspace stands on, written
//! once: the server's integration tests (`server/tests`), the end-to-end tests
//! (`tests/e2e`), the benchmark programs (`examples/`, `server/benches`) and `xtask`.
//!
//! - Always (plain `std`, so `xtask` can depend on it before anything is installed):
//!   the environment conventions, [`in_ci`] and the PostgreSQL admin URL.
//! - Feature `server`: fresh test databases ([`TestDb`]: a temporary SQLite file or a
//!   new PostgreSQL database dropped afterwards), the sync server on them over real
//!   HTTP ([`TestServer`] for API tests, [`Stack`] serving the built app), the protocol
//!   [`Client`], record builders, and [`DataSet`] snapshots of what a person holds.
//! - Feature `browser`: the app in headless Chromium ([`Browser`], a page object over
//!   WebDriver and DevTools) and a plain [`StaticHost`] for the app on another origin.
//!
//! A suite that cannot run here (no database, no browser, no built app) skips with a
//! note, except under CI, where it fails: see [`ci`].

pub mod ci;
pub mod postgres;

pub use ci::in_ci;
pub use postgres::{database_url, postgres_admin_url, DEFAULT_POSTGRES_ADMIN_URL};

#[cfg(feature = "server")]
mod app;
#[cfg(feature = "server")]
mod client;
#[cfg(feature = "server")]
mod dataset;
#[cfg(feature = "server")]
mod db;
#[cfg(feature = "server")]
mod records;
#[cfg(feature = "server")]
mod server;
#[cfg(feature = "server")]
mod stack;

#[cfg(feature = "server")]
pub use app::{app_dir_for_tests, copy_app};
#[cfg(feature = "server")]
pub use client::{expect_error, Client, Pokes, PASSWORD};
#[cfg(feature = "server")]
pub use dataset::DataSet;
#[cfg(feature = "server")]
pub use db::{Backend, TestDb};
#[cfg(feature = "server")]
pub use postgres::admin_execute;
#[cfg(feature = "server")]
pub use records::{board, create, delete, error_type, event, now, todo, update, update_fields};
#[cfg(feature = "server")]
pub use server::TestServer;
#[cfg(feature = "server")]
pub use stack::Stack;

#[cfg(feature = "browser")]
mod browser;
#[cfg(feature = "browser")]
mod static_host;

#[cfg(feature = "browser")]
pub use browser::Browser;
/// The WebDriver client the page object wraps, for what it does not cover (tabs).
#[cfg(feature = "browser")]
pub use fantoccini;
#[cfg(feature = "browser")]
pub use static_host::StaticHost;

/// How long a test waits for something to appear, or a server to come back, before it
/// fails.
pub const PATIENCE: std::time::Duration = std::time::Duration::from_secs(20);
