//! Records and outbox events as a device would write them, for tests to push.

use sync_protocol::{Board, Operation, OutboxEvent, PushResult, Record, Timestamp, Todo};
use uuid::Uuid;

pub fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

pub fn board(user: Uuid, name: &str) -> Board {
    Board {
        id: Uuid::new_v4(),
        name: name.to_string(),
        created_at: now(),
        user_id: user,
    }
}

pub fn todo(board: Uuid, title: &str) -> Todo {
    Todo {
        id: Uuid::new_v4(),
        title: title.to_string(),
        description: None,
        is_completed: false,
        created_at: now(),
        board_id: board,
    }
}

/// A fresh outbox event carrying `record` after `operation`.
pub fn event(operation: Operation, record: impl Into<Record>) -> OutboxEvent {
    OutboxEvent::new(Uuid::new_v4(), operation, &record.into(), now())
}

pub fn create(record: impl Into<Record>) -> OutboxEvent {
    event(Operation::Create, record)
}

pub fn update(record: impl Into<Record>) -> OutboxEvent {
    event(Operation::Update, record)
}

/// An update naming the fields it changed (`changedFields`), as our client sends it: the
/// server takes just those fields from `record`.
pub fn update_fields(record: impl Into<Record>, fields: &[&str]) -> OutboxEvent {
    update(record).with_changed_fields(fields.iter().map(|field| field.to_string()).collect())
}

pub fn delete(record: impl Into<Record>) -> OutboxEvent {
    event(Operation::Delete, record)
}

/// The error type name of a result (panics if it applied).
pub fn error_type(result: &PushResult) -> &'static str {
    result
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("expected an error for {}", result.id))
        .kind
        .name()
}
