//! Change notices: after a committed local write, an applied pull page or booked push
//! verdicts, every context of the origin (this page, other tabs' pages, the workers)
//! learns which records changed and reads exactly those again, without polling.
//!
//! They travel over a BroadcastChannel, which delivers to every other channel object of
//! the name, those of the posting context included: a page hears its own writes too.

use crate::channel::JsonChannel;
use crate::replica::Touched;
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
    /// Sync applied the server's changes (or booked its verdicts).
    Sync,
}

/// One record a change touched.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct ChangedRecord {
    pub model: Model,
    pub id: String,
}

/// A change notice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Change {
    /// The models touched (what a page of an older build reads again).
    pub models: Vec<Model>,
    pub origin: ChangeOrigin,
    /// The records touched; `None` when every record may have changed (sign-out).
    #[serde(default)]
    pub records: Option<Vec<ChangedRecord>>,
}

impl Change {
    pub fn new(touched: &Touched, origin: ChangeOrigin) -> Change {
        Change {
            models: touched.models(),
            origin,
            records: (!touched.is_everything()).then(|| {
                touched
                    .records()
                    .iter()
                    .map(|(model, id)| ChangedRecord {
                        model: *model,
                        id: id.clone(),
                    })
                    .collect()
            }),
        }
    }
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

/// Calls back with every change notice posted by any other channel object (this
/// context's store included), until dropped.
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
