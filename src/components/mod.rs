//! The UI's components, one per file.

pub mod sync_bar;
