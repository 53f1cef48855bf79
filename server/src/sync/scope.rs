//! Scopes: every record belongs to one user through its ownership path (Todo → Board →
//! User), and a user may read and write only records whose path ends at them.
//!
//! A push is checked twice: the record as stored (no touching another user's record,
//! even by guessing its id) and the record as it would be stored (no moving a todo onto
//! another user's board, no creating or resurrecting a record in another user's scope):
//! the record as sent, or for an update naming its changed fields, the merge of those
//! onto the stored record.
//!
//! An id that exists in another scope is answered SCOPE_VIOLATION and a parent that does
//! not exist MISSING_PARENT; telling the two apart reveals only whether a UUID the caller
//! already knows is taken, never anything stored under it.

use super::{reject, Failure};
use crate::storage::{OwnedRecord, ScopeView};
use crate::Error;
use sync_protocol::{Model, Operation, PushErrorKind, Record, User, ValidatedEvent};
use uuid::Uuid;

/// Whether the user whose scope `tx` holds may apply `event`.
pub async fn authorize(tx: &mut dyn ScopeView, event: &ValidatedEvent) -> Result<(), Failure> {
    let scope = tx.scope();
    let writes = event.operation != Operation::Delete;
    if let Record::User(user) = &event.record {
        return authorize_user(tx, event.operation, user).await;
    }
    // Resurrecting a deleted record stays its owner's: no one else may take the id.
    if tx
        .owner(event.record.id())
        .await?
        .is_some_and(|owner| owner != scope)
    {
        return reject(
            PushErrorKind::ScopeViolation,
            format!(
                "this {} id belongs to another account",
                event.record.model()
            ),
        );
    }
    match &event.record {
        Record::User(_) => Ok(()),
        Record::Board(board) => {
            if let Some(stored) = tx.board(board.id).await? {
                if stored.user_id != scope {
                    return reject(PushErrorKind::ScopeViolation, "this board is not yours");
                }
            }
            if writes && board.user_id != scope {
                return reject(
                    PushErrorKind::ScopeViolation,
                    "a board's userId must be your own user id",
                );
            }
            Ok(())
        }
        Record::Todo(todo) => {
            if let Some(stored) = tx.todo(todo.id).await? {
                if owner_of_board(tx, stored.board_id).await? != Some(scope) {
                    return reject(PushErrorKind::ScopeViolation, "this todo is not yours");
                }
            }
            if writes {
                match owner_of_board(tx, todo.board_id).await? {
                    None => {
                        return reject(
                            PushErrorKind::MissingParent,
                            format!("board {} does not exist", todo.board_id),
                        )
                    }
                    Some(owner) if owner != scope => {
                        return reject(
                            PushErrorKind::ScopeViolation,
                            "a todo can only be put on one of your own boards",
                        )
                    }
                    Some(_) => {}
                }
            }
            Ok(())
        }
    }
}

/// Users are created by sign-up and never deleted through sync; a client may update its
/// own profile (name, image, updatedAt) but not what the server manages: the email
/// (the login), whether it is verified, whether the account is anonymous, and when it
/// was created. An update that names its changed fields may name only what the client
/// may change (the rest is taken from the stored user); one that does not name them must
/// send those unchanged, so a client cannot believe it changed them.
async fn authorize_user(
    tx: &mut dyn ScopeView,
    operation: Operation,
    user: &User,
) -> Result<(), Failure> {
    if operation != Operation::Update {
        return reject(
            PushErrorKind::ScopeViolation,
            "users are created by sign-up; sync may only update them",
        );
    }
    if user.id != tx.scope() {
        return reject(
            PushErrorKind::ScopeViolation,
            "you may only change your own user record",
        );
    }
    let stored = tx
        .user(user.id)
        .await?
        .ok_or_else(|| Error::CorruptData(format!("scope {} has no user", user.id)))?;
    let managed = [
        ("email", stored.email == user.email),
        (
            "emailVerified",
            stored.email_verified == user.email_verified,
        ),
        ("isAnonymous", stored.is_anonymous == user.is_anonymous),
        ("createdAt", stored.created_at == user.created_at),
    ];
    if let Some((field, _)) = managed.iter().find(|(_, same)| !same) {
        return reject(
            PushErrorKind::RecordValidationFailure,
            format!("`{field}` is managed by the server and cannot be changed through sync"),
        );
    }
    Ok(())
}

/// The user a board belongs to, None when there is no such board.
async fn owner_of_board(tx: &mut dyn ScopeView, board: Uuid) -> Result<Option<Uuid>, Error> {
    Ok(tx.board(board).await?.map(|board| board.user_id))
}

/// The visibility rule, the one place it is written: a user may see a record whose
/// ownership path ends at them. Pulls apply it to what storage returns
/// ([`visible_records`]), refusals to the record they send back ([`visible_record`]).
fn visible_to(scope: Uuid, owner: Option<Uuid>) -> bool {
    owner == Some(scope)
}

/// Of `rows` as storage returns them, the records the user of `scope` may see.
pub fn visible_records(scope: Uuid, rows: Vec<OwnedRecord>) -> impl Iterator<Item = Record> {
    rows.into_iter()
        .filter(move |row| visible_to(scope, Some(row.owner)))
        .map(|row| row.record)
}

/// The record `(model, id)` as the scope's user may see it: None when it does not exist
/// or belongs to someone else.
pub async fn visible_record(
    tx: &mut dyn ScopeView,
    model: Model,
    id: Uuid,
) -> Result<Option<Record>, Error> {
    let (record, owner) = match model {
        Model::User => match tx.user(id).await? {
            Some(user) => (Record::User(user), Some(id)),
            None => return Ok(None),
        },
        Model::Board => match tx.board(id).await? {
            Some(board) => {
                let owner = Some(board.user_id);
                (Record::Board(board), owner)
            }
            None => return Ok(None),
        },
        Model::Todo => match tx.todo(id).await? {
            Some(todo) => {
                let owner = owner_of_board(tx, todo.board_id).await?;
                (Record::Todo(todo), owner)
            }
            None => return Ok(None),
        },
    };
    Ok(visible_to(tx.scope(), owner).then_some(record))
}
