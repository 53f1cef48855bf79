//! Applying a pulled page: its entries and the new cursor in one transaction, so a
//! page is either applied with its cursor or not at all, and a reload resumes exactly.

use super::meta::{keys, version_key, VersionMeta};
use super::notify::ChangeOrigin;
use super::records::put_record;
use super::schema::{META, RECORD_STORES, VERSION_META};
use super::{delete, get, put, readwrite, LocalStore, StoreError};
use crate::messages::PullStats;
use indexed_db_futures::prelude::*;
use sync_protocol::{Model, Operation, PullResponse, Record};

impl LocalStore {
    /// Applies a page of the server's changelog and stores its cursor.
    ///
    /// An entry is skipped as stale when the record already has that change or a newer
    /// one, or when the record has a local change waiting to be pushed (that change is
    /// newer to this device; if the server rejects it, the rejection brings the server's
    /// state back). An entry without a record that is not a delete is counted missing:
    /// the record was deleted since, and that deletion follows in the log.
    pub async fn apply_pull(&self, page: &PullResponse) -> Result<PullStats, StoreError> {
        let mut stores = vec![VERSION_META, META];
        stores.extend(RECORD_STORES);
        let db = self.db().await?;
        let tx = readwrite(&db, &stores)?;
        let mut stats = PullStats {
            pages: 1,
            ..PullStats::default()
        };
        let mut affected: Vec<Model> = Vec::new();
        {
            let version_meta = tx.object_store(VERSION_META)?;
            for entry in &page.logs_with_records {
                let (Some(model), Some(id)) = (Model::parse(&entry.model), entry.record_id())
                else {
                    stats.validation_errors += 1;
                    continue;
                };
                let mut meta: VersionMeta = get(&version_meta, version_key(model, id))
                    .await?
                    .unwrap_or_else(|| VersionMeta::new(model, id));
                if meta.is_stale(&entry.changelog_id) || meta.local_change_pending {
                    stats.stale += 1;
                    continue;
                }
                let records = tx.object_store(model.name())?;
                match (&entry.record, entry.operation) {
                    (None, Operation::Delete) => delete(&records, id.to_string()).await?,
                    (None, _) => {
                        stats.missing += 1;
                        continue;
                    }
                    (Some(value), _) => match Record::from_json(model, value.clone()) {
                        Ok(record) if record.id().to_string() == id => {
                            put_record(&records, &record).await?
                        }
                        _ => {
                            stats.validation_errors += 1;
                            continue;
                        }
                    },
                }
                meta.applied(&entry.changelog_id);
                put(&version_meta, &meta).await?;
                stats.applied += 1;
                if !affected.contains(&model) {
                    affected.push(model);
                }
            }
            if let Some(cursor) = &page.cursor {
                tx.object_store(META)?
                    .put(cursor)
                    .with_key(keys::CURSOR.to_string())
                    .serde()?
                    .await?;
            }
        }
        self.commit(tx).await?;
        stats.affected_models = affected.iter().map(|m| m.name().to_string()).collect();
        self.notify(affected, ChangeOrigin::Sync);
        Ok(stats)
    }
}
