//! When a standby decides that the leader stopped answering.
//!
//! The Web Lock alone covers a closed tab: the browser releases its lock. A *frozen* tab
//! (a background tab the browser paused) keeps its lock while its worker cannot run, so
//! the leader also sends a heartbeat, and a standby that hears nothing for a while takes
//! the lock by force (Web Locks' `steal`).
//!
//! The standby can be frozen too. When it resumes, its timer may fire before the
//! heartbeats that queued up meanwhile are read, so a single silent tick proves nothing.
//! The watch therefore only *suspects* the leader on the first tick that finds the
//! silence long enough, and seizes on a later tick if nothing was heard in between:
//! everything queued before the first tick is read before the next one runs.

/// How often the leader says it is alive.
pub const HEARTBEAT_MS: u64 = 250;

/// How long a standby waits in silence before it suspects the leader. Four missed
/// heartbeats: long enough not to fire on a busy moment, short enough to take over
/// within about a second (plus one tick to confirm).
pub const TAKEOVER_AFTER_MS: u64 = 1000;

/// A standby's view of the leader: when it last heard from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaderWatch {
    last_heard_ms: u64,
    /// The tick that first found the silence long enough.
    suspected_at: Option<u64>,
}

impl LeaderWatch {
    /// Starts watching at `now`, giving the leader a full silence period to speak up.
    pub fn new(now_ms: u64) -> LeaderWatch {
        LeaderWatch {
            last_heard_ms: now_ms,
            suspected_at: None,
        }
    }

    /// The leader said something (a heartbeat or a report): whatever was suspected of it
    /// is forgiven.
    pub fn heard(&mut self, now_ms: u64) {
        self.last_heard_ms = self.last_heard_ms.max(now_ms);
        self.suspected_at = None;
    }

    /// A tick of the standby's timer: whether to take the lock now. True once the
    /// silence has lasted `TAKEOVER_AFTER_MS` on two ticks with nothing heard in between.
    pub fn tick(&mut self, now_ms: u64) -> bool {
        if now_ms.saturating_sub(self.last_heard_ms) < TAKEOVER_AFTER_MS {
            self.suspected_at = None;
            return false;
        }
        match self.suspected_at {
            Some(suspected_at) => now_ms > suspected_at,
            None => {
                self.suspected_at = Some(now_ms);
                false
            }
        }
    }

    /// This worker stopped leading, or its seizure ended: watch afresh from `now`.
    pub fn restart(&mut self, now_ms: u64) {
        *self = LeaderWatch::new(now_ms);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_leader_that_keeps_talking_is_never_replaced() {
        let mut watch = LeaderWatch::new(0);
        for now in (0..10_000).step_by(HEARTBEAT_MS as usize) {
            watch.heard(now);
            assert!(!watch.tick(now + HEARTBEAT_MS - 1));
        }
    }

    #[test]
    fn a_silent_leader_is_suspected_then_replaced_on_the_next_tick() {
        let mut watch = LeaderWatch::new(1_000);
        watch.heard(2_000);
        assert!(!watch.tick(2_000 + TAKEOVER_AFTER_MS - 1));
        assert!(!watch.tick(2_000 + TAKEOVER_AFTER_MS), "suspected only");
        assert!(watch.tick(2_000 + TAKEOVER_AFTER_MS + HEARTBEAT_MS));
    }

    #[test]
    fn a_message_read_after_the_suspicion_clears_it() {
        let mut watch = LeaderWatch::new(0);
        // The standby was frozen for ten seconds; its timer runs first.
        assert!(!watch.tick(10_000));
        // Then the heartbeats that queued up meanwhile are read.
        watch.heard(10_001);
        assert!(!watch.tick(10_000 + HEARTBEAT_MS));
    }

    #[test]
    fn two_ticks_at_the_same_instant_do_not_confirm() {
        let mut watch = LeaderWatch::new(0);
        assert!(!watch.tick(5_000));
        assert!(!watch.tick(5_000));
        assert!(watch.tick(5_001));
    }

    #[test]
    fn a_late_message_does_not_move_the_clock_back() {
        let mut watch = LeaderWatch::new(5_000);
        watch.heard(4_000);
        assert!(!watch.tick(5_000 + TAKEOVER_AFTER_MS - 1));
    }

    #[test]
    fn restart_gives_a_full_silence_period_again() {
        let mut watch = LeaderWatch::new(0);
        assert!(!watch.tick(2_000));
        watch.restart(9_000);
        assert!(!watch.tick(9_500));
        assert!(!watch.tick(9_000 + TAKEOVER_AFTER_MS));
        assert!(watch.tick(9_000 + TAKEOVER_AFTER_MS + HEARTBEAT_MS));
    }
}
