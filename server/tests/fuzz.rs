//! Property test: random and malformed bodies sent to push and pull, on SQLite and
//! PostgreSQL. Whatever arrives, the server answers without a 5xx, keeps serving, and a
//! rejected request (or a push whose every event failed) leaves the database as it was.

mod support;

use proptest::prelude::*;
use proptest::test_runner::{Config as ProptestConfig, TestRunner};
use serde_json::{json, Value};
use support::*;
use sync_protocol::PushResult;

on_both_backends!(random_bodies_never_break_the_server);

/// A request to send.
#[derive(Debug, Clone)]
enum Input {
    Push(Vec<u8>),
    Pull(Vec<u8>),
}

/// Any JSON value, a few levels deep.
fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        Just(json!("00000000000000000001")),
        Just(json!("2026-11-27T10:00:00.000Z")),
        Just(json!("Board")),
        Just(json!("update")),
    ];
    leaf.prop_recursive(3, 24, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::from),
            prop::collection::btree_map("[a-zA-Z]{0,10}", inner, 0..6)
                .prop_map(|map| Value::Object(map.into_iter().collect())),
        ]
    })
}

/// A valid event for `fixture`, then damaged: a field removed, replaced by any JSON,
/// or an unknown one added; the model or operation swapped.
fn damaged_event(fixture: Value) -> impl Strategy<Value = Value> {
    let keys = [
        "id",
        "entityType",
        "operation",
        "payload",
        "createdAt",
        "tries",
        "lastError",
        "synced",
        "syncedAt",
        "retryable",
        "lastAttemptedAt",
    ];
    let payload_keys = [
        "id",
        "title",
        "description",
        "isCompleted",
        "createdAt",
        "boardId",
        "name",
        "userId",
    ];
    let events = fixture["events"].as_array().cloned().unwrap_or_default();
    (
        0..events.len().max(1),
        0usize..6,
        prop::sample::select(keys.to_vec()),
        prop::sample::select(payload_keys.to_vec()),
        any_json(),
    )
        .prop_map(move |(pick, how, key, payload_key, value)| {
            let mut event = events[pick].clone();
            match how {
                0 => {
                    event.as_object_mut().unwrap().remove(key);
                }
                1 => event[key] = value,
                2 => event["payload"][payload_key] = value,
                3 => {
                    event["payload"]
                        .as_object_mut()
                        .map(|p| p.remove(payload_key));
                }
                4 => event["entityType"] = json!(["User", "Board", "Todo", "board", ""][pick % 5]),
                _ => {
                    event["operation"] =
                        json!(["create", "update", "delete", "Create", "upsert"][pick % 5])
                }
            }
            event
        })
}

fn inputs(fixture: Value) -> impl Strategy<Value = Input> {
    let bytes = prop::collection::vec(any::<u8>(), 0..64);
    let events = damaged_event(fixture.clone());
    prop_oneof![
        bytes.clone().prop_map(Input::Push),
        bytes.prop_map(Input::Pull),
        any_json().prop_map(|v| Input::Push(v.to_string().into_bytes())),
        any_json().prop_map(|v| Input::Pull(v.to_string().into_bytes())),
        any_json().prop_map(|v| Input::Push(json!({ "events": v }).to_string().into_bytes())),
        prop::collection::vec(events, 1..4)
            .prop_map(|events| Input::Push(json!({ "events": events }).to_string().into_bytes())),
        (any_json(), any_json()).prop_map(|(cursor, limit)| {
            Input::Pull(
                json!({"lastChangelogId": cursor, "limit": limit})
                    .to_string()
                    .into_bytes(),
            )
        }),
        ".{0,30}".prop_map(|cursor| Input::Pull(
            json!({ "lastChangelogId": cursor })
                .to_string()
                .into_bytes()
        )),
    ]
}

async fn random_bodies_never_break_the_server(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    // Some data for damaged events to aim at.
    let home = board(alice.user_id(), "Home");
    let milk = todo(home.id, "Milk");
    alice.apply(&create(home.clone())).await;
    alice.apply(&create(milk.clone())).await;
    let fixture = json!({"events": [
        update(home.clone()),
        create(todo(home.id, "Eggs")),
        update(milk.clone()),
        delete(milk.clone()),
        update(alice.user().clone()),
    ]});

    let cases = match backend {
        Backend::Sqlite => 160,
        Backend::Postgres => 80,
    };
    let runtime = tokio::runtime::Handle::current();
    let alice = std::sync::Arc::new(alice);
    let db = &server.db;
    let strategy = inputs(fixture);
    // The runner is synchronous; it runs on a blocking thread and drives each request
    // on the test's runtime.
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = runner.run(&strategy, |input| {
            runtime.block_on(check(&alice, db, input));
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
    });
    // Still serving.
    assert_eq!(alice.get("/api/health").await.status(), 200);
}

/// Sends one input and checks the server's answer and the database.
async fn check(alice: &Client, db: &TestDb, input: Input) {
    let before = db.snapshot().await;
    let (path, body) = match &input {
        Input::Push(body) => ("/api/sync/push", body.clone()),
        Input::Pull(body) => ("/api/sync/pull", body.clone()),
    };
    let response = alice.post_raw(path, body).await;
    let status = response.status();
    assert!(!status.is_server_error(), "{input:?} got {status}");
    let text = response.text().await.unwrap();
    let answer: Value =
        serde_json::from_str(&text).unwrap_or_else(|_| panic!("JSON answer: {text}"));
    let unchanged = if status.is_success() {
        match input {
            // A push changes the database only through events it applied.
            Input::Push(_) => {
                let results: Vec<PushResult> = serde_json::from_value(answer).unwrap();
                results.iter().all(|r| r.error.is_some())
            }
            Input::Pull(_) => true,
        }
    } else {
        assert!(answer["error"].is_string(), "{answer}");
        true
    };
    if unchanged {
        assert_eq!(
            db.snapshot().await,
            before,
            "{input:?} changed the database"
        );
    }
}
