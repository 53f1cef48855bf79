//! The boards: a form to add one, and every board with its todos.

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

/// Every board, keyed. The model replaces only the boards that changed, so the others
/// pass the same `Rc` and their cards are skipped after a pointer comparison: a change
/// costs the same with 200 boards as with 2, but for walking the list.
#[component]
fn BoardGrid(props: &BoardGridProps) -> Html {
    html! {
        <div class="boards">
            for view in props.boards.iter() {
                <BoardCard key={view.key.clone()} view={Rc::clone(view)} />
            }
        </div>
    }
}
