//! Board sharing (`/api/boards/{boardId}/members`): the owner of a board adds other
//! accounts by email; members see and edit the board's todos like their own. Membership
//! lives on the server; the records themselves still travel through push and pull.
//!
//! - `POST /api/boards/{boardId}/members` with [`ShareRequest`]: the owner adds an
//!   account; answers the new [`Member`] (201, or 200 when it was a member already).
//! - `GET /api/boards/{boardId}/members`: the owner and the members of the board
//!   ([`MemberList`]), for the owner and for every member.
//! - `DELETE /api/boards/{boardId}/members/{userId}`: the owner removes a member, or a
//!   member leaves (their own id); 204.
//!
//! Every non-2xx answer carries an [`crate::auth::ErrorBody`] whose text a person can read.

use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// The path of a board's member list.
pub fn members_path(board: Uuid) -> String {
    format!("/api/boards/{board}/members")
}

/// The path of one member of a board.
pub fn member_path(board: Uuid, user: Uuid) -> String {
    format!("/api/boards/{board}/members/{user}")
}

/// Share a board with the account registered under `email`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ShareRequest {
    pub email: String,
}

/// An account as the people sharing a board see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Member {
    pub user_id: Uuid,
    pub email: String,
    pub name: String,
}

/// Who shares a board: its owner and its members, in the order they joined.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberList {
    pub owner: Member,
    pub members: Vec<Member>,
}
