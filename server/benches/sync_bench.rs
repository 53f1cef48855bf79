//! Sync server benchmark (a program, not a test):
//! `cargo bench -p sync-server --bench sync_bench`.
//!
//! For SQLite, then PostgreSQL (skipped with a note when unreachable; `TEST_POSTGRES_URL`
//! names the admin URL), over real HTTP against an in-process server on a fresh database
//! (the tests' support module makes both):
//! - push throughput in events per second, batches of 100 new todos, from one client and
//!   from four clients of four users at once;
//! - pull latency of one page (100 entries, and 1000) at random cursors in a scope
//!   whose changelog holds 100,000 entries (seeded directly with SQL), p50 and p95.

#[path = "../tests/support/mod.rs"]
mod support;

use sqlx::Connection;
use std::time::{Duration, Instant};
use support::{board, create, todo, Backend, Client, TestServer};
use sync_protocol::Timestamp;
use uuid::Uuid;

const BATCH: usize = 100;
const SOLO_BATCHES: usize = 30;
const CROWD_CLIENTS: usize = 4;
const CROWD_BATCHES: usize = 10;
const ENTRIES: i64 = 100_000;
const PULLS: usize = 300;

#[tokio::main]
async fn main() {
    println!(
        "sync-server benchmark (push: batches of {BATCH}; pull: {ENTRIES} entries in the scope)"
    );
    for (label, backend) in [
        ("SQLite", Backend::Sqlite),
        ("PostgreSQL", Backend::Postgres),
    ] {
        match TestServer::start(backend).await {
            Some(server) => run(label, server).await,
            None => println!("\n{label}: SKIPPED (see the note above)"),
        }
    }
}

async fn run(label: &str, mut server: TestServer) {
    println!("\n{label}");

    // Push, one client.
    let solo = server.user("solo").await;
    let board = new_board(&solo).await;
    let started = Instant::now();
    for _ in 0..SOLO_BATCHES {
        push_todos(&solo, board).await;
    }
    let rate = (SOLO_BATCHES * BATCH) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  push, 1 client:   {rate:>8.0} events/s ({} events)",
        SOLO_BATCHES * BATCH
    );

    // Push, several users at once.
    let mut crowd = Vec::new();
    for i in 0..CROWD_CLIENTS {
        let client = server.user(&format!("crowd{i}")).await;
        let board = new_board(&client).await;
        crowd.push((client, board));
    }
    let started = Instant::now();
    let tasks: Vec<_> = crowd
        .into_iter()
        .map(|(client, board)| {
            tokio::spawn(async move {
                for _ in 0..CROWD_BATCHES {
                    push_todos(&client, board).await;
                }
            })
        })
        .collect();
    for task in tasks {
        task.await.expect("pusher");
    }
    let total = CROWD_CLIENTS * CROWD_BATCHES * BATCH;
    let rate = total as f64 / started.elapsed().as_secs_f64();
    println!("  push, {CROWD_CLIENTS} clients:  {rate:>8.0} events/s ({total} events, {CROWD_CLIENTS} users)");

    // Pull at 100,000 entries.
    let reader = server.user("reader").await;
    let board = new_board(&reader).await;
    let started = Instant::now();
    seed(&server, reader.user_id(), board, ENTRIES - 2).await;
    println!(
        "  seeded {} entries with SQL in {:.1} s",
        ENTRIES - 2,
        started.elapsed().as_secs_f64()
    );
    let last = reader.pull(None, Some(1)).await.cursor;
    assert!(last.is_some());
    for limit in [100u32, 1000] {
        let mut times = Vec::with_capacity(PULLS);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..PULLS {
            // xorshift: cheap, reproducible cursors spread over the whole changelog.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let after = state % (ENTRIES as u64 - u64::from(limit));
            let cursor = format!("{after:020}");
            let started = Instant::now();
            let page = reader.pull(Some(&cursor), Some(limit)).await;
            times.push(started.elapsed());
            assert_eq!(page.logs_with_records.len(), limit as usize);
        }
        times.sort();
        let p50 = times[times.len() / 2];
        let p95 = times[times.len() * 95 / 100];
        println!(
            "  pull, page of {limit:>4}: p50 {:>6.2} ms, p95 {:>6.2} ms ({PULLS} pulls at random cursors)",
            ms(p50),
            ms(p95)
        );
    }
    server.stop().await;
}

fn ms(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1000.0
}

/// Adds `count` todos to `board`, each with a `create` entry in `user`'s changelog,
/// straight into the database (pushing them would take minutes).
async fn seed(server: &TestServer, user: Uuid, board: Uuid, count: i64) {
    let now = Timestamp::from_datetime(chrono::Utc::now()).as_millis();
    let url = server.db.url.as_str();
    match server.db.backend {
        Backend::Sqlite => {
            let mut db = sqlx::SqliteConnection::connect(url).await.expect("open");
            let mut tx = db.begin().await.expect("begin");
            let base: i64 = sqlx::query_scalar("SELECT last_seq FROM scopes WHERE scope_key = $1")
                .bind(user.to_string())
                .fetch_one(&mut *tx)
                .await
                .expect("scope");
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                 INSERT INTO todos (id, title, description, is_completed, created_at, board_id) \
                 SELECT printf('00000000-0000-4000-8000-%012x', i), 'seeded ' || i, NULL, 0, $2, $3 \
                 FROM n",
            )
            .bind(count)
            .bind(now)
            .bind(board.to_string())
            .execute(&mut *tx)
            .await
            .expect("seed todos");
            sqlx::query(
                "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $1) \
                 INSERT INTO changelog (scope_key, seq, model, key_path, operation, outbox_event_id, created_at) \
                 SELECT $2, $3 + i, 'Todo', json_array(printf('00000000-0000-4000-8000-%012x', i)), \
                 'create', 'seed-' || i, $4 FROM n",
            )
            .bind(count)
            .bind(user.to_string())
            .bind(base)
            .bind(now)
            .execute(&mut *tx)
            .await
            .expect("seed changelog");
            sqlx::query("UPDATE scopes SET last_seq = $2 WHERE scope_key = $1")
                .bind(user.to_string())
                .bind(base + count)
                .execute(&mut *tx)
                .await
                .expect("scope");
            tx.commit().await.expect("commit");
        }
        Backend::Postgres => {
            let mut db = sqlx::PgConnection::connect(url).await.expect("open");
            let mut tx = db.begin().await.expect("begin");
            let base: i64 = sqlx::query_scalar("SELECT last_seq FROM scopes WHERE scope_key = $1")
                .bind(user.to_string())
                .fetch_one(&mut *tx)
                .await
                .expect("scope");
            sqlx::query(
                "INSERT INTO todos (id, title, description, is_completed, created_at, board_id) \
                 SELECT '00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0'), 'seeded ' || i, \
                 NULL, false, $2, $3 FROM generate_series(1, $1::bigint) AS i",
            )
            .bind(count)
            .bind(now)
            .bind(board.to_string())
            .execute(&mut *tx)
            .await
            .expect("seed todos");
            sqlx::query(
                "INSERT INTO changelog (scope_key, seq, model, key_path, operation, outbox_event_id, created_at) \
                 SELECT $2, $3 + i, 'Todo', jsonb_build_array('00000000-0000-4000-8000-' || lpad(to_hex(i), 12, '0')), \
                 'create', 'seed-' || i, $4 FROM generate_series(1, $1::bigint) AS i",
            )
            .bind(count)
            .bind(user.to_string())
            .bind(base)
            .bind(now)
            .execute(&mut *tx)
            .await
            .expect("seed changelog");
            sqlx::query("UPDATE scopes SET last_seq = $2 WHERE scope_key = $1")
                .bind(user.to_string())
                .bind(base + count)
                .execute(&mut *tx)
                .await
                .expect("scope");
            tx.commit().await.expect("commit");
            sqlx::query("ANALYZE")
                .execute(&mut db)
                .await
                .expect("analyze");
        }
    }
}

/// A new board of the client's user; returns its id.
async fn new_board(client: &Client) -> Uuid {
    let board = board(client.user_id(), "Bench");
    applied(client, &[create(board.clone())]).await;
    board.id
}

/// One batch of new todos on `board`.
async fn push_todos(client: &Client, board: Uuid) {
    let events: Vec<_> = (0..BATCH)
        .map(|i| create(todo(board, &format!("todo {i}"))))
        .collect();
    applied(client, &events).await;
}

async fn applied(client: &Client, events: &[sync_protocol::OutboxEvent]) {
    let results = client.push(events).await;
    assert!(
        results.iter().all(|r| r.error.is_none()),
        "every event applies"
    );
}
