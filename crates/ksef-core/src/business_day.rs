//! Polish public holidays and business days, the calendar the KSeF offline deadlines are
//! counted in ([`crate::offline`]).
//!
//! The public holidays are those of the act on days free from work (*ustawa z dnia 18 stycznia
//! 1951 r. o dniach wolnych od pracy*, art. 1), as in force since 2011 (Epiphany restored)
//! and with Christmas Eve a holiday from 2025 on (amendment of 6 December 2024):
//!
//! | Date | [`PublicHoliday`] | Polish name |
//! |---|---|---|
//! | 1 January | [`NewYear`](PublicHoliday::NewYear) | Nowy Rok |
//! | 6 January (from 2011) | [`Epiphany`](PublicHoliday::Epiphany) | Święto Trzech Króli |
//! | Easter Sunday | [`EasterSunday`](PublicHoliday::EasterSunday) | Pierwszy dzień Wielkiej Nocy |
//! | Easter + 1 day | [`EasterMonday`](PublicHoliday::EasterMonday) | Drugi dzień Wielkiej Nocy |
//! | 1 May | [`StateHoliday`](PublicHoliday::StateHoliday) | Święto Państwowe |
//! | 3 May | [`ConstitutionDay`](PublicHoliday::ConstitutionDay) | Święto Narodowe Trzeciego Maja |
//! | Easter + 49 days | [`Pentecost`](PublicHoliday::Pentecost) | Pierwszy dzień Zielonych Świątek |
//! | Easter + 60 days | [`CorpusChristi`](PublicHoliday::CorpusChristi) | Dzień Bożego Ciała |
//! | 15 August | [`Assumption`](PublicHoliday::Assumption) | Wniebowzięcie Najświętszej Maryi Panny |
//! | 1 November | [`AllSaints`](PublicHoliday::AllSaints) | Wszystkich Świętych |
//! | 11 November | [`IndependenceDay`](PublicHoliday::IndependenceDay) | Narodowe Święto Niepodległości |
//! | 24 December (from 2025) | [`ChristmasEve`](PublicHoliday::ChristmasEve) | Wigilia Bożego Narodzenia |
//! | 25 December | [`Christmas`](PublicHoliday::Christmas) | Pierwszy dzień Bożego Narodzenia |
//! | 26 December | [`SecondDayOfChristmas`](PublicHoliday::SecondDayOfChristmas) | Drugi dzień Bożego Narodzenia |
//!
//! (The act also makes every Sunday a day free from work.) Years before 2011 get the same
//! list without Epiphany, which is the law back to 1990; KSeF never needs earlier years.
//!
//! A **business day** (*dzień roboczy*) is a Monday to Friday that is not a public holiday.
//! A holiday falling on a Saturday gives employees another day off, but that day is chosen by
//! each employer and is not a public holiday, so it stays a business day here.
//!
//! * [`public_holiday`], [`is_public_holiday`], [`public_holidays`] — the holidays;
//! * [`is_business_day`], [`next_business_day_after`], [`add_business_days`] — business days;
//! * [`easter_sunday`] — the Gregorian computus the movable holidays hang on.
//!
//! Every function is defined over the whole range of [`time::Date`] (years −9999 to 9999);
//! the ones stepping forward return `None` only when the result would lie past 31 December
//! 9999.

use std::fmt;

use time::{Date, Month, Weekday};

/// The first year in which 6 January (Epiphany) is a public holiday again.
const EPIPHANY_SINCE: i32 = 2011;
/// The first year in which 24 December (Christmas Eve) is a public holiday.
const CHRISTMAS_EVE_SINCE: i32 = 2025;

/// A Polish public holiday (*dzień ustawowo wolny od pracy*), see the [module docs](self).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PublicHoliday {
    /// 1 January, *Nowy Rok*.
    NewYear,
    /// 6 January, *Święto Trzech Króli* (a holiday from 2011 on).
    Epiphany,
    /// Easter Sunday, *pierwszy dzień Wielkiej Nocy*.
    EasterSunday,
    /// The day after Easter Sunday, *drugi dzień Wielkiej Nocy*.
    EasterMonday,
    /// 1 May, *Święto Państwowe* (commonly *Święto Pracy*, Labour Day).
    StateHoliday,
    /// 3 May, *Święto Narodowe Trzeciego Maja* (Constitution Day).
    ConstitutionDay,
    /// Pentecost Sunday, 49 days after Easter, *pierwszy dzień Zielonych Świątek*.
    Pentecost,
    /// Corpus Christi, the Thursday 60 days after Easter, *dzień Bożego Ciała*.
    CorpusChristi,
    /// 15 August, *Wniebowzięcie Najświętszej Maryi Panny*.
    Assumption,
    /// 1 November, *Wszystkich Świętych*.
    AllSaints,
    /// 11 November, *Narodowe Święto Niepodległości*.
    IndependenceDay,
    /// 24 December, *Wigilia Bożego Narodzenia* (a holiday from 2025 on).
    ChristmasEve,
    /// 25 December, *pierwszy dzień Bożego Narodzenia*.
    Christmas,
    /// 26 December, *drugi dzień Bożego Narodzenia*.
    SecondDayOfChristmas,
}

impl PublicHoliday {
    /// Every holiday, in calendar order (the movable ones where they always fall).
    pub const ALL: [PublicHoliday; 14] = [
        PublicHoliday::NewYear,
        PublicHoliday::Epiphany,
        PublicHoliday::EasterSunday,
        PublicHoliday::EasterMonday,
        PublicHoliday::StateHoliday,
        PublicHoliday::ConstitutionDay,
        PublicHoliday::Pentecost,
        PublicHoliday::CorpusChristi,
        PublicHoliday::Assumption,
        PublicHoliday::AllSaints,
        PublicHoliday::IndependenceDay,
        PublicHoliday::ChristmasEve,
        PublicHoliday::Christmas,
        PublicHoliday::SecondDayOfChristmas,
    ];

    /// The Polish name, as the act names the day (first letter capitalised), for the web UI,
    /// e.g. `Dzień Bożego Ciała`.
    pub const fn polish_name(self) -> &'static str {
        match self {
            PublicHoliday::NewYear => "Nowy Rok",
            PublicHoliday::Epiphany => "Święto Trzech Króli",
            PublicHoliday::EasterSunday => "Pierwszy dzień Wielkiej Nocy",
            PublicHoliday::EasterMonday => "Drugi dzień Wielkiej Nocy",
            PublicHoliday::StateHoliday => "Święto Państwowe",
            PublicHoliday::ConstitutionDay => "Święto Narodowe Trzeciego Maja",
            PublicHoliday::Pentecost => "Pierwszy dzień Zielonych Świątek",
            PublicHoliday::CorpusChristi => "Dzień Bożego Ciała",
            PublicHoliday::Assumption => "Wniebowzięcie Najświętszej Maryi Panny",
            PublicHoliday::AllSaints => "Wszystkich Świętych",
            PublicHoliday::IndependenceDay => "Narodowe Święto Niepodległości",
            PublicHoliday::ChristmasEve => "Wigilia Bożego Narodzenia",
            PublicHoliday::Christmas => "Pierwszy dzień Bożego Narodzenia",
            PublicHoliday::SecondDayOfChristmas => "Drugi dzień Bożego Narodzenia",
        }
    }

    /// The English name (also the [`Display`](fmt::Display) form), e.g. `Corpus Christi`.
    pub const fn english_name(self) -> &'static str {
        match self {
            PublicHoliday::NewYear => "New Year's Day",
            PublicHoliday::Epiphany => "Epiphany",
            PublicHoliday::EasterSunday => "Easter Sunday",
            PublicHoliday::EasterMonday => "Easter Monday",
            PublicHoliday::StateHoliday => "Labour Day",
            PublicHoliday::ConstitutionDay => "Constitution Day",
            PublicHoliday::Pentecost => "Pentecost Sunday",
            PublicHoliday::CorpusChristi => "Corpus Christi",
            PublicHoliday::Assumption => "Assumption Day",
            PublicHoliday::AllSaints => "All Saints' Day",
            PublicHoliday::IndependenceDay => "Independence Day",
            PublicHoliday::ChristmasEve => "Christmas Eve",
            PublicHoliday::Christmas => "Christmas Day",
            PublicHoliday::SecondDayOfChristmas => "Second Day of Christmas",
        }
    }

    /// Whether the day is a public holiday in `year` at all (Epiphany from 2011, Christmas
    /// Eve from 2025, the others always).
    pub const fn is_observed_in(self, year: i32) -> bool {
        match self {
            PublicHoliday::Epiphany => year >= EPIPHANY_SINCE,
            PublicHoliday::ChristmasEve => year >= CHRISTMAS_EVE_SINCE,
            _ => true,
        }
    }

    /// The date of this holiday in `year`; `None` when it is not a holiday that year (see
    /// [`is_observed_in`](Self::is_observed_in)) or the year is outside [`Date`]'s range.
    pub fn date_in(self, year: i32) -> Option<Date> {
        if !self.is_observed_in(year) {
            return None;
        }
        let fixed = |month, day| Date::from_calendar_date(year, month, day).ok();
        let after_easter = |days| easter_sunday(year).and_then(|e| add_days(e, days));
        match self {
            PublicHoliday::NewYear => fixed(Month::January, 1),
            PublicHoliday::Epiphany => fixed(Month::January, 6),
            PublicHoliday::EasterSunday => easter_sunday(year),
            PublicHoliday::EasterMonday => after_easter(1),
            PublicHoliday::StateHoliday => fixed(Month::May, 1),
            PublicHoliday::ConstitutionDay => fixed(Month::May, 3),
            PublicHoliday::Pentecost => after_easter(49),
            PublicHoliday::CorpusChristi => after_easter(60),
            PublicHoliday::Assumption => fixed(Month::August, 15),
            PublicHoliday::AllSaints => fixed(Month::November, 1),
            PublicHoliday::IndependenceDay => fixed(Month::November, 11),
            PublicHoliday::ChristmasEve => fixed(Month::December, 24),
            PublicHoliday::Christmas => fixed(Month::December, 25),
            PublicHoliday::SecondDayOfChristmas => fixed(Month::December, 26),
        }
    }
}

impl fmt::Display for PublicHoliday {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.english_name())
    }
}

/// `date` moved forward by `days` (small, non-negative), `None` past the end of the range.
fn add_days(date: Date, days: u8) -> Option<Date> {
    (0..days).try_fold(date, |d, _| d.next_day())
}

/// Easter Sunday of `year` in the Gregorian calendar; `None` only for years outside
/// [`Date`]'s range.
///
/// Hand-written on purpose: this is the well-known "anonymous Gregorian" computus (Meeus,
/// *Astronomical Algorithms*, ch. 8, after Jones 1876 and Butcher), ten lines of integer
/// arithmetic valid for every Gregorian year; a crate for it would be a dependency for less
/// code than its manifest. Floor division (`div_euclid`) extends it to the proleptic years
/// below zero. The tests check it against a reference table (2000–2040 and a few far years)
/// and against Gauss's formulation of the computus for every year from −9999 to 9999.
pub fn easter_sunday(year: i32) -> Option<Date> {
    let y = year;
    let a = y.rem_euclid(19);
    let b = y.div_euclid(100);
    let c = y.rem_euclid(100);
    let d = b.div_euclid(4);
    let e = b.rem_euclid(4);
    let f = (b + 8).div_euclid(25);
    let g = (b - f + 1).div_euclid(3);
    let h = (19 * a + b - d - g + 15).rem_euclid(30);
    let i = c / 4;
    let k = c % 4;
    let l = (32 + 2 * e + 2 * i - h - k).rem_euclid(7);
    let m = (a + 11 * h + 22 * l) / 451;
    let n = h + l - 7 * m + 114;
    // n / 31 is always 3 or 4 (March or April), n % 31 + 1 is in 1..=31.
    let month = match n / 31 {
        3 => Month::March,
        4 => Month::April,
        _ => return None,
    };
    let day = u8::try_from(n % 31 + 1).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

/// The public holiday falling on `date`, if any.
pub fn public_holiday(date: Date) -> Option<PublicHoliday> {
    let year = date.year();
    let fixed = match (date.month(), date.day()) {
        (Month::January, 1) => Some(PublicHoliday::NewYear),
        (Month::January, 6) => Some(PublicHoliday::Epiphany),
        (Month::May, 1) => Some(PublicHoliday::StateHoliday),
        (Month::May, 3) => Some(PublicHoliday::ConstitutionDay),
        (Month::August, 15) => Some(PublicHoliday::Assumption),
        (Month::November, 1) => Some(PublicHoliday::AllSaints),
        (Month::November, 11) => Some(PublicHoliday::IndependenceDay),
        (Month::December, 24) => Some(PublicHoliday::ChristmasEve),
        (Month::December, 25) => Some(PublicHoliday::Christmas),
        (Month::December, 26) => Some(PublicHoliday::SecondDayOfChristmas),
        _ => None,
    };
    if let Some(holiday) = fixed {
        return holiday.is_observed_in(year).then_some(holiday);
    }
    // The movable holidays (Easter: 22 March – 25 April, so Corpus Christi: 21 May – 24 June)
    // never fall on one of the fixed ones.
    let easter = easter_sunday(year)?;
    match date.to_julian_day() - easter.to_julian_day() {
        0 => Some(PublicHoliday::EasterSunday),
        1 => Some(PublicHoliday::EasterMonday),
        49 => Some(PublicHoliday::Pentecost),
        60 => Some(PublicHoliday::CorpusChristi),
        _ => None,
    }
}

/// Whether `date` is a Polish public holiday.
pub fn is_public_holiday(date: Date) -> bool {
    public_holiday(date).is_some()
}

/// Every public holiday of `year` with its date, in date order (12 before 2011, 13 from 2011,
/// 14 from 2025; none for a year outside [`Date`]'s range).
pub fn public_holidays(year: i32) -> Vec<(Date, PublicHoliday)> {
    let mut days: Vec<(Date, PublicHoliday)> = PublicHoliday::ALL
        .iter()
        .filter_map(|&h| h.date_in(year).map(|d| (d, h)))
        .collect();
    days.sort_unstable();
    days
}

/// Whether `date` is a business day: Monday to Friday and not a public holiday.
pub fn is_business_day(date: Date) -> bool {
    !matches!(date.weekday(), Weekday::Saturday | Weekday::Sunday) && !is_public_holiday(date)
}

/// The first business day strictly after `date` (Friday → Monday, 23 December 2026 →
/// 28 December 2026). `None` only when it would lie past 31 December 9999.
pub fn next_business_day_after(date: Date) -> Option<Date> {
    let mut day = date.next_day()?;
    while !is_business_day(day) {
        day = day.next_day()?;
    }
    Some(day)
}

/// The `n`-th business day after `date` (`date` itself for `n = 0`, whether or not it is a
/// business day), e.g. 7 business days after Saturday 12 July 2025 is Tuesday 22 July 2025.
/// `None` only when it would lie past 31 December 9999.
pub fn add_business_days(date: Date, n: u32) -> Option<Date> {
    (0..n).try_fold(date, |day, _| next_business_day_after(day))
}

#[cfg(test)]
mod tests;
