//! When a failed event may be pushed again: `backoffMs * 2^(tries-1)` after its last
//! attempt (30 s, 60 s, 120 s… by default), unless the caller overrides backoff.

use sync_protocol::{OutboxEvent, Timestamp};

/// The longest wait, so that a long-failing event is still retried daily rather than
/// after an overflowing number of milliseconds.
const MAX_DELAY_MS: i64 = 24 * 60 * 60 * 1000;

/// How long after its last attempt an event that failed `tries` times waits.
pub fn delay_ms(tries: u32, backoff_ms: u32) -> i64 {
    if tries == 0 {
        return 0;
    }
    let exponent = (tries - 1).min(31);
    i64::from(backoff_ms)
        .saturating_mul(1_i64 << exponent)
        .min(MAX_DELAY_MS)
}

/// Whether `event` may be pushed at `now`.
pub fn is_ready(
    event: &OutboxEvent,
    now: Timestamp,
    backoff_ms: u32,
    override_backoff: bool,
) -> bool {
    if override_backoff {
        return true;
    }
    match event.last_attempted_at {
        None => true,
        Some(last) => now.as_millis() >= last.as_millis() + delay_ms(event.tries, backoff_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_from_the_base() {
        assert_eq!(delay_ms(0, 30_000), 0);
        assert_eq!(delay_ms(1, 30_000), 30_000);
        assert_eq!(delay_ms(2, 30_000), 60_000);
        assert_eq!(delay_ms(3, 30_000), 120_000);
        assert_eq!(delay_ms(40, 30_000), MAX_DELAY_MS);
    }
}
