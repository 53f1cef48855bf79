//! Scopes: every record belongs to one user through its ownership path (Todo → Board →
//! User), and a board is shared with its members. The audience of a board is its owner
//! and its members: they see the board and its todos, and each member sees the owner's
//! public profile. Only the owner writes the board; the audience writes its todos.
//!
//! A push is checked twice: the record as stored (no touching a record outside your
//! audience, even by guessing its id) and the record as it would be stored (no moving a
//! todo onto a board outside your audience or of another owner, no creating or
//! resurrecting a record in another user's scope): the record as sent, or for an update
//! naming its changed fields, the merge of those onto the stored record.
//!
//! An id that exists in another scope is answered SCOPE_VIOLATION and a parent that does
//! not exist MISSING_PARENT; telling the two apart reveals only whether a UUID the caller
//! already knows is taken, never anything stored under it.

use super::{reject, Failure};
use crate::storage::{OwnedRecord, ScopeView};
use crate::Error;
use std::collections::HashMap;
use sync_protocol::{Board, Model, Operation, PushErrorKind, Record, User, ValidatedEvent};
use uuid::Uuid;

/// What a member who was removed (or a stranger) is told about a todo of a board they
/// cannot see: no more than that they may not write there.
const NOT_SHARED: &str = "this board is not yours, or is no longer shared with you";

/// Whether the user whose scope `tx` holds may apply `event`.
pub async fn authorize(tx: &mut dyn ScopeView, event: &ValidatedEvent) -> Result<(), Failure> {
    match &event.record {
        Record::User(user) => authorize_user(tx, event.operation, user).await,
        Record::Board(board) => authorize_board(tx, event.operation, board).await,
        Record::Todo(todo) => authorize_todo(tx, event.operation, todo).await,
    }
}

/// Only the owner creates, renames or deletes a board.
async fn authorize_board(
    tx: &mut dyn ScopeView,
    operation: Operation,
    board: &Board,
) -> Result<(), Failure> {
    let scope = tx.scope();
    let stored = tx.board(board.id).await?;
    if let Some(stored) = &stored {
        if stored.user_id != scope && in_audience(tx, stored, scope).await? {
            return reject(
                PushErrorKind::ScopeViolation,
                "only the owner of a shared board can rename or delete it",
            );
        }
    }
    // Resurrecting a deleted record stays its owner's: no one else may take the id.
    if tx
        .owner(board.id)
        .await?
        .is_some_and(|owner| owner != scope)
    {
        return reject(
            PushErrorKind::ScopeViolation,
            "this Board id belongs to another account",
        );
    }
    if stored.is_some_and(|stored| stored.user_id != scope) {
        return reject(PushErrorKind::ScopeViolation, "this board is not yours");
    }
    if operation != Operation::Delete && board.user_id != scope {
        return reject(
            PushErrorKind::ScopeViolation,
            "a board's userId must be your own user id",
        );
    }
    Ok(())
}

/// The audience of a todo's board writes it; a todo stays with the owner of the board
/// it was created on (its id is claimed for them), so it may move only between boards
/// of that owner.
async fn authorize_todo(
    tx: &mut dyn ScopeView,
    operation: Operation,
    todo: &sync_protocol::Todo,
) -> Result<(), Failure> {
    let scope = tx.scope();
    let stored = tx.todo(todo.id).await?;
    if let Some(stored) = &stored {
        let visible = match tx.board(stored.board_id).await? {
            Some(board) => in_audience(tx, &board, scope).await?,
            None => false,
        };
        if !visible {
            return reject(PushErrorKind::ScopeViolation, NOT_SHARED);
        }
    }
    let claimed = tx.owner(todo.id).await?;
    if operation == Operation::Delete {
        // A todo that is gone already: its owner, or a member of one of the owner's
        // boards (two members deleting it at once), gets the delete acknowledged.
        if stored.is_none() {
            if let Some(owner) = claimed.filter(|owner| *owner != scope) {
                if tx.shared_boards(owner, scope).await?.is_empty() {
                    return reject(
                        PushErrorKind::ScopeViolation,
                        "this Todo id belongs to another account",
                    );
                }
            }
        }
        return Ok(());
    }
    let Some(target) = tx.board(todo.board_id).await? else {
        return reject(
            PushErrorKind::MissingParent,
            format!("board {} does not exist", todo.board_id),
        );
    };
    if !in_audience(tx, &target, scope).await? {
        let message = if stored.is_some() {
            "a todo can only be put on one of your own boards"
        } else {
            NOT_SHARED
        };
        return reject(PushErrorKind::ScopeViolation, message);
    }
    match claimed {
        Some(owner) if owner != target.user_id && stored.is_some() => reject(
            PushErrorKind::ScopeViolation,
            "a todo cannot move to a board of another owner",
        ),
        Some(owner) if owner != target.user_id => reject(
            PushErrorKind::ScopeViolation,
            "this Todo id belongs to another account",
        ),
        _ => Ok(()),
    }
}

/// The owner of `board`, then its members: who sees it and whose changelogs its changes
/// go to.
pub async fn audience(tx: &mut dyn ScopeView, board: &Board) -> Result<Vec<Uuid>, Error> {
    let mut audience = vec![board.user_id];
    audience.extend(tx.members(board.id).await?);
    Ok(audience)
}

/// Whether `user` is the owner or a member of `board`.
async fn in_audience(tx: &mut dyn ScopeView, board: &Board, user: Uuid) -> Result<bool, Error> {
    let members = tx.members(board.id).await?;
    Ok(sees_board(board.user_id, &members, user))
}

/// The visibility rule for a board and its todos, written only here: `user` sees them
/// when they own the board (`owner`) or are among its `members`. [`in_audience`] (and
/// through it [`visible_record`] and the checks of a push) and [`Visibility`] (pulls)
/// both decide with it.
fn sees_board(owner: Uuid, members: &[Uuid], user: Uuid) -> bool {
    owner == user || members.contains(&user)
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

/// What a member sees of the owner of a board shared with them: who shared it (name,
/// email, picture) and nothing the server manages about the account.
pub fn public_profile(user: User) -> User {
    User {
        email_verified: false,
        is_anonymous: false,
        ..user
    }
}

/// The visibility rule: a user sees their own records, the boards they own or are a
/// member of and those boards' todos ([`sees_board`] decides, here and in
/// [`visible_record`]), and the public profile of the owner of any board shared with
/// them. Pulls apply it to what storage returns ([`Visibility::records`]), refusals to
/// the record they send back ([`visible_record`]).
pub struct Visibility {
    user: Uuid,
    /// The boards shared with the user, and their owners.
    shared: HashMap<Uuid, Uuid>,
}

impl Visibility {
    /// For `user`, a member of the boards `shared` (`(board, owner)`).
    pub fn new(user: Uuid, shared: Vec<(Uuid, Uuid)>) -> Visibility {
        Visibility {
            user,
            shared: shared.into_iter().collect(),
        }
    }

    /// Whether the user sees `board` (and its todos), owned by `owner`. Of the board's
    /// members only the user matters, and the boards shared with them tell whether they
    /// are one.
    fn sees_board(&self, owner: Uuid, board: Uuid) -> bool {
        let members: &[Uuid] = if self.shared.contains_key(&board) {
            std::slice::from_ref(&self.user)
        } else {
            &[]
        };
        sees_board(owner, members, self.user)
    }

    /// The record as the user may see it, None when they may not. A row's owner is the
    /// owner of the board it is or belongs to (see [`OwnedRecord`]).
    fn sees(&self, row: OwnedRecord) -> Option<Record> {
        match row.record {
            Record::User(user) if user.id == self.user => Some(Record::User(user)),
            Record::User(user) => self
                .shared
                .values()
                .any(|owner| *owner == user.id)
                .then(|| Record::User(public_profile(user))),
            Record::Board(board) => self
                .sees_board(row.owner, board.id)
                .then_some(Record::Board(board)),
            Record::Todo(todo) => self
                .sees_board(row.owner, todo.board_id)
                .then_some(Record::Todo(todo)),
        }
    }

    /// Of `rows` as storage returns them, the records the user may see, as they may see
    /// them.
    pub fn records(&self, rows: Vec<OwnedRecord>) -> impl Iterator<Item = Record> + '_ {
        rows.into_iter().filter_map(|row| self.sees(row))
    }
}

/// The record `(model, id)` as the scope's user may see it (see [`Visibility`]): None
/// when it does not exist or they may not see it.
pub async fn visible_record(
    tx: &mut dyn ScopeView,
    model: Model,
    id: Uuid,
) -> Result<Option<Record>, Error> {
    let scope = tx.scope();
    let visible = match model {
        Model::User => match tx.user(id).await? {
            Some(user) if id == scope => Some(Record::User(user)),
            Some(user) => {
                let shares = !tx.shared_boards(id, scope).await?.is_empty();
                shares.then(|| Record::User(public_profile(user)))
            }
            None => None,
        },
        Model::Board => match tx.board(id).await? {
            Some(board) => in_audience(tx, &board, scope)
                .await?
                .then_some(Record::Board(board)),
            None => None,
        },
        Model::Todo => match tx.todo(id).await? {
            Some(todo) => match tx.board(todo.board_id).await? {
                Some(board) => in_audience(tx, &board, scope)
                    .await?
                    .then_some(Record::Todo(todo)),
                None => None,
            },
            None => None,
        },
    };
    Ok(visible)
}
