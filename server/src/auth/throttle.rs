//! Slowing down password guessing: failed logins are counted per email and per client
//! address over a window; past the limit, attempts are refused (429) until the window
//! that began with the first counted failure ends.
//!
//! Counts live in this process's memory: several processes behind a load balancer each
//! allow the limit, which still bounds guessing to a few attempts per window.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Counts kept before stale ones are swept, so the map cannot grow without bound.
const SWEEP_ABOVE: usize = 10_000;

/// Failed attempts by key (`email:…`, `ip:…`).
pub struct Throttle {
    max_failures: u32,
    window: Duration,
    failures: Mutex<HashMap<String, Failures>>,
}

#[derive(Clone, Copy)]
struct Failures {
    count: u32,
    since: Instant,
}

impl Throttle {
    /// Allows `max_failures` failures per key within `window`.
    pub fn new(max_failures: u32, window: Duration) -> Throttle {
        Throttle {
            max_failures: max_failures.max(1),
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// How long until any of `keys` may try again; None when all may try now.
    pub fn blocked_for(&self, keys: &[&str]) -> Option<Duration> {
        let now = Instant::now();
        let failures = self.lock();
        keys.iter()
            .filter_map(|key| failures.get(*key))
            .filter(|f| f.count >= self.max_failures)
            .filter_map(|f| (f.since + self.window).checked_duration_since(now))
            .filter(|wait| !wait.is_zero())
            .max()
    }

    /// Counts a failure against each of `keys`.
    pub fn fail(&self, keys: &[&str]) {
        let now = Instant::now();
        let mut failures = self.lock();
        if failures.len() > SWEEP_ABOVE {
            failures.retain(|_, f| now.duration_since(f.since) < self.window);
        }
        for key in keys {
            let entry = failures.entry((*key).to_string()).or_insert(Failures {
                count: 0,
                since: now,
            });
            if now.duration_since(entry.since) >= self.window {
                *entry = Failures {
                    count: 0,
                    since: now,
                };
            }
            entry.count = entry.count.saturating_add(1);
        }
    }

    /// Forgets the failures of `key` (an account's, after its owner logs in).
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Failures>> {
        // Counters stay meaningful after a panic elsewhere; keep using them.
        self.failures.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_after_the_limit_until_the_window_ends() {
        let throttle = Throttle::new(3, Duration::from_millis(200));
        for _ in 0..2 {
            throttle.fail(&["email:a", "ip:1"]);
        }
        assert_eq!(throttle.blocked_for(&["email:a", "ip:1"]), None);
        throttle.fail(&["email:a", "ip:1"]);
        assert!(throttle.blocked_for(&["email:a"]).is_some());
        assert!(throttle.blocked_for(&["email:b", "ip:1"]).is_some());
        assert_eq!(throttle.blocked_for(&["email:b", "ip:2"]), None);
        throttle.clear("email:a");
        assert_eq!(throttle.blocked_for(&["email:a"]), None);
        std::thread::sleep(Duration::from_millis(250));
        assert_eq!(throttle.blocked_for(&["ip:1"]), None);
    }
}
