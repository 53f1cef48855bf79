//! Hooks that give components their state: the sync worker, the local data, the clock.

pub mod boards;
pub mod boards_model;
pub mod data;
pub mod session;
pub mod sync;
pub mod ticker;
