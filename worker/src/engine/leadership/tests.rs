//! Leadership's rules, told as tab stories: several workers' state machines around a
//! model of the Web Lock and the BroadcastChannel, with manual time, and tabs that can be
//! closed or frozen (a frozen tab runs nothing; what it is sent waits in its queue).

use super::*;
use crate::engine::status::StatusBoard;
use crate::engine::{Clock, Engine, Transport, TransportError};
use crate::messages::SyncConfig;
use crate::replica::memory::MemoryReplica;
use crate::replica::{local, Account};
use futures::FutureExt;
use std::cell::{Cell, RefCell};
use std::collections::VecDeque;
use std::rc::Rc;
use sync_protocol::{PullResponse, PushResult, Timestamp, User};
use uuid::Uuid;

/// One tab's worker as the model sees it.
struct Tab {
    machine: Leadership,
    /// What reached the tab while it was frozen, in arrival order.
    inbox: VecDeque<Event>,
    frozen: bool,
    closed: bool,
    /// The term it leads under, if it runs an engine.
    leads: Option<(u64, u64, Lease)>,
    /// Every command it gave.
    said: Vec<Command>,
}

/// Tabs of one origin, one lock, one store's fencing term.
struct Tabs {
    tabs: Vec<Tab>,
    now: u64,
    holder: Option<(usize, RequestId)>,
    queue: VecDeque<(usize, RequestId)>,
    store_term: u64,
}

impl Tabs {
    /// `n` tabs opened in order at time 0; the first leads.
    fn open(n: usize) -> Tabs {
        let mut tabs = Tabs {
            tabs: Vec::new(),
            now: 0,
            holder: None,
            queue: VecDeque::new(),
            store_term: 0,
        };
        for _ in 0..n {
            tabs.open_one();
        }
        tabs
    }

    fn open_one(&mut self) -> usize {
        let mut machine = Leadership::new(self.now);
        let commands = machine.start();
        self.tabs.push(Tab {
            machine,
            inbox: VecDeque::new(),
            frozen: false,
            closed: false,
            leads: None,
            said: Vec::new(),
        });
        let tab = self.tabs.len() - 1;
        self.carry_out(tab, commands);
        tab
    }

    fn send(&mut self, tab: usize, event: Event) {
        if self.tabs[tab].closed {
            return;
        }
        if self.tabs[tab].frozen {
            self.tabs[tab].inbox.push_back(event);
            return;
        }
        let commands = self.tabs[tab].machine.handle(event, self.now);
        self.carry_out(tab, commands);
    }

    fn carry_out(&mut self, tab: usize, commands: Vec<Command>) {
        for command in commands {
            self.tabs[tab].said.push(command.clone());
            match command {
                Command::Broadcast(message) => {
                    for other in 0..self.tabs.len() {
                        if other != tab {
                            self.send(other, Event::Peer(message.clone()));
                        }
                    }
                }
                Command::RequestLock {
                    request,
                    claim: Claim::Wait,
                } => {
                    if self.holder.is_none() {
                        self.holder = Some((tab, request));
                        self.send(tab, Event::LockGranted { request });
                    } else {
                        self.queue.push_back((tab, request));
                    }
                }
                Command::RequestLock {
                    request,
                    claim: Claim::Seize,
                } => {
                    let old = self.holder.replace((tab, request));
                    self.send(tab, Event::LockGranted { request });
                    if let Some((old_tab, old_request)) = old {
                        self.send(
                            old_tab,
                            Event::LockLost {
                                request: old_request,
                            },
                        );
                    }
                }
                Command::OpenStore { term } => {
                    self.store_term += 1;
                    let fencing_term = self.store_term;
                    self.send(tab, Event::StoreOpened { term, fencing_term });
                }
                Command::Lead {
                    term,
                    fencing_term,
                    lease,
                } => self.tabs[tab].leads = Some((term, fencing_term, lease)),
                Command::StandDown => self.tabs[tab].leads = None,
                Command::AnswerPages(_)
                | Command::Greet(_)
                | Command::Apply(_)
                | Command::CloseStore { .. }
                | Command::Control(_) => {}
            }
        }
    }

    /// Lets `ms` pass; every running tab's timer fires each heartbeat period.
    fn wait(&mut self, ms: u64) {
        let end = self.now + ms;
        while self.now + HEARTBEAT_MS <= end {
            self.now += HEARTBEAT_MS;
            for tab in 0..self.tabs.len() {
                if !self.tabs[tab].frozen {
                    self.send(tab, Event::Tick);
                }
            }
        }
        self.now = end;
    }

    /// The browser closes the tab: its lock passes to the next in the queue.
    fn close(&mut self, tab: usize) {
        self.tabs[tab].closed = true;
        self.queue.retain(|(t, _)| *t != tab);
        if self.holder.is_some_and(|(t, _)| t == tab) {
            self.holder = None;
            if let Some((next, request)) = self.queue.pop_front() {
                self.holder = Some((next, request));
                self.send(next, Event::LockGranted { request });
            }
        }
    }

    fn freeze(&mut self, tab: usize) {
        self.tabs[tab].frozen = true;
    }

    /// The tab runs again. Its timer is overdue and fires first; then it reads what
    /// queued up meanwhile.
    fn resume(&mut self, tab: usize) {
        self.tabs[tab].frozen = false;
        self.send(tab, Event::Tick);
        while let Some(event) = self.tabs[tab].inbox.pop_front() {
            self.send(tab, event);
        }
    }

    /// The tabs that run an engine.
    fn leaders(&self) -> Vec<usize> {
        (0..self.tabs.len())
            .filter(|t| self.tabs[*t].leads.is_some() && !self.tabs[*t].closed)
            .collect()
    }

    fn seized(&self, tab: usize) -> bool {
        self.tabs[tab].said.iter().any(|c| {
            matches!(
                c,
                Command::RequestLock {
                    claim: Claim::Seize,
                    ..
                }
            )
        })
    }
}

#[test]
fn the_first_tab_leads_and_the_others_stand_by() {
    let mut tabs = Tabs::open(3);
    tabs.wait(10_000);
    assert_eq!(tabs.leaders(), [0]);
    assert!(
        !tabs.seized(1) && !tabs.seized(2),
        "a talking leader is kept"
    );
}

#[test]
fn a_closed_leaders_lock_passes_to_a_standby_which_leads() {
    let mut tabs = Tabs::open(2);
    tabs.wait(1_000);
    tabs.close(0);
    assert_eq!(tabs.leaders(), [1], "at once, without waiting for silence");
    assert!(!tabs.seized(1));
    let (_, fencing_term, _) = tabs.tabs[1].leads.clone().unwrap();
    assert_eq!(fencing_term, 2, "the new leader raised the stored term");
}

#[test]
fn a_frozen_leader_is_replaced_after_the_silence_and_stands_down_when_it_resumes() {
    let mut tabs = Tabs::open(2);
    tabs.wait(1_000);
    tabs.freeze(0);
    let frozen_at = tabs.now;
    while tabs.leaders() != [0, 1] && tabs.now < frozen_at + 5_000 {
        tabs.wait(HEARTBEAT_MS);
    }
    assert!(tabs.seized(1), "the standby took the lock by force");
    let waited = tabs.now - frozen_at;
    assert!(
        (TAKEOVER_AFTER_MS..=TAKEOVER_AFTER_MS + 2 * HEARTBEAT_MS).contains(&waited),
        "took over after {waited} ms"
    );
    let (_, _, old_lease) = tabs.tabs[0].leads.clone().unwrap();

    tabs.resume(0);
    assert_eq!(
        tabs.leaders(),
        [1],
        "one leader once the old one hears of it"
    );
    assert!(!old_lease.is_held(), "the old term is fenced");
    assert!(tabs.tabs[0].said.contains(&Command::StandDown));
    // It queues again, so that it leads when the new leader's tab closes.
    tabs.close(1);
    assert_eq!(tabs.leaders(), [0]);
}

#[test]
fn a_frozen_standby_that_wakes_to_queued_heartbeats_does_not_seize() {
    let mut tabs = Tabs::open(2);
    tabs.wait(1_000);
    tabs.freeze(1);
    tabs.wait(10_000);
    assert!(
        !tabs.tabs[1].inbox.is_empty(),
        "heartbeats queued up for the frozen standby"
    );
    // Its overdue timer fires before it reads them.
    tabs.resume(1);
    tabs.wait(5_000);
    assert!(!tabs.seized(1), "the healthy leader keeps the lock");
    assert_eq!(tabs.leaders(), [0]);
}

#[test]
fn a_standby_frozen_just_long_enough_does_not_seize_either() {
    // Frozen a little over the takeover delay: the first tick after waking finds the
    // silence long enough, but the queued heartbeats are read before the next one.
    let mut tabs = Tabs::open(2);
    tabs.wait(1_000);
    tabs.freeze(1);
    tabs.wait(TAKEOVER_AFTER_MS + HEARTBEAT_MS);
    tabs.resume(1);
    tabs.wait(3_000);
    assert!(!tabs.seized(1));
    assert_eq!(tabs.leaders(), [0]);
}

/// A standby whose queued request is `wait` and whose silence check has fired:
/// returns it with its seize request.
fn seizing_standby() -> (Leadership, RequestId, RequestId) {
    let mut machine = Leadership::new(0);
    let wait = match machine.start().as_slice() {
        [Command::Broadcast(PeerMessage::Hello), Command::RequestLock {
            request,
            claim: Claim::Wait,
        }] => *request,
        other => panic!("unexpected start: {other:?}"),
    };
    assert!(machine.handle(Event::Tick, TAKEOVER_AFTER_MS).is_empty());
    let seize = match machine
        .handle(Event::Tick, TAKEOVER_AFTER_MS + HEARTBEAT_MS)
        .as_slice()
    {
        [Command::RequestLock {
            request,
            claim: Claim::Seize,
        }] => *request,
        other => panic!("expected a seizure: {other:?}"),
    };
    (machine, wait, seize)
}

fn opens(commands: &[Command]) -> Vec<u64> {
    commands
        .iter()
        .filter_map(|c| match c {
            Command::OpenStore { term } => Some(*term),
            _ => None,
        })
        .collect()
}

#[test]
fn a_seizure_racing_a_release_grants_once_and_leads_once() {
    // The frozen leader's tab is closed just as the standby seizes: the queued request
    // is granted, then the seizure takes the lock from that very request.
    let (mut machine, wait, seize) = seizing_standby();
    let now = 2_000;
    let granted = machine.handle(Event::LockGranted { request: wait }, now);
    assert_eq!(opens(&granted), [1]);
    assert!(machine
        .handle(Event::LockGranted { request: seize }, now)
        .is_empty());
    let lost = machine.handle(Event::LockLost { request: wait }, now);
    assert!(lost.is_empty(), "the lock never left this worker: {lost:?}");
    let opened = machine.handle(
        Event::StoreOpened {
            term: 1,
            fencing_term: 7,
        },
        now,
    );
    assert!(matches!(
        opened.as_slice(),
        [Command::Lead {
            term: 1,
            fencing_term: 7,
            ..
        }]
    ));
    assert!(machine.is_leading());
    // It heartbeats, and has no request left to be granted later.
    assert_eq!(
        machine.handle(Event::Tick, now + HEARTBEAT_MS),
        [Command::Broadcast(PeerMessage::Heartbeat)]
    );
}

#[test]
fn a_seizure_racing_a_release_in_the_other_order_ends_with_one_term_leading() {
    // Here the loss of the queued request is seen before the seizure's grant.
    let (mut machine, wait, seize) = seizing_standby();
    let now = 2_000;
    let mut said = machine.handle(Event::LockGranted { request: wait }, now);
    said.extend(machine.handle(Event::LockLost { request: wait }, now));
    said.extend(machine.handle(Event::LockGranted { request: seize }, now));
    assert_eq!(opens(&said), [1, 2]);
    assert!(
        !said
            .iter()
            .any(|c| matches!(c, Command::RequestLock { .. })),
        "no new request while the seizure is pending: {said:?}"
    );
    let stale = machine.handle(
        Event::StoreOpened {
            term: 1,
            fencing_term: 7,
        },
        now,
    );
    assert_eq!(stale, [Command::CloseStore { term: 1 }]);
    let current = machine.handle(
        Event::StoreOpened {
            term: 2,
            fencing_term: 8,
        },
        now,
    );
    assert!(matches!(
        current.as_slice(),
        [Command::Lead {
            term: 2,
            fencing_term: 8,
            ..
        }]
    ));
}

#[test]
fn a_seizure_that_loses_to_a_release_elsewhere_leaves_a_standby_queued() {
    // The standby seized, but another standby seized right after it.
    let (mut machine, wait, seize) = seizing_standby();
    let now = 2_000;
    machine.handle(Event::LockGranted { request: seize }, now);
    machine.handle(
        Event::StoreOpened {
            term: 1,
            fencing_term: 3,
        },
        now,
    );
    let lost = machine.handle(Event::LockLost { request: seize }, now);
    assert_eq!(lost, [Command::StandDown]);
    assert!(!machine.holds_lock());
    // Its first queued request still waits: no second one.
    let granted = machine.handle(Event::LockGranted { request: wait }, now + 10);
    assert_eq!(opens(&granted), [2]);
}

/// A worker leading under term 1 with a cycle under way; returns it with its lease and
/// the request that holds the lock.
fn leading_with_a_cycle_running() -> (Leadership, Lease, RequestId) {
    let mut machine = Leadership::new(0);
    machine.start();
    machine.handle(Event::LockGranted { request: 1 }, 0);
    let lease = match machine
        .handle(
            Event::StoreOpened {
                term: 1,
                fencing_term: 4,
            },
            0,
        )
        .as_slice()
    {
        [Command::Lead { lease, .. }] => lease.clone(),
        other => panic!("expected to lead: {other:?}"),
    };
    assert_eq!(
        machine.handle(Event::PageInput(WorkerInput::Start), 10),
        [Command::Control(controller::Event::Start)]
    );
    (machine, lease, 1)
}

#[test]
fn losing_the_lock_fences_the_term_before_its_cycle_ends() {
    let (mut machine, lease, held) = leading_with_a_cycle_running();
    let lost = machine.handle(Event::LockLost { request: held }, 100);
    assert!(
        !lease.is_held(),
        "the cycle under way can write nothing more"
    );
    assert_eq!(lost[0], Command::StandDown);
    assert!(matches!(
        lost[1],
        Command::RequestLock {
            claim: Claim::Wait,
            ..
        }
    ));
    // The old cycle's end is not the concern of anyone now.
    let done = machine.handle(
        Event::CycleDone {
            term: 1,
            outcome: CycleOutcome::Superseded,
        },
        200,
    );
    assert!(done.is_empty(), "{done:?}");
    // Page input now goes to the new leader, and the loop is still wanted there.
    assert_eq!(
        machine.handle(Event::PageInput(WorkerInput::Kick), 300),
        [Command::Broadcast(PeerMessage::Input(WorkerInput::Kick))]
    );
    assert!(machine.wants_loop());
}

#[test]
fn a_holder_whose_cycle_is_superseded_claims_a_new_term_and_leads_again() {
    let (mut machine, lease, _) = leading_with_a_cycle_running();
    // Another worker that had lost the lock without knowing raised the stored term.
    let done = machine.handle(
        Event::CycleDone {
            term: 1,
            outcome: CycleOutcome::Superseded,
        },
        100,
    );
    assert!(!lease.is_held(), "the superseded term's lease ends");
    assert_eq!(done, [Command::StandDown, Command::OpenStore { term: 2 }]);
    assert!(machine.holds_lock() && machine.is_opening(2));
    let opened = machine.handle(
        Event::StoreOpened {
            term: 2,
            fencing_term: 6,
        },
        110,
    );
    assert!(
        matches!(
            opened.as_slice(),
            [
                Command::Lead {
                    term: 2,
                    fencing_term: 6,
                    ..
                },
                Command::Control(controller::Event::Start)
            ]
        ),
        "leads again and the loop goes on: {opened:?}"
    );
    // Any other outcome goes to the controller as before.
    let failed = machine.handle(
        Event::CycleDone {
            term: 2,
            outcome: CycleOutcome::Synced,
        },
        200,
    );
    assert_eq!(
        failed,
        [Command::Control(controller::Event::CycleDone(
            CycleOutcome::Synced
        ))]
    );
}

#[test]
fn a_cycle_of_an_earlier_term_does_not_reach_a_later_terms_controller() {
    let (mut machine, _, held) = leading_with_a_cycle_running();
    machine.handle(Event::LockLost { request: held }, 100);
    // Leads again (the new leader's tab closed) while the old cycle still runs.
    machine.handle(Event::LockGranted { request: 2 }, 200);
    machine.handle(
        Event::StoreOpened {
            term: 2,
            fencing_term: 6,
        },
        200,
    );
    let old = machine.handle(
        Event::CycleDone {
            term: 1,
            outcome: CycleOutcome::Synced,
        },
        300,
    );
    assert!(old.is_empty(), "{old:?}");
    let current = machine.handle(
        Event::CycleDone {
            term: 2,
            outcome: CycleOutcome::Synced,
        },
        400,
    );
    assert_eq!(
        current,
        [Command::Control(controller::Event::CycleDone(
            CycleOutcome::Synced
        ))]
    );
}

#[test]
fn a_lock_lost_while_the_store_opens_closes_it_and_never_leads() {
    let mut machine = Leadership::new(0);
    machine.start();
    machine.handle(Event::LockGranted { request: 1 }, 0);
    assert!(machine.is_opening(1));
    machine.handle(Event::LockLost { request: 1 }, 5);
    assert!(
        !machine.is_opening(1),
        "the host must not raise the term now"
    );
    assert_eq!(
        machine.handle(
            Event::StoreOpened {
                term: 1,
                fencing_term: 2
            },
            10
        ),
        [Command::CloseStore { term: 1 }]
    );
    assert!(!machine.is_leading());
}

#[test]
fn a_standby_forwards_its_pages_commands_and_keeps_their_settings() {
    let mut machine = Leadership::new(0);
    machine.start();
    let token = WorkerInput::SetAuth {
        token: Some("t".into()),
    };
    assert_eq!(
        machine.handle(Event::PageInput(token.clone()), 0),
        [
            Command::Apply(token.clone()),
            Command::Broadcast(PeerMessage::Input(token.clone()))
        ]
    );
    assert_eq!(
        machine.handle(Event::PageInput(WorkerInput::Start), 0),
        [Command::Broadcast(PeerMessage::Input(WorkerInput::Start))]
    );
    // Another standby's forwarded command is for the leader, not for this worker.
    assert!(machine
        .handle(Event::Peer(PeerMessage::Input(token)), 0)
        .is_empty());
}

#[test]
fn a_worker_that_takes_over_continues_the_loop_the_leader_ran() {
    let mut machine = Leadership::new(0);
    machine.start();
    let looping = WorkerOutput::Status(SyncStatus {
        is_looping: true,
        ..SyncStatus::default()
    });
    assert_eq!(
        machine.handle(Event::Peer(PeerMessage::Output(looping.clone())), 0),
        [Command::AnswerPages(looping.clone())]
    );
    machine.handle(Event::LockGranted { request: 1 }, 10);
    let led = machine.handle(
        Event::StoreOpened {
            term: 1,
            fencing_term: 1,
        },
        10,
    );
    assert_eq!(led[1], Command::Control(controller::Event::Start));
    // A page that connects now hears the latest status at once.
    assert_eq!(
        machine.handle(
            Event::PageConnected {
                status: SyncStatus::default()
            },
            20
        ),
        [Command::Greet(looping)]
    );
}

#[test]
fn the_leader_reports_to_everyone_and_repeats_itself_to_a_new_worker() {
    let (mut machine, _, _) = leading_with_a_cycle_running();
    let pending = WorkerOutput::Pending { count: 3 };
    assert_eq!(
        machine.handle(Event::Report(pending.clone()), 20),
        [
            Command::AnswerPages(pending.clone()),
            Command::Broadcast(PeerMessage::Output(pending.clone()))
        ]
    );
    assert_eq!(
        machine.handle(Event::Peer(PeerMessage::Hello), 30),
        [Command::Broadcast(PeerMessage::Output(pending))]
    );
}

// The engine side of fencing: what an old leader's cycle does once its term is over.

fn account() -> Account {
    Account {
        user: User {
            id: Uuid::from_u128(1),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            email_verified: false,
            image: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            is_anonymous: false,
        },
        token: "token".into(),
    }
}

/// A signed-in replica with two boards created locally (two pending events).
fn replica_with_changes() -> Rc<MemoryReplica> {
    let replica = Rc::new(MemoryReplica::new());
    futures::executor::block_on(async {
        replica.sign_in(&account()).await.unwrap();
        for n in 0..2u128 {
            let mut next = 0u128;
            let mut ids = move || {
                next += 1;
                Uuid::from_u128(100 + n * 10 + next)
            };
            replica
                .local_change(Timestamp::from_millis(0), &mut ids, async |write| {
                    local::create_board(write, &format!("Board {n}")).await
                })
                .await
                .unwrap();
        }
    });
    replica
}

/// A server that accepts every push; `during_push` runs while a push is in flight.
#[derive(Default)]
struct Server {
    pushes: Cell<usize>,
    pulls: Cell<usize>,
    during_push: RefCell<Option<Box<dyn FnOnce()>>>,
}

impl Transport for Rc<Server> {
    async fn push(
        &self,
        _token: &str,
        events: &[sync_protocol::OutboxEvent],
    ) -> Result<Vec<PushResult>, TransportError> {
        self.pushes.set(self.pushes.get() + 1);
        if let Some(during) = self.during_push.borrow_mut().take() {
            during();
        }
        Ok(events
            .iter()
            .enumerate()
            .map(|(n, e)| PushResult::applied(e.id.clone(), format!("{n:020}")))
            .collect())
    }

    async fn pull(
        &self,
        _token: &str,
        _cursor: Option<&str>,
        _limit: u32,
    ) -> Result<PullResponse, TransportError> {
        self.pulls.set(self.pulls.get() + 1);
        Ok(PullResponse {
            cursor: None,
            logs_with_records: Vec::new(),
        })
    }
}

struct Still;

impl Clock for Still {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(1_000)
    }
}

type OldEngine = Engine<Fenced<Rc<MemoryReplica>>, Rc<Server>, Still>;

/// The engine a leader builds on `Command::Lead`.
fn engine(replica: &Rc<MemoryReplica>, server: &Rc<Server>, lead: &Command) -> OldEngine {
    let Command::Lead {
        fencing_term,
        lease,
        ..
    } = lead
    else {
        panic!("not a Lead command: {lead:?}");
    };
    Engine::new(
        Fenced::new(replica.clone(), lease.clone()),
        server.clone(),
        Still,
        SyncConfig::default(),
        StatusBoard::new(Rc::new(|_| {})),
        *fencing_term,
    )
}

/// Leads on `replica` as the host does: grant, open the store (raising its term), lead.
fn lead_on(replica: &MemoryReplica) -> (Leadership, Command) {
    let mut machine = Leadership::new(0);
    machine.start();
    let opened = machine.handle(Event::LockGranted { request: 1 }, 0);
    assert_eq!(opens(&opened), [1]);
    // The memory replica never waits, so its futures finish on their first poll (this also
    // runs inside another test's executor).
    let fencing_term = replica.claim_term().now_or_never().unwrap().unwrap();
    let lead = machine
        .handle(
            Event::StoreOpened {
                term: 1,
                fencing_term,
            },
            0,
        )
        .remove(0);
    (machine, lead)
}

#[test]
fn an_old_leaders_cycle_in_flight_when_it_learns_of_the_loss_writes_and_sends_nothing_more() {
    let replica = replica_with_changes();
    let server = Rc::new(Server::default());
    let (machine, lead) = lead_on(&replica);
    let machine = Rc::new(RefCell::new(machine));
    let engine = engine(&replica, &server, &lead);
    // While the push is in flight, another worker seizes the lock and this one hears of it.
    let hears = machine.clone();
    *server.during_push.borrow_mut() = Some(Box::new(move || {
        let said = hears
            .borrow_mut()
            .handle(Event::LockLost { request: 1 }, 50);
        assert_eq!(said[0], Command::StandDown);
    }));

    let outcome = futures::executor::block_on(engine.run_cycle(false));

    assert_eq!(outcome, CycleOutcome::Superseded);
    assert_eq!(server.pushes.get(), 1, "no further push");
    assert_eq!(server.pulls.get(), 0, "no pull");
    assert_eq!(
        replica.outbox_stats().pending,
        2,
        "the answer was not booked: the new leader pushes again (idempotent)"
    );
    // Nor does the old engine start anything again.
    assert_eq!(
        futures::executor::block_on(engine.run_cycle(true)),
        CycleOutcome::Superseded
    );
    assert_eq!(server.pushes.get(), 1);
}

#[test]
fn a_frozen_old_leaders_cycle_is_refused_by_the_store_once_the_new_leader_opened_it() {
    let replica = replica_with_changes();
    let server = Rc::new(Server::default());
    let (_old_machine, old_lead) = lead_on(&replica);
    let old = engine(&replica, &server, &old_lead);
    // The old leader is frozen mid-push, so it never hears that it lost the lock; the
    // new leader raises the stored term meanwhile.
    let successor = replica.clone();
    *server.during_push.borrow_mut() = Some(Box::new(move || {
        let (new_machine, _) = lead_on(&successor);
        assert!(new_machine.is_leading());
    }));

    let outcome = futures::executor::block_on(old.run_cycle(false));

    assert_eq!(outcome, CycleOutcome::Superseded);
    assert_eq!(server.pulls.get(), 0);
    assert_eq!(replica.outbox_stats().pending, 2, "nothing booked");
}
