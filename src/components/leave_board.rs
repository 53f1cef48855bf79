//! Leaving a board another account shared (a member's view). Immediate, without a
//! confirmation: nothing is lost that the owner cannot give back by sharing again.
//! Membership lives on the server, so leaving needs the network; once it is done, the
//! worker syncs at once and the board's pulled deletes take it off every device.

use crate::api::sharing;
use crate::hooks::data::{AppAction, AppContext};
use uuid::Uuid;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct LeaveBoardProps {
    pub board: Uuid,
    pub name: AttrValue,
    /// Why leaving failed (None: it did not, or not yet).
    pub on_error: Callback<Option<String>>,
}

#[component]
pub fn LeaveBoard(props: &LeaveBoardProps) -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let busy = use_state(|| false);
    let on_click = {
        let (context, busy, on_error, board) = (
            context.clone(),
            busy.clone(),
            props.on_error.clone(),
            props.board,
        );
        move |_: MouseEvent| {
            let Some(account) = context.account.clone() else {
                return;
            };
            if *busy {
                return;
            }
            busy.set(true);
            on_error.emit(None);
            let (context, busy, on_error) = (context.clone(), busy.clone(), on_error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let answer = sharing::remove(
                    &context.config,
                    &account.token,
                    board,
                    account.user.id,
                    "leave a board",
                )
                .await;
                busy.set(false);
                match answer {
                    Ok(()) => context.actions.emit(AppAction::SyncNow),
                    Err(message) => on_error.emit(Some(message)),
                }
            });
        }
    };
    let name = &props.name;
    html! {
        <button type="button" class="quiet" data-testid={format!("leave-board-{name}")}
            disabled={*busy} onclick={on_click} aria-label={format!("Leave board {name}")}>
            { if *busy { "Leaving…" } else { "Leave" } }
        </button>
    }
}
