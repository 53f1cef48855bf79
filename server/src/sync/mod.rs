//! The sync protocol's server side, written once over the storage traits: push (apply
//! outbox events: idempotent, validated, scope-checked), pull (changelog pages with
//! records), the ownership and sharing rules, board membership, and pluggable custom
//! validation.

pub mod custom;
mod pull;
mod push;
mod scope;
mod sharing;

use crate::auth::throttle::Throttle;
use crate::storage::Storage;
use crate::Error;
use custom::CustomValidator;
use std::sync::Arc;
use sync_protocol::PushErrorKind;

/// The validators a server runs unless it is built with others.
pub fn default_validators() -> Vec<Arc<dyn CustomValidator>> {
    vec![Arc::new(custom::UniqueBoardNames)]
}

/// Push and pull for every user.
pub struct SyncService {
    store: Arc<dyn Storage>,
    validators: Vec<Arc<dyn CustomValidator>>,
    /// Events that have been tried more often than this are refused (MAX_RETRIES).
    max_tries: u32,
    /// Shares with an address that has no account, per user (see `sharing`).
    share_misses: Throttle,
}

impl SyncService {
    /// Push and pull over `store`, with the application's custom validators.
    pub fn new(
        store: Arc<dyn Storage>,
        validators: Vec<Arc<dyn CustomValidator>>,
        max_tries: u32,
    ) -> SyncService {
        SyncService {
            store,
            validators,
            max_tries,
            share_misses: sharing::misses_throttle(),
        }
    }
}

/// Why an event is not applied: a permanent verdict on the event, or a fault of ours.
#[derive(Debug)]
enum Failure {
    Rejected(PushErrorKind, String),
    Fault(Error),
}

impl From<Error> for Failure {
    fn from(error: Error) -> Failure {
        Failure::Fault(error)
    }
}

fn reject<T>(kind: PushErrorKind, message: impl Into<String>) -> Result<T, Failure> {
    Err(Failure::Rejected(kind, message.into()))
}
