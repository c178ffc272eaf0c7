//! Invoice retrieval (digest §12): download by KSeF number, metadata query, exports.

use axum::Router;

use crate::state::AppState;

/// Routes under `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
}
