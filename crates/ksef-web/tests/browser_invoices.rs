//! Faktury zakupu in a real headless Chromium (against DOM-CONTRACT.md): the owner's token saved
//! on the administrator, another firm issues two invoices to ours on the embedded emulator,
//! "Pobierz z KSeF" with the progress page reloading itself until done, the purchases list with
//! totals, one invoice's visualisation and PDF, then (after one sales invoice sent, as /sesje
//! lists sending sessions only) the KSeF sessions list.
//! Screenshots: `<target>/screenshots/faktury-zakupu-*.png`.

mod common;

use common::{Chrome, Tab};
use ksef_core::Nip;
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_web::WebConfig;
use serde_json::json;

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

/// Another firm (certificate login through the program on the emulator) issues FA(3) invoices
/// to `buyer`; returns the seller's NIP and the KSeF numbers.
async fn issue_invoices_to(emulator: &str, buyer: &str, numbers: &[&str]) -> (Nip, Vec<String>) {
    let seller = Nip::random();
    let cred = make_test_certificate(
        &TestSubject::person_nip(seller.clone(), "Sprzedawca", "Testowy"),
        KeyAlgorithm::EcP256,
    )
    .expect("seller's certificate");
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = ksef_program::Settings {
        base_url: emulator.to_string(),
        data_dir: dir.path().join("seller"),
        json: false,
    };
    let mut app = ksef_program::App::new(settings).expect("seller's program");
    ksef_program::auth::login_with_certificate(
        &mut app,
        ksef_core::ContextIdentifier::Nip(seller.clone()),
        &cred,
        false,
    )
    .await
    .expect("seller's certificate login");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("files dir");
    for n in numbers {
        let xml = String::from_utf8(ksef_testkit::invoices::fa3(seller.as_str(), n))
            .expect("UTF-8 invoice")
            .replace("<NIP>1111111111</NIP>", &format!("<NIP>{buyer}</NIP>"));
        std::fs::write(files.join(format!("{n}.xml")), xml).expect("write an invoice");
    }
    let mut outcomes = Vec::new();
    let totals = ksef_program::invoices::send(
        &mut app,
        ksef_program::invoices::SendRequest::new(vec![files]),
        &mut |e| {
            if let ksef_program::invoices::SendEvent::Outcome(o) = e {
                outcomes.push(o);
            }
        },
    )
    .await
    .expect("seller sends the invoices");
    assert_eq!(totals.accepted, numbers.len(), "{outcomes:?}");
    let ksef_numbers = outcomes
        .iter()
        .map(|o| o.ksef_number.clone().expect("a KSeF number"))
        .collect();
    (seller, ksef_numbers)
}

#[test]
fn faktury_zakupu_fetch_list_view_pdf_and_sessions() {
    common::run(|| async {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = WebConfig::new(dir.path().join("program"));
        if let Some(emulator) = config.emulator.as_mut() {
            emulator.auth_processing_delay = std::time::Duration::from_millis(100);
        }
        let web = ksef_web::serve(config).await.expect("start the web app");
        let url = |p: &str| format!("{}{}", web.base_url(), p.trim_start_matches('/'));
        let chrome = Chrome::launch("faktury-zakupu").await;
        let scratch = chrome.scratch();
        let owner = make_test_certificate(
            &TestSubject::person_nip(NIP.parse::<Nip>().unwrap(), "Adam", "Właściciel"),
            KeyAlgorithm::EcP256,
        )
        .expect("test certificate");
        let p12 = scratch.join("adam.p12");
        std::fs::write(&p12, owner.to_pkcs12(P12_PASSWORD).expect("PKCS#12")).expect("write p12");
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

        // Another firm issues two invoices to ours.
        let emulator = web
            .emulator_base_url
            .clone()
            .expect("the embedded emulator");
        let (seller, numbers) = issue_invoices_to(&emulator, NIP, &["201", "202"]).await;
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
        let sale = scratch.join("sprzedaz-1.xml");
        std::fs::write(&sale, ksef_testkit::invoices::fa3(NIP, "S-1")).expect("write a sale");
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
        web.shutdown().await;
    });
}
