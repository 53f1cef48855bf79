//! Whether a suite that cannot run here skips or fails: one convention for every suite
//! and for `xtask`. The variable is `CI` (what CI services set, and what `.ci/run`
//! sets); it counts when it is set to anything but empty, `false` or `0`.

/// Whether this run is CI's, where a suite that cannot run fails instead of skipping.
pub fn in_ci() -> bool {
    is_set(std::env::var("CI").ok().as_deref())
}

/// Whether a value of `CI` means "this is CI".
fn is_set(value: Option<&str>) -> bool {
    value.is_some_and(|v| !v.is_empty() && v != "false" && v != "0")
}

/// Reports that `what` (a database, the built app) a test needs is unavailable here
/// because of `why`: under CI a failure (panics), elsewhere a note on stderr, and the
/// caller skips.
pub fn unavailable(what: &str, why: &str) {
    if in_ci() {
        panic!("{what} is required under CI but unavailable: {why}");
    }
    eprintln!("SKIPPED: {what} is unavailable: {why}");
}

#[cfg(test)]
mod tests {
    use super::is_set;

    #[test]
    fn ci_counts_unless_empty_false_or_zero() {
        assert!(is_set(Some("true")));
        assert!(is_set(Some("1")));
        assert!(is_set(Some("yes")));
        assert!(!is_set(None));
        assert!(!is_set(Some("")));
        assert!(!is_set(Some("false")));
        assert!(!is_set(Some("0")));
    }
}
