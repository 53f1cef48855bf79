//! Where the project is. Its own module because both the tasks and the tool installer
//! need it, and the installer must not depend on the tasks (which depend on it).

use std::path::PathBuf;

/// The workspace root (xtask lives one folder below it).
pub fn root() -> PathBuf {
    let manifest = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    manifest.parent().map(PathBuf::from).unwrap_or(manifest)
}
