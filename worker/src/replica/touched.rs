//! What a committed change touched. The change notice carries it, so a page reads again
//! exactly the records that changed instead of the whole database.

use std::collections::HashSet;
use sync_protocol::Model;

/// The records one transaction changed, or "everything" (sign-out, a database cleared).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Touched {
    records: Vec<(Model, String)>,
    /// The same keys, for the membership check (a board delete touches all its todos).
    seen: HashSet<(Model, String)>,
    everything: bool,
}

impl Touched {
    /// Every record of every model may have changed.
    pub fn everything() -> Touched {
        Touched {
            everything: true,
            ..Touched::default()
        }
    }

    /// Notes that `model`'s record `id` changed (once, however often it is noted).
    pub fn record(&mut self, model: Model, id: &str) {
        if self.everything {
            return;
        }
        let key = (model, id.to_string());
        if !self.seen.contains(&key) {
            self.seen.insert(key.clone());
            self.records.push(key);
        }
    }

    pub fn is_empty(&self) -> bool {
        !self.everything && self.records.is_empty()
    }

    pub fn is_everything(&self) -> bool {
        self.everything
    }

    /// The records, in the order they were first touched (empty for "everything").
    pub fn records(&self) -> &[(Model, String)] {
        &self.records
    }

    /// The models touched, each once, in `Model::ALL` order.
    pub fn models(&self) -> Vec<Model> {
        Model::ALL
            .into_iter()
            .filter(|model| self.everything || self.records.iter().any(|(m, _)| m == model))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_touched_twice_is_listed_once() {
        let mut touched = Touched::default();
        assert!(touched.is_empty());
        touched.record(Model::Todo, "a");
        touched.record(Model::Board, "b");
        touched.record(Model::Todo, "a");
        assert_eq!(
            touched.records(),
            [
                (Model::Todo, "a".to_string()),
                (Model::Board, "b".to_string())
            ]
        );
        assert_eq!(touched.models(), [Model::Board, Model::Todo]);
    }

    #[test]
    fn everything_names_every_model_and_no_record() {
        let mut touched = Touched::everything();
        touched.record(Model::Todo, "a");
        assert!(touched.is_everything() && !touched.is_empty());
        assert!(touched.records().is_empty());
        assert_eq!(touched.models(), Model::ALL);
    }
}
