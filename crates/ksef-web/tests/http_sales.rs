//! Faktury sprzedaży over real HTTP against the embedded emulator: uploading several files
//! (the broken one refused in Polish, the good ones sent in the background and accepted),
//! the progress page, invoice UPOs from KSeF, the sales list from the register, and clear
//! refusals of non-invoice files and oversized uploads.

mod common;

use std::time::Duration;

use common::html::{attr, cell, csrf, element_text, expect_row};
use common::web::{Harness, own_invoice_token_for_new_firm};
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};

/// The sales screens' requests (the rest of [`Harness`] is in `common::web`).
impl Harness {
    /// Uploads files on Faktury sprzedaży: the final status, URL path and page.
    async fn upload(&self, files: Vec<(&str, Vec<u8>)>) -> (StatusCode, String, String) {
        let (status, page) = self.get("/faktury/sprzedazy").await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(page.contains("id=\"sales-form\""), "{page}");
        let mut form = Form::new().text("csrf", csrf(&page));
        for (name, bytes) in files {
            form = form.part("files", Part::bytes(bytes).file_name(name.to_string()));
        }
        let r = self
            .http
            .post(self.url("/faktury/sprzedazy/wyslij"))
            .multipart(form)
            .send()
            .await
            .unwrap();
        let status = r.status();
        let path = r.url().path().to_string();
        (status, path, r.text().await.unwrap())
    }

    /// The progress page once the job is done.
    async fn finished(&self, path: &str) -> String {
        for _ in 0..300 {
            let (status, page) = self.get(path).await;
            assert_eq!(status, StatusCode::OK, "{page}");
            if page.contains("data-running=\"false\"") {
                assert!(!page.contains("http-equiv=\"refresh\""), "{page}");
                return page;
            }
            assert!(page.contains("http-equiv=\"refresh\""), "{page}");
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
        panic!("the sending job did not finish");
    }
}

#[tokio::test]
async fn sales_are_sent_per_file_listed_and_their_upos_download() {
    let h = Harness::start().await;
    let (nip, _) = own_invoice_token_for_new_firm(&h).await;

    // Nothing sent yet.
    let (status, page) = h.get("/faktury/sprzedazy").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"nav-sales\""), "{page}");
    assert!(page.contains("id=\"sales-empty\""), "{page}");

    // Three files, one broken: two KSeF numbers and one Polish refusal.
    let (status, path, page) = h
        .upload(vec![
            (
                "sprzedaz-1.xml",
                ksef_testkit::invoices::fa3(nip.as_str(), "1"),
            ),
            ("zepsuta.xml", b"to nie jest XML, tylko tekst".to_vec()),
            (
                "sprzedaz-2.xml",
                ksef_testkit::invoices::fa3(nip.as_str(), "2"),
            ),
        ])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(path.starts_with("/faktury/sprzedazy/wysylka/"), "{path}");
    let page = h.finished(&path).await;
    let broken = expect_row(&page, "data-file", "zepsuta.xml");
    assert_eq!(attr(broken, "data-state").as_deref(), Some("refused"));
    let why = cell(broken, "result");
    assert!(why.starts_with("To nie jest"), "{why}");
    assert!(why.contains("Wybierz plik XML faktury"), "{why}");
    assert!(!broken.contains("upo-link"));
    let mut numbers = Vec::new();
    for name in ["sprzedaz-1.xml", "sprzedaz-2.xml"] {
        let r = expect_row(&page, "data-file", name);
        assert_eq!(attr(r, "data-state").as_deref(), Some("accepted"), "{r}");
        let number = cell(r, "ksef-number");
        assert!(number.starts_with(nip.as_str()), "{number}");
        // Pobierz UPO: fetched from KSeF, then kept in the register.
        let href = attr(r, "href").expect("a UPO link");
        assert!(href.starts_with("/faktury/sprzedazy/upo/"), "{href}");
        for _ in 0..2 {
            let resp = h.http.get(h.url(&href)).send().await.unwrap();
            assert_eq!(resp.status(), StatusCode::OK);
            assert!(
                resp.headers()["content-type"]
                    .to_str()
                    .unwrap()
                    .contains("xml")
            );
            let upo = resp.text().await.unwrap();
            assert!(upo.contains(&number), "{upo}");
            assert!(
                upo.contains("<?xml") || upo.trim_start().starts_with('<'),
                "{upo}"
            );
        }
        numbers.push(number);
    }
    assert_ne!(numbers[0], numbers[1]);
    let state = element_text(&page, "sales-job-state").unwrap();
    assert!(state.contains("przyjęte 2, odrzucone 1"), "{state}");
    // The session's UPO.
    let session_upo = h
        .http
        .get(h.url(&format!("{path}/upo")))
        .send()
        .await
        .unwrap();
    assert_eq!(session_upo.status(), StatusCode::OK);
    let xml = session_upo.text().await.unwrap();
    assert!(
        xml.contains(&numbers[0]) && xml.contains(&numbers[1]),
        "{xml}"
    );
    // `?sesja=` names one of the job's sessions: the first by number too; a session the job
    // does not have, or junk, gets the job page with a Polish message (never a bare 400).
    let first = h
        .http
        .get(h.url(&format!("{path}/upo?sesja=0")))
        .send()
        .await
        .unwrap();
    assert_eq!(first.text().await.unwrap(), xml);
    for junk in ["1", "abc", "-1", "99999999999999999999999"] {
        let (status, page) = h.get(&format!("{path}/upo?sesja={junk}")).await;
        assert_eq!(status, StatusCode::OK, "{junk}: {page}");
        let err = element_text(&page, "error").unwrap_or_default();
        assert!(err.contains("nie ma sesji KSeF z UPO"), "{junk}: {err}");
    }

    // The list: both sales przyjęte, with their KSeF numbers and stored UPOs.
    let (_, list) = h.get("/faktury/sprzedazy").await;
    assert_eq!(list.matches("class=\"sale-row\"").count(), 2, "{list}");
    for number in &numbers {
        let r = expect_row(&list, "data-ksef-number", number);
        assert_eq!(attr(r, "data-status").as_deref(), Some("accepted"));
        assert_eq!(cell(r, "status status-accepted"), "przyjęta");
        assert!(r.contains("upo-link"), "{r}");
    }
    assert!(list.contains("Wysłane faktury (2)"), "{list}");
    assert!(list.contains("class=\"sales-total\""), "{list}");
    assert!(list.contains("zł"), "{list}");

    // A file that is not an invoice: refused in Polish, nothing sent.
    let (status, path, page) = h
        .upload(vec![(
            "notatka.xml",
            b"<?xml version=\"1.0\"?><notatka>Zadzwonic</notatka>".to_vec(),
        )])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let page = h.finished(&path).await;
    let r = expect_row(&page, "data-file", "notatka.xml");
    assert_eq!(attr(r, "data-state").as_deref(), Some("refused"));
    let why = cell(r, "result");
    assert!(why.contains("To nie jest plik faktury KSeF"), "{why}");

    // An invoice of another seller: KSeF refuses it (410), the page says what to fix.
    let stranger = ksef_core::Nip::random();
    let (status, path, page) = h
        .upload(vec![(
            "cudza.xml",
            ksef_testkit::invoices::fa3(stranger.as_str(), "C-1"),
        )])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let page = h.finished(&path).await;
    let r = expect_row(&page, "data-file", "cudza.xml");
    assert_eq!(attr(r, "data-state").as_deref(), Some("refused"));
    let why = cell(r, "result");
    assert!(
        why.contains("kod 410") && why.contains("sprawdź NIP sprzedawcy"),
        "{why}"
    );

    // An upload over the per-file cap (1 MiB): a clear Polish refusal, nothing sent.
    let mut big = ksef_testkit::invoices::fa3(nip.as_str(), "3");
    big.extend(std::iter::repeat_n(b' ', 2 * 1024 * 1024));
    let (status, _, page) = h.upload(vec![("duza.xml", big)]).await;
    assert_eq!(status, StatusCode::PAYLOAD_TOO_LARGE);
    let err = element_text(&page, "error").unwrap_or_default();
    assert!(
        err.contains("„duza.xml” jest za duży") && err.contains("1 MiB"),
        "{err}"
    );

    // The register lists the two accepted and the refused one of another seller.
    let (_, list) = h.get("/faktury/sprzedazy").await;
    assert_eq!(list.matches("class=\"sale-row\"").count(), 3, "{list}");
    assert!(list.contains("Wysłane faktury (3)"), "{list}");
    h.web.shutdown().await;
}

#[tokio::test]
async fn a_50_mb_upload_is_refused_in_polish() {
    let h = Harness::start().await;
    let (_, page) = h.get("/faktury/sprzedazy").await;
    let form = Form::new().text("csrf", csrf(&page)).part(
        "files",
        Part::bytes(vec![b'x'; 50 * 1024 * 1024]).file_name("ogromna.xml"),
    );
    let r = h
        .http
        .post(h.url("/faktury/sprzedazy/wyslij"))
        .multipart(form)
        .send()
        .await;
    // The server answers before the whole body is read; the client may see the answer or,
    // rarely, a reset connection — never an accepted upload.
    if let Ok(r) = r {
        assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
        let page = r.text().await.unwrap();
        let err = element_text(&page, "error").unwrap_or_default();
        assert!(err.contains("za duż"), "{err}");
    }
    let (_, list) = h.get("/faktury/sprzedazy").await;
    assert!(!list.contains("class=\"sale-row\""), "{list}");
    h.web.shutdown().await;
}

/// Online or batch follows the context's limits: with KSeF's `invoiceSend` limit set to 2 an
/// hour (`POST /testdata/rate-limits`), sending three good files online would take an hour, so
/// they go in ONE batch session, and the job page says so and why.
#[tokio::test]
async fn more_files_than_the_online_limit_allows_go_in_a_batch_session() {
    let h = Harness::start().await;
    let (nip, cred) = own_invoice_token_for_new_firm(&h).await;
    let api = ksef_testkit::RawClient::new(&h.emulator());
    let owner = api
        .login_with_certificate(&cred, &ksef_core::ContextIdentifier::Nip(nip.clone()))
        .await
        .expect("the owner's login through the API");
    let set = api
        .post(
            "/testdata/rate-limits",
            Some(&owner.access_token),
            rate_limits_with_invoice_send(1, 2, 2),
        )
        .await;
    assert!(set.status.is_success(), "{set:?}");

    let files: Vec<(String, Vec<u8>)> = (1..=3)
        .map(|i| {
            (
                format!("wsad-{i}.xml"),
                ksef_testkit::invoices::fa3(nip.as_str(), &format!("W-{i}")),
            )
        })
        .collect();
    let (status, path, page) = h
        .upload(files.iter().map(|(n, b)| (n.as_str(), b.clone())).collect())
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let page = h.finished(&path).await;
    assert!(page.contains("data-batch=\"true\""), "{page}");
    let state = element_text(&page, "sales-job-state").unwrap_or_default();
    assert!(
        state.contains("sesja wsadowa") && state.contains("przyjęte 3"),
        "{state}"
    );
    let note = element_text(&page, "sales-job-mode").unwrap_or_default();
    assert!(
        note.contains("Wysyłka 3 faktur w sesji interaktywnej trwałaby ok. 1 godz.")
            && note.contains("invoiceSend: 1/s, 2/min, 2/godz.")
            && note.contains("sesji wsadowej"),
        "{note}"
    );
    // One session, with its UPO link.
    assert_eq!(page.matches("class=\"session-upo\"").count(), 1, "{page}");
    let batches = api
        .get(
            "/sessions?sessionType=Batch&pageSize=10",
            &owner.access_token,
        )
        .await;
    assert_eq!(
        batches.body["sessions"].as_array().map(Vec::len),
        Some(1),
        "{batches:?}"
    );
    let online = api
        .get(
            "/sessions?sessionType=Online&pageSize=10",
            &owner.access_token,
        )
        .await;
    assert_eq!(
        online.body["sessions"].as_array().map(Vec::len),
        Some(0),
        "{online:?}"
    );
    h.web.shutdown().await;
}

/// A `SetRateLimitsRequest` body: the documented PRD limits, with `invoiceSend` as given.
fn rate_limits_with_invoice_send(
    per_second: u32,
    per_minute: u32,
    per_hour: u32,
) -> serde_json::Value {
    let mut limits = ksef_wire::limits::EffectiveApiRateLimits::PRODUCTION;
    limits.invoice_send =
        ksef_wire::limits::EffectiveApiRateLimitValues::new(per_second, per_minute, per_hour);
    serde_json::json!({ "rateLimits": limits })
}
