//! Batch packages (digest §9.1, §9.3): the invoices of a batch session streamed into one ZIP or
//! tar.gz archive in a temporary file, split binarily into equal parts of at most 100 MB,
//! each part encrypted (AES-256-CBC/PKCS#7) into its own temporary file, and the parts uploaded
//! in parallel to their pre-signed URLs with streaming request bodies.
//!
//! Memory use does not depend on the size of the batch: files are copied through fixed-size
//! buffers, hashes are computed while writing ([`ksef_crypto::stream`]), and nothing larger
//! than a chunk is ever held. Disk use is about twice the archive (archive + encrypted parts);
//! the temporary files are removed when the [`BatchPackage`] / [`EncryptedParts`] are dropped.
//!
//! Everything here is blocking file I/O except [`upload_parts`]; async callers run
//! [`BatchPackage::build`] and [`BatchPackage::encrypt`] on a blocking thread.

use std::collections::{BTreeMap, HashMap};
use std::fs::File;
use std::io::{self, BufWriter, Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ksef_crypto::stream::{CbcEncryptWriter, Digested, HashingReader, HashingWriter};
use ksef_wire::{BatchFileInfo, BatchFilePartInfo, CompressionType, PartUploadRequest};
use tempfile::NamedTempFile;

use crate::client::KsefClient;
use crate::error::KsefError;

/// Largest part before encryption (100 MB, digest §9.1).
pub const MAX_PART_SIZE: u64 = 100_000_000;
/// Most parts a package may have.
pub const MAX_PARTS: usize = 50;
/// Largest archive (5 GB).
pub const MAX_ARCHIVE_SIZE: u64 = 5_000_000_000;
/// Most invoices in one session.
pub const MAX_INVOICES: usize = 10_000;
/// Parts uploaded at the same time by default.
pub const DEFAULT_UPLOAD_CONCURRENCY: usize = 4;
/// Buffer of the archive and part files.
const IO_BUFFER: usize = 256 * 1024;

/// The archive format of a batch package.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Compression {
    /// ZIP with Deflate (the API default).
    #[default]
    Zip,
    /// tar + gzip (since API 2.6.0; recommended for large packages).
    TarGz,
}

impl Compression {
    /// The wire value of `batchFile.compressionType`.
    pub fn wire(self) -> CompressionType {
        match self {
            Compression::Zip => CompressionType::Zip,
            Compression::TarGz => CompressionType::TarGz,
        }
    }
}

impl std::str::FromStr for Compression {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s.to_ascii_lowercase().as_str() {
            "zip" => Ok(Compression::Zip),
            "targz" | "tar.gz" | "tgz" => Ok(Compression::TarGz),
            other => Err(format!(
                "unknown compression {other:?}: expected zip or targz"
            )),
        }
    }
}

/// Limits of a package. `Default` = the API's limits; tests use small parts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackageOptions {
    /// Largest part before encryption.
    pub max_part_size: u64,
    /// Most parts.
    pub max_parts: usize,
    /// Largest archive.
    pub max_archive_size: u64,
    /// Most invoices.
    pub max_invoices: usize,
    /// Deflate level, 1 (fastest) … 9 (smallest). Default 1: on invoice XML it packs about 3×
    /// faster than the usual 6 for an archive only slightly larger, so packing never dominates a
    /// batch; raise it for slow uplinks.
    pub compression_level: u32,
}

impl Default for PackageOptions {
    fn default() -> Self {
        PackageOptions {
            max_part_size: MAX_PART_SIZE,
            max_parts: MAX_PARTS,
            max_archive_size: MAX_ARCHIVE_SIZE,
            max_invoices: MAX_INVOICES,
            compression_level: 1,
        }
    }
}

/// One invoice file in a package. Kept small (path, size, raw digest): a package of 10 000
/// invoices holds about 10 000 × (path + 40) bytes of bookkeeping and nothing of the contents.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PackagedFile {
    /// Where it was read from; its file name is the name inside the archive.
    pub path: PathBuf,
    /// Size in bytes.
    pub size: u64,
    /// SHA-256 of the file.
    pub sha256: [u8; 32],
}

impl PackagedFile {
    /// Its name inside the archive (KSeF reports it as `invoiceFileName`).
    pub fn name(&self) -> &str {
        // Checked to be valid UTF-8 when the package was built.
        self.path
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    }

    /// SHA-256, Base64 (KSeF reports it as `invoiceHash`).
    pub fn hash(&self) -> String {
        BASE64.encode(self.sha256)
    }
}

/// One binary slice of the archive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartRange {
    /// 1-based.
    pub ordinal: u32,
    /// Offset in the archive.
    pub offset: u64,
    /// Length.
    pub len: u64,
}

/// An archive of invoices in a temporary file, with its hash and part layout.
#[derive(Debug)]
pub struct BatchPackage {
    compression: Compression,
    files: Vec<PackagedFile>,
    /// Indices of `files` sorted by name (names are unique), for lookups by `invoiceFileName`.
    by_name: Vec<u32>,
    archive: NamedTempFile,
    digest: Digested,
    parts: Vec<PartRange>,
}

fn io_err(what: impl std::fmt::Display, e: impl std::fmt::Display) -> KsefError {
    KsefError::InvalidInput(format!("{what}: {e}"))
}

/// Equal-size binary split: `ceil(len / max)` parts of `ceil(len / count)` bytes (the last one
/// shorter), like the reference client.
pub fn split_ranges(len: u64, max_part_size: u64) -> Vec<PartRange> {
    if len == 0 || max_part_size == 0 {
        return Vec::new();
    }
    let count = len.div_ceil(max_part_size);
    let size = len.div_ceil(count);
    let mut out = Vec::with_capacity(count as usize);
    let mut offset = 0;
    let mut ordinal = 1u32;
    while offset < len {
        let part = size.min(len - offset);
        out.push(PartRange {
            ordinal,
            offset,
            len: part,
        });
        offset += part;
        ordinal += 1;
    }
    out
}

/// The name a file gets inside the archive: its file name, which must be plain UTF-8.
fn archive_name(path: &Path) -> Result<String, KsefError> {
    let name = path.file_name().and_then(|n| n.to_str()).ok_or_else(|| {
        KsefError::InvalidInput(format!(
            "{}: the file name must be valid UTF-8",
            path.display()
        ))
    })?;
    Ok(name.to_string())
}

/// Indices of `files` sorted by archive name; two files with one name are refused (names
/// inside an archive must be unique, and KSeF reports statuses by name).
fn sorted_by_name(files: &[PathBuf]) -> Result<Vec<u32>, KsefError> {
    let name = |i: u32| {
        files[i as usize]
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or_default()
    };
    let count = u32::try_from(files.len())
        .map_err(|_| KsefError::InvalidInput("too many files for one package".into()))?;
    let mut order: Vec<u32> = (0..count).collect();
    order.sort_unstable_by(|&a, &b| name(a).cmp(name(b)).then(a.cmp(&b)));
    if let Some(w) = order.windows(2).find(|w| name(w[0]) == name(w[1])) {
        return Err(KsefError::InvalidInput(format!(
            "two invoice files have the same name {:?} ({} and {}); names inside a batch \
             archive must be unique",
            name(w[0]),
            files[w[0] as usize].display(),
            files[w[1] as usize].display()
        )));
    }
    Ok(order)
}

/// A Base64 SHA-256 as raw bytes (`None` when it is not one).
pub(crate) fn decode_sha256(hash: &str) -> Option<[u8; 32]> {
    BASE64.decode(hash).ok()?.try_into().ok()
}

impl BatchPackage {
    /// Streams `files` into a `compression` archive in `temp_dir`, with the API's limits.
    pub fn build(
        files: &[PathBuf],
        compression: Compression,
        temp_dir: &Path,
    ) -> Result<Self, KsefError> {
        Self::build_with(files, compression, temp_dir, &PackageOptions::default())
    }

    /// [`build`](Self::build) with explicit limits (e.g. a small part size for tests).
    pub fn build_with(
        files: &[PathBuf],
        compression: Compression,
        temp_dir: &Path,
        options: &PackageOptions,
    ) -> Result<Self, KsefError> {
        if files.is_empty() {
            return Err(KsefError::InvalidInput(
                "a batch package needs at least one invoice file".into(),
            ));
        }
        if files.len() > options.max_invoices {
            return Err(KsefError::InvalidInput(format!(
                "{} invoices in one batch; KSeF takes at most {} per session",
                files.len(),
                options.max_invoices
            )));
        }
        for path in files {
            archive_name(path)?;
        }
        let by_name = sorted_by_name(files)?;
        let archive = NamedTempFile::with_prefix_in("ksef-batch-", temp_dir).map_err(|e| {
            io_err(
                format!("cannot create a temporary file in {}", temp_dir.display()),
                e,
            )
        })?;
        let out = archive
            .as_file()
            .try_clone()
            .map_err(|e| io_err("temporary archive", e))?;
        let sink = HashingWriter::new(BufWriter::with_capacity(IO_BUFFER, out));
        let (packaged, sink) = match compression {
            Compression::Zip => write_zip(files, sink, options.compression_level)?,
            Compression::TarGz => write_tar_gz(files, sink, options.compression_level)?,
        };
        let (buffered, digest) = sink.finish();
        let file = buffered
            .into_inner()
            .map_err(|e| io_err("writing the temporary archive", e.error()))?;
        file.sync_all()
            .map_err(|e| io_err("writing the temporary archive", e))?;
        if digest.size > options.max_archive_size {
            return Err(KsefError::InvalidInput(format!(
                "the archive has {} bytes; KSeF takes at most {} bytes per batch",
                digest.size, options.max_archive_size
            )));
        }
        let parts = split_ranges(digest.size, options.max_part_size);
        if parts.len() > options.max_parts {
            return Err(KsefError::InvalidInput(format!(
                "the archive of {} bytes needs {} parts of at most {} bytes; KSeF takes at most {} parts — send fewer invoices per batch",
                digest.size,
                parts.len(),
                options.max_part_size,
                options.max_parts
            )));
        }
        Ok(BatchPackage {
            compression,
            files: packaged,
            by_name,
            archive,
            digest,
            parts,
        })
    }

    /// The archive format.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// The invoices, in archive order.
    pub fn files(&self) -> &[PackagedFile] {
        &self.files
    }

    /// The files with this SHA-256 (Base64) — usually one.
    pub fn files_by_hash(&self, hash: &str) -> Vec<&PackagedFile> {
        let Some(digest) = decode_sha256(hash) else {
            return Vec::new();
        };
        self.files.iter().filter(|f| f.sha256 == digest).collect()
    }

    /// The index in [`files`](Self::files) of the file with this name inside the archive.
    pub fn index_by_name(&self, name: &str) -> Option<usize> {
        self.by_name
            .binary_search_by(|&i| self.files[i as usize].name().cmp(name))
            .ok()
            .map(|k| self.by_name[k] as usize)
    }

    /// The file with this name inside the archive.
    pub fn file_by_name(&self, name: &str) -> Option<&PackagedFile> {
        self.index_by_name(name).map(|i| &self.files[i])
    }

    /// Hash → file name of every invoice (digest §9.1 step 1).
    pub fn hash_map(&self) -> BTreeMap<String, Vec<String>> {
        let mut m: BTreeMap<String, Vec<String>> = BTreeMap::new();
        for f in &self.files {
            m.entry(f.hash()).or_default().push(f.name().to_string());
        }
        m
    }

    /// The temporary archive file.
    pub fn archive_path(&self) -> &Path {
        self.archive.path()
    }

    /// Size of the archive.
    pub fn archive_size(&self) -> u64 {
        self.digest.size
    }

    /// SHA-256 of the archive, Base64.
    pub fn archive_hash(&self) -> String {
        self.digest.sha256_base64()
    }

    /// The binary parts (before encryption).
    pub fn parts(&self) -> &[PartRange] {
        &self.parts
    }

    /// Encrypts every part with `key`/`iv` into its own temporary file in `temp_dir`.
    pub fn encrypt(
        &self,
        key: &[u8; 32],
        iv: &[u8; 16],
        temp_dir: &Path,
    ) -> Result<EncryptedParts, KsefError> {
        let mut src = File::open(self.archive.path())
            .map_err(|e| io_err("reading the temporary archive", e))?;
        let mut parts = Vec::with_capacity(self.parts.len());
        for range in &self.parts {
            let tmp = NamedTempFile::with_prefix_in(
                format!("ksef-batch-part{:02}-", range.ordinal),
                temp_dir,
            )
            .map_err(|e| {
                io_err(
                    format!("cannot create a temporary file in {}", temp_dir.display()),
                    e,
                )
            })?;
            let out = tmp
                .as_file()
                .try_clone()
                .map_err(|e| io_err("temporary part file", e))?;
            let mut enc = CbcEncryptWriter::new(
                key,
                iv,
                HashingWriter::new(BufWriter::with_capacity(IO_BUFFER, out)),
            );
            src.seek(SeekFrom::Start(range.offset))
                .map_err(|e| io_err("reading the temporary archive", e))?;
            let copied = io::copy(&mut (&mut src).take(range.len), &mut enc)
                .map_err(|e| io_err(format!("encrypting part {}", range.ordinal), e))?;
            if copied != range.len {
                return Err(KsefError::InvalidInput(format!(
                    "the temporary archive shrank while encrypting part {}",
                    range.ordinal
                )));
            }
            let hashing = enc
                .finish()
                .map_err(|e| io_err(format!("encrypting part {}", range.ordinal), e))?;
            let (buffered, digest) = hashing.finish();
            let file = buffered
                .into_inner()
                .map_err(|e| io_err(format!("writing part {}", range.ordinal), e.error()))?;
            file.sync_all()
                .map_err(|e| io_err(format!("writing part {}", range.ordinal), e))?;
            parts.push(EncryptedPart {
                ordinal: range.ordinal,
                plain_size: range.len,
                size: digest.size,
                hash: digest.sha256_base64(),
                file: tmp,
            });
        }
        Ok(EncryptedParts { parts })
    }

    /// `batchFile` of `POST /sessions/batch` for these encrypted parts.
    pub fn batch_file_info(&self, parts: &EncryptedParts) -> BatchFileInfo {
        BatchFileInfo {
            file_size: self.archive_size(),
            file_hash: self.archive_hash(),
            compression_type: Some(self.compression.wire().into()),
            file_parts: parts
                .parts
                .iter()
                .map(|p| BatchFilePartInfo {
                    ordinal_number: p.ordinal,
                    file_size: p.size,
                    file_hash: p.hash.clone(),
                })
                .collect(),
        }
    }
}

/// Copies one invoice file into `out`, hashing it; checks it did not change size under us.
fn copy_hashed(path: &Path, expected: u64, out: &mut impl Write) -> Result<Digested, KsefError> {
    let file =
        File::open(path).map_err(|e| io_err(format!("cannot read {}", path.display()), e))?;
    let mut reader = HashingReader::new(file.take(expected));
    io::copy(&mut reader, out)
        .map_err(|e| io_err(format!("cannot add {} to the archive", path.display()), e))?;
    let (_, digest) = reader.finish();
    if digest.size != expected {
        return Err(KsefError::InvalidInput(format!(
            "{} changed while it was being packed ({} bytes, expected {expected})",
            path.display(),
            digest.size
        )));
    }
    Ok(digest)
}

fn file_size(path: &Path) -> Result<u64, KsefError> {
    let meta = std::fs::metadata(path)
        .map_err(|e| io_err(format!("cannot read {}", path.display()), e))?;
    if !meta.is_file() {
        return Err(KsefError::InvalidInput(format!(
            "{} is not a regular file",
            path.display()
        )));
    }
    if meta.len() == 0 {
        return Err(KsefError::InvalidInput(format!(
            "{} is empty",
            path.display()
        )));
    }
    Ok(meta.len())
}

type Sink = HashingWriter<BufWriter<File>>;

fn write_zip(
    files: &[PathBuf],
    sink: Sink,
    level: u32,
) -> Result<(Vec<PackagedFile>, Sink), KsefError> {
    use zip::write::SimpleFileOptions;
    let zip_err = |e: zip::result::ZipError| io_err("writing the ZIP archive", e);
    let mut zip = zip::ZipWriter::new_stream(sink);
    let options = SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated)
        .compression_level(Some(i64::from(level.clamp(1, 9))))
        .large_file(false);
    let mut packaged = Vec::with_capacity(files.len());
    for path in files {
        let size = file_size(path)?;
        zip.start_file(archive_name(path)?, options)
            .map_err(zip_err)?;
        let digest = copy_hashed(path, size, &mut zip)?;
        packaged.push(PackagedFile {
            path: path.clone(),
            size,
            sha256: digest.sha256,
        });
    }
    let stream = zip.finish().map_err(zip_err)?;
    Ok((packaged, stream.into_inner()))
}

fn write_tar_gz(
    files: &[PathBuf],
    sink: Sink,
    level: u32,
) -> Result<(Vec<PackagedFile>, Sink), KsefError> {
    let tar_err = |e: io::Error| io_err("writing the tar.gz archive", e);
    let gz = flate2::write::GzEncoder::new(sink, flate2::Compression::new(level.clamp(1, 9)));
    let mut tar = tar::Builder::new(gz);
    tar.mode(tar::HeaderMode::Deterministic);
    let mut packaged = Vec::with_capacity(files.len());
    for path in files {
        let size = file_size(path)?;
        let name = archive_name(path)?;
        let mut header = tar::Header::new_ustar();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_entry_type(tar::EntryType::Regular);
        header.set_mtime(0);
        // The hash is computed by a reader tar consumes; keep it to read the digest after.
        let file =
            File::open(path).map_err(|e| io_err(format!("cannot read {}", path.display()), e))?;
        let mut reader = HashingReader::new(file.take(size));
        tar.append_data(&mut header, &name, &mut reader)
            .map_err(|e| io_err(format!("cannot add {} to the archive", path.display()), e))?;
        let (_, digest) = reader.finish();
        if digest.size != size {
            return Err(KsefError::InvalidInput(format!(
                "{} changed while it was being packed",
                path.display()
            )));
        }
        packaged.push(PackagedFile {
            path: path.clone(),
            size,
            sha256: digest.sha256,
        });
    }
    let gz = tar.into_inner().map_err(tar_err)?;
    let sink = gz.finish().map_err(tar_err)?;
    Ok((packaged, sink))
}

/// One encrypted part in a temporary file.
#[derive(Debug)]
pub struct EncryptedPart {
    /// 1-based.
    pub ordinal: u32,
    /// Size before encryption.
    pub plain_size: u64,
    /// Size of the ciphertext.
    pub size: u64,
    /// SHA-256 of the ciphertext, Base64.
    pub hash: String,
    file: NamedTempFile,
}

impl EncryptedPart {
    /// The temporary file with the ciphertext.
    pub fn path(&self) -> &Path {
        self.file.path()
    }
}

/// The encrypted parts of a package (files removed on drop).
#[derive(Debug)]
pub struct EncryptedParts {
    /// In ordinal order.
    pub parts: Vec<EncryptedPart>,
}

impl EncryptedParts {
    /// Total ciphertext bytes.
    pub fn total_size(&self) -> u64 {
        self.parts.iter().map(|p| p.size).sum()
    }
}

/// Uploads every part to its `partUploadRequests` entry (matched by `ordinalNumber`) with
/// [`KsefClient::upload_batch_part`], at most `concurrency` at a time, each streamed from its
/// file. `on_bytes` is called with the size of each finished part. Stops at the first failure
/// (the other uploads are cancelled).
pub async fn upload_parts(
    client: &KsefClient,
    parts: &EncryptedParts,
    requests: &[PartUploadRequest],
    concurrency: usize,
    on_bytes: Arc<dyn Fn(u64) + Send + Sync>,
) -> Result<(), KsefError> {
    let mut by_ordinal: HashMap<u32, &PartUploadRequest> = HashMap::new();
    for r in requests {
        by_ordinal.insert(r.ordinal_number, r);
    }
    let mut jobs = Vec::with_capacity(parts.parts.len());
    for part in &parts.parts {
        let req = by_ordinal
            .get(&part.ordinal)
            .ok_or_else(|| KsefError::Decode {
                what: "POST /sessions/batch response".into(),
                message: format!("no partUploadRequests entry for part {}", part.ordinal),
            })?;
        jobs.push(((*req).clone(), part.path().to_path_buf(), part.size));
    }
    let semaphore = Arc::new(tokio::sync::Semaphore::new(concurrency.max(1)));
    let mut set = tokio::task::JoinSet::new();
    for (req, path, size) in jobs {
        let client = client.clone();
        let semaphore = semaphore.clone();
        let on_bytes = on_bytes.clone();
        set.spawn(async move {
            let _permit = semaphore
                .acquire_owned()
                .await
                .map_err(|_| KsefError::Transport("upload cancelled".into()))?;
            let file = tokio::fs::File::open(&path)
                .await
                .map_err(|e| io_err(format!("cannot read part {}", req.ordinal_number), e))?;
            client
                .upload_batch_part(&req, reqwest::Body::from(file), size)
                .await?;
            on_bytes(size);
            Ok::<(), KsefError>(())
        });
    }
    while let Some(joined) = set.join_next().await {
        let result = joined
            .map_err(|e| KsefError::Transport(format!("an upload task failed: {e}")))
            .and_then(|r| r);
        if let Err(e) = result {
            set.abort_all();
            return Err(e);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ksef_crypto::envelope::{aes256_cbc_decrypt, sha256_base64};

    fn write_invoices(dir: &Path, n: usize, size: usize) -> Vec<PathBuf> {
        (0..n)
            .map(|i| {
                let p = dir.join(format!("faktura-{i:04}.xml"));
                let mut body = format!("<Faktura><P_2>FV/{i}</P_2><Opis>");
                // Pseudo-random filler so that deflate cannot shrink it to nothing.
                let mut x: u32 = 2_654_435_761u32.wrapping_mul(i as u32 + 1);
                while body.len() < size {
                    x ^= x << 13;
                    x ^= x >> 17;
                    x ^= x << 5;
                    body.push(char::from(b'a' + (x % 26) as u8));
                }
                body.push_str("</Opis></Faktura>");
                std::fs::write(&p, body).unwrap();
                p
            })
            .collect()
    }

    #[test]
    fn split_is_equal_and_bounded() {
        assert_eq!(split_ranges(0, 10), vec![]);
        let r = split_ranges(10, 10);
        assert_eq!(
            r,
            vec![PartRange {
                ordinal: 1,
                offset: 0,
                len: 10
            }]
        );
        let r = split_ranges(25, 10);
        assert_eq!(r.iter().map(|p| p.len).collect::<Vec<_>>(), vec![9, 9, 7]);
        let r = split_ranges(250_000_001, MAX_PART_SIZE);
        assert_eq!(r.len(), 3);
        assert!(r.iter().all(|p| p.len <= MAX_PART_SIZE));
        assert_eq!(r.iter().map(|p| p.len).sum::<u64>(), 250_000_001);
        assert_eq!(r[2].offset + r[2].len, 250_000_001);
    }

    fn roundtrip(compression: Compression) {
        let dir = tempfile::tempdir().unwrap();
        let src = dir.path().join("src");
        std::fs::create_dir(&src).unwrap();
        let files = write_invoices(&src, 40, 3000);
        let opts = PackageOptions {
            max_part_size: 20_000,
            ..PackageOptions::default()
        };
        let pkg = BatchPackage::build_with(&files, compression, dir.path(), &opts).unwrap();
        assert_eq!(pkg.files().len(), 40);
        let archive = std::fs::read(pkg.archive_path()).unwrap();
        assert_eq!(archive.len() as u64, pkg.archive_size());
        assert_eq!(sha256_base64(&archive), pkg.archive_hash());
        assert!(pkg.parts().len() >= 3, "{:?}", pkg.parts());
        assert!(pkg.parts().iter().all(|p| p.len <= 20_000));
        for f in pkg.files() {
            let bytes = std::fs::read(&f.path).unwrap();
            assert_eq!(f.hash(), sha256_base64(&bytes));
            assert_eq!(pkg.files_by_hash(&f.hash())[0].name(), f.name());
            assert_eq!(pkg.file_by_name(f.name()), Some(f));
        }

        let key = [5u8; 32];
        let iv = [6u8; 16];
        let enc = pkg.encrypt(&key, &iv, dir.path()).unwrap();
        assert_eq!(enc.parts.len(), pkg.parts().len());
        let mut joined = Vec::new();
        for p in &enc.parts {
            let ct = std::fs::read(p.path()).unwrap();
            assert_eq!(ct.len() as u64, p.size);
            assert_eq!(sha256_base64(&ct), p.hash);
            joined.extend(aes256_cbc_decrypt(&key, &iv, &ct).unwrap());
        }
        assert_eq!(
            joined, archive,
            "decrypted parts concatenate to the archive"
        );
        let info = pkg.batch_file_info(&enc);
        assert_eq!(info.file_parts.len(), enc.parts.len());
        assert_eq!(info.file_size, archive.len() as u64);

        // The archive holds exactly the files under their names.
        let mut found: BTreeMap<String, Vec<u8>> = BTreeMap::new();
        match compression {
            Compression::Zip => {
                let mut z = zip::ZipArchive::new(io::Cursor::new(&archive)).unwrap();
                for i in 0..z.len() {
                    let mut f = z.by_index(i).unwrap();
                    let mut b = Vec::new();
                    f.read_to_end(&mut b).unwrap();
                    found.insert(f.name().to_string(), b);
                }
            }
            Compression::TarGz => {
                let gz = flate2::read::GzDecoder::new(&archive[..]);
                let mut t = tar::Archive::new(gz);
                for e in t.entries().unwrap() {
                    let mut e = e.unwrap();
                    let name = e.path().unwrap().display().to_string();
                    let mut b = Vec::new();
                    e.read_to_end(&mut b).unwrap();
                    found.insert(name, b);
                }
            }
        }
        assert_eq!(found.len(), 40);
        for f in pkg.files() {
            assert_eq!(found[f.name()], std::fs::read(&f.path).unwrap());
        }
        let path = pkg.archive_path().to_path_buf();
        let part_path = enc.parts[0].path().to_path_buf();
        drop(enc);
        drop(pkg);
        assert!(
            !path.exists() && !part_path.exists(),
            "temporary files removed"
        );
    }

    #[test]
    fn zip_package_roundtrip() {
        roundtrip(Compression::Zip);
    }

    #[test]
    fn tar_gz_package_roundtrip() {
        roundtrip(Compression::TarGz);
    }

    #[test]
    fn limits_and_bad_input_are_named() {
        let dir = tempfile::tempdir().unwrap();
        let files = write_invoices(dir.path(), 30, 4000);
        let opts = PackageOptions {
            max_part_size: 1000,
            max_parts: 5,
            ..PackageOptions::default()
        };
        let e = BatchPackage::build_with(&files, Compression::Zip, dir.path(), &opts)
            .unwrap_err()
            .to_string();
        assert!(e.contains("parts"), "{e}");
        let e = BatchPackage::build(&[], Compression::Zip, dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("at least one"), "{e}");
        let missing = dir.path().join("nie-ma.xml");
        let e = BatchPackage::build(&[missing], Compression::Zip, dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("nie-ma.xml"), "{e}");
        let other = dir.path().join("sub");
        std::fs::create_dir(&other).unwrap();
        let dup = other.join("faktura-0000.xml");
        std::fs::copy(&files[0], &dup).unwrap();
        let e = BatchPackage::build(&[files[0].clone(), dup], Compression::Zip, dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("same name"), "{e}");
    }
}
