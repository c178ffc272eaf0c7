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
//!
//! # Rate limiting
//!
//! [`rate_limit`] is a middleware on the API routes. It counts requests in sliding windows
//! (last 1 s, 60 s, 3600 s; all three apply) per (context, client IP, group) for requests with
//! a valid access token, grouped as in the table of §15.1 (`other`: one counter per OpenAPI
//! operation, one shared counter for every path or method the API does not define), and per
//! client IP (60 req/s) for the public endpoints and for requests without a valid
//! access token. Pre-signed links (batch part uploads, downloads) are outside the API routes
//! and never limited. An excess answers 429 with `Retry-After: <seconds>` (the time until the
//! exceeded window has room again) and the `TooManyRequestsResponse` body, or
//! `TooManyRequestsProblemDetails` with `X-Error-Format: problem-details`. Rejected requests
//! are not counted.
//!
//! Enforcement is a local choice (digest §15 marks it as such): a local emulator runs in tight
//! test loops, so it is **off by default**. It is on
//! - for every caller when [`crate::EmulatorConfig::rate_limits`] is set (`ksef emulator
//!   --rate-limits`), with the production values;
//! - for one context after `POST /testdata/rate-limits` (its custom values) or
//!   `POST /testdata/rate-limits/production` (the production values) in that context — the
//!   OpenAPI scopes these overrides to the current context, so other contexts are unaffected;
//!   `DELETE /testdata/rate-limits` restores the production values and the configured on/off.
//!
//! Rate-limit overrides and windows live in memory ([`RateLimiter`]); a restart forgets them.
//! Memory is bounded: a window keeps only the hits its finite thresholds need
//! ([`SlidingWindow`]), and at most 100 000 windows exist — beyond that the idle and then the
//! least recently used ones are evicted, in batches (amortised O(1) per request).

use std::collections::{HashMap, VecDeque};
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use axum::routing::{get, post};
use ksef_wire as wire;
use ksef_wire::{
    EffectiveApiRateLimitValues, EffectiveApiRateLimits, EffectiveContextLimits,
    EffectiveSubjectLimits, SessionContextLimits,
};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, Bearer, ClientIp};
use crate::http::Session;
use crate::jwt::TokenType;
use crate::sessions::model::Kind;
use crate::state::AppState;

/// Routes under `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/limits/context", get(get_context_limits))
        .route("/limits/subject", get(get_subject_limits))
        .route("/rate-limits", get(get_rate_limits))
        .route(
            "/testdata/limits/context/session",
            post(set_context_limits).delete(reset_context_limits),
        )
        .route(
            "/testdata/limits/subject/certificate",
            post(set_subject_limits).delete(reset_subject_limits),
        )
        .route(
            "/testdata/rate-limits",
            post(set_rate_limits).delete(reset_rate_limits),
        )
        .route(
            "/testdata/rate-limits/production",
            post(set_production_rate_limits),
        )
}

// ---------------------------------------------------------------- handlers

async fn access(state: &AppState, token: &str, ip: IpAddr) -> ApiResult<Session> {
    crate::http::session(state, token, ip, &[TokenType::ContextToken]).await
}

/// `Type:value` of the caller's context, as sessions store it.
fn context_key(s: &Session) -> ApiResult<String> {
    let c = s.caller()?;
    Ok(format!(
        "{}:{}",
        c.context.kind().as_str(),
        c.context.value()
    ))
}

/// `Type:value` of the context of a token's claims (the rate-limit key).
fn claims_context(c: &crate::jwt::Claims) -> String {
    format!("{}:{}", c.cit, c.civ)
}

async fn get_context_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<axum::Json<EffectiveContextLimits>> {
    let s = access(&state, &token, ip).await?;
    Ok(axum::Json(context_limits(&state, &context_key(&s)?).await?))
}

async fn set_context_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<wire::SetSessionLimitsRequest>,
) -> ApiResult<StatusCode> {
    let s = access(&state, &token, ip).await?;
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
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<StatusCode> {
    let s = access(&state, &token, ip).await?;
    delete_setting(&state, &context_setting(&context_key(&s)?)).await?;
    Ok(StatusCode::OK)
}

async fn get_subject_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<axum::Json<EffectiveSubjectLimits>> {
    let s = access(&state, &token, ip).await?;
    let key = subject_setting(&s)?;
    Ok(axum::Json(
        get_setting(&state, &key).await?.unwrap_or_default(),
    ))
}

async fn set_subject_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<wire::SetSubjectLimitsRequest>,
) -> ApiResult<StatusCode> {
    let s = access(&state, &token, ip).await?;
    req.validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let limits = subject_override(&req);
    put_setting(&state, &subject_setting(&s)?, &limits).await?;
    Ok(StatusCode::OK)
}

async fn reset_subject_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<StatusCode> {
    let s = access(&state, &token, ip).await?;
    delete_setting(&state, &subject_setting(&s)?).await?;
    Ok(StatusCode::OK)
}

async fn get_rate_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<axum::Json<EffectiveApiRateLimits>> {
    let s = access(&state, &token, ip).await?;
    Ok(axum::Json(
        state.rate_limits().effective(&claims_context(&s.claims)),
    ))
}

async fn set_rate_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<wire::SetRateLimitsRequest>,
) -> ApiResult<StatusCode> {
    let s = access(&state, &token, ip).await?;
    validate_rate_limits(&req.rate_limits)?;
    state
        .rate_limits()
        .set_override(&claims_context(&s.claims), req.rate_limits);
    Ok(StatusCode::OK)
}

async fn reset_rate_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<StatusCode> {
    let s = access(&state, &token, ip).await?;
    state
        .rate_limits()
        .clear_override(&claims_context(&s.claims));
    Ok(StatusCode::OK)
}

async fn set_production_rate_limits(
    State(state): State<AppState>,
    Bearer(token): Bearer,
    ClientIp(ip): ClientIp,
) -> ApiResult<StatusCode> {
    let s = access(&state, &token, ip).await?;
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

fn subject_setting(s: &Session) -> ApiResult<String> {
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

/// The effective limits of one kind of session in a context (the session row's
/// `context_type`/`context_value`).
pub async fn session_limits(
    state: &AppState,
    context_type: &str,
    context_value: &str,
    kind: Kind,
) -> ApiResult<SessionContextLimits> {
    let l = context_limits(state, &format!("{context_type}:{context_value}")).await?;
    Ok(match kind {
        Kind::Online => l.online_session,
        Kind::Batch => l.batch_session,
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

// ---------------------------------------------------------------- rate limiting

/// Requests per second of a public endpoint, per client IP (digest §15.1).
pub const PUBLIC_PER_SECOND: u32 = 60;

const SECOND: Duration = Duration::from_secs(1);
const MINUTE: Duration = Duration::from_secs(60);
const HOUR: Duration = Duration::from_secs(3600);

/// Which limit was exceeded, and when to retry.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exceeded {
    /// The exceeded threshold.
    pub limit: u32,
    /// The window it applies to (1 s, 60 s or 3600 s).
    pub window: Duration,
    /// Whole seconds until the window has room again (at least 1).
    pub retry_after_secs: u64,
}

impl Exceeded {
    /// The documented detail line, e.g. `Przekroczono limit 20 żądań na minutę. Spróbuj
    /// ponownie po 30 sekundach.`
    pub fn message(&self) -> String {
        let per = match self.window.as_secs() {
            1 => "sekundę",
            60 => "minutę",
            _ => "godzinę",
        };
        format!(
            "Przekroczono limit {} żądań na {per}. Spróbuj ponownie po {} sekundach.",
            self.limit, self.retry_after_secs
        )
    }
}

/// The accepted requests of one counter (oldest first): a sliding-window log checked against
/// the 1 s, 60 s and 3600 s thresholds together.
///
/// Only what the finite thresholds need is kept: hits older than the longest window whose
/// limit is finite are dropped (a threshold of `u32::MAX` is never reached and is not
/// checked), so the log never holds more than that window's limit. Since the hits are in
/// time order, whether a threshold is reached is one look-up: `limit` hits lie within the
/// window exactly when the `limit`-th newest one does.
#[derive(Debug, Default, Clone)]
pub struct SlidingWindow {
    hits: VecDeque<Instant>,
    /// How long hits are kept: the longest window with a finite limit at the last request
    /// (zero when every limit is `u32::MAX`).
    keep: Duration,
    /// The last request seen on this counter, counted or refused (for LRU eviction).
    last_seen: Option<Instant>,
}

impl SlidingWindow {
    /// Counts a request at `now` if all three thresholds allow it; otherwise reports the
    /// exceeded one (the longest wait when several are exceeded) and counts nothing.
    pub fn try_acquire(
        &mut self,
        now: Instant,
        limits: EffectiveApiRateLimitValues,
    ) -> Result<(), Exceeded> {
        self.last_seen = Some(self.last_seen.map_or(now, |t| t.max(now)));
        let thresholds = [
            (limits.per_second, SECOND),
            (limits.per_minute, MINUTE),
            (limits.per_hour, HOUR),
        ];
        self.keep = thresholds
            .iter()
            .filter(|(limit, _)| *limit != u32::MAX)
            .map(|(_, window)| *window)
            .max()
            .unwrap_or(Duration::ZERO);
        self.trim(now);
        let mut worst: Option<Exceeded> = None;
        for (limit, window) in thresholds {
            if let Some(e) = self.exceeded(now, limit, window)
                && worst
                    .as_ref()
                    .is_none_or(|w| e.retry_after_secs > w.retry_after_secs)
            {
                worst = Some(e);
            }
        }
        match worst {
            Some(e) => Err(e),
            None => {
                if !self.keep.is_zero() {
                    // Concurrent requests may take the lock out of `Instant::now()` order:
                    // keep the log sorted (the difference is the lock wait).
                    let at = self.hits.back().map_or(now, |t| now.max(*t));
                    self.hits.push_back(at);
                }
                Ok(())
            }
        }
    }

    /// Drops the hits older than [`Self::keep`] and releases memory a shrunk log no longer
    /// needs.
    fn trim(&mut self, now: Instant) {
        while self
            .hits
            .front()
            .is_some_and(|t| now.saturating_duration_since(*t) >= self.keep)
        {
            self.hits.pop_front();
        }
        if self.hits.capacity() > 64 && self.hits.len() < self.hits.capacity() / 4 {
            self.hits.shrink_to(self.hits.len() * 2);
        }
    }

    /// `Some` when `limit` requests were already accepted within `window` before `now`
    /// (never for `u32::MAX`). O(1): the log is sorted and holds every hit of `window`.
    fn exceeded(&self, now: Instant, limit: u32, window: Duration) -> Option<Exceeded> {
        if limit == u32::MAX {
            return None;
        }
        // Room again when the oldest hit that keeps the count at `limit` leaves the window
        // (with limit 0: a whole window).
        let wait = if limit == 0 {
            window
        } else {
            let n = usize::try_from(limit).ok()?;
            let oldest = *self.hits.get(self.hits.len().checked_sub(n)?)?;
            let age = now.saturating_duration_since(oldest);
            if age >= window {
                return None;
            }
            window - age
        };
        let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Some(Exceeded {
            limit,
            window,
            retry_after_secs: secs.max(1),
        })
    }

    /// No hit within [`Self::keep`]: dropping the counter loses nothing.
    fn is_idle(&self, now: Instant) -> bool {
        self.hits
            .back()
            .is_none_or(|t| now.saturating_duration_since(*t) >= self.keep)
    }
}

/// In-memory rate-limit state of a running emulator: per-context overrides and the windows.
#[derive(Debug)]
pub struct RateLimiter {
    inner: Mutex<RateState>,
    /// At most this many windows are kept (see [`RateState::make_room`]).
    max_windows: usize,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            inner: Mutex::default(),
            max_windows: MAX_WINDOWS,
        }
    }
}

#[derive(Debug, Default)]
struct RateState {
    /// Context (`Type:value`) → its values; a present entry also switches enforcement on
    /// for that context.
    overrides: HashMap<String, EffectiveApiRateLimits>,
    windows: HashMap<String, SlidingWindow>,
}

/// Windows kept at most; a new counter beyond it first evicts (see [`RateState::make_room`]).
const MAX_WINDOWS: usize = 100_000;

impl RateState {
    /// Brings the windows down to three quarters of `cap`: first the idle ones (they hold
    /// nothing that still counts), then the least recently used. One O(n) pass frees room for
    /// at least `cap / 4` new counters, so the cost per request is amortised O(1).
    fn make_room(&mut self, now: Instant, cap: usize) {
        self.windows.retain(|_, w| !w.is_idle(now));
        let target = cap - cap / 4;
        let excess = self.windows.len().saturating_sub(target);
        if excess == 0 {
            return;
        }
        let mut seen: Vec<Option<Instant>> = self.windows.values().map(|w| w.last_seen).collect();
        let (_, cutoff, _) = seen.select_nth_unstable(excess - 1);
        let cutoff = *cutoff;
        let mut left = excess;
        self.windows.retain(|_, w| {
            if left > 0 && w.last_seen <= cutoff {
                left -= 1;
                false
            } else {
                true
            }
        });
    }
}

impl RateLimiter {
    fn lock(&self) -> std::sync::MutexGuard<'_, RateState> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The effective values of a context (production unless overridden).
    pub fn effective(&self, context: &str) -> EffectiveApiRateLimits {
        self.lock()
            .overrides
            .get(context)
            .copied()
            .unwrap_or(EffectiveApiRateLimits::PRODUCTION)
    }

    /// Sets a context's values and switches enforcement on for it.
    pub fn set_override(&self, context: &str, limits: EffectiveApiRateLimits) {
        self.lock().overrides.insert(context.to_string(), limits);
    }

    /// Restores the production values and the configured on/off for a context.
    pub fn clear_override(&self, context: &str) {
        self.lock().overrides.remove(context);
    }

    /// The values to enforce for a context, `None` when it is not limited.
    fn enforced(&self, context: &str, configured: bool) -> Option<EffectiveApiRateLimits> {
        let st = self.lock();
        match st.overrides.get(context) {
            Some(l) => Some(*l),
            None if configured => Some(EffectiveApiRateLimits::PRODUCTION),
            None => None,
        }
    }

    /// Counts a request on counter `key` at `now`.
    pub fn acquire(
        &self,
        key: String,
        now: Instant,
        limits: EffectiveApiRateLimitValues,
    ) -> Result<(), Exceeded> {
        let mut st = self.lock();
        if st.windows.len() >= self.max_windows && !st.windows.contains_key(&key) {
            st.make_room(now, self.max_windows);
        }
        st.windows.entry(key).or_default().try_acquire(now, limits)
    }
}

/// A group of §15.1 (the `/rate-limits` key).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Group {
    OnlineSession,
    BatchSession,
    InvoiceSend,
    InvoiceStatus,
    SessionList,
    SessionInvoiceList,
    SessionMisc,
    InvoiceMetadata,
    InvoiceExport,
    InvoiceExportStatus,
    InvoiceDownload,
    /// Every other protected endpoint (one counter per OpenAPI operation, see [`endpoint`]).
    Other,
    /// Public endpoints: per client IP.
    Public,
}

impl Group {
    /// The group of a request by method and path (see [`template`]).
    pub fn of(method: &Method, path: &str) -> Group {
        let t = template(path);
        let segs: Vec<&str> = t.split('/').filter(|s| !s.is_empty()).collect();
        let get = method == Method::GET;
        let post = method == Method::POST;
        match (segs.as_slice(), get, post) {
            (["sessions", "online"], _, true) | (["sessions", "online", "*", "close"], _, true) => {
                Group::OnlineSession
            }
            (["sessions", "online", "*", "invoices"], _, true) => Group::InvoiceSend,
            (["sessions", "batch"], _, true) | (["sessions", "batch", "*", "close"], _, true) => {
                Group::BatchSession
            }
            (["sessions"], true, _) => Group::SessionList,
            (["sessions", "*", "invoices"], true, _)
            | (["sessions", "*", "invoices", "failed"], true, _) => Group::SessionInvoiceList,
            (["sessions", "*", "invoices", "*"], true, _) => Group::InvoiceStatus,
            (["sessions", "*"], true, _)
            | (["sessions", "*", "invoices", "*", "upo"], true, _)
            | (["sessions", "*", "invoices", "ksef", "*", "upo"], true, _)
            | (["sessions", "*", "upo", "*"], true, _) => Group::SessionMisc,
            (["invoices", "query", "metadata"], _, true) => Group::InvoiceMetadata,
            (["invoices", "exports"], _, true) => Group::InvoiceExport,
            (["invoices", "exports", "*"], true, _) => Group::InvoiceExportStatus,
            (["invoices", "ksef", "*"], true, _) => Group::InvoiceDownload,
            (["auth", "challenge"], ..)
            | (["auth", "xades-signature"], ..)
            | (["auth", "ksef-token"], ..)
            | (["auth", "token", "redeem"], ..)
            | (["auth", "token", "refresh"], ..)
            | (["security", "public-key-certificates"], ..)
            | (["peppol", "query"], ..) => Group::Public,
            (["auth", "*"], true, _) => Group::Public,
            _ => Group::Other,
        }
    }

    /// The values of this group ([`Group::Public`]: 60 per second, no minute/hour limit).
    fn values(self, l: &EffectiveApiRateLimits) -> EffectiveApiRateLimitValues {
        match self {
            Group::OnlineSession => l.online_session,
            Group::BatchSession => l.batch_session,
            Group::InvoiceSend => l.invoice_send,
            Group::InvoiceStatus => l.invoice_status,
            Group::SessionList => l.session_list,
            Group::SessionInvoiceList => l.session_invoice_list,
            Group::SessionMisc => l.session_misc,
            Group::InvoiceMetadata => l.invoice_metadata,
            Group::InvoiceExport => l.invoice_export,
            Group::InvoiceExportStatus => l.invoice_export_status,
            Group::InvoiceDownload => l.invoice_download,
            Group::Other => l.other,
            Group::Public => public_values(),
        }
    }
}

/// The endpoint of a request path: without the `/v2` prefix, with every path parameter as
/// `*`. A segment is a parameter when it is written `{…}` or contains a digit: reference
/// numbers, NIPs, KSeF numbers, fingerprints and serial numbers do, and no literal segment
/// of the API does (the router's matched path is not available without axum's
/// `matched-path` feature).
pub fn template(path: &str) -> String {
    let path = path.strip_prefix("/v2").unwrap_or(path);
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with('{') || s.bytes().any(|b| b.is_ascii_digit()) {
                "*"
            } else {
                s
            }
        })
        .fold(String::new(), |mut acc, s| {
            acc.push('/');
            acc.push_str(s);
            acc
        })
}

/// The operations of the KSeF OpenAPI (`open-api.json`, 78 operations on 73 path templates):
/// path template without `/v2` → its methods. The `other` counters are keyed by these only.
const ENDPOINTS: &[(&str, &[&str])] = &[
    ("/auth/sessions", &["GET"]),
    ("/auth/sessions/current", &["DELETE"]),
    ("/auth/sessions/{referenceNumber}", &["DELETE"]),
    ("/certificates/limits", &["GET"]),
    ("/certificates/enrollments/data", &["GET"]),
    ("/certificates/enrollments", &["POST"]),
    ("/certificates/enrollments/{referenceNumber}", &["GET"]),
    ("/certificates/retrieve", &["POST"]),
    ("/certificates/{certificateSerialNumber}/revoke", &["POST"]),
    ("/certificates/query", &["POST"]),
    ("/security/public-key-certificates", &["GET"]),
    ("/testdata/subject", &["POST"]),
    ("/testdata/subject/remove", &["POST"]),
    ("/testdata/person", &["POST"]),
    ("/testdata/person/remove", &["POST"]),
    ("/testdata/permissions", &["POST"]),
    ("/testdata/permissions/revoke", &["POST"]),
    ("/testdata/attachment", &["POST"]),
    ("/testdata/attachment/revoke", &["POST"]),
    ("/testdata/context/block", &["POST"]),
    ("/testdata/context/unblock", &["POST"]),
    ("/limits/context", &["GET"]),
    ("/limits/subject", &["GET"]),
    ("/rate-limits", &["GET"]),
    ("/testdata/limits/context/session", &["POST", "DELETE"]),
    ("/testdata/limits/subject/certificate", &["POST", "DELETE"]),
    ("/testdata/rate-limits", &["POST", "DELETE"]),
    ("/testdata/rate-limits/production", &["POST"]),
    ("/permissions/persons/grants", &["POST"]),
    ("/permissions/entities/grants", &["POST"]),
    ("/permissions/authorizations/grants", &["POST"]),
    ("/permissions/indirect/grants", &["POST"]),
    ("/permissions/subunits/grants", &["POST"]),
    ("/permissions/eu-entities/administration/grants", &["POST"]),
    ("/permissions/eu-entities/grants", &["POST"]),
    ("/permissions/common/grants/{permissionId}", &["DELETE"]),
    (
        "/permissions/authorizations/grants/{permissionId}",
        &["DELETE"],
    ),
    ("/permissions/operations/{referenceNumber}", &["GET"]),
    ("/permissions/attachments/status", &["GET"]),
    ("/invoices/ksef/{ksefNumber}", &["GET"]),
    ("/invoices/query/metadata", &["POST"]),
    ("/invoices/exports", &["POST"]),
    ("/invoices/exports/{referenceNumber}", &["GET"]),
    ("/sessions", &["GET"]),
    ("/sessions/{referenceNumber}", &["GET"]),
    ("/sessions/{referenceNumber}/invoices", &["GET"]),
    (
        "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}",
        &["GET"],
    ),
    ("/sessions/{referenceNumber}/invoices/failed", &["GET"]),
    (
        "/sessions/{referenceNumber}/invoices/ksef/{ksefNumber}/upo",
        &["GET"],
    ),
    (
        "/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}/upo",
        &["GET"],
    ),
    (
        "/sessions/{referenceNumber}/upo/{upoReferenceNumber}",
        &["GET"],
    ),
    ("/tokens", &["GET", "POST"]),
    ("/tokens/{referenceNumber}", &["GET", "DELETE"]),
    ("/peppol/query", &["GET"]),
    ("/auth/challenge", &["POST"]),
    ("/auth/xades-signature", &["POST"]),
    ("/auth/ksef-token", &["POST"]),
    ("/auth/{referenceNumber}", &["GET"]),
    ("/auth/token/redeem", &["POST"]),
    ("/auth/token/refresh", &["POST"]),
    ("/sessions/online", &["POST"]),
    ("/sessions/online/{referenceNumber}/invoices", &["POST"]),
    ("/sessions/online/{referenceNumber}/close", &["POST"]),
    ("/sessions/batch", &["POST"]),
    ("/sessions/batch/{referenceNumber}/close", &["POST"]),
    ("/permissions/query/personal/grants", &["POST"]),
    ("/permissions/query/persons/grants", &["POST"]),
    ("/permissions/query/subunits/grants", &["POST"]),
    ("/permissions/query/entities/grants", &["POST"]),
    ("/permissions/query/entities/roles", &["GET"]),
    ("/permissions/query/subordinate-entities/roles", &["POST"]),
    ("/permissions/query/authorizations/grants", &["POST"]),
    ("/permissions/query/eu-entities/grants", &["POST"]),
];

/// The counter name of an `other` request: `METHOD /template` of the OpenAPI operation it
/// addresses, or [`UNMATCHED`] for any path or method the API does not define — so arbitrary
/// paths (they reach the layer through the 404 fallback) share one counter instead of
/// creating one each.
///
/// Segments are matched one by one, `{…}` matching any non-empty segment; when several
/// templates match, the one with a literal segment at the first difference wins (as the
/// router prefers static segments), e.g. `/sessions/{r}/invoices/failed` over
/// `/sessions/{r}/invoices/{i}`.
pub fn endpoint(method: &Method, path: &str) -> String {
    let path = path.strip_prefix("/v2").unwrap_or(path);
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    let mut best: Option<(&str, Vec<bool>)> = None;
    for (template, methods) in ENDPOINTS {
        if !methods.contains(&method.as_str()) {
            continue;
        }
        let parts: Vec<&str> = template.split('/').filter(|s| !s.is_empty()).collect();
        if parts.len() != segs.len() {
            continue;
        }
        let mut literal = Vec::with_capacity(parts.len());
        let matches = parts.iter().zip(&segs).all(|(t, s)| {
            let wildcard = t.starts_with('{');
            literal.push(!wildcard);
            wildcard || t == s
        });
        if matches && best.as_ref().is_none_or(|(_, b)| literal > *b) {
            best = Some((template, literal));
        }
    }
    match best {
        Some((template, _)) => format!("{method} {template}"),
        None => UNMATCHED.to_string(),
    }
}

/// The one `other` counter (per context and IP) of paths and methods outside the API.
pub const UNMATCHED: &str = "unmatched";

fn public_values() -> EffectiveApiRateLimitValues {
    EffectiveApiRateLimitValues::new(PUBLIC_PER_SECOND, u32::MAX, u32::MAX)
}

fn client_ip(req: &Request) -> IpAddr {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|c| c.0.ip())
        .unwrap_or(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST))
}

fn bearer(req: &Request) -> Option<&str> {
    let v = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = v.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then_some(token.trim())
}

/// The counter and values of a request, `None` when it is not limited. Paths outside the API
/// routes reach this too (the layer also wraps the 404 fallback) and count like `other`, on
/// one shared counter ([`endpoint`]).
fn counter(state: &AppState, req: &Request) -> Option<(String, EffectiveApiRateLimitValues)> {
    let ip = client_ip(req);
    let configured = state.config().rate_limits;
    let group = Group::of(req.method(), req.uri().path());
    let context = match group {
        Group::Public => None,
        _ => bearer(req)
            .and_then(|t| state.jwt().verify(t, &[TokenType::ContextToken]).ok())
            .map(|c| claims_context(&c)),
    };
    match context {
        Some(ctx) => {
            let limits = state.rate_limits().enforced(&ctx, configured)?;
            let key = context_counter(&ctx, ip, group, req.method(), req.uri().path());
            Some((key, group.values(&limits)))
        }
        // Public endpoints and requests without a valid access token (they end in 401 or
        // are unauthenticated `/testdata/*` calls): per client IP.
        None if configured => Some((format!("public|{ip}"), public_values())),
        None => None,
    }
}

/// The counter of a request with a valid access token: per (context, IP, group), for `other`
/// per OpenAPI operation ([`endpoint`]).
fn context_counter(ctx: &str, ip: IpAddr, group: Group, method: &Method, path: &str) -> String {
    match group {
        Group::Other => format!("{ctx}|{ip}|other:{}", endpoint(method, path)),
        g => format!("{ctx}|{ip}|{g:?}"),
    }
}

/// Middleware on the API routes: the rate limits of §15.1 (see the module docs).
pub async fn rate_limit(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let Some((key, values)) = counter(&state, &req) else {
        return next.run(req).await;
    };
    match state.rate_limits().acquire(key, Instant::now(), values) {
        Ok(()) => next.run(req).await,
        Err(e) => too_many_requests(&req, &e),
    }
}

/// The 429 answer in the format the request asked for.
fn too_many_requests(req: &Request, e: &Exceeded) -> Response {
    let problem = req
        .headers()
        .get("x-error-format")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("problem-details"));
    let detail = e.message();
    let (body, content_type) = if problem {
        let trace: [u8; 16] = rand::random();
        (
            serde_json::to_vec(&wire::TooManyRequestsProblemDetails {
                title: wire::TooManyRequestsProblemDetails::TITLE.into(),
                status: wire::TooManyRequestsProblemDetails::STATUS,
                // The layer sits inside `/v2`, which the nested router strips.
                instance: format!("/v2{}", req.uri().path()),
                detail,
                timestamp: OffsetDateTime::now_utc(),
                trace_id: hex::encode(trace),
            }),
            "application/problem+json",
        )
    } else {
        (
            serde_json::to_vec(&wire::TooManyRequestsResponse::new([detail])),
            "application/json",
        )
    };
    let mut out = Response::new(Body::from(body.unwrap_or_default()));
    *out.status_mut() = StatusCode::TOO_MANY_REQUESTS;
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out.headers_mut()
        .insert(header::RETRY_AFTER, HeaderValue::from(e.retry_after_secs));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const V: EffectiveApiRateLimitValues = EffectiveApiRateLimitValues::new(2, 3, 4);

    #[test]
    fn per_second_then_slides() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        assert!(w.try_acquire(t0, V).is_ok());
        assert!(w.try_acquire(t0 + Duration::from_millis(100), V).is_ok());
        let e = w
            .try_acquire(t0 + Duration::from_millis(200), V)
            .unwrap_err();
        assert_eq!(e.limit, 2);
        assert_eq!(e.window, SECOND);
        // The first hit leaves the 1 s window at t0 + 1 s: 800 ms → rounded up to 1 s.
        assert_eq!(e.retry_after_secs, 1);
        // A rejected request is not counted: at t0 + 1 s one slot is free again.
        assert!(w.try_acquire(t0 + Duration::from_secs(1), V).is_ok());
    }

    #[test]
    fn per_minute_and_per_hour() {
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        for i in 0..3 {
            assert!(w.try_acquire(t0 + Duration::from_secs(i * 2), V).is_ok());
        }
        let e = w.try_acquire(t0 + Duration::from_secs(10), V).unwrap_err();
        assert_eq!((e.limit, e.window), (3, MINUTE));
        assert_eq!(e.retry_after_secs, 50);
        assert!(e.message().contains("3 żądań na minutę"), "{}", e.message());
        assert!(e.message().contains("po 50 sekundach"), "{}", e.message());
        // After the minute: the fourth passes, the fifth hits the hourly limit (4).
        assert!(w.try_acquire(t0 + Duration::from_secs(61), V).is_ok());
        let e = w.try_acquire(t0 + Duration::from_secs(130), V).unwrap_err();
        assert_eq!((e.limit, e.window), (4, HOUR));
        assert_eq!(e.retry_after_secs, 3600 - 130);
        // An hour after the first hit there is room again.
        assert!(w.try_acquire(t0 + Duration::from_secs(3600), V).is_ok());
    }

    #[test]
    fn zero_limit_rejects_for_a_whole_window() {
        let mut w = SlidingWindow::default();
        let e = w
            .try_acquire(Instant::now(), EffectiveApiRateLimitValues::new(0, 10, 10))
            .unwrap_err();
        assert_eq!((e.limit, e.retry_after_secs), (0, 1));
    }

    #[test]
    fn limiter_keeps_counters_apart_and_overrides_switch_enforcement() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        let one = EffectiveApiRateLimitValues::new(1, 10, 10);
        assert!(l.acquire("a".into(), t0, one).is_ok());
        assert!(l.acquire("a".into(), t0, one).is_err());
        assert!(l.acquire("b".into(), t0, one).is_ok());
        assert_eq!(l.enforced("Nip:1", false), None);
        assert_eq!(
            l.enforced("Nip:1", true),
            Some(EffectiveApiRateLimits::PRODUCTION)
        );
        let mut custom = EffectiveApiRateLimits::PRODUCTION;
        custom.other = one;
        l.set_override("Nip:1", custom);
        assert_eq!(l.enforced("Nip:1", false), Some(custom));
        assert_eq!(l.effective("Nip:1"), custom);
        assert_eq!(l.enforced("Nip:2", false), None);
        l.clear_override("Nip:1");
        assert_eq!(l.enforced("Nip:1", false), None);
        assert_eq!(l.effective("Nip:1"), EffectiveApiRateLimits::PRODUCTION);
    }

    #[test]
    fn groups_follow_the_table() {
        let g = |m: Method, p: &str| Group::of(&m, p);
        assert_eq!(g(Method::POST, "/v2/sessions/online"), Group::OnlineSession);
        assert_eq!(
            g(Method::POST, "/v2/sessions/online/{reference}/close"),
            Group::OnlineSession
        );
        assert_eq!(
            g(Method::POST, "/v2/sessions/online/{reference}/invoices"),
            Group::InvoiceSend
        );
        assert_eq!(
            g(Method::POST, "/sessions/batch/{reference}/close"),
            Group::BatchSession
        );
        assert_eq!(g(Method::GET, "/v2/sessions"), Group::SessionList);
        assert_eq!(g(Method::GET, "/v2/sessions/{r}"), Group::SessionMisc);
        assert_eq!(
            g(Method::GET, "/v2/sessions/{r}/invoices"),
            Group::SessionInvoiceList
        );
        assert_eq!(
            g(Method::GET, "/v2/sessions/{r}/invoices/failed"),
            Group::SessionInvoiceList
        );
        assert_eq!(
            g(Method::GET, "/v2/sessions/{r}/invoices/{i}"),
            Group::InvoiceStatus
        );
        assert_eq!(
            g(Method::GET, "/v2/sessions/{r}/invoices/{i}/upo"),
            Group::SessionMisc
        );
        assert_eq!(
            g(Method::GET, "/v2/sessions/{r}/invoices/ksef/{k}/upo"),
            Group::SessionMisc
        );
        assert_eq!(
            g(Method::GET, "/v2/sessions/{r}/upo/{u}"),
            Group::SessionMisc
        );
        assert_eq!(
            g(Method::POST, "/v2/invoices/query/metadata"),
            Group::InvoiceMetadata
        );
        assert_eq!(
            g(Method::POST, "/v2/invoices/exports"),
            Group::InvoiceExport
        );
        assert_eq!(
            g(Method::GET, "/v2/invoices/exports/{referenceNumber}"),
            Group::InvoiceExportStatus
        );
        assert_eq!(
            g(Method::GET, "/v2/invoices/ksef/{ksefNumber}"),
            Group::InvoiceDownload
        );
        assert_eq!(g(Method::POST, "/v2/auth/challenge"), Group::Public);
        assert_eq!(g(Method::GET, "/v2/auth/{reference}"), Group::Public);
        assert_eq!(g(Method::POST, "/v2/auth/token/refresh"), Group::Public);
        assert_eq!(g(Method::GET, "/v2/auth/sessions"), Group::Other);
        assert_eq!(g(Method::GET, "/v2/limits/context"), Group::Other);
        assert_eq!(g(Method::GET, "/v2/tokens"), Group::Other);
        // Real paths: parameters recognised by their digits.
        assert_eq!(
            g(
                Method::GET,
                "/v2/sessions/20250625-SO-2C3E6C8000-B675CF5D68-07"
            ),
            Group::SessionMisc
        );
        assert_eq!(
            g(
                Method::GET,
                "/v2/sessions/20250625-SO-2C3E6C8000-B675CF5D68-07/invoices/failed"
            ),
            Group::SessionInvoiceList
        );
        assert_eq!(
            g(
                Method::GET,
                "/v2/invoices/ksef/5265877635-20250826-0100001AF629-AF"
            ),
            Group::InvoiceDownload
        );
        assert_eq!(
            template("/v2/tokens/20250625-AU-2C3E6C8000-B675CF5D68-07"),
            "/tokens/*"
        );
    }

    /// `aaaa`, `aaab`, …: letters only, so [`template`] would keep them literal.
    fn letters(mut i: usize) -> String {
        let mut s = String::new();
        for _ in 0..6 {
            s.push(char::from(b'a' + (i % 26) as u8));
            i /= 26;
        }
        s
    }

    #[test]
    fn distinct_unknown_paths_share_one_window() {
        let l = RateLimiter::default();
        let ip = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        let roomy = EffectiveApiRateLimitValues::new(u32::MAX, u32::MAX, 1_000_000);
        for i in 0..10_000 {
            let (method, path) = match i % 4 {
                0 => (Method::GET, format!("/{}", letters(i))),
                1 => (
                    Method::POST,
                    format!("/v2/{}/{}", letters(i), letters(i + 1)),
                ),
                2 => (Method::GET, format!("/limits/{}", letters(i))),
                // A method the API does not define on a known path.
                _ => (Method::PATCH, "/limits/context".to_string()),
            };
            let group = Group::of(&method, &path);
            assert_eq!(group, Group::Other, "{method} {path}");
            let key = context_counter("Nip:1", ip, group, &method, &path);
            assert!(key.ends_with("|other:unmatched"), "{key}");
            let at = t0 + Duration::from_millis(i as u64);
            assert!(l.acquire(key, at, roomy).is_ok(), "#{i}");
        }
        // Known endpoints keep one counter each.
        for path in [
            "/v2/limits/context",
            "/limits/context",
            "/v2/limits//context",
        ] {
            let key = context_counter("Nip:1", ip, Group::Other, &Method::GET, path);
            assert!(l.acquire(key, t0, roomy).is_ok());
        }
        let st = l.lock();
        assert_eq!(
            st.windows.len(),
            2,
            "{:?}",
            st.windows.keys().collect::<Vec<_>>()
        );
        assert_eq!(
            st.windows["Nip:1|127.0.0.1|other:unmatched"].hits.len(),
            10_000
        );
    }

    #[test]
    fn endpoints_follow_the_openapi_templates() {
        let e = |m: Method, p: &str| endpoint(&m, p);
        assert_eq!(e(Method::GET, "/v2/limits/context"), "GET /limits/context");
        assert_eq!(
            e(Method::DELETE, "/testdata/rate-limits"),
            "DELETE /testdata/rate-limits"
        );
        assert_eq!(
            e(
                Method::GET,
                "/v2/tokens/20250625-AU-2C3E6C8000-B675CF5D68-07"
            ),
            "GET /tokens/{referenceNumber}"
        );
        assert_eq!(
            e(Method::DELETE, "/v2/tokens/abc"),
            "DELETE /tokens/{referenceNumber}"
        );
        // Literal segments win over parameters.
        assert_eq!(e(Method::GET, "/auth/sessions"), "GET /auth/sessions");
        assert_eq!(
            e(Method::GET, "/certificates/enrollments/data"),
            "GET /certificates/enrollments/data"
        );
        assert_eq!(
            e(Method::GET, "/certificates/enrollments/20250625-X"),
            "GET /certificates/enrollments/{referenceNumber}"
        );
        assert_eq!(
            e(Method::GET, "/sessions/r/invoices/failed"),
            "GET /sessions/{referenceNumber}/invoices/failed"
        );
        assert_eq!(
            e(Method::DELETE, "/v2/auth/sessions/current"),
            "DELETE /auth/sessions/current"
        );
        // Unknown paths, methods and shapes: the shared counter.
        for (m, p) in [
            (Method::GET, "/v2/aaaa"),
            (Method::GET, "/limits/context/extra"),
            (Method::POST, "/limits/context"),
            (Method::from_bytes(b"FOO").unwrap(), "/limits/context"),
            (Method::GET, "/"),
            (Method::GET, "/v2"),
        ] {
            assert_eq!(e(m.clone(), p), UNMATCHED, "{m} {p}");
        }
        let ops: usize = ENDPOINTS.iter().map(|(_, m)| m.len()).sum();
        assert_eq!((ENDPOINTS.len(), ops), (73, 78));
    }

    #[test]
    fn public_log_holds_one_second_only() {
        let l = RateLimiter::default();
        let t0 = Instant::now();
        // 60/s for 2 minutes: every request of the allowance, 7 200 in all.
        for i in 0..7_200u64 {
            let at = t0 + Duration::from_micros(i * 1_000_000 / 60);
            assert!(
                l.acquire("public|ip".into(), at, public_values()).is_ok(),
                "#{i}"
            );
            assert!(l.lock().windows["public|ip"].hits.len() <= PUBLIC_PER_SECOND as usize);
        }
        // The 61st within one second is refused.
        let at = t0 + Duration::from_secs(200);
        for _ in 0..60 {
            assert!(l.acquire("public|ip".into(), at, public_values()).is_ok());
        }
        let e = l
            .acquire("public|ip".into(), at, public_values())
            .unwrap_err();
        assert_eq!((e.limit, e.window), (PUBLIC_PER_SECOND, SECOND));
        assert_eq!(l.lock().windows["public|ip"].hits.len(), 60);
    }

    #[test]
    fn log_keeps_the_longest_finite_window_only() {
        let t0 = Instant::now();
        // Minute finite, hour unlimited: hits older than a minute are dropped.
        let v = EffectiveApiRateLimitValues::new(100, 1_000, u32::MAX);
        let mut w = SlidingWindow::default();
        for i in 0..600u64 {
            assert!(
                w.try_acquire(t0 + Duration::from_millis(i * 500), v)
                    .is_ok()
            );
        }
        assert_eq!(w.hits.len(), 120);
        // Only unlimited thresholds: nothing is stored and nothing refused.
        let unlimited = EffectiveApiRateLimitValues::new(u32::MAX, u32::MAX, u32::MAX);
        for _ in 0..1_000 {
            assert!(
                w.try_acquire(t0 + Duration::from_secs(400), unlimited)
                    .is_ok()
            );
        }
        assert!(w.hits.is_empty());
        assert!(w.is_idle(t0 + Duration::from_secs(400)));
    }

    #[test]
    fn counting_stays_exact_after_trimming() {
        // Production `other`: 10/s, 30/min, 120/h.
        let v = EffectiveApiRateLimitValues::new(10, 30, 120);
        let t0 = Instant::now();
        let mut w = SlidingWindow::default();
        let s = |secs: u64, ms: u64| t0 + Duration::from_secs(secs) + Duration::from_millis(ms);
        // Per second: 10 in the first second, the 11th refused.
        for i in 0..10 {
            assert!(w.try_acquire(s(0, i * 10), v).is_ok());
        }
        let e = w.try_acquire(s(0, 500), v).unwrap_err();
        assert_eq!((e.limit, e.window, e.retry_after_secs), (10, SECOND, 1));
        // Per minute: 20 more over the next seconds → 30; the 31st refused until the
        // first second's hits leave the minute.
        for i in 0..20 {
            assert!(w.try_acquire(s(1 + i / 10, (i % 10) * 10), v).is_ok());
        }
        let e = w.try_acquire(s(30, 0), v).unwrap_err();
        assert_eq!((e.limit, e.window, e.retry_after_secs), (30, MINUTE, 30));
        assert!(w.try_acquire(s(59, 999), v).is_err());
        assert!(w.try_acquire(s(60, 0), v).is_ok());
        // Per hour: 30 per minute for the next minutes until 120 in the hour.
        let mut accepted = 31;
        let mut minute = 1;
        while accepted < 120 {
            minute += 1;
            for i in 0..30u64 {
                if accepted == 120 {
                    break;
                }
                assert!(
                    w.try_acquire(s(minute * 60 + i / 10, (i % 10) * 10), v)
                        .is_ok()
                );
                accepted += 1;
            }
        }
        assert_eq!(w.hits.len(), 120);
        let e = w.try_acquire(s(minute * 60 + 30, 0), v).unwrap_err();
        assert_eq!((e.limit, e.window), (120, HOUR));
        assert_eq!(e.retry_after_secs, 3600 - (minute * 60 + 30));
        // An hour after the first hit: room again, and the log stays within the hour.
        assert!(w.try_acquire(s(3600, 0), v).is_ok());
        assert!(w.hits.len() <= 120);
        assert!(w.hits.iter().all(|t| s(3600, 0).duration_since(*t) < HOUR));
    }

    #[test]
    fn window_count_is_capped_with_batched_eviction() {
        let l = RateLimiter {
            max_windows: 1_000,
            ..RateLimiter::default()
        };
        let t0 = Instant::now();
        let v = EffectiveApiRateLimitValues::new(1, 10, 10);
        // A busy counter (1 per hour), used throughout.
        let one = EffectiveApiRateLimitValues::new(1, 1, 1);
        assert!(l.acquire("busy".into(), t0, one).is_ok());
        let mut evictions = 0;
        let mut last = 1;
        for i in 0..10_000u64 {
            let at = t0 + Duration::from_millis(i + 1);
            assert!(l.acquire(format!("ip-{i}"), at, v).is_ok());
            if i % 100 == 0 {
                // Still limited: the recently used counter survives eviction.
                assert!(l.acquire("busy".into(), at, one).is_err(), "#{i}");
            }
            let n = l.lock().windows.len();
            assert!(n <= 1_000, "{n}");
            if n < last {
                evictions += 1;
            }
            last = n;
        }
        // Each eviction frees a quarter of the cap: few passes for 10 000 new counters.
        assert!((30..=40).contains(&evictions), "{evictions}");
    }
}
