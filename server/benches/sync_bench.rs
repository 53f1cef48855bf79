//! Sync server benchmark (a program, not a test):
//! `cargo bench -p sync-server --bench sync_bench`.
//!
//! For SQLite, then PostgreSQL (skipped with a note when unreachable; `TEST_POSTGRES_URL`
//! names the admin URL), over real HTTP against an in-process server:
//! - push throughput in events per second, batches of 100 new todos, from one client and
//!   from four clients of four users at once;
//! - pull latency of one page (100 entries, and 1000) at random cursors in a scope
//!   whose changelog holds 100,000 entries (seeded directly with SQL), p50 and p95.

use serde_json::{json, Value};
use sqlx::Connection;
use std::time::{Duration, Instant};
use sync_protocol::{Board, Operation, OutboxEvent, PullResponse, Record, Timestamp, Todo};
use sync_server::{Config, Server};
use uuid::Uuid;

const DEFAULT_POSTGRES_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
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
    let dir = tempfile::tempdir().expect("temp dir");
    let sqlite_url = format!("sqlite://{}", dir.path().join("bench.db").display());
    run("SQLite", Backend::Sqlite, &sqlite_url).await;

    let admin =
        std::env::var("TEST_POSTGRES_URL").unwrap_or_else(|_| DEFAULT_POSTGRES_ADMIN_URL.into());
    match sqlx::PgConnection::connect(&admin).await {
        Err(error) => println!("\nPostgreSQL: SKIPPED (unreachable at {admin}: {error})"),
        Ok(mut connection) => {
            let name = format!("sync_bench_{}", Uuid::new_v4().simple());
            sqlx::query(&format!("CREATE DATABASE {name}"))
                .execute(&mut connection)
                .await
                .expect("create the bench database");
            let url = database_url(&admin, &name);
            run("PostgreSQL", Backend::Postgres, &url).await;
            sqlx::query(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
                .execute(&mut connection)
                .await
                .expect("drop the bench database");
        }
    }
}

#[derive(Clone, Copy)]
enum Backend {
    Sqlite,
    Postgres,
}

async fn run(label: &str, backend: Backend, url: &str) {
    println!("\n{label}");
    let app_dir = tempfile::tempdir().expect("temp dir");
    let server = Server::start(Config::local(url, app_dir.path()))
        .await
        .expect("server starts")
        .spawn();
    let base = server.url.clone();

    // Push, one client.
    let solo = Client::signup(&base, "solo").await;
    let board = solo.board().await;
    let started = Instant::now();
    for _ in 0..SOLO_BATCHES {
        solo.push_todos(board).await;
    }
    let rate = (SOLO_BATCHES * BATCH) as f64 / started.elapsed().as_secs_f64();
    println!(
        "  push, 1 client:   {rate:>8.0} events/s ({} events)",
        SOLO_BATCHES * BATCH
    );

    // Push, several users at once.
    let mut crowd = Vec::new();
    for i in 0..CROWD_CLIENTS {
        let client = Client::signup(&base, &format!("crowd{i}")).await;
        let board = client.board().await;
        crowd.push((client, board));
    }
    let started = Instant::now();
    let tasks: Vec<_> = crowd
        .into_iter()
        .map(|(client, board)| {
            tokio::spawn(async move {
                for _ in 0..CROWD_BATCHES {
                    client.push_todos(board).await;
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
    let reader = Client::signup(&base, "reader").await;
    let board = reader.board().await;
    let started = Instant::now();
    seed(backend, url, reader.user_id, board, ENTRIES - 2).await;
    println!(
        "  seeded {} entries with SQL in {:.1} s",
        ENTRIES - 2,
        started.elapsed().as_secs_f64()
    );
    let last = reader.pull(None, 1).await.cursor;
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
            let page = reader.pull(Some(&cursor), limit).await;
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
async fn seed(backend: Backend, url: &str, user: Uuid, board: Uuid, count: i64) {
    let now = Timestamp::from_datetime(chrono::Utc::now()).as_millis();
    match backend {
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

struct Client {
    http: reqwest::Client,
    base: String,
    token: String,
    user_id: Uuid,
}

impl Client {
    async fn signup(base: &str, name: &str) -> Client {
        let http = reqwest::Client::new();
        let email = format!("{name}-{}@example.com", Uuid::new_v4().simple());
        let session: Value = http
            .post(format!("{base}/api/auth/signup"))
            .json(&json!({"email": email, "password": "benchmark password", "name": name}))
            .send()
            .await
            .expect("sign-up")
            .json()
            .await
            .expect("session");
        Client {
            http,
            base: base.to_string(),
            token: session["token"].as_str().expect("token").to_string(),
            user_id: session["user"]["id"]
                .as_str()
                .expect("id")
                .parse()
                .expect("uuid"),
        }
    }

    async fn board(&self) -> Uuid {
        let board = Board {
            id: Uuid::new_v4(),
            name: "Bench".into(),
            created_at: now(),
            user_id: self.user_id,
        };
        self.push(&[event(board.clone().into())]).await;
        board.id
    }

    async fn push_todos(&self, board: Uuid) {
        let events: Vec<_> = (0..BATCH)
            .map(|i| {
                event(
                    Todo {
                        id: Uuid::new_v4(),
                        title: format!("todo {i}"),
                        description: None,
                        is_completed: false,
                        created_at: now(),
                        board_id: board,
                    }
                    .into(),
                )
            })
            .collect();
        self.push(&events).await;
    }

    async fn push(&self, events: &[OutboxEvent]) {
        let results: Vec<Value> = self
            .http
            .post(format!("{}/api/sync/push", self.base))
            .bearer_auth(&self.token)
            .json(&json!({ "events": events }))
            .send()
            .await
            .expect("push")
            .json()
            .await
            .expect("results");
        assert!(
            results.iter().all(|r| r["error"].is_null()),
            "every event applies"
        );
    }

    async fn pull(&self, cursor: Option<&str>, limit: u32) -> PullResponse {
        let mut body = json!({ "limit": limit });
        if let Some(cursor) = cursor {
            body["lastChangelogId"] = json!(cursor);
        }
        self.http
            .post(format!("{}/api/sync/pull", self.base))
            .bearer_auth(&self.token)
            .json(&body)
            .send()
            .await
            .expect("pull")
            .json()
            .await
            .expect("page")
    }
}

fn now() -> Timestamp {
    Timestamp::from_datetime(chrono::Utc::now())
}

fn event(record: Record) -> OutboxEvent {
    OutboxEvent::new(Uuid::new_v4(), Operation::Create, &record, now())
}

/// The admin URL with its database name replaced.
fn database_url(admin: &str, name: &str) -> String {
    let (base, query) = admin
        .split_once('?')
        .map_or((admin, None), |(b, q)| (b, Some(q)));
    let authority_end = base.find("://").map_or(0, |i| i + 3);
    let base = match base[authority_end..].find('/') {
        Some(slash) => &base[..authority_end + slash],
        None => base,
    };
    match query {
        Some(query) => format!("{base}/{name}?{query}"),
        None => format!("{base}/{name}"),
    }
}
