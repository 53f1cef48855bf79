//! Timestamps as JavaScript has them: milliseconds since the epoch, written as ISO 8601
//! with exactly three fractional digits and `Z` (what `Date.prototype.toJSON` writes), so
//! a record read back from the browser or from a prisma-idb peer compares equal.
//!
//! Accepted range: `0000-01-01T00:00:00.000Z` to `9999-12-31T23:59:59.999Z`, after the
//! offset is applied. Outside it the UTC form needs an expanded year (`+10000-…`), which
//! RFC 3339 (and so this parser) does not read: accepting such a date would let a record
//! in that could never be sent back and accepted again.
//!
//! The calendar arithmetic is done here rather than with chrono so that the browser's
//! wasm builds (which parse and write every record's dates) do not carry chrono's
//! general-purpose formatting and parsing machinery; natively, conversions to and from
//! chrono's types remain for the server.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

const MILLIS_PER_DAY: i64 = 86_400_000;

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
    #[cfg(not(target_arch = "wasm32"))]
    pub fn from_datetime(time: chrono::DateTime<chrono::Utc>) -> Timestamp {
        Timestamp(time.timestamp_millis())
    }

    #[cfg(not(target_arch = "wasm32"))]
    pub fn to_datetime(self) -> chrono::DateTime<chrono::Utc> {
        // Every i64 millisecond count that JSON dates can carry is in chrono's range; the
        // fallback only guards against absurd values built by hand.
        chrono::DateTime::from_timestamp_millis(self.0).unwrap_or_default()
    }

    /// The earliest instant accepted: `0000-01-01T00:00:00.000Z`.
    pub const MIN: Timestamp = Timestamp(-62_167_219_200_000);
    /// The latest instant accepted: `9999-12-31T23:59:59.999Z`.
    pub const MAX: Timestamp = Timestamp(253_402_300_799_999);

    /// Parses RFC 3339 (any offset, any precision), truncating to milliseconds; None
    /// outside [`Timestamp::MIN`]..=[`Timestamp::MAX`] (see the module docs).
    ///
    /// What is read: `YYYY-MM-DD`, then `T`, `t` or a space, `hh:mm:ss`, an optional
    /// `.` and one or more digits (those past the ninth ignored), then `Z`, `z` or an
    /// offset `±hh:mm` within ±23:59 (the sign may also be U+2212 MINUS SIGN). Second 60,
    /// a leap second, is taken as the first second of the next minute.
    pub fn parse(text: &str) -> Option<Timestamp> {
        let mut rest = Cursor(text.as_bytes());
        let year = rest.number(4)?;
        rest.literal(b"-")?;
        let month = rest.number(2)?;
        rest.literal(b"-")?;
        let day = rest.number(2)?;
        rest.one_of(b"Tt ")?;
        let hour = rest.number(2)?;
        rest.literal(b":")?;
        let minute = rest.number(2)?;
        rest.literal(b":")?;
        let second = rest.number(2)?;
        let millis = if rest.literal(b".").is_some() {
            rest.fraction_millis()?
        } else {
            0
        };
        let offset_minutes = rest.offset_minutes()?;
        if !rest.0.is_empty()
            || !(1..=12).contains(&month)
            || day == 0
            || day > days_in_month(year, month)
            || hour > 23
            || minute > 59
            || second > 60
        {
            return None;
        }
        let days = days_from_civil(year, month, day);
        let seconds = ((days * 24 + hour) * 60 + minute - offset_minutes) * 60 + second;
        Some(Timestamp(seconds * 1000 + millis))
            .filter(|time| (Timestamp::MIN..=Timestamp::MAX).contains(time))
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let days = self.0.div_euclid(MILLIS_PER_DAY);
        let millis_of_day = self.0.rem_euclid(MILLIS_PER_DAY);
        let (year, month, day) = civil_from_days(days);
        if (0..=9999).contains(&year) {
            write!(f, "{year:04}")?;
        } else {
            // ISO 8601's expanded form: always signed (only reached by values built by
            // hand; nothing parsed or taken from a clock is out of range).
            write!(f, "{year:+05}")?;
        }
        let seconds = millis_of_day / 1000;
        write!(
            f,
            "-{month:02}-{day:02}T{:02}:{:02}:{:02}.{:03}Z",
            seconds / 3600,
            seconds / 60 % 60,
            seconds % 60,
            millis_of_day % 1000
        )
    }
}

/// What is left of the text being parsed.
struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    /// Exactly `digits` ASCII digits, as a number.
    fn number(&mut self, digits: usize) -> Option<i64> {
        let (head, tail) = self.0.split_at_checked(digits)?;
        let mut value = 0;
        for &byte in head {
            value = value * 10 + i64::from(ascii_digit(byte)?);
        }
        self.0 = tail;
        Some(value)
    }

    fn literal(&mut self, expected: &[u8]) -> Option<()> {
        self.0 = self.0.strip_prefix(expected)?;
        Some(())
    }

    /// One byte out of `allowed`.
    fn one_of(&mut self, allowed: &[u8]) -> Option<()> {
        let (first, tail) = self.0.split_first()?;
        if !allowed.contains(first) {
            return None;
        }
        self.0 = tail;
        Some(())
    }

    /// One or more digits after the decimal point, as whole milliseconds (truncated).
    fn fraction_millis(&mut self) -> Option<i64> {
        let digits = self.0.iter().take_while(|b| b.is_ascii_digit()).count();
        if digits == 0 {
            return None;
        }
        // "5" is 500 ms and "123456" 123 ms: pad or cut to three places.
        let millis = (0..3).fold(0, |millis, place| {
            let digit = if place < digits {
                self.0[place] - b'0'
            } else {
                0
            };
            millis * 10 + i64::from(digit)
        });
        self.0 = &self.0[digits..];
        Some(millis)
    }

    /// `Z` or `±hh:mm`, as minutes east of UTC.
    fn offset_minutes(&mut self) -> Option<i64> {
        if self.one_of(b"Zz").is_some() {
            return Some(0);
        }
        let sign = if self.literal(b"+").is_some() {
            1
        } else if self.literal(b"-").is_some() || self.literal("\u{2212}".as_bytes()).is_some() {
            -1
        } else {
            return None;
        };
        let hours = self.number(2)?;
        self.literal(b":")?;
        let minutes = self.number(2)?;
        (hours <= 23 && minutes <= 59).then_some(sign * (hours * 60 + minutes))
    }
}

fn ascii_digit(byte: u8) -> Option<u8> {
    byte.is_ascii_digit().then(|| byte - b'0')
}

fn is_leap_year(year: i64) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_month(year: i64, month: i64) -> i64 {
    match month {
        2 if is_leap_year(year) => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

/// Days in a 400-year cycle of the Gregorian calendar, which repeats exactly.
const DAYS_PER_ERA: i64 = 146_097;
/// Days from 0000-03-01 to 1970-01-01.
const EPOCH_FROM_MARCH_ZERO: i64 = 719_468;

/// Days since 1970-01-01 of a proleptic Gregorian date. Years are counted from March,
/// so that the leap day ends a year and every month's start is a fixed day of that year.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let march_year = if month <= 2 { year - 1 } else { year };
    let era = march_year.div_euclid(400);
    let year_of_era = march_year.rem_euclid(400);
    let month_from_march = (month + 9) % 12;
    let day_of_year = (153 * month_from_march + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    era * DAYS_PER_ERA + day_of_era - EPOCH_FROM_MARCH_ZERO
}

/// The date (year, month, day) of a day count since 1970-01-01: `days_from_civil`
/// undone.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let from_march_zero = days + EPOCH_FROM_MARCH_ZERO;
    let era = from_march_zero.div_euclid(DAYS_PER_ERA);
    let day_of_era = from_march_zero.rem_euclid(DAYS_PER_ERA);
    // 365 days a year, less the leap days counted so far (every 4 years, not every 100,
    // but every 400: the era's last day is the one the division would overcount).
    let year_of_era = (day_of_era - day_of_era / 1460 + day_of_era / 36_524
        - day_of_era / (DAYS_PER_ERA - 1))
        / 365;
    let day_of_year = day_of_era - (365 * year_of_era + year_of_era / 4 - year_of_era / 100);
    let month_from_march = (5 * day_of_year + 2) / 153;
    let day = day_of_year - (153 * month_from_march + 2) / 5 + 1;
    let month = (month_from_march + 2) % 12 + 1;
    let year = era * 400 + year_of_era + i64::from(month <= 2);
    (year, month, day)
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

    /// The parser and writer replaced chrono's (for the wasm download): they must agree
    /// with it on every day of the accepted range, at every offset kind and precision.
    #[test]
    fn agrees_with_chrono() {
        use chrono::{DateTime, SecondsFormat};
        let chrono_parse = |text: &str| {
            DateTime::parse_from_rfc3339(text)
                .ok()
                .map(|time| Timestamp(time.timestamp_millis()))
                .filter(|time| (Timestamp::MIN..=Timestamp::MAX).contains(time))
        };
        // Every day from year 0 to 9999 (leap days and century rules included), each at
        // a different time of day.
        let mut millis = Timestamp::MIN.0;
        let mut step = 0;
        while millis <= Timestamp::MAX.0 {
            let time = Timestamp(millis);
            let expected = time
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(time.to_string(), expected);
            assert_eq!(Timestamp::parse(&expected), Some(time), "{expected}");
            step += 1;
            millis += MILLIS_PER_DAY + (step * 7_919_993) % MILLIS_PER_DAY / 97;
        }
        for text in [
            "2026-12-03T10:00:00Z",
            "2026-12-03t10:00:00z",
            "2026-12-03 10:00:00.1+00:00",
            "2026-12-03T10:00:00.123456789123-07:30",
            "2026-12-03T10:00:00.5\u{2212}01:00",
            "2016-12-31T23:59:60.250Z",
            "2026-06-30T12:34:60Z",
            "2000-02-29T00:00:00Z",
            "1900-02-29T00:00:00Z",
            "2026-04-31T00:00:00Z",
            "2026-00-10T00:00:00Z",
            "2026-12-00T00:00:00Z",
            "2026-12-03T24:00:00Z",
            "2026-12-03T10:60:00Z",
            "2026-12-03T10:00:61Z",
            "2026-12-03T10:00:00.Z",
            "2026-12-03T10:00:00",
            "2026-12-03T10:00:00+24:00",
            "2026-12-03T10:00:00+01:60",
            "2026-12-03T10:00:00+0100",
            "2026-12-03T10:00:00+01",
            "2026-12-03T10:00:00Z ",
            "2026-12-03X10:00:00Z",
            "+2026-12-03T10:00:00Z",
            "2026-1-03T10:00:00Z",
            "２026-12-03T10:00:00Z",
            "",
        ] {
            assert_eq!(Timestamp::parse(text), chrono_parse(text), "{text:?}");
        }
        // Out of range, built by hand: the expanded year chrono writes.
        for millis in [Timestamp::MIN.0 - 1, Timestamp::MAX.0 + 1, -1] {
            let time = Timestamp(millis);
            let expected = time
                .to_datetime()
                .to_rfc3339_opts(SecondsFormat::Millis, true);
            assert_eq!(time.to_string(), expected);
        }
    }
}
