//! One todo: done or not, edit (title and description), delete.

use super::{apply_change, input_value, textarea_value};
use crate::hooks::data::AppContext;
use std::rc::Rc;
use sync_protocol::Todo;
use sync_worker::store::TodoEdit;
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct TodoItemProps {
    pub todo: Rc<Todo>,
}

#[component]
pub fn TodoItem(props: &TodoItemProps) -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let editing = use_state(|| None::<TodoEdit>);
    let error = use_state(|| None::<String>);
    let todo = &props.todo;
    let (id, title) = (todo.id, todo.title.clone());

    let on_toggle = {
        let (context, error) = (context.clone(), error.clone());
        move |_: Event| {
            apply_change(&context, error.clone(), move |store| async move {
                store.toggle_todo(id).await
            })
        }
    };
    let on_delete = {
        let (context, error) = (context.clone(), error.clone());
        move |_: MouseEvent| {
            apply_change(&context, error.clone(), move |store| async move {
                store.delete_todo(id).await
            })
        }
    };
    let start_edit = {
        let (editing, todo) = (editing.clone(), todo.clone());
        move |_: MouseEvent| {
            editing.set(Some(TodoEdit {
                title: todo.title.clone(),
                description: todo.description.clone(),
            }))
        }
    };
    let on_save = {
        let (context, editing, error) = (context.clone(), editing.clone(), error.clone());
        move |event: SubmitEvent| {
            event.prevent_default();
            let Some(edit) = (*editing).clone() else {
                return;
            };
            editing.set(None);
            apply_change(&context, error.clone(), move |store| async move {
                store.edit_todo(id, edit).await
            });
        }
    };
    let on_key = {
        let editing = editing.clone();
        move |event: KeyboardEvent| {
            if event.key() == "Escape" {
                editing.set(None);
            }
        }
    };

    let body = if let Some(edit) = (*editing).clone() {
        let set_title = {
            let (editing, edit) = (editing.clone(), edit.clone());
            move |event: InputEvent| {
                editing.set(Some(TodoEdit {
                    title: input_value(&event),
                    ..edit.clone()
                }))
            }
        };
        let set_description = {
            let (editing, edit) = (editing.clone(), edit.clone());
            move |event: InputEvent| {
                editing.set(Some(TodoEdit {
                    description: Some(textarea_value(&event)),
                    ..edit.clone()
                }))
            }
        };
        html! {
            <form class="edit-todo" onsubmit={on_save} onkeydown={on_key}>
                <label for={format!("edit-title-{id}")} class="visually-hidden">{ "Title" }</label>
                <input id={format!("edit-title-{id}")} data-testid="edit-todo-input" type="text"
                    maxlength="200" value={edit.title.clone()} oninput={set_title} />
                <label for={format!("edit-description-{id}")} class="visually-hidden">{ "Description" }</label>
                <textarea id={format!("edit-description-{id}")} data-testid="edit-todo-description"
                    placeholder="Description (optional)" rows="2"
                    value={edit.description.clone().unwrap_or_default()} oninput={set_description} />
                <div class="actions">
                    <button type="submit" class="primary" data-testid="edit-todo-submit">{ "Save" }</button>
                    <button type="button" onclick={
                        let editing = editing.clone();
                        move |_: MouseEvent| editing.set(None)
                    }>{ "Cancel" }</button>
                </div>
            </form>
        }
    } else {
        html! {
            <>
                <input type="checkbox" id={format!("toggle-{id}")} data-testid={format!("toggle-todo-{title}")}
                    checked={todo.is_completed} onchange={on_toggle} />
                <label for={format!("toggle-{id}")} class="todo-text">
                    <span class="todo-title">{ title.clone() }</span>
                    if let Some(description) = &todo.description {
                        <span class="todo-description">{ description.clone() }</span>
                    }
                </label>
                <div class="todo-actions">
                    <button type="button" class="quiet" data-testid={format!("edit-todo-{title}")}
                        onclick={start_edit} aria-label={format!("Edit {title}")}>{ "Edit" }</button>
                    <button type="button" class="quiet danger-text" data-testid={format!("delete-todo-{title}")}
                        onclick={on_delete} aria-label={format!("Delete {title}")}>{ "Delete" }</button>
                </div>
            </>
        }
    };
    html! {
        <li class={classes!("todo", todo.is_completed.then_some("done"))} data-testid={format!("todo-{title}")}>
            { body }
            if let Some(message) = (*error).clone() {
                <p class="form-error" role="alert">{ message }</p>
            }
        </li>
    }
}
