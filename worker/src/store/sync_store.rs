//! The engine's view of the store: [`SyncStore`] over IndexedDB.

use super::replica_tx::IdbTx;
use super::schema::META;
use super::{readonly, LocalStore, StoreError};
use crate::engine::{Epoch, StoreFailure, SyncStore, Verdict};
use crate::messages::PullStats;
use crate::replica::rules;
use sync_protocol::{OutboxEvent, PullResponse, Timestamp};
use uuid::Uuid;

impl From<StoreError> for StoreFailure {
    fn from(error: StoreError) -> StoreFailure {
        match error {
            StoreError::StaleEpoch => StoreFailure::Superseded,
            other => StoreFailure::Failed(other.to_string()),
        }
    }
}

impl SyncStore for LocalStore {
    async fn session(&self) -> Result<Option<(Uuid, String)>, StoreFailure> {
        let account = LocalStore::account(self).await?;
        Ok(account.map(|a| (a.user.id, a.token)))
    }

    async fn check_epoch(&self, epoch: &Epoch) -> Result<(), StoreFailure> {
        let db = self.db().await?;
        let tx = readonly(&db, &[META])?;
        rules::check_epoch(&IdbTx { tx: &tx }, epoch).await?;
        Ok(())
    }

    async fn next_batch(
        &self,
        limit: u32,
        ready: &dyn Fn(&OutboxEvent) -> bool,
    ) -> Result<Vec<OutboxEvent>, StoreFailure> {
        Ok(LocalStore::next_batch(self, limit, ready).await?)
    }

    async fn pending_count(&self) -> Result<u32, StoreFailure> {
        Ok(LocalStore::pending_count(self).await?)
    }

    async fn book_verdicts(
        &self,
        epoch: &Epoch,
        verdicts: &[(String, Verdict)],
        now: Timestamp,
    ) -> Result<(), StoreFailure> {
        LocalStore::book_verdicts(self, epoch, verdicts, now).await?;
        Ok(())
    }

    async fn cursor(&self) -> Result<Option<String>, StoreFailure> {
        Ok(LocalStore::cursor(self).await?)
    }

    async fn apply_pull(
        &self,
        epoch: &Epoch,
        page: &PullResponse,
    ) -> Result<PullStats, StoreFailure> {
        Ok(LocalStore::apply_pull(self, epoch, page).await?)
    }
}
