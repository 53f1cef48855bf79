//! The changes the server refused: each names the change and the server's reason, and
//! stays listed until the person dismisses it. A refused change is the one way a change
//! can be undone by sync, so it is never silent.

use crate::hooks::data::{use_read, AppContext, OutboxVersion};
use yew::prelude::*;

#[component]
pub fn RefusedChanges() -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let OutboxVersion(outbox_version) = use_context().unwrap_or_default();
    // Re-read when the outbox moves (refusals come from push answers) and on dismissal.
    let dismissed = use_state(|| 0u32);
    let refused = use_read(
        &context.store,
        (outbox_version, *dismissed),
        |store| async move { store.refusals().await },
    );
    let Some(Ok(entries)) = refused else {
        return html! {};
    };
    if entries.is_empty() {
        return html! {};
    }
    let rows = entries
        .iter()
        .map(|entry| {
            let id = entry.event.id.clone();
            let notice = entry.refusal_notice().unwrap_or_default();
            let on_dismiss = {
                let (store, dismissed) = (context.store.clone(), dismissed.clone());
                move |_: MouseEvent| {
                    let (store, dismissed, id) = (store.clone(), dismissed.clone(), id.clone());
                    wasm_bindgen_futures::spawn_local(async move {
                        if store.dismiss_refusal(&id).await.is_ok() {
                            dismissed.set(dismissed.wrapping_add(1));
                        }
                    });
                }
            };
            html! {
                <li key={entry.event.id.clone()} data-testid="refused-change">
                    <span class="wrap">{ notice }</span>
                    <button type="button" class="quiet" data-testid="dismiss-refusal"
                        onclick={on_dismiss}>{ "Dismiss" }</button>
                </li>
            }
        })
        .collect::<Html>();
    html! {
        <section class="refused card" role="alert" aria-labelledby="refused-title" data-testid="refused-changes">
            <h2 id="refused-title">{
                match entries.len() {
                    1 => "The server refused a change".to_string(),
                    n => format!("The server refused {n} changes"),
                }
            }</h2>
            <p class="muted">{ "This device shows what the server kept instead." }</p>
            <ul>{ rows }</ul>
        </section>
    }
}
