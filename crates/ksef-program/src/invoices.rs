//! Invoices: local validation (XSD), sending (one online session, or batch), UPOs, sessions,
//! metadata queries, downloads and the incremental sync into a directory — the workflow shared
//! by the CLI and the web app. Every KSeF call uses the stored session of [`App`] (refreshed as
//! needed and stored again after).

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};

use ksef_client::batch::{Compression, PackageOptions};
use ksef_client::invoicing_flows::{
    self, InvoiceOutcome, InvoiceRef, ProgressFn, SendOptions, SendSummary, SyncOptions, SyncReport,
};
use ksef_core::Permission;
pub use ksef_invoice::FormCode;
use ksef_store::{Direction, InvoiceRecord};
use ksef_wire::{
    CommonSessionStatus, InvoiceMetadata, InvoiceQueryDateRange, InvoiceQueryDateType,
    InvoiceQueryFilters, InvoiceQuerySubjectType, SessionInvoiceStatusResponse,
    SessionStatusResponse, SessionType, SessionsQuery, SessionsQueryResponseItem, SortOrder,
    WireEnum,
};
use serde::Serialize;
use time::OffsetDateTime;

use crate::{
    App, Field, InputProblem, IoAction, Operation, ProgramError, ProgramResult, StoredSession,
};

mod mode;

pub use mode::{
    DEFAULT_ONLINE_LIMIT, ModeDecision, ModeReason, SendMode, SessionKind, choose_mode,
    online_estimate,
};

/// Most invoices in one session (KSeF: 10 000, digest §9.1); [`send`] splits larger sets into
/// several sessions.
pub const MAX_PER_SESSION: usize = 10_000;

// ---------------------------------------------------------------------------------------------
// Input: files and form codes
// ---------------------------------------------------------------------------------------------

/// The invoice files named on the command line: a file as is, a directory = all its `*.xml`
/// files (not recursive, sorted by name). A missing path is an error naming it.
pub fn collect_files(inputs: &[PathBuf]) -> ProgramResult<Vec<PathBuf>> {
    if inputs.is_empty() {
        return Err(ProgramError::invalid(
            Field::InvoiceFiles,
            InputProblem::Missing {
                hint: "at least one invoice FILE or DIRECTORY",
            },
        ));
    }
    let mut out = Vec::new();
    for input in inputs {
        let meta =
            std::fs::metadata(input).map_err(|e| ProgramError::io(IoAction::Read, input, e))?;
        if meta.is_dir() {
            let mut found: Vec<PathBuf> = std::fs::read_dir(input)
                .map_err(|e| ProgramError::io(IoAction::Read, input, e))?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| {
                    p.is_file()
                        && p.extension()
                            .and_then(|x| x.to_str())
                            .is_some_and(|x| x.eq_ignore_ascii_case("xml"))
                })
                .collect();
            if found.is_empty() {
                return Err(ProgramError::NoXmlFiles { dir: input.clone() });
            }
            found.sort();
            out.extend(found);
        } else {
            out.push(input.clone());
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|p| seen.insert(p.canonicalize().unwrap_or_else(|_| p.clone())));
    Ok(out)
}

/// Parses a `--form` value: `FA3`, `FA2`, `FA_RR`, `PEF`, `PEF_KOR` (also `FA (3)`, `FA(3)`,
/// `FA_RR1`, `PEF3`, `PEF_KOR3`; case-insensitive).
pub fn parse_form(s: &str) -> ProgramResult<FormCode> {
    let norm: String = s
        .chars()
        .filter(|c| !c.is_whitespace() && *c != '(' && *c != ')')
        .collect::<String>()
        .to_ascii_uppercase();
    match norm.as_str() {
        "FA3" => Ok(FormCode::Fa3),
        "FA2" => Ok(FormCode::Fa2),
        "FA_RR" | "FA_RR1" | "FARR" | "FARR1" => Ok(FormCode::FaRr1),
        "PEF" | "PEF3" => Ok(FormCode::Pef3),
        "PEF_KOR" | "PEF_KOR3" | "PEFKOR" | "PEFKOR3" => Ok(FormCode::PefKor3),
        _ => Err(ProgramError::invalid(
            Field::Form,
            InputProblem::UnexpectedValue {
                value: s.to_string(),
                expected: "FA3, FA2, FA_RR, PEF or PEF_KOR".into(),
            },
        )),
    }
}

/// A short name of a form code (`FA (3)`).
pub fn form_name(form: FormCode) -> &'static str {
    form.system_code()
}

/// The wire `formCode` of a form.
pub fn wire_form(form: FormCode) -> ksef_wire::FormCode {
    ksef_wire::FormCode::new(form.system_code(), form.schema_version(), form.value())
}

/// The local check of one file.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileCheck {
    pub file: PathBuf,
    /// The form code used (given or detected), e.g. `FA (3)`.
    pub form: Option<String>,
    pub ok: bool,
    /// Why not: a summary line, then one line per problem (`line N: message` for XSD).
    pub errors: Vec<String>,
    #[serde(skip)]
    pub form_code: Option<FormCode>,
}

/// Why a file's form code cannot be told.
fn undetectable(bytes: &[u8]) -> Vec<String> {
    if let Err(e) = ksef_invoice::bytes::check(bytes) {
        let mut v = vec![e.to_string()];
        v.extend(e.details().into_iter().skip(1));
        return v;
    }
    if let Ok(text) = std::str::from_utf8(bytes)
        && let Err(e) = ksef_invoice::schema::parse(text)
    {
        return vec![e.to_string()];
    }
    vec![
        "cannot tell the form code: no <KodFormularza kodSystemowy=… wersjaSchemy=…> of a \
         supported form and no PEF root element; give --form"
            .into(),
    ]
}

/// Checks one file locally: readable, form code given or detected, byte rules, well-formed,
/// valid against the form's XSD (`schema = false`: only the form code is determined).
pub fn check_file(path: &Path, form: Option<FormCode>, schema: bool) -> FileCheck {
    check_file_for(path, form, schema, false).0
}

/// [`check_file`], and with `want_facts` also the invoice's facts read from the same parse (the
/// XSD check's tree; without `schema` a lighter parse of its own) — `None` when they cannot be
/// read (the file is still sent if it passed: KSeF decides, and the register says why it has
/// no row for it).
fn check_file_for(
    path: &Path,
    form: Option<FormCode>,
    schema: bool,
    want_facts: bool,
) -> (FileCheck, Option<ksef_invoice::InvoiceFacts>) {
    let mut check = FileCheck {
        file: path.to_path_buf(),
        form: None,
        ok: false,
        errors: Vec::new(),
        form_code: None,
    };
    let bytes = match std::fs::read(path) {
        Ok(b) => b,
        Err(e) => {
            check.errors.push(format!("cannot read the file: {e}"));
            return (check, None);
        }
    };
    if schema {
        // One parse: the form code (unless given), the XSD verdict and the facts.
        match ksef_invoice::validate_for_sending(form, &bytes) {
            Ok(Some((form, facts))) => {
                check.form = Some(form_name(form).to_string());
                check.form_code = Some(form);
                check.ok = true;
                return (check, facts.ok().filter(|_| want_facts));
            }
            Ok(None) => check.errors = undetectable(&bytes),
            Err(e) => match form.or_else(|| FormCode::detect(&bytes)) {
                Some(form) => {
                    check.form = Some(form_name(form).to_string());
                    check.form_code = Some(form);
                    check.errors.push(e.to_string());
                    if let ksef_invoice::InvoiceError::Schema(lines) = &e {
                        check.errors.extend(lines.iter().cloned());
                    }
                }
                None => check.errors = undetectable(&bytes),
            },
        }
        return (check, None);
    }
    let Some(form) = form.or_else(|| FormCode::detect(&bytes)) else {
        check.errors = undetectable(&bytes);
        return (check, None);
    };
    check.form = Some(form_name(form).to_string());
    check.form_code = Some(form);
    check.ok = true;
    let facts = want_facts
        .then(|| crate::register::facts(Some(form), &bytes, "").ok())
        .flatten();
    (check, facts)
}

/// Gives the memory the parallel check freed back to the system. Each check worker parses its
/// files (libxml2 trees of ~20 KB each) in glibc's malloc arena of its thread; the workers end,
/// their arenas keep what was freed, and a 10 000-file send carried that through its whole
/// session (`cargo bench --bench speed`: peak RSS 167 MB, 116 MB with this). No-op elsewhere
/// than on glibc.
fn release_freed_memory() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: malloc_trim only returns free memory of the allocator to the system; it has no
    // preconditions and touches no live allocation.
    unsafe {
        libc::malloc_trim(0);
    }
}

/// `f` of every file, in parallel (one worker per CPU), results in input order; `failed` stands
/// in for a result whose worker thread died.
fn par_map<T: Send>(
    files: &[PathBuf],
    f: impl Fn(&Path) -> T + Sync,
    failed: impl Fn(&Path) -> T,
) -> Vec<T> {
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(files.len().max(1));
    let next = AtomicUsize::new(0);
    let chunks: Vec<Vec<(usize, T)>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| {
                    let mut done = Vec::new();
                    loop {
                        let i = next.fetch_add(1, Ordering::Relaxed);
                        let Some(path) = files.get(i) else { break };
                        done.push((i, f(path)));
                    }
                    done
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_default())
            .collect()
    });
    let mut results: Vec<Option<T>> = std::iter::repeat_with(|| None).take(files.len()).collect();
    for (i, c) in chunks.into_iter().flatten() {
        results[i] = Some(c);
    }
    results
        .into_iter()
        .zip(files)
        .map(|(r, path)| r.unwrap_or_else(|| failed(path)))
        .collect()
}

fn worker_failed(path: &Path) -> FileCheck {
    FileCheck {
        file: path.to_path_buf(),
        form: None,
        ok: false,
        errors: vec!["the check did not run (a worker thread failed)".into()],
        form_code: None,
    }
}

/// [`check_file`] for many files, in parallel (one worker per CPU), results in input order.
pub fn check_files(files: &[PathBuf], form: Option<FormCode>, schema: bool) -> Vec<FileCheck> {
    par_map(files, |p| check_file(p, form, schema), worker_failed)
}

/// The form code of every file (input order), or the checks of the files that failed
/// ([`check_for_sending`] without the register rows).
pub fn check_forms(
    files: &[PathBuf],
    form: Option<FormCode>,
    schema: bool,
) -> Result<Vec<FormCode>, Vec<FileCheck>> {
    check_for_sending(files, form, schema).map(|v| v.into_iter().map(|c| c.form).collect())
}

/// A file that passed the local check for sending: its form code and, read from the same
/// parse, the register row it becomes once sent (`None`: its facts could not be read).
pub struct Checked {
    pub form: FormCode,
    pub record: Option<Box<InvoiceRecord>>,
}

/// The check of every file before sending (input order), in parallel: each file is read and
/// parsed once, for the XSD verdict and the register's facts together. Either every file
/// passed, or the checks of those that failed.
pub fn check_for_sending(
    files: &[PathBuf],
    form: Option<FormCode>,
    schema: bool,
) -> Result<Vec<Checked>, Vec<FileCheck>> {
    // Boxed failures keep a passing file small while the checks run.
    let results: Vec<Result<Checked, Box<FileCheck>>> = par_map(
        files,
        |p| {
            let (c, facts) = check_file_for(p, form, schema, true);
            match c.form_code {
                Some(form) if c.ok => Ok(Checked {
                    form,
                    record: facts
                        .map(|f| Box::new(crate::register::record_from_facts(Direction::Sale, &f))),
                }),
                _ => Err(Box::new(c)),
            }
        },
        |p| Err(Box::new(worker_failed(p))),
    );
    if results.iter().all(Result::is_ok) {
        Ok(results.into_iter().filter_map(Result::ok).collect())
    } else {
        Err(results
            .into_iter()
            .filter_map(|r| r.err().map(|c| *c))
            .collect())
    }
}

/// `ksef invoice validate`: the local checks, off the async runtime.
pub async fn validate(inputs: &[PathBuf], form: Option<FormCode>) -> ProgramResult<Vec<FileCheck>> {
    let files = collect_files(inputs)?;
    tokio::task::spawn_blocking(move || check_files(&files, form, true))
        .await
        .map_err(|e| ProgramError::CheckAborted {
            detail: e.to_string(),
        })
}

/// The one-paragraph refusal listing the files that failed the local checks (`total`: how many
/// files were checked).
pub fn refusal(checks: &[FileCheck], total: usize) -> Option<ProgramError> {
    let failed: Vec<FileCheck> = checks.iter().filter(|c| !c.ok).cloned().collect();
    if failed.is_empty() {
        return None;
    }
    Some(ProgramError::LocalCheckFailed { failed, total })
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// What `send` should do.
#[derive(Clone)]
pub struct SendRequest {
    /// Files and directories.
    pub inputs: Vec<PathBuf>,
    /// Online, batch, or chosen by the context's rate limits ([`choose_mode`]).
    pub mode: SendMode,
    /// [`SendMode::Auto`]: the longest online send before batch is chosen instead (default
    /// [`DEFAULT_ONLINE_LIMIT`]).
    pub online_limit: std::time::Duration,
    /// Declare the invoices offline-issued.
    pub offline: bool,
    /// Form code for every file; `None` = detect per file.
    pub form: Option<FormCode>,
    /// Run the local XSD check first (on by default; off only for tests of KSeF's own checks).
    pub validate: bool,
    /// Batch archive format. Default tar.gz, which the API recommends for large packages: one
    /// gzip stream for the whole package, where a ZIP starts a deflate stream per file (10 000
    /// invoices: 1.65 s of client CPU and a 61 MB peak against 2.0 s and 117 MB as ZIP,
    /// `cargo bench --bench speed`).
    pub compression: Compression,
    /// Batch part size (default 100 MB; smaller for tests).
    pub part_size: Option<u64>,
    /// Invoices per session (default and most: [`MAX_PER_SESSION`]; smaller for tests).
    pub session_size: Option<usize>,
    /// Progress reports.
    pub progress: ProgressFn,
}

impl SendRequest {
    pub fn new(inputs: Vec<PathBuf>) -> Self {
        SendRequest {
            inputs,
            mode: SendMode::Auto,
            online_limit: DEFAULT_ONLINE_LIMIT,
            offline: false,
            form: None,
            validate: true,
            compression: Compression::TarGz,
            part_size: None,
            session_size: None,
            progress: invoicing_flows::no_progress(),
        }
    }
}

/// Refuses early when the session is known not to hold a permission any of `needed`.
fn require_any(
    s: &StoredSession,
    needed: &[Permission],
    operation: Operation,
) -> ProgramResult<()> {
    let Some(held) = s.permissions.as_ref().filter(|_| !needed.is_empty()) else {
        return Ok(());
    };
    if needed.iter().any(|p| held.iter().any(|h| h == p.as_str())) {
        return Ok(());
    }
    Err(ProgramError::PermissionMissing {
        operation,
        needed: needed.to_vec(),
        held: held.clone(),
    })
}

pub(crate) const WRITE_PERMISSIONS: [Permission; 3] = [
    Permission::InvoiceWrite,
    Permission::PefInvoiceWrite,
    Permission::EnforcementOperations,
];
const READ_PERMISSIONS: [Permission; 1] = [Permission::InvoiceRead];

/// Runs `f` with the stored session (refreshed as needed) and stores it again afterwards, also
/// when `f` failed (a refreshed token is worth keeping).
pub(crate) async fn with_stored<T>(
    app: &mut App,
    needed: &[Permission],
    operation: Operation,
    f: impl AsyncFnOnce(
        &ksef_client::KsefClient,
        &mut ksef_client::Session,
    ) -> Result<T, ksef_client::KsefError>,
) -> ProgramResult<T> {
    let mut stored = app.session().await?;
    require_any(&stored, needed, operation)?;
    let before =
        ksef_crypto::Zeroizing::new(stored.session.access_token.expose_secret().to_string());
    let client = app.client.clone();
    let result = f(&client, &mut stored.session).await;
    if *stored.session.access_token.expose_secret() != *before {
        app.save_session(&stored).await?;
    }
    result.map_err(ProgramError::from)
}

/// What [`send`] reports while it works.
#[derive(Debug)]
pub enum SendEvent {
    /// Online or batch, and why (before anything is sent).
    ModeChosen(ModeDecision),
    /// Every file passed the local checks; this many sessions will be opened.
    Planned {
        files: usize,
        sessions: usize,
        /// Length of the longest file path, in characters (for aligned tables).
        longest_path: usize,
    },
    /// One invoice's final outcome.
    Outcome(InvoiceOutcome),
    /// A session is done (all its outcomes were reported before this).
    SessionDone(SendSummary),
}

/// The sum of a [`send`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct SendTotals {
    pub sessions: usize,
    pub accepted: usize,
    pub failed: usize,
}

/// `ksef invoice send`: local checks of every file first (nothing is sent if one fails), then
/// online or batch ([`choose_mode`] at the context's rate limits, reported as
/// [`SendEvent::ModeChosen`]; every KSeF call of the send paced to those limits), then
/// sessions of at most [`MAX_PER_SESSION`] invoices of one form code each (online: many
/// invoices per session; batch: one package per session), waiting for the final statuses.
/// Outcomes go to `on_event` as they arrive, so memory does not grow with the number of
/// invoices.
pub async fn send(
    app: &mut App,
    req: SendRequest,
    on_event: &mut (dyn FnMut(SendEvent) + Send),
) -> ProgramResult<SendTotals> {
    let files = collect_files(&req.inputs)?;
    let form = req.form;
    let schema = req.validate;
    let total = files.len();
    let (files, checked) = tokio::task::spawn_blocking(move || {
        let checked = check_for_sending(&files, form, schema);
        release_freed_memory();
        (files, checked)
    })
    .await
    .map_err(|e| ProgramError::CheckAborted {
        detail: e.to_string(),
    })?;
    let checked = match checked {
        Ok(c) => c,
        Err(failed) => return Err(ProgramError::LocalCheckFailed { failed, total }),
    };
    let forms: Vec<FormCode> = checked.iter().map(|c| c.form).collect();
    if req.mode == SendMode::Batch
        && let Some(f) = forms.iter().find(|f| !f.allowed_in_batch())
    {
        return Err(ProgramError::NotInBatch {
            form: form_name(*f),
        });
    }
    // Online or batch at the context's rate limits; every call of the send is paced to them.
    let (decision, pacer) = decide_mode(app, &req, &forms).await?;
    let batch = decision.batch();
    on_event(SendEvent::ModeChosen(decision));
    let longest_path = files
        .iter()
        .map(|f| f.display().to_string().chars().count())
        .max()
        .unwrap_or(0);
    // Group by form code, keeping the input order inside each group (the paths are moved,
    // not copied), then cut each group into sessions. Each file keeps the register row its
    // check read.
    type Group = (FormCode, Vec<PathBuf>, Vec<Option<Box<InvoiceRecord>>>);
    let mut groups: Vec<Group> = Vec::new();
    for (file, c) in files.into_iter().zip(checked) {
        match groups.iter_mut().find(|(g, _, _)| *g == c.form) {
            Some((_, v, r)) => {
                v.push(file);
                r.push(c.record);
            }
            None => groups.push((c.form, vec![file], vec![c.record])),
        }
    }
    let per_session = per_session(&req);
    let sessions: usize = groups
        .iter()
        .map(|(_, g, _)| g.len().div_ceil(per_session))
        .sum();
    on_event(SendEvent::Planned {
        files: total,
        sessions,
        longest_path,
    });
    let mut options = SendOptions {
        offline_mode: req.offline,
        compression: req.compression,
        progress: req.progress.clone(),
        ..SendOptions::default()
    };
    if let Some(size) = req.part_size {
        options.package = PackageOptions {
            max_part_size: size.max(1),
            ..PackageOptions::default()
        };
    }
    let mut totals = SendTotals::default();
    // Every sale KSeF registers goes to the register (with its status, while the statuses
    // stream in; also when the session failed half-way).
    let firm = crate::register::current_firm(app).await?;
    let store = app.store().await?.clone();
    for (form, group, mut records) in groups {
        let wire = wire_form(form);
        for (n, chunk) in group.chunks(per_session).enumerate() {
            let records = &mut records[n * per_session..][..chunk.len()];
            let index: std::collections::HashMap<&Path, usize> = chunk
                .iter()
                .enumerate()
                .map(|(i, p)| (p.as_path(), i))
                .collect();
            let mut recorder =
                crate::register::SentRecorder::start(store.clone(), firm, form, req.offline);
            let mut sink = |o: InvoiceOutcome| {
                if o.reference_number.is_some() {
                    let record = index.get(o.file.as_path()).and_then(|&i| records[i].take());
                    recorder.push(o.clone(), record);
                }
                on_event(SendEvent::Outcome(o))
            };
            let result = with_stored(
                app,
                &WRITE_PERMISSIONS,
                Operation::SendInvoices,
                async |c, s| {
                    let c = &c.clone().with_pacer(pacer.clone());
                    if batch {
                        invoicing_flows::send_batch_to(c, s, &wire, chunk, &options, &mut sink)
                            .await
                    } else {
                        invoicing_flows::send_online_to(c, s, &wire, chunk, &options, &mut sink)
                            .await
                    }
                },
            )
            .await;
            recorder.finish().await?;
            let summary = result?;
            totals.sessions += 1;
            totals.accepted += summary.accepted;
            totals.failed += summary.failed;
            on_event(SendEvent::SessionDone(summary));
        }
    }
    Ok(totals)
}

/// Invoices per session of `req`.
fn per_session(req: &SendRequest) -> usize {
    req.session_size
        .unwrap_or(MAX_PER_SESSION)
        .clamp(1, MAX_PER_SESSION)
}

/// The mode of a send ([`choose_mode`]) and the pacer of all its calls: the context's rate
/// limits from `GET /rate-limits` (one call; the documented PRD values when it fails).
async fn decide_mode(
    app: &mut App,
    req: &SendRequest,
    forms: &[FormCode],
) -> ProgramResult<(ModeDecision, ksef_client::Pacer)> {
    let pacer = with_stored(
        app,
        &WRITE_PERMISSIONS,
        Operation::SendInvoices,
        async |c, s| {
            let token = invoicing_flows::access_token(c, s).await?;
            Ok(ksef_client::Pacer::for_context(c, &token).await)
        },
    )
    .await?;
    let decision = choose_mode(
        req.mode,
        pacer.limits(),
        pacer.source(),
        forms,
        per_session(req),
        req.online_limit,
    );
    Ok((decision, pacer))
}

// ---------------------------------------------------------------------------------------------
// UPO
// ---------------------------------------------------------------------------------------------

/// One UPO document.
pub struct UpoDocument {
    /// UPO reference number (session UPO pages) or the invoice reference / KSeF number.
    pub name: String,
    pub xml: Vec<u8>,
}

/// `ksef upo get`: an invoice's UPO (by reference or KSeF number), else the session UPO pages.
pub async fn upo(
    app: &mut App,
    session_ref: &str,
    invoice: Option<InvoiceRef>,
) -> ProgramResult<Vec<UpoDocument>> {
    let session_ref = session_ref.trim().to_string();
    if session_ref.is_empty() {
        return Err(ProgramError::invalid(
            Field::SessionReference,
            InputProblem::Missing {
                hint: "the session reference number",
            },
        ));
    }
    let docs = with_stored(
        app,
        &[],
        Operation::DownloadUpo,
        async |c, s| match &invoice {
            Some(inv) => {
                let xml = invoicing_flows::invoice_upo(c, s, &session_ref, inv).await?;
                let name = match inv {
                    InvoiceRef::Reference(r) | InvoiceRef::KsefNumber(r) => r.clone(),
                };
                Ok(vec![UpoDocument { name, xml }])
            }
            None => Ok(invoicing_flows::session_upos(c, s, &session_ref)
                .await?
                .into_iter()
                .map(|(name, xml)| UpoDocument { name, xml })
                .collect()),
        },
    )
    .await?;
    // An invoice's UPO is kept with the invoice in the register (when the register has it).
    if let (Some(inv), [doc]) = (&invoice, docs.as_slice()) {
        let key = match inv {
            InvoiceRef::Reference(r) => ksef_store::InvoiceKey::Reference(r.clone()),
            InvoiceRef::KsefNumber(n) => ksef_store::InvoiceKey::KsefNumber(n.clone()),
        };
        crate::register::attach_upo(app, &key, &doc.xml).await?;
    }
    Ok(docs)
}

/// `ksef upo get --session REF -o FILE`: the session UPO pages streamed into files (`path_for`
/// gives the file of page 1, 2, …); returns `(upoReferenceNumber, file)` per page.
pub async fn session_upo_files(
    app: &mut App,
    session_ref: &str,
    path_for: impl Fn(usize) -> PathBuf + Send,
) -> ProgramResult<Vec<(String, PathBuf)>> {
    let session_ref = session_ref.trim().to_string();
    if session_ref.is_empty() {
        return Err(ProgramError::invalid(
            Field::SessionReference,
            InputProblem::Missing {
                hint: "the session reference number",
            },
        ));
    }
    with_stored(app, &[], Operation::DownloadUpo, async |c, s| {
        let written = invoicing_flows::session_upos_to_files(c, s, &session_ref, &path_for).await?;
        Ok(written
            .into_iter()
            .map(|(name, file, _)| (name, file))
            .collect())
    })
    .await
}

/// The limits in force for the current session (digest §15). `Default`: the documented PRD
/// defaults, for when KSeF cannot be asked.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Limits {
    /// `GET /limits/context`.
    pub context: ksef_wire::EffectiveContextLimits,
    /// `GET /limits/subject`.
    pub subject: ksef_wire::EffectiveSubjectLimits,
    /// `GET /rate-limits`.
    pub rate_limits: ksef_wire::EffectiveApiRateLimits,
}

/// `ksef limits`: session, subject and API rate limits of the current context.
pub async fn limits(app: &mut App) -> ProgramResult<Limits> {
    with_stored(app, &[], Operation::ReadLimits, async |c, s| {
        let token = invoicing_flows::access_token(c, s).await?;
        Ok(Limits {
            context: c.context_limits(&token).await?,
            subject: c.subject_limits(&token).await?,
            rate_limits: c.rate_limits(&token).await?,
        })
    })
    .await
}

/// How many invoices an online session should take before a batch session is the better way
/// (the count rule of `ksef offline send`; `ksef invoice send` and Faktury sprzedaży time the
/// online send at the context's limits instead, [`choose_mode`]):
/// what the context's `invoiceSend` rate limit lets through in one minute (PRD: 30), and never
/// more than an online session may hold. Above it, online sending would wait on KSeF's limits
/// (and against PRD run into 429s), while one batch session takes up to 10 000 invoices at once.
pub fn online_capacity(limits: &Limits) -> usize {
    let send = &limits.rate_limits.invoice_send;
    let per_minute = send.per_minute.min(send.per_second.saturating_mul(60));
    let session = limits.context.online_session.max_invoices;
    per_minute.min(session).max(1) as usize
}

/// Whether `count` invoices of these forms go in a batch session rather than an online one:
/// more than [`online_capacity`], and every form is one KSeF takes in batch.
pub fn batch_is_better(limits: &Limits, count: usize, forms: &[FormCode]) -> bool {
    count > online_capacity(limits) && forms.iter().all(|f| f.allowed_in_batch())
}

// ---------------------------------------------------------------------------------------------
// Sessions
// ---------------------------------------------------------------------------------------------

/// Parses `--type online|batch`.
pub fn parse_session_type(s: &str) -> ProgramResult<SessionType> {
    match s.to_ascii_lowercase().as_str() {
        "online" => Ok(SessionType::Online),
        "batch" => Ok(SessionType::Batch),
        _ => Err(ProgramError::invalid(
            Field::SessionType,
            InputProblem::UnexpectedValue {
                value: s.to_string(),
                expected: "online or batch".into(),
            },
        )),
    }
}

/// Parses `--status` values (`InProgress`, `Succeeded`, `Failed`, `Cancelled`; comma-separated
/// or repeated, case-insensitive).
pub fn parse_session_statuses(values: &[String]) -> ProgramResult<Vec<CommonSessionStatus>> {
    let mut out = Vec::new();
    for v in values.iter().flat_map(|v| v.split(',')) {
        let v = v.trim();
        if v.is_empty() {
            continue;
        }
        let found = CommonSessionStatus::VALUES
            .iter()
            .find(|s| s.wire_name().eq_ignore_ascii_case(v))
            .ok_or_else(|| {
                ProgramError::invalid(
                    Field::SessionStatus,
                    InputProblem::UnexpectedValue {
                        value: v.to_string(),
                        expected: "InProgress, Succeeded, Failed or Cancelled".into(),
                    },
                )
            })?;
        out.push(*found);
    }
    Ok(out)
}

/// `ksef session list`: the sessions of one type (newest first), at most `limit`.
pub async fn list_sessions(
    app: &mut App,
    session_type: SessionType,
    statuses: Vec<CommonSessionStatus>,
    limit: usize,
) -> ProgramResult<Vec<SessionsQueryResponseItem>> {
    let mut query = SessionsQuery::new(session_type);
    query.statuses = statuses;
    query.page_size = Some(limit.clamp(10, 1000) as u32);
    with_stored(app, &[], Operation::ListSessions, async |c, s| {
        let mut all = Vec::new();
        let mut continuation: Option<String> = None;
        loop {
            let token = invoicing_flows::access_token(c, s).await?;
            let page = c
                .list_sessions(&token, &query, continuation.as_deref())
                .await?;
            all.extend(page.sessions);
            match page.continuation_token.filter(|t| !t.is_empty()) {
                Some(next) if all.len() < limit && Some(&next) != continuation.as_ref() => {
                    continuation = Some(next)
                }
                _ => break,
            }
        }
        all.truncate(limit);
        Ok(all)
    })
    .await
}

/// `ksef session show REF`: the status and every invoice of a session.
pub async fn show_session(
    app: &mut App,
    session_ref: &str,
) -> ProgramResult<(SessionStatusResponse, Vec<SessionInvoiceStatusResponse>)> {
    let session_ref = session_ref.trim().to_string();
    with_stored(app, &[], Operation::ShowSession, async |c, s| {
        let token = invoicing_flows::access_token(c, s).await?;
        let status = c.session_status(&token, &session_ref).await?;
        let invoices = invoicing_flows::all_session_invoices(c, s, &session_ref).await?;
        Ok((status, invoices))
    })
    .await
}

// ---------------------------------------------------------------------------------------------
// Retrieval
// ---------------------------------------------------------------------------------------------

/// Parses `--subject-type` (`Subject1`, `Subject2`, `Subject3`, `SubjectAuthorized`; also
/// `1`, `2`, `3`, `seller`, `buyer`).
pub fn parse_subject_type(s: &str) -> ProgramResult<InvoiceQuerySubjectType> {
    let v = s.trim().to_ascii_lowercase();
    let found = match v.as_str() {
        "1" | "seller" | "issued" => Some(InvoiceQuerySubjectType::Subject1),
        "2" | "buyer" | "received" => Some(InvoiceQuerySubjectType::Subject2),
        "3" => Some(InvoiceQuerySubjectType::Subject3),
        "authorized" => Some(InvoiceQuerySubjectType::SubjectAuthorized),
        _ => InvoiceQuerySubjectType::VALUES
            .iter()
            .find(|t| t.wire_name().eq_ignore_ascii_case(&v))
            .copied(),
    };
    found.ok_or_else(|| {
        ProgramError::invalid(
            Field::SubjectType,
            InputProblem::UnexpectedValue {
                value: s.to_string(),
                expected: "Subject1 (seller), Subject2 (buyer), Subject3 or SubjectAuthorized"
                    .into(),
            },
        )
    })
}

/// Parses `--date-type` (`Issue`, `Invoicing`, `PermanentStorage`).
pub fn parse_date_type(s: &str) -> ProgramResult<InvoiceQueryDateType> {
    InvoiceQueryDateType::VALUES
        .iter()
        .find(|t| t.wire_name().eq_ignore_ascii_case(s.trim()))
        .copied()
        .ok_or_else(|| {
            ProgramError::invalid(
                Field::DateType,
                InputProblem::UnexpectedValue {
                    value: s.to_string(),
                    expected: "Issue, Invoicing or PermanentStorage".into(),
                },
            )
        })
}

/// Parses a date or timestamp: `YYYY-MM-DD` (start of that day, UTC) or RFC 3339.
pub fn parse_when(field: Field, s: &str) -> ProgramResult<OffsetDateTime> {
    let s = s.trim();
    if let Ok(t) = OffsetDateTime::parse(s, &time::format_description::well_known::Rfc3339) {
        return Ok(t);
    }
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s, fmt)
        .map(|d| d.midnight().assume_utc())
        .map_err(|_| {
            ProgramError::invalid(
                field,
                InputProblem::BadFormat {
                    value: s.to_string(),
                    expected: "a date YYYY-MM-DD or a timestamp like 2025-08-28T09:22:13Z",
                },
            )
        })
}

/// What `ksef invoice query` asks.
#[derive(Debug, Clone)]
pub struct QueryRequest {
    pub subject_type: InvoiceQuerySubjectType,
    pub date_type: InvoiceQueryDateType,
    pub from: OffsetDateTime,
    pub to: Option<OffsetDateTime>,
    /// 10–250.
    pub page_size: u32,
    /// Stop after this many rows.
    pub limit: usize,
}

/// The rows of a metadata query.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryResult {
    pub invoices: Vec<InvoiceMetadata>,
    /// More rows exist than `limit` let through.
    pub more: bool,
    #[serde(with = "ksef_wire::ksef_time::option")]
    pub permanent_storage_hwm_date: Option<OffsetDateTime>,
}

/// `ksef invoice query`: every page (ascending by the date type), following `hasMore` and
/// `isTruncated` (digest §12.2), up to `limit` rows.
pub async fn query(app: &mut App, req: &QueryRequest) -> ProgramResult<QueryResult> {
    if let Some(to) = req.to
        && to < req.from
    {
        return Err(ProgramError::invalid(Field::To, InputProblem::BeforeFrom));
    }
    let to = req.to.unwrap_or_else(OffsetDateTime::now_utc);
    if !ksef_wire::within_three_months(req.from, to) {
        return Err(ProgramError::invalid(
            Field::DateRange,
            InputProblem::RangeTooLong { months: 3 },
        ));
    }
    if !(10..=250).contains(&req.page_size) {
        return Err(ProgramError::invalid(
            Field::PageSize,
            InputProblem::OutOfRange {
                min: 10,
                max: 250,
                actual: i64::from(req.page_size),
            },
        ));
    }
    let req = req.clone();
    with_stored(
        app,
        &READ_PERMISSIONS,
        Operation::QueryInvoices,
        async |c, s| {
            let mut from = req.from;
            let mut page_offset = 0u32;
            let mut out = QueryResult {
                invoices: Vec::new(),
                more: false,
                permanent_storage_hwm_date: None,
            };
            let mut seen = std::collections::HashSet::new();
            loop {
                let range = InvoiceQueryDateRange::new(req.date_type, from, req.to);
                let filters = InvoiceQueryFilters::new(req.subject_type, range);
                let token = invoicing_flows::access_token(c, s).await?;
                let page = c
                    .query_invoice_metadata(
                        &token,
                        &filters,
                        SortOrder::Asc,
                        page_offset,
                        req.page_size,
                    )
                    .await?;
                out.permanent_storage_hwm_date = page.permanent_storage_hwm_date;
                let last_date = page.invoices.last().map(|m| date_of(m, req.date_type));
                for m in page.invoices {
                    if out.invoices.len() >= req.limit {
                        out.more = true;
                        return Ok(out);
                    }
                    if seen.insert(m.ksef_number.clone()) {
                        out.invoices.push(m);
                    }
                }
                if !page.has_more {
                    return Ok(out);
                }
                if page.is_truncated {
                    match last_date {
                        Some(d) if d > from => {
                            from = d;
                            page_offset = 0;
                        }
                        _ => page_offset += 1,
                    }
                } else {
                    page_offset += 1;
                }
            }
        },
    )
    .await
}

fn date_of(m: &InvoiceMetadata, t: InvoiceQueryDateType) -> OffsetDateTime {
    match t {
        InvoiceQueryDateType::Issue => m.issue_date.midnight().assume_utc(),
        InvoiceQueryDateType::Invoicing => m.invoicing_date,
        InvoiceQueryDateType::PermanentStorage => m.permanent_storage_date,
    }
}

/// `ksef invoice download NUMBER`: the invoice XML exactly as stored in KSeF.
pub async fn download(app: &mut App, ksef_number: &str) -> ProgramResult<Vec<u8>> {
    let number = ksef_number.trim().to_string();
    if number.is_empty() {
        return Err(ProgramError::invalid(
            Field::KsefNumber,
            InputProblem::Missing {
                hint: "the KSeF number of the invoice",
            },
        ));
    }
    with_stored(
        app,
        &READ_PERMISSIONS,
        Operation::DownloadInvoices,
        async |c, s| {
            let token = invoicing_flows::access_token(c, s).await?;
            let doc = c.get_invoice(&token, &number).await?;
            doc.verify_hash("GET /invoices/ksef/{ksefNumber}")?;
            Ok(doc.into_bytes())
        },
    )
    .await
}

/// `ksef sync [--dir D]`: the incremental download into the invoice register (and, given
/// `dir`, into the directory as well; see [`ksef_client::invoicing_flows::sync_with()`]).
/// Each batch of invoices is one register transaction; the register's cursor moves with a
/// package's last batch, so an interrupted run leaves the register consistent and the next
/// run continues.
pub async fn sync(
    app: &mut App,
    dir: Option<&Path>,
    subject_types: Vec<InvoiceQuerySubjectType>,
    since: Option<OffsetDateTime>,
    compression: Compression,
    progress: ProgressFn,
) -> ProgramResult<SyncReport> {
    let mut options = SyncOptions {
        since,
        compression,
        progress,
        ..SyncOptions::default()
    };
    if !subject_types.is_empty() {
        options.subject_types = subject_types;
    }
    if dir.is_none() {
        options.temp_dir = Some(app.settings.data_dir.clone());
    }
    let firm = crate::register::current_firm(app).await?;
    let store = app.store().await?.clone();
    let mut sink = crate::register::RegisterSink::new(store, firm);
    let dir = dir.map(Path::to_path_buf);
    let result = with_stored(
        app,
        &READ_PERMISSIONS,
        Operation::SyncInvoices,
        async |c, s| {
            Ok(invoicing_flows::sync_with(c, s, dir.as_deref(), &mut sink, &options).await)
        },
    )
    .await?;
    result.map_err(|e| match e {
        invoicing_flows::SyncError::Ksef(e) => ProgramError::from(e),
        invoicing_flows::SyncError::Sink(e) => e,
    })
}

/// Writes `bytes` to `path` atomically (temporary file beside it, then rename).
pub fn write_file(path: &Path, bytes: &[u8]) -> ProgramResult<()> {
    // Durable as well as atomic: a UPO is a legal receipt and must survive a crash right after
    // the command said it was saved.
    ksef_client::invoicing_flows::write_atomically(path, bytes).map_err(|source| {
        ProgramError::NotWritten {
            path: path.to_path_buf(),
            source: Box::new(source),
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn form_names() {
        assert_eq!(parse_form("FA3").unwrap(), FormCode::Fa3);
        assert_eq!(parse_form("fa (2)").unwrap(), FormCode::Fa2);
        assert_eq!(parse_form("FA_RR").unwrap(), FormCode::FaRr1);
        assert_eq!(parse_form("PEF").unwrap(), FormCode::Pef3);
        assert_eq!(parse_form("pef_kor").unwrap(), FormCode::PefKor3);
        assert!(parse_form("FA4").is_err());
    }

    #[test]
    fn subject_and_dates() {
        assert_eq!(
            parse_subject_type("subject2").unwrap(),
            InvoiceQuerySubjectType::Subject2
        );
        assert_eq!(
            parse_subject_type("seller").unwrap(),
            InvoiceQuerySubjectType::Subject1
        );
        assert!(parse_subject_type("Subject9").is_err());
        assert_eq!(
            parse_when(Field::From, "2025-08-28").unwrap(),
            time::macros::datetime!(2025-08-28 0:00 UTC)
        );
        assert!(parse_when(Field::From, "28.08.2025").is_err());
        assert_eq!(
            parse_session_statuses(&["succeeded,Failed".into()]).unwrap(),
            vec![CommonSessionStatus::Succeeded, CommonSessionStatus::Failed]
        );
    }

    #[test]
    fn files_and_dirs() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("b.xml"), "x").unwrap();
        std::fs::write(dir.path().join("a.XML"), "x").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "x").unwrap();
        let got = collect_files(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<_> = got
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
            .collect();
        assert_eq!(names, vec!["a.XML", "b.xml"]);
        let e = collect_files(&[dir.path().join("missing.xml")]).unwrap_err();
        assert!(
            matches!(&e, ProgramError::Io { action: IoAction::Read, path, .. } if path.ends_with("missing.xml")),
            "{e:?}"
        );
        let checks = check_files(&got, None, true);
        assert!(checks.iter().all(|c| !c.ok));
        let msg = refusal(&checks, 2).unwrap().to_string();
        assert!(msg.starts_with("2 of 2 invoice file(s)"), "{msg}");
        assert!(
            msg.contains("a.XML") && msg.contains("nothing was sent"),
            "{msg}"
        );
        let failed = check_forms(&got, None, true).unwrap_err();
        assert_eq!(failed, checks, "the lean check reports the same failures");
    }
}
