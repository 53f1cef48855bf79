//! The boards and todos as the page holds them, changed record by record.
//!
//! The page reads the whole database once (when an account's boards are first shown, or
//! when a notice says everything changed); after that each change notice names the
//! records it touched, the page reads just those, and [`BoardsModel::patch`] puts them
//! in place. A board whose todos did not change keeps the same `Rc`, so Yew skips it.
//!
//! The boards are every board the replica holds: the account's own and those other
//! accounts shared with it (the server sends an account only what it may see). A shared
//! board names who shared it, from the owner's public profile, which arrives as a user
//! record beside the board. Records read while another account was signed in (another
//! tab switched accounts) are not shown: the session follows the switch and the page
//! starts again for the new account.

use std::collections::HashMap;
use std::rc::Rc;
use sync_protocol::{Board, Todo, User};
use sync_worker::store::{todo_order, BoardWithTodos, BoardsSnapshot, RecordsById};
use uuid::Uuid;
use yew::virtual_dom::Key;

/// One board as the page shows it. The model keeps each in its own `Rc` and replaces
/// only the one that changed, so a render compares the others by pointer.
#[derive(Debug, Clone)]
pub struct BoardView {
    /// The board's id as the list's key, made once rather than on every render.
    pub key: Key,
    pub board: Board,
    /// In creation order. Replaced (not changed in place) when a todo changes.
    pub todos: Rc<Vec<Rc<Todo>>>,
    /// Who shared the board with the signed-in account; None on the account's own.
    pub shared_by: Option<Rc<str>>,
}

impl BoardView {
    fn new(board: Board, todos: Rc<Vec<Rc<Todo>>>, shared_by: Option<Rc<str>>) -> BoardView {
        BoardView {
            key: Key::from(board.id.to_string()),
            board,
            todos,
            shared_by,
        }
    }
}

impl PartialEq for BoardView {
    fn eq(&self, other: &Self) -> bool {
        self.board == other.board
            && Rc::ptr_eq(&self.todos, &other.todos)
            && self.shared_by == other.shared_by
    }
}

/// The signed-in user's boards (own and shared), in creation order, and where each
/// todo is.
#[derive(Debug, Default)]
pub struct BoardsModel {
    user: Option<Uuid>,
    /// Shared with the page until it changes (then copied once per patch), so a render
    /// that did not change it hands the same list on and the list is not diffed.
    boards: Rc<Vec<Rc<BoardView>>>,
    /// Which board holds each todo (a deletion names only the todo).
    todo_board: HashMap<Uuid, Uuid>,
    /// Other accounts' public profiles (the owners of boards shared with this one): a
    /// handful, so a list (a map of them would add its own code to the download).
    people: Vec<User>,
}

fn board_order(board: &Board) -> (sync_protocol::Timestamp, Uuid) {
    (board.created_at, board.id)
}

/// How a shared board names its owner: their name, else their email, else (the
/// profile has not arrived yet) "another account".
pub fn owner_label(owner: Option<&User>) -> Rc<str> {
    let name = owner.map(|user| user.name.trim()).unwrap_or_default();
    let email = owner.map(|user| user.email.trim()).unwrap_or_default();
    match (name, email) {
        (name, _) if !name.is_empty() => name.into(),
        (_, email) if !email.is_empty() => email.into(),
        _ => "another account".into(),
    }
}

impl BoardsModel {
    /// The model of `user`'s boards as read whole from the store. A snapshot of another
    /// account (or of none) shows nothing.
    pub fn load(user: Option<Uuid>, snapshot: BoardsSnapshot) -> BoardsModel {
        let mut model = BoardsModel {
            user,
            ..BoardsModel::default()
        };
        if user.is_none() || snapshot.account != user {
            return model;
        }
        model.people = snapshot
            .users
            .into_iter()
            .filter(|person| Some(person.id) != user)
            .collect();
        for BoardWithTodos { board, todos } in snapshot.boards {
            for todo in &todos {
                model.todo_board.insert(todo.id, board.id);
            }
            let shared_by = model.shared_by(&board);
            Rc::make_mut(&mut model.boards).push(Rc::new(BoardView::new(
                board,
                Rc::new(todos.into_iter().map(Rc::new).collect()),
                shared_by,
            )));
        }
        Rc::make_mut(&mut model.boards).sort_by_key(|view| board_order(&view.board));
        model
    }

    pub fn boards(&self) -> &Rc<Vec<Rc<BoardView>>> {
        &self.boards
    }

    /// Puts the records a change notice named in place: people first (a board may
    /// arrive with its owner), then boards (a todo may arrive with its board), then
    /// todos. `None` means the record is gone. Records read under another account than
    /// this model's are left out.
    pub fn patch(&mut self, records: RecordsById) {
        if self.user.is_none() || records.account != self.user {
            return;
        }
        for (id, person) in records.users {
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            if Some(id) != self.user {
                self.put_person(id, person);
            }
        }
        for (id, board) in records.boards {
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            match board {
                Some(board) => self.put_board(board),
                None => self.remove_board(id),
            }
        }
        for (id, todo) in records.todos {
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            self.remove_todo(id);
            if let Some(todo) = todo {
                self.put_todo(todo);
            }
        }
    }

    /// Who shared `board` with this account; None when it is the account's own.
    fn shared_by(&self, board: &Board) -> Option<Rc<str>> {
        (Some(board.user_id) != self.user).then(|| owner_label(self.person(board.user_id)))
    }

    fn person(&self, id: Uuid) -> Option<&User> {
        self.people.iter().find(|person| person.id == id)
    }

    /// Keeps (or forgets) another account's profile and renames its boards' owner.
    fn put_person(&mut self, id: Uuid, person: Option<User>) {
        self.people.retain(|known| known.id != id);
        self.people.extend(person);
        let label = owner_label(self.person(id));
        let stale: Vec<usize> = (0..self.boards.len())
            .filter(|&i| {
                let view = &self.boards[i];
                view.board.user_id == id && view.shared_by.as_ref() != Some(&label)
            })
            .collect();
        if stale.is_empty() {
            return;
        }
        let boards = Rc::make_mut(&mut self.boards);
        for index in stale {
            Rc::make_mut(&mut boards[index]).shared_by = Some(Rc::clone(&label));
        }
    }

    fn board_position(&self, board: &Board) -> Result<usize, usize> {
        self.boards
            .binary_search_by_key(&board_order(board), |view| board_order(&view.board))
    }

    fn put_board(&mut self, board: Board) {
        let shared_by = self.shared_by(&board);
        if let Some(index) = self.boards.iter().position(|v| v.board.id == board.id) {
            let view = &self.boards[index];
            if view.board == board && view.shared_by == shared_by {
                return;
            }
            let boards = Rc::make_mut(&mut self.boards);
            if boards[index].board.created_at == board.created_at {
                let view = Rc::make_mut(&mut boards[index]);
                view.board = board;
                view.shared_by = shared_by;
                return;
            }
            // Its place changed: move it, todos and all.
            let view = boards.remove(index);
            let at = self.board_position(&board).unwrap_or_else(|at| at);
            Rc::make_mut(&mut self.boards).insert(
                at,
                Rc::new(BoardView::new(board, Rc::clone(&view.todos), shared_by)),
            );
            return;
        }
        let at = self.board_position(&board).unwrap_or_else(|at| at);
        Rc::make_mut(&mut self.boards)
            .insert(at, Rc::new(BoardView::new(board, Rc::default(), shared_by)));
    }

    fn remove_board(&mut self, id: Uuid) {
        let Some(index) = self.boards.iter().position(|v| v.board.id == id) else {
            return;
        };
        let view = Rc::make_mut(&mut self.boards).remove(index);
        for todo in view.todos.iter() {
            self.todo_board.remove(&todo.id);
        }
    }

    fn view_mut(&mut self, board_id: Uuid) -> Option<&mut BoardView> {
        let index = self.boards.iter().position(|v| v.board.id == board_id)?;
        Some(Rc::make_mut(&mut Rc::make_mut(&mut self.boards)[index]))
    }

    fn remove_todo(&mut self, id: Uuid) {
        let Some(board_id) = self.todo_board.remove(&id) else {
            return;
        };
        if let Some(view) = self.view_mut(board_id) {
            Rc::make_mut(&mut view.todos).retain(|todo| todo.id != id);
        }
    }

    /// Adds a todo to its board (a todo of a board this page does not show is left out).
    fn put_todo(&mut self, todo: Todo) {
        let (id, board_id) = (todo.id, todo.board_id);
        let Some(view) = self.view_mut(board_id) else {
            return;
        };
        let todos = Rc::make_mut(&mut view.todos);
        let at = todos
            .binary_search_by_key(&todo_order(&todo), |t| todo_order(t))
            .unwrap_or_else(|at| at);
        todos.insert(at, Rc::new(todo));
        self.todo_board.insert(id, board_id);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use sync_protocol::Timestamp;

    fn user() -> Uuid {
        Uuid::from_u128(1)
    }

    fn board(n: u128, at: i64) -> Board {
        Board {
            id: Uuid::from_u128(100 + n),
            name: format!("Board {n}"),
            created_at: Timestamp::from_millis(at),
            user_id: user(),
        }
    }

    fn todo(n: u128, board: &Board, at: i64) -> Todo {
        Todo {
            id: Uuid::from_u128(1000 + n),
            title: format!("Todo {n}"),
            description: None,
            is_completed: false,
            created_at: Timestamp::from_millis(at),
            board_id: board.id,
        }
    }

    fn titles(model: &BoardsModel) -> Vec<(String, Vec<String>)> {
        model
            .boards()
            .iter()
            .map(|v| {
                let todos = v.todos.iter().map(|t| t.title.clone()).collect();
                (v.board.name.clone(), todos)
            })
            .collect()
    }

    fn loaded() -> (BoardsModel, Board, Board) {
        let (a, b) = (board(1, 10), board(2, 20));
        let model = BoardsModel::load(
            Some(user()),
            snapshot(vec![
                BoardWithTodos {
                    board: b.clone(),
                    todos: vec![todo(3, &b, 30)],
                },
                BoardWithTodos {
                    board: a.clone(),
                    todos: vec![todo(1, &a, 11), todo(2, &a, 12)],
                },
            ]),
        );
        (model, a, b)
    }

    fn snapshot(boards: Vec<BoardWithTodos>) -> BoardsSnapshot {
        BoardsSnapshot {
            account: Some(user()),
            boards,
            users: vec![person(1, "Me", "me@example.com")],
        }
    }

    fn person(n: u128, name: &str, email: &str) -> User {
        User {
            id: Uuid::from_u128(n),
            name: name.into(),
            email: email.into(),
            email_verified: false,
            image: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            is_anonymous: false,
        }
    }

    /// A board of account `owner`, shared with this one.
    fn shared(n: u128, at: i64, owner: u128) -> Board {
        Board {
            user_id: Uuid::from_u128(owner),
            ..board(n, at)
        }
    }

    fn people(users: Vec<User>) -> RecordsById {
        RecordsById {
            account: Some(user()),
            users: users
                .into_iter()
                .map(|u| (u.id.to_string(), Some(u)))
                .collect(),
            ..RecordsById::default()
        }
    }

    fn badges(model: &BoardsModel) -> Vec<(String, Option<String>)> {
        model
            .boards()
            .iter()
            .map(|v| {
                (
                    v.board.name.clone(),
                    v.shared_by.as_deref().map(str::to_string),
                )
            })
            .collect()
    }

    fn patch(boards: Vec<(Uuid, Option<Board>)>, todos: Vec<(Uuid, Option<Todo>)>) -> RecordsById {
        RecordsById {
            account: Some(user()),
            users: Vec::new(),
            boards: boards
                .into_iter()
                .map(|(id, b)| (id.to_string(), b))
                .collect(),
            todos: todos
                .into_iter()
                .map(|(id, t)| (id.to_string(), t))
                .collect(),
        }
    }

    #[test]
    fn a_load_orders_boards_and_todos_by_creation() {
        let (model, _, _) = loaded();
        assert_eq!(
            titles(&model),
            [
                ("Board 1".into(), vec!["Todo 1".into(), "Todo 2".into()]),
                ("Board 2".into(), vec!["Todo 3".to_string()]),
            ]
        );
    }

    #[test]
    fn a_changed_todo_replaces_only_its_boards_list() {
        let (mut model, a, _) = loaded();
        let before: Vec<_> = model.boards().to_vec();
        let mut renamed = todo(1, &a, 11);
        renamed.title = "Renamed".into();
        model.patch(patch(vec![], vec![(renamed.id, Some(renamed))]));
        let after = model.boards();
        assert!(!Rc::ptr_eq(&before[0].todos, &after[0].todos));
        assert_ne!(before[0], after[0]);
        // The other board is untouched: same list, equal view, Yew skips it.
        assert_eq!(before[1], after[1]);
        assert_eq!(after[0].todos[0].title, "Renamed");
    }

    #[test]
    fn todos_are_added_in_order_and_removed_by_id_alone() {
        let (mut model, a, b) = loaded();
        let early = todo(4, &a, 5);
        let gone = Uuid::from_u128(1002);
        model.patch(patch(vec![], vec![(early.id, Some(early)), (gone, None)]));
        assert_eq!(
            titles(&model)[0].1,
            ["Todo 4".to_string(), "Todo 1".to_string()]
        );
        // A todo moved to another board leaves the first.
        let mut moved = todo(1, &a, 11);
        moved.board_id = b.id;
        model.patch(patch(vec![], vec![(moved.id, Some(moved))]));
        assert_eq!(titles(&model)[0].1, ["Todo 4".to_string()]);
        assert_eq!(
            titles(&model)[1].1,
            ["Todo 1".to_string(), "Todo 3".to_string()]
        );
    }

    #[test]
    fn a_new_board_arrives_with_its_todos_and_a_deleted_one_takes_them_along() {
        let (mut model, a, _) = loaded();
        let c = board(3, 15);
        let first = todo(5, &c, 16);
        model.patch(patch(
            vec![(c.id, Some(c.clone()))],
            vec![(first.id, Some(first.clone()))],
        ));
        assert_eq!(
            titles(&model)[1],
            ("Board 3".to_string(), vec!["Todo 5".to_string()])
        );
        model.patch(patch(vec![(c.id, None), (a.id, None)], vec![]));
        assert_eq!(
            titles(&model),
            [("Board 2".into(), vec!["Todo 3".to_string()])]
        );
        // Its todos are forgotten: a later deletion of one changes nothing.
        model.patch(patch(vec![], vec![(first.id, None)]));
        assert_eq!(model.boards().len(), 1);
    }

    #[test]
    fn the_page_keeps_the_same_list_until_a_board_changes() {
        let (mut model, a, _) = loaded();
        let shown = Rc::clone(model.boards());
        // A notice naming a board that did not change (read again) changes nothing.
        model.patch(patch(vec![(a.id, Some(a.clone()))], vec![]));
        assert!(Rc::ptr_eq(&shown, model.boards()));
        let mut renamed = a.clone();
        renamed.name = "Renamed".into();
        model.patch(patch(vec![(a.id, Some(renamed))], vec![]));
        assert!(!Rc::ptr_eq(&shown, model.boards()));
        assert_eq!(model.boards()[0].board.name, "Renamed");
        assert_eq!(
            shown[0].board.name, "Board 1",
            "the list on screen is a copy"
        );
    }

    #[test]
    fn boards_shared_with_the_account_show_beside_its_own_naming_their_owner() {
        let alice = person(2, "Alice", "alice@example.com");
        let (x, y) = (shared(3, 15, 2), shared(4, 40, 9));
        let mut all = snapshot(vec![
            BoardWithTodos {
                board: board(1, 10),
                todos: vec![],
            },
            BoardWithTodos {
                board: y.clone(),
                todos: vec![todo(7, &y, 41)],
            },
            BoardWithTodos {
                board: x.clone(),
                todos: vec![todo(5, &x, 16)],
            },
        ]);
        all.users.push(alice);
        let model = BoardsModel::load(Some(user()), all);
        assert_eq!(
            badges(&model),
            [
                ("Board 1".to_string(), None),
                ("Board 3".to_string(), Some("Alice".to_string())),
                // The owner's profile has not arrived (yet).
                ("Board 4".to_string(), Some("another account".to_string())),
            ]
        );
        assert_eq!(
            titles(&model)[2].1,
            ["Todo 7".to_string()],
            "todos of a shared board show"
        );
    }

    #[test]
    fn the_owner_is_named_by_name_then_email_and_follows_their_profile() {
        assert_eq!(
            &*owner_label(Some(&person(2, "  ", "bob@example.com"))),
            "bob@example.com"
        );
        assert_eq!(&*owner_label(Some(&person(2, "", ""))), "another account");
        assert_eq!(&*owner_label(None), "another account");

        let (mut model, _, _) = loaded();
        let x = shared(3, 15, 2);
        // The board first, its owner's profile in a later notice.
        model.patch(patch(vec![(x.id, Some(x.clone()))], vec![]));
        assert_eq!(badges(&model)[1].1.as_deref(), Some("another account"));
        let shown = Rc::clone(model.boards());
        model.patch(people(vec![person(2, "Alice", "alice@example.com")]));
        assert_eq!(badges(&model)[1].1.as_deref(), Some("Alice"));
        assert_eq!(
            shown[1].shared_by.as_deref(),
            Some("another account"),
            "a copy"
        );
        // The same profile again changes nothing: the page keeps its list.
        let shown = Rc::clone(model.boards());
        model.patch(people(vec![person(2, "Alice", "alice@example.com")]));
        assert!(Rc::ptr_eq(&shown, model.boards()));
        model.patch(people(vec![person(2, "Alice B.", "alice@example.com")]));
        assert_eq!(badges(&model)[1].1.as_deref(), Some("Alice B."));
        // The account's own profile never names anything.
        model.patch(people(vec![person(1, "Me again", "me@example.com")]));
        assert_eq!(badges(&model)[0].1, None);
    }

    #[test]
    fn a_shared_board_removed_by_sync_leaves_with_its_todos() {
        let (mut model, _, _) = loaded();
        let x = shared(3, 15, 2);
        let first = todo(5, &x, 16);
        model.patch(patch(
            vec![(x.id, Some(x.clone()))],
            vec![(first.id, Some(first.clone()))],
        ));
        assert_eq!(model.boards().len(), 3);
        // The member was removed: the pull deletes the todos and the board.
        model.patch(patch(vec![(x.id, None)], vec![(first.id, None)]));
        assert_eq!(
            titles(&model)
                .into_iter()
                .map(|(name, _)| name)
                .collect::<Vec<_>>(),
            ["Board 1", "Board 2"]
        );
    }

    #[test]
    fn records_read_under_another_account_are_not_shown() {
        // Another tab signed in as someone else between the notice and the read.
        let mut foreign = snapshot(vec![BoardWithTodos {
            board: shared(9, 1, 2),
            todos: vec![],
        }]);
        foreign.account = Some(Uuid::from_u128(2));
        assert!(BoardsModel::load(Some(user()), foreign).boards().is_empty());
        assert!(BoardsModel::load(None, snapshot(vec![]))
            .boards()
            .is_empty());

        let (mut model, _, _) = loaded();
        let mut read = patch(vec![(Uuid::from_u128(109), Some(shared(9, 1, 2)))], vec![]);
        read.account = Some(Uuid::from_u128(2));
        model.patch(read);
        let mut signed_out = patch(vec![(Uuid::from_u128(101), None)], vec![]);
        signed_out.account = None;
        model.patch(signed_out);
        assert_eq!(model.boards().len(), 2);
    }
}
