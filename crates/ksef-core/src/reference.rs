//! Reference numbers of asynchronous operations (`YYYYMMDD-TT-HHHHHHHHHH-HHHHHHHHHH-HH`) and
//! KSeF invoice numbers (`NIP-YYYYMMDD-XXXXXXXXXXXX-CC` with a CRC-8), digest §2.3.

use std::str::FromStr;

use rand::{Rng, RngExt};
use time::{Date, Month, OffsetDateTime};

use crate::ident::{IdentifierError, IdentifierKind, Nip};
use crate::string_newtype;

/// Pattern of a reference number (UPO XSD).
pub const REFERENCE_NUMBER_PATTERN: &str = "(20[2-9][0-9]|2[1-9][0-9]{2}|[3-9][0-9]{3})(0[1-9]|1[0-2])(0[1-9]|[1-2][0-9]|3[0-1])-([0-9A-Z]{2})-([0-9A-F]{10})-([0-9A-F]{10})-([0-9A-F]{2})";

/// OpenAPI pattern of a KSeF number.
pub const KSEF_NUMBER_PATTERN: &str = r"^([1-9](\d[1-9]|[1-9]\d)\d{7})-(20[2-9][0-9]|2[1-9]\d{2}|[3-9]\d{3})(0[1-9]|1[0-2])(0[1-9]|[12]\d|3[01])-([0-9A-F]{6})-?([0-9A-F]{6})-([0-9A-F]{2})$";

fn is_upper_hex(b: u8) -> bool {
    b.is_ascii_digit() || (b'A'..=b'F').contains(&b)
}

/// Parses `YYYYMMDD` (years ≥ 2020 as in the API patterns) into a calendar date.
fn parse_yyyymmdd(b: &[u8]) -> Option<Date> {
    if b.len() != 8 || !b.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let num = |r: std::ops::Range<usize>| {
        b[r].iter()
            .fold(0u32, |acc, &x| acc * 10 + u32::from(x - b'0'))
    };
    let year = i32::try_from(num(0..4)).ok()?;
    if year < 2020 {
        return None;
    }
    let month = Month::try_from(u8::try_from(num(4..6)).ok()?).ok()?;
    let day = u8::try_from(num(6..8)).ok()?;
    Date::from_calendar_date(year, month, day).ok()
}

fn yyyymmdd(date: Date) -> String {
    format!(
        "{:04}{:02}{:02}",
        date.year(),
        u8::from(date.month()),
        date.day()
    )
}

fn random_upper_hex<R: Rng + ?Sized>(rng: &mut R, n: usize) -> String {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    (0..n)
        .map(|_| char::from(HEX[rng.random_range(0..16usize)]))
        .collect()
}

// ---------------------------------------------------------------------------------------------
// ReferenceNumber
// ---------------------------------------------------------------------------------------------

crate::api_enum! {
    /// The two-letter type code inside a reference number (`TT`), as observed in the API's
    /// examples. Clients should treat reference numbers as opaque; this is for generating them.
    pub enum ReferenceKind as "ReferenceKind" {
        /// `CR` — authentication challenge.
        Challenge,
        /// `AU` — authentication operation.
        AuthenticationOperation,
        /// `SO` — online session.
        OnlineSession,
        /// `SB` — batch session.
        BatchSession,
        /// `EE` — invoice within a session.
        SessionInvoice,
        /// `EU` — UPO page.
        UpoPage,
        /// `EC` — KSeF token.
        KsefToken,
        /// `EG` — permission operation.
        PermissionOperation,
        /// `EH` — invoice export (also seen on certificate enrollments).
        InvoiceExport,
    }
}

impl ReferenceKind {
    /// The two-letter code used inside reference numbers.
    pub const fn code(self) -> &'static str {
        match self {
            ReferenceKind::Challenge => "CR",
            ReferenceKind::AuthenticationOperation => "AU",
            ReferenceKind::OnlineSession => "SO",
            ReferenceKind::BatchSession => "SB",
            ReferenceKind::SessionInvoice => "EE",
            ReferenceKind::UpoPage => "EU",
            ReferenceKind::KsefToken => "EC",
            ReferenceKind::PermissionOperation => "EG",
            ReferenceKind::InvoiceExport => "EH",
        }
    }

    /// The kind with this two-letter code, if it is one of the known ones.
    pub fn from_code(code: &str) -> Option<ReferenceKind> {
        ReferenceKind::ALL
            .iter()
            .copied()
            .find(|k| k.code() == code)
    }
}

/// A 36-character reference number, e.g. `20251010-EC-1DCE3E3000-12ECB5B36E-45`.
///
/// The last two hex digits of numbers issued by KSeF are a CRC-8 (same as [`crc8`]) of the
/// first 33 characters; [`ReferenceNumber::generate`] produces them the same way, parsing does
/// not insist on it (see [`ReferenceNumber::has_valid_checksum`]).
///
/// Validation follows the UPO XSD pattern, and additionally requires the date part to be a
/// real calendar date (so [`ReferenceNumber::date`] cannot fail). Unknown type codes are
/// accepted (any two of `[0-9A-Z]`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct ReferenceNumber(String);
string_newtype!(ReferenceNumber, IdentifierError);

impl FromStr for ReferenceNumber {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = IdentifierKind::ReferenceNumber;
        let count = s.chars().count();
        if count != 36 {
            return Err(IdentifierError::WrongLength {
                kind,
                expected: "36",
                actual: count,
            });
        }
        let b = s.as_bytes();
        let shape_ok = s.is_ascii()
            && [8, 11, 22, 33].iter().all(|&i| b[i] == b'-')
            && b[9..11]
                .iter()
                .all(|&c| c.is_ascii_digit() || c.is_ascii_uppercase())
            && b[12..22].iter().all(|&c| is_upper_hex(c))
            && b[23..33].iter().all(|&c| is_upper_hex(c))
            && b[34..36].iter().all(|&c| is_upper_hex(c));
        if !shape_ok || parse_yyyymmdd(&b[..8]).is_none() {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: REFERENCE_NUMBER_PATTERN,
            });
        }
        Ok(ReferenceNumber(s.to_owned()))
    }
}

impl ReferenceNumber {
    /// A fresh random reference number of `kind` (with a valid CRC-8 suffix), dated `at` (the date as seen in `at`'s own
    /// offset; pass a UTC time for UTC dates). Uses the thread-local generator.
    pub fn generate(kind: ReferenceKind, at: OffsetDateTime) -> ReferenceNumber {
        ReferenceNumber::generate_with(&mut rand::rng(), kind, at)
    }

    /// Like [`ReferenceNumber::generate`] with an explicit random generator.
    pub fn generate_with<R: Rng + ?Sized>(
        rng: &mut R,
        kind: ReferenceKind,
        at: OffsetDateTime,
    ) -> ReferenceNumber {
        let body = format!(
            "{}-{}-{}-{}",
            yyyymmdd(at.date()),
            kind.code(),
            random_upper_hex(rng, 10),
            random_upper_hex(rng, 10),
        );
        let crc = crc8(body.as_bytes());
        ReferenceNumber(format!("{body}-{crc:02X}"))
    }

    /// Whether the last two hex digits are the CRC-8 of the first 33 characters, as in
    /// reference numbers issued by KSeF (observed on every unedited example in the docs; some
    /// hand-edited documentation examples fail it, so parsing does not require it).
    pub fn has_valid_checksum(&self) -> bool {
        format!("{:02X}", crc8(&self.0.as_bytes()[..33])) == self.0[34..]
    }

    /// The two-character type code (`TT`), e.g. `"EC"`.
    pub fn kind_code(&self) -> &str {
        &self.0[9..11]
    }

    /// The known kind of this reference number, if its code is one of [`ReferenceKind`]'s.
    pub fn kind(&self) -> Option<ReferenceKind> {
        ReferenceKind::from_code(self.kind_code())
    }

    /// The date part.
    pub fn date(&self) -> Date {
        // Validated on construction; the fallback is never taken.
        parse_yyyymmdd(&self.0.as_bytes()[..8]).unwrap_or(Date::MIN)
    }
}

// ---------------------------------------------------------------------------------------------
// KsefNumber
// ---------------------------------------------------------------------------------------------

/// CRC-8 with polynomial 0x07, initial value 0, no reflection and no final XOR
/// (CRC-8/SMBUS), as used by KSeF numbers. Hand-rolled: eight lines do not justify a
/// dependency.
pub fn crc8(bytes: &[u8]) -> u8 {
    let mut crc = 0u8;
    for &byte in bytes {
        crc ^= byte;
        for _ in 0..8 {
            crc = if crc & 0x80 != 0 {
                (crc << 1) ^ 0x07
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// An invoice's KSeF number: `NIP-YYYYMMDD-XXXXXXXXXXXX-CC` (35 chars), where `CC` is the
/// CRC-8 (hex) of everything before the last hyphen. The 36-character KSeF 1.0 form
/// `NIP-YYYYMMDD-XXXXXX-XXXXXX-CC` is accepted too (see [`KsefNumber::is_legacy`]).
///
/// The seller NIP part is checked against the API pattern only, not the NIP checksum (the
/// number's own CRC already protects it, and the API does not require more).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct KsefNumber(String);
string_newtype!(KsefNumber, IdentifierError);

impl FromStr for KsefNumber {
    type Err = IdentifierError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let kind = IdentifierKind::KsefNumber;
        let count = s.chars().count();
        if count != 35 && count != 36 {
            return Err(IdentifierError::WrongLength {
                kind,
                expected: "35 or 36",
                actual: count,
            });
        }
        if !s.is_ascii() {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: KSEF_NUMBER_PATTERN,
            });
        }
        let b = s.as_bytes();
        let nip = &b[..10];
        let nip_ok = nip.iter().all(u8::is_ascii_digit)
            && nip[0] != b'0'
            && !(nip[1] == b'0' && nip[2] == b'0');
        let tech_ok = if count == 35 {
            b[20..32].iter().all(|&c| is_upper_hex(c))
        } else {
            b[20..26].iter().all(|&c| is_upper_hex(c))
                && b[26] == b'-'
                && b[27..33].iter().all(|&c| is_upper_hex(c))
        };
        let shape_ok = nip_ok
            && b[10] == b'-'
            && parse_yyyymmdd(&b[11..19]).is_some()
            && b[19] == b'-'
            && tech_ok
            && b[count - 3] == b'-'
            && b[count - 2..].iter().all(|&c| is_upper_hex(c));
        if !shape_ok {
            return Err(IdentifierError::PatternMismatch {
                kind,
                value: s.to_owned(),
                pattern: KSEF_NUMBER_PATTERN,
            });
        }
        let expected = format!("{:02X}", crc8(&b[..count - 3]));
        let found = &s[count - 2..];
        if expected != found {
            return Err(IdentifierError::BadChecksum {
                kind,
                value: s.to_owned(),
                expected,
                found: found.to_owned(),
            });
        }
        Ok(KsefNumber(s.to_owned()))
    }
}

impl KsefNumber {
    /// A fresh random KSeF number for an invoice of seller `nip` accepted on `date`
    /// (thread-local generator).
    pub fn generate(nip: impl AsRef<Nip>, date: Date) -> KsefNumber {
        KsefNumber::generate_with(&mut rand::rng(), nip, date)
    }

    /// Like [`KsefNumber::generate`] with an explicit random generator.
    pub fn generate_with<R: Rng + ?Sized>(
        rng: &mut R,
        nip: impl AsRef<Nip>,
        date: Date,
    ) -> KsefNumber {
        let body = format!(
            "{}-{}-{}",
            nip.as_ref(),
            yyyymmdd(date),
            random_upper_hex(rng, 12)
        );
        let crc = crc8(body.as_bytes());
        KsefNumber(format!("{body}-{crc:02X}"))
    }

    /// The seller's NIP as written in the number (pattern-checked, checksum not verified).
    pub fn seller_nip(&self) -> &str {
        &self.0[..10]
    }

    /// The seller's NIP, if it also passes the NIP checksum.
    pub fn nip(&self) -> Option<Nip> {
        self.seller_nip().parse().ok()
    }

    /// The date the invoice was accepted for processing.
    pub fn date(&self) -> Date {
        // Validated on construction; the fallback is never taken.
        parse_yyyymmdd(&self.0.as_bytes()[11..19]).unwrap_or(Date::MIN)
    }

    /// Whether this is the 36-character KSeF 1.0 form.
    pub fn is_legacy(&self) -> bool {
        self.0.len() == 36
    }

    /// The two CRC hex characters.
    pub fn crc(&self) -> &str {
        &self.0[self.0.len() - 2..]
    }
}

#[cfg(test)]
mod tests;
