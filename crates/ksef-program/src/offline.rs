//! Offline invoicing (digest §13): issuing invoices while KSeF is not used — in one of the
//! [`OfflineMode`]s — sending them later with `offlineMode`, and the technical correction of an
//! offline invoice KSeF rejected.
//!
//! * [`issue_offline`] checks each file locally (the XSD, as [`crate::invoices::send`] does),
//!   refuses an invoice whose seller is not the firm, computes the sending deadline from `P_1`
//!   and the mode ([`OfflineMode::sending_deadline`]: Polish public holidays and weekends
//!   count) and records the invoice in the firm's register as issued offline, not sent yet
//!   (issuing the same file again finds the same invoice). Nothing is sent: KSeF may be down.
//! * [`crate::register::list`] shows them ([`crate::register::OfflineList`]: the pending and
//!   the overdue ones) with their mode, deadline and whether the deadline has passed.
//! * [`send_offline`] sends the pending ones with `offlineMode: true` — online, or in a batch
//!   session when [`crate::invoices::batch_is_better`] says so — and fills their register rows
//!   with what KSeF said (no second row).
//! * [`correct_technically`] re-sends a rejected offline invoice as a new file with
//!   `hashOfCorrectedInvoice` = the Base64 SHA-256 of the rejected file, in an online session,
//!   after checking locally what §13.1 allows ([`CorrectionRefusal`]); KSeF's own refusals
//!   (21166, 21167) come back as the same typed error. The correction is recorded linked to
//!   its original.

use std::collections::HashMap;
use std::fmt;
use std::path::{Path, PathBuf};

use ksef_client::invoicing_flows::{
    self, InvoiceOutcome, OnlineInvoice, ProgressFn, SendOptions, SendSummary,
};
pub use ksef_core::offline::{OfflineMode, OfflineModeKind};
use ksef_core::{ContextIdentifier, ContextIdentifierType};
use ksef_invoice::FormCode;
use ksef_store::{
    Direction, FirmId, InvoiceKey, InvoiceRecord, InvoiceStatus, IssuedOffline, OfflineIssue,
    RegisteredInvoice, SendingOutcome,
};
use ksef_wire::ExceptionCode;
use serde::{Serialize, Serializer};
use time::{Date, OffsetDateTime};

use crate::invoices::{self, WRITE_PERMISSIONS, with_stored};
use crate::register::{self, chosen_firm, record_from_facts};
use crate::{App, Field, InputProblem, IoAction, Operation, ProgramError, ProgramResult};

/// Invoices checked, then written to the register, per transaction.
const ISSUE_BATCH: usize = 500;

/// KSeF's status of an invoice refused for lack of permission (the seller is not the context's
/// to invoice for): not a technical error, so no technical correction.
const PERMISSION_REFUSAL: i32 = 410;

// ---------------------------------------------------------------------------------------------
// Modes
// ---------------------------------------------------------------------------------------------

/// Parses `--mode` (`offline24`, `unavailability`, `emergency`; also the Polish
/// `niedostepnosc` / `awaryjny`, case-insensitive) and `--ends` (`YYYY-MM-DD`, required for
/// the two announced modes, refused for offline24).
pub fn parse_mode(kind: &str, ends: Option<&str>) -> ProgramResult<OfflineMode> {
    let norm = kind.trim().to_lowercase();
    let kind = match norm.as_str() {
        "offline24" | "24" => OfflineModeKind::Offline24,
        "unavailability" | "unavailable" | "niedostepnosc" | "niedostępność" => {
            OfflineModeKind::Unavailability
        }
        "emergency" | "awaryjny" | "failure" => OfflineModeKind::Emergency,
        _ => {
            return Err(ProgramError::invalid(
                Field::OfflineMode,
                InputProblem::UnexpectedValue {
                    value: kind.to_string(),
                    expected: "offline24, unavailability or emergency".into(),
                },
            ));
        }
    };
    let ends = ends.map(|d| parse_day(Field::OfflineEnds, d)).transpose()?;
    OfflineMode::new(kind, ends).map_err(|e| match e {
        ksef_core::offline::OfflineModeError::MissingEnd(_) => ProgramError::invalid(
            Field::OfflineEnds,
            InputProblem::Missing {
                hint: "the day the announced unavailability or failure ended (--ends YYYY-MM-DD)",
            },
        ),
        ksef_core::offline::OfflineModeError::UnexpectedEnd => ProgramError::invalid(
            Field::OfflineEnds,
            InputProblem::NotApplicable {
                why: "offline24 is the taxpayer's own choice and has no end date",
            },
        ),
    })
}

/// Parses a `YYYY-MM-DD` day.
pub fn parse_day(field: Field, s: &str) -> ProgramResult<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), fmt).map_err(|_| {
        ProgramError::invalid(
            field,
            InputProblem::BadFormat {
                value: s.to_string(),
                expected: "a date YYYY-MM-DD",
            },
        )
    })
}

/// Today in Poland (the calendar the deadlines are counted in).
pub fn today() -> Date {
    ksef_core::warsaw::to_warsaw(OffsetDateTime::now_utc()).date()
}

/// Whether an invoice is an offline one not sent yet whose deadline passed before `today`.
pub fn is_overdue(invoice: &RegisteredInvoice, today: Date) -> bool {
    invoice.record.status == InvoiceStatus::Issued
        && invoice
            .offline_issue
            .is_some_and(|o| ksef_core::offline::is_overdue_on(o.send_deadline, today))
}

fn date_text<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

fn opt_date_text<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

fn kind_code<S: Serializer>(k: &OfflineModeKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

fn status_code<S: Serializer>(st: &InvoiceStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(st.as_str())
}

// ---------------------------------------------------------------------------------------------
// The firm
// ---------------------------------------------------------------------------------------------

/// The register of the firm named (`Nip:…`), else of the KSeF session or the only one, with
/// its context.
async fn firm_with_context(app: &mut App, firm: Option<&str>) -> ProgramResult<(FirmId, String)> {
    let id = chosen_firm(app, firm).await?;
    let base = app.settings.base_url.clone();
    let registers = app.store().await?.registers(&base).await?;
    let context = registers
        .into_iter()
        .find(|(r, _)| *r == id)
        .map(|(_, c)| c)
        .ok_or_else(|| ProgramError::NoRegister {
            base_url: base,
            firms: Vec::new(),
        })?;
    Ok((id, context))
}

/// The NIP a firm (`Nip:5265877635`, `InternalId:5265877635-00001`, …) invoices as; `None`
/// for a context without one (Peppol providers), where KSeF alone decides.
fn firm_nip(context: &str) -> Option<String> {
    let (kind, value) = context.split_once(':')?;
    let kind: ContextIdentifierType = kind.parse().ok()?;
    let nip = ContextIdentifier::parse(kind, value).ok()?.nip()?;
    Some(nip.as_str().to_string())
}

// ---------------------------------------------------------------------------------------------
// Issuing
// ---------------------------------------------------------------------------------------------

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

async fn read(file: &Path) -> ProgramResult<Vec<u8>> {
    tokio::fs::read(file)
        .await
        .map_err(|e| ProgramError::io(IoAction::Read, file, e))
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// Which offline invoices [`send_offline`] sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum OfflineSelection {
    /// Every invoice of the firm issued offline and not sent yet.
    Pending,
    /// These register rows (each must be issued offline and not sent yet).
    Ids(Vec<i64>),
}

/// What [`send_offline`] should do.
#[derive(Clone)]
pub struct OfflineSendRequest {
    /// The firm sending (`Nip:…`): the KSeF session must be its; `None`: the session's firm.
    pub firm: Option<String>,
    pub selection: OfflineSelection,
    /// Progress reports.
    pub progress: ProgressFn,
}

impl OfflineSendRequest {
    /// Every pending invoice of the session's firm.
    pub fn pending() -> Self {
        OfflineSendRequest {
            firm: None,
            selection: OfflineSelection::Pending,
            progress: invoicing_flows::no_progress(),
        }
    }
}

/// What [`send_offline`] reports while it works.
#[derive(Debug)]
pub enum OfflineSendEvent {
    /// This many invoices go in this many sessions.
    Planned { invoices: usize, sessions: usize },
    /// A session is opened for this many invoices (`Online` or `Batch`).
    SessionPlanned { kind: &'static str, invoices: usize },
    /// One invoice's final outcome (the register row is updated when the session is done).
    Outcome(Box<SentOffline>),
    /// A session is done and its invoices recorded.
    SessionDone(SendSummary),
}

/// One offline invoice sent.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SentOffline {
    /// The register row.
    pub id: i64,
    pub invoice_number: String,
    /// The deadline it had.
    #[serde(serialize_with = "date_text")]
    pub send_deadline: Date,
    /// Sent after its deadline (judged by today, in Poland).
    pub late: bool,
    /// What KSeF said (`file` is the copy the program sent, `name` its file name).
    pub outcome: InvoiceOutcome,
}

/// The sum of a [`send_offline`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OfflineSendTotals {
    pub sessions: usize,
    pub accepted: usize,
    pub failed: usize,
}

/// The form code of a register row's file.
fn form_of(inv: &RegisteredInvoice, bytes: &[u8]) -> ProgramResult<FormCode> {
    FormCode::detect(bytes)
        .or_else(|| {
            FormCode::ALL
                .into_iter()
                .find(|f| f.system_code() == inv.record.form_code)
        })
        .ok_or_else(|| ProgramError::InvoiceUnreadable {
            invoice: inv.record.invoice_number.clone(),
            source: ksef_invoice::InvoiceError::Semantic("no known form code".into()),
        })
}

/// How the register records KSeF's answer about an invoice.
fn sending_outcome(o: &InvoiceOutcome) -> SendingOutcome {
    SendingOutcome {
        ksef_number: o.ksef_number.clone(),
        invoice_reference: o.reference_number.clone(),
        session_reference: o.session_reference.clone(),
        status: status_of(o),
        status_code: o.status_code,
        status_description: Some(o.status_description.clone()),
        status_details: o.details.clone(),
        acquisition_date: o.acquisition_date,
    }
}

fn status_of(o: &InvoiceOutcome) -> InvoiceStatus {
    match o.status_code {
        _ if o.accepted() => InvoiceStatus::Accepted,
        Some(c) if c >= 300 => InvoiceStatus::Rejected,
        _ => InvoiceStatus::Sent,
    }
}

/// `ksef offline send`: sends the firm's offline invoices not sent yet with `offlineMode:
/// true`, grouped by form code — in an online session, or in a batch session where
/// [`invoices::batch_is_better`] says so for the context's limits — and records in each
/// invoice's own register row its reference, KSeF number and status. An invoice KSeF did not
/// take at all (no reference) stays pending. Outcomes go to `on_event` as they arrive.
pub async fn send_offline(
    app: &mut App,
    req: OfflineSendRequest,
    on_event: &mut (dyn FnMut(OfflineSendEvent) + Send),
) -> ProgramResult<OfflineSendTotals> {
    if let Some(firm) = &req.firm {
        register::ensure_session_for(app, firm).await?;
    }
    let firm = register::current_firm(app).await?;
    let store = app.store().await?.clone();
    let rows = match &req.selection {
        OfflineSelection::Pending => store.pending_offline(firm).await?,
        OfflineSelection::Ids(ids) => {
            let mut rows = Vec::with_capacity(ids.len());
            for id in ids {
                let (row, _) = store
                    .invoice(firm, &InvoiceKey::Id(*id))
                    .await?
                    .ok_or_else(|| ProgramError::InvoiceNotInRegister {
                        invoice: id.to_string(),
                    })?;
                if row.record.status != InvoiceStatus::Issued {
                    return Err(ProgramError::NotPendingOffline {
                        id: row.id,
                        invoice_number: row.record.invoice_number.clone(),
                        status: row.record.status,
                    });
                }
                if !rows.iter().any(|r: &RegisteredInvoice| r.id == row.id) {
                    rows.push(row);
                }
            }
            rows
        }
    };
    if rows.is_empty() {
        on_event(OfflineSendEvent::Planned {
            invoices: 0,
            sessions: 0,
        });
        return Ok(OfflineSendTotals::default());
    }

    // The exact bytes issued go to KSeF (KOD I carries their hash): copies of the register's
    // files in a private temporary directory, named by row id.
    let outbox = tempfile::Builder::new()
        .prefix("offline-outbox-")
        .tempdir_in(&app.settings.data_dir)
        .map_err(|e| ProgramError::io(IoAction::CreateDirectory, &app.settings.data_dir, e))?;
    let mut groups: Vec<(FormCode, Vec<PathBuf>)> = Vec::new();
    let mut by_path: HashMap<PathBuf, &RegisteredInvoice> = HashMap::new();
    for row in &rows {
        let (_, bytes) = store
            .invoice(firm, &InvoiceKey::Id(row.id))
            .await?
            .ok_or(ksef_store::StoreError::InvoiceNotFound { id: row.id })?;
        let form = form_of(row, &bytes)?;
        let path = outbox.path().join(format!("{}.xml", row.id));
        tokio::fs::write(&path, &bytes)
            .await
            .map_err(|e| ProgramError::io(IoAction::Write, &path, e))?;
        match groups.iter_mut().find(|(f, _)| *f == form) {
            Some((_, v)) => v.push(path.clone()),
            None => groups.push((form, vec![path.clone()])),
        }
        by_path.insert(path, row);
    }

    let limits = invoices::limits(app).await.unwrap_or_default();
    let sessions: usize = groups
        .iter()
        .map(|(_, g)| g.len().div_ceil(invoices::MAX_PER_SESSION))
        .sum();
    on_event(OfflineSendEvent::Planned {
        invoices: rows.len(),
        sessions,
    });
    let options = SendOptions {
        offline_mode: true,
        progress: req.progress.clone(),
        temp_dir: Some(outbox.path().to_path_buf()),
        ..SendOptions::default()
    };
    let today = today();
    let mut totals = OfflineSendTotals::default();
    for (form, group) in groups {
        let wire = invoices::wire_form(form);
        for chunk in group.chunks(invoices::MAX_PER_SESSION) {
            let batch = invoices::batch_is_better(&limits, chunk.len(), &[form]);
            on_event(OfflineSendEvent::SessionPlanned {
                kind: if batch { "Batch" } else { "Online" },
                invoices: chunk.len(),
            });
            let mut recorded: Vec<(i64, SendingOutcome)> = Vec::new();
            let mut sink = |o: InvoiceOutcome| {
                let Some(row) = by_path.get(&o.file) else {
                    return;
                };
                if o.reference_number.is_some() {
                    recorded.push((row.id, sending_outcome(&o)));
                }
                let deadline = row
                    .offline_issue
                    .map(|i| i.send_deadline)
                    .unwrap_or(row.record.issue_date);
                on_event(OfflineSendEvent::Outcome(Box::new(SentOffline {
                    id: row.id,
                    invoice_number: row.record.invoice_number.clone(),
                    send_deadline: deadline,
                    late: ksef_core::offline::is_overdue_on(deadline, today),
                    outcome: o,
                })));
            };
            let result = with_stored(
                app,
                &WRITE_PERMISSIONS,
                Operation::SendInvoices,
                async |c, s| {
                    if batch {
                        invoicing_flows::send_batch_to(c, s, &wire, chunk, &options, &mut sink)
                            .await
                    } else {
                        invoicing_flows::send_online_to(c, s, &wire, chunk, &options, &mut sink)
                            .await
                    }
                },
            )
            .await;
            // Recorded also when the session failed half-way: what KSeF took is known.
            store.record_offline_sent(firm, &recorded).await?;
            let summary = result?;
            totals.sessions += 1;
            totals.accepted += summary.accepted;
            totals.failed += summary.failed;
            on_event(OfflineSendEvent::SessionDone(summary));
        }
    }
    drop(outbox);
    Ok(totals)
}

// ---------------------------------------------------------------------------------------------
// Technical correction
// ---------------------------------------------------------------------------------------------

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
    /// The correction's register row.
    pub correction_id: i64,
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
    let (original, original_bytes) =
        store.invoice(firm, &req.original).await?.ok_or_else(|| {
            ProgramError::InvoiceNotInRegister {
                invoice: match &req.original {
                    InvoiceKey::Id(id) => id.to_string(),
                    InvoiceKey::KsefNumber(s) | InvoiceKey::Reference(s) => s.clone(),
                },
            }
        })?;
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
    if ksef_crypto::sha256(&bytes) == original.sha256 || bytes == original_bytes {
        return Err(refused(&original, CorrectionRefusal::SameFile));
    }
    let facts = register::facts(Some(form), &bytes, &req.file.display().to_string())?;
    let r = &original.record;
    let differs = [
        (
            CorrectionField::InvoiceNumber,
            &r.invoice_number,
            &facts.invoice_number,
        ),
        (CorrectionField::SellerNip, &r.seller_nip, &facts.seller_nip),
    ]
    .into_iter()
    .map(|(f, a, b)| (f, a.clone(), b.clone()))
    .chain(std::iter::once((
        CorrectionField::IssueDate,
        r.issue_date.to_string(),
        facts.issue_date.to_string(),
    )))
    .find(|(_, a, b)| a.trim() != b.trim());
    if let Some((field, original_value, correction)) = differs {
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
            correction_id: 0,
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
        correction_id,
        hash_of_corrected_invoice: hash,
        outcome,
    })
}

// ---------------------------------------------------------------------------------------------
// KOD II
// ---------------------------------------------------------------------------------------------

/// Stores (or with `None` clears) the KOD II link of an invoice of the firm's register (made
/// where the offline certificate is at hand); `false` when the register has no such invoice.
pub async fn set_kod2_link(
    app: &mut App,
    firm: Option<&str>,
    invoice: &InvoiceKey,
    link: Option<&str>,
) -> ProgramResult<bool> {
    let firm = chosen_firm(app, firm).await?;
    Ok(app
        .store()
        .await?
        .set_kod2_link(firm, invoice, link)
        .await?)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn modes_and_their_end_dates() {
        assert_eq!(
            parse_mode("offline24", None).unwrap(),
            OfflineMode::Offline24
        );
        assert_eq!(
            parse_mode("Unavailability", Some("2026-12-31")).unwrap(),
            OfflineMode::Unavailability {
                ends: date!(2026 - 12 - 31)
            }
        );
        assert_eq!(
            parse_mode("awaryjny", Some("2027-01-04")).unwrap(),
            OfflineMode::Emergency {
                ends: date!(2027 - 01 - 04)
            }
        );
        for (kind, ends, field) in [
            ("emergency", None, Field::OfflineEnds),
            ("offline24", Some("2026-12-31"), Field::OfflineEnds),
            ("unavailability", Some("31.12.2026"), Field::OfflineEnds),
            ("total", None, Field::OfflineMode),
        ] {
            let e = parse_mode(kind, ends).unwrap_err();
            assert!(
                matches!(&e, ProgramError::InvalidInput { field: f, .. } if *f == field),
                "{kind} {ends:?}: {e:?}"
            );
        }
    }

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

    #[test]
    fn firm_nips() {
        assert_eq!(firm_nip("Nip:5265877635").as_deref(), Some("5265877635"));
        let nip: ksef_core::Nip = "5265877635".parse().unwrap();
        let unit = ksef_core::InternalId::new(&nip, 1).unwrap();
        assert_eq!(
            firm_nip(&format!("InternalId:{}", unit.as_str())).as_deref(),
            Some("5265877635")
        );
        assert_eq!(firm_nip("InternalId:5265877635-00009"), None, "bad check digit");
        assert_eq!(firm_nip("nonsense"), None);
    }
}
