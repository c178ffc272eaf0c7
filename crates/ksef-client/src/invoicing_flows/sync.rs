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
//! streaming into the archive file, and the archive is read from that file entry by entry.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use ksef_crypto::stream::{CbcDecryptWriter, HashingWriter};
use ksef_wire::{
    CompressionType, EXPORT_METADATA_FILE_NAME, InvoiceExportRequest, InvoiceExportStatusResponse,
    InvoicePackage, InvoiceQueryDateRange, InvoiceQueryDateType, InvoiceQueryFilters,
    InvoiceQuerySubjectType, WireEnum,
};
use serde::{Deserialize, Serialize};
use tempfile::NamedTempFile;
use time::OffsetDateTime;
use tokio::io::AsyncWriteExt;

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
    /// The checkpoint now stored.
    #[serde(with = "ksef_wire::ksef_time")]
    pub checkpoint: OffsetDateTime,
    /// Where the invoices are.
    pub dir: PathBuf,
}

/// What a sync did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SyncReport {
    /// The sync directory.
    pub dir: PathBuf,
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
    if options.subject_types.is_empty() {
        return Err(KsefError::InvalidInput(
            "no subject type to synchronise".into(),
        ));
    }
    tokio::fs::create_dir_all(dir)
        .await
        .map_err(|e| io_error(format!("cannot create {}", dir.display()), e))?;
    let context = format!("{}:{}", session.context.kind(), session.context.value());
    let mut checkpoints = read_checkpoints(dir)?;
    match &checkpoints.context {
        Some(c) if *c != context => {
            return Err(KsefError::InvalidInput(format!(
                "{} holds the invoices of context {c}, but you are logged in to {context}; \
                 use a separate directory per context",
                dir.display()
            )));
        }
        _ => checkpoints.context = Some(context),
    }
    checkpoints.version = 1;
    let temp_dir = options
        .temp_dir
        .clone()
        .unwrap_or_else(|| dir.to_path_buf());
    let mut report = SyncReport {
        dir: dir.to_path_buf(),
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
            options,
        )
        .await?;
        report.subjects.push(r);
    }
    Ok(report)
}

#[allow(clippy::too_many_arguments)]
async fn sync_subject(
    client: &KsefClient,
    session: &mut Session,
    dir: &Path,
    temp_dir: &Path,
    subject: InvoiceQuerySubjectType,
    checkpoints: &mut CheckpointFile,
    options: &SyncOptions,
) -> Result<SyncSubjectReport, KsefError> {
    let name = subject.wire_name().to_string();
    let subject_dir = dir.join(&name);
    tokio::fs::create_dir_all(&subject_dir)
        .await
        .map_err(|e| io_error(format!("cannot create {}", subject_dir.display()), e))?;
    let mut from = match checkpoints.subjects.get(&name) {
        Some(c) => c.checkpoint,
        None => options
            .since
            .unwrap_or_else(|| OffsetDateTime::now_utc() - DEFAULT_FIRST_WINDOW),
    };
    let mut report = SyncSubjectReport {
        subject_type: name.clone(),
        exports: 0,
        downloaded: 0,
        already_present: 0,
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
        let (new, present) = download_package(
            client,
            &key,
            &package,
            &export_ref,
            compression,
            temp_dir,
            &subject_dir,
            &options.progress,
        )
        .await?;
        report.downloaded += new;
        report.already_present += present;

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
            )));
        }
        // The invoices are on disk (fsynced); only now does the checkpoint move past them.
        let new_cp = next.max(from);
        checkpoints.subjects.insert(
            name.clone(),
            SubjectCheckpoint {
                checkpoint: new_cp,
                updated: OffsetDateTime::now_utc(),
            },
        );
        let snapshot = checkpoints.clone();
        let d = dir.to_path_buf();
        tokio::task::spawn_blocking(move || write_checkpoints(&d, &snapshot))
            .await
            .map_err(|e| {
                KsefError::InvalidInput(format!("writing the checkpoint failed: {e}"))
            })??;
        report.checkpoint = new_cp;
        from = new_cp;
        if !package.is_truncated && to.is_none() {
            return Ok(report);
        }
    }
    Err(KsefError::InvalidInput(format!(
        "{name}: more than {MAX_EXPORTS_PER_SUBJECT} exports in one run; run the sync again"
    )))
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
        if !poll.wait().await {
            return Err(KsefError::Timeout {
                what: format!("export {export_ref} to be ready"),
                waited: poll.started.elapsed(),
            });
        }
    }
}

/// Downloads, checks, decrypts and unpacks one export package; returns (new, already present).
#[allow(clippy::too_many_arguments)]
async fn download_package(
    client: &KsefClient,
    key: &SymmetricKey,
    package: &InvoicePackage,
    export_ref: &str,
    compression: Compression,
    temp_dir: &Path,
    subject_dir: &Path,
    progress: &ProgressFn,
) -> Result<(u64, u64), KsefError> {
    if package.parts.is_empty() {
        return Ok((0, 0));
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
    let subject_dir = subject_dir.to_path_buf();
    let progress = progress.clone();
    let total = package.invoice_count;
    tokio::task::spawn_blocking(move || {
        let file = archive
            .reopen()
            .map_err(|e| io_error("temporary archive", e))?;
        let counts = match compression {
            Compression::Zip => unpack_zip(file, &subject_dir, total, &progress),
            Compression::TarGz => unpack_tar_gz(file, &subject_dir, total, &progress),
        }?;
        flush_to_disk(&subject_dir)?;
        drop(archive);
        Ok(counts)
    })
    .await
    .map_err(|e| KsefError::InvalidInput(format!("unpacking the export failed: {e}")))?
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

/// The part of `_metadata.json` the sync needs (lenient: other fields are ignored).
#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataFile {
    #[serde(default)]
    invoices: Vec<MetadataEntry>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct MetadataEntry {
    ksef_number: String,
    #[serde(default)]
    invoice_hash: Option<String>,
}

fn parse_metadata(reader: impl Read) -> Result<HashMap<String, Option<String>>, KsefError> {
    let m: MetadataFile = serde_json::from_reader(reader).map_err(|e| KsefError::Decode {
        what: format!("{EXPORT_METADATA_FILE_NAME} of an export package"),
        message: e.to_string(),
    })?;
    Ok(m.invoices
        .into_iter()
        .map(|e| (e.ksef_number, e.invoice_hash))
        .collect())
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
    dir: &Path,
    total: u64,
    progress: &ProgressFn,
) -> Result<(u64, u64), KsefError> {
    let zip_err = |e: zip::result::ZipError| io_error("reading the export package (ZIP)", e);
    let mut zip = zip::ZipArchive::new(BufReader::new(file)).map_err(zip_err)?;
    let hashes = match zip.by_name(EXPORT_METADATA_FILE_NAME) {
        Ok(entry) => parse_metadata(entry)?,
        Err(zip::result::ZipError::FileNotFound) => HashMap::new(),
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
        let expected = hashes.get(&ksef).and_then(|h| h.as_deref());
        if store_invoice(dir, &ksef, entry, expected)? {
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

fn unpack_tar_gz(
    file: File,
    dir: &Path,
    total: u64,
    progress: &ProgressFn,
) -> Result<(u64, u64), KsefError> {
    let tar_err = |e: io::Error| io_error("reading the export package (tar.gz)", e);
    let gz = flate2::read::GzDecoder::new(BufReader::new(file));
    let mut tar = tar::Archive::new(gz);
    let (mut new, mut present) = (0u64, 0u64);
    // `_metadata.json` may come after the invoices: check hashes at the end, removing any
    // file written in this run whose hash does not match.
    let mut hashes: Option<HashMap<String, Option<String>>> = None;
    let mut written: Vec<(String, String)> = Vec::new();
    for entry in tar.entries().map_err(tar_err)? {
        let mut entry = entry.map_err(tar_err)?;
        if entry.header().entry_type() != tar::EntryType::Regular {
            continue;
        }
        let path = entry.path().map_err(tar_err)?.display().to_string();
        if path == EXPORT_METADATA_FILE_NAME {
            hashes = Some(parse_metadata(&mut entry)?);
            continue;
        }
        let Some(ksef) = entry_ksef_number(&path)? else {
            continue;
        };
        let mut hashing = ksef_crypto::stream::HashingReader::new(&mut entry);
        let stored = store_invoice(dir, &ksef, &mut hashing, None)?;
        let (_, digest) = hashing.finish();
        if stored {
            new += 1;
            written.push((ksef, digest.sha256_base64()));
        } else {
            present += 1;
        }
        progress(Progress::Downloading {
            done: new + present,
            total: total.max(new + present),
        });
    }
    if let Some(hashes) = hashes {
        for (ksef, hash) in &written {
            if let Some(Some(expected)) = hashes.get(ksef)
                && expected != hash
            {
                let _ = std::fs::remove_file(dir.join(format!("{ksef}.xml")));
                return Err(KsefError::InvalidInput(format!(
                    "{ksef}.xml in the export package does not match its invoiceHash"
                )));
            }
        }
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
