//! API errors and their two wire formats (digest §16).
//!
//! Handlers return [`ApiError`]. Its `IntoResponse` only stashes the error in the response
//! extensions; the [`render_errors`] middleware then writes the body in the format the request
//! asked for (legacy `exception` JSON by default, Problem Details with
//! `X-Error-Format: problem-details`), and fills `instance`/`traceId`, which only the request knows.

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};
use time::OffsetDateTime;

use crate::codes::ExceptionCode;

/// 403 reason codes (digest §7.8).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForbiddenReason {
    MissingPermissions,
    IpNotAllowed,
    InsufficientResourceAccess,
    AuthMethodNotAllowed,
    ContextTypeNotAllowed,
}

impl ForbiddenReason {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::MissingPermissions => "missing-permissions",
            Self::IpNotAllowed => "ip-not-allowed",
            Self::InsufficientResourceAccess => "insufficient-resource-access",
            Self::AuthMethodNotAllowed => "auth-method-not-allowed",
            Self::ContextTypeNotAllowed => "context-type-not-allowed",
        }
    }
}

/// One entry of a 400 error.
#[derive(Debug, Clone, PartialEq)]
pub struct ErrorEntry {
    pub code: ExceptionCode,
    pub details: Vec<String>,
}

/// Everything an endpoint can answer besides success.
#[derive(Debug, Clone)]
pub enum ApiError {
    /// 400 with one or more exception codes.
    BadRequest(Vec<ErrorEntry>),
    /// 401: missing, malformed, expired or wrong-type bearer token.
    Unauthorized(String),
    /// 403 with a reason code and the `security` object.
    Forbidden { reason: ForbiddenReason, detail: String, security: Value },
    /// 404 for paths outside the API.
    NotFound(String),
    /// 410 for expired asynchronous statuses.
    Gone(String),
    /// 413: request body larger than the configured cap.
    PayloadTooLarge(usize),
    /// 415: wrong Content-Type.
    UnsupportedMediaType(String),
    /// 500: a bug or an I/O failure. The detail is logged, not sent.
    Internal(String),
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    /// A 400 with one code and one detail line.
    pub fn bad(code: ExceptionCode, detail: impl Into<String>) -> Self {
        let detail = detail.into();
        let details = if detail.is_empty() { Vec::new() } else { vec![detail] };
        ApiError::BadRequest(vec![ErrorEntry { code, details }])
    }

    /// A 400/21405 input validation error.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::bad(ExceptionCode::InputValidation, detail)
    }

    pub fn forbidden(reason: ForbiddenReason, detail: impl Into<String>, security: Value) -> Self {
        ApiError::Forbidden { reason, detail: detail.into(), security }
    }

    pub fn internal(e: impl std::fmt::Display) -> Self {
        ApiError::Internal(e.to_string())
    }

    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            ApiError::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            ApiError::Forbidden { .. } => StatusCode::FORBIDDEN,
            ApiError::NotFound(_) => StatusCode::NOT_FOUND,
            ApiError::Gone(_) => StatusCode::GONE,
            ApiError::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            ApiError::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// The exception codes of a 400 (for tests and logs).
    pub fn codes(&self) -> Vec<u32> {
        match self {
            ApiError::BadRequest(e) => e.iter().map(|e| e.code.code()).collect(),
            _ => Vec::new(),
        }
    }

    /// Entries for the legacy `exception` body (used for every non-401/403/410 error).
    fn legacy_entries(&self) -> Vec<ErrorEntry> {
        match self {
            ApiError::BadRequest(e) => e.clone(),
            ApiError::NotFound(d) | ApiError::UnsupportedMediaType(d) => {
                vec![ErrorEntry { code: ExceptionCode::InputValidation, details: vec![d.clone()] }]
            }
            ApiError::PayloadTooLarge(max) => vec![ErrorEntry {
                code: ExceptionCode::InputValidation,
                details: vec![format!("Request body exceeds the limit of {max} bytes.")],
            }],
            ApiError::Internal(_) => vec![ErrorEntry {
                code: ExceptionCode::Unknown,
                details: vec!["Internal emulator error; see the emulator log.".into()],
            }],
            ApiError::Unauthorized(_) | ApiError::Forbidden { .. } | ApiError::Gone(_) => Vec::new(),
        }
    }
}

impl From<sqlx::Error> for ApiError {
    fn from(e: sqlx::Error) -> Self {
        ApiError::Internal(format!("database: {e}"))
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ApiError::BadRequest(e) => {
                let parts: Vec<String> =
                    e.iter().map(|e| format!("{} {}", e.code.code(), e.details.join("; "))).collect();
                write!(f, "400 {}", parts.join(" | "))
            }
            other => write!(f, "{} {:?}", other.status().as_u16(), other),
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let ApiError::Internal(msg) = &self {
            tracing::error!(error = %msg, "internal error");
        }
        let mut resp = Response::new(Body::empty());
        *resp.status_mut() = self.status();
        resp.extensions_mut().insert(self);
        resp
    }
}

/// KSeF timestamps: RFC 3339 with `+00:00` and 7 fractional digits, like the real service.
pub fn ksef_timestamp(t: OffsetDateTime) -> String {
    let t = t.to_offset(time::UtcOffset::UTC);
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:07}+00:00",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute(),
        t.second(),
        t.nanosecond() / 100
    )
}

fn trace_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

/// Middleware: renders a stashed [`ApiError`] in the format the request asked for.
pub async fn render_errors(req: Request, next: Next) -> Response {
    let problem_details = req
        .headers()
        .get("x-error-format")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("problem-details"));
    let instance = req.uri().path().to_string();
    let mut resp = next.run(req).await;
    let Some(err) = resp.extensions_mut().remove::<ApiError>() else {
        return resp;
    };
    let status = err.status();
    let now = OffsetDateTime::now_utc();
    let trace = trace_id();
    let (body, content_type) = match &err {
        ApiError::Unauthorized(detail) => (
            json!({"title":"Unauthorized","status":401,"detail":detail,"instance":instance,
                   "traceId":trace,"timestamp":ksef_timestamp(now)}),
            "application/problem+json",
        ),
        ApiError::Forbidden { reason, detail, security } => (
            json!({"title":"Forbidden","status":403,"detail":detail,"instance":instance,
                   "reasonCode":reason.as_str(),"security":security,
                   "traceId":trace,"timestamp":ksef_timestamp(now)}),
            "application/problem+json",
        ),
        ApiError::Gone(detail) => (
            json!({"title":"Gone","status":410,"detail":detail,"instance":instance,
                   "traceId":trace,"timestamp":ksef_timestamp(now)}),
            "application/problem+json",
        ),
        other if problem_details => {
            let entries = other.legacy_entries();
            let errors: Vec<Value> = entries
                .iter()
                .map(|e| json!({"code":e.code.code(),"description":e.code.description(),"details":e.details}))
                .collect();
            let detail = entries
                .first()
                .map(|e| e.code.description().to_string())
                .unwrap_or_default();
            let title = status.canonical_reason().unwrap_or("Error");
            (
                json!({"title":title,"status":status.as_u16(),"instance":instance,"detail":detail,
                       "errors":errors,"traceId":trace,"timestamp":ksef_timestamp(now)}),
                "application/problem+json",
            )
        }
        other => {
            let list: Vec<Value> = other
                .legacy_entries()
                .iter()
                .map(|e| {
                    json!({"exceptionCode":e.code.code(),"exceptionDescription":e.code.description(),
                           "details":e.details})
                })
                .collect();
            // The real service omits the zone in this legacy timestamp (digest §16.1).
            let ts = ksef_timestamp(now);
            let ts = ts.trim_end_matches("+00:00").to_string();
            (
                json!({"exception":{"exceptionDetailList":list,"referenceNumber":null,
                       "serviceCode":format!("00-{trace}-{}-00",&trace[..16]),"serviceCtx":"srvEMUL",
                       "serviceName":"ksef-emulator","timestamp":ts}}),
                "application/json",
            )
        }
    };
    let bytes = serde_json::to_vec(&body).unwrap_or_default();
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    out.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out
}
