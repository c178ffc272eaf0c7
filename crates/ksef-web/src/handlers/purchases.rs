//! Faktury zakupu: the current firm's purchases from the invoice register (filters, pages of
//! 50, totals per currency) and "Pobierz z KSeF" — the incremental sync as a background task,
//! one per firm, whose progress page survives a reload.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Extension;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::Response;
use ksef_client::invoicing_flows::Progress;
use ksef_store::{Direction, FirmId, InvoiceFilter};
use time::OffsetDateTime;

use super::{Ws, lock_or_return, see_other};
use crate::forms::Fields;
use crate::pages::*;
use crate::state::{Notice, SessionHandle, Shared, SharedState};

/// Invoices per page of the list.
pub const PAGE_SIZE: u32 = 50;

/// Where one firm's "Pobierz z KSeF" is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    Running,
    Done,
    Failed,
}

/// One firm's last (or current) "Pobierz z KSeF".
#[derive(Debug, Clone)]
pub struct SyncJob {
    pub state: SyncState,
    /// Invoices of the current export package written so far, and in it.
    pub done: u64,
    pub total: u64,
    /// Invoices new to the register (when done).
    pub registered: u64,
    pub started: OffsetDateTime,
    pub finished: Option<OffsetDateTime>,
    pub error: Option<Notice>,
}

/// The sync jobs by `API|firm`.
#[derive(Default)]
pub struct SyncJobs(Mutex<HashMap<String, SyncJob>>);

impl SyncJobs {
    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, SyncJob>> {
        self.0
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub fn get(&self, key: &str) -> Option<SyncJob> {
        self.lock().get(key).cloned()
    }

    /// Starts a job unless one runs; returns whether it started.
    fn start(&self, key: &str) -> bool {
        let mut map = self.lock();
        if map.get(key).is_some_and(|j| j.state == SyncState::Running) {
            return false;
        }
        map.insert(
            key.to_string(),
            SyncJob {
                state: SyncState::Running,
                done: 0,
                total: 0,
                registered: 0,
                started: OffsetDateTime::now_utc(),
                finished: None,
                error: None,
            },
        );
        true
    }

    fn update(&self, key: &str, f: impl FnOnce(&mut SyncJob)) {
        if let Some(j) = self.lock().get_mut(key) {
            f(j);
        }
    }
}

fn job_key(base: &str, firm: &str) -> String {
    format!("{base}|{firm}")
}

/// `1 234,56 zł` (PLN) or `1 234,56 EUR`.
pub(crate) fn money(grosze: i64, currency: &str) -> String {
    let sign = if grosze < 0 { "-" } else { "" };
    let a = grosze.unsigned_abs();
    let whole = (a / 100).to_string();
    let mut grouped = String::new();
    for (i, c) in whole.chars().enumerate() {
        if i > 0 && (whole.len() - i).is_multiple_of(3) {
            grouped.push(' ');
        }
        grouped.push(c);
    }
    let unit = match currency {
        "" | "PLN" => "zł",
        other => other,
    };
    format!("{sign}{grouped},{:02} {unit}", a % 100)
}

/// `DD.MM.RRRR`.
pub(crate) fn date_pl(d: time::Date) -> String {
    format!("{:02}.{:02}.{:04}", d.day(), u8::from(d.month()), d.year())
}

/// `RRRR-MM-DD` (date inputs) or `DD.MM.RRRR`.
fn parse_date(s: &str) -> Option<time::Date> {
    let s = s.trim();
    let (y, m, d) = if let Some((d, rest)) = s.split_once('.') {
        let (m, y) = rest.split_once('.')?;
        (y, m, d)
    } else {
        let mut it = s.splitn(3, '-');
        (it.next()?, it.next()?, it.next()?)
    };
    let month = time::Month::try_from(m.parse::<u8>().ok()?).ok()?;
    time::Date::from_calendar_date(y.parse().ok()?, month, d.parse().ok()?).ok()
}

/// The current firm, or a Polish hint (and `None`).
pub(crate) fn firm_or_hint(ws: &mut Ws<'_>) -> Option<String> {
    if ws.firm.is_none() {
        ws.error = Some(
            "Nie wybrano firmy. Wybierz firmę w nagłówku (lub zapisz token KSeF firmy na stronie Start)."
                .into(),
        );
    }
    ws.firm.clone()
}

/// The register of `firm` on the session's API.
pub(crate) async fn register_of(
    sh: &Shared,
    ws: &crate::state::WebSession,
    firm: &str,
) -> Result<FirmId, Notice> {
    sh.store
        .register_of(&ws.app.settings.base_url, firm)
        .await
        .map_err(|e| Notice::from(&ksef_program::ProgramError::from(e)))
}

/// Makes sure the browser has a KSeF session in `firm`'s context: keeps one that is, else
/// opens one with the user's own token for the firm.
pub(crate) async fn ensure_firm_session(ws: &mut Ws<'_>, firm: &str) -> Result<(), Notice> {
    ws.firm_session(firm)
        .await
        .map(|_| ())
        .map_err(|e| Notice::from(&e))
}

/// One row of the purchases table.
pub struct PurchaseRow {
    pub id: i64,
    pub ksef_number: String,
    pub number: String,
    pub issue_date: String,
    pub seller_nip: String,
    pub seller_name: String,
    pub net: String,
    pub vat: String,
    pub gross: String,
}

/// Totals of one currency.
pub struct TotalRow {
    pub currency: String,
    pub count: u64,
    pub net: String,
    pub vat: String,
    pub gross: String,
}

impl TotalRow {
    /// A register total as the lists show it.
    pub fn of(t: &ksef_store::CurrencyTotals) -> TotalRow {
        TotalRow {
            currency: t.currency.clone(),
            count: t.count,
            net: money(t.net, &t.currency),
            vat: money(t.vat, &t.currency),
            gross: money(t.gross, &t.currency),
        }
    }

    /// `1 faktura`, `3 faktury`, `5 faktur`, `22 faktury` (Polish plural).
    pub fn invoices(&self) -> String {
        let n = self.count;
        let word = match (n % 10, n % 100) {
            _ if n == 1 => "faktura",
            (2..=4, r) if !(12..=14).contains(&r) => "faktury",
            _ => "faktur",
        };
        format!("{n} {word}")
    }
}

/// The filter form's values (as typed).
#[derive(Default)]
pub struct PurchaseFilter {
    pub od: String,
    pub r#do: String,
    pub nip: String,
    pub tekst: String,
    pub kwota_od: String,
    pub kwota_do: String,
}

impl PurchaseFilter {
    fn of(q: &Fields) -> Self {
        PurchaseFilter {
            od: q.text("od"),
            r#do: q.text("do"),
            nip: q.text("nip"),
            tekst: q.text("tekst"),
            kwota_od: q.text("kwota_od"),
            kwota_do: q.text("kwota_do"),
        }
    }

    /// No filter given.
    pub fn query_empty(&self) -> bool {
        self.query().is_empty()
    }

    /// The query string of these filters (for page links), `&`-joined, without `?`.
    fn query(&self) -> String {
        [
            ("od", &self.od),
            ("do", &self.r#do),
            ("nip", &self.nip),
            ("tekst", &self.tekst),
            ("kwota_od", &self.kwota_od),
            ("kwota_do", &self.kwota_do),
        ]
        .iter()
        .filter(|(_, v)| !v.is_empty())
        .map(|(k, v)| format!("{k}={}", url_encode(v)))
        .collect::<Vec<_>>()
        .join("&")
    }

    /// Applies the filters; Polish problems for the fields that cannot be read.
    fn apply(&self, f: &mut InvoiceFilter) -> Vec<String> {
        let mut problems = Vec::new();
        let mut date = |v: &str, what: &str| -> Option<time::Date> {
            if v.is_empty() {
                return None;
            }
            let d = parse_date(v);
            if d.is_none() {
                problems.push(format!(
                    "Nieprawidłowa data „{v}” ({what}): podaj datę w postaci DD.MM.RRRR."
                ));
            }
            d
        };
        f.from = date(&self.od, "od");
        f.to = date(&self.r#do, "do");
        let mut amount = |v: &str, what: &str| -> Option<i64> {
            if v.is_empty() {
                return None;
            }
            let g = ksef_program::register::parse_amount(
                ksef_program::Field::MinAmount,
                &v.replace(' ', ""),
            )
            .ok();
            if g.is_none() {
                problems.push(format!(
                    "Nieprawidłowa kwota „{v}” ({what}): podaj kwotę w postaci 1234,56."
                ));
            }
            g
        };
        f.min_gross = amount(&self.kwota_od, "kwota od");
        f.max_gross = amount(&self.kwota_do, "kwota do");
        if !self.nip.is_empty() {
            f.seller_nip = Some(self.nip.replace(['-', ' '], ""));
        }
        if !self.tekst.is_empty() {
            f.text = Some(self.tekst.clone());
        }
        problems
    }
}

fn url_encode(s: &str) -> String {
    let mut out = String::new();
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

/// `GET /faktury/zakupu`.
pub async fn purchases_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Query(q): Query<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let filter = PurchaseFilter::of(&q);
    let page_no: u32 = q.text("strona").parse().unwrap_or(1).max(1);
    let firm = firm_or_hint(&mut ws);
    let mut rows = Vec::new();
    let mut totals = Vec::new();
    let mut total = 0;
    let mut sync = None;
    if let Some(firm) = &firm {
        sync = sh
            .syncs
            .get(&job_key(&ws.app.settings.base_url, firm))
            .map(|j| j.state == SyncState::Running);
        match register_of(&sh, &ws, firm).await {
            Ok(id) => {
                let mut f = InvoiceFilter {
                    direction: Some(Direction::Purchase),
                    ..InvoiceFilter::new(id)
                };
                let problems = filter.apply(&mut f);
                if !problems.is_empty() {
                    ws.error = Some(problems.join(" ").into());
                }
                match sh.store.list_invoices(&f, page_no, PAGE_SIZE).await {
                    Ok(p) => {
                        total = p.total;
                        rows = p
                            .invoices
                            .iter()
                            .map(|i| {
                                let r = &i.record;
                                let m = |g: Option<i64>| {
                                    g.map(|g| money(g, &r.currency)).unwrap_or("—".into())
                                };
                                PurchaseRow {
                                    id: i.id,
                                    ksef_number: r.ksef_number.clone().unwrap_or_default(),
                                    number: r.invoice_number.clone(),
                                    issue_date: date_pl(r.issue_date),
                                    seller_nip: r.seller_nip.clone(),
                                    seller_name: r.seller_name.clone().unwrap_or_default(),
                                    net: m(r.net),
                                    vat: m(r.vat),
                                    gross: m(r.gross),
                                }
                            })
                            .collect();
                        totals = p.totals.iter().map(TotalRow::of).collect();
                    }
                    Err(e) => ws.error = Some(Notice::from(&ksef_program::ProgramError::from(e))),
                }
            }
            Err(n) => ws.error = Some(n),
        }
    }
    let pages = (total as u32).div_ceil(PAGE_SIZE).max(1);
    let query = filter.query();
    let link = |p: u32| {
        if query.is_empty() {
            format!("/faktury/zakupu?strona={p}")
        } else {
            format!("/faktury/zakupu?{query}&strona={p}")
        }
    };
    let prev = (page_no > 1).then(|| link(page_no - 1));
    let next = (page_no < pages).then(|| link(page_no + 1));
    let l = layout(
        &sh,
        &mut ws,
        "Faktury zakupu",
        "purchases",
        "/faktury/zakupu",
    )
    .await;
    render(&PurchasesPage {
        l,
        firm: firm.as_deref().map(firm_label),
        filter,
        rows,
        totals,
        total,
        page: page_no,
        pages,
        prev,
        next,
        sync_running: sync == Some(true),
    })
}

/// `POST /faktury/zakupu/pobierz`: starts the firm's sync (unless one runs) and shows its
/// progress.
pub async fn purchases_sync(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Form(f): Form<Fields>,
) -> Response {
    let mut ws = lock_or_return!(sh, h, csrf = f.get("csrf"));
    let Some(firm) = firm_or_hint(&mut ws) else {
        return see_other("/faktury/zakupu");
    };
    let key = job_key(&ws.app.settings.base_url, &firm);
    if sh
        .syncs
        .get(&key)
        .is_some_and(|j| j.state == SyncState::Running)
    {
        return see_other("/faktury/zakupu/pobieranie");
    }
    if let Err(n) = ensure_firm_session(&mut ws, &firm).await {
        ws.error = Some(n);
        return see_other("/faktury/zakupu");
    }
    let Some(stored) = ws.app.current_session().await.ok().flatten() else {
        ws.error = Some("Nie udało się otworzyć sesji KSeF firmy.".into());
        return see_other("/faktury/zakupu");
    };
    // The sync runs on its own copy of the session, so the pages stay responsive.
    let mut app = ws.app.side_app();
    if let Err(e) = app.save_session(&stored).await {
        ws.error = Some(Notice::from(&e));
        return see_other("/faktury/zakupu");
    }
    if !sh.syncs.start(&key) {
        return see_other("/faktury/zakupu/pobieranie");
    }
    let jobs = sh.syncs.clone();
    let progress_jobs = jobs.clone();
    let progress_key = key.clone();
    let progress: ksef_client::invoicing_flows::ProgressFn = Arc::new(move |p| {
        if let Progress::Downloading { done, total } = p {
            progress_jobs.update(&progress_key, |j| {
                j.done = done;
                j.total = total;
            });
        }
    });
    tokio::spawn(async move {
        let result = ksef_program::invoices::sync(
            &mut app,
            None,
            Vec::new(),
            None,
            ksef_client::batch::Compression::Zip,
            progress,
        )
        .await;
        jobs.update(&key, |j| {
            j.finished = Some(OffsetDateTime::now_utc());
            match result {
                Ok(report) => {
                    j.state = SyncState::Done;
                    j.registered = report.subjects.iter().map(|s| s.registered).sum();
                }
                Err(e) => {
                    j.state = SyncState::Failed;
                    j.error = Some(Notice::from(&e));
                }
            }
        });
    });
    see_other("/faktury/zakupu/pobieranie")
}

/// `GET /faktury/zakupu/pobieranie`: the firm's sync as it stands (refreshes while it runs).
pub async fn purchases_sync_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let firm = firm_or_hint(&mut ws);
    let job = firm
        .as_deref()
        .and_then(|f| sh.syncs.get(&job_key(&ws.app.settings.base_url, f)));
    let (state, text) = match &job {
        None => (
            "none",
            "Pobieranie faktur z KSeF nie było jeszcze uruchamiane dla tej firmy.".to_string(),
        ),
        Some(j) if j.state == SyncState::Running => (
            "running",
            if j.total > 0 {
                format!(
                    "Trwa pobieranie faktur z KSeF: zapisano {} z {} faktur bieżącej paczki.",
                    j.done, j.total
                )
            } else {
                "Trwa pobieranie faktur z KSeF (KSeF przygotowuje paczkę)…".to_string()
            },
        ),
        Some(j) if j.state == SyncState::Done => (
            "done",
            format!(
                "Pobieranie zakończone: nowych faktur w rejestrze: {}.",
                j.registered
            ),
        ),
        Some(_) => (
            "failed",
            "Pobieranie przerwane. Naciśnij „Pobierz z KSeF” ponownie, aby kontynuować."
                .to_string(),
        ),
    };
    if let Some(e) = job.as_ref().and_then(|j| j.error.clone()) {
        ws.error = Some(e);
    }
    let started = job
        .as_ref()
        .map(|j| ksef_core::warsaw::format_datetime(j.started));
    let finished = job
        .as_ref()
        .and_then(|j| j.finished)
        .map(ksef_core::warsaw::format_datetime);
    let l = layout(
        &sh,
        &mut ws,
        "Pobieranie faktur z KSeF",
        "purchases",
        "/faktury/zakupu/pobieranie",
    )
    .await;
    render(&PurchasesSyncPage {
        l,
        firm: firm.as_deref().map(firm_label),
        state,
        text,
        started,
        finished,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn money_and_dates_are_polish() {
        assert_eq!(money(123456, "PLN"), "1 234,56 zł");
        assert_eq!(money(-5, "EUR"), "-0,05 EUR");
        assert_eq!(money(100000000, "PLN"), "1 000 000,00 zł");
        let d = time::Date::from_calendar_date(2025, time::Month::September, 1).unwrap();
        assert_eq!(date_pl(d), "01.09.2025");
        assert_eq!(parse_date("01.09.2025"), Some(d));
        assert_eq!(parse_date("2025-09-01"), Some(d));
        assert_eq!(parse_date("2025-13-01"), None);
    }
}

#[cfg(test)]
mod plural_tests {
    use super::TotalRow;

    #[test]
    fn invoice_counts_take_the_polish_plural() {
        let label = |count| {
            TotalRow {
                currency: "PLN".into(),
                count,
                net: String::new(),
                vat: String::new(),
                gross: String::new(),
            }
            .invoices()
        };
        for (n, want) in [
            (0, "0 faktur"),
            (1, "1 faktura"),
            (2, "2 faktury"),
            (4, "4 faktury"),
            (5, "5 faktur"),
            (11, "11 faktur"),
            (12, "12 faktur"),
            (14, "14 faktur"),
            (21, "21 faktur"),
            (22, "22 faktury"),
            (104, "104 faktury"),
            (112, "112 faktur"),
        ] {
            assert_eq!(label(n), want);
        }
    }
}
