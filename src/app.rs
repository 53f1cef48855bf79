//! The root: loads the settings and the local store, spawns the sync worker, keeps the
//! session, and lays out the page.

use crate::api;
use crate::components::{
    AuthForm, BoardList, Confirm, Inspector, RefusedChanges, SessionBanner, SyncBar, UserMenu,
};
use crate::config::AppConfig;
use crate::hooks::data::{use_change_version, AppAction, AppContext};
use crate::hooks::sync::{use_sync_worker, SyncHandle};
use std::rc::Rc;
use sync_worker::messages::{SyncErrorKind, WorkerInput};
use sync_worker::store::{Account, LocalStore};
use yew::prelude::*;

#[component]
pub fn App() -> Html {
    let sync = use_sync_worker();
    let loaded = use_state(|| None::<Result<(LocalStore, Rc<AppConfig>), String>>);
    {
        let loaded = loaded.clone();
        use_effect_with((), move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let config = AppConfig::load().await;
                let store = LocalStore::open().await.map_err(|e| e.to_string());
                loaded.set(Some(store.map(|store| (store, Rc::new(config)))));
            });
        });
    }
    let body = match &*loaded {
        None => html! { <p class="notice" role="status">{ "Opening your boards…" }</p> },
        Some(Err(error)) => html! {
            <div class="notice error" role="alert">
                <h2>{ "Your boards cannot be opened in this browser" }</h2>
                <p>{ error.clone() }</p>
            </div>
        },
        Some(Ok((store, config))) => html! {
            <Session store={store.clone()} config={Rc::clone(config)} />
        },
    };
    html! {
        <ContextProvider<SyncHandle> context={sync}>
            { body }
        </ContextProvider<SyncHandle>>
    }
}

#[derive(Properties, Clone)]
struct SessionProps {
    store: LocalStore,
    config: Rc<AppConfig>,
}

impl PartialEq for SessionProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.config, &other.config)
    }
}

/// Keeps the account and wires it to the worker.
#[component]
fn Session(props: &SessionProps) -> Html {
    let sync = use_context::<SyncHandle>().expect("SyncHandle is provided by App");
    // None until the stored account has been read.
    let account = use_state(|| None::<Option<Account>>);
    let local_version = use_state(|| 0u32);
    let details_open = use_state(|| false);
    // A sign-in as another account that waits for the person to confirm discarding the
    // current account's unsynced changes: the new session and how many would be lost.
    let switching = use_state(|| None::<(sync_protocol::auth::Session, u32)>);
    let change_version = use_change_version(Some(props.store.clone()));

    // Configure the worker and resume a stored session.
    {
        let (store, config, account, sync) = (
            props.store.clone(),
            Rc::clone(&props.config),
            account.clone(),
            sync.clone(),
        );
        use_effect_with((), move |_| {
            sync.send(WorkerInput::Configure(config.sync_config()));
            wasm_bindgen_futures::spawn_local(async move {
                let stored = store.account().await.ok().flatten();
                if let Some(stored) = &stored {
                    start_sync(&sync, &stored.token);
                }
                account.set(Some(stored));
            });
        });
    }

    let actions = {
        let (store, config, account, local_version, sync, switching) = (
            props.store.clone(),
            Rc::clone(&props.config),
            account.clone(),
            local_version.clone(),
            sync.clone(),
            switching.clone(),
        );
        Callback::from(move |action: AppAction| match action {
            AppAction::DataChanged => {
                local_version.set(local_version.wrapping_add(1));
                sync.send(WorkerInput::Kick);
            }
            AppAction::SignedIn(session) => {
                let (store, account, sync, local_version, switching) = (
                    store.clone(),
                    account.clone(),
                    sync.clone(),
                    local_version.clone(),
                    switching.clone(),
                );
                wasm_bindgen_futures::spawn_local(async move {
                    let previous = store.account().await.ok().flatten();
                    // Another person's data never mixes with this one's, and their
                    // unsynced changes are not deleted without asking.
                    let other = previous.is_some_and(|p| p.user.id != session.user.id);
                    if other {
                        let pending = store.pending_count().await.unwrap_or(1);
                        if pending > 0 {
                            switching.set(Some((session, pending)));
                            return;
                        }
                    }
                    complete_sign_in(&store, &sync, session, other).await;
                    account.set(Some(store.account().await.ok().flatten()));
                    local_version.set(local_version.wrapping_add(1));
                });
            }
            AppAction::SignOut => {
                let (store, config, account, sync) = (
                    store.clone(),
                    Rc::clone(&config),
                    account.clone(),
                    sync.clone(),
                );
                let token = (*account).clone().flatten().map(|a| a.token);
                wasm_bindgen_futures::spawn_local(async move {
                    stop_sync(&sync).await;
                    if let Some(token) = token {
                        api::logout(&config, &token).await;
                    }
                    let _ = store.clear_local_data().await;
                    account.set(Some(None));
                });
            }
        })
    };

    // Another tab may sign in or out: follow the stored account when data changes.
    {
        let (store, account, sync) = (props.store.clone(), account.clone(), sync.clone());
        use_effect_with(change_version, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                let Some(known) = (*account).clone() else {
                    return;
                };
                let stored = store.account().await.ok().flatten();
                if stored != known {
                    if let Some(stored) = &stored {
                        start_sync(&sync, &stored.token);
                    }
                    account.set(Some(stored));
                }
            });
        });
    }

    let Some(current) = (*account).clone() else {
        return html! { <p class="notice" role="status">{ "Opening your boards…" }</p> };
    };
    let context = AppContext {
        store: props.store.clone(),
        config: Rc::clone(&props.config),
        account: current.clone(),
        data_version: local_version
            .wrapping_add(change_version)
            .wrapping_add(sync.state.remote_changes),
        actions,
    };
    let expired = sync
        .state
        .status
        .as_ref()
        .and_then(|s| s.last_error.as_ref())
        .is_some_and(|e| e.kind == SyncErrorKind::SessionExpired);
    html! {
        <ContextProvider<AppContext> context={context}>
            <header class="topbar">
                <h1 class="brand">{ "Boards" }</h1>
                if current.is_some() {
                    <UserMenu />
                }
            </header>
            <SyncBar
                details_open={*details_open}
                on_toggle_details={
                    let details_open = details_open.clone();
                    move |_| details_open.set(!*details_open)
                }
            />
            <main class="content" id="main">
                if let Some(account) = &current {
                    if expired {
                        <SessionBanner email={account.user.email.clone()} />
                    }
                    if !*details_open {
                        // With the inspector open, the refusals are listed there.
                        <RefusedChanges />
                    }
                    <BoardList />
                    if *details_open {
                        <Inspector />
                    }
                } else {
                    <AuthForm />
                }
            </main>
            if let Some((session, pending)) = (*switching).clone() {
                <Confirm
                    title={format!("Sign in as {}?", session.user.email)}
                    message={format!(
                        "{} on this device {} not reached the server yet. Signing in as another account deletes {}.",
                        match pending { 1 => "1 change".to_string(), n => format!("{n} changes") },
                        if pending == 1 { "has" } else { "have" },
                        if pending == 1 { "it" } else { "them" },
                    )}
                    confirm_label="Discard and sign in"
                    test_id="confirm-switch-account"
                    on_confirm={
                        let (store, sync, account, local_version, switching) = (
                            props.store.clone(),
                            sync.clone(),
                            account.clone(),
                            local_version.clone(),
                            switching.clone(),
                        );
                        move |_| {
                            let Some((session, _)) = (*switching).clone() else {
                                return;
                            };
                            switching.set(None);
                            let (store, sync, account, local_version) =
                                (store.clone(), sync.clone(), account.clone(), local_version.clone());
                            wasm_bindgen_futures::spawn_local(async move {
                                complete_sign_in(&store, &sync, session, true).await;
                                account.set(Some(store.account().await.ok().flatten()));
                                local_version.set(local_version.wrapping_add(1));
                            });
                        }
                    }
                    on_cancel={
                        let (config, switching) = (Rc::clone(&props.config), switching.clone());
                        move |_| {
                            // The new session is not used: end it on the server.
                            if let Some((session, _)) = (*switching).clone() {
                                let config = Rc::clone(&config);
                                wasm_bindgen_futures::spawn_local(async move {
                                    api::logout(&config, &session.token).await;
                                });
                            }
                            switching.set(None);
                        }
                    }
                />
            }
        </ContextProvider<AppContext>>
    }
}

/// Stops the loop and waits (a few seconds at most) for a running cycle to end, so
/// that local data is cleared only after it; a late answer could not write anyway.
async fn stop_sync(sync: &SyncHandle) {
    sync.send(WorkerInput::Stop);
    sync.send(WorkerInput::SetAuth { token: None });
    sync.until_cycle_ends(10_000).await;
}

/// Keeps the new session and starts syncing it; with `replace`, first stops the old
/// account's sync and clears its local data.
async fn complete_sign_in(
    store: &LocalStore,
    sync: &SyncHandle,
    session: sync_protocol::auth::Session,
    replace: bool,
) {
    if replace {
        stop_sync(sync).await;
        let _ = store.clear_local_data().await;
    }
    let signed_in = Account {
        user: session.user,
        token: session.token,
    };
    if store.set_account(&signed_in).await.is_ok() {
        start_sync(sync, &signed_in.token);
    }
}

/// Gives the worker the session and starts the loop.
fn start_sync(sync: &SyncHandle, token: &str) {
    sync.send(WorkerInput::SetAuth {
        token: Some(token.to_string()),
    });
    sync.send(WorkerInput::Start);
}
