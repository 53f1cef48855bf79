//! What a person holds, as boards and todos by id: read from the server's changelog or
//! from a device's IndexedDB, so that tests can compare the two.

use serde_json::Value;
use std::collections::BTreeMap;
use sync_protocol::LogWithRecord;

/// Boards and todos by id, as JSON records: what a device or the server holds.
#[derive(Debug, Default, Clone, PartialEq)]
pub struct DataSet {
    pub boards: BTreeMap<String, Value>,
    pub todos: BTreeMap<String, Value>,
}

impl DataSet {
    /// The live records after a whole changelog, in order (each entry carries its
    /// record's current state, or null when the record is gone).
    pub fn from_changelog(logs: impl IntoIterator<Item = LogWithRecord>) -> DataSet {
        let mut state = DataSet::default();
        for log in logs {
            let id = log.record_id().unwrap_or_default().to_string();
            let map = match log.model.as_str() {
                "Board" => &mut state.boards,
                "Todo" => &mut state.todos,
                _ => continue,
            };
            match &log.record {
                None | Some(Value::Null) => map.remove(&id),
                Some(record) => map.insert(id, without_nulls(record)),
            };
        }
        state
    }

    /// Records as IndexedDB returns them (JSON arrays of boards and of todos).
    pub fn from_stores(boards: &Value, todos: &Value) -> DataSet {
        let by_id = |records: &Value| {
            records
                .as_array()
                .into_iter()
                .flatten()
                .map(|record| {
                    (
                        record["id"].as_str().unwrap_or_default().to_string(),
                        without_nulls(record),
                    )
                })
                .collect()
        };
        DataSet {
            boards: by_id(boards),
            todos: by_id(todos),
        }
    }
}

/// A record without its null fields: IndexedDB stores an absent optional field as
/// missing, the server's JSON as null; both mean the same.
fn without_nulls(record: &Value) -> Value {
    match record {
        Value::Object(fields) => fields
            .iter()
            .filter(|(_, value)| !value.is_null())
            .map(|(key, value)| (key.clone(), value.clone()))
            .collect::<serde_json::Map<_, _>>()
            .into(),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn log(model: &str, id: &str, record: Option<Value>) -> LogWithRecord {
        serde_json::from_value(json!({
            "id": "1", "model": model, "keyPath": [id], "operation": "create",
            "scopeKey": "s", "outboxEventId": "e", "record": record, "changelogId": "1",
        }))
        .expect("a changelog entry")
    }

    #[test]
    fn the_last_entry_wins_and_a_deletion_removes() {
        let state = DataSet::from_changelog([
            log("Board", "b1", Some(json!({"id": "b1", "name": "A"}))),
            log("Board", "b1", Some(json!({"id": "b1", "name": "B"}))),
            log("Todo", "t1", Some(json!({"id": "t1", "description": null}))),
            log("Board", "b2", Some(json!({"id": "b2"}))),
            log("Board", "b2", None),
            log("User", "u1", Some(json!({"id": "u1"}))),
        ]);
        assert_eq!(
            state.boards.into_iter().collect::<Vec<_>>(),
            vec![("b1".to_string(), json!({"id": "b1", "name": "B"}))]
        );
        // Null fields are dropped, as IndexedDB leaves them out.
        assert_eq!(state.todos["t1"], json!({"id": "t1"}));
    }

    #[test]
    fn stores_and_changelog_agree_on_absent_fields() {
        let from_store = DataSet::from_stores(&json!([]), &json!([{"id": "t1", "title": "x"}]));
        let from_log = DataSet::from_changelog([log(
            "Todo",
            "t1",
            Some(json!({"id": "t1", "title": "x", "description": null})),
        )]);
        assert_eq!(from_store, from_log);
    }
}
