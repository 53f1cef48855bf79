//! `/api/sync/*`: push, pull, and the realtime event stream.

use super::body::{shape, JsonBody};
use crate::auth::extractor::{bearer_token, CurrentUser};
use crate::auth::STREAM_TICKET_TTL;
use crate::realtime;
use crate::state::AppState;
use crate::Error;
use axum::extract::rejection::QueryRejection;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::Json;
use serde::Deserialize;
use serde_json::{json, Value};
use sync_protocol::{OutboxEvent, PullResponse, PushResult, MAX_PUSH_BATCH};

/// The longest outbox event id accepted (clients use UUIDs).
const MAX_EVENT_ID_LEN: usize = 128;

/// `POST /api/sync/push {"events": [OutboxEvent]}` → `[PushResult]`, one per event.
pub async fn push(
    State(state): State<AppState>,
    current: CurrentUser,
    JsonBody(body): JsonBody,
) -> Result<Json<Vec<PushResult>>, Error> {
    let events = push_events(body)?;
    Ok(Json(state.sync.push(&current.user, &events).await))
}

/// `POST /api/sync/pull {"lastChangelogId"?, "limit"?}` → a page of the changelog.
pub async fn pull(
    State(state): State<AppState>,
    current: CurrentUser,
    JsonBody(body): JsonBody,
) -> Result<Json<PullResponse>, Error> {
    if !body.is_object() {
        return Err(Error::InvalidRequest(
            "expected an object {\"lastChangelogId\"?: string, \"limit\"?: number}".into(),
        ));
    }
    Ok(Json(state.sync.pull(&current.user, shape(body)?).await?))
}

/// `POST /api/sync/events/ticket` → `{"ticket", "expiresInSecs"}`: a single-use ticket
/// that opens one event stream of this session (`EventSource` cannot send headers, and a
/// session token in a URL ends up in logs and browser history).
pub async fn events_ticket(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<Json<Value>, Error> {
    let ticket = state.accounts.issue_stream_ticket(&current.token).await?;
    Ok(Json(json!({
        "ticket": ticket,
        "expiresInSecs": STREAM_TICKET_TTL.as_secs(),
    })))
}

#[derive(Deserialize)]
pub struct EventsQuery {
    ticket: Option<String>,
}

/// `GET /api/sync/events`: server-sent events, a `poke` whenever the user's changelog
/// grows. Authorised by `Authorization: Bearer` or by `?ticket=` from
/// [`events_ticket`]; the stream ends within seconds of its session ending.
pub async fn events(
    State(state): State<AppState>,
    headers: HeaderMap,
    query: Result<Query<EventsQuery>, QueryRejection>,
) -> Result<impl IntoResponse, Error> {
    let (user, session_hash) = match bearer_token(&headers) {
        Some(token) => state.accounts.authenticate_session(&token).await?,
        None => {
            let ticket = query
                .ok()
                .and_then(|Query(query)| query.ticket)
                .ok_or(Error::Unauthorized)?;
            state.accounts.redeem_stream_ticket(&ticket).await?
        }
    };
    let subscription = state.hub.subscribe(user.id);
    let accounts = state.accounts.clone();
    let alive: realtime::SessionCheck = Box::new(move || {
        let accounts = accounts.clone();
        let session_hash = session_hash.clone();
        Box::pin(async move {
            match accounts.session_alive(&session_hash).await {
                Ok(alive) => alive,
                // A database hiccup is no reason to cut every stream; the next check
                // decides.
                Err(error) => {
                    tracing::warn!("cannot check a stream's session: {error}");
                    true
                }
            }
        })
    });
    Ok(realtime::event_stream(
        subscription,
        state.limits.heartbeat,
        state.limits.stream_session_check,
        alive,
    ))
}

/// The events of a push body, checked for shape: 400 for anything but
/// `{"events": [outbox events]}`, 413 above the batch limit.
fn push_events(body: Value) -> Result<Vec<OutboxEvent>, Error> {
    let Value::Object(mut body) = body else {
        return Err(Error::InvalidRequest(
            "expected an object {\"events\": [...]}".into(),
        ));
    };
    let Some(Value::Array(events)) = body.remove("events") else {
        return Err(Error::InvalidRequest(
            "`events` must be an array of outbox events".into(),
        ));
    };
    if events.len() > MAX_PUSH_BATCH {
        return Err(Error::PayloadTooLarge(format!(
            "Batch size {} exceeds maximum allowed {MAX_PUSH_BATCH}",
            events.len()
        )));
    }
    events
        .into_iter()
        .enumerate()
        .map(|(i, event)| {
            let event: OutboxEvent = serde_json::from_value(event)
                .map_err(|e| Error::InvalidRequest(format!("events[{i}]: {e}")))?;
            if event.id.is_empty() || event.id.len() > MAX_EVENT_ID_LEN {
                return Err(Error::InvalidRequest(format!(
                    "events[{i}].id must have 1 to {MAX_EVENT_ID_LEN} characters"
                )));
            }
            // Both databases must be able to store it (PostgreSQL refuses NUL); control
            // characters are refused with it, as no client makes ids of them.
            if event.id.chars().any(char::is_control) {
                return Err(Error::InvalidRequest(format!(
                    "events[{i}].id must not contain control characters"
                )));
            }
            Ok(event)
        })
        .collect()
}
