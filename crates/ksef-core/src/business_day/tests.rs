use std::collections::BTreeMap;

use time::macros::date;
use time::{Date, Month, Weekday};

use super::*;

/// Gregorian Easter Sundays 2000–2040 as `(year, month, day)`, written out from a reference
/// table rather than computed by the module (produced with python-dateutil's
/// `dateutil.easter.easter(y, EASTER_WESTERN)`, which follows a different formulation of the
/// computus, and agreeing with the commonly published dates, e.g. 2008-03-23, 2011-04-24,
/// 2026-04-05, 2027-03-28, 2038-04-25).
const EASTER_2000_2040: [(i32, u8, u8); 41] = [
    (2000, 4, 23),
    (2001, 4, 15),
    (2002, 3, 31),
    (2003, 4, 20),
    (2004, 4, 11),
    (2005, 3, 27),
    (2006, 4, 16),
    (2007, 4, 8),
    (2008, 3, 23),
    (2009, 4, 12),
    (2010, 4, 4),
    (2011, 4, 24),
    (2012, 4, 8),
    (2013, 3, 31),
    (2014, 4, 20),
    (2015, 4, 5),
    (2016, 3, 27),
    (2017, 4, 16),
    (2018, 4, 1),
    (2019, 4, 21),
    (2020, 4, 12),
    (2021, 4, 4),
    (2022, 4, 17),
    (2023, 4, 9),
    (2024, 3, 31),
    (2025, 4, 20),
    (2026, 4, 5),
    (2027, 3, 28),
    (2028, 4, 16),
    (2029, 4, 1),
    (2030, 4, 21),
    (2031, 4, 13),
    (2032, 3, 28),
    (2033, 4, 17),
    (2034, 4, 9),
    (2035, 3, 25),
    (2036, 4, 13),
    (2037, 4, 5),
    (2038, 4, 25),
    (2039, 4, 10),
    (2040, 4, 1),
];

/// Further reference Easters (same source) at the edges: the first Gregorian year, both
/// extremes (22 March, 25 April) and centuries where the Gregorian corrections kick in.
const EASTER_FAR: [(i32, u8, u8); 9] = [
    (1583, 4, 10),
    (1700, 4, 11),
    (1818, 3, 22),
    (1886, 4, 25),
    (1943, 4, 25),
    (2285, 3, 22),
    (2400, 4, 16),
    (4099, 4, 19),
    (9999, 3, 28),
];

fn ymd(year: i32, month: u8, day: u8) -> Date {
    let month = Month::try_from(month).expect("month in the table");
    Date::from_calendar_date(year, month, day).expect("date in the table")
}

fn reference_easter(year: i32) -> Date {
    let &(y, m, d) = EASTER_2000_2040
        .iter()
        .find(|(y, _, _)| *y == year)
        .expect("year in the reference table");
    ymd(y, m, d)
}

/// The holidays of `year` (2000–2040) built from the reference Easter table and the statute's
/// list, without the module's code: the oracle for the day-by-day comparisons.
fn reference_holidays(year: i32) -> BTreeMap<Date, PublicHoliday> {
    use PublicHoliday::*;
    let easter = reference_easter(year);
    let mut out = BTreeMap::new();
    for (month, day, holiday) in [
        (1, 1, NewYear),
        (5, 1, StateHoliday),
        (5, 3, ConstitutionDay),
        (8, 15, Assumption),
        (11, 1, AllSaints),
        (11, 11, IndependenceDay),
        (12, 25, Christmas),
        (12, 26, SecondDayOfChristmas),
    ] {
        out.insert(ymd(year, month, day), holiday);
    }
    if year >= 2011 {
        out.insert(ymd(year, 1, 6), Epiphany);
    }
    if year >= 2025 {
        out.insert(ymd(year, 12, 24), ChristmasEve);
    }
    for (days, holiday) in [
        (0, EasterSunday),
        (1, EasterMonday),
        (49, Pentecost),
        (60, CorpusChristi),
    ] {
        out.insert(easter + time::Duration::days(days), holiday);
    }
    out
}

fn days(from: Date, to_inclusive: Date) -> impl Iterator<Item = Date> {
    std::iter::successors(Some(from), move |d| {
        d.next_day().filter(|n| *n <= to_inclusive)
    })
}

#[test]
fn easter_matches_the_reference_table_2000_to_2040() {
    for &(year, month, day) in EASTER_2000_2040.iter().chain(&EASTER_FAR) {
        assert_eq!(easter_sunday(year), Some(ymd(year, month, day)), "{year}");
    }
}

/// Gauss's Easter algorithm (Gregorian, with the two exceptions of 1816), an independent
/// formulation of the computus, with floor division so that it covers negative years too.
fn gauss_easter(year: i32) -> (u8, u8) {
    let a = year.rem_euclid(19);
    let b = year.rem_euclid(4);
    let c = year.rem_euclid(7);
    let k = year.div_euclid(100);
    let p = (13 + 8 * k).div_euclid(25);
    let q = k.div_euclid(4);
    let m = (15 - p + k - q).rem_euclid(30);
    let n = (4 + k - q).rem_euclid(7);
    let d = (19 * a + m).rem_euclid(30);
    let e = (2 * b + 4 * c + 6 * d + n).rem_euclid(7);
    let (month, day) = if 22 + d + e <= 31 {
        (3, 22 + d + e)
    } else {
        (4, d + e - 9)
    };
    let day = if month == 4 && day == 26 {
        19
    } else if month == 4 && day == 25 && d == 28 && e == 6 && (11 * m + 11).rem_euclid(30) < 19 {
        18
    } else {
        day
    };
    (month, u8::try_from(day).expect("a day of the month"))
}

#[test]
fn easter_agrees_with_gauss_in_every_year() {
    for &(year, month, day) in EASTER_2000_2040.iter().chain(&EASTER_FAR) {
        assert_eq!(
            gauss_easter(year),
            (month, day),
            "the oracle itself, {year}"
        );
    }
    for year in Date::MIN.year()..=Date::MAX.year() {
        let (month, day) = gauss_easter(year);
        assert_eq!(easter_sunday(year), Some(ymd(year, month, day)), "{year}");
    }
}

#[test]
fn easter_is_a_sunday_from_22_march_to_25_april_in_every_year() {
    for year in Date::MIN.year()..=Date::MAX.year() {
        let easter = easter_sunday(year).unwrap_or_else(|| panic!("no Easter in {year}"));
        assert_eq!(easter.year(), year);
        assert_eq!(easter.weekday(), Weekday::Sunday, "{easter}");
        assert!(
            (ymd(year, 3, 22)..=ymd(year, 4, 25)).contains(&easter),
            "{easter}"
        );
    }
    assert_eq!(easter_sunday(Date::MAX.year() + 1), None);
    assert_eq!(easter_sunday(Date::MIN.year() - 1), None);
    assert_eq!(easter_sunday(i32::MAX), None);
    assert_eq!(easter_sunday(i32::MIN), None);
}

#[test]
fn every_holiday_of_2026() {
    use PublicHoliday::*;
    let expected = [
        (date!(2026 - 01 - 01), NewYear, Weekday::Thursday),
        (date!(2026 - 01 - 06), Epiphany, Weekday::Tuesday),
        (date!(2026 - 04 - 05), EasterSunday, Weekday::Sunday),
        (date!(2026 - 04 - 06), EasterMonday, Weekday::Monday),
        (date!(2026 - 05 - 01), StateHoliday, Weekday::Friday),
        (date!(2026 - 05 - 03), ConstitutionDay, Weekday::Sunday),
        (date!(2026 - 05 - 24), Pentecost, Weekday::Sunday),
        (date!(2026 - 06 - 04), CorpusChristi, Weekday::Thursday),
        (date!(2026 - 08 - 15), Assumption, Weekday::Saturday),
        (date!(2026 - 11 - 01), AllSaints, Weekday::Sunday),
        (date!(2026 - 11 - 11), IndependenceDay, Weekday::Wednesday),
        (date!(2026 - 12 - 24), ChristmasEve, Weekday::Thursday),
        (date!(2026 - 12 - 25), Christmas, Weekday::Friday),
        (
            date!(2026 - 12 - 26),
            SecondDayOfChristmas,
            Weekday::Saturday,
        ),
    ];
    check_year(2026, &expected);
}

#[test]
fn every_holiday_of_2027() {
    use PublicHoliday::*;
    let expected = [
        (date!(2027 - 01 - 01), NewYear, Weekday::Friday),
        (date!(2027 - 01 - 06), Epiphany, Weekday::Wednesday),
        (date!(2027 - 03 - 28), EasterSunday, Weekday::Sunday),
        (date!(2027 - 03 - 29), EasterMonday, Weekday::Monday),
        (date!(2027 - 05 - 01), StateHoliday, Weekday::Saturday),
        (date!(2027 - 05 - 03), ConstitutionDay, Weekday::Monday),
        (date!(2027 - 05 - 16), Pentecost, Weekday::Sunday),
        (date!(2027 - 05 - 27), CorpusChristi, Weekday::Thursday),
        (date!(2027 - 08 - 15), Assumption, Weekday::Sunday),
        (date!(2027 - 11 - 01), AllSaints, Weekday::Monday),
        (date!(2027 - 11 - 11), IndependenceDay, Weekday::Thursday),
        (date!(2027 - 12 - 24), ChristmasEve, Weekday::Friday),
        (date!(2027 - 12 - 25), Christmas, Weekday::Saturday),
        (date!(2027 - 12 - 26), SecondDayOfChristmas, Weekday::Sunday),
    ];
    check_year(2027, &expected);
}

/// `expected` is the whole list of `year`, with weekdays (from `date`/`cal`, not the module).
fn check_year(year: i32, expected: &[(Date, PublicHoliday, Weekday)]) {
    let listed: Vec<(Date, PublicHoliday)> = expected.iter().map(|&(d, h, _)| (d, h)).collect();
    assert_eq!(public_holidays(year), listed);
    for &(day, holiday, weekday) in expected {
        assert_eq!(day.weekday(), weekday, "{day}");
        assert_eq!(public_holiday(day), Some(holiday), "{day}");
        assert!(is_public_holiday(day), "{day}");
        assert!(!is_business_day(day), "{day}");
        assert_eq!(holiday.date_in(year), Some(day), "{holiday:?}");
    }
    // No other day of the year is a holiday.
    let found: Vec<Date> = days(ymd(year, 1, 1), ymd(year, 12, 31))
        .filter(|d| is_public_holiday(*d))
        .collect();
    assert_eq!(found, listed.iter().map(|(d, _)| *d).collect::<Vec<_>>());
}

#[test]
fn christmas_eve_is_a_holiday_from_2025_and_epiphany_from_2011() {
    // 24 December 2024 was a Tuesday and an ordinary business day.
    assert_eq!(public_holiday(date!(2024 - 12 - 24)), None);
    assert!(is_business_day(date!(2024 - 12 - 24)));
    assert_eq!(PublicHoliday::ChristmasEve.date_in(2024), None);
    assert_eq!(
        public_holiday(date!(2025 - 12 - 24)),
        Some(PublicHoliday::ChristmasEve)
    );
    assert!(!is_business_day(date!(2025 - 12 - 24)));
    // 6 January 2010 was a Wednesday and a business day, 6 January 2011 a Thursday holiday.
    assert!(is_business_day(date!(2010 - 01 - 06)));
    assert_eq!(
        public_holiday(date!(2011 - 01 - 06)),
        Some(PublicHoliday::Epiphany)
    );
    assert_eq!(public_holidays(2010).len(), 12);
    assert_eq!(public_holidays(2024).len(), 13);
    assert_eq!(public_holidays(2025).len(), 14);
    assert!(public_holidays(Date::MAX.year() + 1).is_empty());
}

#[test]
fn holidays_and_business_days_2000_to_2040_against_the_reference() {
    let mut mismatches = Vec::new();
    for year in 2000..=2040 {
        let reference = reference_holidays(year);
        let listed: Vec<(Date, PublicHoliday)> = reference.iter().map(|(d, h)| (*d, *h)).collect();
        if public_holidays(year) != listed {
            mismatches.push(format!("{year}: {:?}", public_holidays(year)));
        }
        for day in days(ymd(year, 1, 1), ymd(year, 12, 31)) {
            let expected = reference.get(&day).copied();
            if public_holiday(day) != expected {
                mismatches.push(format!(
                    "{day}: {:?}, expected {expected:?}",
                    public_holiday(day)
                ));
            }
            let weekend = matches!(day.weekday(), Weekday::Saturday | Weekday::Sunday);
            if is_business_day(day) != (!weekend && expected.is_none()) {
                mismatches.push(format!("{day}: business day {}", is_business_day(day)));
            }
        }
    }
    assert!(mismatches.is_empty(), "{}", mismatches.join("\n"));
}

#[test]
fn business_days_per_year() {
    // 2026 and 2027 both have 365 days, 104 of them Saturdays or Sundays, and 8 holidays on a
    // weekday (see the tables above): 365 − 104 − 8 = 253.
    for year in [2026, 2027] {
        let count = days(ymd(year, 1, 1), ymd(year, 12, 31))
            .filter(|d| is_business_day(*d))
            .count();
        assert_eq!(count, 253, "{year}");
    }
}

#[test]
fn next_business_day_examples() {
    for (day, next) in [
        // an ordinary Tuesday
        (date!(2026 - 03 - 10), date!(2026 - 03 - 11)),
        // Friday → Monday, Saturday and Sunday → Monday
        (date!(2026 - 03 - 13), date!(2026 - 03 - 16)),
        (date!(2026 - 03 - 14), date!(2026 - 03 - 16)),
        (date!(2026 - 03 - 15), date!(2026 - 03 - 16)),
        // 1 May 2026 is a Friday, 2–3 May the weekend (3 May a Sunday)
        (date!(2026 - 04 - 30), date!(2026 - 05 - 04)),
        // 24, 25, 26 December 2026 holidays (Thu, Fri, Sat), 27 a Sunday
        (date!(2026 - 12 - 23), date!(2026 - 12 - 28)),
        // Good Friday is a business day in Poland; Easter Monday is not
        (date!(2026 - 04 - 02), date!(2026 - 04 - 03)),
        (date!(2026 - 04 - 03), date!(2026 - 04 - 07)),
        (date!(2027 - 03 - 26), date!(2027 - 03 - 30)),
        // Corpus Christi (Thursday) and the Friday after it
        (date!(2026 - 06 - 03), date!(2026 - 06 - 05)),
        (date!(2027 - 05 - 26), date!(2027 - 05 - 28)),
        // New Year and Epiphany 2027 (Fri 1 Jan, Wed 6 Jan)
        (date!(2026 - 12 - 31), date!(2027 - 01 - 04)),
        (date!(2027 - 01 - 05), date!(2027 - 01 - 07)),
        // Christmas 2025: Wednesday 24 to Sunday 28 December off
        (date!(2025 - 12 - 23), date!(2025 - 12 - 29)),
        // Christmas Eve 2027 is a Friday: 23 Dec (Thu) → 27 Dec (Mon)
        (date!(2027 - 12 - 23), date!(2027 - 12 - 27)),
        // 24 December 2024 was not a holiday yet
        (date!(2024 - 12 - 23), date!(2024 - 12 - 24)),
        (date!(2024 - 12 - 24), date!(2024 - 12 - 27)),
    ] {
        assert_eq!(next_business_day_after(day), Some(next), "{day}");
    }
}

#[test]
fn add_business_days_examples() {
    // n = 0 is the day itself, business day or not.
    assert_eq!(
        add_business_days(date!(2026 - 12 - 26), 0),
        Some(date!(2026 - 12 - 26))
    );
    for (day, n, expected) in [
        (date!(2026 - 03 - 13), 1, date!(2026 - 03 - 16)),
        // tryby-offline.md: a failure ending Saturday 2025-07-12 → Tuesday 2025-07-22
        (date!(2025 - 07 - 12), 7, date!(2025 - 07 - 22)),
        // across Christmas 2026, New Year and Epiphany 2027:
        // 28, 29, 30, 31 Dec, 4, 5, (6 holiday) 7 Jan
        (date!(2026 - 12 - 23), 7, date!(2027 - 01 - 07)),
        // across Easter 2026: 3 (Good Friday), (6 Easter Monday) 7, 8, 9, 10, 13, 14 April
        (date!(2026 - 04 - 02), 7, date!(2026 - 04 - 14)),
        // across 1 and 3 May 2027 (Sat, Mon): 30 Apr, 4, 5, 6, 7, 10, 11 May
        (date!(2027 - 04 - 29), 7, date!(2027 - 05 - 11)),
        // across Corpus Christi 2027 (27 May): 26, 28, 31 May, 1, 2, 3, 4 June
        (date!(2027 - 05 - 25), 7, date!(2027 - 06 - 04)),
    ] {
        assert_eq!(add_business_days(day, n), Some(expected), "{day} + {n}");
    }
}

#[test]
fn next_business_day_properties_2000_to_2040() {
    for day in days(date!(2000 - 01 - 01), date!(2040 - 12 - 31)) {
        let next = next_business_day_after(day).expect("in range");
        assert!(next > day, "{day}");
        assert!(is_business_day(next), "{day} → {next}");
        // No business day lies strictly between. At most five days off follow each other
        // (Wednesday 24 to Sunday 28 December, as in 2025), so the step is at most 6 days.
        let gap = next.to_julian_day() - day.to_julian_day();
        assert!((1..=6).contains(&gap), "{day} → {next}");
        let between = std::iter::successors(day.next_day(), |d| d.next_day())
            .take_while(|d| *d < next)
            .find(|d| is_business_day(*d));
        assert_eq!(between, None, "{day} → {next}");
        // add_business_days(d, k) passes exactly k business days.
        for k in [1u32, 2, 7] {
            let later = add_business_days(day, k).expect("in range");
            let passed = days(day.next_day().expect("in range"), later)
                .filter(|d| is_business_day(*d))
                .count();
            assert_eq!(passed, k as usize, "{day} + {k}");
            assert!(is_business_day(later), "{day} + {k}");
        }
    }
}

#[test]
fn the_end_of_the_calendar() {
    // 9999-12-30 is a Thursday, 9999-12-31 a Friday, the last representable day.
    assert_eq!(
        next_business_day_after(date!(9999 - 12 - 30)),
        Some(date!(9999 - 12 - 31))
    );
    assert_eq!(next_business_day_after(Date::MAX), None);
    assert_eq!(add_business_days(date!(9999 - 12 - 30), 2), None);
    // A huge n stops at the end of the range rather than looping on.
    assert_eq!(add_business_days(date!(9999 - 01 - 01), u32::MAX), None);
    assert!(next_business_day_after(Date::MIN).is_some());
}

#[test]
fn names() {
    assert_eq!(
        PublicHoliday::CorpusChristi.polish_name(),
        "Dzień Bożego Ciała"
    );
    assert_eq!(
        PublicHoliday::ChristmasEve.polish_name(),
        "Wigilia Bożego Narodzenia"
    );
    assert_eq!(PublicHoliday::EasterMonday.to_string(), "Easter Monday");
    // Every holiday has its own Polish and English name.
    let mut polish: Vec<&str> = PublicHoliday::ALL.iter().map(|h| h.polish_name()).collect();
    let mut english: Vec<&str> = PublicHoliday::ALL
        .iter()
        .map(|h| h.english_name())
        .collect();
    polish.sort_unstable();
    polish.dedup();
    english.sort_unstable();
    english.dedup();
    assert_eq!(polish.len(), PublicHoliday::ALL.len());
    assert_eq!(english.len(), PublicHoliday::ALL.len());
}
