//! `/api/auth/*`: sign-up, login, logout, and who am I.

use super::body::{shape, JsonBody};
use crate::auth::extractor::CurrentUser;
use crate::state::AppState;
use crate::Error;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::StatusCode;
use axum::Json;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use sync_protocol::auth::Session;
use sync_protocol::User;

/// `POST /api/auth/signup {email, password, name}` → 201 with a session.
pub async fn signup(
    State(state): State<AppState>,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Session>), Error> {
    let session = state.accounts.signup(shape(body)?).await?;
    Ok((StatusCode::CREATED, Json(session)))
}

/// `POST /api/auth/login {email, password}` → a session.
pub async fn login(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody,
) -> Result<Json<Session>, Error> {
    Ok(Json(state.accounts.login(shape(body)?, client).await?))
}

/// `POST /api/auth/logout` → 204; the token no longer works.
pub async fn logout(
    State(state): State<AppState>,
    current: CurrentUser,
) -> Result<StatusCode, Error> {
    state.accounts.logout(&current.token).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// `GET /api/auth/me` → the session's user record.
pub async fn me(current: CurrentUser) -> Json<User> {
    Json(current.user)
}

/// The address of the connected client (the peer, not a forwarded-for header, which
/// anyone can write).
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Error> {
        // Served without connection info (a router used in-process), all callers share
        // one throttling bucket, which is the cautious choice.
        let ip = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(ClientIp(ip))
    }
}
