//! The built app (Trunk's `dist/`) that end-to-end tests and benchmark programs serve.

use std::path::{Path, PathBuf};

/// Where the built app is (`SYNC_E2E_APP_DIR`, set by `cargo xtask test`), or None
/// (with a note) when this run did not build it; under CI a missing app fails.
pub fn app_dir_for_tests() -> Option<PathBuf> {
    match std::env::var_os("SYNC_E2E_APP_DIR") {
        Some(dir) => Some(PathBuf::from(dir)),
        None => {
            crate::ci::unavailable(
                "the built app",
                "SYNC_E2E_APP_DIR is not set: run `cargo xtask test`",
            );
            None
        }
    }
}

/// Copies a built app to `to`, with its own `config.json`.
pub fn copy_app(from: &Path, to: &Path, config_json: &str) {
    copy_files(from, to);
    std::fs::write(to.join("config.json"), config_json).expect("config.json");
}

fn copy_files(from: &Path, to: &Path) {
    for entry in std::fs::read_dir(from)
        .expect("the app folder is readable")
        .flatten()
    {
        let target = to.join(entry.file_name());
        if entry.path().is_dir() {
            std::fs::create_dir_all(&target).expect("a folder");
            copy_files(&entry.path(), &target);
        } else {
            std::fs::copy(entry.path(), &target).expect("a copy");
        }
    }
}
