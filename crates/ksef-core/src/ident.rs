//! Identifiers of taxpayers, persons and contexts (digest §2.3): [`Nip`], [`Pesel`],
//! [`InternalId`], [`NipVatUe`], [`PeppolId`], certificate fingerprints, and the API's
//! `{"type": …, "value": …}` objects [`ContextIdentifier`] and [`SubjectIdentifier`].
//!
//! Every type validates the API's pattern *and* the checksum on construction (`FromStr`,
//! `TryFrom`, serde deserialization), so holding a value means it is well-formed.
//! Test-data generators (`Nip::generate`, `Pesel::generate`, …) produce valid random values.

use std::fmt;
use std::str::FromStr;

use rand::{Rng, RngExt};
use serde::{Deserialize, Serialize};
use time::{Date, Month};

use crate::{api_enum, string_newtype};

/// Which kind of identifier an [`IdentifierError`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum IdentifierKind {
    Nip,
    Pesel,
    InternalId,
    NipVatUe,
    PeppolId,
    Fingerprint,
    ReferenceNumber,
    KsefNumber,
}

impl fmt::Display for IdentifierKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            IdentifierKind::Nip => "NIP",
            IdentifierKind::Pesel => "PESEL",
            IdentifierKind::InternalId => "InternalId",
            IdentifierKind::NipVatUe => "NipVatUe",
            IdentifierKind::PeppolId => "PeppolId",
            IdentifierKind::Fingerprint => "certificate fingerprint",
            IdentifierKind::ReferenceNumber => "reference number",
            IdentifierKind::KsefNumber => "KSeF number",
        })
    }
}

/// Why an identifier was rejected.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IdentifierError {
    #[error("{kind} must be {expected} characters long, got {actual}")]
    WrongLength {
        kind: IdentifierKind,
        /// Accepted length(s), e.g. `"10"` or `"35 or 36"`.
        expected: &'static str,
        actual: usize,
    },
    #[error("{kind} must consist of digits, found {found:?} at position {position}")]
    NonDigit {
        kind: IdentifierKind,
        /// Zero-based character position.
        position: usize,
        found: char,
    },
    #[error("{kind} {value:?} does not match the pattern {pattern}")]
    PatternMismatch {
        kind: IdentifierKind,
        value: String,
        pattern: &'static str,
    },
    #[error("{kind} {value:?} has a bad checksum: expected check {expected}, found {found}")]
    BadChecksum {
        kind: IdentifierKind,
        value: String,
        /// The check digit (or CRC hex) the rest of the value requires.
        expected: String,
        found: String,
    },
    #[error(
        "{kind} {value:?} is invalid: its weighted digit sum gives remainder 10, no valid {kind} has it"
    )]
    UnsatisfiableChecksum { kind: IdentifierKind, value: String },
    #[error("{kind} {value:?} is invalid: {reason}")]
    Invalid {
        kind: IdentifierKind,
        value: String,
        reason: String,
    },
}

/// Checks the character count and that all characters are ASCII digits; returns digit values.
fn digits<const N: usize>(
    kind: IdentifierKind,
    expected: &'static str,
    s: &str,
) -> Result<[u8; N], IdentifierError> {
    let count = s.chars().count();
    if count != N {
        return Err(IdentifierError::WrongLength {
            kind,
            expected,
            actual: count,
        });
    }
    let mut out = [0u8; N];
    for (i, c) in s.chars().enumerate() {
        match c.to_digit(10) {
            // `to_digit(10)` only accepts ASCII 0-9, values < 10 fit in u8.
            Some(d) => out[i] = d as u8,
            None => {
                return Err(IdentifierError::NonDigit {
                    kind,
                    position: i,
                    found: c,
                });
            }
        }
    }
    Ok(out)
}

fn digits_to_string(d: &[u8]) -> String {
    d.iter().map(|&x| char::from(b'0' + x)).collect()
}

// ---------------------------------------------------------------------------------------------
// NIP
// ---------------------------------------------------------------------------------------------

/// OpenAPI pattern of a NIP.
pub const NIP_PATTERN: &str = r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}$";
const NIP_WEIGHTS: [u32; 9] = [6, 5, 7, 2, 3, 4, 5, 6, 7];

/// NIP check digit for the first 9 digits; `None` when the remainder is 10 (no valid NIP).
fn nip_check_digit(d: &[u8]) -> Option<u8> {
    let sum: u32 = d
        .iter()
        .zip(NIP_WEIGHTS)
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    let r = sum % 11;
    if r == 10 { None } else { Some(r as u8) }
}

fn nip_prefix_ok(d: &[u8]) -> bool {
    d[0] != 0 && !(d[1] == 0 && d[2] == 0)
}

/// Validates a NIP (pattern + checksum), reporting errors as `kind` and `whole` (the
/// surrounding identifier, e.g. an InternalId) so messages name what the user typed.
fn validate_nip(kind: IdentifierKind, s: &str, whole: &str) -> Result<(), IdentifierError> {
    let d = match digits::<10>(kind, "10", s) {
        Ok(d) => d,
        Err(IdentifierError::WrongLength { kind, actual, .. }) if kind != IdentifierKind::Nip => {
            return Err(IdentifierError::Invalid {
                kind,
                value: whole.to_owned(),
                reason: format!("the NIP part must be 10 digits, got {actual} characters"),
            });
        }
        Err(e) => return Err(e),
    };
    if !nip_prefix_ok(&d) {
        return Err(IdentifierError::PatternMismatch {
            kind,
            value: whole.to_owned(),
            pattern: NIP_PATTERN,
        });
    }
    match nip_check_digit(&d[..9]) {
        None => Err(IdentifierError::UnsatisfiableChecksum {
            kind,
            value: whole.to_owned(),
        }),
        Some(c) if c != d[9] => Err(IdentifierError::BadChecksum {
            kind,
            value: whole.to_owned(),
            expected: c.to_string(),
            found: d[9].to_string(),
        }),
        Some(_) => Ok(()),
    }
}

/// Polish tax identification number (10 digits, mod-11 checksum).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Nip(String);
string_newtype!(Nip, IdentifierError);

impl FromStr for Nip {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        validate_nip(IdentifierKind::Nip, s, s)?;
        Ok(Nip(s.to_owned()))
    }
}

impl AsRef<Nip> for Nip {
    fn as_ref(&self) -> &Nip {
        self
    }
}

impl Nip {
    /// A valid random NIP (test data).
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Nip {
        loop {
            let mut d = [0u8; 10];
            d[0] = rng.random_range(1..=9);
            for x in &mut d[1..9] {
                *x = rng.random_range(0..=9);
            }
            if !nip_prefix_ok(&d) {
                continue;
            }
            if let Some(c) = nip_check_digit(&d[..9]) {
                d[9] = c;
                return Nip(digits_to_string(&d));
            }
        }
    }

    /// A valid random NIP from the thread-local generator.
    pub fn random() -> Nip {
        Nip::generate(&mut rand::rng())
    }
}

// ---------------------------------------------------------------------------------------------
// PESEL
// ---------------------------------------------------------------------------------------------

/// OpenAPI pattern of a PESEL.
pub const PESEL_PATTERN: &str =
    r"^\d{2}(?:0[1-9]|1[0-2]|2[1-9]|3[0-2]|4[1-9]|5[0-2]|6[1-9]|7[0-2]|8[1-9]|9[0-2])\d{7}$";
const PESEL_WEIGHTS: [u32; 10] = [1, 3, 7, 9, 1, 3, 7, 9, 1, 3];

fn pesel_check_digit(d: &[u8]) -> u8 {
    let sum: u32 = d
        .iter()
        .zip(PESEL_WEIGHTS)
        .map(|(&x, w)| u32::from(x) * w)
        .sum();
    ((10 - sum % 10) % 10) as u8
}

/// Century base for the encoded month (`MM + 20·k`); `None` if the month is not encodable.
fn pesel_century(encoded_month: u8) -> Option<(i32, u8)> {
    let month = encoded_month % 20;
    if !(1..=12).contains(&month) {
        return None;
    }
    let base = match encoded_month / 20 {
        0 => 1900,
        1 => 2000,
        2 => 2100,
        3 => 2200,
        _ => 1800,
    };
    Some((base, month))
}

/// Polish personal identification number (11 digits, encoded birth date, checksum).
///
/// Validation follows the API: the month pattern (which encodes the century) and the checksum.
/// The day of month is *not* checked (the API does not either); see [`Pesel::birth_date`].
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct Pesel(String);
string_newtype!(Pesel, IdentifierError);

impl FromStr for Pesel {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = IdentifierKind::Pesel;
        let d = digits::<11>(kind, "11", s)?;
        if pesel_century(d[2] * 10 + d[3]).is_none() {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: PESEL_PATTERN,
            });
        }
        let c = pesel_check_digit(&d[..10]);
        if c != d[10] {
            return Err(IdentifierError::BadChecksum {
                kind,
                value: s.to_owned(),
                expected: c.to_string(),
                found: d[10].to_string(),
            });
        }
        Ok(Pesel(s.to_owned()))
    }
}

impl Pesel {
    /// Builds a PESEL from a birth date (years 1800–2299) and the 4-digit serial (the last
    /// serial digit encodes sex: odd = male, even = female), computing the check digit.
    pub fn from_parts(birth_date: Date, serial: u16) -> Result<Pesel, IdentifierError> {
        let year = birth_date.year();
        let offset = match year {
            1800..=1899 => 80,
            1900..=1999 => 0,
            2000..=2099 => 20,
            2100..=2199 => 40,
            2200..=2299 => 60,
            _ => {
                return Err(IdentifierError::Invalid {
                    kind: IdentifierKind::Pesel,
                    value: birth_date.to_string(),
                    reason: "PESEL can encode birth years 1800-2299 only".to_owned(),
                });
            }
        };
        if serial > 9999 {
            return Err(IdentifierError::Invalid {
                kind: IdentifierKind::Pesel,
                value: serial.to_string(),
                reason: "the serial part must have at most 4 digits".to_owned(),
            });
        }
        let yy = year.rem_euclid(100);
        let mm = u8::from(birth_date.month()) + offset;
        let body = format!("{yy:02}{mm:02}{:02}{serial:04}", birth_date.day());
        let d: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        let c = pesel_check_digit(&d);
        Ok(Pesel(format!("{body}{c}")))
    }

    /// A valid random PESEL (test data) of a person born 1940–2006.
    pub fn generate<R: Rng + ?Sized>(rng: &mut R) -> Pesel {
        let year = rng.random_range(1940..=2006);
        let month = Month::January.nth_next(rng.random_range(0..12u8));
        let day = rng.random_range(1..=month.length(year));
        let serial = rng.random_range(0..=9999u16);
        match Date::from_calendar_date(year, month, day)
            .ok()
            .and_then(|d| Pesel::from_parts(d, serial).ok())
        {
            Some(p) => p,
            // Unreachable: the date and serial are in range by construction.
            None => Pesel::generate(rng),
        }
    }

    /// A valid random PESEL from the thread-local generator.
    pub fn random() -> Pesel {
        Pesel::generate(&mut rand::rng())
    }

    /// The encoded birth date, or `None` if the day does not exist in that month
    /// (such numbers pass the API's pattern but were never issued).
    pub fn birth_date(&self) -> Option<Date> {
        let b = self.0.as_bytes();
        let n = |i: usize| (b[i] - b'0') * 10 + (b[i + 1] - b'0');
        let (base, month) = pesel_century(n(2))?;
        let year = base + i32::from(n(0));
        let month = Month::try_from(month).ok()?;
        Date::from_calendar_date(year, month, n(4)).ok()
    }
}

// ---------------------------------------------------------------------------------------------
// InternalId
// ---------------------------------------------------------------------------------------------

/// OpenAPI pattern of an InternalId.
pub const INTERNAL_ID_PATTERN: &str = r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}-\d{5}$";

/// Check digit over 14 digits with alternating weights 1,3,1,3,… (sum mod 10).
fn internal_id_check_digit(d: &[u8]) -> u8 {
    let sum: u32 = d
        .iter()
        .enumerate()
        .map(|(i, &x)| u32::from(x) * if i % 2 == 0 { 1 } else { 3 })
        .sum();
    (sum % 10) as u8
}

/// Identifier of a subordinate unit: `NIP-NNNNN`, whose last digit is a check digit.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct InternalId(String);
string_newtype!(InternalId, IdentifierError);

impl FromStr for InternalId {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = IdentifierKind::InternalId;
        let count = s.chars().count();
        if count != 16 {
            return Err(IdentifierError::WrongLength {
                kind,
                expected: "16",
                actual: count,
            });
        }
        let Some((nip, suffix)) = s.split_once('-') else {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: INTERNAL_ID_PATTERN,
            });
        };
        if nip.len() != 10 || suffix.len() != 5 {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: INTERNAL_ID_PATTERN,
            });
        }
        validate_nip(kind, nip, s)?;
        let sd = digits::<5>(kind, "5", suffix).map_err(|e| match e {
            IdentifierError::NonDigit {
                kind,
                position,
                found,
            } => IdentifierError::NonDigit {
                kind,
                position: position + 11,
                found,
            },
            other => other,
        })?;
        let mut all = [0u8; 14];
        for (dst, b) in all.iter_mut().zip(nip.bytes()) {
            *dst = b - b'0';
        }
        all[10..].copy_from_slice(&sd[..4]);
        let c = internal_id_check_digit(&all);
        if c != sd[4] {
            return Err(IdentifierError::BadChecksum {
                kind,
                value: s.to_owned(),
                expected: c.to_string(),
                found: sd[4].to_string(),
            });
        }
        Ok(InternalId(s.to_owned()))
    }
}

impl InternalId {
    /// Builds `NIP-SSSSC` from a NIP and a suffix `0..=9999`, appending the check digit `C`.
    pub fn new(
        nip: impl AsRef<Nip>,
        four_digit_suffix: u16,
    ) -> Result<InternalId, IdentifierError> {
        let nip = nip.as_ref();
        if four_digit_suffix > 9999 {
            return Err(IdentifierError::Invalid {
                kind: IdentifierKind::InternalId,
                value: format!("{nip}-{four_digit_suffix}"),
                reason: "the suffix must have at most 4 digits".to_owned(),
            });
        }
        let body = format!("{nip}{four_digit_suffix:04}");
        let d: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
        let c = internal_id_check_digit(&d);
        Ok(InternalId(format!("{nip}-{four_digit_suffix:04}{c}")))
    }

    /// The NIP of the parent entity.
    pub fn nip(&self) -> Nip {
        Nip(self.0[..10].to_owned())
    }

    /// The 5-digit suffix (4 digits + check digit).
    pub fn suffix(&self) -> &str {
        &self.0[11..]
    }
}

// ---------------------------------------------------------------------------------------------
// NipVatUe
// ---------------------------------------------------------------------------------------------

/// OpenAPI pattern of a NipVatUe (composite NIP + EU VAT number context).
pub const NIP_VAT_UE_PATTERN: &str = r"^[1-9]((\d[1-9])|([1-9]\d))\d{7}-(ATU\d{8}|BE[01]{1}\d{9}|BG\d{9,10}|CY\d{8}[A-Z]|CZ\d{8,10}|DE\d{9}|DK\d{8}|EE\d{9}|EL\d{9}|ES([A-Z]\d{8}|\d{8}[A-Z]|[A-Z]\d{7}[A-Z])|FI\d{8}|FR[A-Z0-9]{2}\d{9}|HR\d{11}|HU\d{8}|IE(\d{7}[A-Z]{2}|\d[A-Z0-9+*]\d{5}[A-Z])|IT\d{11}|LT(\d{9}|\d{12})|LU\d{8}|LV\d{11}|MT\d{8}|NL[A-Z0-9+*]{12}|PT\d{9}|RO\d{2,10}|SE\d{12}|SI\d{8}|SK\d{10}|XI((\d{9}|\d{12})|(GD|HA)\d{3}))$";

mod vat_ue {
    //! A table-driven matcher for the EU VAT part of [`super::NIP_VAT_UE_PATTERN`].
    //! Hand-rolled (instead of pulling in the `regex` crate for this single pattern) because
    //! every alternative is a short sequence of character-class runs; the table below mirrors
    //! the OpenAPI regex one alternative per row and is tested against it case by case.

    #[derive(Clone, Copy)]
    enum Class {
        Digit,
        /// `[01]`
        ZeroOne,
        /// `[A-Z]`
        Upper,
        /// `[A-Z0-9]`
        UpperDigit,
        /// `[A-Z0-9+*]`
        UpperDigitPlusStar,
        /// A literal string, e.g. `GD`.
        Lit(&'static str),
    }

    /// One run: `class{min,max}`.
    #[derive(Clone, Copy)]
    struct Run(Class, usize, usize);

    use Class::*;

    const fn d(n: usize) -> Run {
        Run(Digit, n, n)
    }

    /// (country prefix, alternatives) — each alternative is a sequence of runs after the prefix.
    const TABLE: &[(&str, &[&[Run]])] = &[
        ("AT", &[&[Run(Lit("U"), 1, 1), d(8)]]),
        ("BE", &[&[Run(ZeroOne, 1, 1), d(9)]]),
        ("BG", &[&[Run(Digit, 9, 10)]]),
        ("CY", &[&[d(8), Run(Upper, 1, 1)]]),
        ("CZ", &[&[Run(Digit, 8, 10)]]),
        ("DE", &[&[d(9)]]),
        ("DK", &[&[d(8)]]),
        ("EE", &[&[d(9)]]),
        ("EL", &[&[d(9)]]),
        (
            "ES",
            &[
                &[Run(Upper, 1, 1), d(8)],
                &[d(8), Run(Upper, 1, 1)],
                &[Run(Upper, 1, 1), d(7), Run(Upper, 1, 1)],
            ],
        ),
        ("FI", &[&[d(8)]]),
        ("FR", &[&[Run(UpperDigit, 2, 2), d(9)]]),
        ("HR", &[&[d(11)]]),
        ("HU", &[&[d(8)]]),
        (
            "IE",
            &[
                &[d(7), Run(Upper, 2, 2)],
                &[d(1), Run(UpperDigitPlusStar, 1, 1), d(5), Run(Upper, 1, 1)],
            ],
        ),
        ("IT", &[&[d(11)]]),
        ("LT", &[&[d(9)], &[d(12)]]),
        ("LU", &[&[d(8)]]),
        ("LV", &[&[d(11)]]),
        ("MT", &[&[d(8)]]),
        ("NL", &[&[Run(UpperDigitPlusStar, 12, 12)]]),
        ("PT", &[&[d(9)]]),
        ("RO", &[&[Run(Digit, 2, 10)]]),
        ("SE", &[&[d(12)]]),
        ("SI", &[&[d(8)]]),
        ("SK", &[&[d(10)]]),
        (
            "XI",
            &[
                &[d(9)],
                &[d(12)],
                &[Run(Lit("GD"), 1, 1), d(3)],
                &[Run(Lit("HA"), 1, 1), d(3)],
            ],
        ),
    ];

    fn class_len_match(class: Class, s: &[u8]) -> Option<usize> {
        let ok = |b: u8| match class {
            Digit => b.is_ascii_digit(),
            ZeroOne => b == b'0' || b == b'1',
            Upper => b.is_ascii_uppercase(),
            UpperDigit => b.is_ascii_uppercase() || b.is_ascii_digit(),
            UpperDigitPlusStar => {
                b.is_ascii_uppercase() || b.is_ascii_digit() || b == b'+' || b == b'*'
            }
            Lit(_) => false,
        };
        match class {
            Lit(l) => s.starts_with(l.as_bytes()).then_some(l.len()),
            _ => s.first().filter(|&&b| ok(b)).map(|_| 1),
        }
    }

    /// Whether `runs` match the whole of `s` (backtracking over the run counts).
    fn matches(runs: &[Run], s: &[u8]) -> bool {
        let Some((&Run(class, min, max), rest)) = runs.split_first() else {
            return s.is_empty();
        };
        let mut pos = 0;
        for count in 0..=max {
            if count >= min && matches(rest, &s[pos..]) {
                return true;
            }
            if count == max {
                break;
            }
            match class_len_match(class, &s[pos..]) {
                Some(n) => pos += n,
                None => return false,
            }
        }
        false
    }

    /// Whether `s` is an EU VAT number accepted by the OpenAPI pattern.
    pub(super) fn is_valid(s: &str) -> bool {
        let b = s.as_bytes();
        if b.len() < 2 {
            return false;
        }
        TABLE
            .iter()
            .filter(|(prefix, _)| b.starts_with(prefix.as_bytes()))
            .any(|(_, alts)| alts.iter().any(|runs| matches(runs, &b[2..])))
    }

    /// Whether `prefix` is a country code known to the pattern.
    pub(super) fn known_country(prefix: &str) -> bool {
        TABLE.iter().any(|(p, _)| *p == prefix)
    }
}

/// Composite context of a Polish entity (NIP) and an EU entity (VAT UE number):
/// `NIP-<VAT UE>`, e.g. `5265877635-ATU12345678`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct NipVatUe(String);
string_newtype!(NipVatUe, IdentifierError);

impl FromStr for NipVatUe {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = IdentifierKind::NipVatUe;
        let Some((nip, vat)) = s.split_once('-') else {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: NIP_VAT_UE_PATTERN,
            });
        };
        validate_nip(kind, nip, s)?;
        if !vat_ue::is_valid(vat) {
            let prefix: String = vat.chars().take(2).collect();
            return Err(if vat_ue::known_country(&prefix) {
                IdentifierError::PatternMismatch {
                    kind,
                    value: s.to_owned(),
                    pattern: NIP_VAT_UE_PATTERN,
                }
            } else {
                IdentifierError::Invalid {
                    kind,
                    value: s.to_owned(),
                    reason: format!("{prefix:?} is not an EU VAT country prefix"),
                }
            });
        }
        Ok(NipVatUe(s.to_owned()))
    }
}

impl NipVatUe {
    /// Joins a NIP and an EU VAT number (with its country prefix, e.g. `ATU12345678`).
    pub fn new(nip: impl AsRef<Nip>, vat_ue: &str) -> Result<NipVatUe, IdentifierError> {
        format!("{}-{vat_ue}", nip.as_ref()).parse()
    }

    /// The Polish NIP part.
    pub fn nip(&self) -> Nip {
        Nip(self.0[..10].to_owned())
    }

    /// The EU VAT number part, with its country prefix.
    pub fn vat_ue(&self) -> &str {
        &self.0[11..]
    }
}

// ---------------------------------------------------------------------------------------------
// PeppolId
// ---------------------------------------------------------------------------------------------

/// OpenAPI pattern of a PeppolId.
pub const PEPPOL_ID_PATTERN: &str = r"^P[A-Z]{2}[0-9]{6}$";

/// Identifier of a Peppol service provider: `P` + 2 uppercase letters + 6 digits.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct PeppolId(String);
string_newtype!(PeppolId, IdentifierError);

impl FromStr for PeppolId {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = IdentifierKind::PeppolId;
        let count = s.chars().count();
        if count != 9 {
            return Err(IdentifierError::WrongLength {
                kind,
                expected: "9",
                actual: count,
            });
        }
        let b = s.as_bytes();
        let ok = b[0] == b'P'
            && b[1..3].iter().all(u8::is_ascii_uppercase)
            && b[3..].iter().all(u8::is_ascii_digit);
        if !ok {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: PEPPOL_ID_PATTERN,
            });
        }
        Ok(PeppolId(s.to_owned()))
    }
}

// ---------------------------------------------------------------------------------------------
// Fingerprint
// ---------------------------------------------------------------------------------------------

/// Validates a certificate fingerprint (SHA-256, 64 hex chars) and returns it in uppercase.
pub fn normalize_fingerprint(s: &str) -> Result<String, IdentifierError> {
    let kind = IdentifierKind::Fingerprint;
    let count = s.chars().count();
    if count != 64 {
        return Err(IdentifierError::WrongLength {
            kind,
            expected: "64",
            actual: count,
        });
    }
    if !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(IdentifierError::PatternMismatch {
            kind,
            value: s.to_owned(),
            pattern: "^[0-9A-F]{64}$",
        });
    }
    Ok(s.to_ascii_uppercase())
}

// ---------------------------------------------------------------------------------------------
// ContextIdentifier
// ---------------------------------------------------------------------------------------------

api_enum! {
    /// Type of a context identifier (`TokenContextIdentifierType`,
    /// `AuthenticationContextIdentifierType`).
    pub enum ContextIdentifierType as "ContextIdentifierType" {
        Nip,
        InternalId,
        NipVatUe,
        PeppolId,
    }
}

/// The context in which one acts (digest §4.1): serialized as
/// `{"type": "Nip", "value": "5265877635"}`.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawIdentifier<ContextIdentifierType>")]
#[serde(into = "RawIdentifier<ContextIdentifierType>")]
pub enum ContextIdentifier {
    Nip(Nip),
    InternalId(InternalId),
    NipVatUe(NipVatUe),
    PeppolId(PeppolId),
}

/// The wire shape shared by context and subject identifiers.
#[derive(Serialize, Deserialize)]
struct RawIdentifier<K> {
    #[serde(rename = "type")]
    kind: K,
    value: String,
}

impl ContextIdentifier {
    /// The identifier's type.
    pub fn kind(&self) -> ContextIdentifierType {
        match self {
            ContextIdentifier::Nip(_) => ContextIdentifierType::Nip,
            ContextIdentifier::InternalId(_) => ContextIdentifierType::InternalId,
            ContextIdentifier::NipVatUe(_) => ContextIdentifierType::NipVatUe,
            ContextIdentifier::PeppolId(_) => ContextIdentifierType::PeppolId,
        }
    }

    /// The identifier's value as the API writes it.
    pub fn value(&self) -> &str {
        match self {
            ContextIdentifier::Nip(v) => v.as_str(),
            ContextIdentifier::InternalId(v) => v.as_str(),
            ContextIdentifier::NipVatUe(v) => v.as_str(),
            ContextIdentifier::PeppolId(v) => v.as_str(),
        }
    }

    /// Validates `value` as an identifier of type `kind`.
    pub fn parse(kind: ContextIdentifierType, value: &str) -> Result<Self, IdentifierError> {
        Ok(match kind {
            ContextIdentifierType::Nip => ContextIdentifier::Nip(value.parse()?),
            ContextIdentifierType::InternalId => ContextIdentifier::InternalId(value.parse()?),
            ContextIdentifierType::NipVatUe => ContextIdentifier::NipVatUe(value.parse()?),
            ContextIdentifierType::PeppolId => ContextIdentifier::PeppolId(value.parse()?),
        })
    }

    /// The NIP this context belongs to (the NIP itself, or the NIP part of an InternalId or
    /// NipVatUe); `None` for Peppol providers.
    pub fn nip(&self) -> Option<Nip> {
        match self {
            ContextIdentifier::Nip(n) => Some(n.clone()),
            ContextIdentifier::InternalId(i) => Some(i.nip()),
            ContextIdentifier::NipVatUe(v) => Some(v.nip()),
            ContextIdentifier::PeppolId(_) => None,
        }
    }
}

impl fmt::Display for ContextIdentifier {
    /// `Type:value`, e.g. `Nip:5265877635` (for logs and messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.value())
    }
}

impl TryFrom<RawIdentifier<ContextIdentifierType>> for ContextIdentifier {
    type Error = IdentifierError;
    fn try_from(raw: RawIdentifier<ContextIdentifierType>) -> Result<Self, Self::Error> {
        ContextIdentifier::parse(raw.kind, &raw.value)
    }
}

impl From<ContextIdentifier> for RawIdentifier<ContextIdentifierType> {
    fn from(c: ContextIdentifier) -> Self {
        RawIdentifier {
            kind: c.kind(),
            value: c.value().to_owned(),
        }
    }
}

impl From<Nip> for ContextIdentifier {
    fn from(v: Nip) -> Self {
        ContextIdentifier::Nip(v)
    }
}
impl From<InternalId> for ContextIdentifier {
    fn from(v: InternalId) -> Self {
        ContextIdentifier::InternalId(v)
    }
}
impl From<NipVatUe> for ContextIdentifier {
    fn from(v: NipVatUe) -> Self {
        ContextIdentifier::NipVatUe(v)
    }
}
impl From<PeppolId> for ContextIdentifier {
    fn from(v: PeppolId) -> Self {
        ContextIdentifier::PeppolId(v)
    }
}

// ---------------------------------------------------------------------------------------------
// SubjectIdentifier
// ---------------------------------------------------------------------------------------------

api_enum! {
    /// Type of a subject (author / authenticated party) identifier
    /// (`TokenAuthorIdentifierType`).
    pub enum SubjectIdentifierKind as "SubjectIdentifierType" {
        Nip,
        Pesel,
        Fingerprint,
    }
}

/// Who acts: a NIP, a PESEL, or a certificate fingerprint (SHA-256, 64 uppercase hex chars).
/// Serialized as `{"type": "Pesel", "value": "…"}`.
///
/// Build the `Fingerprint` variant through [`SubjectIdentifier::fingerprint`] or
/// [`SubjectIdentifier::parse`], which validate and upper-case the value.
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "RawIdentifier<SubjectIdentifierKind>")]
#[serde(into = "RawIdentifier<SubjectIdentifierKind>")]
pub enum SubjectIdentifier {
    Nip(Nip),
    Pesel(Pesel),
    Fingerprint(String),
}

impl SubjectIdentifier {
    /// The identifier's type.
    pub fn kind(&self) -> SubjectIdentifierKind {
        match self {
            SubjectIdentifier::Nip(_) => SubjectIdentifierKind::Nip,
            SubjectIdentifier::Pesel(_) => SubjectIdentifierKind::Pesel,
            SubjectIdentifier::Fingerprint(_) => SubjectIdentifierKind::Fingerprint,
        }
    }

    /// The identifier's value.
    pub fn value(&self) -> &str {
        match self {
            SubjectIdentifier::Nip(v) => v.as_str(),
            SubjectIdentifier::Pesel(v) => v.as_str(),
            SubjectIdentifier::Fingerprint(v) => v,
        }
    }

    /// Validates `value` as an identifier of type `kind` (fingerprints are upper-cased).
    pub fn parse(kind: SubjectIdentifierKind, value: &str) -> Result<Self, IdentifierError> {
        Ok(match kind {
            SubjectIdentifierKind::Nip => SubjectIdentifier::Nip(value.parse()?),
            SubjectIdentifierKind::Pesel => SubjectIdentifier::Pesel(value.parse()?),
            SubjectIdentifierKind::Fingerprint => SubjectIdentifier::fingerprint(value)?,
        })
    }

    /// A validated fingerprint identifier (64 hex chars, stored upper-case).
    pub fn fingerprint(hex: &str) -> Result<Self, IdentifierError> {
        normalize_fingerprint(hex).map(SubjectIdentifier::Fingerprint)
    }
}

impl fmt::Display for SubjectIdentifier {
    /// `Type:value`, e.g. `Pesel:15062788702` (for logs and messages).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.kind(), self.value())
    }
}

impl TryFrom<RawIdentifier<SubjectIdentifierKind>> for SubjectIdentifier {
    type Error = IdentifierError;
    fn try_from(raw: RawIdentifier<SubjectIdentifierKind>) -> Result<Self, Self::Error> {
        SubjectIdentifier::parse(raw.kind, &raw.value)
    }
}

impl From<SubjectIdentifier> for RawIdentifier<SubjectIdentifierKind> {
    fn from(c: SubjectIdentifier) -> Self {
        RawIdentifier {
            kind: c.kind(),
            value: c.value().to_owned(),
        }
    }
}

impl From<Nip> for SubjectIdentifier {
    fn from(v: Nip) -> Self {
        SubjectIdentifier::Nip(v)
    }
}
impl From<Pesel> for SubjectIdentifier {
    fn from(v: Pesel) -> Self {
        SubjectIdentifier::Pesel(v)
    }
}

#[cfg(test)]
mod tests;
