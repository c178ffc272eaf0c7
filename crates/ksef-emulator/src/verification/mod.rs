//! Verification of the invoices' QR codes, as the Ministry's QR service does it (digest §13.2,
//! `kody-qr.md`), on the emulator's own origin outside the API (not under `/v2`) — where
//! `ksef_core::qr::LinkBase::for_api_base_url` points the links of a non-official API:
//!
//! * `GET /invoice/{seller NIP}/{DD-MM-YYYY}/{hash}` (KOD I): is the invoice in KSeF — its KSeF
//!   number; after a technical correction, the corrected invoice's ([`invoice`]);
//! * `GET /certificate/{context type}/{context value}/{seller NIP}/{serial}/{hash}/{signature}`
//!   (KOD II): the issuer's KSeF `Offline` certificate, the signature, the issuer's permission in
//!   the context and the context's right to issue for the seller ([`certificate`]).
//!
//! The answer is a Polish HTML page, or with `Accept: application/json` a JSON object
//! (`valid`, `code`, `reason`, …; see [`render`]). A verdict is 200 whatever it says; an address
//! that is not a verification link is 400 ("Nieprawidłowy kod"), never echoed back.
//!
//! The link is read from the request's path with [`VerificationLink::from_path`] — strict on
//! every part — on the emulator's own origin (its public base URL, else its bound address; never
//! the `Host` header), so a KOD II signature is checked over the text that origin gives. Lenient
//! like the real service where it costs nothing: one trailing `/`, doubled slashes (collapsed by
//! the router) and a query string are ignored.

mod certificate;
mod invoice;
mod render;
mod verdict;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, Uri};
use axum::response::Response;
use axum::routing::get;
use ksef_core::qr::{LinkBase, LinkKind, VerificationLink};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use verdict::Verdict;

/// The routes of `/invoice/…` and `/certificate/…` (mount on the outer router, outside `/v2`).
pub fn routes(state: AppState) -> Router {
    let mut router = Router::new();
    for kind in [LinkKind::Invoice, LinkKind::Certificate] {
        let base = format!("/{}", kind.path_segment());
        router = router
            .route(&base, get(verify))
            .route(&format!("{base}/"), get(verify))
            .route(&format!("{base}/{{*rest}}"), get(verify));
    }
    router.with_state(state)
}

async fn verify(State(state): State<AppState>, headers: HeaderMap, uri: Uri) -> Response {
    let json = render::wants_json(&headers);
    match check(&state, uri.path()).await {
        Ok(v) => render::verdict(&v, json),
        Err(e) => {
            tracing::error!(error = %e, "QR code verification failed");
            render::internal_error(json)
        }
    }
}

async fn check(state: &AppState, path: &str) -> ApiResult<Verdict> {
    let base = own_link_base(state)?;
    let path = match path.strip_suffix('/') {
        Some(p) if !p.is_empty() => p,
        _ => path,
    };
    match VerificationLink::from_path(base, path) {
        Err(e) => Ok(Verdict::invalid_link(&e)),
        Ok(VerificationLink::Invoice(link)) => invoice::verify(state, &link).await,
        Ok(VerificationLink::Certificate(link)) => certificate::verify(state, &link).await,
    }
}

/// The origin the emulator's links are built on, as a [`LinkBase`].
fn own_link_base(state: &AppState) -> ApiResult<LinkBase> {
    let base = crate::storage::public_base(state);
    LinkBase::for_api_base_url(&base).map_err(|e| {
        ApiError::internal(format!(
            "the emulator's public base URL {base:?} cannot carry verification links: {e}"
        ))
    })
}
