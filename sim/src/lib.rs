//! A seeded, deterministic simulation of the sync path.
//!
//! In one thread and in simulated time, several devices (each: the real
//! [`Controller`], the real [`Engine`], the in-memory replica that runs the IndexedDB
//! store's own rules) sync with the real [`SyncService`] on SQLite, through a network
//! that loses requests and answers, answers 5xx, 429 and 413, goes away for seconds or
//! days, and expires sessions. People edit boards and todos (some edits the server
//! refuses), stop and start sync, sign out and in (as themselves or someone else), and
//! tabs take the lead from each other. Everything random comes from one seed, so a
//! failing history replays exactly: `SIM_SEED=<seed> cargo test -p sync-sim`.
//!
//! After the history every device syncs to quiescence and the checks run: every local
//! change is on the server, or was refused for a reason the person was shown, or was
//! discarded by a confirmed sign-out; every device equals the server; only the server's
//! answers count as tries; no two cycles of one device overlap; no cursor moves back;
//! no write lands under a stale epoch; every outbox drains.

mod fenced;
mod net;
mod rng;

use fenced::FencedStore;
use futures::task::noop_waker_ref;
use net::{Body, Net, Reply, Request, SimTransport};
use rng::Rng;
use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BinaryHeap, HashMap, HashSet};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::sync::Arc;
use std::task::{Context, Poll};
use sync_protocol::{Model, PullRequest, PushErrorKind, PushResult, Record, Timestamp, User};
use sync_server::storage::NewAccount;
use sync_server::sync::SyncService;
use sync_worker::engine::controller::{Command, Controller, Event};
use sync_worker::engine::status::StatusBoard;
use sync_worker::engine::{Clock, CycleOutcome, Engine, TransportError};
use sync_worker::messages::SyncConfig;
use sync_worker::replica::local::{self, TodoEdit};
use sync_worker::replica::memory::MemoryReplica;
use sync_worker::replica::Account;
use uuid::Uuid;

/// Simulated milliseconds.
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
    pub refused: usize,
    pub requests: usize,
    pub simulated_ms: Ms,
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

type SimEngine = Engine<FencedStore, SimTransport, SimClock>;
type Cycle = Pin<Box<dyn Future<Output = CycleOutcome>>>;

/// One browser profile: its replica, and the worker that leads in it.
struct Device {
    replica: Rc<MemoryReplica>,
    engine: Rc<SimEngine>,
    controller: Controller,
    /// Running cycles with the term they run under (an old leader's may still run).
    cycles: Vec<(u64, Cycle)>,
    /// The armed timer: when, and which arming (a newer one replaces it).
    timer: Option<(Ms, u64)>,
    timer_generation: u64,
    online: bool,
    /// Which user is signed in, if any.
    user: Option<usize>,
    /// The person wants sync looping (follows Start/Stop).
    wants_loop: bool,
    /// A 401 was seen: the person signs in again later.
    expired: bool,
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
    Timer {
        device: usize,
        generation: u64,
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
    // What the checks need.
    made: Vec<(usize, String)>,
    applied: HashSet<String>,
    refused: HashMap<String, PushErrorKind>,
    discarded: HashSet<String>,
    answers: HashMap<String, u32>,
    violations: Rc<RefCell<Vec<String>>>,
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
            made: Vec::new(),
            applied: HashSet::new(),
            refused: HashMap::new(),
            discarded: HashSet::new(),
            answers: HashMap::new(),
            violations,
            history: Vec::new(),
            summary: Summary::default(),
            progress: 0,
        };
        for index in 0..options.devices {
            let replica = Rc::new(MemoryReplica::new());
            let engine = sim.new_engine(index, &replica);
            let controller = Controller::new(INTERVAL as u64, sim.rng.next());
            sim.devices.push(Device {
                replica,
                engine,
                controller,
                cycles: Vec::new(),
                timer: None,
                timer_generation: 0,
                online: true,
                user: None,
                wants_loop: false,
                expired: false,
            });
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

    /// A new leading worker for the device: raises the stored term.
    fn new_engine(&mut self, device: usize, replica: &Rc<MemoryReplica>) -> Rc<SimEngine> {
        let term = futures::executor::block_on(replica.claim_term())
            .expect("claiming a term in memory cannot fail");
        let config = SyncConfig {
            batch_size: 1 + self.rng.below(10) as u32,
            pull_limit: 1 + self.rng.below(20) as u32,
            interval_ms: INTERVAL as u32,
            ..SyncConfig::default()
        };
        Rc::new(Engine::new(
            FencedStore::new(replica.clone(), self.violations.clone(), device),
            SimTransport::new(device, self.net.clone()),
            SimClock(self.clock.clone()),
            config,
            StatusBoard::new(Rc::new(|_| {})),
            term,
        ))
    }

    // ---- the host: controller events and commands -------------------------------

    fn handle(&mut self, device: usize, event: Event) {
        let now = self.now() as u64;
        let commands = self.devices[device].controller.handle(event, now);
        for command in commands {
            match command {
                Command::RunCycle { override_backoff } => {
                    self.start_cycle(device, override_backoff)
                }
                Command::ArmTimer { ms } => {
                    let due = self.now() + ms as Ms;
                    let d = &mut self.devices[device];
                    d.timer_generation += 1;
                    let generation = d.timer_generation;
                    d.timer = Some((due, generation));
                    self.schedule(due, Action::Timer { device, generation });
                }
                Command::CancelTimer => self.devices[device].timer = None,
                Command::SetLooping(looping) => self.devices[device].wants_loop = looping,
                Command::SessionExpired => {
                    self.devices[device].expired = true;
                    let later = self.now() + self.rng.between(SECOND, HOUR);
                    self.schedule(later, Action::SignInAgain { device });
                }
            }
        }
    }

    fn start_cycle(&mut self, device: usize, override_backoff: bool) {
        let d = &mut self.devices[device];
        let term = d.engine.term();
        if d.cycles.iter().any(|(t, _)| *t == term) {
            let message =
                format!("device {device}: a second cycle started while one runs (term {term})");
            self.violation(message);
            return;
        }
        let engine = d.engine.clone();
        d.cycles.push((
            term,
            Box::pin(async move { engine.run_cycle(override_backoff).await }),
        ));
    }

    /// Polls every running cycle until none can move, and sends what they asked for.
    fn pump(&mut self) {
        loop {
            let mut moved = false;
            for device in 0..self.devices.len() {
                let mut done = Vec::new();
                let mut context = Context::from_waker(noop_waker_ref());
                for (index, (term, cycle)) in self.devices[device].cycles.iter_mut().enumerate() {
                    if let Poll::Ready(outcome) = cycle.as_mut().poll(&mut context) {
                        done.push((index, *term, outcome));
                    }
                }
                for (index, term, outcome) in done.into_iter().rev() {
                    moved = true;
                    drop(self.devices[device].cycles.remove(index));
                    self.log(format!(
                        "device {device}: cycle of term {term} ended: {outcome:?}"
                    ));
                    if term == self.devices[device].engine.term() {
                        self.handle(device, Event::CycleDone(outcome));
                    }
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
                    let results: Vec<PushResult> =
                        self.runtime.block_on(self.service.push(&user, &events));
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
            token,
        };
        let d = &mut self.devices[device];
        futures::executor::block_on(d.replica.sign_in(&account))
            .expect("signing in in memory cannot fail");
        d.user = Some(user);
        d.expired = false;
        self.log(format!("device {device}: signed in as user {user}"));
        self.handle(device, Event::Auth { has_token: true });
        self.handle(device, Event::Start);
    }

    fn sign_out(&mut self, device: usize) {
        // The app stops the loop and clears local data; a cycle still under way may only
        // write nothing (its epoch is gone). Unpushed changes are discarded: the person
        // confirmed that.
        self.handle(device, Event::Stop);
        self.handle(device, Event::Auth { has_token: false });
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

    /// One thing a person does, on a random device.
    fn person(&mut self) {
        let device = self.rng.below(self.devices.len() as u64) as usize;
        let Some(user) = self.devices[device].user else {
            let user = self.rng.below(self.users.len() as u64) as usize;
            return self.sign_in(device, user);
        };
        match self.rng.below(100) {
            0..=44 => self.edit(device, user),
            45..=52 => {
                let away = match self.rng.below(10) {
                    0..=4 => self.rng.between(SECOND, MINUTE),
                    5..=7 => self.rng.between(MINUTE, HOUR),
                    _ => self.rng.between(HOUR, 3 * DAY),
                };
                self.log(format!("device {device}: offline for {away} ms"));
                self.devices[device].online = false;
                self.handle(device, Event::Network { online: false });
                self.schedule(self.now() + away, Action::NetworkBack { device });
            }
            53..=56 => {
                let down = self.rng.between(SECOND, 10 * MINUTE);
                self.log(format!("server down (restart) for {down} ms"));
                self.server_down_until = self.now() + down;
            }
            57..=60 => {
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
            61..=65 => {
                self.log(format!("device {device}: stop"));
                self.handle(device, Event::Stop);
            }
            66..=72 => {
                self.log(format!("device {device}: start"));
                self.handle(device, Event::Start);
            }
            73..=78 => {
                self.log(format!("device {device}: sync now"));
                let override_backoff = self.rng.below(2) == 0;
                self.handle(device, Event::SyncNow { override_backoff });
            }
            79..=81 => self.sign_out(device),
            82..=85 => self.take_over(device),
            _ => {}
        }
    }

    /// Another tab's worker takes the lead: a new engine and controller under a new
    /// term; the old leader's cycle may still be running, fenced.
    fn take_over(&mut self, device: usize) {
        let replica = self.devices[device].replica.clone();
        let engine = self.new_engine(device, &replica);
        let seed = self.rng.next();
        let d = &mut self.devices[device];
        d.engine = engine;
        d.controller = Controller::new(INTERVAL as u64, seed);
        d.timer = None;
        let (online, wants_loop, signed_in) =
            (d.online, d.wants_loop, d.user.is_some() && !d.expired);
        self.log(format!(
            "device {device}: another tab takes the lead (term {})",
            self.devices[device].engine.term()
        ));
        self.handle(
            device,
            Event::Auth {
                has_token: signed_in,
            },
        );
        self.handle(device, Event::Network { online });
        if wants_loop {
            self.handle(device, Event::Start);
        }
    }

    /// A local edit, through the replica's own local-write rules.
    fn edit(&mut self, device: usize, user: usize) {
        let replica = self.devices[device].replica.clone();
        let state = replica.state();
        let boards: Vec<(Uuid, String)> = state
            .records
            .values()
            .filter_map(|r| match r {
                Record::Board(b) if b.user_id == self.users[user].id => {
                    Some((b.id, b.name.clone()))
                }
                _ => None,
            })
            .collect();
        let todos: Vec<Uuid> = state
            .records
            .values()
            .filter_map(|r| match r {
                Record::Todo(t) => Some(t.id),
                _ => None,
            })
            .collect();
        let roll = self.rng.below(100);
        let pick = |rng: &mut Rng, n: usize| rng.below(n as u64) as usize;
        let mut seeds: Vec<u64> = (0..4).map(|_| self.rng.next()).collect();
        let mut ids = move || {
            let seed = seeds.pop().unwrap_or(1);
            Rng::new(seed).uuid()
        };
        let now = Timestamp::from_millis(self.now());
        let serial = self.rng.below(1000);
        let (what, result): (String, Result<(), sync_worker::replica::RuleError>) = if boards
            .is_empty()
            || (roll < 15 && boards.len() < 4)
        {
            let name = format!("Board {serial}");
            (
                format!("create board {name}"),
                futures::executor::block_on(replica.local_change(now, &mut ids, async |w| {
                    local::create_board(w, &name).await.map(|_| ())
                })),
            )
        } else if roll < 30 {
            let (id, old) = boards[pick(&mut self.rng, boards.len())].clone();
            // Sometimes another board's name, which the server refuses.
            let name = if self.rng.below(3) == 0 {
                boards[pick(&mut self.rng, boards.len())].1.to_lowercase()
            } else {
                format!("Board {serial}")
            };
            (
                format!("rename board {old} to {name}"),
                futures::executor::block_on(replica.local_change(now, &mut ids, async |w| {
                    local::rename_board(w, id, &name).await.map(|_| ())
                })),
            )
        } else if roll < 34 {
            let (id, name) = boards[pick(&mut self.rng, boards.len())].clone();
            (
                format!("delete board {name}"),
                futures::executor::block_on(
                    replica.local_change(now, &mut ids, async |w| local::delete_board(w, id).await),
                ),
            )
        } else if roll < 60 || todos.is_empty() {
            let (board, _) = boards[pick(&mut self.rng, boards.len())].clone();
            let edit = TodoEdit::normalized(&format!("Todo {serial}"), None);
            (
                format!("add todo {serial}"),
                futures::executor::block_on(replica.local_change(now, &mut ids, async |w| {
                    local::create_todo(w, board, edit).await.map(|_| ())
                })),
            )
        } else if roll < 75 {
            let id = todos[pick(&mut self.rng, todos.len())];
            (
                "toggle a todo".to_string(),
                futures::executor::block_on(replica.local_change(now, &mut ids, async |w| {
                    local::toggle_todo(w, id).await.map(|_| ())
                })),
            )
        } else if roll < 90 {
            let id = todos[pick(&mut self.rng, todos.len())];
            let edit = TodoEdit::normalized(&format!("Todo {serial}"), Some("details"));
            (
                "edit a todo".to_string(),
                futures::executor::block_on(replica.local_change(now, &mut ids, async |w| {
                    local::edit_todo(w, id, edit).await.map(|_| ())
                })),
            )
        } else {
            let id = todos[pick(&mut self.rng, todos.len())];
            (
                "delete a todo".to_string(),
                futures::executor::block_on(
                    replica.local_change(now, &mut ids, async |w| local::delete_todo(w, id).await),
                ),
            )
        };
        match result {
            Ok(()) => {
                let after = replica.state();
                for entry in after.outbox.values() {
                    if !state.outbox.contains_key(&entry.seq) {
                        self.made.push((device, entry.event.id.clone()));
                        self.summary.changes += 1;
                    }
                }
                self.log(format!("device {device}: {what}"));
                self.handle(device, Event::Kick);
            }
            Err(error) => self.log(format!("device {device}: {what} failed locally: {error}")),
        }
    }

    // ---- running ------------------------------------------------------------------

    /// Runs the next scheduled action; false when there is none.
    fn step(&mut self, until: Option<Ms>) -> bool {
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
            Action::Timer { device, generation } => {
                if self.devices[device]
                    .timer
                    .is_some_and(|(_, g)| g == generation)
                {
                    self.devices[device].timer = None;
                    self.handle(device, Event::TimerFired);
                }
            }
            Action::Person => {
                if !self.calm {
                    self.person();
                }
            }
            Action::NetworkBack { device } => {
                self.devices[device].online = true;
                self.log(format!("device {device}: back online"));
                self.handle(device, Event::Network { online: true });
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

    /// Faults off, everyone online and signed in; sync until nothing moves.
    fn quiesce(&mut self) {
        self.calm = true;
        self.log("--- quiescence: faults off".into());
        self.server_down_until = 0;
        for device in 0..self.devices.len() {
            if !self.devices[device].online {
                self.devices[device].online = true;
                self.handle(device, Event::Network { online: true });
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
                self.handle(
                    device,
                    Event::SyncNow {
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

    /// Runs network traffic until no cycle runs and nothing is in flight.
    fn settle(&mut self) {
        for _ in 0..100_000 {
            self.pump();
            let busy =
                !self.in_flight.is_empty() || self.devices.iter().any(|d| !d.cycles.is_empty());
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
        for device in 0..self.devices.len() {
            let state = self.devices[device].replica.state();
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
            let server = self.server_records(user);
            let local: BTreeMap<(Model, String), serde_json::Value> = state
                .records
                .iter()
                .map(|(key, record)| (key.clone(), record.to_json()))
                .collect();
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

    /// Everything the server holds for `user`, read through pull from the start.
    fn server_records(&self, user: usize) -> BTreeMap<(Model, String), serde_json::Value> {
        let user = &self.users[user];
        let mut records = BTreeMap::new();
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
                break;
            }
            for entry in &page.logs_with_records {
                let (Some(model), Some(id)) = (Model::parse(&entry.model), entry.record_id())
                else {
                    continue;
                };
                match &entry.record {
                    Some(record) => records.insert((model, id.to_string()), record.clone()),
                    None => records.remove(&(model, id.to_string())),
                };
            }
            cursor = page.cursor;
        }
        // Round-trip through the record type, as the replica stores it.
        records
            .into_iter()
            .filter_map(|((model, id), value)| {
                Some(((model, id), Record::from_json(model, value).ok()?.to_json()))
            })
            .collect()
    }
}
