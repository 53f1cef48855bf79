//! `cargo xtask run`: build the app for release and serve it with the sync server.

use crate::cmd::{cmd, run as run_cmd};
use crate::tasks::build_app;
use crate::workspace::root;

pub fn run(args: &[String]) -> Result<(), String> {
    let mut server_args: Vec<String> = Vec::new();
    let mut skip_build = false;
    let mut args = args.iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--skip-build" => skip_build = true,
            "--addr" | "--database-url" => {
                let value = args.next().ok_or_else(|| format!("{arg} needs a value"))?;
                server_args.push(arg.clone());
                server_args.push(value.clone());
            }
            other => return Err(format!("unknown option `{other}` for run")),
        }
    }
    if !skip_build {
        build_app()?;
    }
    let root = root();
    let app_dir = root.join("dist");
    let app_dir = app_dir.to_string_lossy();
    let mut cargo_args = vec![
        "run",
        "--quiet",
        "--package",
        "sync-server",
        "--",
        "--app-dir",
        &app_dir,
    ];
    cargo_args.extend(server_args.iter().map(String::as_str));
    eprintln!("starting the sync server (SQLite under ./data unless --database-url says otherwise); Ctrl-C stops it");
    run_cmd(cmd("cargo", &cargo_args).current_dir(&root))
}
