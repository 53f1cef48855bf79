//! `POST /api/sync/pull` over real HTTP, on SQLite and PostgreSQL: paging and cursors,
//! limits, bad requests, current record states, and that a user pulls only their own
//! scope.

mod support;

use serde_json::json;
use support::*;
use sync_protocol::{Operation, Record};

on_both_backends!(
    a_cursor_beyond_the_end_is_400,
    a_new_user_pulls_their_own_user_record,
    pages_follow_the_cursor_in_commit_order_without_gaps,
    limits_outside_1_to_1000_are_400,
    malformed_requests_are_400_and_no_session_is_401,
    entries_carry_the_records_current_state,
    a_user_pulls_only_their_own_scope,
);

async fn a_new_user_pulls_their_own_user_record(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    // prisma-idb's first pull sends `{}`.
    let page = alice.pull(None, None).await;
    assert_eq!(page.logs_with_records.len(), 1);
    let log = &page.logs_with_records[0];
    assert_eq!(log.model, "User");
    assert_eq!(log.operation, Operation::Create);
    assert_eq!(log.key_path, vec![json!(alice.user_id().to_string())]);
    assert_eq!(log.scope_key, alice.user_id().to_string());
    assert_eq!(log.id, log.changelog_id);
    assert_eq!(log.id, "00000000000000000001");
    assert_eq!(
        log.record,
        Some(Record::User(alice.user().clone()).to_json())
    );
    assert_eq!(page.cursor.as_deref(), Some(log.id.as_str()));
    // Nothing new: an empty page and the same cursor.
    let again = alice.pull(page.cursor.as_deref(), None).await;
    assert!(again.logs_with_records.is_empty());
    assert_eq!(again.cursor, page.cursor);
    // An explicit null cursor is the first pull.
    let response = alice
        .post_json("/api/sync/pull", &json!({"lastChangelogId": null}))
        .await;
    assert_eq!(response.status(), 200);
}

async fn pages_follow_the_cursor_in_commit_order_without_gaps(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let home = board(alice.user_id(), "Home");
    alice.apply(&create(home.clone())).await;
    let events: Vec<_> = (0..23)
        .map(|i| create(todo(home.id, &format!("t{i}"))))
        .collect();
    let results = alice.push(&events).await;
    let applied: Vec<String> = results
        .iter()
        .map(|r| r.applied_changelog_id.clone().unwrap())
        .collect();

    let mut cursor: Option<String> = None;
    let mut ids = Vec::new();
    let mut pages = 0;
    loop {
        let page = alice.pull(cursor.as_deref(), Some(10)).await;
        if page.logs_with_records.is_empty() {
            assert_eq!(page.cursor, cursor, "an empty page keeps the cursor");
            break;
        }
        assert!(page.logs_with_records.len() <= 10);
        assert_eq!(
            page.cursor.as_deref(),
            Some(page.logs_with_records.last().unwrap().id.as_str())
        );
        ids.extend(page.logs_with_records.iter().map(|l| l.id.clone()));
        cursor = page.cursor;
        pages += 1;
    }
    assert_eq!(pages, 3, "25 entries in pages of 10");
    assert_eq!(ids.len(), 25, "the user, the board and 23 todos");
    // Numbered 1, 2, 3… and ordered as strings, which is how clients compare them.
    for (n, id) in ids.iter().enumerate() {
        assert_eq!(id, &format!("{:020}", n + 1));
    }
    let mut sorted = ids.clone();
    sorted.sort();
    assert_eq!(sorted, ids);
    // Each push result names its own entry.
    assert_eq!(applied, ids[2..].to_vec());
    // The default page is 100; the largest 1000.
    assert_eq!(alice.pull(None, None).await.logs_with_records.len(), 25);
    assert_eq!(
        alice.pull(None, Some(1000)).await.logs_with_records.len(),
        25
    );
    assert_eq!(alice.pull(None, Some(1)).await.logs_with_records.len(), 1);
}

async fn limits_outside_1_to_1000_are_400(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    for limit in [json!(0), json!(1001), json!(-1), json!(1.5), json!("10")] {
        let response = alice
            .post_json("/api/sync/pull", &json!({ "limit": limit }))
            .await;
        expect_error(response, 400, "Invalid request").await;
    }
}

async fn malformed_requests_are_400_and_no_session_is_401(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    for body in ["", "{", "nope"] {
        let response = alice.post_raw("/api/sync/pull", body).await;
        expect_error(response, 400, "Malformed JSON").await;
    }
    for body in [
        json!([]),
        json!("x"),
        json!({"lastChangelogId": 5}),
        // A prisma-idb (UUIDv7) cursor is not one of ours.
        json!({"lastChangelogId": "0190b8a2-7c1e-7b6a-9c1d-3f2e4a5b6c7d"}),
        json!({"lastChangelogId": "42"}),
        json!({"lastChangelogId": "-0000000000000000001"}),
        json!({"lastChangelogId": "99999999999999999999"}),
        json!({"lastChangelogId": "10000000000000000000"}),
    ] {
        let response = alice.post_json("/api/sync/pull", &body).await;
        let answer = expect_error(response, 400, "Invalid request").await;
        assert!(answer["details"].is_string());
    }
    let anonymous = server.anonymous();
    let response = anonymous.post_json("/api/sync/pull", &json!({})).await;
    expect_error(response, 401, "Unauthorized").await;
}

async fn entries_carry_the_records_current_state(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let mut home = board(alice.user_id(), "Home");
    alice.apply(&create(home.clone())).await;
    home.name = "Home, renamed".into();
    alice.apply(&update(home.clone())).await;
    let gone = todo(home.id, "gone");
    alice.apply(&create(gone.clone())).await;
    alice.apply(&delete(gone.clone())).await;

    let logs = alice.pull_all().await;
    let current = Record::Board(home.clone()).to_json();
    let board_logs: Vec<_> = logs
        .iter()
        .filter(|l| l.record_id() == Some(&home.id.to_string()))
        .collect();
    assert_eq!(board_logs.len(), 2);
    assert!(board_logs
        .iter()
        .all(|l| l.record.as_ref() == Some(&current)));
    let gone_logs: Vec<_> = logs
        .iter()
        .filter(|l| l.record_id() == Some(&gone.id.to_string()))
        .collect();
    assert_eq!(gone_logs.len(), 2);
    assert!(gone_logs.iter().all(|l| l.record.is_none()));
}

async fn a_user_pulls_only_their_own_scope(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let home = board(alice.user_id(), "Home");
    alice.apply(&create(home.clone())).await;
    alice.apply(&create(todo(home.id, "Milk"))).await;
    let bobs = board(bob.user_id(), "Bob's");
    bob.apply(&create(bobs.clone())).await;

    let alice_logs = alice.pull_all().await;
    let bob_logs = bob.pull_all().await;
    assert_eq!(alice_logs.len(), 3);
    assert_eq!(bob_logs.len(), 2);
    for log in &bob_logs {
        assert_eq!(log.scope_key, bob.user_id().to_string());
    }
    // Scopes number independently; a cursor from Alice's scope shows Bob nothing of hers.
    let alice_cursor = alice_logs[0].id.clone();
    let page = bob.pull(Some(&alice_cursor), None).await;
    assert!(page
        .logs_with_records
        .iter()
        .all(|l| l.scope_key == bob.user_id().to_string()));
    let bob_ids: Vec<_> = bob_logs.iter().map(|l| l.record_id().unwrap()).collect();
    assert!(!bob_ids.contains(&home.id.to_string().as_str()));
    assert!(!bob_ids.contains(&alice.user_id().to_string().as_str()));
}

async fn a_cursor_beyond_the_end_is_400(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let home = board(bob.user_id(), "Home");
    bob.apply(&create(home.clone())).await;
    bob.apply(&create(todo(home.id, "Milk"))).await;
    // Alice's changelog holds one entry; Bob's three.
    let last = alice.pull(None, None).await.cursor.unwrap();
    assert_eq!(last, format!("{:020}", 1));
    let page = alice.pull(Some(&last), None).await;
    assert!(page.logs_with_records.is_empty());
    assert_eq!(page.cursor.as_deref(), Some(&*last));
    for beyond in [2u64, 3, 1_000_000, i64::MAX as u64] {
        let response = alice
            .post_json(
                "/api/sync/pull",
                &json!({"lastChangelogId": format!("{beyond:020}")}),
            )
            .await;
        let body = expect_error(response, 400, "Invalid request").await;
        assert!(
            body["details"].as_str().unwrap().contains("beyond"),
            "{body}"
        );
    }
}
