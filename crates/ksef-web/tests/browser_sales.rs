//! Faktury sprzedaży in a real headless Chromium (against DOM-CONTRACT.md): the owner's token
//! saved on the administrator, three files uploaded (one broken), the progress page reloading
//! itself until the two KSeF numbers and the Polish refusal show, then the sales list.
//! Screenshots: `<target>/screenshots/faktury-sprzedazy-*.png`.

mod common;

use std::path::{Path, PathBuf};

use common::{Chrome, Tab};
use ksef_core::Nip;
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_web::WebConfig;

const NIP: &str = "5260250274";
const P12_PASSWORD: &str = "Hasło-testowe-1";
const ADMIN: &str = "Anna Nowak";
const ADMIN_PASSWORD: &str = "Hasło-administratora-1";

async fn no_error(tab: &Tab, step: &str) {
    if tab.exists("#error").await {
        let e = tab.text("#error .message").await.unwrap_or_default();
        tab.fail::<()>(&format!("{step} failed: {e}")).await;
    }
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).expect("write a test file");
    path
}

#[test]
fn faktury_sprzedazy_upload_progress_and_list() {
    common::run(|| async {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = WebConfig::new(dir.path().join("program"));
        if let Some(emulator) = config.emulator.as_mut() {
            emulator.auth_processing_delay = std::time::Duration::from_millis(100);
        }
        let web = ksef_web::serve(config).await.expect("start the web app");
        let url = |p: &str| format!("{}{}", web.base_url(), p.trim_start_matches('/'));
        let chrome = Chrome::launch("faktury-sprzedazy").await;
        let scratch = chrome.scratch();
        let owner = make_test_certificate(
            &TestSubject::person_nip(NIP.parse::<Nip>().unwrap(), "Adam", "Właściciel"),
            KeyAlgorithm::EcP256,
        )
        .expect("test certificate");
        let p12 = write(
            &scratch,
            "adam.p12",
            &owner.to_pkcs12(P12_PASSWORD).expect("PKCS#12"),
        );
        let tab = chrome.tab().await;

        // First start: the administrator.
        tab.goto(&url("/")).await;
        tab.wait_for("form#setup-form").await;
        tab.type_into("#setup-name", ADMIN).await;
        tab.type_into("#setup-password", ADMIN_PASSWORD).await;
        tab.type_into("#setup-password2", ADMIN_PASSWORD).await;
        tab.click_and_wait("#setup-submit").await;
        tab.wait_for("#guide").await;

        // A token with invoice permissions, saved on the administrator.
        tab.click_and_wait("a#nav-generate").await;
        tab.wait_for("#login").await;
        tab.click("input[name=method][value=cert]").await;
        tab.fill("#cert-form input[name=nip]", NIP).await;
        tab.set_files("#cert-form input[name=certificate]", &[&p12])
            .await;
        tab.fill("#cert-form input[name=password]", P12_PASSWORD)
            .await;
        tab.click_and_wait("#cert-login").await;
        tab.wait_for("form#grant-form").await;
        tab.type_into("form#grant-form input[name=description]", "Faktury")
            .await;
        for p in ["InvoiceRead", "InvoiceWrite"] {
            tab.click(&format!("input[name=permission][value={p}]"))
                .await;
        }
        tab.click_and_wait("#add-token").await;
        tab.wait_for("#token-value").await;
        tab.click_and_wait("#save-token").await;
        tab.wait_for("#flash").await;
        no_error(&tab, "Zapisz").await;

        // Faktury sprzedaży: the form, empty list.
        tab.click_and_wait("a#nav-sales").await;
        tab.wait_for("form#sales-form").await;
        tab.expect("#sales-empty").await;
        assert_eq!(
            tab.prop("#sales-files", "multiple").await,
            serde_json::json!(true)
        );
        let files = [
            write(
                &scratch,
                "sprzedaz-1.xml",
                &ksef_testkit::invoices::fa3(NIP, "1"),
            ),
            write(&scratch, "zepsuta.xml", b"to nie jest XML"),
            write(
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
        web.shutdown().await;
    });
}
