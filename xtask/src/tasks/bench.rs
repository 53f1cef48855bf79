//! `cargo xtask bench`: the benchmark programs, which print their own figures: the
//! server's push throughput, batching ratio, latency under 50 clients and pull latency
//! at 1,000,000 entries (SQLite and PostgreSQL), built with the `server` profile it runs
//! with in production; then the time from a write on one device to its render on
//! another (realtime on and off); then the app as a person meets it beside plain
//! JavaScript (examples/app_bench: download size, cold load, click to render, initial
//! sync of 10,000 and 50,000 todos, long tasks); last, the local store beside plain
//! JavaScript in the browser (worker/tests/bench_store.rs).

use crate::cmd::{cmd, run as run_cmd};
use crate::tasks::build_app_with;
use crate::tools::{Needs, Toolchain};
use crate::workspace::root;

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
    run_example(&tools, "realtime_latency", &[&dist, "100"])?;
    run_example(&tools, "app_bench", &[&dist])?;
    store_bench(&tools)
}

/// Runs one of the app's benchmark programs (examples/) against the built app, in
/// headless Chromium, with the `bench` profile.
fn run_example(tools: &Toolchain, name: &str, args: &[&str]) -> Result<(), String> {
    let mut example = cmd(
        "cargo",
        &[
            "run",
            "--profile",
            "bench",
            "-p",
            "app",
            "--example",
            name,
            "--",
        ],
    );
    example
        .args(args)
        .current_dir(root())
        .env("PATH", &tools.path);
    if let Some(driver) = &tools.chromedriver {
        example.env("CHROMEDRIVER", driver);
    }
    run_cmd(&mut example)
}

/// The local store beside plain JavaScript in headless Chromium (worker/tests/bench_store.rs):
/// built with the profile the app ships with, its ignored tests run, and their
/// `console.log` figures let through to the terminal.
///
/// Each benchmark runs in a browser of its own, so that none runs while the browser
/// still works on the databases of another: after P2 (which writes and deletes 60,000
/// records) in the same browser, P1's first 20 writes took 1.87 ms against 0.75–0.88
/// ms in a browser of its own, and its ratio read 1.73x against 1.35x.
fn store_bench(tools: &Toolchain) -> Result<(), String> {
    let Some(driver) = &tools.chromedriver else {
        return Err("the store benchmark needs ChromeDriver".into());
    };
    for benchmark in ["p1_", "p2_", "p3_"] {
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
                    benchmark,
                ],
            )
            .current_dir(root())
            .env("PATH", &tools.path)
            .env("CHROMEDRIVER", driver)
            // 60,000 pulled records each way take minutes on a loaded two-core machine.
            .env("WASM_BINDGEN_TEST_TIMEOUT", "900"),
        )?;
    }
    Ok(())
}
