//! Outbox events: the unit of change a client pushes. Each local write appends one, in
//! the same transaction as the record it changes, with the full record as its payload.
//!
//! `entityType` and `operation` stay strings on the wire type: the server must answer an
//! unknown model or operation per event (INVALID_MODEL, UNKNOWN_OPERATION) rather than
//! reject the whole batch, so parsing them is part of validation, not of decoding.

use crate::records::{Model, Record};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// What an event does to its record.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Operation {
    Create,
    Update,
    Delete,
}

impl Operation {
    pub fn name(self) -> &'static str {
        match self {
            Operation::Create => "create",
            Operation::Update => "update",
            Operation::Delete => "delete",
        }
    }

    pub fn parse(name: &str) -> Option<Operation> {
        [Operation::Create, Operation::Update, Operation::Delete]
            .into_iter()
            .find(|op| op.name() == name)
    }
}

impl fmt::Display for Operation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One outbox event: the eleven fields prisma-idb sends, and one optional field of ours.
///
/// `changedFields` names the fields an update changed, so that the server applies just
/// those onto its current record and a concurrent edit of another field survives (field-
/// level merge). It is additive: an event without it (every prisma-idb client's) is a
/// whole-record update, as before, and it is never sent when absent.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEvent {
    pub id: String,
    pub entity_type: String,
    pub operation: String,
    pub payload: serde_json::Value,
    pub created_at: Timestamp,
    pub tries: u32,
    pub last_error: Option<String>,
    pub synced: bool,
    pub synced_at: Option<Timestamp>,
    pub retryable: bool,
    pub last_attempted_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub changed_fields: Option<Vec<String>>,
}

impl OutboxEvent {
    /// A new, never-tried event carrying `record` after `operation`.
    pub fn new(id: Uuid, operation: Operation, record: &Record, now: Timestamp) -> OutboxEvent {
        OutboxEvent::untried(
            id.to_string(),
            record.model().name(),
            operation.name(),
            record.to_json(),
            now,
        )
    }

    /// A never-tried event from its raw parts (which need not be valid: tests and tools
    /// build invalid ones on purpose).
    pub fn untried(
        id: impl Into<String>,
        entity_type: &str,
        operation: &str,
        payload: serde_json::Value,
        created_at: Timestamp,
    ) -> OutboxEvent {
        OutboxEvent {
            id: id.into(),
            entity_type: entity_type.to_string(),
            operation: operation.to_string(),
            payload,
            created_at,
            tries: 0,
            last_error: None,
            synced: false,
            synced_at: None,
            retryable: true,
            last_attempted_at: None,
            changed_fields: None,
        }
    }

    /// This event, naming the fields it changed (meaningful for updates only).
    pub fn with_changed_fields(mut self, fields: Vec<String>) -> OutboxEvent {
        self.changed_fields = Some(fields);
        self
    }

    pub fn model(&self) -> Option<Model> {
        Model::parse(&self.entity_type)
    }

    pub fn op(&self) -> Option<Operation> {
        Operation::parse(&self.operation)
    }

    /// The id of the record the event changes, read from its payload.
    pub fn record_id(&self) -> Option<&str> {
        self.payload.get("id").and_then(|id| id.as_str())
    }

    /// Whether the push loop should still send this event.
    pub fn is_pending(&self) -> bool {
        !self.synced && self.retryable
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::records::Board;
    use serde_json::json;

    #[test]
    fn serialises_the_eleven_prisma_idb_fields_and_changed_fields_only_when_set() {
        let board = Board {
            id: Uuid::nil(),
            name: "Home".into(),
            created_at: Timestamp::from_millis(0),
            user_id: Uuid::nil(),
        };
        let event = OutboxEvent::new(
            Uuid::nil(),
            Operation::Create,
            &board.into(),
            Timestamp::from_millis(0),
        );
        let value = serde_json::to_value(&event).unwrap();
        let mut keys: Vec<_> = value.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        assert_eq!(
            keys,
            [
                "createdAt",
                "entityType",
                "id",
                "lastAttemptedAt",
                "lastError",
                "operation",
                "payload",
                "retryable",
                "synced",
                "syncedAt",
                "tries"
            ]
        );
        assert_eq!(value["entityType"], json!("Board"));
        assert_eq!(value["operation"], json!("create"));
        assert_eq!(value["createdAt"], json!("1970-01-01T00:00:00.000Z"));
        assert_eq!(event.record_id(), Some(Uuid::nil().to_string().as_str()));
        assert!(event.is_pending());

        let update = event.with_changed_fields(vec!["name".into()]);
        let value = serde_json::to_value(&update).unwrap();
        assert_eq!(value["changedFields"], json!(["name"]));
        let back: OutboxEvent = serde_json::from_value(value).unwrap();
        assert_eq!(back, update);
    }
}
