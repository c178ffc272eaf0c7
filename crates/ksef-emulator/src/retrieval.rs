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

mod export;
mod filter;
mod metadata;

use axum::Router;
use axum::extract::{FromRequest, RawQuery, Request, State};
use axum::http::StatusCode;
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

pub use export::{ExportBuilds, resume, stop};

/// Routes under `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/invoices/ksef/{ksefNumber}", get(download))
        .route("/invoices/query/metadata", post(query_metadata))
        .route("/invoices/exports", post(start_export))
        .route("/invoices/exports/{referenceNumber}", get(export_status))
}

/// How far ahead of the last HWM reported the persisted ceiling is set (see [`StorageClock`]):
/// a longer lease means fewer writes, a shorter one less of a jump after a quick restart.
const HWM_LEASE_MS: i64 = 1_000;
/// `settings.name` of the persisted HWM ceiling.
const HWM_CEILING_SETTING: &str = "permanent_storage_hwm_ceiling_ms";

/// The permanent-storage clock behind `permanentStorageDate` and `permanentStorageHwmDate`
/// (digest §12.4), monotonic even when the wall clock steps back.
///
/// * A commit's permanent-storage time is `max(now, acquisition + 1, last permanent + 1,
///   last HWM + 1)`, so it is later than every HWM already reported.
/// * The HWM is `max(now − 1, last HWM, last permanent)`: never lower than one already
///   reported, and (read under [`AppState::storage_writer`], when no commit is in flight)
///   every invoice up to it is already visible.
/// * Across restarts: before an HWM above the persisted ceiling is reported, the ceiling is
///   raised to HWM + `HWM_LEASE_MS` in `settings`; the next start takes the ceiling as the
///   last HWM and `MAX(permanent_storage_ms)` as the last permanent time, so an HWM reported
///   before a restart still bounds the times assigned after it.
#[derive(Debug, Default, Clone)]
pub struct StorageClock {
    last_permanent_ms: i64,
    last_hwm_ms: i64,
    persisted_ceiling_ms: i64,
}

impl StorageClock {
    /// The state kept by a previous process (at start, before serving).
    pub async fn load(pool: &sqlx::SqlitePool) -> Result<Self, sqlx::Error> {
        let max_permanent: Option<i64> =
            sqlx::query_scalar("SELECT MAX(permanent_storage_ms) FROM invoices")
                .fetch_one(pool)
                .await?;
        let ceiling: Option<Vec<u8>> =
            sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
                .bind(HWM_CEILING_SETTING)
                .fetch_optional(pool)
                .await?;
        let ceiling = ceiling
            .and_then(|v| String::from_utf8(v).ok())
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0);
        Ok(Self::new(max_permanent.unwrap_or(0), ceiling))
    }

    /// A clock whose last permanent-storage time and last HWM (the persisted ceiling) are given.
    pub fn new(last_permanent_ms: i64, ceiling_ms: i64) -> Self {
        Self {
            last_permanent_ms,
            last_hwm_ms: ceiling_ms,
            persisted_ceiling_ms: ceiling_ms,
        }
    }

    /// Assigns the permanent-storage time of a commit happening at `now_ms`.
    pub fn next_permanent(&mut self, now_ms: i64, acquisition_ms: i64) -> i64 {
        let t = now_ms
            .max(acquisition_ms.saturating_add(1))
            .max(self.last_permanent_ms.saturating_add(1))
            .max(self.last_hwm_ms.saturating_add(1));
        self.last_permanent_ms = t;
        t
    }

    /// The HWM that may be reported at `now_ms` (not yet recorded; see [`Self::reported`]).
    pub fn hwm_at(&self, now_ms: i64) -> i64 {
        now_ms
            .saturating_sub(1)
            .max(self.last_hwm_ms)
            .max(self.last_permanent_ms)
    }

    /// Records an HWM as reported: later permanent-storage times are above it.
    pub fn reported(&mut self, hwm_ms: i64) {
        self.last_hwm_ms = self.last_hwm_ms.max(hwm_ms);
    }
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
        let next = h.saturating_add(HWM_LEASE_MS);
        sqlx::query(
            "INSERT INTO settings(name, value) VALUES (?, ?) \
             ON CONFLICT(name) DO UPDATE SET value = excluded.value",
        )
        .bind(HWM_CEILING_SETTING)
        .bind(next.to_string().into_bytes())
        .execute(state.pool())
        .await?;
        state.storage_clock().persisted_ceiling_ms = next;
    }
    state.storage_clock().reported(h);
    Ok(from_ms(h))
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
) -> ApiResult<axum::Json<wire::InvoiceExportStatusResponse>> {
    let caller = reader(&state, &token, ip).await?;
    let base = crate::storage::public_base(&state);
    Ok(axum::Json(
        export::status(&state, &caller, &reference, &base).await?,
    ))
}

#[cfg(test)]
mod tests {
    use super::StorageClock;

    #[test]
    fn permanent_times_stay_above_the_hwm_when_the_clock_steps_back() {
        let mut c = StorageClock::new(0, 0);
        assert_eq!(c.next_permanent(1_000, 999), 1_000);
        let h = c.hwm_at(5_000);
        assert_eq!(h, 4_999);
        c.reported(h);
        // The clock steps 3 s back: times continue above the HWM, the HWM does not go back.
        let t = c.next_permanent(2_000, 1_999);
        assert_eq!(t, 5_000);
        assert!(c.hwm_at(2_001) >= t);
        c.reported(c.hwm_at(2_001));
        assert_eq!(c.next_permanent(2_002, 2_001), 5_001);
        // Once the clock has caught up, it is the clock again.
        assert_eq!(c.next_permanent(9_000, 8_000), 9_000);
        // Strictly after the acquisition even when the clock has not moved.
        assert_eq!(c.next_permanent(9_000, 9_000), 9_001);
    }

    #[test]
    fn a_restart_starts_above_the_persisted_ceiling() {
        // Stored invoices up to 4 000, an HWM ceiling of 6 000, the clock now at 3 000.
        let mut c = StorageClock::new(4_000, 6_000);
        assert_eq!(c.hwm_at(3_000), 6_000);
        assert_eq!(c.next_permanent(3_000, 2_999), 6_001);
    }
}
