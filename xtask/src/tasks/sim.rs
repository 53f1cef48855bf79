//! `cargo xtask sim`: the deterministic simulation over as many seeds as asked.
//!
//! `--seeds N` histories (default 10,000) from `--first S` (default 1), or one history
//! with `--seed S`, which also prints it step by step. A failure prints its seed.

use crate::cmd::{cmd, run as run_cmd};

pub fn run(args: &[String]) -> Result<(), String> {
    let mut command = cmd(
        "cargo",
        &[
            "test",
            "-p",
            "sync-sim",
            "--test",
            "seeds",
            "--",
            "--nocapture",
        ],
    );
    command.current_dir(crate::workspace::root());
    command.env("SIM_SEEDS", "10000");
    let mut args = args.iter();
    while let Some(flag) = args.next() {
        let value = args.next().ok_or_else(|| format!("{flag} needs a value"))?;
        if value.parse::<u64>().is_err() {
            return Err(format!("{flag} takes a number, not `{value}`"));
        }
        let variable = match flag.as_str() {
            "--seeds" => "SIM_SEEDS",
            "--first" => "SIM_FIRST_SEED",
            "--seed" => "SIM_SEED",
            other => {
                return Err(format!(
                    "unknown option `{other}` (--seeds, --first, --seed)"
                ))
            }
        };
        command.env(variable, value);
    }
    run_cmd(&mut command)
}
