//! The server's event stream (`GET /api/sync/events`): a "poke" whenever this user's
//! changelog grows, so the leader pulls at once instead of at the next interval.
//! EventSource reconnects by itself; the stream is closed when it should not run.

use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{Event, EventSource};

/// An open stream; dropping it closes it.
pub struct Realtime {
    source: EventSource,
    _on_poke: Closure<dyn FnMut(Event)>,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_error: Closure<dyn FnMut(Event)>,
}

impl Realtime {
    /// Opens `url` (the token goes in the query: EventSource cannot send headers).
    pub fn open(
        url: &str,
        token: &str,
        on_poke: impl Fn() + 'static,
        on_connected: impl Fn(bool) + 'static,
    ) -> Option<Realtime> {
        let separator = if url.contains('?') { '&' } else { '?' };
        let url = format!(
            "{url}{separator}token={}",
            String::from(js_sys::encode_uri_component(token))
        );
        let source = EventSource::new(&url).ok()?;
        let on_connected = std::rc::Rc::new(on_connected);
        let opened = std::rc::Rc::clone(&on_connected);
        let on_poke = Closure::<dyn FnMut(Event)>::new(move |_| on_poke());
        let on_open = Closure::<dyn FnMut(Event)>::new(move |_| opened(true));
        let on_error = Closure::<dyn FnMut(Event)>::new(move |_| on_connected(false));
        source
            .add_event_listener_with_callback("poke", on_poke.as_ref().unchecked_ref())
            .ok()?;
        source.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        source.set_onerror(Some(on_error.as_ref().unchecked_ref()));
        Some(Realtime {
            source,
            _on_poke: on_poke,
            _on_open: on_open,
            _on_error: on_error,
        })
    }
}

impl Drop for Realtime {
    fn drop(&mut self) {
        self.source.set_onopen(None);
        self.source.set_onerror(None);
        self.source.close();
    }
}
