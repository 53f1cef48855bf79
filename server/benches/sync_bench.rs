//! Sync server benchmark (a program, not a test): `cargo bench -p sync-server --bench
//! sync_bench --profile server` (what `cargo xtask bench` runs).
//!
//! For SQLite, then PostgreSQL (skipped with a note when unreachable; `TEST_POSTGRES_URL`
//! names the admin URL), over real HTTP against an in-process server on a fresh database
//! (the tests' support module makes both):
//! - push throughput in events per second, batches of 100 new todos, from one client and
//!   from four clients of four users at once;
//! - the batching ratio: the time of 100 one-event pushes over that of one 100-event push;
//! - push latency with 50 clients (50 users) pushing batches of 10 at once, p50 and p95;
//! - pull latency of one page (100 entries, and 1000) at random cursors in a scope
//!   whose changelog holds 1,000,000 entries (seeded directly with SQL), p50 and p95.
//!
//! `SYNC_BENCH_ENTRIES` overrides the changelog size (e.g. 100000 for a quick run).

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
const RATIO_ROUNDS: usize = 3;
const MANY_CLIENTS: usize = 50;
const MANY_BATCH: usize = 10;
const MANY_PUSHES: usize = 10;
const DEFAULT_ENTRIES: i64 = 1_000_000;
const PULLS: usize = 300;

#[tokio::main]
async fn main() {
    let entries = std::env::var("SYNC_BENCH_ENTRIES")
        .ok()
        .and_then(|n| n.parse::<i64>().ok())
        .filter(|n| *n > 2_000)
        .unwrap_or(DEFAULT_ENTRIES);
    println!(
        "sync-server benchmark (push: batches of {BATCH}; pull: {entries} entries in the scope)"
    );
    for (label, backend) in [
        ("SQLite", Backend::Sqlite),
        ("PostgreSQL", Backend::Postgres),
    ] {
        // The benchmark signs up dozens of users from one address, and its pool serves
        // 50 clients at once.
        let server = TestServer::start_with(backend, |config| {
            config.signup_max_per_window = 1_000;
            config.db_max_connections = 20;
        })
        .await;
        match server {
            Some(server) => run(label, server, entries).await,
            None => println!("\n{label}: SKIPPED (see the note above)"),
        }
    }
}

async fn run(label: &str, mut server: TestServer, entries: i64) {
    println!("\n{label}");

    // Push, one client.
    let solo = server.user("solo").await;
    let board = new_board(&solo).await;
    let started = Instant::now();
    for _ in 0..SOLO_BATCHES {
        push_todos(&solo, board, BATCH).await;
    }
    let rate = (SOLO_BATCHES * BATCH) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  push, 1 client:   {rate:>8.0} events/s ({} events)",
        SOLO_BATCHES * BATCH
    );

    // What batching buys: 100 pushes of one event against one push of 100.
    let mut ratios = Vec::new();
    let (mut singles, mut batches) = (Duration::ZERO, Duration::ZERO);
    for _ in 0..RATIO_ROUNDS {
        let started = Instant::now();
        for _ in 0..BATCH {
            push_todos(&solo, board, 1).await;
        }
        let single = started.elapsed();
        let started = Instant::now();
        push_todos(&solo, board, BATCH).await;
        let batch = started.elapsed();
        singles += single;
        batches += batch;
        ratios.push(single.as_secs_f64() / batch.as_secs_f64());
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "  batching ratio:   {:>8.1}x  (100 one-event pushes {:.1} ms / one 100-event push {:.1} ms; median of {RATIO_ROUNDS})",
        ratios[RATIO_ROUNDS / 2],
        ms(singles) / RATIO_ROUNDS as f64,
        ms(batches) / RATIO_ROUNDS as f64
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
                    push_todos(&client, board, BATCH).await;
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

    // Push latency, many users at once.
    let mut many = Vec::new();
    for i in 0..MANY_CLIENTS {
        let client = server.user(&format!("many{i}")).await;
        let board = new_board(&client).await;
        many.push((client, board));
    }
    let started = Instant::now();
    let tasks: Vec<_> = many
        .into_iter()
        .map(|(client, board)| {
            tokio::spawn(async move {
                let mut times = Vec::with_capacity(MANY_PUSHES);
                for _ in 0..MANY_PUSHES {
                    let started = Instant::now();
                    push_todos(&client, board, MANY_BATCH).await;
                    times.push(started.elapsed());
                }
                times
            })
        })
        .collect();
    let mut times = Vec::new();
    for task in tasks {
        times.extend(task.await.expect("pusher"));
    }
    let rate = (times.len() * MANY_BATCH) as f64 / started.elapsed().as_secs_f64();
    times.sort();
    println!(
        "  push, {MANY_CLIENTS} clients: p50 {:>6.1} ms, p95 {:>6.1} ms per push of {MANY_BATCH} ({} pushes, {rate:.0} events/s)",
        ms(times[times.len() / 2]),
        ms(times[times.len() * 95 / 100]),
        times.len()
    );

    // Pull at scale.
    let reader = server.user("reader").await;
    let board = new_board(&reader).await;
    let started = Instant::now();
    seed(&server, reader.user_id(), board, entries - 2).await;
    println!(
        "  seeded {} entries with SQL in {:.1} s",
        entries - 2,
        started.elapsed().as_secs_f64()
    );
    let last = reader.pull(None, Some(1)).await.cursor;
    assert!(last.is_some());
    // Warm-up: the first pages read cold pages from disk, which a server in use has not.
    for i in 0..50u64 {
        reader
            .pull(Some(&format!("{:020}", i * 997 % 1000)), Some(100))
            .await;
    }
    for limit in [100u32, 1000] {
        let mut times = Vec::with_capacity(PULLS);
        let mut state = 0x2545_f491_4f6c_dd1du64;
        for _ in 0..PULLS {
            // xorshift: cheap, reproducible cursors spread over the whole changelog.
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let after = state % (entries as u64 - u64::from(limit));
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
            // Steady state: the seeded pages in the database file, not in a huge WAL.
            sqlx::query("PRAGMA wal_checkpoint(TRUNCATE)")
                .execute(&mut db)
                .await
                .expect("checkpoint");
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
            // A table of this size in use has been vacuumed long ago; measuring while
            // autovacuum works through a million fresh rows would measure that instead.
            sqlx::query("VACUUM ANALYZE")
                .execute(&mut db)
                .await
                .expect("vacuum");
        }
    }
}

/// A new board of the client's user; returns its id.
async fn new_board(client: &Client) -> Uuid {
    let board = board(client.user_id(), "Bench");
    applied(client, &[create(board.clone())]).await;
    board.id
}

/// One batch of `count` new todos on `board`.
async fn push_todos(client: &Client, board: Uuid, count: usize) {
    let events: Vec<_> = (0..count)
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
