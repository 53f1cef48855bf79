//! The changelog invariant under load: many clients push at once while others pull
//! continuously, and every puller sees every entry of its scope exactly once, in order,
//! with no gap, compared with the final changelog.
//!
//! On SQLite against one server; on PostgreSQL against two server processes (the real
//! binary, twice) sharing the database, with pushers and pullers spread across both.

mod support;

use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;
use support::*;
use sync_protocol::{OutboxEvent, Todo};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// Users (scopes); each gets `PUSHERS_PER_USER` pushing devices and two pullers.
const USERS: usize = 2;
const PUSHERS_PER_USER: usize = 4;
const BATCHES: usize = 25;
/// Entries per batch: create a, update a, create b, delete b.
const EVENTS_PER_BATCH: usize = 4;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_no_puller_misses_an_entry() {
    let server = TestServer::start(Backend::Sqlite).await.expect("sqlite");
    let urls = vec![server.url.clone()];
    run_load(&server, &urls).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_two_processes_no_puller_misses_an_entry() {
    let Some(server) = TestServer::start(Backend::Postgres).await else {
        return;
    };
    // The in-process server created the schema; two binaries serve the load.
    let first = ServerProcess::spawn(&server.db.url).await;
    let second = ServerProcess::spawn(&server.db.url).await;
    let urls = vec![first.url.clone(), second.url.clone()];
    run_load(&server, &urls).await;
}

async fn run_load(server: &TestServer, urls: &[String]) {
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(server.user(&format!("user{i}")).await);
    }
    // Each user's board, so that todos have a parent.
    let mut boards = Vec::new();
    for user in &users {
        let home = board(user.user_id(), "Home");
        user.apply(&create(home.clone())).await;
        boards.push(home);
    }

    let done = Arc::new(AtomicBool::new(false));
    let mut pullers = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for p in 0..2 {
            let client = user.via(&urls[(u + p) % urls.len()]);
            let done = done.clone();
            // Small, uneven pages make pages end mid-burst as often as possible.
            let limit = [3, 7][p];
            pullers.push(tokio::spawn(async move {
                pull_until_done(client, limit, done).await
            }));
        }
    }

    let mut pushers = Vec::new();
    for (u, user) in users.iter().enumerate() {
        for d in 0..PUSHERS_PER_USER {
            let client = user.via(&urls[d % urls.len()]);
            let board_id = boards[u].id;
            pushers.push(tokio::spawn(async move {
                let mut applied = 0;
                for b in 0..BATCHES {
                    let batch = batch(board_id, &format!("u{u}d{d}b{b}"));
                    let results = client.push(&batch).await;
                    for result in &results {
                        assert!(result.error.is_none(), "{:?}", result.error);
                    }
                    applied += results.len();
                }
                applied
            }));
        }
    }
    let mut pushed = 0;
    for pusher in pushers {
        pushed += pusher.await.expect("pusher");
    }
    assert_eq!(
        pushed,
        USERS * PUSHERS_PER_USER * BATCHES * EVENTS_PER_BATCH
    );
    // Every push has returned, so every entry is committed: pullers may finish once
    // they see an empty page that began after this point.
    done.store(true, Ordering::SeqCst);

    let mut seen_by_scope: Vec<Vec<Vec<String>>> = vec![Vec::new(); USERS];
    for (i, puller) in pullers.into_iter().enumerate() {
        seen_by_scope[i / 2].push(puller.await.expect("puller"));
    }
    for (user, seen) in users.iter().zip(seen_by_scope) {
        let final_log: Vec<String> = user.pull_all().await.into_iter().map(|l| l.id).collect();
        let expected = 2 + PUSHERS_PER_USER * BATCHES * EVENTS_PER_BATCH;
        assert_eq!(
            final_log.len(),
            expected,
            "the user, the board, every event"
        );
        // The final changelog itself has no gap: 1, 2, 3, …
        for (n, id) in final_log.iter().enumerate() {
            assert_eq!(id, &format!("{:020}", n + 1));
        }
        for ids in seen {
            let missed: Vec<_> = final_log.iter().filter(|id| !ids.contains(id)).collect();
            assert!(
                missed.is_empty(),
                "a puller missed {} entries: {missed:?}",
                missed.len()
            );
            assert_eq!(ids, final_log, "a puller saw every entry once, in order");
        }
    }
}

/// Four events: create a, update a, create b, delete b.
fn batch(board: uuid::Uuid, label: &str) -> Vec<OutboxEvent> {
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
            assert_eq!(page.cursor, cursor);
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

/// The `sync-server` binary, running until dropped.
struct ServerProcess {
    url: String,
    _child: Child,
}

impl ServerProcess {
    async fn spawn(database_url: &str) -> ServerProcess {
        let app_dir = std::env::temp_dir();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sync-server"))
            .args(["--addr", "127.0.0.1:0", "--database-url", database_url])
            .arg("--app-dir")
            .arg(&app_dir)
            .args(["--cors-origin", "*"])
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .expect("the server binary starts");
        let stdout = child.stdout.take().unwrap();
        let mut lines = BufReader::new(stdout).lines();
        let line = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .expect("the server announces itself in time")
            .unwrap()
            .expect("a line on stdout");
        let url = line
            .strip_prefix("sync-server listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line}"))
            .to_string();
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        ServerProcess { url, _child: child }
    }
}

/// Two users push events for the same new record ids at the same moment (a client
/// copying ids, or an attacker racing): each record ends up in exactly one scope, the
/// other user is refused, and neither can take over or delete the other's record.
async fn racing_for_the_same_ids_never_crosses_scopes(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    const IDS: usize = 40;
    let ids: Vec<uuid::Uuid> = (0..IDS).map(|_| uuid::Uuid::new_v4()).collect();
    let racer = |client: Client, ids: Vec<uuid::Uuid>, name: &'static str| {
        tokio::spawn(async move {
            let mut outcomes = Vec::new();
            for (i, id) in ids.into_iter().enumerate() {
                let mut record = board(client.user_id(), &format!("{name} {i}"));
                record.id = id;
                // Alternate create and update: both are upserts.
                let event = if i % 2 == 0 {
                    create(record)
                } else {
                    update(record)
                };
                let results = client.push(&[event]).await;
                outcomes.push(results[0].error.as_ref().map(|e| e.kind.name()));
            }
            outcomes
        })
    };
    let a = racer(alice.clone(), ids.clone(), "alice");
    let b = racer(bob.clone(), ids.clone(), "bob");
    let (a, b) = (a.await.unwrap(), b.await.unwrap());
    let alice_boards = owned_boards(&alice).await;
    let bob_boards = owned_boards(&bob).await;
    for (i, id) in ids.iter().enumerate() {
        let (in_a, in_b) = (alice_boards.contains(id), bob_boards.contains(id));
        assert!(in_a != in_b, "board {i} belongs to exactly one user");
        let (winner, loser) = if in_a { (&a[i], &b[i]) } else { (&b[i], &a[i]) };
        assert_eq!(*winner, None, "board {i}: the owner's event applied");
        assert_eq!(
            *loser,
            Some("SCOPE_VIOLATION"),
            "board {i}: the other was refused"
        );
    }
    // Now each deletes all the ids at once: only their own boards go.
    let deleter = |client: Client, ids: Vec<uuid::Uuid>| {
        tokio::spawn(async move {
            for id in ids {
                let mut record = board(client.user_id(), "x");
                record.id = id;
                client.push(&[delete(record)]).await;
            }
        })
    };
    let mine: Vec<_> = ids
        .iter()
        .copied()
        .filter(|id| alice_boards.contains(id))
        .collect();
    let theirs: Vec<_> = ids
        .iter()
        .copied()
        .filter(|id| bob_boards.contains(id))
        .collect();
    let d1 = deleter(alice.clone(), theirs.clone());
    let d2 = deleter(bob.clone(), mine.clone());
    d1.await.unwrap();
    d2.await.unwrap();
    assert_eq!(owned_boards(&alice).await, alice_boards);
    assert_eq!(owned_boards(&bob).await, bob_boards);
}

/// The boards a user's full pull shows as existing.
async fn owned_boards(client: &Client) -> std::collections::BTreeSet<uuid::Uuid> {
    client
        .pull_all()
        .await
        .into_iter()
        .filter(|log| log.model == "Board" && log.record.is_some())
        .map(|log| log.record_id().unwrap().parse().unwrap())
        .collect()
}

on_both_backends!(racing_for_the_same_ids_never_crosses_scopes);
