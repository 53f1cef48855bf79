//! Sharing a board (its owner's view): invite an account by email, see who shares the
//! board, remove a member. Membership lives on the server, so this panel is the one part
//! of the page that waits for the network, and says so when it cannot reach it; the
//! shared board and its todos still travel through sync.

use super::{input_value, Confirm};
use crate::api::sharing;
use crate::hooks::data::{AppAction, AppContext};
use gloo_timers::callback::Timeout;
use std::rc::Rc;
use sync_protocol::sharing::{Member, MemberList};
use uuid::Uuid;
use yew::prelude::*;

/// How soon the panel looks again for a board the server does not know yet.
const RETRY_MS: u32 = 1_500;

#[derive(Properties, PartialEq)]
pub struct SharePanelProps {
    pub board: Uuid,
    /// The board's name, for labels and test ids.
    pub name: AttrValue,
    pub on_close: Callback<()>,
}

#[component]
pub fn SharePanel(props: &SharePanelProps) -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let email = use_state(String::new);
    let error = use_state(|| None::<String>);
    let busy = use_state(|| false);
    // None until the first answer; a refresh keeps the list on screen until it answers.
    // Some(Ok(None)): the server does not know the board yet (its create waits to sync).
    let members = use_state(|| None::<Result<Option<Rc<MemberList>>, String>>);
    // Bumped to read the list again (after a share or a removal, or to look again for
    // a board still syncing).
    let version = use_state(|| 0u32);
    // The version of the latest read: an older read answering late is dropped, so it
    // cannot put back a list a newer one replaced.
    let latest = use_mut_ref(|| 0u32);
    let removing = use_state(|| None::<Member>);
    let (board, name) = (props.board, props.name.clone());
    let token = context
        .account
        .as_ref()
        .map(|account| account.token.clone());

    {
        let (config, token, members) = (context.config.clone(), token.clone(), members.clone());
        let (actions, version_handle, latest) =
            (context.actions.clone(), version.clone(), latest.clone());
        use_effect_with((board, *version), move |&(_, read)| {
            *latest.borrow_mut() = read;
            let mut retry = None;
            if let Some(token) = token {
                let pending = Rc::new(std::cell::RefCell::new(None));
                retry = Some(pending.clone());
                wasm_bindgen_futures::spawn_local(async move {
                    let answer = sharing::members(&config, &token, board).await;
                    if *latest.borrow() != read {
                        return;
                    }
                    if let Ok(None) = answer {
                        // Bring the board's create forward, and look again shortly.
                        actions.emit(AppAction::SyncNow);
                        let again = move || version_handle.set(read.wrapping_add(1));
                        *pending.borrow_mut() = Some(Timeout::new(RETRY_MS, again));
                    }
                    members.set(Some(answer.map(|list| list.map(Rc::new))));
                });
            }
            // Closing the panel cancels a look pending.
            move || drop(retry.and_then(|pending| pending.take()))
        });
    }

    let on_share = {
        let (context, token) = (context.clone(), token.clone());
        let (email, error, busy, version) =
            (email.clone(), error.clone(), busy.clone(), version.clone());
        move |event: SubmitEvent| {
            event.prevent_default();
            let address = email.trim().to_string();
            if !sync_protocol::validation::is_plausible_email(&address) {
                error.set(Some(
                    "Enter the email address of the account to share with.".into(),
                ));
                return;
            }
            let Some(token) = token.clone() else {
                return;
            };
            if *busy {
                return;
            }
            busy.set(true);
            let config = context.config.clone();
            let (email, error, busy, version) =
                (email.clone(), error.clone(), busy.clone(), version.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let answer = sharing::share(&config, &token, board, &address).await;
                busy.set(false);
                match answer {
                    Ok(_) => {
                        email.set(String::new());
                        error.set(None);
                        version.set(version.wrapping_add(1));
                    }
                    Err(message) => error.set(Some(message)),
                }
            });
        }
    };

    let on_remove = {
        let (context, token) = (context.clone(), token.clone());
        let (removing, error, busy, version) = (
            removing.clone(),
            error.clone(),
            busy.clone(),
            version.clone(),
        );
        Callback::from(move |_| {
            let (Some(member), Some(token)) = ((*removing).clone(), token.clone()) else {
                return;
            };
            removing.set(None);
            busy.set(true);
            let config = context.config.clone();
            let (error, busy, version) = (error.clone(), busy.clone(), version.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let answer =
                    sharing::remove(&config, &token, board, member.user_id, "remove a member")
                        .await;
                busy.set(false);
                match answer {
                    Ok(()) => error.set(None),
                    Err(message) => error.set(Some(message)),
                }
                version.set(version.wrapping_add(1));
            });
        })
    };

    let list = match &*members {
        None => html! { <p class="muted" role="status">{ "Reading who shares this board…" }</p> },
        Some(Err(message)) => html! { <p class="form-error" role="alert">{ message.clone() }</p> },
        Some(Ok(None)) => html! {
            <p class="muted" role="status">
                { "This board has not reached the server yet. It can be shared once it has synced." }
            </p>
        },
        Some(Ok(Some(list))) => html! {
            <ul class="members" data-testid={format!("board-members-{name}")}
                aria-label={format!("Who shares {name}")}>
                if list.members.is_empty() {
                    <li class="muted">{ "Not shared with anyone yet." }</li>
                }
                for member in list.members.iter() {
                    { member_row(member, *busy, &removing) }
                }
            </ul>
        },
    };

    html! {
        <section class="share-panel" aria-label={format!("Share {name}")}>
            <form class="inline-form" onsubmit={on_share} novalidate=true>
                <label for={format!("share-email-{board}")} class="visually-hidden">
                    { "Email of the account to share with" }
                </label>
                <input id={format!("share-email-{board}")} data-testid="share-email" type="email"
                    placeholder="Share with (email)" autocomplete="off" value={(*email).clone()}
                    oninput={
                        let email = email.clone();
                        move |event: InputEvent| email.set(input_value(&event))
                    } />
                <button type="submit" class="primary" data-testid="share-submit" disabled={*busy}>
                    { "Share" }
                </button>
                <button type="button" class="quiet" data-testid="share-close"
                    onclick={props.on_close.reform(|_: MouseEvent| ())}>{ "Close" }</button>
            </form>
            <p class="form-error" role="alert" data-testid="share-error">
                { (*error).clone().unwrap_or_default() }
            </p>
            { list }
            if let Some(member) = (*removing).clone() {
                <Confirm
                    title={format!("Remove {} from “{name}”?", member.email)}
                    message="The board and its todos disappear from their devices. You can share it with them again."
                    confirm_label="Remove"
                    on_confirm={on_remove}
                    on_cancel={
                        let removing = removing.clone();
                        move |_| removing.set(None)
                    }
                />
            }
        </section>
    }
}

/// One member: who they are, and a button that asks (through `removing`) before
/// removing them. A plain function, not a component: it keeps no state of its own.
fn member_row(member: &Member, disabled: bool, removing: &UseStateHandle<Option<Member>>) -> Html {
    let on_click = {
        let (member, removing) = (member.clone(), removing.clone());
        move |_: MouseEvent| removing.set(Some(member.clone()))
    };
    html! {
        <li key={member.user_id.to_string()} class="member">
            <span class="member-name">{ member.name.clone() }</span>
            <span class="muted">{ member.email.clone() }</span>
            <button type="button" class="quiet danger-text" disabled={disabled}
                data-testid={format!("remove-member-{}", member.email)}
                aria-label={format!("Remove {}", member.email)} onclick={on_click}>{ "Remove" }</button>
        </li>
    }
}
