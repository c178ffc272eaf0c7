//! What a verification concluded: a typed [`Finding`] (each outcome its own variant, with a
//! stable machine code and a Polish explanation) and the [`Facts`] a stranger holding the code
//! may see.

use ksef_core::qr::{CertificateSerialNumber, InvoiceHash, LinkError, LinkKind};
use ksef_core::{ContextIdentifier, KsefNumber, Nip};
use time::{Date, OffsetDateTime};

use crate::permissions::IssuingBasis;

/// The outcome of verifying a code.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Finding {
    // ------------------------------------------------------------------ KOD I
    /// The invoice whose file hashes to the link's hash is in KSeF, issued by the link's
    /// seller on the link's date.
    InvoiceInKsef,
    /// The invoice with the link's hash was rejected and replaced by a technical correction,
    /// which is in KSeF (the facts name the correction's KSeF number).
    TechnicallyCorrected,
    /// No invoice (nor technical correction) in KSeF for the link's hash.
    InvoiceNotFound,
    /// An invoice with the link's hash is in KSeF, but the link's seller NIP and/or issue date
    /// differ from it.
    InvoiceDataMismatch { seller_nip: bool, issue_date: bool },
    // ----------------------------------------------------------------- KOD II
    /// Every check passed: certificate, signature, permission, context and seller.
    CertificateConfirmed,
    /// No KSeF certificate with the link's serial number.
    CertificateNotFound,
    /// The certificate is a KSeF `Authentication` certificate, which may not sign KOD II.
    NotOfflineCertificate,
    /// The certificate was revoked.
    CertificateRevoked { at: OffsetDateTime },
    /// The certificate's validity ended.
    CertificateExpired { at: OffsetDateTime },
    /// The certificate's validity has not begun.
    CertificateNotYetValid { from: OffsetDateTime },
    /// The signature does not verify with the certificate's key over the link's data as this
    /// emulator's address writes it (`signed` is that text).
    SignatureInvalid { signed: String },
    /// The certificate's owner holds no invoice-issuing permission in the context.
    NoInvoicingPermission,
    /// The context may not issue invoices for the seller NIP.
    ContextMayNotIssueForSeller,
    // ------------------------------------------------------------------ both
    /// The address is not a verification link.
    InvalidLink(LinkProblem),
}

impl Finding {
    /// Whether the code is confirmed.
    pub fn is_valid(&self) -> bool {
        matches!(
            self,
            Finding::InvoiceInKsef | Finding::TechnicallyCorrected | Finding::CertificateConfirmed
        )
    }

    /// A stable machine code (the JSON `code`).
    pub fn code(&self) -> &'static str {
        match self {
            Finding::InvoiceInKsef => "InvoiceInKsef",
            Finding::TechnicallyCorrected => "TechnicallyCorrected",
            Finding::InvoiceNotFound => "InvoiceNotFound",
            Finding::InvoiceDataMismatch { .. } => "InvoiceDataMismatch",
            Finding::CertificateConfirmed => "CertificateConfirmed",
            Finding::CertificateNotFound => "CertificateNotFound",
            Finding::NotOfflineCertificate => "NotOfflineCertificate",
            Finding::CertificateRevoked { .. } => "CertificateRevoked",
            Finding::CertificateExpired { .. } => "CertificateExpired",
            Finding::CertificateNotYetValid { .. } => "CertificateNotYetValid",
            Finding::SignatureInvalid { .. } => "SignatureInvalid",
            Finding::NoInvoicingPermission => "NoInvoicingPermission",
            Finding::ContextMayNotIssueForSeller => "ContextMayNotIssueForSeller",
            Finding::InvalidLink(_) => "InvalidLink",
        }
    }
}

/// Which part of a link is wrong (the JSON `linkError`), from [`LinkError`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LinkProblem {
    TooLong,
    /// Characters or parts no link has: a query, percent-encoding, `.`, an empty segment…
    Malformed,
    UnknownKind,
    SegmentCount {
        kind: LinkKind,
    },
    SellerNip,
    ContextType,
    Context,
    IssueDate,
    InvoiceHash,
    CertificateSerial,
    Signature,
}

impl LinkProblem {
    pub fn of(e: &LinkError) -> LinkProblem {
        match e {
            LinkError::TooLong { .. } => LinkProblem::TooLong,
            LinkError::UnknownKind { .. } => LinkProblem::UnknownKind,
            LinkError::SegmentCount { kind, .. } => LinkProblem::SegmentCount { kind: *kind },
            LinkError::SellerNip(_) => LinkProblem::SellerNip,
            LinkError::ContextType { .. } => LinkProblem::ContextType,
            LinkError::Context(_) => LinkProblem::Context,
            LinkError::IssueDate { .. } | LinkError::DateOutOfRange { .. } => {
                LinkProblem::IssueDate
            }
            LinkError::InvoiceHash { .. } => LinkProblem::InvoiceHash,
            LinkError::CertificateSerial { .. } => LinkProblem::CertificateSerial,
            LinkError::Signature { .. } => LinkProblem::Signature,
            // `BadUrl` and whatever a later ksef-core adds.
            _ => LinkProblem::Malformed,
        }
    }

    /// A stable machine code (the JSON `linkError`).
    pub fn code(self) -> &'static str {
        match self {
            LinkProblem::TooLong => "TooLong",
            LinkProblem::Malformed => "Malformed",
            LinkProblem::UnknownKind => "UnknownKind",
            LinkProblem::SegmentCount { .. } => "SegmentCount",
            LinkProblem::SellerNip => "SellerNip",
            LinkProblem::ContextType => "ContextType",
            LinkProblem::Context => "Context",
            LinkProblem::IssueDate => "IssueDate",
            LinkProblem::InvoiceHash => "InvoiceHash",
            LinkProblem::CertificateSerial => "CertificateSerial",
            LinkProblem::Signature => "Signature",
        }
    }
}

/// What the page shows besides the finding. Only the link's own parts and what the Ministry's
/// page reveals to whoever holds the code: the KSeF number and when it was assigned (KOD I);
/// the certificate's serial number, holder name, validity and the basis on which the context
/// issues for the seller (KOD II). Never the invoice's content, amounts, buyer or the
/// certificate owner's identifier.
#[derive(Debug, Clone, Default)]
pub struct Facts {
    pub kind: Option<LinkKind>,
    pub seller_nip: Option<Nip>,
    pub issue_date: Option<Date>,
    pub invoice_hash: Option<InvoiceHash>,
    /// KOD I: the invoice's (or its technical correction's) KSeF number.
    pub ksef_number: Option<KsefNumber>,
    /// KOD I: when that KSeF number was assigned.
    pub acquired: Option<OffsetDateTime>,
    pub context: Option<ContextIdentifier>,
    pub certificate_serial: Option<CertificateSerialNumber>,
    /// KOD II, confirmed: the certificate subject's commonName.
    pub certificate_holder: Option<String>,
    /// KOD II, confirmed: the end of the certificate's validity.
    pub certificate_valid_to: Option<OffsetDateTime>,
    /// KOD II, confirmed: why the context may issue for the seller.
    pub issuing_basis: Option<IssuingBasis>,
}

/// A finding and its facts.
#[derive(Debug, Clone)]
pub struct Verdict {
    pub finding: Finding,
    pub facts: Facts,
}

impl Verdict {
    /// The verdict on an address that is not a verification link: nothing of it is shown.
    pub fn invalid_link(e: &LinkError) -> Verdict {
        Verdict {
            finding: Finding::InvalidLink(LinkProblem::of(e)),
            facts: Facts::default(),
        }
    }
}
