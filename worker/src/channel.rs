//! A BroadcastChannel that carries JSON messages of one type between the contexts of an
//! origin (tabs, workers). Without BroadcastChannel (very old browsers) it does nothing:
//! each context then works alone.

use serde::de::DeserializeOwned;
use serde::Serialize;
use std::marker::PhantomData;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

/// One end of a named channel. Messages posted here reach every other end with the same
/// name, never this one. Dropping it stops its listener and closes it.
pub struct JsonChannel<T> {
    channel: Option<BroadcastChannel>,
    _on_message: Option<Closure<dyn FnMut(MessageEvent)>>,
    _message: PhantomData<fn(T)>,
}

impl<T: Serialize + DeserializeOwned + 'static> JsonChannel<T> {
    /// An end that only posts.
    pub fn sender(name: &str) -> JsonChannel<T> {
        JsonChannel {
            channel: BroadcastChannel::new(name).ok(),
            _on_message: None,
            _message: PhantomData,
        }
    }

    /// An end that also hears the others; messages that do not parse as `T` are ignored.
    pub fn listener(name: &str, on_message: impl Fn(T) + 'static) -> JsonChannel<T> {
        let mut end = JsonChannel::sender(name);
        if let Some(channel) = &end.channel {
            let closure = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let message = event
                    .data()
                    .as_string()
                    .and_then(|text| serde_json::from_str::<T>(&text).ok());
                if let Some(message) = message {
                    on_message(message);
                }
            });
            channel.set_onmessage(Some(closure.as_ref().unchecked_ref()));
            end._on_message = Some(closure);
        }
        end
    }

    /// Whether the browser has BroadcastChannel.
    pub fn is_open(&self) -> bool {
        self.channel.is_some()
    }

    pub fn post(&self, message: &T) {
        if let (Some(channel), Ok(text)) = (&self.channel, serde_json::to_string(message)) {
            let _ = channel.post_message(&text.into());
        }
    }
}

impl<T> Drop for JsonChannel<T> {
    fn drop(&mut self) {
        if let Some(channel) = &self.channel {
            channel.set_onmessage(None);
            channel.close();
        }
    }
}
