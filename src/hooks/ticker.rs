//! A clock for relative times ("12 s ago") that re-renders its component periodically.

use gloo_timers::callback::Interval;
use yew::prelude::*;

/// The current time in milliseconds, refreshed every `every_ms`.
#[hook]
pub fn use_now(every_ms: u32) -> i64 {
    let now = use_state(|| js_sys::Date::now() as i64);
    {
        let now = now.clone();
        use_effect_with(every_ms, move |every| {
            let interval = Interval::new(*every, move || now.set(js_sys::Date::now() as i64));
            move || drop(interval)
        });
    }
    *now
}

/// "just now", "42 s ago", "5 min ago", "3 h ago", "2 days ago".
pub fn relative(then_ms: i64, now_ms: i64) -> String {
    let seconds = ((now_ms - then_ms) / 1000).max(0);
    match seconds {
        0..=4 => "just now".into(),
        5..=59 => format!("{seconds} s ago"),
        60..=3599 => format!("{} min ago", seconds / 60),
        3600..=86_399 => format!("{} h ago", seconds / 3600),
        _ => match seconds / 86_400 {
            1 => "yesterday".into(),
            days => format!("{days} days ago"),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::relative;

    #[test]
    fn reads_like_a_person_would_say_it() {
        assert_eq!(relative(0, 3_000), "just now");
        assert_eq!(relative(0, 42_000), "42 s ago");
        assert_eq!(relative(0, 300_000), "5 min ago");
        assert_eq!(relative(0, 3 * 3_600_000), "3 h ago");
        assert_eq!(relative(0, 86_400_000), "yesterday");
        assert_eq!(relative(0, 3 * 86_400_000), "3 days ago");
        assert_eq!(relative(10_000, 0), "just now");
    }
}
