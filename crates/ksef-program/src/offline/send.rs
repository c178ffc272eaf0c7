//! Sending the offline invoices that wait, with `offlineMode`, into their own register rows.

use std::collections::HashMap;
use std::path::PathBuf;

use ksef_client::invoicing_flows::{self, InvoiceOutcome, ProgressFn, SendOptions, SendSummary};
use ksef_invoice::FormCode;
use ksef_store::{InvoiceKey, InvoiceStatus, RegisteredInvoice, SendingOutcome};
use serde::Serialize;
use time::Date;

use super::{date_text, today};
use crate::invoices::{self, WRITE_PERMISSIONS, with_stored};
use crate::register;
use crate::{App, IoAction, Operation, ProgramError, ProgramResult};

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
    /// An invoice dated after today is not sent (KSeF refuses an issue date later than the
    /// day it receives the invoice); it keeps waiting.
    HeldBack {
        id: i64,
        invoice_number: String,
        issue_date: Date,
    },
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
    /// Invoices dated after today, not sent ([`OfflineSendEvent::HeldBack`]).
    pub held_back: usize,
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
pub(crate) fn sending_outcome(o: &InvoiceOutcome) -> SendingOutcome {
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

pub(super) fn status_of(o: &InvoiceOutcome) -> InvoiceStatus {
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
/// take at all (no reference) stays pending, and so does one dated after today (held back:
/// KSeF would reject it). Outcomes go to `on_event` as they arrive.
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
    let today = today();
    let (held, rows): (Vec<RegisteredInvoice>, Vec<RegisteredInvoice>) =
        rows.into_iter().partition(|r| r.record.issue_date > today);
    for h in &held {
        on_event(OfflineSendEvent::HeldBack {
            id: h.id,
            invoice_number: h.record.invoice_number.clone(),
            issue_date: h.record.issue_date,
        });
    }
    let mut totals = OfflineSendTotals {
        held_back: held.len(),
        ..OfflineSendTotals::default()
    };
    if rows.is_empty() {
        on_event(OfflineSendEvent::Planned {
            invoices: 0,
            sessions: 0,
        });
        return Ok(totals);
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
