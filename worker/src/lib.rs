//! The sync worker crate: the local store over IndexedDB that the app and the worker
//! share, the sync engine (plain Rust, tested natively), and the Web Worker host that
//! plugs the engine into IndexedDB, `fetch` and timers.

mod channel;
pub mod codec;
pub mod engine;
pub mod host;
pub mod messages;
pub mod replica;
pub mod store;
