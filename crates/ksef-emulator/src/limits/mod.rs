//! Limits (digest §15): context session limits, subject certificate limits and API rate limits.
//!
//! Endpoints (all require an access token, no permission; 401/403 as every protected endpoint):
//! - `GET /limits/context`: the effective session limits of the caller's context;
//! - `GET /limits/subject`: the effective certificate limits of the caller's subject;
//! - `GET /rate-limits`: the effective API rate limits of the caller's context;
//! - `POST`/`DELETE /testdata/limits/context/session`: override / restore the session limits of
//!   the caller's context (bounds of §15.3, 400/21405 outside them);
//! - `POST`/`DELETE /testdata/limits/subject/certificate`: override / restore the certificate
//!   limits of the caller's subject;
//! - `POST /testdata/rate-limits`, `DELETE /testdata/rate-limits`,
//!   `POST /testdata/rate-limits/production`: rate limits of the caller's context.
//!
//! Session and subject overrides are stored in the `settings` table (they survive restarts);
//! the session limits are read by the session code ([`session_limits`]): the invoice size
//! rules (430) and the invoice count (online 21155, batch 420). The defaults are the
//! documented values (1 MB, 3 MB; `maxInvoices` = [`crate::EmulatorConfig::session_invoice_limit`],
//! 10 000 by default).

pub(crate) mod rate;

pub(crate) use rate::rate_limit;

use axum::extract::State;
use axum::http::StatusCode;
use ksef_wire as wire;
use ksef_wire::{
    EffectiveApiRateLimitValues, EffectiveApiRateLimits, EffectiveContextLimits,
    EffectiveSubjectLimits, SessionContextLimits,
};
use ksef_wire::{Operation, Validate};

use crate::auth::ContextSession;
use crate::endpoint::{Routes, handle};
use crate::error::{ApiError, ApiResult};
use crate::extract::ApiJson;
use crate::state::AppState;
use rate::claims_context;

/// Routes under `/v2` owned by this module.
pub fn routes() -> Routes {
    vec![
        handle(Operation::ContextLimits, get_context_limits),
        handle(Operation::SubjectLimits, get_subject_limits),
        handle(Operation::RateLimits, get_rate_limits),
        handle(Operation::TestDataSetSessionLimits, set_context_limits),
        handle(Operation::TestDataResetSessionLimits, reset_context_limits),
        handle(Operation::TestDataSetCertificateLimits, set_subject_limits),
        handle(
            Operation::TestDataResetCertificateLimits,
            reset_subject_limits,
        ),
        handle(Operation::TestDataSetRateLimits, set_rate_limits),
        handle(Operation::TestDataResetRateLimits, reset_rate_limits),
        handle(
            Operation::TestDataSetProductionRateLimits,
            set_production_rate_limits,
        ),
    ]
}

// ---------------------------------------------------------------- handlers

/// `Type:value` of the caller's context, as sessions store it.
fn context_key(s: &ContextSession) -> ApiResult<String> {
    let c = s.caller()?;
    Ok(format!(
        "{}:{}",
        c.context.kind().as_str(),
        c.context.value()
    ))
}

async fn get_context_limits(
    State(state): State<AppState>,
    s: ContextSession,
) -> ApiResult<axum::Json<EffectiveContextLimits>> {
    Ok(axum::Json(context_limits(&state, &context_key(&s)?).await?))
}

async fn set_context_limits(
    State(state): State<AppState>,
    s: ContextSession,
    ApiJson(req): ApiJson<wire::SetSessionLimitsRequest>,
) -> ApiResult<StatusCode> {
    req.validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let limits = EffectiveContextLimits {
        online_session: req.online_session,
        batch_session: req.batch_session,
    };
    put_setting(&state, &context_setting(&context_key(&s)?), &limits).await?;
    Ok(StatusCode::OK)
}

async fn reset_context_limits(
    State(state): State<AppState>,
    s: ContextSession,
) -> ApiResult<StatusCode> {
    delete_setting(&state, &context_setting(&context_key(&s)?)).await?;
    Ok(StatusCode::OK)
}

async fn get_subject_limits(
    State(state): State<AppState>,
    s: ContextSession,
) -> ApiResult<axum::Json<EffectiveSubjectLimits>> {
    let key = subject_setting(&s)?;
    Ok(axum::Json(
        get_setting(&state, &key).await?.unwrap_or_default(),
    ))
}

async fn set_subject_limits(
    State(state): State<AppState>,
    s: ContextSession,
    ApiJson(req): ApiJson<wire::SetSubjectLimitsRequest>,
) -> ApiResult<StatusCode> {
    req.validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let limits = subject_override(&req);
    put_setting(&state, &subject_setting(&s)?, &limits).await?;
    Ok(StatusCode::OK)
}

async fn reset_subject_limits(
    State(state): State<AppState>,
    s: ContextSession,
) -> ApiResult<StatusCode> {
    delete_setting(&state, &subject_setting(&s)?).await?;
    Ok(StatusCode::OK)
}

async fn get_rate_limits(
    State(state): State<AppState>,
    s: ContextSession,
) -> ApiResult<axum::Json<EffectiveApiRateLimits>> {
    Ok(axum::Json(
        state.rate_limits().effective(&claims_context(&s.claims)),
    ))
}

async fn set_rate_limits(
    State(state): State<AppState>,
    s: ContextSession,
    ApiJson(req): ApiJson<wire::SetRateLimitsRequest>,
) -> ApiResult<StatusCode> {
    validate_rate_limits(&req.rate_limits)?;
    state
        .rate_limits()
        .set_override(&claims_context(&s.claims), req.rate_limits);
    Ok(StatusCode::OK)
}

async fn reset_rate_limits(
    State(state): State<AppState>,
    s: ContextSession,
) -> ApiResult<StatusCode> {
    state
        .rate_limits()
        .clear_override(&claims_context(&s.claims));
    Ok(StatusCode::OK)
}

async fn set_production_rate_limits(
    State(state): State<AppState>,
    s: ContextSession,
) -> ApiResult<StatusCode> {
    state.rate_limits().set_override(
        &claims_context(&s.claims),
        EffectiveApiRateLimits::PRODUCTION,
    );
    Ok(StatusCode::OK)
}

// ---------------------------------------------------------------- session and subject limits

fn context_setting(context: &str) -> String {
    format!("limits.context_session:{context}")
}

fn subject_setting(s: &ContextSession) -> ApiResult<String> {
    let c = s.caller()?;
    Ok(format!(
        "limits.subject_certificate:{}:{}",
        c.subject.kind().as_str(),
        c.subject.value()
    ))
}

async fn get_setting<T: serde::de::DeserializeOwned>(
    state: &AppState,
    name: &str,
) -> ApiResult<Option<T>> {
    let v: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
        .bind(name)
        .fetch_optional(state.pool())
        .await?;
    // An unreadable stored value (e.g. written by another version) counts as no override.
    Ok(v.and_then(|v| serde_json::from_slice(&v).ok()))
}

async fn put_setting<T: serde::Serialize>(
    state: &AppState,
    name: &str,
    value: &T,
) -> ApiResult<()> {
    let bytes = serde_json::to_vec(value).map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO settings(name, value) VALUES (?, ?) \
         ON CONFLICT(name) DO UPDATE SET value = excluded.value",
    )
    .bind(name)
    .bind(bytes)
    .execute(state.pool())
    .await?;
    Ok(())
}

async fn delete_setting(state: &AppState, name: &str) -> ApiResult<()> {
    sqlx::query("DELETE FROM settings WHERE name = ?")
        .bind(name)
        .execute(state.pool())
        .await?;
    Ok(())
}

/// The defaults: the documented values, `maxInvoices` from the configuration.
fn default_context_limits(state: &AppState) -> EffectiveContextLimits {
    let d = SessionContextLimits {
        max_invoices: state.config().session_invoice_limit,
        ..SessionContextLimits::DEFAULT
    };
    EffectiveContextLimits {
        online_session: d,
        batch_session: d,
    }
}

/// The effective session limits of a context (`Type:value`): its override or the defaults.
pub async fn context_limits(state: &AppState, context: &str) -> ApiResult<EffectiveContextLimits> {
    Ok(get_setting(state, &context_setting(context))
        .await?
        .unwrap_or_else(|| default_context_limits(state)))
}

/// The kind of session whose limits are asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SessionKind {
    Online,
    Batch,
}

/// The effective limits of one kind of session in a context (the session row's
/// `context_type`/`context_value`).
pub async fn session_limits(
    state: &AppState,
    context_type: &str,
    context_value: &str,
    kind: SessionKind,
) -> ApiResult<SessionContextLimits> {
    let l = context_limits(state, &format!("{context_type}:{context_value}")).await?;
    Ok(match kind {
        SessionKind::Online => l.online_session,
        SessionKind::Batch => l.batch_session,
    })
}

/// Bytes of `mb` megabytes (MB = 1 000 000 bytes, digest §15.3).
pub fn mb_bytes(mb: u32) -> usize {
    (mb as usize).saturating_mul(1_000_000)
}

/// The effective subject limits after `POST /testdata/limits/subject/certificate`: the values
/// given, the defaults for the parts left out.
fn subject_override(req: &wire::SetSubjectLimitsRequest) -> EffectiveSubjectLimits {
    let mut l = EffectiveSubjectLimits::default();
    if let Some(max) = req.enrollment.and_then(|e| e.max_enrollments) {
        l.enrollment = Some(wire::EnrollmentEffectiveSubjectLimits {
            max_enrollments: Some(max),
        });
    }
    if let Some(max) = req.certificate.and_then(|c| c.max_certificates) {
        l.certificate = Some(wire::CertificateEffectiveSubjectLimits {
            max_certificates: Some(max),
        });
    }
    l
}

/// Rate-limit values are `int32` in the OpenAPI (negative ones fail deserialisation).
fn validate_rate_limits(l: &EffectiveApiRateLimits) -> ApiResult<()> {
    for (name, v) in groups(l) {
        for (field, n) in [
            ("perSecond", v.per_second),
            ("perMinute", v.per_minute),
            ("perHour", v.per_hour),
        ] {
            if i32::try_from(n).is_err() {
                return Err(ApiError::validation(format!(
                    "rateLimits.{name}.{field}: wartość {n} przekracza zakres int32."
                )));
            }
        }
    }
    Ok(())
}

fn groups(l: &EffectiveApiRateLimits) -> [(&'static str, EffectiveApiRateLimitValues); 12] {
    [
        ("onlineSession", l.online_session),
        ("batchSession", l.batch_session),
        ("invoiceSend", l.invoice_send),
        ("invoiceStatus", l.invoice_status),
        ("sessionList", l.session_list),
        ("sessionInvoiceList", l.session_invoice_list),
        ("sessionMisc", l.session_misc),
        ("invoiceMetadata", l.invoice_metadata),
        ("invoiceExport", l.invoice_export),
        ("invoiceExportStatus", l.invoice_export_status),
        ("invoiceDownload", l.invoice_download),
        ("other", l.other),
    ]
}
