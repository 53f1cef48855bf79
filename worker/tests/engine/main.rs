//! The sync engine's cycle, natively, against in-memory fakes: every branch of push and
//! pull, and the statuses it reports.
#![cfg(not(target_arch = "wasm32"))]

mod fakes;

use fakes::{page, MemoryStore, PushAnswer, Rig};
use sync_protocol::push::ServerState;
use sync_protocol::{PushError, PushErrorKind, PushResult};
use sync_worker::engine::{CycleOutcome, TransportError};
use sync_worker::messages::{SyncConfig, SyncErrorKind, WorkerOutput};

fn config(batch_size: u32) -> SyncConfig {
    SyncConfig {
        batch_size,
        backoff_ms: 30_000,
        ..SyncConfig::default()
    }
}

#[test]
fn pushes_in_batches_of_the_configured_size_in_creation_order() {
    let rig = Rig::new(MemoryStore::with_events(25), config(10));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let pushes = rig.server().pushes.borrow().clone();
    assert_eq!(pushes.iter().map(Vec::len).collect::<Vec<_>>(), [10, 10, 5]);
    let flat: Vec<String> = pushes.concat();
    let expected: Vec<String> = (0..25).map(|n| format!("e{n:03}")).collect();
    assert_eq!(flat, expected);
    assert!(rig.store().events.borrow().iter().all(|e| e.synced));
}

#[test]
fn batch_size_is_capped_at_the_protocol_maximum() {
    let rig = Rig::new(MemoryStore::with_events(150), config(500));
    rig.cycle(false);
    let sizes: Vec<usize> = rig.server().pushes.borrow().iter().map(Vec::len).collect();
    assert_eq!(sizes, [100, 50]);
}

#[test]
fn a_retryable_failure_waits_out_its_backoff_and_defers_the_pull() {
    let rig = Rig::new(MemoryStore::with_events(1), config(10));
    rig.server()
        .answer_push(PushAnswer::Results(vec![PushResult::failed(
            "e000",
            PushError::new(PushErrorKind::UnknownError, "database busy"),
        )]));
    assert_eq!(rig.cycle(false), CycleOutcome::PullDeferred);
    let event = rig.store().event("e000");
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
    let rig = Rig::new(MemoryStore::with_events(1), config(10));
    let fail = || {
        PushAnswer::Results(vec![PushResult::failed(
            "e000",
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
    let rig = Rig::new(MemoryStore::with_events(1), config(10));
    rig.server()
        .answer_push(PushAnswer::Results(vec![PushResult::failed(
            "e000",
            PushError::new(PushErrorKind::UnknownError, "busy"),
        )]));
    rig.cycle(false);
    // A newer change to the same record arrives while the first waits out its backoff.
    rig.store().events.borrow_mut().push(fakes::event("e001"));
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
        ["e000".to_string(), "e001".to_string()],
        "both go, in the order they were made"
    );
}

#[test]
fn overriding_backoff_tries_each_event_once_per_cycle() {
    let rig = Rig::new(MemoryStore::with_events(3), config(10));
    rig.server().answer_push(PushAnswer::Results(
        ["e000", "e001", "e002"]
            .map(|id| PushResult::failed(id, PushError::new(PushErrorKind::UnknownError, "busy")))
            .to_vec(),
    ));
    assert_eq!(rig.cycle(true), CycleOutcome::PullDeferred);
    assert_eq!(rig.server().pushes.borrow().len(), 1);
}

#[test]
fn a_permanent_rejection_is_rolled_back_and_does_not_block_the_pull() {
    let rig = Rig::new(MemoryStore::with_events(2), config(10));
    let mut rejected = PushResult::failed(
        "e000",
        PushError::new(PushErrorKind::ScopeViolation, "not your board"),
    );
    rejected.server_state = Some(ServerState { record: None });
    rig.server().answer_push(PushAnswer::Results(vec![
        rejected,
        PushResult::applied("e001", "00000000000000000007"),
    ]));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    let event = rig.store().event("e000");
    assert!(!event.retryable && !event.synced);
    assert_eq!(
        event.last_error.as_deref(),
        Some("SCOPE_VIOLATION: not your board")
    );
    assert_eq!(
        rig.store().rollbacks.borrow().clone(),
        [("e000".to_string(), ServerState { record: None })]
    );
    assert!(rig.store().event("e001").synced);
    assert_eq!(rig.server().pulls.borrow().len(), 1);
}

#[test]
fn an_event_missing_from_the_answer_is_retried() {
    let rig = Rig::new(MemoryStore::with_events(2), config(10));
    rig.server()
        .answer_push(PushAnswer::Results(vec![PushResult::applied(
            "e000",
            "00000000000000000001",
        )]));
    assert_eq!(rig.cycle(false), CycleOutcome::PullDeferred);
    let missing = rig.store().event("e001");
    assert!(missing.retryable && !missing.synced);
    assert_eq!(missing.tries, 1);
}

#[test]
fn a_transport_error_fails_the_batch_as_retryable_and_ends_the_cycle() {
    let rig = Rig::new(MemoryStore::with_events(15), config(10));
    rig.server()
        .answer_push(PushAnswer::Error(TransportError::Http {
            status: 503,
            message: "unavailable".into(),
        }));
    let CycleOutcome::Failed(error) = rig.cycle(false) else {
        panic!("the cycle fails");
    };
    assert_eq!(error.kind, SyncErrorKind::Server);
    assert_eq!(
        rig.server().pushes.borrow().len(),
        1,
        "the cycle ends at the failure"
    );
    assert!(rig.server().pulls.borrow().is_empty());
    let events = rig.store().events.borrow();
    assert!(events[..10].iter().all(|e| e.tries == 1 && e.retryable));
    assert!(events[..10].iter().all(|e| e
        .last_error
        .as_deref()
        .unwrap()
        .starts_with("UNKNOWN_ERROR: the server answered 503")));
    assert!(events[10..].iter().all(|e| e.tries == 0));
    drop(events);
    let last = rig.statuses().last().cloned().unwrap();
    assert_eq!(
        last,
        ("Stopped".to_string(), false, true),
        "lastError is set"
    );
}

#[test]
fn a_401_stops_the_cycle_without_counting_a_try() {
    let rig = Rig::new(MemoryStore::with_events(3), config(10));
    rig.server()
        .answer_push(PushAnswer::Error(TransportError::Unauthorized));
    assert_eq!(rig.cycle(false), CycleOutcome::Unauthorized);
    assert!(rig
        .store()
        .events
        .borrow()
        .iter()
        .all(|e| e.tries == 0 && e.is_pending()));
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
    let rig = Rig::new(MemoryStore::default(), config(10));
    rig.server().answer_pull(Err(TransportError::Unauthorized));
    assert_eq!(rig.cycle(false), CycleOutcome::Unauthorized);
}

#[test]
fn pulls_page_after_page_until_an_empty_one() {
    let rig = Rig::new(MemoryStore::default(), config(10));
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
    assert_eq!(rig.store().applied_pages.borrow().len(), 2);
    assert_eq!(
        rig.store().cursor.borrow().as_deref(),
        Some("00000000000000000005")
    );
    let completed = rig.reports.borrow().iter().find_map(|o| match o {
        WorkerOutput::PullCompleted(stats) => Some(stats.clone()),
        _ => None,
    });
    let completed = completed.expect("PullCompleted reported");
    assert_eq!((completed.applied, completed.pages), (5, 2));
}

#[test]
fn the_cursor_advances_only_with_an_applied_page() {
    let rig = Rig::new(MemoryStore::default(), config(10));
    rig.server().answer_pull(Ok(page(3, 3)));
    rig.server().answer_pull(Ok(page(6, 3)));
    // The first page applies; the second page's transaction aborts.
    rig.store().fail_apply_after.set(Some(1));
    let CycleOutcome::Failed(error) = rig.cycle(false) else {
        panic!("the cycle fails when a page cannot be applied");
    };
    assert_eq!(error.kind, SyncErrorKind::Storage);
    assert_eq!(
        rig.store().cursor.borrow().as_deref(),
        Some("00000000000000000003"),
        "the failed page's cursor is not stored"
    );
    // The next cycle asks again from the last applied page.
    rig.server().answer_pull(Ok(page(6, 3)));
    assert_eq!(rig.cycle(false), CycleOutcome::Synced);
    assert_eq!(
        rig.server().pulls.borrow()[2..],
        [
            Some("00000000000000000003".to_string()),
            Some("00000000000000000006".to_string())
        ]
    );
}

#[test]
fn a_cycle_reports_pushing_pulling_then_rest_with_the_sync_time() {
    let rig = Rig::new(MemoryStore::with_events(2), config(10));
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
    let rig = Rig::new(MemoryStore::default(), config(10));
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
