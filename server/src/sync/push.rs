//! Push: apply a batch of outbox events, each in its own transaction, in order, and
//! answer one result per event. A failing event never stops the rest.
//!
//! Per event: replay (an applied event id answers its changelog id again and changes
//! nothing), retry limit, validation, scope, custom rules, then the change and its
//! changelog entries, committed together.

use super::custom::Verdict;
use super::{reject, scope, Failure, SyncService};
use crate::storage::ScopeTx;
use crate::Error;
use sync_protocol::push::ServerState;
use sync_protocol::validation::validate_event;
use sync_protocol::{
    ChangelogId, Model, Operation, OutboxEvent, PushError, PushErrorKind, PushResult, Record, User,
    ValidatedEvent,
};
use uuid::Uuid;

/// What the client is told when we fail: nothing about why (that is in our log).
const UNEXPECTED: &str = "An unexpected error occurred";

/// How an event that was not rejected ended.
enum Done {
    /// Applied now, as entry `seq`.
    Applied(u64),
    /// Applied before, as entry `seq`.
    Replayed(u64),
}

impl SyncService {
    /// Applies `events` for `user`, in order, and pokes the user's streams if the
    /// changelog grew.
    pub async fn push(&self, user: &User, events: &[OutboxEvent]) -> Vec<PushResult> {
        let mut results = Vec::with_capacity(events.len());
        let mut grew = false;
        for event in events {
            let (result, applied) = self.push_one(user.id, event).await;
            grew |= applied;
            results.push(result);
        }
        if grew {
            if let Err(error) = self.store.notify(user.id).await {
                // The changes are committed; streams will hear of them on the next poke.
                tracing::warn!("could not poke the streams of {}: {error}", user.id);
            }
        }
        results
    }

    /// One event's result, and whether it appended to the changelog.
    async fn push_one(&self, scope: Uuid, event: &OutboxEvent) -> (PushResult, bool) {
        // A race lost to another scope for the same new id or event id: one more try
        // sees the winner's row and answers as if the requests had come one after the
        // other (SCOPE_VIOLATION).
        let mut retried = false;
        loop {
            match self.try_push_one(scope, event).await {
                Ok(outcome) => return outcome,
                Err(error) if error.is_write_conflict() && !retried => retried = true,
                Err(error) => {
                    tracing::error!("push of event {} failed: {error}", event.id);
                    let error = PushError::new(PushErrorKind::UnknownError, UNEXPECTED);
                    return (PushResult::failed(event.id.clone(), error), false);
                }
            }
        }
    }

    async fn try_push_one(
        &self,
        scope: Uuid,
        event: &OutboxEvent,
    ) -> Result<(PushResult, bool), Error> {
        let mut tx = self.store.begin_scope(scope).await?;
        match self.decide_and_apply(tx.as_mut(), event).await {
            Ok(Done::Applied(seq)) => {
                tx.commit().await?;
                Ok((applied(event, seq), true))
            }
            // Dropping the transaction rolls it back; it wrote nothing anyway.
            Ok(Done::Replayed(seq)) => Ok((applied(event, seq), false)),
            Err(Failure::Rejected(kind, message)) => {
                let state = server_state(tx.as_mut(), event).await?;
                let mut result =
                    PushResult::failed(event.id.clone(), PushError::new(kind, message));
                result.server_state = Some(ServerState { record: state });
                Ok((result, false))
            }
            Err(Failure::Fault(error)) => Err(error),
        }
    }

    async fn decide_and_apply(
        &self,
        tx: &mut dyn ScopeTx,
        event: &OutboxEvent,
    ) -> Result<Done, Failure> {
        if let Some(receipt) = tx.receipt(&event.id).await? {
            if receipt.scope_key == tx.scope().to_string() {
                return Ok(Done::Replayed(receipt.seq));
            }
            // Say nothing of the other scope, not even which entry it became there.
            return reject(
                PushErrorKind::ScopeViolation,
                "this event id was already used by another account",
            );
        }
        if event.tries > self.max_tries {
            return reject(
                PushErrorKind::MaxRetries,
                format!(
                    "the event was tried {} times, more than the {} allowed",
                    event.tries, self.max_tries
                ),
            );
        }
        let valid = validate_event(event)
            .map_err(|invalid| Failure::Rejected(invalid.kind, invalid.message))?;
        scope::authorize(tx, &valid).await?;
        for validator in &self.validators {
            if let Verdict::Reject(message) = validator.check(&valid, tx).await? {
                return reject(PushErrorKind::CustomValidationFailed, message);
            }
        }
        let seq = apply(tx, &valid, &event.id).await?;
        tx.save_receipt(&event.id, seq).await?;
        Ok(Done::Applied(seq))
    }
}

/// Writes the change and its changelog entries; returns the event's own entry.
async fn apply(tx: &mut dyn ScopeTx, event: &ValidatedEvent, event_id: &str) -> Result<u64, Error> {
    let record = &event.record;
    let (model, id) = (record.model(), record.id());
    match event.operation {
        // Create of an id that exists (in this scope) is an upsert, like update: the last
        // change the server applies wins.
        Operation::Create | Operation::Update => tx.put(record).await?,
        Operation::Delete => {
            if model == Model::Board && tx.board(id).await?.is_some() {
                // The database removes the todos with their board; their entries make
                // clients remove them too.
                for todo in tx.todo_ids_of_board(id).await? {
                    tx.append(Model::Todo, todo, Operation::Delete, event_id)
                        .await?;
                }
            }
            // A record already gone is still logged: the delete is acknowledged, and
            // every client converges on its absence.
            tx.remove(model, id).await?;
        }
    }
    tx.append(model, id, event.operation, event_id).await
}

fn applied(event: &OutboxEvent, seq: u64) -> PushResult {
    PushResult::applied(event.id.clone(), ChangelogId::new(seq).to_string())
}

/// The record a rejected event was about, as the user may see it now (null when there is
/// none or the event does not name one), so the client can roll its change back.
async fn server_state(
    tx: &mut dyn ScopeTx,
    event: &OutboxEvent,
) -> Result<Option<serde_json::Value>, Error> {
    let (Some(model), Some(Ok(id))) = (event.model(), event.record_id().map(Uuid::parse_str))
    else {
        return Ok(None);
    };
    Ok(scope::visible_record(tx, model, id)
        .await?
        .as_ref()
        .map(Record::to_json))
}
