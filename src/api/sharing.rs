//! A board's members (`/api/boards/{boardId}/members`, see `sync_protocol::sharing`):
//! share a board by email, list who shares it, remove a member or leave. Membership
//! lives on the server, so these need the network; the boards and todos themselves
//! still arrive through sync.

use super::explain_failure;
use crate::config::AppConfig;
use sync_protocol::sharing::{member_path, members_path, Member, MemberList, ShareRequest};
use sync_worker::engine::TransportError;
use sync_worker::host::{delete, get_json, post_json};
use uuid::Uuid;

/// Shares `board` with the account registered under `email`; answers the new member.
pub async fn share(
    config: &AppConfig,
    token: &str,
    board: Uuid,
    email: &str,
) -> Result<Member, String> {
    let request = ShareRequest {
        email: email.to_string(),
    };
    post_json(&config.api(&members_path(board)), &request, Some(token))
        .await
        .map_err(|error| explain_failure(error, "share a board"))
}

/// The owner and the members of `board`; None while the server does not know the board
/// (a new board whose create still waits in the outbox: it answers 404 until the push).
pub async fn members(
    config: &AppConfig,
    token: &str,
    board: Uuid,
) -> Result<Option<MemberList>, String> {
    match get_json(&config.api(&members_path(board)), Some(token)).await {
        Ok(list) => Ok(Some(list)),
        Err(TransportError::Http { status: 404, .. }) => Ok(None),
        Err(error) => Err(explain_failure(error, "see who shares a board")),
    }
}

/// Removes `user` from `board`: the owner removing a member, or a member leaving (their
/// own id). `action` says which, for the message when it fails.
pub async fn remove(
    config: &AppConfig,
    token: &str,
    board: Uuid,
    user: Uuid,
    action: &str,
) -> Result<(), String> {
    delete(&config.api(&member_path(board, user)), Some(token))
        .await
        .map_err(|error| explain_failure(error, action))
}
