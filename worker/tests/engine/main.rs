//! The sync engine's cycle, natively, against in-memory fakes: every branch of push and
//! pull, and the statuses it reports.
#![cfg(not(target_arch = "wasm32"))]

mod fakes;

use fakes::{board_id, e, page, replica, PushAnswer, Rig};
use sync_protocol::push::ServerState;
use sync_protocol::{Model, PushError, PushErrorKind, PushResult, Record, Timestamp};
use sync_worker::engine::{CycleOutcome, TransportError};
use sync_worker::messages::{SyncConfig, SyncErrorKind, WorkerOutput};
use sync_worker::replica::local;

fn config(batch_size: u32) -> SyncConfig {
    SyncConfig {
        batch_size,
        backoff_ms: 30_000,
        ..SyncConfig::default()
    }
}

#[test]
fn pushes_in_batches_of_the_configured_size_in_creation_order() {
    let rig = Rig::new(replica(25), config(10));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let pushes = rig.server().pushes.borrow().clone();
    assert_eq!(pushes.iter().map(Vec::len).collect::<Vec<_>>(), [10, 15]);
    let flat: Vec<String> = pushes.concat();
    let expected: Vec<String> = (0..25).map(e).collect();
    assert_eq!(flat, expected);
    assert!(rig.events().iter().all(|e| e.synced));
}

#[test]
fn a_backlog_drains_in_larger_batches() {
    let rig = Rig::new(replica(200), config(10));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let sizes: Vec<usize> = rig.server().pushes.borrow().iter().map(Vec::len).collect();
    assert_eq!(
        sizes,
        [10, 50, 50, 50, 40],
        "10 first, then the backlog size"
    );
    // A small change later goes in a small batch again.
    let rig = Rig::new(replica(3), config(10));
    rig.cycle(false);
    let sizes: Vec<usize> = rig.server().pushes.borrow().iter().map(Vec::len).collect();
    assert_eq!(sizes, [3]);
}

#[test]
fn batch_size_is_capped_at_the_protocol_maximum() {
    let rig = Rig::new(replica(150), config(500));
    rig.cycle(false);
    let sizes: Vec<usize> = rig.server().pushes.borrow().iter().map(Vec::len).collect();
    assert_eq!(sizes, [100, 50]);
}

#[test]
fn a_retryable_failure_waits_out_its_backoff_and_defers_the_pull() {
    let rig = Rig::new(replica(1), config(10));
    rig.server()
        .answer_push(PushAnswer::Results(vec![PushResult::failed(
            e(0),
            PushError::new(PushErrorKind::UnknownError, "database busy"),
        )]));
    assert_eq!(rig.cycle(false), CycleOutcome::PullDeferred);
    let event = rig.event(&e(0));
    assert_eq!(event.tries, 1);
    assert!(event.retryable && !event.synced);
    assert_eq!(
        event.last_error.as_deref(),
        Some("UNKNOWN_ERROR: database busy")
    );
    assert!(
        rig.server().pulls.borrow().is_empty(),
        "no pull while a retryable event waits"
    );

    // 29 s later the first backoff (30 s) has not elapsed: nothing is sent.
    rig.clock.advance(29_000);
    rig.cycle(false);
    assert_eq!(rig.server().pushes.borrow().len(), 1);

    // At 30 s it is sent again and succeeds; now the pull runs.
    rig.clock.advance(1_000);
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    assert_eq!(rig.server().pushes.borrow().len(), 2);
    assert_eq!(rig.server().pulls.borrow().len(), 1);
}

#[test]
fn backoff_doubles_with_each_try_and_can_be_overridden() {
    let rig = Rig::new(replica(1), config(10));
    let fail = || {
        PushAnswer::Results(vec![PushResult::failed(
            e(0),
            PushError::new(PushErrorKind::UnknownError, "busy"),
        )])
    };
    rig.server().answer_push(fail());
    rig.cycle(false); // try 1 fails
    rig.clock.advance(30_000);
    rig.server().answer_push(fail());
    rig.cycle(false); // try 2 fails: the next wait is 60 s
    rig.clock.advance(59_000);
    rig.cycle(false);
    assert_eq!(
        rig.server().pushes.borrow().len(),
        2,
        "still waiting at 59 s"
    );
    rig.cycle(true);
    assert_eq!(
        rig.server().pushes.borrow().len(),
        3,
        "overrideBackoff sends at once"
    );
}

#[test]
fn a_later_change_never_overtakes_one_waiting_in_backoff() {
    let rig = Rig::new(replica(1), config(10));
    rig.server()
        .answer_push(PushAnswer::Results(vec![PushResult::failed(
            e(0),
            PushError::new(PushErrorKind::UnknownError, "busy"),
        )]));
    rig.cycle(false);
    // A newer change to the same record arrives while the first waits out its backoff.
    futures::executor::block_on(fakes::add_board(rig.store(), 1));
    rig.clock.advance(5_000);
    assert_eq!(rig.cycle(false), CycleOutcome::PullDeferred);
    assert_eq!(
        rig.server().pushes.borrow().len(),
        1,
        "e001 waits behind e000"
    );
    rig.clock.advance(25_000);
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    assert_eq!(
        rig.server().pushes.borrow()[1],
        [e(0), e(1)],
        "both go, in the order they were made"
    );
}

#[test]
fn overriding_backoff_tries_each_event_once_per_cycle() {
    let rig = Rig::new(replica(3), config(10));
    rig.server().answer_push(PushAnswer::Results(
        [e(0), e(1), e(2)]
            .map(|id| PushResult::failed(id, PushError::new(PushErrorKind::UnknownError, "busy")))
            .to_vec(),
    ));
    assert_eq!(rig.cycle(true), CycleOutcome::PullDeferred);
    assert_eq!(rig.server().pushes.borrow().len(), 1);
}

#[test]
fn a_permanent_rejection_is_rolled_back_and_does_not_block_the_pull() {
    let rig = Rig::new(replica(2), config(10));
    let mut rejected = PushResult::failed(
        e(0),
        PushError::new(PushErrorKind::ScopeViolation, "not your board"),
    );
    rejected.server_state = Some(ServerState { record: None });
    rig.server().answer_push(PushAnswer::Results(vec![
        rejected,
        PushResult::applied(e(1), "00000000000000000007"),
    ]));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let event = rig.event(&e(0));
    assert!(!event.retryable && !event.synced);
    assert_eq!(
        event.last_error.as_deref(),
        Some("SCOPE_VIOLATION: not your board")
    );
    let state = rig.store().state();
    assert!(
        !state
            .records
            .contains_key(&(Model::Board, board_id(0).to_string())),
        "the refused creation is undone"
    );
    assert!(state
        .records
        .contains_key(&(Model::Board, board_id(1).to_string())));
    assert_eq!(
        rig.store().refusals()[0].refusal_notice().as_deref(),
        Some("Creating board \"B000\" was refused: not your board")
    );
    assert!(rig.event(&e(1)).synced);
    assert_eq!(rig.server().pulls.borrow().len(), 1);
}

#[test]
fn a_refusal_followed_by_an_accepted_change_keeps_the_accepted_one() {
    // Offline: rename "B000" to "home" (the server refuses), then to "Office".
    let rig = Rig::new(replica(1), config(10));
    rig.cycle(false);
    let rename = |name: &'static str| {
        futures::executor::block_on(rig.store().local_change(
            Timestamp::from_millis(0),
            &mut uuid::Uuid::new_v4,
            async |write| local::rename_board(write, board_id(0), name).await,
        ))
        .unwrap()
    };
    rename("home");
    rename("Office");
    let events = rig.events();
    let (refused, accepted) = (events[1].id.clone(), events[2].id.clone());
    let mut rejection = PushResult::failed(
        refused,
        PushError::new(
            PushErrorKind::CustomValidationFailed,
            "a board with that name exists",
        ),
    );
    // The server's state when it refused: before "Office" was applied.
    let mut before = rig.store().state().records[&(Model::Board, board_id(0).to_string())].clone();
    if let Record::Board(board) = &mut before {
        board.name = "B000".into();
    }
    rejection.server_state = Some(ServerState {
        record: Some(before.to_json()),
    });
    rig.server().answer_push(PushAnswer::Results(vec![
        rejection,
        PushResult::applied(accepted, "00000000000000000009"),
    ]));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let Record::Board(board) =
        &rig.store().state().records[&(Model::Board, board_id(0).to_string())]
    else {
        panic!("a board");
    };
    assert_eq!(board.name, "Office", "the accepted later rename stays");
    assert_eq!(rig.store().outbox_stats().pending, 0);
    assert_eq!(
        rig.store().refusals()[0].refusal_notice().as_deref(),
        Some("Renaming board \"B000\" to \"home\" was refused: a board with that name exists")
    );
}

#[test]
fn an_event_missing_from_the_answer_is_retried() {
    let rig = Rig::new(replica(2), config(10));
    rig.server()
        .answer_push(PushAnswer::Results(vec![PushResult::applied(
            e(0),
            "00000000000000000001",
        )]));
    assert_eq!(rig.cycle(false), CycleOutcome::PullDeferred);
    let missing = rig.event(&e(1));
    assert!(missing.retryable && !missing.synced);
    assert_eq!(missing.tries, 1);
}

#[test]
fn a_request_without_an_answer_charges_no_event_a_try_and_ends_the_cycle() {
    for error in [
        TransportError::Http {
            status: 503,
            message: "unavailable".into(),
        },
        TransportError::Http {
            status: 429,
            message: "slow down".into(),
        },
        TransportError::Offline("no network".into()),
        TransportError::Invalid("cut short".into()),
    ] {
        let rig = Rig::new(replica(15), config(10));
        rig.server().answer_push(PushAnswer::Error(error.clone()));
        let CycleOutcome::Failed(_) = rig.cycle(false) else {
            panic!("the cycle fails on {error:?}");
        };
        assert_eq!(
            rig.server().pushes.borrow().len(),
            1,
            "the cycle ends there"
        );
        assert!(rig.server().pulls.borrow().is_empty());
        assert!(
            rig.events()
                .iter()
                .all(|e| e.tries == 0 && e.is_pending() && e.last_attempted_at.is_none()),
            "no event was charged a try for {error:?}"
        );
        let last = rig.statuses().last().cloned().unwrap();
        assert_eq!(
            last,
            ("Stopped".to_string(), false, true),
            "lastError is set"
        );
        // The next cycle sends them at once: no per-event backoff was earned.
        assert_eq!(rig.cycle(false), CycleOutcome::Synced);
        assert_eq!(rig.store().outbox_stats().synced, 15);
    }
}

#[test]
fn a_413_halves_the_batch_down_to_one_event_which_is_then_refused() {
    let rig = Rig::new(replica(4), config(4));
    let too_large = || {
        PushAnswer::Error(TransportError::Http {
            status: 413,
            message: "too large".into(),
        })
    };
    // 4 → 413, 2 → 413, 1 → 413 (e0 alone is too large), then the rest go through.
    for _ in 0..3 {
        rig.server().answer_push(too_large());
    }
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let sizes: Vec<usize> = rig.server().pushes.borrow().iter().map(Vec::len).collect();
    assert_eq!(sizes, [4, 2, 1, 1, 1, 1]);
    let refused = rig.event(&e(0));
    assert!(!refused.retryable && !refused.synced);
    assert!(refused.last_error.unwrap().contains("too large"));
    assert!((1..4).all(|n| rig.event(&e(n)).synced));
}

#[test]
fn a_cycle_of_an_old_term_writes_nothing() {
    let rig = Rig::new(replica(2), config(10));
    // Another worker takes the lead before this one's cycle.
    futures::executor::block_on(rig.store().claim_term()).unwrap();
    assert_eq!(rig.cycle(false), CycleOutcome::Superseded);
    assert!(rig.server().pushes.borrow().is_empty(), "nothing is pushed");
    assert_eq!(rig.store().outbox_stats().pending, 2);
}

#[test]
fn a_late_answer_after_sign_out_writes_nothing() {
    let rig = Rig::new(replica(0), config(10));
    rig.server().answer_pull(Ok(page(3, 3)));
    // The page arrives after local data was cleared: the session is gone.
    futures::executor::block_on(rig.store().clear_local_data()).unwrap();
    assert_eq!(rig.cycle(false), CycleOutcome::Superseded);
    assert!(rig.store().state().records.is_empty());
    assert_eq!(rig.cursor(), None);
}

#[test]
fn a_401_stops_the_cycle_without_counting_a_try() {
    let rig = Rig::new(replica(3), config(10));
    rig.server()
        .answer_push(PushAnswer::Error(TransportError::Unauthorized));
    assert_eq!(rig.cycle(false), CycleOutcome::Unauthorized);
    assert!(rig.events().iter().all(|e| e.tries == 0 && e.is_pending()));
    assert!(rig.server().pulls.borrow().is_empty());
    let status = match rig.reports.borrow().iter().rev().find_map(|o| match o {
        WorkerOutput::Status(s) => Some(s.clone()),
        _ => None,
    }) {
        Some(status) => status,
        None => panic!("a status was reported"),
    };
    assert_eq!(
        status.last_error.unwrap().kind,
        SyncErrorKind::SessionExpired
    );
}

#[test]
fn a_401_on_pull_also_stops() {
    let rig = Rig::new(replica(0), config(10));
    rig.server().answer_pull(Err(TransportError::Unauthorized));
    assert_eq!(rig.cycle(false), CycleOutcome::Unauthorized);
}

#[test]
fn pulls_page_after_page_until_an_empty_one() {
    let rig = Rig::new(replica(0), config(10));
    rig.server().answer_pull(Ok(page(3, 3)));
    rig.server().answer_pull(Ok(page(5, 2)));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let pulls = rig.server().pulls.borrow().clone();
    assert_eq!(
        pulls,
        [
            None,
            Some("00000000000000000003".to_string()),
            Some("00000000000000000005".to_string())
        ]
    );
    assert_eq!(
        rig.store().state().records.len(),
        1 + 5,
        "the user and five boards"
    );
    assert_eq!(rig.cursor().as_deref(), Some("00000000000000000005"));
    let completed = rig.reports.borrow().iter().find_map(|o| match o {
        WorkerOutput::PullCompleted(stats) => Some(stats.clone()),
        _ => None,
    });
    let completed = completed.expect("PullCompleted reported");
    assert_eq!((completed.applied, completed.pages), (5, 2));
}

#[test]
fn a_backlog_is_pulled_in_growing_pages_and_the_next_cycle_starts_small_again() {
    let config = SyncConfig {
        pull_limit: 3,
        ..config(10)
    };
    let rig = Rig::new(replica(0), config);
    rig.server().answer_pull(Ok(page(3, 3)));
    rig.server().answer_pull(Ok(page(9, 6)));
    rig.server().answer_pull(Ok(page(12, 3)));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    assert_eq!(
        *rig.server().pull_limits.borrow(),
        [3, 6, 12, 12],
        "a full page doubles the next; a short one does not"
    );
    assert_eq!(rig.store().state().records.len(), 1 + 12);

    rig.server().pull_limits.borrow_mut().clear();
    rig.server().answer_pull(Ok(page(13, 1)));
    rig.cycle(false);
    assert_eq!(*rig.server().pull_limits.borrow(), [3, 3]);
}

#[test]
fn pages_grow_no_larger_than_the_protocol_allows() {
    let config = SyncConfig {
        pull_limit: 600,
        ..config(10)
    };
    let rig = Rig::new(replica(0), config);
    rig.server().answer_pull(Ok(page(600, 600)));
    rig.server().answer_pull(Ok(page(1600, 1000)));
    rig.cycle(false);
    assert_eq!(
        *rig.server().pull_limits.borrow(),
        [
            600,
            sync_protocol::MAX_PULL_LIMIT,
            sync_protocol::MAX_PULL_LIMIT
        ]
    );
}

#[test]
fn the_cursor_advances_only_with_an_applied_page() {
    let rig = Rig::new(replica(0), config(10));
    rig.server().answer_pull(Ok(page(3, 3)));
    rig.server().answer_pull(Ok(page(6, 3)));
    // The first page applies; the second page's transaction aborts.
    rig.store().fail_page_after(1);
    let CycleOutcome::Failed(error) = rig.cycle(false) else {
        panic!("the cycle fails when a page cannot be applied");
    };
    assert_eq!(error.kind, SyncErrorKind::Storage);
    assert_eq!(
        rig.cursor().as_deref(),
        Some("00000000000000000003"),
        "the failed page's cursor is not stored"
    );
    let cursor = |seq: u64| Some(format!("{seq:020}"));
    assert_eq!(
        rig.server().pulls.borrow()[..],
        [None, cursor(3), cursor(6)],
        "each next page is asked for while the one before it is applied (the page after \
         the failed one too, and then dropped)"
    );
    // The next cycle asks again from the last applied page.
    rig.server().answer_pull(Ok(page(6, 3)));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    assert_eq!(
        rig.server().pulls.borrow()[3..],
        [
            Some("00000000000000000003".to_string()),
            Some("00000000000000000006".to_string())
        ]
    );
}

#[test]
fn a_cycle_reports_pushing_pulling_then_rest_with_the_sync_time() {
    let rig = Rig::new(replica(2), config(10));
    rig.engine.status().set_looping(true);
    rig.cycle(false);
    assert_eq!(
        rig.statuses(),
        [
            ("Idle".to_string(), true, false),
            ("Pushing".to_string(), true, false),
            ("Pulling".to_string(), true, false),
            ("Idle".to_string(), true, false),
        ]
    );
    let last = rig.engine.status().current();
    assert_eq!(
        last.last_sync_time,
        Some(sync_protocol::Timestamp::from_millis(rig.clock.0.get()))
    );
    let kinds: Vec<&str> = rig
        .reports
        .borrow()
        .iter()
        .map(|o| match o {
            WorkerOutput::Status(_) => "status",
            WorkerOutput::PushCompleted { .. } => "push",
            WorkerOutput::PullCompleted(_) => "pull",
            WorkerOutput::Pending { .. } => "pending",
            WorkerOutput::Realtime { .. } => "realtime",
        })
        .collect();
    assert_eq!(
        kinds,
        ["status", "status", "push", "pending", "status", "pull", "pending", "status"]
    );
}

#[test]
fn with_nothing_to_push_the_cycle_only_pulls() {
    let rig = Rig::new(replica(0), config(10));
    rig.cycle(false);
    assert!(rig.server().pushes.borrow().is_empty());
    assert_eq!(
        rig.statuses()
            .iter()
            .map(|s| s.0.as_str())
            .collect::<Vec<_>>(),
        ["Pulling", "Stopped"]
    );
}

#[test]
fn a_refused_board_delete_brings_the_board_and_its_todos_back() {
    let rig = Rig::new(replica(1), config(10));
    let todo = futures::executor::block_on(rig.store().local_change(
        Timestamp::from_millis(0),
        &mut uuid::Uuid::new_v4,
        async |write| {
            local::create_todo(
                write,
                board_id(0),
                local::TodoEdit::normalized("Milk", None),
            )
            .await
        },
    ))
    .unwrap();
    let todo_entry = sync_protocol::LogWithRecord {
        id: format!("{:020}", 2),
        model: "Todo".into(),
        key_path: vec![serde_json::json!(todo.id.to_string())],
        operation: sync_protocol::Operation::Create,
        scope_key: fakes::user().id.to_string(),
        outbox_event_id: "remote".into(),
        record: Some(Record::Todo(todo.clone()).to_json()),
        changelog_id: format!("{:020}", 2),
    };
    // The first sync pulls the todo's own entry back (stale: it is the one pushed).
    rig.server().answer_pull(Ok(sync_protocol::PullResponse {
        cursor: Some(format!("{:020}", 2)),
        logs_with_records: vec![todo_entry.clone()],
    }));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    assert_eq!(rig.cursor(), Some(format!("{:020}", 2)));
    futures::executor::block_on(rig.store().local_change(
        Timestamp::from_millis(0),
        &mut uuid::Uuid::new_v4,
        async |write| local::delete_board(write, board_id(0)).await,
    ))
    .unwrap();
    let board = rig
        .store()
        .state()
        .records
        .get(&(Model::Board, board_id(0).to_string()))
        .cloned();
    assert!(board.is_none(), "deleted locally");
    let delete = rig.events().last().unwrap().id.clone();
    // The server refuses the delete and still has the board (and its todo).
    let server_board = sync_protocol::Board {
        id: board_id(0),
        name: "B000".into(),
        created_at: Timestamp::from_millis(0),
        user_id: fakes::user().id,
    };
    let mut refused = PushResult::failed(
        delete,
        PushError::new(PushErrorKind::CustomValidationFailed, "this board is kept"),
    );
    refused.server_state = Some(ServerState {
        record: Some(Record::Board(server_board).to_json()),
    });
    rig.server().answer_push(PushAnswer::Results(vec![refused]));
    rig.server().answer_pull(Ok(sync_protocol::PullResponse {
        cursor: Some(format!("{:020}", 9)),
        logs_with_records: vec![todo_entry],
    }));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    assert_eq!(
        rig.server()
            .pulls
            .borrow()
            .last()
            .cloned()
            .flatten()
            .as_deref(),
        Some(format!("{:020}", 9).as_str()),
        "after the resync page, the pull goes on from its cursor"
    );
    let pulls = rig.server().pulls.borrow().clone();
    assert_eq!(
        pulls[pulls.len() - 2],
        None,
        "the resync starts from the beginning"
    );
    let state = rig.store().state();
    assert!(state
        .records
        .contains_key(&(Model::Board, board_id(0).to_string())));
    assert_eq!(
        state.records.get(&(Model::Todo, todo.id.to_string())),
        Some(&Record::Todo(todo)),
        "the todo is back"
    );
}
