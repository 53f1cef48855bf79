//! One board: its name (rename, delete, share), its todos, and a form to add one.
//!
//! On a board another account shared with this one, the todos are as editable as on
//! one's own, but the board itself is the owner's: it says who shared it and offers to
//! leave it instead of rename, delete and share (the server would refuse those).
//! Leaving is immediate, without a confirmation (the owner can share it again); it
//! needs the network, and once done the worker syncs at once, so the board's pulled
//! deletes take it off every device of the member.
//!
//! A board may hold thousands of todos: it renders the most recent ones and, above
//! them, a button that shows earlier ones a slice at a time, so no render blocks the
//! page for long. New todos land at the end, in view.
//!
//! A card lists a large change of its todos in a task of its own, just after it renders
//! the rest: a page that opens on many boards at once (a reload, "show earlier boards")
//! or takes in a burst of synced todos first renders every card's frame and counts,
//! then each card's list in turn, so no task renders them all. With ten boards of
//! thirty new todos in view that one render was a 50–80 ms task on a two-core machine
//! (`cargo xtask bench`, P6). A small change (a click, another device's edit) lists at
//! once.

use super::{apply_change, input_value, Confirm, SharePanel, TodoItem};
use crate::api::sharing;
use crate::hooks::boards_model::BoardView;
use crate::hooks::data::AppAction;
use crate::hooks::data::AppContext;
use gloo_timers::callback::Timeout;
use std::cell::RefCell;
use std::rc::Rc;
use sync_protocol::Todo;
use yew::prelude::*;

/// How many of a board's todos show at first, and how many more each click shows.
const SHOWN_AT_FIRST: usize = 30;
const SHOWN_PER_CLICK: usize = 100;

/// A change of at most this many todos is listed in the render that brings it; a
/// larger one in the card's own task just after (see the module's note).
const LISTED_AT_ONCE: usize = 5;

#[derive(Properties)]
pub struct BoardCardProps {
    /// The board, its todos and who shared it; a new `Rc` whenever one of them changed.
    pub view: Rc<BoardView>,
}

impl PartialEq for BoardCardProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.view, &other.view)
    }
}

#[component]
pub fn BoardCard(props: &BoardCardProps) -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let renaming = use_state(|| None::<String>);
    let confirming = use_state(|| false);
    let sharing = use_state(|| false);
    let leaving = use_state(|| false);
    let new_title = use_state(String::new);
    let shown = use_state(|| SHOWN_AT_FIRST);
    let error = use_state(|| None::<String>);
    let listed = use_listed_todos(&props.view.todos);
    let BoardView {
        board,
        todos,
        shared_by,
        ..
    } = &*props.view;
    let name = board.name.clone();
    let id = board.id;

    let start_rename = {
        let (renaming, name) = (renaming.clone(), name.clone());
        move |_: MouseEvent| renaming.set(Some(name.clone()))
    };
    let on_rename = {
        let (context, renaming, error) = (context.clone(), renaming.clone(), error.clone());
        move |event: SubmitEvent| {
            event.prevent_default();
            let Some(value) = (*renaming).clone() else {
                return;
            };
            renaming.set(None);
            apply_change(&context, error.clone(), move |store| async move {
                store.rename_board(id, &value).await
            });
        }
    };
    let on_rename_key = {
        let renaming = renaming.clone();
        move |event: KeyboardEvent| {
            if event.key() == "Escape" {
                renaming.set(None);
            }
        }
    };
    let on_delete = {
        let (context, confirming, error) = (context.clone(), confirming.clone(), error.clone());
        Callback::from(move |_| {
            confirming.set(false);
            apply_change(&context, error.clone(), move |store| async move {
                store.delete_board(id).await
            });
        })
    };
    let on_add = {
        let (context, new_title, error) = (context.clone(), new_title.clone(), error.clone());
        move |event: SubmitEvent| {
            event.prevent_default();
            let title = new_title.trim().to_string();
            if title.is_empty() {
                error.set(Some("Give the todo a title.".into()));
                return;
            }
            new_title.set(String::new());
            apply_change(&context, error.clone(), move |store| async move {
                store.create_todo(id, &title, None).await
            });
        }
    };
    let on_leave = {
        let (context, leaving, error) = (context.clone(), leaving.clone(), error.clone());
        move |_: MouseEvent| {
            let Some(account) = context.account.clone() else {
                return;
            };
            if *leaving {
                return;
            }
            leaving.set(true);
            let (context, leaving, error) = (context.clone(), leaving.clone(), error.clone());
            wasm_bindgen_futures::spawn_local(async move {
                let (token, me) = (&account.token, account.user.id);
                let answer = sharing::remove(&context.config, token, id, me, "leave a board").await;
                leaving.set(false);
                match answer {
                    Ok(()) => context.actions.emit(AppAction::SyncNow),
                    Err(message) => error.set(Some(message)),
                }
            });
        }
    };
    let done = todos.iter().filter(|t| t.is_completed).count();
    let listing = listed.as_deref().map(Vec::as_slice).unwrap_or_default();
    let hidden = listing.len().saturating_sub(*shown);
    let catching_up = !listed
        .as_ref()
        .is_some_and(|listed| Rc::ptr_eq(listed, todos));
    let title_id = format!("board-title-{id}");

    html! {
        <article class="board card" data-testid={format!("board-{name}")} aria-labelledby={title_id.clone()}>
            <header class="board-header">
                if let Some(value) = (*renaming).clone() {
                    <form class="inline-form" onsubmit={on_rename} onkeydown={on_rename_key}>
                        <label for={format!("rename-{id}")} class="visually-hidden">{ "Board name" }</label>
                        <input id={format!("rename-{id}")} data-testid="rename-board-input" type="text"
                            maxlength="100" value={value}
                            oninput={
                                let renaming = renaming.clone();
                                move |event: InputEvent| renaming.set(Some(input_value(&event)))
                            } />
                        <button type="submit" class="primary" data-testid="rename-board-submit">{ "Save" }</button>
                        <button type="button" onclick={
                            let renaming = renaming.clone();
                            move |_: MouseEvent| renaming.set(None)
                        }>{ "Cancel" }</button>
                    </form>
                } else {
                    <h3 id={title_id}>{ name.clone() }</h3>
                    <span class="muted count" aria-label={format!("{done} of {} done", todos.len())}>
                        { format!("{done}/{}", todos.len()) }
                    </span>
                    if let Some(owner) = &shared_by {
                        <span class="shared-badge" data-testid={format!("shared-badge-{name}")}>
                            { format!("Shared by {owner}") }
                        </span>
                        <div class="board-actions">
                            <button type="button" class="quiet" data-testid={format!("leave-board-{name}")}
                                disabled={*leaving} onclick={on_leave}
                                aria-label={format!("Leave board {name}")}>
                                { if *leaving { "Leaving…" } else { "Leave" } }
                            </button>
                        </div>
                    } else {
                        <div class="board-actions">
                            <button type="button" class="quiet" data-testid={format!("rename-board-{name}")}
                                onclick={start_rename} aria-label={format!("Rename board {name}")}>{ "Rename" }</button>
                            <button type="button" class="quiet" data-testid={format!("share-board-{name}")}
                                aria-expanded={(*sharing).to_string()}
                                onclick={
                                    let sharing = sharing.clone();
                                    move |_: MouseEvent| sharing.set(true)
                                }
                                aria-label={format!("Share board {name}")}>{ "Share" }</button>
                            <button type="button" class="quiet danger-text" data-testid={format!("delete-board-{name}")}
                                onclick={
                                    let confirming = confirming.clone();
                                    move |_: MouseEvent| confirming.set(true)
                                }
                                aria-label={format!("Delete board {name}")}>{ "Delete" }</button>
                        </div>
                    }
                }
            </header>
            if *sharing && shared_by.is_none() {
                <SharePanel board={id} name={name.clone()} on_close={
                    let sharing = sharing.clone();
                    move |_| sharing.set(false)
                } />
            }
            if hidden > 0 {
                <button type="button" class="quiet show-earlier" data-testid={format!("show-earlier-{name}")}
                    onclick={
                        let shown = shown.clone();
                        move |_: MouseEvent| shown.set(*shown + SHOWN_PER_CLICK)
                    }>
                    { format!("Show {} earlier ({hidden} hidden)", hidden.min(SHOWN_PER_CLICK)) }
                </button>
            }
            <ul class="todos" aria-busy={catching_up.to_string()}>
                for todo in listing[hidden..].iter() {
                    <TodoItem key={todo.id.to_string()} todo={Rc::clone(todo)} />
                }
            </ul>
            <form class="new-todo" onsubmit={on_add}>
                <label for={format!("new-todo-{id}")} class="visually-hidden">{ format!("New todo on {name}") }</label>
                <input id={format!("new-todo-{id}")} data-testid={format!("new-todo-title-{name}")} type="text"
                    placeholder="Add a todo" maxlength="200" value={(*new_title).clone()}
                    oninput={
                        let new_title = new_title.clone();
                        move |event: InputEvent| new_title.set(input_value(&event))
                    } />
                <button type="submit" data-testid={format!("add-todo-{name}")}>{ "Add" }</button>
            </form>
            <p class="form-error" role="alert">{ (*error).clone().unwrap_or_default() }</p>
            if *confirming {
                <Confirm
                    title={format!("Delete “{name}”?")}
                    message={match todos.len() {
                        0 => "The board will be deleted on all your devices, and for everyone you shared it with.".to_string(),
                        1 => "The board and its todo will be deleted on all your devices, and for everyone you shared it with.".to_string(),
                        n => format!("The board and its {n} todos will be deleted on all your devices, and for everyone you shared it with."),
                    }}
                    confirm_label="Delete board"
                    on_confirm={on_delete}
                    on_cancel={
                        let confirming = confirming.clone();
                        move |_| confirming.set(false)
                    }
                />
            }
        </article>
    }
}

/// The todos the card lists (None: none yet): `todos` when the change since the last
/// listing is small (or the card mounted with none: a new board), else the last listing
/// until the task after this render (see the module's note).
#[hook]
fn use_listed_todos(todos: &Rc<Vec<Rc<Todo>>>) -> Option<Rc<Vec<Rc<Todo>>>> {
    let listed = use_mut_ref(|| None::<Rc<Vec<Rc<Todo>>>>);
    // Set by the task that lists a large change: the next render lists whatever is
    // current then.
    let due = use_mut_ref(|| false);
    // The task pending, dropped (and so cancelled) if the card goes first.
    let pending = use_mut_ref(|| None::<Timeout>);
    let update = use_force_update();
    let mut listing = listed.borrow_mut();
    let at_once = due.replace(false)
        || match &*listing {
            None => todos.is_empty(),
            Some(shown) => {
                Rc::ptr_eq(shown, todos) || shown.len().abs_diff(todos.len()) <= LISTED_AT_ONCE
            }
        };
    if at_once {
        *listing = Some(Rc::clone(todos));
        // Ran already (Yew renders in a microtask after the task that asked, so this
        // never drops the timer while its callback runs), or needless now.
        pending.take();
    } else if pending.borrow().is_none() {
        let due: Rc<RefCell<bool>> = Rc::clone(&due);
        *pending.borrow_mut() = Some(Timeout::new(0, move || {
            *due.borrow_mut() = true;
            update.force_update();
        }));
    }
    listing.clone()
}
