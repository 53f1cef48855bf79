//! `cargo xtask bench`: the benchmark programs, which print their own figures.

use crate::cmd::{cmd, run as run_cmd};
use crate::tasks::root;
use crate::tools::{Needs, Toolchain};

pub fn run(_args: &[String]) -> Result<(), String> {
    let tools = Toolchain::ensure(Needs::All)?;
    let mut bench = cmd(
        "cargo",
        &["bench", "-p", "sync-server", "--bench", "sync_bench"],
    );
    bench.current_dir(root()).env("PATH", &tools.path);
    if let Some(url) = &tools.postgres_admin_url {
        bench.env("TEST_POSTGRES_URL", url);
    }
    run_cmd(&mut bench)
}
