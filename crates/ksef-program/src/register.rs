//! The invoice register (see [`ksef_store::register`]) as the program fills and reads it:
//! `ksef sync` stores every invoice of the export packages (with the sync cursor in the same
//! transaction, [`RegisterSink`]), `ksef invoice send` records every sale KSeF registered
//! (accepted with its KSeF number, or rejected with its code), `ksef upo get` attaches UPOs,
//! and [`list`] is what the CLI and the web app show.
//!
//! Metadata comes from KSeF's own metadata (the export's `_metadata.json`) when there is one,
//! else from the invoice itself ([`ksef_invoice::facts`]). Amounts become integer grosze
//! ([`grosze`]).

use ksef_client::invoicing_flows::{ExportedInvoice, InvoiceOutcome, SyncSink};
use ksef_invoice::{FormCode, InvoiceFacts};
use ksef_store::{
    CursorUpdate, Direction, FirmId, InvoiceFilter, InvoiceKey, InvoicePage, InvoiceRecord,
    InvoiceStatus, OfflineFilter, RegisteredInvoice, Store,
};
use ksef_wire::{InvoiceMetadata, InvoiceQuerySubjectType, InvoicingMode, WireEnum};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{App, ProgramError, ProgramResult};

/// Sales recorded per transaction after a send.
const RECORD_BATCH: usize = 500;

/// A decimal amount of at most two fractional digits (KSeF's `TKwotowy`, as KSeF's JSON and
/// [`InvoiceFacts`] deliver it) in grosze. Rounding `x · 100` to the nearest integer recovers
/// the exact value for every such amount below 2^53 / 100 (≈ 90 billion); larger or
/// non-finite values give `None` rather than a wrong number.
pub fn grosze(amount: f64) -> Option<i64> {
    let scaled = (amount * 100.0).round();
    if scaled.is_finite() && scaled.abs() < 9.0e15 {
        // In range (checked above): the cast is exact.
        Some(scaled as i64)
    } else {
        None
    }
}

/// Grosze as a decimal string: `-12.30`, `1234567.00`.
pub fn format_grosze(g: i64) -> String {
    let sign = if g < 0 { "-" } else { "" };
    let a = g.unsigned_abs();
    format!("{sign}{}.{:02}", a / 100, a % 100)
}

/// Where a subject type's invoices go.
pub fn direction_of(subject: InvoiceQuerySubjectType) -> Direction {
    match subject {
        InvoiceQuerySubjectType::Subject1 => Direction::Sale,
        InvoiceQuerySubjectType::Subject2 => Direction::Purchase,
        _ => Direction::Other,
    }
}

/// The register of the current session's context (the session's API and context).
pub async fn current_firm(app: &mut App) -> ProgramResult<FirmId> {
    let base = app.settings.base_url.clone();
    match app.current_session().await? {
        Some(s) => {
            let context = format!("{}:{}", s.session.context.kind(), s.session.context.value());
            Ok(app.store().await?.register_of(&base, &context).await?)
        }
        None => {
            // Not logged in: the register can still be read when this API has one firm.
            let firms = app.store().await?.registers(&base).await?;
            match firms.as_slice() {
                [(id, _)] => Ok(*id),
                _ => Err(ProgramError::NoRegister {
                    base_url: base,
                    firms: firms.into_iter().map(|(_, c)| c).collect(),
                }),
            }
        }
    }
}

/// The register a reader names (`Some("Nip:…")`, e.g. `ksef invoice list --nip`), else
/// [`current_firm`]. A named firm must be one of the program's firms or have a register on
/// this API: a mistyped NIP is an error, not an empty list.
pub async fn chosen_firm(app: &mut App, firm: Option<&str>) -> ProgramResult<FirmId> {
    let Some(context) = firm else {
        return current_firm(app).await;
    };
    let base = app.settings.base_url.clone();
    let store = app.store().await?;
    let registers = store.registers(&base).await?;
    if let Some((id, _)) = registers.iter().find(|(_, c)| c == context) {
        return Ok(*id);
    }
    if store.firm(context).await?.is_some() {
        return Ok(store.register_of(&base, context).await?);
    }
    let mut known: Vec<String> = registers.into_iter().map(|(_, c)| c).collect();
    for f in store.list_firms().await? {
        if !known.contains(&f.context) {
            known.push(f.context);
        }
    }
    known.sort();
    Err(ProgramError::UnknownFirm {
        firm: context.to_string(),
        base_url: base,
        known,
    })
}

/// Before acting at KSeF for a named firm (`ksef sync --nip`, `ksef invoice send --nip`):
/// the stored KSeF session must be that firm's, or the invoices would be filed under another.
pub async fn ensure_session_for(app: &mut App, firm: &str) -> ProgramResult<()> {
    let s = app.session().await?;
    let session = format!("{}:{}", s.session.context.kind(), s.session.context.value());
    if session == firm {
        Ok(())
    } else {
        Err(ProgramError::SessionForOtherFirm {
            session,
            wanted: firm.to_string(),
        })
    }
}

/// The register of `context` (e.g. `Nip:5265877635`) on the app's API.
pub async fn firm(app: &mut App, context: &str) -> ProgramResult<FirmId> {
    let base = app.settings.base_url.clone();
    Ok(app.store().await?.register_of(&base, context).await?)
}

/// A register row from KSeF's metadata.
pub fn record_from_metadata(direction: Direction, m: &InvoiceMetadata) -> InvoiceRecord {
    InvoiceRecord {
        direction,
        ksef_number: Some(m.ksef_number.clone()),
        invoice_reference: None,
        session_reference: None,
        invoice_number: m.invoice_number.clone(),
        issue_date: m.issue_date,
        seller_nip: m.seller.nip.clone(),
        seller_name: m.seller.name.clone(),
        buyer_id_type: m.buyer.identifier.r#type.as_str().to_string(),
        buyer_id: m.buyer.identifier.value.clone(),
        buyer_name: m.buyer.name.clone(),
        net: grosze(m.net_amount),
        vat: grosze(m.vat_amount),
        gross: grosze(m.gross_amount),
        currency: m.currency.clone(),
        form_code: m.form_code.system_code.clone(),
        invoice_type: Some(m.invoice_type.as_str().to_string()),
        acquisition_date: Some(m.acquisition_date),
        invoicing_date: Some(m.invoicing_date),
        permanent_storage_date: Some(m.permanent_storage_date),
        offline: m.invoicing_mode.known() == Some(InvoicingMode::Offline),
        status: InvoiceStatus::Received,
        status_code: None,
        status_description: None,
        status_details: Vec::new(),
    }
}

/// A register row from the invoice itself (no KSeF metadata at hand).
pub fn record_from_facts(direction: Direction, f: &InvoiceFacts) -> InvoiceRecord {
    InvoiceRecord {
        direction,
        ksef_number: None,
        invoice_reference: None,
        session_reference: None,
        invoice_number: f.invoice_number.clone(),
        issue_date: f.issue_date,
        seller_nip: f.seller_nip.clone(),
        seller_name: f.seller_name.clone(),
        buyer_id_type: f.buyer.identifier_type.to_string(),
        buyer_id: f.buyer.identifier.clone(),
        buyer_name: f.buyer.name.clone(),
        net: f.net_amount.and_then(grosze),
        vat: f.vat_amount.and_then(grosze),
        gross: f.gross_amount.and_then(grosze),
        currency: f.currency.clone(),
        form_code: f.form_code.system_code().to_string(),
        invoice_type: Some(f.invoice_type.to_string()),
        acquisition_date: None,
        invoicing_date: None,
        permanent_storage_date: None,
        offline: false,
        status: InvoiceStatus::Received,
        status_code: None,
        status_description: None,
        status_details: Vec::new(),
    }
}

/// The facts of an invoice file (`what` names it in the error).
pub(crate) fn facts(
    form: Option<FormCode>,
    bytes: &[u8],
    what: &str,
) -> ProgramResult<InvoiceFacts> {
    let unreadable = |source| ProgramError::InvoiceUnreadable {
        invoice: what.to_string(),
        source,
    };
    let form = form.or_else(|| FormCode::detect(bytes)).ok_or_else(|| {
        unreadable(ksef_invoice::InvoiceError::Semantic(
            "no known form code".into(),
        ))
    })?;
    let text = std::str::from_utf8(bytes)
        .map_err(|e| unreadable(ksef_invoice::InvoiceError::Encoding(e.to_string())))?;
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    ksef_invoice::facts::extract(form, text).map_err(unreadable)
}

/// The register row of one exported invoice.
pub fn record_from_export(
    direction: Direction,
    inv: &ExportedInvoice,
) -> ProgramResult<InvoiceRecord> {
    match &inv.metadata {
        Some(m) => Ok(record_from_metadata(direction, m)),
        None => {
            let mut r = record_from_facts(direction, &facts(None, &inv.bytes, &inv.ksef_number)?);
            r.ksef_number = Some(inv.ksef_number.clone());
            Ok(r)
        }
    }
}

/// `ksef sync`'s sink: each batch in one transaction, the cursor with a package's last batch.
pub struct RegisterSink {
    store: Store,
    firm: FirmId,
}

impl RegisterSink {
    pub fn new(store: Store, firm: FirmId) -> Self {
        RegisterSink { store, firm }
    }
}

impl SyncSink for RegisterSink {
    type Error = ProgramError;

    async fn checkpoint(
        &mut self,
        subject: InvoiceQuerySubjectType,
    ) -> Result<Option<OffsetDateTime>, ProgramError> {
        Ok(self
            .store
            .sync_cursor(self.firm, subject.wire_name())
            .await?)
    }

    async fn store(
        &mut self,
        subject: InvoiceQuerySubjectType,
        invoices: Vec<ExportedInvoice>,
        checkpoint: Option<OffsetDateTime>,
    ) -> Result<u64, ProgramError> {
        let direction = direction_of(subject);
        let records = invoices
            .iter()
            .map(|i| Ok((record_from_export(direction, i)?, i.bytes.as_slice())))
            .collect::<ProgramResult<Vec<_>>>()?;
        let cursor = checkpoint.map(|checkpoint| CursorUpdate {
            subject_type: subject.wire_name().to_string(),
            checkpoint,
        });
        let counts = self
            .store
            .record_invoices(self.firm, &records, cursor.as_ref())
            .await?;
        Ok(counts.inserted)
    }
}

type Sent = (InvoiceOutcome, Option<Box<InvoiceRecord>>);

/// Records a sending session's outcomes in the register while KSeF's answers stream in: every
/// invoice KSeF registered (it has an invoice reference) becomes a sale — accepted with its KSeF
/// number, rejected with KSeF's code and description, or sent (no final status yet); one issued
/// offline and waiting in the register (the same file) is recorded in its own row. Each outcome
/// comes with the row the local check read from its file (`None`: the file is parsed again
/// here). Every `RECORD_BATCH` outcomes go, in one transaction, to a task of their own, so the
/// register's work overlaps the reading of the statuses, and what KSeF registered is in the
/// register chunk by chunk rather than only once the session is over.
pub struct SentRecorder {
    pending: Vec<Sent>,
    chunks: Option<tokio::sync::mpsc::UnboundedSender<Vec<Sent>>>,
    task: tokio::task::JoinHandle<ProgramResult<u64>>,
}

impl SentRecorder {
    /// Starts the recording task of one session's outcomes.
    pub fn start(store: Store, firm: FirmId, form: FormCode, offline: bool) -> Self {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<Vec<Sent>>();
        let task = tokio::spawn(async move {
            // A file issued offline and waiting (`ksef offline issue`) sent this way is that
            // invoice: its own row is filled, no second one is made. Usually there is none.
            let waiting: std::collections::HashSet<[u8; 32]> = store
                .pending_offline(firm)
                .await?
                .into_iter()
                .map(|r| r.sha256)
                .collect();
            let mut recorded = 0;
            let mut failed = None;
            while let Some(chunk) = rx.recv().await {
                // After a failure the rest is drained unrecorded: the first error is reported.
                if failed.is_none() {
                    match record_chunk(&store, firm, form, offline, &waiting, chunk).await {
                        Ok(n) => recorded += n,
                        Err(e) => failed = Some(e),
                    }
                }
            }
            failed.map_or(Ok(recorded), Err)
        });
        SentRecorder {
            pending: Vec::new(),
            chunks: Some(tx),
            task,
        }
    }

    /// One outcome; those without an invoice reference (KSeF never registered them) are not
    /// recorded.
    pub fn push(&mut self, outcome: InvoiceOutcome, record: Option<Box<InvoiceRecord>>) {
        if outcome.reference_number.is_none() {
            return;
        }
        self.pending.push((outcome, record));
        if self.pending.len() >= RECORD_BATCH {
            self.flush();
        }
    }

    fn flush(&mut self) {
        if self.pending.is_empty() {
            return;
        }
        let chunk = std::mem::take(&mut self.pending);
        if let Some(tx) = &self.chunks {
            // A send fails only when the task ended, which `finish` reports.
            let _ = tx.send(chunk);
        }
    }

    /// Records what is left and waits for the task: how many rows were written or updated.
    pub async fn finish(mut self) -> ProgramResult<u64> {
        self.flush();
        self.chunks = None;
        (&mut self.task)
            .await
            .map_err(|e| ProgramError::CheckAborted {
                detail: format!("recording the sent invoices: {e}"),
            })?
    }
}

/// One transaction of [`SentRecorder`]: the files are read (the register keeps each file)
/// on a blocking thread, all in one go.
async fn record_chunk(
    store: &Store,
    firm: FirmId,
    form: FormCode,
    offline: bool,
    waiting: &std::collections::HashSet<[u8; 32]>,
    chunk: Vec<Sent>,
) -> ProgramResult<u64> {
    let files = tokio::task::spawn_blocking(move || {
        chunk
            .into_iter()
            .map(|(o, record)| match std::fs::read(&o.file) {
                Ok(bytes) => Ok((o, record, bytes)),
                Err(e) => Err(ProgramError::io(crate::IoAction::Read, &o.file, e)),
            })
            .collect::<ProgramResult<Vec<_>>>()
    })
    .await
    .map_err(|e| ProgramError::CheckAborted {
        detail: format!("reading the sent invoices: {e}"),
    })??;
    let mut rows = Vec::with_capacity(files.len());
    let mut issued = Vec::new();
    for (o, record, bytes) in &files {
        if !waiting.is_empty()
            && let sha = ksef_crypto::sha256(bytes)
            && waiting.contains(&sha)
            && let Some(row) = store.invoice_by_file(firm, &sha).await?
            && row.record.status == InvoiceStatus::Issued
        {
            issued.push((row.id, crate::offline::sending_outcome(o)));
            continue;
        }
        // The row the local check read from the same parse; a file sent without it (facts
        // unreadable then) is read here, and the error names it.
        let mut r = match record {
            Some(r) => InvoiceRecord::clone(r),
            None => record_from_facts(
                Direction::Sale,
                &facts(Some(form), bytes, &o.file.display().to_string())?,
            ),
        };
        r.ksef_number = o.ksef_number.clone();
        r.invoice_reference = o.reference_number.clone();
        r.session_reference = o.session_reference.clone();
        r.acquisition_date = o.acquisition_date;
        r.offline = offline;
        r.status = match o.status_code {
            _ if o.accepted() => InvoiceStatus::Accepted,
            Some(c) if c >= 300 => InvoiceStatus::Rejected,
            _ => InvoiceStatus::Sent,
        };
        r.status_code = o.status_code;
        r.status_description = Some(o.status_description.clone());
        r.status_details = o.details.clone();
        rows.push((r, bytes.as_slice()));
    }
    if !issued.is_empty() {
        store.record_offline_sent(firm, &issued).await?;
    }
    let counts = store.record_invoices(firm, &rows, None).await?;
    Ok(counts.inserted + counts.updated + issued.len() as u64)
}

/// Attaches a UPO to the register's invoice, if the register has it.
pub async fn attach_upo(app: &mut App, key: &InvoiceKey, xml: &[u8]) -> ProgramResult<bool> {
    let firm = current_firm(app).await?;
    Ok(app.store().await?.attach_upo(firm, key, xml).await?)
}

/// A party of a listed invoice.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedParty {
    /// The seller's NIP; the buyer's identifier (NIP, VAT UE number, other).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nip: Option<String>,
    /// The buyer's identifier type (`Nip`, `VatUe`, `Other`, `None`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub identifier_type: Option<String>,
    pub name: Option<String>,
}

/// One invoice as `ksef invoice list --json` (and the web app) show it. Amounts are decimal
/// strings (`"1230.00"`): exact, never binary floating point. An invoice issued offline also
/// carries its mode, sending deadline and whether it is overdue; a technical correction names
/// the row it corrects.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ListedInvoice {
    pub id: i64,
    pub ksef_number: Option<String>,
    pub invoice_number: String,
    pub issue_date: String,
    pub seller: ListedParty,
    pub buyer: ListedParty,
    pub net: Option<String>,
    pub vat: Option<String>,
    pub gross: Option<String>,
    pub currency: String,
    /// `sale`, `purchase`, `other`.
    pub direction: &'static str,
    /// `issued` (offline, not sent yet), `sent`, `accepted`, `rejected`, `received`.
    pub status: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_code: Option<i32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status_description: Option<String>,
    #[serde(with = "ksef_wire::ksef_time::option")]
    pub acquisition_date: Option<OffsetDateTime>,
    pub form_code: String,
    pub offline: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub invoice_reference: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_reference: Option<String>,
    pub has_upo: bool,
    /// Issued offline in this mode: `offline24`, `unavailability`, `emergency`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_mode: Option<&'static str>,
    /// The day the announced unavailability or failure ended (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub offline_mode_ends: Option<String>,
    /// The last day on which sending it to KSeF is on time (`YYYY-MM-DD`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub send_deadline: Option<String>,
    /// Issued offline, not sent yet, and past its sending deadline (today, in Poland).
    pub overdue: bool,
    /// A technical correction: the register id of the invoice it corrects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub corrects: Option<i64>,
    /// The KOD II link of an offline invoice, once made.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub kod2_link: Option<String>,
}

impl From<&RegisteredInvoice> for ListedInvoice {
    /// As of today in Poland ([`ListedInvoice::as_of`]).
    fn from(i: &RegisteredInvoice) -> Self {
        ListedInvoice::as_of(i, crate::offline::today())
    }
}

impl ListedInvoice {
    /// The invoice as listed on `today` (which decides [`ListedInvoice::overdue`]).
    pub fn as_of(i: &RegisteredInvoice, today: time::Date) -> Self {
        let r = &i.record;
        ListedInvoice {
            id: i.id,
            ksef_number: r.ksef_number.clone(),
            invoice_number: r.invoice_number.clone(),
            issue_date: r.issue_date.to_string(),
            seller: ListedParty {
                nip: Some(r.seller_nip.clone()),
                identifier_type: None,
                name: r.seller_name.clone(),
            },
            buyer: ListedParty {
                nip: r.buyer_id.clone(),
                identifier_type: Some(r.buyer_id_type.clone()),
                name: r.buyer_name.clone(),
            },
            net: r.net.map(format_grosze),
            vat: r.vat.map(format_grosze),
            gross: r.gross.map(format_grosze),
            currency: r.currency.clone(),
            direction: r.direction.as_str(),
            status: r.status.as_str(),
            status_code: r.status_code,
            status_description: r.status_description.clone(),
            acquisition_date: r.acquisition_date,
            form_code: r.form_code.clone(),
            offline: r.offline,
            invoice_reference: r.invoice_reference.clone(),
            session_reference: r.session_reference.clone(),
            has_upo: i.has_upo,
            offline_mode: i.offline_issue.map(|o| o.mode.kind().as_str()),
            offline_mode_ends: i
                .offline_issue
                .and_then(|o| o.mode.ends())
                .map(|d| d.to_string()),
            send_deadline: i.offline_issue.map(|o| o.send_deadline.to_string()),
            overdue: crate::offline::is_overdue(i, today),
            corrects: i.corrects.map(|c| c.id),
            kod2_link: i.kod2_link.clone(),
        }
    }
}

/// What [`list`] selects.
#[derive(Debug, Clone, Default)]
pub struct ListRequest {
    /// The firm whose register to list (`Nip:…`); `None`: see [`current_firm`].
    pub firm: Option<String>,
    pub direction: Option<Direction>,
    pub from: Option<time::Date>,
    pub to: Option<time::Date>,
    /// The seller's NIP (purchases) — or, with `buyer`, the buyer's identifier.
    pub seller_nip: Option<String>,
    pub buyer_id: Option<String>,
    pub text: Option<String>,
    pub min_gross: Option<i64>,
    pub max_gross: Option<i64>,
    /// Only the offline invoices not sent yet (all, or the overdue ones).
    pub offline: Option<OfflineList>,
    pub page: u32,
    pub page_size: u32,
}

/// Which offline invoices [`list`] shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineList {
    /// Issued offline and not sent yet.
    Pending,
    /// Pending and past the sending deadline today (in Poland).
    Overdue,
}

/// `ksef invoice list`: a page of the register.
pub async fn list(app: &mut App, req: &ListRequest) -> ProgramResult<InvoicePage> {
    let firm = chosen_firm(app, req.firm.as_deref()).await?;
    let filter = InvoiceFilter {
        direction: req.direction,
        from: req.from,
        to: req.to,
        seller_nip: req.seller_nip.clone(),
        buyer_id: req.buyer_id.clone(),
        text: req.text.clone(),
        min_gross: req.min_gross,
        max_gross: req.max_gross,
        offline: req.offline.map(|o| match o {
            OfflineList::Pending => OfflineFilter::Pending,
            OfflineList::Overdue => OfflineFilter::OverdueOn(crate::offline::today()),
        }),
        ..InvoiceFilter::new(firm)
    };
    Ok(app
        .store()
        .await?
        .list_invoices(&filter, req.page.max(1), req.page_size)
        .await?)
}

/// One invoice of the register of the firm named (else the session's, or the only one) with
/// its exact file; an invoice the register does not hold is
/// [`ProgramError::InvoiceNotInRegister`].
pub async fn invoice(
    app: &mut App,
    firm: Option<&str>,
    key: &InvoiceKey,
) -> ProgramResult<(RegisteredInvoice, Vec<u8>)> {
    let firm = chosen_firm(app, firm).await?;
    app.store()
        .await?
        .invoice(firm, key)
        .await?
        .ok_or_else(|| not_in_register(key))
}

/// [`ProgramError::InvoiceNotInRegister`] naming `key` as it was given.
pub fn not_in_register(key: &InvoiceKey) -> ProgramError {
    ProgramError::InvoiceNotInRegister {
        invoice: match key {
            InvoiceKey::Id(id) => id.to_string(),
            InvoiceKey::KsefNumber(s) | InvoiceKey::Reference(s) => s.clone(),
        },
    }
}

/// Parses an amount (`1234.5`, `1234,50`, `-10`) into grosze.
pub fn parse_amount(field: crate::Field, s: &str) -> ProgramResult<i64> {
    let bad = || {
        ProgramError::invalid(
            field,
            crate::InputProblem::BadFormat {
                value: s.to_string(),
                expected: "an amount like 1234.56",
            },
        )
    };
    let t = s.trim().replace(',', ".");
    let (neg, t) = match t.strip_prefix('-') {
        Some(rest) => (true, rest.to_string()),
        None => (false, t),
    };
    let (whole, frac) = t.split_once('.').unwrap_or((t.as_str(), ""));
    if whole.is_empty()
        || whole.len() > 15
        || frac.len() > 2
        || !whole.bytes().all(|b| b.is_ascii_digit())
        || !frac.bytes().all(|b| b.is_ascii_digit())
    {
        return Err(bad());
    }
    let whole: i64 = whole.parse().map_err(|_| bad())?;
    let frac: i64 = if frac.is_empty() {
        0
    } else {
        format!("{frac:0<2}").parse().map_err(|_| bad())?
    };
    let g = whole * 100 + frac;
    Ok(if neg { -g } else { g })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_are_exact_grosze() {
        assert_eq!(grosze(0.1 + 0.2), Some(30));
        assert_eq!(grosze(1234567.89), Some(123456789));
        assert_eq!(grosze(-12.3), Some(-1230));
        assert_eq!(grosze(f64::NAN), None);
        assert_eq!(grosze(1e300), None);
        assert_eq!(format_grosze(-1230), "-12.30");
        assert_eq!(format_grosze(5), "0.05");
        assert_eq!(
            parse_amount(crate::Field::MinAmount, "1234,5").unwrap(),
            123450
        );
        assert_eq!(parse_amount(crate::Field::MinAmount, "10").unwrap(), 1000);
        assert!(parse_amount(crate::Field::MinAmount, "1.234").is_err());
        assert!(parse_amount(crate::Field::MinAmount, "abc").is_err());
    }
}
