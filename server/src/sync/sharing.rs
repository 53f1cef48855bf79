//! Board sharing: the owner adds members by email, lists them, removes them; a member
//! lists them and leaves. Membership is the server's alone (a prisma-idb client knows
//! only User, Board and Todo), so joining and leaving reach the member's devices as
//! changelog entries of those models, in the member's changelog:
//!
//! - joining: creates for the owner's public profile (unless another board of the owner
//!   is shared with them already), then the board, then each of its todos, in the order
//!   a client checking foreign keys can apply them;
//! - leaving or removal: deletes for each todo, then the board, then the owner's profile
//!   when no other board of the owner is shared with them any more.
//!
//! Each runs in one transaction holding the owner's and the member's scope locks (in the
//! one fixed order), so a push on the board (which holds the owner's) either comes
//! before it, or after it and sees the new membership. The entries carry an outbox
//! event id of the server's making (`share-…`, `unshare-…`), which no client's event id
//! can be mistaken for: clients use UUIDs, and no receipt is kept for these.

use super::SyncService;
use crate::auth::normalise_email;
use crate::auth::throttle::Throttle;
use crate::storage::{OwnedRecord, ScopeTx};
use crate::Error;
use std::time::Duration;
use sync_protocol::sharing::{Member, MemberList};
use sync_protocol::validation::is_plausible_email;
use sync_protocol::{Board, Model, Operation, Record, User};
use uuid::Uuid;

/// Shares with an address that has no account a user may make per hour: enough for
/// typos, too few to sweep a list of addresses (sign-up, which tells the same, is
/// throttled per client address).
const MISSES_PER_HOUR: u32 = 30;

/// The throttle of [`MISSES_PER_HOUR`].
pub(super) fn misses_throttle() -> Throttle {
    Throttle::new(MISSES_PER_HOUR, Duration::from_secs(60 * 60))
}

/// The answer for a board that does not exist or that the caller cannot see: the same,
/// so that no one learns whether a board id they were not given is taken.
const NO_SUCH_BOARD: &str = "No such board";

impl SyncService {
    /// Shares `board` of `owner` with the account registered under `email`: the member
    /// and whether they were added now (false: they were a member already, and nothing
    /// changed).
    pub async fn share(
        &self,
        owner: &User,
        board: Uuid,
        email: &str,
    ) -> Result<(Member, bool), Error> {
        let email = normalise_email(email);
        if !is_plausible_email(&email) {
            return Err(Error::InvalidRequest(format!(
                "`{email}` is not an email address"
            )));
        }
        // The board first: a caller who may not manage it learns nothing else.
        self.managed_board(owner.id, board).await?;
        // Sign-up already tells whether an address is registered (409): this tells no
        // more, and as slowly. A token is taken before the lookup (parallel requests
        // cannot all slip through) and given back when the address has an account.
        let key = owner.id.to_string();
        self.share_misses
            .acquire(&key)
            .map_err(|retry_after| Error::TooManyAttempts { retry_after })?;
        let Some(target) = self.store.credentials(&email).await?.map(|c| c.user) else {
            return Err(Error::Missing(
                "No account is registered with this email address".into(),
            ));
        };
        self.share_misses.refund(&key);
        if target.id == owner.id {
            return Err(Error::InvalidRequest(
                "you cannot share a board with yourself".into(),
            ));
        }
        let member = member(&target);
        let mut tx = self.store.begin_scopes(owner.id, &[target.id]).await?;
        // Again under the owner's lock: the board may have been deleted meanwhile.
        let board = owned_board(tx.as_mut(), owner.id, board).await?;
        if !tx.add_member(board.id, target.id).await? {
            tx.rollback().await?;
            return Ok((member, false));
        }
        let event_id = format!("share-{}", Uuid::new_v4());
        let to = [target.id];
        if tx.shared_boards(owner.id, target.id).await?.len() == 1 {
            tx.append(&to, Model::User, owner.id, Operation::Create, &event_id)
                .await?;
        }
        tx.append(&to, Model::Board, board.id, Operation::Create, &event_id)
            .await?;
        for todo in tx.todo_ids_of_board(board.id).await? {
            tx.append(&to, Model::Todo, todo, Operation::Create, &event_id)
                .await?;
        }
        tx.commit().await?;
        Ok((member, true))
    }

    /// The owner and the members of `board`, for its owner and its members.
    pub async fn members(&self, user: &User, board: Uuid) -> Result<MemberList, Error> {
        let (board, members) = self.visible_board(user.id, board).await?;
        let owner = match self
            .store
            .records(&[(Model::User, board.user_id)])
            .await?
            .pop()
        {
            Some(OwnedRecord {
                record: Record::User(owner),
                ..
            }) => member(&owner),
            _ => {
                return Err(Error::CorruptData(format!(
                    "board {} has no owner",
                    board.id
                )))
            }
        };
        Ok(MemberList {
            owner,
            members: members.iter().map(member).collect(),
        })
    }

    /// Takes `member` off `board`: the owner removes anyone, a member only themselves
    /// (leaving).
    pub async fn remove_member(&self, user: &User, board: Uuid, member: Uuid) -> Result<(), Error> {
        let (board, members) = self.visible_board(user.id, board).await?;
        let owner = board.user_id;
        if owner == user.id && member == user.id {
            return Err(Error::InvalidRequest(
                "the owner cannot leave their own board; delete it instead".into(),
            ));
        }
        if owner != user.id && member != user.id {
            return Err(Error::Forbidden(
                "only the owner of a board can remove its other members".into(),
            ));
        }
        if !members.iter().any(|m| m.id == member) {
            return Err(Error::Missing(
                "This account is not a member of this board".into(),
            ));
        }
        let mut tx = self.store.begin_scopes(user.id, &[owner, member]).await?;
        let board = owned_board(tx.as_mut(), owner, board.id).await?;
        if !tx.remove_member(board.id, member).await? {
            // Removed meanwhile, by another request: that one told the member.
            return Err(Error::Missing(
                "This account is not a member of this board".into(),
            ));
        }
        let event_id = format!("unshare-{}", Uuid::new_v4());
        let to = [member];
        for todo in tx.todo_ids_of_board(board.id).await? {
            tx.append(&to, Model::Todo, todo, Operation::Delete, &event_id)
                .await?;
        }
        tx.append(&to, Model::Board, board.id, Operation::Delete, &event_id)
            .await?;
        if tx.shared_boards(owner, member).await?.is_empty() {
            tx.append(&to, Model::User, owner, Operation::Delete, &event_id)
                .await?;
        }
        tx.commit().await
    }

    /// The board, when `user` owns it (404 when they cannot see it, 403 for a member).
    async fn managed_board(&self, user: Uuid, board: Uuid) -> Result<Board, Error> {
        let (board, _) = self.visible_board(user, board).await?;
        if board.user_id != user {
            return Err(Error::Forbidden(
                "only the owner of a board can share it".into(),
            ));
        }
        Ok(board)
    }

    /// The board and its members, when `user` is its owner or a member (404 otherwise),
    /// as committed: the writes that follow check again under the locks.
    async fn visible_board(&self, user: Uuid, board: Uuid) -> Result<(Board, Vec<User>), Error> {
        let not_found = || Error::Missing(NO_SUCH_BOARD.into());
        let board = match self.store.records(&[(Model::Board, board)]).await?.pop() {
            Some(OwnedRecord {
                record: Record::Board(board),
                ..
            }) => board,
            _ => return Err(not_found()),
        };
        let members = self.store.board_members(board.id).await?;
        if board.user_id != user && !members.iter().any(|member| member.id == user) {
            return Err(not_found());
        }
        Ok((board, members))
    }
}

/// `board`, read under its owner's lock, when `owner` still owns it.
async fn owned_board(tx: &mut dyn ScopeTx, owner: Uuid, board: Uuid) -> Result<Board, Error> {
    match tx.board(board).await? {
        Some(board) if board.user_id == owner => Ok(board),
        _ => Err(Error::Missing(NO_SUCH_BOARD.into())),
    }
}

/// An account as the people sharing a board see it.
fn member(user: &User) -> Member {
    Member {
        user_id: user.id,
        email: user.email.clone(),
        name: user.name.clone(),
    }
}
