//! `cargo xtask bench`: the benchmark programs, which print their own figures: the
//! server's push throughput, batching ratio, latency under 50 clients and pull latency
//! at 1,000,000 entries (SQLite and PostgreSQL), built with the `server` profile it runs
//! with in production; then the time from a write on one device to its render on
//! another (realtime on and off).

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
    run_cmd(&mut latency)
}
