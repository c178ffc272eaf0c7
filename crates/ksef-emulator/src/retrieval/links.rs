//! The pre-signed link of exports (outside `/v2`, no bearer token; see [`crate::storage`]):
//! `GET /storage/export/{exportRef}/{ordinal}` (one encrypted part); and the start-up sweep of
//! `blobs/export`.

use std::path::PathBuf;

use axum::Router;
use axum::extract::{Path as AxPath, Query, State};
use axum::response::Response;
use axum::routing::get;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{
    LinkQuery, Swept, blob_path, blob_response, check_link, not_found, remove_tree, safe_segment,
    subdirectories,
};

/// Routes outside `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new().route("/storage/export/{export}/{ordinal}", get(export_part))
}

/// The file of one encrypted export part.
pub fn export_part_path(state: &AppState, export: &str, ordinal: u32) -> PathBuf {
    blob_path(state, &format!("export/{export}/{ordinal:03}.aes"))
}

async fn export_part(
    State(state): State<AppState>,
    AxPath((export, ordinal)): AxPath<(String, String)>,
    Query(q): Query<LinkQuery>,
) -> ApiResult<Response> {
    let export = safe_segment(&export)?;
    let ordinal: u32 = ordinal
        .parse()
        .map_err(|_| ApiError::validation("Nieprawidłowy numer części."))?;
    check_link(&state, "GET", &format!("export/{export}/{ordinal}"), &q)?;
    let path = export_part_path(&state, export, ordinal);
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok(blob_response(bytes, "application/octet-stream")),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(not_found("część eksportu")),
        Err(e) => Err(ApiError::internal(e)),
    }
}

/// The start-up sweep of `blobs/export` (see [`crate::storage::Swept`]): the directory of each
/// export whose package is gone or was never built (status other than 100, being rebuilt by
/// [`super::resume`], and 200).
pub async fn sweep(state: &AppState) -> Swept {
    let mut swept = Swept::default();
    for (export, dir) in subdirectories(&blob_path(state, "export")).await {
        let status: Result<Option<i64>, sqlx::Error> =
            sqlx::query_scalar("SELECT status_code FROM exports WHERE reference_number = ?")
                .bind(&export)
                .fetch_optional(state.pool())
                .await;
        match status {
            Ok(Some(code)) if code != 100 && code != 200 => {
                if remove_tree(&dir).await {
                    swept.export_dirs += 1;
                }
            }
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(export = %export, error = %e, "blob sweep: cannot read the export")
            }
        }
    }
    swept
}
