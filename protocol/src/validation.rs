//! Validation of records and events, the same on both ends: the app checks a change
//! before writing it, the server checks every pushed event before applying it.

use crate::outbox::{Operation, OutboxEvent};
use crate::push::{PushError, PushErrorKind};
use crate::records::{Model, Record};
use uuid::Uuid;

/// The longest board name.
pub const MAX_BOARD_NAME: usize = 100;
/// The longest todo title.
pub const MAX_TODO_TITLE: usize = 200;
/// The longest todo description.
pub const MAX_TODO_DESCRIPTION: usize = 5000;
/// The longest user name.
pub const MAX_USER_NAME: usize = 100;
/// The longest email address (RFC 5321).
pub const MAX_EMAIL: usize = 254;
/// The longest user image (a URL, or a small data URL).
pub const MAX_USER_IMAGE: usize = 4096;

/// An event that passed validation: a known operation on a well-formed record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidatedEvent {
    pub operation: Operation,
    pub record: Record,
    /// For an update that named the fields it changed: those fields, each a field of the
    /// model other than its id. `None`: the whole record (a prisma-idb client's update).
    pub changed_fields: Option<Vec<String>>,
}

/// Why an event or record is invalid, as the protocol's error type and a message a
/// person can act on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind:?}: {message}")]
pub struct ValidationError {
    pub kind: PushErrorKind,
    pub message: String,
}

impl ValidationError {
    fn new(kind: PushErrorKind, message: impl Into<String>) -> ValidationError {
        ValidationError {
            kind,
            message: message.into(),
        }
    }
}

impl From<ValidationError> for PushError {
    fn from(error: ValidationError) -> PushError {
        PushError::new(error.kind, error.message)
    }
}

/// Checks an event's model, operation, key and payload, in that order.
pub fn validate_event(event: &OutboxEvent) -> Result<ValidatedEvent, ValidationError> {
    let model = event.model().ok_or_else(|| {
        ValidationError::new(
            PushErrorKind::InvalidModel,
            format!("unknown model `{}`", event.entity_type),
        )
    })?;
    let operation = event.op().ok_or_else(|| {
        ValidationError::new(
            PushErrorKind::UnknownOperation,
            format!(
                "unknown operation `{}` (expected create, update or delete)",
                event.operation
            ),
        )
    })?;
    match event.record_id() {
        Some(id) if is_canonical_uuid(id) => {}
        // Refused rather than normalised: answering under another spelling of the id
        // would leave a client holding the record under both.
        Some(id) if Uuid::parse_str(id).is_ok() => {
            return Err(ValidationError::new(
                PushErrorKind::KeypathValidationFailure,
                format!(
                    "the {model} id `{}` must be written in lower case with hyphens \
                     (8-4-4-4-12 hex digits)",
                    id.escape_debug()
                ),
            ))
        }
        _ => {
            return Err(ValidationError::new(
                PushErrorKind::KeypathValidationFailure,
                format!("the {model} payload has no valid `id` (a UUID)"),
            ))
        }
    }
    for field in ["userId", "boardId"] {
        if let Some(reference) = event.payload.get(field).and_then(|v| v.as_str()) {
            if !is_canonical_uuid(reference) {
                return Err(ValidationError::new(
                    PushErrorKind::RecordValidationFailure,
                    format!("invalid {model}: `{field}` must be a UUID in lower case with hyphens"),
                ));
            }
        }
    }
    let record = Record::from_json(model, event.payload.clone()).map_err(|e| {
        ValidationError::new(
            PushErrorKind::RecordValidationFailure,
            format!("invalid {model}: {e}"),
        )
    })?;
    validate_record(&record)?;
    let changed_fields = validate_changed_fields(model, operation, event)?;
    Ok(ValidatedEvent {
        operation,
        record,
        changed_fields,
    })
}

/// `changedFields` belongs to updates only and names fields of the model (not its id).
fn validate_changed_fields(
    model: Model,
    operation: Operation,
    event: &OutboxEvent,
) -> Result<Option<Vec<String>>, ValidationError> {
    let Some(fields) = &event.changed_fields else {
        return Ok(None);
    };
    let invalid = |message: String| {
        Err(ValidationError::new(
            PushErrorKind::RecordValidationFailure,
            message,
        ))
    };
    if operation != Operation::Update {
        return invalid(format!(
            "changedFields is for updates only (this is a {operation})"
        ));
    }
    if let Some(field) = fields.iter().find(|f| !model.is_mergeable_field(f)) {
        return invalid(format!(
            "changedFields names `{}`, which is not a field of {model} an update can change",
            field.escape_debug()
        ));
    }
    let mut fields = fields.clone();
    fields.sort_unstable();
    fields.dedup();
    Ok(Some(fields))
}

/// The field rules of each model, beyond the shape that parsing already checked.
pub fn validate_record(record: &Record) -> Result<(), ValidationError> {
    let invalid = |message: String| {
        Err(ValidationError::new(
            PushErrorKind::RecordValidationFailure,
            message,
        ))
    };
    match record {
        Record::User(user) => {
            check_text("name", &user.name, MAX_USER_NAME).or_else(invalid)?;
            if !is_plausible_email(&user.email) {
                return invalid(format!("`{}` is not an email address", user.email));
            }
        }
        Record::Board(board) => check_text("name", &board.name, MAX_BOARD_NAME).or_else(invalid)?,
        Record::Todo(todo) => {
            check_text("title", &todo.title, MAX_TODO_TITLE).or_else(invalid)?;
            if let Some(description) = &todo.description {
                if description.chars().count() > MAX_TODO_DESCRIPTION {
                    return invalid(format!(
                        "description is longer than {MAX_TODO_DESCRIPTION} characters"
                    ));
                }
                // Several lines are fine; other control characters (NUL above all, which
                // PostgreSQL cannot store) are not text a person wrote.
                if description
                    .chars()
                    .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
                {
                    return invalid(
                        "description must not contain control characters other than line \
                         breaks and tabs"
                            .to_string(),
                    );
                }
            }
        }
    }
    if let Record::User(user) = record {
        if let Some(image) = &user.image {
            if image.chars().count() > MAX_USER_IMAGE {
                return invalid(format!("image is longer than {MAX_USER_IMAGE} characters"));
            }
            if image.chars().any(char::is_control) {
                return invalid("image must not contain control characters".to_string());
            }
        }
    }
    Ok(())
}

/// Whether `text` is a UUID in its canonical form: lower-case hex, hyphenated 8-4-4-4-12,
/// exactly as `crypto.randomUUID()` and this crate write one.
pub fn is_canonical_uuid(text: &str) -> bool {
    Uuid::parse_str(text).is_ok_and(|id| id.hyphenated().to_string() == text)
}

/// Whether both databases can store `text` as it is: PostgreSQL refuses NUL in text,
/// SQLite keeps it, so text with a NUL is refused everywhere to keep them alike.
pub fn is_storable_text(text: &str) -> bool {
    !text.contains('\0')
}

/// A required single-line text: not blank, not too long, no control characters.
pub fn check_text(field: &str, value: &str, max: usize) -> Result<(), String> {
    if value.trim().is_empty() {
        return Err(format!("{field} must not be empty"));
    }
    if value.chars().count() > max {
        return Err(format!("{field} is longer than {max} characters"));
    }
    if value.chars().any(char::is_control) {
        return Err(format!("{field} must be a single line of text"));
    }
    Ok(())
}

/// Enough of a check to catch typos; the truth is whether mail arrives.
pub fn is_plausible_email(email: &str) -> bool {
    let Some((local, domain)) = email.split_once('@') else {
        return false;
    };
    !local.is_empty()
        && domain.contains('.')
        && !domain.starts_with('.')
        && !domain.ends_with('.')
        && email.len() <= MAX_EMAIL
        && !email.chars().any(|c| c.is_whitespace() || c.is_control())
}

/// Whether `model` may be written by clients (users are created by sign-up).
pub fn client_writable(model: Model, operation: Operation) -> bool {
    !(model == Model::User && operation != Operation::Update)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::time::Timestamp;
    use serde_json::json;

    fn event(entity: &str, operation: &str, payload: serde_json::Value) -> OutboxEvent {
        OutboxEvent::untried("e", entity, operation, payload, Timestamp::from_millis(0))
    }

    fn board(name: &str) -> serde_json::Value {
        json!({"id": Uuid::nil(), "name": name, "createdAt": "2026-01-01T00:00:00.000Z", "userId": Uuid::nil()})
    }

    fn kind(result: Result<ValidatedEvent, ValidationError>) -> PushErrorKind {
        result.expect_err("should be invalid").kind
    }

    #[test]
    fn changed_fields_are_for_updates_and_name_fields_of_the_model() {
        let named = |operation: &str, fields: &[&str]| {
            validate_event(
                &event("Board", operation, board("a"))
                    .with_changed_fields(fields.iter().map(|f| f.to_string()).collect()),
            )
        };
        assert_eq!(
            named("update", &["name", "name"]).unwrap().changed_fields,
            Some(vec!["name".to_string()])
        );
        assert_eq!(named("update", &[]).unwrap().changed_fields, Some(vec![]));
        let plain = validate_event(&event("Board", "update", board("a"))).unwrap();
        assert_eq!(plain.changed_fields, None);
        for (operation, fields) in [
            ("update", &["id"][..]),
            ("update", &["title"][..]),
            ("update", &["name", "todos"][..]),
            ("create", &["name"][..]),
            ("delete", &["name"][..]),
        ] {
            assert_eq!(
                kind(named(operation, fields)),
                PushErrorKind::RecordValidationFailure,
                "{operation} {fields:?}"
            );
        }
    }

    #[test]
    fn each_failure_has_its_error_type() {
        assert_eq!(
            kind(validate_event(&event("Card", "create", board("a")))),
            PushErrorKind::InvalidModel
        );
        assert_eq!(
            kind(validate_event(&event("Board", "upsert", board("a")))),
            PushErrorKind::UnknownOperation
        );
        assert_eq!(
            kind(validate_event(&event(
                "Board",
                "create",
                json!({"id": "not-a-uuid"})
            ))),
            PushErrorKind::KeypathValidationFailure
        );
        assert_eq!(
            kind(validate_event(&event(
                "Board",
                "create",
                json!({"id": Uuid::nil()})
            ))),
            PushErrorKind::RecordValidationFailure
        );
        assert_eq!(
            kind(validate_event(&event("Board", "create", board("  ")))),
            PushErrorKind::RecordValidationFailure
        );
        assert_eq!(
            kind(validate_event(&event(
                "Board",
                "create",
                board(&"x".repeat(101))
            ))),
            PushErrorKind::RecordValidationFailure
        );
    }

    #[test]
    fn non_canonical_ids_are_refused_not_rewritten() {
        let upper = Uuid::new_v4().to_string().to_uppercase();
        let mut payload = board("a");
        payload["id"] = json!(upper);
        assert_eq!(
            kind(validate_event(&event("Board", "create", payload))),
            PushErrorKind::KeypathValidationFailure
        );
        let mut payload = board("a");
        payload["id"] = json!(Uuid::new_v4().simple().to_string());
        assert_eq!(
            kind(validate_event(&event("Board", "create", payload))),
            PushErrorKind::KeypathValidationFailure
        );
        let mut payload = board("a");
        payload["userId"] = json!(Uuid::new_v4().to_string().to_uppercase());
        assert_eq!(
            kind(validate_event(&event("Board", "create", payload))),
            PushErrorKind::RecordValidationFailure
        );
        assert!(is_canonical_uuid(&Uuid::new_v4().to_string()));
    }

    #[test]
    fn text_a_database_cannot_store_is_invalid() {
        let todo = |description: &str| {
            json!({"id": Uuid::nil(), "title": "t", "description": description,
                "isCompleted": false, "createdAt": "2026-01-01T00:00:00.000Z",
                "boardId": Uuid::nil()})
        };
        assert!(validate_event(&event("Todo", "create", todo("two\nlines\tok"))).is_ok());
        assert_eq!(
            kind(validate_event(&event(
                "Todo",
                "create",
                todo("nul\u{0}here")
            ))),
            PushErrorKind::RecordValidationFailure
        );
        assert_eq!(
            kind(validate_event(&event("Board", "create", board("a\u{0}b")))),
            PushErrorKind::RecordValidationFailure
        );
        assert!(!is_storable_text("a\u{0}"));
        assert!(is_storable_text("emoji 🦀 and \u{202e}"));
    }

    #[test]
    fn a_valid_event_yields_its_record() {
        let valid = validate_event(&event("Board", "update", board("Home"))).unwrap();
        assert_eq!(valid.operation, Operation::Update);
        assert_eq!(valid.record.model(), Model::Board);
    }

    #[test]
    fn emails() {
        assert!(is_plausible_email("ada@example.com"));
        assert!(!is_plausible_email("ada@example"));
        assert!(!is_plausible_email("ada example.com"));
        assert!(!is_plausible_email("@example.com"));
    }
}
