//! The root: loads the settings and the local store, spawns the sync worker, and lays
//! out the page for the session.

use crate::components::{
    AuthForm, BoardList, Confirm, Inspector, RefusedChanges, SessionBanner, SyncBar, UserMenu,
};
use crate::config::AppConfig;
use crate::hooks::data::{use_outbox_version, AppAction, AppContext, OutboxVersion};
use crate::hooks::session::use_session;
use crate::hooks::sync::{use_sync_worker, SyncHandle};
use std::rc::Rc;
use sync_worker::messages::{SyncErrorKind, WorkerInput};
use sync_worker::store::LocalStore;
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

/// Lays out the page for the session (the session's logic is [`use_session`]).
#[component]
fn Session(props: &SessionProps) -> Html {
    let sync = use_context::<SyncHandle>().expect("SyncHandle is provided by App");
    let session = use_session(&props.store, &props.config, &sync);
    let outbox_version = use_outbox_version(&props.store, sync.state.pushes);
    let details_open = use_state(|| false);

    let actions = {
        let (session, sync) = (session.clone(), sync.clone());
        Callback::from(move |action: AppAction| match action {
            AppAction::LocalWrite => sync.send(WorkerInput::Kick),
            AppAction::SyncNow => sync.send(WorkerInput::SyncNow {
                override_backoff: true,
            }),
            AppAction::SignedIn(new_session) => session.sign_in(new_session),
            AppAction::SignOut => session.sign_out(),
        })
    };

    let Some(current) = session.state.account.clone() else {
        return html! { <p class="notice" role="status">{ "Opening your boards…" }</p> };
    };
    let context = AppContext {
        store: props.store.clone(),
        config: Rc::clone(&props.config),
        account: current.clone(),
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
        <ContextProvider<OutboxVersion> context={OutboxVersion(outbox_version)}>
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
                if let Some(failure) = session.state.failure.clone() {
                    <p class="form-error" role="alert" data-testid="session-failure">{ failure }</p>
                }
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
            if let Some((new_session, pending)) = session.state.switching.clone() {
                <Confirm
                    title={format!("Sign in as {}?", new_session.user.email)}
                    message={format!(
                        "{} on this device {} not reached the server yet. Signing in as another account deletes {}.",
                        match pending { 1 => "1 change".to_string(), n => format!("{n} changes") },
                        if pending == 1 { "has" } else { "have" },
                        if pending == 1 { "it" } else { "them" },
                    )}
                    confirm_label="Discard and sign in"
                    test_id="confirm-switch-account"
                    on_confirm={
                        let session = session.clone();
                        move |_| session.confirm_switch()
                    }
                    on_cancel={
                        let session = session.clone();
                        move |_| session.cancel_switch()
                    }
                />
            }
        </ContextProvider<OutboxVersion>>
        </ContextProvider<AppContext>>
    }
}
