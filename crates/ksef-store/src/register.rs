//! The invoice register: every invoice a firm sent or received — the exact file, its metadata,
//! its status and its UPO — the single source the CLI and the web app list from.
//!
//! * A **firm** is an API (base URL) plus a KSeF context (`Nip:5265877635`): the same NIP on
//!   TEST and on production are two registers, with their own sync cursors.
//! * An invoice is identified by its **KSeF number**, or — a sale KSeF has not accepted (yet) —
//!   by the **invoice reference number** KSeF gave it in the session. Both are unique per firm
//!   (partial unique indexes); a sale recorded on sending and found again by `ksef sync` is one
//!   row.
//! * **Amounts** are integers in grosze (1/100 of the currency unit). The KSeF amount types
//!   (`TKwotowy`) have at most two decimals, so integers are exact; SQLite adds them exactly
//!   (totals), compares them (amount filters use an index) and never rounds. Decimal text
//!   could be neither summed nor range-filtered in SQL; `f64` is never used for money here.
//! * The **file** lives in `invoice_files`, content-addressed by SHA-256: the register rows
//!   stay small (100 000 of them scan in milliseconds), a file sent and later synced is stored
//!   once, and the file is written in the same transaction as its row — a crash leaves both
//!   or neither (no file on disk can be half-written or orphaned).
//! * An invoice **issued offline** (digest §13) is in the register before KSeF has seen it:
//!   status [`InvoiceStatus::Issued`], no KSeF number nor reference, its offline mode and its
//!   sending deadline ([`OfflineIssue`]); sending it fills the same row
//!   ([`Store::record_offline_sent`]). A **technical correction** of a rejected offline invoice
//!   is a row of its own that names the row it corrects ([`CorrectionOf`],
//!   [`Store::record_correction`]).
//! * **Sync cursors** (`sync_cursors`, one per firm and subject type) move only inside the
//!   transaction that stores the invoices they cover ([`Store::record_invoices`]): after a
//!   `kill -9` the register and the cursor agree, and the next run continues from there
//!   (storing an invoice again is a no-op).

use sqlx::{Row, Sqlite, SqliteConnection, Transaction};
use time::{Date, OffsetDateTime};

use crate::error::{FilterProblem, Result, StoreError};
pub use crate::register_offline::{CorrectionOf, IssuedOffline, OfflineIssue, SendingOutcome};
use crate::{Store, format_time, now_text, parse_time};

/// The most invoices on one page of [`Store::list_invoices`].
pub const MAX_PAGE_SIZE: u32 = 1000;

/// A firm's register: an API and a context. Get one with [`Store::firm`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct FirmId(pub(crate) i64);

/// Sale, purchase, or neither (Subject3 / authorised-subject invoices).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Issued by the firm (KSeF `Subject1`).
    Sale,
    /// Received by the firm (KSeF `Subject2`).
    Purchase,
    /// The firm is a third subject or the authorised subject (`Subject3`, `SubjectAuthorized`).
    Other,
}

impl Direction {
    /// The stored (and JSON) name: `sale`, `purchase`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            Direction::Sale => "sale",
            Direction::Purchase => "purchase",
            Direction::Other => "other",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "sale" => Ok(Direction::Sale),
            "purchase" => Ok(Direction::Purchase),
            "other" => Ok(Direction::Other),
            _ => Err(StoreError::Corrupt(format!(
                "unknown invoice direction {s:?}"
            ))),
        }
    }
}

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum InvoiceStatus {
    /// A sale issued offline and not sent to KSeF yet (it has a sending deadline).
    Issued,
    /// A sale sent; KSeF has not given a final status yet.
    Sent,
    /// A sale KSeF accepted (it has a KSeF number).
    Accepted,
    /// A sale KSeF refused (`status_code` / `status_description` say why).
    Rejected,
    /// An invoice found in KSeF by the sync (purchases, and sales sent by other programs).
    Received,
}

impl InvoiceStatus {
    /// The stored (and JSON) name: `issued`, `sent`, `accepted`, `rejected`, `received`.
    pub fn as_str(self) -> &'static str {
        match self {
            InvoiceStatus::Issued => "issued",
            InvoiceStatus::Sent => "sent",
            InvoiceStatus::Accepted => "accepted",
            InvoiceStatus::Rejected => "rejected",
            InvoiceStatus::Received => "received",
        }
    }

    fn parse(s: &str) -> Result<Self> {
        match s {
            "issued" => Ok(InvoiceStatus::Issued),
            "sent" => Ok(InvoiceStatus::Sent),
            "accepted" => Ok(InvoiceStatus::Accepted),
            "rejected" => Ok(InvoiceStatus::Rejected),
            "received" => Ok(InvoiceStatus::Received),
            _ => Err(StoreError::Corrupt(format!("unknown invoice status {s:?}"))),
        }
    }
}

/// One invoice as written to the register (metadata and status; the file is passed beside).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceRecord {
    pub direction: Direction,
    /// KSeF number, once KSeF accepted the invoice.
    pub ksef_number: Option<String>,
    /// The invoice's reference number in its sending session (sales sent by this program).
    pub invoice_reference: Option<String>,
    /// The sending session's reference number.
    pub session_reference: Option<String>,
    /// `P_2`.
    pub invoice_number: String,
    /// `P_1`.
    pub issue_date: Date,
    pub seller_nip: String,
    pub seller_name: Option<String>,
    /// `Nip`, `VatUe`, `Other` or `None` (KSeF's buyer identifier types).
    pub buyer_id_type: String,
    pub buyer_id: Option<String>,
    pub buyer_name: Option<String>,
    /// Net total in grosze.
    pub net: Option<i64>,
    /// VAT total in grosze.
    pub vat: Option<i64>,
    /// Gross total in grosze.
    pub gross: Option<i64>,
    /// ISO 4217.
    pub currency: String,
    /// `FA (3)`, `FA (2)`, `FA_RR (1)`, `PEF (3)`, `PEF_KOR (3)`.
    pub form_code: String,
    /// KSeF's invoice type (`Vat`, `Kor`, …), when known.
    pub invoice_type: Option<String>,
    /// When KSeF assigned the KSeF number.
    pub acquisition_date: Option<OffsetDateTime>,
    /// When KSeF took the invoice for processing.
    pub invoicing_date: Option<OffsetDateTime>,
    /// When KSeF stored it durably (the sync's time axis).
    pub permanent_storage_date: Option<OffsetDateTime>,
    /// Issued offline (sent later).
    pub offline: bool,
    pub status: InvoiceStatus,
    /// KSeF's status code (200 accepted; 4xx refusals, e.g. 440 duplicate).
    pub status_code: Option<i32>,
    /// KSeF's status description, as KSeF sent it.
    pub status_description: Option<String>,
    /// KSeF's status details.
    pub status_details: Vec<String>,
}

/// One invoice as read from the register.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegisteredInvoice {
    /// Row id (stable; for links in the web app).
    pub id: i64,
    pub record: InvoiceRecord,
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
    /// Size of the file in bytes.
    pub size: u64,
    /// Whether a UPO is stored.
    pub has_upo: bool,
    /// When the register first saw the invoice.
    pub recorded_at: OffsetDateTime,
    /// When it last changed.
    pub updated_at: OffsetDateTime,
    /// Issued through the offline workflow: the mode and the sending deadline.
    pub offline_issue: Option<OfflineIssue>,
    /// The KOD II (certificate) link of an offline invoice, once made.
    pub kod2_link: Option<String>,
    /// A technical correction: the invoice it corrects.
    pub corrects: Option<CorrectionOf>,
}

/// How to find one invoice of a firm.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceKey {
    KsefNumber(String),
    /// The invoice reference number of its sending session.
    Reference(String),
    /// The row id ([`RegisteredInvoice::id`]).
    Id(i64),
}

/// What [`Store::record_invoices`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct RecordCounts {
    /// Invoices new to the register.
    pub inserted: u64,
    /// Invoices already there (merged: a value given replaces the stored one).
    pub updated: u64,
}

/// The sync cursor to move together with a batch of invoices.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CursorUpdate {
    /// `Subject1`, `Subject2`, …
    pub subject_type: String,
    /// Where the next sync of this subject type starts.
    pub checkpoint: OffsetDateTime,
}

/// Which invoices [`Store::list_invoices`] returns. Every condition given must hold.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoiceFilter {
    pub firm: FirmId,
    pub direction: Option<Direction>,
    /// Issue date on or after.
    pub from: Option<Date>,
    /// Issue date on or before.
    pub to: Option<Date>,
    pub seller_nip: Option<String>,
    /// The buyer's identifier (NIP, VAT UE number, other id), exactly.
    pub buyer_id: Option<String>,
    /// A fragment of the invoice number, KSeF number, seller or buyer name (ASCII letters
    /// case-insensitive).
    pub text: Option<String>,
    /// Gross amount (grosze) at least.
    pub min_gross: Option<i64>,
    /// Gross amount (grosze) at most.
    pub max_gross: Option<i64>,
    pub status: Option<InvoiceStatus>,
    /// Offline invoices not sent yet (all of them, or the overdue ones).
    pub offline: Option<OfflineFilter>,
}

/// Which offline invoices an [`InvoiceFilter`] selects.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OfflineFilter {
    /// Issued offline and not sent yet ([`InvoiceStatus::Issued`]).
    Pending,
    /// Pending, and on `today` past the sending deadline (the deadline day itself is on time).
    OverdueOn(Date),
}

impl InvoiceFilter {
    /// Every invoice of `firm`.
    pub fn new(firm: FirmId) -> Self {
        InvoiceFilter {
            firm,
            direction: None,
            from: None,
            to: None,
            seller_nip: None,
            buyer_id: None,
            text: None,
            min_gross: None,
            max_gross: None,
            status: None,
            offline: None,
        }
    }
}

/// The sums of the invoices a filter selects, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CurrencyTotals {
    pub currency: String,
    pub count: u64,
    /// Grosze; invoices without the amount count as 0.
    pub net: i64,
    pub vat: i64,
    pub gross: i64,
}

/// One page of [`Store::list_invoices`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InvoicePage {
    /// Newest issue date first (then newest row first).
    pub invoices: Vec<RegisteredInvoice>,
    /// How many invoices the filter selects over all pages.
    pub total: u64,
    /// Sums per currency over all pages (sorted by currency).
    pub totals: Vec<CurrencyTotals>,
}

pub(crate) const COLUMNS: &str = "i.id, i.direction, i.ksef_number, i.invoice_reference, \
    i.session_reference, i.invoice_number, i.issue_date, i.seller_nip, i.seller_name, \
    i.buyer_id_type, i.buyer_id, i.buyer_name, i.net, i.vat, i.gross, i.currency, i.form_code, \
    i.invoice_type, i.acquisition_date, i.invoicing_date, i.permanent_storage_date, i.offline, \
    i.status, i.status_code, i.status_description, i.status_details, i.sha256, i.size, \
    i.recorded_at, i.updated_at, i.offline_mode, i.offline_mode_ends, i.send_deadline, \
    i.kod2_link, i.corrects_id, i.corrected_sha256, \
    EXISTS (SELECT 1 FROM invoice_upos u WHERE u.invoice_id = i.id) AS has_upo";

enum Bind {
    Int(i64),
    Text(String),
}

impl Store {
    /// The register of `context` on `api` (created on first use).
    pub async fn register_of(&self, api: &str, context: &str) -> Result<FirmId> {
        let api = crate::normalize_base_url(api)?;
        sqlx::query(
            "INSERT INTO registers (api, context, created_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING",
        )
        .bind(api)
        .bind(context)
        .bind(now_text()?)
        .execute(&self.pool)
        .await?;
        let id: i64 = sqlx::query_scalar("SELECT id FROM registers WHERE api = ? AND context = ?")
            .bind(api)
            .bind(context)
            .fetch_one(&self.pool)
            .await?;
        Ok(FirmId(id))
    }

    /// The registers of `api`: (id, context), by context.
    pub async fn registers(&self, api: &str) -> Result<Vec<(FirmId, String)>> {
        let api = crate::normalize_base_url(api)?;
        let rows = sqlx::query("SELECT id, context FROM registers WHERE api = ? ORDER BY context")
            .bind(api)
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((FirmId(r.try_get("id")?), r.try_get("context")?)))
            .collect()
    }

    /// Where the next sync of `subject_type` starts (`None`: never synced).
    pub async fn sync_cursor(
        &self,
        firm: FirmId,
        subject_type: &str,
    ) -> Result<Option<OffsetDateTime>> {
        let text: Option<String> = sqlx::query_scalar(
            "SELECT checkpoint FROM sync_cursors WHERE firm_id = ? AND subject_type = ?",
        )
        .bind(firm.0)
        .bind(subject_type)
        .fetch_optional(&self.pool)
        .await?;
        text.as_deref().map(parse_time).transpose()
    }

    /// Stores invoices with their files and, given a cursor, moves it — all in ONE transaction:
    /// either everything is in the register afterwards or nothing changed.
    ///
    /// An invoice already in the register (same KSeF number, else same invoice reference) is
    /// merged: values given replace stored ones, values absent keep them; a sale's status is
    /// not downgraded to `received` by a sync, and `other` gives way to sale or purchase.
    pub async fn record_invoices(
        &self,
        firm: FirmId,
        invoices: &[(InvoiceRecord, &[u8])],
        cursor: Option<&CursorUpdate>,
    ) -> Result<RecordCounts> {
        for (r, _) in invoices {
            if r.ksef_number.is_none() && r.invoice_reference.is_none() {
                return Err(StoreError::InvoiceUnidentified {
                    invoice_number: r.invoice_number.clone(),
                });
            }
        }
        let now = now_text()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let mut counts = RecordCounts::default();
        for chunk in invoices.chunks(RECORD_CHUNK) {
            let c = record_chunk(&mut tx, firm, chunk, &now).await?;
            counts.inserted += c.inserted;
            counts.updated += c.updated;
        }
        if let Some(c) = cursor {
            sqlx::query(
                "INSERT INTO sync_cursors (firm_id, subject_type, checkpoint, updated_at) \
                 VALUES (?, ?, ?, ?) ON CONFLICT (firm_id, subject_type) DO UPDATE SET \
                 checkpoint = excluded.checkpoint, updated_at = excluded.updated_at",
            )
            .bind(firm.0)
            .bind(&c.subject_type)
            .bind(format_utc(c.checkpoint)?)
            .bind(&now)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        Ok(counts)
    }

    /// Stores (replacing) the UPO of an invoice; `false` when the register has no such invoice.
    pub async fn attach_upo(&self, firm: FirmId, key: &InvoiceKey, xml: &[u8]) -> Result<bool> {
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        let Some(id) = find_id(&mut tx, firm, key).await? else {
            return Ok(false);
        };
        sqlx::query(
            "INSERT INTO invoice_upos (invoice_id, xml, fetched_at) VALUES (?, ?, ?) \
             ON CONFLICT (invoice_id) DO UPDATE SET xml = excluded.xml, fetched_at = excluded.fetched_at",
        )
        .bind(id)
        .bind(xml)
        .bind(now_text()?)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(true)
    }

    /// The stored UPO of an invoice.
    pub async fn upo(&self, firm: FirmId, key: &InvoiceKey) -> Result<Option<Vec<u8>>> {
        let mut conn = self.pool.acquire().await?;
        let Some(id) = find_id(&mut conn, firm, key).await? else {
            return Ok(None);
        };
        Ok(
            sqlx::query_scalar("SELECT xml FROM invoice_upos WHERE invoice_id = ?")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?,
        )
    }

    /// One invoice with its exact file.
    pub async fn invoice(
        &self,
        firm: FirmId,
        key: &InvoiceKey,
    ) -> Result<Option<(RegisteredInvoice, Vec<u8>)>> {
        let mut conn = self.pool.acquire().await?;
        let Some(id) = find_id(&mut conn, firm, key).await? else {
            return Ok(None);
        };
        let sql = format!(
            "SELECT {COLUMNS}, f.content FROM invoices i \
             JOIN invoice_files f ON f.sha256 = i.sha256 WHERE i.id = ?"
        );
        let Some(row) = sqlx::query(sqlx::AssertSqlSafe(sql))
            .bind(id)
            .fetch_optional(&mut *conn)
            .await?
        else {
            return Ok(None);
        };
        let content: Vec<u8> = row.try_get("content")?;
        let inv = read_row(&row)?;
        let actual = ksef_crypto::sha256(&content);
        if actual != inv.sha256 {
            return Err(StoreError::Integrity {
                what: format!("the stored file of invoice {}", inv.record.invoice_number),
            });
        }
        Ok(Some((inv, content)))
    }

    /// One page of the invoices `filter` selects (newest issue date first), with the count
    /// and the sums per currency over all pages. `page` counts from 1.
    pub async fn list_invoices(
        &self,
        filter: &InvoiceFilter,
        page: u32,
        page_size: u32,
    ) -> Result<InvoicePage> {
        if page == 0 || page_size == 0 || page_size > MAX_PAGE_SIZE {
            return Err(StoreError::InvalidPage { page, page_size });
        }
        let (where_sql, binds) = where_clause(filter)?;
        let mut conn = self.pool.acquire().await?;
        // The planner has no statistics to weigh a selective filter against the index that
        // gives the date order, so the index is named: a party seeks its own index (already
        // in date order); a substring search cannot seek, and scanning the narrow text index
        // (reading only the matching rows) beats walking the rows in date order.
        let from = if filter.offline.is_some() && !has_text(filter) {
            // The pending ones are few: their partial index, then a sort.
            "invoices i INDEXED BY invoices_offline_pending"
        } else if has_text(filter) {
            "invoices i INDEXED BY invoices_by_text"
        } else if filter.seller_nip.is_some() {
            "invoices i INDEXED BY invoices_by_seller"
        } else if filter.buyer_id.is_some() {
            "invoices i INDEXED BY invoices_by_buyer"
        } else {
            "invoices i"
        };

        let totals_sql = format!(
            "SELECT i.currency AS currency, count(*) AS n, coalesce(sum(i.net), 0) AS net, \
             coalesce(sum(i.vat), 0) AS vat, coalesce(sum(i.gross), 0) AS gross \
             FROM {from} WHERE {where_sql} GROUP BY i.currency ORDER BY i.currency"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(totals_sql));
        for b in &binds {
            q = bind(q, b);
        }
        let mut totals = Vec::new();
        let mut total = 0u64;
        for row in q.fetch_all(&mut *conn).await? {
            let count = u64::try_from(row.try_get::<i64, _>("n")?).unwrap_or(0);
            total += count;
            totals.push(CurrencyTotals {
                currency: row.try_get("currency")?,
                count,
                net: row.try_get("net")?,
                vat: row.try_get("vat")?,
                gross: row.try_get("gross")?,
            });
        }

        let offset = i64::from(page - 1) * i64::from(page_size);
        let rows_sql = format!(
            "SELECT {COLUMNS} FROM {from} WHERE {where_sql} \
             ORDER BY i.issue_date DESC, i.id DESC LIMIT ? OFFSET ?"
        );
        let mut q = sqlx::query(sqlx::AssertSqlSafe(rows_sql));
        for b in &binds {
            q = bind(q, b);
        }
        let rows = q
            .bind(i64::from(page_size))
            .bind(offset)
            .fetch_all(&mut *conn)
            .await?;
        let invoices = rows.iter().map(read_row).collect::<Result<Vec<_>>>()?;
        Ok(InvoicePage {
            invoices,
            total,
            totals,
        })
    }
}

fn bind<'q>(
    q: sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments>,
    b: &'q Bind,
) -> sqlx::query::Query<'q, Sqlite, sqlx::sqlite::SqliteArguments> {
    match b {
        Bind::Int(v) => q.bind(*v),
        Bind::Text(v) => q.bind(v.as_str()),
    }
}

/// The WHERE clause of a filter: fixed SQL fragments with `?` for every value.
fn where_clause(f: &InvoiceFilter) -> Result<(String, Vec<Bind>)> {
    if let (Some(a), Some(b)) = (f.from, f.to)
        && b < a
    {
        return Err(StoreError::InvalidFilter {
            problem: FilterProblem::DatesReversed,
        });
    }
    if let (Some(a), Some(b)) = (f.min_gross, f.max_gross)
        && b < a
    {
        return Err(StoreError::InvalidFilter {
            problem: FilterProblem::AmountsReversed,
        });
    }
    let mut sql = vec!["i.firm_id = ?"];
    let mut binds = vec![Bind::Int(f.firm.0)];
    if let Some(d) = f.direction {
        sql.push("i.direction = ?");
        binds.push(Bind::Text(d.as_str().into()));
    }
    if let Some(d) = f.from {
        sql.push("i.issue_date >= ?");
        binds.push(Bind::Text(d.to_string()));
    }
    if let Some(d) = f.to {
        sql.push("i.issue_date <= ?");
        binds.push(Bind::Text(d.to_string()));
    }
    if let Some(n) = &f.seller_nip {
        sql.push("i.seller_nip = ?");
        binds.push(Bind::Text(n.trim().into()));
    }
    if let Some(n) = &f.buyer_id {
        sql.push("i.buyer_id = ?");
        binds.push(Bind::Text(n.trim().into()));
    }
    if let Some(a) = f.min_gross {
        sql.push("i.gross >= ?");
        binds.push(Bind::Int(a));
    }
    if let Some(a) = f.max_gross {
        sql.push("i.gross <= ?");
        binds.push(Bind::Int(a));
    }
    if let Some(s) = f.status {
        sql.push("i.status = ?");
        binds.push(Bind::Text(s.as_str().into()));
    }
    match f.offline {
        None => {}
        // Literal SQL (no parameter): the partial index's condition must appear as written.
        Some(OfflineFilter::Pending) => sql.push("i.status = 'issued'"),
        Some(OfflineFilter::OverdueOn(today)) => {
            sql.push("i.status = 'issued'");
            sql.push("i.send_deadline < ?");
            binds.push(Bind::Text(today.to_string()));
        }
    }
    if let Some(t) = f.text.as_deref().map(str::trim).filter(|t| !t.is_empty()) {
        sql.push("i.search LIKE ? ESCAPE '\\'");
        binds.push(Bind::Text(format!("%{}%", escape_like(t))));
    }
    Ok((sql.join(" AND "), binds))
}

fn has_text(f: &InvoiceFilter) -> bool {
    f.text.as_deref().is_some_and(|t| !t.trim().is_empty())
}

/// `%`, `_` and `\` of user text match themselves in a `LIKE … ESCAPE '\'`.
fn escape_like(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        if matches!(c, '%' | '_' | '\\') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

fn format_utc(t: OffsetDateTime) -> Result<String> {
    format_time(t.to_offset(time::UtcOffset::UTC))
}

pub(crate) fn opt_time(t: Option<OffsetDateTime>) -> Result<Option<String>> {
    t.map(format_utc).transpose()
}

pub(crate) async fn find_id(
    conn: &mut SqliteConnection,
    firm: FirmId,
    key: &InvoiceKey,
) -> Result<Option<i64>> {
    let q = match key {
        InvoiceKey::KsefNumber(n) => {
            sqlx::query_scalar("SELECT id FROM invoices WHERE firm_id = ? AND ksef_number = ?")
                .bind(firm.0)
                .bind(n.trim().to_string())
        }
        InvoiceKey::Reference(r) => sqlx::query_scalar(
            "SELECT id FROM invoices WHERE firm_id = ? AND invoice_reference = ?",
        )
        .bind(firm.0)
        .bind(r.trim().to_string()),
        InvoiceKey::Id(id) => {
            sqlx::query_scalar("SELECT id FROM invoices WHERE firm_id = ? AND id = ?")
                .bind(firm.0)
                .bind(*id)
        }
    };
    Ok(q.fetch_optional(conn).await?)
}

/// Rows written by one multi-row statement of [`record_chunk`] (30 columns each: far below
/// SQLite's 32 766 bound parameters).
const RECORD_CHUNK: usize = 200;

/// Records one chunk of invoices inside `tx`: the files and the rows that are new to the
/// register in one multi-row `INSERT` each, the rest (already in the register, or a key twice
/// in the chunk) merged one by one by [`upsert`]. The same result as [`upsert`] for every
/// row in order, in a few statements instead of four per invoice (each statement is a round
/// trip to SQLite's worker thread: 10 000 invoices cost ~40 000 of them before).
async fn record_chunk(
    tx: &mut Transaction<'static, Sqlite>,
    firm: FirmId,
    chunk: &[(InvoiceRecord, &[u8])],
    now: &str,
) -> Result<RecordCounts> {
    use std::collections::HashSet;
    let mut counts = RecordCounts::default();
    if chunk.is_empty() {
        return Ok(counts);
    }
    let hashes: Vec<[u8; 32]> = chunk.iter().map(|(_, b)| ksef_crypto::sha256(b)).collect();
    let files: Vec<(&[u8; 32], &[u8])> = hashes
        .iter()
        .zip(chunk)
        .map(|(h, (_, b))| (h, *b))
        .collect();
    insert_files(tx, &files).await?;

    // The keys already in the register (either key makes a row "existing").
    let known = |column: &'static str, keys: Vec<&str>| {
        let mut q = sqlx::QueryBuilder::<Sqlite>::new(format!(
            "SELECT {column} FROM invoices WHERE firm_id = "
        ));
        q.push_bind(firm.0)
            .push(format!(" AND {column} IS NOT NULL AND {column} IN ("));
        let mut list = q.separated(", ");
        for k in keys {
            list.push_bind(k.trim().to_string());
        }
        list.push_unseparated(")");
        q
    };
    let ksef: Vec<&str> = chunk
        .iter()
        .filter_map(|(r, _)| r.ksef_number.as_deref())
        .collect();
    let refs: Vec<&str> = chunk
        .iter()
        .filter_map(|(r, _)| r.invoice_reference.as_deref())
        .collect();
    let mut existing_ksef: HashSet<String> = HashSet::new();
    if !ksef.is_empty() {
        existing_ksef = known("ksef_number", ksef)
            .build_query_scalar()
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
    }
    let mut existing_refs: HashSet<String> = HashSet::new();
    if !refs.is_empty() {
        existing_refs = known("invoice_reference", refs)
            .build_query_scalar()
            .fetch_all(&mut **tx)
            .await?
            .into_iter()
            .collect();
    }
    // New rows whose keys appear once in the chunk go in together; the others follow, in
    // order, through `upsert` (so a later duplicate merges into the row just inserted).
    let mut seen_ksef: HashSet<&str> = HashSet::new();
    let mut seen_refs: HashSet<&str> = HashSet::new();
    let mut new_rows = Vec::new();
    let mut merged = Vec::new();
    for (i, (r, _)) in chunk.iter().enumerate() {
        let k = r.ksef_number.as_deref().map(str::trim);
        let rf = r.invoice_reference.as_deref().map(str::trim);
        let clash = k.is_some_and(|k| existing_ksef.contains(k) || !seen_ksef.insert(k))
            | rf.is_some_and(|rf| existing_refs.contains(rf) || !seen_refs.insert(rf));
        if clash {
            merged.push(i)
        } else {
            new_rows.push(i)
        }
    }
    if !new_rows.is_empty() {
        let rows: Vec<NewRow<'_>> = new_rows
            .iter()
            .map(|&i| (&chunk[i].0, &hashes[i], chunk[i].1.len()))
            .collect();
        insert_rows(tx, firm, &rows, now).await?;
        counts.inserted += new_rows.len() as u64;
    }
    for i in merged {
        let (r, bytes) = &chunk[i];
        if upsert(tx, firm, r, bytes, now).await? {
            counts.inserted += 1;
        } else {
            counts.updated += 1;
        }
    }
    Ok(counts)
}

/// Stores files once per content (`ON CONFLICT DO NOTHING`), in one statement.
pub(crate) async fn insert_files(
    tx: &mut Transaction<'static, Sqlite>,
    files: &[(&[u8; 32], &[u8])],
) -> Result<()> {
    if files.is_empty() {
        return Ok(());
    }
    let mut q =
        sqlx::QueryBuilder::<Sqlite>::new("INSERT INTO invoice_files (sha256, size, content) ");
    q.push_values(files, |mut b, (sha, bytes)| {
        b.push_bind(&sha[..])
            .push_bind(byte_size(bytes))
            .push_bind(*bytes);
    });
    q.push(" ON CONFLICT DO NOTHING");
    q.build().execute(&mut **tx).await?;
    Ok(())
}

/// A file's size as stored.
fn byte_size(bytes: &[u8]) -> i64 {
    i64::try_from(bytes.len()).unwrap_or(i64::MAX)
}

/// A row new to the register: the record, its file's SHA-256 and size.
type NewRow<'a> = (&'a InvoiceRecord, &'a [u8; 32], usize);

/// Inserts invoices new to the register (their files stored already), in one statement.
async fn insert_rows(
    tx: &mut Transaction<'static, Sqlite>,
    firm: FirmId,
    rows: &[NewRow<'_>],
    now: &str,
) -> Result<()> {
    let times = rows
        .iter()
        .map(|(r, _, _)| {
            Ok([
                opt_time(r.acquisition_date)?,
                opt_time(r.invoicing_date)?,
                opt_time(r.permanent_storage_date)?,
            ])
        })
        .collect::<Result<Vec<_>>>()?;
    let mut q = sqlx::QueryBuilder::<Sqlite>::new(
        "INSERT INTO invoices (firm_id, direction, ksef_number, invoice_reference, \
         session_reference, invoice_number, issue_date, seller_nip, seller_name, \
         buyer_id_type, buyer_id, buyer_name, net, vat, gross, currency, form_code, \
         invoice_type, acquisition_date, invoicing_date, permanent_storage_date, offline, \
         status, status_code, status_description, status_details, sha256, size, \
         recorded_at, updated_at) ",
    );
    q.push_values(
        rows.iter().zip(times),
        |mut b, ((r, sha, size), [acquisition, invoicing, storage])| {
            let details = (!r.status_details.is_empty()).then(|| r.status_details.join("\n"));
            b.push_bind(firm.0)
                .push_bind(r.direction.as_str())
                .push_bind(&r.ksef_number)
                .push_bind(&r.invoice_reference)
                .push_bind(&r.session_reference)
                .push_bind(&r.invoice_number)
                .push_bind(r.issue_date.to_string())
                .push_bind(&r.seller_nip)
                .push_bind(&r.seller_name)
                .push_bind(&r.buyer_id_type)
                .push_bind(&r.buyer_id)
                .push_bind(&r.buyer_name)
                .push_bind(r.net)
                .push_bind(r.vat)
                .push_bind(r.gross)
                .push_bind(&r.currency)
                .push_bind(&r.form_code)
                .push_bind(&r.invoice_type)
                .push_bind(acquisition)
                .push_bind(invoicing)
                .push_bind(storage)
                .push_bind(r.offline)
                .push_bind(r.status.as_str())
                .push_bind(r.status_code)
                .push_bind(&r.status_description)
                .push_bind(details)
                .push_bind(&sha[..])
                .push_bind(i64::try_from(*size).unwrap_or(i64::MAX))
                .push_bind(now)
                .push_bind(now);
        },
    );
    q.build().execute(&mut **tx).await?;
    Ok(())
}

/// Inserts or merges one invoice; `true` when it is new.
pub(crate) async fn upsert(
    tx: &mut Transaction<'static, Sqlite>,
    firm: FirmId,
    r: &InvoiceRecord,
    bytes: &[u8],
    now: &str,
) -> Result<bool> {
    let sha = ksef_crypto::sha256(bytes);
    let size = byte_size(bytes);
    insert_files(tx, &[(&sha, bytes)]).await?;

    let by_ksef = match &r.ksef_number {
        Some(n) => find_id(tx, firm, &InvoiceKey::KsefNumber(n.clone())).await?,
        None => None,
    };
    let by_ref = match &r.invoice_reference {
        Some(n) => find_id(tx, firm, &InvoiceKey::Reference(n.clone())).await?,
        None => None,
    };
    let existing = match (by_ksef, by_ref) {
        (Some(k), Some(rf)) if k != rf => {
            // The sale was recorded by its reference before KSeF accepted it, and the sync
            // found the accepted invoice meanwhile: keep the KSeF-number row, move the UPO.
            sqlx::query("UPDATE OR IGNORE invoice_upos SET invoice_id = ? WHERE invoice_id = ?")
                .bind(k)
                .bind(rf)
                .execute(&mut **tx)
                .await?;
            sqlx::query("DELETE FROM invoice_upos WHERE invoice_id = ?")
                .bind(rf)
                .execute(&mut **tx)
                .await?;
            crate::register_offline::carry_offline_columns(tx, rf, k).await?;
            sqlx::query("DELETE FROM invoices WHERE id = ?")
                .bind(rf)
                .execute(&mut **tx)
                .await?;
            Some(k)
        }
        (k, rf) => k.or(rf),
    };
    let details = (!r.status_details.is_empty()).then(|| r.status_details.join("\n"));
    match existing {
        None => {
            insert_rows(tx, firm, &[(r, &sha, bytes.len())], now).await?;
            Ok(true)
        }
        Some(id) => {
            // A sync (`received`) never overwrites what the sending recorded about a sale.
            let sync_only = r.status == InvoiceStatus::Received;
            let update = sqlx::query(
                "UPDATE invoices SET \
                 direction = CASE WHEN direction = 'other' THEN ?1 ELSE direction END, \
                 ksef_number = coalesce(?2, ksef_number), \
                 invoice_reference = coalesce(?3, invoice_reference), \
                 session_reference = coalesce(?4, session_reference), \
                 invoice_number = ?5, issue_date = ?6, seller_nip = ?7, \
                 seller_name = coalesce(?8, seller_name), buyer_id_type = ?9, \
                 buyer_id = coalesce(?10, buyer_id), buyer_name = coalesce(?11, buyer_name), \
                 net = coalesce(?12, net), vat = coalesce(?13, vat), gross = coalesce(?14, gross), \
                 currency = ?15, form_code = ?16, invoice_type = coalesce(?17, invoice_type), \
                 acquisition_date = coalesce(?18, acquisition_date), \
                 invoicing_date = coalesce(?19, invoicing_date), \
                 permanent_storage_date = coalesce(?20, permanent_storage_date), \
                 offline = ?21, \
                 status = CASE WHEN ?22 AND status IN ('accepted', 'rejected', 'sent') \
                     THEN (CASE WHEN status = 'rejected' THEN 'rejected' ELSE 'accepted' END) \
                     ELSE ?23 END, \
                 status_code = CASE WHEN ?22 THEN status_code ELSE ?24 END, \
                 status_description = CASE WHEN ?22 THEN status_description ELSE ?25 END, \
                 status_details = CASE WHEN ?22 THEN status_details ELSE ?26 END, \
                 sha256 = ?27, size = ?28, updated_at = ?29 \
                 WHERE id = ?30",
            );
            bind_record(update, r)?
                .bind(sync_only)
                .bind(r.status.as_str())
                .bind(r.status_code)
                .bind(&r.status_description)
                .bind(&details)
                .bind(&sha[..])
                .bind(size)
                .bind(now)
                .bind(id)
                .execute(&mut **tx)
                .await?;
            Ok(false)
        }
    }
}

/// Binds the record's columns from `direction` to `offline`, in the order both the INSERT and
/// the UPDATE of [`Store::record_invoices`] list them.
fn bind_record<'q>(
    q: sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>,
    r: &'q InvoiceRecord,
) -> Result<sqlx::query::Query<'q, Sqlite, <Sqlite as sqlx::Database>::Arguments>> {
    Ok(q.bind(r.direction.as_str())
        .bind(&r.ksef_number)
        .bind(&r.invoice_reference)
        .bind(&r.session_reference)
        .bind(&r.invoice_number)
        .bind(r.issue_date.to_string())
        .bind(&r.seller_nip)
        .bind(&r.seller_name)
        .bind(&r.buyer_id_type)
        .bind(&r.buyer_id)
        .bind(&r.buyer_name)
        .bind(r.net)
        .bind(r.vat)
        .bind(r.gross)
        .bind(&r.currency)
        .bind(&r.form_code)
        .bind(&r.invoice_type)
        .bind(opt_time(r.acquisition_date)?)
        .bind(opt_time(r.invoicing_date)?)
        .bind(opt_time(r.permanent_storage_date)?)
        .bind(r.offline))
}

pub(crate) fn read_row(row: &sqlx::sqlite::SqliteRow) -> Result<RegisteredInvoice> {
    let opt_time = |col: &str| -> Result<Option<OffsetDateTime>> {
        row.try_get::<Option<String>, _>(col)?
            .as_deref()
            .map(parse_time)
            .transpose()
    };
    let issue: String = row.try_get("issue_date")?;
    let issue_date = parse_date(&issue, "issue date")?;
    let sha: Vec<u8> = row.try_get("sha256")?;
    let sha256: [u8; 32] = sha
        .try_into()
        .map_err(|_| StoreError::Corrupt("a stored SHA-256 is not 32 bytes".into()))?;
    let details: Option<String> = row.try_get("status_details")?;
    Ok(RegisteredInvoice {
        id: row.try_get("id")?,
        record: InvoiceRecord {
            direction: Direction::parse(row.try_get("direction")?)?,
            ksef_number: row.try_get("ksef_number")?,
            invoice_reference: row.try_get("invoice_reference")?,
            session_reference: row.try_get("session_reference")?,
            invoice_number: row.try_get("invoice_number")?,
            issue_date,
            seller_nip: row.try_get("seller_nip")?,
            seller_name: row.try_get("seller_name")?,
            buyer_id_type: row.try_get("buyer_id_type")?,
            buyer_id: row.try_get("buyer_id")?,
            buyer_name: row.try_get("buyer_name")?,
            net: row.try_get("net")?,
            vat: row.try_get("vat")?,
            gross: row.try_get("gross")?,
            currency: row.try_get("currency")?,
            form_code: row.try_get("form_code")?,
            invoice_type: row.try_get("invoice_type")?,
            acquisition_date: opt_time("acquisition_date")?,
            invoicing_date: opt_time("invoicing_date")?,
            permanent_storage_date: opt_time("permanent_storage_date")?,
            offline: row.try_get("offline")?,
            status: InvoiceStatus::parse(row.try_get("status")?)?,
            status_code: row.try_get("status_code")?,
            status_description: row.try_get("status_description")?,
            status_details: details
                .map(|d| d.lines().map(str::to_string).collect())
                .unwrap_or_default(),
        },
        sha256,
        size: u64::try_from(row.try_get::<i64, _>("size")?).unwrap_or(0),
        has_upo: row.try_get("has_upo")?,
        recorded_at: parse_time(row.try_get("recorded_at")?)?,
        updated_at: parse_time(row.try_get("updated_at")?)?,
        offline_issue: crate::register_offline::read_offline_issue(row)?,
        kod2_link: row.try_get("kod2_link")?,
        corrects: crate::register_offline::read_correction(row)?,
    })
}

/// A stored `YYYY-MM-DD` (`what` names it in the error).
pub(crate) fn parse_date(text: &str, what: &str) -> Result<Date> {
    Date::parse(
        text,
        time::macros::format_description!("[year]-[month]-[day]"),
    )
    .map_err(|e| StoreError::Corrupt(format!("bad stored {what} {text:?}: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::{date, datetime};

    fn record(n: u32, direction: Direction) -> InvoiceRecord {
        InvoiceRecord {
            direction,
            ksef_number: Some(format!("5265877635-20250826-{n:012X}-AF")),
            invoice_reference: None,
            session_reference: None,
            invoice_number: format!("FV/{n}"),
            issue_date: date!(2025 - 08 - 01) + time::Duration::days(i64::from(n % 28)),
            seller_nip: if n.is_multiple_of(2) {
                "5265877635"
            } else {
                "1111111111"
            }
            .into(),
            seller_name: Some(format!("Sprzedawca {n}")),
            buyer_id_type: "Nip".into(),
            buyer_id: Some("2222222222".into()),
            buyer_name: Some("Nabywca".into()),
            net: Some(10_000 * i64::from(n)),
            vat: Some(2_300 * i64::from(n)),
            gross: Some(12_300 * i64::from(n)),
            currency: if n.is_multiple_of(3) { "EUR" } else { "PLN" }.into(),
            form_code: "FA (3)".into(),
            invoice_type: Some("Vat".into()),
            acquisition_date: Some(datetime!(2025-08-26 10:00 UTC)),
            invoicing_date: Some(datetime!(2025-08-26 09:59 UTC)),
            permanent_storage_date: Some(datetime!(2025-08-26 10:01 UTC)),
            offline: false,
            status: InvoiceStatus::Received,
            status_code: None,
            status_description: None,
            status_details: vec![],
        }
    }

    async fn store() -> (tempfile::TempDir, Store, FirmId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path(), None).await.unwrap();
        let firm = store
            .register_of("http://127.0.0.1:8080/v2/", "Nip:5265877635")
            .await
            .unwrap();
        (dir, store, firm)
    }

    #[tokio::test]
    async fn recording_twice_changes_nothing_and_moves_the_cursor_with_the_batch() {
        let (_dir, store, firm) = store().await;
        assert_eq!(
            store
                .register_of("http://127.0.0.1:8080/v2", "Nip:5265877635")
                .await
                .unwrap(),
            firm
        );
        let other = store
            .register_of("https://api-test.ksef.mf.gov.pl/v2", "Nip:5265877635")
            .await
            .unwrap();
        assert_ne!(
            other, firm,
            "the same NIP on another API is another register"
        );
        let files: Vec<Vec<u8>> = (0..10)
            .map(|n| format!("<Faktura n='{n}'/>").into_bytes())
            .collect();
        let batch: Vec<(InvoiceRecord, &[u8])> = (0..10)
            .map(|n| (record(n, Direction::Purchase), files[n as usize].as_slice()))
            .collect();
        let cursor = CursorUpdate {
            subject_type: "Subject2".into(),
            checkpoint: datetime!(2025-08-26 10:01 +02:00),
        };
        assert_eq!(store.sync_cursor(firm, "Subject2").await.unwrap(), None);
        let c = store
            .record_invoices(firm, &batch, Some(&cursor))
            .await
            .unwrap();
        assert_eq!((c.inserted, c.updated), (10, 0));
        assert_eq!(
            store.sync_cursor(firm, "Subject2").await.unwrap(),
            Some(datetime!(2025-08-26 08:01 UTC))
        );
        let before = store
            .list_invoices(&InvoiceFilter::new(firm), 1, 100)
            .await
            .unwrap();
        let c = store
            .record_invoices(firm, &batch, Some(&cursor))
            .await
            .unwrap();
        assert_eq!((c.inserted, c.updated), (0, 10));
        let after = store
            .list_invoices(&InvoiceFilter::new(firm), 1, 100)
            .await
            .unwrap();
        assert_eq!(before.total, 10);
        assert_eq!(
            before
                .invoices
                .iter()
                .map(|i| (&i.record, i.sha256))
                .collect::<Vec<_>>(),
            after
                .invoices
                .iter()
                .map(|i| (&i.record, i.sha256))
                .collect::<Vec<_>>()
        );
        assert!(
            store
                .list_invoices(&InvoiceFilter::new(other), 1, 10)
                .await
                .unwrap()
                .invoices
                .is_empty()
        );
        // The exact file comes back.
        let key = InvoiceKey::KsefNumber(record(3, Direction::Purchase).ksef_number.unwrap());
        let (inv, bytes) = store.invoice(firm, &key).await.unwrap().unwrap();
        assert_eq!(bytes, files[3]);
        assert_eq!(inv.record.invoice_number, "FV/3");
        // An invoice without any key is refused and nothing of its batch is written.
        let mut bad = record(99, Direction::Purchase);
        bad.ksef_number = None;
        let err = store
            .record_invoices(
                firm,
                &[(record(50, Direction::Purchase), b"x"), (bad, b"y")],
                None,
            )
            .await
            .unwrap_err();
        assert!(
            matches!(err, StoreError::InvoiceUnidentified { .. }),
            "{err:?}"
        );
        assert_eq!(
            store
                .list_invoices(&InvoiceFilter::new(firm), 1, 100)
                .await
                .unwrap()
                .total,
            10
        );
    }

    #[tokio::test]
    async fn a_sale_recorded_on_sending_is_the_row_the_sync_finds() {
        let (_dir, store, firm) = store().await;
        let mut sent = record(1, Direction::Sale);
        sent.invoice_reference = Some("20250826-EE-0000000001-01".into());
        sent.session_reference = Some("20250826-SO-0000000001-01".into());
        sent.status = InvoiceStatus::Accepted;
        sent.status_code = Some(200);
        sent.status_description = Some("Sukces".into());
        sent.acquisition_date = None;
        store
            .record_invoices(firm, &[(sent.clone(), b"<a/>")], None)
            .await
            .unwrap();
        let mut rejected = record(2, Direction::Sale);
        rejected.ksef_number = None;
        rejected.invoice_reference = Some("20250826-EE-0000000002-01".into());
        rejected.status = InvoiceStatus::Rejected;
        rejected.status_code = Some(440);
        rejected.status_description = Some("Duplikat faktury".into());
        rejected.status_details = vec!["Duplikat".into(), "KSeF 1".into()];
        store
            .record_invoices(firm, &[(rejected.clone(), b"<b/>")], None)
            .await
            .unwrap();
        // The sync brings the accepted one back with KSeF's dates.
        let synced = record(1, Direction::Sale);
        let c = store
            .record_invoices(firm, &[(synced, b"<a/>")], None)
            .await
            .unwrap();
        assert_eq!(c.updated, 1);
        let page = store
            .list_invoices(
                &InvoiceFilter {
                    direction: Some(Direction::Sale),
                    ..InvoiceFilter::new(firm)
                },
                1,
                10,
            )
            .await
            .unwrap();
        assert_eq!(page.total, 2);
        let acc = page
            .invoices
            .iter()
            .find(|i| i.record.ksef_number.is_some())
            .unwrap();
        assert_eq!(acc.record.status, InvoiceStatus::Accepted);
        assert_eq!(acc.record.status_code, Some(200));
        assert_eq!(acc.record.session_reference, sent.session_reference);
        assert_eq!(
            acc.record.acquisition_date,
            Some(datetime!(2025-08-26 10:00 UTC))
        );
        let rej = page
            .invoices
            .iter()
            .find(|i| i.record.ksef_number.is_none())
            .unwrap();
        assert_eq!(rej.record, rejected);
        // UPO by KSeF number or by reference.
        let key = InvoiceKey::Reference("20250826-EE-0000000001-01".into());
        assert!(store.attach_upo(firm, &key, b"<UPO/>").await.unwrap());
        assert_eq!(
            store
                .upo(
                    firm,
                    &InvoiceKey::KsefNumber(sent.ksef_number.clone().unwrap())
                )
                .await
                .unwrap()
                .unwrap(),
            b"<UPO/>"
        );
        assert!(
            !store
                .attach_upo(firm, &InvoiceKey::KsefNumber("nope".into()), b"x")
                .await
                .unwrap()
        );
    }

    #[tokio::test]
    async fn filters_pages_and_totals() {
        let (_dir, store, firm) = store().await;
        let files: Vec<Vec<u8>> = (1..=60)
            .map(|n| format!("<F n='{n}'/>").into_bytes())
            .collect();
        let batch: Vec<(InvoiceRecord, &[u8])> = (1..=60u32)
            .map(|n| {
                let d = if n <= 40 {
                    Direction::Purchase
                } else {
                    Direction::Sale
                };
                (record(n, d), files[n as usize - 1].as_slice())
            })
            .collect();
        store.record_invoices(firm, &batch, None).await.unwrap();
        let f = |g: fn(&mut InvoiceFilter)| {
            let mut f = InvoiceFilter::new(firm);
            g(&mut f);
            f
        };
        let purchases = store
            .list_invoices(&f(|f| f.direction = Some(Direction::Purchase)), 2, 15)
            .await
            .unwrap();
        assert_eq!(purchases.total, 40);
        assert_eq!(purchases.invoices.len(), 15);
        let counts: u64 = purchases.totals.iter().map(|t| t.count).sum();
        assert_eq!(counts, 40);
        let eur = purchases
            .totals
            .iter()
            .find(|t| t.currency == "EUR")
            .unwrap();
        let eur_n: Vec<i64> = (1..=40).filter(|n| n % 3 == 0).collect();
        assert_eq!(eur.gross, eur_n.iter().map(|n| 12_300 * n).sum::<i64>());
        // Sorted by issue date, newest first.
        let all = store
            .list_invoices(&InvoiceFilter::new(firm), 1, 60)
            .await
            .unwrap();
        assert!(
            all.invoices
                .windows(2)
                .all(|w| w[0].record.issue_date >= w[1].record.issue_date)
        );
        let seller = store
            .list_invoices(&f(|f| f.seller_nip = Some("5265877635".into())), 1, 100)
            .await
            .unwrap();
        assert_eq!(seller.total, 30);
        let dates = store
            .list_invoices(
                &f(|f| {
                    f.from = Some(date!(2025 - 08 - 05));
                    f.to = Some(date!(2025 - 08 - 06));
                }),
                1,
                100,
            )
            .await
            .unwrap();
        assert!(dates.invoices.iter().all(|i| {
            (date!(2025 - 08 - 05)..=date!(2025 - 08 - 06)).contains(&i.record.issue_date)
        }));
        assert_eq!(dates.total, 5, "n = 4, 5, 32, 33, 60");
        let amounts = store
            .list_invoices(
                &f(|f| {
                    f.min_gross = Some(12_300 * 10);
                    f.max_gross = Some(12_300 * 12);
                }),
                1,
                100,
            )
            .await
            .unwrap();
        assert_eq!(amounts.total, 3);
        let text = store
            .list_invoices(&f(|f| f.text = Some("fv/5".into())), 1, 100)
            .await
            .unwrap();
        assert_eq!(text.total, 11, "FV/5 and FV/50…FV/59, case-insensitive");
        let literal = store
            .list_invoices(&f(|f| f.text = Some("%".into())), 1, 100)
            .await
            .unwrap();
        assert_eq!(
            literal.total, 0,
            "LIKE wildcards in the text match themselves"
        );
        assert!(matches!(
            store.list_invoices(&InvoiceFilter::new(firm), 0, 10).await,
            Err(StoreError::InvalidPage { .. })
        ));
        assert!(matches!(
            store
                .list_invoices(
                    &f(|f| {
                        f.from = Some(date!(2025 - 08 - 06));
                        f.to = Some(date!(2025 - 08 - 05));
                    }),
                    1,
                    10
                )
                .await,
            Err(StoreError::InvalidFilter {
                problem: FilterProblem::DatesReversed
            })
        ));
    }
}
