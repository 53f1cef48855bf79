//! The crate's one error type, and the one place where errors become HTTP answers.
//!
//! Client mistakes (4xx) carry a message the client may read; server faults (5xx) are
//! logged here and answered with a fixed text, so internals never reach a client.

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use std::time::Duration;
use sync_protocol::auth::ErrorBody;

#[derive(Debug, thiserror::Error)]
pub enum Error {
    // Start-up.
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: std::net::SocketAddr,
        source: std::io::Error,
    },
    #[error("invalid configuration: {0}")]
    Config(String),
    #[error("database migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),

    // Requests.
    #[error("not found")]
    NotFound,
    /// Something the request names does not exist (or is not the caller's to see); the
    /// text says what.
    #[error("{0}")]
    Missing(String),
    /// The caller may see what the request names but not do this to it; the text says
    /// why.
    #[error("{0}")]
    Forbidden(String),
    #[error("Method not allowed")]
    MethodNotAllowed,
    /// The body is not JSON at all.
    #[error("Malformed JSON")]
    MalformedJson,
    /// The body is JSON but not the shape the endpoint takes; the text says what is wrong.
    #[error("Invalid request: {0}")]
    InvalidRequest(String),
    /// No valid session.
    #[error("Unauthorized")]
    Unauthorized,
    /// Login failed; the same answer whether the email is unknown or the password wrong.
    #[error("Invalid email or password")]
    InvalidCredentials,
    #[error("An account with this email already exists")]
    EmailTaken,
    /// Too many failed logins from this address or for this account.
    #[error("Too many failed attempts; try again later")]
    TooManyAttempts { retry_after: Duration },
    /// The body did not arrive in time.
    #[error("Request body not received in time")]
    RequestTimeout,
    /// Too many sign-ups from this address.
    #[error("Too many sign-ups from this address; try again later")]
    TooManySignups { retry_after: Duration },
    /// Every password-hashing slot stayed busy while the request waited.
    #[error("Server busy; try again shortly")]
    Busy { retry_after: Duration },
    /// A body over the size limit, or a push over the batch limit; the text says which.
    #[error("{0}")]
    PayloadTooLarge(String),

    // Faults.
    #[error("database: {0}")]
    Database(#[from] sqlx::Error),
    /// A concurrent transaction of another scope wrote a record this write was about
    /// to create (see [`Error::is_write_conflict`]).
    #[error("write conflict: {0}")]
    WriteConflict(String),
    /// The database answered with data this server did not write (a bad id, an unknown
    /// model name): a bug or a hand edit, never a client's fault.
    #[error("corrupt data: {0}")]
    CorruptData(String),
    /// The database cannot be reached (health check).
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("internal: {0}")]
    Internal(String),
    #[error("io: {0}")]
    Io(#[from] std::io::Error),
}

impl Error {
    fn status(&self) -> StatusCode {
        match self {
            Error::NotFound | Error::Missing(_) => StatusCode::NOT_FOUND,
            Error::Forbidden(_) => StatusCode::FORBIDDEN,
            Error::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Error::MalformedJson | Error::InvalidRequest(_) => StatusCode::BAD_REQUEST,
            Error::Unauthorized | Error::InvalidCredentials => StatusCode::UNAUTHORIZED,
            Error::EmailTaken => StatusCode::CONFLICT,
            Error::TooManyAttempts { .. } | Error::TooManySignups { .. } => {
                StatusCode::TOO_MANY_REQUESTS
            }
            Error::Busy { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Error::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Error::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Error::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Error::Bind { .. }
            | Error::Config(_)
            | Error::Migrate(_)
            | Error::Database(_)
            | Error::WriteConflict(_)
            | Error::CorruptData(_)
            | Error::Internal(_)
            | Error::Io(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// Whether the database refused a write because a unique key is taken.
    pub fn is_unique_violation(&self) -> bool {
        matches!(self, Error::Database(sqlx::Error::Database(db)) if db.is_unique_violation())
    }

    /// Whether a write lost a race with another scope's transaction for the same new id
    /// (or event id): trying again sees the winner's committed row and answers as if the
    /// two requests had come one after the other.
    pub fn is_write_conflict(&self) -> bool {
        self.is_unique_violation() || matches!(self, Error::WriteConflict(_))
    }
}

impl IntoResponse for Error {
    fn into_response(self) -> Response {
        let status = self.status();
        let body = match &self {
            // Not a fault: the client is told plainly to come back shortly.
            Error::Busy { .. } => ErrorBody {
                error: self.to_string(),
                details: None,
            },
            _ if status.is_server_error() => {
                // Internals stay in the log; the client learns only that it may retry.
                tracing::error!("request failed: {self}");
                let error = if status == StatusCode::SERVICE_UNAVAILABLE {
                    "Service unavailable"
                } else {
                    "Internal server error"
                };
                ErrorBody {
                    error: error.to_string(),
                    details: None,
                }
            }
            Error::NotFound => ErrorBody {
                error: "Not found".to_string(),
                details: None,
            },
            // prisma-idb's exact shape: a fixed `error`, the reason in `details`.
            Error::InvalidRequest(details) => ErrorBody {
                error: "Invalid request".to_string(),
                details: Some(details.clone()),
            },
            other => ErrorBody {
                error: other.to_string(),
                details: None,
            },
        };
        let mut response = (status, Json(body)).into_response();
        if let Error::TooManyAttempts { retry_after }
        | Error::TooManySignups { retry_after }
        | Error::Busy { retry_after } = self
        {
            // Whole seconds, rounded up so a client that waits that long is let in.
            let seconds = retry_after.as_secs() + u64::from(retry_after.subsec_nanos() > 0);
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(seconds.max(1)));
        }
        response
    }
}
