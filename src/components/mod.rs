//! The UI's components, one per file.

mod auth_form;
mod board_card;
mod board_list;
mod confirm;
mod inspector;
mod refused_changes;
mod session_banner;
mod share_panel;
mod sync_bar;
mod todo_item;
mod user_menu;

pub use auth_form::AuthForm;
pub use board_card::BoardCard;
pub use board_list::BoardList;
pub use confirm::Confirm;
pub use inspector::Inspector;
pub use refused_changes::RefusedChanges;
pub use session_banner::SessionBanner;
pub use share_panel::SharePanel;
pub use sync_bar::SyncBar;
pub use todo_item::TodoItem;
pub use user_menu::UserMenu;

use web_sys::{HtmlInputElement, HtmlTextAreaElement};
use yew::prelude::*;

/// The value of the text field an input event came from.
pub(crate) fn input_value(event: &InputEvent) -> String {
    event.target_unchecked_into::<HtmlInputElement>().value()
}

/// The value of the text area an input event came from.
pub(crate) fn textarea_value(event: &InputEvent) -> String {
    event.target_unchecked_into::<HtmlTextAreaElement>().value()
}

/// Runs a local change and reports it: on success the worker is kicked (the lists follow
/// the store's change notice); on failure the message goes to `error` and nothing changed.
pub(crate) fn apply_change<T, F, Fut>(
    context: &crate::hooks::data::AppContext,
    error: UseStateHandle<Option<String>>,
    change: F,
) where
    T: 'static,
    F: FnOnce(sync_worker::store::LocalStore) -> Fut + 'static,
    Fut: std::future::Future<Output = Result<T, sync_worker::store::StoreError>> + 'static,
{
    let store = context.store.clone();
    report_change(
        context,
        error,
        Box::pin(async move { change(store).await.map(drop) }),
    );
}

/// What every [`apply_change`] shares, in one copy rather than one per call site.
fn report_change(
    context: &crate::hooks::data::AppContext,
    error: UseStateHandle<Option<String>>,
    change: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<(), sync_worker::store::StoreError>>>,
    >,
) {
    let actions = context.actions.clone();
    wasm_bindgen_futures::spawn_local(async move {
        match change.await {
            Ok(()) => {
                error.set(None);
                actions.emit(crate::hooks::data::AppAction::LocalWrite);
            }
            Err(e) => error.set(Some(e.to_string())),
        }
    });
}
