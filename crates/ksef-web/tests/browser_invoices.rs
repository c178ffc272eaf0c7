//! Faktury zakupu in a real headless Chromium (against DOM-CONTRACT.md): the owner's token saved
//! on the administrator, another firm issues two invoices to ours on the embedded emulator,
//! "Pobierz z KSeF" with the progress page reloading itself until done, the purchases list with
//! totals, one invoice's visualisation and PDF, then (after one sales invoice sent, as /sesje
//! lists sending sessions only) the KSeF sessions list.
//! Screenshots: `<target>/screenshots/faktury-zakupu-*.png`.

mod common;

use common::firms::issue_invoices_from_new_firm;
use common::ui::{NIP, admin_with_invoice_token, no_error, write_file};
use ksef_core::Nip;
use serde_json::json;

#[test]
fn faktury_zakupu_fetch_list_view_pdf_and_sessions() {
    common::chrome::run(|| async {
        // First start: the administrator; a token with invoice permissions saved on them.
        let (app, chrome, tab) = admin_with_invoice_token("faktury-zakupu").await;
        let scratch = chrome.scratch();

        // Another firm issues two invoices to ours.
        let ours: Nip = NIP.parse().expect("NIP");
        let (seller, sent) =
            issue_invoices_from_new_firm(&app.emulator(), &ours, &["201", "202"]).await;
        let numbers: Vec<String> = sent.into_iter().map(|(_, number)| number).collect();
        assert_eq!(numbers.len(), 2);

        // Faktury zakupu: empty until "Pobierz z KSeF".
        tab.click_and_wait("a#nav-purchases").await;
        tab.wait_for("form#sync-form").await;
        tab.expect("#purchases-empty").await;
        tab.screenshot("01-lista-pusta").await;
        tab.click_and_wait("#sync-start").await;
        tab.wait_for("#sync-status").await;
        tab.screenshot("02-pobieranie").await;
        // The page reloads itself (meta refresh) until the sync is done.
        tab.wait_for("#sync-status:not([data-state=running])").await;
        no_error(&tab, "Pobierz z KSeF").await;
        assert_eq!(
            tab.attr("#sync-status", "data-state").await.as_deref(),
            Some("done")
        );
        let status = tab.text("#sync-status").await.unwrap_or_default();
        assert!(status.contains("nowych faktur w rejestrze: 2"), "{status}");

        // The list: both invoices, with totals.
        tab.click_and_wait("a#back-to-purchases").await;
        tab.wait_for("#purchases-table").await;
        assert_eq!(tab.count("tr.purchase-row").await, 2);
        for n in &numbers {
            let sel = format!("tr.purchase-row[data-ksef-number=\"{n}\"]");
            tab.expect(&sel).await;
            let gross = tab
                .text(&format!("{sel} td.gross"))
                .await
                .unwrap_or_default();
            assert_eq!(gross, "53,63 zł", "{n}");
            let nip = tab
                .text(&format!("{sel} td.seller-nip"))
                .await
                .unwrap_or_default();
            assert_eq!(nip, seller.as_str());
        }
        let total = tab
            .text("tr.total-row[data-currency=PLN] td.gross")
            .await
            .unwrap_or_default();
        assert_eq!(total, "107,26 zł");
        assert_eq!(
            tab.text("#purchases-count").await.as_deref(),
            Some("Liczba faktur: 2")
        );
        tab.screenshot("03-lista").await;

        // One invoice: the visualisation names the seller and a line item.
        tab.click_and_wait(&format!(
            "tr.purchase-row[data-ksef-number=\"{}\"] td.number a",
            numbers[0]
        ))
        .await;
        tab.wait_for("#invoice-view").await;
        assert_eq!(
            tab.text("#invoice-ksef-number").await.as_deref(),
            Some(numbers[0].as_str())
        );
        let view = tab.text("#invoice-view").await.unwrap_or_default();
        assert!(view.contains("Elektrownia S.A."), "{view}");
        assert!(view.contains(seller.as_str()), "{view}");
        assert!(view.contains("Razem za energię czynną"), "{view}");
        tab.screenshot("04-faktura").await;

        // "Pobierz PDF" answers with a PDF (fetched in the page, with its cookie).
        let href = tab
            .prop("#download-pdf", "href")
            .await
            .as_str()
            .unwrap_or_default()
            .to_string();
        assert!(href.ends_with("/pdf"), "{href}");
        let pdf = tab
            .call(
                "async (u) => { const r = await fetch(u, {credentials: 'same-origin'}); \
                 const b = new Uint8Array(await r.arrayBuffer()); \
                 return [r.status, r.headers.get('content-type'), \
                         String.fromCharCode(...b.slice(0, 5)), b.length]; }",
                &[json!(href)],
            )
            .await;
        assert_eq!(pdf[0], json!(200), "{pdf}");
        assert_eq!(pdf[1], json!("application/pdf"), "{pdf}");
        assert_eq!(pdf[2], json!("%PDF-"), "{pdf}");
        assert!(pdf[3].as_u64().unwrap_or(0) > 1000, "{pdf}");

        // /sesje lists the firm's SENDING sessions (fetching purchases opens none that shows
        // there), so our firm sends one sales invoice first (Faktury sprzedaży).
        tab.click_and_wait("a#nav-sales").await;
        tab.wait_for("form#sales-form").await;
        let sale = write_file(
            &scratch,
            "sprzedaz-1.xml",
            &ksef_testkit::invoices::fa3(NIP, "S-1"),
        );
        tab.set_files("#sales-files", &[&sale]).await;
        tab.click_and_wait("#sales-send").await;
        tab.wait_for("#sales-job-state[data-running=false]").await;
        no_error(&tab, "Wysyłka").await;
        assert_eq!(tab.count("tr.job-row[data-state=accepted]").await, 1);

        // Sesje: at least one KSeF session.
        tab.click_and_wait("a#nav-sessions").await;
        tab.wait_for("#sessions-table").await;
        assert!(tab.count("tr.session-row").await >= 1);
        let kinds = tab.texts("tr.session-row td.kind").await;
        assert!(kinds.iter().any(|k| k == "interaktywna"), "{kinds:?}");
        tab.screenshot("sesje-01").await;

        chrome.close().await;
        app.web.shutdown().await;
    });
}
