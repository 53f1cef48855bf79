//! Hooks that give components their state: the sync worker, the local data, the clock.

pub mod data;
pub mod sync;
pub mod ticker;
