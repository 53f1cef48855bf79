//! The boards and todos as the page holds them, changed record by record.
//!
//! The page reads the whole database once (when an account's boards are first shown, or
//! when a notice says everything changed); after that each change notice names the
//! records it touched, the page reads just those, and [`BoardsModel::patch`] puts them
//! in place. A board whose todos did not change keeps the same `Rc`, so Yew skips it.

use std::collections::HashMap;
use std::rc::Rc;
use sync_protocol::{Board, Todo};
use sync_worker::store::{todo_order, BoardWithTodos, RecordsById};
use uuid::Uuid;

/// One board as the page shows it.
#[derive(Debug, Clone)]
pub struct BoardView {
    pub board: Board,
    /// In creation order. Replaced (not changed in place) when a todo changes.
    pub todos: Rc<Vec<Rc<Todo>>>,
}

impl PartialEq for BoardView {
    fn eq(&self, other: &Self) -> bool {
        self.board == other.board && Rc::ptr_eq(&self.todos, &other.todos)
    }
}

/// The signed-in user's boards, in creation order, and where each todo is.
#[derive(Debug, Default)]
pub struct BoardsModel {
    user: Option<Uuid>,
    /// Shared with the page until it changes (then copied once per patch), so a render
    /// that did not change it hands the same list on and the list is not diffed.
    boards: Rc<Vec<BoardView>>,
    /// Which board holds each todo (a deletion names only the todo).
    todo_board: HashMap<Uuid, Uuid>,
}

fn board_order(board: &Board) -> (sync_protocol::Timestamp, Uuid) {
    (board.created_at, board.id)
}

impl BoardsModel {
    /// The model of `user`'s boards as read whole from the store.
    pub fn load(user: Option<Uuid>, boards: Vec<BoardWithTodos>) -> BoardsModel {
        let mut model = BoardsModel {
            user,
            ..BoardsModel::default()
        };
        for BoardWithTodos { board, todos } in boards {
            if Some(board.user_id) != user {
                continue;
            }
            for todo in &todos {
                model.todo_board.insert(todo.id, board.id);
            }
            Rc::make_mut(&mut model.boards).push(BoardView {
                board,
                todos: Rc::new(todos.into_iter().map(Rc::new).collect()),
            });
        }
        Rc::make_mut(&mut model.boards).sort_by_key(|view| board_order(&view.board));
        model
    }

    pub fn boards(&self) -> &Rc<Vec<BoardView>> {
        &self.boards
    }

    /// Puts the records a change notice named in place: boards first (a todo may arrive
    /// with its board), then todos. `None` means the record is gone.
    pub fn patch(&mut self, records: RecordsById) {
        for (id, board) in records.boards {
            let Ok(id) = Uuid::parse_str(&id) else {
                continue;
            };
            match board.filter(|board| Some(board.user_id) == self.user) {
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

    fn board_position(&self, board: &Board) -> Result<usize, usize> {
        self.boards
            .binary_search_by_key(&board_order(board), |view| board_order(&view.board))
    }

    fn put_board(&mut self, board: Board) {
        if let Some(index) = self.boards.iter().position(|v| v.board.id == board.id) {
            if self.boards[index].board == board {
                return;
            }
            let boards = Rc::make_mut(&mut self.boards);
            if boards[index].board.created_at == board.created_at {
                boards[index].board = board;
                return;
            }
            // Its place changed: move it, todos and all.
            let view = boards.remove(index);
            let at = self.board_position(&board).unwrap_or_else(|at| at);
            Rc::make_mut(&mut self.boards).insert(
                at,
                BoardView {
                    board,
                    todos: view.todos,
                },
            );
            return;
        }
        let at = self.board_position(&board).unwrap_or_else(|at| at);
        Rc::make_mut(&mut self.boards).insert(
            at,
            BoardView {
                board,
                todos: Rc::default(),
            },
        );
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
        Some(&mut Rc::make_mut(&mut self.boards)[index])
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
            vec![
                BoardWithTodos {
                    board: b.clone(),
                    todos: vec![todo(3, &b, 30)],
                },
                BoardWithTodos {
                    board: a.clone(),
                    todos: vec![todo(1, &a, 11), todo(2, &a, 12)],
                },
            ],
        );
        (model, a, b)
    }

    fn patch(boards: Vec<(Uuid, Option<Board>)>, todos: Vec<(Uuid, Option<Todo>)>) -> RecordsById {
        RecordsById {
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
    fn another_users_board_is_not_shown() {
        let (mut model, _, _) = loaded();
        let mut foreign = board(9, 1);
        foreign.user_id = Uuid::from_u128(2);
        model.patch(patch(vec![(foreign.id, Some(foreign))], vec![]));
        assert_eq!(model.boards().len(), 2);
    }
}
