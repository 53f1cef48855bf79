//! The field-level merge on this side: local updates name their fields, a pull rebases
//! a record's pending fields onto the server's copy, an accepted field update leaves the
//! pull to bring the server's merged record, and a refusal gives back only the refused
//! change's fields. Run over the in-memory replica, which runs the same rules as the
//! IndexedDB store (worker/tests/store/cases.rs runs the store's side).

use super::local::{self, TodoEdit};
use super::memory::MemoryReplica;
use super::rules;
use super::{Account, RuleError};
use crate::engine::{Epoch, Verdict};
use sync_protocol::push::ServerState;
use sync_protocol::{
    LogWithRecord, Model, Operation, OutboxEvent, PullResponse, PushError, PushErrorKind, Record,
    Timestamp, Todo, User,
};
use uuid::Uuid;

fn user() -> User {
    User {
        id: Uuid::from_u128(1),
        name: "Ada".into(),
        email: "ada@example.com".into(),
        email_verified: false,
        image: None,
        created_at: Timestamp::from_millis(0),
        updated_at: Timestamp::from_millis(0),
        is_anonymous: false,
    }
}

fn epoch() -> Epoch {
    Epoch {
        user_id: user().id,
        token: "token".into(),
        term: 1,
    }
}

fn run<V>(future: impl std::future::Future<Output = V>) -> V {
    futures::executor::block_on(future)
}

fn changelog(n: u64) -> String {
    format!("{n:020}")
}

/// A signed-in replica holding one board and its todo "Milk", both synced (changelog 1
/// and 2).
struct Rig {
    replica: MemoryReplica,
    todo: Todo,
    next_id: u128,
}

impl Rig {
    fn new() -> Rig {
        let replica = MemoryReplica::new();
        let mut rig = Rig {
            replica,
            todo: Todo {
                id: Uuid::nil(),
                title: String::new(),
                description: None,
                is_completed: false,
                created_at: Timestamp::from_millis(0),
                board_id: Uuid::nil(),
            },
            next_id: 100,
        };
        run(async {
            let account = Account {
                user: user(),
                token: "token".into(),
            };
            rig.replica.sign_in(&account).await.unwrap();
            assert_eq!(rig.replica.claim_term().await.unwrap(), 1);
        });
        let board = rig.change(async |w| local::create_board(w, "Home").await);
        let edit = TodoEdit::normalized("Milk", None);
        rig.todo = rig.change(async |w| local::create_todo(w, board.id, edit).await);
        let pending = rig.pending();
        rig.book(&[
            (pending[0].id.clone(), applied(1)),
            (pending[1].id.clone(), applied(2)),
        ]);
        assert!(rig.pending().is_empty());
        rig
    }

    fn change<V>(
        &mut self,
        change: impl for<'w> AsyncFnOnce(
            &mut local::LocalWriter<'w, super::memory::MemoryTx>,
        ) -> Result<V, RuleError>,
    ) -> V {
        let mut next = self.next_id;
        let mut ids = || {
            next += 1;
            Uuid::from_u128(next)
        };
        let value = run(self
            .replica
            .local_change(Timestamp::from_millis(1), &mut ids, change))
        .unwrap();
        self.next_id = next;
        value
    }

    fn toggle(&mut self) {
        let id = self.todo.id;
        self.change(async |w| local::toggle_todo(w, id).await);
    }

    fn rename(&mut self, title: &str) {
        let (id, edit) = (self.todo.id, TodoEdit::normalized(title, None));
        self.change(async |w| local::edit_todo(w, id, edit).await);
    }

    /// The events waiting to be pushed, oldest first.
    fn pending(&self) -> Vec<OutboxEvent> {
        self.replica
            .state()
            .outbox
            .values()
            .filter(|entry| entry.event.is_pending())
            .map(|entry| entry.event.clone())
            .collect()
    }

    fn book(&self, verdicts: &[(String, Verdict)]) {
        let now = Timestamp::from_millis(2);
        run(self
            .replica
            .transaction(async |tx| rules::book_verdicts(tx, &epoch(), verdicts, now).await))
        .unwrap();
    }

    fn pull(&self, entries: Vec<LogWithRecord>) -> crate::messages::PullStats {
        let page = PullResponse {
            cursor: entries.last().map(|e| e.changelog_id.clone()),
            logs_with_records: entries,
        };
        run(self
            .replica
            .transaction(async |tx| rules::apply_page(tx, &epoch(), &page).await))
        .unwrap()
        .0
    }

    fn local_todo(&self) -> Option<Todo> {
        let key = (Model::Todo, self.todo.id.to_string());
        match self.replica.state().records.get(&key) {
            Some(Record::Todo(todo)) => Some(todo.clone()),
            _ => None,
        }
    }

    fn is_marked_pending(&self) -> bool {
        let key = (Model::Todo, self.todo.id.to_string());
        self.replica.state().metas[&key].local_change_pending
    }

    /// A changelog entry of the todo as the server holds it (`None`: gone).
    fn entry(&self, n: u64, operation: Operation, todo: Option<&Todo>) -> LogWithRecord {
        LogWithRecord {
            id: changelog(n),
            model: "Todo".into(),
            key_path: vec![serde_json::json!(self.todo.id.to_string())],
            operation,
            scope_key: user().id.to_string(),
            outbox_event_id: format!("remote-{n}"),
            record: todo.map(|t| Record::Todo(t.clone()).to_json()),
            changelog_id: changelog(n),
        }
    }
}

fn applied(n: u64) -> Verdict {
    Verdict::Applied {
        changelog_id: changelog(n),
    }
}

fn rejected(server: Option<&Todo>) -> Verdict {
    Verdict::Rejected {
        error: PushError::new(PushErrorKind::CustomValidationFailed, "no"),
        server_state: Some(ServerState {
            record: server.map(|t| Record::Todo(t.clone()).to_json()),
        }),
    }
}

fn fields(names: &[&str]) -> Option<Vec<String>> {
    Some(names.iter().map(|n| n.to_string()).collect())
}

#[test]
fn an_update_names_its_fields_and_one_that_changes_nothing_writes_nothing() {
    let mut rig = Rig::new();
    rig.toggle();
    rig.rename("Oat milk");
    let pending = rig.pending();
    assert_eq!(pending.len(), 2);
    assert_eq!(pending[0].changed_fields, fields(&["isCompleted"]));
    assert_eq!(pending[1].changed_fields, fields(&["title"]));
    assert_eq!(
        pending[1].payload["isCompleted"], true,
        "the payload is whole"
    );
    rig.rename(" Oat milk ");
    assert_eq!(rig.pending().len(), 2, "the same title again is no change");
    rig.change(async |w| local::update_profile(w, "Ada").await);
    assert_eq!(rig.pending().len(), 2, "the same name again is no change");
    rig.change(async |w| local::update_profile(w, "Ada L.").await);
    let renamed = rig.pending().pop().unwrap();
    assert_eq!(renamed.changed_fields, fields(&["name", "updatedAt"]));
    let creates = rig.replica.state().outbox.into_values().take(2);
    assert!(creates
        .into_iter()
        .all(|e| e.event.changed_fields.is_none()));
}

#[test]
fn a_pull_rebases_the_pending_fields_onto_the_servers_record() {
    let mut rig = Rig::new();
    rig.toggle();
    // Another device renamed it meanwhile.
    let server = Todo {
        title: "Oat milk".into(),
        ..rig.todo.clone()
    };
    let stats = rig.pull(vec![rig.entry(3, Operation::Update, Some(&server))]);
    assert_eq!((stats.applied, stats.stale), (1, 0));
    let local = rig.local_todo().unwrap();
    assert_eq!(local.title, "Oat milk", "the other device's rename shows");
    assert!(
        local.is_completed,
        "this device's tick, still on its way, stays"
    );
    assert!(rig.is_marked_pending());
    assert_eq!(rig.pending().len(), 1);
}

#[test]
fn the_pending_fields_are_the_union_of_every_pending_update() {
    let mut rig = Rig::new();
    rig.toggle();
    rig.rename("Mine");
    let server = Todo {
        title: "Theirs".into(),
        description: Some("theirs too".into()),
        is_completed: false,
        ..rig.todo.clone()
    };
    rig.pull(vec![rig.entry(3, Operation::Update, Some(&server))]);
    let local = rig.local_todo().unwrap();
    assert_eq!(
        (local.title.as_str(), local.is_completed),
        ("Mine", true),
        "both pending fields stay"
    );
    assert_eq!(local.description.as_deref(), Some("theirs too"));
}

#[test]
fn a_record_whose_whole_change_is_pending_is_not_touched_by_a_pull() {
    let mut rig = Rig::new();
    let board_id = rig.todo.board_id;
    let edit = TodoEdit::normalized("Bread", None);
    let fresh = rig.change(async |w| local::create_todo(w, board_id, edit).await);
    let mut rig_fresh = Rig {
        todo: fresh.clone(),
        ..rig
    };
    let server = Todo {
        title: "Server bread".into(),
        ..fresh.clone()
    };
    let stats = rig_fresh.pull(vec![rig_fresh.entry(3, Operation::Update, Some(&server))]);
    assert_eq!((stats.applied, stats.stale), (0, 1));
    assert_eq!(rig_fresh.local_todo().unwrap(), fresh);
    // Once the create is pushed, its field updates rebase again.
    rig_fresh.toggle();
    let create = rig_fresh.pending()[0].id.clone();
    rig_fresh.book(&[(create, applied(4))]);
    let server = Todo {
        title: "Server bread".into(),
        ..fresh
    };
    rig_fresh.pull(vec![rig_fresh.entry(5, Operation::Update, Some(&server))]);
    let local = rig_fresh.local_todo().unwrap();
    assert_eq!(
        (local.title.as_str(), local.is_completed),
        ("Server bread", true)
    );
}

#[test]
fn another_devices_earlier_change_still_lands_after_ours_is_accepted() {
    let mut rig = Rig::new();
    rig.toggle();
    let tick = rig.pending()[0].id.clone();
    // The server has another device's rename as entry 3 (not pulled here yet), merges
    // our tick onto it as entry 4 and says so.
    rig.book(&[(tick, applied(4))]);
    assert!(!rig.is_marked_pending());
    let merged = Todo {
        title: "Oat milk".into(),
        is_completed: true,
        ..rig.todo.clone()
    };
    rig.pull(vec![
        rig.entry(3, Operation::Update, Some(&merged)),
        rig.entry(4, Operation::Update, Some(&merged)),
    ]);
    assert_eq!(
        rig.local_todo().unwrap(),
        merged,
        "the rename of entry 3 is not skipped as older than our entry 4"
    );
}

#[test]
fn an_accepted_whole_record_change_still_makes_its_echo_stale() {
    let mut rig = Rig::new();
    let board_id = rig.todo.board_id;
    let edit = TodoEdit::normalized("Bread", None);
    let fresh = rig.change(async |w| local::create_todo(w, board_id, edit).await);
    let create = rig.pending()[0].id.clone();
    rig.book(&[(create, applied(3))]);
    let rig = Rig {
        todo: fresh.clone(),
        ..rig
    };
    let stats = rig.pull(vec![rig.entry(3, Operation::Create, Some(&fresh))]);
    assert_eq!((stats.applied, stats.stale), (0, 1));
}

#[test]
fn a_refusal_gives_back_only_its_fields_while_another_change_waits() {
    let mut rig = Rig::new();
    rig.toggle();
    rig.rename("Oat milk");
    let pending = rig.pending();
    // The server refuses the tick; the rename waits (it will be tried again).
    let server = Todo {
        description: Some("from another device".into()),
        ..rig.todo.clone()
    };
    rig.book(&[
        (pending[0].id.clone(), rejected(Some(&server))),
        (
            pending[1].id.clone(),
            Verdict::Retry(PushError::new(PushErrorKind::UnknownError, "busy")),
        ),
    ]);
    let local = rig.local_todo().unwrap();
    assert!(!local.is_completed, "the refused tick is undone");
    assert_eq!(local.title, "Oat milk", "the waiting rename stays");
    assert_eq!(
        local.description, None,
        "a field no refused change touched is left to the pull"
    );
    assert!(rig.is_marked_pending());
}

#[test]
fn a_refused_field_that_a_waiting_change_also_touches_stays() {
    let mut rig = Rig::new();
    rig.rename("First");
    rig.toggle();
    rig.rename("Second");
    let pending = rig.pending();
    rig.book(&[(pending[0].id.clone(), rejected(Some(&rig.todo.clone())))]);
    let local = rig.local_todo().unwrap();
    assert_eq!(
        (local.title.as_str(), local.is_completed),
        ("Second", true),
        "the later rename, still waiting, keeps the title"
    );
    // That rename refused too, with nothing else on the title: the server's title.
    rig.book(&[(pending[2].id.clone(), rejected(Some(&rig.todo.clone())))]);
    let local = rig.local_todo().unwrap();
    assert_eq!((local.title.as_str(), local.is_completed), ("Milk", true));
    // And the tick accepted after all: nothing waits any more.
    rig.book(&[(pending[1].id.clone(), applied(3))]);
    assert!(!rig.is_marked_pending());
}

#[test]
fn a_refused_field_update_accepted_later_in_the_same_batch_is_not_undone() {
    let mut rig = Rig::new();
    rig.rename("First");
    rig.rename("Second");
    let pending = rig.pending();
    rig.book(&[
        (pending[0].id.clone(), rejected(Some(&rig.todo.clone()))),
        (pending[1].id.clone(), applied(3)),
    ]);
    assert_eq!(rig.local_todo().unwrap().title, "Second");
}

#[test]
fn a_pulled_delete_keeps_a_record_whose_update_waits_until_the_server_says() {
    let mut rig = Rig::new();
    rig.toggle();
    let stats = rig.pull(vec![rig.entry(3, Operation::Delete, None)]);
    assert_eq!((stats.applied, stats.stale), (0, 1));
    assert!(
        rig.local_todo().unwrap().is_completed,
        "kept: pushing the tick brings it back on the server"
    );
    // The server refuses it instead (its board is gone too): it goes here as well.
    let tick = rig.pending()[0].id.clone();
    rig.book(&[(tick, rejected(None))]);
    assert_eq!(rig.local_todo(), None);
}

#[test]
fn signing_in_again_rebases_the_users_pending_fields() {
    let mut rig = Rig::new();
    rig.change(async |w| local::update_profile(w, "Ada L.").await);
    let on_server = User {
        image: Some("https://example.com/ada.png".into()),
        ..user()
    };
    run(rig.replica.sign_in(&Account {
        user: on_server,
        token: "token".into(),
    }))
    .unwrap();
    let key = (Model::User, user().id.to_string());
    let Some(Record::User(local)) = rig.replica.state().records.get(&key).cloned() else {
        panic!("the user is kept");
    };
    assert_eq!(local.name, "Ada L.", "the pending rename stays");
    assert_eq!(local.image.as_deref(), Some("https://example.com/ada.png"));
}

#[test]
fn an_entry_repeated_later_in_a_page_sees_what_the_page_applied_before_it() {
    let rig = Rig::new();
    let named = |title: &str| Todo {
        title: title.into(),
        ..rig.todo.clone()
    };
    let stats = rig.pull(vec![
        rig.entry(5, Operation::Update, Some(&named("Fifth"))),
        rig.entry(6, Operation::Update, Some(&named("Sixth"))),
        // An older entry again, after the newer one in the same page: stale, because the
        // page's own metadata says entry 6 is applied (not the metadata read before it).
        rig.entry(5, Operation::Update, Some(&named("Fifth again"))),
    ]);
    assert_eq!((stats.applied, stats.stale), (2, 1));
    assert_eq!(rig.local_todo().unwrap().title, "Sixth");
}

/// A refusal for a change of a board this account no longer shares (the owner removed
/// it): the server has no copy it may show.
fn refused_out_of_scope() -> Verdict {
    Verdict::Rejected {
        error: PushError::new(
            PushErrorKind::ScopeViolation,
            "this board is not shared with you",
        ),
        server_state: Some(ServerState { record: None }),
    }
}

#[test]
fn a_member_removed_from_a_board_ends_without_its_todo_whatever_waited() {
    // Edits made offline on a shared board, then the owner removed this account. The
    // server refuses each with no copy to give back, in one batch or one by one.
    for one_batch in [true, false] {
        let mut rig = Rig::new();
        rig.toggle();
        rig.rename("Oat milk");
        let board_id = rig.todo.board_id;
        let edit = TodoEdit::normalized("Bread", None);
        let added = rig.change(async |w| local::create_todo(w, board_id, edit).await);
        let pending = rig.pending();
        assert_eq!(pending.len(), 3);
        // The pulled delete comes first when the pull ran before the push: the todo
        // stays while its changes wait (see `decide_pulled`).
        rig.pull(vec![rig.entry(3, Operation::Delete, None)]);
        assert!(rig.local_todo().is_some(), "one_batch={one_batch}");
        let verdicts: Vec<(String, Verdict)> = pending
            .iter()
            .map(|event| (event.id.clone(), refused_out_of_scope()))
            .collect();
        if one_batch {
            rig.book(&verdicts);
        } else {
            rig.book(&verdicts[..1]);
            // The refused tick has no server copy to take its field from, and the rename
            // still waits: the todo stays as it is for now...
            assert!(rig.local_todo().unwrap().is_completed);
            rig.book(&verdicts[1..]);
        }
        // ...and goes when the rename is refused too: nothing is left to bring the tick
        // back, and the todo added offline goes as well.
        assert_eq!(rig.local_todo(), None, "one_batch={one_batch}");
        let added_key = (Model::Todo, added.id.to_string());
        assert!(!rig.replica.state().records.contains_key(&added_key));
        assert!(rig.pending().is_empty());
        assert!(!rig.is_marked_pending());
        let notices: Vec<String> = rig
            .replica
            .state()
            .outbox
            .values()
            .filter_map(|entry| entry.refusal_notice())
            .collect();
        assert_eq!(
            notices,
            [
                "Marking todo \"Milk\" done was refused: this board is not shared with you",
                "Renaming todo \"Milk\" to \"Oat milk\" was refused: this board is not shared with you",
                "Adding todo \"Bread\" was refused: this board is not shared with you",
            ],
            "every refused change is shown, with the reason"
        );
    }
}

/// A replica that only ever applied pulled pages (a new device) keeps no metadata for
/// what it pulled but its removals. When the changelog is read again from its start
/// (as after a refused board deletion), what it holds is not taken back to an older
/// version, what was removed stays removed, and what it lost comes back.
#[test]
fn a_replay_on_a_fresh_replica_takes_nothing_back_and_brings_back_what_was_lost() {
    let replica = MemoryReplica::new();
    run(async {
        let account = Account {
            user: user(),
            token: "token".into(),
        };
        replica.sign_in(&account).await.unwrap();
        replica.claim_term().await.unwrap();
    });
    let todo = |n: u128, title: &str| Todo {
        id: Uuid::from_u128(n),
        title: title.into(),
        description: None,
        is_completed: false,
        created_at: Timestamp::from_millis(0),
        board_id: Uuid::from_u128(9),
    };
    let entry = |n: u64, operation: Operation, id: u128, title: Option<&str>| LogWithRecord {
        id: changelog(n),
        model: "Todo".into(),
        key_path: vec![serde_json::json!(Uuid::from_u128(id).to_string())],
        operation,
        scope_key: user().id.to_string(),
        outbox_event_id: format!("remote-{n}"),
        record: title.map(|title| Record::Todo(todo(id, title)).to_json()),
        changelog_id: changelog(n),
    };
    let pull = |entries: Vec<LogWithRecord>| {
        let page = PullResponse {
            cursor: entries.last().map(|e| e.changelog_id.clone()),
            logs_with_records: entries,
        };
        run(replica.transaction(async |tx| rules::apply_page(tx, &epoch(), &page).await))
            .unwrap()
            .0
    };
    let title = |id: u128| match replica
        .state()
        .records
        .get(&(Model::Todo, Uuid::from_u128(id).to_string()))
    {
        Some(Record::Todo(todo)) => Some(todo.title.clone()),
        _ => None,
    };
    let first = || {
        vec![
            entry(1, Operation::Create, 10, Some("A1")),
            entry(2, Operation::Create, 20, Some("B1")),
            entry(3, Operation::Create, 30, Some("C1")),
        ]
    };
    let second = || {
        vec![
            entry(4, Operation::Update, 10, Some("A2")),
            entry(5, Operation::Delete, 20, None),
            entry(6, Operation::Update, 30, Some("C2")),
        ]
    };
    pull(first());
    pull(second());
    let metas: Vec<String> = replica
        .state()
        .metas
        .keys()
        .map(|(_, id)| id.clone())
        .collect();
    assert_eq!(
        metas,
        [Uuid::from_u128(20).to_string()],
        "the removal's alone"
    );
    // C goes locally (as a todo goes with its board); then the changelog is read again.
    run(replica.transaction(async |tx| {
        use super::ReplicaTx;
        tx.remove_record(Model::Todo, &Uuid::from_u128(30).to_string())
            .await
    }))
    .unwrap();
    let replayed = pull(first());
    assert_eq!(title(10).as_deref(), Some("A2"), "not taken back to A1");
    assert_eq!(title(20), None, "not brought back");
    assert_eq!(title(30).as_deref(), Some("C1"), "coming back");
    assert_eq!((replayed.applied, replayed.stale), (1, 2));
    pull(second());
    assert_eq!(title(10).as_deref(), Some("A2"));
    assert_eq!(title(20), None);
    assert_eq!(
        title(30).as_deref(),
        Some("C2"),
        "back, at its last version"
    );
}
