//! The sync inspector: the outbox, the last push results and the last pull's figures,
//! for the curious and for support.

use super::RefusedChanges;
use crate::hooks::data::{use_read, AppContext, OutboxVersion};
use crate::hooks::sync::SyncHandle;
use yew::prelude::*;

const OUTBOX_ROWS: u32 = 100;

#[component]
pub fn Inspector() -> Html {
    let context = use_context::<AppContext>().expect("AppContext is provided");
    let OutboxVersion(outbox_version) = use_context().unwrap_or_default();
    let sync = use_context::<SyncHandle>().expect("SyncHandle is provided");
    // Re-read when the outbox moves (local writes, push results) or the worker reports.
    let outbox = use_read(
        &context.store,
        (
            outbox_version,
            sync.state.pending,
            sync.state.status.clone(),
        ),
        |store| async move { store.outbox(OUTBOX_ROWS).await },
    );
    let state = &sync.state;

    let outbox_rows = match outbox {
        Some(Ok(entries)) if entries.is_empty() => {
            html! { <tr><td colspan="7">{ "The outbox is empty: nothing has changed here yet." }</td></tr> }
        }
        Some(Ok(entries)) => entries
            .iter()
            .map(|entry| {
                let event = &entry.event;
                html! {
                    <tr key={event.id.clone()}>
                        <td>{ event.entity_type.clone() }</td>
                        <td>{ event.operation.clone() }</td>
                        <td><time datetime={event.created_at.to_string()}>{ event.created_at.to_string() }</time></td>
                        <td>{ event.tries }</td>
                        <td class="wrap">{ event.last_error.clone().unwrap_or_default() }</td>
                        <td>{ yes_no(event.retryable) }</td>
                        <td>{ yes_no(event.synced) }</td>
                    </tr>
                }
            })
            .collect::<Html>(),
        Some(Err(e)) => html! { <tr><td colspan="7">{ e.to_string() }</td></tr> },
        None => html! { <tr><td colspan="7">{ "Reading the outbox…" }</td></tr> },
    };
    let push_rows = state
        .last_push
        .iter()
        .map(|result| {
            html! {
                <tr key={result.id.clone()}>
                    <td class="mono">{ short(&result.id) }</td>
                    <td class="mono">{ result.applied_changelog_id.clone().unwrap_or_default() }</td>
                    <td class="wrap">{ result.error.as_ref().map(ToString::to_string).unwrap_or_else(|| "applied".into()) }</td>
                    <td>{ result.error.as_ref().map(|e| yes_no(e.retryable)).unwrap_or("") }</td>
                </tr>
            }
        })
        .collect::<Html>();
    let pull = state.last_pull.clone().unwrap_or_default();

    html! {
        <section class="inspector card" aria-labelledby="inspector-title">
            <h2 id="inspector-title">{ "Sync details" }</h2>
            <RefusedChanges />
            <h3>{ "Outbox" }</h3>
            <div class="table-scroll">
                <table data-testid="outbox-table">
                    <thead><tr>
                        <th scope="col">{ "Entity" }</th><th scope="col">{ "Operation" }</th>
                        <th scope="col">{ "Created" }</th><th scope="col">{ "Tries" }</th>
                        <th scope="col">{ "Last error" }</th><th scope="col">{ "Retryable" }</th>
                        <th scope="col">{ "Synced" }</th>
                    </tr></thead>
                    <tbody>{ outbox_rows }</tbody>
                </table>
            </div>
            <h3>{ "Last push" }</h3>
            <div class="table-scroll">
                <table data-testid="push-table">
                    <thead><tr>
                        <th scope="col">{ "Event" }</th><th scope="col">{ "Changelog id" }</th>
                        <th scope="col">{ "Result" }</th><th scope="col">{ "Retryable" }</th>
                    </tr></thead>
                    <tbody>{ push_rows }</tbody>
                </table>
            </div>
            <h3>{ "Last pull" }</h3>
            <table data-testid="pull-table">
                <tbody>
                    <tr><th scope="row">{ "Pages" }</th><td>{ pull.pages }</td></tr>
                    <tr><th scope="row">{ "Applied" }</th><td>{ pull.applied }</td></tr>
                    <tr><th scope="row">{ "Stale" }</th><td>{ pull.stale }</td></tr>
                    <tr><th scope="row">{ "Missing" }</th><td>{ pull.missing }</td></tr>
                    <tr><th scope="row">{ "Validation errors" }</th><td>{ pull.validation_errors }</td></tr>
                    <tr><th scope="row">{ "Models" }</th><td>{ pull.affected_models.join(", ") }</td></tr>
                </tbody>
            </table>
        </section>
    }
}

fn yes_no(value: bool) -> &'static str {
    if value {
        "yes"
    } else {
        "no"
    }
}

fn short(id: &str) -> String {
    id.chars().take(8).collect()
}
