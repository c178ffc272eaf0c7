//! Invoice flows on top of the session/invoice endpoint calls (digest §8–§10, §12):
//!
//! * [`send_online`] — one online session for many invoices: fresh AES key wrapped for the
//!   `SymmetricKeyEncryption` key, each invoice hashed, encrypted and sent, the session closed,
//!   then every status waited for until final; [`send_online_invoices_to`] also sends technical
//!   corrections ([`OnlineInvoice::correcting`], `hashOfCorrectedInvoice`, digest §13.1);
//! * [`send_batch`] — the same through a batch session: package ([`crate::batch`]), encrypted
//!   parts uploaded in parallel, close, wait;
//! * [`wait_for_session`] — polling with backoff until the session and all its invoices are
//!   final;
//! * [`invoice_upo`] / [`session_upos`] — UPO documents;
//! * [`sync()`] — incremental download of the invoices of a context through exports (§12.4).
//!
//! Each flow takes the [`Session`] mutably: the access token is refreshed when it is about to
//! expire (long batches outlive an access token); the caller stores the session again after.

use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use ksef_crypto::Zeroizing;
use ksef_wire::{
    EncryptionInfo, ExceptionCode, FormCode, InvoiceStatusInfo, OpenBatchSessionRequest,
    OpenOnlineSessionRequest, PublicKeyCertificateUsage, RateLimitGroup, Secret,
    SendInvoiceRequest, SessionInvoiceStatusResponse, SessionStatusResponse,
};
use serde::Serialize;
use tokio::time::Instant;

use crate::batch::{self, BatchPackage, Compression, PackageOptions};
use crate::client::KsefClient;
use crate::error::KsefError;
use crate::session::Session;

pub mod sync;

pub use sync::{
    ExportedInvoice, SINK_BATCH_INVOICES, SyncError, SyncOptions, SyncReport, SyncSink,
    SyncSubjectReport, parent_dir, sync, sync_with, write_atomically,
};

/// Session status codes that mean "not finished yet" (digest §8.4, §9.5).
const SESSION_IN_PROGRESS: [i32; 3] = [100, 150, 170];
/// Invoice status codes below this are not final (100 queued, 150 processing).
const INVOICE_FINAL_FROM: i32 = 200;
/// Invoice status "accepted, KSeF number assigned".
pub const INVOICE_ACCEPTED: i32 = 200;
/// Page size used to list a session's invoices.
const INVOICE_PAGE_SIZE: u32 = 1000;
/// Safety stop for paginated listings.
const MAX_PAGES: usize = 10_000;
/// Default wait for a session to finish processing.
pub const DEFAULT_WAIT: Duration = Duration::from_secs(30 * 60);

/// Where a long operation is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Progress {
    /// Preparing: files read and encrypted (online) or packed (batch).
    Preparing { done: u64, total: u64 },
    /// Online: invoices sent. `eta`: with a [`Pacer`](crate::Pacer) on the client, how long
    /// the rest (the remaining sends and the session close) should take at the context's rate
    /// limits, from the pacer's schedule.
    Sending {
        done: u64,
        total: u64,
        eta: Option<Duration>,
    },
    /// Batch: encrypted bytes uploaded.
    Uploading { done: u64, total: u64 },
    /// Waiting for KSeF: invoices with a final status.
    Processing { done: u64, total: u64 },
    /// Sync: invoices of an export package written (new + already present).
    Downloading { done: u64, total: u64 },
}

/// A progress callback (called from any task; must be cheap).
pub type ProgressFn = Arc<dyn Fn(Progress) + Send + Sync>;

/// A progress callback that ignores everything.
pub fn no_progress() -> ProgressFn {
    Arc::new(|_| {})
}

/// Options of [`send_online`] and [`send_batch`].
#[derive(Clone)]
pub struct SendOptions {
    /// Declare the invoices as issued offline (`offlineMode`).
    pub offline_mode: bool,
    /// How long to wait for final statuses after closing the session.
    pub wait: Duration,
    /// Batch: archive format.
    pub compression: Compression,
    /// Batch: package limits (part size etc.).
    pub package: PackageOptions,
    /// Batch: parts uploaded at once.
    pub upload_concurrency: usize,
    /// Batch: where the archive and the encrypted parts are written (default: the system
    /// temporary directory).
    pub temp_dir: Option<PathBuf>,
    /// Progress reports.
    pub progress: ProgressFn,
}

impl Default for SendOptions {
    fn default() -> Self {
        SendOptions {
            offline_mode: false,
            wait: DEFAULT_WAIT,
            compression: Compression::Zip,
            package: PackageOptions::default(),
            upload_concurrency: batch::DEFAULT_UPLOAD_CONCURRENCY,
            temp_dir: None,
            progress: no_progress(),
        }
    }
}

impl std::fmt::Debug for SendOptions {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SendOptions")
            .field("offline_mode", &self.offline_mode)
            .field("wait", &self.wait)
            .field("compression", &self.compression)
            .field("package", &self.package)
            .field("upload_concurrency", &self.upload_concurrency)
            .field("temp_dir", &self.temp_dir)
            .finish_non_exhaustive()
    }
}

/// What became of one invoice file.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceOutcome {
    /// The file sent.
    pub file: PathBuf,
    /// Its name (inside the batch archive: `invoiceFileName`).
    pub name: String,
    /// SHA-256 of the file, Base64.
    pub invoice_hash: String,
    /// Reference number of the invoice in the session, once KSeF gave one.
    pub reference_number: Option<String>,
    /// KSeF number, when accepted.
    pub ksef_number: Option<String>,
    /// `P_2` as KSeF read it.
    pub invoice_number: Option<String>,
    /// Final status code (200 = accepted); `None` = KSeF reported no status (not sent, or the
    /// session failed as a whole).
    pub status_code: Option<i32>,
    /// Status description (or why there is none).
    pub status_description: String,
    /// Status details (validator output etc.).
    pub details: Vec<String>,
    /// Status extensions (e.g. `originalKsefNumber` of a duplicate).
    pub extensions: BTreeMap<String, String>,
    /// KSeF's exception code when it refused to take the invoice at all (HTTP 400 on sending,
    /// e.g. 21166 or 21167 for a technical correction); `None` otherwise.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub exception_code: Option<u32>,
    /// The session the invoice was sent in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub session_reference: Option<String>,
    /// When KSeF assigned the KSeF number.
    #[serde(
        default,
        with = "ksef_wire::ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub acquisition_date: Option<time::OffsetDateTime>,
}

impl InvoiceOutcome {
    fn new(file: PathBuf, name: String, invoice_hash: String) -> Self {
        InvoiceOutcome {
            file,
            name,
            invoice_hash,
            reference_number: None,
            ksef_number: None,
            invoice_number: None,
            status_code: None,
            status_description: "KSeF reported no status for this invoice".into(),
            details: Vec::new(),
            extensions: BTreeMap::new(),
            exception_code: None,
            session_reference: None,
            acquisition_date: None,
        }
    }

    /// Accepted with a KSeF number.
    pub fn accepted(&self) -> bool {
        self.status_code == Some(INVOICE_ACCEPTED) && self.ksef_number.is_some()
    }

    fn apply(&mut self, s: &SessionInvoiceStatusResponse) {
        self.reference_number = Some(s.reference_number.clone());
        self.ksef_number = s.ksef_number.clone();
        self.invoice_number = s.invoice_number.clone();
        self.acquisition_date = s.acquisition_date;
        apply_status(self, &s.status);
    }
}

fn apply_status(o: &mut InvoiceOutcome, st: &InvoiceStatusInfo) {
    o.status_code = Some(st.code);
    o.status_description = st.description.clone();
    o.details = st.details.clone().unwrap_or_default();
    o.extensions = st.extensions.clone().unwrap_or_default();
}

/// The result of a send flow, without the per-invoice rows (those went to the caller's
/// [`OutcomeSink`] as they became known).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendSummary {
    /// Reference number of the session.
    pub session_reference: String,
    /// `Online` or `Batch`.
    pub session_kind: &'static str,
    /// Final session status code (200 = processed).
    pub session_status_code: i32,
    /// Its description.
    pub session_status_description: String,
    /// Its details.
    pub session_status_details: Vec<String>,
    /// Batch: how many encrypted parts the package was uploaded in.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub batch_parts: Option<usize>,
    /// Invoices accepted (a KSeF number assigned).
    pub accepted: usize,
    /// Invoices not accepted (refused, failed, or not reported at all).
    pub failed: usize,
}

/// The result of a send flow with every invoice's outcome ([`send_online`], [`send_batch`]).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct SendReport {
    /// The session and the counts.
    #[serde(flatten)]
    pub summary: SendSummary,
    /// One entry per file: first the files KSeF never took (in the order given), then the
    /// invoices in the order KSeF reports them (their ordinal in the session).
    pub invoices: Vec<InvoiceOutcome>,
}

impl SendReport {
    /// Invoices accepted.
    pub fn accepted(&self) -> usize {
        self.invoices.iter().filter(|i| i.accepted()).count()
    }

    /// Invoices not accepted.
    pub fn failed(&self) -> usize {
        self.invoices.len() - self.accepted()
    }
}

/// Receives each invoice's outcome as soon as it is final, so that a caller can print or
/// store it and the flow keeps no per-invoice results: memory stays flat however many invoices
/// a session holds.
pub type OutcomeSink<'a> = &'a mut (dyn FnMut(InvoiceOutcome) + Send);

/// Counts what went through a sink, for the [`SendSummary`].
struct Tally<'a, 'b> {
    sink: &'a mut OutcomeSink<'b>,
    session_ref: String,
    accepted: usize,
    failed: usize,
}

impl<'a, 'b> Tally<'a, 'b> {
    fn new(sink: &'a mut OutcomeSink<'b>, session_ref: &str) -> Self {
        Tally {
            sink,
            session_ref: session_ref.to_string(),
            accepted: 0,
            failed: 0,
        }
    }

    fn emit(&mut self, mut outcome: InvoiceOutcome) {
        outcome.session_reference = Some(self.session_ref.clone());
        if outcome.accepted() {
            self.accepted += 1;
        } else {
            self.failed += 1;
        }
        (self.sink)(outcome);
    }

    fn summary(
        &self,
        session_ref: &str,
        kind: &'static str,
        status: &SessionStatusResponse,
        batch_parts: Option<usize>,
    ) -> SendSummary {
        SendSummary {
            session_reference: session_ref.to_string(),
            session_kind: kind,
            session_status_code: status.status.code,
            session_status_description: status.status.description.clone(),
            session_status_details: status.status.details.clone().unwrap_or_default(),
            batch_parts,
            accepted: self.accepted,
            failed: self.failed,
        }
    }
}

/// Marks an invoice KSeF gave no status for, naming the session's end when it failed.
fn unreported(
    mut o: InvoiceOutcome,
    session_ref: &str,
    status: &SessionStatusResponse,
) -> InvoiceOutcome {
    if status.status.code != 200 {
        o.details.push(format!(
            "session {session_ref} ended with status {} {}",
            status.status.code, status.status.description
        ));
    }
    o
}

/// A fresh access token of `session` (refreshed when it expires within a minute).
pub async fn access_token(
    client: &KsefClient,
    session: &mut Session,
) -> Result<Zeroizing<String>, KsefError> {
    client.ensure_fresh(session).await?;
    Ok(Zeroizing::new(
        session.access_token.expose_secret().to_string(),
    ))
}

/// A session/export AES key with its `EncryptionInfo` (key wrapped with RSA-OAEP for the MF
/// `SymmetricKeyEncryption` certificate). The raw key never leaves this value.
pub struct SymmetricKey {
    key: Zeroizing<[u8; 32]>,
    iv: [u8; 16],
    info: EncryptionInfo,
}

impl std::fmt::Debug for SymmetricKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SymmetricKey").finish_non_exhaustive()
    }
}

impl SymmetricKey {
    /// A fresh random key and IV, wrapped for the current `SymmetricKeyEncryption` key.
    pub async fn generate(client: &KsefClient) -> Result<Self, KsefError> {
        let cert = client
            .public_key_for(PublicKeyCertificateUsage::SymmetricKeyEncryption)
            .await?;
        let der = BASE64
            .decode(cert.certificate.trim())
            .map_err(|e| KsefError::Decode {
                what: "public key certificate".into(),
                message: format!("certificate is not Base64: {e}"),
            })?;
        let key = Zeroizing::new(ksef_crypto::envelope::random_aes_key());
        let iv = ksef_crypto::envelope::random_iv();
        let wrapped =
            ksef_crypto::envelope::rsa_oaep_sha256_encrypt_for_certificate(&der, &key[..])
                .map_err(|e| KsefError::Crypto(format!("wrapping the session key: {e}")))?;
        Ok(SymmetricKey {
            info: EncryptionInfo {
                encrypted_symmetric_key: Secret::new(BASE64.encode(wrapped)),
                initialization_vector: BASE64.encode(iv),
                public_key_id: Some(cert.public_key_id),
            },
            key,
            iv,
        })
    }

    /// The `encryption` object of the request.
    pub fn info(&self) -> &EncryptionInfo {
        &self.info
    }

    /// AES-256-CBC of a whole buffer (online invoices).
    pub fn encrypt(&self, plain: &[u8]) -> Vec<u8> {
        ksef_crypto::envelope::aes256_cbc_encrypt(&self.key, &self.iv, plain)
    }

    pub(crate) fn key(&self) -> &[u8; 32] {
        &self.key
    }

    pub(crate) fn iv(&self) -> &[u8; 16] {
        &self.iv
    }
}

/// Runs `$open` (an expression that may use `$key`, a fresh [`SymmetricKey`]) and yields
/// `Result<(SymmetricKey, T), KsefError>`; on 400/21470 (the public key was withdrawn) it
/// downloads the keys again and retries once with a new key.
///
/// A macro, not a function taking an async closure: the futures of `AsyncFnMut` closures are
/// not provably `Send`, which made `send_online`/`send_batch`/`sync` impossible to
/// `tokio::spawn`.
macro_rules! with_fresh_key {
    ($client:expr, |$key:ident| $open:expr) => {{
        let mut retried = false;
        loop {
            let $key = $crate::invoicing_flows::SymmetricKey::generate($client).await?;
            match $open {
                Ok(v) => break Ok::<_, $crate::KsefError>(($key, v)),
                Err(e)
                    if !retried
                        && e.is_exception($crate::ksef_wire::ExceptionCode::UnknownPublicKey) =>
                {
                    tracing::debug!("21470: public key withdrawn, downloading the keys again");
                    $client.invalidate_public_keys();
                    retried = true;
                }
                Err(e) => break Err(e),
            }
        }
    }};
}
pub(crate) use with_fresh_key;

fn file_name(path: &Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string())
}

/// Sends `files` in one online session with form code `form`, closes it and waits until every
/// invoice has a final status; returns every outcome. For many invoices prefer
/// [`send_online_to`], which hands the outcomes over as they come.
pub async fn send_online(
    client: &KsefClient,
    session: &mut Session,
    form: &FormCode,
    files: &[PathBuf],
    options: &SendOptions,
) -> Result<SendReport, KsefError> {
    let mut invoices = Vec::with_capacity(files.len());
    let summary = send_online_to(client, session, form, files, options, &mut |o| {
        invoices.push(o)
    })
    .await?;
    Ok(SendReport { summary, invoices })
}

/// One invoice of an online session: its file and, for a technical correction of a rejected
/// offline invoice (digest §13.1), the Base64 SHA-256 of the rejected file it corrects
/// (`hashOfCorrectedInvoice`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OnlineInvoice {
    /// The invoice file.
    pub file: PathBuf,
    /// `hashOfCorrectedInvoice`: standard Base64 (with padding, 44 characters) of the SHA-256
    /// of the corrected file.
    pub hash_of_corrected_invoice: Option<String>,
}

impl OnlineInvoice {
    /// An ordinary invoice.
    pub fn new(file: PathBuf) -> Self {
        OnlineInvoice {
            file,
            hash_of_corrected_invoice: None,
        }
    }

    /// A technical correction: `file` re-sends the business content of the rejected file
    /// whose exact bytes had the SHA-256 `corrected_sha256`.
    pub fn correcting(file: PathBuf, corrected_sha256: &[u8; 32]) -> Self {
        OnlineInvoice {
            file,
            hash_of_corrected_invoice: Some(BASE64.encode(corrected_sha256)),
        }
    }
}

/// [`send_online`] handing each outcome to `sink` once it is final. A file that cannot be read
/// stops everything before the session is opened; a send that KSeF refuses (400) is recorded on
/// that file and the others go on.
pub async fn send_online_to(
    client: &KsefClient,
    session: &mut Session,
    form: &FormCode,
    files: &[PathBuf],
    options: &SendOptions,
    sink: OutcomeSink<'_>,
) -> Result<SendSummary, KsefError> {
    let invoices: Vec<OnlineInvoice> = files.iter().cloned().map(OnlineInvoice::new).collect();
    send_online_invoices_to(client, session, form, &invoices, options, sink).await
}

/// [`send_online_to`] for invoices that may be technical corrections (each with its own
/// `hashOfCorrectedInvoice`). KSeF takes a technical correction only in an online session and
/// only with `offlineMode` (digest §13.1): one without [`SendOptions::offline_mode`] is refused
/// here, before a session is opened.
pub async fn send_online_invoices_to(
    client: &KsefClient,
    session: &mut Session,
    form: &FormCode,
    invoices: &[OnlineInvoice],
    options: &SendOptions,
    mut sink: OutcomeSink<'_>,
) -> Result<SendSummary, KsefError> {
    if invoices.is_empty() {
        return Err(KsefError::InvalidInput("no invoice files to send".into()));
    }
    if !options.offline_mode
        && let Some(c) = invoices
            .iter()
            .find(|i| i.hash_of_corrected_invoice.is_some())
    {
        return Err(KsefError::InvalidInput(format!(
            "{} is a technical correction, which KSeF takes only with offlineMode",
            c.file.display()
        )));
    }
    // Read sizes first: a missing file is an input error before anything is opened in KSeF.
    for f in invoices.iter().map(|i| &i.file) {
        let meta = tokio::fs::metadata(f)
            .await
            .map_err(|e| KsefError::InvalidInput(format!("cannot read {}: {e}", f.display())))?;
        if !meta.is_file() {
            return Err(KsefError::InvalidInput(format!(
                "{} is not a regular file",
                f.display()
            )));
        }
    }
    let progress = options.progress.clone();
    let total = invoices.len() as u64;
    let token = access_token(client, session).await?;
    let (key, opened) = with_fresh_key!(client, |key| async {
        let req = OpenOnlineSessionRequest {
            form_code: form.clone(),
            encryption: key.info().clone(),
        };
        client.open_online_session(&token, &req).await
    }
    .await)?;
    let session_ref = opened.reference_number;
    tracing::debug!(session = %session_ref, invoices = invoices.len(), "online session opened");
    // What is left at the pacer's schedule: the remaining sends, then the close.
    let eta = |remaining: u64| {
        client.pacer().map(|p| {
            p.estimate(&[
                (RateLimitGroup::InvoiceSend, remaining),
                (RateLimitGroup::OnlineSession, 1),
            ])
        })
    };
    progress(Progress::Sending {
        done: 0,
        total,
        eta: eta(total),
    });

    let mut tally = Tally::new(&mut sink, &session_ref);
    // Invoice reference → (file index, SHA-256): all that is kept per invoice until its
    // status arrives.
    let mut sent: HashMap<String, (usize, [u8; 32])> = HashMap::new();
    let mut fatal: Option<KsefError> = None;
    for (i, invoice) in invoices.iter().enumerate() {
        let path = &invoice.file;
        let name = file_name(path);
        if let Some(e) = &fatal {
            let mut o = InvoiceOutcome::new(path.clone(), name, String::new());
            o.status_description = format!("not sent: {e}");
            tally.emit(o);
            continue;
        }
        let bytes = tokio::fs::read(path)
            .await
            .map_err(|e| KsefError::InvalidInput(format!("cannot read {}: {e}", path.display())));
        let bytes = match bytes {
            Ok(b) => b,
            Err(e) => {
                let mut o = InvoiceOutcome::new(path.clone(), name, String::new());
                o.status_description = format!("not sent: {e}");
                tally.emit(o);
                continue;
            }
        };
        let digest = ksef_crypto::sha256(&bytes);
        let hash = BASE64.encode(digest);
        let encrypted = key.encrypt(&bytes);
        let request = SendInvoiceRequest {
            invoice_hash: hash.clone(),
            invoice_size: bytes.len() as u64,
            encrypted_invoice_hash: ksef_crypto::envelope::sha256_base64(&encrypted),
            encrypted_invoice_size: encrypted.len() as u64,
            encrypted_invoice_content: BASE64.encode(&encrypted),
            offline_mode: options.offline_mode,
            hash_of_corrected_invoice: invoice.hash_of_corrected_invoice.clone(),
        };
        drop(encrypted);
        drop(bytes);
        let token = access_token(client, session).await?;
        match client.send_invoice(&token, &session_ref, &request).await {
            Ok(r) => {
                sent.insert(r.reference_number, (i, digest));
            }
            Err(e) => {
                let mut o = InvoiceOutcome::new(path.clone(), name, hash);
                o.status_description = format!("not accepted for processing: {e}");
                o.exception_code = e.code();
                if let KsefError::Api { code, .. } = &e {
                    o.details = code.map(|c| vec![format!("code {c}")]).unwrap_or_default();
                }
                // A 400 concerns this invoice; anything else (auth, transport, 5xx, session
                // closed) ends the sending.
                let session_gone = e.is_exception(ExceptionCode::SessionNotFound)
                    || e.is_exception(ExceptionCode::SessionStatusForbidsOperation);
                if e.http_status() != Some(400) || session_gone {
                    fatal = Some(e);
                }
                tally.emit(o);
            }
        }
        let done = i as u64 + 1;
        progress(Progress::Sending {
            done,
            total,
            eta: eta(total - done),
        });
    }

    let token = access_token(client, session).await?;
    client.close_online_session(&token, &session_ref).await?;
    drop(token);
    let status = wait_for_session(
        client,
        session,
        &session_ref,
        sent.len() as u64,
        options.wait,
        &progress,
    )
    .await?;
    for_each_session_invoice(client, session, &session_ref, |s| {
        if let Some((i, _)) = sent.remove(&s.reference_number) {
            let path = &invoices[i].file;
            let mut o = InvoiceOutcome::new(path.clone(), file_name(path), String::new());
            o.apply(&s);
            tally.emit(o);
        }
    })
    .await?;
    let mut missing: Vec<(String, (usize, [u8; 32]))> = sent.into_iter().collect();
    missing.sort_by_key(|(_, (i, _))| *i);
    for (reference, (i, digest)) in missing {
        let path = &invoices[i].file;
        let mut o = InvoiceOutcome::new(path.clone(), file_name(path), BASE64.encode(digest));
        o.reference_number = Some(reference);
        tally.emit(unreported(o, &session_ref, &status));
    }
    Ok(tally.summary(&session_ref, "Online", &status, None))
}

/// Packs `files` (blocking, on a worker thread), opens a batch session with form code `form`,
/// uploads the encrypted parts in parallel, closes the session and waits until every invoice
/// has a final status; returns every outcome. For many invoices prefer [`send_batch_to`].
pub async fn send_batch(
    client: &KsefClient,
    session: &mut Session,
    form: &FormCode,
    files: &[PathBuf],
    options: &SendOptions,
) -> Result<SendReport, KsefError> {
    let mut invoices = Vec::with_capacity(files.len());
    let summary = send_batch_to(client, session, form, files, options, &mut |o| {
        invoices.push(o)
    })
    .await?;
    Ok(SendReport { summary, invoices })
}

/// [`send_batch`] handing each outcome to `sink` once it is final. Per invoice only the
/// package's bookkeeping is kept (path, size, SHA-256, a name index, a flag): no statuses are
/// collected, so memory does not grow with what KSeF reports.
pub async fn send_batch_to(
    client: &KsefClient,
    session: &mut Session,
    form: &FormCode,
    files: &[PathBuf],
    options: &SendOptions,
    mut sink: OutcomeSink<'_>,
) -> Result<SendSummary, KsefError> {
    let progress = options.progress.clone();
    let temp_dir = options.temp_dir.clone().unwrap_or_else(std::env::temp_dir);
    let list = files.to_vec();
    let compression = options.compression;
    let limits = options.package.clone();
    let dir = temp_dir.clone();
    progress(Progress::Preparing {
        done: 0,
        total: files.len() as u64,
    });
    let package = tokio::task::spawn_blocking(move || {
        BatchPackage::build_with(&list, compression, &dir, &limits)
    })
    .await
    .map_err(|e| KsefError::InvalidInput(format!("packing the batch failed: {e}")))??;
    let package = Arc::new(package);
    progress(Progress::Preparing {
        done: files.len() as u64,
        total: files.len() as u64,
    });

    let token = access_token(client, session).await?;
    let offline = options.offline_mode;
    // The parts are encrypted with the key that goes into the open request, so the key is made
    // first and the package encrypted for it (again after a 21470 retry).
    let mut encrypted_for_key: Option<batch::EncryptedParts> = None;
    let (_key, opened) = with_fresh_key!(client, |key| async {
        let pkg = package.clone();
        let dir = temp_dir.clone();
        let (k, iv) = (Zeroizing::new(*key.key()), *key.iv());
        let parts = tokio::task::spawn_blocking(move || pkg.encrypt(&k, &iv, &dir))
            .await
            .map_err(|e| KsefError::InvalidInput(format!("encrypting the batch failed: {e}")))??;
        let req = OpenBatchSessionRequest {
            form_code: form.clone(),
            batch_file: package.batch_file_info(&parts),
            encryption: key.info().clone(),
            offline_mode: offline,
        };
        encrypted_for_key = Some(parts);
        client.open_batch_session(&token, &req).await
    }
    .await)?;
    let parts = encrypted_for_key.ok_or_else(|| {
        KsefError::InvalidInput("internal error: the batch parts were not encrypted".into())
    })?;
    let session_ref = opened.reference_number.clone();
    tracing::debug!(session = %session_ref, parts = parts.parts.len(), "batch session opened");

    let total_bytes = parts.total_size();
    let done_bytes = Arc::new(std::sync::atomic::AtomicU64::new(0));
    let on_bytes = {
        let progress = progress.clone();
        let done_bytes = done_bytes.clone();
        Arc::new(move |n: u64| {
            let done = done_bytes.fetch_add(n, std::sync::atomic::Ordering::Relaxed) + n;
            progress(Progress::Uploading {
                done,
                total: total_bytes,
            });
        })
    };
    progress(Progress::Uploading {
        done: 0,
        total: total_bytes,
    });
    batch::upload_parts(
        client,
        &parts,
        &opened.part_upload_requests,
        options.upload_concurrency,
        on_bytes,
    )
    .await?;
    let part_count = parts.parts.len();
    drop(parts);

    let token = access_token(client, session).await?;
    client.close_batch_session(&token, &session_ref).await?;
    drop(token);
    let status = wait_for_session(
        client,
        session,
        &session_ref,
        files.len() as u64,
        options.wait,
        &progress,
    )
    .await?;

    let packaged = package.files();
    let outcome = |i: usize| {
        let f = &packaged[i];
        InvoiceOutcome::new(f.path.clone(), f.name().to_string(), f.hash())
    };
    let mut tally = Tally::new(&mut sink, &session_ref);
    let mut reported = vec![false; packaged.len()];
    // Statuses without a (known) file name: matched by hash once all named ones are placed.
    // KSeF names every batch invoice, so this stays empty in practice.
    let mut unnamed = Vec::new();
    for_each_session_invoice(client, session, &session_ref, |s| {
        let by_name = s
            .invoice_file_name
            .as_deref()
            .and_then(|n| package.index_by_name(n))
            .filter(|&i| !reported[i]);
        match by_name {
            Some(i) => {
                reported[i] = true;
                let mut o = outcome(i);
                o.apply(&s);
                tally.emit(o);
            }
            None => unnamed.push(s),
        }
    })
    .await?;
    for s in unnamed {
        let digest = batch::decode_sha256(&s.invoice_hash);
        let found =
            (0..packaged.len()).find(|&i| !reported[i] && Some(packaged[i].sha256) == digest);
        match found {
            Some(i) => {
                reported[i] = true;
                let mut o = outcome(i);
                o.apply(&s);
                tally.emit(o);
            }
            None => tracing::warn!(
                session = %session_ref,
                invoice = %s.reference_number,
                "KSeF reported an invoice that matches no file of the package"
            ),
        }
    }
    for i in (0..packaged.len()).filter(|&i| !reported[i]) {
        tally.emit(unreported(outcome(i), &session_ref, &status));
    }
    Ok(tally.summary(&session_ref, "Batch", &status, Some(part_count)))
}

/// Backoff for status polling: 100 ms growing by half up to 1 s during the first minute (most
/// sessions finish within seconds, so the result is seen within a tenth of a second or so of
/// it), then up to 5 s. Stays within the `sessionMisc` limits of digest §15.1 (10/s, 120/min,
/// 1 200/h): ≤ 65 calls in the first minute, then ≤ 12 per minute. With a
/// [`Pacer`](crate::Pacer) on the client, tighter limits of the polled group slow it down
/// further: never more often than its second and minute windows allow in the first minute, and
/// its hour window too after that ([`Pacer::poll_interval`]).
///
/// [`Pacer::poll_interval`]: crate::Pacer::poll_interval
/// Most polls [`Poll`] makes in its first minute (100 ms growing by half up to 1 s).
const FIRST_MINUTE_POLLS: u32 = 65;

struct Poll {
    next: Duration,
    started: Instant,
    deadline: Duration,
}

impl Poll {
    fn new(deadline: Duration) -> Self {
        Poll {
            next: Duration::from_millis(100),
            started: Instant::now(),
            deadline,
        }
    }

    /// Sleeps before the next poll of `group`; `false` once the deadline has passed.
    async fn wait(&mut self, client: &KsefClient, group: RateLimitGroup) -> bool {
        let elapsed = self.started.elapsed();
        if elapsed >= self.deadline {
            return false;
        }
        let sustained = elapsed >= Duration::from_secs(60);
        let floor = client.pacer().map_or(Duration::ZERO, |p| {
            // In its first minute this schedule polls at most 10 times a second and 65 times
            // in all: a group that allows that much needs no slowing down then (the pacer still
            // holds each call to the windows).
            let values = p.limits().group(group);
            if !sustained && values.per_second >= 10 && values.per_minute >= FIRST_MINUTE_POLLS {
                Duration::ZERO
            } else {
                p.poll_interval(group, sustained)
            }
        });
        tokio::time::sleep(self.next.max(floor).min(self.deadline - elapsed)).await;
        let cap = if self.started.elapsed() < Duration::from_secs(60) {
            Duration::from_secs(1)
        } else {
            Duration::from_secs(5)
        };
        self.next = (self.next * 3 / 2).min(cap);
        true
    }
}

/// Polls `GET /sessions/{ref}` until the session is final (not 100/150/170), then until each
/// of its invoices has a final status (≥ 200), and returns the final session status. `expected`
/// is the number of invoices sent (for progress). The statuses themselves are read afterwards
/// with [`for_each_session_invoice`]; while waiting only counts are kept.
pub async fn wait_for_session(
    client: &KsefClient,
    session: &mut Session,
    session_ref: &str,
    expected: u64,
    deadline: Duration,
    progress: &ProgressFn,
) -> Result<SessionStatusResponse, KsefError> {
    let mut poll = Poll::new(deadline);
    let status = loop {
        let token = access_token(client, session).await?;
        let status = client.session_status(&token, session_ref).await?;
        let done = u64::from(status.successful_invoice_count.unwrap_or(0))
            + u64::from(status.failed_invoice_count.unwrap_or(0));
        progress(Progress::Processing {
            done,
            total: expected.max(done),
        });
        if !SESSION_IN_PROGRESS.contains(&status.status.code) {
            break status;
        }
        if !poll.wait(client, RateLimitGroup::SessionMisc).await {
            return Err(KsefError::Timeout {
                what: format!(
                    "session {session_ref} to finish processing (status {} {})",
                    status.status.code, status.status.description
                ),
                waited: poll.started.elapsed(),
            });
        }
    };
    // The counts of a final session usually settle it: every invoice is either successful or
    // failed. Otherwise (counts absent or behind) the invoice list is read until none is pending.
    if let (Some(all), Some(ok), Some(failed)) = (
        status.invoice_count,
        status.successful_invoice_count,
        status.failed_invoice_count,
    ) && u64::from(ok) + u64::from(failed) >= u64::from(all)
    {
        return Ok(status);
    }
    loop {
        let (mut total, mut pending) = (0u64, 0u64);
        for_each_session_invoice(client, session, session_ref, |s| {
            total += 1;
            if s.status.code < INVOICE_FINAL_FROM {
                pending += 1;
            }
        })
        .await?;
        progress(Progress::Processing {
            done: total - pending,
            total: expected.max(total),
        });
        if pending == 0 {
            return Ok(status);
        }
        if !poll.wait(client, RateLimitGroup::SessionInvoiceList).await {
            return Err(KsefError::Timeout {
                what: format!(
                    "{pending} invoice(s) of session {session_ref} to get a final status"
                ),
                waited: poll.started.elapsed(),
            });
        }
    }
}

/// Every invoice status of a session (`GET /sessions/{ref}/invoices`, all pages).
pub async fn all_session_invoices(
    client: &KsefClient,
    session: &mut Session,
    session_ref: &str,
) -> Result<Vec<SessionInvoiceStatusResponse>, KsefError> {
    let mut all = Vec::new();
    for_each_session_invoice(client, session, session_ref, |s| all.push(s)).await?;
    Ok(all)
}

/// Hands every invoice status of a session to `f`, page by page (`GET /sessions/{ref}/invoices`
/// with continuation tokens); one page is held at a time.
pub async fn for_each_session_invoice(
    client: &KsefClient,
    session: &mut Session,
    session_ref: &str,
    mut f: impl FnMut(SessionInvoiceStatusResponse) + Send,
) -> Result<(), KsefError> {
    let mut continuation: Option<String> = None;
    for _ in 0..MAX_PAGES {
        let token = access_token(client, session).await?;
        let page = client
            .session_invoices(
                &token,
                session_ref,
                Some(INVOICE_PAGE_SIZE),
                continuation.as_deref(),
            )
            .await?;
        page.invoices.into_iter().for_each(&mut f);
        match page.continuation_token.filter(|t| !t.is_empty()) {
            Some(next) if Some(&next) == continuation.as_ref() => {
                return Err(KsefError::Decode {
                    what: "GET /sessions/{ref}/invoices response".into(),
                    message: "the server returned the same continuation token twice".into(),
                });
            }
            Some(next) => continuation = Some(next),
            None => return Ok(()),
        }
    }
    Err(KsefError::Decode {
        what: "GET /sessions/{ref}/invoices response".into(),
        message: format!("more than {MAX_PAGES} pages"),
    })
}

/// Which invoice's UPO.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InvoiceRef {
    /// The invoice reference number in the session.
    Reference(String),
    /// The KSeF number.
    KsefNumber(String),
}

/// The UPO XML of one invoice of a session.
pub async fn invoice_upo(
    client: &KsefClient,
    session: &mut Session,
    session_ref: &str,
    invoice: &InvoiceRef,
) -> Result<Vec<u8>, KsefError> {
    let token = access_token(client, session).await?;
    let doc = match invoice {
        InvoiceRef::Reference(r) => {
            client
                .invoice_upo_by_reference(&token, session_ref, r)
                .await?
        }
        InvoiceRef::KsefNumber(n) => {
            client
                .invoice_upo_by_ksef_number(&token, session_ref, n)
                .await?
        }
    };
    doc.verify_hash("invoice UPO")?;
    Ok(doc.into_bytes())
}

/// The session UPO pages `(upoReferenceNumber, XML)`, in order. Fails when the session has no
/// UPO yet (still open or processing).
pub async fn session_upos(
    client: &KsefClient,
    session: &mut Session,
    session_ref: &str,
) -> Result<Vec<(String, Vec<u8>)>, KsefError> {
    let pages = session_upo_pages(client, session, session_ref).await?;
    let mut out = Vec::with_capacity(pages.len());
    for upo_ref in pages {
        let token = access_token(client, session).await?;
        let doc = client.session_upo(&token, session_ref, &upo_ref).await?;
        doc.verify_hash("session UPO")?;
        out.push((upo_ref, doc.into_bytes()));
    }
    Ok(out)
}

/// The UPO reference numbers of a closed and processed session, in order.
async fn session_upo_pages(
    client: &KsefClient,
    session: &mut Session,
    session_ref: &str,
) -> Result<Vec<String>, KsefError> {
    let token = access_token(client, session).await?;
    let status = client.session_status(&token, session_ref).await?;
    let pages = status.upo.map(|u| u.pages).unwrap_or_default();
    if pages.is_empty() {
        return Err(KsefError::InvalidInput(format!(
            "session {session_ref} has no UPO yet (status {} {}); a UPO is issued once the \
             session is closed and processed",
            status.status.code, status.status.description
        )));
    }
    Ok(pages.into_iter().map(|p| p.reference_number).collect())
}

/// The session UPO pages written to files, streamed (a session UPO of 10 000 invoices is a
/// 5 MB document): page `i` (1-based) goes to `path_for(i)`, through a temporary file in the
/// same directory that is hash-checked against `x-ms-meta-hash`, fsynced and renamed into
/// place. Returns `(upoReferenceNumber, file, bytes)` per page. Fails when the session has no
/// UPO yet.
pub async fn session_upos_to_files(
    client: &KsefClient,
    session: &mut Session,
    session_ref: &str,
    path_for: impl Fn(usize) -> PathBuf,
) -> Result<Vec<(String, PathBuf, u64)>, KsefError> {
    let pages = session_upo_pages(client, session, session_ref).await?;
    let mut out = Vec::with_capacity(pages.len());
    for (i, upo_ref) in pages.into_iter().enumerate() {
        let target = path_for(i + 1);
        let mut file = sync::AtomicFile::create(&target)?;
        let token = access_token(client, session).await?;
        let mut w = std::io::BufWriter::new(file.file());
        let size = client
            .session_upo_to(&token, session_ref, &upo_ref, &mut w)
            .await?;
        let flushed = std::io::Write::flush(&mut w);
        drop(w);
        flushed.map_err(|e| file.error(e))?;
        file.commit()?;
        out.push((upo_ref, target, size));
    }
    Ok(out)
}
