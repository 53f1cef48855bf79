//! The sync bar: where sync stands, at a glance.

use crate::hooks::sync::SyncHandle;
use yew::prelude::*;

#[component]
pub fn SyncBar() -> Html {
    let Some(sync) = use_context::<SyncHandle>() else {
        return html! {};
    };
    let status_name = sync
        .state
        .status
        .as_ref()
        .map_or("Starting", |status| status.status.name());
    html! {
        <section class="sync-bar" aria-label="Sync">
            <span class="sync-status" data-testid="sync-status" role="status">
                { status_name }
            </span>
        </section>
    }
}
