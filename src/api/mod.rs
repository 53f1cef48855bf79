//! The server's endpoints that the page calls itself (sync itself runs in the worker):
//! the account's here, a board's members in [`sharing`]. Each answers a message a person
//! can read when it fails.

pub mod sharing;

use crate::config::AppConfig;
use sync_protocol::auth::{LoginRequest, Session, SignupRequest};
use sync_worker::engine::TransportError;
use sync_worker::host::post_json;

/// Signs up and returns the new session.
pub async fn signup(config: &AppConfig, request: &SignupRequest) -> Result<Session, String> {
    post_json(&config.api("/api/auth/signup"), request, None)
        .await
        .map_err(|error| explain(error, "sign up"))
}

/// Signs in and returns the session.
pub async fn login(config: &AppConfig, request: &LoginRequest) -> Result<Session, String> {
    post_json(&config.api("/api/auth/login"), request, None)
        .await
        .map_err(|error| explain(error, "sign in"))
}

/// Ends the session on the server; failing to reach it changes nothing locally.
pub async fn logout(config: &AppConfig, token: &str) {
    let _: Result<serde_json::Value, _> = post_json(
        &config.api("/api/auth/logout"),
        &serde_json::json!({}),
        Some(token),
    )
    .await;
}

/// A message for a person, from a failed account request.
fn explain(error: TransportError, action: &str) -> String {
    match error {
        TransportError::Unauthorized => "Wrong email or password.".into(),
        TransportError::Http { status: 409, .. } => {
            "An account with this email already exists. Sign in instead.".into()
        }
        TransportError::Http { status: 429, .. } => {
            "Too many attempts. Wait a minute, then try again.".into()
        }
        other => explain_failure(other, action),
    }
}

/// A message for a person, from a failed request to do `action` ("share a board"):
/// the server's own words when it gave some.
fn explain_failure(error: TransportError, action: &str) -> String {
    match error {
        TransportError::Unauthorized => {
            format!("Your session has expired: sign in again to {action}.")
        }
        TransportError::Offline(_) => {
            format!("You are offline: to {action}, connect to the internet.")
        }
        TransportError::Http { message, .. } if !message.trim().is_empty() => message,
        TransportError::Http { status, .. } => {
            format!("Could not {action}: the server answered {status}.")
        }
        TransportError::Invalid(_) => {
            format!("Could not {action}: the server's answer was unreadable.")
        }
    }
}
