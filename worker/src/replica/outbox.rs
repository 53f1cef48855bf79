//! Outbox entries as the replica keeps them: the protocol's event, the local fields that
//! index it, and what the person is told when the server refuses it.

use crate::engine::Verdict;
use serde::{Deserialize, Deserializer, Serialize};
use sync_protocol::{Model, OutboxEvent, PushError, Timestamp};

/// An outbox event as stored: the protocol's event and the local fields that index it,
/// side by side in one object.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxEntry {
    #[serde(flatten)]
    pub event: OutboxEvent,
    /// Creation order (timestamps tie within a millisecond).
    pub seq: u32,
    /// `seq` while the event waits to be pushed (unsynced and retryable), else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    queue: Option<u32>,
    /// `[model, id]` while the event waits to be pushed, else absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pending_record: Option<(String, String)>,
    /// When it synced, in milliseconds, once it has.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    synced_at_ms: Option<f64>,
    /// The change in words ("Renaming board "Work" to "home""), for the notice shown
    /// when the server refuses it. Local only: never sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    /// `seq` while the server's refusal has not been dismissed by the person, else
    /// absent (sparse: the `refused` index lists exactly the refusals shown).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    refused: Option<u32>,
}

/// The local fields of a stored entry, read beside its event (see the `Deserialize` impl).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct LocalFields {
    seq: u32,
    #[serde(default)]
    queue: Option<u32>,
    #[serde(default)]
    pending_record: Option<(String, String)>,
    #[serde(default)]
    synced_at_ms: Option<f64>,
    #[serde(default)]
    summary: Option<String>,
    #[serde(default)]
    refused: Option<u32>,
}

impl<'de> Deserialize<'de> for OutboxEntry {
    /// Not `#[serde(flatten)]`: that buffers every entry in serde's generic `Content`
    /// tree and parses the event from there, a second parser of the event that cost the
    /// download about 3 KB gzipped. Stored entries are JSON text (see `store::from_js`),
    /// so the event and the local fields are each parsed from the text, each skipping
    /// the other's fields (neither denies unknown ones).
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<OutboxEntry, D::Error> {
        use serde::de::Error;
        let text = Box::<serde_json::value::RawValue>::deserialize(deserializer)?;
        let event = serde_json::from_str(text.get()).map_err(D::Error::custom)?;
        let local: LocalFields = serde_json::from_str(text.get()).map_err(D::Error::custom)?;
        Ok(OutboxEntry {
            event,
            seq: local.seq,
            queue: local.queue,
            pending_record: local.pending_record,
            synced_at_ms: local.synced_at_ms,
            summary: local.summary,
            refused: local.refused,
        })
    }
}

impl OutboxEntry {
    pub fn new(event: OutboxEvent, seq: u32, summary: Option<String>) -> OutboxEntry {
        let mut entry = OutboxEntry {
            event,
            seq,
            queue: None,
            pending_record: None,
            synced_at_ms: None,
            summary,
            refused: None,
        };
        entry.reindex();
        entry
    }

    /// Brings the index fields in line with the event's state.
    fn reindex(&mut self) {
        let pending = self.event.is_pending();
        self.queue = pending.then_some(self.seq);
        self.pending_record = if pending {
            self.event
                .record_id()
                .map(|id| (self.event.entity_type.clone(), id.to_string()))
        } else {
            None
        };
        self.synced_at_ms = self.event.synced_at.map(|t| t.as_millis() as f64);
    }

    /// The record the event changes.
    pub fn record_key(&self) -> Option<(Model, String)> {
        Some((self.event.model()?, self.event.record_id()?.to_string()))
    }

    /// Whether the server refused it for good.
    pub fn is_refused(&self) -> bool {
        !self.event.synced && !self.event.retryable
    }

    /// Whether the refusal is still shown to the person.
    pub fn is_refusal_shown(&self) -> bool {
        self.refused.is_some()
    }

    /// The notice for a refused change: what it was and the server's reason.
    pub fn refusal_notice(&self) -> Option<String> {
        if !self.is_refused() {
            return None;
        }
        let what = self.summary.clone().unwrap_or_else(|| {
            format!(
                "A change ({} {})",
                self.event.operation,
                self.event.entity_type.to_ascii_lowercase()
            )
        });
        let reason = self
            .event
            .last_error
            .as_deref()
            .map(reason_of)
            .unwrap_or("no reason was given");
        Some(format!("{what} was refused: {reason}"))
    }

    /// Books the server's verdict on this event. Only the server's answer about the
    /// event counts as a try: requests that got no answer never reach here.
    pub fn book(&mut self, verdict: &Verdict, now: Timestamp) {
        self.event.last_attempted_at = Some(now);
        match verdict {
            Verdict::Applied { .. } => {
                self.event.synced = true;
                self.event.synced_at = Some(now);
                self.event.last_error = None;
                self.refused = None;
            }
            Verdict::Retry(error) => self.failed(error),
            Verdict::Rejected { error, .. } => {
                self.failed(error);
                self.event.retryable = false;
                self.refused = Some(self.seq);
            }
        }
        self.reindex();
    }

    fn failed(&mut self, error: &PushError) {
        self.event.tries += 1;
        self.event.last_error = Some(error.to_string());
        self.event.retryable = error.retryable;
    }

    /// The person has read the notice of this refusal.
    pub fn dismiss(&mut self) {
        self.refused = None;
    }
}

/// The message of a `"TYPE: message"` error, as the person reads it.
fn reason_of(error: &str) -> &str {
    match error.split_once(": ") {
        Some((kind, message)) if kind.chars().all(|c| c.is_ascii_uppercase() || c == '_') => {
            message
        }
        _ => error,
    }
}

/// How many events are in each state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OutboxStats {
    pub total: u32,
    /// Unsynced and retryable: will be pushed.
    pub pending: u32,
    /// Rejected for good by the server.
    pub failed: u32,
    pub synced: u32,
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::PushErrorKind;

    fn entry() -> OutboxEntry {
        let event = OutboxEvent::untried(
            "e1",
            "Board",
            "update",
            serde_json::json!({"id": "b1"}),
            Timestamp::from_millis(0),
        );
        OutboxEntry::new(event, 1, Some("Renaming board \"Work\" to \"home\"".into()))
    }

    #[test]
    fn a_refusal_names_the_change_and_the_reason_until_dismissed() {
        let mut entry = entry();
        let error = PushError::new(
            PushErrorKind::CustomValidationFailed,
            "a board with that name exists",
        );
        entry.book(
            &Verdict::Rejected {
                error,
                server_state: None,
            },
            Timestamp::from_millis(5),
        );
        assert!(!entry.event.is_pending());
        assert_eq!(entry.event.tries, 1);
        assert_eq!(
            entry.refusal_notice().as_deref(),
            Some("Renaming board \"Work\" to \"home\" was refused: a board with that name exists")
        );
        assert!(entry.is_refusal_shown());
        entry.dismiss();
        assert!(!entry.is_refusal_shown());
    }

    #[test]
    fn an_acknowledgement_clears_the_last_error() {
        let mut entry = entry();
        let busy = PushError::new(PushErrorKind::UnknownError, "busy");
        entry.book(&Verdict::Retry(busy), Timestamp::from_millis(1));
        assert!(entry.event.is_pending());
        entry.book(
            &Verdict::Applied {
                changelog_id: "00000000000000000001".into(),
            },
            Timestamp::from_millis(2),
        );
        assert!(entry.event.synced && entry.event.last_error.is_none());
        assert_eq!(entry.event.tries, 1);
    }
}
