//! Invoice retrieval (digest §12): download by KSeF number, metadata query, exports.
//!
//! Every endpoint needs `InvoiceRead` in the current context (§7.8; 403 `missing-permissions`
//! otherwise). An invoice is visible to a context when the context's identifier is one of its
//! parties (`invoice_parties`: seller, buyer, third subject, authorised subject).
//!
//! * `GET /invoices/ksef/{ksefNumber}` — the exact stored bytes with `x-ms-meta-hash`.
//! * `POST /invoices/query/metadata` — filters of [`filter`], paging, 10 000-row truncation,
//!   `permanentStorageHwmDate` ([`hwm`]).
//! * `POST /invoices/exports`, `GET /invoices/exports/{ref}` — packages built in the
//!   background ([`export`]); [`resume`] restarts the ones interrupted by a shutdown.

mod export;
mod filter;
mod metadata;

use axum::Router;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use ksef_core::{KsefNumber, Permission};
use ksef_wire as wire;
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult, ForbiddenReason};
use crate::extract::{ApiJson, ApiPath, Bearer, ClientIp};
use crate::jwt::TokenType;
use crate::state::AppState;
use crate::store::{from_ms, ms};
use crate::tokens::Caller;
use ksef_wire::ExceptionCode;

pub use export::resume;

/// Routes under `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/invoices/ksef/{ksefNumber}", get(download))
        .route("/invoices/query/metadata", post(query_metadata))
        .route("/invoices/exports", post(start_export))
        .route("/invoices/exports/{referenceNumber}", get(export_status))
}

/// The permanent-storage high-water mark (digest §12.4): no invoice committed after this call
/// returns can have `permanentStorageDate` ≤ the value.
///
/// Read under [`AppState::storage_writer`], the lock under which commits assign
/// `permanent_storage_ms` from `state.now()` (read after taking the lock). Times are stored at
/// millisecond precision, so a later commit gets at least this call's millisecond; the HWM is
/// one millisecond before it.
pub async fn hwm(state: &AppState) -> OffsetDateTime {
    let _guard = state.storage_writer().lock().await;
    from_ms(ms(state.now()) - 1)
}

/// The caller of a retrieval endpoint: an access token with `InvoiceRead` in its context.
async fn reader(state: &AppState, token: &str, ip: std::net::IpAddr) -> ApiResult<Caller> {
    let s = crate::http::session(state, token, ip, &[TokenType::ContextToken]).await?;
    let caller = s.caller()?;
    if !caller.permissions.contains(Permission::InvoiceRead) {
        return Err(ApiError::forbidden(
            ForbiddenReason::MissingPermissions,
            "Brak wymaganego uprawnienia InvoiceRead w bieżącym kontekście.",
            serde_json::json!({
                "requiredAnyOfPermissions": ["InvoiceRead"],
                "presentPermissions": caller.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            }),
        ));
    }
    Ok(caller)
}

/// The identifier under which the caller's context appears in `invoice_parties`.
fn party_identifier(caller: &Caller) -> &str {
    caller.context.value()
}

/// `GET /invoices/ksef/{ksefNumber}` (§12.1).
async fn download(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiPath(number): ApiPath,
) -> ApiResult<Response> {
    let caller = reader(&state, &token, ip).await?;
    let number: KsefNumber = number
        .parse()
        .map_err(|e| ApiError::validation(format!("ksefNumber: {e}")))?;
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
        None => Err(ApiError::bad(
            ExceptionCode::InvoiceNotFound,
            format!("Faktura o numerze KSeF {number} nie została znaleziona."),
        )),
    }
}

/// `POST /invoices/query/metadata` (§12.2).
async fn query_metadata(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    RawQuery(raw): RawQuery,
    req: Request,
) -> ApiResult<axum::Json<wire::QueryInvoicesMetadataResponse>> {
    let caller = reader(&state, &token, ip).await?;
    let pairs: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let params = wire::InvoiceMetadataQuery::from_query_pairs(
        pairs.iter().map(|(k, v)| (k.as_str(), v.as_str())),
    )
    .map_err(|e| ApiError::validation(e.to_string()))?;
    let ApiJson(body) = ApiJson::<wire::InvoiceQueryFilters>::from_request(req, &state).await?;
    let filter = filter::Filter::from_wire(&body, "", state.now())?;
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
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    req: Request,
) -> ApiResult<Response> {
    let caller = reader(&state, &token, ip).await?;
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
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiPath(reference): ApiPath,
    headers: HeaderMap,
) -> ApiResult<axum::Json<wire::InvoiceExportStatusResponse>> {
    let caller = reader(&state, &token, ip).await?;
    let base = crate::storage::public_base(&state, &headers);
    Ok(axum::Json(
        export::status(&state, &caller, &reference, &base).await?,
    ))
}
