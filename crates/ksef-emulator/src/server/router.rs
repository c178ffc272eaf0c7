//! The router: every feature's routes under `/v2` as in `open-api.json`, the pre-signed
//! storage links, the simulated signing service and the QR code verification pages outside it,
//! the rate limiter, error rendering, the body cap, request logging and the path
//! normalisation. The one place (with [`super::serve`]) that knows every feature.

use axum::Router;
use axum::extract::{DefaultBodyLimit, Request};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};

use crate::endpoint::Routes;
use crate::error::{ApiError, render_errors};
use crate::signing_service;
use crate::state::AppState;

/// Every feature's API routes, one per operation of [`ksef_wire::ENDPOINTS`].
fn api_routes() -> Routes {
    [
        crate::auth::routes(),
        crate::login::routes(),
        crate::tokens::routes(),
        crate::testdata::routes(),
        crate::sessions::routes(),
        crate::retrieval::routes(),
        crate::permissions::routes(),
        crate::limits::routes(),
        crate::certificates::routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The API router (mounted at `/v2`) with error rendering and the body cap.
pub fn router(state: AppState) -> Router {
    let max = state.config().max_body_bytes;
    let mut api = Router::new();
    for (op, route) in api_routes() {
        api = api.route(op.endpoint().path, route);
    }
    let api = api
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        // Rate limits (digest §15.1); after every route so all are counted.
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::limits::rate_limit,
        ))
        .with_state(state.clone());
    let app = Router::new()
        .nest(ksef_wire::endpoints::API_PREFIX, api)
        // Not part of the KSeF API: pre-signed upload/download links (batch parts, UPO, exports).
        .merge(
            crate::sessions::link_routes()
                .merge(crate::retrieval::link_routes())
                .with_state(state.clone()),
        )
        // Not part of the KSeF API: the simulated Profil Zaufany signing service.
        .route(
            signing_service::PATH,
            signing_service::page_routes(state.clone()),
        )
        .route(
            signing_service::CA_PEM_PATH,
            signing_service::ca_routes(state.clone()),
        )
        // Not part of the KSeF API: the QR code verification pages (`/invoice/…`,
        // `/certificate/…`), as the Ministry's QR service serves them.
        .merge(crate::verification::routes(state.clone()))
        .fallback(not_found)
        .layer(DefaultBodyLimit::max(max))
        .layer(axum::middleware::from_fn(render_errors))
        .layer(axum::middleware::from_fn(log_requests));
    // Paths are normalised before routing: a layer of the routing router itself would run
    // after its routing, so the app is the fallback of an empty router whose layer rewrites.
    Router::new()
        .fallback_service(app)
        .layer(axum::middleware::map_request(collapse_slashes))
}

/// Collapses runs of `/` in the path (`/v2//sessions/…` → `/v2/sessions/…`): the real service
/// routes such paths, and a published SDK builds one in its batch flow. The query is kept.
async fn collapse_slashes(mut req: Request) -> Request {
    let uri = req.uri();
    if !uri.path().contains("//") {
        return req;
    }
    let mut path = String::with_capacity(uri.path().len());
    for c in uri.path().chars() {
        if !(c == '/' && path.ends_with('/')) {
            path.push(c);
        }
    }
    let path_and_query = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path,
    };
    let mut parts = uri.clone().into_parts();
    match path_and_query.parse() {
        Ok(pq) => parts.path_and_query = Some(pq),
        // Cannot happen (only bytes of a valid path were kept); route the original then.
        Err(_) => return req,
    }
    if let Ok(new) = axum::http::Uri::from_parts(parts) {
        *req.uri_mut() = new;
    }
    req
}

/// One log line per request: method, path, status, duration. Never headers or bodies (tokens
/// and signed documents stay out of logs); paths carry only reference numbers. The log target
/// is fixed (`ksef_emulator::request`), not the module path, so that filters
/// (`RUST_LOG=ksef_emulator::request=off`) and log readers (tests/fuzz/run.sh) do not depend on
/// where this function lives.
async fn log_requests(req: Request, next: axum::middleware::Next) -> Response {
    let method = req.method().clone();
    let path = req.uri().path().to_string();
    let started = std::time::Instant::now();
    let resp = next.run(req).await;
    tracing::info!(
        target: "ksef_emulator::request",
        %method,
        %path,
        status = resp.status().as_u16(),
        ms = started.elapsed().as_secs_f64() * 1e3,
        "request"
    );
    resp
}

async fn not_found(req: Request) -> ApiError {
    ApiError::NotFound(format!(
        "Nie ma zasobu {} {} w API KSeF 2.0 (ścieżki zaczynają się od /v2).",
        req.method(),
        req.uri().path()
    ))
}

async fn method_not_allowed(req: Request) -> Response {
    let err = ApiError::validation(format!(
        "Metoda {} nie jest obsługiwana dla {}.",
        req.method(),
        req.uri().path()
    ));
    let mut resp = err.into_response();
    *resp.status_mut() = StatusCode::METHOD_NOT_ALLOWED;
    resp
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;

    use super::*;

    #[test]
    fn every_operation_is_served_once() {
        let mut served: BTreeMap<String, usize> = BTreeMap::new();
        for (op, _) in api_routes() {
            *served.entry(format!("{:?}", op)).or_default() += 1;
        }
        let expected: BTreeMap<String, usize> = ksef_wire::ENDPOINTS
            .iter()
            .map(|e| (format!("{:?}", e.operation), 1))
            .collect();
        assert_eq!(served, expected);
    }
}
