//! The field-level merge of updates (`changedFields`) over real HTTP, on SQLite and
//! PostgreSQL: an update that names the fields it changed is applied onto the record as
//! the server holds it, so two devices' edits of different fields both survive; edits
//! of the same field are decided by the change applied last; a record that is gone comes
//! back whole from the payload; an event without `changedFields` (a prisma-idb client's)
//! still replaces the whole record; and every client pulls the merged record.

mod support;

use serde_json::{json, Value};
use support::*;
use sync_protocol::{Board, Operation, PushErrorKind, PushResult, Record, Todo};
use uuid::Uuid;

on_both_backends!(
    edits_of_different_fields_on_two_devices_both_survive,
    the_same_field_edited_on_two_devices_is_decided_by_the_change_applied_last,
    an_update_naming_its_fields_of_a_record_that_is_gone_brings_it_back_whole,
    an_update_without_changed_fields_replaces_the_whole_record,
    bad_changed_fields_are_refused_with_a_message_and_the_batch_goes_on,
    two_updates_of_one_record_in_one_push_both_survive,
    the_entry_the_other_device_pulls_carries_the_merged_record,
    a_merged_todo_is_scope_checked_on_the_board_it_ends_up_on,
    a_user_update_naming_its_fields_takes_only_those,
);

/// A signed-up user with a board and a todo on it, stored.
struct Setup {
    server: TestServer,
    alice: Client,
    home: Board,
    milk: Todo,
}

impl Setup {
    async fn start(backend: Backend) -> Option<Setup> {
        let server = TestServer::start(backend).await?;
        let alice = server.user("alice").await;
        let home = board(alice.user_id(), "Home");
        let milk = todo(home.id, "Milk");
        alice.apply(&create(home.clone())).await;
        alice.apply(&create(milk.clone())).await;
        Some(Setup {
            server,
            alice,
            home,
            milk,
        })
    }

    /// The todo's row as the database holds it (read behind the server's back), None
    /// when there is none.
    async fn stored(&self, todo: &Todo) -> Option<String> {
        let prefix = format!("5:{}|", todo.id);
        self.server
            .db
            .snapshot()
            .await
            .into_iter()
            .find(|row| row.starts_with(&prefix))
    }

    /// [`Setup::stored`] of what `todo` would be as a row.
    fn row(&self, todo: &Todo) -> String {
        // A boolean as text: SQLite stores it as an integer.
        let completed = match self.server.db.backend {
            Backend::Sqlite => u8::from(todo.is_completed).to_string(),
            Backend::Postgres => todo.is_completed.to_string(),
        };
        format!(
            "5:{}|{}|{}|{}|{}|{}",
            todo.id,
            todo.title,
            todo.description.as_deref().unwrap_or("<null>"),
            completed,
            todo.created_at.as_millis(),
            todo.board_id
        )
    }

    /// Checks that the database holds `todo` and that a device pulling everything from
    /// scratch gets it.
    async fn assert_holds(&self, todo: &Todo) {
        assert_eq!(self.stored(todo).await, Some(self.row(todo)), "stored");
        let fresh = self.alice.clone();
        assert_eq!(
            fresh.pulled_record(todo.id).await,
            Some(json(todo)),
            "pulled"
        );
    }
}

fn json(todo: &Todo) -> Value {
    Record::Todo(todo.clone()).to_json()
}

fn ticked(todo: &Todo) -> Todo {
    Todo {
        is_completed: true,
        ..todo.clone()
    }
}

fn renamed(todo: &Todo, title: &str) -> Todo {
    Todo {
        title: title.to_string(),
        ..todo.clone()
    }
}

fn refusal(result: &PushResult) -> (PushErrorKind, &str) {
    let error = result
        .error
        .as_ref()
        .unwrap_or_else(|| panic!("{} should be refused", result.id));
    (error.kind, error.message.as_str())
}

/// The case: two devices offline; on one a todo is ticked, on the other renamed;
/// both come online. Both edits stay, whichever arrives first.
async fn edits_of_different_fields_on_two_devices_both_survive(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let (laptop, phone) = (setup.alice.clone(), setup.alice.clone());
    let milk = &setup.milk;
    // Each device made its edit on the todo as it was before either edit.
    laptop
        .apply(&update_fields(ticked(milk), &["isCompleted"]))
        .await;
    phone
        .apply(&update_fields(renamed(milk, "Oat milk"), &["title"]))
        .await;
    let both = ticked(&renamed(milk, "Oat milk"));
    setup.assert_holds(&both).await;

    // The other order: the rename arrives first.
    let eggs = todo(setup.home.id, "Eggs");
    setup.alice.apply(&create(eggs.clone())).await;
    phone
        .apply(&update_fields(renamed(&eggs, "Brown eggs"), &["title"]))
        .await;
    laptop
        .apply(&update_fields(ticked(&eggs), &["isCompleted"]))
        .await;
    setup
        .assert_holds(&ticked(&renamed(&eggs, "Brown eggs")))
        .await;
}

async fn the_same_field_edited_on_two_devices_is_decided_by_the_change_applied_last(
    backend: Backend,
) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let (laptop, phone) = (setup.alice.clone(), setup.alice.clone());
    let milk = &setup.milk;
    // The phone's rename was made first but reaches the server last: it wins, and the
    // laptop's tick (another field, sent with the laptop's rename) stays.
    let phone_event = update_fields(renamed(milk, "from the phone"), &["title"]);
    laptop
        .apply(&update_fields(
            ticked(&renamed(milk, "from the laptop")),
            &["title", "isCompleted"],
        ))
        .await;
    phone.apply(&phone_event).await;
    let expected = ticked(&renamed(milk, "from the phone"));
    setup.assert_holds(&expected).await;
    // Both devices converge on it.
    assert_eq!(laptop.pulled_record(milk.id).await, Some(json(&expected)));
    assert_eq!(phone.pulled_record(milk.id).await, Some(json(&expected)));
}

async fn an_update_naming_its_fields_of_a_record_that_is_gone_brings_it_back_whole(
    backend: Backend,
) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let alice = &setup.alice;
    let milk = &setup.milk;
    alice.apply(&delete(milk.clone())).await;
    assert_eq!(setup.stored(milk).await, None);
    // A device, offline during the delete, ticked it (and holds an older title): the
    // todo comes back as that device has it, not just its ticked field.
    let offline = ticked(&renamed(milk, "Milk, as the offline device had it"));
    alice
        .apply(&update_fields(offline.clone(), &["isCompleted"]))
        .await;
    setup.assert_holds(&offline).await;
    let ops: Vec<Operation> = alice
        .pull_all()
        .await
        .iter()
        .filter(|log| log.record_id() == Some(&milk.id.to_string()))
        .map(|log| log.operation)
        .collect();
    assert_eq!(
        ops,
        [Operation::Create, Operation::Delete, Operation::Update]
    );

    // A record the server never had is created whole too.
    let never = Todo {
        description: Some("never seen".into()),
        ..todo(setup.home.id, "New")
    };
    alice.apply(&update_fields(never.clone(), &["title"])).await;
    setup.assert_holds(&never).await;
}

/// Interop: a prisma-idb client sends no `changedFields`; its update replaces the whole
/// record, as it always did, even the fields another device changed since.
async fn an_update_without_changed_fields_replaces_the_whole_record(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let milk = &setup.milk;
    setup
        .alice
        .apply(&update_fields(ticked(milk), &["isCompleted"]))
        .await;
    let old_client = setup.alice.clone();
    let whole = renamed(milk, "Oat milk");
    old_client.apply(&update(whole.clone())).await;
    // The tick is gone: the whole record, as sent, is what the server holds.
    setup.assert_holds(&whole).await;
    // And the wire carried no changedFields at all.
    assert!(serde_json::to_value(update(whole))
        .unwrap()
        .get("changedFields")
        .is_none());
}

async fn bad_changed_fields_are_refused_with_a_message_and_the_batch_goes_on(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let alice = &setup.alice;
    let milk = &setup.milk;
    let new = todo(setup.home.id, "Bread");
    let fields = |event: sync_protocol::OutboxEvent, names: &[&str]| {
        event.with_changed_fields(names.iter().map(|name| name.to_string()).collect())
    };
    let before = alice.pull_all().await.len();
    let events = [
        fields(create(new.clone()), &["title"]),
        update_fields(ticked(milk), &["isCompleted"]),
        fields(delete(milk.clone()), &["title"]),
        update_fields(renamed(milk, "colour"), &["title", "color"]),
        update_fields(renamed(milk, "id"), &["id"]),
        update_fields(renamed(milk, "nul"), &["title\u{0}"]),
        // A board's field on a todo.
        update_fields(renamed(milk, "name"), &["name"]),
        create(todo(setup.home.id, "Eggs")),
    ];
    let results = alice.push(&events).await;
    let expected = [
        (1, None),
        (
            0,
            Some("changedFields is for updates only (this is a create)"),
        ),
        (
            2,
            Some("changedFields is for updates only (this is a delete)"),
        ),
        (
            3,
            Some("changedFields names `color`, which is not a field of Todo an update can change"),
        ),
        (
            4,
            Some("changedFields names `id`, which is not a field of Todo an update can change"),
        ),
        (
            5,
            Some(
                "changedFields names `title\\0`, which is not a field of Todo an update can \
                 change",
            ),
        ),
        (
            6,
            Some("changedFields names `name`, which is not a field of Todo an update can change"),
        ),
        (7, None),
    ];
    for (i, message) in expected {
        match message {
            None => assert!(results[i].error.is_none(), "{:?}", results[i]),
            Some(message) => {
                assert_eq!(
                    refusal(&results[i]),
                    (PushErrorKind::RecordValidationFailure, message),
                    "event {i}"
                );
                assert!(!results[i].error.as_ref().unwrap().retryable);
            }
        }
    }
    // The refusals send back the record as stored: the tick applied before them.
    let state = |i: usize| results[i].server_state.as_ref().unwrap().record.clone();
    assert_eq!(state(0), None);
    for i in 2..=6 {
        assert_eq!(state(i), Some(json(&ticked(milk))), "event {i}");
    }
    // Nothing of the refused events was written: the tick and the new todo only.
    assert_eq!(alice.pull_all().await.len(), before + 2);
    setup.assert_holds(&ticked(milk)).await;
    assert_eq!(setup.stored(&new).await, None);
}

/// A device keeps each update of a record as its own event, naming its own fields (the
/// union of what waits is worked out only to rebase a pull or undo a refusal), so one
/// push may carry several updates of one record: each takes its own fields onto the
/// result of the one before.
async fn two_updates_of_one_record_in_one_push_both_survive(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let milk = &setup.milk;
    let described = Todo {
        description: Some("the blue one".into()),
        ..milk.clone()
    };
    let results = setup
        .alice
        .push(&[
            update_fields(ticked(milk), &["isCompleted"]),
            update_fields(renamed(milk, "Oat milk"), &["title"]),
            update_fields(described, &["description"]),
        ])
        .await;
    assert!(results.iter().all(|r| r.error.is_none()), "{results:?}");
    let all = Todo {
        description: Some("the blue one".into()),
        ..ticked(&renamed(milk, "Oat milk"))
    };
    setup.assert_holds(&all).await;
}

/// What a device pulls after the other device's push (its realtime poke leads to this
/// pull): the entry of the other device's event, carrying the merged record.
async fn the_entry_the_other_device_pulls_carries_the_merged_record(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let (laptop, phone) = (setup.alice.clone(), setup.alice.clone());
    let milk = &setup.milk;
    laptop
        .apply(&update_fields(ticked(milk), &["isCompleted"]))
        .await;
    let cursor = laptop.pull(None, Some(1000)).await.cursor;
    let rename = update_fields(renamed(milk, "Oat milk"), &["title"]);
    phone.apply(&rename).await;
    let page = laptop.pull(cursor.as_deref(), None).await;
    assert_eq!(page.logs_with_records.len(), 1, "{page:?}");
    let entry = &page.logs_with_records[0];
    assert_eq!(entry.outbox_event_id, rename.id);
    assert_eq!(entry.operation, Operation::Update);
    assert_eq!(
        entry.record,
        Some(json(&ticked(&renamed(milk, "Oat milk"))))
    );
}

/// The scope rules judge the merged record: naming `boardId` moves the todo and is
/// checked like any move; a `boardId` that is not named is not taken from the payload;
/// someone else's todo stays out of reach and out of sight.
async fn a_merged_todo_is_scope_checked_on_the_board_it_ends_up_on(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let alice = &setup.alice;
    let milk = &setup.milk;
    let bob = setup.server.user("bob").await;
    let bobs = board(bob.user_id(), "Bob's");
    bob.apply(&create(bobs.clone())).await;
    let onto_bobs = Todo {
        board_id: bobs.id,
        ..renamed(milk, "Moved")
    };

    let results = alice
        .push(&[
            update_fields(onto_bobs.clone(), &["boardId"]),
            update_fields(
                Todo {
                    board_id: Uuid::new_v4(),
                    ..milk.clone()
                },
                &["boardId"],
            ),
        ])
        .await;
    assert_eq!(
        refusal(&results[0]),
        (
            PushErrorKind::ScopeViolation,
            "a todo can only be put on one of your own boards"
        )
    );
    assert_eq!(refusal(&results[1]).0, PushErrorKind::MissingParent);
    for result in &results {
        assert_eq!(
            result.server_state.as_ref().unwrap().record,
            Some(json(milk))
        );
    }
    setup.assert_holds(milk).await;

    // Only the title is named: the payload's board (Bob's) is not taken, the todo stays.
    alice.apply(&update_fields(onto_bobs, &["title"])).await;
    setup.assert_holds(&renamed(milk, "Moved")).await;

    // Naming boardId onto another board of her own moves it.
    let work = board(alice.user_id(), "Work");
    alice.apply(&create(work.clone())).await;
    let moved = Todo {
        board_id: work.id,
        ..renamed(milk, "Moved")
    };
    alice
        .apply(&update_fields(
            Todo {
                title: "not named".into(),
                ..moved.clone()
            },
            &["boardId"],
        ))
        .await;
    setup.assert_holds(&moved).await;

    // Bob cannot reach Alice's todo by naming fields, and learns nothing of it.
    let before = setup.server.db.snapshot().await;
    let results = bob
        .push(&[update_fields(
            Todo {
                board_id: bobs.id,
                ..ticked(milk)
            },
            &["isCompleted"],
        )])
        .await;
    assert_eq!(refusal(&results[0]).0, PushErrorKind::ScopeViolation);
    assert_eq!(results[0].server_state.as_ref().unwrap().record, None);
    assert_eq!(setup.server.db.snapshot().await, before);
}

/// The user record merges too: the profile fields named are taken; one the server
/// manages is refused when named with a change, and left alone when not named.
async fn a_user_update_naming_its_fields_takes_only_those(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let alice = &setup.alice;
    let mut user = alice.user().clone();
    user.name = "Alice A.".into();
    user.email = "stale@example.com".into();
    alice.apply(&update_fields(user.clone(), &["name"])).await;
    let pulled = alice.pulled_record(user.id).await.expect("the user record");
    assert_eq!(pulled["name"], json!("Alice A."));
    assert_eq!(pulled["email"], json!(alice.user().email));

    let results = alice.push(&[update_fields(user, &["email", "name"])]).await;
    assert_eq!(
        refusal(&results[0]),
        (
            PushErrorKind::RecordValidationFailure,
            "`email` is managed by the server and cannot be changed through sync"
        )
    );
}
