//! JSON request bodies, read with our own limit and errors: axum's `Json` extractor
//! answers in plain text with its own wording, and the protocol fixes ours
//! (`{"error":"Malformed JSON"}`, `{"error":"Invalid request","details":…}`, 413).

use crate::state::AppState;
use crate::Error;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_LENGTH;
use futures_util::StreamExt;
use serde::de::DeserializeOwned;

/// A request body that is JSON, not yet checked for shape.
pub struct JsonBody(pub serde_json::Value);

impl FromRequest<AppState> for JsonBody {
    type Rejection = Error;

    async fn from_request(request: Request, state: &AppState) -> Result<Self, Error> {
        let limit = state.limits.max_body_bytes;
        let too_large = || Error::PayloadTooLarge(format!("Request body exceeds {limit} bytes"));
        // Refuse a declared oversize body before reading any of it.
        let declared = request
            .headers()
            .get(CONTENT_LENGTH)
            .and_then(|value| value.to_str().ok()?.parse::<u64>().ok());
        if declared.is_some_and(|length| length > limit as u64) {
            return Err(too_large());
        }
        // Count as we read: a chunked body declares nothing. The whole body has a
        // deadline, so a client trickling bytes cannot hold the connection for long.
        let read = async {
            let mut chunks = request.into_body().into_data_stream();
            let mut bytes = Vec::new();
            while let Some(chunk) = chunks.next().await {
                let chunk = chunk.map_err(|_| {
                    Error::InvalidRequest("the request body could not be read".into())
                })?;
                if bytes.len() + chunk.len() > limit {
                    return Err(too_large());
                }
                bytes.extend_from_slice(&chunk);
            }
            Ok(bytes)
        };
        let bytes = tokio::time::timeout(state.limits.body_timeout, read)
            .await
            .map_err(|_| Error::RequestTimeout)??;
        serde_json::from_slice(&bytes)
            .map(JsonBody)
            .map_err(|_| Error::MalformedJson)
    }
}

/// Reads `value` as a `T`, or answers 400 saying what does not fit.
pub fn shape<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, Error> {
    serde_json::from_value(value).map_err(|e| Error::InvalidRequest(e.to_string()))
}
