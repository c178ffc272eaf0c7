//! Stored invoices found by the SHA-256 of their file: the invoice itself (`invoice_hash`) or
//! the technical correction that replaced a rejected offline invoice
//! (`hash_of_corrected_invoice`, digest §13.1). For the KOD I verification pages; no caller
//! permission is involved, so only what those pages may show is read.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::qr::InvoiceHash;
use ksef_core::{KsefNumber, Nip};
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::{Date, OffsetDateTime};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::from_ms;

/// What the verification of an invoice's code may learn about a stored invoice.
#[derive(Debug, Clone)]
pub struct InvoiceByHash {
    pub ksef_number: KsefNumber,
    /// `Podmiot1` NIP.
    pub seller_nip: Nip,
    /// `P_1`.
    pub issue_date: Date,
    /// When KSeF assigned the KSeF number (`acquisitionDate`).
    pub acquired: OffsetDateTime,
}

const COLUMNS: &str = "ksef_number, seller_nip, issue_date, acquisition_ms";

/// Accepted invoices whose file hashes to `hash` (at most a few: the same file cannot be
/// accepted twice, being a duplicate of itself).
pub async fn invoices_with_hash(
    state: &AppState,
    hash: &InvoiceHash,
) -> ApiResult<Vec<InvoiceByHash>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE invoice_hash = ? ORDER BY acquisition_ms LIMIT 16"
    )))
    .bind(STANDARD.encode(hash.as_bytes()))
    .fetch_all(state.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// Accepted technical corrections of the invoice whose file hashed to `hash` (one per original
/// and context: 21166 refuses a second).
pub async fn corrections_of(state: &AppState, hash: &InvoiceHash) -> ApiResult<Vec<InvoiceByHash>> {
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM invoices WHERE hash_of_corrected_invoice = ? \
         ORDER BY acquisition_ms LIMIT 16"
    )))
    .bind(STANDARD.encode(hash.as_bytes()))
    .fetch_all(state.pool())
    .await?;
    rows.iter().map(from_row).collect()
}

/// A stored value that does not parse is an emulator bug (500), named with its KSeF number.
fn from_row(r: &SqliteRow) -> ApiResult<InvoiceByHash> {
    let number: String = r.try_get("ksef_number")?;
    let bad = |col: &str, e: &dyn std::fmt::Display| {
        ApiError::internal(format!("invoice {number}, {col}: {e}"))
    };
    let seller: String = r.try_get("seller_nip")?;
    let issue: String = r.try_get("issue_date")?;
    Ok(InvoiceByHash {
        ksef_number: number.parse().map_err(|e| bad("ksef_number", &e))?,
        seller_nip: seller.parse().map_err(|e| bad("seller_nip", &e))?,
        issue_date: ksef_wire::ksef_time::date::parse(&issue).map_err(|e| bad("issue_date", &e))?,
        acquired: from_ms(r.try_get("acquisition_ms")?),
    })
}
