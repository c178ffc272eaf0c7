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
use ksef_wire as wire;
use serde_json::Value;
use time::OffsetDateTime;

use ksef_wire::ExceptionCode;

/// 403 reason codes (digest §7.8): the shared wire enum.
pub use ksef_wire::ForbiddenReasonCode as ForbiddenReason;

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
    Forbidden {
        reason: ForbiddenReason,
        detail: String,
        security: Value,
    },
    /// 404 for paths outside the API.
    NotFound(String),
    /// 410 for expired asynchronous statuses.
    Gone(String),
    /// A request body larger than the configured cap (the limit in bytes; 0 = not known where
    /// it was detected). Answered as a documented 400/21405: the OpenAPI documents no 413.
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
        let details = if detail.is_empty() {
            Vec::new()
        } else {
            vec![detail]
        };
        ApiError::BadRequest(vec![ErrorEntry { code, details }])
    }

    /// A 400/21405 input validation error.
    pub fn validation(detail: impl Into<String>) -> Self {
        Self::bad(ExceptionCode::InputValidation, detail)
    }

    pub fn forbidden(reason: ForbiddenReason, detail: impl Into<String>, security: Value) -> Self {
        ApiError::Forbidden {
            reason,
            detail: detail.into(),
            security,
        }
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
            ApiError::PayloadTooLarge(_) => StatusCode::BAD_REQUEST,
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
                vec![ErrorEntry {
                    code: ExceptionCode::InputValidation,
                    details: vec![d.clone()],
                }]
            }
            ApiError::PayloadTooLarge(max) => vec![ErrorEntry {
                code: ExceptionCode::InputValidation,
                details: vec![if *max == 0 {
                    "Treść żądania przekracza dopuszczalny rozmiar.".to_string()
                } else {
                    format!("Treść żądania przekracza dopuszczalny rozmiar ({max} bajtów).")
                }],
            }],
            ApiError::Internal(_) => vec![ErrorEntry {
                code: ExceptionCode::Unknown,
                details: vec!["Internal emulator error; see the emulator log.".into()],
            }],
            ApiError::Unauthorized(_) | ApiError::Forbidden { .. } | ApiError::Gone(_) => {
                Vec::new()
            }
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
                let parts: Vec<String> = e
                    .iter()
                    .map(|e| format!("{} {}", e.code.code(), e.details.join("; ")))
                    .collect();
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

fn trace_id() -> String {
    let bytes: [u8; 16] = rand::random();
    hex::encode(bytes)
}

fn security_map(v: &Value) -> Option<serde_json::Map<String, Value>> {
    v.as_object().cloned()
}

/// Middleware: renders a stashed [`ApiError`] in the format the request asked for, with the
/// shared wire types of `ksef-wire`.
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
    let timestamp = OffsetDateTime::now_utc();
    let trace = trace_id();
    let problem = |v: Result<Vec<u8>, serde_json::Error>| (v, "application/problem+json");
    let (body, content_type) = match &err {
        ApiError::Unauthorized(detail) => {
            problem(serde_json::to_vec(&wire::UnauthorizedProblemDetails {
                title: wire::UnauthorizedProblemDetails::TITLE.into(),
                status: 401,
                detail: detail.clone(),
                instance: Some(instance),
                trace_id: Some(trace),
                timestamp,
            }))
        }
        ApiError::Forbidden {
            reason,
            detail,
            security,
        } => problem(serde_json::to_vec(&wire::ForbiddenProblemDetails {
            title: wire::ForbiddenProblemDetails::TITLE.into(),
            status: 403,
            detail: detail.clone(),
            instance: Some(instance),
            reason_code: (*reason).into(),
            security: security_map(security),
            trace_id: Some(trace),
            timestamp,
        })),
        ApiError::Gone(detail) => problem(serde_json::to_vec(&wire::GoneProblemDetails {
            title: wire::GoneProblemDetails::TITLE.into(),
            status: 410,
            instance,
            detail: detail.clone(),
            timestamp,
            trace_id: trace,
        })),
        other if problem_details => {
            let entries = other.legacy_entries();
            let detail = entries
                .first()
                .map(|e| e.code.description().to_string())
                .unwrap_or_default();
            problem(serde_json::to_vec(&wire::BadRequestProblemDetails {
                title: status.canonical_reason().unwrap_or("Error").to_string(),
                status: status.as_u16(),
                instance,
                detail,
                errors: entries
                    .iter()
                    .map(|e| {
                        wire::ApiError::new(
                            e.code.code() as i32,
                            e.code.description(),
                            e.details.clone(),
                        )
                    })
                    .collect(),
                timestamp,
                trace_id: trace,
            }))
        }
        other => {
            let list = other
                .legacy_entries()
                .iter()
                .map(|e| {
                    wire::ExceptionDetails::new(
                        e.code.code() as i32,
                        e.code.description(),
                        e.details.clone(),
                    )
                })
                .collect();
            let info = wire::ExceptionInfo {
                exception_detail_list: Some(list),
                reference_number: None,
                service_code: Some(format!("00-{trace}-{}-00", &trace[..16])),
                // The real service leaves absent fields out (a 400 body from TEST).
                service_ctx: None,
                service_name: None,
                timestamp: Some(timestamp),
            };
            (
                serde_json::to_vec(&wire::ExceptionResponse::new(info)),
                "application/json",
            )
        }
    };
    let bytes = match body {
        Ok(b) => b,
        Err(e) => {
            tracing::error!(error = %e, "cannot serialise an error body");
            Vec::new()
        }
    };
    let mut out = Response::new(Body::from(bytes));
    *out.status_mut() = status;
    out.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    out
}

/// Errors while starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    /// The data directory (or its database) cannot be written: a start would only lead to a
    /// 500 for every write.
    #[error(
        "the data directory {path} is not writable ({reason}); the emulator keeps its database \
         and files there: make it writable or choose another data directory"
    )]
    ReadOnly { path: String, reason: String },
    /// The data directory is open to other users and belongs to another user, so the emulator
    /// does not change its mode.
    #[error(
        "the data directory {path} is accessible to other users (mode {mode:04o}) and cannot be \
         made private by this user; run `chmod 700 {path}` as its owner or choose another data \
         directory"
    )]
    DataDirNotPrivate { path: String, mode: u32 },
    #[error("database {path}: {source}")]
    Database { path: String, source: sqlx::Error },
    #[error("service keys: {0}")]
    Keys(String),
}
