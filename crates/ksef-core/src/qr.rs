//! The verification links of invoices shown outside KSeF and their QR code labels (digest
//! §13.2; the Ministry's `kody-qr.md`):
//!
//! * **KOD I** ([`InvoiceVerificationLink`]) — on every invoice shown outside KSeF:
//!   `{origin}/invoice/{seller NIP}/{P_1 as DD-MM-YYYY}/{Base64URL(SHA-256(invoice file))}`;
//!   labelled with the KSeF number once known, else [`LABEL_OFFLINE`] ([`invoice_label`]).
//! * **KOD II** ([`CertificateVerificationLink`]) — on offline invoices only, proving the issuer:
//!   `{origin}/certificate/{context type}/{context value}/{seller NIP}/{certificate serial}/{hash}/{signature}`,
//!   the signature made with a KSeF `Offline` certificate over
//!   [`CertificateLinkData::string_to_sign`] (the link without the scheme, up to the hash);
//!   labelled [`LABEL_CERTIFICATE`]. Signing and verifying the signature is `ksef-crypto`'s job.
//! * [`LinkBase`] — where the links point: the Ministry's QR hosts for TEST, DEMO and PRD, and for
//!   any other API (the local emulator) that server's own origin.
//! * [`VerificationLink`] — reading a link back into its typed parts, strictly: every accepted
//!   link prints back to exactly the same text (so a signature checked over the rebuilt
//!   string is checked over what was signed), and hostile input gets a typed [`LinkError`].
//!
//! No I/O and no signatures here: only SHA-256 of the invoice file and the link texts.

mod base;
mod certificate;
mod invoice;
mod parse;
mod parts;

pub use base::{HOST_DEMO, HOST_PRD, HOST_TEST, LinkBase, Scheme};
pub use certificate::{CertificateLinkData, CertificateVerificationLink};
pub use invoice::InvoiceVerificationLink;
pub use parse::VerificationLink;
pub use parts::{CertificateSerialNumber, InvoiceHash, LinkSignature};

use crate::{IdentifierError, KsefNumber};

/// The label under KOD I of an invoice with no KSeF number yet (offline, or online still
/// waiting for its number).
pub const LABEL_OFFLINE: &str = "OFFLINE";
/// The label under KOD II.
pub const LABEL_CERTIFICATE: &str = "CERTYFIKAT";

/// The longest link [`VerificationLink::parse`] reads (a KOD II signed with RSA-4096 is about
/// 900 characters; a QR code of error correction level M holds at most 2331 bytes).
pub const MAX_LINK_LENGTH: usize = 2048;

/// The label under KOD I: the KSeF number when known, else [`LABEL_OFFLINE`].
pub fn invoice_label(ksef_number: Option<&KsefNumber>) -> &str {
    ksef_number.map_or(LABEL_OFFLINE, KsefNumber::as_str)
}

/// Which of the two links.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LinkKind {
    /// KOD I, `/invoice/…`.
    Invoice,
    /// KOD II, `/certificate/…`.
    Certificate,
}

impl LinkKind {
    /// The first path segment: `invoice` or `certificate`.
    pub const fn path_segment(self) -> &'static str {
        match self {
            LinkKind::Invoice => "invoice",
            LinkKind::Certificate => "certificate",
        }
    }

    /// How many path segments follow the first one.
    pub const fn segment_count(self) -> usize {
        match self {
            LinkKind::Invoice => 3,
            LinkKind::Certificate => 6,
        }
    }
}

impl std::fmt::Display for LinkKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            LinkKind::Invoice => "KOD I (invoice)",
            LinkKind::Certificate => "KOD II (certificate)",
        })
    }
}

/// Why a verification link (or a part of one) was refused. Parts of the input shown in a
/// message are cut to 64 characters.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum LinkError {
    /// Longer than [`MAX_LINK_LENGTH`].
    #[error("the link is {length} characters long; a verification link has at most {max}")]
    TooLong { length: usize, max: usize },
    /// Not an `http(s)://authority` origin, or the rest of the URL is not a plain path.
    #[error("{value:?} is not usable: {reason}")]
    BadUrl { value: String, reason: &'static str },
    /// The first path segment is neither `invoice` nor `certificate`.
    #[error(
        "unknown verification link {found:?}; expected /invoice/… (KOD I) or /certificate/… (KOD II)"
    )]
    UnknownKind { found: String },
    /// Too few or too many path segments.
    #[error("{kind} has {expected} path segments after /{}/, found {found}", kind.path_segment())]
    SegmentCount {
        kind: LinkKind,
        expected: usize,
        found: usize,
    },
    /// The seller NIP is not a valid NIP.
    #[error("seller NIP: {0}")]
    SellerNip(IdentifierError),
    /// The context identifier type is not one of the API's four.
    #[error(
        "context identifier type {found:?}; expected one of Nip, InternalId, NipVatUe, PeppolId"
    )]
    ContextType { found: String },
    /// The context identifier value is not valid for its type.
    #[error("context identifier: {0}")]
    Context(IdentifierError),
    /// The issue date segment is not a date written `DD-MM-YYYY`.
    #[error("issue date {found:?} is not a calendar date written DD-MM-YYYY")]
    IssueDate { found: String },
    /// The issue date cannot be written with a four-digit year.
    #[error("issue date {date} cannot be written as DD-MM-YYYY (the year must be 1–9999)")]
    DateOutOfRange { date: time::Date },
    /// The invoice hash is not a Base64URL SHA-256 (43 characters, no padding).
    #[error("invoice hash {found:?}: {reason}")]
    InvoiceHash { found: String, reason: &'static str },
    /// The certificate serial number is not 16 uppercase hexadecimal digits.
    #[error(
        "certificate serial number {found:?} is not 16 uppercase hexadecimal digits (a KSeF certificate's serial)"
    )]
    CertificateSerial { found: String },
    /// The signature segment is not Base64URL without padding of 1–512 bytes.
    #[error("signature: {reason}")]
    Signature { reason: &'static str },
}

/// At most 64 characters of `s`, for error messages about hostile input.
fn shown(s: &str) -> String {
    const MAX: usize = 64;
    match s.char_indices().nth(MAX) {
        Some((i, _)) => format!("{}…", &s[..i]),
        None => s.to_owned(),
    }
}

#[cfg(test)]
mod tests;
