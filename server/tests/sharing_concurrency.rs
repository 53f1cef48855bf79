//! Sharing under load: the owner of a board and its members push at once, through two
//! server processes on one PostgreSQL database (one server on SQLite), while another
//! account joins and leaves the board again and again, and everyone pulls all the
//! while. Then every changelog is complete and in order (every entry once, numbered
//! 1, 2, 3, …, each puller saw exactly the final changelog), and what each account's
//! full pull leaves it holding is what the server holds for it.

mod support;

use serde_json::Value;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use sync_protocol::{Operation, OutboxEvent, Todo};
use uuid::Uuid;

const BATCHES: usize = 15;
/// Create a, update a, create b, delete b.
const EVENTS_PER_BATCH: usize = 4;
/// How often the churning account joins and leaves.
const CHURNS: usize = 8;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_owner_and_members_pushing_at_once_miss_nothing() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let urls = vec![server.url.clone()];
    run_load(&server, &urls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_owner_and_members_pushing_at_once_miss_nothing() {
    let Some(server) = TestServer::start(Backend::Postgres).await else {
        return;
    };
    let second = server.second_instance().await;
    let urls = vec![server.url.clone(), second.url.clone()];
    run_load(&server, &urls).await;
}

async fn run_load(server: &TestServer, urls: &[String]) {
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let carol = server.user("carol").await;
    let dave = server.user("dave").await;
    let shared = board(alice.user_id(), "Shared");
    let own = board(bob.user_id(), "Bob's own");
    alice.apply(&create(shared.clone())).await;
    bob.apply(&create(own.clone())).await;
    alice.share_with(shared.id, &bob).await;
    alice.share_with(shared.id, &carol).await;

    let everyone = [alice.clone(), bob.clone(), carol.clone(), dave.clone()];
    let done = Arc::new(AtomicBool::new(false));
    let mut pullers = Vec::new();
    for (u, user) in everyone.iter().enumerate() {
        let client = user.via(&urls[u % urls.len()]);
        let done = done.clone();
        pullers.push(tokio::spawn(async move {
            pull_until_done(client, 3 + u as u32, done).await
        }));
    }

    // Alice and Bob on two devices each, Carol on one; Bob also on his own board.
    let devices = [
        (alice.clone(), shared.id),
        (alice.clone(), shared.id),
        (bob.clone(), shared.id),
        (bob.clone(), own.id),
        (carol.clone(), shared.id),
    ];
    let mut pushers = Vec::new();
    for (d, (user, board_id)) in devices.into_iter().enumerate() {
        let client = user.via(&urls[d % urls.len()]);
        pushers.push(tokio::spawn(async move {
            for b in 0..BATCHES {
                let results = client.push(&batch(board_id, &format!("d{d}b{b}"))).await;
                for result in &results {
                    assert!(result.error.is_none(), "{:?}", result.error);
                }
            }
        }));
    }
    // Meanwhile Dave joins and leaves, through either server.
    let churn = {
        let (alice, dave) = (alice.clone(), dave.clone());
        let urls = urls.to_vec();
        tokio::spawn(async move {
            for c in 0..CHURNS {
                let owner = alice.via(&urls[c % urls.len()]);
                owner.share_with(shared.id, &dave).await;
                tokio::time::sleep(Duration::from_millis(20)).await;
                let leaver = if c % 2 == 0 { &owner } else { &dave };
                let response = leaver.remove_member(shared.id, dave.user_id()).await;
                assert_eq!(response.status(), 204);
            }
        })
    };
    for pusher in pushers {
        pusher.await.expect("pusher");
    }
    churn.await.expect("churn");
    // Every request has returned, so every entry is committed.
    done.store(true, Ordering::SeqCst);

    let mut finals = Vec::new();
    for (user, puller) in everyone.iter().zip(pullers) {
        let seen = puller.await.expect("puller");
        let final_log = user.pull_all().await;
        let ids: Vec<String> = final_log.iter().map(|log| log.id.clone()).collect();
        for (n, id) in ids.iter().enumerate() {
            assert_eq!(id, &format!("{:020}", n + 1), "no gap, no repeat");
        }
        assert_eq!(seen, ids, "the puller saw every entry once, in order");
        finals.push(final_log);
    }

    // What each holds: the shared board's todos for Alice, Bob and Carol (the "a" of
    // each batch, completed), Bob's own board's for Bob alone, nothing of Alice's for
    // Dave.
    let held_by: Vec<BTreeMap<String, Value>> =
        finals.iter().map(Vec::as_slice).map(holdings).collect();
    let todos_on = |held: &BTreeMap<String, Value>, board: Uuid| -> BTreeMap<String, Value> {
        held.iter()
            .filter(|(_, record)| record["boardId"] == Value::String(board.to_string()))
            .map(|(id, record)| (id.clone(), record.clone()))
            .collect()
    };
    let on_shared = todos_on(&held_by[0], shared.id);
    assert_eq!(on_shared.len(), 4 * BATCHES, "one todo left per batch");
    assert!(on_shared
        .values()
        .all(|todo| todo["isCompleted"] == Value::Bool(true)));
    for held in &held_by[1..3] {
        assert_eq!(
            todos_on(held, shared.id),
            on_shared,
            "members hold the same"
        );
        assert!(held.contains_key(&shared.id.to_string()));
        assert!(
            held.contains_key(&alice.user_id().to_string()),
            "her profile"
        );
    }
    assert_eq!(todos_on(&held_by[1], own.id).len(), BATCHES);
    assert!(todos_on(&held_by[0], own.id).is_empty());
    assert!(todos_on(&held_by[2], own.id).is_empty());
    assert_eq!(
        held_by[3].keys().collect::<Vec<_>>(),
        [&dave.user_id().to_string()],
        "Dave holds only himself"
    );
    // Every change on the shared board reached each of them once: Alice and Carol see
    // only that board's changes, Bob his own board's as well.
    let changes = 4 * BATCHES * EVENTS_PER_BATCH;
    let own_changes = BATCHES * EVENTS_PER_BATCH;
    for (log, expected) in finals.iter().zip([changes, changes + own_changes, changes]) {
        let todo_entries = log
            .iter()
            .filter(|entry| entry.model == "Todo" && !entry.outbox_event_id.starts_with("share-"))
            .count();
        assert_eq!(todo_entries, expected);
    }
    // Applying the operations alone (as a client that ignores the records would) leaves
    // each holding the same ids: every create a member got was followed by its delete
    // when they left.
    for (log, held) in finals.iter().zip(&held_by) {
        let mut by_operation = BTreeMap::new();
        for entry in log {
            let id = entry.record_id().unwrap_or_default().to_string();
            by_operation.insert(id, entry.operation != Operation::Delete);
        }
        let live: Vec<&String> = by_operation
            .iter()
            .filter(|(_, live)| **live)
            .map(|(id, _)| id)
            .collect();
        assert_eq!(live, held.keys().collect::<Vec<_>>());
    }
}

/// Four events: create a, update a, create b, delete b.
fn batch(board: Uuid, label: &str) -> Vec<OutboxEvent> {
    let mut a = todo(board, &format!("{label}-a"));
    let b: Todo = todo(board, &format!("{label}-b"));
    let first = create(a.clone());
    a.is_completed = true;
    vec![first, update(a), create(b.clone()), delete(b)]
}

/// Pulls page after page until `done` was set before a pull that came back empty;
/// returns every entry id seen, in the order seen.
async fn pull_until_done(client: Client, limit: u32, done: Arc<AtomicBool>) -> Vec<String> {
    let mut cursor: Option<String> = None;
    let mut seen = Vec::new();
    loop {
        let finished_before = done.load(Ordering::SeqCst);
        let page = client.pull(cursor.as_deref(), Some(limit)).await;
        if page.logs_with_records.is_empty() {
            if finished_before {
                return seen;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            continue;
        }
        for log in &page.logs_with_records {
            if let Some(last) = seen.last() {
                assert!(&log.id > last, "ids increase: {} after {last}", log.id);
            }
            seen.push(log.id.clone());
        }
        cursor = page.cursor;
    }
}
