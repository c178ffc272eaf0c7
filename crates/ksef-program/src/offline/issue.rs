//! Issuing invoices offline: checked, given their sending deadlines, recorded as waiting.

use std::path::PathBuf;

use ksef_invoice::FormCode;
use ksef_store::{
    Direction, InvoiceKey, InvoiceRecord, InvoiceStatus, IssuedOffline, OfflineIssue,
    RegisteredInvoice,
};
use serde::Serialize;
use time::Date;

use super::{
    OfflineMode, OfflineModeKind, date_text, firm_nip, firm_with_context, is_overdue, kind_code,
    opt_date_text, read, status_code, today,
};
use crate::invoices;
use crate::register::{self, record_from_facts};
use crate::{App, ProgramError, ProgramResult};

/// Invoices checked, then written to the register, per transaction.
const ISSUE_BATCH: usize = 500;

/// What [`issue_offline`] should do.
#[derive(Debug, Clone)]
pub struct IssueRequest {
    /// Invoice files and directories (every `*.xml` in them).
    pub inputs: Vec<PathBuf>,
    /// The mode every invoice is issued in.
    pub mode: OfflineMode,
    /// The firm issuing (`Nip:…`); `None`: the KSeF session's, or the only register.
    pub firm: Option<String>,
    /// Form code for every file; `None` = detect per file.
    pub form: Option<FormCode>,
    /// Run the local XSD check (on by default; off only for tests of KSeF's own checks).
    pub validate: bool,
}

impl IssueRequest {
    /// Issue `inputs` in `mode`, checked against the XSD.
    pub fn new(inputs: Vec<PathBuf>, mode: OfflineMode) -> Self {
        IssueRequest {
            inputs,
            mode,
            firm: None,
            form: None,
            validate: true,
        }
    }
}

/// One invoice issued offline, as [`issue_offline`] reports it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct IssuedInvoice {
    /// The file given.
    pub file: PathBuf,
    /// The register row.
    pub id: i64,
    /// `P_2`.
    pub invoice_number: String,
    /// `P_1`.
    #[serde(serialize_with = "date_text")]
    pub issue_date: Date,
    /// The mode it is issued in (`offline24`, `unavailability`, `emergency`).
    #[serde(rename = "offlineMode", serialize_with = "kind_code")]
    pub mode: OfflineModeKind,
    /// The day the announced unavailability or failure ended.
    #[serde(
        rename = "offlineModeEnds",
        serialize_with = "opt_date_text",
        skip_serializing_if = "Option::is_none"
    )]
    pub mode_ends: Option<Date>,
    /// The last day on which sending it is on time.
    #[serde(serialize_with = "date_text")]
    pub send_deadline: Date,
    /// Already past the deadline (today, in Poland).
    pub overdue: bool,
    /// Where it stands (`issued`; for a file issued before, possibly later states).
    #[serde(serialize_with = "status_code")]
    pub status: InvoiceStatus,
    /// The register held this file already (issued before): nothing was changed.
    pub already_issued: bool,
}

impl IssuedInvoice {
    fn of(file: PathBuf, inv: &RegisteredInvoice, issue: OfflineIssue, again: bool) -> Self {
        IssuedInvoice {
            file,
            id: inv.id,
            invoice_number: inv.record.invoice_number.clone(),
            issue_date: inv.record.issue_date,
            mode: issue.mode.kind(),
            mode_ends: issue.mode.ends(),
            send_deadline: issue.send_deadline,
            overdue: is_overdue(inv, today()),
            status: inv.record.status,
            already_issued: again,
        }
    }
}

/// One file ready to be recorded: its register record, deadline and hash.
struct Prepared {
    file: PathBuf,
    record: InvoiceRecord,
    issue: OfflineIssue,
    sha256: [u8; 32],
    existing: Option<RegisteredInvoice>,
}

/// `ksef offline issue`: records invoices issued offline in `req.mode` in the firm's register,
/// each with its sending deadline. Every file is checked first (XSD, seller = the firm, a
/// deadline that exists, not already in the register as an invoice sent online); if one
/// fails, nothing is recorded. A file issued before is reported as it is
/// ([`IssuedInvoice::already_issued`]). KSeF is not asked anything.
pub async fn issue_offline(app: &mut App, req: IssueRequest) -> ProgramResult<Vec<IssuedInvoice>> {
    let files = invoices::collect_files(&req.inputs)?;
    let total = files.len();
    let form = req.form;
    let schema = req.validate;
    let (files, forms) = tokio::task::spawn_blocking(move || {
        let forms = invoices::check_forms(&files, form, schema);
        (files, forms)
    })
    .await
    .map_err(|e| ProgramError::CheckAborted {
        detail: e.to_string(),
    })?;
    let forms = forms.map_err(|failed| ProgramError::LocalCheckFailed { failed, total })?;
    let (firm, context) = firm_with_context(app, req.firm.as_deref()).await?;
    let nip = firm_nip(&context);
    let store = app.store().await?.clone();

    // Pass 1: every check, keeping no file in memory.
    let mut prepared = Vec::with_capacity(files.len());
    for (file, form) in files.into_iter().zip(forms) {
        let bytes = read(&file).await?;
        let facts = register::facts(Some(form), &bytes, &file.display().to_string())?;
        if let Some(nip) = &nip
            && facts.seller_nip != *nip
        {
            return Err(ProgramError::SellerNotFirm {
                file,
                seller_nip: facts.seller_nip,
                firm: context,
            });
        }
        let send_deadline = req
            .mode
            .sending_deadline(facts.issue_date)
            .map_err(|source| ProgramError::OfflineDeadline {
                file: file.clone(),
                source,
            })?;
        let sha256 = ksef_crypto::sha256(&bytes);
        let existing = store.invoice_by_file(firm, &sha256).await?;
        if let Some(e) = &existing
            && (e.offline_issue.is_none() || e.record.direction != Direction::Sale)
        {
            return Err(ProgramError::AlreadyInRegister {
                file,
                id: e.id,
                status: e.record.status,
                ksef_number: e.record.ksef_number.clone(),
            });
        }
        let mut record = record_from_facts(Direction::Sale, &facts);
        record.offline = true;
        record.status = InvoiceStatus::Issued;
        prepared.push(Prepared {
            file,
            record,
            issue: OfflineIssue {
                mode: req.mode,
                send_deadline,
            },
            sha256,
            existing,
        });
    }

    // Pass 2: the files again (unchanged since pass 1), recorded in transactions.
    let mut out = Vec::with_capacity(prepared.len());
    for chunk in prepared.chunks(ISSUE_BATCH) {
        let mut files = Vec::with_capacity(chunk.len());
        for p in chunk.iter().filter(|p| p.existing.is_none()) {
            let bytes = read(&p.file).await?;
            if ksef_crypto::sha256(&bytes) != p.sha256 {
                return Err(ProgramError::FileChanged {
                    file: p.file.clone(),
                });
            }
            files.push(bytes);
        }
        let rows: Vec<(InvoiceRecord, OfflineIssue, &[u8])> = chunk
            .iter()
            .filter(|p| p.existing.is_none())
            .zip(&files)
            .map(|(p, b)| (p.record.clone(), p.issue, b.as_slice()))
            .collect();
        let mut recorded = store.record_issued_offline(firm, &rows).await?.into_iter();
        for p in chunk {
            let (row, again) = match &p.existing {
                Some(e) => (e.clone(), true),
                None => match recorded.next() {
                    Some(IssuedOffline::New(id)) => {
                        let (row, _) = store
                            .invoice(firm, &InvoiceKey::Id(id))
                            .await?
                            .ok_or(ksef_store::StoreError::InvoiceNotFound { id })?;
                        (row, false)
                    }
                    // Issued meanwhile by another process: the same file, one invoice.
                    Some(IssuedOffline::Existing(e)) => (*e, true),
                    None => {
                        return Err(ksef_store::StoreError::Corrupt(
                            "the register answered fewer invoices than it was given".into(),
                        )
                        .into());
                    }
                },
            };
            let issue = row.offline_issue.unwrap_or(p.issue);
            out.push(IssuedInvoice::of(p.file.clone(), &row, issue, again));
        }
    }
    Ok(out)
}
