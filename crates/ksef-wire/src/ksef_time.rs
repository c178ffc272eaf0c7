//! Serde helpers for KSeF timestamps and dates (digest §2.4).
//!
//! * Output: UTC, 7 fractional digits, explicit `+00:00` offset — exactly what KSeF writes,
//!   e.g. `2025-07-11T12:23:56.0154302+00:00` ([`format`](fn@format)).
//! * Input: any RFC 3339 / ISO-8601 date-time — `Z` or a numeric offset (`+00:00`, `+0000`),
//!   no fraction or 1–9 fractional digits; a value *without* an offset is taken as UTC
//!   (older legacy error bodies wrote their UTC timestamp that way), a bare date as its
//!   midnight ([`parse`]). Request fields of the emulator read offset-less values as
//!   Europe/Warsaw local time instead ([`crate::warsaw`]).
//!
//! Use with `#[serde(with = "ksef_time")]`, `#[serde(with = "ksef_time::option")]`, the
//! `Z` variant [`zulu`] (legacy `ExceptionInfo.timestamp`) and [`date`] for
//! `YYYY-MM-DD` dates.
//!
//! The formatter is hand-written (a `write!` over the date-time components) rather than a
//! `time` format description, because it cannot fail and pins the exact KSeF shape.

use std::fmt::Write as _;

use serde::{Deserialize, Deserializer, Serializer};
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::macros::format_description;
use time::{Date, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// A timestamp string that is not an RFC 3339 / ISO-8601 date-time.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error(
    "invalid timestamp {value:?}: expected an ISO-8601 date-time such as 2025-07-11T12:23:56.0154302+00:00"
)]
pub struct TimestampError {
    /// The rejected input.
    pub value: String,
}

/// A date string that is not `YYYY-MM-DD`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid date {value:?}: expected YYYY-MM-DD")]
pub struct DateError {
    /// The rejected input.
    pub value: String,
}

fn write_naive(out: &mut String, dt: OffsetDateTime) {
    // `write!` into a String cannot fail.
    let _ = write!(
        out,
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}",
        dt.year(),
        u8::from(dt.month()),
        dt.day(),
        dt.hour(),
        dt.minute(),
        dt.second(),
        dt.nanosecond() / 100,
    );
}

fn write_offset(out: &mut String, offset: UtcOffset) {
    let (h, m, _) = offset.as_hms();
    let sign = if offset.is_negative() { '-' } else { '+' };
    let _ = write!(out, "{sign}{:02}:{:02}", h.unsigned_abs(), m.unsigned_abs());
}

/// Converts to UTC when representable (it is for every date KSeF can produce).
fn to_utc(dt: OffsetDateTime) -> OffsetDateTime {
    dt.checked_to_offset(UtcOffset::UTC).unwrap_or(dt)
}

/// Formats like KSeF: UTC, 7 fractional digits, `+00:00` (sub-100 ns precision is dropped).
pub fn format(dt: OffsetDateTime) -> String {
    let dt = to_utc(dt);
    let mut out = String::with_capacity(33);
    write_naive(&mut out, dt);
    write_offset(&mut out, dt.offset());
    out
}

/// Years a parsed date-time may have: far enough from the `time` crate's limits (±9999) that
/// offset and calendar arithmetic on it cannot overflow (such arithmetic panics instead of
/// failing). Year 1 stays: the official examples use .NET's `0001-01-01T00:00:00+00:00`.
pub const SUPPORTED_YEARS: std::ops::RangeInclusive<i32> = 1..=9000;

/// Parses any RFC 3339 / ISO-8601 date-time; a missing offset means UTC. A bare date
/// (`2026-12-06`) is accepted as its midnight, as the real service (.NET) accepts it for
/// `date-time` fields. Years outside [`SUPPORTED_YEARS`] are refused.
pub fn parse(s: &str) -> Result<OffsetDateTime, TimestampError> {
    let s = s.trim();
    OffsetDateTime::parse(s, &Rfc3339)
        .or_else(|_| OffsetDateTime::parse(s, &Iso8601::DEFAULT))
        .or_else(|_| PrimitiveDateTime::parse(s, &Iso8601::DEFAULT).map(|p| p.assume_utc()))
        .or_else(|_| date::parse(s).map(|d| d.midnight().assume_utc()))
        .ok()
        .filter(|dt| SUPPORTED_YEARS.contains(&dt.year()))
        .ok_or_else(|| TimestampError {
            value: s.to_owned(),
        })
}

/// Serializes with [`format`](fn@format).
pub fn serialize<S: Serializer>(dt: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_str(&format(*dt))
}

/// Deserializes with [`parse`].
pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<OffsetDateTime, D::Error> {
    let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
    parse(&s).map_err(serde::de::Error::custom)
}

/// `Option<OffsetDateTime>` variant (`None` ⇔ JSON `null`); pair with `#[serde(default)]`.
pub mod option {
    use super::*;

    /// Serializes `Some` with [`format`](fn@super::format), `None` as `null`.
    pub fn serialize<S: Serializer>(
        dt: &Option<OffsetDateTime>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match dt {
            Some(dt) => super::serialize(dt, serializer),
            None => serializer.serialize_none(),
        }
    }

    /// Accepts `null` or a timestamp string.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Option<OffsetDateTime>, D::Error> {
        match Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? {
            Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
            None => Ok(None),
        }
    }
}

/// UTC timestamps written with a `Z` designator and 7 fractional digits
/// (`2025-11-09T22:54:08.6741818Z`), as the real service writes the legacy
/// `ExceptionInfo.timestamp` (a 400 body from TEST). Parsing accepts everything [`parse`]
/// accepts, including the offset-less form older bodies used.
pub mod zulu {
    use super::*;

    /// Formats in UTC with 7 fractional digits and `Z`.
    pub fn format(dt: OffsetDateTime) -> String {
        let mut out = String::with_capacity(28);
        write_naive(&mut out, to_utc(dt));
        out.push('Z');
        out
    }

    /// Serializes with [`format`](fn@format).
    pub fn serialize<S: Serializer>(dt: &OffsetDateTime, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*dt))
    }

    /// Deserializes with `parse`.
    pub fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<OffsetDateTime, D::Error> {
        super::deserialize(deserializer)
    }

    /// `Option` variant of [`zulu`](self).
    pub mod option {
        use super::*;

        /// Serializes `Some` with [`format`](fn@super::format), `None` as `null`.
        pub fn serialize<S: Serializer>(
            dt: &Option<OffsetDateTime>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match dt {
                Some(dt) => super::serialize(dt, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Accepts `null` or a timestamp string.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<OffsetDateTime>, D::Error> {
            super::super::option::deserialize(deserializer)
        }
    }
}

/// Calendar dates as `YYYY-MM-DD`.
pub mod date {
    use super::*;

    const FORMAT: &[time::format_description::BorrowedFormatItem<'static>] =
        format_description!("[year]-[month]-[day]");

    /// Formats as `YYYY-MM-DD`.
    pub fn format(d: Date) -> String {
        format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
    }

    /// Parses `YYYY-MM-DD`.
    pub fn parse(s: &str) -> Result<Date, DateError> {
        Date::parse(s.trim(), FORMAT).map_err(|_| DateError {
            value: s.to_owned(),
        })
    }

    /// Serializes with [`format`](fn@format).
    pub fn serialize<S: Serializer>(d: &Date, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format(*d))
    }

    /// Deserializes with [`parse`].
    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Date, D::Error> {
        let s = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        parse(&s).map_err(serde::de::Error::custom)
    }

    /// `Option<Date>` variant (`None` ⇔ `null`); pair with `#[serde(default)]`.
    pub mod option {
        use super::*;

        /// Serializes `Some` as `YYYY-MM-DD`, `None` as `null`.
        pub fn serialize<S: Serializer>(
            d: &Option<Date>,
            serializer: S,
        ) -> Result<S::Ok, S::Error> {
            match d {
                Some(d) => super::serialize(d, serializer),
                None => serializer.serialize_none(),
            }
        }

        /// Accepts `null` or `YYYY-MM-DD`.
        pub fn deserialize<'de, D: Deserializer<'de>>(
            deserializer: D,
        ) -> Result<Option<Date>, D::Error> {
            match Option::<std::borrow::Cow<'de, str>>::deserialize(deserializer)? {
                Some(s) => parse(&s).map(Some).map_err(serde::de::Error::custom),
                None => Ok(None),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    #[test]
    fn extreme_years_are_refused_not_panicking_later() {
        for s in [
            "9999-12-31T23:30:00Z",
            "9999-12-31T23:30:00-05:00",
            "9001-01-01T00:00:00Z",
        ] {
            assert!(parse(s).is_err(), "{s}");
        }
        assert!(parse("0001-01-01T00:00:00+00:00").is_ok());
        assert!(parse("2026-11-25T10:00:00+01:00").is_ok());
        // A bare date is its midnight, as the real service (.NET) reads it.
        assert_eq!(parse("2026-12-06"), Ok(datetime!(2026-12-06 00:00 UTC)));
        assert!(parse("2026-13-06").is_err());
    }

    #[test]
    fn formats_like_ksef() {
        let dt = datetime!(2025-07-11 12:23:56.0154302 UTC);
        assert_eq!(format(dt), "2025-07-11T12:23:56.0154302+00:00");
        assert_eq!(zulu::format(dt), "2025-07-11T12:23:56.0154302Z");
        // Other offsets are converted to UTC.
        let warsaw = datetime!(2025-07-11 14:23:56 +02:00);
        assert_eq!(format(warsaw), "2025-07-11T12:23:56.0000000+00:00");
        // Year 1 (seen in the OpenAPI examples) keeps four digits.
        assert_eq!(
            format(datetime!(0001-01-01 00:00:00 UTC)),
            "0001-01-01T00:00:00.0000000+00:00"
        );
    }

    #[test]
    fn parses_variants() {
        let exact = datetime!(2025-07-11 12:23:56 UTC);
        for s in [
            "2025-07-11T12:23:56Z",
            "2025-07-11T12:23:56+00:00",
            "2025-07-11T14:23:56+02:00",
            "2025-07-11T12:23:56.0Z",
            "2025-07-11T12:23:56.000000000+00:00",
            "2025-07-11T12:23:56",
            "2025-07-11T12:23:56+0000",
        ] {
            assert_eq!(parse(s), Ok(exact), "{s}");
        }
        for (s, nanos) in [
            ("2025-07-11T12:23:56.3Z", 300_000_000),
            ("2025-07-11T12:23:56.388+00:00", 388_000_000),
            ("2025-07-11T12:23:56.346684Z", 346_684_000),
            ("2025-07-11T12:23:56.0154302+00:00", 15_430_200),
            ("2025-07-11T12:23:56.0154302", 15_430_200),
            ("2025-07-11T12:23:56.123456789-01:00", 123_456_789),
        ] {
            let dt = parse(s).unwrap_or_else(|e| panic!("{e}"));
            assert_eq!(dt.nanosecond(), nanos, "{s}");
        }
        assert_eq!(
            parse("2025-07-11T12:23:56.123456789-01:00").map(|d| d.hour()),
            Ok(12)
        );
    }

    #[test]
    fn rejects_garbage() {
        // (A bare date such as "2025-07-11" is accepted: see `parses_variants`.)
        for s in [
            "",
            "2025-07-1",
            "yesterday",
            "2025-13-11T12:23:56Z",
            "2025-07-11T25:00:00Z",
        ] {
            let err = parse(s).unwrap_err();
            assert!(err.to_string().contains("invalid timestamp"), "{s}");
        }
    }

    #[test]
    fn dates() {
        assert_eq!(date::parse("2025-08-25"), Ok(date!(2025 - 08 - 25)));
        assert_eq!(date::format(date!(2026 - 01 - 02)), "2026-01-02");
        assert!(date::parse("2025-8-25").is_err());
        assert!(date::parse("2025-02-30").is_err());
    }
}
