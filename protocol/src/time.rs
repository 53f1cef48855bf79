//! Timestamps as JavaScript has them: milliseconds since the epoch, written as ISO 8601
//! with exactly three fractional digits and `Z` (what `Date.prototype.toJSON` writes), so
//! a record read back from the browser or from a prisma-idb peer compares equal.
//!
//! Accepted range: `0000-01-01T00:00:00.000Z` to `9999-12-31T23:59:59.999Z`, after the
//! offset is applied. Outside it the UTC form needs an expanded year (`+10000-…`), which
//! RFC 3339 (and so this parser) does not read: accepting such a date would let a record
//! in that could never be sent back and accepted again.

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A UTC instant at millisecond precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From milliseconds since the epoch, e.g. `Date.now()`.
    pub fn from_millis(millis: i64) -> Timestamp {
        Timestamp(millis)
    }

    pub fn as_millis(self) -> i64 {
        self.0
    }

    /// From a chrono time, truncated to milliseconds.
    pub fn from_datetime(time: DateTime<Utc>) -> Timestamp {
        Timestamp(time.timestamp_millis())
    }

    pub fn to_datetime(self) -> DateTime<Utc> {
        // Every i64 millisecond count that JSON dates can carry is in chrono's range; the
        // fallback only guards against absurd values built by hand.
        DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// The earliest instant accepted: `0000-01-01T00:00:00.000Z`.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200_000);
    /// The latest instant accepted: `9999-12-31T23:59:59.999Z`.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// Parses ISO 8601 / RFC 3339 (any offset, any precision), truncating to milliseconds;
    /// None outside [`Timestamp::MIN`]..=[`Timestamp::MAX`] (see the module docs).
    pub fn parse(text: &str) -> Option<Timestamp> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| Timestamp(time.timestamp_millis()))
            .filter(|time| (Timestamp::MIN..=Timestamp::MAX).contains(time))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(
            &self
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true),
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Timestamp, D::Error> {
        let text = <std::borrow::Cow<'de, str>>::deserialize(deserializer)?;
        Timestamp::parse(&text).ok_or_else(|| {
            serde::de::Error::custom(format!("`{text}` is not an ISO 8601 date and time"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_what_javascript_writes() {
        let time = Timestamp::from_millis(1_796_292_000_000);
        assert_eq!(time.to_string(), "2026-12-03T10:00:00.000Z");
        assert_eq!(
            serde_json::to_string(&time).unwrap(),
            "\"2026-12-03T10:00:00.000Z\""
        );
    }

    #[test]
    fn reads_any_offset_and_precision() {
        let utc = Timestamp::parse("2026-12-03T10:00:00.123456Z").unwrap();
        let offset = Timestamp::parse("2026-12-03T11:00:00.123+01:00").unwrap();
        assert_eq!(utc, offset);
        assert_eq!(utc.as_millis() % 1000, 123);
        assert!(Timestamp::parse("yesterday").is_none());
        assert!(serde_json::from_str::<Timestamp>("\"2026-13-01T00:00:00Z\"").is_err());
    }

    #[test]
    fn what_is_accepted_is_written_back_in_a_form_that_is_accepted_again() {
        for text in [
            "0000-01-01T00:00:00.000Z",
            "9999-12-31T23:59:59.999Z",
            "9999-12-31T23:59:59.999+23:59",
            "0000-01-01T00:00:00.000-23:59",
            "2026-12-03T10:00:00.123456789+05:30",
        ] {
            let time = Timestamp::parse(text).expect(text);
            assert_eq!(Timestamp::parse(&time.to_string()), Some(time), "{text}");
        }
        assert_eq!(Timestamp::MIN.to_string(), "0000-01-01T00:00:00.000Z");
        assert_eq!(Timestamp::MAX.to_string(), "9999-12-31T23:59:59.999Z");
        // Accepting these would write "+10000-…" and "-0001-…", which nothing reads back.
        assert_eq!(Timestamp::parse("9999-12-31T23:59:59.999-23:59"), None);
        assert_eq!(Timestamp::parse("0000-01-01T00:00:00.000+00:01"), None);
    }
}
