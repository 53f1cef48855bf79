//! The push exchange: `POST /api/sync/push` with `{"events": [OutboxEvent]}`, answered
//! with one [`PushResult`] per event, in order.

use crate::outbox::OutboxEvent;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The push request body.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushRequest {
    pub events: Vec<OutboxEvent>,
}

/// The server's answer for one event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PushResult {
    /// The outbox event's id.
    pub id: String,
    /// The changelog entry that applied the event (the same one on a replay).
    pub applied_changelog_id: Option<String>,
    pub error: Option<PushError>,
    /// Extension (prisma-idb peers neither send nor need it): with a permanent error, the
    /// record's current state on the server as the user may see it, so the client can
    /// roll its rejected change back even when its pull cursor has passed that record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub server_state: Option<ServerState>,
}

/// The server's current state of a record, for rolling back a rejected change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServerState {
    /// The record, or null when the server has none the user may see.
    pub record: Option<serde_json::Value>,
}

impl PushResult {
    pub fn applied(id: impl Into<String>, changelog_id: impl Into<String>) -> PushResult {
        PushResult {
            id: id.into(),
            applied_changelog_id: Some(changelog_id.into()),
            error: None,
            server_state: None,
        }
    }

    pub fn failed(id: impl Into<String>, error: PushError) -> PushResult {
        PushResult {
            id: id.into(),
            applied_changelog_id: None,
            error: Some(error),
            server_state: None,
        }
    }
}

/// Why an event was not applied.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PushError {
    #[serde(rename = "type")]
    pub kind: PushErrorKind,
    pub message: String,
    /// Only the server decides: a retryable event is sent again after its backoff, a
    /// permanent one stays in the outbox with its reason.
    pub retryable: bool,
}

impl PushError {
    /// An error with the kind's usual retryability.
    pub fn new(kind: PushErrorKind, message: impl Into<String>) -> PushError {
        PushError {
            kind,
            message: message.into(),
            retryable: kind.is_retryable(),
        }
    }
}

impl fmt::Display for PushError {
    /// The `"TYPE: message"` form that the outbox keeps as `lastError`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.kind.name(), self.message)
    }
}

/// The error types of the protocol.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PushErrorKind {
    InvalidModel,
    RecordValidationFailure,
    KeypathValidationFailure,
    MissingParent,
    ScopeViolation,
    UnknownOperation,
    UnknownError,
    MaxRetries,
    CustomValidationFailed,
}

impl PushErrorKind {
    /// Only an unexpected server error is worth retrying; everything else will fail the
    /// same way every time.
    pub fn is_retryable(self) -> bool {
        self == PushErrorKind::UnknownError
    }

    pub fn name(self) -> &'static str {
        match self {
            PushErrorKind::InvalidModel => "INVALID_MODEL",
            PushErrorKind::RecordValidationFailure => "RECORD_VALIDATION_FAILURE",
            PushErrorKind::KeypathValidationFailure => "KEYPATH_VALIDATION_FAILURE",
            PushErrorKind::MissingParent => "MISSING_PARENT",
            PushErrorKind::ScopeViolation => "SCOPE_VIOLATION",
            PushErrorKind::UnknownOperation => "UNKNOWN_OPERATION",
            PushErrorKind::UnknownError => "UNKNOWN_ERROR",
            PushErrorKind::MaxRetries => "MAX_RETRIES",
            PushErrorKind::CustomValidationFailed => "CUSTOM_VALIDATION_FAILED",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn results_have_the_prisma_idb_shape() {
        let ok = PushResult::applied("e1", "00000000000000000001");
        assert_eq!(
            serde_json::to_value(&ok).unwrap(),
            json!({"id": "e1", "appliedChangelogId": "00000000000000000001", "error": null})
        );
        let failed = PushResult::failed(
            "e2",
            PushError::new(PushErrorKind::ScopeViolation, "not yours"),
        );
        assert_eq!(
            serde_json::to_value(&failed).unwrap(),
            json!({"id": "e2", "appliedChangelogId": null,
                   "error": {"type": "SCOPE_VIOLATION", "message": "not yours", "retryable": false}})
        );
    }

    #[test]
    fn kind_names_match_serde() {
        for kind in [
            PushErrorKind::InvalidModel,
            PushErrorKind::RecordValidationFailure,
            PushErrorKind::KeypathValidationFailure,
            PushErrorKind::MissingParent,
            PushErrorKind::ScopeViolation,
            PushErrorKind::UnknownOperation,
            PushErrorKind::UnknownError,
            PushErrorKind::MaxRetries,
            PushErrorKind::CustomValidationFailed,
        ] {
            assert_eq!(serde_json::to_value(kind).unwrap(), json!(kind.name()));
            assert_eq!(kind.is_retryable(), kind == PushErrorKind::UnknownError);
        }
    }
}
