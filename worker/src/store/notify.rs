//! Change notification between contexts: after a committed local write or an applied
//! pull page, every other context of the origin (other tabs' pages, the workers) learns
//! which models changed, over a BroadcastChannel, and re-reads without polling.

use crate::channel::JsonChannel;
use serde::{Deserialize, Serialize};
use sync_protocol::Model;

/// The channel's name (every context of the origin uses it).
pub const CHANGES_CHANNEL: &str = "boards-sync:changes";

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

/// Posts change notices.
pub struct ChangeNotifier {
    channel: JsonChannel<Change>,
}

impl ChangeNotifier {
    pub fn new() -> ChangeNotifier {
        ChangeNotifier {
            channel: JsonChannel::sender(CHANGES_CHANNEL),
        }
    }

    pub fn post(&self, change: &Change) {
        self.channel.post(change);
    }
}

impl Default for ChangeNotifier {
    fn default() -> Self {
        ChangeNotifier::new()
    }
}

/// Calls back with every change notice posted by other contexts, until dropped.
pub struct ChangeListener {
    _channel: JsonChannel<Change>,
}

impl ChangeListener {
    /// None when the browser has no BroadcastChannel.
    pub fn new(callback: impl Fn(Change) + 'static) -> Option<ChangeListener> {
        let channel = JsonChannel::listener(CHANGES_CHANNEL, callback);
        channel
            .is_open()
            .then_some(ChangeListener { _channel: channel })
    }
}
