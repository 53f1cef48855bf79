//! A confirmation dialog for destructive actions. It takes focus, and Escape cancels.

use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct ConfirmProps {
    pub title: AttrValue,
    pub message: AttrValue,
    pub confirm_label: AttrValue,
    pub on_confirm: Callback<()>,
    pub on_cancel: Callback<()>,
    /// The confirm button's test id.
    #[prop_or(AttrValue::from("confirm-delete"))]
    pub test_id: AttrValue,
}

#[component]
pub fn Confirm(props: &ConfirmProps) -> Html {
    let confirm_ref = use_node_ref();
    {
        let confirm_ref = confirm_ref.clone();
        use_effect_with((), move |_| {
            if let Some(button) = confirm_ref.cast::<web_sys::HtmlElement>() {
                let _ = button.focus();
            }
        });
    }
    let on_key = {
        let cancel = props.on_cancel.clone();
        move |event: KeyboardEvent| {
            if event.key() == "Escape" {
                cancel.emit(());
            }
        }
    };
    let confirm = props.on_confirm.reform(|_: MouseEvent| ());
    let cancel = props.on_cancel.reform(|_: MouseEvent| ());
    html! {
        <div class="overlay" onkeydown={on_key}>
            <div class="dialog card" role="alertdialog" aria-modal="true"
                aria-labelledby="confirm-title" aria-describedby="confirm-message">
                <h2 id="confirm-title">{ props.title.clone() }</h2>
                <p id="confirm-message">{ props.message.clone() }</p>
                <div class="actions">
                    <button type="button" class="danger" data-testid={props.test_id.clone()}
                        ref={confirm_ref} onclick={confirm}>{ props.confirm_label.clone() }</button>
                    <button type="button" data-testid="confirm-cancel" onclick={cancel}>{ "Cancel" }</button>
                </div>
            </div>
        </div>
    }
}
