//! Accounts: sign-up, login, logout, and turning a bearer token into a user.
//!
//! Sessions are bearer tokens rather than cookies: they work from a Web Worker and from
//! an app hosted on another origin, and they make CSRF moot. An unknown email and a
//! wrong password get the same answer after the same work (a dummy hash is verified),
//! and repeated failures are refused for a while ([`throttle`]).

pub mod extractor;
pub mod password;
pub mod session;
pub mod throttle;

use crate::storage::{NewAccount, Storage};
use crate::{Config, Error};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;
use sync_protocol::auth::{LoginRequest, Session, SignupRequest, MIN_PASSWORD_LEN};
use sync_protocol::validation::{check_text, is_plausible_email, is_storable_text, MAX_USER_NAME};
use sync_protocol::{Timestamp, User};
use throttle::Throttle;
use uuid::Uuid;

/// The longest password accepted: hashing cost grows with length, and no one types more.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The account service.
pub struct Accounts {
    store: Arc<dyn Storage>,
    throttle: Throttle,
    /// Verified when the email is unknown, so that answer takes as long as a wrong
    /// password does.
    dummy_hash: String,
    session_ttl: chrono::Duration,
}

impl Accounts {
    /// Builds the service (hashing the dummy password once, on the blocking pool).
    pub async fn new(store: Arc<dyn Storage>, config: &Config) -> Result<Accounts, Error> {
        let dummy_hash = blocking(|| password::hash("not anyone's password")).await??;
        Ok(Accounts {
            store,
            throttle: Throttle::new(
                config.login_max_failures,
                Duration::from_secs(config.login_window_secs),
            ),
            dummy_hash,
            session_ttl: chrono::Duration::days(i64::from(config.session_days.max(1))),
        })
    }

    /// Creates an account (and its first session).
    pub async fn signup(&self, request: SignupRequest) -> Result<Session, Error> {
        let email = normalise_email(&request.email);
        if !is_plausible_email(&email) {
            return Err(Error::InvalidRequest(format!(
                "`{}` is not an email address",
                request.email.trim()
            )));
        }
        let name = request.name.trim().to_string();
        check_text("name", &name, MAX_USER_NAME).map_err(Error::InvalidRequest)?;
        let password_chars = request.password.chars().count();
        if password_chars < MIN_PASSWORD_LEN || request.password.len() > MAX_PASSWORD_BYTES {
            return Err(Error::InvalidRequest(format!(
                "the password must have {MIN_PASSWORD_LEN} to {MAX_PASSWORD_BYTES} characters"
            )));
        }
        let password = request.password;
        let password_hash = blocking(move || password::hash(&password)).await??;
        let now = now();
        let user = User {
            id: Uuid::new_v4(),
            name,
            email,
            email_verified: false,
            image: None,
            created_at: now,
            updated_at: now,
            is_anonymous: false,
        };
        self.store
            .create_account(NewAccount {
                user: &user,
                password_hash: &password_hash,
                outbox_event_id: &format!("signup-{}", user.id),
            })
            .await?;
        self.open_session(user).await
    }

    /// Logs in; `client` is the caller's address, for throttling.
    pub async fn login(&self, request: LoginRequest, client: IpAddr) -> Result<Session, Error> {
        let email = normalise_email(&request.email);
        let email_key = format!("email:{email}");
        let keys = [email_key.as_str(), &format!("ip:{client}")];
        if let Some(retry_after) = self.throttle.blocked_for(&keys) {
            return Err(Error::TooManyAttempts { retry_after });
        }
        // No account has an email a database cannot store (PostgreSQL refuses NUL), so
        // such an email is answered like any unknown one, without asking the database.
        let credentials = if is_storable_text(&email) {
            self.store.credentials(&email).await?
        } else {
            None
        };
        let stored = credentials
            .as_ref()
            .map_or(self.dummy_hash.clone(), |c| c.password_hash.clone());
        let password = request.password;
        let matches = password.len() <= MAX_PASSWORD_BYTES
            && blocking(move || password::verify(&password, &stored)).await?;
        match credentials {
            Some(credentials) if matches => {
                self.throttle.clear(&email_key);
                self.open_session(credentials.user).await
            }
            _ => {
                self.throttle.fail(&keys);
                Err(Error::InvalidCredentials)
            }
        }
    }

    /// Ends the session of `token`.
    pub async fn logout(&self, token: &str) -> Result<(), Error> {
        let hash = session::token_hash(token).ok_or(Error::Unauthorized)?;
        if self.store.delete_session(&hash).await? {
            Ok(())
        } else {
            Err(Error::Unauthorized)
        }
    }

    /// The user of a live session, or [`Error::Unauthorized`].
    pub async fn authenticate(&self, token: &str) -> Result<User, Error> {
        let hash = session::token_hash(token).ok_or(Error::Unauthorized)?;
        self.store
            .session_user(&hash, now())
            .await?
            .ok_or(Error::Unauthorized)
    }

    async fn open_session(&self, user: User) -> Result<Session, Error> {
        let token = session::new_token();
        let hash = session::token_hash(&token)
            .ok_or_else(|| Error::Internal("a new token has no hash".into()))?;
        let now = now();
        let expires_at = Timestamp::from_datetime(now.to_datetime() + self.session_ttl);
        self.store
            .create_session(&hash, user.id, now, expires_at)
            .await?;
        Ok(Session { token, user })
    }
}

/// Emails compare trimmed and in lower case: `Ada@Example.com ` is `ada@example.com`.
pub fn normalise_email(email: &str) -> String {
    email.trim().to_lowercase()
}

fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

/// Runs CPU-heavy work (argon2) off the async workers.
async fn blocking<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, Error> {
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| Error::Internal(format!("blocking task failed: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emails_are_trimmed_and_lower_cased() {
        assert_eq!(normalise_email("  Ada@Example.COM "), "ada@example.com");
    }
}
