//! The Web Worker host: plugs the engine into IndexedDB, `fetch` and timers, runs the
//! controller's commands, and keeps every open page informed.
//!
//! Each tab spawns its own worker. One of them leads (holds the Web Lock) and syncs;
//! the others stand by, forward their page's commands to the leader and relay the
//! leader's reports to their page. Who leads, and what a worker does about it, is decided
//! by `engine::leadership`, and when cycles run by `engine::controller`: this module feeds
//! both what happens (lock answers, channel messages, timers, pages) and carries out their
//! commands. Everything runs on the worker's one thread, so shared state is
//! `Rc<RefCell<…>>`, and no borrow is held across a call back into the runtime.

mod fetch;
pub mod leader;
mod peers;
pub mod realtime;
pub mod transport;

pub use fetch::{delete, get_json, navigator_online, post_json};

use crate::engine::controller::{Command as ControlCommand, Controller, Event as ControlEvent};
use crate::engine::leadership::{
    Claim, Command, Event, Fenced, Leadership, Lease, RequestId, HEARTBEAT_MS,
};
use crate::engine::status::StatusBoard;
use crate::engine::{Clock, Engine};
use crate::messages::{SyncConfig, WorkerInput, WorkerOutput};
use crate::store::notify::{ChangeListener, ChangeOrigin};
use crate::store::LocalStore;
use gloo_timers::callback::{Interval, Timeout};
use gloo_worker::{HandlerId, Worker, WorkerScope};
use peers::Peers;
use realtime::Realtime;
use std::cell::RefCell;
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

/// The leader's engine: over the store, fenced by its term's lease.
type SyncEngine = Engine<Fenced<LocalStore>, FetchTransport, BrowserClock>;

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
        self.runtime.decide(Event::PageInput(input));
    }
}

/// What this worker runs while it leads.
struct Leader {
    /// The term of leadership the engine works under (its cycles' ends name it).
    term: u64,
    engine: Rc<SyncEngine>,
    controller: Controller,
}

struct Runtime {
    me: Weak<Runtime>,
    scope: WorkerScope<SyncWorker>,
    handlers: RefCell<Vec<HandlerId>>,
    connection: Connection,
    status: StatusBoard,
    /// Decides who leads; everything below carries out what it says.
    leadership: RefCell<Leadership>,
    /// Present while this worker leads.
    leader: RefCell<Option<Leader>>,
    /// The store opened for a term, until the state machine says to lead with it or close it.
    opened: RefCell<Option<(u64, LocalStore)>>,
    timer: RefCell<Option<Timeout>>,
    realtime: RefCell<Option<Realtime>>,
    peers: RefCell<Option<Peers>>,
    local_changes: RefCell<Option<ChangeListener>>,
    _network: RefCell<Vec<Listener>>,
    /// The heartbeat timer.
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
                connection: Connection::default(),
                status: StatusBoard::new(Rc::new(move |output| {
                    if let Some(runtime) = reporter.upgrade() {
                        runtime.decide(Event::Report(output));
                    }
                })),
                leadership: RefCell::new(Leadership::new(now_ms())),
                leader: RefCell::default(),
                opened: RefCell::default(),
                timer: RefCell::default(),
                realtime: RefCell::default(),
                peers: RefCell::default(),
                local_changes: RefCell::default(),
                _network: RefCell::default(),
                _pulse: RefCell::default(),
            }
        });
        let me = runtime.me.clone();
        *runtime.peers.borrow_mut() = Some(Peers::open(move |message| {
            if let Some(runtime) = me.upgrade() {
                runtime.decide(Event::Peer(message));
            }
        }));
        runtime.listen_to_network();
        let commands = runtime.leadership.borrow_mut().start();
        runtime.carry_out(commands, None);
        let me = runtime.me.clone();
        *runtime._pulse.borrow_mut() = Some(Interval::new(HEARTBEAT_MS as u32, move || {
            if let Some(runtime) = me.upgrade() {
                runtime.decide(Event::Tick);
            }
        }));
        runtime
    }

    /// Tells the leadership state machine what happened and carries out its answer.
    fn decide(&self, event: Event) {
        // The borrow ends with the statement: carrying out may feed it again.
        let commands = self.leadership.borrow_mut().handle(event, now_ms());
        self.carry_out(commands, None);
    }

    /// A page connected: tell it where sync stands before anything happens.
    fn connect(&self, id: HandlerId) {
        self.handlers.borrow_mut().push(id);
        let status = self.status.current();
        let commands = self
            .leadership
            .borrow_mut()
            .handle(Event::PageConnected { status }, now_ms());
        self.carry_out(commands, Some(id));
    }

    /// Carries out the leadership's commands; `page` is the page that just connected.
    fn carry_out(&self, commands: Vec<Command>, page: Option<HandlerId>) {
        for command in commands {
            match command {
                Command::AnswerPages(output) => {
                    for id in self.handlers.borrow().iter() {
                        self.scope.respond(*id, output.clone());
                    }
                }
                Command::Greet(output) => {
                    if let Some(id) = page {
                        self.scope.respond(id, output);
                    }
                }
                Command::Broadcast(message) => {
                    if let Some(peers) = self.peers.borrow().as_ref() {
                        peers.post(&message);
                    }
                }
                Command::RequestLock { request, claim } => self.request_lock(request, claim),
                Command::Apply(input) => self.apply(input),
                Command::OpenStore { term } => {
                    if let Some(runtime) = self.me.upgrade() {
                        wasm_bindgen_futures::spawn_local(runtime.open_store(term));
                    }
                }
                Command::CloseStore { term } => {
                    let opened = self.opened.borrow_mut().take();
                    if let Some((_, store)) = opened.filter(|(opened, _)| *opened == term) {
                        store.close();
                    }
                }
                Command::Lead {
                    term,
                    fencing_term,
                    lease,
                } => self.lead(term, fencing_term, lease),
                Command::Control(event) => self.control(event),
                Command::StandDown => self.stand_down(),
            }
        }
    }

    /// Asks the browser for the lock; its answers go back to the state machine.
    fn request_lock(&self, request: RequestId, claim: Claim) {
        let granted = self.me.clone();
        let lost = self.me.clone();
        leader::request_leadership(
            claim,
            move || {
                if let Some(runtime) = granted.upgrade() {
                    runtime.decide(Event::LockGranted { request });
                }
            },
            move || {
                if let Some(runtime) = lost.upgrade() {
                    runtime.decide(Event::LockLost { request });
                }
            },
        );
    }

    /// Opens the store for a term of leadership and raises its fencing term.
    async fn open_store(self: Rc<Self>, term: u64) {
        let store = match LocalStore::open().await {
            Ok(store) => store,
            Err(error) => return self.store_failed(term, error.to_string()),
        };
        // Raising the stored term fences every other worker's cycles, so a worker that
        // lost the lock while the store opened must not do it: it would fence its successor.
        if !self.leadership.borrow().is_opening(term) {
            store.close();
            return;
        }
        let fencing_term = match store.claim_term().await {
            Ok(fencing_term) => fencing_term,
            Err(error) => return self.store_failed(term, error.to_string()),
        };
        *self.opened.borrow_mut() = Some((term, store));
        self.decide(Event::StoreOpened { term, fencing_term });
    }

    fn store_failed(&self, term: u64, message: String) {
        self.status.set_error(Some(crate::messages::SyncError {
            kind: crate::messages::SyncErrorKind::Storage,
            message,
        }));
        self.decide(Event::StoreFailed { term });
    }

    /// This worker leads: run the engine over the opened store, fenced by the term's lease.
    fn lead(&self, term: u64, fencing_term: u64, lease: Lease) {
        let opened = self.opened.borrow_mut().take();
        let Some((_, store)) = opened.filter(|(opened, _)| *opened == term) else {
            return;
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
            Fenced::new(store, lease),
            transport,
            BrowserClock,
            config.clone(),
            self.status.clone(),
            fencing_term,
        );
        let interval = u64::from(config.interval_ms);
        *self.leader.borrow_mut() = Some(Leader {
            term,
            engine: Rc::new(engine),
            controller: Controller::new(interval, jitter_seed()),
        });
        let me = self.me.clone();
        *self.local_changes.borrow_mut() = ChangeListener::new(move |change| {
            if change.origin == ChangeOrigin::Local {
                if let Some(runtime) = me.upgrade() {
                    runtime.control(ControlEvent::Kick);
                }
            }
        });
        let has_token = self.connection.token.borrow().is_some();
        self.control(ControlEvent::Interval { ms: interval });
        self.control(ControlEvent::Auth { has_token });
        self.control(ControlEvent::Network {
            online: navigator_online() && !self.connection.simulate_offline.get(),
        });
        self.decide(Event::Report(WorkerOutput::Status(self.status.current())));
        self.refresh_realtime();
    }

    /// Another worker took the lock: stop syncing and follow it as a standby. A cycle
    /// under way can write and send nothing more (its lease was revoked); it just ends.
    fn stand_down(&self) {
        self.leader.borrow_mut().take();
        self.timer.borrow_mut().take();
        self.local_changes.borrow_mut().take();
        self.realtime.borrow_mut().take();
    }

    /// A setting from a page (or, for the leader, from another worker's page).
    fn apply(&self, input: WorkerInput) {
        match input {
            WorkerInput::Configure(config) => self.configure(config),
            WorkerInput::SetAuth { token } => self.set_token(token),
            WorkerInput::SimulateOffline { offline } => self.simulate_offline(offline),
            WorkerInput::Start
            | WorkerInput::Stop
            | WorkerInput::SyncNow { .. }
            | WorkerInput::ForceSync { .. }
            | WorkerInput::Kick => {}
        }
    }

    fn configure(&self, config: SyncConfig) {
        let config = config.sanitized();
        let interval = u64::from(config.interval_ms);
        *self.connection.config.borrow_mut() = config.clone();
        let engine = self.leader.borrow().as_ref().map(|l| l.engine.clone());
        if let Some(engine) = engine {
            engine.configure(config);
        }
        self.control(ControlEvent::Interval { ms: interval });
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
        self.control(ControlEvent::Auth { has_token });
        self.refresh_realtime();
    }

    fn simulate_offline(&self, offline: bool) {
        self.connection.simulate_offline.set(offline);
        self.control(ControlEvent::Network {
            online: !offline && navigator_online(),
        });
        self.refresh_realtime();
    }

    /// Feeds the controller (there is one only while leading) and carries out what it says.
    fn control(&self, event: ControlEvent) {
        let now = now_ms();
        let commands = match self.leader.borrow_mut().as_mut() {
            Some(leader) => leader.controller.handle(event, now),
            None => return,
        };
        for command in commands {
            self.execute(command);
        }
    }

    fn execute(&self, command: ControlCommand) {
        match command {
            ControlCommand::RunCycle { override_backoff } => {
                let Some((term, engine)) = self
                    .leader
                    .borrow()
                    .as_ref()
                    .map(|leader| (leader.term, leader.engine.clone()))
                else {
                    return;
                };
                let me = self.me.clone();
                wasm_bindgen_futures::spawn_local(async move {
                    let outcome = engine.run_cycle(override_backoff).await;
                    if let Some(runtime) = me.upgrade() {
                        runtime.decide(Event::CycleDone { term, outcome });
                    }
                });
            }
            ControlCommand::ArmTimer { ms } => {
                let me = self.me.clone();
                let timeout = Timeout::new(ms.min(u64::from(u32::MAX)) as u32, move || {
                    if let Some(runtime) = me.upgrade() {
                        runtime.control(ControlEvent::TimerFired);
                    }
                });
                // Replacing the old Timeout drops it, which cancels it.
                *self.timer.borrow_mut() = Some(timeout);
            }
            ControlCommand::CancelTimer => {
                self.timer.borrow_mut().take();
            }
            ControlCommand::SetLooping(looping) => {
                self.decide(Event::Looping(looping));
                self.status.set_looping(looping);
            }
            ControlCommand::SessionExpired => {
                self.realtime.borrow_mut().take();
            }
        }
    }

    fn is_leader(&self) -> bool {
        self.leader.borrow().is_some()
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
                self.decide(Event::Report(WorkerOutput::Realtime { connected: false }));
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
                    runtime.control(ControlEvent::Poke);
                }
            },
            move |is_connected| {
                if let Some(runtime) = connected.upgrade() {
                    runtime.decide(Event::Report(WorkerOutput::Realtime {
                        connected: is_connected,
                    }));
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
                    runtime.control(ControlEvent::Network {
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
