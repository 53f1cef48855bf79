//! What sync does to the replica: booking the server's verdicts on pushed events, and
//! applying pulled changelog pages. Both run inside one [`ReplicaTx`] that first checks
//! the cycle's [`Epoch`], so a late answer never writes under another account, session
//! or leadership term.

use super::meta::VersionMeta;
use super::{ReplicaTx, RuleError, Touched, Write};
use crate::engine::{Epoch, Verdict};
use crate::messages::PullStats;
use futures::future::try_join_all;
use std::collections::HashMap;
use sync_protocol::push::ServerState;
use sync_protocol::{LogWithRecord, Model, Operation, PullResponse, Record, Timestamp};

/// Fails with [`RuleError::StaleEpoch`] unless `epoch` is the current one: the same
/// account and session are signed in and no other worker took the lead since.
pub async fn check_epoch<T: ReplicaTx>(tx: &T, epoch: &Epoch) -> Result<(), T::Error> {
    // Both reads go out together: one round trip.
    let (account, term) = futures::try_join!(tx.account(), tx.term())?;
    let same_session = account
        .as_ref()
        .is_some_and(|a| a.user.id == epoch.user_id && a.token == epoch.token);
    if same_session && term == epoch.term {
        Ok(())
    } else {
        Err(RuleError::StaleEpoch.into())
    }
}

/// Books the server's verdicts, in the order the events were made.
///
/// Order matters: a refused change is undone only when no later change of the same
/// record is still waiting or was accepted after it (booked in this same pass), so the
/// record ends in the server's state after the last accepted change. Returns the records
/// that changed (rolled back).
///
/// Three rounds of requests whatever the batch size: the entries, then each record's
/// pending count and metadata, all issued together; the decisions are made in memory,
/// in event order; then every write at once.
pub async fn book_verdicts<T: ReplicaTx>(
    tx: &T,
    epoch: &Epoch,
    verdicts: &[(String, Verdict)],
    now: Timestamp,
) -> Result<Touched, T::Error> {
    check_epoch(tx, epoch).await?;
    let entries = try_join_all(verdicts.iter().map(|(id, _)| tx.entry(id))).await?;
    // The records whose events are booked here, each once.
    let mut keys: Vec<(Model, String)> = Vec::new();
    for entry in entries.iter().flatten() {
        if let Some(key) = entry.record_key().filter(|_| entry.event.is_pending()) {
            if !keys.contains(&key) {
                keys.push(key);
            }
        }
    }
    let (counts, metas) = futures::try_join!(
        try_join_all(
            keys.iter()
                .map(|(model, id)| tx.pending_count_of(*model, id))
        ),
        tx.metas(&keys),
    )?;
    let mut pending: HashMap<(Model, String), u32> = keys.iter().cloned().zip(counts).collect();
    let mut metas: HashMap<(Model, String), VersionMeta> = keys
        .iter()
        .cloned()
        .zip(metas)
        .map(|(key, meta)| {
            let meta = meta.unwrap_or_else(|| VersionMeta::new(key.0, &key.1));
            (key, meta)
        })
        .collect();

    let mut changed = Touched::default();
    let mut writes = Vec::new();
    for ((_, verdict), entry) in verdicts.iter().zip(entries) {
        let Some(mut entry) = entry else {
            continue;
        };
        // An answer for an event booked already (a replayed request) changes nothing.
        if !entry.event.is_pending() {
            continue;
        }
        entry.book(verdict, now);
        let key = entry.record_key();
        let booked_op = entry.event.op();
        let still_pending = entry.event.is_pending();
        writes.push(Write::PutEntry(entry));
        let Some(key) = key else {
            continue;
        };
        let waiting = pending.entry(key.clone()).or_default();
        if !still_pending {
            *waiting = waiting.saturating_sub(1);
        }
        let others_wait = *waiting > 0;
        let (model, id) = (key.0, key.1.as_str());
        match verdict {
            Verdict::Applied { changelog_id } => {
                if let Some(meta) = metas.get_mut(&key) {
                    meta.applied(changelog_id);
                }
            }
            Verdict::Retry(_) => {}
            Verdict::Rejected { server_state, .. } => {
                // Without the server's state the change cannot be undone: keep it (the
                // person sees the refusal).
                if let Some(state) = server_state.as_ref().filter(|_| !others_wait) {
                    if let Some(write) = roll_back(model, id, state) {
                        writes.push(write);
                        changed.record(model, id);
                    }
                    let board_restored = model == Model::Board
                        && booked_op == Some(Operation::Delete)
                        && state.record.is_some();
                    if board_restored {
                        // Its todos went locally with it: read the changelog again from
                        // the start to bring them back (their pages name them).
                        tx.clear_cursor().await?;
                    }
                }
            }
        }
        // The record's pending mark: set while another of its events still waits.
        if let Some(meta) = metas.get_mut(&key) {
            meta.local_change_pending = others_wait;
        }
    }
    writes.extend(
        keys.iter()
            .filter_map(|key| metas.remove(key))
            .map(Write::PutMeta),
    );
    // An accepted event's changelog id is now some record's last applied one: the bound
    // that lets pulled pages skip the metadata must stay above it.
    let newest_applied = verdicts
        .iter()
        .filter_map(|(_, verdict)| match verdict {
            Verdict::Applied { changelog_id } => Some(changelog_id.as_str()),
            _ => None,
        })
        .max();
    futures::try_join!(tx.write_all(&writes), async {
        match newest_applied {
            Some(id) => tx.raise_applied_bound(id).await,
            None => Ok(()),
        }
    })?;
    Ok(changed)
}

/// The write that puts the server's state of a record back, or removes the record when
/// it has none; none for a server state this client cannot read (no better than ours).
fn roll_back(model: Model, id: &str, state: &ServerState) -> Option<Write> {
    match &state.record {
        Some(value) => Record::from_json(model, value.clone())
            .ok()
            .map(Write::PutRecord),
        None => Some(Write::RemoveRecord(model, id.to_string())),
    }
}

/// What a pulled entry does to its record.
#[derive(Debug, Clone, PartialEq)]
pub enum Pulled {
    /// The record has this change or a newer one, or a local change that waits to be
    /// pushed (newer to this device; a refusal brings the server's state back).
    Stale,
    Put(Record),
    Remove,
    /// Not a delete, yet no record: it was deleted since, and that follows in the log.
    Missing,
    /// An entry this client cannot read.
    Invalid,
}

/// Decides what `entry` does, given its record's metadata.
pub fn decide_pulled(meta: Option<&VersionMeta>, model: Model, entry: &LogWithRecord) -> Pulled {
    if meta.is_some_and(|m| m.is_stale(&entry.changelog_id) || m.local_change_pending) {
        return Pulled::Stale;
    }
    let Some(id) = entry.record_id() else {
        return Pulled::Invalid;
    };
    match (&entry.record, entry.operation) {
        (None, Operation::Delete) => Pulled::Remove,
        (None, _) => Pulled::Missing,
        (Some(value), _) => match Record::from_json(model, value.clone()) {
            Ok(record) if record.id().to_string() == id => Pulled::Put(record),
            _ => Pulled::Invalid,
        },
    }
}

/// Applies a page of the server's changelog and stores its cursor. Returns the stats
/// and the records that changed.
///
/// Two rounds of requests on the forward path, three otherwise: the epoch, the applied
/// bound and the outbox's pending count together; then, only when some entry may be
/// stale (it is not after the bound) or some local change waits, each record's
/// metadata; then every write and the cursor together. Skipping the metadata decides
/// the same: after the bound no entry is stale, and with nothing pending no record is
/// marked pending, so every record's metadata reads as none would.
pub async fn apply_page<T: ReplicaTx>(
    tx: &T,
    epoch: &Epoch,
    page: &PullResponse,
) -> Result<(PullStats, Touched), T::Error> {
    let ((), bound, pending) = futures::try_join!(
        check_epoch(tx, epoch),
        tx.applied_bound(),
        tx.pending_total()
    )?;
    let mut stats = PullStats {
        pages: 1,
        ..PullStats::default()
    };
    let mut affected = Touched::default();
    let readable: Vec<(Model, String, &LogWithRecord)> = page
        .logs_with_records
        .iter()
        .filter_map(|entry| {
            let model = Model::parse(&entry.model)?;
            Some((model, entry.record_id()?.to_string(), entry))
        })
        .collect();
    stats.validation_errors += (page.logs_with_records.len() - readable.len()) as u32;
    let keys: Vec<(Model, String)> = readable
        .iter()
        .map(|(model, id, _)| (*model, id.clone()))
        .collect();
    let forward = pending == 0
        && page
            .logs_with_records
            .iter()
            .all(|entry| entry.changelog_id.as_str() > bound.as_str());
    let mut metas = if forward {
        vec![None; keys.len()]
    } else {
        tx.metas(&keys).await?
    };
    let mut writes = Vec::with_capacity(readable.len() * 2);
    for (index, (model, id, entry)) in readable.iter().enumerate() {
        // A page may name one record twice: the second entry sees the first's metadata.
        let earlier = readable[..index]
            .iter()
            .rposition(|(m, i, _)| m == model && i == id);
        let meta = match earlier {
            Some(position) => metas[position].clone(),
            None => metas[index].clone(),
        };
        metas[index] = meta.clone();
        match decide_pulled(meta.as_ref(), *model, entry) {
            Pulled::Stale => {
                stats.stale += 1;
                continue;
            }
            Pulled::Missing => {
                stats.missing += 1;
                continue;
            }
            Pulled::Invalid => {
                stats.validation_errors += 1;
                continue;
            }
            Pulled::Put(record) => writes.push(Write::PutRecord(record)),
            Pulled::Remove => writes.push(Write::RemoveRecord(*model, id.clone())),
        }
        let mut meta = meta.unwrap_or_else(|| VersionMeta::new(*model, id));
        meta.applied(&entry.changelog_id);
        writes.push(Write::PutMeta(meta.clone()));
        metas[index] = Some(meta);
        stats.applied += 1;
        affected.record(*model, id);
    }
    let newest = page
        .logs_with_records
        .iter()
        .map(|entry| entry.changelog_id.as_str())
        .max()
        .filter(|newest| *newest > bound.as_str());
    futures::try_join!(
        tx.write_all(&writes),
        async {
            match &page.cursor {
                Some(cursor) => tx.set_cursor(cursor).await,
                None => Ok(()),
            }
        },
        async {
            match newest {
                Some(newest) => tx.set_applied_bound(newest).await,
                None => Ok(()),
            }
        },
    )?;
    stats.affected_models = affected
        .models()
        .iter()
        .map(|m| m.name().to_string())
        .collect();
    Ok((stats, affected))
}
