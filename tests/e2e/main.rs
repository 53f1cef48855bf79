//! End-to-end tests: the real sync server serving the freshly built app (from
//! `cargo xtask test`, which sets SYNC_E2E_APP_DIR), driven in headless Chromium over
//! WebDriver. What they stand on (the server stack, the page object, data snapshots, a
//! static host) is the `sync-test-support` crate's, shared with the benchmark programs.
#![cfg(not(target_arch = "wasm32"))]

mod app;
mod convergence;
mod failure_paths;
mod foundation;
mod incremental;
mod merge;
mod random;
mod sharing;
