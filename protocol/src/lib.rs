//! The sync protocol shared by the app, the worker and the server: the records, the
//! outbox events that carry local changes, the push and pull wire types, the changelog
//! ids that order a scope's changes, and the validation both ends apply.
//!
//! The wire format is the prisma-idb outbox/changelog protocol (JSON, camelCase), so a
//! prisma-idb client or server can talk to ours. Our additions are optional fields that a
//! prisma-idb peer ignores. This crate does no IO and has no wasm-only or server-only
//! dependencies (chrono, for the server's conversions of [`Timestamp`], is native-only).

pub mod auth;
pub mod changelog;
pub mod outbox;
pub mod pull;
pub mod push;
pub mod records;
pub mod sharing;
pub mod time;
pub mod validation;

pub use changelog::ChangelogId;
pub use outbox::{Operation, OutboxEvent};
pub use pull::{LogWithRecord, PullRequest, PullResponse};
pub use push::{PushError, PushErrorKind, PushRequest, PushResult};
pub use records::{Board, Model, Record, Todo, UnknownField, User};
pub use time::Timestamp;
pub use validation::{ValidatedEvent, ValidationError};

/// The most events one push may carry; the server answers 413 above it.
pub const MAX_PUSH_BATCH: usize = 100;
/// The page size of a pull that does not ask for one.
pub const DEFAULT_PULL_LIMIT: u32 = 100;
/// The largest page a pull may ask for.
pub const MAX_PULL_LIMIT: u32 = 1000;
