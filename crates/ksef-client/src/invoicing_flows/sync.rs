//! Incremental download of a context's invoices into a directory through exports (digest
//! §12.3, §12.4).
//!
//! Per subject type (default `Subject1` = issued, `Subject2` = received): export with
//! `dateType = PermanentStorage`, `from` = the checkpoint, `restrictToPermanentStorageHwmDate`;
//! the next checkpoint is `lastPermanentStorageDate` when the package was truncated, else
//! `permanentStorageHwmDate`. Windows are adjacent, so an invoice at a window edge may come
//! twice: invoices are de-duplicated by KSeF number (the file name).
//!
//! Layout: `{dir}/{subjectType}/{ksefNumber}.xml`, each written to a temporary file in the same
//! directory, checked against the hash of `_metadata.json`, fsynced and renamed into place;
//! then `{dir}/.ksef-sync.json` (the checkpoints) is replaced the same way — always AFTER the
//! invoices it covers. A run that dies half-way is resumed by the next one from the last
//! checkpoint; files already present are not downloaded into place again.
//!
//! Memory is constant: every export part is streamed to a temporary file, decrypted by
//! streaming into the archive file, and the archive is read from that file entry by entry;
//! the package's `_metadata.json` is parsed as a stream into a temporary file with an index
//! (module `package_metadata`).

mod package_metadata;

use std::collections::{BTreeMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ksef_crypto::stream::{CbcDecryptWriter, HashingWriter};
use ksef_wire::{
    CompressionType, EXPORT_METADATA_FILE_NAME, InvoiceExportRequest, InvoiceExportStatusResponse,
    InvoiceMetadata, InvoicePackage, InvoiceQueryDateRange, InvoiceQueryDateType,
    InvoiceQueryFilters, InvoiceQuerySubjectType, WireEnum,
};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

use self::package_metadata::{InvoiceEntry, PackageMetadata};
use super::{Poll, Progress, ProgressFn, SymmetricKey, access_token, no_progress, with_fresh_key};
use crate::batch::Compression;
use crate::client::KsefClient;
use crate::error::KsefError;
use crate::session::Session;

/// Name of the checkpoint file in the sync directory.
pub const CHECKPOINT_FILE: &str = ".ksef-sync.json";
/// Export status: in progress.
const EXPORT_IN_PROGRESS: i32 = 100;
/// Export status: done.
const EXPORT_DONE: i32 = 200;
/// A window longer than this is split (the API takes at most 3 months).
const MAX_WINDOW: time::Duration = time::Duration::days(88);
/// Whole-request timeout of one export part download (≤ 50 MB).
const PART_TIMEOUT: Duration = Duration::from_secs(3600);
/// Safety stop: exports per subject type in one run.
const MAX_EXPORTS_PER_SUBJECT: usize = 10_000;
/// Default start of a first sync: this long before now (a day inside `MAX_WINDOW`, so a
/// first sync is one window).
pub const DEFAULT_FIRST_WINDOW: time::Duration = time::Duration::days(87);

/// Options of [`sync`].
#[derive(Clone)]
pub struct SyncOptions {
    /// Subject types to synchronise (default `Subject1`, `Subject2`).
    pub subject_types: Vec<InvoiceQuerySubjectType>,
    /// Start of the first sync of a subject type (no checkpoint yet); default 87 days ago.
    pub since: Option<OffsetDateTime>,
    /// Archive format requested for the export packages.
    pub compression: Compression,
    /// How long to wait for one export to be ready.
    pub wait: Duration,
    /// Where downloaded parts and archives are kept while processed (default: inside `dir`,
    /// so the final renames stay on one file system).
    pub temp_dir: Option<PathBuf>,
    /// Progress reports.
    pub progress: ProgressFn,
}

impl Default for SyncOptions {
    fn default() -> Self {
        SyncOptions {
            subject_types: vec![
                InvoiceQuerySubjectType::Subject1,
                InvoiceQuerySubjectType::Subject2,
            ],
            since: None,
            compression: Compression::Zip,
            wait: Duration::from_secs(30 * 60),
            temp_dir: None,
            progress: no_progress(),
        }
    }
}

impl std::fmt::Debug for SyncOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SyncOptions")
            .field("subject_types", &self.subject_types)
            .field("since", &self.since)
            .field("compression", &self.compression)
            .field("wait", &self.wait)
            .finish_non_exhaustive()
    }
}

/// What a sync did for one subject type.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncSubjectReport {
    /// `Subject1`, `Subject2`, …
    pub subject_type: String,
    /// Exports made.
    pub exports: u32,
    /// Invoices written that were not there before.
    pub downloaded: u64,
    /// Invoices in the packages that were already in the directory.
    pub already_present: u64,
    /// Invoices new to the sink (the program's register).
    pub registered: u64,
    /// The checkpoint now stored.
    #[serde(with = "ksef_wire::ksef_time")]
    pub checkpoint: OffsetDateTime,
    /// Where the invoice files are (`None`: no directory, the sink only).
    pub dir: Option<PathBuf>,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// The sync directory (`None`: no directory, the sink only).
    pub dir: Option<PathBuf>,
    /// One entry per subject type, in the order asked.
    pub subjects: Vec<SyncSubjectReport>,
}

impl SyncReport {
    /// New invoices over all subject types.
    pub fn downloaded(&self) -> u64 {
        self.subjects.iter().map(|s| s.downloaded).sum()
    }
}

/// The checkpoint file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct CheckpointFile {
    version: u32,
    /// `Type:value` of the context the directory belongs to.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    context: Option<String>,
    #[serde(default)]
    subjects: BTreeMap<String, SubjectCheckpoint>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
struct SubjectCheckpoint {
    /// Next export starts here (`PermanentStorage` date).
    #[serde(with = "ksef_wire::ksef_time")]
    checkpoint: OffsetDateTime,
    /// When it was stored.
    #[serde(with = "ksef_wire::ksef_time")]
    updated: OffsetDateTime,
}

fn io_error(what: impl std::fmt::Display, e: impl std::fmt::Display) -> KsefError {
    KsefError::InvalidInput(format!("{what}: {e}"))
}

fn read_checkpoints(dir: &Path) -> Result<CheckpointFile, KsefError> {
    let path = dir.join(CHECKPOINT_FILE);
    match std::fs::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map_err(|e| {
            KsefError::InvalidInput(format!(
                "{} is unreadable ({e}); fix or remove it (a removed checkpoint makes the next \
                 sync start over; files already present are kept)",
                path.display()
            ))
        }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(CheckpointFile {
            version: 1,
            ..CheckpointFile::default()
        }),
        Err(e) => Err(io_error(format!("cannot read {}", path.display()), e)),
    }
}

/// fsync of a directory (the renames in it become durable). Not possible on every platform;
/// a failure there is ignored.
fn sync_dir(dir: &Path) {
    if let Ok(d) = File::open(dir) {
        let _ = d.sync_all();
    }
}

/// The directory a file goes in: its parent, or `.` for a bare file name.
pub fn parent_dir(path: &Path) -> &Path {
    match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d,
        _ => Path::new("."),
    }
}

/// A file written atomically and durably: the content goes to a uniquely named temp file in
/// the target's directory; [`commit`](Self::commit) fsyncs it, renames it over the target and
/// fsyncs the directory. Dropped without a commit, the temp file is removed.
pub(crate) struct AtomicFile<'a> {
    path: &'a Path,
    tmp: NamedTempFile,
}

impl<'a> AtomicFile<'a> {
    pub(crate) fn create(path: &'a Path) -> Result<Self, KsefError> {
        let dir = parent_dir(path);
        let tmp = NamedTempFile::with_prefix_in(".ksef-tmp-", dir)
            .map_err(|e| io_error(format!("cannot write in {}", dir.display()), e))?;
        Ok(AtomicFile { path, tmp })
    }

    /// The temp file, to write the content into.
    pub(crate) fn file(&mut self) -> &mut File {
        self.tmp.as_file_mut()
    }

    /// An error about writing the target.
    pub(crate) fn error(&self, e: impl std::fmt::Display) -> KsefError {
        io_error(format!("cannot write {}", self.path.display()), e)
    }

    pub(crate) fn commit(self) -> Result<(), KsefError> {
        self.tmp.as_file().sync_all().map_err(|e| self.error(e))?;
        let (path, tmp) = (self.path, self.tmp);
        tmp.persist(path)
            .map_err(|e| io_error(format!("cannot write {}", path.display()), e.error))?;
        sync_dir(parent_dir(path));
        Ok(())
    }
}

/// Writes `bytes` to `path` atomically and durably (`AtomicFile`). A relative path without
/// a directory is written in the current directory.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), KsefError> {
    let mut file = AtomicFile::create(path)?;
    file.file().write_all(bytes).map_err(|e| file.error(e))?;
    file.commit()
}

fn write_checkpoints(dir: &Path, file: &CheckpointFile) -> Result<(), KsefError> {
    let json = serde_json::to_vec_pretty(file)
        .map_err(|e| KsefError::InvalidInput(format!("cannot encode the checkpoint: {e}")))?;
    write_atomically(&dir.join(CHECKPOINT_FILE), &json)
}

/// A KSeF number is safe as a file name: ASCII letters, digits and `-` only.
fn safe_ksef_number(s: &str) -> bool {
    !s.is_empty() && s.len() <= 64 && s.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
}

/// Downloads new invoices of the session's context into `dir` (see the module docs).
pub async fn sync(
    client: &KsefClient,
    session: &mut Session,
    dir: &Path,
    options: &SyncOptions,
) -> Result<SyncReport, KsefError> {
    sync_with(client, session, Some(dir), &mut DirectoryOnly, options)
        .await
        .map_err(|e| match e {
            SyncError::Ksef(e) => e,
            SyncError::Sink(never) => match never {},
        })
}

/// One invoice of an export package, handed to a [`SyncSink`].
#[derive(Debug, Clone)]
pub struct ExportedInvoice {
    /// The KSeF number (the archive entry's name).
    pub ksef_number: String,
    /// Its entry of the package's `_metadata.json` (`None`: the package has none for it, or
    /// the entry could not be read as `InvoiceMetadata`).
    pub metadata: Option<InvoiceMetadata>,
    /// The invoice exactly as KSeF stores it (checked against the metadata's hash).
    pub bytes: Vec<u8>,
}

/// Where [`sync_with`] puts the invoices besides the optional directory: e.g. the program's
/// invoice register. Its checkpoints are its own; the sync starts each subject type at the
/// earlier of the sink's and the directory's checkpoint.
pub trait SyncSink: Send {
    /// What the sink fails with.
    type Error: Send;

    /// The sink's checkpoint of `subject` (`None`: never synced, start from `since`).
    fn checkpoint(
        &mut self,
        subject: InvoiceQuerySubjectType,
    ) -> impl Future<Output = Result<Option<OffsetDateTime>, Self::Error>> + Send;

    /// Stores a batch of one package. `checkpoint` is `Some` on a package's LAST batch only:
    /// the sink must store that batch and move its checkpoint of `subject` atomically (one
    /// transaction), so an interrupted run never has a checkpoint past missing invoices.
    /// Returns how many invoices were new to the sink.
    fn store(
        &mut self,
        subject: InvoiceQuerySubjectType,
        invoices: Vec<ExportedInvoice>,
        checkpoint: Option<OffsetDateTime>,
    ) -> impl Future<Output = Result<u64, Self::Error>> + Send;

    /// `false`: the sink takes no invoices (only the directory gets them; no bytes are kept).
    fn wants_invoices(&self) -> bool {
        true
    }
}

/// The sink of the plain directory sync: takes nothing, constrains nothing.
struct DirectoryOnly;

impl SyncSink for DirectoryOnly {
    type Error = std::convert::Infallible;

    async fn checkpoint(
        &mut self,
        _: InvoiceQuerySubjectType,
    ) -> Result<Option<OffsetDateTime>, Self::Error> {
        // Later than any directory checkpoint: the directory's decides.
        Ok(Some(
            OffsetDateTime::now_utc() + time::Duration::days(36_500),
        ))
    }

    async fn store(
        &mut self,
        _: InvoiceQuerySubjectType,
        _: Vec<ExportedInvoice>,
        _: Option<OffsetDateTime>,
    ) -> Result<u64, Self::Error> {
        Ok(0)
    }

    fn wants_invoices(&self) -> bool {
        false
    }
}

/// Why [`sync_with`] failed: KSeF (or the download) or the sink.
#[derive(Debug)]
pub enum SyncError<E> {
    Ksef(KsefError),
    Sink(E),
}

impl<E> From<KsefError> for SyncError<E> {
    fn from(e: KsefError) -> Self {
        SyncError::Ksef(e)
    }
}

/// Most invoices in one [`SyncSink::store`] batch.
pub const SINK_BATCH_INVOICES: usize = 500;
/// Most invoice bytes in one batch (a batch is cut earlier when its files reach this).
const SINK_BATCH_BYTES: usize = 32 << 20;
/// Largest invoice file read from a package (KSeF takes at most 1 MB, 3 MB with attachments).
const MAX_INVOICE_BYTES: u64 = 16 << 20;

/// Downloads new invoices of the session's context into `sink` and, given `dir`, into the
/// directory as [`sync`] does. Per export package the sink gets batches of at most
/// [`SINK_BATCH_INVOICES`]; the last one moves its checkpoint (after the directory's files
/// are on disk), then the directory's checkpoint file is written.
pub async fn sync_with<S: SyncSink>(
    client: &KsefClient,
    session: &mut Session,
    dir: Option<&Path>,
    sink: &mut S,
    options: &SyncOptions,
) -> Result<SyncReport, SyncError<S::Error>> {
    if options.subject_types.is_empty() {
        return Err(KsefError::InvalidInput("no subject type to synchronise".into()).into());
    }
    let context = format!("{}:{}", session.context.kind(), session.context.value());
    let mut checkpoints = CheckpointFile {
        version: 1,
        ..CheckpointFile::default()
    };
    if let Some(dir) = dir {
        tokio::fs::create_dir_all(dir)
            .await
            .map_err(|e| io_error(format!("cannot create {}", dir.display()), e))?;
        checkpoints = read_checkpoints(dir)?;
        match &checkpoints.context {
            Some(c) if *c != context => {
                return Err(KsefError::InvalidInput(format!(
                    "{} holds the invoices of context {c}, but you are logged in to {context}; \
                     use a separate directory per context",
                    dir.display()
                ))
                .into());
            }
            _ => checkpoints.context = Some(context),
        }
        checkpoints.version = 1;
    }
    let temp_dir = match (&options.temp_dir, dir) {
        (Some(t), _) => t.clone(),
        (None, Some(d)) => d.to_path_buf(),
        (None, None) => std::env::temp_dir(),
    };
    let mut report = SyncReport {
        dir: dir.map(Path::to_path_buf),
        subjects: Vec::new(),
    };
    for subject in &options.subject_types {
        let r = sync_subject(
            client,
            session,
            dir,
            &temp_dir,
            *subject,
            &mut checkpoints,
            sink,
            options,
        )
        .await?;
        report.subjects.push(r);
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn sync_subject<S: SyncSink>(
    client: &KsefClient,
    session: &mut Session,
    dir: Option<&Path>,
    temp_dir: &Path,
    subject: InvoiceQuerySubjectType,
    checkpoints: &mut CheckpointFile,
    sink: &mut S,
    options: &SyncOptions,
) -> Result<SyncSubjectReport, SyncError<S::Error>> {
    let name = subject.wire_name().to_string();
    let subject_dir = dir.map(|d| d.join(&name));
    if let Some(sd) = &subject_dir {
        tokio::fs::create_dir_all(sd)
            .await
            .map_err(|e| io_error(format!("cannot create {}", sd.display()), e))?;
    }
    let default_start = options
        .since
        .unwrap_or_else(|| OffsetDateTime::now_utc() - DEFAULT_FIRST_WINDOW);
    let dir_start = match (dir, checkpoints.subjects.get(&name)) {
        (None, _) => None,
        (Some(_), Some(c)) => Some(c.checkpoint),
        (Some(_), None) => Some(default_start),
    };
    let sink_start = sink
        .checkpoint(subject)
        .await
        .map_err(SyncError::Sink)?
        .unwrap_or(default_start);
    let mut from = dir_start.map_or(sink_start, |d| d.min(sink_start));
    let mut report = SyncSubjectReport {
        subject_type: name.clone(),
        exports: 0,
        downloaded: 0,
        already_present: 0,
        registered: 0,
        checkpoint: from,
        dir: subject_dir.clone(),
    };
    for _ in 0..MAX_EXPORTS_PER_SUBJECT {
        let now = OffsetDateTime::now_utc();
        let to = (now - from > MAX_WINDOW).then(|| from + MAX_WINDOW);
        let mut range =
            InvoiceQueryDateRange::new(InvoiceQueryDateType::PermanentStorage, from, to);
        range.restrict_to_permanent_storage_hwm_date = Some(true);
        let filters = InvoiceQueryFilters::new(subject, range);
        let token = access_token(client, session).await?;
        let compression = options.compression;
        let (key, started) = with_fresh_key!(client, |key| async {
            let req = InvoiceExportRequest {
                encryption: key.info().clone(),
                only_metadata: false,
                filters: filters.clone(),
                compression_type: Some(match compression {
                    Compression::Zip => CompressionType::Zip.into(),
                    Compression::TarGz => CompressionType::TarGz.into(),
                }),
            };
            client.start_export(&token, &req).await
        }
        .await)?;
        drop(token);
        report.exports += 1;
        let export_ref = started.reference_number;
        let status = wait_export(client, session, &export_ref, options.wait).await?;
        let package = status.package.ok_or_else(|| KsefError::Decode {
            what: "GET /invoices/exports/{ref} response".into(),
            message: format!("export {export_ref} is done but has no package"),
        })?;
        let next = if package.is_truncated {
            package
                .last_permanent_storage_date
                .ok_or_else(|| KsefError::Decode {
                    what: "GET /invoices/exports/{ref} response".into(),
                    message: format!(
                        "export {export_ref} is truncated but has no lastPermanentStorageDate"
                    ),
                })?
        } else {
            let hwm = package
                .permanent_storage_hwm_date
                .ok_or_else(|| KsefError::Decode {
                    what: "GET /invoices/exports/{ref} response".into(),
                    message: format!("export {export_ref} has no permanentStorageHwmDate"),
                })?;
            match to {
                Some(t) if t < hwm => t,
                _ => hwm,
            }
        };
        if package.is_truncated && next <= from {
            return Err(KsefError::InvalidInput(format!(
                "export {export_ref} of {name} is truncated at its own start {from}: more invoices \
                 share one permanent-storage time than one package holds"
            ))
            .into());
        }
        let new_cp = next.max(from);
        let counts = download_package(
            client,
            &key,
            &package,
            &export_ref,
            compression,
            temp_dir,
            subject_dir.as_deref(),
            subject,
            new_cp,
            sink,
            &options.progress,
        )
        .await?;
        report.downloaded += counts.new_files;
        report.already_present += counts.present_files;
        report.registered += counts.registered;

        // The invoices are on disk (fsynced) and in the sink (with its checkpoint); only now
        // does the directory's checkpoint move past them.
        if let Some(d) = dir {
            checkpoints.subjects.insert(
                name.clone(),
                SubjectCheckpoint {
                    checkpoint: new_cp,
                    updated: OffsetDateTime::now_utc(),
                },
            );
            let snapshot = checkpoints.clone();
            let d = d.to_path_buf();
            tokio::task::spawn_blocking(move || write_checkpoints(&d, &snapshot))
                .await
                .map_err(|e| {
                    KsefError::InvalidInput(format!("writing the checkpoint failed: {e}"))
                })??;
        }
        report.checkpoint = new_cp;
        from = new_cp;
        if !package.is_truncated && to.is_none() {
            return Ok(report);
        }
    }
    Err(KsefError::InvalidInput(format!(
        "{name}: more than {MAX_EXPORTS_PER_SUBJECT} exports in one run; run the sync again"
    ))
    .into())
}

/// Polls `GET /invoices/exports/{ref}` until the export is no longer in progress; anything but
/// 200 is an error naming the status.
async fn wait_export(
    client: &KsefClient,
    session: &mut Session,
    export_ref: &str,
    deadline: Duration,
) -> Result<InvoiceExportStatusResponse, KsefError> {
    let mut poll = Poll::new(deadline);
    loop {
        let token = access_token(client, session).await?;
        let status = client.export_status(&token, export_ref).await?;
        match status.status.code {
            EXPORT_IN_PROGRESS => {}
            EXPORT_DONE => return Ok(status),
            code => {
                let details = status.status.details.clone().unwrap_or_default();
                return Err(KsefError::InvalidInput(format!(
                    "export {export_ref} ended with status {code} {}{}",
                    status.status.description,
                    if details.is_empty() {
                        String::new()
                    } else {
                        format!(" ({})", details.join("; "))
                    }
                )));
            }
        }
        if !poll
            .wait(client, ksef_wire::RateLimitGroup::InvoiceExportStatus)
            .await
        {
            return Err(KsefError::Timeout {
                what: format!("export {export_ref} to be ready"),
                waited: poll.started.elapsed(),
            });
        }
    }
}

/// What one package brought.
#[derive(Debug, Default, Clone, Copy)]
struct PackageCounts {
    new_files: u64,
    present_files: u64,
    registered: u64,
}

/// A batch of invoices unpacked for the sink; `last` = the package is complete (and its files
/// are on disk).
struct UnpackedBatch {
    invoices: Vec<ExportedInvoice>,
    last: bool,
}

/// Downloads, checks, decrypts and unpacks one export package into the directory (if any)
/// and the sink; the sink's last batch carries `checkpoint`.
#[allow(clippy::too_many_arguments)]
async fn download_package<S: SyncSink>(
    client: &KsefClient,
    key: &SymmetricKey,
    package: &InvoicePackage,
    export_ref: &str,
    compression: Compression,
    temp_dir: &Path,
    subject_dir: Option<&Path>,
    subject: InvoiceQuerySubjectType,
    checkpoint: OffsetDateTime,
    sink: &mut S,
    progress: &ProgressFn,
) -> Result<PackageCounts, SyncError<S::Error>> {
    if package.parts.is_empty() {
        sink.store(subject, Vec::new(), Some(checkpoint))
            .await
            .map_err(SyncError::Sink)?;
        return Ok(PackageCounts::default());
    }
    let archive = NamedTempFile::with_prefix_in(".ksef-export-", temp_dir).map_err(|e| {
        io_error(
            format!("cannot create a temporary file in {}", temp_dir.display()),
            e,
        )
    })?;
    let mut parts: Vec<_> = package.parts.iter().collect();
    parts.sort_by_key(|p| p.ordinal_number);
    for part in parts {
        let encrypted = download_part(client, part, export_ref, temp_dir).await?;
        let out = archive
            .as_file()
            .try_clone()
            .map_err(|e| io_error("temporary archive", e))?;
        let (k, iv) = (ksef_crypto::Zeroizing::new(*key.key()), *key.iv());
        let expected_size = part.part_size;
        let expected_hash = part.part_hash.clone();
        let ordinal = part.ordinal_number;
        tokio::task::spawn_blocking(move || -> Result<(), KsefError> {
            let mut src = BufReader::new(
                File::open(encrypted.path()).map_err(|e| io_error("downloaded part", e))?,
            );
            let mut dec = CbcDecryptWriter::new(&k, &iv, HashingWriter::new(BufWriter::new(out)));
            io::copy(&mut src, &mut dec).map_err(|e| io_error(format!("part {ordinal}"), e))?;
            let hashing = dec
                .finish()
                .map_err(|e| io_error(format!("decrypting export part {ordinal}"), e))?;
            let (buffered, digest) = hashing.finish();
            buffered
                .into_inner()
                .map_err(|e| io_error("temporary archive", e.error()))?;
            if digest.size != expected_size || digest.sha256_base64() != expected_hash {
                return Err(KsefError::InvalidInput(format!(
                    "export part {ordinal} decrypts to {} bytes with another hash than KSeF \
                     declared ({expected_size} bytes)",
                    digest.size
                )));
            }
            Ok(())
        })
        .await
        .map_err(|e| KsefError::InvalidInput(format!("decrypting the export failed: {e}")))??;
    }
    let subject_dir = subject_dir.map(Path::to_path_buf);
    let temp_dir = temp_dir.to_path_buf();
    let progress = progress.clone();
    let total = package.invoice_count;
    let wants = sink.wants_invoices();
    let (tx, mut rx) = tokio::sync::mpsc::channel::<UnpackedBatch>(2);
    let unpacking = tokio::task::spawn_blocking(move || {
        let open = || {
            archive
                .reopen()
                .map_err(|e| io_error("temporary archive", e))
        };
        let mut out = BatchSender {
            tx,
            wants,
            batch: Vec::new(),
            bytes: 0,
        };
        let counts = match compression {
            Compression::Zip => unpack_zip(
                open()?,
                subject_dir.as_deref(),
                &temp_dir,
                total,
                &progress,
                &mut out,
            ),
            Compression::TarGz => unpack_tar_gz(
                open()?,
                open()?,
                subject_dir.as_deref(),
                &temp_dir,
                total,
                &progress,
                &mut out,
            ),
        }?;
        if let Some(d) = &subject_dir {
            flush_to_disk(d)?;
        }
        out.finish()?;
        drop(archive);
        Ok::<_, KsefError>(counts)
    });
    let mut registered = 0;
    let mut complete = false;
    while let Some(batch) = rx.recv().await {
        let cp = batch.last.then_some(checkpoint);
        complete |= batch.last;
        registered += sink
            .store(subject, batch.invoices, cp)
            .await
            .map_err(SyncError::Sink)?;
    }
    let (new_files, present_files) = unpacking
        .await
        .map_err(|e| KsefError::InvalidInput(format!("unpacking the export failed: {e}")))??;
    if !complete {
        return Err(KsefError::InvalidInput(format!(
            "export {export_ref}: the package was not unpacked completely"
        ))
        .into());
    }
    Ok(PackageCounts {
        new_files,
        present_files,
        registered,
    })
}

/// Collects unpacked invoices into batches for the sink (across the blocking/async border).
struct BatchSender {
    tx: tokio::sync::mpsc::Sender<UnpackedBatch>,
    wants: bool,
    batch: Vec<ExportedInvoice>,
    bytes: usize,
}

impl BatchSender {
    fn push(&mut self, invoice: ExportedInvoice) -> Result<(), KsefError> {
        if !self.wants {
            return Ok(());
        }
        self.bytes += invoice.bytes.len();
        self.batch.push(invoice);
        if self.batch.len() >= SINK_BATCH_INVOICES || self.bytes >= SINK_BATCH_BYTES {
            self.send(false)?;
        }
        Ok(())
    }

    fn send(&mut self, last: bool) -> Result<(), KsefError> {
        self.bytes = 0;
        let invoices = std::mem::take(&mut self.batch);
        self.tx
            .blocking_send(UnpackedBatch { invoices, last })
            .map_err(|_| KsefError::InvalidInput("the sync was stopped while unpacking".into()))
    }

    fn finish(mut self) -> Result<(), KsefError> {
        self.send(true)
    }
}

/// Streams one encrypted part to a temporary file, checking its size and hash.
async fn download_part(
    client: &KsefClient,
    part: &ksef_wire::InvoicePackagePart,
    export_ref: &str,
    temp_dir: &Path,
) -> Result<NamedTempFile, KsefError> {
    let ordinal = part.ordinal_number;
    let shown = part.url.split('?').next().unwrap_or_default().to_string();
    let method =
        reqwest::Method::from_bytes(part.method.as_bytes()).unwrap_or(reqwest::Method::GET);
    // Streamed (not `download_presigned`, which buffers the whole part): constant memory.
    let mut resp = client
        .http()
        .request(method, &part.url)
        .timeout(PART_TIMEOUT)
        .send()
        .await
        .map_err(|e| {
            KsefError::Transport(format!(
                "downloading part {ordinal} of export {export_ref} ({shown}): {}",
                crate::client::chain(&e.without_url())
            ))
        })?;
    if !resp.status().is_success() {
        return Err(KsefError::Api {
            status: resp.status().as_u16(),
            code: None,
            description: format!(
                "download of part {ordinal} of export {export_ref} from {shown} refused"
            ),
            details: Vec::new(),
            reason_code: None,
        });
    }
    let tmp = NamedTempFile::with_prefix_in(".ksef-part-", temp_dir).map_err(|e| {
        io_error(
            format!("cannot create a temporary file in {}", temp_dir.display()),
            e,
        )
    })?;
    let std_file = tmp
        .as_file()
        .try_clone()
        .map_err(|e| io_error("temporary part file", e))?;
    let mut out = tokio::io::BufWriter::new(tokio::fs::File::from_std(std_file));
    let mut hasher = HashingWriter::new(io::sink());
    loop {
        let chunk = resp.chunk().await.map_err(|e| {
            KsefError::Transport(format!(
                "downloading part {ordinal} of export {export_ref} from {shown} broke off: {}",
                crate::client::chain(&e.without_url())
            ))
        })?;
        let Some(chunk) = chunk else { break };
        hasher
            .write_all(&chunk)
            .map_err(|e| io_error("hashing", e))?;
        out.write_all(&chunk)
            .await
            .map_err(|e| io_error("writing the downloaded part", e))?;
    }
    out.flush()
        .await
        .map_err(|e| io_error("writing the downloaded part", e))?;
    let (_, digest) = hasher.finish();
    if digest.size != part.encrypted_part_size || digest.sha256_base64() != part.encrypted_part_hash
    {
        return Err(KsefError::InvalidInput(format!(
            "part {ordinal} of export {export_ref}: downloaded {} bytes whose hash differs from \
             what KSeF declared ({} bytes); run the sync again",
            digest.size, part.encrypted_part_size
        )));
    }
    Ok(tmp)
}

/// Reads one invoice entry (bounded), checks its hash against the metadata, writes it into
/// the directory (if any) and queues it for the sink; returns whether its file is new.
fn take_invoice(
    ksef: String,
    content: impl Read,
    meta: &mut PackageMetadata,
    dir: Option<&Path>,
    out: &mut BatchSender,
) -> Result<bool, KsefError> {
    let mut bytes = Vec::new();
    content
        .take(MAX_INVOICE_BYTES + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| io_error(format!("unpacking {ksef}.xml"), e))?;
    if bytes.len() as u64 > MAX_INVOICE_BYTES {
        return Err(KsefError::InvalidInput(format!(
            "{ksef}.xml in the export package is larger than {MAX_INVOICE_BYTES} bytes"
        )));
    }
    let InvoiceEntry { hash, metadata } = meta.take(&ksef)?;
    if let Some(h) = &hash
        && *h != ksef_crypto::envelope::sha256_base64(&bytes)
    {
        return Err(KsefError::InvalidInput(format!(
            "{ksef}.xml in the export package does not match its invoiceHash"
        )));
    }
    let new = match dir {
        Some(d) => store_invoice(d, &ksef, bytes.as_slice(), hash.as_deref())?,
        None => true,
    };
    out.push(ExportedInvoice {
        ksef_number: ksef,
        metadata,
        bytes,
    })?;
    Ok(new)
}

/// The KSeF number of an archive entry `{ksefNumber}.xml`, `None` for other entries.
fn entry_ksef_number(name: &str) -> Result<Option<String>, KsefError> {
    let Some(stem) = name.strip_suffix(".xml") else {
        return Ok(None);
    };
    if !safe_ksef_number(stem) {
        return Err(KsefError::InvalidInput(format!(
            "the export package has an unexpected entry {name:?} (not {{ksefNumber}}.xml)"
        )));
    }
    Ok(Some(stem.to_string()))
}

/// Makes everything written into `dir` durable before the checkpoint moves past it. On Linux
/// one `syncfs` flushes the filesystem (every invoice file of the package and the directory
/// entries) — far cheaper than an fsync per file, which [`store_invoice`] does on other
/// platforms. A failure here fails the sync, so the checkpoint stays where it was.
fn flush_to_disk(dir: &Path) -> Result<(), KsefError> {
    #[cfg(target_os = "linux")]
    {
        let d =
            File::open(dir).map_err(|e| io_error(format!("cannot open {}", dir.display()), e))?;
        rustix::fs::syncfs(&d).map_err(|e| {
            io_error(
                format!("cannot flush {} to disk", dir.display()),
                io::Error::from(e),
            )
        })?;
    }
    #[cfg(not(target_os = "linux"))]
    sync_dir(dir);
    Ok(())
}

/// SHA-256 (Base64) of a file already in the directory; `None` when it cannot be read.
fn file_hash(path: &Path) -> Option<String> {
    let file = File::open(path).ok()?;
    let digest = ksef_crypto::stream::digest_reader(BufReader::new(file)).ok()?;
    Some(digest.sha256_base64())
}

/// Writes one invoice into `dir/{ksef}.xml`; returns whether the file is new (or replaced a
/// damaged copy) as opposed to already present with the same content. The content is hashed
/// while written and compared with `expected_hash` (when known).
///
/// A file already there is kept only if its content is identical: files are not fsynced one by
/// one (see [`flush_to_disk`]), so after a crash a file may exist with partial content — the
/// checkpoint did not move, the next run unpacks the same package and repairs it here.
fn store_invoice(
    dir: &Path,
    ksef: &str,
    mut content: impl Read,
    expected_hash: Option<&str>,
) -> Result<bool, KsefError> {
    let target = dir.join(format!("{ksef}.xml"));
    let tmp = NamedTempFile::with_prefix_in(".ksef-tmp-", dir)
        .map_err(|e| io_error(format!("cannot write in {}", dir.display()), e))?;
    let out = tmp
        .as_file()
        .try_clone()
        .map_err(|e| io_error("temporary invoice file", e))?;
    let mut w = HashingWriter::new(BufWriter::new(out));
    io::copy(&mut content, &mut w).map_err(|e| io_error(format!("unpacking {ksef}.xml"), e))?;
    let (buffered, digest) = w.finish();
    let file = buffered
        .into_inner()
        .map_err(|e| io_error(format!("writing {ksef}.xml"), e.error()))?;
    let hash = digest.sha256_base64();
    if let Some(h) = expected_hash
        && h != hash
    {
        return Err(KsefError::InvalidInput(format!(
            "{ksef}.xml in the export package does not match its invoiceHash"
        )));
    }
    if !cfg!(target_os = "linux") {
        file.sync_all()
            .map_err(|e| io_error(format!("writing {ksef}.xml"), e))?;
    }
    drop(file);
    if target.exists() {
        if file_hash(&target).as_deref() == Some(hash.as_str()) {
            return Ok(false);
        }
        tracing::warn!(file = %target.display(), "replacing a damaged copy of an invoice");
        tmp.persist(&target)
            .map_err(|e| io_error(format!("cannot write {}", target.display()), e.error))?;
        return Ok(true);
    }
    match tmp.persist_noclobber(&target) {
        Ok(_) => Ok(true),
        // Another run put it there meanwhile: same KSeF number, same invoice.
        Err(e) if target.exists() => {
            drop(e);
            Ok(false)
        }
        Err(e) => Err(io_error(
            format!("cannot write {}", target.display()),
            e.error,
        )),
    }
}

fn unpack_zip(
    file: File,
    dir: Option<&Path>,
    temp_dir: &Path,
    total: u64,
    progress: &ProgressFn,
    out: &mut BatchSender,
) -> Result<(u64, u64), KsefError> {
    let zip_err = |e: zip::result::ZipError| io_error("reading the export package (ZIP)", e);
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    let mut meta = match zip.by_name(EXPORT_METADATA_FILE_NAME) {
        Ok(entry) => PackageMetadata::read(entry, temp_dir)?,
        Err(zip::result::ZipError::FileNotFound) => PackageMetadata::default(),
        Err(e) => return Err(zip_err(e)),
    };
    let (mut new, mut present) = (0u64, 0u64);
    let mut seen = HashSet::new();
    for i in 0..zip.len() {
        let entry = zip.by_index(i).map_err(zip_err)?;
        if !entry.is_file() {
            continue;
        }
        let Some(ksef) = entry_ksef_number(entry.name())? else {
            continue;
        };
        if !seen.insert(ksef.clone()) {
            continue;
        }
        if take_invoice(ksef, entry, &mut meta, dir, out)? {
            new += 1;
        } else {
            present += 1;
        }
        progress(Progress::Downloading {
            done: new + present,
            total: total.max(new + present),
        });
    }
    Ok((new, present))
}

/// tar.gz: `_metadata.json` may come after the invoices, so a first pass reads it (the
/// archive is a local file) and the second takes the invoices.
fn unpack_tar_gz(
    first: File,
    second: File,
    dir: Option<&Path>,
    temp_dir: &Path,
    total: u64,
    progress: &ProgressFn,
    out: &mut BatchSender,
) -> Result<(u64, u64), KsefError> {
    let tar_err = |e: io::Error| io_error("reading the export package (tar.gz)", e);
    let open = |f: File| tar::Archive::new(flate2::read::GzDecoder::new(BufReader::new(f)));
    let mut meta = PackageMetadata::default();
    let mut tar = open(first);
    for entry in tar.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        if entry.header().entry_type() == tar::EntryType::Regular
            && entry.path().map_err(tar_err)?.as_os_str() == EXPORT_METADATA_FILE_NAME
        {
            meta = PackageMetadata::read(&mut entry, temp_dir)?;
            break;
        }
    }
    let mut tar = open(second);
    let (mut new, mut present) = (0u64, 0u64);
    let mut seen = HashSet::new();
    for entry in tar.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().map_err(tar_err)?.display().to_string();
        let Some(ksef) = entry_ksef_number(&path)? else {
            continue;
        };
        if !seen.insert(ksef.clone()) {
            continue;
        }
        if take_invoice(ksef, &mut entry, &mut meta, dir, out)? {
            new += 1;
        } else {
            present += 1;
        }
        progress(Progress::Downloading {
            done: new + present,
            total: total.max(new + present),
        });
    }
    Ok((new, present))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entry_names_are_checked() {
        assert_eq!(
            entry_ksef_number("5265877635-20250826-0100001AF629-AF.xml").unwrap(),
            Some("5265877635-20250826-0100001AF629-AF".into())
        );
        assert_eq!(entry_ksef_number("_metadata.json").unwrap(), None);
        assert!(entry_ksef_number("../evil.xml").is_err());
        assert!(entry_ksef_number("a/b.xml").is_err());
    }

    #[test]
    fn store_is_atomic_idempotent_and_checked() {
        let dir = tempfile::tempdir().unwrap();
        let body = b"<Faktura/>".as_slice();
        let hash = ksef_crypto::envelope::sha256_base64(body);
        assert!(store_invoice(dir.path(), "N-1", body, Some(&hash)).unwrap());
        assert!(!store_invoice(dir.path(), "N-1", body, Some(&hash)).unwrap());
        assert_eq!(std::fs::read(dir.path().join("N-1.xml")).unwrap(), body);
        // A partial copy left by a crash (the checkpoint did not move) is repaired.
        std::fs::write(dir.path().join("N-1.xml"), b"<Fakt").unwrap();
        assert!(store_invoice(dir.path(), "N-1", body, Some(&hash)).unwrap());
        assert_eq!(std::fs::read(dir.path().join("N-1.xml")).unwrap(), body);
        std::fs::write(dir.path().join("N-1.xml"), b"").unwrap();
        assert!(store_invoice(dir.path(), "N-1", body, None).unwrap());
        assert_eq!(std::fs::read(dir.path().join("N-1.xml")).unwrap(), body);
        flush_to_disk(dir.path()).unwrap();
        assert!(store_invoice(dir.path(), "N-2", body, Some("AAAA")).is_err());
        assert!(!dir.path().join("N-2.xml").exists());
        // No temporary file is left behind.
        let names: Vec<_> = std::fs::read_dir(dir.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["N-1.xml".to_string()]);
    }

    #[test]
    fn checkpoint_file_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut cp = read_checkpoints(dir.path()).unwrap();
        assert!(cp.subjects.is_empty());
        let t = time::macros::datetime!(2025-09-11 12:00:40.266578 UTC);
        cp.context = Some("Nip:5265877635".into());
        cp.subjects.insert(
            "Subject1".into(),
            SubjectCheckpoint {
                checkpoint: t,
                updated: t,
            },
        );
        write_checkpoints(dir.path(), &cp).unwrap();
        let back = read_checkpoints(dir.path()).unwrap();
        assert_eq!(back.subjects["Subject1"].checkpoint, t);
        assert_eq!(back.context.as_deref(), Some("Nip:5265877635"));
        std::fs::write(dir.path().join(CHECKPOINT_FILE), "{not json").unwrap();
        let e = read_checkpoints(dir.path()).unwrap_err().to_string();
        assert!(e.contains(CHECKPOINT_FILE), "{e}");
    }
}
