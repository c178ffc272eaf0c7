//! Invoice exports (digest §12.3): `POST /invoices/exports` records the request (status 100,
//! or 415 when the AES key cannot be unwrapped) and a background task builds the package:
//! invoices ascending by the filter's date type, up to 10 000 of them or
//! [`EmulatorConfig::export_max_package_size`](crate::EmulatorConfig) of compressed data,
//! `{ksefNumber}.xml` entries plus `_metadata.json`, streamed into a ZIP (or tar.gz) file,
//! split into parts of at most `export_part_size` bytes, each AES-256-CBC-encrypted with the
//! client's key and IV and written durably next to the database.
//!
//! The state lives in the `exports` table, so statuses survive a restart; exports still in
//! status 100 at startup are rebuilt by [`resume`]. The AES key is stored only while the
//! export is being built.
//!
//! Builds are tasks of the running server ([`ExportBuilds`]): [`stop`] (called when
//! [`crate::server::serve`] ends) cancels them and waits until none is left, also inside the
//! blocking writer, which checks for cancellation between invoices and between parts. A
//! cancelled build records nothing: the export stays in status 100 and is rebuilt from scratch
//! by the next start. Directories created for a package are fsynced up to the data directory.

use std::collections::{BTreeSet, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use tokio::sync::watch;
use tokio::task::JoinSet;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ContextIdentifierType, ReferenceKind, ReferenceNumber};
use ksef_crypto::stream::{CbcEncryptWriter, HashingWriter};
use ksef_wire as wire;
use serde::{Deserialize, Serialize};
use sqlx::{QueryBuilder, Row, Sqlite, SqlitePool};
use time::OffsetDateTime;

use super::filter::{DateType, Filter, MAX_RESULTS, date_text};
use super::metadata::{COLUMNS, from_row};
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::keys::KeyUsage;
use crate::state::AppState;
use crate::storage;
use crate::store::{from_ms, ms};
use ksef_wire::{ExceptionCode, Validate};

/// How long an export status can be read (digest §2.5), then 410.
const STATUS_RETENTION: time::Duration = time::Duration::days(7);
/// Concurrent exports per context (digest §12.3).
const MAX_RUNNING: i64 = 10;
/// Packages built at once by one emulator (bounds disk and CPU use, not an API rule).
const PARALLEL_BUILDS: usize = 2;

/// The export builds of one running emulator ([`AppState::exports`]).
pub struct ExportBuilds {
    /// At most [`PARALLEL_BUILDS`] builds write at once.
    permits: tokio::sync::Semaphore,
    /// Exports being built (so a second [`resume`] does not start a twin).
    running: Mutex<BTreeSet<String>>,
    /// The build tasks; `stopped` is set (under this lock) by [`stop`].
    tasks: Mutex<JoinSet<()>>,
    /// `true` once [`stop`] was called: builds end as soon as they can, recording nothing.
    stopped: watch::Sender<bool>,
}

impl Default for ExportBuilds {
    fn default() -> Self {
        Self {
            permits: tokio::sync::Semaphore::new(PARALLEL_BUILDS),
            running: Mutex::new(BTreeSet::new()),
            tasks: Mutex::new(JoinSet::new()),
            stopped: watch::Sender::new(false),
        }
    }
}

impl ExportBuilds {
    /// How many builds are running (or waiting for a permit).
    pub fn running(&self) -> usize {
        self.running.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }
}

impl AppState {
    /// The export builds of this emulator (the `retrieval` feature's in-memory state).
    pub fn exports(&self) -> std::sync::Arc<ExportBuilds> {
        self.feature::<ExportBuilds>()
    }
}

/// Stops every export build and waits until all have ended (at server shutdown). Builds
/// interrupted here leave their exports in status 100 for [`resume`] at the next start; later
/// calls to start a build do nothing.
pub async fn stop(state: &AppState) {
    let builds = state.exports();
    let mut tasks = {
        let mut t = builds.tasks.lock().unwrap_or_else(|p| p.into_inner());
        builds.stopped.send_replace(true);
        std::mem::take(&mut *t)
    };
    while tasks.join_next().await.is_some() {}
}

const IN_PROGRESS: &str = "Eksport faktur w toku";
const DONE: &str = "Eksport faktur zakończony sukcesem";
const EXPIRED: &str = "Eksport faktur wygasł i nie jest już dostępny do pobrania";
const BAD_KEY: &str = "Błąd odszyfrowania dostarczonego klucza";
const BEYOND_HWM: &str = "Zakres filtrowania wykracza poza dostępny zakres danych";
const BEYOND_HWM_DETAIL: &str = "Parametr dateRange.from jest późniejszy niż PermanentStorageHwmDate przy włączonym restrictToPermanentStorageHwmDate.";

/// The archive format.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
enum Compression {
    Zip,
    TarGz,
}

impl Compression {
    fn extension(self) -> &'static str {
        match self {
            Compression::Zip => "zip",
            Compression::TarGz => "tar.gz",
        }
    }
}

/// `exports.request`: what the builder needs, with the range already resolved.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredRequest {
    filter: Filter,
    only_metadata: bool,
    compression: Compression,
}

/// `exports.package`: a finished package (parts are files on disk).
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredPackage {
    invoice_count: u64,
    size: u64,
    is_truncated: bool,
    last_issue_date: Option<String>,
    last_invoicing_ms: Option<i64>,
    last_permanent_storage_ms: Option<i64>,
    hwm_ms: Option<i64>,
    expires_ms: i64,
    parts: Vec<StoredPart>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredPart {
    ordinal: u32,
    name: String,
    size: u64,
    hash: String,
    encrypted_size: u64,
    encrypted_hash: String,
}

/// Which subject types a context type may export (21181). Internal units (InternalId) appear
/// on invoices only as Podmiot3; EU-entity (NipVatUe) and Peppol contexts have no invoices of
/// their own to export.
fn subject_allowed(context: ContextIdentifierType, subject: &str) -> bool {
    match context {
        ContextIdentifierType::Nip => true,
        ContextIdentifierType::InternalId => subject == "Subject3",
        ContextIdentifierType::NipVatUe | ContextIdentifierType::PeppolId => false,
    }
}

/// `POST /invoices/exports`: validates, records the export and starts building it.
pub async fn start(
    state: &AppState,
    caller: &Caller,
    req: &wire::InvoiceExportRequest,
) -> ApiResult<String> {
    let compression = match req
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?
    {
        wire::CompressionType::Zip => Compression::Zip,
        wire::CompressionType::TarGz => Compression::TarGz,
    };
    let now = state.now();
    let filter = Filter::from_wire(&req.filters, "filters", super::storage_now(state))?;
    let service_key = state.key(KeyUsage::SymmetricKeyEncryption);
    if let Some(id) = &req.encryption.public_key_id
        && id != service_key.public_key_id()
    {
        return Err(ApiError::bad(
            ExceptionCode::UnknownPublicKey,
            format!("Klucz o identyfikatorze {id} nie jest wspierany."),
        ));
    }
    if !subject_allowed(caller.context.kind(), &filter.subject_type) {
        return Err(ApiError::bad(
            ExceptionCode::InvalidExportRequest,
            format!(
                "Nie można wyeksportować paczki faktur dla wybranego podmiotu ({}) i zalogowanego identyfikatora kontekstu ({}).",
                filter.subject_type,
                caller.context.kind()
            ),
        ));
    }
    let iv = STANDARD
        .decode(req.encryption.initialization_vector.trim())
        .ok()
        .filter(|v| v.len() == 16)
        .ok_or_else(|| {
            ApiError::validation(
                "encryption.initializationVector: oczekiwano 16 bajtów zakodowanych w Base64.",
            )
        })?;
    let wrapped = STANDARD
        .decode(
            req.encryption
                .encrypted_symmetric_key
                .expose_secret()
                .trim(),
        )
        .map_err(|_| {
            ApiError::validation("encryption.encryptedSymmetricKey: oczekiwano danych w Base64.")
        })?;
    let unwrap_state = state.clone();
    let aes_key: Option<Vec<u8>> = tokio::task::spawn_blocking(move || {
        let key = unwrap_state.key(KeyUsage::SymmetricKeyEncryption).key();
        ksef_crypto::envelope::rsa_oaep_sha256_decrypt(key, &wrapped)
            .ok()
            .filter(|k| k.len() == 32)
    })
    .await
    .map_err(ApiError::internal)?;

    let reference = ReferenceNumber::generate(ReferenceKind::InvoiceExport, now);
    let subject_type = filter.subject_type.clone();
    let request = serde_json::to_string(&StoredRequest {
        filter,
        only_metadata: req.only_metadata,
        compression,
    })
    .map_err(ApiError::internal)?;
    let (code, description) = if aes_key.is_some() {
        (100, IN_PROGRESS)
    } else {
        (415, BAD_KEY)
    };
    // One statement, so two concurrent requests cannot both pass the limit.
    let inserted = sqlx::query(
        "INSERT INTO exports(reference_number, context_type, context_value, subject_type, request, \
         symmetric_key, iv, status_code, status_description, created_ms, completed_ms) \
         SELECT ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ? \
         WHERE (SELECT COUNT(*) FROM exports WHERE context_type = ? AND context_value = ? AND status_code = 100) < ?",
    )
    .bind(reference.as_str())
    .bind(caller.context.kind().as_str())
    .bind(caller.context.value())
    .bind(subject_type)
    .bind(request)
    .bind(aes_key)
    .bind(iv)
    .bind(code)
    .bind(description)
    .bind(ms(now))
    .bind((code != 100).then(|| ms(now)))
    .bind(caller.context.kind().as_str())
    .bind(caller.context.value())
    .bind(MAX_RUNNING)
    .execute(state.pool())
    .await?;
    if inserted.rows_affected() == 0 {
        return Err(ApiError::bad(
            ExceptionCode::TooManyExports,
            format!(
                "Dla uwierzytelnionego podmiotu w bieżącym kontekście osiągnięto maksymalny limit {MAX_RUNNING} równoczesnych eksportów faktur. Spróbuj ponownie później."
            ),
        ));
    }
    if code == 100 {
        spawn_build(state.clone(), reference.to_string());
    }
    Ok(reference.to_string())
}

/// Rebuilds every export left in status 100 (interrupted by a shutdown or crash). Call once
/// at startup, after the database is open; returns how many builds were started.
pub async fn resume(state: &AppState) -> Result<usize, sqlx::Error> {
    let refs: Vec<String> = sqlx::query_scalar(
        "SELECT reference_number FROM exports WHERE status_code = 100 ORDER BY created_ms",
    )
    .fetch_all(state.pool())
    .await?;
    let mut started = 0;
    for r in refs {
        if spawn_build(state.clone(), r) {
            started += 1;
        }
    }
    Ok(started)
}

/// The directory of an export's files.
fn export_dir(state: &AppState, reference: &str) -> PathBuf {
    storage::blob_path(state, &format!("export/{reference}"))
}

/// Why a build did not produce a package.
enum BuildError {
    /// `from` after the HWM with `restrictToPermanentStorageHwmDate` (status 420).
    BeyondHwm,
    /// The server is stopping ([`stop`]): nothing is recorded, the next start rebuilds.
    Cancelled,
    /// Anything else (status 500); the message is logged, never shown.
    Failed(String),
}

impl<E: std::fmt::Display> From<E> for BuildError {
    fn from(e: E) -> Self {
        BuildError::Failed(e.to_string())
    }
}

/// Starts building `reference` in the background unless this emulator already is (or is
/// stopping: then the export stays in status 100 for the next start).
fn spawn_build(state: AppState, reference: String) -> bool {
    let builds = state.exports();
    let mut tasks = builds.tasks.lock().unwrap_or_else(|p| p.into_inner());
    if builds.is_stopped() {
        return false;
    }
    {
        let mut set = builds.running.lock().unwrap_or_else(|p| p.into_inner());
        if !set.insert(reference.clone()) {
            return false;
        }
    }
    // Reap finished tasks so the set does not grow without bound.
    while tasks.try_join_next().is_some() {}
    let task_state = state.clone();
    tasks.spawn(async move {
        run_build(&task_state, &reference).await;
        task_state
            .exports()
            .running
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&reference);
    });
    true
}

/// Builds one export and records the outcome (unless cancelled by [`stop`]).
async fn run_build(state: &AppState, reference: &str) {
    let builds = state.exports();
    let mut stopped = builds.stopped.subscribe();
    // Waiting for a permit (and, in `build`, the database work before the blocking writer) is
    // dropped as soon as the server stops; the writer checks `stopped` and ends on its own.
    let permit = tokio::select! {
        p = builds.permits.acquire() => p.map_err(|e| BuildError::Failed(e.to_string())),
        _ = stopped.wait_for(|s| *s) => Err(BuildError::Cancelled),
    };
    let outcome = match permit {
        Ok(_permit) => build(state, reference, &stopped).await,
        Err(e) => Err(e),
    };
    let (code, description, details, package) = match outcome {
        Ok(p) => (200, DONE.to_string(), Vec::new(), Some(p)),
        Err(BuildError::Cancelled) => {
            tracing::info!(export = %reference, "export build stopped; it resumes at the next start");
            remove_dir(&export_dir(state, reference));
            return;
        }
        Err(BuildError::BeyondHwm) => (
            420,
            BEYOND_HWM.to_string(),
            vec![BEYOND_HWM_DETAIL.to_string()],
            None,
        ),
        Err(BuildError::Failed(msg)) => {
            tracing::error!(export = %reference, error = %msg, "building the export package failed");
            (500, "Nieznany błąd (500)".to_string(), Vec::new(), None)
        }
    };
    if package.is_none() {
        remove_dir(&export_dir(state, reference));
    }
    let result = sqlx::query(
        "UPDATE exports SET status_code = ?, status_description = ?, status_details = ?, \
         completed_ms = ?, package = ?, symmetric_key = NULL \
         WHERE reference_number = ? AND status_code = 100",
    )
    .bind(code)
    .bind(description)
    .bind(serde_json::to_string(&details).unwrap_or_else(|_| "[]".into()))
    .bind(ms(state.now()))
    .bind(package.and_then(|p| serde_json::to_string(&p).ok()))
    .bind(reference)
    .execute(state.pool())
    .await;
    if let Err(e) = result {
        tracing::error!(export = %reference, error = %e, "cannot record the export status");
    }
}

fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir)
        && e.kind() != io::ErrorKind::NotFound
    {
        tracing::warn!(dir = %dir.display(), error = %e, "cannot remove export files");
    }
}

/// Builds the package of `reference`. The database work before the blocking writer may be
/// dropped at any await; the writer is awaited to its end (it stops early on `stopped`).
async fn build(
    state: &AppState,
    reference: &str,
    stopped: &watch::Receiver<bool>,
) -> Result<StoredPackage, BuildError> {
    // The database work, dropped at once when the server stops (the HWM may wait for a long
    // commit).
    let prepare = async {
        let row = sqlx::query(
        "SELECT request, symmetric_key, iv, context_value FROM exports WHERE reference_number = ?",
    )
    .bind(reference)
    .fetch_one(state.pool())
    .await?;
        let request: StoredRequest = serde_json::from_str(&row.try_get::<String, _>("request")?)?;
        let key: [u8; 32] = row
            .try_get::<Option<Vec<u8>>, _>("symmetric_key")?
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| BuildError::Failed("no stored AES key".into()))?;
        let iv: [u8; 16] = row
            .try_get::<Vec<u8>, _>("iv")?
            .try_into()
            .map_err(|_| BuildError::Failed("stored IV is not 16 bytes".into()))?;
        let identifier: String = row.try_get("context_value")?;
        let filter = request.filter;
        let (hwm_ms, upper) = if filter.date_type == DateType::PermanentStorage {
            let h = ms(super::hwm(state)
                .await
                .map_err(|e| BuildError::Failed(e.to_string()))?);
            if filter.restricts_to_hwm() && filter.from_ms > h {
                return Err(BuildError::BeyondHwm);
            }
            let upper = if filter.restricts_to_hwm() {
                h
            } else {
                i64::MAX
            };
            (Some(h.min(filter.to_ms)), upper)
        } else {
            (None, i64::MAX)
        };

        // Metadata of the candidates, ascending, one past the count limit.
        let mut qb = QueryBuilder::<Sqlite>::new(format!("SELECT {COLUMNS}"));
        filter.push_from_where(&mut qb, &identifier, upper);
        filter.push_order(&mut qb, false);
        qb.push(" LIMIT ");
        qb.push_bind(MAX_RESULTS + 1);
        let mut candidates = Vec::new();
        for r in qb.build().fetch_all(state.pool()).await? {
            let size: i64 = r.try_get("invoice_size")?;
            candidates.push((from_row(&r)?, u64::try_from(size).unwrap_or(0)));
        }
        let matched = candidates.len();
        candidates.truncate(MAX_RESULTS as usize);
        Ok::<_, BuildError>((
            request.only_metadata,
            request.compression,
            key,
            iv,
            filter,
            hwm_ms,
            candidates,
            matched,
        ))
    };
    let mut stop = stopped.clone();
    let (only_metadata, compression, key, iv, filter, hwm_ms, candidates, matched) = tokio::select! {
        r = prepare => r?,
        _ = stop.wait_for(|s| *s) => return Err(BuildError::Cancelled),
    };

    let job = Job {
        state: state.clone(),
        handle: tokio::runtime::Handle::current(),
        reference: reference.to_string(),
        dir: export_dir(state, reference),
        stopped: stopped.clone(),
        only_metadata,
        compression,
        max_package: state.config().export_max_package_size,
        part_size: state.config().export_part_size.max(16),
        key,
        iv,
    };
    if *stopped.borrow() {
        return Err(BuildError::Cancelled);
    }
    // Not raced against `stopped`: dropping this await would leave the writer running.
    let (included, size, parts) = tokio::task::spawn_blocking(move || job.run(&candidates))
        .await
        .map_err(|e| BuildError::Failed(format!("package writer: {e}")))??;

    let is_truncated = matched > included.len();
    let last = included.last().filter(|_| is_truncated);
    let completed = state.now();
    Ok(StoredPackage {
        invoice_count: included.len() as u64,
        size,
        is_truncated,
        last_issue_date: last
            .filter(|_| filter.date_type == DateType::Issue)
            .map(|m| date_text(m.issue_date)),
        last_invoicing_ms: last
            .filter(|_| filter.date_type == DateType::Invoicing)
            .map(|m| ms(m.invoicing_date)),
        last_permanent_storage_ms: last
            .filter(|_| filter.date_type == DateType::PermanentStorage)
            .map(|m| ms(m.permanent_storage_date)),
        hwm_ms,
        expires_ms: ms(completed + state.config().export_package_lifetime),
        parts,
    })
}

/// The blocking part of a build: archive, then encrypted parts.
struct Job {
    state: AppState,
    handle: tokio::runtime::Handle,
    reference: String,
    dir: PathBuf,
    /// Set when the server stops: the writer ends with [`BuildError::Cancelled`].
    stopped: watch::Receiver<bool>,
    only_metadata: bool,
    compression: Compression,
    max_package: u64,
    part_size: u64,
    key: [u8; 32],
    iv: [u8; 16],
}

/// Invoice contents are fetched in batches of at most this many bytes (and 64 invoices).
const FETCH_BATCH_BYTES: u64 = 8 * 1024 * 1024;

type Built = (Vec<wire::InvoiceMetadata>, u64, Vec<StoredPart>);

impl Job {
    fn run(self, candidates: &[(wire::InvoiceMetadata, u64)]) -> Result<Built, BuildError> {
        // A fresh directory (an interrupted earlier build may have left files), durable up to
        // the data directory: each new directory entry needs its parent fsynced.
        remove_dir(&self.dir);
        storage::create_dir_durably(&self.state, &self.dir)?;
        let archive = self.dir.join("package.tmp");
        let (included, size) = self.write_archive(&archive, candidates)?;
        let parts = self.write_parts(&archive, size)?;
        std::fs::remove_file(&archive)?;
        storage::sync_dir(&self.dir)?;
        Ok((included, size, parts))
    }

    /// [`BuildError::Cancelled`] once the server is stopping.
    fn check_stopped(&self) -> Result<(), BuildError> {
        if *self.stopped.borrow() {
            Err(BuildError::Cancelled)
        } else {
            Ok(())
        }
    }

    /// Writes the archive; returns the metadata of the invoices it holds and its size.
    fn write_archive(
        &self,
        path: &Path,
        candidates: &[(wire::InvoiceMetadata, u64)],
    ) -> Result<(Vec<wire::InvoiceMetadata>, u64), BuildError> {
        let written = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let out = Counting {
            inner: BufWriter::new(crate::datadir::create_private(path)?),
            pos: 0,
            len: written.clone(),
        };
        let mut archive = match self.compression {
            Compression::Zip => Archive::Zip(Box::new(zip::ZipWriter::new(out))),
            Compression::TarGz => Archive::TarGz(Box::new(tar::Builder::new(
                flate2::write::GzEncoder::new(out, flate2::Compression::default()),
            ))),
        };
        let mut included: Vec<wire::InvoiceMetadata> = Vec::new();
        if self.only_metadata {
            included = candidates.iter().map(|(m, _)| m.clone()).collect();
        } else {
            let mut rest = candidates;
            'outer: while !rest.is_empty() {
                // The next batch: bounded by bytes and count, at least one invoice.
                let mut n = 0;
                let mut bytes = 0;
                while n < rest.len() && n < 64 && (n == 0 || bytes + rest[n].1 <= FETCH_BATCH_BYTES)
                {
                    bytes += rest[n].1;
                    n += 1;
                }
                let (batch, tail) = rest.split_at(n);
                rest = tail;
                self.check_stopped()?;
                let mut contents = self.handle.block_on(fetch_contents(
                    self.state.pool(),
                    batch.iter().map(|(m, _)| m.ksef_number.clone()).collect(),
                ))?;
                for (m, _) in batch {
                    self.check_stopped()?;
                    // The size limit counts compressed data already written (§12.3).
                    if !included.is_empty()
                        && written.load(std::sync::atomic::Ordering::Relaxed) >= self.max_package
                    {
                        break 'outer;
                    }
                    let content = contents.remove(&m.ksef_number).ok_or_else(|| {
                        BuildError::Failed(format!("invoice {} has no content", m.ksef_number))
                    })?;
                    archive.add(&format!("{}.xml", m.ksef_number), &content)?;
                    included.push(m.clone());
                }
            }
        }
        #[derive(Serialize)]
        struct MetadataFile<'a> {
            invoices: &'a [wire::InvoiceMetadata],
        }
        let json = serde_json::to_vec(&MetadataFile {
            invoices: &included,
        })?;
        archive.add(wire::EXPORT_METADATA_FILE_NAME, &json)?;
        let out = archive.finish()?;
        let file = out.inner.into_inner().map_err(|e| e.into_error())?;
        file.sync_all()?;
        let size = file.metadata()?.len();
        Ok((included, size))
    }

    /// Splits the archive into encrypted parts written durably; returns their descriptions.
    fn write_parts(&self, archive: &Path, size: u64) -> Result<Vec<StoredPart>, BuildError> {
        let count = size.div_ceil(self.part_size).max(1);
        let mut input = io::BufReader::new(File::open(archive)?);
        let mut parts = Vec::new();
        for ordinal in 1..=u32::try_from(count)? {
            self.check_stopped()?;
            let path = super::links::export_part_path(&self.state, &self.reference, ordinal);
            let tmp = path.with_extension("aes-tmp");
            let file = BufWriter::new(crate::datadir::create_private(&tmp)?);
            let mut w = HashingWriter::new(CbcEncryptWriter::new(
                &self.key,
                &self.iv,
                HashingWriter::new(file),
            ));
            io::copy(&mut (&mut input).take(self.part_size), &mut w)?;
            let (encryptor, plain) = w.finish();
            let (file, encrypted) = encryptor.finish()?.finish();
            let file = file.into_inner().map_err(|e| e.into_error())?;
            file.sync_all()?;
            std::fs::rename(&tmp, &path)?;
            parts.push(StoredPart {
                ordinal,
                name: format!(
                    "{}-{ordinal:03}.{}.aes",
                    self.reference,
                    self.compression.extension()
                ),
                size: plain.size,
                hash: plain.sha256_base64(),
                encrypted_size: encrypted.size,
                encrypted_hash: encrypted.sha256_base64(),
            });
        }
        Ok(parts)
    }
}

async fn fetch_contents(
    pool: &SqlitePool,
    numbers: Vec<String>,
) -> Result<HashMap<String, Vec<u8>>, sqlx::Error> {
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT ksef_number, content FROM invoices WHERE ksef_number IN (",
    );
    let mut sep = qb.separated(", ");
    for n in numbers {
        sep.push_bind(n);
    }
    qb.push(")");
    let mut out = HashMap::new();
    for r in qb.build().fetch_all(pool).await? {
        out.insert(r.try_get("ksef_number")?, r.try_get("content")?);
    }
    Ok(out)
}

/// A writer that remembers how far the file has grown (the compressed size so far).
struct Counting<W> {
    inner: W,
    pos: u64,
    len: Arc<std::sync::atomic::AtomicU64>,
}

impl<W: Write> Write for Counting<W> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.pos += n as u64;
        self.len
            .fetch_max(self.pos, std::sync::atomic::Ordering::Relaxed);
        Ok(n)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.inner.flush()
    }
}

impl<W: Seek> Seek for Counting<W> {
    fn seek(&mut self, to: SeekFrom) -> io::Result<u64> {
        self.pos = self.inner.seek(to)?;
        Ok(self.pos)
    }
}

type Out = Counting<BufWriter<File>>;

/// The archive being written.
enum Archive {
    Zip(Box<zip::ZipWriter<Out>>),
    TarGz(Box<tar::Builder<flate2::write::GzEncoder<Out>>>),
}

impl Archive {
    fn add(&mut self, name: &str, bytes: &[u8]) -> Result<(), BuildError> {
        match self {
            Archive::Zip(z) => {
                let options = zip::write::SimpleFileOptions::default()
                    .compression_method(zip::CompressionMethod::Deflated);
                z.start_file(name, options)?;
                z.write_all(bytes)?;
            }
            Archive::TarGz(t) => {
                let mut header = tar::Header::new_gnu();
                header.set_size(bytes.len() as u64);
                header.set_mode(0o644);
                header.set_mtime(OffsetDateTime::now_utc().unix_timestamp().max(0) as u64);
                header.set_cksum();
                t.append_data(&mut header, name, bytes)?;
            }
        }
        Ok(())
    }

    fn finish(self) -> Result<Out, BuildError> {
        Ok(match self {
            Archive::Zip(z) => z.finish()?,
            Archive::TarGz(t) => t.into_inner()?.finish()?,
        })
    }
}

/// `GET /invoices/exports/{ref}`.
pub async fn status(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    base: &str,
) -> ApiResult<wire::InvoiceExportStatusResponse> {
    let row = sqlx::query(
        "SELECT status_code, status_description, status_details, created_ms, completed_ms, package \
         FROM exports WHERE reference_number = ? AND context_type = ? AND context_value = ?",
    )
    .bind(reference)
    .bind(caller.context.kind().as_str())
    .bind(caller.context.value())
    .fetch_optional(state.pool())
    .await?;
    let Some(row) = row else {
        return Err(ApiError::bad(
            ExceptionCode::ExportNotFound,
            format!(
                "Eksport o numerze referencyjnym {reference} nie istnieje w bieżącym kontekście."
            ),
        ));
    };
    let now = state.now();
    let created = from_ms(row.try_get("created_ms")?);
    if now > created + STATUS_RETENTION {
        return Err(ApiError::Gone(
            "Operacja wygasła i nie jest już dostępna.".into(),
        ));
    }
    let mut code: i64 = row.try_get("status_code")?;
    let mut description: String = row.try_get("status_description")?;
    let details: Vec<String> =
        serde_json::from_str(&row.try_get::<String, _>("status_details")?).unwrap_or_default();
    let completed: Option<i64> = row.try_get("completed_ms")?;
    let package: Option<StoredPackage> = match row.try_get::<Option<String>, _>("package")? {
        Some(j) => Some(serde_json::from_str(&j).map_err(ApiError::internal)?),
        None => None,
    };
    let expires = package.as_ref().map(|p| from_ms(p.expires_ms));
    if code == 200 && expires.is_some_and(|e| now > e) {
        sqlx::query(
            "UPDATE exports SET status_code = 210, status_description = ? \
             WHERE reference_number = ? AND status_code = 200",
        )
        .bind(EXPIRED)
        .bind(reference)
        .execute(state.pool())
        .await?;
        remove_dir(&export_dir(state, reference));
        code = 210;
        description = EXPIRED.to_string();
    }
    let package = match package {
        Some(p) if code == 200 => Some(package_view(state, reference, base, &p, now)),
        _ => None,
    };
    Ok(wire::InvoiceExportStatusResponse {
        status: wire::StatusInfo {
            code: i32::try_from(code).map_err(ApiError::internal)?,
            description,
            details: (!details.is_empty()).then_some(details),
        },
        completed_date: completed.map(from_ms),
        package_expiration_date: expires,
        package,
    })
}

/// The wire package with fresh pre-signed links (valid for `download_link_lifetime`, never
/// past the package's expiry).
fn package_view(
    state: &AppState,
    reference: &str,
    base: &str,
    p: &StoredPackage,
    now: OffsetDateTime,
) -> wire::InvoicePackage {
    let expires = from_ms(p.expires_ms);
    let link_until = std::cmp::min(now + state.config().download_link_lifetime, expires);
    wire::InvoicePackage {
        invoice_count: p.invoice_count,
        size: p.size,
        parts: p
            .parts
            .iter()
            .map(|part| {
                let (url, expiration_date) = storage::presign_until(
                    state,
                    base,
                    "GET",
                    &format!("export/{reference}/{}", part.ordinal),
                    link_until,
                );
                wire::InvoicePackagePart {
                    ordinal_number: part.ordinal,
                    part_name: part.name.clone(),
                    method: "GET".into(),
                    url,
                    part_size: part.size,
                    part_hash: part.hash.clone(),
                    encrypted_part_size: part.encrypted_size,
                    encrypted_part_hash: part.encrypted_hash.clone(),
                    expiration_date,
                }
            })
            .collect(),
        is_truncated: p.is_truncated,
        last_issue_date: p
            .last_issue_date
            .as_deref()
            .and_then(|d| wire::ksef_time::date::parse(d).ok()),
        last_invoicing_date: p.last_invoicing_ms.map(from_ms),
        last_permanent_storage_date: p.last_permanent_storage_ms.map(from_ms),
        permanent_storage_hwm_date: p.hwm_ms.map(from_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn subject_types_per_context_type() {
        for s in ["Subject1", "Subject2", "Subject3", "SubjectAuthorized"] {
            assert!(subject_allowed(ContextIdentifierType::Nip, s));
            assert!(!subject_allowed(ContextIdentifierType::NipVatUe, s));
            assert!(!subject_allowed(ContextIdentifierType::PeppolId, s));
            assert_eq!(
                subject_allowed(ContextIdentifierType::InternalId, s),
                s == "Subject3"
            );
        }
    }
}
