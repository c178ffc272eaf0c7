//! The official `open-api.json` as a test oracle for responses: which status codes and content
//! types each operation documents, and whether a JSON body validates against the schema the
//! OpenAPI gives for that status and content type — formats included (`date-time`, `date`,
//! `uri`, `int32`, `int64`, `byte`).
//!
//! The OpenAPI is 3.0 (its schemas are JSON Schema draft 4 plus `nullable`), so each schema is
//! validated by `boon` as draft 4 after one rewrite: `nullable: true` becomes
//! `anyOf: [<the schema>, {"type": "null"}]`. Nothing else is relaxed.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::error::Error;
use std::sync::{Mutex, OnceLock};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use serde_json::{Map, Value};

/// Where the rewritten OpenAPI document lives for `boon` (never fetched: added as a resource).
const DOC_URL: &str = "http://openapi.ksef.invalid/open-api.json";

/// One operation of the OpenAPI: method (upper case) and path template (`/auth/{referenceNumber}`).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Operation {
    pub method: String,
    pub template: String,
}

impl std::fmt::Display for Operation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.method, self.template)
    }
}

/// Why a response does not conform.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Violation {
    /// The path and method are not an operation of the OpenAPI.
    UnknownOperation,
    /// The status code is not among the operation's documented responses.
    UndocumentedStatus(u16),
    /// The content type is not documented for that status (`None`: a body where none is documented).
    UndocumentedContentType(Option<String>),
    /// The body is not JSON although a JSON media type is documented.
    NotJson(String),
    /// The body does not validate against the documented schema.
    Schema(String),
}

impl std::fmt::Display for Violation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Violation::UnknownOperation => write!(f, "not an operation of open-api.json"),
            Violation::UndocumentedStatus(s) => write!(f, "status {s} is not documented"),
            Violation::UndocumentedContentType(Some(c)) => {
                write!(f, "content type {c:?} is not documented for this status")
            }
            Violation::UndocumentedContentType(None) => {
                write!(
                    f,
                    "no Content-Type, or a body where the OpenAPI documents none"
                )
            }
            Violation::NotJson(e) => write!(f, "body is not JSON: {e}"),
            Violation::Schema(e) => write!(f, "schema: {e}"),
        }
    }
}

/// The OpenAPI, compiled once per process.
pub struct OpenApi {
    spec: Value,
    operations: Vec<Operation>,
    schemas: boon::Schemas,
    compiled: HashMap<String, boon::SchemaIndex>,
}

impl OpenApi {
    /// The vendored `open-api.json`, loaded and compiled on first use.
    pub fn get() -> &'static OpenApi {
        static API: OnceLock<OpenApi> = OnceLock::new();
        API.get_or_init(|| OpenApi::from_spec(crate::openapi()))
    }

    /// Compiles every response schema of `spec`. Panics on a schema `boon` refuses (a test oracle).
    pub fn from_spec(spec: Value) -> OpenApi {
        let mut operations = Vec::new();
        if let Some(paths) = spec["paths"].as_object() {
            for (template, item) in paths {
                for method in item.as_object().into_iter().flat_map(|o| o.keys()) {
                    if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                        operations.push(Operation {
                            method: method.to_ascii_uppercase(),
                            template: template.clone(),
                        });
                    }
                }
            }
        }
        operations.sort();
        let mut compiler = boon::Compiler::new();
        compiler.set_default_draft(boon::Draft::V4);
        compiler.enable_format_assertions();
        for format in [
            boon::Format {
                name: "int32",
                func: int32,
            },
            boon::Format {
                name: "int64",
                func: int64,
            },
            boon::Format {
                name: "byte",
                func: byte,
            },
        ] {
            compiler.register_format(format);
        }
        let doc = rewrite_nullable(spec.clone());
        compiler
            .add_resource(DOC_URL, doc)
            .unwrap_or_else(|e| panic!("open-api.json as a schema resource: {e}"));
        let mut schemas = boon::Schemas::new();
        let mut compiled = HashMap::new();
        for op in &operations {
            let responses =
                &spec["paths"][&op.template][op.method.to_ascii_lowercase()]["responses"];
            for (status, response) in responses.as_object().into_iter().flatten() {
                for (media, content) in response["content"].as_object().into_iter().flatten() {
                    if content.get("schema").is_none() || !is_json(media) {
                        continue;
                    }
                    let pointer = schema_pointer(op, status, media);
                    let index = compiler
                        .compile(&format!("{DOC_URL}#{pointer}"), &mut schemas)
                        .unwrap_or_else(|e| panic!("{op} {status} {media}: {e:#}"));
                    compiled.insert(pointer, index);
                }
            }
        }
        OpenApi {
            spec,
            operations,
            schemas,
            compiled,
        }
    }

    /// Every operation, sorted.
    pub fn operations(&self) -> &[Operation] {
        &self.operations
    }

    /// The operation a concrete request path (below `/v2`, no query) and method belong to.
    /// A template segment `{x}` matches any one non-empty segment; literal segments win
    /// (`/auth/sessions` is not `/auth/{referenceNumber}`).
    pub fn operation_for(&self, method: &str, path: &str) -> Option<&Operation> {
        let segments: Vec<&str> = path.trim_matches('/').split('/').collect();
        let mut best: Option<(&Operation, usize)> = None;
        for op in self
            .operations
            .iter()
            .filter(|o| o.method.eq_ignore_ascii_case(method))
        {
            let tpl: Vec<&str> = op.template.trim_matches('/').split('/').collect();
            if tpl.len() != segments.len() {
                continue;
            }
            let mut literal = 0;
            let matches = tpl.iter().zip(&segments).all(|(t, s)| {
                if t.starts_with('{') && t.ends_with('}') {
                    !s.is_empty()
                } else if t == s {
                    literal += 1;
                    true
                } else {
                    false
                }
            });
            if matches && best.is_none_or(|(_, l)| literal > l) {
                best = Some((op, literal));
            }
        }
        best.map(|(op, _)| op)
    }

    /// The status codes documented for an operation.
    pub fn documented_statuses(&self, op: &Operation) -> Vec<u16> {
        self.responses(op)
            .as_object()
            .into_iter()
            .flat_map(|m| m.keys())
            .filter_map(|k| k.parse().ok())
            .collect()
    }

    /// Whether `content_type` (parameters ignored) is a documented request media type of `op`.
    pub fn accepts_request_media_type(&self, op: &Operation, content_type: &str) -> bool {
        let media = content_type
            .split(';')
            .next()
            .unwrap_or("")
            .trim()
            .to_ascii_lowercase();
        self.spec["paths"][&op.template][op.method.to_ascii_lowercase()]["requestBody"]["content"]
            .as_object()
            .is_some_and(|c| c.contains_key(&media))
    }

    fn responses(&self, op: &Operation) -> &Value {
        &self.spec["paths"][&op.template][op.method.to_ascii_lowercase()]["responses"]
    }

    /// Checks one response: documented status, documented content type, and a JSON body that
    /// validates against its schema.
    pub fn check(
        &self,
        op: &Operation,
        status: u16,
        content_type: Option<&str>,
        body: &[u8],
    ) -> Result<(), Violation> {
        let responses = self.responses(op);
        if responses.is_null() {
            return Err(Violation::UnknownOperation);
        }
        let response = &responses[status.to_string()];
        if response.is_null() {
            return Err(Violation::UndocumentedStatus(status));
        }
        let documented = response["content"].as_object();
        let media = content_type
            .map(|c| {
                c.split(';')
                    .next()
                    .unwrap_or("")
                    .trim()
                    .to_ascii_lowercase()
            })
            .filter(|m| !m.is_empty());
        let Some(documented) = documented.filter(|d| !d.is_empty()) else {
            // No content documented (204, 201 of an upload…): no body may come.
            return if body.is_empty() {
                Ok(())
            } else {
                Err(Violation::UndocumentedContentType(media))
            };
        };
        let Some(media) = media.filter(|m| documented.contains_key(m)) else {
            return Err(Violation::UndocumentedContentType(
                content_type.map(str::to_owned),
            ));
        };
        if !is_json(&media) {
            return Ok(());
        }
        let value: Value =
            serde_json::from_slice(body).map_err(|e| Violation::NotJson(e.to_string()))?;
        let pointer = schema_pointer(op, &status.to_string(), &media);
        let Some(index) = self.compiled.get(&pointer) else {
            return Ok(()); // a JSON media type documented without a schema
        };
        self.schemas
            .validate(&value, *index)
            .map_err(|e| Violation::Schema(format!("{e:#}")))
    }
}

/// Every (operation, status) answered and checked in this process, for sweeps that must show
/// they reached each operation (see [`checked`]).
static CHECKED: Mutex<BTreeMap<Operation, BTreeSet<u16>>> = Mutex::new(BTreeMap::new());

/// Records a response that passed [`OpenApi::check`].
pub fn record(op: &Operation, status: u16) {
    if let Ok(mut m) = CHECKED.lock() {
        m.entry(op.clone()).or_default().insert(status);
    }
}

/// The statuses checked so far, per operation.
pub fn checked() -> BTreeMap<Operation, BTreeSet<u16>> {
    CHECKED.lock().map(|m| m.clone()).unwrap_or_default()
}

fn is_json(media: &str) -> bool {
    media == "application/json" || media.ends_with("+json")
}

/// The JSON Pointer of the response schema of `op` for `status` and `media`.
fn schema_pointer(op: &Operation, status: &str, media: &str) -> String {
    format!(
        "/paths/{}/{}/responses/{}/content/{}/schema",
        escape(&op.template),
        op.method.to_ascii_lowercase(),
        escape(status),
        escape(media)
    )
}

/// JSON Pointer escaping of one reference token.
fn escape(token: &str) -> String {
    token.replace('~', "~0").replace('/', "~1")
}

/// `nullable: true` (OpenAPI 3.0) → `anyOf: [schema, {"type": "null"}]` everywhere.
fn rewrite_nullable(v: Value) -> Value {
    match v {
        Value::Object(map) => {
            let mut out: Map<String, Value> = map
                .into_iter()
                .map(|(k, v)| (k, rewrite_nullable(v)))
                .collect();
            // Only the OpenAPI keyword (a boolean); a property or example named `nullable`
            // keeps its value.
            if out.get("nullable") == Some(&Value::Bool(true)) {
                out.remove("nullable");
                let mut wrapper = Map::new();
                wrapper.insert(
                    "anyOf".into(),
                    Value::Array(vec![
                        Value::Object(out),
                        serde_json::json!({"type": "null"}),
                    ]),
                );
                Value::Object(wrapper)
            } else {
                Value::Object(out)
            }
        }
        Value::Array(items) => Value::Array(items.into_iter().map(rewrite_nullable).collect()),
        other => other,
    }
}

fn int32(v: &Value) -> Result<(), Box<dyn Error>> {
    match v.as_i64() {
        Some(n) if i32::try_from(n).is_ok() => Ok(()),
        _ if !v.is_number() => Ok(()), // format applies to numbers only
        _ => Err(format!("{v} is not an int32").into()),
    }
}

fn int64(v: &Value) -> Result<(), Box<dyn Error>> {
    if !v.is_number()
        || v.is_i64()
        || v.is_u64() && v.as_u64().is_some_and(|n| n <= i64::MAX as u64)
    {
        Ok(())
    } else {
        Err(format!("{v} is not an int64").into())
    }
}

fn byte(v: &Value) -> Result<(), Box<dyn Error>> {
    match v.as_str() {
        Some(s) => STANDARD
            .decode(s)
            .map(|_| ())
            .map_err(|e| format!("not Base64: {e}").into()),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn op(method: &str, template: &str) -> Operation {
        Operation {
            method: method.into(),
            template: template.into(),
        }
    }

    #[test]
    fn matches_templates_with_literals_first() {
        let api = OpenApi::get();
        assert_eq!(api.operations().len(), 78);
        assert_eq!(
            api.operation_for("GET", "/auth/sessions"),
            Some(&op("GET", "/auth/sessions"))
        );
        assert_eq!(
            api.operation_for("GET", "/auth/20250625-AU-2C3E6C8000-B675CF5D68-07"),
            Some(&op("GET", "/auth/{referenceNumber}"))
        );
        assert_eq!(api.operation_for("GET", "/nie/istnieje"), None);
    }

    #[test]
    fn the_oracle_can_fail() {
        let api = OpenApi::get();
        let challenge = op("POST", "/auth/challenge");
        let good = br#"{"challenge":"20250625-CR-2C3E6C8000-B675CF5D68-07","timestamp":"2025-07-11T12:23:56.0154302+00:00","timestampMs":1752236636015,"clientIp":"127.0.0.1"}"#;
        assert_eq!(
            api.check(&challenge, 200, Some("application/json"), good),
            Ok(())
        );
        // A timestamp without an offset is not an RFC 3339 date-time.
        let naive = String::from_utf8_lossy(good).replace("+00:00", "");
        assert!(matches!(
            api.check(&challenge, 200, Some("application/json"), naive.as_bytes()),
            Err(Violation::Schema(_))
        ));
        // A missing required property, an undocumented status and content type.
        assert!(matches!(
            api.check(&challenge, 200, Some("application/json"), b"{}"),
            Err(Violation::Schema(_))
        ));
        assert_eq!(
            api.check(&challenge, 404, Some("application/json"), b"{}"),
            Err(Violation::UndocumentedStatus(404))
        );
        assert!(matches!(
            api.check(&challenge, 200, Some("text/plain"), good),
            Err(Violation::UndocumentedContentType(_))
        ));
        // The legacy error body: `timestamp` must carry an offset; nullable fields may be null.
        let legacy = br#"{"exception":{"exceptionDetailList":[{"exceptionCode":21405,"exceptionDescription":"x","details":["y"]}],"referenceNumber":null,"serviceCode":"00-a-b-00","timestamp":"2025-11-09T22:54:08.6741818Z"}}"#;
        assert_eq!(
            api.check(&challenge, 400, Some("application/json"), legacy),
            Ok(())
        );
        let legacy_naive = String::from_utf8_lossy(legacy).replace('Z', "");
        assert!(
            api.check(
                &challenge,
                400,
                Some("application/json"),
                legacy_naive.as_bytes()
            )
            .is_err()
        );
    }
}
