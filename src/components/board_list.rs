//! The boards: a form to add one, and the newest boards with their todos.
//!
//! With hundreds of boards, the page holds the newest ones and, above them, a button
//! that shows earlier ones a slice at a time (as a board does with its todos): every
//! card in the page costs each later change, even off screen, in the browser's
//! bookkeeping of its elements and in collecting them. New boards land at the end, in
//! the slice shown.

use super::{apply_change, input_value, BoardCard};
use crate::hooks::boards::{use_boards, Boards};
use crate::hooks::boards_model::BoardView;
use crate::hooks::data::AppContext;
use std::rc::Rc;
use yew::prelude::*;

#[component]
pub fn BoardList() -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let user = context.account.as_ref().map(|account| account.user.id);
    let boards = use_boards(&context.store, user);
    let name = use_state(String::new);
    let error = use_state(|| None::<String>);

    let on_submit = {
        let (context, name, error) = (context.clone(), name.clone(), error.clone());
        move |event: SubmitEvent| {
            event.prevent_default();
            let value = name.trim().to_string();
            if value.is_empty() {
                error.set(Some("Give the board a name.".into()));
                return;
            }
            name.set(String::new());
            apply_change(&context, error.clone(), move |store| async move {
                store.create_board(&value).await
            });
        }
    };
    let on_input = {
        let name = name.clone();
        move |event: InputEvent| name.set(input_value(&event))
    };

    let list = match boards {
        Boards::Loading => html! { <p class="muted" role="status">{ "Loading boards…" }</p> },
        Boards::Failed(e) => html! { <p class="form-error" role="alert">{ e }</p> },
        Boards::Ready(boards) if boards.is_empty() => html! {
            <p class="empty">{ "No boards yet. Create your first one above." }</p>
        },
        Boards::Ready(boards) => html! { <BoardGrid boards={boards} /> },
    };
    html! {
        <section aria-labelledby="boards-title">
            <h2 id="boards-title" class="visually-hidden">{ "Your boards" }</h2>
            <form class="new-board" onsubmit={on_submit}>
                <label for="new-board-name" class="visually-hidden">{ "New board name" }</label>
                <input id="new-board-name" data-testid="new-board-name" type="text"
                    placeholder="New board name" maxlength="100" value={(*name).clone()} oninput={on_input} />
                <button type="submit" class="primary" data-testid="create-board-button">{ "Create board" }</button>
            </form>
            <p class="form-error" role="alert">{ (*error).clone().unwrap_or_default() }</p>
            { list }
        </section>
    }
}

/// How many boards show at first (the newest), and how many more each click shows.
const BOARDS_SHOWN_AT_FIRST: usize = 30;
const BOARDS_SHOWN_PER_CLICK: usize = 30;

#[derive(Properties)]
struct BoardGridProps {
    boards: Rc<Vec<Rc<BoardView>>>,
}

/// The model hands on the same list until it changes: typing a name or showing an
/// error re-renders the form, not a card per board.
impl PartialEq for BoardGridProps {
    fn eq(&self, other: &Self) -> bool {
        Rc::ptr_eq(&self.boards, &other.boards)
    }
}

/// The newest boards, keyed. The model replaces only the boards that changed, so the
/// others pass the same `Rc` and their cards are skipped after a pointer comparison.
#[component]
fn BoardGrid(props: &BoardGridProps) -> Html {
    let shown = use_state(|| BOARDS_SHOWN_AT_FIRST);
    let hidden = props.boards.len().saturating_sub(*shown);
    let more = hidden.min(BOARDS_SHOWN_PER_CLICK);
    html! {
        <>
            if hidden > 0 {
                <button type="button" class="quiet show-earlier" data-testid="show-earlier-boards"
                    onclick={
                        let shown = shown.clone();
                        move |_: MouseEvent| shown.set(*shown + BOARDS_SHOWN_PER_CLICK)
                    }>
                    { format!(
                        "Show {more} earlier {} ({hidden} hidden)",
                        if more == 1 { "board" } else { "boards" }
                    ) }
                </button>
            }
            <div class="boards">
                for view in props.boards[hidden..].iter() {
                    <BoardCard key={view.key.clone()} view={Rc::clone(view)} />
                }
            </div>
        </>
    }
}
