//! The project's commands, so that a fresh machine needs nothing but `cargo`:
//!
//! - `cargo xtask run`: install what is missing, build the app for release, start the
//!   sync server on SQLite and print its URL.
//! - `cargo xtask test`: install what is missing (browser and database too), then run
//!   every check and every test suite; exit non-zero when any fails or cannot run.
//! - `cargo xtask bench`: run the benchmark programs and print their figures.
//! - `cargo xtask sim`: run the deterministic sync simulation over many seeds.
//!
//! Plain `std` only: this crate must build before anything else is installed. (Its one
//! dependency, `sync-test-support` without features, is `std` only: the conventions for
//! CI and the PostgreSQL URL that every test suite follows.)

mod cmd;
mod tasks;
mod tools;
mod workspace;

use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let (task, rest) = match args.split_first() {
        Some((task, rest)) => (task.as_str(), rest),
        None => ("help", &[][..]),
    };
    let result = match task {
        "run" => tasks::run::run(rest),
        "test" => tasks::test::run(rest),
        "bench" => tasks::bench::run(rest),
        "sim" => tasks::sim::run(rest),
        "build" => tasks::build_app().map(|_| ()),
        "setup" => tools::Toolchain::ensure(tools::Needs::All).map(|_| ()),
        "help" | "-h" | "--help" => {
            print!("{}", HELP);
            Ok(())
        }
        other => Err(format!("unknown task `{other}`\n\n{HELP}")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("\nxtask: {message}");
            ExitCode::FAILURE
        }
    }
}

const HELP: &str = "\
usage: cargo xtask <task> [options]

tasks:
  run     build the app for release and serve it with the sync server (SQLite)
          options: --addr <host:port>  --database-url <url>  --skip-build
  test    install what is missing and run every check and test suite
          options: --skip-e2e  --skip-wasm  --long (the long convergence run)
  bench   run the benchmark programs (server throughput, pull latency, realtime,
          the app in Chromium beside plain JavaScript)
  sim     the deterministic sync simulation over many seeds
          options: --seeds <n> (default 10000)  --first <seed>  --seed <seed> (one, printed)
  build   build the app for release into ./dist
  setup   install the tools (wasm target, trunk, wasm-bindgen, wasm-opt, chromium)
";
