//! Polish local time (Europe/Warsaw) for display and for wall-clock input.
//!
//! Poland uses CET (UTC+01:00) and, in summer, CEST (UTC+02:00). Since 1996 the switch follows
//! the EU rule (now Directive 2000/84/EC): summer time runs from 01:00 UTC on the last Sunday
//! of March to 01:00 UTC on the last Sunday of October. KSeF only deals with dates from 2020
//! on, so that rule is all this module knows; instants before 1996 get it too, which is
//! historically wrong (and a future change of the EU rule would need a change here).
//!
//! Hand-written on purpose: the workspace needs exactly one zone with a fixed, closed-form
//! rule. `time` has no time-zone database (its `local-offset` feature reads the *machine's*
//! zone, not Warsaw's), no crate in `Cargo.lock` provides one, and pulling a whole tzdb crate
//! (chrono-tz, jiff with its bundled database, …) for one zone is not worth it. The tests
//! check this module against the system's tzdata (`date` with `TZ=Europe/Warsaw`).
//!
//! * [`offset_at`] / [`to_warsaw`] — the Warsaw offset at an instant, the instant in Warsaw time;
//! * [`from_warsaw`] — a Warsaw wall-clock time to an instant (with the transition rules);
//! * [`format_datetime`], [`format_date`], [`format_time_hm`] — the Polish UI formats
//!   (`07.12.2026 22:14:46`, `07.12.2026`, `22:14`).

use time::macros::{offset, time};
use time::{Date, Duration, Month, OffsetDateTime, PrimitiveDateTime, UtcOffset};

/// Central European Time, UTC+01:00 (winter).
pub const CET: UtcOffset = offset!(+1);
/// Central European Summer Time, UTC+02:00.
pub const CEST: UtcOffset = offset!(+2);

/// 01:00 UTC on the last Sunday of `month`, which must have 31 days (March, October).
fn last_sunday_0100_utc(year: i32, month: Month) -> Option<OffsetDateTime> {
    let last = Date::from_calendar_date(year, month, 31).ok()?;
    let back = i64::from(last.weekday().number_days_from_sunday());
    let sunday = last.checked_sub(Duration::days(back))?;
    Some(sunday.with_time(time!(01:00)).assume_utc())
}

/// Whether summer time (CEST) is in force at the instant `t`.
fn is_summer(t: OffsetDateTime) -> bool {
    // The UTC year decides which transitions apply. At the very edge of `time`'s range the
    // UTC date may not be representable; the year of `t` itself is then just as good (it is
    // December or January, far from either transition).
    let year = t
        .checked_to_offset(UtcOffset::UTC)
        .map_or(t.year(), |utc| utc.year());
    match (
        last_sunday_0100_utc(year, Month::March),
        last_sunday_0100_utc(year, Month::October),
    ) {
        // Comparisons of `OffsetDateTime` compare instants, whatever the offsets.
        (Some(start), Some(end)) => start <= t && t < end,
        _ => false,
    }
}

/// The Warsaw offset at the instant `t`: [`CEST`] (+02:00) from 01:00 UTC on the last Sunday
/// of March up to (excluding) 01:00 UTC on the last Sunday of October, else [`CET`] (+01:00).
pub fn offset_at(t: OffsetDateTime) -> UtcOffset {
    if is_summer(t) { CEST } else { CET }
}

/// The same instant as `t`, expressed in Warsaw local time (offset +01:00 or +02:00), so that
/// its `date()`, `hour()`, … are the Polish wall clock.
///
/// Only at the very edge of `time`'s range (year ±9999), where the Warsaw wall clock is not
/// representable, is `t` returned unchanged.
pub fn to_warsaw(t: OffsetDateTime) -> OffsetDateTime {
    t.checked_to_offset(offset_at(t)).unwrap_or(t)
}

/// Interprets a Warsaw wall-clock time as an instant.
///
/// Around the two transitions a wall-clock time is not always one instant; this function
/// resolves them the way `java.time` does by default:
///
/// * **autumn overlap** (last Sunday of October, 02:00–02:59:59 happens twice): the *earlier*
///   instant, still in summer time (+02:00) — `2025-10-26 02:30` → `00:30Z`;
/// * **spring gap** (last Sunday of March, 02:00–02:59:59 does not exist): read with the
///   offset in force before the gap (+01:00), i.e. moved forward by an hour —
///   `2025-03-30 02:30` → `01:30Z`, which is `03:30` in Warsaw.
///
/// Every other wall-clock time maps to its only instant, and
/// `from_warsaw(local) == t` whenever `local` is the wall clock of [`to_warsaw`]`(t)` —
/// except for the second pass through the autumn overlap, which gives the first.
pub fn from_warsaw(local: PrimitiveDateTime) -> OffsetDateTime {
    let summer = local.assume_offset(CEST);
    if is_summer(summer) {
        summer
    } else {
        // Winter, or the spring gap (whose +02:00 reading lies before the switch).
        local.assume_offset(CET)
    }
}

/// `DD.MM.RRRR HH:MM:SS` in Warsaw time, e.g. `07.12.2026 22:14:46` for `2026-12-07 21:14:46Z`
/// (fractions of a second are cut off, not rounded).
pub fn format_datetime(t: OffsetDateTime) -> String {
    let w = to_warsaw(t);
    format!(
        "{:02}.{:02}.{:04} {:02}:{:02}:{:02}",
        w.day(),
        u8::from(w.month()),
        w.year(),
        w.hour(),
        w.minute(),
        w.second()
    )
}

/// `DD.MM.RRRR`: the Warsaw calendar date of `t`, e.g. `07.07.2026` for `2026-07-06 22:30Z`.
pub fn format_date(t: OffsetDateTime) -> String {
    let w = to_warsaw(t);
    format!("{:02}.{:02}.{:04}", w.day(), u8::from(w.month()), w.year())
}

/// `HH:MM`: the Warsaw wall-clock time of `t` (24-hour clock), e.g. `22:14`.
pub fn format_time_hm(t: OffsetDateTime) -> String {
    let w = to_warsaw(t);
    format!("{:02}:{:02}", w.hour(), w.minute())
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use std::process::{Command, Stdio};
    use time::macros::{date, datetime};

    /// Days of the transitions (last Sundays of March and October), both at 01:00 UTC, written
    /// out from `zdump -v -c 2020,2036 Europe/Warsaw` rather than computed, so that the tests do
    /// not share the module's arithmetic. 2020, 2024, 2028 and 2032 are leap years.
    const TRANSITIONS: [(i32, u8, u8); 16] = [
        (2020, 29, 25),
        (2021, 28, 31),
        (2022, 27, 30),
        (2023, 26, 29),
        (2024, 31, 27),
        (2025, 30, 26),
        (2026, 29, 25),
        (2027, 28, 31),
        (2028, 26, 29),
        (2029, 25, 28),
        (2030, 31, 27),
        (2031, 30, 26),
        (2032, 28, 31),
        (2033, 27, 30),
        (2034, 26, 29),
        (2035, 25, 28),
    ];

    fn at_0100_utc(year: i32, month: Month, day: u8) -> OffsetDateTime {
        Date::from_calendar_date(year, month, day)
            .unwrap()
            .with_time(time!(01:00))
            .assume_utc()
    }

    /// `(start, end)` of summer time for each year of [`TRANSITIONS`].
    fn transitions() -> impl Iterator<Item = (OffsetDateTime, OffsetDateTime)> {
        TRANSITIONS.iter().map(|&(year, march, october)| {
            (
                at_0100_utc(year, Month::March, march),
                at_0100_utc(year, Month::October, october),
            )
        })
    }

    const SECOND: Duration = Duration::SECOND;

    #[test]
    fn transitions_2025_to_the_second() {
        assert_eq!(offset_at(datetime!(2025-03-30 00:59:59 UTC)), CET);
        assert_eq!(offset_at(datetime!(2025-03-30 01:00:00 UTC)), CEST);
        assert_eq!(offset_at(datetime!(2025-10-26 00:59:59 UTC)), CEST);
        assert_eq!(offset_at(datetime!(2025-10-26 01:00:00 UTC)), CET);
        // Half a second before the switch is still before it.
        assert_eq!(offset_at(datetime!(2025-03-30 00:59:59.999999999 UTC)), CET);
        assert_eq!(offset_at(datetime!(2025-10-26 00:59:59.5 UTC)), CEST);
    }

    #[test]
    fn transitions_2026_2027_2030_and_leap_years() {
        for (before, at, expected_before, expected_at) in [
            (
                datetime!(2026-03-29 00:59:59 UTC),
                datetime!(2026-03-29 01:00 UTC),
                CET,
                CEST,
            ),
            (
                datetime!(2026-10-25 00:59:59 UTC),
                datetime!(2026-10-25 01:00 UTC),
                CEST,
                CET,
            ),
            (
                datetime!(2027-03-28 00:59:59 UTC),
                datetime!(2027-03-28 01:00 UTC),
                CET,
                CEST,
            ),
            (
                datetime!(2027-10-31 00:59:59 UTC),
                datetime!(2027-10-31 01:00 UTC),
                CEST,
                CET,
            ),
            (
                datetime!(2030-03-31 00:59:59 UTC),
                datetime!(2030-03-31 01:00 UTC),
                CET,
                CEST,
            ),
            (
                datetime!(2030-10-27 00:59:59 UTC),
                datetime!(2030-10-27 01:00 UTC),
                CEST,
                CET,
            ),
            // leap years: 2024 (last Sunday of March is the 31st), 2028
            (
                datetime!(2024-03-31 00:59:59 UTC),
                datetime!(2024-03-31 01:00 UTC),
                CET,
                CEST,
            ),
            (
                datetime!(2024-10-27 00:59:59 UTC),
                datetime!(2024-10-27 01:00 UTC),
                CEST,
                CET,
            ),
            (
                datetime!(2028-03-26 00:59:59 UTC),
                datetime!(2028-03-26 01:00 UTC),
                CET,
                CEST,
            ),
            (
                datetime!(2028-10-29 00:59:59 UTC),
                datetime!(2028-10-29 01:00 UTC),
                CEST,
                CET,
            ),
        ] {
            assert_eq!(offset_at(before), expected_before, "{before}");
            assert_eq!(offset_at(at), expected_at, "{at}");
        }
    }

    #[test]
    fn every_transition_2020_to_2035() {
        for (start, end) in transitions() {
            assert_eq!(offset_at(start - SECOND), CET, "{start}");
            assert_eq!(offset_at(start), CEST, "{start}");
            assert_eq!(offset_at(end - SECOND), CEST, "{end}");
            assert_eq!(offset_at(end), CET, "{end}");
        }
    }

    #[test]
    fn the_offset_of_the_input_does_not_matter() {
        // 2025-03-30 00:59:59Z written in three offsets
        for t in [
            datetime!(2025-03-30 00:59:59 UTC),
            datetime!(2025-03-30 05:59:59 +05:00),
            datetime!(2025-03-29 20:59:59 -04:00),
        ] {
            assert_eq!(offset_at(t), CET);
            assert_eq!(offset_at(t + SECOND), CEST);
        }
        // Around New Year the UTC year, not the local one, picks the rule (both winter anyway).
        assert_eq!(offset_at(datetime!(2026-01-01 00:30 +03:00)), CET);
    }

    #[test]
    fn to_warsaw_keeps_the_instant() {
        let winter = datetime!(2026-12-07 21:14:46.123 UTC);
        let w = to_warsaw(winter);
        assert_eq!(w, winter);
        assert_eq!(w.offset(), CET);
        assert_eq!(w, datetime!(2026-12-07 22:14:46.123 +01:00));
        let summer = datetime!(2026-07-06 22:30 UTC);
        assert_eq!(to_warsaw(summer), datetime!(2026-07-07 00:30 +02:00));
        assert_eq!(to_warsaw(summer).offset(), CEST);
        // Through the autumn overlap: 02:30 +02:00, then an hour later 02:30 +01:00.
        assert_eq!(
            to_warsaw(datetime!(2025-10-26 00:30 UTC)),
            datetime!(2025-10-26 02:30 +02:00)
        );
        assert_eq!(
            to_warsaw(datetime!(2025-10-26 01:30 UTC)),
            datetime!(2025-10-26 02:30 +01:00)
        );
    }

    #[test]
    fn formats() {
        let t = datetime!(2026-12-07 21:14:46.999 UTC);
        assert_eq!(format_datetime(t), "07.12.2026 22:14:46");
        assert_eq!(format_date(t), "07.12.2026");
        assert_eq!(format_time_hm(t), "22:14");
        // Summer; the Warsaw date is already the next day.
        let t = datetime!(2026-07-06 22:30:05 UTC);
        assert_eq!(format_datetime(t), "07.07.2026 00:30:05");
        assert_eq!(format_date(t), "07.07.2026");
        assert_eq!(format_time_hm(t), "00:30");
        // New Year's Eve in UTC is New Year in Warsaw.
        let t = datetime!(2025-12-31 23:00 UTC);
        assert_eq!(format_datetime(t), "01.01.2026 00:00:00");
        // The input's offset is irrelevant.
        assert_eq!(
            format_datetime(datetime!(2025-03-30 08:00 +07:00)),
            "30.03.2025 03:00:00"
        );
        assert_eq!(format_time_hm(datetime!(2025-03-30 00:59:59 UTC)), "01:59");
    }

    #[test]
    fn from_warsaw_plain_times() {
        let local = |d: Date, h, m| d.with_hms(h, m, 0).unwrap();
        assert_eq!(
            from_warsaw(local(date!(2026 - 12 - 07), 22, 14)),
            datetime!(2026-12-07 21:14 UTC)
        );
        assert_eq!(
            from_warsaw(local(date!(2026 - 07 - 07), 0, 30)),
            datetime!(2026-07-06 22:30 UTC)
        );
        assert_eq!(
            from_warsaw(local(date!(2026 - 01 - 01), 0, 30)),
            datetime!(2025-12-31 23:30 UTC)
        );
        // the result carries the Warsaw offset
        assert_eq!(
            from_warsaw(local(date!(2026 - 07 - 07), 0, 30)).offset(),
            CEST
        );
    }

    #[test]
    fn from_warsaw_at_the_transitions() {
        let p = |t: OffsetDateTime| PrimitiveDateTime::new(t.date(), t.time());
        // Spring: 01:59:59 is the last winter second, 03:00 the first summer one.
        assert_eq!(
            from_warsaw(p(datetime!(2025-03-30 01:59:59 UTC))),
            datetime!(2025-03-30 00:59:59 UTC)
        );
        assert_eq!(
            from_warsaw(p(datetime!(2025-03-30 03:00 UTC))),
            datetime!(2025-03-30 01:00 UTC)
        );
        // The gap 02:00–02:59:59 is read with +01:00 (one hour later on the wall clock).
        let gap = from_warsaw(p(datetime!(2025-03-30 02:30 UTC)));
        assert_eq!(gap, datetime!(2025-03-30 01:30 UTC));
        assert_eq!(format_datetime(gap), "30.03.2025 03:30:00");
        assert_eq!(
            from_warsaw(p(datetime!(2025-03-30 02:00 UTC))),
            datetime!(2025-03-30 01:00 UTC)
        );
        // Autumn: the overlap 02:00–02:59:59 takes the first (summer) pass.
        assert_eq!(
            from_warsaw(p(datetime!(2025-10-26 01:59:59 UTC))),
            datetime!(2025-10-25 23:59:59 UTC)
        );
        assert_eq!(
            from_warsaw(p(datetime!(2025-10-26 02:30 UTC))),
            datetime!(2025-10-26 00:30 UTC)
        );
        assert_eq!(
            from_warsaw(p(datetime!(2025-10-26 02:59:59 UTC))),
            datetime!(2025-10-26 00:59:59 UTC)
        );
        assert_eq!(
            from_warsaw(p(datetime!(2025-10-26 03:00 UTC))),
            datetime!(2025-10-26 02:00 UTC)
        );
    }

    #[test]
    fn the_edges_of_time_do_not_panic() {
        for t in [
            PrimitiveDateTime::MAX.assume_utc(),
            PrimitiveDateTime::MIN.assume_utc(),
            PrimitiveDateTime::MAX.assume_offset(offset!(-23:59:59)),
            PrimitiveDateTime::MIN.assume_offset(offset!(+23:59:59)),
        ] {
            let _ = offset_at(t);
            let _ = to_warsaw(t);
            let _ = format_datetime(t);
        }
        let _ = from_warsaw(PrimitiveDateTime::MAX);
        let _ = from_warsaw(PrimitiveDateTime::MIN);
    }

    /// The instants checked against the system's tzdata: every transition ±1 s (from the
    /// hand-written table, not from the module) and about 3000 instants spread over 2020–2035
    /// with a step that is not a whole number of hours or days, so times of day vary.
    fn oracle_instants() -> Vec<OffsetDateTime> {
        let mut out = Vec::new();
        for (start, end) in transitions() {
            for edge in [start, end] {
                out.extend([edge - SECOND, edge, edge + SECOND]);
            }
        }
        let first = datetime!(2020-01-01 00:00 UTC);
        let last = datetime!(2036-01-01 00:00 UTC);
        let step = Duration::seconds(168_337); // ≈ 1.95 days
        let mut t = first;
        while t < last {
            out.push(t);
            t += step;
        }
        out
    }

    /// Asks `date` (GNU coreutils) for the Warsaw offset and wall clock of each instant, in one
    /// process (`-f -` reads one `-d` argument a line). Panics when `date` or the zone file is
    /// missing: without the oracle this test must fail, not pass vacuously.
    fn system_tzdata(instants: &[OffsetDateTime]) -> Vec<String> {
        let zone_dir = std::env::var_os("TZDIR").unwrap_or_else(|| "/usr/share/zoneinfo".into());
        let zone_file = std::path::Path::new(&zone_dir).join("Europe/Warsaw");
        assert!(
            zone_file.is_file(),
            "{} is missing: install tzdata (the oracle test needs the system's zone file)",
            zone_file.display()
        );
        let mut child = Command::new("date")
            .args(["-f", "-", "+%z %d.%m.%Y %H:%M:%S"])
            .env("TZ", "Europe/Warsaw")
            .env("LC_ALL", "C")
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("cannot run `date` (GNU coreutils), which the oracle test needs");
        let input: String = instants
            .iter()
            .map(|t| format!("@{}\n", t.unix_timestamp()))
            .collect();
        // Written from another thread while this one reads the output, so that neither pipe
        // can fill up and block both processes; dropping stdin there closes it.
        let mut stdin = child.stdin.take().expect("piped stdin");
        let writer = std::thread::spawn(move || stdin.write_all(input.as_bytes()));
        let output = child.wait_with_output().expect("wait for `date`");
        writer
            .join()
            .expect("writer thread")
            .expect("write to `date`");
        assert!(
            output.status.success(),
            "`date` failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
        );
        let lines: Vec<String> = String::from_utf8(output.stdout)
            .expect("`date` output is ASCII")
            .lines()
            .map(str::to_owned)
            .collect();
        assert_eq!(
            lines.len(),
            instants.len(),
            "one line of `date` per instant"
        );
        lines
    }

    #[test]
    fn agrees_with_the_system_tzdata() {
        let instants = oracle_instants();
        assert!(instants.len() > 3000, "{}", instants.len());
        let oracle = system_tzdata(&instants);
        // A missing or broken zone makes `date` fall back to UTC silently; both offsets must
        // show up, or the comparison below would report confusing mismatches.
        for needle in ["+0100 ", "+0200 "] {
            assert!(
                oracle.iter().any(|l| l.starts_with(needle)),
                "the system's Europe/Warsaw never reports {needle}"
            );
        }
        let mut mismatches = Vec::new();
        for (t, expected) in instants.iter().zip(&oracle) {
            let offset = offset_at(*t);
            let ours = format!(
                "+{:02}{:02} {}",
                offset.whole_hours(),
                offset.minutes_past_hour(),
                format_datetime(*t)
            );
            if &ours != expected {
                mismatches.push(format!("{t}: ours {ours}, tzdata {expected}"));
            }
            // And back: the wall clock gives the instant again, except in the second pass
            // through the autumn overlap (which gives the first, an hour earlier).
            let w = to_warsaw(*t);
            let back = from_warsaw(PrimitiveDateTime::new(w.date(), w.time()));
            let second_pass = w.offset() == CET && offset_at(back) == CEST;
            if back != *t && !(second_pass && back == *t - Duration::HOUR) {
                mismatches.push(format!("{t}: from_warsaw(to_warsaw) = {back}"));
            }
        }
        assert!(
            mismatches.is_empty(),
            "{} of {} instants disagree:\n{}",
            mismatches.len(),
            instants.len(),
            mismatches.join("\n")
        );
    }
}
