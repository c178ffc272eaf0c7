//! The emulator's blob storage: files under the data directory and the pre-signed links
//! (outside `/v2`, no bearer token) through which batch parts are uploaded and UPOs and export
//! parts are downloaded.

use axum::Router;

use crate::state::AppState;

/// Routes outside `/v2` owned by this module.
pub fn routes(state: AppState) -> Router {
    Router::new().with_state(state)
}
