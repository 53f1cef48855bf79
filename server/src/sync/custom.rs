//! Custom validation: rules of the application beyond the protocol's field checks. The
//! server is built with a list of validators; each sees an event that passed validation
//! and the scope checks, inside the transaction that will apply it, and may reject it
//! (CUSTOM_VALIDATION_FAILED, permanent).

use crate::storage::ScopeView;
use crate::Error;
use async_trait::async_trait;
use sync_protocol::{Operation, Record, ValidatedEvent};

/// A validator's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    Accept,
    /// Refuse the event; the message is shown to the user.
    Reject(String),
}

/// An application rule checked before an event is applied.
#[async_trait]
pub trait CustomValidator: Send + Sync {
    /// Judges `event`. `tx` reads the database as the applying transaction sees it (the
    /// scope's lock is held, so what it reads cannot change before the event applies).
    async fn check(&self, event: &ValidatedEvent, tx: &mut dyn ScopeView)
        -> Result<Verdict, Error>;
}

/// Board names are unique per user, ignoring case and surrounding spaces: two boards
/// called "Groceries" and "groceries " could not be told apart in the app.
pub struct UniqueBoardNames;

#[async_trait]
impl CustomValidator for UniqueBoardNames {
    async fn check(
        &self,
        event: &ValidatedEvent,
        tx: &mut dyn ScopeView,
    ) -> Result<Verdict, Error> {
        let Record::Board(board) = &event.record else {
            return Ok(Verdict::Accept);
        };
        if event.operation == Operation::Delete {
            return Ok(Verdict::Accept);
        }
        let name = name_key(&board.name);
        let taken = tx
            .boards_of_user(board.user_id)
            .await?
            .iter()
            .any(|other| other.id != board.id && name_key(&other.name) == name);
        Ok(if taken {
            Verdict::Reject(format!(
                "you already have a board named \"{}\"",
                board.name.trim()
            ))
        } else {
            Verdict::Accept
        })
    }
}

/// What makes two board names the same.
fn name_key(name: &str) -> String {
    name.trim().to_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_compare_trimmed_and_ignoring_case() {
        assert_eq!(name_key("  Groceries "), name_key("groceries"));
        assert_eq!(name_key("ÉTÉ"), name_key("été"));
        assert_ne!(name_key("Groceries"), name_key("Grocery"));
    }
}
