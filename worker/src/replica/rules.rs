//! What sync does to the replica: booking the server's verdicts on pushed events, and
//! applying pulled changelog pages. Both run inside one [`ReplicaTx`] that first checks
//! the cycle's [`Epoch`], so a late answer never writes under another account, session
//! or leadership term.

use super::meta::VersionMeta;
use super::pending::{field_scope, Pending};
use super::{ReplicaTx, RuleError, Touched, Write};
use crate::engine::{Epoch, Verdict};
use crate::messages::PullStats;
use futures::future::try_join_all;
use std::collections::{HashMap, HashSet};
use sync_protocol::push::ServerState;
use sync_protocol::{
    LogWithRecord, Model, Operation, OutboxEvent, PullResponse, Record, Timestamp,
};

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
/// Order matters: a refused change is undone only as far as no later change of the same
/// record is still waiting or was accepted after it (booked in this same pass), so the
/// record ends in the server's state after the last accepted change. A refused update
/// that named its fields gives back just those fields, less the ones a change still
/// waiting touches; any other refused change gives back the whole record, and only when
/// no other change of it waits.
///
/// An accepted update that named its fields does not mark its changelog entry applied:
/// the server merged it into a record that may hold another device's fields from
/// entries this device has not pulled yet (with lower changelog ids), and the pull must
/// still bring them (see [`decide_pulled`]).
///
/// Three rounds of requests whatever the batch size: the entries, then each record's
/// pending events and metadata (and the local copy of a record whose update was refused),
/// all issued together; the decisions are made in memory, in event order; then every
/// write at once.
pub async fn book_verdicts<T: ReplicaTx>(
    tx: &T,
    epoch: &Epoch,
    verdicts: &[(String, Verdict)],
    now: Timestamp,
) -> Result<Touched, T::Error> {
    check_epoch(tx, epoch).await?;
    let event_ids: Vec<String> = verdicts.iter().map(|(id, _)| id.clone()).collect();
    let entries = tx.entries(&event_ids).await?;
    // The records whose events are booked here, each once, and those of them whose
    // field-scoped update was refused with the server's copy (their local copy is needed).
    let mut keys: Vec<(Model, String)> = Vec::new();
    let mut refused_fields: Vec<(Model, String)> = Vec::new();
    for ((_, verdict), entry) in verdicts.iter().zip(&entries) {
        let Some(entry) = entry.as_ref().filter(|entry| entry.event.is_pending()) else {
            continue;
        };
        let Some(key) = entry.record_key() else {
            continue;
        };
        let refused_with_state = matches!(
            verdict,
            Verdict::Rejected {
                server_state: Some(_),
                ..
            }
        );
        if refused_with_state
            && field_scope(&entry.event).is_some()
            && !refused_fields.contains(&key)
        {
            refused_fields.push(key.clone());
        }
        if !keys.contains(&key) {
            keys.push(key);
        }
    }
    let (waiting, metas, locals) = futures::try_join!(
        try_join_all(keys.iter().map(|(model, id)| tx.pending_of(*model, id))),
        tx.metas(&keys),
        try_join_all(
            refused_fields
                .iter()
                .map(|(model, id)| tx.record(*model, id))
        ),
    )?;
    // Each record's events still waiting, as booking goes on.
    let mut waiting: HashMap<(Model, String), Vec<OutboxEvent>> = keys
        .iter()
        .cloned()
        .zip(waiting)
        .map(|(key, entries)| (key, entries.into_iter().map(|e| e.event).collect()))
        .collect();
    let mut metas: HashMap<(Model, String), VersionMeta> = keys
        .iter()
        .cloned()
        .zip(metas)
        .map(|(key, meta)| {
            let meta = meta.unwrap_or_else(|| VersionMeta::new(key.0, &key.1));
            (key, meta)
        })
        .collect();
    // The local copies of the records, as the roll-backs of this pass leave them.
    let mut locals: HashMap<(Model, String), Option<Record>> =
        refused_fields.into_iter().zip(locals).collect();

    let mut changed = Touched::default();
    let mut writes = Vec::new();
    // The newest changelog id marked applied here: the bound that lets pulled pages skip
    // the metadata must stay at or above every record's last applied id.
    let mut newest_applied: Option<&str> = None;
    let mut booked_through = 0;
    for ((_, verdict), entry) in verdicts.iter().zip(entries) {
        let Some(mut entry) = entry else {
            continue;
        };
        // An answer for an event booked already (a replayed request) changes nothing.
        if !entry.event.is_pending() {
            continue;
        }
        booked_through = booked_through.max(entry.seq);
        entry.book(verdict, now);
        let key = entry.record_key();
        let booked = entry.event.clone();
        let still_pending = entry.event.is_pending();
        writes.push(Write::PutEntry(entry));
        let Some(key) = key else {
            continue;
        };
        let events = waiting.entry(key.clone()).or_default();
        if !still_pending {
            events.retain(|event| event.id != booked.id);
        }
        let others = Pending::of(events.iter());
        let (model, id) = (key.0, key.1.as_str());
        match verdict {
            Verdict::Applied { changelog_id } => {
                if field_scope(&booked).is_none() {
                    // The server's record is this change, whole: older entries of it are
                    // stale, and so is its echo.
                    if let Some(meta) = metas.get_mut(&key) {
                        meta.applied(changelog_id);
                        newest_applied = newest_applied.max(Some(changelog_id.as_str()));
                    }
                }
            }
            Verdict::Retry(_) => {}
            Verdict::Rejected { server_state, .. } => {
                // Without the server's state the change cannot be undone: keep it (the
                // person sees the refusal).
                if let Some(state) = server_state {
                    let local = locals.get(&key).cloned().flatten();
                    if let Some(write) = roll_back(&booked, &others, state, local) {
                        if let Write::PutRecord(record) = &write {
                            locals.insert(key.clone(), Some(record.clone()));
                        }
                        writes.push(write);
                        changed.record(model, id);
                    }
                    let board_restored = model == Model::Board
                        && booked.op() == Some(Operation::Delete)
                        && others.is_nothing()
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
            meta.local_change_pending = !others.is_nothing();
        }
    }
    writes.extend(
        keys.iter()
            .filter_map(|key| metas.remove(key))
            .map(Write::PutMeta),
    );
    futures::try_join!(tx.write_all(&writes), async {
        match newest_applied {
            Some(id) => tx.raise_applied_bound(id).await,
            None => Ok(()),
        }
    })?;
    if booked_through > 0 {
        raise_queue_floor(tx, booked_through).await?;
    }
    Ok(changed)
}

/// Raises the queue floor to the first event still waiting, read after this booking's
/// writes. With none waiting, it goes past the events booked (`booked_through`), not
/// further: the next local change is numbered after the newest event, which may be
/// one of them. Only a read of the index moves it, so no event that waits is ever
/// below it; an event can start waiting only as a new one, numbered after every other.
async fn raise_queue_floor<T: ReplicaTx>(tx: &T, booked_through: u32) -> Result<(), T::Error> {
    let floor = tx.queue_floor().await?;
    let raised = match tx.first_waiting_from(floor).await? {
        Some(seq) => seq,
        None => floor.max(booked_through + 1),
    };
    if raised > floor {
        tx.set_queue_floor(raised).await?;
    }
    Ok(())
}

/// What undoing the refused event `refused` writes, given the server's state of its
/// record, what the record's other events still waiting touch, and its local copy.
///
/// A field-scoped update gives back its fields that no waiting change touches, from the
/// server's copy. Anything else, or a record the server no longer has or this device no
/// longer holds, is put back whole (the server's copy, or removed when it has none), and
/// only when nothing else of the record waits. None when nothing is to be written.
fn roll_back(
    refused: &OutboxEvent,
    others: &Pending,
    state: &ServerState,
    local: Option<Record>,
) -> Option<Write> {
    let model = refused.model()?;
    let server = match &state.record {
        Some(value) => Some(Record::from_json(model, value.clone()).ok()?),
        None => None,
    };
    match (field_scope(refused), server, local) {
        (Some(fields), Some(server), Some(local)) => {
            let give_back: Vec<String> = others.free_of(fields).into_iter().cloned().collect();
            let restored = local.with_fields_of(&server, &give_back).ok()?;
            (restored != local).then_some(Write::PutRecord(restored))
        }
        (_, server, _) if others.is_nothing() => Some(match server {
            Some(record) => Write::PutRecord(record),
            None => Write::RemoveRecord(model, refused.record_id()?.to_string()),
        }),
        _ => None,
    }
}

/// What a pulled entry does to its record.
#[derive(Debug, Clone, PartialEq)]
pub enum Pulled {
    /// The record has this change or a newer one, or a local change of the whole record
    /// that waits to be pushed (newer to this device; a refusal brings the server's state
    /// back).
    Stale,
    /// The record becomes this: the server's copy, with the fields that local changes
    /// waiting to be pushed touch kept as they are here (a rebase).
    Put(Record),
    Remove,
    /// Not a delete, yet no record: it was deleted since, and that follows in the log.
    Missing,
    /// An entry this client cannot read.
    Invalid,
}

/// Decides what `entry` does, given its record's metadata, what of the record local
/// changes still waiting touch, and (when they touch some fields) its local copy.
///
/// A delete of a record with local updates waiting keeps the local copy: pushing them
/// brings the record back on the server from their full payload (the server's rule for
/// an update of a gone record), so every device ends with it; if the server refuses them
/// instead, the refusal removes it here.
pub fn decide_pulled(
    meta: Option<&VersionMeta>,
    pending: &Pending,
    local: Option<&Record>,
    model: Model,
    entry: &LogWithRecord,
) -> Pulled {
    let mine = !pending.is_nothing();
    if meta.is_some_and(|m| m.is_stale(&entry.changelog_id)) || *pending == Pending::Whole {
        return Pulled::Stale;
    }
    let Some(id) = entry.record_id() else {
        return Pulled::Invalid;
    };
    match (&entry.record, entry.operation) {
        (None, Operation::Delete) if mine => Pulled::Stale,
        (None, Operation::Delete) => Pulled::Remove,
        (None, _) => Pulled::Missing,
        (Some(value), _) => match Record::from_json(model, value.clone()) {
            Ok(record) if record.id().to_string() == id => match pending.rebase(record, local) {
                Some(record) => Pulled::Put(record),
                None => Pulled::Stale,
            },
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
///
/// A fresh replica (no record has metadata, as on a new device during its first sync)
/// does not write any on the forward path either, but for removals: its records are
/// then those only pulled pages wrote, and an entry that comes again (at or below
/// [`ReplicaTx::pulled_through`], in a replay) is stale for such a record when it is
/// here and brings it back when it is not (it went with its board).
pub async fn apply_page<T: ReplicaTx>(
    tx: &T,
    epoch: &Epoch,
    page: &PullResponse,
) -> Result<(PullStats, Touched), T::Error> {
    let ((), bound, pending, through, has_metas) = futures::try_join!(
        check_epoch(tx, epoch),
        tx.applied_bound(),
        tx.pending_total(),
        tx.pulled_through(),
        tx.has_metas()
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
    // A fresh replica (no record has metadata: nothing but pulled pages ever wrote to
    // it, as on a new device) keeps none on the forward path either, but for removals:
    // one put per pulled record, not two. Its records' entries come again only in a
    // replay, and then `redelivered` below finds them present and skips them.
    let fresh = forward && !has_metas;
    let mut metas = if forward {
        vec![None; keys.len()]
    } else {
        tx.metas(&keys).await?
    };
    // Entries a page brought before (the changelog read again from its start): a record
    // without metadata that is here has them already (only pulled pages wrote it); one
    // that is not here was taken away locally with its board and comes back. (None on
    // the forward path: every entry there is after the bound, so after `through`.)
    let redelivered = |entry: &LogWithRecord| entry.changelog_id.as_str() <= through.as_str();
    let mut again: Vec<(Model, String)> = Vec::new();
    for ((model, id, entry), meta) in readable.iter().zip(&metas) {
        let key = (*model, id.clone());
        if meta.is_none() && redelivered(entry) && !again.contains(&key) {
            again.push(key);
        }
    }
    // Only a record marked as having local changes waiting has some: what they touch, and
    // its local copy to keep those fields from, are read for those alone. One more round
    // of requests, with whether the records that came again are here, and none when
    // nothing waits and nothing came again, as on the forward path.
    let mut marked: Vec<(Model, String)> = Vec::new();
    for (key, meta) in keys.iter().zip(&metas) {
        if meta.as_ref().is_some_and(|m| m.local_change_pending) && !marked.contains(key) {
            marked.push(key.clone());
        }
    }
    let (parts, locals, here) = futures::try_join!(
        try_join_all(marked.iter().map(|(model, id)| tx.pending_part(*model, id))),
        try_join_all(marked.iter().map(|(model, id)| tx.record(*model, id))),
        try_join_all(again.iter().map(|(model, id)| tx.record(*model, id))),
    )?;
    let present: HashSet<(Model, String)> = again
        .into_iter()
        .zip(here)
        .filter_map(|(key, record)| record.map(|_| key))
        .collect();
    let mine: HashMap<(Model, String), (Pending, Option<Record>)> = marked
        .into_iter()
        .zip(parts.into_iter().zip(locals))
        .collect();
    let mut writes = Vec::with_capacity(readable.len() * 2);
    // Where each record was last seen in the page: a page may name one record twice, and
    // the second entry sees the first's metadata. (A map, not a scan back: pages run to
    // a thousand entries.)
    let mut last_seen: HashMap<(Model, &str), usize> = HashMap::with_capacity(readable.len());
    for (index, (model, id, entry)) in readable.iter().enumerate() {
        let meta = match last_seen.insert((*model, id.as_str()), index) {
            Some(position) => metas[position].clone(),
            None => metas[index].clone(),
        };
        metas[index] = meta.clone();
        let (pending, local) = match mine.get(&(*model, id.clone())) {
            Some((pending, local)) => (pending, local.as_ref()),
            None => (&Pending::Nothing, None),
        };
        if meta.is_none() && redelivered(entry) && present.contains(&(*model, id.clone())) {
            stats.stale += 1;
            continue;
        }
        let removed = match decide_pulled(meta.as_ref(), pending, local, *model, entry) {
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
            Pulled::Put(record) => {
                writes.push(Write::PutRecord(record));
                false
            }
            Pulled::Remove => {
                writes.push(Write::RemoveRecord(*model, id.clone()));
                true
            }
        };
        let mut meta = meta.unwrap_or_else(|| VersionMeta::new(*model, id));
        meta.applied(&entry.changelog_id);
        // A removal keeps its metadata even on a fresh replica: a replay must not bring
        // the record back.
        if !fresh || removed {
            writes.push(Write::PutMeta(meta.clone()));
        }
        metas[index] = Some(meta);
        stats.applied += 1;
        affected.record(*model, id);
    }
    let last = page
        .logs_with_records
        .iter()
        .map(|entry| entry.changelog_id.as_str())
        .max();
    let newest = last.filter(|newest| *newest > bound.as_str());
    let delivered = last.filter(|last| *last > through.as_str());
    futures::try_join!(
        tx.write_all(&writes),
        async {
            match delivered {
                Some(last) => tx.set_pulled_through(last).await,
                None => Ok(()),
            }
        },
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
