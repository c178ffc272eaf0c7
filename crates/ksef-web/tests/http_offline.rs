//! Faktury offline over real HTTP against the embedded emulator: two invoices recorded as
//! issued offline (offline24) with KOD II made with the firm's KSeF Offline certificate
//! (enrolled from the emulator), their deadlines (one overdue), the refusals of an
//! Authentication certificate and of a mode without its end date, sending with `offlineMode`
//! (KSeF confirms both and marks them Offline), the invoice page before and after, and a
//! technical correction refused for an accepted invoice.

mod common;

use common::firms::ksef_certificate;
use common::html::{attr, cell, csrf, element_text, expect_row};
use common::web::{Harness, own_invoice_token_for_new_firm};
use ksef_core::business_day::next_business_day_after;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

const CERT_PASSWORD: &str = "Hasło-certyfikatu-Offline-1";

impl Harness {
    /// Posts the "Zapisz jako wystawione offline" form: the final status and page.
    async fn issue_offline(
        &self,
        files: Vec<(&str, Vec<u8>)>,
        mode: &str,
        ends: &str,
        certificate: Option<&[u8]>,
    ) -> (StatusCode, String) {
        let (status, page) = self.get("/faktury/offline").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let mut form = Form::new()
            .text("csrf", csrf(&page))
            .text("mode", mode.to_string())
            .text("ends", ends.to_string())
            .text("password", CERT_PASSWORD);
        for (name, bytes) in files {
            form = form.part("files", Part::bytes(bytes).file_name(name.to_string()));
        }
        if let Some(p12) = certificate {
            form = form.part(
                "certificate",
                Part::bytes(p12.to_vec()).file_name("ksef.p12"),
            );
        }
        let r = self
            .http
            .post(self.url("/faktury/offline/wystaw"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

    /// Posts a form of the offline page with only its CSRF token.
    async fn post_offline(&self, path: &str, file: Option<Vec<u8>>) -> (StatusCode, String) {
        let (_, page) = self.get("/faktury/offline").await;
        let mut form = Form::new().text("csrf", csrf(&page));
        if let Some(bytes) = file {
            form = form.part("file", Part::bytes(bytes).file_name("korekta.xml"));
        }
        let r = self
            .http
            .post(self.url(path))
            .multipart(form)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }
}

/// An FA(3) of `nip` numbered `number`, issued on `p1` (YYYY-MM-DD).
fn invoice(nip: &str, number: &str, p1: &str) -> Vec<u8> {
    ksef_testkit::invoices::with_element_text(&ksef_testkit::invoices::fa3(nip, number), "P_1", p1)
}

#[tokio::test]
async fn offline_invoices_are_recorded_with_deadlines_and_kod_ii_then_sent() {
    let h = Harness::start().await;
    let (nip, cred) = own_invoice_token_for_new_firm(&h).await;
    let offline_p12 = ksef_certificate(&h.emulator(), &nip, &cred, "Offline", CERT_PASSWORD).await;
    let auth_p12 =
        ksef_certificate(&h.emulator(), &nip, &cred, "Authentication", CERT_PASSWORD).await;

    let (status, page) = h.get("/faktury/offline").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"nav-offline\""), "{page}");
    assert!(page.contains("id=\"offline-none\""), "{page}");

    // Refusals first: nothing is recorded.
    let today = ksef_program::offline::today();
    let today_iso = today.to_string();
    let files = || {
        vec![
            ("stara.xml", invoice(nip.as_str(), "OFF-1", "2025-09-01")),
            ("dzisiejsza.xml", invoice(nip.as_str(), "OFF-2", &today_iso)),
        ]
    };
    let (status, page) = h.issue_offline(files(), "emergency", "", None).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let err = element_text(&page, "error").unwrap_or_default();
    assert!(!err.is_empty() && !err.contains("error"), "{err}");
    let (status, page) = h
        .issue_offline(files(), "offline24", "", Some(&auth_p12))
        .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{page}");
    let err = element_text(&page, "error").unwrap_or_default();
    assert!(err.contains("certyfikatem KSeF typu Offline"), "{err}");
    let (_, page) = h.get("/faktury/offline").await;
    assert!(page.contains("id=\"offline-none\""), "{page}");

    // offline24 with the Offline certificate: both recorded, KOD II made, deadlines shown.
    let (status, page) = h
        .issue_offline(files(), "offline24", "", Some(&offline_p12))
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let flash = element_text(&page, "flash").unwrap_or_default();
    assert!(
        flash.contains("OFF-1") && flash.contains("KOD II utworzony dla 2"),
        "{flash}"
    );
    let old = expect_row(&page, "class", "offline-row overdue");
    assert_eq!(attr(old, "data-overdue").as_deref(), Some("true"));
    assert!(cell(old, "deadline").contains("02.09.2025"), "{old}");
    assert!(cell(old, "deadline").contains("po terminie"), "{old}");
    assert_eq!(cell(old, "kod2"), "tak");
    let due = next_business_day_after(today).expect("a next business day");
    let due = format!(
        "{:02}.{:02}.{}",
        due.day(),
        u8::from(due.month()),
        due.year()
    );
    let fresh = expect_row(&page, "class", "offline-row");
    assert_eq!(
        attr(fresh, "data-overdue").as_deref(),
        Some("false"),
        "{fresh}"
    );
    assert_eq!(cell(fresh, "deadline"), due);
    assert!(
        element_text(&page, "offline-overdue-count")
            .unwrap_or_default()
            .contains('1')
    );
    let old_id = attr(old, "data-id").expect("a row id");

    // The invoice page: offline, its deadline passed, KOD I labelled OFFLINE.
    let (_, inv) = h.get(&format!("/faktury/{old_id}")).await;
    let note = element_text(&inv, "invoice-offline").unwrap_or_default();
    assert!(
        note.contains("offline24") && note.contains("02.09.2025") && note.contains("termin minął"),
        "{note}"
    );
    assert!(inv.contains(">OFFLINE<"), "KOD I labelled OFFLINE: {inv}");
    // KOD II with the CERTYFIKAT label; the emulator (as KSeF's QR service) confirms it.
    assert!(inv.contains(">CERTYFIKAT<"), "{inv}");
    let kod_ii = inv
        .split("class=\"ksef-kod-ii\" href=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("a KOD II link on the invoice page")
        .to_string();
    let verdict: serde_json::Value = h
        .http
        .get(&kod_ii)
        .header("accept", "application/json")
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["valid"], true, "{verdict}");

    // The same file again: found, not a second row.
    let (status, page) = h
        .issue_offline(files()[..1].to_vec(), "offline24", "", None)
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("class=\"offline-row").count(), 2, "{page}");

    // Send: both accepted in offline mode; nothing waits any more.
    let (status, page) = h.post_offline("/faktury/offline/wyslij", None).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let flash = element_text(&page, "flash").unwrap_or_default();
    assert!(flash.contains("przyjęte 2, odrzucone 0"), "{flash}");
    assert!(page.contains("id=\"offline-none\""), "{page}");
    let (_, inv) = h.get(&format!("/faktury/{old_id}")).await;
    let ksef_number = element_text(&inv, "invoice-ksef-number").expect("a KSeF number");
    let note = element_text(&inv, "invoice-offline").unwrap_or_default();
    assert!(note.contains("wysłana do KSeF"), "{note}");
    assert!(
        inv.contains(&format!(">{ksef_number}<")) && !inv.contains(">OFFLINE<"),
        "KOD I now labelled with the KSeF number"
    );
    assert!(inv.contains(&kod_ii), "KOD II stays on the offline invoice");
    // KSeF marks it Offline (its metadata, through the emulator's API).
    let api = ksef_testkit::RawClient::new(&h.emulator());
    let owner = api
        .login_with_certificate(&cred, &ksef_core::ContextIdentifier::Nip(nip.clone()))
        .await
        .expect("the owner's login through the API");
    let found = api
        .post(
            "/invoices/query/metadata?pageSize=10",
            Some(&owner.access_token),
            serde_json::json!({
                "subjectType": "Subject1",
                "dateRange": {"dateType": "Invoicing", "from": format!("{}T00:00:00Z", today.previous_day().expect("yesterday"))}
            }),
        )
        .await;
    let modes: Vec<&str> = found.body["invoices"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter(|i| i["ksefNumber"] == ksef_number.as_str())
                .filter_map(|i| i["invoicingMode"].as_str())
                .collect()
        })
        .unwrap_or_default();
    assert_eq!(modes, vec!["Offline"], "{:?}", found.body);

    // An offline invoice KSeF rejects for a technical reason (a byte order mark: 430), then
    // its technical correction (the same invoice in a clean file) is accepted; a second one
    // is refused in Polish.
    // (The web app's local check refuses such a file, so it is recorded through the program
    // layer with the check off, as another program sharing the store could.)
    let scratch = tempfile::tempdir().unwrap();
    let bom = scratch.path().join("z-bom.xml");
    std::fs::write(
        &bom,
        ksef_testkit::invoices::broken_bom(nip.as_str(), "OFF-3"),
    )
    .unwrap();
    let mut program = ksef_program::App::new(ksef_program::Settings {
        base_url: h.emulator(),
        data_dir: h.data_dir.clone(),
        json: false,
    })
    .unwrap();
    let mut req = ksef_program::offline::IssueRequest::new(
        vec![bom],
        ksef_program::offline::OfflineMode::Offline24,
    );
    req.firm = Some(format!("Nip:{}", nip.as_str()));
    req.validate = false;
    ksef_program::offline::issue_offline(&mut program, req)
        .await
        .expect("recorded as issued offline");
    let (_, page) = h.post_offline("/faktury/offline/wyslij", None).await;
    let flash = element_text(&page, "flash").unwrap_or_default();
    assert!(flash.contains("przyjęte 0, odrzucone 1"), "{flash}");
    let rejected = expect_row(&page, "class", "rejected-row");
    assert!(cell(rejected, "reason").contains("430"), "{rejected}");
    let rejected_id = attr(rejected, "data-id").expect("a row id");
    let fixed = ksef_testkit::invoices::fa3(nip.as_str(), "OFF-3");
    let (status, page) = h
        .post_offline(
            &format!("/faktury/offline/korekta/{rejected_id}"),
            Some(fixed.clone()),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let flash = element_text(&page, "flash").unwrap_or_default();
    assert!(
        flash.contains("Korekta techniczna faktury") && flash.contains("przyjęta: numer KSeF"),
        "{flash} {page}"
    );
    let mut again = fixed;
    again.extend_from_slice(b"\n");
    let (_, page) = h
        .post_offline(
            &format!("/faktury/offline/korekta/{rejected_id}"),
            Some(again),
        )
        .await;
    let err = element_text(&page, "error").unwrap_or_default();
    assert!(err.contains("korekt"), "{err}");

    // A technical correction of an accepted invoice is refused in Polish, before KSeF.
    let (status, page) = h
        .post_offline(
            &format!("/faktury/offline/korekta/{old_id}"),
            Some(invoice(nip.as_str(), "OFF-1", "2025-09-01")),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let err = element_text(&page, "error").unwrap_or_default();
    assert!(err.contains("przyjęt"), "{err}");
    h.web.shutdown().await;
}
