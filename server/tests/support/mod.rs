//! The server tests' support (also used by the benchmark), which lives in the
//! `sync-test-support` crate with every other suite's: a server on a fresh database (a
//! temporary SQLite file, or a new, randomly named PostgreSQL database that is dropped
//! afterwards), a client that speaks the protocol over real HTTP, and record builders.
//!
//! Each test file says `mod support; use support::*;`: this module keeps that one line
//! working and names exactly what the server tests use, nothing of the browser suites.
//!
//! PostgreSQL comes from `TEST_POSTGRES_URL` (an admin URL; default
//! [`DEFAULT_POSTGRES_ADMIN_URL`]). When it cannot be reached, a test on PostgreSQL
//! prints a note and passes, unless `CI` is set, where it fails.

// Each test file uses its own part of this module.
#![allow(unused_imports)]

pub use sync_test_support::{
    admin_execute, board, create, database_url, delete, error_type, event, expect_error, in_ci,
    now, on_both_backends, postgres_admin_url, todo, update, update_fields, Backend, Client, Pokes,
    TestDb, TestServer, DEFAULT_POSTGRES_ADMIN_URL, PASSWORD,
};
