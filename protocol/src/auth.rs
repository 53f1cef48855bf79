//! Account requests and answers (`/api/auth/*`), and the error body every endpoint uses.

use crate::records::User;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignupRequest {
    pub email: String,
    pub password: String,
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginRequest {
    pub email: String,
    pub password: String,
}

/// The answer to a sign-up or sign-in: a bearer token and the account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Session {
    pub token: String,
    pub user: User,
}

/// `{"error": "..."}`, the body of every non-2xx answer (prisma-idb's shape), with
/// optional details for a person reading it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    pub error: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
}

/// The smallest password sign-up accepts.
pub const MIN_PASSWORD_LEN: usize = 8;
