//! Online and batch sessions (digest §8–§10): opening, sending, closing, processing, statuses, UPO.
//!
//! Layout:
//! - [`model`]: the stored session row, status codes and their Polish descriptions, lazy expiry;
//! - [`online`]: `POST /sessions/online`, `…/invoices`, `…/close`;
//! - [`batch`]: `POST /sessions/batch`, `…/close` and the processing of a closed package
//!   (decrypt parts → check the archive → unpack ZIP / tar.gz → verify each file);
//! - [`engine`]: verification of invoices on blocking threads, duplicate detection, KSeF
//!   numbers, the transactional commit of accepted invoices, the online processor loop and the
//!   final session statuses;
//! - [`status`]: `GET /sessions…` (lists, statuses, invoices, UPO downloads);
//! - [`upo`]: UPO v4-3 documents of sessions and invoices.
//!
//! Durability: an online invoice is committed (ciphertext, status 100) before its 202; accepted
//! invoices are written to `invoices`/`invoice_parties` in the same transaction that gives them
//! status 200, under [`AppState::storage_writer`]. The [`Engine`] runs while the server serves
//! ([`crate::server::serve`]) and on start resumes what a previous process left unfinished:
//! online invoices still in status 100 and batch sessions in status 150.

pub mod batch;
pub mod engine;
pub mod model;
pub mod online;
pub mod status;
pub mod upo;

use std::collections::HashSet;
use std::sync::Mutex;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::routing::{get, post};
use ksef_core::Permission;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use crate::error::{ApiError, ApiResult, ForbiddenReason};
use crate::jwt::TokenType;
use crate::state::AppState;
use crate::tokens::Caller;

/// Largest accepted `POST /sessions/online/{ref}/invoices` body: the largest invoice a context
/// limit may allow (`maxInvoiceWithAttachmentSizeInMB` up to 10 MB through
/// `/testdata/limits/context/session`, digest §15.3) encrypted (+16 bytes of padding) and
/// Base64-encoded (×4/3), plus the JSON around it. The invoice's own size limit is then
/// checked against the context's limits.
const SEND_INVOICE_BODY_LIMIT: usize = (10_000_000 + 16) / 3 * 4 + 64 * 1024;

/// Routes under `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/sessions/online", post(online::open))
        .route(
            "/sessions/online/{reference}/invoices",
            post(online::send_invoice).layer(DefaultBodyLimit::max(SEND_INVOICE_BODY_LIMIT)),
        )
        .route("/sessions/online/{reference}/close", post(online::close))
        .route("/sessions/batch", post(batch::open))
        .route("/sessions/batch/{reference}/close", post(batch::close))
        .route("/sessions", get(status::list_sessions))
        .route("/sessions/{reference}", get(status::session_status))
        .route(
            "/sessions/{reference}/invoices",
            get(status::session_invoices),
        )
        .route(
            "/sessions/{reference}/invoices/failed",
            get(status::failed_invoices),
        )
        .route(
            "/sessions/{reference}/invoices/{invoice}",
            get(status::session_invoice),
        )
        .route(
            "/sessions/{reference}/invoices/{invoice}/upo",
            get(status::invoice_upo_by_reference),
        )
        .route(
            "/sessions/{reference}/invoices/ksef/{ksef}/upo",
            get(status::invoice_upo_by_ksef_number),
        )
        .route("/sessions/{reference}/upo/{upo}", get(status::session_upo))
}

/// The XML of a session UPO page, if the session has one with this reference number.
pub async fn session_upo_document(
    state: &AppState,
    session: &str,
    upo: &str,
) -> crate::error::ApiResult<Option<Vec<u8>>> {
    upo::session_document(state, session, upo).await
}

/// The XML of one invoice's UPO, if the invoice was accepted.
pub async fn invoice_upo_document(
    state: &AppState,
    invoice: &str,
) -> crate::error::ApiResult<Option<Vec<u8>>> {
    upo::invoice_document(state, invoice).await
}

// ---------------------------------------------------------------- permissions (§7.8)

/// `POST /sessions/online`, `…/invoices`, `…/close`.
pub(crate) const ONLINE_WRITE: &[Permission] = &[
    Permission::InvoiceWrite,
    Permission::PefInvoiceWrite,
    Permission::EnforcementOperations,
];
/// `POST /sessions/batch`, `…/close`.
pub(crate) const BATCH_WRITE: &[Permission] =
    &[Permission::InvoiceWrite, Permission::EnforcementOperations];
/// `GET /sessions` (InvoiceWrite alone sees only the caller's own sessions).
pub(crate) const LIST: &[Permission] = &[
    Permission::InvoiceWrite,
    Permission::Introspection,
    Permission::EnforcementOperations,
];
/// `GET /sessions/{ref}` and every session invoice / UPO read.
pub(crate) const READ: &[Permission] = &[
    Permission::InvoiceWrite,
    Permission::Introspection,
    Permission::PefInvoiceWrite,
    Permission::EnforcementOperations,
];

/// An authenticated caller of a session endpoint.
pub(crate) struct SessionCaller {
    pub caller: Caller,
    /// The authentication operation behind the access token (UPO `Uwierzytelnienie`).
    pub auth_reference: String,
}

/// Verifies the access token (and IP policy) and requires any of `required` (403
/// `missing-permissions` otherwise).
pub(crate) async fn authorize(
    state: &AppState,
    token: &str,
    ip: std::net::IpAddr,
    required: &[Permission],
) -> ApiResult<SessionCaller> {
    let s = crate::http::session(state, token, ip, &[TokenType::ContextToken]).await?;
    let caller = s.caller()?;
    require_any(&caller, required)?;
    Ok(SessionCaller {
        caller,
        auth_reference: s.op.reference_number.clone(),
    })
}

/// 403 `missing-permissions` unless the caller holds one of `required`.
pub(crate) fn require_any(caller: &Caller, required: &[Permission]) -> ApiResult<()> {
    if required.iter().any(|p| caller.permissions.contains(*p)) {
        return Ok(());
    }
    Err(ApiError::forbidden(
        ForbiddenReason::MissingPermissions,
        format!(
            "Brak wymaganych uprawnień; wymagane jedno z: {}.",
            required
                .iter()
                .map(|p| p.as_str())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        serde_json::json!({
            "requiredAnyOfPermissions": required.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            "presentPermissions": caller.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
        }),
    ))
}

// ---------------------------------------------------------------- the engine

/// Background processing of sessions: one loop for online invoices (woken on every send and
/// close, and once a second for expiries) and one task per closed batch session.
#[derive(Default)]
pub struct Engine {
    wake: Notify,
    tasks: Mutex<Tasks>,
    /// Batch sessions being processed by this process (never twice at once).
    batches: Mutex<HashSet<String>>,
}

#[derive(Default)]
struct Tasks {
    set: JoinSet<()>,
    started: bool,
    stopped: bool,
}

impl Engine {
    /// Starts the online loop and resumes unfinished batch sessions (idempotent).
    pub fn start(&self, state: &AppState) {
        {
            let Ok(mut t) = self.tasks.lock() else {
                return;
            };
            if t.started || t.stopped {
                return;
            }
            t.started = true;
            let s = state.clone();
            t.set.spawn(engine::online_loop(s));
            let s = state.clone();
            t.set.spawn(async move {
                if let Err(e) = batch::resume_all(&s).await {
                    tracing::error!(error = %e, "cannot resume batch sessions");
                }
            });
        }
        self.wake();
    }

    /// Stops all processing (aborts the tasks and waits for them). Work in flight is rolled
    /// back with its transaction and resumed by the next start on the same data directory.
    pub async fn stop(&self) {
        let set = match self.tasks.lock() {
            Ok(mut t) => {
                t.stopped = true;
                std::mem::take(&mut t.set)
            }
            Err(_) => return,
        };
        let mut set = set;
        set.abort_all();
        while set.join_next().await.is_some() {}
    }

    /// Wakes the online loop (new invoice, closed session).
    pub(crate) fn wake(&self) {
        self.wake.notify_one();
    }

    pub(crate) async fn woken(&self) {
        self.wake.notified().await;
    }

    /// Processes a closed batch session in the background (unless already running here).
    pub(crate) fn spawn_batch(&self, state: &AppState, reference: String) {
        let Ok(mut t) = self.tasks.lock() else {
            return;
        };
        if t.stopped {
            return; // resumed by the next start
        }
        if let Ok(mut running) = self.batches.lock()
            && !running.insert(reference.clone())
        {
            return;
        }
        // Reap finished tasks so the set does not grow without bound.
        while t.set.try_join_next().is_some() {}
        let s = state.clone();
        t.set.spawn(async move {
            batch::process(&s, &reference).await;
            if let Ok(mut running) = s.sessions().batches.lock() {
                running.remove(&reference);
            }
        });
    }
}
