//! The pull exchange: `POST /api/sync/pull` with `{"lastChangelogId"?}`, answered with
//! the scope's changelog entries after that cursor, each with its record's current state.

use crate::outbox::Operation;
use serde::{Deserialize, Serialize};

/// The pull request body.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullRequest {
    /// The cursor of the last page applied; absent on the first pull.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_changelog_id: Option<String>,
    /// Extension: the page size, 1 to [`crate::MAX_PULL_LIMIT`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub limit: Option<u32>,
}

/// One page of the changelog.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PullResponse {
    /// Where the next pull starts: the last entry's id, or the request's cursor when the
    /// page is empty. Opaque to clients.
    pub cursor: Option<String>,
    pub logs_with_records: Vec<LogWithRecord>,
}

/// A changelog entry with its record's state at pull time.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LogWithRecord {
    pub id: String,
    /// Kept as text so that a client can count an unknown model as a validation error
    /// instead of failing the page.
    pub model: String,
    pub key_path: Vec<serde_json::Value>,
    pub operation: Operation,
    pub scope_key: String,
    pub outbox_event_id: String,
    /// The record now, or null when it is gone.
    pub record: Option<serde_json::Value>,
    /// The same as `id` (prisma-idb sends both).
    pub changelog_id: String,
}

impl LogWithRecord {
    /// The record id from the key path (our models have a single-field key).
    pub fn record_id(&self) -> Option<&str> {
        match self.key_path.as_slice() {
            [serde_json::Value::String(id)] => Some(id),
            _ => None,
        }
    }
}
