//! The parts of a link that are more than an identifier: the invoice hash, the certificate
//! serial number, the signature, and the issue date's `DD-MM-YYYY` form.

use std::fmt;
use std::str::FromStr;

use base64::Engine;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use sha2::{Digest, Sha256};
use time::{Date, Month};

use super::{LinkError, shown};

/// SHA-256 of an invoice file — its bytes exactly as sent to KSeF (the `invoiceHash` of the
/// API). In links it is written Base64URL without padding (43 characters).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct InvoiceHash([u8; 32]);

impl InvoiceHash {
    /// SHA-256 of the file's bytes.
    pub fn of_file(bytes: &[u8]) -> InvoiceHash {
        InvoiceHash(Sha256::digest(bytes).into())
    }

    /// A digest computed elsewhere.
    pub const fn from_bytes(digest: [u8; 32]) -> InvoiceHash {
        InvoiceHash(digest)
    }

    /// The 32 digest bytes.
    pub const fn as_bytes(&self) -> &[u8; 32] {
        &self.0
    }

    /// Base64URL without padding, as in the links.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(self.0)
    }

    /// Reads the link form strictly: 43 Base64URL characters, no padding, the unused low bits
    /// of the last character zero (so the text is the only spelling of the digest).
    pub fn from_base64url(s: &str) -> Result<InvoiceHash, LinkError> {
        let bad = |reason| LinkError::InvoiceHash {
            found: shown(s),
            reason,
        };
        if s.len() != 43 {
            return Err(bad(
                "a SHA-256 in Base64URL is 43 characters without padding",
            ));
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| bad("not canonical Base64URL (A–Z, a–z, 0–9, '-', '_')"))?;
        let digest: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("a SHA-256 digest is 32 bytes"))?;
        Ok(InvoiceHash(digest))
    }

    /// Reads the API's form (`invoiceHash`): standard Base64 with padding.
    pub fn from_base64(s: &str) -> Result<InvoiceHash, LinkError> {
        let bad = |reason| LinkError::InvoiceHash {
            found: shown(s),
            reason,
        };
        let bytes = STANDARD
            .decode(s)
            .map_err(|_| bad("not canonical Base64 with padding"))?;
        let digest: [u8; 32] = bytes
            .try_into()
            .map_err(|_| bad("a SHA-256 digest is 32 bytes"))?;
        Ok(InvoiceHash(digest))
    }
}

impl fmt::Display for InvoiceHash {
    /// The link form (Base64URL, no padding).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_base64url())
    }
}

impl fmt::Debug for InvoiceHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "InvoiceHash({})", self.to_base64url())
    }
}

/// The serial number of a KSeF certificate as the API and the links write it: 16 uppercase
/// hexadecimal digits (`^[0-9A-F]{16}$`).
#[derive(Clone, PartialEq, Eq, Hash, Debug, PartialOrd, Ord)]
pub struct CertificateSerialNumber(String);

impl CertificateSerialNumber {
    /// The 16 hexadecimal digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for CertificateSerialNumber {
    type Err = LinkError;

    /// Exactly 16 characters `0-9A-F` (lowercase is refused: the links are compared as text).
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let ok = s.len() == 16
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b));
        if !ok {
            return Err(LinkError::CertificateSerial { found: shown(s) });
        }
        Ok(CertificateSerialNumber(s.to_owned()))
    }
}

impl fmt::Display for CertificateSerialNumber {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The signature in a KOD II link: 1–512 bytes (an RSA-4096 signature is 512), written
/// Base64URL without padding.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct LinkSignature(Vec<u8>);

impl LinkSignature {
    /// The longest signature accepted (RSA-4096).
    pub const MAX_BYTES: usize = 512;

    /// Wraps signature bytes made elsewhere (`ksef-crypto`).
    pub fn new(bytes: Vec<u8>) -> Result<LinkSignature, LinkError> {
        if bytes.is_empty() {
            return Err(LinkError::Signature {
                reason: "the signature is empty",
            });
        }
        if bytes.len() > Self::MAX_BYTES {
            return Err(LinkError::Signature {
                reason: "longer than 512 bytes (RSA-4096)",
            });
        }
        Ok(LinkSignature(bytes))
    }

    /// The signature bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// Base64URL without padding, as in the link.
    pub fn to_base64url(&self) -> String {
        URL_SAFE_NO_PAD.encode(&self.0)
    }

    /// Reads the link form strictly (Base64URL, no padding, canonical last character).
    pub fn from_base64url(s: &str) -> Result<LinkSignature, LinkError> {
        // 512 bytes are 683 characters; refuse longer text before decoding it.
        if s.len() > 683 {
            return Err(LinkError::Signature {
                reason: "longer than 512 bytes (RSA-4096)",
            });
        }
        let bytes = URL_SAFE_NO_PAD
            .decode(s)
            .map_err(|_| LinkError::Signature {
                reason: "not canonical Base64URL without padding",
            })?;
        LinkSignature::new(bytes)
    }
}

impl fmt::Debug for LinkSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "LinkSignature({} bytes)", self.0.len())
    }
}

/// `DD-MM-YYYY`; `None` for years outside 1–9999.
pub(super) fn format_date(date: Date) -> Option<String> {
    (1..=9999).contains(&date.year()).then(|| {
        format!(
            "{:02}-{:02}-{:04}",
            date.day(),
            u8::from(date.month()),
            date.year()
        )
    })
}

/// Reads exactly `DD-MM-YYYY` (ten characters, a real calendar date, year 1–9999).
pub(super) fn parse_date(s: &str) -> Result<Date, LinkError> {
    let bad = || LinkError::IssueDate { found: shown(s) };
    let b = s.as_bytes();
    if b.len() != 10 || b[2] != b'-' || b[5] != b'-' {
        return Err(bad());
    }
    let num = |r: std::ops::Range<usize>| -> Option<u16> {
        let part = &b[r];
        part.iter().all(u8::is_ascii_digit).then(|| {
            part.iter()
                .fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0'))
        })
    };
    let (Some(day), Some(month), Some(year)) = (num(0..2), num(3..5), num(6..10)) else {
        return Err(bad());
    };
    if year == 0 {
        return Err(bad());
    }
    let month = u8::try_from(month)
        .ok()
        .and_then(|m| Month::try_from(m).ok())
        .ok_or_else(bad)?;
    let day = u8::try_from(day).map_err(|_| bad())?;
    Date::from_calendar_date(i32::from(year), month, day).map_err(|_| bad())
}
