//! Change notices: after a committed local write, an applied pull page or booked push
//! verdicts, every context of the origin (this page, other tabs' pages, the workers)
//! learns which records changed and reads exactly those again, without polling.
//!
//! Other contexts hear it over a BroadcastChannel; listeners in the committing context
//! itself are called directly (a BroadcastChannel does not deliver to its sender).

use crate::channel::JsonChannel;
use crate::replica::Touched;
use serde::{Deserialize, Serialize};
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
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

    /// The ids of `model`'s records this change touched, or `None` for "all of them".
    pub fn ids_of(&self, model: Model) -> Option<impl Iterator<Item = &str>> {
        let records = self.records.as_ref()?;
        Some(
            records
                .iter()
                .filter(move |record| record.model == model)
                .map(|record| record.id.as_str()),
        )
    }
}

type Listener = Rc<dyn Fn(&Change)>;

/// The listeners of this context (see [`ChangeNotifier::watch`]).
#[derive(Default)]
struct LocalListeners {
    next_id: Cell<u64>,
    listeners: RefCell<Vec<(u64, Listener)>>,
}

/// Posts change notices to every context, this one included.
pub struct ChangeNotifier {
    channel: JsonChannel<Change>,
    local: Rc<LocalListeners>,
}

impl ChangeNotifier {
    pub fn new() -> ChangeNotifier {
        ChangeNotifier {
            channel: JsonChannel::sender(CHANGES_CHANNEL),
            local: Rc::default(),
        }
    }

    pub fn post(&self, change: &Change) {
        self.channel.post(change);
        // Copied out first: a listener may add or drop a listener.
        let listeners: Vec<Listener> = self
            .local
            .listeners
            .borrow()
            .iter()
            .map(|(_, listener)| Rc::clone(listener))
            .collect();
        for listener in listeners {
            listener(change);
        }
    }

    /// Calls `callback` with every change notice, from this context or any other, until
    /// the returned watch is dropped.
    pub fn watch(&self, callback: impl Fn(&Change) + 'static) -> ChangeWatch {
        let callback: Listener = Rc::new(callback);
        let id = self.local.next_id.get();
        self.local.next_id.set(id + 1);
        self.local
            .listeners
            .borrow_mut()
            .push((id, Rc::clone(&callback)));
        let remote = ChangeListener::new(move |change| callback(&change));
        ChangeWatch {
            id,
            local: Rc::downgrade(&self.local),
            _remote: remote,
        }
    }
}

impl Default for ChangeNotifier {
    fn default() -> Self {
        ChangeNotifier::new()
    }
}

/// A subscription to every change notice; dropping it ends it.
pub struct ChangeWatch {
    id: u64,
    local: Weak<LocalListeners>,
    _remote: Option<ChangeListener>,
}

impl Drop for ChangeWatch {
    fn drop(&mut self) {
        if let Some(local) = self.local.upgrade() {
            local
                .listeners
                .borrow_mut()
                .retain(|(id, _)| *id != self.id);
        }
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
