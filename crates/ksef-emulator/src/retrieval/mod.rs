//! Invoice retrieval (digest §12): download by KSeF number, metadata query, exports.
//!
//! Every endpoint needs `InvoiceRead` in the current context (§7.8; 403 `missing-permissions`
//! otherwise). An invoice is visible to a context when the context's identifier is one of its
//! parties (`invoice_parties`: seller, buyer, third subject, authorised subject).
//!
//! * `GET /invoices/ksef/{ksefNumber}` — the exact stored bytes with `x-ms-meta-hash`.
//! * `POST /invoices/query/metadata` — filters of `filter`, paging, 10 000-row truncation,
//!   `permanentStorageHwmDate` ([`hwm`]).
//! * `POST /invoices/exports`, `GET /invoices/exports/{ref}` — packages built in the
//!   background (`export`); [`resume`] restarts the ones interrupted by a shutdown.
//!
//! For the QR code verification pages: [`invoices_with_hash`] and [`corrections_of`] find
//! stored invoices by the hash of their file.

mod by_hash;
mod export;
mod filter;
mod links;
mod metadata;

use axum::Router;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ksef_core::{KsefNumber, Permission};
use ksef_wire as wire;
use ksef_wire::Operation;
use time::OffsetDateTime;

use crate::auth::{Caller, ContextSession};
use crate::endpoint::{Routes, handle};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::state::AppState;
use crate::store::{from_ms, ms};
use ksef_wire::ExceptionCode;

pub use by_hash::{InvoiceByHash, corrections_of, invoices_with_hash};
pub use export::{resume, stop};
pub use links::export_part_path;
pub(crate) use links::sweep;

/// Routes outside `/v2` owned by this feature: its pre-signed links.
pub fn link_routes() -> Router<AppState> {
    links::routes()
}

/// Routes under `/v2` owned by this module.
pub fn routes() -> Routes {
    vec![
        handle(Operation::DownloadInvoice, download),
        handle(Operation::QueryInvoiceMetadata, query_metadata),
        handle(Operation::ExportInvoices, start_export),
        handle(Operation::ExportStatus, export_status),
    ]
}

/// "Now" for the default end of a date range (`dateRange.to` omitted): the wall clock, but never
/// before a permanent-storage time already assigned or an HWM already reported, so that after
/// the wall clock steps back an open range still reaches every stored invoice and the HWM.
pub fn storage_now(state: &AppState) -> OffsetDateTime {
    let now = ms(state.now());
    let c = state.storage_clock();
    from_ms(now.max(c.last_hwm_ms).max(c.last_permanent_ms))
}

/// The permanent-storage high-water mark (digest §12.4): no invoice committed after this call
/// returns can have `permanentStorageDate` ≤ the value, and no later call returns less.
///
/// Read under [`AppState::storage_writer`], the lock under which commits assign
/// `permanent_storage_ms` ([`AppState::next_permanent_storage_ms`]), so no commit is in flight;
/// see [`StorageClock`] for why it stays true when the wall clock steps back.
pub async fn hwm(state: &AppState) -> ApiResult<OffsetDateTime> {
    let _guard = state.storage_writer().lock().await;
    let now = ms(state.now());
    let (h, ceiling) = {
        let c = state.storage_clock();
        (c.hwm_at(now), c.persisted_ceiling_ms)
    };
    if h > ceiling {
        // Persisted before it is reported, so a restart cannot assign a time below it.
        let next = h.saturating_add(crate::clock::HWM_LEASE_MS);
        sqlx::query(
            "INSERT INTO settings(name, value) VALUES (?, ?) \
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        )
        .bind(crate::clock::HWM_CEILING_SETTING)
        .bind(next.to_string().into_bytes())
        .execute(state.pool())
        .await?;
        state.storage_clock().persisted_ceiling_ms = next;
    }
    state.storage_clock().reported(h);
    Ok(from_ms(h))
}

/// The 403 detail of a retrieval endpoint called without `InvoiceRead`.
const NO_INVOICE_READ: &str = "Brak wymaganego uprawnienia InvoiceRead w bieżącym kontekście.";

/// The identifier under which the caller's context appears in `invoice_parties`.
fn party_identifier(caller: &Caller) -> &str {
    caller.context.value()
}

/// `GET /invoices/ksef/{ksefNumber}` (§12.1).
async fn download(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(number): ApiPath,
) -> ApiResult<Response> {
    let caller = session.require_with(&[Permission::InvoiceRead], NO_INVOICE_READ)?;
    let not_found = |number: &str| {
        ApiError::bad(
            ExceptionCode::InvoiceNotFound,
            format!("Faktura o numerze KSeF {number} nie została znaleziona."),
        )
    };
    // A well-formed number whose CRC is wrong is answered like any unknown invoice (the
    // real service does: 21164); only a malformed number is a validation error.
    let number: KsefNumber = match number.parse() {
        Ok(n) => n,
        Err(ksef_core::IdentifierError::BadChecksum { .. }) => return Err(not_found(&number)),
        Err(e) => return Err(ApiError::validation(format!("ksefNumber: {e}"))),
    };
    let content: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT i.content FROM invoices i WHERE i.ksef_number = ? AND EXISTS ( \
            SELECT 1 FROM invoice_parties p \
            WHERE p.subject_type IN ('Subject1', 'Subject2', 'Subject3', 'SubjectAuthorized') \
              AND p.identifier = ? AND p.ksef_number = i.ksef_number)",
    )
    .bind(number.as_str())
    .bind(party_identifier(&caller))
    .fetch_optional(state.pool())
    .await?;
    match content {
        Some(bytes) => Ok(crate::storage::blob_response(bytes, "application/xml")),
        None => Err(not_found(number.as_str())),
    }
}

/// `POST /invoices/query/metadata` (§12.2).
async fn query_metadata(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryInvoicesMetadataResponse>> {
    let caller = session.require_with(&[Permission::InvoiceRead], NO_INVOICE_READ)?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let params = wire::InvoiceMetadataQuery::from_query_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(|e| ApiError::validation(e.to_string()))?;
    let ApiJson(body) = ApiJson::<wire::InvoiceQueryFilters>::from_request(req, &state).await?;
    let filter = filter::Filter::from_wire(&body, "", storage_now(&state))?;
    let page = metadata::Page {
        offset: i64::from(params.page_offset.unwrap_or(0)),
        size: i64::from(params.page_size.unwrap_or(10)),
        descending: params.sort_order == Some(wire::SortOrder::Desc),
    };
    let out = metadata::query(&state, party_identifier(&caller), &filter, &page).await?;
    Ok(axum::Json(out))
}

/// `POST /invoices/exports` (§12.3) → 201.
async fn start_export(
    State(state): State<AppState>,
    session: ContextSession,
    req: Request,
) -> ApiResult<Response> {
    let caller = session.require_with(&[Permission::InvoiceRead], NO_INVOICE_READ)?;
    let ApiJson(body) = ApiJson::<wire::InvoiceExportRequest>::from_request(req, &state).await?;
    let reference = export::start(&state, &caller, &body).await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(wire::ExportInvoicesResponse {
            reference_number: reference,
        }),
    )
        .into_response())
}

/// `GET /invoices/exports/{referenceNumber}` (§12.3).
async fn export_status(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<axum::Json<wire::InvoiceExportStatusResponse>> {
    let caller = session.require_with(&[Permission::InvoiceRead], NO_INVOICE_READ)?;
    let base = crate::storage::public_base(&state);
    Ok(axum::Json(
        export::status(&state, &caller, &reference, &base).await?,
    ))
}
