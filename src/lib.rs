//! Boards and todos, offline first. The UI reads and writes IndexedDB directly and
//! never waits for the network; a dedicated Web Worker syncs it with the server.
//!
//! The binary (`main.rs`) only mounts [`App`]; everything lives here so that browser
//! tests can mount components too.

mod api;
mod app;
pub mod components;
pub mod config;
pub mod hooks;
mod module_url;

pub use app::App;
