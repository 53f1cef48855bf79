//! The Web Worker host: plugs the engine into IndexedDB, `fetch` and timers, runs the
//! controller's commands, and keeps every open page informed.
//!
//! Each tab spawns its own worker. One of them leads (holds the Web Lock) and syncs;
//! the others stand by, forward their page's commands to the leader and relay the
//! leader's reports to their page. Everything runs on the worker's one thread, so shared
//! state is `Rc<RefCell<…>>`, and no borrow is held across a call back into the runtime.

mod fetch;
pub mod leader;
mod peers;
pub mod realtime;
pub mod transport;

pub use fetch::{get_json, navigator_online, post_json};

use crate::engine::controller::{Command, Controller, Event};
use crate::engine::leadership::{LeaderWatch, HEARTBEAT_MS};
use crate::engine::status::StatusBoard;
use crate::engine::{Clock, Engine};
use crate::messages::{SyncConfig, WorkerInput, WorkerOutput};
use crate::store::notify::{ChangeListener, ChangeOrigin};
use crate::store::LocalStore;
use gloo_timers::callback::{Interval, Timeout};
use gloo_worker::{HandlerId, Worker, WorkerScope};
use leader::Claim;
use peers::{PeerMessage, Peers};
use realtime::Realtime;
use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};
use sync_protocol::Timestamp;
use transport::{Connection, FetchTransport};
use wasm_bindgen::closure::Closure;
use wasm_bindgen::JsCast;

/// The time from `Date.now()`.
#[derive(Clone, Copy, Default)]
pub struct BrowserClock;

impl Clock for BrowserClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_millis(js_sys::Date::now() as i64)
    }
}

type SyncEngine = Engine<LocalStore, FetchTransport, BrowserClock>;

/// How long synced events stay in the outbox (for the inspector) before the leader
/// clears them.
const SYNCED_EVENTS_KEPT_DAYS: u32 = 7;

/// A DOM event listener kept alive for as long as the runtime.
type Listener = Closure<dyn FnMut(web_sys::Event)>;

/// The dedicated worker that runs sync off the main thread.
pub struct SyncWorker {
    runtime: Rc<Runtime>,
}

impl Worker for SyncWorker {
    type Message = ();
    type Input = WorkerInput;
    type Output = WorkerOutput;

    fn create(scope: &WorkerScope<Self>) -> Self {
        SyncWorker {
            runtime: Runtime::start(scope.clone()),
        }
    }

    fn update(&mut self, _scope: &WorkerScope<Self>, _msg: ()) {}

    fn connected(&mut self, _scope: &WorkerScope<Self>, id: HandlerId) {
        self.runtime.connect(id);
    }

    fn disconnected(&mut self, _scope: &WorkerScope<Self>, id: HandlerId) {
        self.runtime.handlers.borrow_mut().retain(|h| *h != id);
    }

    fn received(&mut self, _scope: &WorkerScope<Self>, input: WorkerInput, _id: HandlerId) {
        self.runtime.input(input, false);
    }
}

/// The latest report of each kind, for a page that connects later.
#[derive(Default)]
struct Latest {
    status: Option<WorkerOutput>,
    pending: Option<WorkerOutput>,
    realtime: Option<WorkerOutput>,
}

struct Runtime {
    me: Weak<Runtime>,
    scope: WorkerScope<SyncWorker>,
    handlers: RefCell<Vec<HandlerId>>,
    latest: RefCell<Latest>,
    connection: Connection,
    status: StatusBoard,
    controller: RefCell<Controller>,
    /// Present once this worker leads.
    engine: RefCell<Option<Rc<SyncEngine>>>,
    timer: RefCell<Option<Timeout>>,
    realtime: RefCell<Option<Realtime>>,
    peers: RefCell<Option<Peers>>,
    /// Whether the loop should run: followed from the pages' Start/Stop and the leader's
    /// reports, so a worker that takes over continues what the leader was doing.
    wants_loop: Cell<bool>,
    local_changes: RefCell<Option<ChangeListener>>,
    _network: RefCell<Vec<Listener>>,
    /// This worker holds the leader lock (it may still be opening the store).
    holds_lock: Cell<bool>,
    /// Counts grants of the lock, so a takeover that finishes after the lock was lost
    /// again does not install a second leader.
    term: Cell<u64>,
    /// A queued (not seizing) request for the lock is outstanding.
    waiting_for_lock: Cell<bool>,
    /// When the leader last spoke, for a standby.
    watch: RefCell<LeaderWatch>,
    /// The leader's heartbeat, or the standby's check on it.
    _pulse: RefCell<Option<Interval>>,
}

impl Runtime {
    fn start(scope: WorkerScope<SyncWorker>) -> Rc<Runtime> {
        let runtime = Rc::new_cyclic(|me: &Weak<Runtime>| {
            let reporter = me.clone();
            Runtime {
                me: me.clone(),
                scope,
                handlers: RefCell::default(),
                latest: RefCell::default(),
                connection: Connection::default(),
                status: StatusBoard::new(Rc::new(move |output| {
                    if let Some(runtime) = reporter.upgrade() {
                        runtime.emit(output, true);
                    }
                })),
                controller: RefCell::new(Controller::new(
                    u64::from(SyncConfig::default().interval_ms),
                    jitter_seed(),
                )),
                engine: RefCell::default(),
                timer: RefCell::default(),
                realtime: RefCell::default(),
                peers: RefCell::default(),
                wants_loop: Cell::new(false),
                local_changes: RefCell::default(),
                _network: RefCell::default(),
                holds_lock: Cell::new(false),
                term: Cell::new(0),
                waiting_for_lock: Cell::new(false),
                watch: RefCell::new(LeaderWatch::new(now_ms())),
                _pulse: RefCell::default(),
            }
        });
        let me = runtime.me.clone();
        *runtime.peers.borrow_mut() = Some(Peers::open(move |message| {
            if let Some(runtime) = me.upgrade() {
                runtime.peer_message(message);
            }
        }));
        runtime.post(&PeerMessage::Hello);
        runtime.listen_to_network();
        runtime.claim_leadership(Claim::Wait);
        let me = runtime.me.clone();
        *runtime._pulse.borrow_mut() = Some(Interval::new(HEARTBEAT_MS as u32, move || {
            if let Some(runtime) = me.upgrade() {
                runtime.pulse();
            }
        }));
        runtime
    }

    /// Asks for the leader lock; leads when granted, stands down when it is seized.
    fn claim_leadership(&self, claim: Claim) {
        if claim == Claim::Wait {
            self.waiting_for_lock.set(true);
        }
        let granted = self.me.clone();
        let lost = self.me.clone();
        leader::request_leadership(
            claim,
            move || {
                if let Some(runtime) = granted.upgrade() {
                    if claim == Claim::Wait {
                        runtime.waiting_for_lock.set(false);
                    }
                    runtime.holds_lock.set(true);
                    runtime.term.set(runtime.term.get() + 1);
                    let term = runtime.term.get();
                    wasm_bindgen_futures::spawn_local(async move { runtime.lead(term).await });
                }
            },
            move || {
                if let Some(runtime) = lost.upgrade() {
                    runtime.stand_down();
                    // Queue again, unless an earlier queued request is still waiting.
                    if !runtime.waiting_for_lock.get() {
                        runtime.claim_leadership(Claim::Wait);
                    }
                }
            },
        );
    }

    /// Every heartbeat: the leader says it is alive; a standby checks that it heard one.
    fn pulse(&self) {
        if self.holds_lock.get() {
            self.post(&PeerMessage::Heartbeat);
        } else if self.watch.borrow_mut().tick(now_ms()) {
            // The leader holds the lock but says nothing: its tab is frozen or hung.
            self.claim_leadership(Claim::Seize);
        }
    }

    /// Another worker took the lock: stop syncing and follow it as a standby. A cycle
    /// already under way finishes (its pushes are idempotent on the server) but starts
    /// nothing more.
    fn stand_down(&self) {
        self.holds_lock.set(false);
        self.engine.borrow_mut().take();
        self.timer.borrow_mut().take();
        self.local_changes.borrow_mut().take();
        self.realtime.borrow_mut().take();
        let interval = u64::from(self.connection.config.borrow().interval_ms);
        *self.controller.borrow_mut() = Controller::new(interval, jitter_seed());
        self.watch.borrow_mut().restart(now_ms());
    }

    fn is_leader(&self) -> bool {
        self.engine.borrow().is_some()
    }

    /// A page connected: tell it where sync stands before anything happens.
    fn connect(&self, id: HandlerId) {
        self.handlers.borrow_mut().push(id);
        let latest = self.latest.borrow();
        let status = latest
            .status
            .clone()
            .unwrap_or_else(|| WorkerOutput::Status(self.status.current()));
        self.scope.respond(id, status);
        for output in [&latest.pending, &latest.realtime].into_iter().flatten() {
            self.scope.respond(id, output.clone());
        }
    }

    /// Sends a report to this worker's pages and, from the leader, to the other workers.
    fn emit(&self, output: WorkerOutput, broadcast: bool) {
        {
            let mut latest = self.latest.borrow_mut();
            match &output {
                WorkerOutput::Status(_) => latest.status = Some(output.clone()),
                WorkerOutput::Pending { .. } => latest.pending = Some(output.clone()),
                WorkerOutput::Realtime { .. } => latest.realtime = Some(output.clone()),
                _ => {}
            }
        }
        for id in self.handlers.borrow().iter() {
            self.scope.respond(*id, output.clone());
        }
        if broadcast && self.is_leader() {
            self.post(&PeerMessage::Output(output));
        }
    }

    fn post(&self, message: &PeerMessage) {
        if let Some(peers) = self.peers.borrow().as_ref() {
            peers.post(message);
        }
    }

    /// A command from this worker's page (`from_peer` false) or forwarded by another
    /// worker for the leader.
    fn input(&self, input: WorkerInput, from_peer: bool) {
        match &input {
            WorkerInput::Configure(config) => self.configure(config.clone()),
            WorkerInput::SetAuth { token } => self.set_token(token.clone()),
            WorkerInput::SimulateOffline { offline } => self.simulate_offline(*offline),
            WorkerInput::Start => self.wants_loop.set(true),
            WorkerInput::Stop => self.wants_loop.set(false),
            _ => {}
        }
        if !self.is_leader() {
            if !from_peer {
                self.post(&PeerMessage::Input(input));
            }
            return;
        }
        let event = match input {
            WorkerInput::Start => Event::Start,
            WorkerInput::Stop => Event::Stop,
            WorkerInput::SyncNow { override_backoff } => Event::SyncNow { override_backoff },
            WorkerInput::ForceSync { override_backoff } => Event::ForceSync { override_backoff },
            WorkerInput::Kick => Event::Kick,
            WorkerInput::Configure(_)
            | WorkerInput::SetAuth { .. }
            | WorkerInput::SimulateOffline { .. } => return,
        };
        self.handle(event);
    }

    fn peer_message(&self, message: PeerMessage) {
        match message {
            PeerMessage::Input(input) => {
                if self.is_leader() {
                    self.input(input, true);
                } else {
                    // Keep following the pages' intent, for a takeover.
                    match input {
                        WorkerInput::Start => self.wants_loop.set(true),
                        WorkerInput::Stop => self.wants_loop.set(false),
                        _ => {}
                    }
                }
            }
            PeerMessage::Heartbeat => {
                if !self.holds_lock.get() {
                    self.watch.borrow_mut().heard(now_ms());
                }
            }
            PeerMessage::Output(output) => {
                if !self.holds_lock.get() {
                    self.watch.borrow_mut().heard(now_ms());
                }
                if !self.is_leader() {
                    if let WorkerOutput::Status(status) = &output {
                        self.wants_loop.set(status.is_looping);
                    }
                    self.emit(output, false);
                }
            }
            PeerMessage::Hello => {
                if self.is_leader() {
                    let latest = self.latest.borrow();
                    for output in [&latest.status, &latest.pending, &latest.realtime]
                        .into_iter()
                        .flatten()
                    {
                        self.post(&PeerMessage::Output(output.clone()));
                    }
                }
            }
        }
    }

    fn configure(&self, config: SyncConfig) {
        let config = config.sanitized();
        let interval = u64::from(config.interval_ms);
        *self.connection.config.borrow_mut() = config.clone();
        if let Some(engine) = self.engine.borrow().clone() {
            engine.configure(config);
        }
        self.handle(Event::Interval { ms: interval });
        self.refresh_realtime();
    }

    fn set_token(&self, token: Option<String>) {
        let changed = *self.connection.token.borrow() != token;
        let has_token = token.is_some();
        *self.connection.token.borrow_mut() = token;
        if changed && has_token {
            // A new session clears a "session expired" error.
            self.status.set_error(None);
        }
        self.handle(Event::Auth { has_token });
        self.refresh_realtime();
    }

    fn simulate_offline(&self, offline: bool) {
        self.connection.simulate_offline.set(offline);
        self.handle(Event::Network {
            online: !offline && navigator_online(),
        });
        self.refresh_realtime();
    }

    /// Feeds the controller (leader only) and carries out what it says.
    fn handle(&self, event: Event) {
        if !self.is_leader() {
            return;
        }
        let now = now_ms();
        let commands = self.controller.borrow_mut().handle(event, now);
        for command in commands {
            self.execute(command);
        }
    }

    fn execute(&self, command: Command) {
        match command {
            Command::RunCycle { override_backoff } => {
                let Some(engine) = self.engine.borrow().clone() else {
                    return;
                };
                let me = self.me.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let outcome = engine.run_cycle(override_backoff).await;
                    if let Some(runtime) = me.upgrade() {
                        runtime.handle(Event::CycleDone(outcome));
                    }
                });
            }
            Command::ArmTimer { ms } => {
                let me = self.me.clone();
                let timeout = Timeout::new(ms.min(u64::from(u32::MAX)) as u32, move || {
                    if let Some(runtime) = me.upgrade() {
                        runtime.handle(Event::TimerFired);
                    }
                });
                // Replacing the old Timeout drops it, which cancels it.
                *self.timer.borrow_mut() = Some(timeout);
            }
            Command::CancelTimer => {
                self.timer.borrow_mut().take();
            }
            Command::SetLooping(looping) => {
                self.wants_loop.set(looping);
                self.status.set_looping(looping);
            }
            Command::SessionExpired => {
                self.realtime.borrow_mut().take();
            }
        }
    }

    /// This worker won the lock: open the store, take over the loop.
    async fn lead(self: Rc<Self>, term: u64) {
        let store = match LocalStore::open().await {
            Ok(store) if self.term.get() != term || !self.holds_lock.get() => {
                // The lock was lost again while the store opened.
                store.close();
                return;
            }
            Ok(store) => store,
            Err(error) => {
                self.status.set_error(Some(crate::messages::SyncError {
                    kind: crate::messages::SyncErrorKind::Storage,
                    message: error.to_string(),
                }));
                return;
            }
        };
        // Raise the stored term: any cycle an earlier leader still runs can write nothing.
        let fencing_term = match store.claim_term().await {
            Ok(fencing_term) if self.term.get() == term && self.holds_lock.get() => fencing_term,
            Ok(_) => {
                store.close();
                return;
            }
            Err(error) => {
                self.status.set_error(Some(crate::messages::SyncError {
                    kind: crate::messages::SyncErrorKind::Storage,
                    message: error.to_string(),
                }));
                return;
            }
        };
        let config = self.connection.config.borrow().clone();
        let transport = FetchTransport {
            connection: self.connection.clone(),
        };
        // Keep the outbox small: synced events older than a week only serve the inspector.
        let housekeeping = store.clone();
        wasm_bindgen_futures::spawn_local(async move {
            let _ = housekeeping
                .clear_synced_older_than(SYNCED_EVENTS_KEPT_DAYS, BrowserClock.now())
                .await;
        });
        let engine = Engine::new(
            store,
            transport,
            BrowserClock,
            config.clone(),
            self.status.clone(),
            fencing_term,
        );
        *self.engine.borrow_mut() = Some(Rc::new(engine));
        let me = self.me.clone();
        *self.local_changes.borrow_mut() = ChangeListener::new(move |change| {
            if change.origin == ChangeOrigin::Local {
                if let Some(runtime) = me.upgrade() {
                    runtime.handle(Event::Kick);
                }
            }
        });
        let has_token = self.connection.token.borrow().is_some();
        self.handle(Event::Interval {
            ms: u64::from(config.interval_ms),
        });
        self.handle(Event::Auth { has_token });
        self.handle(Event::Network {
            online: navigator_online() && !self.connection.simulate_offline.get(),
        });
        self.emit(WorkerOutput::Status(self.status.current()), true);
        if self.wants_loop.get() {
            self.handle(Event::Start);
        }
        self.refresh_realtime();
    }

    /// Opens or closes the event stream to match leadership, settings, token and network.
    fn refresh_realtime(&self) {
        let config = self.connection.config.borrow().clone();
        let token = self.connection.token.borrow().clone();
        let wanted = self.is_leader()
            && config.realtime
            && !self.connection.simulate_offline.get()
            && token.is_some();
        let was_open = self.realtime.borrow_mut().take().is_some();
        if !wanted {
            // A standby worker relays the leader's stream state; only the leader reports its own.
            if was_open && self.is_leader() {
                self.emit(WorkerOutput::Realtime { connected: false }, true);
            }
            return;
        }
        let Some(token) = token else {
            return;
        };
        let poke = self.me.clone();
        let connected = self.me.clone();
        let stream = Realtime::open(
            &config.url(&config.events_path),
            &token,
            move || {
                if let Some(runtime) = poke.upgrade() {
                    runtime.handle(Event::Poke);
                }
            },
            move |is_connected| {
                if let Some(runtime) = connected.upgrade() {
                    runtime.emit(
                        WorkerOutput::Realtime {
                            connected: is_connected,
                        },
                        true,
                    );
                }
            },
        );
        *self.realtime.borrow_mut() = stream;
    }

    /// The browser's online and offline events: resume promptly when the network returns.
    fn listen_to_network(&self) {
        let global = js_sys::global();
        let Some(target) = global.dyn_ref::<web_sys::EventTarget>() else {
            return;
        };
        let mut closures = self._network.borrow_mut();
        for (name, online) in [("online", true), ("offline", false)] {
            let me = self.me.clone();
            let closure = Listener::new(move |_| {
                if let Some(runtime) = me.upgrade() {
                    let simulated = runtime.connection.simulate_offline.get();
                    runtime.handle(Event::Network {
                        online: online && !simulated,
                    });
                }
            });
            let _ = target.add_event_listener_with_callback(name, closure.as_ref().unchecked_ref());
            closures.push(closure);
        }
    }
}

/// A seed for the controller's backoff jitter.
fn jitter_seed() -> u64 {
    (js_sys::Math::random() * u64::MAX as f64) as u64
}

fn now_ms() -> u64 {
    js_sys::Date::now() as u64
}
