//! Faktury sprzedaży in a real headless Chromium (against DOM-CONTRACT.md): the owner's token
//! saved on the administrator, three files uploaded (one broken), the progress page reloading
//! itself until the two KSeF numbers and the Polish refusal show, then the sales list.
//! Screenshots: `<target>/screenshots/faktury-sprzedazy-*.png`.

mod common;

use std::path::{Path, PathBuf};

use common::ui::{NIP, admin_with_invoice_token, no_error, write_file};

#[test]
fn faktury_sprzedazy_upload_progress_and_list() {
    common::chrome::run(|| async {
        // First start: the administrator; a token with invoice permissions saved on them.
        let (app, chrome, tab) = admin_with_invoice_token("faktury-sprzedazy").await;
        let scratch = chrome.scratch();

        // Faktury sprzedaży: the form, empty list.
        tab.click_and_wait("a#nav-sales").await;
        tab.wait_for("form#sales-form").await;
        tab.expect("#sales-empty").await;
        assert_eq!(
            tab.prop("#sales-files", "multiple").await,
            serde_json::json!(true)
        );
        let files = [
            write_file(
                &scratch,
                "sprzedaz-1.xml",
                &ksef_testkit::invoices::fa3(NIP, "1"),
            ),
            write_file(&scratch, "zepsuta.xml", b"to nie jest XML"),
            write_file(
                &scratch,
                "sprzedaz-2.xml",
                &ksef_testkit::invoices::fa3(NIP, "2"),
            ),
        ];
        let refs: Vec<&Path> = files.iter().map(PathBuf::as_path).collect();
        tab.set_files("#sales-files", &refs).await;
        tab.screenshot("01-formularz").await;
        tab.click_and_wait("#sales-send").await;
        tab.wait_for("#sales-job-table").await;
        tab.screenshot("02-wysylka").await;
        // The page reloads itself (meta refresh) until the job is done.
        tab.wait_for("#sales-job-state[data-running=false]").await;
        no_error(&tab, "Wysyłka").await;
        tab.screenshot("03-wynik").await;
        assert_eq!(tab.count("tr.job-row[data-state=accepted]").await, 2);
        assert_eq!(tab.count("tr.job-row[data-state=refused]").await, 1);
        let numbers = tab
            .texts("tr.job-row[data-state=accepted] td.ksef-number")
            .await;
        assert!(numbers.iter().all(|n| n.starts_with(NIP)), "{numbers:?}");
        let why = tab
            .text("tr.job-row[data-file=\"zepsuta.xml\"] td.result")
            .await
            .unwrap_or_default();
        assert!(why.starts_with("To nie jest"), "{why}");
        assert_eq!(
            tab.count("tr.job-row[data-state=accepted] a.upo-link")
                .await,
            2
        );
        tab.expect("a#session-upo").await;

        // The list: both przyjęte.
        tab.click_and_wait("a#back-to-sales").await;
        tab.wait_for("#sales-table").await;
        assert_eq!(tab.count("tr.sale-row[data-status=accepted]").await, 2);
        let statuses = tab.texts("tr.sale-row td.status").await;
        assert!(statuses.iter().all(|s| s == "przyjęta"), "{statuses:?}");
        let totals = tab.text("tr.sales-total").await.unwrap_or_default();
        assert!(totals.contains("zł"), "{totals}");
        tab.screenshot("04-lista").await;

        chrome.close().await;
        app.web.shutdown().await;
    });
}
