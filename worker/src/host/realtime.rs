//! The server's event stream (`GET /api/sync/events`): a "poke" whenever this user's
//! changelog grows, so the leader pulls at once instead of at the next interval.
//!
//! `EventSource` cannot send an Authorization header, and a session token in a URL ends
//! up in server logs and browser history, so each connection first asks for a
//! single-use ticket (`POST {events}/ticket`, with the bearer token) and opens the stream
//! with `?ticket=`. A ticket works once, so `EventSource`'s own reconnect cannot reuse
//! it: on any error the stream is closed and reopened here with a fresh ticket, after a
//! growing pause. The stream is closed when it should not run (dropped).

use super::fetch::post_json;
use gloo_timers::future::TimeoutFuture;
use serde::Deserialize;
use std::cell::{Cell, RefCell};
use std::rc::Rc;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource};

/// The first pause before reconnecting, doubled after each failure up to the maximum.
const FIRST_RETRY_MS: u32 = 1_000;
const MAX_RETRY_MS: u32 = 60_000;

/// An open stream (or one being opened); dropping it closes it and stops reconnecting.
pub struct Realtime {
    shared: Rc<Shared>,
}

/// What the connecting task and the stream's callbacks share.
struct Shared {
    url: String,
    token: String,
    on_poke: Box<dyn Fn()>,
    on_connected: Box<dyn Fn(bool)>,
    /// Set on drop: no more reconnecting, no more callbacks.
    closed: Cell<bool>,
    failures: Cell<u32>,
    source: RefCell<Option<Source>>,
}

/// One `EventSource` and the closures it calls.
struct Source {
    source: EventSource,
    _on_poke: Closure<dyn FnMut(Event)>,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Drop for Source {
    fn drop(&mut self) {
        self.source.set_onopen(None);
        self.source.set_onerror(None);
        self.source.close();
    }
}

#[derive(Deserialize)]
struct Ticket {
    ticket: String,
}

impl Realtime {
    /// Starts connecting to the stream at `url` as the session of `token`.
    pub fn open(
        url: &str,
        token: &str,
        on_poke: impl Fn() + 'static,
        on_connected: impl Fn(bool) + 'static,
    ) -> Option<Realtime> {
        let shared = Rc::new(Shared {
            url: url.to_string(),
            token: token.to_string(),
            on_poke: Box::new(on_poke),
            on_connected: Box::new(on_connected),
            closed: Cell::new(false),
            failures: Cell::new(0),
            source: RefCell::new(None),
        });
        wasm_bindgen_futures::spawn_local(connect(Rc::clone(&shared)));
        Some(Realtime { shared })
    }
}

impl Drop for Realtime {
    fn drop(&mut self) {
        self.shared.closed.set(true);
        self.shared.source.borrow_mut().take();
    }
}

/// Fetches a ticket and opens the stream with it; on failure waits and tries again.
async fn connect(shared: Rc<Shared>) {
    loop {
        if shared.closed.get() {
            return;
        }
        let ticket_url = ticket_url(&shared.url);
        let answer =
            post_json::<_, Ticket>(&ticket_url, &serde_json::json!({}), Some(&shared.token)).await;
        if shared.closed.get() {
            return;
        }
        if let Ok(Ticket { ticket }) = answer {
            if let Some(source) = open_source(&shared, &ticket) {
                *shared.source.borrow_mut() = Some(source);
                return;
            }
        }
        // Offline, the server down, or the session gone (the sync loop hears of a 401
        // itself and stops the stream): wait, and try again while still wanted.
        (shared.on_connected)(false);
        TimeoutFuture::new(next_pause(&shared)).await;
    }
}

/// Opens an `EventSource` with a ticket; its error handler starts over with a new one.
fn open_source(shared: &Rc<Shared>, ticket: &str) -> Option<Source> {
    let separator = if shared.url.contains('?') { '&' } else { '?' };
    let url = format!(
        "{}{separator}ticket={}",
        shared.url,
        String::from(js_sys::encode_uri_component(ticket))
    );
    let source = EventSource::new(&url).ok()?;
    let poked = Rc::clone(shared);
    let on_poke = Closure::<dyn FnMut(Event)>::new(move |_| {
        if !poked.closed.get() {
            (poked.on_poke)();
        }
    });
    let opened = Rc::clone(shared);
    let on_open = Closure::<dyn FnMut(Event)>::new(move |_| {
        if !opened.closed.get() {
            opened.failures.set(0);
            (opened.on_connected)(true);
        }
    });
    let failed = Rc::downgrade(shared);
    let on_error = Closure::<dyn FnMut(Event)>::new(move |_| {
        let Some(shared) = failed.upgrade() else {
            return;
        };
        if shared.closed.get() {
            return;
        }
        // The browser would reconnect with the used ticket; close and start over. The
        // source is dropped from a task, not from inside its own callback.
        (shared.on_connected)(false);
        wasm_bindgen_futures::spawn_local(async move {
            shared.source.borrow_mut().take();
            TimeoutFuture::new(next_pause(&shared)).await;
            connect(shared).await;
        });
    });
    source
        .add_event_listener_with_callback("poke", on_poke.as_ref().unchecked_ref())
        .ok()?;
    source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
    source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
    Some(Source {
        source,
        _on_poke: on_poke,
        _on_open: on_open,
        _on_error: on_error,
    })
}

/// `…/events` → `…/events/ticket` (any query stays at the end).
fn ticket_url(events_url: &str) -> String {
    match events_url.split_once('?') {
        Some((path, query)) => format!("{}/ticket?{query}", path.trim_end_matches('/')),
        None => format!("{}/ticket", events_url.trim_end_matches('/')),
    }
}

/// The pause before the next attempt, growing with consecutive failures.
fn next_pause(shared: &Shared) -> u32 {
    let failures = shared.failures.get();
    shared.failures.set(failures.saturating_add(1));
    FIRST_RETRY_MS
        .saturating_mul(1u32 << failures.min(6))
        .min(MAX_RETRY_MS)
}
