//! `POST /api/sync/push` over real HTTP, on SQLite and PostgreSQL: every status code,
//! every per-event error type, idempotent replay, last writer wins, resurrection,
//! cascade delete, the User record's rules, and the wall between two users.

mod support;

use async_trait::async_trait;
use serde_json::{json, Value};
use support::*;
use sync_protocol::{Operation, PushErrorKind, Record, User, ValidatedEvent};
use sync_server::storage::ScopeView;
use sync_server::{CustomValidator, Server, UniqueBoardNames, Verdict};
use uuid::Uuid;

on_both_backends!(
    malformed_json_is_400,
    a_body_that_is_not_a_batch_of_events_is_400,
    no_valid_session_is_401,
    more_than_100_events_is_413,
    a_body_over_the_limit_is_413,
    each_permanent_error_type_is_answered_and_the_batch_goes_on,
    an_unexpected_failure_is_retryable_and_says_nothing_inside,
    a_replayed_event_answers_the_same_id_and_changes_nothing,
    the_last_change_applied_wins,
    update_and_create_upsert_and_delete_then_update_resurrects,
    deleting_a_board_deletes_its_todos_with_an_entry_each,
    deleting_what_is_gone_succeeds_and_is_logged,
    board_names_are_unique_per_user,
    a_user_may_update_their_profile_but_not_what_the_server_manages,
    users_cannot_write_each_others_records,
    an_id_stays_its_owners_after_delete,
    non_canonical_ids_are_refused_not_rewritten,
    text_a_database_cannot_store_is_refused_permanently,
    an_event_id_a_database_cannot_store_is_400,
    accepted_dates_round_trip_and_others_are_refused,
    a_failing_event_is_rolled_back_alone_and_the_batch_goes_on,
);

async fn malformed_json_is_400(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let before = server.db.snapshot().await;
    for body in ["", "{", "not json", "{\"events\": [}", "\u{0}"] {
        let response = alice.post_raw("/api/sync/push", body).await;
        expect_error(response, 400, "Malformed JSON").await;
    }
    assert_eq!(server.db.snapshot().await, before);
}

async fn a_body_that_is_not_a_batch_of_events_is_400(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let board = board(alice.user_id(), "Home");
    let valid = serde_json::to_value(create(board)).unwrap();
    let mut missing_tries = valid.clone();
    missing_tries.as_object_mut().unwrap().remove("tries");
    let mut bad_date = valid.clone();
    bad_date["createdAt"] = json!("yesterday");
    let mut empty_id = valid.clone();
    empty_id["id"] = json!("");
    let before = server.db.snapshot().await;
    for body in [
        json!([]),
        json!(null),
        json!({}),
        json!({"events": {}}),
        json!({"events": "x"}),
        json!({"events": [1]}),
        json!({"events": [valid.clone(), missing_tries]}),
        json!({"events": [bad_date]}),
        json!({"events": [empty_id]}),
    ] {
        let response = alice.post_json("/api/sync/push", &body).await;
        let answer = expect_error(response, 400, "Invalid request").await;
        assert!(answer["details"].is_string(), "{body}: {answer}");
    }
    // The valid event in a rejected batch was not applied either.
    assert_eq!(server.db.snapshot().await, before);
}

async fn no_valid_session_is_401(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let mut client = server.anonymous();
    let body = json!({"events": []});
    expect_error(
        client.post_json("/api/sync/push", &body).await,
        401,
        "Unauthorized",
    )
    .await;
    client.token = Some("not-a-session".into());
    expect_error(
        client.post_json("/api/sync/push", &body).await,
        401,
        "Unauthorized",
    )
    .await;
    let response = client
        .http
        .post(client.url("/api/sync/push"))
        .header("authorization", "Basic YWRhOnB3")
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(response, 401, "Unauthorized").await;
    // A token in the URL is never accepted.
    let alice = server.user("alice").await;
    let response = client
        .http
        .post(client.url("/api/sync/push"))
        .query(&[("token", alice.token.clone().unwrap())])
        .json(&body)
        .send()
        .await
        .unwrap();
    expect_error(response, 401, "Unauthorized").await;
}

async fn more_than_100_events_is_413(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    let events: Vec<_> = (0..101).map(|_| create(todo(home.id, "x"))).collect();
    let before = server.db.snapshot().await;
    let response = alice.push_response(&events).await;
    expect_error(response, 413, "Batch size 101 exceeds maximum allowed 100").await;
    assert_eq!(server.db.snapshot().await, before);
    // Exactly 100 is fine.
    alice.apply(&create(home.clone())).await;
    let results = alice.push(&events[..100]).await;
    assert!(results.iter().all(|r| r.error.is_none()));
}

async fn a_body_over_the_limit_is_413(backend: Backend) {
    let Some(server) = TestServer::start_with(backend, |c| c.max_body_bytes = 4096).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    let mut big = todo(home.id, "big");
    big.description = Some("x".repeat(4000));
    let before = server.db.snapshot().await;
    let response = alice.push_response(&[create(big)]).await;
    assert_eq!(response.status(), 413);
    let body: Value = response.json().await.unwrap();
    assert!(body["error"].as_str().unwrap().contains("4096"), "{body}");
    // Without a Content-Length (chunked), the limit holds as the body is read.
    let chunks: Vec<Result<Vec<u8>, std::io::Error>> =
        vec![Ok(vec![b' '; 3000]), Ok(vec![b' '; 3000])];
    let stream = futures_util::stream::iter(chunks);
    let response = alice
        .post_raw("/api/sync/push", reqwest::Body::wrap_stream(stream))
        .await;
    assert_eq!(response.status(), 413);
    assert_eq!(server.db.snapshot().await, before);
}

async fn each_permanent_error_type_is_answered_and_the_batch_goes_on(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let home = board(alice.user_id(), "Home");
    alice.apply(&create(home.clone())).await;
    let bobs = board(bob.user_id(), "Bob's");
    bob.apply(&create(bobs.clone())).await;

    let mut invalid_model = create(todo(home.id, "x"));
    invalid_model.entity_type = "Card".into();
    let mut unknown_operation = create(todo(home.id, "x"));
    unknown_operation.operation = "upsert".into();
    let mut bad_key = create(todo(home.id, "x"));
    bad_key.payload["id"] = json!("not-a-uuid");
    let mut bad_record = create(todo(home.id, "x"));
    bad_record.payload["isCompleted"] = json!("yes");
    let mut extra_field = update(home.clone());
    extra_field.payload["todos"] = json!([]);
    let mut blank = home.clone();
    blank.name = "   ".into();
    let missing_parent = create(todo(Uuid::new_v4(), "orphan"));
    let scope_violation = create(todo(bobs.id, "on bob's board"));
    let mut worn_out = create(todo(home.id, "x"));
    worn_out.tries = 11;
    let mut duplicate = board(alice.user_id(), " HOME ");
    duplicate.id = Uuid::new_v4();
    let fine = todo(home.id, "applies after all the failures");

    let events = vec![
        invalid_model,
        unknown_operation,
        bad_key,
        bad_record,
        extra_field,
        update(blank),
        missing_parent,
        scope_violation,
        worn_out,
        create(duplicate),
        create(fine.clone()),
    ];
    let before = server.db.snapshot().await;
    let results = alice.push(&events).await;
    let types: Vec<_> = results[..10].iter().map(error_type).collect();
    assert_eq!(
        types,
        [
            "INVALID_MODEL",
            "UNKNOWN_OPERATION",
            "KEYPATH_VALIDATION_FAILURE",
            "RECORD_VALIDATION_FAILURE",
            "RECORD_VALIDATION_FAILURE",
            "RECORD_VALIDATION_FAILURE",
            "MISSING_PARENT",
            "SCOPE_VIOLATION",
            "MAX_RETRIES",
            "CUSTOM_VALIDATION_FAILED",
        ]
    );
    for (result, event) in results.iter().zip(&events) {
        assert_eq!(result.id, event.id, "results come in the events' order");
    }
    for result in &results[..10] {
        let error = result.error.as_ref().unwrap();
        assert!(!error.retryable, "{:?} is permanent", error.kind);
        assert!(!error.message.is_empty());
        assert_eq!(result.applied_changelog_id, None);
        assert!(
            result.server_state.is_some(),
            "permanent errors carry serverState"
        );
    }
    // serverState is the record as the user may see it now: the stored board for the
    // rejected rename, nothing for records that do not exist or are not hers.
    let state = |i: usize| results[i].server_state.as_ref().unwrap().record.clone();
    assert_eq!(state(5), Some(Record::Board(home.clone()).to_json()));
    assert_eq!(state(0), None);
    assert_eq!(state(7), None);
    // The last event applied despite the failures before it.
    assert!(results[10].error.is_none());
    assert!(results[10].applied_changelog_id.is_some());
    assert_eq!(results[10].server_state, None);
    let after = server.db.snapshot().await;
    assert_eq!(
        after.len(),
        before.len() + 3,
        "one todo, its entry and its receipt"
    );
    assert_eq!(
        alice.pulled_record(fine.id).await,
        Some(Record::Todo(fine).to_json())
    );
}

/// A validator that fails the way a broken database would, for one board name.
struct Explodes;

#[async_trait]
impl CustomValidator for Explodes {
    async fn check(
        &self,
        event: &ValidatedEvent,
        _: &mut dyn ScopeView,
    ) -> Result<Verdict, sync_server::Error> {
        match &event.record {
            Record::Board(board) if board.name == "explode" => Err(sync_server::Error::Internal(
                "secret internals: connection to db-7 refused".into(),
            )),
            _ => Ok(Verdict::Accept),
        }
    }
}

async fn an_unexpected_failure_is_retryable_and_says_nothing_inside(backend: Backend) {
    let Some(server) = TestServer::start_custom(
        backend,
        |_| {},
        |config| async {
            Server::start_with_validators(
                config,
                vec![
                    std::sync::Arc::new(Explodes),
                    std::sync::Arc::new(UniqueBoardNames),
                ],
            )
            .await
        },
    )
    .await
    else {
        return;
    };
    let alice = server.user("alice").await;
    let boom = board(alice.user_id(), "explode");
    let fine = board(alice.user_id(), "fine");
    let results = alice.push(&[create(boom), create(fine)]).await;
    let error = results[0].error.as_ref().unwrap();
    assert_eq!(error.kind, PushErrorKind::UnknownError);
    assert!(error.retryable);
    assert_eq!(error.message, "An unexpected error occurred");
    assert_eq!(results[0].applied_changelog_id, None);
    assert!(results[1].error.is_none());
}

async fn a_replayed_event_answers_the_same_id_and_changes_nothing(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    let first = create(home.clone());
    let id = alice.apply(&first).await;
    let before = server.db.snapshot().await;

    // Sent again, alone and twice in one batch, even with a changed payload and tries.
    let mut again = first.clone();
    again.tries = 3;
    again.payload["name"] = json!("Changed");
    let results = alice
        .push(&[first.clone(), again.clone(), first.clone()])
        .await;
    for result in &results {
        assert_eq!(result.error, None);
        assert_eq!(result.applied_changelog_id.as_deref(), Some(id.as_str()));
    }
    assert_eq!(server.db.snapshot().await, before);
    // A replay past the retry limit still answers the applied id.
    again.tries = 50;
    assert_eq!(alice.apply(&again).await, id);

    // A new event in the same batch as a replay is applied once.
    let rename = update(sync_protocol::Board {
        name: "Home 2".into(),
        ..home.clone()
    });
    let results = alice.push(&[rename.clone(), rename.clone()]).await;
    assert_eq!(
        results[0].applied_changelog_id,
        results[1].applied_changelog_id
    );
    let logs = alice.pull_all().await;
    assert_eq!(
        logs.iter()
            .filter(|l| l.outbox_event_id == rename.id)
            .count(),
        1
    );
    assert_eq!(
        logs.iter()
            .filter(|l| l.outbox_event_id == first.id)
            .count(),
        1
    );
}

async fn the_last_change_applied_wins(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    // The same user on a second device.
    let phone = alice.clone();
    let home = board(alice.user_id(), "Home");
    alice.apply(&create(home.clone())).await;
    let mut from_laptop = todo(home.id, "from the laptop");
    alice.apply(&create(from_laptop.clone())).await;
    let mut from_phone = from_laptop.clone();
    from_phone.title = "from the phone".into();
    from_phone.is_completed = true;
    // The phone's change was made earlier but reaches the server last: it wins.
    let phone_event = update(from_phone.clone());
    from_laptop.title = "from the laptop, later".into();
    alice.apply(&update(from_laptop)).await;
    phone.apply(&phone_event).await;
    assert_eq!(
        alice.pulled_record(from_phone.id).await,
        Some(Record::Todo(from_phone).to_json())
    );
}

async fn update_and_create_upsert_and_delete_then_update_resurrects(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    // An update of a record the server never saw creates it.
    alice.apply(&update(home.clone())).await;
    let mut milk = todo(home.id, "Milk");
    alice.apply(&create(milk.clone())).await;
    // A create of an id that exists replaces it.
    milk.title = "Oat milk".into();
    alice.apply(&create(milk.clone())).await;
    assert_eq!(
        alice.pulled_record(milk.id).await,
        Some(Record::Todo(milk.clone()).to_json())
    );
    alice.apply(&delete(milk.clone())).await;
    assert_eq!(alice.pulled_record(milk.id).await, None);
    // Another device, offline during the delete, edits the todo: it comes back.
    milk.is_completed = true;
    alice.apply(&update(milk.clone())).await;
    let logs = alice.pull_all().await;
    let ops: Vec<_> = logs
        .iter()
        .filter(|l| l.record_id() == Some(&milk.id.to_string()))
        .map(|l| l.operation)
        .collect();
    assert_eq!(
        ops,
        [
            Operation::Create,
            Operation::Create,
            Operation::Delete,
            Operation::Update
        ]
    );
    // Every entry carries the record's current state.
    for log in logs
        .iter()
        .filter(|l| l.record_id() == Some(&milk.id.to_string()))
    {
        assert_eq!(log.record, Some(Record::Todo(milk.clone()).to_json()));
    }
}

async fn deleting_a_board_deletes_its_todos_with_an_entry_each(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    let work = board(alice.user_id(), "Work");
    alice.apply(&create(home.clone())).await;
    alice.apply(&create(work.clone())).await;
    let todos: Vec<_> = (0..3).map(|i| todo(home.id, &format!("t{i}"))).collect();
    let other = todo(work.id, "stays");
    for t in todos.iter().chain([&other]) {
        alice.apply(&create(t.clone())).await;
    }
    let seen = alice.pull_all().await;
    let cursor = seen.last().unwrap().id.clone();

    let removal = delete(home.clone());
    let applied = alice.apply(&removal).await;
    let page = alice.pull(Some(&cursor), None).await;
    let logs = page.logs_with_records;
    assert_eq!(logs.len(), 4, "three todos, then the board");
    let mut todo_ids: Vec<_> = logs[..3]
        .iter()
        .map(|l| l.record_id().unwrap().to_string())
        .collect();
    todo_ids.sort();
    let mut expected: Vec<_> = todos.iter().map(|t| t.id.to_string()).collect();
    expected.sort();
    assert_eq!(todo_ids, expected);
    for log in &logs[..3] {
        assert_eq!(log.model, "Todo");
        assert_eq!(log.operation, Operation::Delete);
        assert_eq!(log.record, None);
        assert_eq!(log.outbox_event_id, removal.id);
    }
    assert_eq!(logs[3].model, "Board");
    assert_eq!(logs[3].id, applied, "the event answers its board's entry");
    assert_eq!(logs[3].record, None);
    // The other board's todo is untouched.
    assert_eq!(
        alice.pulled_record(other.id).await,
        Some(Record::Todo(other).to_json())
    );
}

async fn deleting_what_is_gone_succeeds_and_is_logged(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    let milk = todo(home.id, "Milk");
    // Never created here (another device created and deleted it offline).
    let id = alice.apply(&delete(milk.clone())).await;
    let id2 = alice.apply(&delete(home.clone())).await;
    let logs = alice.pull_all().await;
    let tail: Vec<_> = logs.iter().rev().take(2).collect();
    assert_eq!(tail[1].id, id);
    assert_eq!(tail[0].id, id2);
    assert!(tail
        .iter()
        .all(|l| l.operation == Operation::Delete && l.record.is_none()));
}

async fn board_names_are_unique_per_user(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let groceries = board(alice.user_id(), "Groceries");
    alice.apply(&create(groceries.clone())).await;
    // Another user may use the same name.
    bob.apply(&create(board(bob.user_id(), "Groceries"))).await;
    // Renaming a board to its own name (in another case) is fine.
    let mut renamed = groceries.clone();
    renamed.name = "GROCERIES".into();
    alice.apply(&update(renamed.clone())).await;
    let results = alice
        .push(&[create(board(alice.user_id(), "  groceries "))])
        .await;
    assert_eq!(error_type(&results[0]), "CUSTOM_VALIDATION_FAILED");
    assert!(results[0]
        .error
        .as_ref()
        .unwrap()
        .message
        .contains("groceries"));
    // Once the first is deleted, the name is free.
    alice.apply(&delete(renamed)).await;
    alice
        .apply(&create(board(alice.user_id(), "groceries")))
        .await;
}

async fn a_user_may_update_their_profile_but_not_what_the_server_manages(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let me: User = alice.user().clone();

    let renamed = User {
        name: "Alice Liddell".into(),
        image: Some("https://example.com/a.png".into()),
        updated_at: now(),
        ..me.clone()
    };
    alice.apply(&update(renamed.clone())).await;
    let response = alice.get("/api/auth/me").await;
    let current: User = response.json().await.unwrap();
    assert_eq!(current, renamed);
    assert_eq!(
        alice.pulled_record(me.id).await,
        Some(Record::User(renamed.clone()).to_json())
    );

    let new_email = User {
        email: "someone-else@example.com".into(),
        ..renamed.clone()
    };
    let verified = User {
        email_verified: true,
        ..renamed.clone()
    };
    let bobs = User {
        name: "Not Bob".into(),
        ..bob.user().clone()
    };
    let results = alice
        .push(&[
            update(new_email),
            update(verified),
            create(renamed.clone()),
            delete(renamed.clone()),
            update(bobs),
        ])
        .await;
    let types: Vec<_> = results.iter().map(error_type).collect();
    assert_eq!(
        types,
        [
            "RECORD_VALIDATION_FAILURE",
            "RECORD_VALIDATION_FAILURE",
            "SCOPE_VIOLATION",
            "SCOPE_VIOLATION",
            "SCOPE_VIOLATION",
        ]
    );
    let state = results[0].server_state.as_ref().unwrap().record.clone();
    assert_eq!(state, Some(Record::User(renamed).to_json()));
    // Bob's record is not shown to Alice.
    assert_eq!(results[4].server_state.as_ref().unwrap().record, None);
    let bob_now: User = bob.get("/api/auth/me").await.json().await.unwrap();
    assert_eq!(&bob_now, bob.user());
}

async fn users_cannot_write_each_others_records(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let home = board(alice.user_id(), "Home");
    let milk = todo(home.id, "Milk");
    let alice_create = create(home.clone());
    alice.apply(&alice_create).await;
    alice.apply(&create(milk.clone())).await;
    let bobs = board(bob.user_id(), "Bob's");
    let bobs_todo = todo(bobs.id, "mine");
    bob.apply(&create(bobs.clone())).await;
    bob.apply(&create(bobs_todo.clone())).await;
    let alice_before = alice.pull_all().await;
    let before = server.db.snapshot().await;

    // Bob knows (or guesses) Alice's ids.
    let hijack = sync_protocol::Board {
        name: "Bob was here".into(),
        ..home.clone()
    };
    let hijack_as_mine = sync_protocol::Board {
        user_id: bob.user_id(),
        ..hijack.clone()
    };
    let moved = sync_protocol::Todo {
        board_id: home.id,
        ..bobs_todo.clone()
    };
    let stolen = sync_protocol::Todo {
        board_id: bobs.id,
        ..milk.clone()
    };
    let mut replay = alice_create.clone();
    replay.payload = serde_json::to_value(&hijack_as_mine).unwrap();
    let attempts = [
        update(hijack.clone()),                        // write her board
        update(hijack_as_mine.clone()),                // claim her board
        create(hijack_as_mine),                        // create over her board's id
        delete(home.clone()),                          // delete her board
        update(moved),                                 // move his todo onto her board
        create(todo(home.id, "spam")),                 // add a todo to her board
        update(stolen.clone()),                        // pull her todo onto his board
        delete(milk.clone()),                          // delete her todo
        create(board(alice.user_id(), "in her name")), // create in her scope
        replay,                                        // reuse her event id
    ];
    let results = bob.push(&attempts).await;
    for (i, result) in results.iter().enumerate() {
        assert_eq!(error_type(result), "SCOPE_VIOLATION", "attempt {i}");
        assert_eq!(
            result.applied_changelog_id, None,
            "attempt {i} learns no entry"
        );
        // Nothing of Alice's leaks into serverState.
        let state = &result.server_state.as_ref().unwrap().record;
        if i == 4 {
            assert_eq!(state, &Some(Record::Todo(bobs_todo.clone()).to_json()));
        } else {
            assert_eq!(state, &None, "attempt {i}");
        }
    }
    assert_eq!(server.db.snapshot().await, before);
    assert_eq!(alice.pull_all().await, alice_before);
    // Bob's pull shows only his own records.
    let bobs_logs = bob.pull_all().await;
    let alice_ids = [alice.user_id(), home.id, milk.id].map(|id| id.to_string());
    for log in &bobs_logs {
        assert_eq!(log.scope_key, bob.user_id().to_string());
        assert!(!alice_ids.contains(&log.record_id().unwrap().to_string()));
    }
}

async fn an_id_stays_its_owners_after_delete(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let mut home = board(alice.user_id(), "Home");
    let milk = todo(home.id, "Milk");
    alice.apply(&create(home.clone())).await;
    alice.apply(&create(milk.clone())).await;
    alice.apply(&delete(home.clone())).await;

    // Bob cannot take the ids, neither as a board nor as a todo on his own board.
    let bobs = board(bob.user_id(), "Bob's");
    bob.apply(&create(bobs.clone())).await;
    let mut stolen = home.clone();
    stolen.user_id = bob.user_id();
    let mut stolen_todo = milk.clone();
    stolen_todo.board_id = bobs.id;
    let before = server.db.snapshot().await;
    let results = bob
        .push(&[
            create(stolen.clone()),
            update(stolen.clone()),
            create(stolen_todo.clone()),
            delete(stolen.clone()),
        ])
        .await;
    for result in &results {
        assert_eq!(error_type(result), "SCOPE_VIOLATION");
        assert!(!result.error.as_ref().unwrap().retryable);
    }
    assert_eq!(server.db.snapshot().await, before, "bob changed nothing");

    // Alice can still undo her delete: the board and its todo come back as hers.
    home.name = "Home again".into();
    alice.apply(&create(home.clone())).await;
    alice.apply(&update(milk.clone())).await;
    assert_eq!(
        alice.pulled_record(milk.id).await,
        Some(Record::Todo(milk.clone()).to_json())
    );
    assert_eq!(bob.pulled_record(home.id).await, None);
}

async fn non_canonical_ids_are_refused_not_rewritten(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    let before = server.db.snapshot().await;
    let mut upper = create(home.clone());
    upper.payload["id"] = json!(home.id.to_string().to_uppercase());
    let mut braced = create(home.clone());
    braced.payload["id"] = json!(format!("{{{}}}", home.id));
    let mut simple = create(home.clone());
    simple.payload["id"] = json!(home.id.simple().to_string());
    let mut upper_owner = create(home.clone());
    upper_owner.payload["userId"] = json!(alice.user_id().to_string().to_uppercase());
    let results = alice.push(&[upper, braced, simple, upper_owner]).await;
    let kinds: Vec<_> = results.iter().map(error_type).collect();
    assert_eq!(
        kinds,
        [
            "KEYPATH_VALIDATION_FAILURE",
            "KEYPATH_VALIDATION_FAILURE",
            "KEYPATH_VALIDATION_FAILURE",
            "RECORD_VALIDATION_FAILURE"
        ]
    );
    assert!(results.iter().all(|r| !r.error.as_ref().unwrap().retryable));
    assert_eq!(server.db.snapshot().await, before);
    // The canonical form applies, under exactly the id sent.
    alice.apply(&create(home.clone())).await;
    let logs = alice.pull_all().await;
    assert_eq!(
        logs.last().unwrap().key_path,
        vec![json!(home.id.to_string())]
    );
}

async fn text_a_database_cannot_store_is_refused_permanently(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    alice.apply(&create(home.clone())).await;
    let before = server.db.snapshot().await;
    let mut named = home.clone();
    named.name = "Ho\u{0}me".into();
    let mut described = todo(home.id, "Milk");
    described.description = Some("oat\u{0}milk".into());
    let mut titled = todo(home.id, "Mi\u{0}lk");
    titled.description = None;
    let mut user = alice.user().clone();
    user.image = Some("https://example.com/\u{0}.png".into());
    let mut renamed = alice.user().clone();
    renamed.name = "Al\u{0}ice".into();
    let results = alice
        .push(&[
            update(named),
            create(described),
            create(titled),
            update(user),
            update(renamed),
        ])
        .await;
    for result in &results {
        assert_eq!(
            error_type(result),
            "RECORD_VALIDATION_FAILURE",
            "{result:?}"
        );
        assert!(!result.error.as_ref().unwrap().retryable);
    }
    assert_eq!(server.db.snapshot().await, before);

    // A login or sign-up with such an email is a client error, never a 500.
    let anonymous = server.anonymous();
    let response = anonymous.login("ada\u{0}@example.com", PASSWORD).await;
    expect_error(response, 401, "Invalid email or password").await;
    let response = anonymous
        .signup("ada\u{0}@example.com", PASSWORD, "Ada")
        .await;
    expect_error(response, 400, "Invalid request").await;
    let response = anonymous
        .signup("ada@example.com", PASSWORD, "A\u{0}da")
        .await;
    expect_error(response, 400, "Invalid request").await;
}

async fn an_event_id_a_database_cannot_store_is_400(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let before = server.db.snapshot().await;
    let mut event = create(board(alice.user_id(), "Home"));
    event.id = format!("{}\u{0}", Uuid::new_v4());
    let response = alice.push_response(&[event]).await;
    let body = expect_error(response, 400, "Invalid request").await;
    assert!(body["details"].as_str().unwrap().contains("events[0].id"));
    assert_eq!(server.db.snapshot().await, before);
}

async fn accepted_dates_round_trip_and_others_are_refused(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    for date in [
        "9999-12-31T23:59:59.999+23:59",
        "9999-12-31T23:59:59.999Z",
        "0000-01-01T00:00:00.000Z",
        "0000-01-01T00:00:00.000-23:59",
    ] {
        let home = board(alice.user_id(), &format!("Home {date}"));
        let mut event = create(home.clone());
        event.payload["createdAt"] = json!(date);
        alice.apply(&event).await;
        // What comes back is accepted again, unchanged.
        let pulled = alice.pulled_record(home.id).await.expect("pulled");
        let mut again = create(home.clone());
        again.payload = pulled.clone();
        alice.apply(&again).await;
        assert_eq!(alice.pulled_record(home.id).await, Some(pulled));
    }
    let before = server.db.snapshot().await;
    for date in [
        "9999-12-31T23:59:59.999-23:59",
        "0000-01-01T00:00:00.000+00:01",
        "+010000-01-01T00:00:00.000Z",
    ] {
        let mut event = create(board(alice.user_id(), "Later"));
        event.payload["createdAt"] = json!(date);
        let results = alice.push(&[event]).await;
        assert_eq!(
            error_type(&results[0]),
            "RECORD_VALIDATION_FAILURE",
            "{date}"
        );
    }
    assert_eq!(server.db.snapshot().await, before);
}

async fn a_failing_event_is_rolled_back_alone_and_the_batch_goes_on(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    // A database fault in the middle of an event's writes: deleting this board fails
    // after its todos' delete entries were made.
    match backend {
        Backend::Sqlite => {
            server
                .db
                .execute(
                    "CREATE TRIGGER refuse BEFORE DELETE ON boards \
                     WHEN OLD.name = 'Undeletable' BEGIN SELECT RAISE(ABORT, 'refused'); END",
                )
                .await
        }
        Backend::Postgres => {
            server
                .db
                .execute(
                    "CREATE FUNCTION refuse() RETURNS trigger AS $$ \
                     BEGIN RAISE EXCEPTION 'refused'; END $$ LANGUAGE plpgsql",
                )
                .await;
            server
                .db
                .execute(
                    "CREATE TRIGGER refuse BEFORE DELETE ON boards FOR EACH ROW \
                     WHEN (OLD.name = 'Undeletable') EXECUTE FUNCTION refuse()",
                )
                .await;
        }
    }
    let alice = server.user("alice").await;
    let stuck = board(alice.user_id(), "Undeletable");
    let (one, two) = (todo(stuck.id, "one"), todo(stuck.id, "two"));
    alice
        .push(&[
            create(stuck.clone()),
            create(one.clone()),
            create(two.clone()),
        ])
        .await;
    let last = alice.pull_all().await.last().unwrap().id.clone();
    let before = server.db.snapshot().await;

    let fine = board(alice.user_id(), "Fine");
    let results = alice
        .push(&[delete(stuck.clone()), create(fine.clone())])
        .await;
    let error = results[0].error.as_ref().expect("the delete fails");
    assert_eq!(error.kind, PushErrorKind::UnknownError);
    assert!(error.retryable);
    assert!(results[1].error.is_none());
    // Only the second event's entry is new, numbered right after the last one: the
    // failed event's todo entries were rolled back with it.
    let page = alice.pull(Some(&last), None).await;
    assert_eq!(page.logs_with_records.len(), 1);
    assert_eq!(
        page.logs_with_records[0].record_id(),
        Some(&*fine.id.to_string())
    );
    let next: u64 = last.parse::<u64>().unwrap() + 1;
    assert_eq!(page.logs_with_records[0].id, format!("{next:020}"));
    let after = server.db.snapshot().await;
    let added: Vec<_> = after.iter().filter(|row| !before.contains(row)).collect();
    assert!(
        added.iter().all(|row| row.contains(&fine.id.to_string())
            || row.starts_with("1:")
            || row.contains(&results[1].id)),
        "{added:#?}"
    );
    assert_eq!(
        alice.pulled_record(one.id).await,
        Some(Record::Todo(one).to_json())
    );
}
