//! The root component: provides the sync context and lays out the page.

use crate::components::sync_bar::SyncBar;
use crate::hooks::sync::{use_sync_worker, SyncHandle};
use yew::prelude::*;

#[component]
pub fn App() -> Html {
    let sync = use_sync_worker();
    html! {
        <ContextProvider<SyncHandle> context={sync}>
            <header class="topbar">
                <h1 class="brand">{ "Boards" }</h1>
                <SyncBar />
            </header>
            <main class="content"></main>
        </ContextProvider<SyncHandle>>
    }
}
