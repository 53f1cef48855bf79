//! The sync bar: where sync stands at a glance, and its controls. Every element keeps
//! its place whatever the status says, so nothing on the page jumps.

use crate::hooks::data::{AppContext, OutboxVersion};
use crate::hooks::sync::SyncHandle;
use crate::hooks::ticker::{relative, use_now};
use sync_worker::messages::{Phase, SyncError, SyncErrorKind, WorkerInput};
use yew::prelude::*;

#[derive(Properties, PartialEq)]
pub struct SyncBarProps {
    pub details_open: bool,
    pub on_toggle_details: Callback<()>,
}

#[component]
pub fn SyncBar(props: &SyncBarProps) -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let sync = use_context::<SyncHandle>().expect("SyncHandle is provided");
    let now = use_now(5000);
    let offline = use_state(|| false);
    let pending = use_pending_count(&context, &sync);

    let state = &sync.state;
    let status = state.status.as_ref();
    let phase = status.map(|s| s.status);
    let status_name = phase.map_or("Starting", Phase::name);
    let last_sync = status
        .and_then(|s| s.last_sync_time)
        .map_or_else(|| "never".to_string(), |t| relative(t.as_millis(), now));
    let error = status.and_then(|s| s.last_error.clone());

    let on_sync_now = {
        let sync = sync.clone();
        move |_: MouseEvent| {
            sync.send(WorkerInput::SyncNow {
                override_backoff: true,
            })
        }
    };
    let on_offline = {
        let (sync, offline) = (sync.clone(), offline.clone());
        move |_: Event| {
            let value = !*offline;
            offline.set(value);
            sync.send(WorkerInput::SimulateOffline { offline: value });
        }
    };
    let on_details = props.on_toggle_details.reform(|_: MouseEvent| ());
    let busy = matches!(phase, Some(Phase::Pushing | Phase::Pulling));
    let phase_class = status_name.to_ascii_lowercase();

    html! {
        <section class="sync-bar" aria-label="Sync">
            <span class={classes!("status-pill", phase_class)} data-testid="sync-status" role="status"
                aria-live="polite">{ status_name }</span>
            <span class="sync-fact">{ "Last sync: " }<span data-testid="last-sync">{ last_sync }</span></span>
            <span class="sync-fact">
                <span data-testid="pending-count">{ pending }</span>{ " pending" }
            </span>
            <span class={classes!("sync-fact", "live", state.realtime_connected.then_some("on"))}
                data-testid="realtime-status"
                title="Changes from your other devices arrive instantly while live">
                { if state.realtime_connected { "● Live" } else { "○ Not live" } }
            </span>
            <span class="sync-controls">
                <button type="button" data-testid="sync-now-button" onclick={on_sync_now} disabled={busy}>
                    { "Sync now" }
                </button>
                <label class="switch">
                    <input type="checkbox" data-testid="offline-toggle" checked={*offline} onchange={on_offline} />
                    { " Work offline" }
                </label>
                <button type="button" class="quiet" data-testid="sync-details-button"
                    aria-expanded={props.details_open.to_string()} onclick={on_details}>
                    { if props.details_open { "Hide details" } else { "Details" } }
                </button>
            </span>
            <p class="sync-error" data-testid="sync-error" role="alert">
                { error.as_ref().map(plain_words).unwrap_or_default() }
            </p>
        </section>
    }
}

/// Unsynced changes, read from the store whenever the outbox or the worker's view moves.
#[hook]
fn use_pending_count(context: &AppContext, sync: &SyncHandle) -> u32 {
    let OutboxVersion(outbox_version) = use_context().unwrap_or_default();
    let count = use_state(|| 0u32);
    {
        let count = count.clone();
        let store = context.store.clone();
        let deps = (
            outbox_version,
            sync.state.pending,
            sync.state.status.clone(),
        );
        use_effect_with(deps, move |_| {
            wasm_bindgen_futures::spawn_local(async move {
                if let Ok(pending) = store.pending_count().await {
                    count.set(pending);
                }
            });
        });
    }
    *count
}

/// A sync error as a person would want to hear it.
fn plain_words(error: &SyncError) -> String {
    match error.kind {
        SyncErrorKind::SessionExpired => {
            "Your session has expired. Sign in again to sync; your changes are kept on this device."
                .into()
        }
        SyncErrorKind::Offline => {
            "You are offline. Changes are saved on this device and sync when you are back online."
                .into()
        }
        SyncErrorKind::Server => format!(
            "The server could not sync ({}). It will be tried again.",
            error.message
        ),
        SyncErrorKind::Storage => format!("This device's storage failed: {}", error.message),
    }
}
