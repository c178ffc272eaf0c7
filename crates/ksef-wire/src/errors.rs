//! Error bodies (digest §16, §15.2): the legacy `exception` JSON ([`ExceptionResponse`]),
//! RFC 7807 Problem Details for 400/401/403/410/429, and the legacy 429 body
//! ([`TooManyRequestsResponse`]).

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use time::OffsetDateTime;

use crate::common::{OpenEnum, wire_enum};
use crate::ksef_time;

/// `ExceptionResponse`: the default 400 body (`application/json`; deprecated by MF but still
/// the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionResponse {
    /// The exception; optional in the schema, skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub exception: Option<ExceptionInfo>,
}

impl ExceptionResponse {
    /// Wraps an [`ExceptionInfo`].
    pub fn new(exception: ExceptionInfo) -> Self {
        ExceptionResponse {
            exception: Some(exception),
        }
    }
}

/// `ExceptionInfo`. Absent properties are left out, as the real service does (a 400 body from
/// TEST: `{"exception":{"exceptionDetailList":[…],"serviceCode":"…","timestamp":"…Z"}}`);
/// `null` is still read. `timestamp` is written in UTC with `Z` ([`ksef_time::zulu`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionInfo {
    /// One entry per error code.
    #[serde(default)]
    pub exception_detail_list: Option<Vec<ExceptionDetails>>,
    /// Reference number related to the error, if any (not necessarily a KSeF reference
    /// number: the OpenAPI example holds a GUID).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reference_number: Option<String>,
    /// Trace identifier, e.g. `00-c02cc3747020c605be02159bf3324f0e-eee7647dc67aa74a-00`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_code: Option<String>,
    /// Service context, e.g. `srvABCDA`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_ctx: Option<String>,
    /// Service name, e.g. `Undefined`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub service_name: Option<String>,
    /// When the error happened (UTC); skipped when `None`.
    #[serde(
        default,
        with = "ksef_time::zulu::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub timestamp: Option<OffsetDateTime>,
}

/// `ExceptionDetails`: one error code with its description and details. Nullable properties
/// are written as `null` when `None` (see [`ExceptionInfo`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExceptionDetails {
    /// The exception code (e.g. 21405). Optional in the schema; absent reads as 0, always
    /// written.
    #[serde(default)]
    pub exception_code: i32,
    /// Description of the code.
    #[serde(default)]
    pub exception_description: Option<String>,
    /// Specific messages.
    #[serde(default)]
    pub details: Option<Vec<String>>,
}

impl ExceptionDetails {
    /// An entry with a code, its description and details.
    pub fn new(
        code: i32,
        description: impl Into<String>,
        details: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        ExceptionDetails {
            exception_code: code,
            exception_description: Some(description.into()),
            details: Some(details.into_iter().map(Into::into).collect()),
        }
    }
}

/// `ApiError`: one entry of [`BadRequestProblemDetails::errors`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ApiError {
    /// Error code (the same codes as `exceptionCode`).
    pub code: i32,
    /// Description of the code.
    pub description: String,
    /// Specific messages; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<String>>,
}

impl ApiError {
    /// An entry with a code, its description and details.
    pub fn new(
        code: i32,
        description: impl Into<String>,
        details: impl IntoIterator<Item = impl Into<String>>,
    ) -> Self {
        ApiError {
            code,
            description: description.into(),
            details: Some(details.into_iter().map(Into::into).collect()),
        }
    }
}

impl From<ApiError> for ExceptionDetails {
    fn from(e: ApiError) -> Self {
        ExceptionDetails {
            exception_code: e.code,
            exception_description: Some(e.description),
            details: e.details,
        }
    }
}

/// `BadRequestProblemDetails`: 400 with `X-Error-Format: problem-details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BadRequestProblemDetails {
    /// `Bad Request`.
    pub title: String,
    /// 400.
    pub status: u16,
    /// The request path.
    pub instance: String,
    /// General description.
    pub detail: String,
    /// One entry per error.
    pub errors: Vec<ApiError>,
    /// When the error happened.
    #[serde(with = "ksef_time")]
    pub timestamp: OffsetDateTime,
    /// Trace identifier.
    pub trace_id: String,
}

impl BadRequestProblemDetails {
    /// The documented `title`.
    pub const TITLE: &'static str = "Bad Request";
    /// The HTTP status.
    pub const STATUS: u16 = 400;
}

/// `UnauthorizedProblemDetails`: every 401.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnauthorizedProblemDetails {
    /// `Unauthorized`.
    pub title: String,
    /// 401.
    pub status: u16,
    /// Why access was refused.
    pub detail: String,
    /// The request path; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Trace identifier; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// When the error happened.
    #[serde(with = "ksef_time")]
    pub timestamp: OffsetDateTime,
}

impl UnauthorizedProblemDetails {
    /// The documented `title`.
    pub const TITLE: &'static str = "Unauthorized";
    /// The HTTP status.
    pub const STATUS: u16 = 401;
}

wire_enum! {
    /// `reasonCode` of a 403 (digest §7.8).
    pub enum ForbiddenReasonCode {
        /// No required permission in the current context
        /// (`security`: `requiredAnyOfPermissions`, `presentPermissions`).
        MissingPermissions = "missing-permissions",
        /// Request from an IP outside the authorization policy (`security`: `clientIp`).
        IpNotAllowed = "ip-not-allowed",
        /// No access to the indicated resource.
        InsufficientResourceAccess = "insufficient-resource-access",
        /// Not available for the authentication method used
        /// (`security`: `authenticationMethodCategory`).
        AuthMethodNotAllowed = "auth-method-not-allowed",
        /// Blocked by security mechanisms (`security`: `incidentId`, `clientIp`).
        SecurityServiceBlocked = "security-service-blocked",
        /// Not available for the authenticated context type
        /// (`security`: `contextIdentifierType`).
        ContextTypeNotAllowed = "context-type-not-allowed",
    }
}

/// `ForbiddenProblemDetails`: every 403.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ForbiddenProblemDetails {
    /// `Forbidden`.
    pub title: String,
    /// 403.
    pub status: u16,
    /// Why access was refused.
    pub detail: String,
    /// The request path; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub instance: Option<String>,
    /// Machine-readable reason.
    pub reason_code: OpenEnum<ForbiddenReasonCode>,
    /// Reason-specific data (free-form object); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub security: Option<Map<String, Value>>,
    /// Trace identifier; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub trace_id: Option<String>,
    /// When the error happened.
    #[serde(with = "ksef_time")]
    pub timestamp: OffsetDateTime,
}

impl ForbiddenProblemDetails {
    /// The documented `title`.
    pub const TITLE: &'static str = "Forbidden";
    /// The HTTP status.
    pub const STATUS: u16 = 403;

    /// The `security` object of `missing-permissions`.
    pub fn missing_permissions_security(
        required_any_of: impl IntoIterator<Item = impl Into<String>>,
        present: impl IntoIterator<Item = impl Into<String>>,
    ) -> Map<String, Value> {
        let list = |it: Vec<String>| Value::Array(it.into_iter().map(Value::String).collect());
        let mut m = Map::new();
        m.insert(
            "requiredAnyOfPermissions".into(),
            list(required_any_of.into_iter().map(Into::into).collect()),
        );
        m.insert(
            "presentPermissions".into(),
            list(present.into_iter().map(Into::into).collect()),
        );
        m
    }
}

/// `GoneProblemDetails`: 410 for expired asynchronous statuses.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GoneProblemDetails {
    /// `Gone`.
    pub title: String,
    /// 410.
    pub status: u16,
    /// The request path.
    pub instance: String,
    /// General description.
    pub detail: String,
    /// When the error happened.
    #[serde(with = "ksef_time")]
    pub timestamp: OffsetDateTime,
    /// Trace identifier.
    pub trace_id: String,
}

impl GoneProblemDetails {
    /// The documented `title`.
    pub const TITLE: &'static str = "Gone";
    /// The HTTP status.
    pub const STATUS: u16 = 410;
}

/// The inner `status` object of [`TooManyRequestsResponse`] (inline in the OpenAPI).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TooManyRequestsStatus {
    /// Always 429.
    pub code: i32,
    /// `Too Many Requests`.
    pub description: String,
    /// Which limit was exceeded and when to retry.
    pub details: Vec<String>,
}

/// `TooManyRequestsResponse`: the default 429 body (deprecated by MF but still the default).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TooManyRequestsResponse {
    /// The error.
    pub status: TooManyRequestsStatus,
}

impl TooManyRequestsResponse {
    /// The documented `description`.
    pub const DESCRIPTION: &'static str = "Too Many Requests";

    /// A 429 body with the given details.
    pub fn new(details: impl IntoIterator<Item = impl Into<String>>) -> Self {
        TooManyRequestsResponse {
            status: TooManyRequestsStatus {
                code: 429,
                description: Self::DESCRIPTION.to_owned(),
                details: details.into_iter().map(Into::into).collect(),
            },
        }
    }
}

/// `TooManyRequestsProblemDetails`: 429 with `X-Error-Format: problem-details`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TooManyRequestsProblemDetails {
    /// `Too Many Requests`.
    pub title: String,
    /// 429.
    pub status: u16,
    /// The request path.
    pub instance: String,
    /// Which limit was exceeded and when to retry.
    pub detail: String,
    /// When the error happened.
    #[serde(with = "ksef_time")]
    pub timestamp: OffsetDateTime,
    /// Trace identifier.
    pub trace_id: String,
}

impl TooManyRequestsProblemDetails {
    /// The documented `title`.
    pub const TITLE: &'static str = "Too Many Requests";
    /// The HTTP status.
    pub const STATUS: u16 = 429;
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn exception_info_leaves_absent_fields_out_and_writes_z_timestamp() {
        let body = ExceptionResponse::new(ExceptionInfo {
            exception_detail_list: Some(vec![ExceptionDetails::new(
                21405,
                "Błąd walidacji danych wejściowych.",
                ["contextIdentifier.value: bad"],
            )]),
            reference_number: None,
            service_code: Some("00-abc-00".into()),
            service_ctx: None,
            service_name: None,
            timestamp: Some(datetime!(2025-10-11 12:23:56.0154302 UTC)),
        });
        let v = serde_json::to_value(&body).unwrap();
        let exception = v["exception"].as_object().unwrap();
        for absent in ["referenceNumber", "serviceCtx", "serviceName"] {
            assert!(!exception.contains_key(absent), "{absent} written: {v}");
        }
        assert_eq!(v["exception"]["timestamp"], "2025-10-11T12:23:56.0154302Z");
        assert_eq!(
            v["exception"]["exceptionDetailList"][0]["exceptionCode"],
            21405
        );
        // Older bodies (offset-less timestamp, explicit nulls) still read.
        let old: ExceptionResponse = serde_json::from_value(serde_json::json!({"exception": {
            "referenceNumber": null, "serviceCtx": null,
            "timestamp": "2025-10-11T12:23:56.0154302"
        }}))
        .unwrap();
        let info = old.exception.unwrap();
        assert_eq!(
            info.timestamp,
            Some(datetime!(2025-10-11 12:23:56.0154302 UTC))
        );
        assert_eq!(info.reference_number, None);
    }

    #[test]
    fn forbidden_reason_codes_round_trip() {
        let v: ForbiddenProblemDetails = serde_json::from_value(serde_json::json!({
            "title": "Forbidden", "status": 403, "detail": "x",
            "reasonCode": "auth-method-not-allowed",
            "security": {"authenticationMethodCategory": "Token"},
            "timestamp": "2025-07-11T12:23:56Z"
        }))
        .unwrap();
        assert_eq!(v.reason_code, ForbiddenReasonCode::AuthMethodNotAllowed);
        let out = serde_json::to_value(&v).unwrap();
        assert_eq!(out["reasonCode"], "auth-method-not-allowed");
        assert!(out.get("instance").is_none());
        let sec = ForbiddenProblemDetails::missing_permissions_security(
            ["InvoiceRead"],
            ["CredentialsRead"],
        );
        assert_eq!(sec["requiredAnyOfPermissions"][0], "InvoiceRead");
    }
}
