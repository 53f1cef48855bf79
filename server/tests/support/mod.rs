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

use std::collections::BTreeMap;
use sync_protocol::{LogWithRecord, Model, Operation, Record};

/// What a client that has nothing waiting to push holds after applying `logs` in order
/// (a full pull): each record's JSON, by id. It follows the client's rules for a pulled
/// entry (`decide_pulled` in worker/src/replica/rules.rs), for a device with no local
/// changes, where no entry of an ascending pull is stale:
/// - an entry that carries a record, whatever its operation (a Delete too), stores that
///   record, when it reads as a record of its model with the entry's id;
/// - a Delete with no record removes the record;
/// - a Create or Update with no record changes nothing (the record was deleted since,
///   and that delete follows in the log);
/// - an entry the client cannot read (unknown model, no id, a record that does not
///   read or has another id) changes nothing.
#[allow(dead_code)] // Not every test file (nor the benchmark) uses it.
pub fn holdings(logs: &[LogWithRecord]) -> BTreeMap<String, serde_json::Value> {
    let mut held = BTreeMap::new();
    for log in logs {
        let (Some(model), Some(id)) = (Model::parse(&log.model), log.record_id()) else {
            continue;
        };
        match (&log.record, log.operation) {
            (None, Operation::Delete) => {
                held.remove(id);
            }
            (None, _) => {}
            (Some(value), _) => match Record::from_json(model, value.clone()) {
                Ok(record) if record.id().to_string() == id => {
                    held.insert(id.to_string(), value.clone());
                }
                _ => {}
            },
        }
    }
    held
}
