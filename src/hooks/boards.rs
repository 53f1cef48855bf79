//! The signed-in user's boards on screen, following the change notices record by record.
//!
//! One read of everything when an account's boards are first shown (or a notice says
//! everything changed); after that, each notice names the boards and todos it touched
//! and only those are read again, in one transaction, and patched into the model. Reads
//! run one at a time, in notice order, and notices that arrive meanwhile are merged into
//! the next read, so a burst of pulled pages costs a few small reads, not one each.

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
    Ready(Vec<BoardView>),
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
        Some(Ok(model)) => Boards::Ready(model.boards().to_vec()),
        Some(Err(error)) => Boards::Failed(error.clone()),
        None => Boards::Loading,
    };
    boards
}

/// What the next read must bring in.
#[derive(Default)]
struct Pending {
    everything: bool,
    boards: Vec<String>,
    todos: Vec<String>,
    seen: HashSet<(Model, String)>,
}

impl Pending {
    fn is_empty(&self) -> bool {
        !self.everything && self.boards.is_empty() && self.todos.is_empty()
    }

    fn add(&mut self, model: Model, id: &str) {
        if self.seen.insert((model, id.to_string())) {
            match model {
                Model::Board => self.boards.push(id.to_string()),
                Model::Todo => self.todos.push(id.to_string()),
                Model::User => {}
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
            loop {
                let work = std::mem::take(&mut *follower.pending.borrow_mut());
                if work.is_empty() || follower.closed.get() {
                    break;
                }
                follower.read(work).await;
                if follower.closed.get() {
                    break;
                }
                (follower.changed)();
            }
            follower.reading.set(false);
        });
    }

    async fn read(&self, work: Pending) {
        let loaded = matches!(&*self.model.borrow(), Some(Ok(_)));
        if work.everything || !loaded {
            // A read that starts after the notice sees its changes: ids merged into it
            // need no second read.
            let boards = self.store.boards_with_todos().await;
            *self.model.borrow_mut() = Some(
                boards
                    .map(|boards| BoardsModel::load(self.user, boards))
                    .map_err(|e| e.to_string()),
            );
            return;
        }
        match self.store.records_by_id(&work.boards, &work.todos).await {
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
