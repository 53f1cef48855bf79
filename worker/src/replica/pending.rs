//! What of a record still waits to be pushed, and what that leaves of the server's copy
//! when it arrives (the rebase of pending local fields onto a pulled record).
//!
//! It is computed from the record's pending outbox events every time it is needed, never
//! kept beside the record: a kept union of fields could not shrink when one of several
//! pending events is booked, and a stale one would leave a field wrong for good after a
//! refusal.

use std::collections::BTreeSet;
use sync_protocol::{Operation, OutboxEvent, Record};

/// The part of a record that local changes not yet pushed have touched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum Pending {
    /// Nothing waits: the server's copy is taken whole.
    #[default]
    Nothing,
    /// Only updates wait, each naming its fields: these fields are ours until pushed,
    /// the rest is the server's.
    Fields(BTreeSet<String>),
    /// A create, a delete or an update without a field list waits: the whole record is
    /// ours until pushed.
    Whole,
}

impl Pending {
    /// The union of what `events` (a record's pending events) touch.
    pub fn of<'e>(events: impl IntoIterator<Item = &'e OutboxEvent>) -> Pending {
        events
            .into_iter()
            .fold(Pending::Nothing, |pending, event| pending.and(event))
    }

    /// This, and what `event` touches.
    pub fn and(self, event: &OutboxEvent) -> Pending {
        match (self, field_scope(event)) {
            (Pending::Whole, _) | (_, None) => Pending::Whole,
            (Pending::Nothing, Some(fields)) => Pending::Fields(fields.iter().cloned().collect()),
            (Pending::Fields(mut mine), Some(fields)) => {
                mine.extend(fields.iter().cloned());
                Pending::Fields(mine)
            }
        }
    }

    pub fn is_nothing(&self) -> bool {
        *self == Pending::Nothing
    }

    /// What a record that has these pending changes becomes when the server's copy
    /// arrives: the server's record with the pending fields taken from `local`. `None`
    /// when the whole record is pending (the local copy stays as it is). Without a local
    /// copy to take them from, the server's record is taken as it is.
    pub fn rebase(&self, server: Record, local: Option<&Record>) -> Option<Record> {
        match (self, local) {
            (Pending::Whole, _) => None,
            (Pending::Fields(fields), Some(local)) => {
                let fields: Vec<String> = fields.iter().cloned().collect();
                // A local copy of another model, or a field it does not have, cannot be
                // rebased onto: the server's copy is the better one to show.
                Some(server.with_fields_of(local, &fields).unwrap_or(server))
            }
            _ => Some(server),
        }
    }

    /// Of `fields`, those that no pending change touches.
    pub fn free_of<'f>(&self, fields: &'f [String]) -> Vec<&'f String> {
        match self {
            Pending::Nothing => fields.iter().collect(),
            Pending::Fields(mine) => fields.iter().filter(|f| !mine.contains(*f)).collect(),
            Pending::Whole => Vec::new(),
        }
    }
}

/// The fields an event changes, when it is an update that names them; `None` when it
/// changes the whole record (a create, a delete, a prisma-idb client's update).
pub fn field_scope(event: &OutboxEvent) -> Option<&[String]> {
    match event.op() {
        Some(Operation::Update) => event.changed_fields.as_deref(),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::{Timestamp, Todo};
    use uuid::Uuid;

    fn todo() -> Todo {
        Todo {
            id: Uuid::from_u128(7),
            title: "Milk".into(),
            description: None,
            is_completed: false,
            created_at: Timestamp::from_millis(0),
            board_id: Uuid::from_u128(1),
        }
    }

    fn event(operation: Operation, fields: Option<&[&str]>) -> OutboxEvent {
        let event = OutboxEvent::new(
            Uuid::new_v4(),
            operation,
            &todo().into(),
            Timestamp::from_millis(0),
        );
        match fields {
            Some(fields) => {
                event.with_changed_fields(fields.iter().map(|f| f.to_string()).collect())
            }
            None => event,
        }
    }

    #[test]
    fn the_pending_fields_are_the_union_of_the_pending_updates() {
        let title = event(Operation::Update, Some(&["title"]));
        let done = event(Operation::Update, Some(&["isCompleted", "title"]));
        let fields =
            |names: &[&str]| Pending::Fields(names.iter().map(|n| n.to_string()).collect());
        assert_eq!(Pending::of([&title]), fields(&["title"]));
        assert_eq!(
            Pending::of([&title, &done]),
            fields(&["isCompleted", "title"])
        );
        assert_eq!(Pending::of([]), Pending::Nothing);
        for whole in [
            event(Operation::Create, None),
            event(Operation::Delete, None),
            event(Operation::Update, None),
        ] {
            assert_eq!(Pending::of([&title, &whole]), Pending::Whole);
            assert_eq!(Pending::of([&whole, &done]), Pending::Whole);
        }
    }

    #[test]
    fn a_rebase_takes_the_servers_fields_but_the_pending_ones() {
        let local: Record = Todo {
            is_completed: true,
            ..todo()
        }
        .into();
        let server: Record = Todo {
            title: "Oat milk".into(),
            ..todo()
        }
        .into();
        let pending = Pending::of([&event(Operation::Update, Some(&["isCompleted"]))]);
        let Some(Record::Todo(rebased)) = pending.rebase(server.clone(), Some(&local)) else {
            panic!("a field-scoped pending change rebases");
        };
        assert!(rebased.is_completed, "the pending tick stays");
        assert_eq!(rebased.title, "Oat milk", "the server's rename lands");
        assert_eq!(Pending::Whole.rebase(server.clone(), Some(&local)), None);
        assert_eq!(
            Pending::Nothing.rebase(server.clone(), Some(&local)),
            Some(server.clone())
        );
        assert_eq!(pending.rebase(server.clone(), None), Some(server));
    }
}
