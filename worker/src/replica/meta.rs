//! Per-record sync metadata (`VersionMeta`) and the small key-value `Meta` store.

use serde::{Deserialize, Serialize};
use sync_protocol::{Model, User};

/// What the client knows about one record's sync state.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct VersionMeta {
    pub model: String,
    pub key: String,
    /// The newest changelog entry applied to this record (pulled or acknowledged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_applied_change_id: Option<String>,
    /// Whether a local change to the record has not been pushed yet: a pull must not
    /// overwrite it.
    #[serde(default)]
    pub local_change_pending: bool,
}

impl VersionMeta {
    pub fn new(model: Model, key: &str) -> VersionMeta {
        VersionMeta {
            model: model.name().to_string(),
            key: key.to_string(),
            ..VersionMeta::default()
        }
    }

    /// Whether the changelog entry `id` is not newer than what this record already has.
    pub fn is_stale(&self, id: &str) -> bool {
        self.last_applied_change_id
            .as_deref()
            .is_some_and(|applied| applied >= id)
    }

    /// Records that `id` was applied, keeping the newest.
    pub fn applied(&mut self, id: &str) {
        if !self.is_stale(id) {
            self.last_applied_change_id = Some(id.to_string());
        }
    }
}

/// The key of a record's `VersionMeta` entry.
pub fn version_key(model: Model, id: &str) -> (String, String) {
    (model.name().to_string(), id.to_string())
}

/// Keys of the `Meta` store.
pub mod keys {
    /// The pull cursor (a string), written in the transaction that applies its page.
    pub const CURSOR: &str = "cursor";
    /// The signed-in [`super::Account`].
    pub const ACCOUNT: &str = "account";
    /// The leadership term (a number): each worker that takes the lead raises it, and
    /// every write of a sync cycle checks it is still its own.
    pub const TERM: &str = "term";
    /// An upper bound of every record's last applied changelog id (a string), raised in
    /// the transaction that applies one (see `ReplicaTx::applied_bound`).
    pub const APPLIED_BOUND: &str = "appliedBound";
    /// The newest changelog id a pulled page brought (a string; see
    /// `ReplicaTx::pulled_through`).
    pub const PULLED_THROUGH: &str = "pulledThrough";
    /// The queue floor (a number; see `ReplicaTx::queue_floor`). Below `~`: a sign-out
    /// clears it with the outbox, whose numbers then start again from 1.
    pub const QUEUE_FLOOR: &str = "queueFloor";
    /// Where a spent stamp's tombstone is kept: this prefix, then the stamp; it holds
    /// the stamp that spent it (see [`super::Stamp`]). `~` sorts after every other key,
    /// so a sign-out clears the others and keeps the tombstones.
    pub const SPENT_STAMPS: &str = "~spent:";
    /// Above every tombstone's key (a stamp is digits, a colon and hex digits).
    pub const SPENT_STAMPS_END: &str = "~spent:\u{ffff}";
}

/// Marks which local change wrote last, so that a context can tell, in the transaction
/// of its next change and without reading first, that no other context changed the
/// account or the outbox since its own last change (see `local::Expected`).
///
/// Each local change, sign-in and sign-out spends the stamp it found (or trusted) and
/// makes the next one, in one write: the spent stamp's tombstone, added under that
/// stamp, holds the next. So the stamp is what the newest tombstone holds (none before
/// the first change: its tombstone is the empty stamp's). A change that trusts its
/// context's own stamp adds that tombstone itself, which fails if another transaction
/// spent the stamp first. Each stamp sorts after the one it spent, whatever the clock
/// does ([`Stamp::after`]), so the newest tombstone is the last. The stamp begins with
/// the time it was made, so that old tombstones can be forgotten: no context trusts a
/// stamp that old.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Stamp(String);

impl From<String> for Stamp {
    /// A stamp as stored.
    fn from(stored: String) -> Stamp {
        Stamp(stored)
    }
}

impl Stamp {
    /// The stamp that spends `spent` (None: there was none yet), made at `at` and named
    /// by `id`; it sorts after `spent`, one millisecond on if the clock says otherwise
    /// (it went back, or another context's clock ran ahead), so every stamp of the
    /// chain is new and the newest tombstone sorts last.
    pub fn after(spent: Option<&Stamp>, at: sync_protocol::Timestamp, id: uuid::Uuid) -> Stamp {
        let after_spent = spent
            .and_then(|spent| spent.made_at())
            .map_or(0, |made| made + 1);
        let made = at.as_millis().max(after_spent);
        Stamp(format!(
            "{}:{}",
            Stamp::time_part(sync_protocol::Timestamp::from_millis(made)),
            id.simple()
        ))
    }

    /// Every stamp made before `at` sorts below this.
    pub fn made_before(at: sync_protocol::Timestamp) -> Stamp {
        Stamp(Stamp::time_part(at))
    }

    /// Sorts below this stamp and above every stamp made before it: its time alone.
    pub fn made_before_this(&self) -> Stamp {
        Stamp(self.made_at_text().to_string())
    }

    /// Zero-padded milliseconds, so that stamps sort in the order they were made.
    fn time_part(at: sync_protocol::Timestamp) -> String {
        format!("{:015}", at.as_millis().max(0))
    }

    /// How long before `now` the stamp was made (negative if the clock went back).
    pub fn age(&self, now: sync_protocol::Timestamp) -> Option<i64> {
        Some(now.as_millis() - self.made_at()?)
    }

    /// When it was made, in milliseconds.
    fn made_at(&self) -> Option<i64> {
        self.made_at_text().parse().ok()
    }

    /// Its time part, as written: what comes before the colon.
    fn made_at_text(&self) -> &str {
        self.0.split(':').next().unwrap_or_default()
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// The signed-in account, shared by the page and the worker.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Account {
    pub user: User,
    pub token: String,
}
