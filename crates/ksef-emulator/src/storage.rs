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

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{Hmac, KeyInit, Mac};
use serde::Deserialize;
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

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
pub struct LinkQuery {
    pub exp: Option<String>,
    pub sig: Option<String>,
}

/// 403 for a storage request the link does not (or no longer) allow, like an expired SAS.
pub fn forbidden(detail: &str) -> ApiError {
    ApiError::forbidden(
        crate::error::ForbiddenReason::InsufficientResourceAccess,
        detail.to_string(),
        serde_json::json!({}),
    )
}

pub fn check_link(state: &AppState, method: &str, path: &str, q: &LinkQuery) -> ApiResult<()> {
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

pub fn safe_segment(s: &str) -> ApiResult<&str> {
    if !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-') {
        Ok(s)
    } else {
        Err(ApiError::validation(format!(
            "Nieprawidłowy segment ścieżki: {s:?}"
        )))
    }
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

pub fn not_found(what: &str) -> ApiError {
    ApiError::NotFound(format!("Nie znaleziono: {what}."))
}

/// What the start-up sweep of `blobs/` removed (each feature sweeps its own directory).
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

impl Swept {
    /// Logs what was removed, if anything.
    pub fn log(&self) {
        if *self != Swept::default() {
            tracing::info!(
                upload_temp_files = self.upload_temp_files,
                batch_dirs = self.batch_dirs,
                export_dirs = self.export_dirs,
                "removed leftover blob files"
            );
        }
    }
}

/// The subdirectories of `dir` named like a reference number, as (name, path).
pub async fn subdirectories(dir: &Path) -> Vec<(String, PathBuf)> {
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

/// Removes a directory tree; `true` when it was removed.
pub async fn remove_tree(dir: &Path) -> bool {
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
