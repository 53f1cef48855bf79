//! `/api/auth/*`: sign-up, login, logout, and who am I.

use super::body::{shape, JsonBody};
use crate::auth::extractor::CurrentUser;
use crate::state::AppState;
use crate::Error;
use axum::extract::{ConnectInfo, FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, HeaderName, StatusCode};
use axum::Json;
use std::net::{IpAddr, Ipv6Addr, SocketAddr};
use sync_protocol::auth::Session;
use sync_protocol::User;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");

/// `POST /api/auth/signup {email, password, name}` → 201 with a session.
pub async fn signup(
    State(state): State<AppState>,
    ClientIp(client): ClientIp,
    JsonBody(body): JsonBody,
) -> Result<(StatusCode, Json<Session>), Error> {
    let session = state.accounts.signup(shape(body)?, client).await?;
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

/// The address of the client: the connection's peer, or, when the peer is a trusted
/// proxy, the address that proxy (and any trusted proxy before it) says it served
/// (`X-Forwarded-For`, read from the right, since only its right end was written by
/// proxies we trust and the rest by whoever sent the request).
pub struct ClientIp(pub IpAddr);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Error;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Error> {
        // Served without connection info (a router used in-process), all callers share
        // one throttling bucket, which is the cautious choice.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V6(Ipv6Addr::UNSPECIFIED), |info| info.0.ip());
        Ok(ClientIp(client_address(
            peer,
            &parts.headers,
            &state.trusted_proxies,
        )))
    }
}

/// See [`ClientIp`].
fn client_address(peer: IpAddr, headers: &HeaderMap, trusted: &[IpAddr]) -> IpAddr {
    if !trusted.contains(&peer) {
        return peer;
    }
    let hops = headers
        .get_all(X_FORWARDED_FOR)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect::<Vec<_>>();
    let mut client = peer;
    for hop in hops.into_iter().rev() {
        match hop.parse::<IpAddr>() {
            Ok(address) => {
                client = address;
                if !trusted.contains(&address) {
                    break;
                }
            }
            // Garbage where an address should be: stop at the last proxy we trust.
            Err(_) => break,
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn headers(values: &[&'static str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append(X_FORWARDED_FOR, HeaderValue::from_static(value));
        }
        headers
    }

    #[test]
    fn forwarded_addresses_count_only_from_trusted_proxies() {
        let proxy: IpAddr = "10.0.0.1".parse().unwrap();
        let inner: IpAddr = "10.0.0.2".parse().unwrap();
        let client: IpAddr = "203.0.113.7".parse().unwrap();
        let forged = headers(&["198.51.100.1, 203.0.113.7"]);
        // No trusted proxy: the header is anyone's to write.
        assert_eq!(client_address(client, &forged, &[]), client);
        assert_eq!(client_address(proxy, &forged, &[]), proxy);
        // From a trusted proxy: the right-most address it did not add itself.
        assert_eq!(client_address(proxy, &forged, &[proxy]), client);
        let chained = headers(&["198.51.100.1", "203.0.113.7, 10.0.0.2"]);
        assert_eq!(client_address(proxy, &chained, &[proxy, inner]), client);
        // A client talking to us directly cannot claim another address.
        assert_eq!(client_address(client, &chained, &[proxy, inner]), client);
        assert_eq!(
            client_address(proxy, &headers(&["nonsense"]), &[proxy]),
            proxy
        );
        assert_eq!(client_address(proxy, &HeaderMap::new(), &[proxy]), proxy);
    }
}
