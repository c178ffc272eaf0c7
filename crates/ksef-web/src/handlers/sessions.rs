//! Sesje: the current firm's KSeF sessions (online and batch, newest first) with Polish
//! statuses, dates and invoice counts. Needs a KSeF session in the firm's context: one is
//! opened with the user's own token when the browser has none.

use axum::Extension;
use axum::extract::State;
use axum::response::Response;
use ksef_core::warsaw;

use super::lock_or_return;
use super::purchases::{ensure_firm_session, firm_or_hint};
use crate::pages::*;
use crate::state::{Notice, SessionHandle, SharedState};

/// Sessions shown per type.
const SESSIONS_PER_TYPE: usize = 100;

/// One row of the sessions table.
pub struct SessionRow {
    pub reference: String,
    pub kind: &'static str,
    pub status_code: i32,
    pub status: String,
    pub created: String,
    pub updated: String,
    pub total: u32,
    pub accepted: u32,
    pub failed: u32,
    created_at: time::OffsetDateTime,
}

/// The Polish name of a KSeF session status code.
pub fn session_status_label(code: i32) -> String {
    match code {
        100 => "Otwarta".into(),
        150 => "W przetwarzaniu".into(),
        170 => "Zamknięta, w przetwarzaniu".into(),
        200 => "Przetworzona".into(),
        405 => "Błąd weryfikacji".into(),
        415 => "Błąd odszyfrowania".into(),
        420 => "Przekroczony limit faktur".into(),
        430 => "Błąd dekompresji".into(),
        440 => "Anulowana (upłynął czas)".into(),
        445 => "Błąd weryfikacji — brak poprawnych faktur".into(),
        c if c >= 400 => format!("Błąd (kod {c})"),
        c => format!("Kod {c}"),
    }
}

/// `GET /sesje`.
pub async fn sessions_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let firm = firm_or_hint(&mut ws);
    let mut rows: Vec<SessionRow> = Vec::new();
    let mut loaded = false;
    if let Some(firm) = &firm {
        match ensure_firm_session(&mut ws, firm).await {
            Ok(()) => {
                for (type_name, kind) in [("Online", "interaktywna"), ("Batch", "wsadowa")] {
                    let Ok(t) = ksef_program::invoices::parse_session_type(type_name) else {
                        continue;
                    };
                    match ksef_program::invoices::list_sessions(
                        &mut ws.app,
                        t,
                        Vec::new(),
                        SESSIONS_PER_TYPE,
                    )
                    .await
                    {
                        Ok(list) => {
                            loaded = true;
                            rows.extend(list.into_iter().map(|s| SessionRow {
                                kind,
                                status_code: s.status.code,
                                status: session_status_label(s.status.code),
                                created: warsaw::format_datetime(s.date_created),
                                updated: warsaw::format_datetime(s.date_updated),
                                total: s.total_invoice_count,
                                accepted: s.successful_invoice_count,
                                failed: s.failed_invoice_count,
                                created_at: s.date_created,
                                reference: s.reference_number,
                            }));
                        }
                        Err(e) => {
                            ws.error = Some(Notice::from(&e));
                            break;
                        }
                    }
                }
            }
            Err(n) => ws.error = Some(n),
        }
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let l = layout(&sh, &mut ws, "Sesje", "sessions", "/sesje").await;
    render(&SessionsPage {
        l,
        firm: firm.as_deref().map(firm_label),
        loaded,
        rows,
    })
}
