//! Session reads (digest §10): `GET /sessions`, `/sessions/{ref}`, its invoices (all, failed,
//! one), per-invoice UPO (by invoice reference and by KSeF number) and the session UPO. The
//! `downloadUrl`/`upoDownloadUrl` links are pre-signed anew on every call.

use std::collections::BTreeMap;

use axum::extract::{RawQuery, State};
use axum::http::HeaderMap;
use axum::response::Response;
use ksef_core::Permission;
use ksef_wire as wire;
use sqlx::sqlite::SqliteRow;
use sqlx::{QueryBuilder, Row, Sqlite};

use super::model::{self, Kind, SessionRow};
use super::{LIST, READ};
use crate::auth::ContextSession;
use crate::error::{ApiError, ApiResult};
use crate::extract::{
    decode_continuation, encode_continuation, invalid_continuation, next_continuation, page_size,
};
use crate::state::AppState;
use crate::storage;
use crate::store::{from_ms, ms};
use ksef_wire::ExceptionCode;

fn pairs(raw: Option<&str>) -> Vec<(String, String)> {
    form_urlencoded::parse(raw.unwrap_or("").as_bytes())
        .into_owned()
        .collect()
}

fn status_info(s: &SessionRow) -> wire::StatusInfo {
    wire::StatusInfo {
        code: i32::try_from(s.status_code).unwrap_or(500),
        description: s.status_description.clone(),
        details: (!s.status_details.is_empty()).then(|| s.status_details.clone()),
    }
}

fn count(v: i64) -> u32 {
    u32::try_from(v).unwrap_or(0)
}

/// `GET /sessions?sessionType=…` (header-paginated, newest first).
pub async fn list_sessions(
    State(state): State<AppState>,
    auth: ContextSession,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::SessionsQueryResponse>> {
    let who = auth.require(LIST)?;
    let p = pairs(raw.as_deref());
    let q = wire::SessionsQuery::from_query_pairs(p.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let size = q.page_size.map_or(10, |n| n as usize);
    let offset = decode_continuation(&headers)?;
    model::expire_due(&state, None).await?;

    let caller = &who;
    let mut qb = QueryBuilder::<Sqlite>::new(format!(
        "SELECT {}, \
         (SELECT COUNT(*) FROM session_invoices si WHERE si.session_ref = s.reference_number) AS total, \
         (SELECT COUNT(*) FROM session_invoices si WHERE si.session_ref = s.reference_number AND si.status_code = 200) AS ok, \
         (SELECT COUNT(*) FROM session_invoices si WHERE si.session_ref = s.reference_number AND si.status_code >= 300) AS failed \
         FROM sessions s WHERE s.context_type = ",
        model::SESSION_COLUMNS
    ));
    qb.push_bind(caller.context.kind().as_str())
        .push(" AND s.context_value = ")
        .push_bind(caller.context.value().to_string())
        .push(" AND s.session_type = ")
        .push_bind(q.session_type.as_str());
    // InvoiceWrite alone: only the sessions the caller opened (§7.8).
    let sees_all = caller.permissions.contains(Permission::Introspection)
        || caller
            .permissions
            .contains(Permission::EnforcementOperations);
    if !sees_all {
        qb.push(" AND s.subject_type = ")
            .push_bind(caller.subject.kind().as_str())
            .push(" AND s.subject_value = ")
            .push_bind(caller.subject.value().to_string());
    }
    if let Some(r) = &q.reference_number {
        qb.push(" AND s.reference_number = ").push_bind(r.clone());
    }
    let ranges = [
        ("s.created_ms", q.date_created_from, q.date_created_to),
        ("s.closed_ms", q.date_closed_from, q.date_closed_to),
        ("s.updated_ms", q.date_modified_from, q.date_modified_to),
    ];
    for (col, from, to) in ranges {
        if let Some(f) = from {
            qb.push(format!(" AND {col} >= ")).push_bind(ms(f));
        }
        if let Some(t) = to {
            qb.push(format!(" AND {col} <= ")).push_bind(ms(t));
        }
    }
    if !q.statuses.is_empty() {
        let conds: Vec<&str> = q
            .statuses
            .iter()
            .map(|s| match s {
                wire::CommonSessionStatus::InProgress => "s.status_code IN (100, 150, 170)",
                wire::CommonSessionStatus::Succeeded => "s.status_code = 200",
                wire::CommonSessionStatus::Cancelled => "s.status_code = 440",
                wire::CommonSessionStatus::Failed => {
                    "s.status_code NOT IN (100, 150, 170, 200, 440)"
                }
            })
            .collect();
        qb.push(format!(" AND ({})", conds.join(" OR ")));
    }
    qb.push(" ORDER BY s.created_ms DESC, s.reference_number DESC LIMIT ")
        .push_bind(i64::try_from(size + 1).unwrap_or(i64::MAX))
        .push(" OFFSET ")
        .push_bind(i64::try_from(offset).map_err(|_| invalid_continuation())?);
    let rows = qb.build().fetch_all(state.pool()).await?;
    let more = rows.len() > size;
    let mut sessions = Vec::new();
    for r in rows.iter().take(size) {
        let s = SessionRow::from_row(r)?;
        sessions.push(wire::SessionsQueryResponseItem {
            reference_number: s.reference.clone(),
            status: status_info(&s),
            date_created: from_ms(s.created_ms),
            date_updated: from_ms(s.updated_ms),
            valid_until: Some(from_ms(s.valid_until_ms)),
            total_invoice_count: count(r.get("total")),
            successful_invoice_count: count(r.get("ok")),
            failed_invoice_count: count(r.get("failed")),
        });
    }
    Ok(axum::Json(wire::SessionsQueryResponse {
        continuation_token: more.then(|| next_continuation(offset, size)).flatten(),
        sessions,
    }))
}

/// `GET /sessions/{ref}`.
pub async fn session_status(
    State(state): State<AppState>,
    auth: ContextSession,
    axum::extract::Path(reference): axum::extract::Path<String>,
) -> ApiResult<axum::Json<wire::SessionStatusResponse>> {
    let who = auth.require(READ)?;
    let s = model::load_visible(&state, &who, &reference, None).await?;
    let (total, ok, failed) = super::engine::counts(&state, &s.reference).await?;
    let upo = match &s.upo_reference {
        Some(upo_ref) if s.status_code == 200 => {
            let base = storage::public_base(&state);
            let (url, expires) = storage::presign(
                &state,
                &base,
                "GET",
                &format!("upo/session/{}/{upo_ref}", s.reference),
                state.config().download_link_lifetime,
            );
            Some(wire::UpoResponse {
                pages: vec![wire::UpoPageResponse {
                    reference_number: upo_ref.clone(),
                    download_url: url,
                    download_url_expiration_date: expires,
                }],
            })
        }
        _ => None,
    };
    // A batch session has no invoice counts until its package has been processed.
    let counts_known = s.kind == Kind::Online || s.status_code >= 200;
    Ok(axum::Json(wire::SessionStatusResponse {
        status: status_info(&s),
        date_created: from_ms(s.created_ms),
        date_updated: from_ms(s.updated_ms),
        valid_until: (s.status_code == 100).then(|| from_ms(s.valid_until_ms)),
        upo,
        invoice_count: counts_known.then(|| count(total)),
        successful_invoice_count: counts_known.then(|| count(ok)),
        failed_invoice_count: counts_known.then(|| count(failed)),
    }))
}

const INVOICE_COLUMNS: &str = "reference_number, ordinal, file_name, invoice_hash, offline_mode, \
     status_code, status_description, status_details, status_extensions, invoice_number, ksef_number, \
     invoicing_ms, acquisition_ms, permanent_storage_ms";

fn invoice_item(state: &AppState, base: &str, r: &SqliteRow) -> wire::SessionInvoiceStatusResponse {
    let code: i64 = r.get("status_code");
    let reference: String = r.get("reference_number");
    let details: Vec<String> =
        serde_json::from_str(&r.get::<String, _>("status_details")).unwrap_or_default();
    let extensions: Option<BTreeMap<String, String>> = r
        .get::<Option<String>, _>("status_extensions")
        .and_then(|e| serde_json::from_str(&e).ok());
    let (upo_url, upo_expires) = if code == 200 {
        let (u, e) = storage::presign(
            state,
            base,
            "GET",
            &format!("upo/invoice/{reference}"),
            state.config().download_link_lifetime,
        );
        (Some(u), Some(e))
    } else {
        (None, None)
    };
    wire::SessionInvoiceStatusResponse {
        ordinal_number: u32::try_from(r.get::<i64, _>("ordinal")).unwrap_or(0),
        invoice_number: r.get("invoice_number"),
        ksef_number: r.get("ksef_number"),
        invoice_hash: r.get("invoice_hash"),
        invoice_file_name: r
            .get::<Option<String>, _>("file_name")
            .map(|n| n.chars().take(128).collect()),
        acquisition_date: r.get::<Option<i64>, _>("acquisition_ms").map(from_ms),
        invoicing_date: from_ms(r.get("invoicing_ms")),
        permanent_storage_date: r.get::<Option<i64>, _>("permanent_storage_ms").map(from_ms),
        upo_download_url: upo_url,
        upo_download_url_expiration_date: upo_expires,
        invoicing_mode: Some(
            if r.get::<i64, _>("offline_mode") != 0 {
                wire::InvoicingMode::Offline
            } else {
                wire::InvoicingMode::Online
            }
            .into(),
        ),
        status: wire::InvoiceStatusInfo {
            code: i32::try_from(code).unwrap_or(500),
            description: r.get("status_description"),
            details: (!details.is_empty()).then_some(details),
            extensions,
        },
        reference_number: reference,
    }
}

async fn invoice_page(
    state: AppState,
    auth: ContextSession,
    reference: String,
    raw: Option<String>,
    headers: HeaderMap,
    failed_only: bool,
) -> ApiResult<axum::Json<wire::SessionInvoicesResponse>> {
    let who = auth.require(READ)?;
    let p = pairs(raw.as_deref());
    let size = page_size(
        p.iter()
            .rev()
            .find(|(k, _)| k == "pageSize")
            .map(|(_, v)| v.as_str()),
        10,
        1000,
        10,
    )?;
    // The continuation token carries the last ordinal returned (keyset pagination).
    let after = decode_continuation(&headers)?;
    let s = model::load_visible(&state, &who, &reference, None).await?;
    let filter = if failed_only {
        " AND status_code >= 300"
    } else {
        ""
    };
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM session_invoices WHERE session_ref = ? AND ordinal > ?{filter} \
         ORDER BY ordinal LIMIT ?"
    );
    let rows = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&s.reference)
        .bind(i64::try_from(after).map_err(|_| invalid_continuation())?)
        .bind(i64::try_from(size + 1).unwrap_or(i64::MAX))
        .fetch_all(state.pool())
        .await?;
    let more = rows.len() > size;
    let base = storage::public_base(&state);
    let invoices: Vec<_> = rows
        .iter()
        .take(size)
        .map(|r| invoice_item(&state, &base, r))
        .collect();
    let continuation_token = if more {
        invoices
            .last()
            .map(|i| encode_continuation(i.ordinal_number))
    } else {
        None
    };
    Ok(axum::Json(wire::SessionInvoicesResponse {
        continuation_token,
        invoices,
    }))
}

/// `GET /sessions/{ref}/invoices`.
pub async fn session_invoices(
    State(state): State<AppState>,
    auth: ContextSession,
    axum::extract::Path(reference): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::SessionInvoicesResponse>> {
    invoice_page(state, auth, reference, raw, headers, false).await
}

/// `GET /sessions/{ref}/invoices/failed`.
pub async fn failed_invoices(
    State(state): State<AppState>,
    auth: ContextSession,
    axum::extract::Path(reference): axum::extract::Path<String>,
    RawQuery(raw): RawQuery,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::SessionInvoicesResponse>> {
    invoice_page(state, auth, reference, raw, headers, true).await
}

/// `GET /sessions/{ref}/invoices/{invoiceRef}`.
pub async fn session_invoice(
    State(state): State<AppState>,
    auth: ContextSession,
    axum::extract::Path((reference, invoice)): axum::extract::Path<(String, String)>,
) -> ApiResult<axum::Json<wire::SessionInvoiceStatusResponse>> {
    let who = auth.require(READ)?;
    let s = model::load_visible(&state, &who, &reference, None).await?;
    let sql = format!(
        "SELECT {INVOICE_COLUMNS} FROM session_invoices WHERE reference_number = ? AND session_ref = ?"
    );
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(&invoice)
        .bind(&s.reference)
        .fetch_optional(state.pool())
        .await?
        .ok_or_else(|| {
            ApiError::validation(format!(
                "Faktura o numerze referencyjnym {invoice} nie została znaleziona w sesji {reference}."
            ))
        })?;
    let base = storage::public_base(&state);
    Ok(axum::Json(invoice_item(&state, &base, &row)))
}

fn upo_not_found(detail: String) -> ApiError {
    ApiError::bad(ExceptionCode::UpoNotFound, detail)
}

/// How a UPO request names the invoice.
enum InvoiceKey {
    Reference,
    KsefNumber,
}

/// The UPO of an invoice of `session`, named by its reference or KSeF number; `None` when the
/// session has no such invoice or the invoice has no UPO.
async fn invoice_upo_in_session(
    state: &AppState,
    session: &str,
    key: InvoiceKey,
    value: &str,
) -> ApiResult<Option<Vec<u8>>> {
    let sql = match key {
        InvoiceKey::Reference => {
            "SELECT reference_number FROM session_invoices WHERE reference_number = ? AND session_ref = ?"
        }
        InvoiceKey::KsefNumber => {
            "SELECT reference_number FROM session_invoices WHERE ksef_number = ? AND session_ref = ?"
        }
    };
    let invoice: Option<String> = sqlx::query_scalar(sql)
        .bind(value)
        .bind(session)
        .fetch_optional(state.pool())
        .await?;
    match invoice {
        Some(i) => super::upo::invoice_document(state, &i).await,
        None => Ok(None),
    }
}

/// `GET /sessions/{ref}/invoices/{invoiceRef}/upo` → application/xml + `x-ms-meta-hash`.
pub async fn invoice_upo_by_reference(
    State(state): State<AppState>,
    auth: ContextSession,
    axum::extract::Path((reference, invoice)): axum::extract::Path<(String, String)>,
) -> ApiResult<Response> {
    let who = auth.require(READ)?;
    let s = model::load_visible(&state, &who, &reference, None).await?;
    let doc = invoice_upo_in_session(&state, &s.reference, InvoiceKey::Reference, &invoice).await?;
    doc.map(|xml| storage::blob_response(xml, "application/xml"))
        .ok_or_else(|| {
            upo_not_found(format!(
                "UPO faktury o numerze referencyjnym {invoice} w sesji {reference} nie zostało znalezione."
            ))
        })
}

/// `GET /sessions/{ref}/invoices/ksef/{ksefNumber}/upo`.
pub async fn invoice_upo_by_ksef_number(
    State(state): State<AppState>,
    auth: ContextSession,
    axum::extract::Path((reference, ksef)): axum::extract::Path<(String, String)>,
) -> ApiResult<Response> {
    let who = auth.require(READ)?;
    let s = model::load_visible(&state, &who, &reference, None).await?;
    let doc = invoice_upo_in_session(&state, &s.reference, InvoiceKey::KsefNumber, &ksef).await?;
    doc.map(|xml| storage::blob_response(xml, "application/xml"))
        .ok_or_else(|| {
            upo_not_found(format!(
                "UPO o numerze KSeF {ksef} i numerze referencyjnym sesji {reference} nie zostało znalezione."
            ))
        })
}

/// `GET /sessions/{ref}/upo/{upoRef}`.
pub async fn session_upo(
    State(state): State<AppState>,
    auth: ContextSession,
    axum::extract::Path((reference, upo)): axum::extract::Path<(String, String)>,
) -> ApiResult<Response> {
    let who = auth.require(READ)?;
    let s = model::load_visible(&state, &who, &reference, None).await?;
    match super::upo::session_document(&state, &s.reference, &upo).await? {
        Some(xml) => Ok(storage::blob_response(xml, "application/xml")),
        None => Err(upo_not_found(format!(
            "UPO o numerze referencyjnym {upo} dla sesji {reference} nie zostało znalezione."
        ))),
    }
}
