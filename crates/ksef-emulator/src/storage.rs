//! The emulator's blob storage: files under the data directory and the pre-signed links
//! (outside `/v2`, no bearer token) through which batch parts are uploaded and UPOs and export
//! parts are downloaded — the emulator's stand-in for KSeF's Azure storage (digest §9.3, §10.2,
//! §12.3).
//!
//! A link is `{base}/storage/{path}?exp={unix seconds}&sig={hex HMAC-SHA256}` where the HMAC
//! covers `METHOD path exp` with [`AppState::link_key`]. An expired or forged link answers 403,
//! like an expired SAS. Paths:
//! - `PUT  /storage/batch/{sessionRef}/{ordinal}` — one encrypted batch part; 201.
//! - `GET  /storage/upo/session/{sessionRef}/{upoRef}` — a session UPO page.
//! - `GET  /storage/upo/invoice/{invoiceRef}` — one invoice's UPO.
//! - `GET  /storage/export/{exportRef}/{ordinal}` — one encrypted export part.
//!
//! Downloads carry `x-ms-meta-hash` (SHA-256, Base64, of the bytes served).
//!
//! Files: `blobs/batch/{sessionRef}/{ordinal:03}.aes` (each upload is first written to a unique
//! `….upload-tmp` file, then renamed), `blobs/export/{exportRef}/{ordinal:03}.aes`. New
//! directories are fsynced up to the data directory ([`create_dir_durably`]). At start,
//! [`sweep`] removes what earlier runs left behind (abandoned upload temp files, the parts of
//! batch sessions that ended without processing, files of failed or expired exports).

use std::io::Write;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::{DefaultBodyLimit, Path as AxPath, Query, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, put};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use http_body_util::BodyExt;
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store;

/// Largest accepted batch part: 100 MB before encryption plus one AES block of padding (§9.1).
pub const MAX_PART_BYTES: u64 = 100_000_000 + 16;

/// The externally visible base URL (`http://host:port`) of the links the emulator hands out:
/// the configured `public_base_url`, else the address the server is bound to
/// ([`listen_base`]). Never derived from the request: its `Host` header is chosen by the client,
/// and a link must not be redirectable to another host.
pub fn public_base(state: &AppState) -> String {
    if let Some(base) = &state.config().public_base_url {
        return base.trim_end_matches('/').to_string();
    }
    state
        .listen_base()
        .unwrap_or_else(|| "http://127.0.0.1".to_string())
}

/// `http://ADDR:PORT` for a listener bound to `addr`; an unspecified address (`0.0.0.0`, `[::]`) is
/// not something a client can connect to, so it becomes the loopback address of its family.
pub fn listen_base(addr: SocketAddr) -> String {
    let ip = match addr.ip() {
        IpAddr::V4(v4) if v4.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
        IpAddr::V6(v6) if v6.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
        ip => ip,
    };
    format!("http://{}", SocketAddr::new(ip, addr.port()))
}

fn signature(state: &AppState, method: &str, path: &str, exp: i64) -> String {
    // `new_from_slice` only fails for key sizes HMAC cannot take; 32 bytes is always fine.
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(state.link_key()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(method.as_bytes());
    mac.update(b" ");
    mac.update(path.as_bytes());
    mac.update(b" ");
    mac.update(exp.to_string().as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

/// A pre-signed link for `method` on `/storage/{path}`, valid for `ttl`. Returns the absolute URL
/// and its expiry.
pub fn presign(
    state: &AppState,
    base: &str,
    method: &str,
    path: &str,
    ttl: Duration,
) -> (String, OffsetDateTime) {
    let expires = state.now() + ttl;
    presign_until(state, base, method, path, expires)
}

/// A pre-signed link valid until `expires`.
pub fn presign_until(
    state: &AppState,
    base: &str,
    method: &str,
    path: &str,
    expires: OffsetDateTime,
) -> (String, OffsetDateTime) {
    let exp = expires.unix_timestamp();
    let sig = signature(state, method, path, exp);
    (
        format!("{base}/storage/{path}?exp={exp}&sig={sig}"),
        OffsetDateTime::from_unix_timestamp(exp).unwrap_or(expires),
    )
}

#[derive(Debug, Deserialize)]
struct LinkQuery {
    exp: Option<String>,
    sig: Option<String>,
}

/// 403 for a storage request the link does not (or no longer) allow, like an expired SAS.
fn forbidden(detail: &str) -> ApiError {
    ApiError::forbidden(
        crate::error::ForbiddenReason::InsufficientResourceAccess,
        detail.to_string(),
        serde_json::json!({}),
    )
}

fn check_link(state: &AppState, method: &str, path: &str, q: &LinkQuery) -> ApiResult<()> {
    let (Some(exp), Some(sig)) = (&q.exp, &q.sig) else {
        return Err(forbidden("Link bez podpisu (brak parametrów exp/sig)."));
    };
    let exp: i64 = exp
        .parse()
        .map_err(|_| forbidden("Nieprawidłowy parametr exp linku."))?;
    let expected = signature(state, method, path, exp);
    if !bool::from(subtle::ConstantTimeEq::ct_eq(
        expected.as_bytes(),
        sig.as_bytes(),
    )) {
        return Err(forbidden("Nieprawidłowy podpis linku."));
    }
    if state.now().unix_timestamp() > exp {
        return Err(forbidden("Link wygasł."));
    }
    Ok(())
}

/// `data_dir/blobs/{relative}`; `relative` is built by this crate from reference numbers and
/// ordinals only (never from raw client input).
pub fn blob_path(state: &AppState, relative: &str) -> PathBuf {
    state.config().data_dir.join("blobs").join(relative)
}

/// Writes `bytes` to `path` so that, once this returns, the file survives a crash: a temporary
/// file is written and fsynced, renamed into place, and the directory is fsynced.
pub fn write_durably(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = path
        .parent()
        .ok_or_else(|| std::io::Error::other("blob path without a directory"))?;
    std::fs::create_dir_all(dir)?;
    let tmp = path.with_extension("part-tmp");
    {
        let mut f = crate::datadir::create_private(&tmp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, path)?;
    sync_dir(dir)
}

/// Fsyncs a directory (makes a rename or a new file in it durable).
pub fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

/// Fsyncs `dir` and each of its ancestors up to and including the data directory, so that
/// directories just created under it are durable (a new directory entry is durable only once
/// its parent is fsynced). A `dir` outside the data directory is only fsynced itself.
pub fn sync_dirs_up_to_data_dir(state: &AppState, dir: &Path) -> std::io::Result<()> {
    let root = &state.config().data_dir;
    if !dir.starts_with(root) {
        return sync_dir(dir);
    }
    for d in dir.ancestors() {
        sync_dir(d)?;
        if d == root.as_path() {
            break;
        }
    }
    Ok(())
}

/// Creates `dir` (and missing parents) under the data directory durably (blocking).
pub fn create_dir_durably(state: &AppState, dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    sync_dirs_up_to_data_dir(state, dir)
}

/// Routes outside `/v2` owned by this module.
pub fn routes(state: AppState) -> Router {
    Router::new()
        .route(
            "/storage/batch/{session}/{ordinal}",
            put(upload_part).layer(DefaultBodyLimit::disable()),
        )
        .route("/storage/upo/session/{session}/{upo}", get(session_upo))
        .route("/storage/upo/invoice/{invoice}", get(invoice_upo))
        .route("/storage/export/{export}/{ordinal}", get(export_part))
        .with_state(state)
}

fn safe_segment(s: &str) -> ApiResult<&str> {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(s)
    } else {
        Err(ApiError::validation(format!(
            "Nieprawidłowy segment ścieżki: {s:?}"
        )))
    }
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

/// A download response with `x-ms-meta-hash`.
pub fn blob_response(bytes: Vec<u8>, content_type: &'static str) -> Response {
    let hash = STANDARD.encode(Sha256::digest(&bytes));
    let mut resp = (StatusCode::OK, bytes).into_response();
    resp.headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Ok(v) = HeaderValue::from_str(&hash) {
        resp.headers_mut().insert("x-ms-meta-hash", v);
    }
    resp
}

fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(format!("Nie znaleziono: {what}."))
}

async fn session_upo(
    State(state): State<AppState>,
    AxPath((session, upo)): AxPath<(String, String)>,
    Query(q): Query<LinkQuery>,
) -> ApiResult<Response> {
    let (session, upo) = (safe_segment(&session)?, safe_segment(&upo)?);
    check_link(&state, "GET", &format!("upo/session/{session}/{upo}"), &q)?;
    match crate::sessions::session_upo_document(&state, session, upo).await? {
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
    match crate::sessions::invoice_upo_document(&state, invoice).await? {
        Some(xml) => Ok(blob_response(xml, "application/xml")),
        None => Err(not_found("UPO faktury")),
    }
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

/// Suffix of the temporary file of one upload in progress ([`upload_part`]).
const UPLOAD_TMP_SUFFIX: &str = ".upload-tmp";

/// What [`sweep`] removed.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Swept {
    /// Abandoned upload temp files.
    pub upload_temp_files: usize,
    /// Directories of batch sessions in a final status (cancelled before processing, or whose
    /// processing could not clean up).
    pub batch_dirs: usize,
    /// Directories of exports that failed or expired.
    pub export_dirs: usize,
}

/// Removes at start what earlier runs left behind in `blobs/`. Must run before the server
/// accepts requests and before session processing starts (like the resumption of batch sessions
/// and exports, it assumes one emulator process per data directory):
///
/// * every `….upload-tmp` file — no upload is in flight yet, so each belongs to an upload
///   that ended with its process;
/// * the directory of each batch session in a final status (≥ 200: cancelled, e.g. 440 when
///   the upload window passed, or failed/processed without the usual cleanup). Sessions still
///   open (100) or being processed (150) keep their parts; a directory whose session is not in
///   the database is left alone;
/// * the directory of each export whose package is gone or was never built (status other than
///   100, being rebuilt by [`crate::retrieval::resume`], and 200).
///
/// Errors are logged, never fatal: a leftover file only costs disk space.
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
    if swept != Swept::default() {
        tracing::info!(
            upload_temp_files = swept.upload_temp_files,
            batch_dirs = swept.batch_dirs,
            export_dirs = swept.export_dirs,
            "removed leftover blob files"
        );
    }
    swept
}

/// The subdirectories of `dir` named like a reference number, as (name, path).
async fn subdirectories(dir: &Path) -> Vec<(String, PathBuf)> {
    let mut out = Vec::new();
    let mut entries = match tokio::fs::read_dir(dir).await {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return out,
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "blob sweep: cannot list");
            return out;
        }
    };
    loop {
        let entry = match entries.next_entry().await {
            Ok(Some(entry)) => entry,
            Ok(None) => break,
            Err(e) => {
                tracing::warn!(dir = %dir.display(), error = %e, "blob sweep: cannot list");
                break;
            }
        };
        let is_dir = entry.file_type().await.is_ok_and(|t| t.is_dir());
        if let (true, Some(name)) = (is_dir, entry.file_name().to_str())
            && safe_segment(name).is_ok()
        {
            out.push((name.to_string(), entry.path()));
        }
    }
    out
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

/// Removes a directory tree; `true` when it was removed.
async fn remove_tree(dir: &Path) -> bool {
    match tokio::fs::remove_dir_all(dir).await {
        Ok(()) => true,
        Err(e) => {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(dir = %dir.display(), error = %e, "blob sweep: cannot remove");
            }
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::listen_base;

    #[test]
    fn links_use_the_bound_address_and_loopback_for_unspecified() {
        let base = |a: &str| listen_base(a.parse().unwrap());
        assert_eq!(base("127.0.0.1:8080"), "http://127.0.0.1:8080");
        assert_eq!(base("192.168.1.5:80"), "http://192.168.1.5:80");
        assert_eq!(base("0.0.0.0:8080"), "http://127.0.0.1:8080");
        assert_eq!(base("[::]:8080"), "http://[::1]:8080");
        assert_eq!(base("[fe80::1]:9"), "http://[fe80::1]:9");
    }
}
