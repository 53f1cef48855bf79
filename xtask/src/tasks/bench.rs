//! `cargo xtask bench`: the benchmark programs, which print their own figures: the
//! server's push throughput, batching ratio, latency under 50 clients and pull latency
//! at 1,000,000 entries (SQLite and PostgreSQL), built with the `server` profile it runs
//! with in production; then the time from a write on one device to its render on
//! another (realtime on and off); last, the local store beside plain JavaScript in the
//! browser.

use crate::cmd::{cmd, run as run_cmd};
use crate::tasks::{build_app_with, root};
use crate::tools::{Needs, Toolchain};

pub fn run(_args: &[String]) -> Result<(), String> {
    let tools = Toolchain::ensure(Needs::All)?;
    let root = root();
    let mut server = cmd(
        "cargo",
        &[
            "bench",
            "-p",
            "sync-server",
            "--bench",
            "sync_bench",
            "--profile",
            "server",
        ],
    );
    server.current_dir(&root).env("PATH", &tools.path);
    if let Some(url) = &tools.postgres_admin_url {
        server.env("TEST_POSTGRES_URL", url);
    }
    run_cmd(&mut server)?;

    build_app_with(&tools)?;
    let dist = root.join("dist");
    let dist = dist.to_string_lossy();
    let mut latency = cmd(
        "cargo",
        &[
            "run",
            "--profile",
            "bench",
            "-p",
            "app",
            "--example",
            "realtime_latency",
            "--",
            &dist,
            "100",
        ],
    );
    latency.current_dir(&root).env("PATH", &tools.path);
    if let Some(driver) = &tools.chromedriver {
        latency.env("CHROMEDRIVER", driver);
    }
    run_cmd(&mut latency)?;
    store_bench(&tools)
}

/// The local store beside plain JavaScript in headless Chromium (worker/tests/bench_store.rs):
/// built with the profile the app ships with, its ignored tests run, and their
/// `console.log` figures let through to the terminal.
fn store_bench(tools: &Toolchain) -> Result<(), String> {
    let Some(driver) = &tools.chromedriver else {
        return Err("the store benchmark needs ChromeDriver".into());
    };
    run_cmd(
        cmd(
            "cargo",
            &[
                "test",
                "--profile",
                "wasm-release",
                "--target",
                "wasm32-unknown-unknown",
                "-p",
                "sync-worker",
                "--test",
                "bench_store",
                "--",
                "--include-ignored",
                "--nocapture",
            ],
        )
        .current_dir(root())
        .env("PATH", &tools.path)
        .env("CHROMEDRIVER", driver)
        // 60,000 pulled records each way take minutes on a loaded two-core machine.
        .env("WASM_BINDGEN_TEST_TIMEOUT", "900"),
    )
}
