//! `GET /api/health`: whether the server is up and its database answers (503 if not).

use crate::state::AppState;
use crate::Error;
use axum::extract::State;
use axum::Json;
use serde_json::{json, Value};
use std::time::Duration;

/// A health check must answer while the database hangs, not wait for its pool.
const PING_TIMEOUT: Duration = Duration::from_secs(3);

/// `{"status":"ok","database":"sqlite"|"postgres"}` after a round trip to the database.
pub async fn health(State(state): State<AppState>) -> Result<Json<Value>, Error> {
    tokio::time::timeout(PING_TIMEOUT, state.store.ping())
        .await
        .map_err(|_| Error::Unavailable(format!("no answer within {PING_TIMEOUT:?}")))??;
    Ok(Json(
        json!({ "status": "ok", "database": state.store.backend().name() }),
    ))
}
