//! The engine's view of the store: [`SyncStore`] over IndexedDB.

use super::{LocalStore, PushFailure, StoreError};
use crate::engine::SyncStore;
use crate::messages::PullStats;
use sync_protocol::{Model, OutboxEvent, PullResponse, Timestamp};

impl SyncStore for LocalStore {
    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreError> {
        LocalStore::next_batch(self, limit, ready).await
    }

    async fn pending_count(&self) -> Result<u32, StoreError> {
        LocalStore::pending_count(self).await
    }

    async fn mark_synced(
        &self,
        acks: &[(String, String)],
        now: Timestamp,
    ) -> Result<(), StoreError> {
        LocalStore::mark_synced(self, acks, now).await
    }

    async fn mark_failed(
        &self,
        failures: &[PushFailure],
        now: Timestamp,
    ) -> Result<Vec<Model>, StoreError> {
        LocalStore::mark_failed(self, failures, now).await
    }

    async fn cursor(&self) -> Result<Option<String>, StoreError> {
        LocalStore::cursor(self).await
    }

    async fn apply_pull(&self, page: &PullResponse) -> Result<PullStats, StoreError> {
        LocalStore::apply_pull(self, page).await
    }
}
