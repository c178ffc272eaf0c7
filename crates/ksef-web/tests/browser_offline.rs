//! Faktury offline in a real headless Chromium (against DOM-CONTRACT.md): the firm's KSeF
//! Offline certificate enrolled from the embedded emulator; two invoices recorded as issued
//! offline (offline24) with KOD II — one dated long ago (overdue), one today; the invoice page
//! shows the deadline and both codes (KOD I labelled OFFLINE, KOD II CERTYFIKAT); after
//! "Wyślij do KSeF", KOD I's label becomes the KSeF number.
//! Screenshots: `<target>/screenshots/faktury-offline-*.png`.

mod common;

use common::firms::ksef_certificate;
use common::ui::{NIP, P12_PASSWORD, admin_with_invoice_token, no_error, owner, write_file};
use ksef_core::Nip;

/// An FA(3) of [`NIP`] numbered `number`, issued on `p1` (YYYY-MM-DD).
fn invoice(number: &str, p1: &str) -> Vec<u8> {
    ksef_testkit::invoices::with_element_text(&ksef_testkit::invoices::fa3(NIP, number), "P_1", p1)
}

#[test]
fn offline_invoice_shows_deadline_and_both_codes_then_its_ksef_number() {
    common::chrome::run(|| async {
        let (app, chrome, tab) = admin_with_invoice_token("faktury-offline").await;
        let scratch = chrome.scratch();
        let nip: Nip = NIP.parse().expect("NIP");
        let p12 = ksef_certificate(&app.emulator(), &nip, &owner(), "Offline", P12_PASSWORD).await;
        let cert = write_file(&scratch, "offline.p12", &p12);
        let today = ksef_program::offline::today().to_string();
        let old = write_file(&scratch, "stara.xml", &invoice("OFF-1", "2025-09-01"));
        let fresh = write_file(&scratch, "dzisiejsza.xml", &invoice("OFF-2", &today));

        tab.click_and_wait("a#nav-offline").await;
        tab.wait_for("form#offline-form").await;
        tab.expect("#offline-none").await;
        tab.screenshot("01-formularz").await;
        tab.set_files("#offline-files", &[&old, &fresh]).await;
        tab.click("input[name=mode][value=offline24]").await;
        tab.set_files("#offline-cert", &[&cert]).await;
        tab.fill("#offline-password", P12_PASSWORD).await;
        tab.click_and_wait("#offline-issue-submit").await;
        tab.wait_for("#flash").await;
        no_error(&tab, "Zapisz jako wystawione offline").await;
        assert_eq!(tab.count("tr.offline-row").await, 2);
        assert_eq!(tab.count("tr.offline-row[data-overdue=true]").await, 1);
        let deadline = tab
            .text("tr.offline-row[data-overdue=true] td.deadline")
            .await
            .unwrap_or_default();
        assert!(
            deadline.contains("02.09.2025") && deadline.contains("po terminie"),
            "{deadline}"
        );
        assert_eq!(
            tab.texts("tr.offline-row td.kod2").await,
            vec!["tak", "tak"]
        );
        tab.screenshot("02-do-wyslania").await;

        // The overdue invoice: its deadline, KOD I labelled OFFLINE and KOD II CERTYFIKAT.
        tab.click_and_wait("tr.offline-row[data-overdue=true] td.number a")
            .await;
        tab.wait_for("#invoice-view").await;
        let note = tab.text("#invoice-offline").await.unwrap_or_default();
        assert!(
            note.contains("02.09.2025") && note.contains("termin minął"),
            "{note}"
        );
        assert_eq!(
            tab.texts("#invoice-view .ksef-qr-label").await,
            vec!["OFFLINE", "CERTYFIKAT"]
        );
        assert!(tab.exists("#invoice-view a.ksef-kod-i").await);
        assert!(tab.exists("#invoice-view a.ksef-kod-ii").await);
        let invoice_path = tab.call("() => location.pathname", &[]).await;
        tab.screenshot("03-faktura-offline").await;

        // Send: both accepted; the page lists nothing waiting.
        tab.click_and_wait("a#nav-offline").await;
        tab.click_and_wait("#offline-send").await;
        tab.wait_for("#flash").await;
        no_error(&tab, "Wyślij do KSeF").await;
        let flash = tab.text("#flash").await.unwrap_or_default();
        assert!(flash.contains("przyjęte 2"), "{flash}");
        tab.expect("#offline-none").await;
        tab.screenshot("04-wyslane").await;

        // KOD I's label is now the KSeF number; KOD II stays.
        tab.goto(&app.url(invoice_path.as_str().unwrap_or("/")))
            .await;
        tab.wait_for("#invoice-view").await;
        let ksef_number = tab
            .text("#invoice-ksef-number")
            .await
            .expect("a KSeF number");
        assert_eq!(
            tab.texts("#invoice-view .ksef-qr-label").await,
            vec![ksef_number.clone(), "CERTYFIKAT".to_string()]
        );
        let note = tab.text("#invoice-offline").await.unwrap_or_default();
        assert!(note.contains("wysłana do KSeF"), "{note}");
        tab.screenshot("05-faktura-z-numerem-ksef").await;

        chrome.close().await;
        app.web.shutdown().await;
    });
}
