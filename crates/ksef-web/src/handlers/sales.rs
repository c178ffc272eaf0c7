//! Faktury sprzedaży: the upload form and the firm's sales from the register
//! (`GET /faktury/sprzedazy`), sending in the background (`POST /faktury/sprzedazy/wyslij` →
//! `GET /faktury/sprzedazy/wysylka/{id}`, a page that refreshes itself while the job runs) and
//! the UPO downloads (`/faktury/sprzedazy/upo/{id}`, `/faktury/sprzedazy/wysylka/{id}/upo`).
//!
//! Each uploaded file is checked locally on its own; the good ones are sent (online, or in a
//! batch session when there are many), the bad ones are reported with what to fix. KSeF's
//! outcomes go to the register by `ksef_program::invoices::send` itself.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, Path as UrlPath, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ksef_client::invoicing_flows::{InvoiceOutcome, InvoiceRef};
use ksef_program::invoices::{self, SendEvent, SendRequest};
use ksef_program::{App, StoredSession};
use ksef_store::{Direction, InvoiceFilter, InvoiceKey, InvoiceStatus};

use super::purchases::{TotalRow, date_pl, money, register_of};
use super::{human_size, lock_or_return, see_other};
use crate::forms::Upload;
use crate::pages::{Layout, firm_label, layout, render, render_status};
use crate::state::{Notice, SessionHandle, Shared, SharedState, WebSession, random_hex};

/// Rows per page of the sales list.
pub const PAGE_SIZE: u32 = 50;
/// Finished jobs are forgotten after this long.
const JOB_LIFETIME: Duration = Duration::from_secs(6 * 3600);
/// Jobs kept in all (the oldest finished go first).
const MAX_JOBS: usize = 256;

/// The background sending jobs, by one-time id.
#[derive(Default)]
pub struct SalesJobs(std::sync::Mutex<HashMap<String, Arc<std::sync::Mutex<SalesJob>>>>);

impl SalesJobs {
    fn insert(&self, job: SalesJob) -> (String, Arc<std::sync::Mutex<SalesJob>>) {
        let id = random_hex();
        let job = Arc::new(std::sync::Mutex::new(job));
        let mut map = lock(&self.0);
        map.retain(|_, j| {
            let j = lock(j);
            j.running || j.created.elapsed() < JOB_LIFETIME
        });
        while map.len() >= MAX_JOBS {
            let oldest = map
                .iter()
                .filter(|(_, j)| !lock(j).running)
                .min_by_key(|(_, j)| lock(j).created)
                .map(|(k, _)| k.clone());
            match oldest {
                Some(k) => map.remove(&k),
                None => break,
            };
        }
        map.insert(id.clone(), job.clone());
        (id, job)
    }

    fn get(&self, id: &str) -> Option<Arc<std::sync::Mutex<SalesJob>>> {
        lock(&self.0).get(id).cloned()
    }
}

fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// One sending job.
pub struct SalesJob {
    /// The program user who started it (only they see it).
    owner: String,
    /// The firm key (`Nip:…`).
    firm: String,
    created: Instant,
    running: bool,
    batch: bool,
    /// Why the sending is slow or went in a batch session (Polish), once decided.
    mode_note: Option<String>,
    files: Vec<JobFile>,
    /// The KSeF sessions used (their UPO may be downloaded).
    sessions: Vec<String>,
    /// A failure of the whole sending (KSeF, session), in Polish.
    error: Option<Notice>,
}

struct JobFile {
    name: String,
    state: FileState,
}

enum FileState {
    Pending,
    Accepted {
        ksef_number: String,
        register_id: Option<i64>,
    },
    /// Refused by KSeF or by the local check: a Polish sentence and technical detail.
    Refused {
        text: String,
        details: Option<String>,
    },
}

/// The Polish explanation of a failed local check: what is wrong and what to do.
pub fn polish_file_check(c: &invoices::FileCheck) -> (String, Option<String>) {
    let first = c.errors.first().map(String::as_str).unwrap_or("");
    let details = Some(c.errors.join("\n")).filter(|d| !d.trim().is_empty());
    let text = if first.starts_with("cannot read") {
        "Nie można odczytać pliku — prześlij go ponownie.".to_string()
    } else if c.form.is_none() {
        if first.contains("cannot tell the form code") {
            "To nie jest plik faktury KSeF: nie rozpoznano formularza (brak elementu \
             KodFormularza faktury FA (2), FA (3), FA_RR (1) ani dokumentu PEF). Wybierz plik XML \
             faktury zapisany przez program do fakturowania."
                .to_string()
        } else {
            "To nie jest poprawny dokument XML faktury (plik jest uszkodzony, ma złe kodowanie \
             lub nie jest plikiem XML). Wybierz plik XML faktury zapisany przez program do \
             fakturowania."
                .to_string()
        }
    } else {
        format!(
            "Faktura {} jest niezgodna ze schematem XSD formularza — popraw elementy wskazane w \
             szczegółach i wyślij ją ponownie.",
            c.form.as_deref().unwrap_or("")
        )
    };
    (text, details)
}

/// The Polish explanation of an invoice KSeF did not accept.
fn polish_outcome(o: &InvoiceOutcome) -> (String, Option<String>) {
    let description = o.status_description.trim();
    let text = match o.status_code {
        Some(code) => format!(
            "KSeF odrzucił fakturę: {description} (kod {code}). {}",
            what_to_fix(code)
        ),
        None => format!("KSeF nie przyjął faktury: {description}"),
    };
    let details = Some(o.details.join("\n")).filter(|d| !d.trim().is_empty());
    (text, details)
}

/// What to do about a refused invoice, by KSeF's invoice status code (digest §7: 405–550).
fn what_to_fix(code: i32) -> &'static str {
    match code {
        410 => {
            "Sprzedawcą (Podmiot1) nie jest bieżąca firma, a firma nie ma uprawnień do \
             wystawiania faktur w imieniu sprzedawcy — sprawdź NIP sprzedawcy albo wybierz \
             właściwą firmę u góry strony."
        }
        415 => {
            "Faktura ma załącznik, a firma nie zgłosiła w KSeF wysyłania faktur z \
             załącznikami — wyślij ją bez załącznika albo najpierw złóż zgłoszenie."
        }
        430 | 435 => {
            "Plik jest uszkodzony albo niezgodny ze schematem — zapisz fakturę ponownie w programie do fakturowania i wyślij ją jeszcze raz."
        }
        440 => {
            "Ta faktura została już przyjęta wcześniej (duplikat) — nie wysyłaj jej ponownie; jej numer KSeF podaje KSeF w szczegółach."
        }
        450 => {
            "Dane faktury są niespójne (np. daty, kwoty, stawki VAT) — popraw je zgodnie ze szczegółami i wyślij fakturę ponownie."
        }
        405 | 550 => "KSeF przerwał przetwarzanie — wyślij fakturę ponownie.",
        _ => "Popraw fakturę i wyślij ją ponownie.",
    }
}

/// A KSeF session in the current firm's context: the open one, else a new one with the user's
/// own token.
pub(super) async fn ensure_session(
    sh: &Shared,
    ws: &mut WebSession,
) -> Result<StoredSession, Notice> {
    let Some(firm) = sh.current_firm(ws).await else {
        return Err(
            "Wybierz firmę (u góry strony) albo zapisz swój token KSeF — bez tego nie \
                    można wysyłać faktur."
                .into(),
        );
    };
    match ws.firm_session(&firm).await {
        Ok(s) => Ok(s),
        Err(e) => {
            let mut n = Notice::from(&e);
            n.text = format!(
                "Nie można otworzyć sesji KSeF tokenem użytkownika „{}” dla firmy {}: {}",
                ws.user.name(),
                firm_label(&firm),
                n.text
            );
            Err(n)
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The list and the form
// ---------------------------------------------------------------------------------------------

/// One row of the sales list.
pub struct SaleRow {
    pub id: i64,
    pub invoice_number: String,
    pub issue_date: String,
    pub buyer: String,
    pub net: String,
    pub vat: String,
    pub gross: String,
    /// `sent`, `accepted`, `rejected`, `received`.
    pub status_code: &'static str,
    /// wysłana / przyjęta / odrzucona (with KSeF's description).
    pub status: String,
    pub ksef_number: String,
    pub has_upo: bool,
    /// A UPO can be asked for (accepted, sent by this program).
    pub upo_available: bool,
}

#[derive(Template)]
#[template(path = "sales.html")]
pub struct SalesPage {
    pub l: Layout,
    pub firm: Option<String>,
    pub max_upload: String,
    pub rows: Vec<SaleRow>,
    pub totals: Vec<TotalRow>,
    pub total: u64,
    pub page: u32,
    pub pages: u32,
}

#[derive(serde::Deserialize)]
pub struct PageQuery {
    strona: Option<u32>,
}

fn status_label(status: InvoiceStatus, description: Option<&str>) -> String {
    let base = match status {
        InvoiceStatus::Issued => "wystawiona offline, do wysłania",
        InvoiceStatus::Sent => "wysłana",
        InvoiceStatus::Accepted => "przyjęta",
        InvoiceStatus::Rejected => "odrzucona",
        InvoiceStatus::Received => "w KSeF",
    };
    match description.map(str::trim).filter(|d| !d.is_empty()) {
        Some(d) if status != InvoiceStatus::Accepted => format!("{base} — {d}"),
        _ => base.to_string(),
    }
}

async fn sales_page(sh: &Shared, ws: &mut WebSession, page: u32, status: StatusCode) -> Response {
    let firm = sh.current_firm(ws).await;
    let mut rows = Vec::new();
    let mut totals = Vec::new();
    let mut total = 0;
    if let Some(firm) = &firm
        && let Ok(id) = register_of(sh, ws, firm).await
    {
        let filter = InvoiceFilter {
            direction: Some(Direction::Sale),
            ..InvoiceFilter::new(id)
        };
        match sh
            .store
            .list_invoices(&filter, page.max(1), PAGE_SIZE)
            .await
        {
            Ok(p) => {
                total = p.total;
                totals.extend(p.totals.iter().map(TotalRow::of));
                for i in p.invoices {
                    let r = &i.record;
                    let m = |g: Option<i64>| g.map(|g| money(g, &r.currency)).unwrap_or_default();
                    rows.push(SaleRow {
                        id: i.id,
                        invoice_number: r.invoice_number.clone(),
                        issue_date: date_pl(r.issue_date),
                        buyer: r
                            .buyer_name
                            .clone()
                            .or_else(|| r.buyer_id.clone())
                            .unwrap_or_default(),
                        net: m(r.net),
                        vat: m(r.vat),
                        gross: m(r.gross),
                        status_code: r.status.as_str(),
                        status: status_label(r.status, r.status_description.as_deref()),
                        ksef_number: r.ksef_number.clone().unwrap_or_default(),
                        has_upo: i.has_upo,
                        upo_available: i.has_upo
                            || (r.status == InvoiceStatus::Accepted
                                && r.session_reference.is_some()),
                    });
                }
            }
            Err(e) => ws.error = Some(crate::errors::polish_store(&e).into()),
        }
    }
    let pages = (total.div_ceil(u64::from(PAGE_SIZE)) as u32).max(1);
    let l = layout(sh, ws, "Faktury sprzedaży", "sales", "/faktury/sprzedazy").await;
    render_status(
        status,
        &SalesPage {
            l,
            firm: firm.as_deref().map(firm_label),
            max_upload: human_size(sh.max_upload_bytes),
            rows,
            totals,
            total,
            page: page.clamp(1, pages),
            pages,
        },
    )
}

/// `GET /faktury/sprzedazy`.
pub async fn sales_list(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Query(q): Query<PageQuery>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    sales_page(&sh, &mut ws, q.strona.unwrap_or(1), StatusCode::OK).await
}

// ---------------------------------------------------------------------------------------------
// Sending
// ---------------------------------------------------------------------------------------------

/// A private directory (0700) removed when dropped.
pub(super) struct PrivateDir(PathBuf);

impl PrivateDir {
    pub(super) fn create() -> std::io::Result<Self> {
        let path = std::env::temp_dir().join(format!("ksef-web-upload-{}", random_hex()));
        let mut b = std::fs::DirBuilder::new();
        #[cfg(unix)]
        {
            use std::os::unix::fs::DirBuilderExt;
            b.mode(0o700);
        }
        b.create(&path)?;
        Ok(PrivateDir(path))
    }

    pub(super) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for PrivateDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A file name for people (no path), at most 200 characters.
pub(super) fn display_name(name: Option<&str>, index: usize) -> String {
    let n = name
        .map(|n| n.rsplit(['/', '\\']).next().unwrap_or(n).trim().to_string())
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| format!("plik {}", index + 1));
    n.chars().take(200).collect()
}

/// `POST /faktury/sprzedazy/wyslij`.
pub async fn sales_send(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let mp = match mp {
        Ok(mp) => mp,
        Err(_) => return crate::state::csrf_forbidden(),
    };
    let up = match Upload::read(mp, sh.max_upload_bytes).await {
        Ok(up) => up,
        Err(_) => {
            ws.error = Some(
                format!(
                    "Przesłane pliki są za duże: każdy plik może mieć do {}, a wszystkie razem \
                     do {}. Wyślij mniej plików naraz.",
                    human_size(sh.max_upload_bytes),
                    human_size(sales_body_limit(sh.max_upload_bytes)),
                )
                .into(),
            );
            return sales_page(&sh, &mut ws, 1, StatusCode::PAYLOAD_TOO_LARGE).await;
        }
    };
    if !ws.csrf_ok(up.bytes("csrf").and_then(|b| std::str::from_utf8(b).ok())) {
        return crate::state::csrf_forbidden();
    }
    if up.too_large.is_some() {
        let names: Vec<String> = up
            .oversized("files")
            .into_iter()
            .enumerate()
            .map(|(i, n)| format!("„{}”", display_name(n, i)))
            .collect();
        ws.error = Some(
            format!(
                "Plik {} jest za duży: dopuszczalny rozmiar pliku faktury to {}. Niczego nie \
                 wysłano.",
                names.join(", "),
                human_size(sh.max_upload_bytes)
            )
            .into(),
        );
        return sales_page(&sh, &mut ws, 1, StatusCode::PAYLOAD_TOO_LARGE).await;
    }
    let files = up.files("files");
    if files.is_empty() {
        ws.error = Some("Wybierz co najmniej jeden plik XML faktury.".into());
        return sales_page(&sh, &mut ws, 1, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    // Save, check each file on its own.
    let dir = match PrivateDir::create() {
        Ok(d) => d,
        Err(e) => {
            ws.error = Some(Notice {
                text: "Nie można zapisać przesłanych plików w katalogu tymczasowym.".into(),
                details: Some(e.to_string()),
            });
            return sales_page(&sh, &mut ws, 1, StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    let mut names = Vec::with_capacity(files.len());
    let mut paths = Vec::with_capacity(files.len());
    for (i, (name, bytes)) in files.iter().enumerate() {
        let path = dir.0.join(format!("{i:05}.xml"));
        if let Err(e) = std::fs::write(&path, bytes) {
            ws.error = Some(Notice {
                text: "Nie można zapisać przesłanych plików w katalogu tymczasowym.".into(),
                details: Some(e.to_string()),
            });
            return sales_page(&sh, &mut ws, 1, StatusCode::INTERNAL_SERVER_ERROR).await;
        }
        names.push(display_name(*name, i));
        paths.push(path);
    }
    drop(up);
    let checked_paths = paths.clone();
    let checks = match tokio::task::spawn_blocking(move || {
        invoices::check_files(&checked_paths, None, true)
    })
    .await
    {
        Ok(c) => c,
        Err(_) => {
            ws.error =
                Some("Kontrola lokalna faktur nie została wykonana (błąd wewnętrzny).".into());
            return sales_page(&sh, &mut ws, 1, StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    let mut job_files = Vec::with_capacity(names.len());
    let mut good = Vec::new();
    for ((name, path), check) in names.into_iter().zip(&paths).zip(&checks) {
        let state = if check.ok {
            good.push(path.clone());
            FileState::Pending
        } else {
            let (text, details) = polish_file_check(check);
            FileState::Refused { text, details }
        };
        job_files.push(JobFile { name, state });
    }
    let firm = sh.current_firm(&mut ws).await.unwrap_or_default();
    let mut job = SalesJob {
        owner: ws.user.name().to_lowercase(),
        firm: firm.clone(),
        created: Instant::now(),
        running: !good.is_empty(),
        batch: false,
        mode_note: None,
        files: job_files,
        sessions: Vec::new(),
        error: None,
    };
    // A KSeF session for the firm, copied into the job's own program (the browser stays free).
    let app = if good.is_empty() {
        None
    } else {
        match ensure_session(&sh, &mut ws).await {
            Ok(stored) => {
                let mut app = ws.app.side_app();
                match app.save_session(&stored).await {
                    Ok(()) => Some(app),
                    Err(e) => {
                        job.error = Some(Notice::from(&e));
                        None
                    }
                }
            }
            Err(n) => {
                job.error = Some(n);
                None
            }
        }
    };
    if app.is_none() {
        job.running = false;
        let why = job
            .error
            .as_ref()
            .map(|n| n.text.clone())
            .unwrap_or_default();
        for f in &mut job.files {
            if matches!(f.state, FileState::Pending) {
                f.state = FileState::Refused {
                    text: format!("Nie wysłano: {why}"),
                    details: None,
                };
            }
        }
    }
    let (id, job) = sh.sales_jobs.insert(job);
    if let Some(app) = app {
        let store = sh.store.clone();
        tokio::spawn(run_job(job, app, store, dir, paths, good));
    }
    see_other(&format!("/faktury/sprzedazy/wysylka/{id}"))
}

/// The background part: send the good files, note every outcome, find the register rows.
async fn run_job(
    job: Arc<std::sync::Mutex<SalesJob>>,
    mut app: App,
    store: ksef_store::Store,
    dir: PrivateDir,
    all: Vec<PathBuf>,
    good: Vec<PathBuf>,
) {
    let index_of = |p: &Path| all.iter().position(|a| a == p);
    // Online or batch: the program decides at the context's rate limits (the documented
    // defaults when KSeF cannot tell them) and says so before anything is sent.
    let req = SendRequest::new(good);
    let mut on_event = |e: SendEvent| {
        if let SendEvent::ModeChosen(d) = &e {
            let mut j = lock(&job);
            j.batch = d.batch();
            j.mode_note = polish_mode(d);
        }
        if let SendEvent::Outcome(o) = e {
            let mut j = lock(&job);
            if let Some(s) = &o.session_reference
                && !j.sessions.contains(s)
            {
                j.sessions.push(s.clone());
            }
            if let Some(i) = index_of(&o.file)
                && let Some(f) = j.files.get_mut(i)
            {
                f.state = match (&o.ksef_number, o.accepted()) {
                    (Some(n), true) => FileState::Accepted {
                        ksef_number: n.clone(),
                        register_id: None,
                    },
                    _ => {
                        let (text, details) = polish_outcome(&o);
                        FileState::Refused { text, details }
                    }
                };
            }
        }
    };
    let result = invoices::send(&mut app, req, &mut on_event).await;
    // The register rows of the accepted invoices (for "Pobierz UPO").
    let firm = lock(&job).firm.clone();
    let register = store.register_of(&app.settings.base_url, &firm).await.ok();
    let accepted: Vec<(usize, String)> = lock(&job)
        .files
        .iter()
        .enumerate()
        .filter_map(|(i, f)| match &f.state {
            FileState::Accepted { ksef_number, .. } => Some((i, ksef_number.clone())),
            _ => None,
        })
        .collect();
    let mut ids = Vec::new();
    if let Some(register) = register {
        for (i, n) in accepted {
            if let Ok(Some((inv, _))) = store.invoice(register, &InvoiceKey::KsefNumber(n)).await {
                ids.push((i, inv.id));
            }
        }
    }
    let _ = ksef_program::auth::logout(&mut app).await;
    let mut j = lock(&job);
    for (i, id) in ids {
        if let Some(FileState::Accepted { register_id, .. }) =
            j.files.get_mut(i).map(|f| &mut f.state)
        {
            *register_id = Some(id);
        }
    }
    if let Err(e) = &result {
        let n = Notice::from(e);
        for f in &mut j.files {
            if matches!(f.state, FileState::Pending) {
                f.state = FileState::Refused {
                    text: format!("Nie wysłano: {}", n.text),
                    details: n.details.clone(),
                };
            }
        }
        j.error = Some(n);
    }
    for f in &mut j.files {
        if matches!(f.state, FileState::Pending) {
            f.state = FileState::Refused {
                text: "KSeF nie podał statusu faktury — sprawdź ją na liście faktur sprzedaży."
                    .into(),
                details: None,
            };
        }
    }
    j.running = false;
    drop(j);
    drop(dir);
}

/// The body limit of the sending form (many small invoice files).
pub fn sales_body_limit(max_upload: usize) -> usize {
    max_upload.saturating_mul(16).saturating_add(64 * 1024)
}

// ---------------------------------------------------------------------------------------------
// Progress
// ---------------------------------------------------------------------------------------------

/// One file on the progress page.
pub struct JobRow {
    pub name: String,
    /// `pending`, `accepted`, `refused`.
    pub state: &'static str,
    pub ksef_number: String,
    pub register_id: Option<i64>,
    pub text: String,
    pub details: Option<String>,
}

#[derive(Template)]
#[template(path = "sales_job.html")]
pub struct SalesJobPage {
    pub l: Layout,
    pub id: String,
    pub running: bool,
    pub batch: bool,
    /// Why the sending is slow or went in a batch session.
    pub mode_note: Option<String>,
    pub rows: Vec<JobRow>,
    pub accepted: usize,
    pub refused: usize,
    pub pending: usize,
    pub job_error: Option<Notice>,
    /// The job's KSeF sessions (each has its UPO), once the job has finished.
    pub sessions: Vec<String>,
}

fn job_of(sh: &Shared, ws: &WebSession, id: &str) -> Option<Arc<std::sync::Mutex<SalesJob>>> {
    let job = sh.sales_jobs.get(id)?;
    let owner_ok = lock(&job).owner == ws.user.name().to_lowercase();
    owner_ok.then_some(job)
}

async fn no_job(sh: &Shared, ws: &mut WebSession) -> Response {
    ws.error =
        Some("Nie ma takiej wysyłki (mogła wygasnąć) — zobacz listę faktur sprzedaży.".into());
    sales_page(sh, ws, 1, StatusCode::NOT_FOUND).await
}

/// `GET /faktury/sprzedazy/wysylka/{id}`.
pub async fn sales_job(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    UrlPath(id): UrlPath<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let Some(job) = job_of(&sh, &ws, &id) else {
        return no_job(&sh, &mut ws).await;
    };
    let page = {
        let j = lock(&job);
        let rows: Vec<JobRow> = j
            .files
            .iter()
            .map(|f| match &f.state {
                FileState::Pending => JobRow {
                    name: f.name.clone(),
                    state: "pending",
                    ksef_number: String::new(),
                    register_id: None,
                    text: "wysyłanie…".into(),
                    details: None,
                },
                FileState::Accepted {
                    ksef_number,
                    register_id,
                } => JobRow {
                    name: f.name.clone(),
                    state: "accepted",
                    ksef_number: ksef_number.clone(),
                    register_id: *register_id,
                    text: "przyjęta".into(),
                    details: None,
                },
                FileState::Refused { text, details } => JobRow {
                    name: f.name.clone(),
                    state: "refused",
                    ksef_number: String::new(),
                    register_id: None,
                    text: text.clone(),
                    details: details.clone(),
                },
            })
            .collect();
        let count = |s: &str| rows.iter().filter(|r| r.state == s).count();
        (
            (j.running, j.batch, j.mode_note.clone()),
            count("accepted"),
            count("refused"),
            count("pending"),
            j.error.clone(),
            if j.running {
                Vec::new()
            } else {
                j.sessions.clone()
            },
            rows,
        )
    };
    let ((running, batch, mode_note), accepted, refused, pending, job_error, sessions, rows) = page;
    let l = layout(
        &sh,
        &mut ws,
        "Wysyłka faktur sprzedaży",
        "sales",
        "/faktury/sprzedazy",
    )
    .await;
    render(&SalesJobPage {
        l,
        id,
        running,
        batch,
        mode_note,
        rows,
        accepted,
        refused,
        pending,
        job_error,
        sessions,
    })
}

fn xml_download(name: &str, xml: Vec<u8>) -> Response {
    let safe: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' {
                c
            } else {
                '_'
            }
        })
        .collect();
    (
        [
            (header::CONTENT_TYPE, "application/xml".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"UPO-{safe}.xml\""),
            ),
        ],
        xml,
    )
        .into_response()
}

/// The note on the job page about the session kind, when sending online is slow at the
/// context's limits (batch chosen instead, or online because a form cannot go in a batch);
/// `None` otherwise.
fn polish_mode(d: &invoices::ModeDecision) -> Option<String> {
    if !d.online_is_slow() {
        return None;
    }
    let l = d.invoice_send;
    let whose = match d.limits_source {
        ksef_client::LimitsSource::Context => "limitach API tego kontekstu",
        ksef_client::LimitsSource::Documented => {
            "udokumentowanych limitach API KSeF (limitów kontekstu nie udało się odczytać)"
        }
    };
    let estimate = format!(
        "ok. {} przy {whose} (invoiceSend: {}/s, {}/min, {}/godz.)",
        polish_duration(d.online_estimate),
        l.per_second,
        l.per_minute,
        l.per_hour
    );
    let n = d.invoices;
    match d.reason {
        invoices::ModeReason::TooSlowOnline => Some(format!(
            "Wysyłka {n} faktur w sesji interaktywnej trwałaby {estimate}, dlatego faktury idą \
             w jednej sesji wsadowej."
        )),
        invoices::ModeReason::NotBatchable { form } => Some(format!(
            "Wysyłka {n} faktur w sesji interaktywnej potrwa {estimate}; faktur {form} nie można \
             wysłać w sesji wsadowej."
        )),
        invoices::ModeReason::Forced | invoices::ModeReason::FitsOnline => None,
    }
}

/// `5 godz. 3 min`, `4 min 3 s`, `40 s` (seconds rounded up).
fn polish_duration(d: std::time::Duration) -> String {
    let secs = d.as_secs() + u64::from(d.subsec_nanos() > 0);
    let (h, m, s) = (secs / 3600, secs / 60 % 60, secs % 60);
    match (h, m) {
        (0, 0) => format!("{s} s"),
        (0, _) if s == 0 => format!("{m} min"),
        (0, _) => format!("{m} min {s} s"),
        _ if m == 0 => format!("{h} godz."),
        _ => format!("{h} godz. {m} min"),
    }
}

/// `?sesja=N` of the session UPO download.
#[derive(serde::Deserialize)]
pub struct SessionChoice {
    /// Which of the job's sessions (from 0; default the first). Text, so that a hostile value
    /// gets the page's Polish answer rather than axum's English 400.
    #[serde(default)]
    sesja: Option<String>,
}

/// `GET /faktury/sprzedazy/wysylka/{id}/upo[?sesja=N]`: the UPO of one of the job's sessions
/// (more than 10 000 invoices, or several form codes, make several sessions).
pub async fn sales_session_upo(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    UrlPath(id): UrlPath<String>,
    Query(choice): Query<SessionChoice>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let Some(job) = job_of(&sh, &ws, &id) else {
        return no_job(&sh, &mut ws).await;
    };
    let index = match choice.sesja.as_deref().map(str::trim) {
        None | Some("") => 0,
        Some(n) => n.parse().unwrap_or(usize::MAX),
    };
    let Some(session_ref) = lock(&job).sessions.get(index).cloned() else {
        ws.error = Some("Ta wysyłka nie ma sesji KSeF z UPO.".into());
        return see_other(&format!("/faktury/sprzedazy/wysylka/{id}"));
    };
    if let Err(n) = ensure_session(&sh, &mut ws).await {
        ws.error = Some(n);
        return see_other(&format!("/faktury/sprzedazy/wysylka/{id}"));
    }
    match invoices::upo(&mut ws.app, &session_ref, None).await {
        Ok(docs) if !docs.is_empty() => {
            let xml = docs.into_iter().flat_map(|d| d.xml).collect();
            xml_download(&session_ref, xml)
        }
        Ok(_) => {
            ws.error = Some("KSeF nie wystawił jeszcze UPO sesji — spróbuj za chwilę.".into());
            see_other(&format!("/faktury/sprzedazy/wysylka/{id}"))
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            see_other(&format!("/faktury/sprzedazy/wysylka/{id}"))
        }
    }
}

/// `GET /faktury/sprzedazy/upo/{id}`: an invoice's UPO — from the register, else from KSeF
/// (then kept in the register).
pub async fn sales_upo(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    UrlPath(id): UrlPath<i64>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let back = "/faktury/sprzedazy";
    let Some(firm) = sh.current_firm(&mut ws).await else {
        ws.error = Some("Wybierz firmę (u góry strony).".into());
        return see_other(back);
    };
    let Ok(register) = register_of(&sh, &ws, &firm).await else {
        ws.error = Some("Nie można otworzyć rejestru faktur firmy.".into());
        return see_other(back);
    };
    let key = InvoiceKey::Id(id);
    let inv = match sh.store.invoice(register, &key).await {
        Ok(Some((inv, _))) if inv.record.direction == Direction::Sale => inv,
        Ok(_) => {
            ws.error = Some("Nie ma takiej faktury sprzedaży w rejestrze bieżącej firmy.".into());
            return see_other(back);
        }
        Err(e) => {
            ws.error = Some(crate::errors::polish_store(&e).into());
            return see_other(back);
        }
    };
    let name = inv
        .record
        .ksef_number
        .clone()
        .unwrap_or_else(|| inv.id.to_string());
    if let Ok(Some(xml)) = sh.store.upo(register, &key).await {
        return xml_download(&name, xml);
    }
    let (Some(session_ref), Some(number)) = (
        inv.record.session_reference.clone(),
        inv.record.ksef_number.clone(),
    ) else {
        ws.error = Some(
            "Ta faktura nie ma UPO do pobrania (nie została przyjęta w sesji tego programu)."
                .into(),
        );
        return see_other(back);
    };
    if let Err(n) = ensure_session(&sh, &mut ws).await {
        ws.error = Some(n);
        return see_other(back);
    }
    match invoices::upo(
        &mut ws.app,
        &session_ref,
        Some(InvoiceRef::KsefNumber(number)),
    )
    .await
    {
        Ok(mut docs) if !docs.is_empty() => xml_download(&name, docs.remove(0).xml),
        Ok(_) => {
            ws.error = Some("KSeF nie wystawił jeszcze UPO — spróbuj za chwilę.".into());
            see_other(back)
        }
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            see_other(back)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_dates_are_polish() {
        assert_eq!(money(123456, "PLN"), "1 234,56 zł");
        assert_eq!(money(-5, "PLN"), "-0,05 zł");
        assert_eq!(money(100000000, "EUR"), "1 000 000,00 EUR");
        let d = time::Date::from_calendar_date(2026, time::Month::March, 5).unwrap();
        assert_eq!(date_pl(d), "05.03.2026");
    }

    #[test]
    fn failed_checks_say_what_to_fix() {
        let dir = PrivateDir::create().unwrap();
        let text = dir.0.join("a.xml");
        std::fs::write(&text, "zwykły tekst").unwrap();
        let (msg, _) = polish_file_check(&invoices::check_file(&text, None, true));
        assert!(msg.starts_with("To nie jest"), "{msg}");
        let other = dir.0.join("b.xml");
        std::fs::write(&other, "<?xml version=\"1.0\"?><a/>").unwrap();
        let (msg, _) = polish_file_check(&invoices::check_file(&other, None, true));
        assert!(msg.starts_with("To nie jest plik faktury KSeF"), "{msg}");
    }
}
