//! Slowing down password guessing and sign-up floods: a token bucket per key. Each
//! attempt takes a token *before* the password is checked, under one lock, so parallel
//! requests cannot all slip in before the first failure is counted; tokens come back
//! one at a time over the refill period, so a bucket an attacker emptied refuses for
//! one refill step at a time, not for a whole window.
//!
//! Counts live in this process's memory: several processes behind a load balancer each
//! allow the limit, which still bounds guessing to a few attempts per window. The map is
//! bounded by the rate attempts can be made at (password hashing has a concurrency
//! limit), and full buckets are forgotten when it grows.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Buckets kept before full ones are swept, so the map cannot grow without bound.
const SWEEP_ABOVE: usize = 10_000;

/// A token bucket per key.
pub struct Throttle {
    capacity: u32,
    /// How long one token takes to come back.
    step: Duration,
    buckets: Mutex<HashMap<String, Bucket>>,
}

#[derive(Clone, Copy)]
struct Bucket {
    /// Tokens left at `at`.
    tokens: f64,
    at: Instant,
}

impl Throttle {
    /// Allows bursts of `capacity` attempts per key, refilled evenly over `window`.
    pub fn new(capacity: u32, window: Duration) -> Throttle {
        let capacity = capacity.max(1);
        Throttle {
            capacity,
            step: (window / capacity).max(Duration::from_millis(1)),
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes a token of `key`; when there is none, how long until there is one.
    pub fn acquire(&self, key: &str) -> Result<(), Duration> {
        let now = Instant::now();
        let mut buckets = self.lock();
        if buckets.len() > SWEEP_ABOVE {
            buckets.retain(|_, bucket| self.refilled(*bucket, now) < f64::from(self.capacity));
        }
        let tokens = buckets.get(key).map_or(f64::from(self.capacity), |bucket| {
            self.refilled(*bucket, now)
        });
        if tokens < 1.0 {
            let missing = 1.0 - tokens;
            return Err(self.step.mul_f64(missing).max(Duration::from_millis(1)));
        }
        buckets.insert(
            key.to_string(),
            Bucket {
                tokens: tokens - 1.0,
                at: now,
            },
        );
        Ok(())
    }

    /// Gives back a token taken by an attempt that turned out not to count (it was
    /// refused for another reason, or it succeeded).
    pub fn refund(&self, key: &str) {
        let now = Instant::now();
        let mut buckets = self.lock();
        if let Some(bucket) = buckets.get_mut(key) {
            let tokens = (self.refilled(*bucket, now) + 1.0).min(f64::from(self.capacity));
            *bucket = Bucket { tokens, at: now };
        }
    }

    /// Forgets `key`: its bucket is full again (an account's owner logged in).
    pub fn clear(&self, key: &str) {
        self.lock().remove(key);
    }

    fn refilled(&self, bucket: Bucket, now: Instant) -> f64 {
        let steps = now.duration_since(bucket.at).as_secs_f64() / self.step.as_secs_f64();
        (bucket.tokens + steps).min(f64::from(self.capacity))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bucket>> {
        // Counters stay meaningful after a panic elsewhere; keep using them.
        self.buckets.lock().unwrap_or_else(|p| p.into_inner())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refuses_past_the_burst_and_lets_one_in_per_step() {
        let throttle = Throttle::new(3, Duration::from_millis(300));
        for _ in 0..3 {
            assert_eq!(throttle.acquire("a"), Ok(()));
        }
        let wait = throttle.acquire("a").expect_err("empty");
        assert!(wait <= Duration::from_millis(100), "{wait:?}");
        assert_eq!(throttle.acquire("b"), Ok(()), "keys are separate");
        std::thread::sleep(Duration::from_millis(110));
        assert_eq!(throttle.acquire("a"), Ok(()));
        assert!(throttle.acquire("a").is_err());
    }

    #[test]
    fn refunds_and_clears() {
        let throttle = Throttle::new(1, Duration::from_secs(60));
        assert_eq!(throttle.acquire("a"), Ok(()));
        throttle.refund("a");
        assert_eq!(throttle.acquire("a"), Ok(()));
        assert!(throttle.acquire("a").is_err());
        throttle.clear("a");
        assert_eq!(throttle.acquire("a"), Ok(()));
    }
}
