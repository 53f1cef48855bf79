//! Local writes: the app's typed changes. Each runs inside one [`ReplicaTx`]: it changes
//! the record(s), appends the outbox event carrying the full record after the change
//! (with the change in words, for the notice if the server refuses it), and marks the
//! record as having a local change pending.
//!
//! An update also names the fields it changed (`changedFields`), so that the server
//! applies just those and a concurrent edit of another field on another device survives;
//! an update that changes nothing writes nothing. Creates and deletes are whole-record.

use super::meta::{Stamp, VersionMeta};
use super::outbox::OutboxEntry;
use super::touched::Touched;
use super::{Account, ReplicaTx, RuleError, Write};
use sync_protocol::validation::validate_record;
use sync_protocol::{Board, Model, Operation, OutboxEvent, Record, Timestamp, Todo, User};
use uuid::Uuid;

/// A todo's editable fields.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TodoEdit {
    pub title: String,
    pub description: Option<String>,
}

impl TodoEdit {
    /// Trimmed title; a blank description is no description.
    pub fn normalized(title: &str, description: Option<&str>) -> TodoEdit {
        TodoEdit {
            title: title.trim().to_string(),
            description: description
                .map(str::trim)
                .filter(|d| !d.is_empty())
                .map(str::to_string),
        }
    }
}

/// What a context's last local change left behind: the account it was made under, the
/// next outbox sequence number, and the change's [`Stamp`].
///
/// A create that has it reads nothing first, and waits for nothing before it commits:
/// it spends the stamp as it writes. Only a local change (of any context) or a sign-in
/// or sign-out changes the account or adds to the outbox, and each spends the stamp it
/// finds; so if anything changed them since, the stamp is spent already, the
/// transaction fails ([`RuleError::Outdated`]) and the change is made again the
/// ordinary way, reading first. A change is never written under a stale account or
/// number.
#[derive(Debug, Clone, PartialEq)]
pub struct Expected {
    pub account: Account,
    pub next_seq: u32,
    pub stamp: Stamp,
}

/// How long a context trusts what its last change left: a burst of changes goes
/// without reads, the first after a pause reads. Tombstones are kept far longer
/// ([`SPENT_STAMPS_KEPT_MS`]), so that one a context could still trust is never
/// forgotten, even if the clock moves (a stamp from the future is not trusted).
const TRUST_FOR_MS: i64 = 30_000;

/// How long the tombstone of a spent stamp is kept: a day.
const SPENT_STAMPS_KEPT_MS: i64 = 86_400_000;

impl Expected {
    /// Whether a change made at `now` may trust it.
    pub fn is_fresh(&self, now: Timestamp) -> bool {
        is_recent(&self.stamp, now)
    }
}

/// Whether `stamp` was made within [`TRUST_FOR_MS`] before `now`.
fn is_recent(stamp: &Stamp, now: Timestamp) -> bool {
    stamp
        .age(now)
        .is_some_and(|age| (0..TRUST_FOR_MS).contains(&age))
}

/// Makes a local change, calling `attempt` (one transaction each time) first with what
/// the context's last change left, and again, reading first, should that turn out
/// outdated. Answers the change's value and what the context's next change may trust.
pub async fn trusting<V, E: From<RuleError> + PartialEq>(
    expected: Option<Expected>,
    mut attempt: impl AsyncFnMut(Option<Expected>) -> Result<(V, Option<Expected>), E>,
) -> Result<(V, Option<Expected>), E> {
    let trusted = expected.is_some();
    match attempt(expected).await {
        Err(error) if trusted && error == E::from(RuleError::Outdated) => attempt(None).await,
        done => done,
    }
}

/// One local change in progress inside its transaction.
pub struct LocalWriter<'a, T: ReplicaTx> {
    tx: &'a T,
    next_seq: Option<u32>,
    pub now: Timestamp,
    new_id: &'a mut dyn FnMut() -> Uuid,
    /// The records this change touched, for the change notice.
    pub touched: Touched,
    /// What the context believes is current (see [`Expected`]).
    expected: Option<Expected>,
    /// The account the change was made under, as read or trusted in its transaction.
    account: Option<Account>,
    /// The stamp this change wrote (once it saved something).
    stamp: Option<Stamp>,
}

impl<'a, T: ReplicaTx> LocalWriter<'a, T> {
    pub fn new(tx: &'a T, now: Timestamp, new_id: &'a mut dyn FnMut() -> Uuid) -> Self {
        LocalWriter {
            tx,
            next_seq: None,
            now,
            new_id,
            touched: Touched::default(),
            expected: None,
            account: None,
            stamp: None,
        }
    }

    /// Lets creates trust `expected`, checking it as they write.
    pub fn expecting(mut self, expected: Option<Expected>) -> Self {
        self.expected = expected;
        self
    }

    /// What the context's next change may expect once this one has committed (None
    /// when it wrote nothing or had no account).
    pub fn expected_next(&self) -> Option<Expected> {
        Some(Expected {
            account: self.account.clone()?,
            next_seq: self.next_seq?,
            stamp: self.stamp.clone()?,
        })
    }

    pub fn tx(&self) -> &T {
        self.tx
    }

    async fn account(&self) -> Result<Account, T::Error> {
        Ok(self.tx.account().await?.ok_or(RuleError::SignedOut)?)
    }

    async fn record(&self, model: Model, id: Uuid) -> Result<Record, T::Error> {
        self.tx
            .record(model, &id.to_string())
            .await?
            .ok_or_else(|| not_found(model).into())
    }

    /// Reads what saving a change to a record needs: the next outbox sequence number,
    /// the stamp, the record's metadata and the account. A change issues it together
    /// with its own reads, so it costs one round of reads; its writes then go out
    /// together with no round of their own (see [`ReplicaTx::write_all`]).
    async fn prepare(&self, model: Model, id: Uuid) -> Result<Prepared, T::Error> {
        let tx = self.tx;
        let known_seq = self.next_seq;
        let seq = async {
            match known_seq {
                Some(seq) => Ok(seq),
                None => Ok(tx.last_seq().await? + 1),
            }
        };
        let key = [(model, id.to_string())];
        let (seq, mut metas, account, stamp) =
            futures::try_join!(seq, tx.metas(&key), tx.account(), tx.stamp())?;
        Ok(Prepared {
            seq,
            meta: metas.pop().flatten(),
            account,
            stamp: SpentStamp::Read(stamp),
            parent: None,
        })
    }

    /// Prepares the creation of a record with a new id, which has no metadata yet, whose
    /// `parent` (a todo's board) must exist. With an [`Expected`] to trust, nothing is
    /// read now: [`Self::save`] spends the stamp, and reads the parent, as it writes.
    async fn prepare_new(
        &self,
        model: Model,
        id: Uuid,
        parent: Option<(Model, Uuid)>,
    ) -> Result<Prepared, T::Error> {
        if let (Some(expected), None) = (&self.expected, self.next_seq) {
            if expected.is_fresh(self.now) {
                return Ok(Prepared {
                    seq: expected.next_seq,
                    meta: None,
                    account: Some(expected.account.clone()),
                    stamp: SpentStamp::Trusted(expected.stamp.clone()),
                    parent,
                });
            }
        }
        let ((), prepared) = futures::try_join!(self.exists(parent), self.prepare(model, id))?;
        Ok(prepared)
    }

    /// Fails with [`RuleError::NotFound`] unless `record` (if any) is here.
    async fn exists(&self, record: Option<(Model, Uuid)>) -> Result<(), T::Error> {
        match record {
            Some((model, id)) => self.record(model, id).await.map(drop),
            None => Ok(()),
        }
    }

    /// Applies `operation` to `record` locally and queues it for the server, with what
    /// [`Self::prepare`] read for it; an update names the fields it changed (`None`: the
    /// whole record).
    async fn save(
        &mut self,
        operation: Operation,
        record: Record,
        summary: String,
        prepared: Prepared,
        changed_fields: Option<Vec<String>>,
    ) -> Result<(), T::Error> {
        validate_record(&record).map_err(|e| RuleError::Invalid(e.message))?;
        let model = record.model();
        let id = record.id().to_string();
        self.next_seq = Some(prepared.seq + 1);
        let event_id = (self.new_id)();
        let mut event = OutboxEvent::new(event_id, operation, &record, self.now);
        if let Some(fields) = changed_fields {
            event = event.with_changed_fields(fields);
        }
        let entry = OutboxEntry::new(event, prepared.seq, Some(summary));
        let mut meta = prepared
            .meta
            .unwrap_or_else(|| VersionMeta::new(model, &id));
        meta.local_change_pending = true;
        let change = match operation {
            Operation::Delete => Write::RemoveRecord(model, id.clone()),
            Operation::Create | Operation::Update => Write::PutRecord(record),
        };
        // The first save of a change spends the stamp and leaves its own, named by the
        // event's random id. Old tombstones are forgotten by the first change after a
        // pause (the stamp it read is older than a trusted one could be): a burst of
        // changes issues no request it need not. The tombstone just added is the
        // newest, so it is kept: the bound sorts below the stamp it spends.
        let stamp = match (&self.stamp, &prepared.stamp) {
            (Some(_), _) => None,
            (None, SpentStamp::Read(read)) => {
                let after_pause = read.as_ref().is_some_and(|read| !is_recent(read, self.now));
                Some((read.as_ref(), after_pause))
            }
            (None, SpentStamp::Trusted(trusted)) => Some((Some(trusted), false)),
        };
        let next = stamp.map(|(spent, _)| Stamp::after(spent, self.now, event_id));
        let stamped = async {
            if let (Some((spent, forget)), Some(next)) = (stamp, &next) {
                self.tx.replace_stamp(spent, next).await?;
                if let (true, Some(spent)) = (forget, spent) {
                    let day_ago =
                        Timestamp::from_millis(self.now.as_millis() - SPENT_STAMPS_KEPT_MS);
                    let bound = Stamp::made_before(day_ago).min(spent.made_before_this());
                    self.tx.forget_spent_stamps(&bound).await?;
                }
            }
            Ok(())
        };
        // The parent of a trusted create is read as the writes go out (IndexedDB cannot
        // check that a record exists): should it be gone, the caller abandons the
        // transaction with everything in it.
        let parent = self.exists(prepared.parent);
        let writes = [change, Write::PutEntry(entry), Write::PutMeta(meta)];
        futures::try_join!(parent, stamped, self.tx.write_all(&writes))?;
        if next.is_some() {
            self.stamp = next;
        }
        self.account = prepared.account;
        self.touched.record(model, &id);
        Ok(())
    }

    /// Saves `after`, an update of `before`, naming the fields it changed; when it
    /// changes nothing, writes nothing.
    async fn update(
        &mut self,
        before: &Record,
        after: Record,
        summary: String,
        prepared: Prepared,
    ) -> Result<(), T::Error> {
        let fields = after.changed_fields(before);
        if fields.is_empty() {
            return Ok(());
        }
        self.save(Operation::Update, after, summary, prepared, Some(fields))
            .await
    }
}

/// What [`LocalWriter::prepare`] read (or trusted) for one save.
struct Prepared {
    seq: u32,
    meta: Option<VersionMeta>,
    account: Option<Account>,
    /// The stamp the save spends.
    stamp: SpentStamp,
    /// A record that must exist, read as the save writes (a trusted create's board).
    parent: Option<(Model, Uuid)>,
}

/// Where the stamp a save spends comes from.
enum SpentStamp {
    /// Read in the transaction (None: there is none yet).
    Read(Option<Stamp>),
    /// Trusted from the context's last change, unread: spending it checks it.
    Trusted(Stamp),
}

fn not_found(model: Model) -> RuleError {
    RuleError::NotFound(format!("That {}", model.name().to_ascii_lowercase()))
}

pub async fn create_board<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    name: &str,
) -> Result<Board, T::Error> {
    let id = (write.new_id)();
    let prepared = write.prepare_new(Model::Board, id, None).await?;
    let Some(account) = &prepared.account else {
        return Err(RuleError::SignedOut.into());
    };
    let board = Board {
        id,
        name: name.trim().to_string(),
        created_at: write.now,
        user_id: account.user.id,
    };
    let summary = format!("Creating board \"{}\"", board.name);
    write
        .save(
            Operation::Create,
            board.clone().into(),
            summary,
            prepared,
            None,
        )
        .await?;
    Ok(board)
}

pub async fn rename_board<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
    name: &str,
) -> Result<Board, T::Error> {
    let (record, prepared) = futures::try_join!(
        write.record(Model::Board, id),
        write.prepare(Model::Board, id)
    )?;
    let Record::Board(mut board) = record.clone() else {
        return Err(not_found(Model::Board).into());
    };
    let summary = format!("Renaming board \"{}\" to \"{}\"", board.name, name.trim());
    board.name = name.trim().to_string();
    write
        .update(&record, board.clone().into(), summary, prepared)
        .await?;
    Ok(board)
}

/// Deletes a board and, locally, its todos. Only the board's deletion is queued: the
/// server deletes the todos with it and logs each, so every device ends the same.
pub async fn delete_board<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
) -> Result<(), T::Error> {
    let (board, todo_ids, prepared) = futures::try_join!(
        write.record(Model::Board, id),
        write.tx.todo_ids_of_board(id),
        write.prepare(Model::Board, id)
    )?;
    // Its todos' metadata goes too: should the server refuse the delete, a resync
    // brings the todos back (see `rules::book_verdicts`). All requests go out together.
    let tx = write.tx;
    futures::future::try_join_all(todo_ids.iter().map(|todo_id| async move {
        futures::try_join!(
            tx.remove_record(Model::Todo, todo_id),
            tx.remove_meta(Model::Todo, todo_id)
        )
    }))
    .await?;
    for todo_id in &todo_ids {
        write.touched.record(Model::Todo, todo_id);
    }
    let summary = match &board {
        Record::Board(board) => format!("Deleting board \"{}\"", board.name),
        _ => "Deleting a board".into(),
    };
    write
        .save(Operation::Delete, board, summary, prepared, None)
        .await
}

pub async fn create_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    board_id: Uuid,
    edit: TodoEdit,
) -> Result<Todo, T::Error> {
    // The board must exist here; the server checks it is the user's.
    let id = (write.new_id)();
    let prepared = write
        .prepare_new(Model::Todo, id, Some((Model::Board, board_id)))
        .await?;
    let todo = Todo {
        id,
        title: edit.title,
        description: edit.description,
        is_completed: false,
        created_at: write.now,
        board_id,
    };
    let summary = format!("Adding todo \"{}\"", todo.title);
    write
        .save(
            Operation::Create,
            todo.clone().into(),
            summary,
            prepared,
            None,
        )
        .await?;
    Ok(todo)
}

pub async fn edit_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
    edit: TodoEdit,
) -> Result<Todo, T::Error> {
    update_todo(write, id, move |todo| {
        let summary = if todo.title == edit.title {
            format!("Editing todo \"{}\"", todo.title)
        } else {
            format!("Renaming todo \"{}\" to \"{}\"", todo.title, edit.title)
        };
        todo.title = edit.title;
        todo.description = edit.description;
        summary
    })
    .await
}

pub async fn toggle_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
) -> Result<Todo, T::Error> {
    update_todo(write, id, |todo| {
        todo.is_completed = !todo.is_completed;
        let state = if todo.is_completed {
            "done"
        } else {
            "not done"
        };
        format!("Marking todo \"{}\" {state}", todo.title)
    })
    .await
}

pub async fn delete_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
) -> Result<(), T::Error> {
    let (todo, prepared) = futures::try_join!(
        write.record(Model::Todo, id),
        write.prepare(Model::Todo, id)
    )?;
    let summary = match &todo {
        Record::Todo(todo) => format!("Deleting todo \"{}\"", todo.title),
        _ => "Deleting a todo".into(),
    };
    write
        .save(Operation::Delete, todo, summary, prepared, None)
        .await
}

/// Changes the signed-in user's display name.
pub async fn update_profile<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    name: &str,
) -> Result<User, T::Error> {
    let account = write.account().await?;
    let id = account.user.id;
    let (record, prepared) = futures::join!(
        write.record(Model::User, id),
        write.prepare(Model::User, id)
    );
    let before = match record {
        Ok(Record::User(user)) => user,
        _ => account.user,
    };
    let mut user = before.clone();
    user.name = name.trim().to_string();
    // The same name again changes nothing, not even the time of the last change.
    if user.name != before.name {
        user.updated_at = write.now;
    }
    let summary = format!("Changing your name to \"{}\"", user.name);
    write
        .update(&before.into(), user.clone().into(), summary, prepared?)
        .await?;
    Ok(user)
}

/// Changes a todo with `change`, which answers the change in words.
async fn update_todo<T: ReplicaTx>(
    write: &mut LocalWriter<'_, T>,
    id: Uuid,
    change: impl FnOnce(&mut Todo) -> String,
) -> Result<Todo, T::Error> {
    let (record, prepared) = futures::try_join!(
        write.record(Model::Todo, id),
        write.prepare(Model::Todo, id)
    )?;
    let Record::Todo(mut todo) = record.clone() else {
        return Err(not_found(Model::Todo).into());
    };
    let summary = change(&mut todo);
    write
        .update(&record, todo.clone().into(), summary, prepared)
        .await?;
    Ok(todo)
}

/// Signs in locally: keeps the account and its user record, the server's copy rebased
/// under the local changes still waiting to be pushed (which are newer than it).
pub async fn sign_in<T: ReplicaTx>(tx: &T, account: &Account) -> Result<(), T::Error> {
    spend_stamp(tx).await?;
    tx.set_account(Some(account)).await?;
    let id = account.user.id.to_string();
    let (pending, local) = futures::try_join!(
        tx.pending_part(Model::User, &id),
        tx.record(Model::User, &id)
    )?;
    if let Some(user) = pending.rebase(Record::User(account.user.clone()), local.as_ref()) {
        tx.put_record(&user).await?;
    }
    Ok(())
}

/// Signs out locally: forgets the account and everything of it (but the term, see
/// [`ReplicaTx::clear_data`]).
pub async fn sign_out<T: ReplicaTx>(tx: &T) -> Result<(), T::Error> {
    spend_stamp(tx).await?;
    tx.clear_data().await
}

/// Spends the stamp, as the account changes: a context that trusted what its last
/// change left reads first again (see [`Expected`]). No clock here: the next stamp is
/// made a millisecond after the one spent (no context trusts it: trust is in a
/// context's own local change).
async fn spend_stamp<T: ReplicaTx>(tx: &T) -> Result<(), T::Error> {
    let spent = tx.stamp().await?;
    let next = Stamp::after(spent.as_ref(), Timestamp::from_millis(0), Uuid::nil());
    tx.replace_stamp(spent.as_ref(), &next).await
}

/// Takes the lead: raises the leadership term and returns the new one. Every write of a
/// cycle started under an older term is refused from now on.
pub async fn claim_term<T: ReplicaTx>(tx: &T) -> Result<u64, T::Error> {
    let term = tx.term().await? + 1;
    tx.set_term(term).await?;
    Ok(term)
}
