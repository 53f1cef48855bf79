//! `cargo xtask test`: every check and every suite, with what they need installed.
//!
//! Suites run one after another and all of them run even when one fails, so a single
//! run shows every failure; the summary at the end says which failed. Under `CI=true`
//! a suite that cannot run (no browser, no database) is a failure, never a skip.

use crate::cmd::{cmd, run as run_cmd};
use crate::tasks::build_app_with;
use crate::tools::{Needs, Toolchain};
use crate::workspace::root;
use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Instant;
use sync_test_support::in_ci;

const WASM_TARGET: &str = "wasm32-unknown-unknown";
/// The crate with browser tests. Everything else is native-testable (the app's and
/// the protocol's code is also compiled and linted natively); the server cannot build
/// for wasm32.
const WASM_CRATE: &str = "sync-worker";

struct Options {
    skip_e2e: bool,
    skip_wasm: bool,
    long: bool,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut options = Options {
        skip_e2e: false,
        skip_wasm: false,
        long: false,
    };
    for arg in args {
        match arg.as_str() {
            "--skip-e2e" => options.skip_e2e = true,
            "--skip-wasm" => options.skip_wasm = true,
            "--long" => options.long = true,
            other => return Err(format!("unknown option `{other}` for test")),
        }
    }
    let started = Instant::now();
    let tools = Toolchain::ensure(Needs::All)?;
    let root = root();
    let mut suites = Suites::default();

    suites.run(
        "rustfmt",
        cmd("cargo", &["fmt", "--all", "--", "--check"]).current_dir(&root),
    );
    suites.run(
        "clippy (native)",
        cmd(
            "cargo",
            &[
                "clippy",
                "--workspace",
                "--all-targets",
                "--",
                "-D",
                "warnings",
            ],
        )
        .current_dir(&root),
    );
    // The browser tests compile only for wasm32, so native clippy never sees them.
    let wasm_clippy = [
        "clippy",
        "--target",
        WASM_TARGET,
        "-p",
        WASM_CRATE,
        "--tests",
    ];
    suites.run(
        "clippy (wasm32 browser tests)",
        cmd("cargo", &wasm_clippy)
            .args(["--", "-D", "warnings"])
            .current_dir(&root),
    );

    let started_build = Instant::now();
    let built = build_app_with(&tools);
    suites.record("trunk build --release", built.clone(), started_build);

    // Native: unit and integration tests of every crate, the server on SQLite and
    // PostgreSQL, and the end-to-end tests in headless Chromium against the built app.
    let mut native = cmd("cargo", &["test", "--workspace", "--no-fail-fast"]);
    native.current_dir(&root).env("PATH", &tools.path);
    configure_suites(&mut native, &tools, &options, built.is_ok());
    suites.run("native and end-to-end tests", &mut native);

    if options.skip_wasm {
        suites.skip("browser tests (wasm-bindgen-test)", "--skip-wasm");
    } else if let Some(driver) = &tools.chromedriver {
        let started_wasm = Instant::now();
        let result = run_wasm_tests(&tools, driver);
        suites.record("browser tests (wasm-bindgen-test)", result, started_wasm);
    } else {
        suites.unavailable("browser tests (wasm-bindgen-test)", "no ChromeDriver");
    }

    suites.finish(started)
}

/// Tells the test binaries where their real parts are, and whether a missing one fails.
fn configure_suites(command: &mut Command, tools: &Toolchain, options: &Options, app_built: bool) {
    let root = root();
    // Whether a suite that cannot run fails is `CI`, which the children inherit.
    if let Some(url) = &tools.postgres_admin_url {
        command.env("TEST_POSTGRES_URL", url);
    }
    if let Some(driver) = &tools.chromedriver {
        command.env("CHROMEDRIVER", driver);
    }
    if app_built && !options.skip_e2e {
        command.env("SYNC_E2E_APP_DIR", root.join("dist"));
    }
    if options.long {
        command.env("SYNC_LONG_TESTS", "1");
    }
}

/// Browser tests need a real sync server: start one on a temporary SQLite file, let the
/// tests know its URL (at compile time: the browser has no environment), run, stop it.
fn run_wasm_tests(tools: &Toolchain, driver: &std::path::Path) -> Result<(), String> {
    let root = root();
    let data = std::env::temp_dir().join(format!("sync-wasm-tests-{}", std::process::id()));
    std::fs::create_dir_all(&data).map_err(|e| e.to_string())?;
    let database_url = format!("sqlite://{}", data.join("sync.db").display());
    let mut server = TestServer::start(&database_url)?;

    let result = run_cmd(
        cmd(
            "cargo",
            &["test", "--target", WASM_TARGET, "-p", WASM_CRATE],
        )
        .current_dir(&root)
        .env("PATH", &tools.path)
        .env("CHROMEDRIVER", driver)
        .env("WASM_BINDGEN_TEST_TIMEOUT", "180")
        .env("SYNC_TEST_SERVER_URL", &server.url),
    );
    server.stop();
    let _ = std::fs::remove_dir_all(&data);
    result
}

/// A sync-server child process on an ephemeral port, open to any origin (the test
/// runner serves the tests from its own port).
struct TestServer {
    child: Child,
    url: String,
}

impl TestServer {
    fn start(database_url: &str) -> Result<TestServer, String> {
        eprintln!("$ cargo run -p sync-server (for the browser tests)");
        let mut child = Command::new("cargo")
            .args(["run", "--quiet", "--package", "sync-server", "--"])
            .args(["--addr", "127.0.0.1:0", "--database-url", database_url])
            .args(["--cors-origin", "*", "--app-dir", "dist"])
            // The browser tests sign up many accounts from loopback.
            .env("SYNC_SIGNUP_MAX_PER_WINDOW", "100000")
            .current_dir(root())
            .stdout(Stdio::piped())
            .spawn()
            .map_err(|e| format!("cannot start the sync server: {e}"))?;
        let stdout = child
            .stdout
            .take()
            .ok_or("no stdout from the sync server")?;
        let mut lines = BufReader::new(stdout).lines();
        let url = loop {
            match lines.next() {
                Some(Ok(line)) => {
                    if let Some(url) = line.strip_prefix("sync-server listening on ") {
                        break url.trim().to_string();
                    }
                }
                _ => {
                    let _ = child.kill();
                    return Err("the sync server exited before listening".into());
                }
            }
        };
        // Keep draining stdout so the server never blocks on a full pipe.
        std::thread::spawn(move || lines.for_each(drop));
        Ok(TestServer { child, url })
    }

    fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The outcome of each suite, for the summary.
#[derive(Default)]
struct Suites {
    outcomes: Vec<(String, Outcome)>,
}

enum Outcome {
    Passed(f64),
    Failed(String),
    Skipped(String),
}

impl Suites {
    fn run(&mut self, name: &str, command: &mut Command) {
        let started = Instant::now();
        let result = run_cmd(command);
        self.push(name, result, started);
    }

    fn record(&mut self, name: &str, result: Result<(), String>, started: Instant) {
        self.push(name, result, started);
    }

    fn push(&mut self, name: &str, result: Result<(), String>, started: Instant) {
        let outcome = match result {
            Ok(()) => Outcome::Passed(started.elapsed().as_secs_f64()),
            Err(e) => Outcome::Failed(e),
        };
        self.outcomes.push((name.to_string(), outcome));
    }

    fn skip(&mut self, name: &str, why: &str) {
        self.outcomes
            .push((name.to_string(), Outcome::Skipped(why.to_string())));
    }

    /// A suite that should run but cannot: a failure under CI, a skip elsewhere.
    fn unavailable(&mut self, name: &str, why: &str) {
        if in_ci() {
            self.outcomes.push((
                name.to_string(),
                Outcome::Failed(format!("cannot run: {why}")),
            ));
        } else {
            self.skip(name, why);
        }
    }

    fn finish(self, started: Instant) -> Result<(), String> {
        eprintln!("\n== summary ({:.0} s) ==", started.elapsed().as_secs_f64());
        let mut failed = Vec::new();
        for (name, outcome) in &self.outcomes {
            match outcome {
                Outcome::Passed(secs) => eprintln!("  ok       {name} ({secs:.0} s)"),
                Outcome::Skipped(why) => eprintln!("  skipped  {name}: {why}"),
                Outcome::Failed(why) => {
                    eprintln!("  FAILED   {name}: {why}");
                    failed.push(name.as_str());
                }
            }
        }
        if failed.is_empty() {
            Ok(())
        } else {
            Err(format!("failed: {}", failed.join(", ")))
        }
    }
}
