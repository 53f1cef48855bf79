//! End-to-end tests: the real sync server serving the freshly built app (from
//! `cargo xtask test`, which sets SYNC_E2E_APP_DIR), driven in headless Chromium over
//! WebDriver.
#![cfg(not(target_arch = "wasm32"))]

mod harness;

mod app;
mod convergence;
mod failure_paths;
mod foundation;
mod incremental;
mod random;
