//! Who is signed in, and signing out (with a warning when changes have not synced).

use super::Confirm;
use crate::hooks::data::{AppAction, AppContext};
use yew::prelude::*;

#[component]
pub fn UserMenu() -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let unsynced = use_state(|| None::<u32>);
    let Some(account) = context.account.clone() else {
        return html! {};
    };
    let on_logout = {
        let (context, unsynced) = (context.clone(), unsynced.clone());
        move |_: MouseEvent| {
            let (context, unsynced) = (context.clone(), unsynced.clone());
            wasm_bindgen_futures::spawn_local(async move {
                match context.store.pending_count().await {
                    Ok(0) => context.actions.emit(AppAction::SignOut),
                    Ok(count) => unsynced.set(Some(count)),
                    Err(_) => unsynced.set(Some(0)),
                }
            });
        }
    };
    let sign_out = {
        let (actions, unsynced) = (context.actions.clone(), unsynced.clone());
        Callback::from(move |_| {
            unsynced.set(None);
            actions.emit(AppAction::SignOut);
        })
    };
    html! {
        <div class="user-menu">
            <span class="user" title={account.user.name.clone()}>
                <span class="visually-hidden">{ "Signed in as " }</span>
                <span data-testid="user-email">{ account.user.email.clone() }</span>
            </span>
            <button type="button" class="quiet" data-testid="logout-button" onclick={on_logout}>{ "Sign out" }</button>
            if let Some(count) = *unsynced {
                <Confirm
                    title="Sign out with unsynced changes?"
                    message={match count {
                        1 => "1 change on this device has not reached the server yet. Signing out deletes it.".to_string(),
                        n => format!("{n} changes on this device have not reached the server yet. Signing out deletes them."),
                    }}
                    confirm_label="Sign out and discard"
                    test_id="confirm-logout"
                    on_confirm={sign_out}
                    on_cancel={
                        let unsynced = unsynced.clone();
                        move |_| unsynced.set(None)
                    }
                />
            }
        </div>
    }
}
