//! The app's local data: the store, what the components share, and reads that follow
//! the change notices (see [`super::boards`] for the boards themselves).

use crate::config::AppConfig;
use std::future::Future;
use std::rc::Rc;
use sync_worker::store::notify::ChangeOrigin;
use sync_worker::store::{Account, LocalStore, StoreError};
use yew::prelude::*;

/// What the app shares with every component. It changes only with the account, so
/// its consumers (every board and todo) do not re-render when data changes.
#[derive(Clone)]
pub struct AppContext {
    pub store: LocalStore,
    pub config: Rc<AppConfig>,
    pub account: Option<Account>,
    pub actions: Callback<AppAction>,
}

impl PartialEq for AppContext {
    fn eq(&self, other: &Self) -> bool {
        self.account == other.account && Rc::ptr_eq(&self.config, &other.config)
    }
}

/// The outbox's version, a context of its own for the views of the outbox (pending
/// count, inspector, refusals): it moves with every local write in any tab and with the
/// server's verdicts on every push.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct OutboxVersion(pub u32);

/// What components ask the root to do.
#[derive(Debug, Clone, PartialEq)]
pub enum AppAction {
    /// Signed in or up: keep the session and start syncing.
    SignedIn(sync_protocol::auth::Session),
    /// Sign out: stop syncing and forget this account's local data.
    SignOut,
    /// This page wrote a change: push it soon.
    LocalWrite,
    /// The server changed what this account sees (it left a shared board): pull now.
    SyncNow,
}

/// A number that only goes up, one step per dispatch (for re-reads and re-renders).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct Counter(pub u32);

impl Reducible for Counter {
    type Action = ();

    fn reduce(self: Rc<Self>, _: ()) -> Rc<Self> {
        Rc::new(Counter(self.0.wrapping_add(1)))
    }
}

/// The outbox's version: one step per local write in any context (this page's included)
/// and per push the worker reports.
#[hook]
pub fn use_outbox_version(store: &LocalStore, pushes: u32) -> u32 {
    let version = use_reducer(Counter::default);
    {
        let dispatcher = version.dispatcher();
        use_effect_with(pushes, move |_| dispatcher.dispatch(()));
    }
    {
        let (dispatcher, store) = (version.dispatcher(), store.clone());
        // The store is one for the page's life.
        use_effect_with((), move |_| {
            let watch = store.watch(move |change| {
                if change.origin == ChangeOrigin::Local {
                    dispatcher.dispatch(());
                }
            });
            move || drop(watch)
        });
    }
    version.0
}

/// Runs `read` on mount and whenever `deps` change, and keeps its latest answer (the
/// previous answer stays on screen while a new read runs, so nothing flickers).
#[hook]
pub fn use_read<D, T, F, Fut>(
    store: &LocalStore,
    deps: D,
    read: F,
) -> Option<Result<Rc<T>, StoreError>>
where
    D: PartialEq + 'static,
    T: 'static,
    F: FnOnce(LocalStore) -> Fut + 'static,
    Fut: Future<Output = Result<T, StoreError>> + 'static,
{
    let value = use_state(|| None);
    {
        let value = value.clone();
        let store = store.clone();
        use_effect_with(deps, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                value.set(Some(read(store).await.map(Rc::new)));
            });
        });
    }
    (*value).clone()
}
