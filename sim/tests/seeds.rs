//! Runs the simulation over many seeds: `SIM_SEEDS` (default 2000) histories from
//! `SIM_FIRST_SEED` (default 1), or exactly one with `SIM_SEED` (which also prints its
//! history). Seeds are shared out over the machine's cores; each history is
//! deterministic on its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use sync_sim::{run, Options, Summary};

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

#[test]
fn no_change_is_ever_lost() {
    if let Some(seed) = env("SIM_SEED") {
        match run(seed, Options::default()) {
            Ok(summary) => {
                for line in &summary.history {
                    println!("{line}");
                }
                println!("seed {seed} passed: {}", totals(&[summary]));
            }
            Err(failure) => {
                // The whole history, not just its end: the cause may be long before.
                for line in &failure.history {
                    println!("{line}");
                }
                panic!("{failure}")
            }
        }
        return;
    }
    let first = env("SIM_FIRST_SEED").unwrap_or(1);
    let count = env("SIM_SEEDS").unwrap_or(2000);
    let next = AtomicU64::new(first);
    let passed: Mutex<Vec<Summary>> = Mutex::default();
    let failures: Mutex<Vec<String>> = Mutex::default();
    let started = std::time::Instant::now();
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
    std::thread::scope(|scope| {
        for _ in 0..threads {
            scope.spawn(|| loop {
                let seed = next.fetch_add(1, Ordering::Relaxed);
                if seed >= first + count || !failures.lock().unwrap().is_empty() {
                    return;
                }
                match run(seed, Options::default()) {
                    Ok(mut summary) => {
                        summary.history.clear();
                        passed.lock().unwrap().push(summary);
                    }
                    Err(failure) => failures.lock().unwrap().push(failure.to_string()),
                }
            });
        }
    });
    if let Some(failure) = failures.lock().unwrap().first() {
        panic!("{failure}");
    }
    let passed = passed.into_inner().unwrap();
    // The histories must exercise the field-level merge, or its check proves nothing: a
    // client that stopped naming its fields would leave this at zero.
    if count >= 100 {
        assert!(
            passed.iter().map(|s| s.merges_that_mattered).sum::<usize>() > 0,
            "no history merged an update that kept another change"
        );
        // Likewise sharing: boards shared and unshared, and members' changes applied.
        let sum = |f: fn(&Summary) -> usize| passed.iter().map(f).sum::<usize>();
        assert!(sum(|s| s.shares) > 0, "no history shared a board");
        assert!(sum(|s| s.unshares) > 0, "no history ended a membership");
        assert!(
            sum(|s| s.member_changes_applied) > 0,
            "no history applied a member's change to a shared board"
        );
        // And creates that trust their tab's last change, some of them fenced.
        assert!(
            sum(|s| s.fenced_creates) > 0,
            "no trusting create was fenced"
        );
        assert!(
            sum(|s| s.partial_pushes) > 0,
            "no push was answered in part"
        );
    }
    println!(
        "{} seeds ({first}..{}) passed in {:.1} s: {}",
        passed.len(),
        first + count,
        started.elapsed().as_secs_f64(),
        totals(&passed)
    );
}

fn totals(summaries: &[Summary]) -> String {
    let sum = |f: fn(&Summary) -> usize| summaries.iter().map(f).sum::<usize>();
    let days: i64 = summaries.iter().map(|s| s.simulated_ms).sum::<i64>() / 86_400_000;
    format!(
        "{} local changes ({} applied, of which {} field updates, {} of them merges that kept \
         another change; {} refused), {} requests, \
         {days} simulated days, \
         {} lock seizures, writes of old leaders before they read their loss: {} refused, \
         {} accepted before the successor opened the store; \
         {} boards shared, {} memberships ended, members' changes: {} applied, {} refused; \
         {} creates trusted their tab's last change, {} of them fenced and made again; \
         {} pushes answered in part",
        sum(|s| s.changes),
        sum(|s| s.applied),
        sum(|s| s.field_updates),
        sum(|s| s.merges_that_mattered),
        sum(|s| s.refused),
        sum(|s| s.requests),
        sum(|s| s.seizures),
        sum(|s| s.old_leader_writes_refused),
        sum(|s| s.old_leader_writes_accepted),
        sum(|s| s.shares),
        sum(|s| s.unshares),
        sum(|s| s.member_changes_applied),
        sum(|s| s.member_changes_refused),
        sum(|s| s.trusting_creates),
        sum(|s| s.fenced_creates),
        sum(|s| s.partial_pushes),
    )
}
