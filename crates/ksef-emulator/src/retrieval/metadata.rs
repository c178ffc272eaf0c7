//! Rows of the `invoices` table as `InvoiceMetadata` (digest §12.2), and the paged metadata
//! query with its 10 000-row truncation.

use ksef_wire as wire;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use super::filter::{DateType, Filter, MAX_RESULTS};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{from_ms, ms};
use ksef_wire::ExceptionCode;

/// The `invoices` columns [`from_row`] reads (everything but the content).
pub const COLUMNS: &str = "i.ksef_number, i.invoice_number, i.issue_date, i.invoicing_ms, \
     i.acquisition_ms, i.permanent_storage_ms, i.seller_nip, i.seller_name, i.buyer_id_type, \
     i.buyer_id_value, i.buyer_name, i.net_amount, i.gross_amount, i.vat_amount, i.currency, \
     i.invoicing_mode, i.invoice_type, i.form_system_code, i.form_schema_version, i.form_value, \
     i.is_self_invoicing, i.has_attachment, i.invoice_hash, i.hash_of_corrected_invoice, \
     i.third_subjects, i.authorized_subject, i.invoice_size";

/// One stored invoice's metadata. A malformed stored value is an emulator bug, reported
/// with the KSeF number and column.
pub fn from_row(r: &SqliteRow) -> Result<wire::InvoiceMetadata, String> {
    let ksef_number: String = r.try_get("ksef_number").map_err(|e| e.to_string())?;
    let bad = |col: &str, e: &dyn std::fmt::Display| format!("invoice {ksef_number}, {col}: {e}");
    let get_s = |col: &str| r.try_get::<String, _>(col).map_err(|e| bad(col, &e));
    let get_os = |col: &str| {
        r.try_get::<Option<String>, _>(col)
            .map_err(|e| bad(col, &e))
    };
    let get_i = |col: &str| r.try_get::<i64, _>(col).map_err(|e| bad(col, &e));
    let get_f = |col: &str| {
        r.try_get::<Option<f64>, _>(col)
            .map(|v| v.unwrap_or(0.0))
            .map_err(|e| bad(col, &e))
    };
    let issue_date =
        wire::ksef_time::date::parse(&get_s("issue_date")?).map_err(|e| bad("issue_date", &e))?;
    let third_subjects: Vec<wire::InvoiceMetadataThirdSubject> =
        serde_json::from_str(&get_s("third_subjects")?).map_err(|e| bad("third_subjects", &e))?;
    let authorized_subject = match get_os("authorized_subject")? {
        Some(j) if !j.trim().is_empty() && j.trim() != "null" => {
            Some(serde_json::from_str(&j).map_err(|e| bad("authorized_subject", &e))?)
        }
        _ => None,
    };
    Ok(wire::InvoiceMetadata {
        invoice_number: get_s("invoice_number")?,
        issue_date,
        invoicing_date: from_ms(get_i("invoicing_ms")?),
        acquisition_date: from_ms(get_i("acquisition_ms")?),
        permanent_storage_date: from_ms(get_i("permanent_storage_ms")?),
        seller: wire::InvoiceMetadataSeller {
            nip: get_s("seller_nip")?,
            name: get_os("seller_name")?,
        },
        buyer: wire::InvoiceMetadataBuyer {
            identifier: wire::InvoiceMetadataBuyerIdentifier {
                r#type: wire::OpenEnum::from_wire(&get_s("buyer_id_type")?),
                value: get_os("buyer_id_value")?,
            },
            name: get_os("buyer_name")?,
        },
        net_amount: get_f("net_amount")?,
        gross_amount: get_f("gross_amount")?,
        vat_amount: get_f("vat_amount")?,
        currency: get_s("currency")?,
        invoicing_mode: wire::OpenEnum::from_wire(&get_s("invoicing_mode")?),
        invoice_type: wire::OpenEnum::from_wire(&get_s("invoice_type")?),
        form_code: wire::FormCode::new(
            get_s("form_system_code")?,
            get_s("form_schema_version")?,
            get_s("form_value")?,
        ),
        is_self_invoicing: get_i("is_self_invoicing")? != 0,
        has_attachment: get_i("has_attachment")? != 0,
        invoice_hash: get_s("invoice_hash")?,
        hash_of_corrected_invoice: get_os("hash_of_corrected_invoice")?,
        third_subjects: Some(third_subjects),
        authorized_subject,
        ksef_number,
    })
}

/// One page of `POST /invoices/query/metadata`.
pub struct Page {
    /// 0-based page index.
    pub offset: i64,
    /// 10–250.
    pub size: i64,
    pub descending: bool,
}

/// Runs the metadata query for the caller's identifier (digest §12.2).
pub async fn query(
    state: &AppState,
    identifier: &str,
    filter: &Filter,
    page: &Page,
) -> ApiResult<wire::QueryInvoicesMetadataResponse> {
    let (hwm, upper) = if filter.date_type == DateType::PermanentStorage {
        let h = super::hwm(state).await?;
        if filter.restricts_to_hwm() && filter.from_ms > ms(h) {
            return Err(ApiError::bad(
                ExceptionCode::DateRangeBeyondHwm,
                "Parametr dateRange.from jest późniejszy niż PermanentStorageHwmDate przy włączonym restrictToPermanentStorageHwmDate.",
            ));
        }
        let upper = if filter.restricts_to_hwm() {
            ms(h)
        } else {
            i64::MAX
        };
        (Some(h), upper)
    } else {
        (None, i64::MAX)
    };

    // How many rows match, counted up to one past the cap.
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT COUNT(*) FROM (SELECT 1");
    filter.push_from_where(&mut qb, identifier, upper);
    qb.push(" LIMIT ");
    qb.push_bind(MAX_RESULTS + 1);
    qb.push(")");
    let total: i64 = qb.build_query_scalar().fetch_one(state.pool()).await?;

    let accessible = total.min(MAX_RESULTS);
    let start = page.offset.saturating_mul(page.size);
    let end = start.saturating_add(page.size).min(accessible);
    let mut invoices = Vec::new();
    if start < end {
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS}"));
        filter.push_from_where(&mut qb, identifier, upper);
        filter.push_order(&mut qb, page.descending);
        qb.push(" LIMIT ");
        qb.push_bind(end - start);
        qb.push(" OFFSET ");
        qb.push_bind(start);
        for row in qb.build().fetch_all(state.pool()).await? {
            invoices.push(from_row(&row).map_err(ApiError::internal)?);
        }
    }
    let has_more = if start < accessible {
        total > end
    } else {
        total > MAX_RESULTS
    };
    let is_truncated = total > MAX_RESULTS && start.saturating_add(page.size) >= MAX_RESULTS;
    // For PermanentStorage: the HWM, or the (earlier) end of the requested range — everything
    // up to it is final, and the value stays the same for every page of a past range.
    let permanent_storage_hwm_date = hwm.map(|h| min_time(h, from_ms(filter.to_ms)));
    Ok(wire::QueryInvoicesMetadataResponse {
        has_more,
        is_truncated,
        permanent_storage_hwm_date,
        invoices,
    })
}

fn min_time(a: OffsetDateTime, b: OffsetDateTime) -> OffsetDateTime {
    if a <= b { a } else { b }
}
