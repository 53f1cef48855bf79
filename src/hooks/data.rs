//! The app's local data: the store, a version that moves whenever data changes (here,
//! in another tab, or by sync), and reads that follow it.

use crate::config::AppConfig;
use std::future::Future;
use std::rc::Rc;
use sync_worker::store::notify::ChangeListener;
use sync_worker::store::{Account, BoardWithTodos, LocalStore, StoreError};
use yew::prelude::*;

/// What the app shares with every component.
#[derive(Clone)]
pub struct AppContext {
    pub store: LocalStore,
    pub config: Rc<AppConfig>,
    pub account: Option<Account>,
    /// Moves on every change to the local data; reads depend on it.
    pub data_version: u32,
    pub actions: Callback<AppAction>,
}

impl PartialEq for AppContext {
    fn eq(&self, other: &Self) -> bool {
        self.data_version == other.data_version
            && self.account == other.account
            && Rc::ptr_eq(&self.config, &other.config)
    }
}

/// What components ask the root to do.
#[derive(Debug, Clone, PartialEq)]
pub enum AppAction {
    /// Signed in or up: keep the session and start syncing.
    SignedIn(sync_protocol::auth::Session),
    /// Sign out: stop syncing and forget this account's local data.
    SignOut,
    /// Local data changed in this page.
    DataChanged,
}

/// A counter bumped by every change notice from any context (other tabs, the worker).
#[hook]
pub fn use_change_version(store: Option<LocalStore>) -> u32 {
    let version = use_state(|| 0u32);
    {
        let version = version.clone();
        use_effect_with(store.is_some(), move |ready| {
            let listener =
                ready.then(|| ChangeListener::new(move |_| version.set(version.wrapping_add(1))));
            move || drop(listener)
        });
    }
    *version
}

/// Runs `read` whenever the data version changes and keeps its latest answer (the
/// previous answer stays on screen while a new read runs, so nothing flickers).
#[hook]
pub fn use_read<T, F, Fut>(context: &AppContext, read: F) -> Option<Result<Rc<T>, StoreError>>
where
    T: 'static,
    F: FnOnce(LocalStore) -> Fut + 'static,
    Fut: Future<Output = Result<T, StoreError>> + 'static,
{
    let value = use_state(|| None);
    {
        let value = value.clone();
        let store = context.store.clone();
        use_effect_with(context.data_version, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                value.set(Some(read(store).await.map(Rc::new)));
            });
        });
    }
    (*value).clone()
}

/// The signed-in user's boards with their todos.
#[hook]
pub fn use_boards(context: &AppContext) -> Option<Result<Rc<Vec<BoardWithTodos>>, StoreError>> {
    use_read(
        context,
        |store| async move { store.boards_with_todos().await },
    )
}
