//! Store behaviour that must hold wherever the store runs: these cases are compiled
//! into a main-thread test binary and a dedicated-worker one.

use indexed_db_futures::prelude::*;
use sync_protocol::push::ServerState;
use sync_protocol::{
    LogWithRecord, Model, Operation, PullResponse, PushError, PushErrorKind, Timestamp,
};
use sync_worker::engine::{Epoch, Verdict};
use sync_worker::store::notify::{Change, ChangeListener, ChangeOrigin, CHANGES_CHANNEL};
use sync_worker::store::{schema, Account, LocalStore, StoreError, TodoEdit};
use uuid::Uuid;
use wasm_bindgen_test::wasm_bindgen_test;

#[path = "test_db.rs"]
mod test_db;
use test_db::TestDb;

fn now() -> Timestamp {
    Timestamp::from_millis(js_sys::Date::now() as i64)
}

#[wasm_bindgen_test]
async fn a_write_stores_the_record_and_its_event_together() {
    let db = TestDb::new().await;
    let board = db.store.create_board("Groceries").await.unwrap();
    let boards = db.store.boards_with_todos().await.unwrap();
    assert_eq!(boards.len(), 1);
    assert_eq!(boards[0].board, board);
    let outbox = db.store.outbox(10).await.unwrap();
    assert_eq!(outbox.len(), 1);
    let event = &outbox[0].event;
    assert_eq!(event.entity_type, "Board");
    assert_eq!(event.operation, "create");
    assert_eq!(event.payload, sync_protocol::Record::Board(board).to_json());
    assert_eq!(db.store.pending_count().await.unwrap(), 1);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_write_that_fails_part_way_leaves_neither_record_nor_event() {
    let db = TestDb::new().await;
    let board = db.store.create_board("Home").await.unwrap();
    db.store.create_todo(board.id, "Milk", None).await.unwrap();
    // Deleting the board removes its todo and the board, then appends the event; the
    // transaction fails after all of that.
    db.store.abort_next_write();
    let result = db.store.delete_board(board.id).await;
    assert!(matches!(result, Err(StoreError::Aborted(_))), "{result:?}");
    let boards = db.store.boards_with_todos().await.unwrap();
    assert_eq!(boards.len(), 1, "the board is still there");
    assert_eq!(boards[0].todos.len(), 1, "its todo is still there");
    let outbox = db.store.outbox(10).await.unwrap();
    assert_eq!(outbox.len(), 2, "no delete event was kept");
    assert!(outbox.iter().all(|e| e.event.operation == "create"));

    // An invalid change is refused before anything is written.
    let refused = db.store.rename_board(board.id, "   ").await;
    assert!(matches!(refused, Err(StoreError::InvalidData(_))));
    assert_eq!(db.store.outbox(10).await.unwrap().len(), 2);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn every_mutation_queues_the_full_record_after_the_change() {
    let db = TestDb::new().await;
    let board = db.store.create_board("Work").await.unwrap();
    let renamed = db.store.rename_board(board.id, "Office").await.unwrap();
    let todo = db
        .store
        .create_todo(board.id, " Call Bob ", Some("  "))
        .await
        .unwrap();
    assert_eq!(todo.title, "Call Bob");
    assert_eq!(todo.description, None);
    let toggled = db.store.toggle_todo(todo.id).await.unwrap();
    assert!(toggled.is_completed);
    let edited = db
        .store
        .edit_todo(
            todo.id,
            TodoEdit {
                title: "Call Bob back".into(),
                description: Some("about the invoice".into()),
            },
        )
        .await
        .unwrap();
    db.store.delete_todo(todo.id).await.unwrap();
    let profile = db.store.update_profile("Ada L.").await.unwrap();
    assert_eq!(profile.id, db.user.id);

    let mut outbox = db.store.outbox(50).await.unwrap();
    outbox.reverse(); // oldest first
    let summary: Vec<(String, String)> = outbox
        .iter()
        .map(|e| (e.event.entity_type.clone(), e.event.operation.clone()))
        .collect();
    let expected = [
        ("Board", "create"),
        ("Board", "update"),
        ("Todo", "create"),
        ("Todo", "update"),
        ("Todo", "update"),
        ("Todo", "delete"),
        ("User", "update"),
    ]
    .map(|(m, o)| (m.to_string(), o.to_string()));
    assert_eq!(summary, expected);
    assert_eq!(outbox[1].event.payload["name"], "Office");
    assert_eq!(
        outbox[1].event.payload,
        sync_protocol::Record::Board(renamed).to_json()
    );
    assert_eq!(outbox[4].event.payload["description"], "about the invoice");
    assert_eq!(
        outbox[5].event.payload,
        sync_protocol::Record::Todo(edited).to_json()
    );
    let seqs: Vec<u32> = outbox.iter().map(|e| e.seq).collect();
    assert!(
        seqs.windows(2).all(|w| w[0] < w[1]),
        "creation order: {seqs:?}"
    );
    db.finish().await;
}

/// Creates trust what the tab's previous change left (the next outbox number, the
/// account) and check it as they write; another tab writing in between must not make
/// two events share a number.
#[wasm_bindgen_test]
async fn a_create_after_another_tabs_write_takes_the_next_number() {
    let db = TestDb::new().await;
    let other_tab = LocalStore::open_named(&db.name).await.unwrap();
    let first = db.store.create_board("First").await.unwrap();
    other_tab.create_board("Second").await.unwrap();
    // Trusts that the next number is 2; the other tab took it.
    db.store.create_board("Third").await.unwrap();
    other_tab.create_todo(first.id, "a", None).await.unwrap();
    db.store.create_todo(first.id, "b", None).await.unwrap();
    let mut seqs: Vec<u32> = db
        .store
        .outbox(10)
        .await
        .unwrap()
        .iter()
        .map(|e| e.seq)
        .collect();
    seqs.sort_unstable();
    assert_eq!(seqs, [1, 2, 3, 4, 5], "one number per event");
    let boards = db.store.boards_with_todos().await.unwrap();
    let names: Vec<&str> = boards.iter().map(|b| b.board.name.as_str()).collect();
    assert_eq!(names, ["First", "Second", "Third"]);
    assert_eq!(boards[0].todos.len(), 2);
    other_tab.close();
    db.finish().await;
}

/// A tab that created a board under one account, while another tab signed in as
/// someone else, creates the next one under the new account, numbered from its outbox.
#[wasm_bindgen_test]
async fn a_create_after_another_tab_changed_the_account_is_the_new_accounts() {
    let db = TestDb::new().await;
    let other_tab = LocalStore::open_named(&db.name).await.unwrap();
    db.store.create_board("Ada's").await.unwrap();
    other_tab.clear_local_data().await.unwrap();
    let mut bob = db.user.clone();
    bob.id = Uuid::new_v4();
    bob.name = "Bob".into();
    other_tab
        .set_account(&Account {
            user: bob.clone(),
            token: "bob's token".into(),
        })
        .await
        .unwrap();
    let board = db.store.create_board("Bob's").await.unwrap();
    assert_eq!(
        board.user_id, bob.id,
        "made under the account signed in now"
    );
    let outbox = db.store.outbox(10).await.unwrap();
    let seqs: Vec<u32> = outbox.iter().map(|e| e.seq).collect();
    assert_eq!(
        seqs,
        [1],
        "only Bob's event, numbered from his empty outbox"
    );
    // And a todo on a board another tab deleted meanwhile is refused, not written.
    other_tab.delete_board(board.id).await.unwrap();
    let refused = db.store.create_todo(board.id, "late", None).await;
    assert!(
        matches!(refused, Err(StoreError::NotFound(_))),
        "{refused:?}"
    );
    assert_eq!(db.store.outbox(10).await.unwrap().len(), 2);
    other_tab.close();
    db.finish().await;
}

/// A tab that created a board, while another tab signed out, writes nothing: the
/// sign-out spent the stamp the tab's next create trusted (and clearing the data kept
/// its tombstone), so the create reads first and finds no account.
#[wasm_bindgen_test]
async fn a_create_after_another_tab_signed_out_is_refused_and_writes_nothing() {
    let db = TestDb::new().await;
    let other_tab = LocalStore::open_named(&db.name).await.unwrap();
    db.store.create_board("Ada's").await.unwrap();
    other_tab.clear_local_data().await.unwrap();
    let refused = db.store.create_board("Late").await;
    assert_eq!(refused, Err(StoreError::SignedOut));
    assert!(db.store.outbox(10).await.unwrap().is_empty());
    assert!(db.store.boards_with_todos().await.unwrap().is_empty());
    other_tab.close();
    db.finish().await;
}

#[wasm_bindgen_test]
async fn boards_and_todos_read_back_in_creation_order() {
    let db = TestDb::new().await;
    let first = db.store.create_board("First").await.unwrap();
    let second = db.store.create_board("Second").await.unwrap();
    for title in ["a", "b", "c"] {
        db.store.create_todo(second.id, title, None).await.unwrap();
    }
    let boards = db.store.boards_with_todos().await.unwrap();
    let names: Vec<&str> = boards.iter().map(|b| b.board.name.as_str()).collect();
    assert_eq!(names, ["First", "Second"]);
    let titles: Vec<&str> = boards[1].todos.iter().map(|t| t.title.as_str()).collect();
    assert_eq!(titles, ["a", "b", "c"]);
    assert!(boards[0].todos.is_empty());
    let one = db.store.board(first.id).await.unwrap().expect("exists");
    assert_eq!(one.board.name, "First");
    db.finish().await;
}

#[wasm_bindgen_test]
async fn batches_follow_creation_order_and_stop_at_an_event_that_must_wait() {
    let db = TestDb::new().await;
    for n in 0..5 {
        db.store.create_board(&format!("B{n}")).await.unwrap();
    }
    let batch = db.store.next_batch(3, |_| true).await.unwrap();
    let names: Vec<String> = batch
        .iter()
        .map(|e| e.payload["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["B0", "B1", "B2"]);
    // B1 waits (say, in backoff): nothing after it may overtake it.
    let held = db
        .store
        .next_batch(3, |e| e.payload["name"] != "B1")
        .await
        .unwrap();
    let names: Vec<&str> = held
        .iter()
        .map(|e| e.payload["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["B0"]);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn push_results_are_booked_and_a_rejection_rolls_back() {
    let db = TestDb::new().await;
    let kept = db.store.create_board("Kept").await.unwrap();
    let retried = db.store.create_board("Retried").await.unwrap();
    let rejected = db.store.create_board("Rejected").await.unwrap();
    let restored = db.store.create_board("Original name").await.unwrap();
    db.store
        .rename_board(restored.id, "Forbidden rename")
        .await
        .unwrap();
    let events = db.store.next_batch(10, |_| true).await.unwrap();
    let id_of = |name: &str| {
        events
            .iter()
            .find(|e| e.payload["name"] == name)
            .map(|e| e.id.clone())
            .unwrap()
    };
    let t = now();
    let applied = |id: String, changelog_id: &str| {
        (
            id,
            Verdict::Applied {
                changelog_id: changelog_id.into(),
            },
        )
    };
    db.store
        .book_verdicts(
            &db.epoch,
            &[
                applied(id_of("Kept"), "00000000000000000005"),
                applied(id_of("Original name"), "00000000000000000006"),
            ],
            t,
        )
        .await
        .unwrap();
    let mut server_copy = sync_protocol::Record::Board(restored.clone()).to_json();
    server_copy["name"] = "Server name".into();
    let changed = db
        .store
        .book_verdicts(
            &db.epoch,
            &[
                (
                    id_of("Retried"),
                    Verdict::Retry(PushError::new(PushErrorKind::UnknownError, "busy")),
                ),
                (
                    id_of("Rejected"),
                    Verdict::Rejected {
                        error: PushError::new(PushErrorKind::CustomValidationFailed, "taken"),
                        server_state: Some(ServerState { record: None }),
                    },
                ),
                (
                    id_of("Forbidden rename"),
                    Verdict::Rejected {
                        error: PushError::new(PushErrorKind::ScopeViolation, "no"),
                        server_state: Some(ServerState {
                            record: Some(server_copy),
                        }),
                    },
                ),
            ],
            t,
        )
        .await
        .unwrap();
    assert_eq!(
        changed.records(),
        [
            (Model::Board, rejected.id.to_string()),
            (Model::Board, restored.id.to_string())
        ],
        "the rolled-back records (one removed, one renamed back), and only they"
    );

    let outbox = db.store.outbox(10).await.unwrap();
    let find = |name: &str| {
        outbox
            .iter()
            .find(|e| e.event.payload["name"] == name)
            .unwrap()
            .event
            .clone()
    };
    assert!(find("Kept").synced);
    let retry = find("Retried");
    assert_eq!(
        (retry.tries, retry.retryable, retry.synced),
        (1, true, false)
    );
    assert_eq!(retry.last_error.as_deref(), Some("UNKNOWN_ERROR: busy"));
    let reject = find("Rejected");
    assert_eq!((reject.tries, reject.retryable), (1, false));
    assert_eq!(
        reject.last_error.as_deref(),
        Some("CUSTOM_VALIDATION_FAILED: taken")
    );

    let stats = db.store.outbox_stats().await.unwrap();
    assert_eq!(
        (stats.total, stats.pending, stats.failed, stats.synced),
        (5, 1, 2, 2)
    );
    assert_eq!(db.store.pending_count().await.unwrap(), 1);

    let boards = db.store.boards_with_todos().await.unwrap();
    let names: Vec<&str> = boards.iter().map(|b| b.board.name.as_str()).collect();
    assert!(
        !names.contains(&"Rejected"),
        "a rejected create is removed: {names:?}"
    );
    assert!(
        names.contains(&"Server name"),
        "a rejected update shows the server's state: {names:?}"
    );
    assert!(names.contains(&"Kept") && names.contains(&"Retried"));
    let _ = (kept, retried, rejected);
    let notices = refusal_notices(&db.store).await;
    assert_eq!(
        notices,
        [
            "Creating board \"Rejected\" was refused: taken",
            "Renaming board \"Original name\" to \"Forbidden rename\" was refused: no"
        ]
    );
    db.store.dismiss_refusal(&id_of("Rejected")).await.unwrap();
    assert_eq!(db.store.refusals().await.unwrap().len(), 1, "dismissed");
    db.finish().await;
}

fn entry(
    n: u64,
    model: &str,
    id: &str,
    operation: Operation,
    record: Option<serde_json::Value>,
) -> LogWithRecord {
    let changelog = format!("{n:020}");
    LogWithRecord {
        id: changelog.clone(),
        model: model.into(),
        key_path: vec![serde_json::json!(id)],
        operation,
        scope_key: "scope".into(),
        outbox_event_id: format!("remote-{n}"),
        record,
        changelog_id: changelog,
    }
}

#[wasm_bindgen_test]
async fn a_pulled_page_applies_with_its_cursor_and_respects_local_changes() {
    let db = TestDb::new().await;
    let mine = db.store.create_board("Mine, unpushed").await.unwrap();
    let remote_id = Uuid::new_v4();
    let remote = |name: &str| serde_json::json!({"id": remote_id, "name": name, "createdAt": "2026-01-01T00:00:00.000Z", "userId": db.user.id});
    let mut mine_on_server = sync_protocol::Record::Board(mine.clone()).to_json();
    mine_on_server["name"] = "Overwritten".into();
    let gone = Uuid::new_v4().to_string();
    let page = PullResponse {
        cursor: Some(format!("{:020}", 5)),
        logs_with_records: vec![
            entry(
                1,
                "Board",
                &remote_id.to_string(),
                Operation::Create,
                Some(remote("Remote v2")),
            ),
            entry(
                2,
                "Board",
                &mine.id.to_string(),
                Operation::Update,
                Some(mine_on_server),
            ),
            entry(3, "Board", &gone, Operation::Create, None),
            entry(
                4,
                "Card",
                &gone,
                Operation::Create,
                Some(serde_json::json!({})),
            ),
            entry(
                5,
                "Board",
                &Uuid::new_v4().to_string(),
                Operation::Create,
                Some(serde_json::json!({"id": 1})),
            ),
        ],
    };
    let stats = db.store.apply_pull(&db.epoch, &page).await.unwrap();
    assert_eq!(
        (
            stats.applied,
            stats.stale,
            stats.missing,
            stats.validation_errors
        ),
        (1, 1, 1, 2)
    );
    assert_eq!(stats.affected_models, ["Board"]);
    assert_eq!(
        db.store.cursor().await.unwrap().as_deref(),
        Some("00000000000000000005")
    );
    let names: Vec<String> = db
        .store
        .boards_with_todos()
        .await
        .unwrap()
        .into_iter()
        .map(|b| b.board.name)
        .collect();
    assert!(names.contains(&"Remote v2".to_string()));
    assert!(
        names.contains(&"Mine, unpushed".to_string()),
        "a pending local change is never clobbered"
    );

    // An older entry for the same record is stale; a newer one applies.
    let older = PullResponse {
        cursor: Some(format!("{:020}", 6)),
        logs_with_records: vec![entry(
            1,
            "Board",
            &remote_id.to_string(),
            Operation::Update,
            Some(remote("Remote v1")),
        )],
    };
    assert_eq!(
        db.store.apply_pull(&db.epoch, &older).await.unwrap().stale,
        1
    );
    let delete = PullResponse {
        cursor: Some(format!("{:020}", 7)),
        logs_with_records: vec![entry(
            7,
            "Board",
            &remote_id.to_string(),
            Operation::Delete,
            None,
        )],
    };
    assert_eq!(
        db.store
            .apply_pull(&db.epoch, &delete)
            .await
            .unwrap()
            .applied,
        1
    );
    let boards = db.store.boards_with_todos().await.unwrap();
    assert!(boards.iter().all(|b| b.board.id != remote_id));
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_page_that_fails_to_apply_keeps_the_old_cursor_and_data() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let board = serde_json::json!({"id": id, "name": "Remote", "createdAt": "2026-01-01T00:00:00.000Z", "userId": db.user.id});
    let page = PullResponse {
        cursor: Some(format!("{:020}", 9)),
        logs_with_records: vec![entry(
            9,
            "Board",
            &id.to_string(),
            Operation::Create,
            Some(board),
        )],
    };
    db.store.abort_next_write();
    assert!(db.store.apply_pull(&db.epoch, &page).await.is_err());
    assert_eq!(db.store.cursor().await.unwrap(), None);
    assert!(db.store.boards_with_todos().await.unwrap().is_empty());
    db.store.apply_pull(&db.epoch, &page).await.unwrap();
    assert_eq!(
        db.store.cursor().await.unwrap().as_deref(),
        Some("00000000000000000009")
    );
    assert_eq!(db.store.boards_with_todos().await.unwrap().len(), 1);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn acknowledged_changes_are_not_applied_again_when_pulled_back() {
    let db = TestDb::new().await;
    let board = db.store.create_board("Mine").await.unwrap();
    accept_next(&db, 3).await;
    let echo = PullResponse {
        cursor: Some(format!("{:020}", 3)),
        logs_with_records: vec![entry(
            3,
            "Board",
            &board.id.to_string(),
            Operation::Create,
            Some(sync_protocol::Record::Board(board).to_json()),
        )],
    };
    let stats = db.store.apply_pull(&db.epoch, &echo).await.unwrap();
    assert_eq!((stats.applied, stats.stale), (0, 1));
    db.finish().await;
}

/// A page of one entry: board `id` named `name`, as changelog entry `n`.
fn board_page(n: u64, id: Uuid, user: Uuid, name: &str) -> PullResponse {
    let board = serde_json::json!({"id": id, "name": name, "createdAt": "2026-01-01T00:00:00.000Z", "userId": user});
    PullResponse {
        cursor: Some(format!("{n:020}")),
        logs_with_records: vec![entry(
            n,
            "Board",
            &id.to_string(),
            Operation::Update,
            Some(board),
        )],
    }
}

/// Applies [`board_page`] of the test's own user under the test's epoch.
async fn pull_board(db: &TestDb, n: u64, id: Uuid, name: &str) -> sync_worker::messages::PullStats {
    db.store
        .apply_pull(&db.epoch, &board_page(n, id, db.user.id, name))
        .await
        .unwrap()
}

async fn board_name(db: &TestDb, id: Uuid) -> String {
    db.store.board(id).await.unwrap().unwrap().board.name
}

/// How many values the store `store` of the database `name` holds.
async fn count_in(name: &str, store: &str) -> u32 {
    let db = indexed_db_futures::database::Database::open(name)
        .await
        .unwrap();
    let tx = db.transaction(store).build().unwrap();
    let count = tx.object_store(store).unwrap().count().await.unwrap();
    drop(tx);
    db.close();
    count
}

/// A new device's first sync keeps no metadata for what it pulls (one write per
/// record); reading the changelog again from its start then takes nothing back.
#[wasm_bindgen_test]
async fn a_first_sync_writes_records_alone_and_a_replay_takes_nothing_back() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    for (n, name) in [(1, "First"), (2, "Second")] {
        let stats = pull_board(&db, n, id, name).await;
        assert_eq!(stats.applied, 1);
    }
    assert_eq!(count_in(&db.name, schema::VERSION_META).await, 0);
    let replayed = pull_board(&db, 1, id, "First").await;
    assert_eq!((replayed.applied, replayed.stale), (0, 1));
    assert_eq!(board_name(&db, id).await, "Second");
    db.finish().await;
}

// Pages after every applied changelog id skip the records' metadata; these pin down
// that they still decide as the metadata would.

#[wasm_bindgen_test]
async fn an_accepted_push_keeps_older_pulled_entries_of_its_record_stale() {
    let db = TestDb::new().await;
    // A first page: the store now keeps its applied bound (entry 1).
    let other = Uuid::new_v4();
    pull_board(&db, 1, other, "Other").await;
    let board = db.store.create_board("Mine").await.unwrap();
    accept_next(&db, 5).await;
    // Entry 3 comes after the last pulled one but before the accepted push (5).
    let stats = pull_board(&db, 3, board.id, "Older").await;
    assert_eq!((stats.applied, stats.stale), (0, 1));
    assert_eq!(board_name(&db, board.id).await, "Mine");
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_page_after_every_applied_entry_still_keeps_a_pending_change() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    pull_board(&db, 1, id, "Pulled").await;
    db.store.rename_board(id, "Renamed here").await.unwrap();
    let stats = pull_board(&db, 2, id, "Renamed there").await;
    // Applied as a rebase: the pending rename keeps its field (were the metadata skipped,
    // the pulled name would win).
    assert_eq!((stats.applied, stats.stale), (1, 0));
    assert_eq!(board_name(&db, id).await, "Renamed here");
    // With nothing pending, the next page applies (the fast path, which sees no metadata,
    // writes it as the slow one would: the entry after it applies too).
    accept_next(&db, 3).await;
    for (n, name) in [(4, "Fourth"), (5, "Fifth")] {
        let stats = pull_board(&db, n, id, name).await;
        assert_eq!(stats.applied, 1);
        assert_eq!(board_name(&db, id).await, name);
    }
    let stale = pull_board(&db, 4, id, "Fourth again").await;
    assert_eq!(stale.stale, 1, "the metadata the fast path wrote is there");
    db.finish().await;
}

/// A new database as a build of schema `version` made it (for upgrade tests).
async fn database_at_version(version: u32) -> String {
    let name = format!("test-{}", Uuid::new_v4());
    sync_worker::store::create_database_at_version(&name, version)
        .await
        .unwrap();
    name
}

/// Puts `values` into their stores of the database `name` (opened at `version`, or at its
/// current one) the way older builds wrote them: through serde-wasm-bindgen, which leaves
/// a `None` or a JSON null as an undefined property.
async fn write_as_an_older_build(
    name: &str,
    version: Option<u32>,
    values: &[(&str, serde_json::Value)],
) {
    let open = indexed_db_futures::database::Database::open(name);
    let db = match version {
        Some(version) => open.with_version(version).await,
        None => open.await,
    }
    .unwrap();
    let stores: Vec<&str> = values.iter().map(|(store, _)| *store).collect();
    let tx = db
        .transaction(stores)
        .with_mode(indexed_db_futures::transaction::TransactionMode::Readwrite)
        .build()
        .unwrap();
    for (store, value) in values {
        tx.object_store(store)
            .unwrap()
            .put(value)
            .serde()
            .unwrap()
            .await
            .unwrap();
    }
    tx.commit().await.unwrap();
    db.close();
}

#[wasm_bindgen_test]
async fn opening_a_version_2_database_works_out_the_applied_bound_from_its_metadata() {
    let name = database_at_version(2).await;
    let board_id = Uuid::new_v4();
    // What a build of schema version 2 left behind: a board whose metadata says
    // changelog entry 7 was applied to it (and no applied bound).
    let board = serde_json::json!({"id": board_id, "name": "Local", "createdAt": "2026-01-01T00:00:00.000Z", "userId": Uuid::nil()});
    let meta = serde_json::json!({"model": "Board", "key": board_id, "lastAppliedChangeId": format!("{:020}", 7), "localChangePending": false});
    write_as_an_older_build(
        &name,
        Some(2),
        &[(schema::BOARD, board), (schema::VERSION_META, meta)],
    )
    .await;
    let store = LocalStore::open_named(&name).await.expect("upgrades");
    let account = Account {
        user: sync_protocol::User {
            id: Uuid::nil(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            email_verified: false,
            image: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            is_anonymous: false,
        },
        token: "token".into(),
    };
    store.set_account(&account).await.unwrap();
    let epoch = Epoch {
        user_id: Uuid::nil(),
        token: "token".into(),
        term: store.claim_term().await.unwrap(),
    };
    let stats = store
        .apply_pull(&epoch, &board_page(5, board_id, Uuid::nil(), "Older"))
        .await
        .unwrap();
    assert_eq!((stats.applied, stats.stale), (0, 1), "entry 5 is before 7");
    assert_eq!(
        store.board(board_id).await.unwrap().unwrap().board.name,
        "Local"
    );
    let stats = store
        .apply_pull(&epoch, &board_page(8, board_id, Uuid::nil(), "Newer"))
        .await
        .unwrap();
    assert_eq!(stats.applied, 1);
    store.close();
    LocalStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn no_write_lands_under_a_stale_epoch() {
    let db = TestDb::new().await;
    let id = Uuid::new_v4();
    let board = serde_json::json!({"id": id, "name": "Remote", "createdAt": "2026-01-01T00:00:00.000Z", "userId": db.user.id});
    let page = PullResponse {
        cursor: Some(format!("{:020}", 4)),
        logs_with_records: vec![entry(
            4,
            "Board",
            &id.to_string(),
            Operation::Create,
            Some(board),
        )],
    };
    // Another worker took the lead: this cycle's page must not land.
    db.store.claim_term().await.unwrap();
    assert_eq!(
        db.store.apply_pull(&db.epoch, &page).await,
        Err(StoreError::StaleEpoch)
    );
    assert_eq!(db.store.cursor().await.unwrap(), None);
    // Signed out (and the term kept): a late page of the old session lands nowhere.
    let current = Epoch {
        term: db.epoch.term + 1,
        ..db.epoch.clone()
    };
    db.store.clear_local_data().await.unwrap();
    assert_eq!(
        db.store.apply_pull(&current, &page).await,
        Err(StoreError::StaleEpoch)
    );
    assert_eq!(db.store.cursor().await.unwrap(), None);
    assert!(db.store.boards_with_todos().await.unwrap().is_empty());
    assert_eq!(
        db.store.claim_term().await.unwrap(),
        current.term + 1,
        "the term survives sign-out"
    );
    db.finish().await;
}

#[wasm_bindgen_test]
async fn signing_in_again_keeps_an_unpushed_change_of_the_user() {
    let db = TestDb::new().await;
    db.store.update_profile("Ada Lovelace").await.unwrap();
    db.store
        .set_account(&Account {
            user: db.user.clone(),
            token: "new token".into(),
        })
        .await
        .unwrap();
    let db_handle = &db.store;
    let stats = db_handle.outbox_stats().await.unwrap();
    assert_eq!(stats.pending, 1);
    let batch = db.store.next_batch(1, |_| true).await.unwrap();
    assert_eq!(batch[0].payload["name"], "Ada Lovelace");
    // The page reads the user from its store: still the local name.
    let user = db.store.user(db.user.id).await.unwrap().unwrap();
    assert_eq!(user.name, "Ada Lovelace");
    db.finish().await;
}

#[wasm_bindgen_test]
async fn old_synced_events_are_cleared() {
    let db = TestDb::new().await;
    db.store.create_board("Old").await.unwrap();
    db.store.create_board("Unsynced").await.unwrap();
    let old = db.store.next_batch(1, |_| true).await.unwrap().remove(0);
    let ten_days_ago = Timestamp::from_millis(now().as_millis() - 10 * 86_400_000);
    let verdict = Verdict::Applied {
        changelog_id: "00000000000000000001".into(),
    };
    db.store
        .book_verdicts(&db.epoch, &[(old.id, verdict)], ten_days_ago)
        .await
        .unwrap();
    assert_eq!(db.store.clear_synced_older_than(7, now()).await.unwrap(), 1);
    let left = db.store.outbox(10).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(left[0].event.payload["name"], "Unsynced");
    db.finish().await;
}

#[wasm_bindgen_test]
async fn opening_a_version_1_database_keeps_its_data() {
    // What a build of schema version 1 left behind: a board and its pending event.
    let name = database_at_version(1).await;
    let board_id = Uuid::new_v4();
    let board = serde_json::json!({"id": board_id, "name": "From v1", "createdAt": "2025-06-01T00:00:00.000Z", "userId": Uuid::nil()});
    let event = serde_json::json!({
        "id": Uuid::new_v4(), "entityType": "Board", "operation": "create", "payload": board,
        "createdAt": "2025-06-01T00:00:00.000Z", "tries": 0, "lastError": null, "synced": false,
        "syncedAt": null, "retryable": true, "lastAttemptedAt": null,
        "seq": 1, "queue": 1, "pendingRecord": ["Board", board_id]
    });
    write_as_an_older_build(
        &name,
        Some(1),
        &[(schema::BOARD, board), (schema::OUTBOX, event)],
    )
    .await;
    let store = LocalStore::open_named(&name).await.expect("upgrades");
    assert_eq!(
        store.board(board_id).await.unwrap().unwrap().board.name,
        "From v1"
    );
    assert_eq!(store.pending_count().await.unwrap(), 1);
    assert_eq!(
        store.cursor().await.unwrap(),
        None,
        "the new Meta store exists and is empty"
    );
    store.close();
    LocalStore::delete_database(&name).await.unwrap();
}

/// The notices of the refusals `store` shows, oldest first.
async fn refusal_notices(store: &LocalStore) -> Vec<String> {
    let refusals = store.refusals().await.unwrap();
    refusals
        .iter()
        .filter_map(|entry| entry.refusal_notice())
        .collect()
}

/// Takes the next waiting event and books the server's acceptance of it as changelog
/// entry `n`.
async fn accept_next(db: &TestDb, n: u64) {
    let event = db.store.next_batch(1, |_| true).await.unwrap().remove(0);
    let verdict = Verdict::Applied {
        changelog_id: format!("{n:020}"),
    };
    db.store
        .book_verdicts(&db.epoch, &[(event.id, verdict)], now())
        .await
        .unwrap();
}

/// The applied bound as the database `name` keeps it (None: not kept).
async fn kept_applied_bound(name: &str) -> Option<String> {
    let db = indexed_db_futures::database::Database::open(name)
        .await
        .unwrap();
    let tx = db.transaction(schema::META).build().unwrap();
    let value: Option<serde_json::Value> = tx
        .object_store(schema::META)
        .unwrap()
        .get("appliedBound")
        .serde()
        .unwrap()
        .await
        .unwrap();
    drop(tx);
    db.close();
    value.and_then(|value| value.as_str().map(str::to_string))
}

/// Working the applied bound out reads every record's metadata: the first booking that
/// needs it keeps it, even when it raises nothing (its own id is what it worked out).
#[wasm_bindgen_test]
async fn the_first_booking_keeps_the_applied_bound_it_worked_out() {
    let db = TestDb::new().await;
    db.store.create_board("Mine").await.unwrap();
    assert_eq!(kept_applied_bound(&db.name).await, None);
    accept_next(&db, 3).await;
    assert_eq!(
        kept_applied_bound(&db.name).await,
        Some(format!("{:020}", 3))
    );
    db.finish().await;
}

/// The names of the boards whose events wait to be pushed, in order.
async fn waiting(db: &TestDb) -> Vec<String> {
    let batch = db.store.next_batch(50, |_| true).await.unwrap();
    batch
        .iter()
        .map(|event| event.payload["name"].as_str().unwrap().to_string())
        .collect()
}

#[wasm_bindgen_test]
async fn reads_of_the_waiting_events_from_the_queue_floor_skip_none_of_them() {
    let db = TestDb::new().await;
    let first = db.store.create_board("A").await.unwrap();
    db.store.create_board("B").await.unwrap();
    db.store.create_board("C").await.unwrap();
    let batch = db.store.next_batch(50, |_| true).await.unwrap();
    let applied = |n: u64| Verdict::Applied {
        changelog_id: format!("{n:020}"),
    };
    let retry = Verdict::Retry(PushError::new(PushErrorKind::UnknownError, "later"));
    // B must come again; C, after it, is done: the floor may rise to B, not past it.
    let verdicts = [
        (batch[0].id.clone(), applied(1)),
        (batch[1].id.clone(), retry),
        (batch[2].id.clone(), applied(2)),
    ];
    db.store
        .book_verdicts(&db.epoch, &verdicts, now())
        .await
        .unwrap();
    assert_eq!(waiting(&db).await, ["B"]);
    assert_eq!(db.store.pending_count().await.unwrap(), 1);
    db.store.create_board("D").await.unwrap();
    assert_eq!(waiting(&db).await, ["B", "D"]);

    let batch = db.store.next_batch(50, |_| true).await.unwrap();
    let verdicts: Vec<_> = batch
        .iter()
        .zip(3..)
        .map(|(event, n)| (event.id.clone(), applied(n)))
        .collect();
    db.store
        .book_verdicts(&db.epoch, &verdicts, now())
        .await
        .unwrap();
    assert!(waiting(&db).await.is_empty());
    assert_eq!(db.store.pending_count().await.unwrap(), 0);

    // Clearing synced events takes the newest numbers with it, and the next change
    // (a rename reads the outbox first) numbers its event 1 again, below the floor.
    let later = Timestamp::from_millis(now().as_millis() + 60_000);
    assert_eq!(db.store.clear_synced_older_than(0, later).await.unwrap(), 4);
    db.store.rename_board(first.id, "A again").await.unwrap();
    assert_eq!(waiting(&db).await, ["A again"]);
    assert_eq!(db.store.pending_count().await.unwrap(), 1);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn opening_a_version_4_database_lists_the_refusals_it_holds() {
    let name = database_at_version(4).await;
    // What a build of schema version 4 left behind: a refusal still shown, one the
    // person dismissed and a synced event. Version 5 indexes the first from its field.
    let event = |seq: u32, name: &str, synced: bool, refused: Option<u32>| {
        let id = Uuid::new_v4();
        let mut event = serde_json::json!({
            "id": Uuid::new_v4(), "entityType": "Board", "operation": "create",
            "payload": {"id": id, "name": name, "createdAt": "2026-06-01T00:00:00.000Z", "userId": Uuid::nil()},
            "createdAt": "2026-06-01T00:00:00.000Z", "tries": 1, "synced": synced,
            "retryable": false, "lastError": null, "syncedAt": null, "lastAttemptedAt": null,
            "seq": seq, "summary": format!("Creating board {name:?}"),
        });
        if synced {
            event["syncedAt"] = "2026-06-01T00:00:01.000Z".into();
            event["syncedAtMs"] = 1_780_272_001_000u64.into();
        } else {
            event["lastError"] = "CUSTOM_VALIDATION_FAILED: taken".into();
        }
        if let Some(refused) = refused {
            event["refused"] = refused.into();
        }
        (schema::OUTBOX, event)
    };
    write_as_an_older_build(
        &name,
        Some(4),
        &[
            event(1, "Shown", false, Some(1)),
            event(2, "Dismissed", false, None),
            event(3, "Synced", true, None),
        ],
    )
    .await;
    let store = LocalStore::open_named(&name).await.expect("upgrades");
    let notices = refusal_notices(&store).await;
    assert_eq!(notices, ["Creating board \"Shown\" was refused: taken"]);
    store.close();
    LocalStore::delete_database(&name).await.unwrap();
}

/// Version 5 kept the stamp under a key of its own, and tombstones holding `true`;
/// version 6 keeps the stamp in the newest tombstone. Opening clears what version 5 left:
/// kept, its tombstone would sort last and hold no stamp, and the second change would
/// fail as outdated.
#[wasm_bindgen_test]
async fn opening_a_version_5_database_clears_its_stamps_and_changes_go_on() {
    let name = database_at_version(5).await;
    let db = indexed_db_futures::database::Database::open(&name)
        .with_version(5u32)
        .await
        .unwrap();
    let tx = db
        .transaction(schema::META)
        .with_mode(indexed_db_futures::transaction::TransactionMode::Readwrite)
        .build()
        .unwrap();
    let meta = tx.object_store(schema::META).unwrap();
    let (spent, stamp) = ("001780272000000:aa", "001780272000001:bb");
    meta.put(stamp).with_key("stamp").await.unwrap();
    meta.put(true)
        .with_key(format!("~spent:{spent}"))
        .await
        .unwrap();
    tx.commit().await.unwrap();
    db.close();

    let store = LocalStore::open_named(&name).await.expect("upgrades");
    let account = Account {
        user: test_db::user(),
        token: "token".into(),
    };
    store.set_account(&account).await.unwrap();
    let other_tab = LocalStore::open_named(&name).await.unwrap();
    store.create_board("First").await.unwrap();
    other_tab.create_board("Second").await.unwrap();
    // Trusts its stamp, which the other tab spent: reads, and takes the next number.
    store.create_board("Third").await.unwrap();
    let names: Vec<String> = store
        .outbox(10)
        .await
        .unwrap()
        .iter()
        .map(|entry| entry.event.payload["name"].as_str().unwrap().to_string())
        .collect();
    assert_eq!(names, ["Third", "Second", "First"], "newest first");
    other_tab.close();
    store.close();
    LocalStore::delete_database(&name).await.unwrap();
}

#[wasm_bindgen_test]
async fn other_listeners_hear_about_committed_changes() {
    let db = TestDb::new().await;
    let heard = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = std::rc::Rc::clone(&heard);
    let _listener = ChangeListener::new(move |change| sink.borrow_mut().push(change)).unwrap();
    db.store.create_board("Shared").await.unwrap();
    wait_until(|| !heard.borrow().is_empty()).await;
    let heard = heard.borrow().clone();
    assert!(
        heard
            .iter()
            .any(|c| c.models.contains(&Model::Board) && c.origin == ChangeOrigin::Local),
        "{heard:?}"
    );
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_separate_context_hears_about_committed_changes() {
    use wasm_bindgen::JsCast;
    // The other context: a plain worker that relays what it hears on the channel.
    let script = format!(
        "const channel = new BroadcastChannel({CHANGES_CHANNEL:?});
         channel.onmessage = (event) => postMessage(event.data);
         postMessage('ready');"
    );
    let options = web_sys::BlobPropertyBag::new();
    options.set_type("text/javascript");
    let parts = js_sys::Array::of1(&script.into());
    let blob = web_sys::Blob::new_with_str_sequence_and_options(&parts, &options).unwrap();
    let url = web_sys::Url::create_object_url_with_blob(&blob).unwrap();
    let worker = web_sys::Worker::new(&url).unwrap();
    let heard = std::rc::Rc::new(std::cell::RefCell::new(Vec::<String>::new()));
    let sink = std::rc::Rc::clone(&heard);
    let on_message = wasm_bindgen::closure::Closure::<dyn FnMut(web_sys::MessageEvent)>::new(
        move |event: web_sys::MessageEvent| {
            sink.borrow_mut()
                .push(event.data().as_string().unwrap_or_default());
        },
    );
    worker.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
    wait_until(|| heard.borrow().iter().any(|m| m == "ready")).await;

    let db = TestDb::new().await;
    heard.borrow_mut().clear();
    db.store.create_board("Heard elsewhere").await.unwrap();
    wait_until(|| heard.borrow().iter().any(|m| m.contains("\"Board\""))).await;
    let notices = heard.borrow().clone();
    assert!(
        notices
            .iter()
            .any(|m| m.contains("\"Board\"") && m.contains("\"local\"")),
        "{notices:?}"
    );
    worker.terminate();
    db.finish().await;
}

/// Waits up to four seconds for `check` to hold; the caller asserts what it needs.
async fn wait_until(check: impl Fn() -> bool) {
    for _ in 0..200 {
        if check() {
            return;
        }
        gloo_timers::future::TimeoutFuture::new(20).await;
    }
}

#[wasm_bindgen_test]
async fn an_upgrade_elsewhere_closes_this_connection_instead_of_blocking() {
    let db = TestDb::new().await;
    // Another context opens the same database at a newer version.
    let newer = indexed_db_futures::database::Database::open(db.name.as_str())
        .with_version(schema::VERSION + 1)
        .await
        .expect("the upgrade is not blocked by our open connection");
    let result = db.store.pending_count().await;
    assert_eq!(result, Err(StoreError::VersionChanged));
    newer.close();
    LocalStore::delete_database(&db.name).await.unwrap();
}

/// Every notice this context posts, as `store.watch` delivers them.
fn watch_notices(
    store: &LocalStore,
) -> (
    std::rc::Rc<std::cell::RefCell<Vec<Change>>>,
    Option<ChangeListener>,
) {
    let heard = std::rc::Rc::new(std::cell::RefCell::new(Vec::new()));
    let sink = std::rc::Rc::clone(&heard);
    let watch = store.watch(move |change| sink.borrow_mut().push(change.clone()));
    (heard, watch)
}

fn named(change: &Change, model: Model) -> Vec<String> {
    let records = change.records.as_ref().expect("records are listed");
    records
        .iter()
        .filter(|record| record.model == model)
        .map(|record| record.id.clone())
        .collect()
}

/// A context hears its own notice directly, by the time the write has committed, and
/// once: the copy the channel brings back is skipped.
#[wasm_bindgen_test]
async fn a_context_hears_its_own_notice_at_once_and_once() {
    let db = TestDb::new().await;
    let (heard, watch) = watch_notices(&db.store);
    let board = db.store.create_board("Groceries").await.unwrap();
    assert_eq!(heard.borrow().len(), 1, "heard as the write committed");
    assert_eq!(
        named(&heard.borrow()[0], Model::Board),
        [board.id.to_string()]
    );
    // Long enough for the channel's copy to arrive, had it not been skipped.
    gloo_timers::future::TimeoutFuture::new(200).await;
    assert_eq!(heard.borrow().len(), 1, "{:?}", heard.borrow());
    drop(watch);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_change_notice_names_exactly_the_records_it_touched() {
    let db = TestDb::new().await;
    let (heard, watch) = watch_notices(&db.store);
    let board = db.store.create_board("Groceries").await.unwrap();
    let milk = db.store.create_todo(board.id, "Milk", None).await.unwrap();
    let eggs = db.store.create_todo(board.id, "Eggs", None).await.unwrap();
    db.store.delete_board(board.id).await.unwrap();
    // A page hears its own writes too (directly, not through the channel).
    wait_until(|| heard.borrow().len() >= 4).await;
    let notices = heard.borrow().clone();
    assert_eq!(notices.len(), 4, "{notices:?}");
    assert!(notices.iter().all(|c| c.origin == ChangeOrigin::Local));
    assert_eq!(named(&notices[0], Model::Board), [board.id.to_string()]);
    assert!(named(&notices[0], Model::Todo).is_empty());
    assert_eq!(named(&notices[1], Model::Todo), [milk.id.to_string()]);
    let mut deleted = named(&notices[3], Model::Todo);
    deleted.sort();
    let mut expected = vec![milk.id.to_string(), eggs.id.to_string()];
    expected.sort();
    assert_eq!(deleted, expected, "the board's todos went with it");
    assert_eq!(named(&notices[3], Model::Board), [board.id.to_string()]);

    // A pulled page names what it applied, and nothing it skipped.
    let remote = Uuid::new_v4();
    let page = PullResponse {
        cursor: Some(format!("{:020}", 2)),
        logs_with_records: vec![
            entry(
                1,
                "Board",
                &remote.to_string(),
                Operation::Create,
                Some(
                    serde_json::json!({"id": remote, "name": "Remote", "createdAt": "2026-01-01T00:00:00.000Z", "userId": db.user.id}),
                ),
            ),
            entry(
                2,
                "Board",
                &Uuid::new_v4().to_string(),
                Operation::Create,
                None,
            ),
        ],
    };
    db.store.apply_pull(&db.epoch, &page).await.unwrap();
    wait_until(|| heard.borrow().len() >= 5).await;
    let last = heard.borrow().last().cloned().unwrap();
    assert_eq!(last.origin, ChangeOrigin::Sync);
    assert_eq!(named(&last, Model::Board), [remote.to_string()]);

    // Signing out touches everything: no list, every model.
    db.store.clear_local_data().await.unwrap();
    wait_until(|| heard.borrow().len() >= 6).await;
    let last = heard.borrow().last().cloned().unwrap();
    assert_eq!(last.records, None);
    assert_eq!(last.models, Model::ALL);

    drop(watch);
    db.store.create_board("Unheard").await.ok();
    // Give a stray delivery the time to arrive (the channel delivers within a task).
    gloo_timers::future::TimeoutFuture::new(100).await;
    assert_eq!(heard.borrow().len(), 6, "a dropped watch hears nothing");
    db.finish().await;
}

#[wasm_bindgen_test]
async fn records_are_read_back_by_id_and_gone_ones_say_so() {
    let db = TestDb::new().await;
    let board = db.store.create_board("Trip").await.unwrap();
    let other = db.store.create_board("Chores").await.unwrap();
    let todo = db
        .store
        .create_todo(board.id, "Passport", None)
        .await
        .unwrap();
    let missing = Uuid::new_v4().to_string();
    // Only the last request is awaited: the others' answers come back in order, a
    // missing one in the middle or at the end as None.
    let read = db
        .store
        .records_by_id(
            &[],
            &[
                board.id.to_string(),
                missing.clone(),
                other.id.to_string(),
                missing.clone(),
            ],
            &[todo.id.to_string()],
        )
        .await
        .unwrap();
    assert_eq!(
        read.boards,
        [
            (board.id.to_string(), Some(board.clone())),
            (missing.clone(), None),
            (other.id.to_string(), Some(other.clone())),
            (missing, None)
        ]
    );
    assert_eq!(read.todos, [(todo.id.to_string(), Some(todo.clone()))]);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_board_shared_with_the_account_is_read_with_its_owners_profile() {
    let db = TestDb::new().await;
    let mine = db.store.create_board("Mine").await.unwrap();
    // What joining a board sends a member: the owner's public profile, the board (its
    // userId the owner's) and its todos.
    let owner = Uuid::new_v4();
    let shared = Uuid::new_v4();
    let todo = Uuid::new_v4();
    let page = PullResponse {
        cursor: Some(format!("{:020}", 3)),
        logs_with_records: vec![
            entry(
                1,
                "User",
                &owner.to_string(),
                Operation::Create,
                Some(serde_json::json!({
                    "id": owner, "name": "Alice", "email": "alice@example.com", "emailVerified": false,
                    "image": null, "createdAt": "2026-01-01T00:00:00.000Z",
                    "updatedAt": "2026-01-01T00:00:00.000Z", "isAnonymous": false
                })),
            ),
            entry(
                2,
                "Board",
                &shared.to_string(),
                Operation::Create,
                Some(serde_json::json!({
                    "id": shared, "name": "Trip", "createdAt": "2026-01-01T00:00:00.000Z", "userId": owner
                })),
            ),
            entry(
                3,
                "Todo",
                &todo.to_string(),
                Operation::Create,
                Some(serde_json::json!({
                    "id": todo, "title": "Tickets", "description": null, "isCompleted": false,
                    "createdAt": "2026-01-01T00:00:01.000Z", "boardId": shared
                })),
            ),
        ],
    };
    assert_eq!(
        db.store.apply_pull(&db.epoch, &page).await.unwrap().applied,
        3
    );
    let snapshot = db.store.boards_snapshot().await.unwrap();
    assert_eq!(snapshot.account, Some(db.user.id));
    let boards: Vec<(&str, usize)> = snapshot
        .boards
        .iter()
        .map(|b| (b.board.name.as_str(), b.todos.len()))
        .collect();
    assert_eq!(
        boards,
        [("Trip", 1), ("Mine", 0)],
        "own and shared, in creation order"
    );
    let mut people: Vec<&str> = snapshot.users.iter().map(|u| u.name.as_str()).collect();
    people.sort_unstable();
    assert_eq!(people, [db.user.name.as_str(), "Alice"]);
    // The owner's profile is not mistaken for the account.
    assert_eq!(db.store.account().await.unwrap().unwrap().user, db.user);

    let read = db
        .store
        .records_by_id(&[owner.to_string()], &[mine.id.to_string()], &[])
        .await
        .unwrap();
    assert_eq!(read.account, Some(db.user.id));
    assert_eq!(
        read.users[0].1.as_ref().map(|u| u.email.as_str()),
        Some("alice@example.com")
    );
    assert_eq!(read.boards[0].1.as_ref(), Some(&mine));

    // Removed from the board: the pulled deletes take it, its todo and the profile away.
    let removal = PullResponse {
        cursor: Some(format!("{:020}", 6)),
        logs_with_records: vec![
            entry(4, "Todo", &todo.to_string(), Operation::Delete, None),
            entry(5, "Board", &shared.to_string(), Operation::Delete, None),
            entry(6, "User", &owner.to_string(), Operation::Delete, None),
        ],
    };
    db.store.apply_pull(&db.epoch, &removal).await.unwrap();
    let snapshot = db.store.boards_snapshot().await.unwrap();
    assert_eq!(snapshot.boards.len(), 1);
    assert_eq!(snapshot.users.len(), 1);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn boards_read_whole_across_read_chunks() {
    let db = TestDb::new().await;
    let board = db.store.create_board("Big").await.unwrap();
    let other = db.store.create_board("Small").await.unwrap();
    // 2,500 todos (more than two read chunks) arrive as pulled pages of 100.
    let mut n = 0u64;
    for page_index in 0..25 {
        let logs_with_records = (0..100)
            .map(|i| {
                n += 1;
                let on = if i == 0 { &other } else { &board };
                let id = Uuid::new_v4();
                entry(
                    n,
                    "Todo",
                    &id.to_string(),
                    Operation::Create,
                    Some(serde_json::json!({
                        "id": id, "title": format!("todo {n}"), "description": null,
                        "isCompleted": false, "boardId": on.id,
                        "createdAt": Timestamp::from_millis(n as i64).to_string(),
                    })),
                )
            })
            .collect();
        let page = PullResponse {
            cursor: Some(format!("{:020}", (page_index + 1) * 100)),
            logs_with_records,
        };
        let stats = db.store.apply_pull(&db.epoch, &page).await.unwrap();
        assert_eq!(stats.applied, 100);
    }
    let boards = db.store.boards_with_todos().await.unwrap();
    let counts: Vec<(String, usize)> = boards
        .iter()
        .map(|b| (b.board.name.clone(), b.todos.len()))
        .collect();
    assert_eq!(
        counts,
        [("Big".to_string(), 2475), ("Small".to_string(), 25)]
    );
    let big = &boards[0].todos;
    assert!(
        big.windows(2).all(|w| w[0].created_at <= w[1].created_at),
        "todos in creation order"
    );
    db.finish().await;
}

/// The todo of a fresh board, both created here and acknowledged by the server
/// (changelog 1 and 2), so that what follows are updates of a synced record.
async fn synced_todo(db: &TestDb) -> sync_protocol::Todo {
    let board = db.store.create_board("Home").await.unwrap();
    let todo = db.store.create_todo(board.id, "Milk", None).await.unwrap();
    let creates = db.store.next_batch(10, |_| true).await.unwrap();
    let verdicts: Vec<(String, Verdict)> = creates
        .iter()
        .zip(1..)
        .map(|(event, n)| {
            let changelog_id = format!("{n:020}");
            (event.id.clone(), Verdict::Applied { changelog_id })
        })
        .collect();
    db.store
        .book_verdicts(&db.epoch, &verdicts, now())
        .await
        .unwrap();
    todo
}

async fn read_todo(db: &TestDb, id: Uuid) -> sync_protocol::Todo {
    let read = db
        .store
        .records_by_id(&[], &[], &[id.to_string()])
        .await
        .unwrap();
    read.todos[0].1.clone().expect("the todo is here")
}

#[wasm_bindgen_test]
async fn an_update_names_the_fields_it_changed_and_no_change_writes_nothing() {
    let db = TestDb::new().await;
    let todo = synced_todo(&db).await;
    db.store.toggle_todo(todo.id).await.unwrap();
    let same = TodoEdit {
        title: "Milk".into(),
        description: None,
    };
    db.store.edit_todo(todo.id, same).await.unwrap();
    let board = db.store.boards_with_todos().await.unwrap().remove(0).board;
    db.store.rename_board(board.id, " Home ").await.unwrap();
    let pending = db.store.next_batch(10, |_| true).await.unwrap();
    assert_eq!(pending.len(), 1, "the edit and the rename changed nothing");
    let tick = serde_json::to_value(&pending[0]).unwrap();
    assert_eq!(tick["changedFields"], serde_json::json!(["isCompleted"]));
    assert_eq!(tick["payload"]["title"], "Milk", "the payload stays whole");
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_pull_keeps_the_pending_fields_and_takes_the_rest() {
    let db = TestDb::new().await;
    let todo = synced_todo(&db).await;
    db.store.toggle_todo(todo.id).await.unwrap();
    // Another device renamed it and gave it a description; the server still has it
    // not done.
    let mut theirs = sync_protocol::Record::Todo(todo.clone()).to_json();
    theirs["title"] = "Oat milk".into();
    theirs["description"] = "the blue one".into();
    let id = todo.id.to_string();
    let page = PullResponse {
        cursor: Some(format!("{:020}", 3)),
        logs_with_records: vec![entry(3, "Todo", &id, Operation::Update, Some(theirs))],
    };
    let stats = db.store.apply_pull(&db.epoch, &page).await.unwrap();
    assert_eq!((stats.applied, stats.stale), (1, 0));
    let shown = read_todo(&db, todo.id).await;
    assert_eq!(shown.title, "Oat milk");
    assert_eq!(shown.description.as_deref(), Some("the blue one"));
    assert!(shown.is_completed, "the tick still on its way stays");
    assert_eq!(db.store.pending_count().await.unwrap(), 1);

    // A delete pulled while the tick waits keeps the todo: pushing the tick brings it
    // back on the server.
    let gone = PullResponse {
        cursor: Some(format!("{:020}", 4)),
        logs_with_records: vec![entry(4, "Todo", &id, Operation::Delete, None)],
    };
    let stats = db.store.apply_pull(&db.epoch, &gone).await.unwrap();
    assert_eq!((stats.applied, stats.stale), (0, 1));
    assert!(read_todo(&db, todo.id).await.is_completed);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn a_refusal_rolls_back_only_the_fields_of_the_refused_change() {
    let db = TestDb::new().await;
    let todo = synced_todo(&db).await;
    db.store.toggle_todo(todo.id).await.unwrap();
    let rename = TodoEdit {
        title: "Oat milk".into(),
        description: None,
    };
    db.store.edit_todo(todo.id, rename).await.unwrap();
    let pending = db.store.next_batch(10, |_| true).await.unwrap();
    assert_eq!(pending.len(), 2);
    // The server refuses the tick (its copy: not done, and another device's description)
    // and is busy for the rename, which waits.
    let mut server = sync_protocol::Record::Todo(todo.clone()).to_json();
    server["description"] = "from elsewhere".into();
    let changed = db
        .store
        .book_verdicts(
            &db.epoch,
            &[
                (
                    pending[0].id.clone(),
                    Verdict::Rejected {
                        error: PushError::new(PushErrorKind::CustomValidationFailed, "no"),
                        server_state: Some(ServerState {
                            record: Some(server),
                        }),
                    },
                ),
                (
                    pending[1].id.clone(),
                    Verdict::Retry(PushError::new(PushErrorKind::UnknownError, "busy")),
                ),
            ],
            now(),
        )
        .await
        .unwrap();
    assert_eq!(changed.records(), [(Model::Todo, todo.id.to_string())]);
    let shown = read_todo(&db, todo.id).await;
    assert!(!shown.is_completed, "the refused tick is undone");
    assert_eq!(shown.title, "Oat milk", "the rename, still waiting, stays");
    assert_eq!(shown.description, None, "no refused change touched it");
    assert_eq!(db.store.pending_count().await.unwrap(), 1);
    db.finish().await;
}

#[wasm_bindgen_test]
async fn records_written_by_serde_wasm_bindgen_still_read() {
    // Builds before the store went through JSON wrote values with serde-wasm-bindgen,
    // which leaves a `None` as an undefined property: such a database must still read,
    // through the indexes too.
    let db = TestDb::new().await;
    let board = sync_protocol::Board {
        id: Uuid::new_v4(),
        name: "Old build".into(),
        created_at: Timestamp::from_millis(1_000),
        user_id: db.user.id,
    };
    let todo = sync_protocol::Todo {
        id: Uuid::new_v4(),
        title: "No description".into(),
        description: None,
        is_completed: false,
        created_at: Timestamp::from_millis(2_000),
        board_id: board.id,
    };
    let (board_value, todo_value) = (
        serde_json::to_value(&board).unwrap(),
        serde_json::to_value(&todo).unwrap(),
    );
    write_as_an_older_build(
        &db.name,
        None,
        &[(schema::BOARD, board_value), (schema::TODO, todo_value)],
    )
    .await;
    let found = db.store.board(board.id).await.unwrap().unwrap();
    assert_eq!(found.board, board);
    assert_eq!(found.todos, vec![todo.clone()]);
    let all = db.store.boards_with_todos().await.unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!(all[0].todos, vec![todo]);
}
