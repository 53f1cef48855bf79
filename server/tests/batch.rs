//! A batch applies exactly as its events would one push at a time: the same answer for
//! every event (applied with the same changelog id, or refused with the same error and
//! the same server state) and the same changelog and records afterwards. The server
//! sends a batch's writes together and falls back to a savepoint per event only on a
//! fault; this pins down that the shortcut changes nothing a client can see.

mod support;

use serde_json::Value;
use support::*;
use sync_protocol::{Board, Operation, OutboxEvent, Record, Timestamp, Todo};
use uuid::Uuid;

on_both_backends!(a_batch_answers_and_changes_what_its_events_would_one_by_one);

/// The records of one run: the same shapes under fresh ids for each user.
struct Ids {
    user: Uuid,
    boards: [Uuid; 2],
    todos: [Uuid; 4],
}

impl Ids {
    fn new(user: Uuid) -> Ids {
        Ids {
            user,
            boards: [Uuid::new_v4(), Uuid::new_v4()],
            todos: [(); 4].map(|_| Uuid::new_v4()),
        }
    }

    fn board(&self, i: usize, name: &str) -> Board {
        Board {
            id: self.boards[i],
            name: name.to_string(),
            created_at: Timestamp::from_millis(1_700_000_000_000),
            user_id: self.user,
        }
    }

    fn todo(&self, i: usize, board: usize, title: &str) -> Todo {
        Todo {
            id: self.todos[i],
            title: title.to_string(),
            description: Some(format!("about {title}")),
            is_completed: i.is_multiple_of(2),
            created_at: Timestamp::from_millis(1_700_000_000_000 + i as i64),
            board_id: self.boards[board],
        }
    }

    /// Every kind of step a batch can hold, in an order where later events depend on
    /// earlier ones of the same batch.
    fn script(&self) -> Vec<OutboxEvent> {
        let at = Timestamp::from_millis(1_700_000_000_000);
        let event =
            |operation, record: Record| OutboxEvent::new(Uuid::new_v4(), operation, &record, at);
        let (create, update, delete) = (Operation::Create, Operation::Update, Operation::Delete);
        // An update naming the fields it changed: merged onto the record as stored.
        let fields = |operation, record: Record, names: &[&str]| {
            event(operation, record)
                .with_changed_fields(names.iter().map(|name| name.to_string()).collect())
        };
        let mut flipped = self.todo(0, 0, "stale title");
        flipped.is_completed = !flipped.is_completed;
        let first = event(create, self.board(0, "Home").into());
        let mut empty_title = self.todo(2, 1, "x");
        empty_title.title = String::new();
        vec![
            first.clone(),
            event(create, self.todo(0, 0, "milk").into()),
            event(create, self.todo(1, 0, "eggs").into()),
            // The same id twice in a row.
            event(update, self.todo(0, 0, "oat milk").into()),
            // CUSTOM_VALIDATION_FAILED: the board just created has this name.
            event(create, self.board(1, " home ").into()),
            event(create, self.board(1, "Work").into()),
            event(create, self.todo(2, 1, "report").into()),
            event(delete, self.todo(1, 0, "eggs").into()),
            // Resurrection by its owner.
            event(update, self.todo(1, 0, "eggs again").into()),
            event(create, self.todo(3, 0, "bread").into()),
            // Takes the todos created above with it, an entry each.
            event(delete, self.board(0, "Home").into()),
            // MISSING_PARENT: its board went with the delete above.
            event(update, self.todo(3, 0, "bread").into()),
            // A replay of the first event: its changelog id again, nothing changes.
            first,
            event(update, self.todo(2, 1, "report, v2").into()),
            event(update, self.board(1, "Work 2").into()),
            // RECORD_VALIDATION_FAILURE, with the record as stored sent back.
            event(update, empty_title.into()),
            event(create, self.todo(3, 1, "bread, elsewhere").into()),
            event(create, self.board(0, "Home").into()),
            event(create, self.todo(0, 0, "milk, again").into()),
            // The same id twice at the end: the later change is what stays.
            event(update, self.todo(2, 1, "report, v3").into()),
            event(update, self.todo(2, 1, "report, v4").into()),
            // Field-level merges onto what this batch wrote just before: the tick keeps
            // the title "milk, again", the rename keeps the tick.
            fields(update, flipped.into(), &["isCompleted"]),
            fields(update, self.todo(0, 0, "milk, renamed").into(), &["title"]),
            // Moves the todo with its title "report, v4".
            fields(update, self.todo(2, 0, "not named").into(), &["boardId"]),
            // Gone with its board's delete above: comes back whole, on board 1.
            fields(
                update,
                self.todo(1, 1, "eggs, third life").into(),
                &["title"],
            ),
            // RECORD_VALIDATION_FAILURE: changedFields on a create.
            fields(create, self.todo(3, 1, "bread").into(), &["title"]),
            // CUSTOM_VALIDATION_FAILED: the merged name is that of board 0.
            fields(update, self.board(1, " home").into(), &["name"]),
        ]
    }

    /// `text` with this run's ids (and the events' ids) replaced by names, so that two
    /// runs can be compared.
    fn neutral(&self, events: &[OutboxEvent], text: String) -> String {
        let mut text = text.replace(&self.user.to_string(), "<user>");
        for (i, id) in self.boards.iter().enumerate() {
            text = text.replace(&id.to_string(), &format!("<board {i}>"));
        }
        for (i, id) in self.todos.iter().enumerate() {
            text = text.replace(&id.to_string(), &format!("<todo {i}>"));
        }
        for (i, event) in events.iter().enumerate() {
            text = text.replace(&event.id, &format!("<event {i}>"));
        }
        text
    }
}

async fn a_batch_answers_and_changes_what_its_events_would_one_by_one(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let (alice, bob) = (server.user("alice").await, server.user("bob").await);
    let (alice_ids, bob_ids) = (Ids::new(alice.user_id()), Ids::new(bob.user_id()));
    let (alice_events, bob_events) = (alice_ids.script(), bob_ids.script());

    let batched = alice.push(&alice_events).await;
    let mut single = Vec::new();
    for event in &bob_events {
        single.extend(bob.push(std::slice::from_ref(event)).await);
    }
    assert_eq!(batched.len(), alice_events.len());
    assert_eq!(single.len(), bob_events.len());
    // The script reaches every path it means to: refusals and applied events alike.
    let refused = single
        .iter()
        .filter(|result| result.error.is_some())
        .count();
    assert_eq!(refused, 5, "{single:#?}");

    let answers = |ids: &Ids, events: &[OutboxEvent], results: &[sync_protocol::PushResult]| {
        results
            .iter()
            .map(|result| ids.neutral(events, json_text(result)))
            .collect::<Vec<_>>()
    };
    assert_eq!(
        answers(&alice_ids, &alice_events, &batched),
        answers(&bob_ids, &bob_events, &single)
    );

    // The merges took only the fields they named, onto what the batch wrote before.
    let expected = [
        (0, "milk, renamed", false, "<board 0>"),
        (2, "report, v4", true, "<board 0>"),
        (1, "eggs, third life", false, "<board 1>"),
    ];
    for (i, title, done, board) in expected {
        let record = alice.pulled_record(alice_ids.todos[i]).await;
        let todo = record.expect("the todo is there");
        assert_eq!(
            (
                todo["title"].as_str(),
                todo["isCompleted"].as_bool(),
                alice_ids.neutral(&[], todo["boardId"].to_string())
            ),
            (Some(title), Some(done), format!("\"{board}\"")),
            "todo {i}"
        );
    }

    let alice_logs = neutral_logs(&alice_ids, &alice_events, alice.pull_all().await);
    let bob_logs = neutral_logs(&bob_ids, &bob_events, bob.pull_all().await);
    assert_eq!(alice_logs, bob_logs);
    // The board delete logged its three todos' deletes and its own, under its event.
    let cascade = alice_logs
        .iter()
        .find(|group| group.iter().all(|log| log.contains("<event 10>")))
        .expect("the board delete's entries");
    assert_eq!(cascade.len(), 4, "{alice_logs:#?}");
}

/// The changelog after the user's own record (whose email and times differ), numbered
/// 2, 3, ... without gaps, as each event's entries: a board delete logs its todos in
/// the order of their ids, which differ between runs, so an event's entries compare
/// as a set.
fn neutral_logs(
    ids: &Ids,
    events: &[OutboxEvent],
    logs: Vec<sync_protocol::LogWithRecord>,
) -> Vec<Vec<String>> {
    let mut groups: Vec<(String, Vec<String>)> = Vec::new();
    for (i, log) in logs.iter().skip(1).enumerate() {
        assert_eq!(
            log.id,
            format!("{:020}", i + 2),
            "entries are numbered in order"
        );
        let mut value = serde_json::to_value(log).expect("serialisable");
        let entry = value.as_object_mut().expect("an object");
        entry.remove("id");
        entry.remove("changelogId");
        let text = ids.neutral(events, value.to_string());
        match groups.last_mut() {
            Some((event, group)) if *event == log.outbox_event_id => group.push(text),
            _ => groups.push((log.outbox_event_id.clone(), vec![text])),
        }
    }
    groups
        .into_iter()
        .map(|(_, mut group)| {
            group.sort();
            group
        })
        .collect()
}

fn json_text(value: &impl serde::Serialize) -> String {
    let value: Value = serde_json::to_value(value).expect("serialisable");
    value.to_string()
}
