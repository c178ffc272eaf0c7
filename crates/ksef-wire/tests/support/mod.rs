//! Helpers shared by the integration tests: loading the OpenAPI, a small schema checker and
//! a semantic JSON comparison.

#![allow(dead_code)]

use std::path::PathBuf;

use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Map, Value};

use ksef_wire::*;

/// `open-api.json`, resolved relative to this crate (vendored in `spec/` at the repository root).
pub fn spec() -> Value {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec/ksef-docs/open-api.json");
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_str(&text).expect("open-api.json is valid JSON")
}

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

// ---------------------------------------------------------------------------------------------
// Schema checker
// ---------------------------------------------------------------------------------------------

/// The parts of a schema the checker uses, with `$ref` and `allOf` merged in.
#[derive(Default, Debug)]
struct Merged {
    required: Vec<String>,
    properties: Map<String, Value>,
    ty: Option<String>,
    nullable: bool,
    enum_values: Option<Vec<Value>>,
    items: Option<Value>,
    format: Option<String>,
    additional: bool,
}

fn merge_into(spec: &Value, schema: &Value, m: &mut Merged) {
    if let Some(r) = schema.get("$ref").and_then(Value::as_str) {
        let name = r.rsplit('/').next().unwrap_or_default();
        let target = &spec["components"]["schemas"][name];
        assert!(!target.is_null(), "unresolved $ref {r}");
        merge_into(spec, target, m);
    }
    if let Some(parts) = schema.get("allOf").and_then(Value::as_array) {
        for p in parts {
            merge_into(spec, p, m);
        }
    }
    if let Some(req) = schema.get("required").and_then(Value::as_array) {
        m.required
            .extend(req.iter().filter_map(Value::as_str).map(str::to_owned));
    }
    if let Some(props) = schema.get("properties").and_then(Value::as_object) {
        for (k, v) in props {
            m.properties.insert(k.clone(), v.clone());
        }
    }
    if let Some(t) = schema.get("type").and_then(Value::as_str) {
        m.ty = Some(t.to_owned());
    }
    if schema.get("nullable").and_then(Value::as_bool) == Some(true) {
        m.nullable = true;
    }
    if let Some(e) = schema.get("enum").and_then(Value::as_array) {
        m.enum_values = Some(e.clone());
    }
    if let Some(i) = schema.get("items") {
        m.items = Some(i.clone());
    }
    if let Some(f) = schema.get("format").and_then(Value::as_str) {
        m.format = Some(f.to_owned());
    }
    if schema.get("additionalProperties").is_some() {
        m.additional = true;
    }
}

/// Checks `value` against `schema`: required properties present, no `null` where not
/// nullable, JSON types, enum values, date/date-time formats, and no property the schema
/// does not define (catches misspelled field names). Problems are appended to `errors`.
pub fn check(spec: &Value, schema: &Value, value: &Value, path: &str, errors: &mut Vec<String>) {
    let mut m = Merged::default();
    merge_into(spec, schema, &mut m);
    if value.is_null() {
        if !m.nullable {
            errors.push(format!("{path}: null but the schema is not nullable"));
        }
        return;
    }
    let ty =
        m.ty.clone()
            .or_else(|| (!m.properties.is_empty()).then(|| "object".to_owned()));
    match ty.as_deref() {
        Some("object") => {
            let Some(obj) = value.as_object() else {
                errors.push(format!("{path}: expected an object, got {value}"));
                return;
            };
            for r in &m.required {
                if !obj.contains_key(r) {
                    errors.push(format!("{path}: missing required property {r:?}"));
                }
            }
            for (k, v) in obj {
                match m.properties.get(k) {
                    Some(ps) => check(spec, ps, v, &format!("{path}.{k}"), errors),
                    None if m.additional => {}
                    None => errors.push(format!("{path}: property {k:?} is not in the schema")),
                }
            }
        }
        Some("array") => {
            let Some(arr) = value.as_array() else {
                errors.push(format!("{path}: expected an array, got {value}"));
                return;
            };
            if let Some(items) = &m.items {
                for (i, v) in arr.iter().enumerate() {
                    check(spec, items, v, &format!("{path}[{i}]"), errors);
                }
            }
        }
        Some("string") => {
            let Some(s) = value.as_str() else {
                errors.push(format!("{path}: expected a string, got {value}"));
                return;
            };
            if let Some(e) = &m.enum_values
                && !e.iter().any(|x| x == value)
            {
                errors.push(format!("{path}: {s:?} is not one of {e:?}"));
            }
            match m.format.as_deref() {
                Some("date-time") if ksef_time::parse(s).is_err() => {
                    errors.push(format!("{path}: {s:?} is not a date-time"));
                }
                Some("date") if ksef_time::date::parse(s).is_err() => {
                    errors.push(format!("{path}: {s:?} is not a date"));
                }
                _ => {}
            }
        }
        Some("integer") if !(value.is_i64() || value.is_u64()) => {
            errors.push(format!("{path}: expected an integer, got {value}"));
        }
        Some("boolean") if !value.is_boolean() => {
            errors.push(format!("{path}: expected a boolean, got {value}"));
        }
        _ => {}
    }
}

/// The schema for a fixture/sample name: `Name` or `Name[]`.
pub fn schema_ref(name: &str) -> Value {
    match name.strip_suffix("[]") {
        Some(item) => serde_json::json!({
            "type": "array", "items": {"$ref": format!("#/components/schemas/{item}")}
        }),
        None => serde_json::json!({"$ref": format!("#/components/schemas/{name}")}),
    }
}

// ---------------------------------------------------------------------------------------------
// Semantic comparison
// ---------------------------------------------------------------------------------------------

/// Compares two JSON values modulo the documented differences: an absent property equals
/// `null`, and two strings that parse as the same instant are equal (the crate always writes
/// 7 fractional digits and `+00:00`).
pub fn semantic_diff(expected: &Value, actual: &Value, path: &str, diffs: &mut Vec<String>) {
    match (expected, actual) {
        (Value::Object(e), Value::Object(a)) => {
            let keys: std::collections::BTreeSet<&String> = e.keys().chain(a.keys()).collect();
            for k in keys {
                let p = format!("{path}.{k}");
                match (e.get(k), a.get(k)) {
                    (Some(ev), Some(av)) => semantic_diff(ev, av, &p, diffs),
                    (Some(Value::Null), None) | (None, Some(Value::Null)) => {}
                    (Some(ev), None) => diffs.push(format!("{p}: dropped {ev}")),
                    (None, Some(av)) => diffs.push(format!("{p}: added {av}")),
                    (None, None) => {}
                }
            }
        }
        (Value::Array(e), Value::Array(a)) => {
            if e.len() != a.len() {
                diffs.push(format!("{path}: length {} != {}", e.len(), a.len()));
                return;
            }
            for (i, (ev, av)) in e.iter().zip(a).enumerate() {
                semantic_diff(ev, av, &format!("{path}[{i}]"), diffs);
            }
        }
        (Value::String(e), Value::String(a)) if e != a => {
            match (ksef_time::parse(e), ksef_time::parse(a)) {
                (Ok(te), Ok(ta)) if te == ta => {}
                _ => diffs.push(format!("{path}: {e:?} != {a:?}")),
            }
        }
        (e, a) if e != a => diffs.push(format!("{path}: {e} != {a}")),
        _ => {}
    }
}

// ---------------------------------------------------------------------------------------------
// Schema name -> Rust type
// ---------------------------------------------------------------------------------------------

fn roundtrip<T: DeserializeOwned + Serialize>(v: &Value) -> Result<Value, String> {
    let t: T = serde_json::from_value(v.clone()).map_err(|e| e.to_string())?;
    serde_json::to_value(&t).map_err(|e| e.to_string())
}

pub type Codec = fn(&Value) -> Result<Value, String>;

/// Deserialize + re-serialize through the Rust type implementing the schema `name`.
pub fn codec(name: &str) -> Option<Codec> {
    Some(match name {
        "PublicKeyCertificate[]" => roundtrip::<Vec<PublicKeyCertificate>>,
        "PublicKeyCertificate" => roundtrip::<PublicKeyCertificate>,
        "AuthenticationChallengeResponse" => roundtrip::<AuthenticationChallengeResponse>,
        "AuthenticationInitResponse" => roundtrip::<AuthenticationInitResponse>,
        "InitTokenAuthenticationRequest" => roundtrip::<InitTokenAuthenticationRequest>,
        "AuthenticationOperationStatusResponse" => {
            roundtrip::<AuthenticationOperationStatusResponse>
        }
        "AuthenticationTokensResponse" => roundtrip::<AuthenticationTokensResponse>,
        "AuthenticationTokenRefreshResponse" => roundtrip::<AuthenticationTokenRefreshResponse>,
        "AuthenticationListResponse" => roundtrip::<AuthenticationListResponse>,
        "GenerateTokenRequest" => roundtrip::<GenerateTokenRequest>,
        "GenerateTokenResponse" => roundtrip::<GenerateTokenResponse>,
        "QueryTokensResponse" => roundtrip::<QueryTokensResponse>,
        "TokenStatusResponse" => roundtrip::<TokenStatusResponse>,
        "EffectiveContextLimits" => roundtrip::<EffectiveContextLimits>,
        "EffectiveSubjectLimits" => roundtrip::<EffectiveSubjectLimits>,
        "EffectiveApiRateLimits" => roundtrip::<EffectiveApiRateLimits>,
        "SubjectCreateRequest" => roundtrip::<SubjectCreateRequest>,
        "SubjectRemoveRequest" => roundtrip::<SubjectRemoveRequest>,
        "PersonCreateRequest" => roundtrip::<PersonCreateRequest>,
        "PersonRemoveRequest" => roundtrip::<PersonRemoveRequest>,
        "TestDataPermissionsGrantRequest" => roundtrip::<TestDataPermissionsGrantRequest>,
        "TestDataPermissionsRevokeRequest" => roundtrip::<TestDataPermissionsRevokeRequest>,
        "AttachmentPermissionGrantRequest" => roundtrip::<AttachmentPermissionGrantRequest>,
        "AttachmentPermissionRevokeRequest" => roundtrip::<AttachmentPermissionRevokeRequest>,
        "BlockContextAuthenticationRequest" => roundtrip::<BlockContextAuthenticationRequest>,
        "UnblockContextAuthenticationRequest" => roundtrip::<UnblockContextAuthenticationRequest>,
        "SetSessionLimitsRequest" => roundtrip::<SetSessionLimitsRequest>,
        "SetSubjectLimitsRequest" => roundtrip::<SetSubjectLimitsRequest>,
        "SetRateLimitsRequest" => roundtrip::<SetRateLimitsRequest>,
        "ExceptionResponse" => roundtrip::<ExceptionResponse>,
        "BadRequestProblemDetails" => roundtrip::<BadRequestProblemDetails>,
        "UnauthorizedProblemDetails" => roundtrip::<UnauthorizedProblemDetails>,
        "ForbiddenProblemDetails" => roundtrip::<ForbiddenProblemDetails>,
        "GoneProblemDetails" => roundtrip::<GoneProblemDetails>,
        "TooManyRequestsResponse" => roundtrip::<TooManyRequestsResponse>,
        "TooManyRequestsProblemDetails" => roundtrip::<TooManyRequestsProblemDetails>,
        "StatusInfo" => roundtrip::<StatusInfo>,
        "PersonalPermissionsQueryRequest" => roundtrip::<PersonalPermissionsQueryRequest>,
        "QueryPersonalPermissionsResponse" => roundtrip::<QueryPersonalPermissionsResponse>,
        "PersonalPermission" => roundtrip::<PersonalPermission>,
        "FormCode" => roundtrip::<FormCode>,
        "EncryptionInfo" => roundtrip::<EncryptionInfo>,
        "OpenOnlineSessionRequest" => roundtrip::<OpenOnlineSessionRequest>,
        "OpenOnlineSessionResponse" => roundtrip::<OpenOnlineSessionResponse>,
        "SendInvoiceRequest" => roundtrip::<SendInvoiceRequest>,
        "SendInvoiceResponse" => roundtrip::<SendInvoiceResponse>,
        "OpenBatchSessionRequest" => roundtrip::<OpenBatchSessionRequest>,
        "OpenBatchSessionResponse" => roundtrip::<OpenBatchSessionResponse>,
        "BatchFileInfo" => roundtrip::<BatchFileInfo>,
        "BatchFilePartInfo" => roundtrip::<BatchFilePartInfo>,
        "PartUploadRequest" => roundtrip::<PartUploadRequest>,
        "SessionsQueryResponse" => roundtrip::<SessionsQueryResponse>,
        "SessionsQueryResponseItem" => roundtrip::<SessionsQueryResponseItem>,
        "SessionStatusResponse" => roundtrip::<SessionStatusResponse>,
        "UpoResponse" => roundtrip::<UpoResponse>,
        "UpoPageResponse" => roundtrip::<UpoPageResponse>,
        "SessionInvoicesResponse" => roundtrip::<SessionInvoicesResponse>,
        "SessionInvoiceStatusResponse" => roundtrip::<SessionInvoiceStatusResponse>,
        "InvoiceStatusInfo" => roundtrip::<InvoiceStatusInfo>,
        "InvoiceQueryFilters" => roundtrip::<InvoiceQueryFilters>,
        "InvoiceQueryDateRange" => roundtrip::<InvoiceQueryDateRange>,
        "InvoiceQueryAmount" => roundtrip::<InvoiceQueryAmount>,
        "InvoiceQueryBuyerIdentifier" => roundtrip::<InvoiceQueryBuyerIdentifier>,
        "QueryInvoicesMetadataResponse" => roundtrip::<QueryInvoicesMetadataResponse>,
        "InvoiceMetadata" => roundtrip::<InvoiceMetadata>,
        "InvoiceMetadataSeller" => roundtrip::<InvoiceMetadataSeller>,
        "InvoiceMetadataBuyer" => roundtrip::<InvoiceMetadataBuyer>,
        "InvoiceMetadataBuyerIdentifier" => roundtrip::<InvoiceMetadataBuyerIdentifier>,
        "InvoiceMetadataThirdSubject" => roundtrip::<InvoiceMetadataThirdSubject>,
        "InvoiceMetadataThirdSubjectIdentifier" => {
            roundtrip::<InvoiceMetadataThirdSubjectIdentifier>
        }
        "InvoiceMetadataAuthorizedSubject" => roundtrip::<InvoiceMetadataAuthorizedSubject>,
        "InvoiceExportRequest" => roundtrip::<InvoiceExportRequest>,
        "ExportInvoicesResponse" => roundtrip::<ExportInvoicesResponse>,
        "InvoiceExportStatusResponse" => roundtrip::<InvoiceExportStatusResponse>,
        "InvoicePackage" => roundtrip::<InvoicePackage>,
        "InvoicePackagePart" => roundtrip::<InvoicePackagePart>,
        _ => return None,
    })
}
