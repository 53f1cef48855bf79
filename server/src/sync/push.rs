//! Push: apply a batch of outbox events in order, in one transaction, and answer one
//! result per event. A failing event never stops the rest.
//!
//! A change to a board or a todo goes to the changelog of every scope in the board's
//! audience (its owner and members, see [`scope::audience`]), a change to a user's
//! profile to the user and every member of their boards: the transaction holds the lock
//! of each of those scopes, and always the board owner's, which membership changes take
//! too. Who the audience is, is only known once the batch has read its records; so the
//! batch locks the pusher's scope, reads, and when its audience holds scopes it does not
//! hold, starts again holding those as well (see [`SyncService::push_batch`]).
//!
//! The batch reads what its events need in a few queries up front ([`Known`]). Every refusal is decided before an event writes anything, so
//! only a fault (a database error, a lost race for a new id) can stop an event after
//! it wrote. The batch is first applied with its writes sent together (all its new
//! todos in one statement; entries, receipts and id claims at commit, a statement
//! each, or all in one on PostgreSQL). Should that fault, nothing of it is committed and the batch is applied again
//! with a savepoint per event: the faulty event is rolled back alone and the others
//! still apply. Either way every event gets the answer it would get on its own.
//!
//! Per event: replay (an applied event id answers its changelog id again and changes
//! nothing), retry limit, validation, the field-level merge of an update that names the
//! fields it changed ([`merge`]), scope, custom rules, then the change and its changelog
//! entries. Entries name a record, not a version of it: a pull sends the record as
//! stored, so every client gets the merged record.

use super::custom::Verdict;
use super::{reject, scope, Failure, SyncService};
use crate::storage::{Receipt, ScopeTx, ScopeView};
use crate::Error;
use async_trait::async_trait;
use std::borrow::Cow;
use std::collections::HashMap;
use sync_protocol::push::ServerState;
use sync_protocol::validation::validate_event;
use sync_protocol::{
    Board, ChangelogId, Model, Operation, OutboxEvent, PushError, PushErrorKind, PushResult,
    Record, Todo, User, ValidatedEvent,
};
use uuid::Uuid;

/// What the client is told when we fail: nothing about why (that is in our log).
const UNEXPECTED: &str = "An unexpected error occurred";

/// How many rounds a batch gets to lock every scope its audience holds. Each round that
/// finds scopes it did not lock rolls back and starts again holding the union; the
/// audience read in one round can still change before the next one takes its locks
/// (someone joins a board between the rollback and the new locks, or a todo moves onto
/// a board of another audience), and that forces another round. After the last round
/// the events get a retryable error and nothing is applied.
const LOCK_ROUNDS: usize = 4;

impl SyncService {
    /// Applies `events` for `user`, in order; the commit pokes the streams of every scope
    /// whose changelog grew.
    pub async fn push(&self, user: &User, events: &[OutboxEvent]) -> Vec<PushResult> {
        let mut outcome = self.push_batch(user.id, events, Isolation::Together).await;
        if let Err(error) = &outcome {
            // Nothing of it committed: event by event, the fault stays with its event.
            tracing::debug!(
                "push of {} events again, event by event: {error}",
                events.len()
            );
            outcome = self.push_batch(user.id, events, Isolation::PerEvent).await;
        }
        // Another scope committed a claim on one of the batch's new ids (or event ids)
        // between our reads and our commit: one more try reads its rows and answers as
        // if the two requests had come one after the other (SCOPE_VIOLATION).
        if matches!(&outcome, Err(error) if error.is_write_conflict()) {
            outcome = self.push_batch(user.id, events, Isolation::PerEvent).await;
        }
        match outcome {
            Ok(results) => results,
            Err(error) => {
                // Nothing of the batch committed: every event may be tried again.
                tracing::error!("push of {} events failed: {error}", events.len());
                events.iter().map(unexpected).collect()
            }
        }
    }

    /// The batch in one transaction; an error means nothing of it was committed.
    ///
    /// The transaction holds the scopes of the batch's audience: it first holds the
    /// pusher's, reads, works out the audience from what it read and, when that holds a
    /// scope it does not, rolls back and starts again holding the union (locks are taken
    /// in one fixed order, so several at once cannot deadlock). What it reads holding a
    /// board's owner is stable: membership changes hold the owner's lock too.
    async fn push_batch(
        &self,
        scope: Uuid,
        events: &[OutboxEvent],
        isolation: Isolation,
    ) -> Result<Vec<PushResult>, Error> {
        let mut held = vec![scope];
        for _ in 0..LOCK_ROUNDS {
            let mut tx = self.store.begin_scopes(scope, &held).await?;
            let mut known = Known::prefetch(tx.as_mut(), events).await?;
            let audience = known.audience(tx.as_mut(), events).await?;
            let missing: Vec<Uuid> = audience
                .into_iter()
                .filter(|member| !tx.holds(*member))
                .collect();
            if missing.is_empty() {
                return self.apply_batch(tx, &mut known, events, isolation).await;
            }
            // Only read so far: let go of the locks before taking them all again.
            tx.rollback().await?;
            held.extend(missing);
        }
        Err(Error::WriteConflict(
            "the audience of the batch kept growing".into(),
        ))
    }

    /// The batch's events in `tx`, which holds their audience; commits when any applied.
    async fn apply_batch(
        &self,
        mut tx: Box<dyn ScopeTx>,
        known: &mut Known,
        events: &[OutboxEvent],
        isolation: Isolation,
    ) -> Result<Vec<PushResult>, Error> {
        let mut results = Vec::with_capacity(events.len());
        let mut grew = false;
        for event in events {
            let (result, applied) = self.push_one(tx.as_mut(), known, event, isolation).await?;
            grew |= applied;
            results.push(result);
        }
        if grew {
            tx.commit().await?;
        }
        // Otherwise dropping the transaction rolls back what was only read.
        Ok(results)
    }

    /// One event's result and whether it appended to the changelog; an error when the
    /// transaction itself can go no further, and for any fault under
    /// [`Isolation::Together`].
    async fn push_one(
        &self,
        tx: &mut dyn ScopeTx,
        known: &mut Known,
        event: &OutboxEvent,
        isolation: Isolation,
    ) -> Result<(PushResult, bool), Error> {
        // Decided without the database: no savepoint needed.
        let valid = match self.precheck(tx.scope(), known, event) {
            Ok(Precheck::Valid(valid)) => valid,
            Ok(Precheck::Replayed(seq)) => return Ok((applied(event, seq), false)),
            Err(Failure::Rejected(kind, message)) => {
                return Ok((self.rejected(tx, known, event, kind, message).await?, false))
            }
            Err(Failure::Fault(error)) => return Err(error),
        };
        let isolated = isolation == Isolation::PerEvent;
        let mut retried = false;
        loop {
            if isolated {
                tx.savepoint().await?;
            }
            let outcome = {
                let mut view = Cached { tx, known };
                self.decide_and_apply(&mut view, &valid, &event.id).await
            };
            match outcome {
                Ok(seq) => {
                    if isolated {
                        tx.release_savepoint().await?;
                    }
                    known.receipts.insert(
                        event.id.clone(),
                        Receipt {
                            scope_key: tx.scope().to_string(),
                            seq,
                        },
                    );
                    return Ok((applied(event, seq), true));
                }
                Err(Failure::Rejected(kind, message)) => {
                    // Nothing was written; the savepoint goes either way.
                    if isolated {
                        tx.release_savepoint().await?;
                    }
                    return Ok((self.rejected(tx, known, event, kind, message).await?, false));
                }
                // No savepoint to go back to: the batch goes again, event by event.
                Err(Failure::Fault(error)) if !isolated => return Err(error),
                Err(Failure::Fault(error)) => {
                    tx.rollback_to_savepoint().await?;
                    // What this event read or wrote may be stale now: read it afresh.
                    known.forget(&valid.record);
                    if error.is_write_conflict() && !retried {
                        retried = true;
                        continue;
                    }
                    tracing::error!("push of event {} failed: {error}", event.id);
                    return Ok((unexpected(event), false));
                }
            }
        }
    }

    /// The checks that need no database: replay, retry limit, validation.
    fn precheck(
        &self,
        scope: Uuid,
        known: &Known,
        event: &OutboxEvent,
    ) -> Result<Precheck, Failure> {
        if let Some(receipt) = known.receipts.get(&event.id) {
            if receipt.scope_key == scope.to_string() {
                return Ok(Precheck::Replayed(receipt.seq));
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
        validate_event(event)
            .map(Precheck::Valid)
            .map_err(|invalid| Failure::Rejected(invalid.kind, invalid.message))
    }

    /// The merge, scope and custom rules, then the change; returns the event's entry.
    /// The rules judge the record as it would be stored, the merged one.
    async fn decide_and_apply(
        &self,
        view: &mut Cached<'_>,
        valid: &ValidatedEvent,
        event_id: &str,
    ) -> Result<u64, Failure> {
        let merged = merge(view, valid).await?;
        let valid = merged.as_ref();
        scope::authorize(view, valid).await?;
        for validator in &self.validators {
            if let Verdict::Reject(message) = validator.check(valid, view).await? {
                return reject(PushErrorKind::CustomValidationFailed, message);
            }
        }
        let seq = apply(view, valid, event_id).await?;
        view.tx.save_receipt(event_id, seq).await?;
        Ok(seq)
    }

    /// A permanent refusal, with the record as the user may see it now (null when there
    /// is none or the event does not name one), so the client can roll its change back.
    async fn rejected(
        &self,
        tx: &mut dyn ScopeTx,
        known: &mut Known,
        event: &OutboxEvent,
        kind: PushErrorKind,
        message: String,
    ) -> Result<PushResult, Error> {
        let mut result = PushResult::failed(event.id.clone(), PushError::new(kind, message));
        let state = match (event.model(), event.record_id().map(Uuid::parse_str)) {
            (Some(model), Some(Ok(id))) => {
                let mut view = Cached { tx, known };
                scope::visible_record(&mut view, model, id)
                    .await?
                    .as_ref()
                    .map(Record::to_json)
            }
            _ => None,
        };
        result.server_state = Some(ServerState { record: state });
        Ok(result)
    }
}

/// How the events of a batch are kept apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Isolation {
    /// No savepoints: the store may send the batch's writes together, and any fault
    /// fails the whole batch (nothing of it commits).
    Together,
    /// A savepoint per event: a fault rolls back that event alone.
    PerEvent,
}

/// What the checks that need no database concluded.
enum Precheck {
    Valid(ValidatedEvent),
    Replayed(u64),
}

/// The event as it is to be applied. An update that names the fields it changed takes
/// just those from its payload onto the record as it is now, so that a concurrent edit
/// of another field survives (the field-level merge); when the record is gone, or is not
/// the pusher's to see, the payload is taken whole, as for an event without
/// changedFields (a prisma-idb client's): a resurrection, or a refusal by the scope
/// rules exactly as without the merge.
///
/// "As it is now" includes the earlier events of the same batch: `view` answers from
/// what the batch wrote, so a batch merges as its events would one push at a time.
async fn merge<'e>(
    view: &mut dyn ScopeView,
    event: &'e ValidatedEvent,
) -> Result<Cow<'e, ValidatedEvent>, Failure> {
    let (Operation::Update, Some(fields)) = (event.operation, &event.changed_fields) else {
        return Ok(Cow::Borrowed(event));
    };
    let record = &event.record;
    let Some(current) = scope::visible_record(view, record.model(), record.id()).await? else {
        return Ok(Cow::Borrowed(event));
    };
    // Validation allowed only fields of the model, so this refusal is a safeguard.
    let merged = current.with_fields_of(record, fields).map_err(|unknown| {
        Failure::Rejected(PushErrorKind::RecordValidationFailure, unknown.to_string())
    })?;
    Ok(Cow::Owned(ValidatedEvent {
        operation: event.operation,
        record: merged,
        changed_fields: event.changed_fields.clone(),
    }))
}

/// Writes the change and its changelog entries (to every scope of its audience);
/// returns the event's own entry, the pusher's.
async fn apply(
    view: &mut Cached<'_>,
    event: &ValidatedEvent,
    event_id: &str,
) -> Result<u64, Error> {
    let record = &event.record;
    let scope = view.scope();
    let (model, id) = (record.model(), record.id());
    // Scopes told of the change as another operation: a todo moved onto a board they
    // do not see is gone for them, one moved onto a board they see is new to them.
    let mut others: Vec<(Uuid, Operation)> = Vec::new();
    let audience = match event.operation {
        // Create of an id that exists (in this scope) is an upsert, like update: the last
        // change the server applies wins.
        Operation::Create | Operation::Update => {
            let (owner, audience) = match record {
                Record::User(_) => (scope, view.profile_audience().await?),
                Record::Board(board) => (scope, scope::audience(view, board).await?),
                Record::Todo(todo) => {
                    // The todo is its board owner's, whoever of the audience writes it;
                    // moved between boards, both audiences learn of it.
                    let target = view.board(todo.board_id).await?.ok_or_else(|| {
                        Error::Internal(format!("board {} vanished", todo.board_id))
                    })?;
                    let mut audience = scope::audience(view, &target).await?;
                    if let Some(stored) = view.todo(id).await? {
                        if stored.board_id != todo.board_id {
                            if let Some(before) = view.board(stored.board_id).await? {
                                let before = scope::audience(view, &before).await?;
                                for gone in before.iter().filter(|s| !audience.contains(s)) {
                                    others.push((*gone, Operation::Delete));
                                }
                                for new in audience.iter().filter(|s| !before.contains(s)) {
                                    others.push((*new, Operation::Create));
                                }
                                audience.retain(|s| before.contains(s));
                            }
                        }
                    }
                    (target.user_id, audience)
                }
            };
            if model != Model::User && view.owner(id).await? != Some(owner) {
                view.tx.claim(id, owner).await?;
            }
            view.tx.put(record).await?;
            view.known.put(owner, record);
            audience
        }
        Operation::Delete => match model {
            Model::Board => match view.board(id).await? {
                Some(board) => return delete_board(view, &board, event_id).await,
                None => vec![scope],
            },
            Model::Todo => {
                let board = match view.todo(id).await? {
                    Some(todo) => view.board(todo.board_id).await?,
                    None => None,
                };
                let audience = match board {
                    Some(board) => scope::audience(view, &board).await?,
                    // Gone already: only the pusher needs to hear of it again.
                    None => vec![scope],
                };
                view.tx.remove(model, id).await?;
                view.known.remove(model, id);
                audience
            }
            Model::User => return Err(Error::Internal("users are not removed by sync".into())),
        },
    };
    let own = view
        .tx
        .append(&audience, model, id, event.operation, event_id)
        .await?;
    for (other, operation) in others {
        view.tx
            .append(&[other], model, id, operation, event_id)
            .await?;
    }
    own_entry(own)
}

/// Deletes a board for its whole audience: its todos' deletes, then its own, reach every
/// member (appended before the rows go), the memberships go with it, and a member who
/// shares no other board of the owner any more is told to forget the owner's profile.
async fn delete_board(view: &mut Cached<'_>, board: &Board, event_id: &str) -> Result<u64, Error> {
    let audience = scope::audience(view, board).await?;
    // The database removes the todos with their board; their entries make clients
    // remove them too.
    for todo in view.tx.todo_ids_of_board(board.id).await? {
        view.tx
            .append(&audience, Model::Todo, todo, Operation::Delete, event_id)
            .await?;
    }
    view.tx.remove(Model::Board, board.id).await?;
    view.known.remove(Model::Board, board.id);
    let own = view
        .tx
        .append(
            &audience,
            Model::Board,
            board.id,
            Operation::Delete,
            event_id,
        )
        .await?;
    // Read after the delete (reads send the writes before them): only other boards.
    for member in audience.iter().filter(|member| **member != board.user_id) {
        if view.shared_boards(board.user_id, *member).await?.is_empty() {
            view.tx
                .append(
                    &[*member],
                    Model::User,
                    board.user_id,
                    Operation::Delete,
                    event_id,
                )
                .await?;
        }
    }
    own_entry(own)
}

/// The pusher's entry: they are always in the audience of what they may change.
fn own_entry(seq: Option<u64>) -> Result<u64, Error> {
    seq.ok_or_else(|| Error::Internal("the pusher is not in the audience of its change".into()))
}

fn applied(event: &OutboxEvent, seq: u64) -> PushResult {
    PushResult::applied(event.id.clone(), ChangelogId::new(seq).to_string())
}

fn unexpected(event: &OutboxEvent) -> PushResult {
    let error = PushError::new(PushErrorKind::UnknownError, UNEXPECTED);
    PushResult::failed(event.id.clone(), error)
}

/// What the batch has read (and then written) of the database, so that each event's
/// checks cost no query of their own. `None` means "read, and absent".
#[derive(Default)]
struct Known {
    receipts: HashMap<String, Receipt>,
    boards: HashMap<Uuid, Option<Board>>,
    todos: HashMap<Uuid, Option<Todo>>,
    owners: HashMap<Uuid, Option<Uuid>>,
    /// The members of the boards read so far.
    members: HashMap<Uuid, Vec<Uuid>>,
    /// The members of the pusher's boards, once read: who their profile changes reach.
    profile_members: Option<Vec<Uuid>>,
    /// Whether `boards` holds every board of the scope: read once, then kept up to date
    /// by the batch's own writes (only the scope's writers, who hold its lock, can add
    /// or remove its boards).
    scope_boards: bool,
}

impl Known {
    /// Reads, in a few queries (one on PostgreSQL), what the batch's events will ask
    /// about: their receipts, the records they name and those records' parents, and who
    /// owns each id.
    async fn prefetch(tx: &mut dyn ScopeTx, events: &[OutboxEvent]) -> Result<Known, Error> {
        let mut known = Known::default();
        let event_ids: Vec<&str> = events.iter().map(|event| event.id.as_str()).collect();

        let uuid_of = |value: Option<&serde_json::Value>| -> Option<Uuid> {
            value
                .and_then(|v| v.as_str())
                .and_then(|s| Uuid::parse_str(s).ok())
        };
        let (mut board_ids, mut todo_ids) = (Vec::new(), Vec::new());
        for event in events {
            let id = uuid_of(event.payload.get("id"));
            match event.model() {
                Some(Model::Board) => board_ids.extend(id),
                Some(Model::Todo) => {
                    todo_ids.extend(id);
                    board_ids.extend(uuid_of(event.payload.get("boardId")));
                }
                _ => {}
            }
        }
        dedup(&mut todo_ids);
        dedup(&mut board_ids);
        let found = tx.prefetch(&event_ids, &todo_ids, &board_ids).await?;
        known.receipts = found.receipts.into_iter().collect();
        for todo in found.todos {
            // A todo's stored board decides whose it is now.
            board_ids.push(todo.board_id);
            known.todos.insert(todo.id, Some(todo));
        }
        for id in &todo_ids {
            known.todos.entry(*id).or_insert(None);
        }
        dedup(&mut board_ids);
        for board in found.boards {
            known.boards.insert(board.id, Some(board));
        }
        for id in &board_ids {
            known.boards.entry(*id).or_insert(None);
        }
        for (id, owner) in found.owners {
            known.owners.insert(id, Some(owner));
        }
        // A board found has the members read with it; one not found has none, and none
        // can join it before it exists (joining needs the board and its owner's lock).
        for id in known.boards.keys() {
            known.members.insert(*id, Vec::new());
        }
        for (board, member) in found.members {
            known.members.entry(board).or_default().push(member);
        }
        for id in board_ids.into_iter().chain(todo_ids) {
            known.owners.entry(id).or_insert(None);
        }
        Ok(known)
    }

    /// Every scope the batch may append to, as far as what it read shows: the pusher,
    /// the audience of each board it read that the pusher is in (the others' events are
    /// refused), and for a change of the pusher's profile, the members of their boards.
    async fn audience(
        &mut self,
        tx: &mut dyn ScopeTx,
        events: &[OutboxEvent],
    ) -> Result<Vec<Uuid>, Error> {
        let scope = tx.scope();
        let mut audience = vec![scope];
        for board in self.boards.values().flatten() {
            let members = self.members.get(&board.id).map_or(&[][..], Vec::as_slice);
            if board.user_id == scope || members.contains(&scope) {
                audience.push(board.user_id);
                audience.extend_from_slice(members);
            }
        }
        if events
            .iter()
            .any(|event| event.model() == Some(Model::User))
        {
            let members = tx.members_of_owner(scope).await?;
            audience.extend_from_slice(&members);
            self.profile_members = Some(members);
        }
        dedup(&mut audience);
        Ok(audience)
    }

    /// After `owner`'s `record` was written.
    fn put(&mut self, owner: Uuid, record: &Record) {
        match record {
            Record::User(_) => return,
            Record::Board(board) => {
                self.boards.insert(board.id, Some(board.clone()));
            }
            Record::Todo(todo) => {
                self.todos.insert(todo.id, Some(todo.clone()));
            }
        }
        self.owners.insert(record.id(), Some(owner));
    }

    /// After a record was deleted (a board with its todos); owners stay.
    fn remove(&mut self, model: Model, id: Uuid) {
        match model {
            Model::Board => {
                self.boards.insert(id, None);
                // Memberships go with the board.
                self.members.insert(id, Vec::new());
                for todo in self.todos.values_mut() {
                    if todo.as_ref().is_some_and(|todo| todo.board_id == id) {
                        *todo = None;
                    }
                }
            }
            Model::Todo => {
                self.todos.insert(id, None);
            }
            Model::User => {}
        }
    }

    /// Drops what is known of `record` and its parent, to be read again.
    fn forget(&mut self, record: &Record) {
        self.scope_boards = false;
        for id in [Some(record.id()), record.parent_id()]
            .into_iter()
            .flatten()
        {
            self.boards.remove(&id);
            self.todos.remove(&id);
            self.owners.remove(&id);
            self.members.remove(&id);
        }
    }
}

fn dedup(ids: &mut Vec<Uuid>) {
    ids.sort_unstable();
    ids.dedup();
}

/// The scope transaction seen through what the batch knows: reads come from [`Known`]
/// when it has them, from the database (and are then remembered) when not.
struct Cached<'a> {
    tx: &'a mut dyn ScopeTx,
    known: &'a mut Known,
}

#[async_trait]
impl ScopeView for Cached<'_> {
    fn scope(&self) -> Uuid {
        self.tx.scope()
    }

    async fn user(&mut self, id: Uuid) -> Result<Option<User>, Error> {
        self.tx.user(id).await
    }

    async fn board(&mut self, id: Uuid) -> Result<Option<Board>, Error> {
        if let Some(board) = self.known.boards.get(&id) {
            return Ok(board.clone());
        }
        let board = self.tx.board(id).await?;
        self.known.boards.insert(id, board.clone());
        Ok(board)
    }

    async fn todo(&mut self, id: Uuid) -> Result<Option<Todo>, Error> {
        if let Some(todo) = self.known.todos.get(&id) {
            return Ok(todo.clone());
        }
        let todo = self.tx.todo(id).await?;
        self.known.todos.insert(id, todo.clone());
        Ok(todo)
    }

    async fn boards_of_user(&mut self, user: Uuid) -> Result<Vec<Board>, Error> {
        if user != self.tx.scope() {
            return self.tx.boards_of_user(user).await;
        }
        if !self.known.scope_boards {
            for board in self.tx.boards_of_user(user).await? {
                self.known.boards.entry(board.id).or_insert(Some(board));
            }
            self.known.scope_boards = true;
        }
        Ok(self
            .known
            .boards
            .values()
            .flatten()
            .filter(|board| board.user_id == user)
            .cloned()
            .collect())
    }

    async fn todo_ids_of_board(&mut self, board: Uuid) -> Result<Vec<Uuid>, Error> {
        self.tx.todo_ids_of_board(board).await
    }

    async fn owner(&mut self, id: Uuid) -> Result<Option<Uuid>, Error> {
        if let Some(owner) = self.known.owners.get(&id) {
            return Ok(*owner);
        }
        let owner = self.tx.owner(id).await?;
        self.known.owners.insert(id, owner);
        Ok(owner)
    }

    async fn members(&mut self, board: Uuid) -> Result<Vec<Uuid>, Error> {
        if let Some(members) = self.known.members.get(&board) {
            return Ok(members.clone());
        }
        let members = self.tx.members(board).await?;
        self.known.members.insert(board, members.clone());
        Ok(members)
    }

    async fn shared_boards(&mut self, owner: Uuid, member: Uuid) -> Result<Vec<Uuid>, Error> {
        self.tx.shared_boards(owner, member).await
    }

    async fn members_of_owner(&mut self, owner: Uuid) -> Result<Vec<Uuid>, Error> {
        self.tx.members_of_owner(owner).await
    }
}

impl Cached<'_> {
    /// Who a change of the pusher's profile reaches: the pusher and the members of their
    /// boards (read under the pusher's lock, with the batch's other reads).
    async fn profile_audience(&mut self) -> Result<Vec<Uuid>, Error> {
        let scope = self.tx.scope();
        let members = match &self.known.profile_members {
            Some(members) => members.clone(),
            None => self.tx.members_of_owner(scope).await?,
        };
        let mut audience = vec![scope];
        audience.extend(members);
        Ok(audience)
    }
}
