//! Pull: a page of the user's changelog after a cursor, in commit order, each entry with
//! its record's current state as the user may see it (null when it is gone or the user
//! may not see it, see [`scope::Visibility`]).

use super::{scope, SyncService};
use crate::Error;
use std::collections::HashMap;
use sync_protocol::{
    ChangelogId, LogWithRecord, Model, PullRequest, PullResponse, Record, User, DEFAULT_PULL_LIMIT,
    MAX_PULL_LIMIT,
};
use uuid::Uuid;

impl SyncService {
    /// A page of `user`'s changelog after the request's cursor; 400 for a cursor this
    /// server did not issue or a limit outside 1 to 1000.
    pub async fn pull(&self, user: &User, request: PullRequest) -> Result<PullResponse, Error> {
        let after = match request.last_changelog_id.as_deref() {
            None => 0,
            // Only what the database can store (a BIGINT) can be a cursor we issued.
            Some(cursor) => ChangelogId::parse(cursor)
                .map(ChangelogId::sequence)
                .filter(|&seq| i64::try_from(seq).is_ok())
                .ok_or_else(|| {
                    Error::InvalidRequest(format!(
                        "lastChangelogId `{cursor}` is not a cursor of this server"
                    ))
                })?,
        };
        let limit = request.limit.unwrap_or(DEFAULT_PULL_LIMIT);
        if !(1..=MAX_PULL_LIMIT).contains(&limit) {
            return Err(Error::InvalidRequest(format!(
                "limit must be between 1 and {MAX_PULL_LIMIT}"
            )));
        }

        let scope = user.id;
        let entries = self.store.changelog_after(scope, after, limit).await?;
        // An empty page may mean "up to date" or a cursor past the end, which this server
        // never issued: a client holding one would silently skip every entry up to it.
        if entries.is_empty() && after > 0 {
            let last = self.store.last_seq(scope).await?.unwrap_or(0);
            if after > last {
                return Err(Error::InvalidRequest(format!(
                    "lastChangelogId `{}` is beyond the end of your changelog",
                    request.last_changelog_id.as_deref().unwrap_or_default()
                )));
            }
        }
        let mut keys: Vec<(Model, Uuid)> = entries
            .iter()
            .filter_map(|entry| Some((Model::parse(&entry.model)?, record_id(&entry.key_path)?)))
            .collect();
        keys.sort();
        keys.dedup();
        // One query per model for the whole page, not one per entry, and one for the
        // boards shared with the user; what the user may not see is left out, and its
        // entries go with a null record.
        let (rows, shared) = if keys.is_empty() {
            (Vec::new(), Vec::new())
        } else {
            (
                self.store.records(&keys).await?,
                self.store.shared_with(scope).await?,
            )
        };
        let visibility = scope::Visibility::new(scope, shared);
        let records: HashMap<(Model, Uuid), Record> = visibility
            .records(rows)
            .map(|record| ((record.model(), record.id()), record))
            .collect();

        let scope_key = scope.to_string();
        let logs: Vec<LogWithRecord> = entries
            .into_iter()
            .map(|entry| {
                let key = Model::parse(&entry.model).zip(record_id(&entry.key_path));
                let record = key.and_then(|key| records.get(&key)).map(Record::to_json);
                let id = ChangelogId::new(entry.seq).to_string();
                LogWithRecord {
                    id: id.clone(),
                    model: entry.model,
                    key_path: entry.key_path,
                    operation: entry.operation,
                    scope_key: scope_key.clone(),
                    outbox_event_id: entry.outbox_event_id,
                    record,
                    changelog_id: id,
                }
            })
            .collect();
        let cursor = logs
            .last()
            .map(|log| log.id.clone())
            .or(request.last_changelog_id);
        Ok(PullResponse {
            cursor,
            logs_with_records: logs,
        })
    }
}

/// The record id of a single-field key path.
fn record_id(key_path: &[serde_json::Value]) -> Option<Uuid> {
    match key_path {
        [serde_json::Value::String(id)] => Uuid::parse_str(id).ok(),
        _ => None,
    }
}
