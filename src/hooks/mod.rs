//! Hooks that give components their state: the sync worker, the local store.

pub mod sync;
