//! Faktury offline: invoices issued while KSeF is not used (digest §13) — recorded in the
//! firm's register with their mode and sending deadline (overdue ones flagged), KOD II made
//! with the firm's KSeF Offline certificate, sent later with `offlineMode`, and the technical
//! correction of one KSeF rejected. The rules live in `ksef_program::offline`; this screen
//! only collects the input and shows the outcome in Polish.

use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, Path as UrlPath, State};
use axum::http::StatusCode;
use axum::response::Response;
use ksef_program::offline::{
    self, CorrectionRequest, IssueRequest, OfflineModeKind, OfflineSendRequest,
};
use ksef_store::{Direction, InvoiceFilter, InvoiceKey, InvoiceStatus};

use super::purchases::{date_pl, money, register_of};
use super::sales::{PrivateDir, display_name, ensure_session};
use super::{human_size, lock_or_return, see_other};
use crate::forms::Upload;
use crate::pages::{Layout, firm_label, layout, render_status};
use crate::state::{Notice, SessionHandle, Shared, SharedState, WebSession};

/// Rejected invoices looked at for the correction list (the newest first).
const LIST_SIZE: u32 = 500;
/// What to do when no firm is chosen.
const NO_FIRM: &str = "Wybierz firmę (u góry strony).";
/// Files one form may carry (a firm issues few invoices offline at a time).
const MAX_FILES: usize = 1000;

/// One invoice issued offline.
pub struct OfflineRow {
    pub id: i64,
    pub invoice_number: String,
    pub issue_date: String,
    pub buyer: String,
    pub gross: String,
    /// Polish name of the mode.
    pub mode: String,
    /// DD.MM.RRRR.
    pub deadline: String,
    pub overdue: bool,
    pub has_kod2: bool,
    /// KSeF's reason, for rejected ones.
    pub reason: String,
}

#[derive(Template)]
#[template(path = "offline.html")]
pub struct OfflinePage {
    pub l: Layout,
    pub firm: Option<String>,
    pub max_upload: String,
    /// (value, Polish label, needs an end date).
    pub modes: Vec<(&'static str, &'static str, bool)>,
    pub pending: Vec<OfflineRow>,
    pub overdue: usize,
    pub rejected: Vec<OfflineRow>,
}

fn row(i: &ksef_store::RegisteredInvoice, today: time::Date) -> OfflineRow {
    let r = &i.record;
    let issue = i.offline_issue.as_ref();
    OfflineRow {
        id: i.id,
        invoice_number: r.invoice_number.clone(),
        issue_date: date_pl(r.issue_date),
        buyer: r
            .buyer_name
            .clone()
            .or_else(|| r.buyer_id.clone())
            .unwrap_or_default(),
        gross: r.gross.map(|g| money(g, &r.currency)).unwrap_or_default(),
        mode: issue
            .map(|o| o.mode.polish_name().to_string())
            .unwrap_or_else(|| "offline".into()),
        deadline: issue.map(|o| date_pl(o.send_deadline)).unwrap_or_default(),
        overdue: r.status == InvoiceStatus::Issued && offline::is_overdue(i, today),
        has_kod2: i.kod2_link.is_some(),
        reason: r
            .status_description
            .clone()
            .map(|d| match r.status_code {
                Some(c) => format!("{d} (kod {c})"),
                None => d,
            })
            .unwrap_or_default(),
    }
}

async fn offline_page(sh: &Shared, ws: &mut WebSession, status: StatusCode) -> Response {
    let firm = sh.current_firm(ws).await;
    let today = offline::today();
    let mut pending = Vec::new();
    let mut rejected = Vec::new();
    if let Some(firm) = &firm
        && let Ok(id) = register_of(sh, ws, firm).await
    {
        // Every waiting one, the nearest deadline first.
        match sh.store.pending_offline(id).await {
            Ok(all) => pending.extend(all.iter().map(|i| row(i, today))),
            Err(e) => ws.error = Some(crate::errors::polish_store(&e).into()),
        }
        // Rejected offline originals a technical correction may still fix: not corrections
        // themselves, not refused for permissions (410: not technical), none corrected yet.
        let refused = InvoiceFilter {
            direction: Some(Direction::Sale),
            status: Some(InvoiceStatus::Rejected),
            ..InvoiceFilter::new(id)
        };
        match sh.store.list_invoices(&refused, 1, LIST_SIZE).await {
            Ok(p) => {
                for i in p.invoices.iter().filter(|i| {
                    i.record.offline && i.corrects.is_none() && i.record.status_code != Some(410)
                }) {
                    let corrected = sh
                        .store
                        .corrections_of(id, i.id)
                        .await
                        .map(|c| c.iter().any(|c| c.record.status != InvoiceStatus::Rejected))
                        .unwrap_or(false);
                    if !corrected {
                        rejected.push(row(i, today));
                    }
                }
            }
            Err(e) => ws.error = Some(crate::errors::polish_store(&e).into()),
        }
    }
    let overdue = pending.iter().filter(|r| r.overdue).count();
    let modes = [
        OfflineModeKind::Offline24,
        OfflineModeKind::Unavailability,
        OfflineModeKind::Emergency,
    ]
    .into_iter()
    .map(|k| (k.as_str(), mode_label(k), k.needs_end_date()))
    .collect();
    let l = layout(sh, ws, "Faktury offline", "offline", "/faktury/offline").await;
    render_status(
        status,
        &OfflinePage {
            l,
            firm: firm.as_deref().map(firm_label),
            max_upload: human_size(sh.max_upload_bytes),
            modes,
            pending,
            overdue,
            rejected,
        },
    )
}

/// The choice in the form: the mode's Polish name and when it applies.
fn mode_label(k: OfflineModeKind) -> &'static str {
    match k {
        OfflineModeKind::Offline24 => {
            "offline24 — z wyboru podatnika (wysyłka do następnego dnia roboczego)"
        }
        OfflineModeKind::Unavailability => {
            "niedostępność KSeF ogłoszona przez MF (wysyłka do następnego dnia roboczego po jej zakończeniu)"
        }
        OfflineModeKind::Emergency => {
            "tryb awaryjny ogłoszony przez MF (wysyłka w ciągu 7 dni roboczych po jego zakończeniu)"
        }
    }
}

/// `GET /faktury/offline`.
pub async fn offline_list(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    offline_page(&sh, &mut ws, StatusCode::OK).await
}

/// Reads a multipart form (CSRF checked, sizes capped); `Err` = the page to answer with.
async fn read_form(
    sh: &Shared,
    ws: &mut WebSession,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Result<Upload, Response> {
    let Ok(mp) = mp else {
        return Err(crate::state::csrf_forbidden());
    };
    let up = match Upload::read(mp, sh.max_upload_bytes).await {
        Ok(up) => up,
        Err(_) => {
            ws.error = Some(
                format!(
                    "Przesłane pliki są za duże (każdy plik do {}).",
                    human_size(sh.max_upload_bytes)
                )
                .into(),
            );
            return Err(offline_page(sh, ws, StatusCode::PAYLOAD_TOO_LARGE).await);
        }
    };
    if !ws.csrf_ok(up.bytes("csrf").and_then(|b| std::str::from_utf8(b).ok())) {
        return Err(crate::state::csrf_forbidden());
    }
    if up.too_large.is_some() {
        ws.error = Some(
            format!(
                "Plik jest za duży: dopuszczalny rozmiar pliku faktury to {}. Niczego nie zapisano.",
                human_size(sh.max_upload_bytes)
            )
            .into(),
        );
        return Err(offline_page(sh, ws, StatusCode::PAYLOAD_TOO_LARGE).await);
    }
    Ok(up)
}

/// Writes the uploaded `files` into a private directory, each under its own name in a
/// subdirectory of its own (so messages name the file as the user knows it): the directory,
/// the paths, the names.
fn save_files(
    files: &[(Option<&str>, &[u8])],
) -> Result<(PrivateDir, Vec<std::path::PathBuf>, Vec<String>), Notice> {
    let failed = |e: std::io::Error| Notice {
        text: "Nie można zapisać przesłanych plików w katalogu tymczasowym.".into(),
        details: Some(e.to_string()),
    };
    let dir = PrivateDir::create().map_err(failed)?;
    let mut paths = Vec::with_capacity(files.len());
    let mut names = Vec::with_capacity(files.len());
    for (i, (name, bytes)) in files.iter().enumerate() {
        let name = display_name(*name, i);
        let sub = dir.path().join(format!("{i:05}"));
        std::fs::create_dir(&sub).map_err(failed)?;
        // The name without anything a file system could read as a path.
        let safe: String = name
            .chars()
            .map(|c| {
                if c == '/' || c == '\\' || c == '\0' {
                    '_'
                } else {
                    c
                }
            })
            .collect();
        let safe = if safe.starts_with('.') {
            format!("_{safe}")
        } else {
            safe
        };
        let path = sub.join(safe);
        std::fs::write(&path, bytes).map_err(failed)?;
        paths.push(path);
        names.push(name);
    }
    Ok((dir, paths, names))
}

/// `POST /faktury/offline/wystaw`: files issued offline in the chosen mode; with a KSeF
/// Offline certificate, KOD II for each.
pub async fn offline_issue(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let up = match read_form(&sh, &mut ws, mp).await {
        Ok(up) => up,
        Err(page) => return page,
    };
    let Some(firm) = sh.current_firm(&mut ws).await else {
        ws.error = Some(NO_FIRM.into());
        return offline_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
    };
    let files = up.files("files");
    if files.is_empty() {
        ws.error = Some("Wybierz co najmniej jeden plik XML faktury.".into());
        return offline_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    if files.len() > MAX_FILES {
        ws.error = Some(
            format!(
                "Wybrano {} plików — naraz można zapisać najwyżej {MAX_FILES}. Niczego nie zapisano.",
                files.len()
            )
            .into(),
        );
        return offline_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
    }
    let kind = up.text("mode");
    // The end date matters only for the announced modes (the field stays on the form).
    let needs_end = kind
        .parse::<OfflineModeKind>()
        .map(OfflineModeKind::needs_end_date)
        .unwrap_or(true);
    let ends = up.text("ends");
    let ends = Some(ends.trim()).filter(|e| needs_end && !e.is_empty());
    let mode = match offline::parse_mode(&kind, ends.map(iso_day).as_deref()) {
        Ok(m) => m,
        Err(e) => {
            ws.error = Some(Notice::from(&e));
            return offline_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    // The certificate first: a wrong password must not leave invoices without their KOD II.
    let credential = match up.bytes("certificate").filter(|b| !b.is_empty()) {
        None => None,
        Some(bytes) => {
            let password = up.secret("password");
            match offline::offline_credential(bytes, None, &password) {
                Ok(c) => Some(c),
                Err(e) => {
                    ws.error = Some(Notice::from(&e));
                    return offline_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
                }
            }
        }
    };
    let (dir, paths, names) = match save_files(&files) {
        Ok(saved) => saved,
        Err(n) => {
            ws.error = Some(n);
            return offline_page(&sh, &mut ws, StatusCode::INTERNAL_SERVER_ERROR).await;
        }
    };
    let mut req = IssueRequest::new(paths.clone(), mode);
    req.firm = Some(firm.clone());
    let issued = match offline::issue_offline(&mut ws.app, req).await {
        Ok(issued) => issued,
        Err(e) => {
            let mut n = Notice::from(&e);
            if let ksef_program::ProgramError::LocalCheckFailed { failed, .. } = &e {
                let bad: Vec<String> = failed
                    .iter()
                    .filter_map(|f| paths.iter().position(|p| *p == f.file))
                    .map(|i| format!("„{}”", names[i]))
                    .collect();
                n.text = format!(
                    "Nie przeszły kontroli lokalnej (XML, schemat XSD): {} — popraw je w programie do fakturowania. Niczego nie zapisano.",
                    bad.join(", ")
                );
            }
            ws.error = Some(n);
            return offline_page(&sh, &mut ws, StatusCode::UNPROCESSABLE_ENTITY).await;
        }
    };
    drop(dir);
    let mut kod2 = 0;
    if let Some(cred) = &credential {
        for i in &issued {
            match offline::make_kod2_link(&mut ws.app, Some(&firm), &InvoiceKey::Id(i.id), cred)
                .await
            {
                Ok(_) => kod2 += 1,
                Err(e) => {
                    let mut n = Notice::from(&e);
                    n.text = format!("Faktura {}: {}", i.invoice_number, n.text);
                    ws.error = Some(n);
                    break;
                }
            }
        }
    }
    let deadlines: Vec<String> = issued
        .iter()
        .take(10)
        .map(|i| {
            format!(
                "{} — wyślij do {}{}",
                i.invoice_number,
                date_pl(i.send_deadline),
                if i.already_issued {
                    " (już była w rejestrze)"
                } else {
                    ""
                }
            )
        })
        .collect();
    let more = issued.len().saturating_sub(deadlines.len());
    ws.flash = Some(format!(
        "Zapisano jako wystawione offline ({}): {}{}.{}",
        mode.polish_name(),
        deadlines.join("; "),
        if more > 0 {
            format!(" i {more} innych (terminy na liście)")
        } else {
            String::new()
        },
        if kod2 > 0 {
            format!(" KOD II utworzony dla {kod2} z nich.")
        } else {
            String::new()
        }
    ));
    see_other("/faktury/offline")
}

/// `YYYY-MM-DD` from what people type (`DD.MM.RRRR` or already `RRRR-MM-DD`).
fn iso_day(s: &str) -> String {
    let parts: Vec<&str> = s.split('.').collect();
    match parts.as_slice() {
        [d, m, y] if y.len() == 4 => format!("{y}-{m:0>2}-{d:0>2}"),
        _ => s.to_string(),
    }
}

/// `POST /faktury/offline/wyslij`: every waiting invoice, with `offlineMode`.
pub async fn offline_send(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    if let Err(page) = read_form(&sh, &mut ws, mp).await {
        return page;
    }
    let Some(firm) = sh.current_firm(&mut ws).await else {
        ws.error = Some(NO_FIRM.into());
        return see_other("/faktury/offline");
    };
    if let Err(n) = ensure_session(&sh, &mut ws).await {
        ws.error = Some(n);
        return see_other("/faktury/offline");
    }
    let mut req = OfflineSendRequest::pending();
    req.firm = Some(firm);
    match offline::send_offline(&mut ws.app, req, &mut |_| {}).await {
        Ok(t) => {
            ws.flash = Some(format!(
                "Wysłano do KSeF w trybie offline: przyjęte {}, odrzucone {}{}.",
                t.accepted,
                t.failed,
                if t.held_back > 0 {
                    format!(
                        ", wstrzymane {} (data wystawienia jest późniejsza niż dziś)",
                        t.held_back
                    )
                } else {
                    String::new()
                }
            ))
        }
        Err(e) => ws.error = Some(Notice::from(&e)),
    }
    see_other("/faktury/offline")
}

/// `POST /faktury/offline/korekta/{id}`: the technical correction of a rejected offline
/// invoice (the corrected file, sent online with `hashOfCorrectedInvoice`).
pub async fn offline_correct(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    UrlPath(id): UrlPath<i64>,
    mp: Result<Multipart, axum::extract::multipart::MultipartRejection>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let up = match read_form(&sh, &mut ws, mp).await {
        Ok(up) => up,
        Err(page) => return page,
    };
    let Some(firm) = sh.current_firm(&mut ws).await else {
        ws.error = Some(NO_FIRM.into());
        return see_other("/faktury/offline");
    };
    let files = up.files("file");
    if files.len() != 1 {
        ws.error = Some("Wybierz jeden plik XML poprawionej faktury.".into());
        return see_other("/faktury/offline");
    }
    let (dir, paths, _) = match save_files(&files) {
        Ok(saved) => saved,
        Err(n) => {
            ws.error = Some(n);
            return see_other("/faktury/offline");
        }
    };
    if let Err(n) = ensure_session(&sh, &mut ws).await {
        ws.error = Some(n);
        return see_other("/faktury/offline");
    }
    let Some(file) = paths.into_iter().next() else {
        return see_other("/faktury/offline");
    };
    let mut req = CorrectionRequest::new(InvoiceKey::Id(id), file);
    req.firm = Some(firm);
    match offline::correct_technically(&mut ws.app, req).await {
        Ok(c) if c.accepted() => {
            ws.flash = Some(format!(
                "Korekta techniczna faktury {} przyjęta: numer KSeF {}.",
                c.invoice_number,
                c.outcome.ksef_number.as_deref().unwrap_or("—")
            ))
        }
        Ok(c) if c.outcome.status_code.is_none_or(|code| code < 300) => {
            ws.flash = Some(format!(
                "Korekta techniczna faktury {} wysłana; KSeF jeszcze jej nie rozpatrzył — jej status pokaże lista faktur sprzedaży.",
                c.invoice_number
            ))
        }
        Ok(c) => {
            ws.error = Some(Notice {
                text: format!(
                    "KSeF odrzucił korektę techniczną faktury {}: {} — popraw plik i spróbuj ponownie.",
                    c.invoice_number,
                    c.outcome.status_description.trim()
                ),
                details: Some(c.outcome.details.join("\n")).filter(|d| !d.trim().is_empty()),
            })
        }
        Err(e) => ws.error = Some(Notice::from(&e)),
    }
    drop(dir);
    see_other("/faktury/offline")
}
