//! The technical correction of a rejected offline invoice (digest §13.1).

use std::fmt;
use std::path::PathBuf;

use ksef_client::invoicing_flows::{self, InvoiceOutcome, OnlineInvoice, SendOptions};
use ksef_invoice::FormCode;
use ksef_store::{Direction, FirmId, InvoiceKey, InvoiceStatus, RegisteredInvoice};
use ksef_wire::ExceptionCode;
use serde::Serialize;

use super::read;
use super::send::status_of;
use crate::invoices::{self, WRITE_PERMISSIONS, with_stored};
use crate::register::{self, chosen_firm, record_from_facts};
use crate::{App, Field, InputProblem, Operation, ProgramError, ProgramResult};

/// KSeF's status of an invoice refused for lack of permission (the seller is not the context's
/// to invoice for): not a technical error, so no technical correction.
const PERMISSION_REFUSAL: i32 = 410;

/// Why a technical correction is not possible (digest §13.1): KSeF takes one for an offline
/// invoice it rejected for a technical reason — a new file with the same business content,
/// in an online session, with `offlineMode` — and only one accepted correction per original;
/// never for an invoice it accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum CorrectionRefusal {
    /// KSeF accepted the original (21167): there is nothing technical to correct.
    #[error(
        "KSeF accepted it{}; a technical correction is only for an invoice KSeF rejected \
         (KSeF code 21167) — change its content with a corrective invoice instead",
        ksef_number.as_deref().map(|n| format!(" (KSeF number {n})")).unwrap_or_default()
    )]
    OriginalAccepted { ksef_number: Option<String> },
    /// The original has an accepted technical correction already (21166).
    #[error(
        "it already has an accepted technical correction{}; KSeF accepts only one per invoice \
         (KSeF code 21166)",
        correction.as_deref().map(|n| format!(" (KSeF number {n})")).unwrap_or_default()
    )]
    AlreadyCorrected {
        /// The KSeF number of the accepted correction, when the register knows it.
        correction: Option<String>,
    },
    /// A correction was sent and KSeF has not given its verdict yet.
    #[error(
        "a technical correction of it is waiting for KSeF's verdict (row {id}); KSeF accepts \
         only one per invoice, so wait for it"
    )]
    CorrectionPending { id: i64 },
    /// The original was not issued offline.
    #[error("it was not issued offline; a technical correction is only for offline invoices")]
    NotOffline,
    /// The original has not been sent yet.
    #[error(
        "it has not been sent to KSeF yet (`ksef offline send`); only an invoice KSeF rejected \
         can be corrected technically"
    )]
    NotSent,
    /// KSeF has not given its verdict on the original yet.
    #[error("KSeF has not given its verdict on it yet; correct it only if KSeF rejects it")]
    NoVerdictYet,
    /// Not an invoice the firm issued.
    #[error("it is not an invoice the firm issued (a sale)")]
    NotASale,
    /// The invoice named is itself a technical correction.
    #[error("it is itself a technical correction of invoice {original}; correct the original")]
    IsACorrection { original: i64 },
    /// KSeF rejected it for lack of permission, not for a technical reason.
    #[error(
        "KSeF rejected it for lack of permission (status 410), not for a technical reason; a \
         technical correction does not apply"
    )]
    RejectedForPermissions,
    /// The correction is not the same invoice.
    #[error(
        "the correction must carry the same invoice, but its {field} is {correction:?} and the \
         original's {original:?}"
    )]
    DifferentInvoice {
        field: CorrectionField,
        original: String,
        correction: String,
    },
    /// The correction is the rejected file itself.
    #[error("the correction is the very file KSeF rejected; send a corrected file")]
    SameFile,
}

/// What must be the same in an invoice and its technical correction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CorrectionField {
    /// `P_2`.
    InvoiceNumber,
    /// `P_1`.
    IssueDate,
    /// The seller's NIP.
    SellerNip,
}

impl fmt::Display for CorrectionField {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            CorrectionField::InvoiceNumber => "invoice number (P_2)",
            CorrectionField::IssueDate => "issue date (P_1)",
            CorrectionField::SellerNip => "seller NIP",
        })
    }
}

/// Parses the invoice to correct: a register row id (digits), a KSeF number, or the invoice
/// reference number KSeF gave it in its sending session.
pub fn parse_invoice_key(s: &str) -> ProgramResult<InvoiceKey> {
    let s = s.trim();
    if s.is_empty() {
        return Err(ProgramError::invalid(
            Field::Invoice,
            InputProblem::Missing {
                hint: "the invoice's register id or its KSeF reference number",
            },
        ));
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        return s.parse().map(InvoiceKey::Id).map_err(|_| {
            ProgramError::invalid(
                Field::Invoice,
                InputProblem::BadFormat {
                    value: s.to_string(),
                    expected: "a register id, a KSeF number or a reference number",
                },
            )
        });
    }
    // A KSeF number starts with the seller's 10-digit NIP; a reference with a date.
    let first = s.split('-').next().unwrap_or("");
    if first.len() == 10 && first.bytes().all(|b| b.is_ascii_digit()) {
        Ok(InvoiceKey::KsefNumber(s.to_string()))
    } else {
        Ok(InvoiceKey::Reference(s.to_string()))
    }
}

/// What [`correct_technically`] should do.
#[derive(Debug, Clone)]
pub struct CorrectionRequest {
    /// The firm (`Nip:…`): the KSeF session must be its; `None`: the session's firm.
    pub firm: Option<String>,
    /// The rejected offline invoice.
    pub original: InvoiceKey,
    /// The corrected file (same business content, new file).
    pub file: PathBuf,
    /// Its form code; `None` = detected.
    pub form: Option<FormCode>,
    /// Run the local XSD check (on by default).
    pub validate: bool,
}

impl CorrectionRequest {
    pub fn new(original: InvoiceKey, file: PathBuf) -> Self {
        CorrectionRequest {
            firm: None,
            original,
            file,
            form: None,
            validate: true,
        }
    }
}

/// The result of a technical correction KSeF took for processing.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct CorrectionOutcome {
    /// The original's register row.
    pub original_id: i64,
    /// The original's invoice number.
    pub invoice_number: String,
    /// The correction's register row (`None`: KSeF did not take it, nothing was recorded).
    pub correction_id: Option<i64>,
    /// `hashOfCorrectedInvoice` as sent: Base64 SHA-256 of the original file.
    pub hash_of_corrected_invoice: String,
    /// What KSeF said about the correction.
    pub outcome: InvoiceOutcome,
}

impl CorrectionOutcome {
    /// KSeF accepted the correction (it has a KSeF number).
    pub fn accepted(&self) -> bool {
        self.outcome.accepted()
    }
}

fn refused(original: &RegisteredInvoice, reason: CorrectionRefusal) -> ProgramError {
    ProgramError::TechnicalCorrectionRefused {
        invoice: original.record.invoice_number.clone(),
        id: original.id,
        reason,
        ksef_code: None,
    }
}

/// What §13.1 allows for `original`, checked against the register (before KSeF is asked).
async fn check_original(
    store: &ksef_store::Store,
    firm: FirmId,
    original: &RegisteredInvoice,
) -> ProgramResult<()> {
    let r = &original.record;
    let refuse = |reason| Err(refused(original, reason));
    if let Some(of) = original.corrects {
        return refuse(CorrectionRefusal::IsACorrection { original: of.id });
    }
    if r.direction != Direction::Sale {
        return refuse(CorrectionRefusal::NotASale);
    }
    match r.status {
        InvoiceStatus::Accepted | InvoiceStatus::Received => {
            return refuse(CorrectionRefusal::OriginalAccepted {
                ksef_number: r.ksef_number.clone(),
            });
        }
        InvoiceStatus::Issued => return refuse(CorrectionRefusal::NotSent),
        InvoiceStatus::Sent => return refuse(CorrectionRefusal::NoVerdictYet),
        InvoiceStatus::Rejected => {}
    }
    if !r.offline {
        return refuse(CorrectionRefusal::NotOffline);
    }
    if r.status_code == Some(PERMISSION_REFUSAL) {
        return refuse(CorrectionRefusal::RejectedForPermissions);
    }
    for c in store.corrections_of(firm, original.id).await? {
        match c.record.status {
            InvoiceStatus::Accepted | InvoiceStatus::Received => {
                return refuse(CorrectionRefusal::AlreadyCorrected {
                    correction: c.record.ksef_number,
                });
            }
            InvoiceStatus::Sent | InvoiceStatus::Issued => {
                return refuse(CorrectionRefusal::CorrectionPending { id: c.id });
            }
            InvoiceStatus::Rejected => {}
        }
    }
    Ok(())
}

/// `ksef offline correct`: the technical correction of a rejected offline invoice. Checks
/// locally what digest §13.1 allows ([`CorrectionRefusal`]: the original rejected — not for
/// permissions —, offline, without an accepted correction; the correction the same invoice in
/// a new, XSD-valid file), then sends the file in an online session with `offlineMode: true`
/// and `hashOfCorrectedInvoice` = the Base64 SHA-256 of the original file. KSeF's refusals
/// 21166 and 21167 become [`ProgramError::TechnicalCorrectionRefused`] too. A correction KSeF
/// took is recorded in the register linked to its original, whatever its verdict (a rejected
/// correction may be followed by another one).
pub async fn correct_technically(
    app: &mut App,
    req: CorrectionRequest,
) -> ProgramResult<CorrectionOutcome> {
    let firm = chosen_firm(app, req.firm.as_deref()).await?;
    let store = app.store().await?.clone();
    let (original, _) = store
        .invoice(firm, &req.original)
        .await?
        .ok_or_else(|| register::not_in_register(&req.original))?;
    check_original(&store, firm, &original).await?;

    // The correction: valid, the same invoice, another file.
    let check = {
        let (file, form, schema) = (req.file.clone(), req.form, req.validate);
        tokio::task::spawn_blocking(move || invoices::check_file(&file, form, schema))
            .await
            .map_err(|e| ProgramError::CheckAborted {
                detail: e.to_string(),
            })?
    };
    let form = match check.form_code {
        Some(f) if check.ok => f,
        _ => {
            return Err(ProgramError::LocalCheckFailed {
                failed: vec![check],
                total: 1,
            });
        }
    };
    let bytes = read(&req.file).await?;
    if ksef_crypto::sha256(&bytes) == original.sha256 {
        return Err(refused(&original, CorrectionRefusal::SameFile));
    }
    let facts = register::facts(Some(form), &bytes, &req.file.display().to_string())?;
    let r = &original.record;
    let same = [
        (
            CorrectionField::InvoiceNumber,
            r.invoice_number.trim().to_string(),
            facts.invoice_number.trim().to_string(),
        ),
        (
            CorrectionField::IssueDate,
            r.issue_date.to_string(),
            facts.issue_date.to_string(),
        ),
        (
            CorrectionField::SellerNip,
            r.seller_nip.clone(),
            facts.seller_nip.clone(),
        ),
    ];
    if let Some((field, original_value, correction)) = same.into_iter().find(|(_, a, b)| a != b) {
        return Err(refused(
            &original,
            CorrectionRefusal::DifferentInvoice {
                field,
                original: original_value,
                correction,
            },
        ));
    }

    // KSeF: online, offlineMode, hashOfCorrectedInvoice.
    if let Some(firm) = &req.firm {
        register::ensure_session_for(app, firm).await?;
    }
    let invoice = OnlineInvoice::correcting(req.file.clone(), &original.sha256);
    let hash = invoice
        .hash_of_corrected_invoice
        .clone()
        .unwrap_or_default();
    let options = SendOptions {
        offline_mode: true,
        ..SendOptions::default()
    };
    let wire = invoices::wire_form(form);
    let mut outcomes: Vec<InvoiceOutcome> = Vec::with_capacity(1);
    let mut sink = |o: InvoiceOutcome| outcomes.push(o);
    with_stored(
        app,
        &WRITE_PERMISSIONS,
        Operation::SendInvoices,
        async |c, s| {
            invoicing_flows::send_online_invoices_to(
                c,
                s,
                &wire,
                std::slice::from_ref(&invoice),
                &options,
                &mut sink,
            )
            .await
        },
    )
    .await?;
    let Some(outcome) = outcomes.pop() else {
        return Err(ksef_store::StoreError::Corrupt(
            "KSeF's session reported no outcome for the correction".into(),
        )
        .into());
    };
    // KSeF's own refusals, before processing.
    let ksef_reason = match outcome.exception_code {
        Some(c) if c == ExceptionCode::TechnicalCorrectionUnavailable.code() => {
            Some(CorrectionRefusal::AlreadyCorrected { correction: None })
        }
        Some(c) if c == ExceptionCode::TechnicalCorrectionNotAllowed.code() => {
            Some(CorrectionRefusal::OriginalAccepted { ksef_number: None })
        }
        _ => None,
    };
    if let Some(reason) = ksef_reason {
        return Err(ProgramError::TechnicalCorrectionRefused {
            invoice: original.record.invoice_number.clone(),
            id: original.id,
            reason,
            ksef_code: outcome.exception_code,
        });
    }
    if outcome.reference_number.is_none() {
        // KSeF did not take it (another refusal): nothing to record; the caller shows why.
        return Ok(CorrectionOutcome {
            original_id: original.id,
            invoice_number: original.record.invoice_number.clone(),
            correction_id: None,
            hash_of_corrected_invoice: hash,
            outcome,
        });
    }
    let mut record = record_from_facts(Direction::Sale, &facts);
    record.ksef_number = outcome.ksef_number.clone();
    record.invoice_reference = outcome.reference_number.clone();
    record.session_reference = outcome.session_reference.clone();
    record.acquisition_date = outcome.acquisition_date;
    record.offline = true;
    record.status = status_of(&outcome);
    record.status_code = outcome.status_code;
    record.status_description = Some(outcome.status_description.clone());
    record.status_details = outcome.details.clone();
    let correction_id = store
        .record_correction(firm, original.id, &record, &bytes)
        .await?;
    Ok(CorrectionOutcome {
        original_id: original.id,
        invoice_number: original.record.invoice_number.clone(),
        correction_id: Some(correction_id),
        hash_of_corrected_invoice: hash,
        outcome,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn invoice_keys() {
        assert_eq!(parse_invoice_key(" 42 ").unwrap(), InvoiceKey::Id(42));
        assert_eq!(
            parse_invoice_key("5265877635-20261208-0100001AF629-AF").unwrap(),
            InvoiceKey::KsefNumber("5265877635-20261208-0100001AF629-AF".into())
        );
        assert_eq!(
            parse_invoice_key("20261208-EE-0000000001-01").unwrap(),
            InvoiceKey::Reference("20261208-EE-0000000001-01".into())
        );
        assert!(parse_invoice_key("  ").is_err());
        assert!(parse_invoice_key("99999999999999999999999").is_err());
    }
}
