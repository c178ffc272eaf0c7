//! The rate limiter of the API routes (digest §15.1): which counter a request counts on and
//! the 429 answer. The counters themselves are infrastructure ([`crate::ratelimit`], held by
//! the state); see there for the windows and the enforcement rules.

use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{ConnectInfo, MatchedPath, Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;
use ksef_wire as wire;
use ksef_wire::endpoints::API_PREFIX;
use ksef_wire::{
    ENDPOINTS, EffectiveApiRateLimitValues, EffectiveApiRateLimits, Endpoint, RateLimitGroup,
};
use time::OffsetDateTime;

use crate::jwt::{Claims, TokenType};
use crate::ratelimit::{Exceeded, public_values};
use crate::state::AppState;

/// `Type:value` of the context of a token's claims (the rate-limit key).
pub fn claims_context(c: &Claims) -> String {
    format!("{}:{}", c.cit, c.civ)
}

/// The values of a group ([`RateLimitGroup::Public`]: 60 per second, no minute/hour limit).
fn values(group: RateLimitGroup, l: &EffectiveApiRateLimits) -> EffectiveApiRateLimitValues {
    match group {
        RateLimitGroup::OnlineSession => l.online_session,
        RateLimitGroup::BatchSession => l.batch_session,
        RateLimitGroup::InvoiceSend => l.invoice_send,
        RateLimitGroup::InvoiceStatus => l.invoice_status,
        RateLimitGroup::SessionList => l.session_list,
        RateLimitGroup::SessionInvoiceList => l.session_invoice_list,
        RateLimitGroup::SessionMisc => l.session_misc,
        RateLimitGroup::InvoiceMetadata => l.invoice_metadata,
        RateLimitGroup::InvoiceExport => l.invoice_export,
        RateLimitGroup::InvoiceExportStatus => l.invoice_export_status,
        RateLimitGroup::InvoiceDownload => l.invoice_download,
        RateLimitGroup::Other => l.other,
        RateLimitGroup::Public => public_values(),
    }
}

/// The one `other` counter (per context and IP) of paths and methods outside the API.
pub const UNMATCHED: &str = "unmatched";

/// The group of a request and its counter name, from the route the router matched
/// (`matched`: the [`MatchedPath`], `None` for the 404 fallback) and the method: the group of
/// the operation in [`ksef_wire::ENDPOINTS`] and `METHOD /template` as the name of its `other`
/// counter. A path or method the API does not define counts on the one [`UNMATCHED`] counter
/// (so arbitrary paths share one counter instead of creating one each) — as `Public` when the
/// path is a public endpoint's, else as `Other`.
pub fn classify(method: &str, matched: Option<&str>) -> (RateLimitGroup, String) {
    let path = matched.map(|m| m.strip_prefix(API_PREFIX).unwrap_or(m));
    let Some(path) = path else {
        return (RateLimitGroup::Other, UNMATCHED.to_string());
    };
    if let Some(e) = Endpoint::find(method, path) {
        return (e.rate_limit, e.to_string());
    }
    let public = ENDPOINTS
        .iter()
        .any(|e| e.path == path && e.rate_limit == RateLimitGroup::Public);
    let group = if public {
        RateLimitGroup::Public
    } else {
        RateLimitGroup::Other
    };
    (group, UNMATCHED.to_string())
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
/// one shared counter ([`classify`]).
fn counter(state: &AppState, req: &Request) -> Option<(String, EffectiveApiRateLimitValues)> {
    let ip = client_ip(req);
    let configured = state.config().rate_limits;
    let matched = req
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let (group, name) = classify(req.method().as_str(), matched);
    let context = match group {
        RateLimitGroup::Public => None,
        _ => bearer(req)
            .and_then(|t| state.jwt().verify(t, &[TokenType::ContextToken]).ok())
            .map(|c| claims_context(&c)),
    };
    match context {
        Some(ctx) => {
            let limits = state.rate_limits().enforced(&ctx, configured)?;
            let key = context_counter(&ctx, ip, group, &name);
            Some((key, values(group, &limits)))
        }
        // Public endpoints and requests without a valid access token (they end in 401 or
        // are unauthenticated `/testdata/*` calls): per client IP.
        None if configured => Some((format!("public|{ip}"), public_values())),
        None => None,
    }
}

/// The counter of a request with a valid access token: per (context, IP, group), for `other`
/// per OpenAPI operation (`name`, see [`classify`]).
fn context_counter(ctx: &str, ip: IpAddr, group: RateLimitGroup, name: &str) -> String {
    match group {
        RateLimitGroup::Other => format!("{ctx}|{ip}|other:{name}"),
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

/// The counter name ([`classify`]) of `method path` as the emulator's router matches it: a
/// router of the same table and prefix whose every route and fallback answers with the name.
/// For the tests of the table's coverage.
#[doc(hidden)]
pub async fn counter_name(method: &str, path: &str) -> String {
    use axum::routing::any;
    async fn name(method: axum::http::Method, matched: Option<MatchedPath>) -> String {
        classify(method.as_str(), matched.as_ref().map(MatchedPath::as_str)).1
    }
    let paths: std::collections::BTreeSet<&str> = ENDPOINTS.iter().map(|e| e.path).collect();
    let mut api = axum::Router::new();
    for path in paths {
        api = api.route(path, any(name));
    }
    let mut app = axum::Router::new()
        .nest(API_PREFIX, api.fallback(name))
        .fallback(name);
    let req = Request::builder()
        .method(method)
        .uri(path)
        .body(Body::empty())
        .unwrap_or_default();
    let Ok(resp) = tower_service::Service::call(&mut app, req).await;
    let bytes = axum::body::to_bytes(resp.into_body(), 1024)
        .await
        .unwrap_or_default();
    String::from_utf8_lossy(&bytes).into_owned()
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;
    use crate::ratelimit::RateLimiter;

    #[test]
    fn groups_follow_the_table() {
        let g = |m: &str, p: &str| classify(m, Some(p)).0;
        use RateLimitGroup as G;
        assert_eq!(g("POST", "/v2/sessions/online"), G::OnlineSession);
        assert_eq!(
            g("POST", "/v2/sessions/online/{referenceNumber}/close"),
            G::OnlineSession
        );
        assert_eq!(
            g("POST", "/v2/sessions/online/{referenceNumber}/invoices"),
            G::InvoiceSend
        );
        assert_eq!(
            g("POST", "/sessions/batch/{referenceNumber}/close"),
            G::BatchSession
        );
        assert_eq!(g("GET", "/v2/sessions"), G::SessionList);
        assert_eq!(g("GET", "/v2/sessions/{referenceNumber}"), G::SessionMisc);
        assert_eq!(
            g("GET", "/v2/sessions/{referenceNumber}/invoices/failed"),
            G::SessionInvoiceList
        );
        assert_eq!(
            g(
                "GET",
                "/v2/sessions/{referenceNumber}/invoices/{invoiceReferenceNumber}"
            ),
            G::InvoiceStatus
        );
        assert_eq!(
            g("GET", "/v2/invoices/ksef/{ksefNumber}"),
            G::InvoiceDownload
        );
        assert_eq!(g("POST", "/v2/auth/challenge"), G::Public);
        assert_eq!(g("GET", "/v2/auth/{referenceNumber}"), G::Public);
        assert_eq!(g("GET", "/v2/auth/sessions"), G::Other);
        assert_eq!(g("GET", "/v2/tokens"), G::Other);
        // A method the API does not define: the shared counter, public on a public path.
        assert_eq!(
            classify("PATCH", Some("/v2/limits/context")),
            (G::Other, UNMATCHED.to_string())
        );
        assert_eq!(
            classify("GET", Some("/v2/auth/challenge")),
            (G::Public, UNMATCHED.to_string())
        );
        assert_eq!(classify("GET", None), (G::Other, UNMATCHED.to_string()));
    }

    #[tokio::test]
    async fn routes_map_to_their_operation_and_unknown_ones_share_a_counter() {
        let e = |m: &'static str, p: &'static str| counter_name(m, p);
        assert_eq!(e("GET", "/v2/limits/context").await, "GET /limits/context");
        assert_eq!(
            e("GET", "/v2/tokens/20250625-AU-2C3E6C8000-B675CF5D68-07").await,
            "GET /tokens/{referenceNumber}"
        );
        assert_eq!(
            e("DELETE", "/v2/tokens/abc").await,
            "DELETE /tokens/{referenceNumber}"
        );
        // Literal segments win over parameters.
        assert_eq!(e("GET", "/v2/auth/sessions").await, "GET /auth/sessions");
        assert_eq!(
            e("GET", "/v2/certificates/enrollments/data").await,
            "GET /certificates/enrollments/data"
        );
        assert_eq!(
            e("GET", "/v2/sessions/r/invoices/failed").await,
            "GET /sessions/{referenceNumber}/invoices/failed"
        );
        for (m, p) in [
            ("GET", "/v2/aaaa"),
            ("GET", "/v2/limits/context/extra"),
            ("POST", "/v2/limits/context"),
            ("FOO", "/v2/limits/context"),
            ("GET", "/"),
            ("GET", "/v2"),
        ] {
            assert_eq!(e(m, p).await, UNMATCHED, "{m} {p}");
        }
    }

    #[test]
    fn distinct_unknown_paths_share_one_window() {
        let l = RateLimiter::default();
        let ip = IpAddr::V4(std::net::Ipv4Addr::LOCALHOST);
        let t0 = Instant::now();
        let roomy = EffectiveApiRateLimitValues::new(u32::MAX, u32::MAX, 1_000_000);
        for i in 0..10_000u64 {
            // The 404 fallback (no matched route) or a method the API does not define.
            let (group, name) = if i % 2 == 0 {
                classify("GET", None)
            } else {
                classify("PATCH", Some("/v2/limits/context"))
            };
            assert_eq!(group, RateLimitGroup::Other);
            let key = context_counter("Nip:1", ip, group, &name);
            assert!(key.ends_with("|other:unmatched"), "{key}");
            let at = t0 + Duration::from_millis(i);
            assert!(l.acquire(key, at, roomy).is_ok(), "#{i}");
        }
        // A known endpoint keeps its own counter.
        let (group, name) = classify("GET", Some("/v2/limits/context"));
        let key = context_counter("Nip:1", ip, group, &name);
        assert!(l.acquire(key, t0, roomy).is_ok());
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
}
