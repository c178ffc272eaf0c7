//! Online and batch sessions (digest §8–§10): opening, sending, closing, processing, statuses, UPO.

use axum::Router;

use crate::state::AppState;

/// Routes under `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
}
