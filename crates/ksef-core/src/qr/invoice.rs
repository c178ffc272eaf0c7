//! KOD I: [`InvoiceVerificationLink`].

use std::fmt;

use time::Date;

use super::parts::{format_date, parse_date};
use super::{InvoiceHash, LinkBase, LinkError, LinkKind};
use crate::Nip;

/// KOD I, the link that verifies an invoice and opens it in KSeF:
/// `{origin}/invoice/{seller NIP}/{P_1 as DD-MM-YYYY}/{Base64URL(SHA-256(file))}`, e.g.
/// `https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE`.
///
/// Its text is [`InvoiceVerificationLink::url`] (also `Display`).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvoiceVerificationLink {
    base: LinkBase,
    seller_nip: Nip,
    issue_date: Date,
    invoice_hash: InvoiceHash,
    /// `DD-MM-YYYY`, checked on construction.
    date_text: String,
}

impl InvoiceVerificationLink {
    /// The link of an invoice whose file hashes to `invoice_hash`. `issue_date` is the
    /// invoice's `P_1` (its year must be 1–9999 to be written `DD-MM-YYYY`).
    pub fn new(
        base: LinkBase,
        seller_nip: Nip,
        issue_date: Date,
        invoice_hash: InvoiceHash,
    ) -> Result<Self, LinkError> {
        let date_text =
            format_date(issue_date).ok_or(LinkError::DateOutOfRange { date: issue_date })?;
        Ok(InvoiceVerificationLink {
            base,
            seller_nip,
            issue_date,
            invoice_hash,
            date_text,
        })
    }

    /// The link of the invoice file `file` — its bytes exactly as sent to KSeF.
    pub fn for_file(
        base: LinkBase,
        seller_nip: Nip,
        issue_date: Date,
        file: &[u8],
    ) -> Result<Self, LinkError> {
        Self::new(base, seller_nip, issue_date, InvoiceHash::of_file(file))
    }

    /// Reads the three path segments after `/invoice/` (already percent-decoded, as a web
    /// framework hands them over): seller NIP, date, hash. Strict: see [`super::VerificationLink`].
    pub fn from_segments(base: LinkBase, segments: &[&str]) -> Result<Self, LinkError> {
        let &[nip, date, hash] = segments else {
            return Err(LinkError::SegmentCount {
                kind: LinkKind::Invoice,
                expected: LinkKind::Invoice.segment_count(),
                found: segments.len(),
            });
        };
        let seller_nip = nip.parse::<Nip>().map_err(LinkError::SellerNip)?;
        let issue_date = parse_date(date)?;
        let invoice_hash = InvoiceHash::from_base64url(hash)?;
        Self::new(base, seller_nip, issue_date, invoice_hash)
    }

    /// Where the link points.
    pub fn base(&self) -> &LinkBase {
        &self.base
    }

    /// The seller's NIP (`Podmiot1`).
    pub fn seller_nip(&self) -> &Nip {
        &self.seller_nip
    }

    /// The issue date (`P_1`).
    pub fn issue_date(&self) -> Date {
        self.issue_date
    }

    /// SHA-256 of the invoice file.
    pub fn invoice_hash(&self) -> &InvoiceHash {
        &self.invoice_hash
    }

    /// The link text.
    pub fn url(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for InvoiceVerificationLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}/{}/{}/{}/{}",
            self.base,
            LinkKind::Invoice.path_segment(),
            self.seller_nip,
            self.date_text,
            self.invoice_hash
        )
    }
}
