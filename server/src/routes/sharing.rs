//! `/api/boards/{boardId}/members`: sharing a board (see `sync_protocol::sharing`).

use super::body::{shape, JsonBody};
use crate::auth::extractor::CurrentUser;
use crate::state::AppState;
use crate::Error;
use axum::extract::rejection::PathRejection;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::Json;
use sync_protocol::sharing::{Member, MemberList, ShareRequest};
use uuid::Uuid;

/// `POST /api/boards/{boardId}/members {"email"}` → 201 with the new member, 200 when
/// they were a member already.
pub async fn share(
    State(state): State<AppState>,
    current: CurrentUser,
    board: Result<Path<String>, PathRejection>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Member>), Error> {
    let board = board_id(board)?;
    if !body.is_object() {
        return Err(Error::InvalidRequest(
            "expected an object {\"email\": string}".into(),
        ));
    }
    let request: ShareRequest = shape(body)?;
    let (member, added) = state
        .sync
        .share(&current.user, board, &request.email)
        .await?;
    let status = if added {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, Json(member)))
}

/// `GET /api/boards/{boardId}/members` → the owner and the members.
pub async fn members(
    State(state): State<AppState>,
    current: CurrentUser,
    board: Result<Path<String>, PathRejection>,
) -> Result<Json<MemberList>, Error> {
    let board = board_id(board)?;
    Ok(Json(state.sync.members(&current.user, board).await?))
}

/// `DELETE /api/boards/{boardId}/members/{userId}` → 204: the owner removes a member,
/// or a member leaves.
pub async fn remove_member(
    State(state): State<AppState>,
    current: CurrentUser,
    path: Result<Path<(String, String)>, PathRejection>,
) -> Result<StatusCode, Error> {
    // A path axum cannot read (not UTF-8) names no board either.
    let (board, member) = path
        .map(|Path(ids)| ids)
        .unwrap_or_else(|_| (String::new(), String::new()));
    let board = board_id(Ok(Path(board)))?;
    let member = Uuid::parse_str(&member)
        .map_err(|_| Error::Missing("This account is not a member of this board".into()))?;
    state
        .sync
        .remove_member(&current.user, board, member)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// A board id from the path: no board has an id that is not a UUID (or a path axum
/// cannot read, one that is not UTF-8).
fn board_id(path: Result<Path<String>, PathRejection>) -> Result<Uuid, Error> {
    path.ok()
        .and_then(|Path(text)| Uuid::parse_str(&text).ok())
        .ok_or_else(|| Error::Missing("No such board".into()))
}
