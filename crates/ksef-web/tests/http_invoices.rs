//! Faktury zakupu, Faktura and Sesje over real HTTP against the embedded emulator: another
//! firm issues two invoices to ours, "Pobierz z KSeF" fills the register in the background,
//! the list shows them with totals and filters, one opens with ksef-visual, its XML downloads
//! byte for byte, and another firm's invoice is "not found".

mod common;

use std::time::Duration;

use common::firms::{issue_invoices, issue_invoices_from_new_firm};
use common::html::{attr, cell, csrf, element_text, expect_row, row};
use common::web::{Harness, bare, own_invoice_token_for_new_firm, see_other};
use ksef_core::Nip;
use reqwest::StatusCode;

/// The `data-id` of the list row of a KSeF number.
fn row_id(page: &str, ksef_number: &str) -> i64 {
    let r = expect_row(page, "data-ksef-number", ksef_number);
    attr(r, "data-id")
        .expect("the row's data-id")
        .parse()
        .unwrap()
}

/// How many purchases the list shows.
fn rows_count(page: &str) -> usize {
    page.matches("class=\"purchase-row\"").count()
}

#[tokio::test]
async fn purchases_are_fetched_listed_filtered_and_shown() {
    let h = Harness::start().await;

    // No firm yet: a Polish hint.
    let (status, page) = h.get("/faktury/zakupu").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"no-firm\""), "{page}");
    assert!(page.contains("id=\"nav-purchases\""));

    let (ours, _) = own_invoice_token_for_new_firm(&h).await;
    let (_, sent) = issue_invoices_from_new_firm(&h.emulator(), &ours, &["101", "102"]).await;

    // Empty register until "Pobierz z KSeF".
    let (_, page) = h.get("/faktury/zakupu").await;
    assert!(page.contains("id=\"purchases-empty\""), "{page}");
    assert_eq!(rows_count(&page), 0);

    // Pobierz z KSeF → 303 to the progress page (the KSeF session opens with the own token).
    let r = bare()
        .post(h.url("/faktury/zakupu/pobierz"))
        .header("cookie", format!("ksef_web_sid={}", h.admin_sid()))
        .form(&[("csrf", csrf(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(see_other(&r), "/faktury/zakupu/pobieranie");
    let mut state = String::new();
    for _ in 0..600 {
        let (status, page) = h.get("/faktury/zakupu/pobieranie").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        state = page
            .split("data-state=\"")
            .nth(1)
            .and_then(|s| s.split('"').next())
            .unwrap_or_default()
            .to_string();
        if state == "running" {
            assert!(page.contains("http-equiv=\"refresh\""), "{page}");
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert_eq!(state, "done", "{page}");
        assert!(
            element_text(&page, "sync-status")
                .unwrap()
                .contains("nowych faktur w rejestrze: 2"),
            "{page}"
        );
        assert!(page.contains("href=\"/faktury/zakupu\""), "{page}");
        assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
        break;
    }
    assert_eq!(state, "done");
    let (_, page) = h.get("/").await;
    assert!(page.contains("id=\"ksef-session\""), "{page}");

    // The list: both, with totals.
    let (_, page) = h.get("/faktury/zakupu").await;
    assert_eq!(rows_count(&page), 2, "{page}");
    for (_, number) in &sent {
        let r = row(&page, "data-ksef-number", number).unwrap();
        assert_eq!(cell(r, "issue-date"), "01.09.2025");
        assert_eq!(cell(r, "gross num"), "53,63 zł");
    }
    let total = row(&page, "data-currency", "PLN").unwrap();
    assert_eq!(cell(total, "gross num"), "107,26 zł", "{total}");
    assert_eq!(cell(total, "net num"), "87,20 zł", "{total}");
    assert_eq!(
        element_text(&page, "purchases-count").unwrap(),
        "Liczba faktur: 2"
    );

    // Pressing again continues incrementally: nothing new.
    let r = h
        .http
        .post(h.url("/faktury/zakupu/pobierz"))
        .form(&[("csrf", csrf(&page).as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    for _ in 0..600 {
        let (_, page) = h.get("/faktury/zakupu/pobieranie").await;
        if page.contains("data-state=\"running\"") {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        }
        assert!(page.contains("nowych faktur w rejestrze: 0"), "{page}");
        break;
    }
    let (_, page) = h.get("/faktury/zakupu").await;
    assert_eq!(rows_count(&page), 2, "{page}");

    // Filters.
    let count = |q: &'static str| {
        let h = &h;
        async move {
            let (status, page) = h.get(&format!("/faktury/zakupu?{q}")).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            rows_count(&page)
        }
    };
    assert_eq!(count("tekst=GRQMB-101").await, 1);
    assert_eq!(count("tekst=Elektrownia").await, 2);
    assert_eq!(count("nip=1111111111").await, 0);
    assert_eq!(count("od=01.09.2025&do=01.09.2025").await, 2);
    assert_eq!(count("od=2025-09-02").await, 0);
    assert_eq!(count("kwota_od=50&kwota_do=53,63").await, 2);
    assert_eq!(count("kwota_od=100").await, 0);
    let (_, page) = h.get("/faktury/zakupu?od=jutro").await;
    assert!(
        element_text(&page, "error")
            .unwrap()
            .contains("Nieprawidłowa data"),
        "{page}"
    );
    let (_, page) = h.get(&format!("/faktury/zakupu?tekst={}", sent[1].1)).await;
    assert_eq!(rows_count(&page), 1);

    // Faktura: the ksef-visual view, styles as a static file.
    let id = row_id(&page, &sent[1].1);
    let (status, page) = h.get(&format!("/faktury/{id}")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("class=\"ksef-invoice"), "{page}");
    assert!(!page.contains("<style>"), "CSP: no inline styles");
    assert!(page.contains("/static/faktura.css"));
    let seller_nip = element_text(&page, "invoice-seller").unwrap();
    assert!(seller_nip.contains("Elektrownia S.A."), "{seller_nip}");
    assert!(page.contains("Razem za energię czynną"), "{page}");
    assert_eq!(
        element_text(&page, "invoice-ksef-number").as_deref(),
        Some(sent[1].1.as_str())
    );
    // KOD I points at the embedded emulator's own verification page, which confirms the
    // invoice with its KSeF number (as the Ministry's QR service would on TEST/PRD).
    let kod_i = page
        .split("class=\"ksef-kod-i\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a KOD I link on the invoice page")
        .replace("&#x2F;", "/")
        .replace("&#47;", "/");
    let emulator = h.emulator();
    let origin = emulator.trim_end_matches('/').trim_end_matches("/v2");
    assert!(kod_i.starts_with(&format!("{origin}/invoice/")), "{kod_i}");
    let verdict: serde_json::Value = h
        .http
        .get(&kod_i)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");
    assert_eq!(verdict["ksefNumber"], sent[1].1.as_str(), "{verdict}");
    let r = h
        .http
        .get(h.url("/static/faktura.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains(".ksef-invoice"));

    // The XML exactly as sent.
    let r = h
        .http
        .get(h.url(&format!("/faktury/{id}/xml")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/xml");
    assert!(
        r.headers()["content-disposition"]
            .to_str()
            .unwrap()
            .contains(&format!("{}.xml", sent[1].1))
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), sent[1].0.as_slice());
    // "Pobierz PDF": a PDF whose text (pdftotext, an independent reader) names the seller and
    // the KSeF number under the QR code.
    let r = h
        .http
        .get(h.url(&format!("/faktury/{id}/pdf")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/pdf");
    let pdf = r.bytes().await.unwrap();
    assert!(pdf.starts_with(b"%PDF-"));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("faktura.pdf");
    std::fs::write(&path, &pdf).unwrap();
    let out = std::process::Command::new("pdftotext")
        .args(["-layout"])
        .arg(&path)
        .arg("-")
        .output()
        .expect("pdftotext (poppler-utils) is needed for this test");
    assert!(out.status.success(), "pdftotext failed");
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("Elektrownia S.A."), "{text}");
    assert!(text.contains(sent[1].1.as_str()), "{text}");
    // No UPO for a purchase.
    let (status, _) = h.get(&format!("/faktury/{id}/upo")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);

    // Another firm's invoice (a copy in another register): not found here.
    let store = h.store().await;
    let base = h.emulator();
    let mine = store
        .register_of(&base, &format!("Nip:{}", ours.as_str()))
        .await
        .unwrap();
    let (inv, bytes) = store
        .invoice(mine, &ksef_store::InvoiceKey::Id(id))
        .await
        .unwrap()
        .unwrap();
    let other = store
        .register_of(&base, &format!("Nip:{}", Nip::random().as_str()))
        .await
        .unwrap();
    store
        .record_invoices(other, &[(inv.record.clone(), bytes.as_slice())], None)
        .await
        .unwrap();
    let page = store
        .list_invoices(&ksef_store::InvoiceFilter::new(other), 1, 10)
        .await
        .unwrap();
    let foreign = page.invoices[0].id;
    assert_ne!(foreign, id);
    for path in [
        format!("/faktury/{foreign}"),
        format!("/faktury/{foreign}/xml"),
        "/faktury/999999".to_string(),
        "/faktury/abc".to_string(),
    ] {
        let (status, page) = h.get(&path).await;
        assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {page}");
        assert!(
            element_text(&page, "error")
                .unwrap()
                .contains("Nie ma takiej faktury"),
            "{page}"
        );
    }

    // Sesje: the seller's sessions are not ours; ours has none, the page says so in Polish.
    let (status, page) = h.get("/sesje").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"sessions-table\""), "{page}");
    assert!(page.contains("id=\"sessions-empty\""), "{page}");
}

#[tokio::test]
async fn sessions_of_the_firm_are_listed_with_polish_statuses() {
    let h = Harness::start().await;
    let (ours, cred) = own_invoice_token_for_new_firm(&h).await;
    // Before any sending: an empty list (the KSeF session opens with the own token).
    let (status, page) = h.get("/sesje").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"ksef-session\""), "{page}");
    assert!(page.contains("id=\"sessions-empty\""), "{page}");
    // Our firm sends one invoice (another program on the same emulator).
    issue_invoices(&h.emulator(), &ours, &cred, &Nip::random(), &["201"]).await;
    let (status, page) = h.get("/sesje").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("class=\"session-row\"").count(), 1, "{page}");
    let r = row(&page, "class", "session-row").expect("the session's row");
    assert_eq!(cell(r, "kind"), "interaktywna");
    assert!(cell(r, "status").contains("Przetworzona"), "{r}");
    assert_eq!(cell(r, "total num"), "1");
    assert_eq!(cell(r, "accepted num"), "1");
    assert_eq!(cell(r, "failed num"), "0");
    assert!(cell(r, "created").contains('.'), "{r}");
}
