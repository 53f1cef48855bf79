//! Changelog ids: a scope's changes numbered 1, 2, 3… in the order they commit.
//!
//! The server takes the next number of a scope inside the transaction that applies the
//! change, holding that scope's lock until commit, so numbers commit in order and a pull
//! "after N" can never skip a change that commits later with a smaller number (ids made
//! before commit, such as UUIDv7, can). The id is written as 20 decimal digits, so ids of
//! one scope also compare as strings in commit order, which is how clients compare them.

use std::fmt;

/// A position in one scope's changelog.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ChangelogId(u64);

impl ChangelogId {
    /// Digits in the written form: enough for any u64.
    const WIDTH: usize = 20;

    pub fn new(sequence: u64) -> ChangelogId {
        ChangelogId(sequence)
    }

    pub fn sequence(self) -> u64 {
        self.0
    }

    /// Parses the written form strictly: exactly 20 ASCII digits.
    pub fn parse(text: &str) -> Option<ChangelogId> {
        if text.len() != Self::WIDTH || !text.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        text.parse().ok().map(ChangelogId)
    }
}

impl fmt::Display for ChangelogId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:0width$}", self.0, width = Self::WIDTH)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn string_order_is_commit_order() {
        let ids: Vec<String> = [1u64, 9, 10, 99, 100, 12_345, u64::MAX]
            .into_iter()
            .map(|n| ChangelogId::new(n).to_string())
            .collect();
        let mut sorted = ids.clone();
        sorted.sort();
        assert_eq!(ids, sorted);
    }

    #[test]
    fn parses_only_its_own_form() {
        let id = ChangelogId::new(42);
        assert_eq!(ChangelogId::parse(&id.to_string()), Some(id));
        assert_eq!(ChangelogId::parse("42"), None);
        assert_eq!(ChangelogId::parse("0000000000000000004x"), None);
        assert_eq!(ChangelogId::parse("99999999999999999999"), None);
        assert_eq!(ChangelogId::parse("-0000000000000000001"), None);
    }
}
