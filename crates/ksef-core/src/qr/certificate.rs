//! KOD II: [`CertificateLinkData`] (what is signed) and [`CertificateVerificationLink`].

use std::fmt;

use super::{
    CertificateSerialNumber, InvoiceHash, LinkBase, LinkError, LinkKind, LinkSignature, shown,
};
use crate::{ContextIdentifier, ContextIdentifierType, Nip};

/// Everything in a KOD II link but the signature: the context in which the certificate's owner
/// issues the invoice, the seller, the KSeF `Offline` certificate's serial number and the
/// invoice file's hash.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateLinkData {
    base: LinkBase,
    context: ContextIdentifier,
    seller_nip: Nip,
    certificate_serial: CertificateSerialNumber,
    invoice_hash: InvoiceHash,
}

impl CertificateLinkData {
    /// Puts the parts together (each is valid by its type).
    pub fn new(
        base: LinkBase,
        context: ContextIdentifier,
        seller_nip: Nip,
        certificate_serial: CertificateSerialNumber,
        invoice_hash: InvoiceHash,
    ) -> CertificateLinkData {
        CertificateLinkData {
            base,
            context,
            seller_nip,
            certificate_serial,
            invoice_hash,
        }
    }

    /// Where the link points.
    pub fn base(&self) -> &LinkBase {
        &self.base
    }

    /// The context (`Nip`, `InternalId`, `NipVatUe` or `PeppolId` and its value).
    pub fn context(&self) -> &ContextIdentifier {
        &self.context
    }

    /// The seller's NIP (`Podmiot1`).
    pub fn seller_nip(&self) -> &Nip {
        &self.seller_nip
    }

    /// The signing KSeF certificate's serial number.
    pub fn certificate_serial(&self) -> &CertificateSerialNumber {
        &self.certificate_serial
    }

    /// SHA-256 of the invoice file.
    pub fn invoice_hash(&self) -> &InvoiceHash {
        &self.invoice_hash
    }

    /// The text the KSeF certificate signs: the link without `https://` (or `http://`) and
    /// without the signature, ending with the hash (no trailing `/`), e.g.
    /// `qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE`.
    pub fn string_to_sign(&self) -> String {
        format!(
            "{}/{}/{}/{}/{}/{}/{}",
            self.base.authority(),
            LinkKind::Certificate.path_segment(),
            self.context.kind(),
            self.context.value(),
            self.seller_nip,
            self.certificate_serial,
            self.invoice_hash
        )
    }

    /// The link with its signature (made over [`CertificateLinkData::string_to_sign`]).
    pub fn with_signature(self, signature: LinkSignature) -> CertificateVerificationLink {
        CertificateVerificationLink {
            data: self,
            signature,
        }
    }
}

/// KOD II, the link that proves who issued an offline invoice:
/// `{origin}/certificate/{context type}/{context value}/{seller NIP}/{certificate serial}/{hash}/{signature}`.
///
/// Its text is [`CertificateVerificationLink::url`] (also `Display`). Making and checking the
/// signature is `ksef-crypto`'s job; this type only carries it.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CertificateVerificationLink {
    data: CertificateLinkData,
    signature: LinkSignature,
}

impl CertificateVerificationLink {
    /// Reads the six path segments after `/certificate/` (already percent-decoded): context
    /// type, context value, seller NIP, certificate serial, hash, signature. Strict: see
    /// [`super::VerificationLink`].
    pub fn from_segments(base: LinkBase, segments: &[&str]) -> Result<Self, LinkError> {
        let &[kind, value, nip, serial, hash, signature] = segments else {
            return Err(LinkError::SegmentCount {
                kind: LinkKind::Certificate,
                expected: LinkKind::Certificate.segment_count(),
                found: segments.len(),
            });
        };
        let kind = kind
            .parse::<ContextIdentifierType>()
            .map_err(|_| LinkError::ContextType { found: shown(kind) })?;
        let context = ContextIdentifier::parse(kind, value).map_err(LinkError::Context)?;
        let seller_nip = nip.parse::<Nip>().map_err(LinkError::SellerNip)?;
        let certificate_serial = serial.parse::<CertificateSerialNumber>()?;
        let invoice_hash = InvoiceHash::from_base64url(hash)?;
        let signature = LinkSignature::from_base64url(signature)?;
        Ok(
            CertificateLinkData::new(base, context, seller_nip, certificate_serial, invoice_hash)
                .with_signature(signature),
        )
    }

    /// The signed parts.
    pub fn data(&self) -> &CertificateLinkData {
        &self.data
    }

    /// The signature.
    pub fn signature(&self) -> &LinkSignature {
        &self.signature
    }

    /// [`CertificateLinkData::string_to_sign`] of the signed parts.
    pub fn string_to_sign(&self) -> String {
        self.data.string_to_sign()
    }

    /// The link text.
    pub fn url(&self) -> String {
        self.to_string()
    }
}

impl fmt::Display for CertificateVerificationLink {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}://{}/{}",
            self.data.base.scheme().as_str(),
            self.data.string_to_sign(),
            self.signature.to_base64url()
        )
    }
}
