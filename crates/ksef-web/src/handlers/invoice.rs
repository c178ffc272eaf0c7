//! Faktura: one invoice of the current firm's register as ksef-visual shows it, with the exact
//! XML and the UPO to download. Another firm's invoice is "not found".

use std::sync::LazyLock;

use axum::Extension;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use ksef_store::{InvoiceKey, RegisteredInvoice};

use super::purchases::{date_pl, firm_or_hint, money, register_of};
use super::{Ws, lock_or_return};
use crate::pages::*;
use crate::state::{Notice, SessionHandle, Shared, SharedState};

/// The fragment's scoped styles, served as `/static/faktura.css` (CSP: `style-src 'self'`).
static INVOICE_CSS: LazyLock<String> = LazyLock::new(|| {
    let template = include_str!("../../../ksef-visual/templates/invoice.html");
    style_of(template).unwrap_or_default().to_string()
});

fn style_of(html: &str) -> Option<&str> {
    let start = html.find("<style>")? + "<style>".len();
    let end = start + html[start..].find("</style>")?;
    Some(&html[start..end])
}

/// The fragment without its `<style>` block (the same rules come from `/static/faktura.css`).
fn without_style(html: &str) -> String {
    match (html.find("<style>"), html.find("</style>")) {
        (Some(s), Some(e)) if e > s => format!("{}{}", &html[..s], &html[e + "</style>".len()..]),
        _ => html.to_string(),
    }
}

pub async fn invoice_css() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
        ],
        INVOICE_CSS.as_str(),
    )
        .into_response()
}

/// Where the invoices' KOD I links point: the Ministry's QR host of TEST/DEMO/PRD, or — for
/// the local emulator (or any other API) — that server's own origin, whose `/invoice/…` pages
/// verify the code. `None` only for an unusable configured URL.
async fn link_base(sh: &Shared) -> Option<ksef_core::qr::LinkBase> {
    let env = sh.environment().await;
    ksef_core::qr::LinkBase::for_api_base_url(&sh.base_url_of(env)).ok()
}

/// The invoice `id` of the current firm with its file; `Err` = the page to answer with.
async fn find(
    sh: &Shared,
    ws: &mut Ws<'_>,
    id: &str,
) -> Result<(RegisteredInvoice, Vec<u8>), Option<Notice>> {
    let Some(firm) = firm_or_hint(ws) else {
        return Err(None);
    };
    let Ok(id) = id.parse::<i64>() else {
        return Err(None);
    };
    let reg = register_of(sh, ws, &firm).await.map_err(Some)?;
    match sh.store.invoice(reg, &InvoiceKey::Id(id)).await {
        Ok(Some(found)) => Ok(found),
        Ok(None) => Err(None),
        Err(e) => Err(Some(Notice::from(&ksef_program::ProgramError::from(e)))),
    }
}

/// The download name of an invoice's files: its KSeF number, else its number.
fn file_stem(inv: &RegisteredInvoice) -> String {
    let r = &inv.record;
    r.ksef_number
        .clone()
        .unwrap_or_else(|| r.invoice_number.clone())
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

/// `GET /faktury/{id}`.
pub async fn invoice_page(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(id): Path<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let (inv, bytes) = match find(&sh, &mut ws, &id).await {
        Ok(found) => found,
        Err(notice) => return not_found_page(&sh, &mut ws, notice, "/faktury/zakupu").await,
    };
    let r = &inv.record;
    let (fragment, view_error) = match ksef_visual::parse(&bytes) {
        Ok(view) => {
            // No QR section when the seller's NIP cannot be put in a link.
            let base = link_base(&sh).await;
            let kod_i_url = base
                .and_then(|b| view.kod_i(&b, &bytes).ok())
                .map(|l| l.url());
            let html = ksef_visual::html::render(
                &view,
                &ksef_visual::html::RenderOptions {
                    ksef_number: r.ksef_number.clone(),
                    kod_i_url,
                    qr_svg: None,
                    kod_ii_url: inv.kod2_link.clone(),
                },
            );
            (Some(without_style(&html)), None)
        }
        Err(e) => (
            None,
            Some(format!(
                "Nie można pokazać podglądu tej faktury ({e}). Pobierz plik XML."
            )),
        ),
    };
    let (back, section) = match (r.direction, r.status) {
        (ksef_store::Direction::Purchase, _) => ("/faktury/zakupu", "purchases"),
        (_, ksef_store::InvoiceStatus::Issued) => ("/faktury/offline", "offline"),
        (ksef_store::Direction::Sale, _) => ("/faktury/sprzedazy", "sales"),
        _ => ("/", "purchases"),
    };
    let offline = inv.offline_issue.as_ref().map(|o| {
        let pending = r.status == ksef_store::InvoiceStatus::Issued;
        OfflineNote {
            mode: o.mode.polish_name().to_string(),
            deadline: date_pl(o.send_deadline),
            pending,
            overdue: pending
                && ksef_program::offline::is_overdue(&inv, ksef_program::offline::today()),
        }
    });
    let title = format!("Faktura {}", r.invoice_number);
    let path = format!("/faktury/{}", inv.id);
    let page = InvoicePage {
        id: inv.id,
        number: r.invoice_number.clone(),
        ksef_number: r.ksef_number.clone(),
        issue_date: date_pl(r.issue_date),
        seller: format!(
            "{} (NIP {})",
            r.seller_name.clone().unwrap_or_default(),
            r.seller_nip
        ),
        gross: r.gross.map(|g| money(g, &r.currency)).unwrap_or("—".into()),
        has_upo: inv.has_upo,
        fragment,
        view_error,
        back: back.to_string(),
        offline,
        l: layout(&sh, &mut ws, &title, section, &path).await,
    };
    render(&page)
}

/// `GET /faktury/{id}/xml`: the invoice file exactly as stored.
pub async fn invoice_xml(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(id): Path<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    match find(&sh, &mut ws, &id).await {
        Ok((inv, bytes)) => download(&format!("{}.xml", file_stem(&inv)), bytes),
        Err(notice) => not_found_page(&sh, &mut ws, notice, "/faktury/zakupu").await,
    }
}

/// `GET /faktury/{id}/pdf`: the visualisation as PDF (A4, KOD I with the KSeF number).
pub async fn invoice_pdf(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(id): Path<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let (inv, bytes) = match find(&sh, &mut ws, &id).await {
        Ok(found) => found,
        Err(notice) => return not_found_page(&sh, &mut ws, notice, "/faktury/zakupu").await,
    };
    let base = link_base(&sh).await;
    let rendered = ksef_visual::parse(&bytes)
        .map_err(|e| e.to_string())
        .and_then(|view| {
            let options = ksef_visual::html::RenderOptions {
                ksef_number: inv.record.ksef_number.clone(),
                kod_i_url: base
                    .as_ref()
                    .and_then(|b| view.kod_i(b, &bytes).ok())
                    .map(|l| l.url()),
                qr_svg: None,
                kod_ii_url: inv.kod2_link.clone(),
            };
            ksef_visual::pdf::render(&view, &options).map_err(|e| e.to_string())
        });
    match rendered {
        Ok(pdf) => (
            StatusCode::OK,
            [
                (header::CONTENT_TYPE, "application/pdf".to_string()),
                (
                    header::CONTENT_DISPOSITION,
                    format!("attachment; filename=\"{}.pdf\"", file_stem(&inv)),
                ),
            ],
            pdf,
        )
            .into_response(),
        Err(detail) => {
            ws.error = Some(Notice {
                text: "Nie można utworzyć PDF tej faktury — pobierz plik XML.".into(),
                details: Some(detail),
            });
            crate::handlers::see_other(&format!("/faktury/{}", inv.id))
        }
    }
}

/// `GET /faktury/{id}/upo`: the invoice's UPO, if stored.
pub async fn invoice_upo(
    State(sh): State<SharedState>,
    Extension(h): Extension<SessionHandle>,
    Path(id): Path<String>,
) -> Response {
    let mut ws = lock_or_return!(sh, h);
    let (inv, _) = match find(&sh, &mut ws, &id).await {
        Ok(found) => found,
        Err(notice) => return not_found_page(&sh, &mut ws, notice, "/faktury/zakupu").await,
    };
    let firm = ws.firm.clone().unwrap_or_default();
    let upo = match register_of(&sh, &ws, &firm).await {
        Ok(reg) => sh
            .store
            .upo(reg, &InvoiceKey::Id(inv.id))
            .await
            .ok()
            .flatten(),
        Err(_) => None,
    };
    match upo {
        Some(xml) => download(&format!("UPO-{}.xml", file_stem(&inv)), xml),
        None => {
            let back = format!("/faktury/{}", inv.id);
            not_found_page(
                &sh,
                &mut ws,
                Some("Ta faktura nie ma zapisanego UPO.".into()),
                &back,
            )
            .await
        }
    }
}

fn download(name: &str, bytes: Vec<u8>) -> Response {
    (
        StatusCode::OK,
        [
            (header::CONTENT_TYPE, "application/xml".to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{name}\""),
            ),
        ],
        bytes,
    )
        .into_response()
}

/// The 404 page of an invoice that is not the current firm's (or not there at all).
pub(crate) async fn not_found_page(
    sh: &Shared,
    ws: &mut Ws<'_>,
    notice: Option<Notice>,
    back: &str,
) -> Response {
    if ws.error.is_none() {
        ws.error = Some(
            notice.unwrap_or_else(|| "Nie ma takiej faktury w rejestrze bieżącej firmy.".into()),
        );
    }
    let l = layout(sh, ws, "Nie znaleziono", "purchases", back).await;
    render_status(
        StatusCode::NOT_FOUND,
        &MessagePage {
            l,
            heading: "Nie znaleziono faktury".into(),
            back: back.to_string(),
        },
    )
}
