//! The synced records (User, Board, Todo) and the ownership path that scopes them to a user.
//!
//! Payloads are strict, as prisma-idb's validators are: every scalar field present (nullable
//! ones as `null`) and no unknown field, so a record that passes here is the whole record.

use crate::time::Timestamp;
use serde::{Deserialize, Serialize};
use std::fmt;
use uuid::Uuid;

/// A user: the root of every scope. Created by sign-up on the server, never by a client.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct User {
    pub id: Uuid,
    pub name: String,
    pub email: String,
    pub email_verified: bool,
    pub image: Option<String>,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub is_anonymous: bool,
}

/// A board of todos, owned by a user.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Board {
    pub id: Uuid,
    pub name: String,
    pub created_at: Timestamp,
    pub user_id: Uuid,
}

/// A todo on a board.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Todo {
    pub id: Uuid,
    pub title: String,
    pub description: Option<String>,
    pub is_completed: bool,
    pub created_at: Timestamp,
    pub board_id: Uuid,
}

/// The synced models, by their protocol names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Model {
    User,
    Board,
    Todo,
}

impl Model {
    pub const ALL: [Model; 3] = [Model::User, Model::Board, Model::Todo];

    /// The protocol name (`"Board"`), which is also the IndexedDB store name.
    pub fn name(self) -> &'static str {
        match self {
            Model::User => "User",
            Model::Board => "Board",
            Model::Todo => "Todo",
        }
    }

    pub fn parse(name: &str) -> Option<Model> {
        Model::ALL.into_iter().find(|model| model.name() == name)
    }

    /// The payload's field names, as on the wire.
    pub fn fields(self) -> &'static [&'static str] {
        match self {
            Model::User => &[
                "id",
                "name",
                "email",
                "emailVerified",
                "image",
                "createdAt",
                "updatedAt",
                "isAnonymous",
            ],
            Model::Board => &["id", "name", "createdAt", "userId"],
            Model::Todo => &[
                "id",
                "title",
                "description",
                "isCompleted",
                "createdAt",
                "boardId",
            ],
        }
    }

    /// Whether an update may name `field` as changed: a field of the model other than
    /// its id (a record's id never changes).
    pub fn is_mergeable_field(self, field: &str) -> bool {
        field != "id" && self.fields().contains(&field)
    }

    /// The model one step up the ownership path (Todo → Board → User).
    pub fn parent(self) -> Option<Model> {
        match self {
            Model::User => None,
            Model::Board => Some(Model::User),
            Model::Todo => Some(Model::Board),
        }
    }
}

impl fmt::Display for Model {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// One record of any model.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Record {
    User(User),
    Board(Board),
    Todo(Todo),
}

impl Record {
    pub fn model(&self) -> Model {
        match self {
            Record::User(_) => Model::User,
            Record::Board(_) => Model::Board,
            Record::Todo(_) => Model::Todo,
        }
    }

    pub fn id(&self) -> Uuid {
        match self {
            Record::User(user) => user.id,
            Record::Board(board) => board.id,
            Record::Todo(todo) => todo.id,
        }
    }

    /// The id of the record one step up the ownership path, if any.
    pub fn parent_id(&self) -> Option<Uuid> {
        match self {
            Record::User(_) => None,
            Record::Board(board) => Some(board.user_id),
            Record::Todo(todo) => Some(todo.board_id),
        }
    }

    /// Parses a payload of `model` strictly (see the module docs).
    ///
    /// It goes through JSON text, not `serde_json::from_value`: the browser module parses
    /// every record type from text anyway (the local store keeps them as JSON), and a
    /// second parser of each from `Value` cost its download about 4 KB gzipped. Records
    /// are small, so writing one out again costs next to nothing.
    pub fn from_json(model: Model, value: serde_json::Value) -> Result<Record, serde_json::Error> {
        let text = value.to_string();
        Ok(match model {
            Model::User => Record::User(serde_json::from_str(&text)?),
            Model::Board => Record::Board(serde_json::from_str(&text)?),
            Model::Todo => Record::Todo(serde_json::from_str(&text)?),
        })
    }

    pub fn to_json(&self) -> serde_json::Value {
        // Serialising these plain structs to a Value cannot fail: no maps with non-string
        // keys, no custom serialisers that error.
        serde_json::to_value(self).unwrap_or(serde_json::Value::Null)
    }
}

/// A record serialises as itself, with no tag: the wire and the local store name its
/// model beside it (`model`, the store it lives in).
impl Serialize for Record {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Record::User(user) => user.serialize(serializer),
            Record::Board(board) => board.serialize(serializer),
            Record::Todo(todo) => todo.serialize(serializer),
        }
    }
}

/// A field name an update may not name (see [`Model::is_mergeable_field`]).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{model} has no field `{field}` that an update can change")]
pub struct UnknownField {
    pub model: Model,
    pub field: String,
}

impl Record {
    /// The fields whose values differ from `before` (a record of the same model), in
    /// the model's field order. Empty when nothing changed.
    pub fn changed_fields(&self, before: &Record) -> Vec<String> {
        let (after, before) = (self.to_json(), before.to_json());
        self.model()
            .fields()
            .iter()
            .filter(|field| after.get(**field) != before.get(**field))
            .map(|field| field.to_string())
            .collect()
    }

    /// This record with `fields` taken from `other` (a record of the same model): the
    /// field-level merge of an update onto the current record, and its inverse, the
    /// rebase of pending local fields onto a pulled record.
    pub fn with_fields_of(
        &self,
        other: &Record,
        fields: &[String],
    ) -> Result<Record, UnknownField> {
        let model = self.model();
        let mut merged = self.to_json();
        let source = other.to_json();
        for field in fields {
            if !model.is_mergeable_field(field) || other.model() != model {
                return Err(UnknownField {
                    model,
                    field: field.clone(),
                });
            }
            if let (Some(target), Some(value)) = (merged.as_object_mut(), source.get(field)) {
                target.insert(field.clone(), value.clone());
            }
        }
        // Both inputs are whole records of `model` and only its fields were copied, so
        // the result parses; were it ever not to, that is an error, never the record left
        // unmerged (the server would answer "applied" for a change it dropped).
        Record::from_json(model, merged).map_err(|_| UnknownField {
            model,
            field: fields.join(", "),
        })
    }
}

impl From<User> for Record {
    fn from(user: User) -> Record {
        Record::User(user)
    }
}

impl From<Board> for Record {
    fn from(board: Board) -> Record {
        Record::Board(board)
    }
}

impl From<Todo> for Record {
    fn from(todo: Todo) -> Record {
        Record::Todo(todo)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn board_json() -> serde_json::Value {
        json!({
            "id": "0190b8a2-7c1e-7b6a-9c1d-3f2e4a5b6c7d",
            "name": "Groceries",
            "createdAt": "2026-11-27T10:00:00.000Z",
            "userId": "0190b8a2-7c1e-7b6a-9c1d-000000000001"
        })
    }

    fn todo_json() -> serde_json::Value {
        json!({
            "id": "0190b8a2-7c1e-7b6a-9c1d-3f2e4a5b6c70",
            "title": "Milk",
            "description": null,
            "isCompleted": false,
            "createdAt": "2026-11-27T10:00:00.000Z",
            "boardId": "0190b8a2-7c1e-7b6a-9c1d-3f2e4a5b6c7d"
        })
    }

    #[test]
    fn a_board_round_trips_in_prisma_idb_shape() {
        let record = Record::from_json(Model::Board, board_json()).expect("valid board");
        assert_eq!(record.model(), Model::Board);
        assert_eq!(record.to_json(), board_json());
    }

    #[test]
    fn unknown_and_missing_fields_are_rejected() {
        let mut extra = board_json();
        extra["todos"] = json!([]);
        assert!(Record::from_json(Model::Board, extra).is_err());

        let mut missing = board_json();
        missing.as_object_mut().unwrap().remove("userId");
        assert!(Record::from_json(Model::Board, missing).is_err());
    }

    #[test]
    fn nullable_fields_accept_null() {
        let todo = todo_json();
        let record = Record::from_json(Model::Todo, todo.clone()).expect("valid todo");
        assert_eq!(record.to_json(), todo);
    }

    #[test]
    fn changed_fields_name_what_differs_and_merge_takes_only_those() {
        let base = Record::from_json(Model::Todo, todo_json()).unwrap();
        let Record::Todo(todo) = &base else {
            unreachable!()
        };
        let ticked: Record = Todo {
            is_completed: true,
            ..todo.clone()
        }
        .into();
        let renamed: Record = Todo {
            title: "Oat milk".into(),
            description: Some("the blue one".into()),
            ..todo.clone()
        }
        .into();
        assert_eq!(ticked.changed_fields(&base), ["isCompleted"]);
        assert_eq!(renamed.changed_fields(&base), ["title", "description"]);
        assert!(base.changed_fields(&base).is_empty());

        // The rename merged onto the ticked record: both edits survive.
        let both = ticked
            .with_fields_of(&renamed, &renamed.changed_fields(&base))
            .unwrap();
        let Record::Todo(both) = both else {
            unreachable!()
        };
        assert!(both.is_completed);
        assert_eq!(both.title, "Oat milk");
        assert_eq!(both.description.as_deref(), Some("the blue one"));

        for field in ["id", "color", "userId"] {
            assert_eq!(
                base.with_fields_of(&renamed, &[field.to_string()]),
                Err(UnknownField {
                    model: Model::Todo,
                    field: field.into()
                })
            );
        }
    }

    #[test]
    fn every_model_lists_exactly_its_payload_fields() {
        let todo = todo_json();
        let keys: Vec<_> = todo.as_object().unwrap().keys().cloned().collect();
        let mut fields: Vec<_> = Model::Todo.fields().iter().map(|f| f.to_string()).collect();
        fields.sort();
        let mut keys = keys;
        keys.sort();
        assert_eq!(fields, keys);
        let user = Record::User(User {
            id: Uuid::nil(),
            name: "Ada".into(),
            email: "ada@example.com".into(),
            email_verified: false,
            image: None,
            created_at: Timestamp::from_millis(0),
            updated_at: Timestamp::from_millis(0),
            is_anonymous: false,
        })
        .to_json();
        let mut keys: Vec<_> = user.as_object().unwrap().keys().cloned().collect();
        keys.sort();
        let mut fields: Vec<_> = Model::User.fields().iter().map(|f| f.to_string()).collect();
        fields.sort();
        assert_eq!(fields, keys);
        let mut board: Vec<_> = board_json().as_object().unwrap().keys().cloned().collect();
        board.sort();
        let mut fields: Vec<_> = Model::Board
            .fields()
            .iter()
            .map(|f| f.to_string())
            .collect();
        fields.sort();
        assert_eq!(fields, board);
    }

    #[test]
    fn model_names_and_parents() {
        assert_eq!(Model::parse("Todo"), Some(Model::Todo));
        assert_eq!(Model::parse("todo"), None);
        assert_eq!(Model::Todo.parent(), Some(Model::Board));
        assert_eq!(Model::Board.parent(), Some(Model::User));
        assert_eq!(Model::User.parent(), None);
    }
}
