//! The signed-in user's boards on screen (own and shared), following the change notices
//! record by record.
//!
//! One read of everything when an account's boards are first shown (or a notice says
//! everything changed); after that, each notice names the users, boards and todos it
//! touched and only those are read again, in one transaction, and patched into the model. Reads
//! run one at a time, in notice order, and notices that arrive meanwhile are merged into
//! the next read, so a burst of pulled pages costs a few small reads, not one each;
//! a large notice is read a slice at a time.

use super::boards_model::{BoardView, BoardsModel};
use super::data::Counter;
use std::cell::{Cell, RefCell};
use std::collections::HashSet;
use std::rc::Rc;
use sync_protocol::Model;
use sync_worker::store::notify::Change;
use sync_worker::store::LocalStore;
use uuid::Uuid;
use yew::prelude::*;

/// What the board list shows.
#[derive(Debug, Clone, PartialEq)]
pub enum Boards {
    Loading,
    Failed(String),
    /// The same list (`Rc`) until a board or its todos change.
    Ready(Rc<Vec<Rc<BoardView>>>),
}

/// The boards of `user` (None: signed out), kept current by change notices.
#[hook]
pub fn use_boards(store: &LocalStore, user: Option<Uuid>) -> Boards {
    let version = use_reducer(Counter::default);
    let current = use_mut_ref(|| None::<Rc<Follower>>);
    {
        let (store, current, dispatcher) = (store.clone(), current.clone(), version.dispatcher());
        use_effect_with(user, move |user| {
            let follower = Follower::start(store.clone(), *user, move || dispatcher.dispatch(()));
            *current.borrow_mut() = Some(Rc::clone(&follower));
            let following = Rc::downgrade(&follower);
            let watch = store.watch(move |change| {
                if let Some(follower) = following.upgrade() {
                    follower.follow(change);
                }
            });
            move || {
                follower.closed.set(true);
                drop(watch);
            }
        });
    }
    let Some(follower) = current.borrow().clone() else {
        return Boards::Loading;
    };
    let boards = match &*follower.model.borrow() {
        Some(Ok(model)) => Boards::Ready(Rc::clone(model.boards())),
        Some(Err(error)) => Boards::Failed(error.clone()),
        None => Boards::Loading,
    };
    boards
}

/// How many records one read brings in. The worker applies pulled pages of up to 1000
/// records while a backlog drains; a notice that large is read a slice at a time, each
/// in its own task, so no task of the page grows with the page size. A slice's task is
/// its requests' answers decoded and patched into the model (the render is separate,
/// below). With 25 per slice and a render every frame, the page showed a 10,000-todo
/// initial sync four seconds after the database held it; with 100 and ten renders a
/// second, one second after (`cargo xtask bench`, P2).
const READ_AT_ONCE: usize = 100;

/// While slices keep coming, the page renders what they brought at most this often, in
/// milliseconds, rather than after each: ten times a second shows a burst of synced
/// todos streaming in, and each render's cost (the cards' changed lists, then the
/// frame's layout and paint) is paid ten times a second rather than sixty. A card shows
/// at most its newest todos, so a render costs no more however many slices it folds
/// in, and each card lists a large change in a task of its own (`BoardCard`). The last
/// slice of a burst renders at once (so does a click's change, a burst of one).
const RENDER_EVERY_MS: f64 = 100.0;

/// What the next read must bring in.
/// (Users name the owners of shared boards.)
#[derive(Default)]
struct Pending {
    everything: bool,
    users: Vec<String>,
    boards: Vec<String>,
    todos: Vec<String>,
    seen: HashSet<(Model, String)>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.everything && self.len() == 0
    }

    fn len(&self) -> usize {
        self.users.len() + self.boards.len() + self.todos.len()
    }

    /// Takes the work of one read: everything, or up to `limit` records (users, then
    /// boards, so a board finds its owner and a todo its board), in the order named.
    fn take(&mut self, limit: usize) -> Pending {
        if self.everything || self.len() <= limit {
            return std::mem::take(self);
        }
        let mut left = limit;
        let mut slice =
            |model: Model, ids: &mut Vec<String>, seen: &mut HashSet<(Model, String)>| {
                let taken: Vec<String> = ids.drain(..left.min(ids.len())).collect();
                left -= taken.len();
                // Named again later, they must be read again.
                for id in &taken {
                    seen.remove(&(model, id.clone()));
                }
                taken
            };
        let users = slice(Model::User, &mut self.users, &mut self.seen);
        let boards = slice(Model::Board, &mut self.boards, &mut self.seen);
        let todos = slice(Model::Todo, &mut self.todos, &mut self.seen);
        Pending {
            everything: false,
            users,
            boards,
            todos,
            seen: HashSet::new(),
        }
    }

    fn add(&mut self, model: Model, id: &str) {
        if self.seen.insert((model, id.to_string())) {
            match model {
                Model::User => self.users.push(id.to_string()),
                Model::Board => self.boards.push(id.to_string()),
                Model::Todo => self.todos.push(id.to_string()),
            }
        }
    }
}

/// Reads what notices name and patches the model, for one account.
struct Follower {
    store: LocalStore,
    user: Option<Uuid>,
    /// None until the first read answered.
    model: RefCell<Option<Result<BoardsModel, String>>>,
    pending: RefCell<Pending>,
    reading: Cell<bool>,
    /// Set when the account changed: late answers are dropped.
    closed: Cell<bool>,
    changed: Box<dyn Fn()>,
}

impl Follower {
    fn start(store: LocalStore, user: Option<Uuid>, changed: impl Fn() + 'static) -> Rc<Follower> {
        let follower = Rc::new(Follower {
            store,
            user,
            model: RefCell::new(None),
            pending: RefCell::new(Pending {
                everything: true,
                ..Pending::default()
            }),
            reading: Cell::new(false),
            closed: Cell::new(false),
            changed: Box::new(changed),
        });
        follower.read_pending();
        follower
    }

    fn follow(self: Rc<Self>, change: &Change) {
        {
            let mut pending = self.pending.borrow_mut();
            match &change.records {
                None => pending.everything = true,
                Some(records) => {
                    for record in records {
                        pending.add(record.model, &record.id);
                    }
                }
            }
            if pending.is_empty() {
                return;
            }
        }
        self.read_pending();
    }

    /// Reads until nothing is pending; a second call while reading only adds work.
    fn read_pending(self: &Rc<Self>) {
        if self.reading.replace(true) {
            return;
        }
        let follower = Rc::clone(self);
        wasm_bindgen_futures::spawn_local(async move {
            let mut rendered_at = f64::NEG_INFINITY;
            loop {
                let work = follower.pending.borrow_mut().take(READ_AT_ONCE);
                if work.is_empty() || follower.closed.get() {
                    break;
                }
                follower.read(work).await;
                if follower.closed.get() {
                    break;
                }
                let more = !follower.pending.borrow().is_empty();
                let now = js_sys::Date::now();
                if !more || now - rendered_at >= RENDER_EVERY_MS {
                    (follower.changed)();
                    rendered_at = now;
                }
                if more {
                    // A render of what was read runs before the next read.
                    gloo_timers::future::TimeoutFuture::new(0).await;
                }
            }
            follower.reading.set(false);
        });
    }

    async fn read(&self, work: Pending) {
        let loaded = matches!(&*self.model.borrow(), Some(Ok(_)));
        if work.everything || !loaded {
            // A read that starts after the notice sees its changes: ids merged into it
            // need no second read.
            let snapshot = self.store.boards_snapshot().await;
            *self.model.borrow_mut() = Some(
                snapshot
                    .map(|snapshot| BoardsModel::load(self.user, snapshot))
                    .map_err(|e| e.to_string()),
            );
            return;
        }
        let read = self
            .store
            .records_by_id(&work.users, &work.boards, &work.todos)
            .await;
        match read {
            Ok(records) => {
                if let Some(Ok(model)) = &mut *self.model.borrow_mut() {
                    model.patch(records);
                }
            }
            // Read everything again next time rather than show a stale board.
            Err(_) => self.pending.borrow_mut().everything = true,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pending(boards: usize, todos: usize) -> Pending {
        let mut pending = Pending::default();
        for n in 0..todos {
            pending.add(Model::Todo, &format!("t{n}"));
        }
        for n in 0..boards {
            pending.add(Model::Board, &format!("b{n}"));
        }
        pending
    }

    #[test]
    fn a_large_notice_is_read_a_slice_at_a_time_boards_first() {
        let mut work = pending(3, 250);
        let first = work.take(100);
        assert_eq!(first.boards, ["b0", "b1", "b2"]);
        assert_eq!(first.todos.len(), 97);
        assert_eq!(first.todos[0], "t0");
        // A record taken already is read again when a later notice names it.
        work.add(Model::Todo, "t0");
        assert_eq!(work.take(100).todos.len(), 100);
        let last = work.take(100);
        assert_eq!(last.todos.len(), 54);
        assert_eq!(last.todos.last().map(String::as_str), Some("t0"));
        assert!(work.is_empty());
    }

    #[test]
    fn users_are_read_before_the_boards_they_own() {
        let mut work = pending(2, 2);
        work.add(Model::User, "u0");
        let first = work.take(2);
        assert_eq!(
            (first.users, first.boards),
            (vec!["u0".to_string()], vec!["b0".to_string()])
        );
        let rest = work.take(100);
        assert_eq!((rest.boards.len(), rest.todos.len()), (1, 2));
    }

    #[test]
    fn everything_is_read_at_once() {
        let mut work = pending(0, 500);
        work.everything = true;
        let all = work.take(100);
        assert!(all.everything && work.is_empty());
    }
}
