//! When a standby worker takes leadership from a leader that stopped answering.
//!
//! The Web Lock alone covers a closed tab: the browser releases its lock. A *frozen* tab
//! (a background tab the browser paused) keeps its lock while its worker cannot run, so
//! the leader also sends a heartbeat, and a standby that hears nothing for a while takes
//! the lock by force (Web Locks' `steal`). The old leader learns it lost the lock when it
//! resumes and stands down.

/// How often the leader says it is alive.
pub const HEARTBEAT_MS: u64 = 250;

/// How long a standby waits in silence before it takes over. Four missed heartbeats:
/// long enough not to fire on a busy moment, short enough to take over within a second.
pub const TAKEOVER_AFTER_MS: u64 = 1000;

/// A standby's view of the leader: when it last heard from it.
#[derive(Debug, Clone)]
pub struct LeaderWatch {
    last_heard_ms: u64,
    seizing: bool,
}

impl LeaderWatch {
    /// Starts watching at `now`, giving the leader a full silence period to speak up.
    pub fn new(now_ms: u64) -> LeaderWatch {
        LeaderWatch {
            last_heard_ms: now_ms,
            seizing: false,
        }
    }

    /// The leader said something (a heartbeat or a report).
    pub fn heard(&mut self, now_ms: u64) {
        self.last_heard_ms = self.last_heard_ms.max(now_ms);
    }

    /// Whether to take the lock now: true once per silence, after `TAKEOVER_AFTER_MS`.
    pub fn should_seize(&mut self, now_ms: u64) -> bool {
        if self.seizing || now_ms.saturating_sub(self.last_heard_ms) < TAKEOVER_AFTER_MS {
            return false;
        }
        self.seizing = true;
        true
    }

    /// This worker stopped leading (or its seizure ended): watch afresh from `now`.
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
            assert!(!watch.should_seize(now + HEARTBEAT_MS - 1));
        }
    }

    #[test]
    fn a_silent_leader_is_replaced_once_after_the_takeover_delay() {
        let mut watch = LeaderWatch::new(1_000);
        watch.heard(2_000);
        assert!(!watch.should_seize(2_000 + TAKEOVER_AFTER_MS - 1));
        assert!(watch.should_seize(2_000 + TAKEOVER_AFTER_MS));
        assert!(
            !watch.should_seize(2_000 + 5 * TAKEOVER_AFTER_MS),
            "one seizure per silence"
        );
        watch.restart(9_000);
        assert!(!watch.should_seize(9_500));
        assert!(watch.should_seize(9_000 + TAKEOVER_AFTER_MS));
    }

    #[test]
    fn a_late_message_does_not_move_the_clock_back() {
        let mut watch = LeaderWatch::new(5_000);
        watch.heard(4_000);
        assert!(!watch.should_seize(5_000 + TAKEOVER_AFTER_MS - 1));
    }
}
