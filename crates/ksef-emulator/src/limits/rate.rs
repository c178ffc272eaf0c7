//! The rate limiter of the API routes (digest §15.1): which counter a request counts on and
//! the 429 answer. The counters themselves are infrastructure ([`crate::ratelimit`], held by
//! the state); see there for the windows and the enforcement rules.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request, State};
use axum::http::{HeaderValue, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use ksef_wire as wire;
use ksef_wire::{EffectiveApiRateLimitValues, EffectiveApiRateLimits};
use time::OffsetDateTime;

use crate::jwt::{Claims, TokenType};
use crate::ratelimit::{Exceeded, public_values};
use crate::state::AppState;

/// `Type:value` of the context of a token's claims (the rate-limit key).
pub fn claims_context(c: &Claims) -> String {
    format!("{}:{}", c.cit, c.civ)
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
    use std::time::Duration;

    use super::*;
    use crate::ratelimit::RateLimiter;

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
}
