//! When cycles run: the loop's state machine, free of timers and IO so that every rule
//! is tested natively. The host feeds it [`Event`]s with the current time and carries
//! out the [`Command`]s it returns (run a cycle, arm the one timer, report looping).
//!
//! Rules:
//! - At most one cycle at a time, whatever arrives meanwhile.
//! - `Start` runs a cycle now and then one every interval; `Stop` ends the loop, and a
//!   running cycle completes first.
//! - `SyncNow` runs one cycle looping or not, and is ignored while one runs;
//!   `ForceSync` restarts the loop's cycle now, only while looping.
//! - `Kick` (local writes) and `Poke` (the server's stream) bring the next cycle forward
//!   to a short debounce; one that arrives during a cycle leads to another right after.
//! - A 401 stops the loop; nothing runs until a new token arrives and `Start` is sent.
//! - A cycle that got no usable answer (offline, timeout, 5xx, 429, a store failure) backs
//!   the loop off: the next cycle waits `interval * 2^(failures-1)`, capped at
//!   [`MAX_BACKOFF_MS`], with jitter, however long the outage lasts; kicks and pokes do
//!   not shorten that wait. A successful cycle resets it. Never a busy loop.
//! - When the network returns, the next cycle runs soon and ignores the events' backoff.
//! - `Start` or `SyncNow` during a cycle never starts a second one: the next runs after it.

use super::CycleOutcome;

/// How long a kick waits for more kicks, so a burst of writes is pushed together.
pub const KICK_DEBOUNCE_MS: u64 = 50;

/// The longest wait between cycles that keep failing.
pub const MAX_BACKOFF_MS: u64 = 5 * 60 * 1000;

/// Something that happened.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    Start,
    Stop,
    SyncNow {
        override_backoff: bool,
    },
    ForceSync {
        override_backoff: bool,
    },
    Kick,
    Poke,
    TimerFired,
    CycleDone(CycleOutcome),
    /// The session token changed (present or not).
    Auth {
        has_token: bool,
    },
    /// The network went away or came back.
    Network {
        online: bool,
    },
    Interval {
        ms: u64,
    },
}

/// Something the host must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    RunCycle {
        override_backoff: bool,
    },
    /// Arm the timer to fire after `ms` (replacing any armed one).
    ArmTimer {
        ms: u64,
    },
    CancelTimer,
    /// The loop started or stopped.
    SetLooping(bool),
    /// The session expired: tell the app (it asks the person to sign in again).
    SessionExpired,
}

/// The loop's state.
#[derive(Debug, Clone)]
pub struct Controller {
    interval_ms: u64,
    looping: bool,
    running: bool,
    /// A kick or poke arrived during the running cycle.
    kicked: bool,
    has_token: bool,
    /// A 401 was seen and no new token has arrived since.
    expired: bool,
    online: bool,
    /// The next timed cycle ignores backoff (the network just came back).
    override_next: bool,
    /// When the armed timer fires, in the host's milliseconds.
    timer_due: Option<u64>,
    /// Cycles in a row that got no usable answer.
    failures: u32,
    /// Until when the loop backs off (kicks and pokes wait until then).
    backoff_until: Option<u64>,
    /// Jitter source (xorshift), seeded by the host.
    rng: u64,
    /// Counts new tokens, so a 401 of a cycle that started under an older one does not
    /// expire the session that replaced it.
    session: u64,
    /// The `session` the running cycle started under.
    cycle_session: u64,
}

impl Controller {
    /// A stopped loop; `seed` makes the backoff's jitter (any value; 0 is replaced).
    pub fn new(interval_ms: u64, seed: u64) -> Controller {
        Controller {
            failures: 0,
            backoff_until: None,
            rng: seed | 1,
            session: 0,
            cycle_session: 0,
            interval_ms,
            looping: false,
            running: false,
            kicked: false,
            has_token: false,
            expired: false,
            online: true,
            override_next: false,
            timer_due: None,
        }
    }

    pub fn is_looping(&self) -> bool {
        self.looping
    }

    pub fn is_running(&self) -> bool {
        self.running
    }

    /// Handles one event at `now` (milliseconds) and says what to do.
    pub fn handle(&mut self, event: Event, now: u64) -> Vec<Command> {
        let mut commands = Vec::new();
        match event {
            Event::Start => {
                if self.can_request() && !self.looping {
                    self.looping = true;
                    commands.push(Command::SetLooping(true));
                    if self.running {
                        // The cycle under way (from before a Stop) finishes first.
                        self.kicked = true;
                    } else {
                        self.run_now(false, &mut commands);
                    }
                }
            }
            Event::Stop => {
                if self.looping {
                    self.looping = false;
                    commands.push(Command::SetLooping(false));
                }
                self.cancel_timer(&mut commands);
            }
            Event::SyncNow { override_backoff } => {
                if self.can_request() && !self.running {
                    self.run_now(override_backoff, &mut commands);
                }
            }
            Event::ForceSync { override_backoff } => {
                if self.looping && !self.running {
                    self.run_now(override_backoff, &mut commands);
                }
            }
            Event::Kick | Event::Poke => {
                if self.running {
                    self.kicked = true;
                } else if self.looping && self.online && !self.backing_off(now) {
                    self.arm_within(KICK_DEBOUNCE_MS, now, &mut commands);
                }
            }
            Event::TimerFired => {
                self.timer_due = None;
                if self.looping && !self.running {
                    let override_backoff = std::mem::take(&mut self.override_next);
                    self.run_now(override_backoff, &mut commands);
                }
            }
            Event::CycleDone(outcome) => {
                self.running = false;
                let kicked = std::mem::take(&mut self.kicked);
                match outcome {
                    CycleOutcome::Unauthorized if self.cycle_session != self.session => {
                        // The 401 was for a session already replaced: go on with the new one.
                        if self.looping {
                            self.arm(KICK_DEBOUNCE_MS, now, &mut commands);
                        }
                    }
                    CycleOutcome::Unauthorized => {
                        self.expired = true;
                        if self.looping {
                            self.looping = false;
                            commands.push(Command::SetLooping(false));
                        }
                        self.cancel_timer(&mut commands);
                        commands.push(Command::SessionExpired);
                    }
                    _ if self.looping => {
                        let failed = matches!(outcome, CycleOutcome::Failed(_));
                        let delay = if failed {
                            self.failures = self.failures.saturating_add(1);
                            let delay = self.backoff_delay();
                            self.backoff_until = Some(now + delay);
                            delay
                        } else {
                            self.failures = 0;
                            self.backoff_until = None;
                            if kicked {
                                KICK_DEBOUNCE_MS
                            } else {
                                self.interval_ms
                            }
                        };
                        self.arm(delay, now, &mut commands);
                    }
                    CycleOutcome::Failed(_) => {
                        self.failures = self.failures.saturating_add(1);
                    }
                    _ => self.failures = 0,
                }
            }
            Event::Auth { has_token } => {
                self.has_token = has_token;
                if has_token {
                    // A new session: requests may go out again once started.
                    self.expired = false;
                    self.session += 1;
                } else {
                    if self.looping {
                        self.looping = false;
                        commands.push(Command::SetLooping(false));
                    }
                    self.cancel_timer(&mut commands);
                }
            }
            Event::Network { online } => {
                let back = online && !self.online;
                self.online = online;
                if back && self.looping {
                    self.override_next = true;
                    self.backoff_until = None;
                    if self.running {
                        self.kicked = true;
                    } else {
                        self.arm_within(KICK_DEBOUNCE_MS, now, &mut commands);
                    }
                }
            }
            Event::Interval { ms } => self.interval_ms = ms.max(1),
        }
        commands
    }

    fn backing_off(&self, now: u64) -> bool {
        self.backoff_until.is_some_and(|until| now < until)
    }

    /// `interval * 2^(failures-1)`, capped, then scaled by a random factor in [0.5, 1)
    /// so that many clients coming back from one outage do not arrive together.
    fn backoff_delay(&mut self) -> u64 {
        let exponent = self.failures.saturating_sub(1).min(20);
        let base = self
            .interval_ms
            .saturating_mul(1 << exponent)
            .min(MAX_BACKOFF_MS);
        self.rng ^= self.rng << 13;
        self.rng ^= self.rng >> 7;
        self.rng ^= self.rng << 17;
        let fraction = (self.rng % 1000) as f64 / 2000.0 + 0.5;
        ((base as f64) * fraction).max(1.0) as u64
    }

    /// Cycles in a row that got no usable answer.
    pub fn failures(&self) -> u32 {
        self.failures
    }

    fn can_request(&self) -> bool {
        self.has_token && !self.expired
    }

    fn run_now(&mut self, override_backoff: bool, commands: &mut Vec<Command>) {
        self.cancel_timer(commands);
        self.running = true;
        self.cycle_session = self.session;
        commands.push(Command::RunCycle { override_backoff });
    }

    fn arm(&mut self, ms: u64, now: u64, commands: &mut Vec<Command>) {
        self.timer_due = Some(now + ms);
        commands.push(Command::ArmTimer { ms });
    }

    /// Arms the timer for `ms` from now unless it already fires sooner.
    fn arm_within(&mut self, ms: u64, now: u64, commands: &mut Vec<Command>) {
        if self.timer_due.is_none_or(|due| due > now + ms) {
            self.arm(ms, now, commands);
        }
    }

    fn cancel_timer(&mut self, commands: &mut Vec<Command>) {
        if self.timer_due.take().is_some() {
            commands.push(Command::CancelTimer);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::messages::{SyncError, SyncErrorKind};

    fn started() -> Controller {
        let mut controller = Controller::new(5000, 7);
        controller.handle(Event::Auth { has_token: true }, 0);
        let commands = controller.handle(Event::Start, 0);
        assert_eq!(
            commands,
            [
                Command::SetLooping(true),
                Command::RunCycle {
                    override_backoff: false
                }
            ]
        );
        controller
    }

    fn runs(commands: &[Command]) -> usize {
        commands
            .iter()
            .filter(|c| matches!(c, Command::RunCycle { .. }))
            .count()
    }

    #[test]
    fn start_runs_now_then_every_interval() {
        let mut controller = started();
        let after = controller.handle(Event::CycleDone(CycleOutcome::Synced), 100);
        assert_eq!(after, [Command::ArmTimer { ms: 5000 }]);
        let fired = controller.handle(Event::TimerFired, 5100);
        assert_eq!(runs(&fired), 1);
    }

    #[test]
    fn nothing_runs_without_a_token() {
        let mut controller = Controller::new(5000, 7);
        assert!(controller.handle(Event::Start, 0).is_empty());
        assert!(controller
            .handle(
                Event::SyncNow {
                    override_backoff: false
                },
                0
            )
            .is_empty());
    }

    #[test]
    fn cycles_never_overlap() {
        let mut controller = started();
        for event in [
            Event::Start,
            Event::SyncNow {
                override_backoff: true,
            },
            Event::ForceSync {
                override_backoff: true,
            },
            Event::TimerFired,
            Event::Kick,
            Event::Poke,
        ] {
            assert_eq!(runs(&controller.handle(event, 10)), 0);
        }
        assert!(controller.is_running());
    }

    #[test]
    fn stop_during_a_cycle_lets_it_finish_then_stays_stopped() {
        let mut controller = started();
        assert_eq!(
            controller.handle(Event::Stop, 10),
            [Command::SetLooping(false)]
        );
        let after = controller.handle(Event::CycleDone(CycleOutcome::Synced), 20);
        assert!(after.is_empty(), "no timer after a stop: {after:?}");
        assert!(controller.handle(Event::TimerFired, 5000).is_empty());
    }

    #[test]
    fn sync_now_works_stopped_but_force_sync_only_while_looping() {
        let mut controller = Controller::new(5000, 7);
        controller.handle(Event::Auth { has_token: true }, 0);
        assert!(controller
            .handle(
                Event::ForceSync {
                    override_backoff: false
                },
                0
            )
            .is_empty());
        let now = controller.handle(
            Event::SyncNow {
                override_backoff: true,
            },
            0,
        );
        assert_eq!(
            now,
            [Command::RunCycle {
                override_backoff: true
            }]
        );
        // A one-off cycle does not start a loop.
        assert!(controller
            .handle(Event::CycleDone(CycleOutcome::Synced), 10)
            .is_empty());

        let mut controller = started();
        controller.handle(Event::CycleDone(CycleOutcome::Synced), 10);
        let forced = controller.handle(
            Event::ForceSync {
                override_backoff: true,
            },
            20,
        );
        assert_eq!(
            forced,
            [
                Command::CancelTimer,
                Command::RunCycle {
                    override_backoff: true
                }
            ]
        );
    }

    #[test]
    fn kicks_are_debounced_and_one_during_a_cycle_runs_another_soon() {
        let mut controller = started();
        assert!(controller.handle(Event::Kick, 10).is_empty());
        let after = controller.handle(Event::CycleDone(CycleOutcome::Synced), 20);
        assert_eq!(
            after,
            [Command::ArmTimer {
                ms: KICK_DEBOUNCE_MS
            }]
        );

        controller.handle(Event::TimerFired, 70);
        controller.handle(Event::CycleDone(CycleOutcome::Synced), 80);
        // Idle with the interval timer armed: a kick brings it forward, once.
        assert_eq!(
            controller.handle(Event::Kick, 100),
            [Command::ArmTimer {
                ms: KICK_DEBOUNCE_MS
            }]
        );
        assert!(controller.handle(Event::Kick, 110).is_empty());
    }

    #[test]
    fn a_401_stops_the_loop_until_a_new_token_and_start() {
        let mut controller = started();
        let after = controller.handle(Event::CycleDone(CycleOutcome::Unauthorized), 10);
        assert_eq!(after, [Command::SetLooping(false), Command::SessionExpired]);
        assert!(controller.handle(Event::Start, 20).is_empty());
        assert!(controller
            .handle(
                Event::SyncNow {
                    override_backoff: false
                },
                20
            )
            .is_empty());
        controller.handle(Event::Auth { has_token: true }, 30);
        assert_eq!(runs(&controller.handle(Event::Start, 40)), 1);
    }

    fn armed(commands: &[Command]) -> Option<u64> {
        commands.iter().find_map(|c| match c {
            Command::ArmTimer { ms } => Some(*ms),
            _ => None,
        })
    }

    fn offline() -> CycleOutcome {
        CycleOutcome::Failed(SyncError {
            kind: SyncErrorKind::Offline,
            message: "offline".into(),
        })
    }

    #[test]
    fn offline_backs_off_and_the_network_coming_back_runs_soon() {
        let mut controller = started();
        controller.handle(Event::Network { online: false }, 5);
        controller.handle(Event::Kick, 6);
        let delay = armed(&controller.handle(Event::CycleDone(offline()), 10)).unwrap();
        assert!((2500..=5000).contains(&delay), "no busy loop: {delay}");
        assert!(
            controller.handle(Event::Kick, 20).is_empty(),
            "kicks wait while offline"
        );
        let back = controller.handle(Event::Network { online: true }, 30);
        assert_eq!(
            back,
            [Command::ArmTimer {
                ms: KICK_DEBOUNCE_MS
            }]
        );
    }

    #[test]
    fn failing_cycles_back_off_exponentially_with_jitter_up_to_a_cap() {
        let mut controller = started();
        let mut now = 0;
        let mut delays = Vec::new();
        for _ in 0..12 {
            let delay = armed(&controller.handle(Event::CycleDone(offline()), now)).unwrap();
            delays.push(delay);
            now += delay;
            // A kick (a local write) does not cut the wait short.
            assert!(controller.handle(Event::Kick, now - 1).is_empty());
            assert_eq!(runs(&controller.handle(Event::TimerFired, now)), 1);
        }
        for (n, delay) in delays.iter().enumerate() {
            let base = (5000u64 << n).min(MAX_BACKOFF_MS);
            assert!(
                (base / 2..=base).contains(delay),
                "failure {}: {delay} ms not within [{}, {base}]",
                n + 1,
                base / 2
            );
        }
        assert!(delays[11] <= MAX_BACKOFF_MS);
        // One success resets it.
        let after = controller.handle(Event::CycleDone(CycleOutcome::Synced), now);
        assert_eq!(after, [Command::ArmTimer { ms: 5000 }]);
        assert_eq!(controller.failures(), 0);
    }

    #[test]
    fn jitter_differs_between_clients() {
        let delay = |seed| {
            let mut controller = Controller::new(5000, seed);
            controller.handle(Event::Auth { has_token: true }, 0);
            controller.handle(Event::Start, 0);
            armed(&controller.handle(Event::CycleDone(offline()), 0)).unwrap()
        };
        let delays: std::collections::HashSet<u64> = (1..20).map(delay).collect();
        assert!(delays.len() > 5, "{delays:?}");
    }

    #[test]
    fn a_401_of_a_replaced_session_does_not_expire_the_new_one() {
        let mut controller = started();
        // Signed in again (a new token) while the old session's cycle was under way.
        controller.handle(Event::Auth { has_token: true }, 10);
        let after = controller.handle(Event::CycleDone(CycleOutcome::Unauthorized), 20);
        assert_eq!(
            after,
            [Command::ArmTimer {
                ms: KICK_DEBOUNCE_MS
            }],
            "the loop goes on under the new session"
        );
        assert!(controller.is_looping());
        assert_eq!(runs(&controller.handle(Event::TimerFired, 70)), 1);
    }

    #[test]
    fn start_during_a_running_cycle_never_starts_a_second() {
        let mut controller = started();
        controller.handle(Event::Stop, 10);
        let restarted = controller.handle(Event::Start, 20);
        assert_eq!(restarted, [Command::SetLooping(true)], "no second cycle");
        assert!(controller.is_running());
        // The old cycle ends; the loop goes on right after it.
        let after = controller.handle(Event::CycleDone(CycleOutcome::Synced), 30);
        assert_eq!(
            after,
            [Command::ArmTimer {
                ms: KICK_DEBOUNCE_MS
            }]
        );
        assert_eq!(runs(&controller.handle(Event::TimerFired, 80)), 1);
    }
}
