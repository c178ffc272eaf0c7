//! Faktury sprzedaży over real HTTP against the embedded emulator: uploading several files
//! (the broken one refused in Polish, the good ones sent in the background and accepted),
//! the progress page, invoice UPOs from KSeF, the sales list from the register, and clear
//! refusals of non-invoice files and oversized uploads.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ksef_core::Nip;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_web::{RunningWeb, WebConfig};
use reqwest::cookie::Jar;
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};

const ADMIN: &str = "Administrator";
const ADMIN_PASSWORD: &str = "hasło-administratora";
const SETUP: &str = "/pierwsze-uruchomienie";

struct Harness {
    web: RunningWeb,
    http: Client,
    _data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("program");
        let mut config = WebConfig::new(&data_dir);
        let emu = config.emulator.as_mut().unwrap();
        emu.auth_processing_delay = Duration::from_millis(50);
        emu.token_activation_delay = Duration::from_millis(100);
        let web = ksef_web::serve(config).await.unwrap();
        let jar = Arc::new(Jar::default());
        let http = ksef_testkit::http_client_builder()
            .cookie_provider(jar)
            .build()
            .unwrap();
        let h = Harness {
            web,
            http,
            _data_dir: data_dir,
            _dir: dir,
        };
        let (status, page) = h.get(SETUP).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        let (status, page) = h
            .post(
                SETUP,
                &[
                    ("csrf", &csrf(&page)),
                    ("name", ADMIN),
                    ("password", ADMIN_PASSWORD),
                    ("password2", ADMIN_PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        h
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.web.base_url(), path.trim_start_matches('/'))
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        let r = self.http.get(self.url(path)).send().await.unwrap();
        (r.status(), r.text().await.unwrap())
    }

    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        let r = self
            .http
            .post(self.url(path))
            .form(fields)
            .send()
            .await
            .unwrap();
        (r.status(), r.text().await.unwrap())
    }

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

fn csrf(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field on the page") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = html[..at].rfind('<')?;
    let tag: String = html[open + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let body = at + html[at..].find('>')? + 1;
    let close = body + html[body..].find(&format!("</{tag}>"))?;
    let mut text = String::new();
    let mut in_tag = false;
    for c in html[body..close].chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    Some(
        text.replace("&#34;", "\"")
            .replace("&quot;", "\"")
            .trim()
            .to_string(),
    )
}

/// The `<tr>` carrying `attr="value"`.
fn row<'a>(html: &'a str, attr: &str, value: &str) -> &'a str {
    let at = html
        .find(&format!("{attr}=\"{value}\""))
        .unwrap_or_else(|| panic!("no row {attr}={value} in {html}"));
    let start = html[..at].rfind("<tr").unwrap();
    let end = at + html[at..].find("</tr>").unwrap();
    &html[start..end]
}

/// The text of a row's `<td class="…">`.
fn cell(row: &str, class: &str) -> String {
    let at = row
        .find(&format!("<td class=\"{class}"))
        .unwrap_or_else(|| panic!("no td.{class} in {row}"));
    let body = at + row[at..].find('>').unwrap() + 1;
    let end = body + row[body..].find("</td>").unwrap();
    row[body..end].trim().to_string()
}

fn attr(piece: &str, name: &str) -> Option<String> {
    let marker = format!("{name}=\"");
    let at = piece.find(&marker)? + marker.len();
    let end = at + piece[at..].find('"')?;
    Some(piece[at..end].to_string())
}

fn owner() -> (Nip, Credential) {
    let nip = Nip::random();
    let cred = make_test_certificate(
        &TestSubject::person_nip(nip.clone(), "Anna", "Właścicielka"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    (nip, cred)
}

/// Certificate login on Generuj token KSeF, a token with invoice permissions, saved on the
/// administrator (their own token for the firm).
async fn own_token(h: &Harness, nip: &Nip, cred: &Credential) {
    let (_, page) = h.get("/generuj").await;
    assert!(page.contains("id=\"cert-form\""), "{page}");
    let p12 = cred.to_pkcs12("tajne-haslo").unwrap();
    let form = Form::new()
        .text("csrf", csrf(&page))
        .text("return_to", "/generuj")
        .text("nip", nip.as_str().to_string())
        .part("certificate", Part::bytes(p12).file_name("anna.p12"))
        .text("password", "tajne-haslo");
    let r = h
        .http
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"grant-form\""), "{page}");
    let fields = [
        ("csrf", csrf(&page)),
        ("description", "Token do faktur".to_string()),
        ("permission", "InvoiceRead".to_string()),
        ("permission", "InvoiceWrite".to_string()),
    ];
    let r = h
        .http
        .post(h.url("/generuj"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    let token = element_text(&page, "token-value").expect("token shown");
    let path = format!("/uzytkownicy/{ADMIN}");
    let (_, edit) = h.get(&path).await;
    let (status, page) = h
        .post(&path, &[("csrf", &csrf(&edit)), ("token", &token)])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        element_text(&page, "flash")
            .unwrap_or_default()
            .contains("Token KSeF zapisany"),
        "{page}"
    );
}

#[tokio::test]
async fn sales_are_sent_per_file_listed_and_their_upos_download() {
    let h = Harness::start().await;
    let (nip, cred) = owner();
    own_token(&h, &nip, &cred).await;

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
    let broken = row(&page, "data-file", "zepsuta.xml");
    assert_eq!(attr(broken, "data-state").as_deref(), Some("refused"));
    let why = cell(broken, "result");
    assert!(why.starts_with("To nie jest"), "{why}");
    assert!(why.contains("Wybierz plik XML faktury"), "{why}");
    assert!(!broken.contains("upo-link"));
    let mut numbers = Vec::new();
    for name in ["sprzedaz-1.xml", "sprzedaz-2.xml"] {
        let r = row(&page, "data-file", name);
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

    // The list: both sales przyjęte, with their KSeF numbers and stored UPOs.
    let (_, list) = h.get("/faktury/sprzedazy").await;
    assert_eq!(list.matches("class=\"sale-row\"").count(), 2, "{list}");
    for number in &numbers {
        let r = row(&list, "data-ksef-number", number);
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
    let r = row(&page, "data-file", "notatka.xml");
    assert_eq!(attr(r, "data-state").as_deref(), Some("refused"));
    let why = cell(r, "result");
    assert!(why.contains("To nie jest plik faktury KSeF"), "{why}");

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

    let (_, list) = h.get("/faktury/sprzedazy").await;
    assert_eq!(list.matches("class=\"sale-row\"").count(), 2, "{list}");
    assert!(list.contains("Wysłane faktury (2)"), "{list}");
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
