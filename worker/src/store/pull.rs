//! Applying a pulled page: its entries and the new cursor in one transaction, so a
//! page is either applied with its cursor or not at all, and a reload resumes exactly.

use super::notify::ChangeOrigin;
use super::replica_tx::IdbTx;
use super::schema::{META, OUTBOX, RECORD_STORES, VERSION_META};
use super::{readwrite, LocalStore, StoreError};
use crate::engine::Epoch;
use crate::messages::PullStats;
use crate::replica::rules;
use sync_protocol::PullResponse;

impl LocalStore {
    /// Applies a page of the server's changelog and stores its cursor, under the cycle's
    /// epoch (see [`rules::apply_page`] for what each entry does).
    pub async fn apply_pull(
        &self,
        epoch: &Epoch,
        page: &PullResponse,
    ) -> Result<PullStats, StoreError> {
        // The outbox too: whether any local change waits decides whether the records'
        // metadata must be read, and a record with changes waiting keeps the fields they
        // touch.
        let mut stores = vec![VERSION_META, META, OUTBOX];
        stores.extend(RECORD_STORES);
        let db = self.db().await?;
        let tx = readwrite(&db, &stores)?;
        let (stats, affected) = rules::apply_page(&IdbTx { tx: &tx }, epoch, page).await?;
        self.commit_and_tell(tx, &affected, ChangeOrigin::Sync)
            .await?;
        Ok(stats)
    }
}
