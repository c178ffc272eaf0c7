//! Batch sessions (digest §9): `POST /sessions/batch` (pre-signed part uploads, served by
//! [`crate::storage`]), `POST /sessions/batch/{ref}/close`, and the processing of a closed
//! package: decrypt every part (AES-256-CBC, 435), concatenate and check the declared
//! `fileSize`/`fileHash` (405), survey the ZIP or tar.gz archive (430 broken or holding two files
//! of one name, 420 too many invoices, 440 empty), then verify every file on its own in chunks (see [`super::engine`]).
//!
//! The decrypted archive goes to a scratch file next to the parts, so memory stays bounded by
//! one part plus one chunk of invoices (a chunk is bounded by `processing_chunk_size` invoices
//! and `processing_chunk_bytes` bytes). Ordinals are the positions of the files in the archive,
//! which makes a restart resume exactly after the last committed chunk.
//!
//! When the XSD engine fails (not the invoices; [`engine::Outcome::Deferred`]) the session is
//! not failed: what was verified before is committed, the session stays in 150 and the same
//! task resumes it after a back-off, exactly like a restart would.

use std::collections::HashSet;
use std::io::{BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ReferenceKind, ReferenceNumber};
use ksef_wire as wire;
use sha2::{Digest, Sha256};
use sqlx::Row;
use tokio::sync::mpsc;

use super::engine::{self, Chunker, CommitMode, Deferral, Input, Rejection, Rules, Work};
use super::model::{self, DETAIL_NO_INVOICES, DETAIL_UPLOAD_TIMEOUT, Kind};
use super::online::{form_code, json_body, unwrap_key};
use super::{BATCH_WRITE, links};
use crate::auth::ContextSession;
use crate::error::{ApiError, ApiResult, ErrorEntry};
use crate::extract::ApiPath;
use crate::state::AppState;
use crate::storage;
use crate::store::ms;
use ksef_wire::ExceptionCode;

/// `POST /sessions/batch` → 201 with one pre-signed PUT per declared part.
pub async fn open(
    State(state): State<AppState>,
    auth: ContextSession,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    let who = auth.require(BATCH_WRITE)?;
    let body: wire::OpenBatchSessionRequest = json_body(&state, req).await?;
    let parts = &body.batch_file.file_parts;
    if parts.len() > wire::MAX_BATCH_PARTS {
        return Err(ApiError::bad(
            ExceptionCode::TooManyParts,
            format!(
                "batchFile.fileParts: zadeklarowano {} części; dozwolone najwyżej {}.",
                parts.len(),
                wire::MAX_BATCH_PARTS
            ),
        ));
    }
    if let Some(p) = parts.iter().find(|p| p.file_size > storage::MAX_PART_BYTES) {
        return Err(ApiError::bad(
            ExceptionCode::InvalidPartSize,
            format!(
                "Część '{}' ma {} B; zaszyfrowana część może mieć najwyżej {} B (100 MB przed szyfrowaniem).",
                p.ordinal_number,
                p.file_size,
                storage::MAX_PART_BYTES
            ),
        ));
    }
    body.batch_file
        .validate("batchFile")
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let form = form_code(&body.form_code, true)?;
    let (key, iv) = unwrap_key(&state, &body.encryption).await?;

    let now = state.now();
    let reference = ReferenceNumber::generate(ReferenceKind::BatchSession, now);
    let valid_until = now + state.config().session_lifetime;
    let caller = &who;
    let batch_file = serde_json::to_string(&body.batch_file).map_err(ApiError::internal)?;
    let mut tx = state.pool().begin_with("BEGIN IMMEDIATE").await?;
    sqlx::query(
        "INSERT INTO sessions(reference_number, session_type, context_type, context_value, subject_type, \
         subject_value, auth_reference, ksef_token_ref, form_system_code, form_schema_version, form_value, \
         symmetric_key, iv, offline_mode, status_code, status_description, created_ms, updated_ms, \
         valid_until_ms, batch_file) \
         VALUES (?, 'Batch', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 100, ?, ?, ?, ?, ?)",
    )
    .bind(reference.as_str())
    .bind(caller.context.kind().as_str())
    .bind(caller.context.value())
    .bind(caller.subject.kind().as_str())
    .bind(caller.subject.value())
    .bind(auth.auth_reference())
    .bind(caller.ksef_token_ref.as_deref())
    .bind(form.system_code())
    .bind(form.schema_version())
    .bind(form.value())
    .bind(key.map(|k| k.to_vec()))
    .bind(iv.to_vec())
    .bind(i64::from(body.offline_mode))
    .bind(model::session_description(Kind::Batch, 100))
    .bind(ms(now))
    .bind(ms(now))
    .bind(ms(valid_until))
    .bind(batch_file)
    .execute(&mut *tx)
    .await?;
    for p in parts {
        sqlx::query(
            "INSERT INTO batch_parts(session_ref, ordinal, declared_size, declared_hash) VALUES (?, ?, ?, ?)",
        )
        .bind(reference.as_str())
        .bind(p.ordinal_number)
        .bind(i64::try_from(p.file_size).unwrap_or(i64::MAX))
        .bind(&p.file_hash)
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;

    // Each part may be uploaded for numberOfParts × 20 minutes from the opening (§9.3).
    let window = state.config().batch_part_window * u32::try_from(parts.len()).unwrap_or(1);
    let base = storage::public_base(&state);
    let mut ordered: Vec<&wire::BatchFilePartInfo> = parts.iter().collect();
    ordered.sort_by_key(|p| p.ordinal_number);
    let part_upload_requests = ordered
        .iter()
        .map(|p| {
            let (url, _) = storage::presign_until(
                &state,
                &base,
                "PUT",
                &format!("batch/{reference}/{}", p.ordinal_number),
                now + window,
            );
            wire::PartUploadRequest {
                ordinal_number: p.ordinal_number,
                method: "PUT".into(),
                url,
                headers: [("x-ms-blob-type".to_string(), "BlockBlob".to_string())]
                    .into_iter()
                    .collect(),
            }
        })
        .collect();
    Ok((
        StatusCode::CREATED,
        axum::Json(wire::OpenBatchSessionResponse {
            reference_number: reference.to_string(),
            part_upload_requests,
        }),
    ))
}

/// `POST /sessions/batch/{ref}/close` → 204; the package is processed in the background (150).
pub async fn close(
    State(state): State<AppState>,
    auth: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<StatusCode> {
    let who = auth.require(BATCH_WRITE)?;
    let session = model::load_visible(&state, &who, &reference, Some(Kind::Batch)).await?;
    let timeout = || {
        ApiError::bad(
            ExceptionCode::UploadTimeout,
            "Sesja anulowana, przekroczony czas wysyłki.",
        )
    };
    if session.status_code == 440
        && session
            .status_details
            .iter()
            .any(|d| d == DETAIL_UPLOAD_TIMEOUT)
    {
        return Err(timeout());
    }
    if session.status_code != 100 {
        return Err(ApiError::bad(
            ExceptionCode::SessionStatusForbidsOperation,
            format!(
                "Status sesji {} uniemożliwia jej zamknięcie.",
                session.status_code
            ),
        ));
    }
    let parts = sqlx::query(
        "SELECT ordinal, declared_size, uploaded_size FROM batch_parts WHERE session_ref = ? ORDER BY ordinal",
    )
    .bind(&session.reference)
    .fetch_all(state.pool())
    .await?;
    let window_ms = i64::try_from(parts.len()).unwrap_or(1).max(1)
        * i64::try_from(state.config().batch_part_window.as_millis()).unwrap_or(i64::MAX);
    if ms(state.now()) > session.created_ms.saturating_add(window_ms) {
        model::set_status(
            &state,
            &session.reference,
            Kind::Batch,
            &[100],
            440,
            &[DETAIL_UPLOAD_TIMEOUT],
        )
        .await?;
        return Err(timeout());
    }
    let missing: Vec<ErrorEntry> = parts
        .iter()
        .filter(|p| p.get::<Option<i64>, _>("uploaded_size").is_none())
        .map(|p| ErrorEntry {
            code: ExceptionCode::EmptyPackage,
            details: vec![format!(
                "Nie przesłano zadeklarowanej '{}' części pliku.",
                p.get::<i64, _>("ordinal")
            )],
        })
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::BadRequest(missing));
    }
    let wrong_size: Vec<ErrorEntry> = parts
        .iter()
        .filter(|p| p.get::<Option<i64>, _>("uploaded_size") != Some(p.get("declared_size")))
        .map(|p| ErrorEntry {
            code: ExceptionCode::InvalidPartSize,
            details: vec![format!(
                "Zadeklarowany rozmiar części '{}' nie zgadza się z rzeczywistym.",
                p.get::<i64, _>("ordinal")
            )],
        })
        .collect();
    if !wrong_size.is_empty() {
        return Err(ApiError::BadRequest(wrong_size));
    }
    if !model::set_status(&state, &session.reference, Kind::Batch, &[100], 150, &[]).await? {
        return Err(ApiError::bad(
            ExceptionCode::SessionStatusForbidsOperation,
            "Status sesji uniemożliwia jej zamknięcie.",
        ));
    }
    state
        .sessions()
        .spawn_batch(&state, session.reference.clone());
    Ok(StatusCode::NO_CONTENT)
}

/// Resumes every batch session left in 150 by a previous process.
pub async fn resume_all(state: &AppState) -> ApiResult<()> {
    let refs: Vec<String> = sqlx::query_scalar(
        "SELECT reference_number FROM sessions WHERE session_type = 'Batch' AND status_code = 150 ORDER BY created_ms",
    )
    .fetch_all(state.pool())
    .await?;
    for r in refs {
        state.sessions().spawn_batch(state, r);
    }
    Ok(())
}

/// First and longest wait before a package whose verification was deferred is resumed.
const RESUME_AFTER: std::time::Duration = std::time::Duration::from_secs(1);
const RESUME_AFTER_MAX: std::time::Duration = std::time::Duration::from_secs(60);

/// How [`run`] ended without an internal error.
enum Flow {
    /// The session has its final status (or needed no processing).
    Done,
    /// The verifier failed on an invoice: committed up to it, the session is still in 150.
    Deferred(Deferral),
}

/// Processes one closed package to its final status. An internal failure ends the session in
/// 500; an abort (shutdown) leaves it in 150 for the next start.
///
/// A failure of the XSD engine is different: it says nothing about the package, and the
/// resumable processing (ordinals already committed are skipped) makes a retry safe and cheap.
/// So the session is neither failed with 430 for its invoices nor ended in 500: it stays in 150
/// and this task resumes it after a back-off (1 s doubling to 60 s) until the engine works again
/// (or the emulator stops; the next start resumes it then).
pub async fn process(state: &AppState, reference: &str) {
    let started = std::time::Instant::now();
    let mut t = Timings::default();
    let mut wait = RESUME_AFTER;
    let outcome = loop {
        match run(state, reference, &mut t).await {
            Ok(Flow::Deferred(d)) => {
                tracing::error!(
                    session = reference,
                    ordinal = d.ordinal,
                    deferred = d.count,
                    error = %d.error,
                    retry_in_ms = wait.as_millis() as u64,
                    "invoice verification failed inside the emulator (XSD engine), not because of \
                     the invoice: no verdict given, the batch session stays in 150 and is resumed"
                );
                tokio::time::sleep(wait).await;
                wait = (wait * 2).min(RESUME_AFTER_MAX);
            }
            Ok(Flow::Done) => break Ok(()),
            Err(e) => break Err(e),
        }
    };
    match outcome {
        Ok(()) => tracing::info!(
            session = reference,
            ms = started.elapsed().as_secs_f64() * 1e3,
            assemble_ms = t.assemble.as_secs_f64() * 1e3,
            survey_ms = t.survey.as_secs_f64() * 1e3,
            wait_read_ms = t.read.as_secs_f64() * 1e3,
            wait_verify_ms = t.verify.as_secs_f64() * 1e3,
            commit_ms = t.commit.as_secs_f64() * 1e3,
            finalize_ms = t.finalize.as_secs_f64() * 1e3,
            final_status_ms = t
                .final_at
                .map_or(0.0, |f| f.duration_since(started).as_secs_f64() * 1e3),
            "batch session processed"
        ),
        Err(e) => {
            tracing::error!(session = reference, error = %e, "batch session processing failed");
            let _ = model::set_status(state, reference, Kind::Batch, &[150], 500, &[
                "Wewnętrzny błąd emulatora podczas przetwarzania paczki; szczegóły w dzienniku emulatora.",
            ])
            .await;
            cleanup(state, reference).await;
        }
    }
}

fn batch_dir(state: &AppState, reference: &str) -> PathBuf {
    storage::blob_path(state, &format!("batch/{reference}"))
}

async fn cleanup(state: &AppState, reference: &str) {
    let dir = batch_dir(state, reference);
    if let Err(e) = tokio::fs::remove_dir_all(&dir).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(session = reference, error = %e, "cannot remove batch files");
    }
}

/// Ends the session with a package-level status and removes its files.
async fn fail(state: &AppState, reference: &str, code: i64, details: &[&str]) -> ApiResult<Flow> {
    model::set_status(state, reference, Kind::Batch, &[150], code, details).await?;
    cleanup(state, reference).await;
    Ok(Flow::Done)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Compression {
    Zip,
    TarGz,
}

/// Where the time of one package went (logged; the stages overlap only where noted).
#[derive(Debug, Default)]
struct Timings {
    assemble: std::time::Duration,
    survey: std::time::Duration,
    /// Waiting for the archive reader (it runs ahead of verification).
    read: std::time::Duration,
    /// Waiting for verification of a chunk (runs while the previous chunk commits).
    verify: std::time::Duration,
    commit: std::time::Duration,
    finalize: std::time::Duration,
    /// When the final status was committed (what `GET /sessions/{ref}` shows from then on).
    final_at: Option<std::time::Instant>,
}

async fn run(state: &AppState, reference: &str, t: &mut Timings) -> ApiResult<Flow> {
    let Some(session) = model::load(state, reference).await? else {
        return Ok(Flow::Done);
    };
    if session.status_code != 150 {
        return Ok(Flow::Done);
    }
    let Some(key) = session.symmetric_key else {
        return fail(state, reference, 415, &[
            "Nie można odszyfrować klucza symetrycznego (RSA-OAEP SHA-256) kluczem SymmetricKeyEncryption.",
        ])
        .await;
    };
    let declared: wire::BatchFileInfo =
        serde_json::from_str(session.batch_file.as_deref().unwrap_or("{}"))
            .map_err(|e| ApiError::internal(format!("stored batchFile: {e}")))?;
    let compression = match declared
        .compression_type
        .as_ref()
        .and_then(|c| c.require("compressionType").ok())
    {
        Some(wire::CompressionType::TarGz) => Compression::TarGz,
        _ => Compression::Zip,
    };

    // 1. Parts: uploaded hash = declared hash (405), then decrypt each (435) into one archive.
    let parts = sqlx::query(
        "SELECT ordinal, declared_hash, uploaded_hash FROM batch_parts WHERE session_ref = ? ORDER BY ordinal",
    )
    .bind(reference)
    .fetch_all(state.pool())
    .await?;
    let mut files = Vec::new();
    for p in &parts {
        let ordinal: i64 = p.get("ordinal");
        if p.get::<Option<String>, _>("uploaded_hash").as_deref()
            != Some(p.get::<String, _>("declared_hash").as_str())
        {
            let d = format!(
                "Skrót części '{ordinal}' nie zgadza się z zadeklarowanym (fileParts[].fileHash)."
            );
            return fail(state, reference, 405, &[&d]).await;
        }
        let n = u32::try_from(ordinal).map_err(ApiError::internal)?;
        files.push((ordinal, links::batch_part_path(state, reference, n)));
    }
    let archive = batch_dir(state, reference).join("archive.tmp");
    let iv = session.iv;
    let out = archive.clone();
    let clock = std::time::Instant::now();
    let assembled = tokio::task::spawn_blocking(move || assemble(&files, &key, &iv, &out))
        .await
        .map_err(ApiError::internal)?;
    t.assemble = clock.elapsed();
    let (size, hash) = match assembled {
        Ok(v) => v,
        Err(Assemble::Decrypt(n)) => {
            let d = format!(
                "Nie można odszyfrować części '{n}' kluczem i wektorem IV sesji (AES-256-CBC)."
            );
            return fail(state, reference, 435, &[&d]).await;
        }
        Err(Assemble::Io(e)) => return Err(ApiError::internal(format!("batch files: {e}"))),
    };
    if size != declared.file_size {
        let d = format!(
            "Rozmiar odszyfrowanej paczki ({size} B) nie zgadza się z zadeklarowanym fileSize ({} B).",
            declared.file_size
        );
        return fail(state, reference, 405, &[&d]).await;
    }
    if hash != declared.file_hash {
        return fail(
            state,
            reference,
            405,
            &["Skrót odszyfrowanej paczki nie zgadza się z zadeklarowanym fileHash."],
        )
        .await;
    }

    // 2. The archive: readable (430), not too many invoices (420), not empty (440).
    let path = archive.clone();
    let clock = std::time::Instant::now();
    let surveyed = tokio::task::spawn_blocking(move || survey(&path, compression))
        .await
        .map_err(ApiError::internal)?;
    t.survey = clock.elapsed();
    let count = match surveyed {
        Ok(n) => n,
        Err(e) => {
            let d = format!(
                "Nie można rozpakować archiwum ({}): {e}",
                match compression {
                    Compression::Zip => "ZIP",
                    Compression::TarGz => "tar.gz",
                }
            );
            return fail(state, reference, 430, &[&d]).await;
        }
    };
    let limit = u64::from(
        crate::limits::session_limits(
            state,
            &session.context_type,
            &session.context_value,
            Kind::Batch.into(),
        )
        .await?
        .max_invoices,
    );
    if count > limit {
        let d = format!("Paczka zawiera {count} plików faktur; limit sesji to {limit}.");
        return fail(state, reference, 420, &[&d]).await;
    }
    if count == 0 {
        return fail(state, reference, 440, &[DETAIL_NO_INVOICES]).await;
    }

    // 3. The invoices, chunk by chunk; a resumed session skips the ordinals already committed.
    let done: HashSet<i64> =
        sqlx::query_scalar("SELECT ordinal FROM session_invoices WHERE session_ref = ?")
            .bind(reference)
            .fetch_all(state.pool())
            .await?
            .into_iter()
            .collect();
    // The UPO entries of the accepted invoices, collected from the commits (only when this run
    // processes the whole package: a resumed one reads them back at the end).
    let mut documents: Option<Vec<(i64, ksef_invoice::upo::UpoDocument)>> =
        done.is_empty().then(Vec::new);
    let rules = Arc::new(Rules::for_session(state, &session).await?);
    let (tx, mut rx) = mpsc::channel::<Result<Vec<Entry>, String>>(2);
    let path = archive.clone();
    let chunker = Chunker::new(
        state.config().processing_chunk_size,
        state.config().processing_chunk_bytes,
    );
    let pause = state.config().processing_chunk_pause;
    let cap = rules.max_invoice_with_attachment;
    let reader = tokio::task::spawn_blocking(move || {
        read_entries(&path, compression, &done, chunker, &tx, cap)
    });
    let mut pending: Option<tokio::task::JoinHandle<ApiResult<Vec<engine::Judged>>>> = None;
    loop {
        let clock = std::time::Instant::now();
        let Some(msg) = rx.recv().await else {
            break;
        };
        t.read += clock.elapsed();
        let entries = match msg {
            Ok(e) => e,
            Err(e) => {
                // The survey read the whole archive, so this is a storage problem.
                return Err(ApiError::internal(format!(
                    "reading the batch archive: {e}"
                )));
            }
        };
        let now = state.now();
        let works: Vec<Work> = entries
            .into_iter()
            .map(|e| Work {
                rules: rules.clone(),
                reference: ReferenceNumber::generate(ReferenceKind::SessionInvoice, now)
                    .to_string(),
                ordinal: e.ordinal,
                file_name: Some(e.name),
                invoicing_ms: session.created_ms,
                offline: session.offline_mode,
                hash_of_corrected: None,
                declared: None,
                input: e.input,
            })
            .collect();
        let today = model::warsaw_date(now);
        let next = tokio::spawn(engine::verify_all(works, today));
        if let Some(prev) = pending.take() {
            if let Some(d) = commit_chunk(state, prev, t, &mut documents).await? {
                return Ok(deferred(d, next, rx, reader).await);
            }
            if !pause.is_zero() {
                tokio::time::sleep(pause).await;
            }
        }
        pending = Some(next);
    }
    if let Some(prev) = pending.take()
        && let Some(d) = commit_chunk(state, prev, t, &mut documents).await?
    {
        return Ok(Flow::Deferred(d));
    }
    reader.await.map_err(ApiError::internal)?;

    let clock = std::time::Instant::now();
    engine::finalize_with(state, reference, Kind::Batch, 150, documents).await?;
    t.finalize = clock.elapsed();
    t.final_at = Some(std::time::Instant::now());
    engine::checkpoint(state).await;
    cleanup(state, reference).await;
    Ok(Flow::Done)
}

/// Stops the processing after a deferral: the verification running ahead is abandoned and the
/// archive reader is stopped (its next send fails once the receiver is gone).
async fn deferred(
    d: Deferral,
    verifying: tokio::task::JoinHandle<ApiResult<Vec<engine::Judged>>>,
    rx: mpsc::Receiver<Result<Vec<Entry>, String>>,
    reader: tokio::task::JoinHandle<()>,
) -> Flow {
    verifying.abort();
    drop(rx);
    let _ = reader.await;
    Flow::Deferred(d)
}

/// Commits a verified chunk up to its first deferred invoice (see [`engine::split_deferred`]).
async fn commit_chunk(
    state: &AppState,
    verifying: tokio::task::JoinHandle<ApiResult<Vec<engine::Judged>>>,
    t: &mut Timings,
    documents: &mut Option<Vec<(i64, ksef_invoice::upo::UpoDocument)>>,
) -> ApiResult<Option<Deferral>> {
    let clock = std::time::Instant::now();
    let judged = verifying.await.map_err(ApiError::internal)??;
    t.verify += clock.elapsed();
    let (ready, deferral) = engine::split_deferred(judged);
    let clock = std::time::Instant::now();
    let committed = engine::commit(state, ready, CommitMode::Insert).await?;
    t.commit += clock.elapsed();
    if let Some(d) = documents {
        d.extend(committed.documents);
    }
    Ok(deferral)
}

enum Assemble {
    Decrypt(i64),
    Io(std::io::Error),
}

impl From<std::io::Error> for Assemble {
    fn from(e: std::io::Error) -> Self {
        Assemble::Io(e)
    }
}

/// Decrypts the parts in order into `out`; returns the archive's size and Base64 SHA-256.
fn assemble(
    parts: &[(i64, PathBuf)],
    key: &[u8; 32],
    iv: &[u8; 16],
    out: &Path,
) -> Result<(u64, String), Assemble> {
    let mut w = BufWriter::new(crate::datadir::create_private(out)?);
    let mut h = Sha256::new();
    let mut size = 0u64;
    for (n, path) in parts {
        let enc = std::fs::read(path)?;
        let plain = ksef_crypto::envelope::aes256_cbc_decrypt(key, iv, &enc)
            .map_err(|_| Assemble::Decrypt(*n))?;
        h.update(&plain);
        size += plain.len() as u64;
        w.write_all(&plain)?;
    }
    w.flush()?;
    Ok((size, STANDARD.encode(h.finalize())))
}

/// A reader that fails once more than `left` bytes came through: bounds how far a gzip stream
/// may inflate (a small "gzip bomb" must not keep the emulator busy for hours).
struct Capped<R> {
    inner: R,
    left: u64,
}

impl<R: Read> Read for Capped<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.left = self.left.checked_sub(n as u64).ok_or_else(|| {
            std::io::Error::other("archiwum po rozpakowaniu przekracza dopuszczalny rozmiar")
        })?;
        Ok(n)
    }
}

/// How many bytes a tar.gz of `compressed` bytes may inflate to: 200× (real invoice XML packs
/// 10–30×), at least 64 MB.
fn inflate_cap(compressed: u64) -> u64 {
    compressed.saturating_mul(200).max(64 << 20)
}

/// The tar stream of a tar.gz file, inflation bounded by [`inflate_cap`].
fn tar_gz(
    file: std::fs::File,
) -> std::io::Result<tar::Archive<Capped<flate2::read::GzDecoder<BufReader<std::fs::File>>>>> {
    let cap = inflate_cap(file.metadata()?.len());
    Ok(tar::Archive::new(Capped {
        inner: flate2::read::GzDecoder::new(BufReader::new(file)),
        left: cap,
    }))
}

/// Counts the invoice files of the archive, reading its whole structure (a damaged archive is
/// detected here, before anything is committed).
///
/// Every entry of the archive must be accounted for, so two files with the same name refuse the
/// whole package with 430 ("Błąd dekompresji pierwotnego archiwum"). Why the package and not the
/// entries: KSeF reports batch invoices by `invoiceFileName` (digest §9.1, §10.3), which is how a
/// client maps statuses back to its files; with two files of one name that mapping is ambiguous,
/// and an archive that cannot be unpacked into distinct files is not a correctly decompressible
/// package. None of the documented per-invoice statuses (digest §10.3) describes "a second file of
/// the same name", while 430 is the documented package status for an archive that cannot be
/// unpacked. (The `zip` crate indexes entries by name and silently keeps only one of two
/// same-named entries, so the ZIP check walks the central directory itself.)
fn survey(path: &Path, compression: Compression) -> Result<u64, String> {
    let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
    match compression {
        Compression::Zip => {
            let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?;
            let mut cd = BufReader::new(std::fs::File::open(path).map_err(|e| e.to_string())?);
            if let Some(name) =
                repeated_central_directory_name(&mut cd, zip.central_directory_start(), zip.len())
                    .map_err(|e| e.to_string())?
            {
                return Err(duplicate_name(&name));
            }
            let mut names = HashSet::new();
            let mut n = 0u64;
            for i in 0..zip.len() {
                let f = zip.by_index_raw(i).map_err(|e| e.to_string())?;
                if f.is_dir() {
                    continue;
                }
                if f.encrypted() {
                    return Err(format!("plik {:?} jest zaszyfrowany hasłem ZIP", f.name()));
                }
                if !matches!(
                    f.compression(),
                    zip::CompressionMethod::Stored | zip::CompressionMethod::Deflated
                ) {
                    return Err(format!(
                        "plik {:?}: nieobsługiwana metoda kompresji {} (dozwolone: Stored, Deflated)",
                        f.name(),
                        f.compression()
                    ));
                }
                // Distinct raw names may still decode to the same `invoiceFileName`.
                if !names.insert(f.name().to_string()) {
                    return Err(duplicate_name(f.name()));
                }
                n += 1;
            }
            Ok(n)
        }
        Compression::TarGz => {
            let mut tar = tar_gz(file).map_err(|e| e.to_string())?;
            let mut names = HashSet::new();
            let mut n = 0u64;
            for e in tar.entries().map_err(|e| e.to_string())? {
                let e = e.map_err(|e| e.to_string())?;
                if e.header().entry_type().is_file() {
                    let name = tar_name(&e, n + 1);
                    if !names.insert(name.clone()) {
                        return Err(duplicate_name(&name));
                    }
                    n += 1;
                }
            }
            // Read to the end so a damaged gzip trailer (CRC) is noticed too.
            let mut rest = tar.into_inner();
            std::io::copy(&mut rest, &mut std::io::sink()).map_err(|e| e.to_string())?;
            Ok(n)
        }
    }
}

fn duplicate_name(name: &str) -> String {
    format!(
        "nazwa pliku {name:?} występuje w archiwum więcej niż raz; każdy plik faktury w paczce \
         musi mieć unikalną nazwę"
    )
}

/// The `invoiceFileName` of a tar entry (its path; `#ordinal` if it has none).
fn tar_name<R: Read>(e: &tar::Entry<'_, R>, ordinal: u64) -> String {
    e.path()
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_else(|_| format!("#{ordinal}"))
}

/// Signature of a ZIP central directory file header (APPNOTE 4.3.12).
const CENTRAL_HEADER_SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];

/// Walks the ZIP central directory from `start` and returns the first raw file name that occurs
/// twice. `ZipArchive` read its records from the same place with the same layout but keeps one
/// entry per name (`unique` of them), so looking at `unique + 1` records is enough: if the archive
/// declared more records than it has names, a repeat is among them. Bounded by `unique + 1`
/// records of at most 46 + 3 × 65 535 bytes each.
fn repeated_central_directory_name(
    r: &mut (impl Read + std::io::Seek),
    start: u64,
    unique: usize,
) -> std::io::Result<Option<String>> {
    r.seek(std::io::SeekFrom::Start(start))?;
    let mut seen: HashSet<Vec<u8>> = HashSet::with_capacity(unique);
    for _ in 0..=unique {
        let mut header = [0u8; 46];
        if let Err(e) = r.read_exact(&mut header) {
            return if e.kind() == std::io::ErrorKind::UnexpectedEof {
                Ok(None)
            } else {
                Err(e)
            };
        }
        if header[..4] != CENTRAL_HEADER_SIGNATURE {
            // The end of the central directory (zip64 or classic end record).
            return Ok(None);
        }
        let len = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let mut name = vec![0u8; usize::from(len(28))];
        r.read_exact(&mut name)?;
        let skip = i64::from(len(30)) + i64::from(len(32));
        r.seek(std::io::SeekFrom::Current(skip))?;
        if !seen.insert(name.clone()) {
            return Ok(Some(String::from_utf8_lossy(&name).into_owned()));
        }
    }
    Ok(None)
}

/// One file from the archive.
struct Entry {
    ordinal: i64,
    name: String,
    input: Input,
}

fn too_large(size: u64, cap: usize) -> Rejection {
    Rejection::new(
        430,
        format!("Rozmiar pliku ({size} B) przekracza dopuszczalne {cap} B."),
    )
}

/// Reads one file of at most `cap` bytes (the context's limit for invoices with attachments).
fn read_limited(r: &mut impl Read, cap: usize) -> Result<Input, std::io::Error> {
    let mut buf = Vec::new();
    r.take(cap as u64 + 1).read_to_end(&mut buf)?;
    if buf.len() > cap {
        return Ok(Input::Failed(too_large(buf.len() as u64, cap), Vec::new()));
    }
    Ok(Input::Plain(buf))
}

/// Bytes an entry holds in memory (what the chunk's byte bound counts).
fn entry_bytes(e: &Entry) -> usize {
    match &e.input {
        Input::Plain(b) | Input::Failed(_, b) => b.len(),
        Input::Encrypted { ciphertext, .. } => ciphertext.len(),
    }
}

/// Streams the archive's files to `tx` in the chunks `chunker` forms (blocking thread).
fn read_entries(
    path: &Path,
    compression: Compression,
    done: &HashSet<i64>,
    mut chunker: Chunker<Entry>,
    tx: &mpsc::Sender<Result<Vec<Entry>, String>>,
    cap: usize,
) {
    let mut push = |e: Entry| -> bool {
        let size = entry_bytes(&e);
        chunker.push(e, size, |full| tx.blocking_send(Ok(full)).is_ok())
    };
    let result: Result<(), String> = (|| {
        let file = std::fs::File::open(path).map_err(|e| e.to_string())?;
        let mut ordinal = 0i64;
        match compression {
            Compression::Zip => {
                let mut zip =
                    zip::ZipArchive::new(BufReader::new(file)).map_err(|e| e.to_string())?;
                // `survey` refused archives with repeated names, so the archive's index (one
                // entry per name) holds every entry.
                for i in 0..zip.len() {
                    let is_dir = zip.by_index_raw(i).map_err(|e| e.to_string())?.is_dir();
                    if is_dir {
                        continue;
                    }
                    ordinal += 1;
                    if done.contains(&ordinal) {
                        continue;
                    }
                    let entry = match zip.by_index(i) {
                        Ok(mut f) => {
                            let name = f.name().to_string();
                            let input = if f.size() > cap as u64 {
                                Input::Failed(too_large(f.size(), cap), Vec::new())
                            } else {
                                read_limited(&mut f, cap).unwrap_or_else(|e| {
                                    Input::Failed(
                                        Rejection::new(
                                            430,
                                            format!("Nie można rozpakować pliku z archiwum: {e}"),
                                        ),
                                        Vec::new(),
                                    )
                                })
                            };
                            Entry {
                                ordinal,
                                name,
                                input,
                            }
                        }
                        Err(e) => Entry {
                            ordinal,
                            name: format!("#{ordinal}"),
                            input: Input::Failed(
                                Rejection::new(
                                    430,
                                    format!("Nie można rozpakować pliku z archiwum: {e}"),
                                ),
                                Vec::new(),
                            ),
                        },
                    };
                    if !push(entry) {
                        return Ok(());
                    }
                }
            }
            Compression::TarGz => {
                let mut tar = tar_gz(file).map_err(|e| e.to_string())?;
                for e in tar.entries().map_err(|e| e.to_string())? {
                    let mut e = e.map_err(|e| e.to_string())?;
                    if !e.header().entry_type().is_file() {
                        continue;
                    }
                    ordinal += 1;
                    if done.contains(&ordinal) {
                        continue;
                    }
                    let name = tar_name(&e, ordinal.unsigned_abs());
                    let size = e.header().size().unwrap_or(0);
                    let input = if size > cap as u64 {
                        Input::Failed(too_large(size, cap), Vec::new())
                    } else {
                        read_limited(&mut e, cap).map_err(|e| e.to_string())?
                    };
                    if !push(Entry {
                        ordinal,
                        name,
                        input,
                    }) {
                        return Ok(());
                    }
                }
            }
        }
        Ok(())
    })();
    match result {
        Ok(()) => {
            if let Some(last) = chunker.finish() {
                let _ = tx.blocking_send(Ok(last));
            }
        }
        Err(e) => {
            let _ = tx.blocking_send(Err(e));
        }
    }
}
