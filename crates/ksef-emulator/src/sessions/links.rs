//! The pre-signed links of sessions (outside `/v2`, no bearer token; see [`crate::storage`]):
//! `PUT /storage/batch/{sessionRef}/{ordinal}` (a batch part, 201),
//! `GET /storage/upo/session/{sessionRef}/{upoRef}` and `GET /storage/upo/invoice/{invoiceRef}`
//! (UPO downloads); and the start-up sweep of `blobs/batch`.

use std::path::{Path, PathBuf};

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as AxPath, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, put};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use http_body_util::BodyExt;
use sha2::{Digest, Sha256};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::storage::{
    LinkQuery, MAX_PART_BYTES, Swept, blob_path, blob_response, check_link, forbidden, not_found,
    remove_tree, safe_segment, subdirectories, sync_dirs_up_to_data_dir,
};
use crate::store;

/// Routes outside `/v2` owned by this module.
pub fn routes() -> Router<AppState> {
    Router::new()
        .route(
            "/storage/batch/{session}/{ordinal}",
            put(upload_part).layer(DefaultBodyLimit::disable()),
        )
        .route("/storage/upo/session/{session}/{upo}", get(session_upo))
        .route("/storage/upo/invoice/{invoice}", get(invoice_upo))
}

/// The file of one uploaded batch part.
pub fn batch_part_path(state: &AppState, session: &str, ordinal: u32) -> PathBuf {
    blob_path(state, &format!("batch/{session}/{ordinal:03}.aes"))
}

async fn upload_part(
    State(state): State<AppState>,
    AxPath((session, ordinal)): AxPath<(String, String)>,
    Query(q): Query<LinkQuery>,
    body: Body,
) -> ApiResult<StatusCode> {
    let session = safe_segment(&session)?.to_string();
    let ordinal: u32 = ordinal
        .parse()
        .map_err(|_| ApiError::validation("Nieprawidłowy numer części."))?;
    check_link(&state, "PUT", &format!("batch/{session}/{ordinal}"), &q)?;
    // The upload window: numberOfParts × 20 minutes from the opening (§9.3), and only while
    // the session is still open (status 100).
    let row = sqlx::query_as::<_, (i64, i64, i64)>(
        "SELECT s.status_code, s.created_ms, (SELECT COUNT(*) FROM batch_parts p WHERE p.session_ref = s.reference_number) \
         FROM sessions s JOIN batch_parts bp ON bp.session_ref = s.reference_number \
         WHERE s.reference_number = ? AND bp.ordinal = ?",
    )
    .bind(&session)
    .bind(ordinal)
    .fetch_optional(state.pool())
    .await?;
    let Some((status, created_ms, parts)) = row else {
        return Err(ApiError::validation(
            "Nie zadeklarowano takiej części paczki.",
        ));
    };
    if status != 100 {
        return Err(forbidden(
            "Sesja wsadowa nie przyjmuje już części (status inny niż 100).",
        ));
    }
    let window_ms = parts.max(1) * state.config().batch_part_window.as_millis() as i64;
    if store::ms(state.now()) > created_ms + window_ms {
        return Err(forbidden("Upłynął czas na przesłanie części paczki."));
    }

    // Stream the body to a temporary file, hashing as it goes, so memory stays flat.
    let path = batch_part_path(&state, &session, ordinal);
    // A unique name per upload: a retried or concurrent PUT of the same part must not write
    // into a file another (possibly abandoned) upload still writes to.
    let nonce: [u8; 8] = rand::random();
    let tmp = path.with_extension(format!("{}{UPLOAD_TMP_SUFFIX}", hex::encode(nonce)));
    if let Some(dir) = path.parent() {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(ApiError::internal)?;
    }
    let mut options = tokio::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    options.mode(0o600);
    let mut file = options.open(&tmp).await.map_err(ApiError::internal)?;
    let mut hasher = Sha256::new();
    let mut size: u64 = 0;
    let mut body = body;
    let result: ApiResult<()> = async {
        use tokio::io::AsyncWriteExt;
        while let Some(frame) = body.frame().await {
            let frame =
                frame.map_err(|e| ApiError::validation(format!("Błąd odczytu treści: {e}")))?;
            if let Ok(data) = frame.into_data() {
                size += data.len() as u64;
                if size > MAX_PART_BYTES {
                    return Err(ApiError::validation(format!(
                        "Część paczki przekracza {MAX_PART_BYTES} bajtów."
                    )));
                }
                hasher.update(&data);
                file.write_all(&data).await.map_err(ApiError::internal)?;
            }
        }
        file.sync_all().await.map_err(ApiError::internal)?;
        Ok(())
    }
    .await;
    drop(file);
    if let Err(e) = result {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(e);
    }
    // The session may have been closed while the bytes streamed in: then the part files are
    // being processed and must not change.
    let still_open: Option<i64> = sqlx::query_scalar(
        "SELECT 1 FROM sessions WHERE reference_number = ? AND status_code = 100",
    )
    .bind(&session)
    .fetch_optional(state.pool())
    .await?;
    if still_open.is_none() {
        let _ = tokio::fs::remove_file(&tmp).await;
        return Err(forbidden(
            "Sesja wsadowa nie przyjmuje już części (zamknięta w trakcie przesyłania).",
        ));
    }
    tokio::fs::rename(&tmp, &path)
        .await
        .map_err(ApiError::internal)?;
    if let Some(dir) = path.parent() {
        // The part's directory and those above it up to the data directory (`blobs/batch/{ref}`
        // may be new, and so may `blobs/batch` and `blobs`).
        let dir = dir.to_path_buf();
        let sync_state = state.clone();
        tokio::task::spawn_blocking(move || sync_dirs_up_to_data_dir(&sync_state, &dir))
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
    }
    let hash = STANDARD.encode(hasher.finalize());
    // Recorded only while the session is still open: an upload that finishes after the close
    // (or the cancellation) is refused like one that starts then.
    let updated = sqlx::query(
        "UPDATE batch_parts SET uploaded_size = ?, uploaded_hash = ? WHERE session_ref = ? AND ordinal = ? \
         AND EXISTS (SELECT 1 FROM sessions WHERE reference_number = ? AND status_code = 100)",
    )
    .bind(i64::try_from(size).unwrap_or(i64::MAX))
    .bind(&hash)
    .bind(&session)
    .bind(ordinal)
    .bind(&session)
    .execute(state.pool())
    .await?;
    if updated.rows_affected() == 0 {
        return Err(forbidden(
            "Sesja wsadowa nie przyjmuje już części (zamknięta w trakcie przesyłania).",
        ));
    }
    Ok(StatusCode::CREATED)
}

async fn session_upo(
    State(state): State<AppState>,
    AxPath((session, upo)): AxPath<(String, String)>,
    Query(q): Query<LinkQuery>,
) -> ApiResult<Response> {
    let (session, upo) = (safe_segment(&session)?, safe_segment(&upo)?);
    check_link(&state, "GET", &format!("upo/session/{session}/{upo}"), &q)?;
    match super::upo::session_document(&state, session, upo).await? {
        Some(xml) => Ok(blob_response(xml, "application/xml")),
        None => Err(not_found("UPO sesji")),
    }
}

async fn invoice_upo(
    State(state): State<AppState>,
    AxPath(invoice): AxPath<String>,
    Query(q): Query<LinkQuery>,
) -> ApiResult<Response> {
    let invoice = safe_segment(&invoice)?;
    check_link(&state, "GET", &format!("upo/invoice/{invoice}"), &q)?;
    match super::upo::invoice_document(&state, invoice).await? {
        Some(xml) => Ok(blob_response(xml, "application/xml")),
        None => Err(not_found("UPO faktury")),
    }
}

/// Suffix of the temporary file of one upload in progress ([`upload_part`]).
const UPLOAD_TMP_SUFFIX: &str = ".upload-tmp";

/// The start-up sweep of `blobs/batch` (see [`crate::storage::Swept`]): abandoned upload temp
/// files, and the directories of batch sessions in a final status (≥ 200: cancelled, e.g. 440
/// when the upload window passed, or failed/processed without the usual cleanup). Sessions
/// still open (100) or being processed (150) keep their parts; a directory whose session is
/// not in the database is left alone. Must run before the server accepts requests and before
/// session processing starts.
pub async fn sweep(state: &AppState) -> Swept {
    let mut swept = Swept::default();
    for (session, dir) in subdirectories(&blob_path(state, "batch")).await {
        let status: Result<Option<i64>, sqlx::Error> = sqlx::query_scalar(
            "SELECT status_code FROM sessions WHERE reference_number = ? AND session_type = 'Batch'",
        )
        .bind(&session)
        .fetch_optional(state.pool())
        .await;
        match status {
            Ok(Some(code)) if code >= 200 => {
                if remove_tree(&dir).await {
                    swept.batch_dirs += 1;
                }
            }
            Ok(_) => swept.upload_temp_files += remove_upload_temp_files(&dir).await,
            Err(e) => {
                tracing::warn!(session = %session, error = %e, "blob sweep: cannot read the session")
            }
        }
    }
    swept
}

/// Removes the `….upload-tmp` files directly in `dir`; returns how many.
async fn remove_upload_temp_files(dir: &Path) -> usize {
    let mut removed = 0;
    let Ok(mut entries) = tokio::fs::read_dir(dir).await else {
        return 0;
    };
    while let Ok(Some(entry)) = entries.next_entry().await {
        let is_file = entry.file_type().await.is_ok_and(|t| t.is_file());
        let is_tmp = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(UPLOAD_TMP_SUFFIX));
        if is_file && is_tmp {
            match tokio::fs::remove_file(entry.path()).await {
                Ok(()) => removed += 1,
                Err(e) => tracing::warn!(file = %entry.path().display(), error = %e,
                    "blob sweep: cannot remove an upload temp file"),
            }
        }
    }
    removed
}
