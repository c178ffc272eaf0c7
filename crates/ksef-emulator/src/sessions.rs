//! Online and batch sessions (digest §8–§10): opening, sending, closing, processing, statuses, UPO.

use axum::Router;

use crate::state::AppState;

/// Routes under `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
}

/// The XML of a session UPO page, if the session has one with this reference number.
pub async fn session_upo_document(
    _state: &AppState,
    _session: &str,
    _upo: &str,
) -> crate::error::ApiResult<Option<Vec<u8>>> {
    Ok(None)
}

/// The XML of one invoice's UPO, if the invoice was accepted.
pub async fn invoice_upo_document(
    _state: &AppState,
    _invoice: &str,
) -> crate::error::ApiResult<Option<Vec<u8>>> {
    Ok(None)
}
