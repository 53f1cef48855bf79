//! The tasks, and what they share: how the app is built.

pub mod bench;
pub mod run;
pub mod sim;
pub mod test;

use crate::cmd::{cmd, run as run_cmd};
use crate::tools::{Needs, Toolchain};
use crate::workspace::root;

/// Builds the app and its worker for release into `dist/`, installing tools first.
pub fn build_app() -> Result<Toolchain, String> {
    let tools = Toolchain::ensure(Needs::Build)?;
    build_app_with(&tools)?;
    Ok(tools)
}

/// Builds the app with tools already ensured.
pub fn build_app_with(tools: &Toolchain) -> Result<(), String> {
    run_cmd(
        cmd("trunk", &["build", "--release", "--offline"])
            .current_dir(root())
            .env("PATH", &tools.path)
            // Trunk reads NO_COLOR as a boolean and rejects other values some shells set.
            .env_remove("NO_COLOR"),
    )
}
