//! `ksef auth check FILE`: a local pre-flight of a signed AuthTokenRequest, naming which of the
//! usual causes of KSeF's opaque 9105 "Nieprawidłowy podpis" applies — before KSeF sees the file.

use std::path::Path;

use ksef_core::ContextIdentifier;
use ksef_crypto::identity::inspect_certificate;
use ksef_xades::auth_request::{AuthTokenRequest, SubjectIdentifierType};
use ksef_xades::diagnose::{Severity, diagnose};
use ksef_xades::signature::{VerifyOptions, verify_enveloped};
use serde::Serialize;
use time::OffsetDateTime;

use crate::auth::PendingRequest;
use crate::{IoAction, ProgramError, ProgramResult, show_time};

/// One line of the report.
#[derive(Debug, Serialize)]
pub struct CheckLine {
    pub severity: &'static str,
    pub code: Option<u32>,
    pub message: String,
}

/// Runs every local check. `pending` is the prepared request, if the file answers it.
pub fn check_file(
    path: &Path,
    pending: Option<&PendingRequest>,
    now: OffsetDateTime,
) -> ProgramResult<Vec<CheckLine>> {
    let bytes = std::fs::read(path).map_err(|e| ProgramError::io(IoAction::Read, path, e))?;
    let mut lines: Vec<CheckLine> = diagnose(&bytes)
        .into_iter()
        .map(|f| CheckLine {
            severity: match f.severity {
                Severity::Error => "error",
                Severity::Warning => "warning",
            },
            code: f.ksef_code,
            message: f.message,
        })
        .collect();
    // Certificate vs context, and the challenge deadline: things only we know.
    let request = AuthTokenRequest::parse(&bytes).ok().map(|(r, _)| r);
    let signer = verify_enveloped(
        &bytes,
        &VerifyOptions {
            strict_xades: false,
        },
    )
    .ok()
    .map(|v| v.signer_certificate_der);
    if let (Some(req), Some(cert)) = (&request, &signer)
        && let Ok(info) = inspect_certificate(cert)
    {
        if let Err(e) = info.check_validity(now) {
            lines.push(CheckLine {
                severity: "error",
                code: None,
                message: format!("certificate: {e} (status 460)"),
            });
        }
        if req.subject_identifier_type == SubjectIdentifierType::CertificateSubject {
            match (&req.context, &info.nip, &info.pesel) {
                    (_, None, None) => lines.push(CheckLine {
                        severity: "error",
                        code: Some(21406),
                        message: "SubjectIdentifierType is certificateSubject but the certificate carries no NIP \
                                  (TINPL-/VATPL-) or PESEL (PNOPL-); use certificateFingerprint or another certificate"
                            .into(),
                    }),
                    (ContextIdentifier::Nip(ctx), Some(nip), _) if ctx != nip => lines.push(CheckLine {
                        severity: "warning",
                        code: None,
                        message: format!(
                            "the certificate is for NIP {nip} but the context is NIP {ctx}: login works only if \
                             {nip} holds permissions in {ctx} (otherwise status 415)"
                        ),
                    }),
                    _ => {}
                }
        }
    }
    if let (Some(req), Some(p)) = (&request, pending)
        && p.challenge == req.challenge
        && now > p.deadline()
    {
        lines.push(CheckLine {
            severity: "error",
            code: Some(21111),
            message: format!(
                "the challenge {} expired at {}; prepare a new request (`ksef auth prepare`)",
                p.challenge,
                show_time(p.deadline())
            ),
        });
    }
    Ok(lines)
}
