//! [`VerificationLink`]: either link, read back from its text.

use std::fmt;
use std::str::FromStr;

use super::base::split_scheme;
use super::{
    CertificateVerificationLink, InvoiceVerificationLink, LinkBase, LinkError, LinkKind,
    MAX_LINK_LENGTH, shown,
};

/// KOD I or KOD II, read from a link's text ([`VerificationLink::parse`]) or from the path of
/// a request for it ([`VerificationLink::from_path`]).
///
/// Reading is strict, so that a link is accepted only in the one spelling this crate writes
/// (and a signature checked over the rebuilt [`CertificateVerificationLink::string_to_sign`]
/// is checked over the very text that was signed): ASCII only, at most [`MAX_LINK_LENGTH`]
/// characters, a lowercase `http(s)://host[:port]`, no query or fragment, no empty, `.` or
/// percent-encoded segments, no trailing `/`, the exact number of segments, and every segment
/// valid for its place (NIP checksum, real calendar date, canonical Base64URL…).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum VerificationLink {
    /// KOD I.
    Invoice(InvoiceVerificationLink),
    /// KOD II.
    Certificate(CertificateVerificationLink),
}

impl VerificationLink {
    /// Reads a whole link, e.g. one decoded from a QR code.
    pub fn parse(link: &str) -> Result<VerificationLink, LinkError> {
        check_length(link)?;
        let bad = |reason| LinkError::BadUrl {
            value: shown(link),
            reason,
        };
        if !link.is_ascii() {
            return Err(bad("a verification link is ASCII only"));
        }
        let (scheme, rest) =
            split_scheme(link).ok_or_else(|| bad("not an http:// or https:// link"))?;
        let slash = rest
            .find('/')
            .ok_or_else(|| bad("no /invoice/… or /certificate/… path"))?;
        let base = LinkBase::from_origin(&format!("{}://{}", scheme.as_str(), &rest[..slash]))?;
        Self::from_path(base, &rest[slash..])
    }

    /// Reads the path of a link served at `base` (`/invoice/…` or `/certificate/…`, as a web
    /// server receives it: not percent-decoded, no query).
    pub fn from_path(base: LinkBase, path: &str) -> Result<VerificationLink, LinkError> {
        check_length(path)?;
        let bad = |reason| LinkError::BadUrl {
            value: shown(path),
            reason,
        };
        let rest = path
            .strip_prefix('/')
            .ok_or_else(|| bad("the path does not start with '/'"))?;
        if let Some(c) = rest
            .bytes()
            .find(|b| !(b.is_ascii_alphanumeric() || b"/-_+*".contains(b)))
        {
            return Err(match c {
                b'?' | b'#' => bad("a verification link has no query or fragment"),
                b'%' => bad("a verification link has no percent-encoded characters"),
                _ => bad(
                    "a character no verification link has (only A–Z, a–z, 0–9, '-', '_', '+', '*' and '/')",
                ),
            });
        }
        let segments: Vec<&str> = rest.split('/').collect();
        if segments.iter().any(|s| s.is_empty()) {
            return Err(bad("an empty path segment (a doubled or trailing '/')"));
        }
        let (first, parts) = segments.split_first().ok_or_else(|| bad("an empty path"))?;
        if *first == LinkKind::Invoice.path_segment() {
            InvoiceVerificationLink::from_segments(base, parts).map(VerificationLink::Invoice)
        } else if *first == LinkKind::Certificate.path_segment() {
            CertificateVerificationLink::from_segments(base, parts)
                .map(VerificationLink::Certificate)
        } else {
            Err(LinkError::UnknownKind {
                found: shown(first),
            })
        }
    }

    /// Which link this is.
    pub fn kind(&self) -> LinkKind {
        match self {
            VerificationLink::Invoice(_) => LinkKind::Invoice,
            VerificationLink::Certificate(_) => LinkKind::Certificate,
        }
    }

    /// Where the link points.
    pub fn base(&self) -> &LinkBase {
        match self {
            VerificationLink::Invoice(l) => l.base(),
            VerificationLink::Certificate(l) => l.data().base(),
        }
    }
}

fn check_length(s: &str) -> Result<(), LinkError> {
    if s.len() > MAX_LINK_LENGTH {
        return Err(LinkError::TooLong {
            length: s.len(),
            max: MAX_LINK_LENGTH,
        });
    }
    Ok(())
}

impl FromStr for VerificationLink {
    type Err = LinkError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        VerificationLink::parse(s)
    }
}

impl fmt::Display for VerificationLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            VerificationLink::Invoice(l) => l.fmt(f),
            VerificationLink::Certificate(l) => l.fmt(f),
        }
    }
}
