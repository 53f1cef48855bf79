//! Board sharing over real HTTP, on SQLite and PostgreSQL: the members endpoints and
//! their answers; what a member's pull gets on joining (the owner's public profile, the
//! board, its todos, in that order) and on leaving or removal (the deletes); edits of a
//! shared board's todos reaching the owner and every member; the owner alone renaming or
//! deleting the board and managing members; a removed member's pending edits refused
//! with nothing applied; a todo never leaving its owner's boards; pokes reaching
//! members' streams.

mod support;

use serde_json::{json, Value};
use std::time::Duration;
use support::*;
use sync_protocol::sharing::{Member, MemberList};
use sync_protocol::{Board, LogWithRecord, Operation, PushErrorKind, PushResult, Record, Todo};
use uuid::Uuid;

on_both_backends!(
    the_members_endpoints_answer_plainly,
    a_member_pulls_the_owners_profile_then_the_board_then_its_todos,
    edits_of_a_shared_board_reach_the_owner_and_every_member,
    only_the_owner_renames_or_deletes_a_board_or_manages_its_members,
    a_removed_member_loses_the_board_and_their_pending_edits_are_refused,
    a_member_who_leaves_loses_the_board_and_can_be_invited_again,
    deleting_a_shared_board_reaches_every_member,
    a_todo_never_leaves_its_owners_boards,
    a_members_stream_is_poked_by_the_owners_push,
    a_profile_change_reaches_the_members_of_the_owners_boards,
    sharing_with_unknown_addresses_again_and_again_is_slowed_down,
);

/// Alice's board "Home" with two todos, and Bob, not yet a member.
struct Setup {
    server: TestServer,
    alice: Client,
    bob: Client,
    home: Board,
    todos: Vec<Todo>,
}

impl Setup {
    async fn start(backend: Backend) -> Option<Setup> {
        let server = TestServer::start(backend).await?;
        let alice = server.user("alice").await;
        let bob = server.user("bob").await;
        let home = board(alice.user_id(), "Home");
        let todos = vec![todo(home.id, "Milk"), todo(home.id, "Bread")];
        alice.apply(&create(home.clone())).await;
        for todo in &todos {
            alice.apply(&create(todo.clone())).await;
        }
        Some(Setup {
            server,
            alice,
            bob,
            home,
            todos,
        })
    }

    async fn shared(backend: Backend) -> Option<Setup> {
        let setup = Setup::start(backend).await?;
        setup.alice.share_with(setup.home.id, &setup.bob).await;
        Some(setup)
    }
}

/// `(model, operation, record id)` of each entry.
fn entries(logs: &[LogWithRecord]) -> Vec<(String, Operation, String)> {
    logs.iter()
        .map(|log| {
            (
                log.model.clone(),
                log.operation,
                log.record_id().unwrap_or_default().to_string(),
            )
        })
        .collect()
}

fn entry(model: &str, operation: Operation, id: Uuid) -> (String, Operation, String) {
    (model.to_string(), operation, id.to_string())
}

/// The entries of a client's changelog after `cursor`.
async fn pull_after(client: &Client, cursor: &str) -> Vec<LogWithRecord> {
    client
        .pull(Some(cursor), Some(1000))
        .await
        .logs_with_records
}

/// The cursor at the end of a client's changelog now.
async fn end_of(client: &Client) -> String {
    client.pull_all().await.last().unwrap().id.clone()
}

fn refusal(result: &PushResult) -> (PushErrorKind, Option<Value>) {
    let error = result.error.as_ref().expect("a refusal");
    assert!(!error.retryable, "{error:?}");
    let state = result.server_state.as_ref().expect("a server state");
    (error.kind, state.record.clone())
}

fn json_of(record: impl Into<Record>) -> Value {
    record.into().to_json()
}

async fn members(client: &Client, board: Uuid) -> MemberList {
    let response = client.members(board).await;
    assert_eq!(response.status(), 200);
    response.json().await.unwrap()
}

fn member(client: &Client) -> Member {
    Member {
        user_id: client.user_id(),
        email: client.user().email.clone(),
        name: client.user().name.clone(),
    }
}

async fn the_members_endpoints_answer_plainly(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, setup.home.id);
    let carol = setup.server.user("carol").await;
    let dave = setup.server.user("dave").await;

    // Shared by email, matched as login matches it (trimmed, any case): 201, then 200.
    let shouted = format!("  {}  ", bob.user().email.to_uppercase());
    let response = alice.share(home, &shouted).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.json::<Member>().await.unwrap(), member(bob));
    let before = bob.pull_all().await.len();
    let response = alice.share(home, &bob.user().email).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.json::<Member>().await.unwrap(), member(bob));
    assert_eq!(bob.pull_all().await.len(), before, "nothing appended again");
    alice.share_with(home, &carol).await;

    // Owner and members, in the order they joined, for the owner and every member.
    let expected = MemberList {
        owner: member(alice),
        members: vec![member(bob), member(&carol)],
    };
    assert_eq!(members(alice, home).await, expected);
    assert_eq!(members(bob, home).await, expected);

    // Unknown account, yourself, not an email, not the body.
    let unknown = alice.share(home, "nobody-here@example.com").await;
    expect_error(
        unknown,
        404,
        "No account is registered with this email address",
    )
    .await;
    let body = expect_error(
        alice.share(home, &alice.user().email).await,
        400,
        "Invalid request",
    )
    .await;
    assert_eq!(
        body["details"],
        json!("you cannot share a board with yourself")
    );
    expect_error(
        alice.share(home, "not an email").await,
        400,
        "Invalid request",
    )
    .await;
    for body in [json!([]), json!({}), json!({"email": 7}), json!("x")] {
        let response = alice
            .post_json(&sync_protocol::sharing::members_path(home), &body)
            .await;
        expect_error(response, 400, "Invalid request").await;
    }
    let malformed = alice
        .post_raw(&sync_protocol::sharing::members_path(home), "{nope")
        .await;
    expect_error(malformed, 400, "Malformed JSON").await;

    // A board the caller cannot see does not exist for them; a member may not manage.
    for board in [Uuid::new_v4(), home] {
        expect_error(
            dave.share(board, &carol.user().email).await,
            404,
            "No such board",
        )
        .await;
        expect_error(dave.members(board).await, 404, "No such board").await;
        expect_error(
            dave.remove_member(board, bob.user_id()).await,
            404,
            "No such board",
        )
        .await;
    }
    expect_error(
        alice.get("/api/boards/not-a-uuid/members").await,
        404,
        "No such board",
    )
    .await;
    expect_error(
        bob.share(home, &dave.user().email).await,
        403,
        "only the owner of a board can share it",
    )
    .await;
    expect_error(
        bob.remove_member(home, carol.user_id()).await,
        403,
        "only the owner of a board can remove its other members",
    )
    .await;
    let body = expect_error(
        alice.remove_member(home, alice.user_id()).await,
        400,
        "Invalid request",
    )
    .await;
    assert_eq!(
        body["details"],
        json!("the owner cannot leave their own board; delete it instead")
    );
    expect_error(
        alice.remove_member(home, dave.user_id()).await,
        404,
        "This account is not a member of this board",
    )
    .await;

    // Without a session, nothing.
    let anonymous = setup.server.anonymous();
    expect_error(anonymous.members(home).await, 401, "Unauthorized").await;
    expect_error(
        anonymous.share(home, &bob.user().email).await,
        401,
        "Unauthorized",
    )
    .await;
    expect_error(
        anonymous.remove_member(home, bob.user_id()).await,
        401,
        "Unauthorized",
    )
    .await;

    // The owner removes Carol: 204, and the list says so.
    assert_eq!(
        alice.remove_member(home, carol.user_id()).await.status(),
        204
    );
    assert_eq!(
        members(alice, home).await.members,
        [member(bob)],
        "Carol is gone"
    );
}

async fn a_member_pulls_the_owners_profile_then_the_board_then_its_todos(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    let alices_log = alice.pull_all().await;
    let cursor = end_of(bob).await;

    alice.share_with(home.id, bob).await;

    let logs = pull_after(bob, &cursor).await;
    let mut expected = vec![
        entry("User", Operation::Create, alice.user_id()),
        entry("Board", Operation::Create, home.id),
    ];
    let mut todo_ids: Vec<Uuid> = setup.todos.iter().map(|todo| todo.id).collect();
    todo_ids.sort();
    expected.extend(
        todo_ids
            .iter()
            .map(|id| entry("Todo", Operation::Create, *id)),
    );
    assert_eq!(entries(&logs), expected, "foreign keys first");
    // The owner's public profile: who shared it, nothing the server manages.
    let owner = alice.user();
    assert_eq!(
        logs[0].record,
        Some(json!({
            "id": owner.id,
            "name": owner.name,
            "email": owner.email,
            "emailVerified": false,
            "image": null,
            "createdAt": owner.created_at,
            "updatedAt": owner.updated_at,
            "isAnonymous": false,
        }))
    );
    assert_eq!(logs[1].record, Some(json_of(home.clone())));
    for log in &logs[2..] {
        let todo = setup
            .todos
            .iter()
            .find(|todo| log.record_id() == Some(&*todo.id.to_string()))
            .expect("a todo of the board");
        assert_eq!(log.record, Some(json_of(todo.clone())), "the todo to show");
    }
    for log in &logs {
        assert_eq!(log.scope_key, bob.user_id().to_string());
        assert!(log.outbox_event_id.starts_with("share-"), "server-made ids");
    }
    // The owner's changelog is theirs alone: sharing adds nothing to it.
    assert_eq!(alice.pull_all().await, alices_log);
}

async fn edits_of_a_shared_board_reach_the_owner_and_every_member(backend: Backend) {
    let Some(setup) = Setup::shared(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    let carol = setup.server.user("carol").await;
    alice.share_with(home.id, &carol).await;
    let everyone = [alice, bob, &carol];
    let mut cursors = Vec::new();
    for client in everyone {
        cursors.push(end_of(client).await);
    }

    // Bob adds a todo, completes Milk (naming the field), deletes Bread.
    let eggs = todo(home.id, "Eggs");
    let milk = Todo {
        is_completed: true,
        ..setup.todos[0].clone()
    };
    let batch = [
        create(eggs.clone()),
        update_fields(milk.clone(), &["isCompleted"]),
        delete(setup.todos[1].clone()),
    ];
    let results = bob.push(&batch).await;
    for result in &results {
        assert!(result.error.is_none(), "{:?}", result.error);
    }
    // Alice renames Eggs.
    let renamed = Todo {
        title: "Brown eggs".into(),
        ..eggs.clone()
    };
    alice.apply(&update(renamed.clone())).await;

    let expected = [
        entry("Todo", Operation::Create, eggs.id),
        entry("Todo", Operation::Update, milk.id),
        entry("Todo", Operation::Delete, setup.todos[1].id),
        entry("Todo", Operation::Update, eggs.id),
    ];
    for (client, cursor) in everyone.into_iter().zip(&cursors) {
        let logs = pull_after(client, cursor).await;
        assert_eq!(entries(&logs), expected, "everyone sees every change once");
        let held = holdings(&logs);
        assert_eq!(held[&eggs.id.to_string()], json_of(renamed.clone()));
        assert_eq!(held[&milk.id.to_string()], json_of(milk.clone()));
        assert!(!held.contains_key(&setup.todos[1].id.to_string()));
    }
    // Bob's receipt is his own changelog's number, as a prisma-idb client expects.
    let bobs = pull_after(bob, &cursors[1]).await;
    assert_eq!(
        results[0].applied_changelog_id.as_deref(),
        Some(&*bobs[0].id)
    );
    // Bob's device sends the batch again (it missed the answer): the same answers, no
    // new entries for anyone.
    assert_eq!(bob.push(&batch).await, results);
    for (client, cursor) in everyone.into_iter().zip(&cursors) {
        assert_eq!(pull_after(client, cursor).await.len(), expected.len());
    }
}

async fn only_the_owner_renames_or_deletes_a_board_or_manages_its_members(backend: Backend) {
    let Some(setup) = Setup::shared(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    let cursor = end_of(alice).await;
    let renamed = Board {
        name: "Bob's now".into(),
        ..home.clone()
    };
    let results = bob
        .push(&[
            update(renamed.clone()),
            update_fields(renamed.clone(), &["name"]),
            delete(home.clone()),
        ])
        .await;
    for result in &results {
        assert_eq!(
            refusal(result),
            (PushErrorKind::ScopeViolation, Some(json_of(home.clone()))),
            "the member gets the board back as it is"
        );
        assert_eq!(
            result.error.as_ref().unwrap().message,
            "only the owner of a shared board can rename or delete it"
        );
    }
    // Nor may a member make a board in the owner's name.
    let forged = board(alice.user_id(), "Forged");
    assert_eq!(
        refusal(&bob.push(&[create(forged)]).await[0]).0,
        PushErrorKind::ScopeViolation
    );
    assert!(pull_after(alice, &cursor).await.is_empty());
    assert_eq!(
        bob.pulled_record(home.id).await,
        Some(json_of(home.clone()))
    );
    // The owner renames it: every member sees it.
    alice.apply(&update(renamed.clone())).await;
    assert_eq!(bob.pulled_record(home.id).await, Some(json_of(renamed)));
}

async fn a_removed_member_loses_the_board_and_their_pending_edits_are_refused(backend: Backend) {
    let Some(setup) = Setup::shared(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    let cursor = end_of(bob).await;
    let alices_cursor = end_of(alice).await;

    assert_eq!(
        alice.remove_member(home.id, bob.user_id()).await.status(),
        204
    );

    let logs = pull_after(bob, &cursor).await;
    let mut todo_ids: Vec<Uuid> = setup.todos.iter().map(|todo| todo.id).collect();
    todo_ids.sort();
    let mut expected: Vec<_> = todo_ids
        .iter()
        .map(|id| entry("Todo", Operation::Delete, *id))
        .collect();
    expected.push(entry("Board", Operation::Delete, home.id));
    expected.push(entry("User", Operation::Delete, alice.user_id()));
    assert_eq!(entries(&logs), expected);
    assert!(
        logs.iter().all(|log| log.record.is_none()),
        "nothing to see"
    );
    // A full pull shows none of it any more.
    let everything = bob.pull_all().await;
    assert!(everything
        .iter()
        .filter(|log| log.record_id() != Some(&bob.user_id().to_string()))
        .all(|log| log.record.is_none()));
    expect_error(bob.members(home.id).await, 404, "No such board").await;

    // Edits Bob made offline before he knew: refused, with nothing to keep.
    let milk = Todo {
        title: "Oat milk".into(),
        ..setup.todos[0].clone()
    };
    let results = bob
        .push(&[
            update_fields(milk.clone(), &["title"]),
            update(milk.clone()),
            create(todo(home.id, "Butter")),
            delete(setup.todos[1].clone()),
        ])
        .await;
    for result in &results {
        assert_eq!(refusal(result), (PushErrorKind::ScopeViolation, None));
        assert_eq!(
            result.error.as_ref().unwrap().message,
            "this board is not yours, or is no longer shared with you"
        );
    }
    assert!(
        pull_after(alice, &alices_cursor).await.is_empty(),
        "nothing applied"
    );
    assert_eq!(
        alice.pulled_record(setup.todos[0].id).await,
        Some(json_of(setup.todos[0].clone()))
    );
}

async fn a_member_who_leaves_loses_the_board_and_can_be_invited_again(backend: Backend) {
    let Some(setup) = Setup::shared(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    // Bob also shares Alice's second board: leaving one keeps her profile.
    let work = board(alice.user_id(), "Work");
    alice.apply(&create(work.clone())).await;
    alice.share_with(work.id, bob).await;
    let cursor = end_of(bob).await;

    assert_eq!(
        bob.remove_member(home.id, bob.user_id()).await.status(),
        204
    );
    let logs = pull_after(bob, &cursor).await;
    assert_eq!(logs.last().unwrap().model, "Board", "no User delete");
    assert_eq!(
        bob.pulled_record(alice.user_id()).await.unwrap()["name"],
        json!("alice")
    );
    assert!(members(alice, home.id).await.members.is_empty());
    // Again: he is not a member any more.
    expect_error(
        bob.remove_member(home.id, bob.user_id()).await,
        404,
        "No such board",
    )
    .await;

    // Invited again, he gets the board and its todos back (the profile he still has).
    let cursor = end_of(bob).await;
    alice.share_with(home.id, bob).await;
    let logs = pull_after(bob, &cursor).await;
    assert_eq!(logs[0].model, "Board");
    assert_eq!(logs.len(), 1 + setup.todos.len());
    assert!(logs.iter().all(|log| log.record.is_some()));
    let milk = Todo {
        is_completed: true,
        ..setup.todos[0].clone()
    };
    bob.apply(&update(milk.clone())).await;
    assert_eq!(alice.pulled_record(milk.id).await, Some(json_of(milk)));

    // Leaving the last board of Alice's tells him to forget her profile too.
    let cursor = end_of(bob).await;
    assert_eq!(
        bob.remove_member(home.id, bob.user_id()).await.status(),
        204
    );
    assert_eq!(
        bob.remove_member(work.id, bob.user_id()).await.status(),
        204
    );
    let logs = pull_after(bob, &cursor).await;
    assert_eq!(
        entries(&logs).last(),
        Some(&entry("User", Operation::Delete, alice.user_id()))
    );
    assert_eq!(bob.pulled_record(alice.user_id()).await, None);
}

async fn deleting_a_shared_board_reaches_every_member(backend: Backend) {
    let Some(setup) = Setup::shared(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    let carol = setup.server.user("carol").await;
    alice.share_with(home.id, &carol).await;
    // Carol also shares another board of Alice's: she keeps Alice's profile.
    let work = board(alice.user_id(), "Work");
    alice.apply(&create(work.clone())).await;
    alice.share_with(work.id, &carol).await;
    let cursors = [end_of(bob).await, end_of(&carol).await];

    alice.apply(&delete(home.clone())).await;

    let mut todo_ids: Vec<Uuid> = setup.todos.iter().map(|todo| todo.id).collect();
    todo_ids.sort();
    let mut expected: Vec<_> = todo_ids
        .iter()
        .map(|id| entry("Todo", Operation::Delete, *id))
        .collect();
    expected.push(entry("Board", Operation::Delete, home.id));
    let carols = pull_after(&carol, &cursors[1]).await;
    assert_eq!(entries(&carols), expected);
    expected.push(entry("User", Operation::Delete, alice.user_id()));
    let bobs = pull_after(bob, &cursors[0]).await;
    assert_eq!(entries(&bobs), expected);
    assert!(bobs.iter().chain(&carols).all(|log| log.record.is_none()));
    // The memberships went with the board.
    expect_error(bob.members(home.id).await, 404, "No such board").await;
    expect_error(alice.members(home.id).await, 404, "No such board").await;
    assert_eq!(members(&carol, work.id).await.members, [member(&carol)]);
}

async fn a_todo_never_leaves_its_owners_boards(backend: Backend) {
    let Some(setup) = Setup::shared(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    let carol = setup.server.user("carol").await;
    let bobs = board(bob.user_id(), "Bob's");
    bob.apply(&create(bobs.clone())).await;
    let milk = setup.todos[0].clone();

    // Bob cannot move Alice's todo onto his own board, by name or whole.
    let moved = Todo {
        board_id: bobs.id,
        ..milk.clone()
    };
    let results = bob
        .push(&[update_fields(moved.clone(), &["boardId"]), update(moved)])
        .await;
    for result in &results {
        assert_eq!(
            refusal(result),
            (PushErrorKind::ScopeViolation, Some(json_of(milk.clone())))
        );
    }
    // Nor take its id for a todo of his own once it is deleted.
    bob.apply(&delete(milk.clone())).await;
    let taken = Todo {
        board_id: bobs.id,
        ..milk.clone()
    };
    assert_eq!(
        refusal(&bob.push(&[create(taken)]).await[0]),
        (PushErrorKind::ScopeViolation, None)
    );
    // But he may bring it back on Alice's board: it stays hers.
    bob.apply(&create(milk.clone())).await;
    assert_eq!(
        alice.pulled_record(milk.id).await,
        Some(json_of(milk.clone()))
    );
    // Alice's other todo moves between her boards (Bob is not on the other one): to
    // Bob it is deleted, and created when it comes back.
    let work = board(alice.user_id(), "Work");
    alice.apply(&create(work.clone())).await;
    let bread = Todo {
        board_id: work.id,
        ..setup.todos[1].clone()
    };
    let cursor = end_of(bob).await;
    alice.apply(&update(bread.clone())).await;
    let logs = pull_after(bob, &cursor).await;
    assert_eq!(
        entries(&logs),
        [entry("Todo", Operation::Delete, bread.id)],
        "gone from Bob's view"
    );
    assert_eq!(logs[0].record, None);
    // Moved back, it is new to him.
    let cursor = end_of(bob).await;
    let back = Todo {
        board_id: home.id,
        ..bread.clone()
    };
    alice.apply(&update(back.clone())).await;
    let logs = pull_after(bob, &cursor).await;
    assert_eq!(entries(&logs), [entry("Todo", Operation::Create, bread.id)]);
    assert_eq!(logs[0].record, Some(json_of(back)));

    // Someone who is not a member cannot touch the board's todos, as before.
    let results = carol
        .push(&[
            update(milk.clone()),
            delete(milk.clone()),
            create(todo(home.id, "Carol's")),
        ])
        .await;
    for result in &results {
        assert_eq!(refusal(result), (PushErrorKind::ScopeViolation, None));
    }
    // A board that does not exist is still a missing parent.
    let orphan = todo(Uuid::new_v4(), "Orphan");
    let results = bob.push(&[create(orphan)]).await;
    assert_eq!(
        results[0].error.as_ref().map(|error| error.kind),
        Some(PushErrorKind::MissingParent)
    );
}

async fn a_members_stream_is_poked_by_the_owners_push(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, &setup.home);
    let carol = setup.server.user("carol").await;
    let mut bobs = bob.pokes().await;
    let mut carols = carol.pokes().await;
    let mut alices = alice.pokes().await;

    // Joining pokes the new member.
    alice.share_with(home.id, bob).await;
    assert!(bobs.poked(Duration::from_secs(10)).await, "joined");
    // The owner's push pokes the member; the member's the owner; no one else hears.
    alice.apply(&create(todo(home.id, "Jam"))).await;
    assert!(bobs.poked(Duration::from_secs(10)).await, "owner's push");
    assert!(alices.poked(Duration::from_secs(10)).await);
    bob.apply(&create(todo(home.id, "Tea"))).await;
    assert!(alices.poked(Duration::from_secs(10)).await, "member's push");
    // Bob's push pokes his own stream too: read that poke here and make sure no
    // other is pending, so the one read after the removal is the removal's.
    assert!(
        bobs.poked(Duration::from_secs(10)).await,
        "member's own push"
    );
    assert!(
        !bobs.poked(Duration::from_millis(500)).await,
        "no poke pending on Bob's stream before the removal"
    );
    assert!(
        !carols.poked(Duration::from_millis(500)).await,
        "Carol's stream stays quiet"
    );
    // Removal pokes the member.
    alice.remove_member(home.id, bob.user_id()).await;
    assert!(bobs.poked(Duration::from_secs(10)).await, "removed");
}

async fn a_profile_change_reaches_the_members_of_the_owners_boards(backend: Backend) {
    let Some(setup) = Setup::shared(backend).await else {
        return;
    };
    let (alice, bob) = (&setup.alice, &setup.bob);
    let carol = setup.server.user("carol").await;
    let cursors = [end_of(bob).await, end_of(&carol).await];
    let mut renamed = alice.user().clone();
    renamed.name = "Alice Liddell".into();
    alice.apply(&update_fields(renamed, &["name"])).await;

    let logs = pull_after(bob, &cursors[0]).await;
    assert_eq!(
        entries(&logs),
        [entry("User", Operation::Update, alice.user_id())]
    );
    assert_eq!(
        logs[0].record.as_ref().unwrap()["name"],
        json!("Alice Liddell")
    );
    assert!(pull_after(&carol, &cursors[1]).await.is_empty());
    // A member may not change the owner's profile.
    let mut forged = alice.user().clone();
    forged.name = "Mallory".into();
    assert_eq!(
        refusal(&bob.push(&[update(forged)]).await[0]).0,
        PushErrorKind::ScopeViolation
    );
}

async fn sharing_with_unknown_addresses_again_and_again_is_slowed_down(backend: Backend) {
    let Some(setup) = Setup::start(backend).await else {
        return;
    };
    let (alice, bob, home) = (&setup.alice, &setup.bob, setup.home.id);
    // Shares that find an account cost nothing.
    for _ in 0..40 {
        assert!(alice
            .share(home, &bob.user().email)
            .await
            .status()
            .is_success());
    }
    let mut refused = None;
    for n in 0..40 {
        let response = alice.share(home, &format!("nobody{n}@example.com")).await;
        if response.status() == 429 {
            refused = Some(n);
            assert!(response.headers().contains_key("retry-after"));
            break;
        }
        assert_eq!(response.status(), 404);
    }
    assert_eq!(refused, Some(30), "30 misses an hour");
    // Per user: Bob's own misses are his.
    let bobs = board(bob.user_id(), "Bob's");
    bob.apply(&create(bobs.clone())).await;
    assert_eq!(bob.share(bobs.id, "nobody@example.com").await.status(), 404);
}
