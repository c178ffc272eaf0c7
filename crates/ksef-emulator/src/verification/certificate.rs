//! KOD II: does the issuer's KSeF certificate confirm the offline invoice? (`kody-qr.md` §2)
//!
//! The checks, in the order of the Ministry's description, the first failure deciding:
//!
//! 1. the certificate is in the register of KSeF certificates, is of type `Offline`, is not
//!    revoked and is within its validity now;
//! 2. the link's signature verifies with the certificate's key over the link's data as written
//!    for this emulator's address ([`ksef_crypto::verification_link::verify_certificate_link`]);
//! 3. the certificate's owner holds a permission to send invoices in the link's context
//!    (`InvoiceWrite`, `PefInvoiceWrite` or `EnforcementOperations` — what
//!    `POST /sessions/online/{ref}/invoices` requires), counted as at login (owner rule,
//!    NIP–PESEL links, grants, indirect grants);
//! 4. the context may issue invoices for the link's seller NIP
//!    ([`crate::permissions::issuing_basis`]).

use ksef_core::qr::{CertificateVerificationLink, LinkKind};
use ksef_crypto::CryptoError;
use ksef_crypto::verification_link::verify_certificate_link;
use ksef_wire::KsefCertificateType;

use super::verdict::{Facts, Finding, Verdict};
use crate::certificates::registered;
use crate::error::{ApiError, ApiResult};
use crate::permissions::{effective_permissions, issuing_basis};
use crate::sessions::ONLINE_WRITE;
use crate::state::AppState;

pub async fn verify(state: &AppState, link: &CertificateVerificationLink) -> ApiResult<Verdict> {
    let data = link.data();
    let mut facts = Facts {
        kind: Some(LinkKind::Certificate),
        seller_nip: Some(data.seller_nip().clone()),
        invoice_hash: Some(*data.invoice_hash()),
        context: Some(data.context().clone()),
        certificate_serial: Some(data.certificate_serial().clone()),
        ..Facts::default()
    };
    let verdict = |finding, facts| Ok(Verdict { finding, facts });

    let Some(certificate) = registered(state, data.certificate_serial().as_str()).await? else {
        return verdict(Finding::CertificateNotFound, facts);
    };
    if certificate.certificate_type != KsefCertificateType::Offline {
        return verdict(Finding::NotOfflineCertificate, facts);
    }
    if let Some(at) = certificate.revoked {
        return verdict(Finding::CertificateRevoked { at }, facts);
    }
    let now = state.now();
    if now < certificate.valid_from {
        return verdict(
            Finding::CertificateNotYetValid {
                from: certificate.valid_from,
            },
            facts,
        );
    }
    if now > certificate.valid_to {
        return verdict(
            Finding::CertificateExpired {
                at: certificate.valid_to,
            },
            facts,
        );
    }

    match verify_certificate_link(&certificate.der, link) {
        Ok(()) => {}
        Err(CryptoError::SignatureInvalid(_)) => {
            return verdict(
                Finding::SignatureInvalid {
                    signed: link.string_to_sign(),
                },
                facts,
            );
        }
        // The stored certificate does not parse or names another serial: an emulator bug.
        Err(e) => {
            return Err(ApiError::internal(format!(
                "KSeF certificate {}: {e}",
                certificate.serial
            )));
        }
    }

    let held = effective_permissions(state.pool(), &certificate.owner, data.context()).await?;
    if !ONLINE_WRITE.iter().any(|p| held.contains(*p)) {
        return verdict(Finding::NoInvoicingPermission, facts);
    }
    let Some(basis) = issuing_basis(state.pool(), data.context(), data.seller_nip()).await? else {
        return verdict(Finding::ContextMayNotIssueForSeller, facts);
    };
    facts.certificate_holder = Some(certificate.common_name);
    facts.certificate_valid_to = Some(certificate.valid_to);
    facts.issuing_basis = Some(basis);
    verdict(Finding::CertificateConfirmed, facts)
}
