//! Which worker syncs: tab leadership as a state machine, free of locks, channels and
//! timers so that every rule is tested natively. The host feeds it [`Event`]s with the
//! current time and carries out the [`Command`]s it returns, as it does for the
//! [`controller`](super::controller).
//!
//! Each tab spawns a worker. The one that holds the Web Lock leads: it opens the store,
//! runs the controller and the engine, and reports to every page. The others stand by:
//! they forward their pages' commands to the leader and relay its reports.
//!
//! Rules:
//! - Every worker queues for the lock (`Claim::Wait`) as it starts and again whenever it
//!   has no request left; a closed tab's lock passes to the next in the queue.
//! - A grant makes a new *term*: the worker opens the store, which raises the stored
//!   fencing term, and leads once the store is open, unless the lock was lost meanwhile
//!   (then the store is closed again). A second grant while the lock is already held (a
//!   seizure that overtook a queued request of the same worker) changes nothing.
//! - The holder sends a heartbeat every tick. A standby that hears neither heartbeat nor
//!   report for [`TAKEOVER_AFTER_MS`] on two ticks in a row seizes the lock
//!   (`Claim::Seize`), once per silence (see [`watch`]): a standby that was itself frozen
//!   reads its queued heartbeats before it may seize.
//! - Losing the lock that is held ends the term at once: its [`Lease`] is revoked, so a
//!   cycle still under way writes and sends nothing more, its end is not passed on, and
//!   the worker stands down. Losing a request that does not hold the lock changes nothing.
//! - A holder whose cycle ends superseded (the stored term moved past its own: a worker
//!   that lost the lock unknowingly raised it late) starts a new term and leads again,
//!   so the lock's holder always ends up syncing (found by the simulator, seed 156).
//! - Whether the loop should run (`wants_loop`) is kept here only: from the pages' Start
//!   and Stop (own or forwarded), the controller (`Looping`), and, on a standby, the
//!   leader's reported status, so that a worker that takes over continues what the leader
//!   was doing.
//! - A page's command goes to the controller while this worker leads, else to the other
//!   workers. Settings (configuration, token, offline switch) are applied by every worker,
//!   so that a worker that takes over has them.
//! - Reports reach this worker's pages; the leader's also reach the other workers, and the
//!   latest of each kind is repeated to a page that connects and to a worker that says
//!   hello.

mod fence;
mod watch;

#[cfg(test)]
mod tests;

pub use fence::{Fenced, Lease};
pub use watch::{LeaderWatch, HEARTBEAT_MS, TAKEOVER_AFTER_MS};

use super::controller;
use super::CycleOutcome;
use crate::messages::{SyncStatus, WorkerInput, WorkerOutput};
use serde::{Deserialize, Serialize};

/// What one worker tells the others (over a BroadcastChannel). Externally tagged, like
/// the messages it carries (see `crate::messages`): a tagged layout would be decoded
/// through serde's buffering `Content` tree, which costs download size.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum PeerMessage {
    /// A page's command, for the leader.
    Input(WorkerInput),
    /// The leader's report, for every page.
    Output(WorkerOutput),
    /// A new worker asks the leader to repeat where sync stands.
    Hello,
    /// The leader is alive.
    Heartbeat,
}

/// How to ask for the lock.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Claim {
    /// Queue behind the current holder.
    Wait,
    /// Take it from the current holder now (which then learns it lost it).
    Seize,
}

/// Names one request for the lock, so that its grant or loss is told apart from another's.
pub type RequestId = u64;

/// Something that happened.
#[derive(Debug, Clone, PartialEq)]
pub enum Event {
    /// A command from one of this worker's pages.
    PageInput(WorkerInput),
    /// A page of this worker connected; `status` is this worker's own, for when nothing
    /// was reported yet.
    PageConnected { status: SyncStatus },
    /// Another worker said something.
    Peer(PeerMessage),
    /// This worker reported something (its status board or event stream).
    Report(WorkerOutput),
    /// The controller started or stopped the loop.
    Looping(bool),
    /// The lock is ours through this request.
    LockGranted { request: RequestId },
    /// This request ended without the lock: another worker seized it from us, or the
    /// request was turned down.
    LockLost { request: RequestId },
    /// The store opened for `term` and raised the stored fencing term to `fencing_term`.
    StoreOpened { term: u64, fencing_term: u64 },
    /// The store could not be opened for `term`.
    StoreFailed { term: u64 },
    /// A cycle that the engine of `term` ran is over.
    CycleDone { term: u64, outcome: CycleOutcome },
    /// The heartbeat timer fired.
    Tick,
}

/// Something the host must do.
#[derive(Debug, Clone, PartialEq)]
pub enum Command {
    /// Send to every page of this worker.
    AnswerPages(WorkerOutput),
    /// Send to the page that just connected.
    Greet(WorkerOutput),
    /// Post to the other workers.
    Broadcast(PeerMessage),
    /// Ask for the lock; its grant and loss come back as events naming `request`.
    RequestLock { request: RequestId, claim: Claim },
    /// Apply a setting (configuration, token, offline switch) here; while leading the
    /// host also passes it on to the controller.
    Apply(WorkerInput),
    /// Open the store for `term` and raise its fencing term (answer with `StoreOpened`).
    OpenStore { term: u64 },
    /// Close the store opened for `term`: the lock was lost while it opened.
    CloseStore { term: u64 },
    /// Lead: run the engine over the store opened for `term`, working under
    /// `fencing_term` and fenced by `lease`, and give the controller the settings.
    Lead {
        term: u64,
        fencing_term: u64,
        lease: Lease,
    },
    /// Pass this event to the controller.
    Control(controller::Event),
    /// Stop leading: drop the engine, the controller, the timer and the event stream.
    StandDown,
}

/// Where this worker stands.
#[derive(Debug, Clone, PartialEq)]
enum Role {
    /// Another worker holds the lock, or nobody does yet.
    Standby,
    /// Holds the lock; the store is opening for this term.
    Opening { term: u64 },
    /// Holds the lock and runs the engine under this term.
    Leading { term: u64, lease: Lease },
}

/// The latest report of each kind, for a page that connects later or a new worker.
#[derive(Debug, Clone, Default)]
struct Latest {
    status: Option<WorkerOutput>,
    pending: Option<WorkerOutput>,
    realtime: Option<WorkerOutput>,
}

impl Latest {
    fn record(&mut self, output: &WorkerOutput) {
        let slot = match output {
            WorkerOutput::Status(_) => &mut self.status,
            WorkerOutput::Pending { .. } => &mut self.pending,
            WorkerOutput::Realtime { .. } => &mut self.realtime,
            WorkerOutput::PushCompleted { .. } | WorkerOutput::PullCompleted(_) => return,
        };
        *slot = Some(output.clone());
    }
}

/// One worker's leadership state.
#[derive(Debug, Clone)]
pub struct Leadership {
    role: Role,
    /// The request through which the lock is held.
    held: Option<RequestId>,
    /// A queued `Wait` request is outstanding.
    waiting: Option<RequestId>,
    /// A `Seize` request is outstanding.
    seizing: Option<RequestId>,
    next_request: RequestId,
    /// Counts grants; each grant is a term of leadership.
    terms: u64,
    watch: LeaderWatch,
    wants_loop: bool,
    latest: Latest,
}

impl Leadership {
    /// A worker that has just started, at `now` (milliseconds).
    pub fn new(now: u64) -> Leadership {
        Leadership {
            role: Role::Standby,
            held: None,
            waiting: None,
            seizing: None,
            next_request: 0,
            terms: 0,
            watch: LeaderWatch::new(now),
            wants_loop: false,
            latest: Latest::default(),
        }
    }

    /// What a new worker does first: ask the leader where sync stands, queue for the lock.
    pub fn start(&mut self) -> Vec<Command> {
        let mut commands = vec![Command::Broadcast(PeerMessage::Hello)];
        self.queue(&mut commands);
        commands
    }

    /// Runs the engine (the store is open and the term is current).
    pub fn is_leading(&self) -> bool {
        matches!(self.role, Role::Leading { .. })
    }

    /// Holds the lock (it may still be opening the store).
    pub fn holds_lock(&self) -> bool {
        self.held.is_some()
    }

    /// Whether `term` is still being opened: the host asks before it raises the stored
    /// fencing term, so that a worker that already lost the lock does not fence its
    /// successor.
    pub fn is_opening(&self, term: u64) -> bool {
        self.role == Role::Opening { term }
    }

    /// Whether the loop should run.
    pub fn wants_loop(&self) -> bool {
        self.wants_loop
    }

    /// Handles one event at `now` (milliseconds) and says what to do.
    pub fn handle(&mut self, event: Event, now: u64) -> Vec<Command> {
        let mut commands = Vec::new();
        match event {
            Event::PageInput(input) => self.input(input, true, &mut commands),
            Event::PageConnected { status } => {
                let status = self
                    .latest
                    .status
                    .clone()
                    .unwrap_or(WorkerOutput::Status(status));
                commands.push(Command::Greet(status));
                for output in [&self.latest.pending, &self.latest.realtime]
                    .into_iter()
                    .flatten()
                {
                    commands.push(Command::Greet(output.clone()));
                }
            }
            Event::Peer(message) => self.peer(message, now, &mut commands),
            Event::Report(output) => {
                self.latest.record(&output);
                commands.push(Command::AnswerPages(output.clone()));
                if self.is_leading() {
                    commands.push(Command::Broadcast(PeerMessage::Output(output)));
                }
            }
            Event::Looping(looping) => self.wants_loop = looping,
            Event::LockGranted { request } => self.granted(request, &mut commands),
            Event::LockLost { request } => self.lost(request, now, &mut commands),
            Event::StoreOpened { term, fencing_term } => {
                if self.is_opening(term) {
                    let lease = Lease::new();
                    self.role = Role::Leading {
                        term,
                        lease: lease.clone(),
                    };
                    commands.push(Command::Lead {
                        term,
                        fencing_term,
                        lease,
                    });
                    if self.wants_loop {
                        commands.push(Command::Control(controller::Event::Start));
                    }
                } else {
                    commands.push(Command::CloseStore { term });
                }
            }
            // The worker keeps the lock without leading, as a worker whose store cannot
            // open could not lead either; the error is on the page.
            Event::StoreFailed { .. } => {}
            Event::CycleDone { term, outcome } => {
                let Role::Leading {
                    term: current,
                    lease,
                } = &self.role
                else {
                    return commands;
                };
                if *current != term {
                    return commands;
                }
                if outcome == CycleOutcome::Superseded && self.held.is_some() {
                    // This worker holds the lock, yet the store's term moved past its own:
                    // a worker that had lost the lock without knowing it yet raised the
                    // term after us (its claim and its loss can be read in either
                    // order). Lead again under a new term rather than sync nothing. (A
                    // cycle superseded by a change of session costs one needless claim.)
                    lease.revoke();
                    commands.push(Command::StandDown);
                    self.open_new_term(&mut commands);
                } else {
                    commands.push(Command::Control(controller::Event::CycleDone(outcome)));
                }
            }
            Event::Tick => {
                if self.held.is_some() {
                    commands.push(Command::Broadcast(PeerMessage::Heartbeat));
                } else if self.seizing.is_none() && self.watch.tick(now) {
                    // The leader holds the lock but says nothing: its tab is frozen or hung.
                    let request = self.new_request();
                    self.seizing = Some(request);
                    commands.push(Command::RequestLock {
                        request,
                        claim: Claim::Seize,
                    });
                }
            }
        }
        commands
    }

    /// A page's command, from this worker's page (`own`) or forwarded by another worker.
    fn input(&mut self, input: WorkerInput, own: bool, commands: &mut Vec<Command>) {
        let control = match &input {
            WorkerInput::Start => {
                self.wants_loop = true;
                Some(controller::Event::Start)
            }
            WorkerInput::Stop => {
                self.wants_loop = false;
                Some(controller::Event::Stop)
            }
            WorkerInput::SyncNow { override_backoff } => Some(controller::Event::SyncNow {
                override_backoff: *override_backoff,
            }),
            WorkerInput::ForceSync { override_backoff } => Some(controller::Event::ForceSync {
                override_backoff: *override_backoff,
            }),
            WorkerInput::Kick => Some(controller::Event::Kick),
            WorkerInput::Configure(_)
            | WorkerInput::SetAuth { .. }
            | WorkerInput::SimulateOffline { .. } => None,
        };
        if self.is_leading() {
            match control {
                Some(event) => commands.push(Command::Control(event)),
                None => commands.push(Command::Apply(input)),
            }
            return;
        }
        if own {
            if control.is_none() {
                commands.push(Command::Apply(input.clone()));
            }
            commands.push(Command::Broadcast(PeerMessage::Input(input)));
        }
    }

    fn peer(&mut self, message: PeerMessage, now: u64, commands: &mut Vec<Command>) {
        match message {
            PeerMessage::Input(input) => self.input(input, false, commands),
            PeerMessage::Heartbeat => {
                if self.held.is_none() {
                    self.watch.heard(now);
                }
            }
            PeerMessage::Output(output) => {
                if self.held.is_none() {
                    self.watch.heard(now);
                }
                if !self.is_leading() {
                    if let WorkerOutput::Status(status) = &output {
                        self.wants_loop = status.is_looping;
                    }
                    self.latest.record(&output);
                    commands.push(Command::AnswerPages(output));
                }
            }
            PeerMessage::Hello => {
                if self.is_leading() {
                    let latest = &self.latest;
                    for output in [&latest.status, &latest.pending, &latest.realtime]
                        .into_iter()
                        .flatten()
                    {
                        commands.push(Command::Broadcast(PeerMessage::Output(output.clone())));
                    }
                }
            }
        }
    }

    fn granted(&mut self, request: RequestId, commands: &mut Vec<Command>) {
        if self.waiting == Some(request) {
            self.waiting = None;
        }
        if self.seizing == Some(request) {
            self.seizing = None;
        }
        let already_held = self.held.is_some();
        self.held = Some(request);
        if already_held {
            // Our own seizure overtook our queued request (or the other way round): the
            // lock never left this worker, so the term goes on.
            return;
        }
        self.open_new_term(commands);
    }

    /// Starts a new term of leadership: the store opens and raises its fencing term.
    fn open_new_term(&mut self, commands: &mut Vec<Command>) {
        self.terms += 1;
        self.role = Role::Opening { term: self.terms };
        commands.push(Command::OpenStore { term: self.terms });
    }

    fn lost(&mut self, request: RequestId, now: u64, commands: &mut Vec<Command>) {
        if self.waiting == Some(request) {
            self.waiting = None;
        }
        if self.seizing == Some(request) {
            self.seizing = None;
            self.watch.restart(now);
        }
        if self.held == Some(request) {
            self.held = None;
            if let Role::Leading { lease, .. } = &self.role {
                // Before anything else: the term's cycle must write nothing more.
                lease.revoke();
            }
            self.role = Role::Standby;
            self.watch.restart(now);
            commands.push(Command::StandDown);
        }
        // A pending seizure will be granted (or lost, and then this runs again).
        if self.held.is_none() && self.waiting.is_none() && self.seizing.is_none() {
            self.queue(commands);
        }
    }

    fn queue(&mut self, commands: &mut Vec<Command>) {
        let request = self.new_request();
        self.waiting = Some(request);
        commands.push(Command::RequestLock {
            request,
            claim: Claim::Wait,
        });
    }

    fn new_request(&mut self) -> RequestId {
        self.next_request += 1;
        self.next_request
    }
}
