//! A seeded, deterministic simulation of the sync path.
//!
//! In one thread and in simulated time, several devices (each: the in-memory replica
//! that runs the IndexedDB store's own rules, and two or three tabs) sync with the real
//! [`SyncService`] on SQLite, through a network that loses requests and answers, answers
//! 5xx, 429 and 413, goes away for seconds or days, and expires sessions. People edit
//! boards and todos (some edits the server refuses), share their boards with the other
//! account, remove it again or leave a board shared with them (while the other side's
//! edits of it wait in outboxes), stop and start sync, sign out and in (as themselves or
//! someone else). Everything random comes from one seed, so a failing
//! history replays exactly: `SIM_SEED=<seed> cargo test -p sync-sim`.
//!
//! Tabs: every tab's worker runs its own real [`Leadership`] machine, fed with simulated
//! time, and the simulator carries out its commands as the browser host does
//! (worker/src/host): `OpenStore` claims a term in the replica (raising the stored
//! fencing term) and answers `StoreOpened`; `Lead` builds that tab's real [`Engine`] over
//! a [`Fenced`] store with the term's lease, and its own real [`Controller`]; `Control`
//! feeds that controller; `StandDown` drops them (a cycle already running goes on, fenced);
//! a cycle's end goes back to the machine as `CycleDone`. Around the tabs of a device:
//! - a model of the Web Lock: one holder, a FIFO of waiting requests, a grant on
//!   release, `Seize` takes it from the holder (which is told `LockLost`);
//! - a model of the BroadcastChannel: messages arrive after a few simulated
//!   milliseconds, in order per receiver;
//! - heartbeat ticks every [`HEARTBEAT_MS`] to every tab that is not frozen;
//! - the person's Start, Stop, Kick and Sync now go to a random tab as `PageInput`, so
//!   that a standby forwards them to the leader; each page sets its worker's token.
//!
//! Tabs are frozen (from 100 ms to minutes: a frozen tab runs nothing, neither its
//! machine nor its timers nor its cycle; its lock stays held and what it is sent queues;
//! on resume its overdue tick fires, then it reads the queue in order), closed (its
//! lock is released, its requests dropped, its worker and cycle gone; the device opens a
//! new tab soon), and opened.
//!
//! After the history every device syncs to quiescence and the checks run: every local
//! change is on the server, or was refused for a reason the person was shown, or was
//! discarded by a confirmed sign-out; every device equals the server; the server and
//! every device show, for each field of each live record, the value of the last accepted
//! change of that field (field-level merge: a concurrent edit of another field of the
//! record does not undo it; see `last_accepted_values`); only the server's
//! answers count as tries; no two cycles of one device overlap within one term; no
//! cursor moves back; no write lands under a stale epoch; every outbox drains; a fenced
//! cycle (its lease revoked) writes and sends nothing; and, after every step, at most one
//! tab of a device leads unless the others have not read their `LockLost` yet (their
//! writes must then be refused by the stored term), and after quiescence exactly one tab
//! of each device leads.

mod fenced;
mod net;
mod rng;

use fenced::{FencedStore, Window};
use futures::task::noop_waker_ref;
use net::{Body, Net, Reply, Request, SimTransport};
use rng::Rng;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet, VecDeque};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use sync_protocol::{
    Board, LogWithRecord, Model, Operation, OutboxEvent, PullRequest, PushError, PushErrorKind,
    PushResult, Record, Timestamp, User,
};
use sync_server::storage::NewAccount;
use sync_server::sync::SyncService;
use sync_worker::engine::controller::{self, Controller};
use sync_worker::engine::leadership::{
    self, Claim, Fenced, Leadership, Lease, PeerMessage, RequestId, HEARTBEAT_MS,
};
use sync_worker::engine::status::StatusBoard;
use sync_worker::engine::{Clock, CycleOutcome, Engine, TransportError};
use sync_worker::messages::{SyncConfig, WorkerInput, WorkerOutput};
use sync_worker::replica::local::{self, TodoEdit};
use sync_worker::replica::memory::{MemoryReplica, ReplicaState};
use sync_worker::replica::{Account, OutboxEntry, ReplicaTx};
use uuid::Uuid;

type Ms = i64;

const SECOND: Ms = 1000;
const MINUTE: Ms = 60 * SECOND;
const HOUR: Ms = 60 * MINUTE;
const DAY: Ms = 24 * HOUR;
/// How long the transport waits for an answer before giving up.
const REQUEST_TIMEOUT: Ms = 30 * SECOND;
/// Where simulated time starts (2026-01-01).
const EPOCH_MS: Ms = 1_767_225_600_000;
/// The server's retry limit, as deployed.
const MAX_TRIES: u32 = 10;
/// The loop's interval. Kicks (local writes) drive most cycles; a long interval keeps
/// days of simulated time cheap without changing a rule (backoff is capped below it).
const INTERVAL: Ms = HOUR;

/// How big a history is.
#[derive(Debug, Clone, Copy)]
pub struct Options {
    /// Person actions per history.
    pub actions: usize,
    pub devices: usize,
}

impl Default for Options {
    fn default() -> Options {
        Options {
            actions: 40,
            devices: 3,
        }
    }
}

/// What a passing history did.
#[derive(Debug, Clone, Default)]
pub struct Summary {
    pub changes: usize,
    pub applied: usize,
    /// Of the applied changes, updates that named their fields (the server merged them).
    pub field_updates: usize,
    /// Of those, merges that kept another change: the update's payload differed from the
    /// record as stored in a field it did not name (a whole-record update would have
    /// undone that field's last accepted change).
    pub merges_that_mattered: usize,
    pub refused: usize,
    pub requests: usize,
    pub simulated_ms: Ms,
    /// Locks taken from a silent holder.
    pub seizures: usize,
    /// Writes an old leader tried after the lock had passed on and before it read its
    /// `LockLost`: refused (the successor had raised the stored term) or accepted (the
    /// successor had not opened the store yet, so the old term was still the newest).
    pub old_leader_writes_refused: usize,
    pub old_leader_writes_accepted: usize,
    /// Boards shared with the other account, and memberships ended (removed or left).
    pub shares: usize,
    pub unshares: usize,
    /// Changes a person made to a todo on a board shared with them: applied, and
    /// refused (made before the membership ended, or on a board deleted meanwhile).
    pub member_changes_applied: usize,
    pub member_changes_refused: usize,
    /// Creates that trusted what their tab's last change left, reading nothing first,
    /// and of those, the ones another change (another tab's, a sign-in or sign-out)
    /// fenced: made again, reading first.
    pub trusting_creates: usize,
    pub fenced_creates: usize,
    /// Pushes the server handled only in part, answering about the first events of the
    /// batch and leaving the rest waiting (each a retry with events after it booked).
    pub partial_pushes: usize,
    /// The history, step by step.
    pub history: Vec<String>,
}

/// A failing history: its seed, what broke, and how it got there.
#[derive(Debug, Clone)]
pub struct Failure {
    pub seed: u64,
    pub violations: Vec<String>,
    pub history: Vec<String>,
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        writeln!(f, "simulation failed: SIM_SEED={}", self.seed)?;
        for violation in self.violations.iter().take(10) {
            writeln!(f, "  violation: {violation}")?;
        }
        writeln!(f, "  history (last {} steps):", self.history.len().min(60))?;
        let start = self.history.len().saturating_sub(60);
        for line in &self.history[start..] {
            writeln!(f, "    {line}")?;
        }
        Ok(())
    }
}

/// Runs the history of `seed` and checks it.
pub fn run(seed: u64, options: Options) -> Result<Summary, Failure> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a current-thread runtime needs no OS resources beyond this thread");
    let mut sim = Sim::new(seed, options, runtime);
    sim.play(options.actions);
    sim.quiesce();
    sim.check();
    let violations = sim.violations.borrow().clone();
    if violations.is_empty() {
        Ok(Summary {
            simulated_ms: sim.now() - EPOCH_MS,
            history: sim.history.clone(),
            ..sim.summary.clone()
        })
    } else {
        Err(Failure {
            seed,
            violations,
            history: sim.history.clone(),
        })
    }
}

/// The simulated clock the engines read.
#[derive(Clone)]
struct SimClock(Rc<Cell<Ms>>);

impl Clock for SimClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(self.0.get())
    }
}

type SimEngine = Engine<Fenced<FencedStore>, SimTransport, SimClock>;
type Cycle = Pin<Box<dyn Future<Output = CycleOutcome>>>;

/// How many tabs a device keeps open at most.
const MAX_TABS: usize = 3;
/// How long ticks keep running after the tabs of a device changed (frozen, resumed,
/// closed, opened), so that standbys watch the leader through the change.
const TICKS_AFTER_CHANGE: Ms = 3 * SECOND;

/// What a tab's worker is handed: the machine's events, and what its host reacts to
/// itself (the store it asked to open, its controller's timer, the network).
#[derive(Debug, Clone)]
enum Input {
    Event(leadership::Event),
    /// The store finished opening for this term.
    OpenStore(u64),
    /// The controller's timer of this arming fired.
    Timer(u64),
    /// The browser's online or offline event.
    Network(bool),
}

/// Messages of one source reach a tab in the order they were sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
enum Source {
    Channel,
    Lock,
}

/// What a tab runs while it leads (as the host's `Leader`).
struct TabLeader {
    /// The machine's term, which its cycles' ends name.
    term: u64,
    engine: Rc<SimEngine>,
    controller: Controller,
    /// The arming of the controller's timer that counts (a newer one replaces it).
    timer: Option<u64>,
}

/// One tab's worker.
struct Tab {
    machine: Leadership,
    frozen: bool,
    closed: bool,
    /// What reached the tab while it was frozen, in arrival order.
    inbox: VecDeque<Input>,
    leader: Option<TabLeader>,
    /// The page gave this worker a session token (the host's `connection.token`).
    has_token: bool,
    status: StatusBoard,
    timer_generation: u64,
    /// What the tab's last local change left, for its next create to trust.
    expected: Option<local::Expected>,
}

/// The Web Lock of one device: one holder, a FIFO of waiting requests.
#[derive(Default)]
struct Lock {
    holder: Option<(usize, RequestId)>,
    queue: VecDeque<(usize, RequestId)>,
}

/// A cycle under way, with the tab that runs it and the terms it runs under.
struct RunningCycle {
    tab: usize,
    /// The tab's leadership term (named in `CycleDone`).
    term: u64,
    /// The engine's term (the stored fencing term it works under).
    fencing_term: u64,
    cycle: Cycle,
}

/// One browser profile: its replica and its tabs.
struct Device {
    replica: Rc<MemoryReplica>,
    tabs: Vec<Tab>,
    lock: Lock,
    /// The lock holder's tab, shared with the fenced stores (who writes while not holding).
    holder_tab: Rc<Cell<Option<usize>>>,
    /// `LockLost` sent to a tab that has not read it yet.
    unread_losses: Vec<(usize, RequestId)>,
    /// Running cycles, an old leader's included, until they end or their tab closes.
    cycles: Vec<RunningCycle>,
    /// Messages scheduled for its tabs and not yet delivered.
    in_transit: usize,
    /// When the last message of each (tab, source) is due, to keep them in order.
    due: HashMap<(usize, Source), Ms>,
    /// Heartbeat ticks are simulated (see [`Sim::wake`]).
    ticking: bool,
    tick_until: Ms,
    online: bool,
    /// Which user is signed in, if any.
    user: Option<usize>,
    /// A 401 was seen: the person signs in again later.
    expired: bool,
    /// Its updates do not name their fields, as a prisma-idb client's do not: each
    /// replaces the whole record on the server, and a pull skips its record while one
    /// waits.
    whole_record_updates: bool,
}

/// Something scheduled.
#[derive(Debug, Clone)]
enum Action {
    /// A request reaches the server (which may have lost its answer on the way back).
    Arrive {
        request: u64,
        lose_answer: bool,
    },
    /// An answer (or a transport failure) reaches the device.
    Deliver {
        request: u64,
        reply: Reply,
    },
    /// A message reaches a tab.
    ToTab {
        device: usize,
        tab: usize,
        input: Input,
    },
    Timer {
        device: usize,
        tab: usize,
        generation: u64,
    },
    /// Every tab of the device that runs gets its heartbeat tick.
    Tick {
        device: usize,
    },
    Freeze {
        device: usize,
        tab: usize,
    },
    Resume {
        device: usize,
        tab: usize,
    },
    OpenTab {
        device: usize,
    },
    Person,
    NetworkBack {
        device: usize,
    },
    SignInAgain {
        device: usize,
    },
}

struct Sim {
    rng: Rng,
    runtime: tokio::runtime::Runtime,
    service: Arc<SyncService>,
    users: Vec<User>,
    clock: Rc<Cell<Ms>>,
    net: Rc<Net>,
    queue: BinaryHeap<std::cmp::Reverse<(Ms, u64)>>,
    actions: HashMap<u64, Action>,
    next_action: u64,
    /// Requests sent and not yet answered.
    in_flight: HashMap<u64, Request>,
    devices: Vec<Device>,
    server_down_until: Ms,
    /// Valid session tokens and their users.
    sessions: BTreeMap<String, usize>,
    next_token: u64,
    /// Faults on (the history) or off (quiescence).
    calm: bool,
    /// What the tabs' status boards reported, to hand to their machines.
    reports: Rc<RefCell<Vec<(usize, usize, WorkerOutput)>>>,
    // What the checks need.
    made: Vec<(usize, String)>,
    /// Every event made, by id: what an accepted one set (its payload, its fields).
    events: HashMap<String, OutboxEvent>,
    applied: HashSet<String>,
    refused: HashMap<String, PushErrorKind>,
    /// Changes a person made to a todo on a board shared with them.
    member_changes: HashSet<String>,
    discarded: HashSet<String>,
    answers: HashMap<String, u32>,
    violations: Rc<RefCell<Vec<String>>>,
    window: Rc<Window>,
    history: Vec<String>,
    summary: Summary,
    /// Pushes of events and non-empty pulls since the counter was last read.
    progress: usize,
}

impl Sim {
    fn new(seed: u64, options: Options, runtime: tokio::runtime::Runtime) -> Sim {
        let mut rng = Rng::new(seed);
        let config = <sync_server::Config as clap::Parser>::parse_from([
            "sync-server",
            "--database-url",
            "sqlite::memory:",
            "--db-max-connections",
            "1",
        ]);
        let storage = runtime
            .block_on(sync_server::storage::open(&config))
            .expect("an in-memory SQLite database opens");
        let service = Arc::new(SyncService::new(
            storage.clone(),
            sync_server::sync::default_validators(),
            MAX_TRIES,
        ));
        let users: Vec<User> = (0..2)
            .map(|n| User {
                id: rng.uuid(),
                name: format!("User {n}"),
                email: format!("user{n}@example.com"),
                email_verified: false,
                image: None,
                created_at: Timestamp::from_millis(EPOCH_MS),
                updated_at: Timestamp::from_millis(EPOCH_MS),
                is_anonymous: false,
            })
            .collect();
        for user in &users {
            let event_id = format!("signup-{}", user.id);
            runtime
                .block_on(storage.create_account(NewAccount {
                    user,
                    password_hash: "not used",
                    outbox_event_id: &event_id,
                }))
                .expect("the account is created");
        }
        let clock = Rc::new(Cell::new(EPOCH_MS));
        let net = Rc::new(Net::default());
        let violations: Rc<RefCell<Vec<String>>> = Rc::default();
        let mut sim = Sim {
            rng,
            runtime,
            service,
            users,
            clock: clock.clone(),
            net: net.clone(),
            queue: BinaryHeap::new(),
            actions: HashMap::new(),
            next_action: 0,
            in_flight: HashMap::new(),
            devices: Vec::new(),
            server_down_until: 0,
            sessions: BTreeMap::new(),
            next_token: 0,
            calm: false,
            reports: Rc::default(),
            made: Vec::new(),
            events: HashMap::new(),
            applied: HashSet::new(),
            refused: HashMap::new(),
            member_changes: HashSet::new(),
            discarded: HashSet::new(),
            answers: HashMap::new(),
            violations,
            window: Rc::default(),
            history: Vec::new(),
            summary: Summary::default(),
            progress: 0,
        };
        for index in 0..options.devices {
            sim.devices.push(Device {
                replica: Rc::new(MemoryReplica::new()),
                tabs: Vec::new(),
                lock: Lock::default(),
                holder_tab: Rc::default(),
                unread_losses: Vec::new(),
                cycles: Vec::new(),
                in_transit: 0,
                due: HashMap::new(),
                ticking: false,
                tick_until: 0,
                online: true,
                user: None,
                expired: false,
                whole_record_updates: false,
            });
            let tabs = 2 + sim.rng.below(2);
            // The first user's second device, in the histories where it has three tabs
            // (decided by a draw made anyway, so that other histories stay as they were),
            // behaves like a prisma-idb client beside the first device's merging one.
            sim.devices[index].whole_record_updates = index == 1 && tabs == 3;
            for _ in 0..tabs {
                sim.open_tab(index);
            }
            // Two devices of the first user, the rest the second's.
            let user = if index < 2 { 0 } else { 1 };
            sim.sign_in(index, user);
        }
        sim
    }

    fn now(&self) -> Ms {
        self.clock.get()
    }

    fn log(&mut self, line: String) {
        let t = self.now() - EPOCH_MS;
        self.history.push(format!(
            "{:>4}d{:02}:{:02}:{:02}.{:03} {line}",
            t / DAY,
            t % DAY / HOUR,
            t % HOUR / MINUTE,
            t % MINUTE / SECOND,
            t % SECOND
        ));
    }

    fn violation(&mut self, what: String) {
        self.log(format!("VIOLATION {what}"));
        self.violations.borrow_mut().push(what);
    }

    fn schedule(&mut self, at: Ms, action: Action) {
        let id = self.next_action;
        self.next_action += 1;
        self.actions.insert(id, action);
        self.queue.push(std::cmp::Reverse((at, id)));
    }

    fn open_tabs(&self, device: usize) -> Vec<usize> {
        (0..self.devices[device].tabs.len())
            .filter(|&tab| !self.devices[device].tabs[tab].closed)
            .collect()
    }

    // ---- the tabs: what the browser does around the workers ------------------------

    /// A new tab: its worker starts (says hello, queues for the lock) and its page
    /// connects, with the session the device has.
    fn open_tab(&mut self, device: usize) {
        self.wake(device);
        let tab = self.devices[device].tabs.len();
        let reports = self.reports.clone();
        let status = StatusBoard::new(Rc::new(move |output| {
            reports.borrow_mut().push((device, tab, output));
        }));
        let mut machine = Leadership::new(self.now() as u64);
        let commands = machine.start();
        let has_token = self.devices[device].user.is_some();
        self.devices[device].tabs.push(Tab {
            machine,
            frozen: false,
            closed: false,
            inbox: VecDeque::new(),
            leader: None,
            has_token,
            status: status.clone(),
            timer_generation: 0,
            expected: None,
        });
        self.log(format!("device {device} tab {tab}: opened"));
        self.carry_out(device, tab, commands);
        let status = status.current();
        self.decide(device, tab, leadership::Event::PageConnected { status });
    }

    /// The browser closes a tab: its worker and its cycle are gone, its lock passes on.
    fn close_tab(&mut self, device: usize, tab: usize) {
        self.wake(device);
        self.log(format!("device {device} tab {tab}: closed"));
        let d = &mut self.devices[device];
        let t = &mut d.tabs[tab];
        t.closed = true;
        t.inbox.clear();
        t.leader = None;
        d.cycles.retain(|cycle| cycle.tab != tab);
        d.unread_losses.retain(|(t, _)| *t != tab);
        d.lock.queue.retain(|(t, _)| *t != tab);
        if d.lock.holder.is_some_and(|(t, _)| t == tab) {
            d.lock.holder = None;
            d.holder_tab.set(None);
            if let Some((next, request)) = d.lock.queue.pop_front() {
                self.grant(device, next, request);
            }
        }
        if self.open_tabs(device).is_empty() {
            let later = self.now() + self.rng.between(100, MINUTE);
            self.schedule(later, Action::OpenTab { device });
        }
    }

    fn freeze(&mut self, device: usize, tab: usize, for_ms: Ms) {
        self.wake(device);
        self.log(format!("device {device} tab {tab}: frozen for {for_ms} ms"));
        self.devices[device].tabs[tab].frozen = true;
        self.schedule(self.now() + for_ms, Action::Resume { device, tab });
    }

    /// The tab runs again: its overdue heartbeat timer fires first, then it reads what
    /// queued up, in order. Its cycle, which was stopped too, may take the answer it was
    /// waiting for before or after the queue is read (the browser runs those tasks in
    /// either order), so an old leader's cycle can try to write before it learns that
    /// it lost the lock.
    fn resume(&mut self, device: usize, tab: usize) {
        let t = &self.devices[device].tabs[tab];
        if !t.frozen || t.closed {
            return;
        }
        self.wake(device);
        self.log(format!("device {device} tab {tab}: resumed"));
        self.devices[device].tabs[tab].frozen = false;
        self.decide(device, tab, leadership::Event::Tick);
        if self.rng.below(2) == 0 {
            self.pump();
        }
        while let Some(input) = self.devices[device].tabs[tab].inbox.pop_front() {
            self.process(device, tab, input);
        }
    }

    /// Heartbeats are simulated only while they can change something: while the holder
    /// is frozen or does not know yet that it holds the lock, a running tab thinks it
    /// holds it too, a message is on its way, and for a few seconds after any change of
    /// the tabs. In between, the holder beats and every running standby hears it, and a
    /// frozen one queues the beats; neither changes any state until it is read, and
    /// reading many beats at once is reading the last (the watch takes the time it reads
    /// them). So ticks stop, and when they start again every standby is handed the
    /// holder's latest heartbeat, read at once or queued. This keeps days of simulated
    /// time and minutes of frozen tabs cheap without skipping a tick that matters.
    fn wake(&mut self, device: usize) {
        let now = self.now();
        let d = &mut self.devices[device];
        d.tick_until = d.tick_until.max(now + TICKS_AFTER_CHANGE);
        if d.ticking {
            return;
        }
        d.ticking = true;
        let beating = d.lock.holder.filter(|&(holder, _)| {
            let t = &d.tabs[holder];
            !t.closed && !t.frozen && t.machine.holds_lock()
        });
        if let Some((holder, _)) = beating {
            for tab in self.open_tabs(device) {
                if tab != holder {
                    let heartbeat = leadership::Event::Peer(PeerMessage::Heartbeat);
                    self.feed(device, tab, Input::Event(heartbeat));
                }
            }
        }
        let at = now + self.rng.between(1, HEARTBEAT_MS as Ms);
        self.schedule(at, Action::Tick { device });
    }

    /// Nothing a tick could change: nothing on its way; the holder runs and knows it
    /// holds the lock; no other running tab thinks it holds it, and a loss not read yet
    /// waits in a frozen tab's queue.
    fn quiet(&self, device: usize) -> bool {
        let d = &self.devices[device];
        let Some((holder, _)) = d.lock.holder else {
            return false;
        };
        d.in_transit == 0
            && d.unread_losses.iter().all(|&(tab, _)| d.tabs[tab].frozen)
            && self.open_tabs(device).iter().all(|&tab| {
                let t = &d.tabs[tab];
                if tab == holder {
                    !t.frozen && t.machine.holds_lock()
                } else {
                    t.frozen || !t.machine.holds_lock()
                }
            })
    }

    fn tick(&mut self, device: usize) {
        if !self.devices[device].ticking {
            return;
        }
        if self.now() >= self.devices[device].tick_until && self.quiet(device) {
            self.devices[device].ticking = false;
            return;
        }
        for tab in self.open_tabs(device) {
            if !self.devices[device].tabs[tab].frozen {
                self.decide(device, tab, leadership::Event::Tick);
            }
        }
        let next = self.now() + HEARTBEAT_MS as Ms;
        self.schedule(next, Action::Tick { device });
    }

    /// Sends `input` to a tab after `delay`; with a source, after everything that source
    /// sent it before.
    fn post(&mut self, device: usize, tab: usize, source: Option<Source>, delay: Ms, input: Input) {
        let mut at = self.now() + delay;
        let d = &mut self.devices[device];
        if let Some(source) = source {
            let last = d.due.entry((tab, source)).or_insert(0);
            at = at.max(*last);
            *last = at;
        }
        d.in_transit += 1;
        self.schedule(at, Action::ToTab { device, tab, input });
    }

    /// `input` reaches a tab: a closed one drops it, a frozen one queues it.
    fn feed(&mut self, device: usize, tab: usize, input: Input) {
        let t = &mut self.devices[device].tabs[tab];
        if t.closed {
            return;
        }
        if t.frozen {
            t.inbox.push_back(input);
            return;
        }
        self.process(device, tab, input);
    }

    fn process(&mut self, device: usize, tab: usize, input: Input) {
        match input {
            Input::Event(event) => self.decide(device, tab, event),
            Input::OpenStore(term) => {
                // As the host: a tab that lost the lock while its store opened does not
                // raise the stored term (it would fence its successor).
                if self.devices[device].tabs[tab].machine.is_opening(term) {
                    let replica = self.devices[device].replica.clone();
                    let fencing_term = futures::executor::block_on(replica.claim_term())
                        .expect("claiming a term in memory cannot fail");
                    self.decide(
                        device,
                        tab,
                        leadership::Event::StoreOpened { term, fencing_term },
                    );
                } else {
                    self.log(format!(
                        "device {device} tab {tab}: store opened for term {term} after the lock was lost: closed"
                    ));
                }
            }
            Input::Timer(generation) => {
                let fired = match self.devices[device].tabs[tab].leader.as_mut() {
                    Some(leader) if leader.timer == Some(generation) => {
                        leader.timer = None;
                        true
                    }
                    _ => false,
                };
                if fired {
                    self.control(device, tab, controller::Event::TimerFired);
                }
            }
            Input::Network(online) => {
                self.control(device, tab, controller::Event::Network { online })
            }
        }
    }

    /// A person's command, on the page of a random tab (one in front if there is one).
    fn page_input(&mut self, device: usize, input: WorkerInput) {
        let open = self.open_tabs(device);
        let running: Vec<usize> = open
            .iter()
            .copied()
            .filter(|&tab| !self.devices[device].tabs[tab].frozen)
            .collect();
        let choice = if running.is_empty() { open } else { running };
        if choice.is_empty() {
            self.log(format!("device {device}: no tab open for {input:?}"));
            return;
        }
        let tab = choice[self.rng.below(choice.len() as u64) as usize];
        self.feed(
            device,
            tab,
            Input::Event(leadership::Event::PageInput(input)),
        );
    }

    /// Every page tells its worker the session (pages follow each other's sign-in).
    fn set_token(&mut self, device: usize, token: Option<String>) {
        for tab in self.open_tabs(device) {
            let input = WorkerInput::SetAuth {
                token: token.clone(),
            };
            self.feed(
                device,
                tab,
                Input::Event(leadership::Event::PageInput(input)),
            );
        }
    }

    fn set_online(&mut self, device: usize, online: bool) {
        self.devices[device].online = online;
        for tab in self.open_tabs(device) {
            self.feed(device, tab, Input::Network(online));
        }
    }

    // ---- the host: carrying out the machine's and the controller's commands ---------

    /// Tells a tab's machine what happened and carries out its answer.
    fn decide(&mut self, device: usize, tab: usize, event: leadership::Event) {
        if let leadership::Event::LockLost { request } = &event {
            let read = (tab, *request);
            self.devices[device]
                .unread_losses
                .retain(|loss| *loss != read);
        }
        let now = self.now() as u64;
        let commands = self.devices[device].tabs[tab].machine.handle(event, now);
        self.carry_out(device, tab, commands);
        self.hand_over_reports();
    }

    /// What the status boards reported goes to their own tab's machine, as in the host.
    fn hand_over_reports(&mut self) {
        loop {
            let reports = std::mem::take(&mut *self.reports.borrow_mut());
            if reports.is_empty() {
                return;
            }
            for (device, tab, output) in reports {
                if self.devices[device].tabs[tab].closed {
                    continue;
                }
                let now = self.now() as u64;
                let commands = self.devices[device].tabs[tab]
                    .machine
                    .handle(leadership::Event::Report(output), now);
                self.carry_out(device, tab, commands);
            }
        }
    }

    fn carry_out(&mut self, device: usize, tab: usize, commands: Vec<leadership::Command>) {
        use leadership::Command as Do;
        for command in commands {
            match command {
                Do::AnswerPages(_) | Do::Greet(_) => {}
                Do::Broadcast(message) => {
                    for other in self.open_tabs(device) {
                        if other != tab {
                            let delay = self.rng.between(1, 20);
                            let event = leadership::Event::Peer(message.clone());
                            self.post(device, other, Some(Source::Channel), delay, Input::Event(event));
                        }
                    }
                }
                Do::RequestLock { request, claim } => self.request_lock(device, tab, request, claim),
                Do::Apply(input) => {
                    if let WorkerInput::SetAuth { token } = input {
                        let has_token = token.is_some();
                        self.devices[device].tabs[tab].has_token = has_token;
                        self.control(device, tab, controller::Event::Auth { has_token });
                    }
                }
                Do::OpenStore { term } => {
                    // Opening IndexedDB is quick, but now and then slow (another
                    // connection blocks it, a busy disk): the window in which an old
                    // leader that resumes has lost the lock while no newer term is stored.
                    let delay = if self.rng.below(10) == 0 {
                        self.rng.between(100, 3 * SECOND)
                    } else {
                        self.rng.between(1, 30)
                    };
                    self.post(device, tab, None, delay, Input::OpenStore(term));
                }
                Do::CloseStore { term } => self.log(format!(
                    "device {device} tab {tab}: lost the lock while the store opened for term {term}: closed"
                )),
                Do::Lead {
                    term,
                    fencing_term,
                    lease,
                } => self.lead(device, tab, term, fencing_term, lease),
                Do::Control(event) => self.control(device, tab, event),
                Do::StandDown => {
                    self.log(format!("device {device} tab {tab}: stands down"));
                    self.devices[device].tabs[tab].leader = None;
                }
            }
        }
    }

    /// The Web Lock: a `Wait` is granted at once if the lock is free, else queued; a
    /// `Seize` is granted at once and the holder loses it.
    fn request_lock(&mut self, device: usize, tab: usize, request: RequestId, claim: Claim) {
        match claim {
            Claim::Wait => {
                if self.devices[device].lock.holder.is_none() {
                    self.grant(device, tab, request);
                } else {
                    self.devices[device].lock.queue.push_back((tab, request));
                }
            }
            Claim::Seize => {
                self.summary.seizures += 1;
                self.log(format!("device {device} tab {tab}: seizes the lock"));
                let old = self.devices[device].lock.holder;
                self.grant(device, tab, request);
                if let Some((old_tab, old_request)) = old {
                    self.devices[device]
                        .unread_losses
                        .push((old_tab, old_request));
                    let delay = self.rng.between(0, 5);
                    let event = leadership::Event::LockLost {
                        request: old_request,
                    };
                    self.post(
                        device,
                        old_tab,
                        Some(Source::Lock),
                        delay,
                        Input::Event(event),
                    );
                }
            }
        }
    }

    fn grant(&mut self, device: usize, tab: usize, request: RequestId) {
        let d = &mut self.devices[device];
        d.lock.holder = Some((tab, request));
        d.holder_tab.set(Some(tab));
        let delay = self.rng.between(0, 5);
        let event = leadership::Event::LockGranted { request };
        self.post(device, tab, Some(Source::Lock), delay, Input::Event(event));
    }

    /// The tab leads: its engine over the replica, fenced by the term's lease, and its
    /// controller, told what the host tells it (interval, token, network).
    fn lead(&mut self, device: usize, tab: usize, term: u64, fencing_term: u64, lease: Lease) {
        let config = SyncConfig {
            batch_size: 1 + self.rng.below(10) as u32,
            pull_limit: 1 + self.rng.below(20) as u32,
            interval_ms: INTERVAL as u32,
            ..SyncConfig::default()
        };
        let d = &self.devices[device];
        let store = FencedStore::new(
            d.replica.clone(),
            self.violations.clone(),
            device,
            tab,
            lease.clone(),
            d.holder_tab.clone(),
            self.window.clone(),
        );
        let engine = Engine::new(
            Fenced::new(store, lease.clone()),
            SimTransport::new(device, self.net.clone(), lease),
            SimClock(self.clock.clone()),
            config,
            d.tabs[tab].status.clone(),
            fencing_term,
        );
        let controller = Controller::new(INTERVAL as u64, self.rng.next());
        let (has_token, online) = (d.tabs[tab].has_token, d.online);
        self.devices[device].tabs[tab].leader = Some(TabLeader {
            term,
            engine: Rc::new(engine),
            controller,
            timer: None,
        });
        self.log(format!(
            "device {device} tab {tab}: leads (term {term}, fencing term {fencing_term})"
        ));
        self.control(
            device,
            tab,
            controller::Event::Interval {
                ms: INTERVAL as u64,
            },
        );
        self.control(device, tab, controller::Event::Auth { has_token });
        self.control(device, tab, controller::Event::Network { online });
        let status = self.devices[device].tabs[tab].status.current();
        self.decide(
            device,
            tab,
            leadership::Event::Report(WorkerOutput::Status(status)),
        );
    }

    /// Feeds a tab's controller (there is one only while it leads) and carries out what
    /// it says.
    fn control(&mut self, device: usize, tab: usize, event: controller::Event) {
        let now = self.now() as u64;
        let Some(leader) = self.devices[device].tabs[tab].leader.as_mut() else {
            return;
        };
        let commands = leader.controller.handle(event, now);
        for command in commands {
            match command {
                controller::Command::RunCycle { override_backoff } => {
                    self.start_cycle(device, tab, override_backoff)
                }
                controller::Command::ArmTimer { ms } => {
                    let t = &mut self.devices[device].tabs[tab];
                    t.timer_generation += 1;
                    let generation = t.timer_generation;
                    if let Some(leader) = t.leader.as_mut() {
                        leader.timer = Some(generation);
                    }
                    let due = self.now() + ms as Ms;
                    self.schedule(
                        due,
                        Action::Timer {
                            device,
                            tab,
                            generation,
                        },
                    );
                }
                controller::Command::CancelTimer => {
                    if let Some(leader) = self.devices[device].tabs[tab].leader.as_mut() {
                        leader.timer = None;
                    }
                }
                controller::Command::SetLooping(looping) => {
                    self.decide(device, tab, leadership::Event::Looping(looping));
                    self.devices[device].tabs[tab].status.set_looping(looping);
                    self.hand_over_reports();
                }
                controller::Command::SessionExpired => {
                    self.devices[device].expired = true;
                    let later = self.now() + self.rng.between(SECOND, HOUR);
                    self.schedule(later, Action::SignInAgain { device });
                }
            }
        }
    }

    fn start_cycle(&mut self, device: usize, tab: usize, override_backoff: bool) {
        let Some(leader) = self.devices[device].tabs[tab].leader.as_ref() else {
            return;
        };
        let (term, engine) = (leader.term, leader.engine.clone());
        let fencing_term = engine.term();
        if self.devices[device]
            .cycles
            .iter()
            .any(|cycle| cycle.fencing_term == fencing_term)
        {
            let message = format!(
                "device {device} tab {tab}: a second cycle started while one runs (fencing term {fencing_term})"
            );
            self.violation(message);
            return;
        }
        if !self.calm && self.rng.below(10) == 0 {
            // The browser freezes a tab at any moment, also in the middle of a cycle,
            // which is when a frozen leader's successor and its own cycle can race.
            let at = self.now() + self.rng.between(0, 400);
            self.schedule(at, Action::Freeze { device, tab });
        }
        self.devices[device].cycles.push(RunningCycle {
            tab,
            term,
            fencing_term,
            cycle: Box::pin(async move { engine.run_cycle(override_backoff).await }),
        });
    }

    /// Polls every running cycle of a tab that is not frozen until none can move, and
    /// sends what they asked for.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for device in 0..self.devices.len() {
                let mut done = Vec::new();
                let mut context = Context::from_waker(noop_waker_ref());
                let d = &mut self.devices[device];
                for (index, running) in d.cycles.iter_mut().enumerate() {
                    if d.tabs[running.tab].frozen {
                        continue;
                    }
                    if let Poll::Ready(outcome) = running.cycle.as_mut().poll(&mut context) {
                        done.push((index, outcome));
                    }
                }
                for (index, outcome) in done.into_iter().rev() {
                    moved = true;
                    let running = self.devices[device].cycles.remove(index);
                    let (tab, term) = (running.tab, running.term);
                    self.log(format!(
                        "device {device} tab {tab}: cycle of term {term} (fencing term {}) ended: {outcome:?}",
                        running.fencing_term
                    ));
                    self.decide(device, tab, leadership::Event::CycleDone { term, outcome });
                }
            }
            let sent = self.net.take_sent();
            moved |= !sent.is_empty();
            for request in sent {
                self.send(request);
            }
            if !moved {
                break;
            }
        }
    }

    /// At most one tab of a device leads, except an old leader that has not read its
    /// `LockLost` yet; and whoever leads without such a loss holds the lock.
    fn check_leaders(&mut self) {
        for device in 0..self.devices.len() {
            let d = &self.devices[device];
            let holder = d.lock.holder.map(|(tab, _)| tab);
            let settled: Vec<usize> = self
                .open_tabs(device)
                .into_iter()
                .filter(|&tab| {
                    d.tabs[tab].machine.is_leading()
                        && !d.unread_losses.iter().any(|(t, _)| *t == tab)
                })
                .collect();
            if settled.len() > 1 || settled.iter().any(|&tab| Some(tab) != holder) {
                self.violation(format!(
                    "device {device}: tabs {settled:?} lead with no lock loss unread (holder {holder:?})"
                ));
            }
        }
    }

    // ---- the network and the server ---------------------------------------------

    fn send(&mut self, request: Request) {
        self.summary.requests += 1;
        let id = request.id;
        let device = request.device;
        let what = match &request.body {
            Body::Push(events) => format!("push {} events", events.len()),
            Body::Pull { cursor, .. } => format!("pull after {cursor:?}"),
        };
        let is_big_push = matches!(&request.body, Body::Push(events) if events.len() > 1);
        if request.fenced {
            self.violation(format!(
                "device {device}: a cycle whose lease was revoked sent: {what}"
            ));
        }
        self.in_flight.insert(id, request);
        let now = self.now();
        let latency = self.rng.between(5, 400);
        if !self.devices[device].online {
            self.log(format!("device {device}: {what}: no network"));
            let at = now + self.rng.between(1, 50);
            return self.schedule(
                at,
                Action::Deliver {
                    request: id,
                    reply: Reply::Failed(TransportError::Offline("no network".into())),
                },
            );
        }
        if now < self.server_down_until {
            self.log(format!("device {device}: {what}: server down"));
            let at = now + self.rng.between(1, 100);
            return self.schedule(
                at,
                Action::Deliver {
                    request: id,
                    reply: Reply::Failed(TransportError::Offline("connection refused".into())),
                },
            );
        }
        let roll = if self.calm { 100 } else { self.rng.below(100) };
        let failure = |status: u16, message: &str| {
            Reply::Failed(TransportError::Http {
                status,
                message: message.into(),
            })
        };
        match roll {
            0..=4 => {
                self.log(format!("device {device}: {what}: request lost"));
                self.schedule(
                    now + REQUEST_TIMEOUT,
                    Action::Deliver {
                        request: id,
                        reply: Reply::Failed(TransportError::Offline("timed out".into())),
                    },
                );
            }
            5..=9 => {
                self.log(format!("device {device}: {what}: 503"));
                self.schedule(
                    now + latency,
                    Action::Deliver {
                        request: id,
                        reply: failure(503, "unavailable"),
                    },
                );
            }
            10..=12 => {
                self.log(format!("device {device}: {what}: 429"));
                self.schedule(
                    now + latency,
                    Action::Deliver {
                        request: id,
                        reply: failure(429, "slow down"),
                    },
                );
            }
            13..=15 if is_big_push => {
                self.log(format!("device {device}: {what}: 413"));
                self.schedule(
                    now + latency,
                    Action::Deliver {
                        request: id,
                        reply: failure(413, "too large"),
                    },
                );
            }
            16..=20 => self.schedule(
                now + latency / 2,
                Action::Arrive {
                    request: id,
                    lose_answer: true,
                },
            ),
            _ => self.schedule(
                now + latency / 2,
                Action::Arrive {
                    request: id,
                    lose_answer: false,
                },
            ),
        }
    }

    /// The server handles a request that reached it.
    fn arrive(&mut self, id: u64, lose_answer: bool) {
        let Some(request) = self.in_flight.get(&id) else {
            return;
        };
        let (device, token, body) = (request.device, request.token.clone(), request.body.clone());
        let now = self.now();
        let reply = if now < self.server_down_until {
            Reply::Failed(TransportError::Offline("connection reset".into()))
        } else if let Some(&user) = self.sessions.get(&token) {
            let user = self.users[user].clone();
            match body {
                Body::Push(events) => {
                    // Now and then the server handles only the first events of a batch
                    // and answers that the others must come again: they stay waiting,
                    // booked as retries, with events after them booked as done.
                    let handled = if events.len() > 1 && self.rng.below(8) == 0 {
                        self.summary.partial_pushes += 1;
                        self.rng.between(1, events.len() as i64 - 1) as usize
                    } else {
                        events.len()
                    };
                    let mut results: Vec<PushResult> = self
                        .runtime
                        .block_on(self.service.push(&user, &events[..handled]));
                    results.extend(events[handled..].iter().map(|event| PushResult {
                        id: event.id.clone(),
                        applied_changelog_id: None,
                        error: Some(PushError::new(
                            PushErrorKind::UnknownError,
                            "not handled in this request: push it again",
                        )),
                        server_state: None,
                    }));
                    for result in &results {
                        match &result.error {
                            None => {
                                self.applied.insert(result.id.clone());
                            }
                            Some(error) if !error.retryable => {
                                self.refused.insert(result.id.clone(), error.kind);
                            }
                            Some(_) => {}
                        }
                    }
                    let applied = results.iter().filter(|r| r.error.is_none()).count();
                    self.log(format!(
                        "device {device}: server applied {applied} of {} events{}",
                        events.len(),
                        if lose_answer { " (answer lost)" } else { "" }
                    ));
                    if applied > 0 {
                        self.progress += 1;
                    }
                    Reply::Pushed(results)
                }
                Body::Pull { cursor, limit } => {
                    let request = PullRequest {
                        last_changelog_id: cursor,
                        limit: Some(limit),
                    };
                    match self.runtime.block_on(self.service.pull(&user, request)) {
                        Ok(page) => {
                            if !page.logs_with_records.is_empty() {
                                self.progress += 1;
                            }
                            Reply::Pulled(page)
                        }
                        Err(error) => Reply::Failed(TransportError::Http {
                            status: 400,
                            message: error.to_string(),
                        }),
                    }
                }
            }
        } else {
            Reply::Failed(TransportError::Unauthorized)
        };
        let (at, reply) = if lose_answer {
            (
                now + REQUEST_TIMEOUT,
                Reply::Failed(TransportError::Offline("timed out".into())),
            )
        } else {
            (now + self.rng.between(2, 200), reply)
        };
        self.schedule(at, Action::Deliver { request: id, reply });
    }

    fn deliver(&mut self, id: u64, reply: Reply) {
        let Some(request) = self.in_flight.remove(&id) else {
            return;
        };
        if let Reply::Pushed(results) = &reply {
            for result in results {
                *self.answers.entry(result.id.clone()).or_default() += 1;
            }
        }
        request.answer(reply);
    }

    // ---- the people --------------------------------------------------------------

    fn sign_in(&mut self, device: usize, user: usize) {
        self.next_token += 1;
        let token = format!("token-{}", self.next_token);
        self.sessions.insert(token.clone(), user);
        let account = Account {
            user: self.users[user].clone(),
            token: token.clone(),
        };
        let d = &mut self.devices[device];
        futures::executor::block_on(d.replica.sign_in(&account))
            .expect("signing in in memory cannot fail");
        d.user = Some(user);
        d.expired = false;
        self.log(format!("device {device}: signed in as user {user}"));
        self.set_token(device, Some(token));
        self.page_input(device, WorkerInput::Start);
    }

    fn sign_out(&mut self, device: usize) {
        // The app stops the loop and clears local data; a cycle still under way may only
        // write nothing (its epoch is gone). Unpushed changes are discarded: the person
        // confirmed that.
        self.page_input(device, WorkerInput::Stop);
        self.set_token(device, None);
        let d = &mut self.devices[device];
        for entry in d.replica.state().outbox.values() {
            if entry.event.is_pending() || entry.is_refused() {
                self.discarded.insert(entry.event.id.clone());
            }
        }
        futures::executor::block_on(d.replica.clear_local_data())
            .expect("clearing memory cannot fail");
        d.user = None;
        self.log(format!("device {device}: signed out"));
    }

    /// The person shares one of their boards with the other account, removes the other
    /// account from it, or leaves a board shared with them. The app makes these requests
    /// itself (they need the network; nothing of them waits in an outbox), so they reach
    /// the server at once or not at all. The server pokes the other account's streams;
    /// here its devices are kicked, which brings their next cycle forward as a poke does.
    fn share_or_unshare(&mut self, device: usize, user: usize) {
        if !self.devices[device].online || self.now() < self.server_down_until {
            self.log(format!(
                "device {device}: sharing needs the server: not reachable"
            ));
            return;
        }
        let boards: Vec<Board> = self.devices[device]
            .replica
            .state()
            .records
            .values()
            .filter_map(|r| match r {
                Record::Board(b) => Some(b.clone()),
                _ => None,
            })
            .collect();
        if boards.is_empty() {
            return;
        }
        let board = boards[self.rng.below(boards.len() as u64) as usize].clone();
        let me = self.users[user].clone();
        let other = self.users[1 - user].clone();
        let name = &board.name;
        let outcome = if board.user_id != me.id {
            self.runtime
                .block_on(self.service.remove_member(&me, board.id, me.id))
                .map(|()| (false, format!("left board {name}")))
        } else {
            match self.runtime.block_on(self.service.members(&me, board.id)) {
                Ok(list) if list.members.iter().any(|m| m.user_id == other.id) => self
                    .runtime
                    .block_on(self.service.remove_member(&me, board.id, other.id))
                    .map(|()| {
                        (
                            false,
                            format!("removed the other account from board {name}"),
                        )
                    }),
                Ok(_) => self
                    .runtime
                    .block_on(self.service.share(&me, board.id, &other.email))
                    .map(|_| (true, format!("shared board {name} with the other account"))),
                Err(error) => Err(error),
            }
        };
        match outcome {
            Ok((shared, what)) => {
                if shared {
                    self.summary.shares += 1;
                } else {
                    self.summary.unshares += 1;
                }
                self.log(format!("device {device}: {what}"));
                self.progress += 1;
                for index in 0..self.devices.len() {
                    if self.devices[index].user.is_some() {
                        self.page_input(index, WorkerInput::Kick);
                    }
                }
            }
            // A board not pushed yet, or one removed meanwhile: the app shows the answer.
            Err(error) => self.log(format!("device {device}: sharing refused: {error}")),
        }
    }

    /// How long the browser keeps a tab frozen: from 100 ms to minutes.
    fn freeze_time(&mut self) -> Ms {
        match self.rng.below(10) {
            0..=3 => self.rng.between(100, 2 * SECOND),
            4..=6 => self.rng.between(2 * SECOND, 30 * SECOND),
            _ => self.rng.between(30 * SECOND, 5 * MINUTE),
        }
    }

    /// One thing a person (or the browser) does, on a random device.
    fn person(&mut self) {
        let device = self.rng.below(self.devices.len() as u64) as usize;
        let Some(user) = self.devices[device].user else {
            let user = self.rng.below(self.users.len() as u64) as usize;
            return self.sign_in(device, user);
        };
        match self.rng.below(100) {
            0..=41 => self.edit(device, user),
            42..=48 => {
                let away = match self.rng.below(10) {
                    0..=4 => self.rng.between(SECOND, MINUTE),
                    5..=7 => self.rng.between(MINUTE, HOUR),
                    _ => self.rng.between(HOUR, 3 * DAY),
                };
                self.log(format!("device {device}: offline for {away} ms"));
                self.set_online(device, false);
                self.schedule(self.now() + away, Action::NetworkBack { device });
            }
            49..=51 => {
                let down = self.rng.between(SECOND, 10 * MINUTE);
                self.log(format!("server down (restart) for {down} ms"));
                self.server_down_until = self.now() + down;
            }
            52..=55 => {
                let token = self.devices[device]
                    .replica
                    .state()
                    .account
                    .map(|a| a.token);
                if let Some(token) = token {
                    self.log(format!("device {device}: session expires"));
                    self.sessions.remove(&token);
                }
            }
            56..=60 => {
                self.log(format!("device {device}: stop"));
                self.page_input(device, WorkerInput::Stop);
            }
            61..=66 => {
                self.log(format!("device {device}: start"));
                self.page_input(device, WorkerInput::Start);
            }
            67..=72 => {
                self.log(format!("device {device}: sync now"));
                let override_backoff = self.rng.below(2) == 0;
                self.page_input(device, WorkerInput::SyncNow { override_backoff });
            }
            73..=75 => self.sign_out(device),
            76..=85 => {
                let running: Vec<usize> = self
                    .open_tabs(device)
                    .into_iter()
                    .filter(|&tab| !self.devices[device].tabs[tab].frozen)
                    .collect();
                if running.is_empty() {
                    return;
                }
                // Favour the leader: freezing it is what makes a standby take over.
                let leader = running
                    .iter()
                    .copied()
                    .find(|&tab| self.devices[device].tabs[tab].machine.is_leading());
                let tab = match leader {
                    Some(tab) if self.rng.below(2) == 0 => tab,
                    _ => running[self.rng.below(running.len() as u64) as usize],
                };
                let for_ms = self.freeze_time();
                self.freeze(device, tab, for_ms);
            }
            86..=90 => {
                let open = self.open_tabs(device);
                if let Some(&tab) = open.get(self.rng.below(open.len() as u64) as usize) {
                    self.close_tab(device, tab);
                }
            }
            91..=94 if self.open_tabs(device).len() < MAX_TABS => self.open_tab(device),
            95..=98 => self.share_or_unshare(device, user),
            _ => {}
        }
    }

    /// What a local change (trusting or reading) must leave: every entry that was there
    /// still there under its number, and each new one after all of them, made under
    /// the signed-in account.
    fn check_new_entries(
        &mut self,
        device: usize,
        user: usize,
        before: &ReplicaState,
        after: &ReplicaState,
    ) {
        for (seq, entry) in &before.outbox {
            if after.outbox.get(seq).map(|e| &e.event.id) != Some(&entry.event.id) {
                self.violation(format!(
                    "device {device}: a local change replaced outbox entry {seq}"
                ));
            }
        }
        let last_before = before.outbox.keys().next_back().copied().unwrap_or(0);
        let user_id = self.users[user].id.to_string();
        for (seq, entry) in after.outbox.range(last_before + 1..) {
            let owner = entry.event.payload.get("userId").and_then(|id| id.as_str());
            let created_board =
                entry.event.entity_type == "Board" && entry.event.operation == "create";
            if created_board && owner.is_some_and(|owner| owner != user_id) {
                self.violation(format!(
                    "device {device}: entry {seq} was made under another account"
                ));
            }
        }
        let added = after.outbox.len().saturating_sub(before.outbox.len());
        if after.outbox.range(last_before + 1..).count() != added {
            self.violation(format!(
                "device {device}: a local change numbered an entry below {last_before}"
            ));
        }
    }

    /// A local edit, through the replica's own local-write rules.
    fn edit(&mut self, device: usize, user: usize) {
        let replica = self.devices[device].replica.clone();
        let state = replica.state();
        // Boards of the person's own, and boards shared with them (whose todos they edit
        // like their own; the app offers no rename or delete of those).
        let (own, shared): (Vec<&Board>, Vec<&Board>) = state
            .records
            .values()
            .filter_map(|r| match r {
                Record::Board(b) => Some(b),
                _ => None,
            })
            .partition(|b| b.user_id == self.users[user].id);
        let named = |boards: Vec<&Board>| -> Vec<(Uuid, String)> {
            boards.iter().map(|b| (b.id, b.name.clone())).collect()
        };
        let (boards, shared) = (named(own), named(shared));
        let todos: Vec<(Uuid, Option<String>)> = state
            .records
            .values()
            .filter_map(|r| match r {
                Record::Todo(t) => Some((t.id, t.description.clone())),
                _ => None,
            })
            .collect();
        let roll = self.rng.below(100);
        let pick = |rng: &mut Rng, n: usize| rng.below(n as u64) as usize;
        // Half the todo edits go to the todo with the lowest id, which the devices of one
        // account share once synced: so that different fields of one record (and now and
        // then the same one) are edited concurrently on two devices.
        let pick_todo = |rng: &mut Rng| {
            if rng.below(2) == 0 {
                0
            } else {
                pick(rng, todos.len())
            }
        };
        let mut seeds: Vec<u64> = (0..4).map(|_| self.rng.next()).collect();
        let mut ids = move || {
            let seed = seeds.pop().unwrap_or(1);
            Rng::new(seed).uuid()
        };
        let now = Timestamp::from_millis(self.now());
        let serial = self.rng.below(1000);
        // The change is made in one of the device's open tabs, which trusts what its own
        // last change left, as the app's store does (`local::Expected`).
        let open = self.open_tabs(device);
        let tab = (!open.is_empty()).then(|| open[serial as usize % open.len()]);
        let mut expected = tab.and_then(|tab| self.devices[device].tabs[tab].expected.take());
        let trusting = expected.as_ref().filter(|expected| expected.is_fresh(now));
        let fenced = trusting.is_some_and(|trusted| state.stamp().as_ref() != Some(&trusted.stamp));
        let trusting = trusting.is_some();
        let (what, result): (String, Result<(), sync_worker::replica::RuleError>) =
            if boards.is_empty() || (roll < 15 && boards.len() < 4) {
                let name = format!("Board {serial}");
                (
                    format!("create board {name}"),
                    futures::executor::block_on(replica.local_change_trusting(
                        &mut expected,
                        now,
                        &mut ids,
                        async |w| local::create_board(w, &name).await.map(|_| ()),
                    )),
                )
            } else if roll < 30 {
                // Now and then a board shared with the person, as a client that does not
                // know the rule would: the server refuses it (only the owner renames).
                let (id, old) = if !shared.is_empty() && self.rng.below(8) == 0 {
                    shared[pick(&mut self.rng, shared.len())].clone()
                } else {
                    boards[pick(&mut self.rng, boards.len())].clone()
                };
                // Sometimes another board's name, which the server refuses.
                let name = if self.rng.below(3) == 0 {
                    boards[pick(&mut self.rng, boards.len())].1.to_lowercase()
                } else {
                    format!("Board {serial}")
                };
                (
                    format!("rename board {old} to {name}"),
                    futures::executor::block_on(replica.local_change_trusting(
                        &mut expected,
                        now,
                        &mut ids,
                        async |w| local::rename_board(w, id, &name).await.map(|_| ()),
                    )),
                )
            } else if roll < 34 {
                let (id, name) = boards[pick(&mut self.rng, boards.len())].clone();
                (
                    format!("delete board {name}"),
                    futures::executor::block_on(replica.local_change_trusting(
                        &mut expected,
                        now,
                        &mut ids,
                        async |w| local::delete_board(w, id).await,
                    )),
                )
            } else if roll < 60 || todos.is_empty() {
                // A todo on a board shared with the person as often as on one of their own.
                let (board, _) = if !shared.is_empty() && self.rng.below(2) == 0 {
                    shared[pick(&mut self.rng, shared.len())].clone()
                } else {
                    boards[pick(&mut self.rng, boards.len())].clone()
                };
                let edit = TodoEdit::normalized(&format!("Todo {serial}"), None);
                (
                    format!("add todo {serial}"),
                    futures::executor::block_on(replica.local_change_trusting(
                        &mut expected,
                        now,
                        &mut ids,
                        async |w| local::create_todo(w, board, edit.clone()).await.map(|_| ()),
                    )),
                )
            } else if roll < 75 {
                let (id, _) = todos[pick_todo(&mut self.rng)];
                (
                    format!("toggle todo {id}"),
                    futures::executor::block_on(replica.local_change_trusting(
                        &mut expected,
                        now,
                        &mut ids,
                        async |w| local::toggle_todo(w, id).await.map(|_| ()),
                    )),
                )
            } else if roll < 90 {
                let (id, description) = todos[pick_todo(&mut self.rng)].clone();
                // A rename alone (one field), or a rename with a new description (two).
                let edit = if self.rng.below(2) == 0 {
                    TodoEdit::normalized(&format!("Todo {serial}"), description.as_deref())
                } else {
                    let details = format!("details {serial}");
                    TodoEdit::normalized(&format!("Todo {serial}"), Some(details.as_str()))
                };
                (
                    format!("edit todo {id}: {edit:?}"),
                    futures::executor::block_on(replica.local_change_trusting(
                        &mut expected,
                        now,
                        &mut ids,
                        async |w| local::edit_todo(w, id, edit.clone()).await.map(|_| ()),
                    )),
                )
            } else {
                let (id, _) = todos[pick(&mut self.rng, todos.len())];
                (
                    format!("delete todo {id}"),
                    futures::executor::block_on(replica.local_change_trusting(
                        &mut expected,
                        now,
                        &mut ids,
                        async |w| local::delete_todo(w, id).await,
                    )),
                )
            };
        if let Some(tab) = tab {
            self.devices[device].tabs[tab].expected = expected;
        }
        if trusting && (what.starts_with("create board") || what.starts_with("add todo")) {
            self.summary.trusting_creates += 1;
            self.summary.fenced_creates += usize::from(fenced);
        }
        match result {
            Ok(()) => {
                let mut after = replica.state();
                if self.devices[device].whole_record_updates {
                    let named: Vec<OutboxEntry> = after
                        .outbox
                        .values()
                        .filter(|e| !state.outbox.contains_key(&e.seq))
                        .filter(|e| e.event.changed_fields.is_some())
                        .cloned()
                        .collect();
                    if !named.is_empty() {
                        let stripped = futures::executor::block_on(replica.local_change(
                            now,
                            &mut ids,
                            async |w| {
                                for mut entry in named {
                                    entry.event.changed_fields = None;
                                    w.tx().put_entry(&entry).await?;
                                }
                                Ok(())
                            },
                        ));
                        if let Err(error) = stripped {
                            self.violation(format!("device {device}: {error}"));
                        }
                        after = replica.state();
                    }
                }
                self.check_new_entries(device, user, &state, &after);
                for entry in after.outbox.values() {
                    if !state.outbox.contains_key(&entry.seq) {
                        let on_shared = entry.event.payload.get("boardId").is_some_and(|id| {
                            shared.iter().any(|(board, _)| id == &board.to_string())
                        });
                        if on_shared {
                            self.member_changes.insert(entry.event.id.clone());
                        }
                        self.made.push((device, entry.event.id.clone()));
                        self.events
                            .insert(entry.event.id.clone(), entry.event.clone());
                        self.summary.changes += 1;
                    }
                }
                self.log(format!("device {device}: {what}"));
                self.page_input(device, WorkerInput::Kick);
            }
            Err(error) => self.log(format!("device {device}: {what} failed locally: {error}")),
        }
    }

    // ---- running ------------------------------------------------------------------

    /// Runs the next scheduled action; false when there is none.
    fn step(&mut self, until: Option<Ms>) -> bool {
        // The history up to the first violation is what a failure needs; going on could
        // repeat it at every step.
        if !self.violations.borrow().is_empty() {
            return false;
        }
        self.pump();
        let Some(std::cmp::Reverse((at, id))) = self.queue.peek().copied() else {
            return false;
        };
        if until.is_some_and(|until| at > until) {
            return false;
        }
        self.queue.pop();
        let Some(action) = self.actions.remove(&id) else {
            return true;
        };
        if at > self.now() {
            self.clock.set(at);
        }
        match action {
            Action::Arrive {
                request,
                lose_answer,
            } => self.arrive(request, lose_answer),
            Action::Deliver { request, reply } => self.deliver(request, reply),
            Action::ToTab { device, tab, input } => {
                self.devices[device].in_transit -= 1;
                self.feed(device, tab, input);
            }
            Action::Timer {
                device,
                tab,
                generation,
            } => self.feed(device, tab, Input::Timer(generation)),
            Action::Tick { device } => self.tick(device),
            Action::Freeze { device, tab } => {
                let t = &self.devices[device].tabs[tab];
                if !self.calm && !t.closed && !t.frozen {
                    let for_ms = self.freeze_time();
                    self.freeze(device, tab, for_ms);
                }
            }
            Action::Resume { device, tab } => self.resume(device, tab),
            Action::OpenTab { device } => {
                if self.open_tabs(device).is_empty() {
                    self.open_tab(device);
                }
            }
            Action::Person => {
                if !self.calm {
                    self.person();
                }
            }
            Action::NetworkBack { device } => {
                self.log(format!("device {device}: back online"));
                self.set_online(device, true);
            }
            Action::SignInAgain { device } => {
                let d = &self.devices[device];
                if d.expired {
                    if let Some(user) = d.user {
                        self.sign_in(device, user);
                    }
                }
            }
        }
        self.pump();
        self.check_leaders();
        true
    }

    fn play(&mut self, actions: usize) {
        let mut at = self.now();
        for _ in 0..actions {
            at += match self.rng.below(20) {
                0..=13 => self.rng.between(10, 5 * SECOND),
                14..=18 => self.rng.between(5 * SECOND, 10 * MINUTE),
                _ => self.rng.between(10 * MINUTE, DAY),
            };
            self.schedule(at, Action::Person);
        }
        while self.step(Some(at)) {}
    }

    /// Faults off, every tab running, everyone online and signed in; sync until nothing
    /// moves.
    fn quiesce(&mut self) {
        self.calm = true;
        self.log("--- quiescence: faults off".into());
        self.server_down_until = 0;
        for device in 0..self.devices.len() {
            for tab in self.open_tabs(device) {
                self.resume(device, tab);
            }
            if self.open_tabs(device).is_empty() {
                self.open_tab(device);
            }
            if !self.devices[device].online {
                self.set_online(device, true);
            }
            match self.devices[device].user {
                None => self.sign_in(device, 0),
                Some(user) if self.devices[device].expired || !self.has_session(device) => {
                    self.sign_in(device, user)
                }
                Some(_) => {}
            }
        }
        for round in 0..12 {
            self.settle();
            self.progress = 0;
            for device in 0..self.devices.len() {
                self.page_input(
                    device,
                    WorkerInput::SyncNow {
                        override_backoff: true,
                    },
                );
                self.settle();
            }
            if self.progress == 0 && round > 0 {
                return;
            }
        }
        self.violation("the devices did not reach quiescence in 12 rounds".into());
    }

    fn has_session(&self, device: usize) -> bool {
        self.devices[device]
            .replica
            .state()
            .account
            .is_some_and(|a| self.sessions.contains_key(&a.token))
    }

    /// Runs until no cycle runs, nothing is in flight or on its way to a tab, and the
    /// tabs' ticks have stopped (leadership settled).
    fn settle(&mut self) {
        for _ in 0..100_000 {
            self.pump();
            let busy = !self.in_flight.is_empty()
                || self
                    .devices
                    .iter()
                    .any(|d| !d.cycles.is_empty() || d.in_transit > 0 || d.ticking);
            if !busy || !self.step(None) {
                return;
            }
        }
        self.violation("traffic never settled".into());
    }

    // ---- the checks ------------------------------------------------------------------

    fn check(&mut self) {
        let made = self.made.clone();
        self.summary.applied = made
            .iter()
            .filter(|(_, id)| self.applied.contains(id))
            .count();
        self.summary.field_updates = made
            .iter()
            .filter(|(_, id)| self.applied.contains(id))
            .filter(|(_, id)| self.events[id].changed_fields.is_some())
            .count();
        self.summary.member_changes_applied = self
            .member_changes
            .iter()
            .filter(|id| self.applied.contains(*id))
            .count();
        self.summary.member_changes_refused = self
            .member_changes
            .iter()
            .filter(|id| self.refused.contains_key(*id))
            .count();
        self.summary.refused = made
            .iter()
            .filter(|(_, id)| self.refused.contains_key(id))
            .count();
        for (device, id) in &made {
            if self.applied.contains(id) || self.discarded.contains(id) {
                continue;
            }
            match self.refused.get(id) {
                Some(PushErrorKind::MaxRetries) => self.violation(format!(
                    "device {device}: change {id} was lost to MAX_RETRIES"
                )),
                Some(_) => {
                    let shown = self.devices[*device]
                        .replica
                        .refusals()
                        .iter()
                        .any(|entry| entry.event.id == *id && entry.refusal_notice().is_some());
                    if !shown {
                        self.violation(format!(
                            "device {device}: refused change {id} is not shown to the person"
                        ));
                    }
                }
                None => self.violation(format!(
                    "device {device}: change {id} is neither on the server nor refused"
                )),
            }
        }
        let mut server_checked = HashSet::new();
        self.summary.old_leader_writes_refused = self.window.refused.get();
        self.summary.old_leader_writes_accepted = self.window.accepted.get();
        for device in 0..self.devices.len() {
            let open = self.open_tabs(device);
            let leaders: Vec<usize> = open
                .iter()
                .copied()
                .filter(|&tab| {
                    let t = &self.devices[device].tabs[tab];
                    t.machine.is_leading() && t.leader.is_some()
                })
                .collect();
            let holder = self.devices[device].lock.holder.map(|(tab, _)| tab);
            if !open.is_empty() && (leaders.len() != 1 || Some(leaders[0]) != holder) {
                self.violation(format!(
                    "device {device}: after quiescence tabs {leaders:?} of {open:?} lead (lock holder {holder:?})"
                ));
            }
            let state = self.devices[device].replica.state();
            // A leader fenced by a newer stored term can never write again: its device
            // would stay unsynced for as long as it leads.
            for &tab in &leaders {
                if let Some(leader) = &self.devices[device].tabs[tab].leader {
                    let fencing_term = leader.engine.term();
                    if fencing_term != state.term {
                        self.violation(format!(
                            "device {device} tab {tab}: leads under fencing term {fencing_term} but the store's term is {}",
                            state.term
                        ));
                    }
                }
            }
            for entry in state.outbox.values() {
                let answers = self.answers.get(&entry.event.id).copied().unwrap_or(0);
                if entry.event.tries > answers {
                    self.violation(format!(
                        "device {device}: event {} has {} tries but the server answered about it {answers} times",
                        entry.event.id, entry.event.tries
                    ));
                }
            }
            let pending = self.devices[device].replica.outbox_stats().pending;
            if pending > 0 {
                self.violation(format!("device {device}: {pending} events still pending"));
            }
            let Some(user) = self.devices[device].user else {
                continue;
            };
            let log = self.server_log(user);
            let server = records_of(&log);
            let local: BTreeMap<(Model, String), serde_json::Value> = state
                .records
                .iter()
                .map(|(key, record)| (key.clone(), record.to_json()))
                .collect();
            let (expected, mattered) = self.last_accepted_values(&log);
            if !server_checked.contains(&user) {
                // Counted once per user, as the server is checked below.
                self.summary.merges_that_mattered += mattered;
            }
            if server_checked.insert(user) {
                for wrong in fields_that_differ(&expected, &server) {
                    self.violation(format!("user {user}: on the server, {wrong}"));
                }
            }
            for wrong in fields_that_differ(&expected, &local) {
                self.violation(format!("device {device}: {wrong}"));
            }
            if local != server {
                let missing: Vec<_> = server.keys().filter(|k| !local.contains_key(*k)).collect();
                let extra: Vec<_> = local.keys().filter(|k| !server.contains_key(*k)).collect();
                let differ: Vec<_> = local
                    .iter()
                    .filter(|(k, v)| server.get(*k).is_some_and(|s| s != *v))
                    .map(|(k, v)| (k, v, &server[k]))
                    .collect();
                self.violation(format!(
                    "device {device} differs from the server: missing {missing:?}, extra {extra:?}, different {differ:?}"
                ));
            }
        }
    }

    /// The server's changelog of `user`, read through pull from the start, each entry
    /// with the record's current state.
    fn server_log(&self, user: usize) -> Vec<LogWithRecord> {
        let user = &self.users[user];
        let mut log = Vec::new();
        let mut cursor = None;
        loop {
            let request = PullRequest {
                last_changelog_id: cursor.clone(),
                limit: Some(1000),
            };
            let page = self
                .runtime
                .block_on(self.service.pull(user, request))
                .expect("the server pulls");
            if page.logs_with_records.is_empty() {
                return log;
            }
            log.extend(page.logs_with_records);
            cursor = page.cursor;
        }
    }

    /// For every record the changelog `log` leaves alive, each field as the last
    /// accepted change of that field set it: in the order the server applied them, a
    /// create (or an update of a record that was gone, which brings it back) sets every
    /// field from its payload, an update that names its fields sets those, any other
    /// update every field, and a delete (also one the server made for a board's todos)
    /// ends the record. A change no device made (an account's sign-up) counts as the
    /// record the server holds.
    ///
    /// Also returns how many of the field-naming updates kept another change (see
    /// [`Summary::merges_that_mattered`]). An accepted event whose payload cannot be read
    /// is a violation: the server accepted what a client cannot have meant.
    fn last_accepted_values(
        &mut self,
        log: &[LogWithRecord],
    ) -> (BTreeMap<(Model, String), serde_json::Value>, usize) {
        let mut records: BTreeMap<(Model, String), serde_json::Value> = BTreeMap::new();
        let mut mattered = 0;
        for entry in log {
            let (Some(model), Some(id)) = (Model::parse(&entry.model), entry.record_id()) else {
                continue;
            };
            let key = (model, id.to_string());
            if entry.operation == Operation::Delete {
                records.remove(&key);
                continue;
            }
            let Some(event) = self.events.get(&entry.outbox_event_id) else {
                if let Some(record) = entry.record.as_ref().and_then(|r| normalized(model, r)) {
                    records.insert(key, record);
                }
                continue;
            };
            let Some(payload) = normalized(model, &event.payload) else {
                let id = entry.outbox_event_id.clone();
                self.violation(format!(
                    "the server accepted event {id}, which is unreadable"
                ));
                continue;
            };
            let named = event
                .changed_fields
                .as_ref()
                .filter(|_| event.operation == "update");
            match (named, records.get_mut(&key)) {
                (Some(fields), Some(current)) => {
                    let kept_another = model
                        .fields()
                        .iter()
                        .filter(|field| !fields.iter().any(|named| named == *field))
                        .any(|field| current.get(*field) != payload.get(*field));
                    mattered += usize::from(kept_another);
                    for field in fields {
                        current[field.as_str()] = payload[field.as_str()].clone();
                    }
                }
                _ => {
                    records.insert(key, payload);
                }
            }
        }
        (records, mattered)
    }
}

/// The records a changelog leaves alive, as they are now.
fn records_of(log: &[LogWithRecord]) -> BTreeMap<(Model, String), serde_json::Value> {
    let mut records = BTreeMap::new();
    for entry in log {
        let (Some(model), Some(id)) = (Model::parse(&entry.model), entry.record_id()) else {
            continue;
        };
        match &entry.record {
            Some(record) => records.insert((model, id.to_string()), record.clone()),
            None => records.remove(&(model, id.to_string())),
        };
    }
    // Round-trip through the record type, as the replica stores it.
    records
        .into_iter()
        .filter_map(|((model, id), value)| Some(((model, id), normalized(model, &value)?)))
        .collect()
}

/// A record's JSON as the record type writes it.
fn normalized(model: Model, value: &serde_json::Value) -> Option<serde_json::Value> {
    Some(Record::from_json(model, value.clone()).ok()?.to_json())
}

/// Where `actual` does not show the records and fields of `expected`.
fn fields_that_differ(
    expected: &BTreeMap<(Model, String), serde_json::Value>,
    actual: &BTreeMap<(Model, String), serde_json::Value>,
) -> Vec<String> {
    let mut wrong = Vec::new();
    for (key, record) in expected {
        let Some(shown) = actual.get(key) else {
            wrong.push(format!("{key:?} is missing"));
            continue;
        };
        for field in key.0.fields() {
            if shown.get(*field) != record.get(*field) {
                wrong.push(format!(
                    "{key:?}.{field} is {} but the last accepted change of it made it {}",
                    shown[*field], record[*field]
                ));
            }
        }
    }
    for key in actual.keys().filter(|key| !expected.contains_key(*key)) {
        wrong.push(format!(
            "{key:?} is there, but no accepted change left it alive"
        ));
    }
    wrong
}
