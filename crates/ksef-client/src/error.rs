//! [`KsefError`]: the one error type of the client, and the mapping of KSeF error bodies
//! (legacy `exception`, Problem Details, legacy 429) onto it (digest §16, §15.2).

use std::fmt;
use std::time::Duration;

use ksef_wire::{
    BadRequestProblemDetails, ExceptionCode, ExceptionResponse, ForbiddenProblemDetails,
    TooManyRequestsResponse,
};
use serde_json::Value;
use time::OffsetDateTime;

/// How many characters of an unrecognised error body are kept in the description.
const UNKNOWN_BODY_PREFIX_CHARS: usize = 200;

/// Every failure of the client.
#[derive(Debug, thiserror::Error)]
pub enum KsefError {
    /// KSeF answered with an HTTP error status. Built from either body format: the legacy
    /// `exception` body (`code` = first `exceptionCode`), Problem Details (400/401/403/410/429;
    /// `reason_code` = the 403 `reasonCode`), or the legacy 429 body. An unrecognised body gives
    /// the HTTP reason phrase plus the first 200 characters of the body.
    #[error("{}", ApiDisplay { status: *status, code: *code, description, details, reason_code })]
    Api {
        /// HTTP status.
        status: u16,
        /// KSeF exception code (e.g. 21405), when the body carries one.
        code: Option<u32>,
        /// Description (Polish, as KSeF sends it).
        description: String,
        /// Specific messages (validator output, limits, …). Further error entries of a
        /// multi-error body are appended here as `"[code] description: details"`.
        details: Vec<String>,
        /// `reasonCode` of a 403 (e.g. `auth-method-not-allowed`).
        reason_code: Option<String>,
    },
    /// The asynchronous authentication ended with a status other than 200 (digest §4.8:
    /// 415, 425, 450, 460, 470, 480, 500, 550).
    #[error(
        "authentication failed with status {code}: {description}{}",
        join_details(details)
    )]
    AuthenticationFailed {
        /// `status.code` of `GET /auth/{referenceNumber}`.
        code: u16,
        /// `status.description`.
        description: String,
        /// `status.details`.
        details: Vec<String>,
    },
    /// A KSeF token ended in a state that can never authenticate (`Failed`, `Revoking`,
    /// `Revoked`) while we waited for `Active`.
    #[error(
        "KSeF token {reference_number} is {status}, not Active{}",
        join_details(details)
    )]
    TokenNotActive {
        /// Reference number of the token.
        reference_number: String,
        /// Its status (API name).
        status: String,
        /// `statusDetails`.
        details: Vec<String>,
    },
    /// The stored session can no longer be refreshed: its refresh token expired. Log in again.
    #[error("the session's refresh token expired at {refresh_valid_until}; log in again")]
    SessionExpired {
        /// When the refresh token expired.
        refresh_valid_until: OffsetDateTime,
    },
    /// Gave up waiting for an asynchronous operation.
    #[error("timed out after {waited:?} waiting for {what}")]
    Timeout {
        /// What we waited for.
        what: String,
        /// How long we waited.
        waited: Duration,
    },
    /// The request did not get an HTTP answer (connection refused, DNS, TLS, timeout…). The
    /// message names the URL.
    #[error("{0}")]
    Transport(String),
    /// A response could not be read as the expected type.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded (e.g. `GET /tokens response`).
        what: String,
        /// Why it failed.
        message: String,
    },
    /// The caller passed something unusable (bad URL, description too short, …).
    #[error("invalid input: {0}")]
    InvalidInput(String),
    /// Signing or encryption failed.
    #[error("cryptography error: {0}")]
    Crypto(String),
}

impl KsefError {
    /// The KSeF code of the error: the `exceptionCode` of an [`KsefError::Api`] error, or the
    /// final authentication status of [`KsefError::AuthenticationFailed`].
    pub fn code(&self) -> Option<u32> {
        match self {
            KsefError::Api { code, .. } => *code,
            KsefError::AuthenticationFailed { code, .. } => Some(u32::from(*code)),
            _ => None,
        }
    }

    /// The HTTP status of an [`KsefError::Api`] error.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            KsefError::Api { status, .. } => Some(*status),
            _ => None,
        }
    }

    /// The 403 `reasonCode` of an [`KsefError::Api`] error.
    pub fn reason_code(&self) -> Option<&str> {
        match self {
            KsefError::Api { reason_code, .. } => reason_code.as_deref(),
            _ => None,
        }
    }

    /// Whether this is the API error with the given exception code.
    pub fn is_exception(&self, code: ExceptionCode) -> bool {
        matches!(self, KsefError::Api { code: Some(c), .. } if *c == code.code())
    }

    /// Builds [`KsefError::Api`] from an HTTP error status and its body (any KSeF format).
    pub fn from_response(status: u16, body: &[u8]) -> KsefError {
        parse_error_body(status, body).unwrap_or_else(|| KsefError::Api {
            status,
            code: None,
            description: unknown_body_description(status, body),
            details: Vec::new(),
            reason_code: None,
        })
    }
}

fn join_details(details: &[String]) -> String {
    if details.is_empty() {
        String::new()
    } else {
        format!(" ({})", details.join("; "))
    }
}

/// `Display` of [`KsefError::Api`]: `HTTP 400, code 21405: <description> (<details>)`.
struct ApiDisplay<'a> {
    status: u16,
    code: Option<u32>,
    description: &'a str,
    details: &'a [String],
    reason_code: &'a Option<String>,
}

impl fmt::Display for ApiDisplay<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "KSeF API error: HTTP {}", self.status)?;
        if let Some(code) = self.code {
            write!(f, ", code {code}")?;
        }
        if let Some(reason) = self.reason_code {
            write!(f, ", reason {reason}")?;
        }
        write!(f, ": {}{}", self.description, join_details(self.details))
    }
}

fn reason_phrase(status: u16) -> &'static str {
    reqwest::StatusCode::from_u16(status)
        .ok()
        .and_then(|s| s.canonical_reason())
        .unwrap_or("Unknown status")
}

fn unknown_body_description(status: u16, body: &[u8]) -> String {
    let text = String::from_utf8_lossy(body);
    let text = text.trim();
    let prefix: String = text.chars().take(UNKNOWN_BODY_PREFIX_CHARS).collect();
    let ellipsis = if text.chars().count() > UNKNOWN_BODY_PREFIX_CHARS {
        "…"
    } else {
        ""
    };
    if prefix.is_empty() {
        format!("{status} {} (empty body)", reason_phrase(status))
    } else {
        format!("{status} {}: {prefix}{ellipsis}", reason_phrase(status))
    }
}

/// One error entry of a multi-error body.
struct Entry {
    code: i32,
    description: Option<String>,
    details: Vec<String>,
}

fn from_entries(status: u16, entries: Vec<Entry>) -> Option<KsefError> {
    let mut iter = entries.into_iter();
    let first = iter.next()?;
    let mut details = first.details;
    for more in iter {
        let desc = more
            .description
            .or_else(|| catalogue_description(more.code))
            .unwrap_or_default();
        let mut line = format!("[{}] {desc}", more.code);
        if !more.details.is_empty() {
            line.push_str(": ");
            line.push_str(&more.details.join("; "));
        }
        details.push(line);
    }
    let code = u32::try_from(first.code).ok();
    let description = first
        .description
        .filter(|d| !d.trim().is_empty())
        .or_else(|| catalogue_description(first.code))
        .unwrap_or_else(|| reason_phrase(status).to_owned());
    Some(KsefError::Api {
        status,
        code,
        description,
        details,
        reason_code: None,
    })
}

fn catalogue_description(code: i32) -> Option<String> {
    u32::try_from(code)
        .ok()
        .and_then(ExceptionCode::from_code)
        .map(|c| c.description().to_owned())
}

/// Tries every documented body format; `None` when none matches.
fn parse_error_body(status: u16, body: &[u8]) -> Option<KsefError> {
    // Legacy `exception` body (400 default, also observed on 500).
    if let Ok(ExceptionResponse {
        exception: Some(info),
    }) = serde_json::from_slice::<ExceptionResponse>(body)
        && let Some(list) = info.exception_detail_list
    {
        let entries = list
            .into_iter()
            .map(|d| Entry {
                code: d.exception_code,
                description: d.exception_description,
                details: d.details.unwrap_or_default(),
            })
            .collect();
        if let Some(e) = from_entries(status, entries) {
            return Some(e);
        }
    }
    // 400 Problem Details.
    if let Ok(p) = serde_json::from_slice::<BadRequestProblemDetails>(body) {
        let entries: Vec<Entry> = p
            .errors
            .into_iter()
            .map(|e| Entry {
                code: e.code,
                description: Some(e.description),
                details: e.details.unwrap_or_default(),
            })
            .collect();
        if let Some(e) = from_entries(status, entries) {
            return Some(e);
        }
        return Some(problem(status, &p.title, &p.detail, None, Vec::new()));
    }
    // 403 Problem Details.
    if let Ok(p) = serde_json::from_slice::<ForbiddenProblemDetails>(body) {
        let details = p
            .security
            .into_iter()
            .flatten()
            .map(|(k, v)| format!("{k}: {}", compact(&v)))
            .collect();
        return Some(problem(
            status,
            &p.title,
            &p.detail,
            Some(p.reason_code.as_str().to_owned()),
            details,
        ));
    }
    // Legacy 429 body.
    if let Ok(t) = serde_json::from_slice::<TooManyRequestsResponse>(body) {
        return Some(KsefError::Api {
            status,
            code: None,
            description: t.status.description,
            details: t.status.details,
            reason_code: None,
        });
    }
    // 401 / 410 / 429 Problem Details (and any RFC 7807 body): read leniently, since the
    // typed schemas also require `timestamp`/`traceId`, which a proxy may not send.
    let v: Value = serde_json::from_slice(body).ok()?;
    let obj = v.as_object()?;
    let title = obj.get("title").and_then(Value::as_str);
    let detail = obj.get("detail").and_then(Value::as_str);
    if title.is_none() && detail.is_none() {
        return None;
    }
    let reason = obj
        .get("reasonCode")
        .and_then(Value::as_str)
        .map(str::to_owned);
    Some(problem(
        status,
        title.unwrap_or(""),
        detail.unwrap_or(""),
        reason,
        Vec::new(),
    ))
}

fn problem(
    status: u16,
    title: &str,
    detail: &str,
    reason_code: Option<String>,
    details: Vec<String>,
) -> KsefError {
    let description = match (title.trim(), detail.trim()) {
        ("", "") => reason_phrase(status).to_owned(),
        (t, "") => t.to_owned(),
        ("", d) => d.to_owned(),
        (t, d) if t == d => t.to_owned(),
        (t, d) => format!("{t}: {d}"),
    };
    KsefError::Api {
        status,
        code: None,
        description,
        details,
        reason_code,
    }
}

fn compact(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        Value::Array(items) => items.iter().map(compact).collect::<Vec<_>>().join(", "),
        other => other.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: Value) -> Vec<u8> {
        serde_json::to_vec(&v).unwrap()
    }

    #[test]
    fn legacy_exception_body() {
        let e = KsefError::from_response(
            400,
            &body(json!({"exception": {
                "exceptionDetailList": [
                    {"exceptionCode": 21405, "exceptionDescription": "Błąd walidacji danych wejściowych.", "details": ["description: too short"]},
                    {"exceptionCode": 21111, "exceptionDescription": null, "details": null}
                ],
                "referenceNumber": null, "serviceCode": "00-1-2-00", "serviceCtx": "srvABCDA",
                "serviceName": "Undefined", "timestamp": "2025-10-11T12:23:56.0154302"}})),
        );
        let KsefError::Api {
            status,
            code,
            description,
            details,
            reason_code,
        } = &e
        else {
            panic!("{e:?}")
        };
        assert_eq!((*status, *code), (400, Some(21405)));
        assert_eq!(description, "Błąd walidacji danych wejściowych.");
        assert_eq!(details[0], "description: too short");
        assert!(
            details[1].starts_with("[21111] Nieprawidłowe wyzwanie"),
            "{details:?}"
        );
        assert!(reason_code.is_none());
        let shown = e.to_string();
        assert!(
            shown.contains("21405") && shown.contains("too short"),
            "{shown}"
        );
        assert_eq!(e.code(), Some(21405));
        assert!(e.is_exception(ExceptionCode::from_code(21405).unwrap()));
    }

    #[test]
    fn problem_details_400_403_401() {
        let e = KsefError::from_response(
            400,
            &body(
                json!({"title": "Bad Request", "status": 400, "instance": "/v2/tokens",
                "detail": "x", "errors": [{"code": 26001, "description": "Brak uprawnień", "details": ["InvoiceWrite"]}],
                "timestamp": "2025-07-11T12:23:56Z", "traceId": "t"}),
            ),
        );
        assert_eq!(e.code(), Some(26001));
        assert!(e.to_string().contains("InvoiceWrite"));

        let e = KsefError::from_response(
            403,
            &body(
                json!({"title": "Forbidden", "status": 403, "detail": "Token sessions cannot do that",
                "reasonCode": "auth-method-not-allowed",
                "security": {"authenticationMethodCategory": "Token"},
                "timestamp": "2025-07-11T12:23:56Z"}),
            ),
        );
        assert_eq!(e.reason_code(), Some("auth-method-not-allowed"));
        assert_eq!(e.http_status(), Some(403));
        assert!(
            e.to_string()
                .contains("authenticationMethodCategory: Token"),
            "{e}"
        );

        // 401 without a timestamp still maps (lenient path).
        let e = KsefError::from_response(
            401,
            &body(json!({"title": "Unauthorized", "status": 401, "detail": "Token expired"})),
        );
        let KsefError::Api { description, .. } = &e else {
            panic!()
        };
        assert_eq!(description, "Unauthorized: Token expired");
    }

    #[test]
    fn legacy_429_and_unknown_bodies() {
        let e = KsefError::from_response(
            429,
            &body(
                json!({"status": {"code": 429, "description": "Too Many Requests",
                "details": ["Przekroczono limit 20 żądań na minutę."]}}),
            ),
        );
        assert!(e.to_string().contains("Przekroczono limit"), "{e}");

        let long = "x".repeat(500);
        let e = KsefError::from_response(502, long.as_bytes());
        let KsefError::Api { description, .. } = &e else {
            panic!()
        };
        assert!(
            description.starts_with("502 Bad Gateway: xxx"),
            "{description}"
        );
        assert_eq!(description.chars().filter(|c| *c == 'x').count(), 200);

        let e = KsefError::from_response(403, b"");
        assert!(e.to_string().contains("403 Forbidden (empty body)"), "{e}");
    }
}
