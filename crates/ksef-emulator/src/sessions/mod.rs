//! Online and batch sessions (digest §8–§10): opening, sending, closing, processing, statuses, UPO.
//!
//! Layout:
//! - [`model`]: the stored session row, status codes and their Polish descriptions, lazy expiry;
//! - [`online`]: `POST /sessions/online`, `…/invoices`, `…/close`;
//! - [`intake`]: the group-commit writer that queues the invoices of online sends;
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
//! (started and stopped by [`crate::server::serve`] through [`start`] and [`stop`]) and on start resumes what a previous process left unfinished:
//! online invoices still in status 100 and batch sessions in status 150.

pub(crate) mod batch;
pub(crate) mod engine;
mod intake;
mod links;
pub(crate) mod model;
pub(crate) mod online;
pub(crate) mod status;
pub(crate) mod upo;

pub use links::batch_part_path;
pub(crate) use links::sweep;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::DefaultBodyLimit;
use ksef_core::Permission;
use tokio::sync::Notify;
use tokio::task::JoinSet;

use ksef_wire::Operation;

use crate::endpoint::{Routes, handle};
use crate::state::AppState;

/// Largest accepted `POST /sessions/online/{ref}/invoices` body: the largest invoice a context
/// limit may allow (`maxInvoiceWithAttachmentSizeInMB` up to 10 MB through
/// `/testdata/limits/context/session`, digest §15.3) encrypted (+16 bytes of padding) and
/// Base64-encoded (×4/3), plus the JSON around it. The invoice's own size limit is then
/// checked against the context's limits.
const SEND_INVOICE_BODY_LIMIT: usize = (10_000_000 + 16) / 3 * 4 + 64 * 1024;

/// Routes outside `/v2` owned by this feature: its pre-signed links.
pub fn link_routes() -> Router<AppState> {
    links::routes()
}

/// Routes under `/v2` owned by this module.
pub fn routes() -> Routes {
    vec![
        handle(Operation::OpenOnlineSession, online::open),
        {
            let (op, route) = handle(Operation::SendInvoice, online::send_invoice);
            (
                op,
                route.layer(DefaultBodyLimit::max(SEND_INVOICE_BODY_LIMIT)),
            )
        },
        handle(Operation::CloseOnlineSession, online::close),
        handle(Operation::OpenBatchSession, batch::open),
        handle(Operation::CloseBatchSession, batch::close),
        handle(Operation::ListSessions, status::list_sessions),
        handle(Operation::SessionStatus, status::session_status),
        handle(Operation::SessionInvoices, status::session_invoices),
        handle(Operation::FailedSessionInvoices, status::failed_invoices),
        handle(Operation::SessionInvoiceStatus, status::session_invoice),
        handle(
            Operation::InvoiceUpoByReference,
            status::invoice_upo_by_reference,
        ),
        handle(
            Operation::InvoiceUpoByKsefNumber,
            status::invoice_upo_by_ksef_number,
        ),
        handle(Operation::SessionUpo, status::session_upo),
    ]
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

// ---------------------------------------------------------------- the engine

/// Background processing of sessions: one loop for online invoices (woken on every send and
/// close, and once a second for expiries) and one task per closed batch session.
#[derive(Default)]
pub struct Engine {
    wake: Notify,
    tasks: Mutex<Tasks>,
    /// Batch sessions being processed by this process (never twice at once).
    batches: Mutex<HashSet<String>>,
    /// The queue of online sends and its group-commit writer.
    intake: intake::Intake,
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
            if let Some(rx) = self.intake.take_receiver() {
                t.set.spawn(intake::writer(state.clone(), rx));
            }
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

    /// The group-commit writer of online sends.
    pub(crate) fn intake(&self) -> &intake::Intake {
        &self.intake
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

impl AppState {
    /// The session processor of this emulator (verification of invoices, batch packages, UPO
    /// generation): the `sessions` feature's slot of [`AppState::feature`].
    pub(crate) fn sessions(&self) -> Arc<Engine> {
        self.feature::<Engine>()
    }
}

/// Starts session processing for a server that is about to serve (see [`Engine::start`]).
pub fn start(state: &AppState) {
    state.sessions().start(state);
}

/// Stops session processing when serving ended (see [`Engine::stop`]).
pub async fn stop(state: &AppState) {
    state.sessions().stop().await;
}
