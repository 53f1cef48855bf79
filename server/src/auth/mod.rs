//! Accounts: sign-up, login, logout, and turning a bearer token into a user.
//!
//! Sessions are bearer tokens rather than cookies: they work from a Web Worker and from
//! an app hosted on another origin, and they make CSRF moot. An unknown email and a
//! wrong password get the same answer after the same work (a dummy hash is verified),
//! and repeated attempts are refused for a while ([`throttle`]).
//!
//! Hashing is slow and takes 19 MiB on purpose, so it runs on a fixed number of slots
//! (one per CPU unless configured): excess requests wait briefly, then get 503 with
//! Retry-After, instead of piling up gigabytes and starving every other request.

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
use tokio::sync::Semaphore;
use uuid::Uuid;

/// How long a stream ticket may wait to be used: the client asks for one right before
/// it opens the stream.
pub const STREAM_TICKET_TTL: Duration = Duration::from_secs(30);

/// The longest password accepted: hashing cost grows with length, and no one types more.
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// The account service.
pub struct Accounts {
    store: Arc<dyn Storage>,
    /// Login attempts per (email, client address).
    login_pairs: Throttle,
    /// Login attempts per email, from every address.
    login_emails: Throttle,
    /// Sign-ups per client address.
    signups: Throttle,
    hashing: Arc<Semaphore>,
    hash_wait: Duration,
    /// Verified when the email is unknown, so that answer takes as long as a wrong
    /// password does.
    dummy_hash: String,
    session_ttl: chrono::Duration,
}

impl Accounts {
    /// Builds the service (hashing the dummy password once, on the blocking pool).
    pub async fn new(store: Arc<dyn Storage>, config: &Config) -> Result<Accounts, Error> {
        let dummy_hash = blocking(|| password::hash("not anyone's password")).await??;
        let window = Duration::from_secs(config.login_window_secs);
        let slots = match config.hash_concurrency {
            0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
            n => n,
        };
        Ok(Accounts {
            store,
            login_pairs: Throttle::new(config.login_max_failures, window),
            login_emails: Throttle::new(config.login_email_max_failures, window),
            signups: Throttle::new(
                config.signup_max_per_window,
                Duration::from_secs(config.signup_window_secs),
            ),
            hashing: Arc::new(Semaphore::new(slots)),
            hash_wait: Duration::from_millis(config.hash_wait_ms),
            dummy_hash,
            session_ttl: chrono::Duration::days(i64::from(config.session_days.max(1))),
        })
    }

    /// Creates an account (and its first session); `client` is the caller's address,
    /// for throttling.
    pub async fn signup(&self, request: SignupRequest, client: IpAddr) -> Result<Session, Error> {
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
        // Counted before the hash, so parallel requests cannot all slip through.
        let address = client.to_string();
        self.signups
            .acquire(&address)
            .map_err(|retry_after| Error::TooManySignups { retry_after })?;
        let password = request.password;
        let password_hash = match self.hash(move || password::hash(&password)).await {
            Ok(hash) => hash?,
            Err(error) => {
                // Turned away before any work: no sign-up happened.
                self.signups.refund(&address);
                return Err(error);
            }
        };
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
    ///
    /// The attempt takes a token of its (email, address) bucket and of its email's
    /// bucket before the password is checked. A successful login refills the first and
    /// gives the second its token back, so the owner of an account is never locked out
    /// by their own successes, and another address's failures cost them little.
    pub async fn login(&self, request: LoginRequest, client: IpAddr) -> Result<Session, Error> {
        let email = normalise_email(&request.email);
        let pair_key = format!("{email}|{client}");
        self.login_pairs
            .acquire(&pair_key)
            .map_err(|retry_after| Error::TooManyAttempts { retry_after })?;
        if let Err(retry_after) = self.login_emails.acquire(&email) {
            // Not an attempt at this password: it costs this address nothing.
            self.login_pairs.refund(&pair_key);
            return Err(Error::TooManyAttempts { retry_after });
        }
        let outcome = self.check_password(&email, request.password).await;
        match outcome {
            Ok(Some(user)) => {
                self.login_pairs.clear(&pair_key);
                self.login_emails.refund(&email);
                self.open_session(user).await
            }
            Ok(None) => Err(Error::InvalidCredentials),
            Err(error) => {
                // Busy or a fault: the password was not judged, so it was no attempt.
                self.login_pairs.refund(&pair_key);
                self.login_emails.refund(&email);
                Err(error)
            }
        }
    }

    /// The user whose password this is; None for a wrong password or an unknown email
    /// (which costs the same hash check).
    async fn check_password(&self, email: &str, password: String) -> Result<Option<User>, Error> {
        // No account has an email a database cannot store (PostgreSQL refuses NUL), so
        // such an email is answered like any unknown one, without asking the database.
        let credentials = if is_storable_text(email) {
            self.store.credentials(email).await?
        } else {
            None
        };
        if password.len() > MAX_PASSWORD_BYTES {
            return Ok(None);
        }
        let stored = credentials
            .as_ref()
            .map_or(self.dummy_hash.clone(), |c| c.password_hash.clone());
        let matches = self
            .hash(move || password::verify(&password, &stored))
            .await?;
        Ok(credentials.filter(|_| matches).map(|c| c.user))
    }

    /// Runs password hashing on a free slot of the blocking pool; [`Error::Busy`] when
    /// no slot frees up in time.
    async fn hash<T: Send + 'static>(
        &self,
        work: impl FnOnce() -> T + Send + 'static,
    ) -> Result<T, Error> {
        let busy = || Error::Busy {
            retry_after: Duration::from_secs(1),
        };
        let permit = tokio::time::timeout(self.hash_wait, self.hashing.clone().acquire_owned())
            .await
            .map_err(|_| busy())?
            // The semaphore is never closed; treat it as busy if it were.
            .map_err(|_| busy())?;
        blocking(move || {
            let result = work();
            drop(permit);
            result
        })
        .await
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

    /// The user of a live session and the session's hash (which a stream keeps, to see
    /// later whether the session still lives).
    pub async fn authenticate_session(&self, token: &str) -> Result<(User, String), Error> {
        let hash = session::token_hash(token).ok_or(Error::Unauthorized)?;
        let user = self
            .store
            .session_user(&hash, now())
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok((user, hash))
    }

    /// A single-use ticket, valid for [`STREAM_TICKET_TTL`], that opens one event stream
    /// of the session of `token`.
    pub async fn issue_stream_ticket(&self, token: &str) -> Result<String, Error> {
        let session_hash = session::token_hash(token).ok_or(Error::Unauthorized)?;
        let ticket = session::new_token();
        let ticket_hash = session::token_hash(&ticket)
            .ok_or_else(|| Error::Internal("a new ticket has no hash".into()))?;
        let now = now();
        let ttl = chrono::Duration::from_std(STREAM_TICKET_TTL)
            .map_err(|e| Error::Internal(format!("ticket lifetime: {e}")))?;
        let expires_at = Timestamp::from_datetime(now.to_datetime() + ttl);
        self.store
            .create_stream_ticket(&ticket_hash, &session_hash, now, expires_at)
            .await?;
        Ok(ticket)
    }

    /// Uses up a stream ticket: its session's user and the session's hash;
    /// [`Error::Unauthorized`] for a ticket unknown, used, expired, or whose session
    /// ended.
    pub async fn redeem_stream_ticket(&self, ticket: &str) -> Result<(User, String), Error> {
        let ticket_hash = session::token_hash(ticket).ok_or(Error::Unauthorized)?;
        let now = now();
        let session_hash = self
            .store
            .redeem_stream_ticket(&ticket_hash, now)
            .await?
            .ok_or(Error::Unauthorized)?;
        let user = self
            .store
            .session_user(&session_hash, now)
            .await?
            .ok_or(Error::Unauthorized)?;
        Ok((user, session_hash))
    }

    /// Whether the session with this hash is still live (not logged out, not expired).
    pub async fn session_alive(&self, session_hash: &str) -> Result<bool, Error> {
        Ok(self
            .store
            .session_user(session_hash, now())
            .await?
            .is_some())
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
