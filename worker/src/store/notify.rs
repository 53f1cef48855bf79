//! Change notification between contexts: after a committed local write or an applied
//! pull page, every other context of the origin (other tabs' pages, the workers) learns
//! which models changed, over a BroadcastChannel, and re-reads without polling.

use serde::{Deserialize, Serialize};
use sync_protocol::Model;
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;
use web_sys::{BroadcastChannel, MessageEvent};

const CHANNEL: &str = "boards-sync:changes";

/// Where a change came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ChangeOrigin {
    /// A person's edit in some tab: there is something to push.
    Local,
    /// Sync applied the server's changes.
    Sync,
}

/// A change notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    pub models: Vec<Model>,
    pub origin: ChangeOrigin,
}

/// Posts change notices. Without BroadcastChannel (very old browsers) it does nothing:
/// other tabs then see changes on their next read.
pub struct ChangeNotifier {
    channel: Option<BroadcastChannel>,
}

impl ChangeNotifier {
    pub fn new() -> ChangeNotifier {
        ChangeNotifier {
            channel: BroadcastChannel::new(CHANNEL).ok(),
        }
    }

    pub fn post(&self, change: &Change) {
        let (Some(channel), Ok(text)) = (&self.channel, serde_json::to_string(change)) else {
            return;
        };
        let _ = channel.post_message(&text.into());
    }
}

impl Default for ChangeNotifier {
    fn default() -> Self {
        ChangeNotifier::new()
    }
}

/// Calls back with every change notice posted by other contexts, until dropped.
pub struct ChangeListener {
    channel: BroadcastChannel,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
}

impl ChangeListener {
    pub fn new(mut callback: impl FnMut(Change) + 'static) -> Option<ChangeListener> {
        let channel = BroadcastChannel::new(CHANNEL).ok()?;
        let on_message = Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
            let change = event
                .data()
                .as_string()
                .and_then(|text| serde_json::from_str::<Change>(&text).ok());
            if let Some(change) = change {
                callback(change);
            }
        });
        channel.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        Some(ChangeListener {
            channel,
            _on_message: on_message,
        })
    }
}

impl Drop for ChangeListener {
    fn drop(&mut self) {
        self.channel.set_onmessage(None);
        self.channel.close();
    }
}
