//! The session: which account this page works for, and the ways it changes (resumed
//! from the store at start, signed in, signed out, switched to another account after the
//! person confirmed, changed by another tab). The state is a reducer; the effects (the
//! store, the worker, the server) live in [`SessionHandle`]'s methods, each of which ends
//! by reading the stored account back into the reducer.

use super::sync::SyncHandle;
use crate::api;
use crate::config::AppConfig;
use std::rc::Rc;
use sync_protocol::auth::Session;
use sync_protocol::Model;
use sync_worker::messages::WorkerInput;
use sync_worker::store::{Account, LocalStore};
use yew::prelude::*;

/// The session as the page shows it.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SessionState {
    /// None until the stored account has been read; then the account, if signed in.
    pub account: Option<Option<Account>>,
    /// A sign-in as another account that waits for the person to confirm discarding the
    /// current account's unsynced changes: the new session and how many would be lost.
    pub switching: Option<(Session, u32)>,
    /// Why the last sign-in or sign-out stopped half-way, for the person to read.
    pub failure: Option<String>,
}

/// What happened to the session.
#[derive(Debug, Clone, PartialEq)]
pub enum SessionEvent {
    /// The stored account was read: at start, after a sign-in or sign-out, or because
    /// another tab changed it.
    Stored(Option<Account>),
    /// A sign-in as another account would discard `pending` unsynced changes.
    SwitchAsked { session: Session, pending: u32 },
    /// The person answered the question (either way).
    SwitchAnswered,
    /// The local data of the previous account could not be cleared: the sign-in or
    /// sign-out stopped there, so two accounts' records never mix on screen.
    Failed(String),
}

impl Reducible for SessionState {
    type Action = SessionEvent;

    fn reduce(self: Rc<Self>, event: SessionEvent) -> Rc<Self> {
        let mut next = (*self).clone();
        match event {
            SessionEvent::Stored(account) => {
                // A new account read back means the last change went through.
                if next.account.as_ref() != Some(&account) {
                    next.failure = None;
                }
                next.account = Some(account);
            }
            SessionEvent::Failed(why) => next.failure = Some(why),
            SessionEvent::SwitchAsked { session, pending } => {
                next.switching = Some((session, pending))
            }
            SessionEvent::SwitchAnswered => next.switching = None,
        }
        if next == *self {
            self
        } else {
            Rc::new(next)
        }
    }
}

/// The session's state and what can be done with it.
#[derive(Clone)]
pub struct SessionHandle {
    pub state: UseReducerHandle<SessionState>,
    store: LocalStore,
    config: Rc<AppConfig>,
    sync: SyncHandle,
}

impl SessionHandle {
    /// Keeps a new session. Another person's data never mixes with this one's, and
    /// their unsynced changes are not deleted without asking.
    pub fn sign_in(&self, session: Session) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let previous = this.store.account().await.ok().flatten();
            let other = previous.is_some_and(|p| p.user.id != session.user.id);
            if other {
                let pending = this.store.pending_count().await.unwrap_or(1);
                if pending > 0 {
                    this.state
                        .dispatch(SessionEvent::SwitchAsked { session, pending });
                    return;
                }
            }
            this.complete_sign_in(session, other).await;
        });
    }

    /// The person agreed to discard the current account's unsynced changes.
    pub fn confirm_switch(&self) {
        let Some((session, _)) = self.state.switching.clone() else {
            return;
        };
        self.state.dispatch(SessionEvent::SwitchAnswered);
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            this.complete_sign_in(session, true).await;
        });
    }

    /// The person kept the current account: the new session is not used, so it ends on
    /// the server.
    pub fn cancel_switch(&self) {
        if let Some((session, _)) = self.state.switching.clone() {
            let config = Rc::clone(&self.config);
            wasm_bindgen_futures::spawn_local(async move {
                api::logout(&config, &session.token).await;
            });
        }
        self.state.dispatch(SessionEvent::SwitchAnswered);
    }

    /// Stops syncing, ends the session on the server and forgets the local data.
    pub fn sign_out(&self) {
        let this = self.clone();
        wasm_bindgen_futures::spawn_local(async move {
            // The store, not a rendered snapshot, knows the session to end.
            let token = this.store.account().await.ok().flatten().map(|a| a.token);
            stop_sync(&this.sync).await;
            if let Some(token) = token {
                api::logout(&this.config, &token).await;
            }
            if let Err(error) = this.store.clear_local_data().await {
                this.state
                    .dispatch(SessionEvent::Failed(not_cleared(&error)));
            }
            this.reread().await;
        });
    }

    /// Keeps the new session and starts syncing it; with `replace`, first stops the old
    /// account's sync and clears its local data.
    async fn complete_sign_in(&self, session: Session, replace: bool) {
        if replace {
            stop_sync(&self.sync).await;
            if let Err(error) = self.store.clear_local_data().await {
                // Writing the new account over the old one's records would show them as
                // the new account's: the sign-in stops, and the session is ended.
                self.state
                    .dispatch(SessionEvent::Failed(not_cleared(&error)));
                api::logout(&self.config, &session.token).await;
                self.reread().await;
                return;
            }
        }
        let signed_in = Account {
            user: session.user,
            token: session.token,
        };
        if self.store.set_account(&signed_in).await.is_ok() {
            start_sync(&self.sync, &signed_in.token);
        }
        self.reread().await;
    }

    /// Reads the stored account back (the store is the truth: another tab may have
    /// changed it meanwhile).
    async fn reread(&self) {
        let stored = self.store.account().await.ok().flatten();
        self.state.dispatch(SessionEvent::Stored(stored));
    }
}

/// The session of this page: configures the worker, resumes the stored session and
/// follows the stored account when another tab signs in or out.
#[hook]
pub fn use_session(store: &LocalStore, config: &Rc<AppConfig>, sync: &SyncHandle) -> SessionHandle {
    let state = use_reducer(SessionState::default);
    let handle = SessionHandle {
        state: state.clone(),
        store: store.clone(),
        config: Rc::clone(config),
        sync: sync.clone(),
    };
    {
        let handle = handle.clone();
        use_effect_with((), move |_| {
            handle
                .sync
                .send(WorkerInput::Configure(handle.config.sync_config()));
            wasm_bindgen_futures::spawn_local(async move {
                let stored = handle.store.account().await.ok().flatten();
                if let Some(stored) = &stored {
                    start_sync(&handle.sync, &stored.token);
                }
                handle.state.dispatch(SessionEvent::Stored(stored));
            });
        });
    }
    // Another tab may sign in or out: the notice of that touches the user record (or
    // everything). The watch outlives renders, so it reads the account through `known`.
    let known = use_mut_ref(|| None::<Option<Account>>);
    *known.borrow_mut() = state.account.clone();
    {
        let handle = handle.clone();
        use_effect_with((), move |_| {
            let store = handle.store.clone();
            let watch = store.watch(move |change| {
                if !change.models.contains(&Model::User) {
                    return;
                }
                let (handle, known) = (handle.clone(), known.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let stored = handle.store.account().await.ok().flatten();
                    // Not before the stored account was first read.
                    let Some(current) = known.borrow().clone() else {
                        return;
                    };
                    if stored != current {
                        if let Some(stored) = &stored {
                            start_sync(&handle.sync, &stored.token);
                        }
                        handle.state.dispatch(SessionEvent::Stored(stored));
                    }
                });
            });
            move || drop(watch)
        });
    }
    handle
}

/// Why a sign-in or sign-out stopped, in words.
fn not_cleared(error: &impl std::fmt::Display) -> String {
    format!(
        "This browser could not delete the previous account's data ({error}), so it stays \
         signed in as before. Reload the page and try again."
    )
}

/// Stops the loop and waits (a few seconds at most) for a running cycle to end, so
/// that local data is cleared only after it; a late answer could not write anyway.
async fn stop_sync(sync: &SyncHandle) {
    sync.send(WorkerInput::Stop);
    sync.send(WorkerInput::SetAuth { token: None });
    sync.until_cycle_ends(10_000).await;
}

/// Gives the worker the session and starts the loop.
fn start_sync(sync: &SyncHandle, token: &str) {
    sync.send(WorkerInput::SetAuth {
        token: Some(token.to_string()),
    });
    sync.send(WorkerInput::Start);
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::{Timestamp, User};
    use uuid::Uuid;

    fn account(n: u128) -> Account {
        let at = Timestamp::from_millis(0);
        Account {
            user: User {
                id: Uuid::from_u128(n),
                name: format!("User {n}"),
                email: format!("user{n}@example.com"),
                email_verified: false,
                image: None,
                created_at: at,
                updated_at: at,
                is_anonymous: false,
            },
            token: format!("token {n}"),
        }
    }

    fn after(state: SessionState, event: SessionEvent) -> SessionState {
        (*Rc::new(state).reduce(event)).clone()
    }

    #[test]
    fn a_failed_clear_is_shown_until_another_account_is_read_back() {
        let signed_in = after(
            SessionState::default(),
            SessionEvent::Stored(Some(account(1))),
        );
        let failed = after(signed_in, SessionEvent::Failed("could not".into()));
        assert_eq!(failed.failure.as_deref(), Some("could not"));
        // Reading back the same account (the sign-in stopped) keeps the reason on screen.
        let reread = after(failed, SessionEvent::Stored(Some(account(1))));
        assert_eq!(reread.failure.as_deref(), Some("could not"));
        // A later change that goes through clears it.
        let switched = after(reread, SessionEvent::Stored(Some(account(2))));
        assert_eq!(switched.failure, None);
        assert_eq!(switched.account, Some(Some(account(2))));
    }
}
