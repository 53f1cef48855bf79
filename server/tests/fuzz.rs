//! Property tests: random and malformed bodies sent to push and pull, and random
//! bodies, emails and paths sent to the board-sharing endpoints, on SQLite and
//! PostgreSQL. Whatever arrives (garbage in `changedFields` too: other names, NUL, wrong
//! types, huge lists), the server answers without a 5xx, keeps serving, and a rejected
//! request (or a push whose every event failed) leaves the database as it was.
//!
//! And text the two databases treat differently (NUL, which PostgreSQL cannot store;
//! other control and invisible characters, non-characters, combining marks, quotes,
//! LIKE wildcards) in every field a client can send, to both backends at once: their
//! answers must be the same, never a 5xx or a retryable error, and text they accept
//! must come back exactly as sent.

mod support;

use proptest::prelude::*;
use proptest::strategy::ValueTree;
use proptest::test_runner::{Config as ProptestConfig, RngAlgorithm, TestRng, TestRunner};
use serde_json::{json, Value};
use support::*;
use sync_protocol::{Board, PushResult, Record};

on_both_backends!(
    random_bodies_never_break_the_server,
    random_sharing_requests_never_break_the_server
);

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

/// What a `changedFields` may hold instead of a short list of the model's field names:
/// other names (the id, another model's, NUL, empty), wrong types, and lists far longer
/// than any model has fields.
fn changed_fields_garbage() -> impl Strategy<Value = Value> {
    let names = [
        "title",
        "isCompleted",
        "name",
        "id",
        "userId",
        "boardId",
        "email",
        "",
        "title\u{0}",
        "\u{0}",
    ];
    let name = prop_oneof![
        prop::sample::select(names.to_vec()).prop_map(Value::from),
        ".{0,12}".prop_map(Value::from),
        any_json(),
    ];
    prop_oneof![
        prop::collection::vec(name, 0..8).prop_map(Value::from),
        (1usize..20_000).prop_map(|n| json!(vec!["title"; n])),
        (1usize..5_000)
            .prop_map(|n| Value::from((0..n).map(|i| format!("field{i}")).collect::<Vec<_>>())),
        any_json(),
    ]
}

/// A valid event for `fixture`, then damaged: a field removed, replaced by any JSON,
/// or an unknown one added; the model or operation swapped; `changedFields` set to
/// garbage.
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
        "changedFields",
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
        0usize..7,
        prop::sample::select(keys.to_vec()),
        prop::sample::select(payload_keys.to_vec()),
        any_json(),
        changed_fields_garbage(),
    )
        .prop_map(move |(pick, how, key, payload_key, value, fields)| {
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
                5 => event["changedFields"] = fields,
                _ => {
                    event["operation"] =
                        json!(["create", "update", "delete", "Create", "upsert"][pick % 5])
                }
            }
            event
        })
}

/// An event of `fixture`, intact but for garbage in its `changedFields`.
fn garbage_fields_event(fixture: &Value) -> impl Strategy<Value = Value> {
    let events = fixture["events"].as_array().cloned().unwrap_or_default();
    (prop::sample::select(events), changed_fields_garbage()).prop_map(|(mut event, fields)| {
        event["changedFields"] = fields;
        event
    })
}

fn inputs(fixture: Value) -> impl Strategy<Value = Input> {
    let bytes = prop::collection::vec(any::<u8>(), 0..64);
    let events = damaged_event(fixture.clone());
    let garbage_fields = garbage_fields_event(&fixture);
    prop_oneof![
        prop::collection::vec(garbage_fields, 1..4)
            .prop_map(|events| Input::Push(json!({ "events": events }).to_string().into_bytes())),
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
        update_fields(milk.clone(), &["title", "isCompleted"]),
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
                // Bad input is refused for good: a retryable error (a fault of ours)
                // would have the client send it again forever.
                assert!(
                    results
                        .iter()
                        .all(|r| r.error.as_ref().is_none_or(|e| !e.retryable)),
                    "{input:?}: {results:?}"
                );
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

/// A request to the board-sharing endpoints.
#[derive(Debug, Clone)]
enum Sharing {
    /// Any bytes as the body of a share.
    Body(Vec<u8>),
    /// A share with this email.
    Email(String),
    /// GET (0), POST (1) or DELETE (2) on `/api/boards/{board}/members[/{member}]`, with
    /// these segments percent-encoded, sent by Bob (true) or Alice (false).
    Path(u8, String, Option<String>, bool),
}

/// The real ids in play: Alice's shared board, Alice, Bob; and Bob's email.
struct Known {
    board: uuid::Uuid,
    alice: uuid::Uuid,
    bob: uuid::Uuid,
    bob_email: String,
}

fn sharing_inputs(known: &Known) -> impl Strategy<Value = Sharing> {
    // Odd text, an unknown id, and often the real ids, so requests reach an existing
    // board and its members.
    let odd = || {
        prop_oneof![
            awkward_text(),
            ".{0,40}",
            Just(uuid::Uuid::new_v4().to_string()),
            Just(String::new()),
        ]
    };
    let board = prop_oneof![
        1 => odd(),
        3 => Just(known.board.to_string()),
        1 => Just(known.alice.to_string()),
    ];
    let member = prop_oneof![
        1 => odd(),
        1 => Just(known.board.to_string()),
        2 => Just(known.alice.to_string()),
        2 => Just(known.bob.to_string()),
    ];
    prop_oneof![
        1 => prop::collection::vec(any::<u8>(), 0..64).prop_map(Sharing::Body),
        1 => any_json().prop_map(|v| Sharing::Body(v.to_string().into_bytes())),
        1 => any_json()
            .prop_map(|email| Sharing::Body(json!({ "email": email }).to_string().into_bytes())),
        1 => awkward_text().prop_map(Sharing::Email),
        1 => ".{0,30}".prop_map(Sharing::Email),
        1 => Just(Sharing::Email(known.bob_email.clone())),
        6 => (0u8..3, board, prop::option::weighted(0.8, member), any::<bool>())
            .prop_map(|(method, board, member, as_bob)| Sharing::Path(
                method, board, member, as_bob
            )),
    ]
}

fn percent_encoded(text: &str) -> String {
    text.bytes()
        .map(|byte| {
            if byte.is_ascii_alphanumeric() || byte == b'-' {
                (byte as char).to_string()
            } else {
                format!("%{byte:02X}")
            }
        })
        .collect()
}

async fn random_sharing_requests_never_break_the_server(backend: Backend) {
    let Some(server) = TestServer::start(backend).await else {
        return;
    };
    let alice = server.user("alice").await;
    let bob = server.user("bob").await;
    let home = board(alice.user_id(), "Home");
    alice.apply(&create(home.clone())).await;
    alice.share_with(home.id, &bob).await;
    let known = Known {
        board: home.id,
        alice: alice.user_id(),
        bob: bob.user_id(),
        bob_email: bob.user().email.clone(),
    };
    let members = sync_protocol::sharing::members_path(home.id);
    let cases = match backend {
        Backend::Sqlite => 120,
        Backend::Postgres => 60,
    };
    let runtime = tokio::runtime::Handle::current();
    let db = &server.db;
    tokio::task::block_in_place(|| {
        let mut runner = TestRunner::new(ProptestConfig {
            cases,
            failure_persistence: None,
            ..ProptestConfig::default()
        });
        let result = runner.run(&sharing_inputs(&known), |input| {
            runtime.block_on(async {
                let before = db.snapshot().await;
                let response = match &input {
                    Sharing::Body(body) => alice.post_raw(&members, body.clone()).await,
                    Sharing::Email(email) => alice.share(home.id, email).await,
                    Sharing::Path(method, board, member, as_bob) => {
                        let client = if *as_bob { &bob } else { &alice };
                        let mut path = format!("/api/boards/{}/members", percent_encoded(board));
                        if let Some(member) = member {
                            path.push_str(&format!("/{}", percent_encoded(member)));
                        }
                        let url = client.url(&path);
                        let request = match method {
                            0 => client.http.get(url),
                            1 => client
                                .http
                                .post(url)
                                .json(&json!({"email": "x@example.com"})),
                            _ => client.http.delete(url),
                        };
                        let token = client.token.clone().unwrap_or_default();
                        request.bearer_auth(token).send().await.unwrap()
                    }
                };
                let status = response.status();
                assert!(!status.is_server_error(), "{input:?} got {status}");
                let text = response.text().await.unwrap();
                if !status.is_success() {
                    let answer: Value = serde_json::from_str(&text)
                        .unwrap_or_else(|_| panic!("{input:?}: JSON answer: {text}"));
                    assert!(answer["error"].is_string(), "{answer}");
                }
                if status.is_success() {
                    // Legitimate changes (Bob removed, leaving, or shared again) are
                    // allowed; share the board with Bob again so the next cases still
                    // meet a member (201 when he had gone, a refusal when he is in).
                    let again = alice.share(home.id, &known.bob_email).await;
                    assert!(!again.status().is_server_error(), "sharing again");
                } else {
                    // A refused request changes nothing.
                    assert_eq!(
                        db.snapshot().await,
                        before,
                        "{input:?} changed the database"
                    );
                }
            });
            Ok(())
        });
        if let Err(failure) = result {
            panic!("{failure}");
        }
    });
    assert_eq!(alice.get("/api/health").await.status(), 200);
}

/// Text pieces that databases, drivers or text handling treat differently.
const AWKWARD: &[&str] = &[
    "\u{0}",
    "\u{1}",
    "\u{1b}",
    "\u{7f}",
    "\u{80}",
    "\u{85}",
    "\u{a0}",
    "\u{200b}",
    "\u{2028}",
    "\u{202e}",
    "\u{feff}",
    "\u{fffd}",
    "\u{fffe}",
    "\u{ffff}",
    "\u{10ffff}",
    "🦀",
    "e\u{301}",
    "ß",
    "İ",
    "ǅ",
    "\\",
    "'",
    "\"",
    "%",
    "_",
    "\t",
    "\n",
    "\r",
    " ",
    "a",
    "Z",
    "０",
    "@",
    ".",
];

fn awkward_text() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(AWKWARD), 0..6).prop_map(|parts| parts.concat())
}

/// One field of one request, holding awkward text.
#[derive(Debug, Clone)]
enum Hostile {
    BoardName(String),
    TodoTitle(String),
    TodoDescription(String),
    UserName(String),
    UserImage(String),
    /// A field name in an update's changedFields.
    ChangedField(String),
    EventId(String),
    LoginEmail(String),
    SignupName(String),
    SignupEmail(String),
    Cursor(String),
}

fn hostile() -> impl Strategy<Value = Hostile> {
    prop_oneof![
        awkward_text().prop_map(Hostile::BoardName),
        awkward_text().prop_map(Hostile::TodoTitle),
        awkward_text().prop_map(Hostile::TodoDescription),
        awkward_text().prop_map(Hostile::UserName),
        awkward_text().prop_map(Hostile::UserImage),
        awkward_text().prop_map(Hostile::ChangedField),
        awkward_text().prop_map(Hostile::EventId),
        awkward_text().prop_map(Hostile::LoginEmail),
        awkward_text().prop_map(Hostile::SignupName),
        awkward_text().prop_map(Hostile::SignupEmail),
        awkward_text().prop_map(Hostile::Cursor),
    ]
}

/// What a backend answered, in terms that must not differ between backends.
#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    Status(u16),
    /// A push's answer: each event's error type (None when applied) and retryability.
    Pushed(Vec<(Option<String>, bool)>),
}

/// One backend's server and the data the inputs aim at.
struct Side {
    server: TestServer,
    alice: Client,
    home: Board,
}

impl Side {
    async fn start(backend: Backend) -> Option<Side> {
        let server = TestServer::start(backend).await?;
        let alice = server.user("alice").await;
        let home = board(alice.user_id(), "Home");
        alice.apply(&create(home.clone())).await;
        Some(Side {
            server,
            alice,
            home,
        })
    }

    /// Sends `input`; checks that accepted text comes back unchanged.
    async fn send(&self, input: &Hostile, n: usize) -> Outcome {
        let alice = &self.alice;
        let anonymous = self.server.anonymous();
        let unique = uuid::Uuid::new_v4().simple().to_string();
        let (events, sent) = match input {
            Hostile::BoardName(text) => {
                let mut board = board(alice.user_id(), "x");
                board.name = format!("{text}{n}");
                let name = board.name.clone();
                (vec![create(board)], Some(("name", name)))
            }
            Hostile::TodoTitle(text) => {
                let mut todo = todo(self.home.id, "x");
                todo.title = text.clone();
                (vec![create(todo)], Some(("title", text.clone())))
            }
            Hostile::TodoDescription(text) => {
                let mut todo = todo(self.home.id, "x");
                todo.description = Some(text.clone());
                (vec![create(todo)], Some(("description", text.clone())))
            }
            Hostile::UserName(text) => {
                let mut user = alice.user().clone();
                user.name = text.clone();
                (vec![update(user)], Some(("name", text.clone())))
            }
            Hostile::UserImage(text) => {
                let mut user = alice.user().clone();
                user.image = Some(text.clone());
                (vec![update(user)], Some(("image", text.clone())))
            }
            Hostile::ChangedField(text) => {
                let renamed = Board {
                    name: format!("renamed {n}"),
                    ..self.home.clone()
                };
                (vec![update_fields(renamed, &["name", text])], None)
            }
            Hostile::EventId(text) => {
                let mut event = create(board(alice.user_id(), &format!("event {n}")));
                event.id = format!("{text}{n}");
                (vec![event], None)
            }
            Hostile::LoginEmail(text) => {
                let status = anonymous.login(text, PASSWORD).await.status().as_u16();
                return Outcome::Status(status);
            }
            Hostile::SignupName(text) => {
                let email = format!("{unique}@example.com");
                let status = anonymous.signup(&email, PASSWORD, text).await.status();
                return Outcome::Status(status.as_u16());
            }
            Hostile::SignupEmail(text) => {
                let email = format!("{text}{unique}@example.com");
                let status = anonymous.signup(&email, PASSWORD, "N").await.status();
                return Outcome::Status(status.as_u16());
            }
            Hostile::Cursor(text) => {
                let body = json!({ "lastChangelogId": text });
                let status = alice.post_json("/api/sync/pull", &body).await.status();
                return Outcome::Status(status.as_u16());
            }
        };
        let response = alice.push_response(&events).await;
        if response.status() != 200 {
            return Outcome::Status(response.status().as_u16());
        }
        let results: Vec<PushResult> = response.json().await.unwrap();
        if let (Some(applied), Some((field, text))) = (&results[0].applied_changelog_id, sent) {
            // The entry's record carries the text exactly as sent.
            let seq: u64 = applied.parse().unwrap();
            let before = format!("{:020}", seq - 1);
            let page = alice.pull(Some(&before), Some(1)).await;
            let record = page.logs_with_records[0].record.clone().expect("a record");
            assert_eq!(record[field], json!(text), "{input:?} came back changed");
            assert!(Record::from_json(
                sync_protocol::Model::parse(&page.logs_with_records[0].model).unwrap(),
                record
            )
            .is_ok());
        }
        Outcome::Pushed(
            results
                .iter()
                .map(|r| {
                    let error = r.error.as_ref();
                    (
                        error.map(|e| e.kind.name().to_string()),
                        error.is_some_and(|e| e.retryable),
                    )
                })
                .collect(),
        )
    }
}

/// Awkward text everywhere, to SQLite and PostgreSQL alike (SQLite alone when PostgreSQL
/// is unreachable outside CI).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn text_the_backends_treat_differently_is_answered_alike() {
    let sqlite = Side::start(Backend::Sqlite).await.expect("SQLite");
    let postgres = Side::start(Backend::Postgres).await;
    // A fixed seed: the same inputs every run, on both sides.
    let mut runner = TestRunner::new_with_rng(
        ProptestConfig::default(),
        TestRng::deterministic_rng(RngAlgorithm::ChaCha),
    );
    let strategy = hostile();
    let mut inputs: Vec<Hostile> = AWKWARD
        .iter()
        .flat_map(|piece| {
            [
                Hostile::TodoDescription(format!("a{piece}b")),
                Hostile::BoardName(format!("a{piece}b")),
                Hostile::ChangedField(format!("name{piece}")),
                Hostile::EventId(format!("a{piece}b")),
                Hostile::LoginEmail(format!("a{piece}b@example.com")),
            ]
        })
        .collect();
    for _ in 0..160 {
        inputs.push(strategy.new_tree(&mut runner).unwrap().current());
    }
    for (n, input) in inputs.iter().enumerate() {
        let on_sqlite = sqlite.send(input, n).await;
        match &on_sqlite {
            Outcome::Status(status) => assert!(*status < 500, "{input:?} got {status}"),
            Outcome::Pushed(results) => assert!(
                results.iter().all(|(_, retryable)| !retryable),
                "{input:?}: a retryable error can never succeed: {results:?}"
            ),
        }
        if let Some(postgres) = &postgres {
            let on_postgres = postgres.send(input, n).await;
            assert_eq!(
                on_sqlite, on_postgres,
                "{input:?}: SQLite and PostgreSQL differ"
            );
        }
    }
    assert_eq!(sqlite.alice.get("/api/health").await.status(), 200);
}
