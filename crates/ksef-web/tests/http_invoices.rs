//! Faktury zakupu, Faktura and Sesje over real HTTP against the embedded emulator: another
//! firm issues two invoices to ours, "Pobierz z KSeF" fills the register in the background,
//! the list shows them with totals and filters, one opens with ksef-visual, its XML downloads
//! byte for byte, and another firm's invoice is "not found".

#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ksef_core::Nip;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_web::{RunningWeb, WebConfig};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};

/// The administrator created by the first-start setup of every [`Harness::start`].
const ADMIN: &str = "Administrator";
const ADMIN_PASSWORD: &str = "hasło-administratora";
/// Password of the other program users the tests add.
const USER_PASSWORD: &str = "hasło-użytkownika";

const SETUP: &str = "/pierwsze-uruchomienie";
const LOGIN: &str = "/zaloguj";

struct Harness {
    web: RunningWeb,
    /// The administrator's browser (logged in by the setup unless started empty).
    http: Client,
    jar: Arc<Jar>,
    data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A fresh data dir, the server, and the first administrator set up in `http`.
    async fn start() -> Harness {
        let h = Harness::start_with(|_| {}).await;
        setup_admin(&h.http, &h).await;
        h
    }

    /// A fresh data dir and the server on an empty store (nobody logged in).
    async fn start_with(adjust: impl FnOnce(&mut WebConfig)) -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let data_dir = dir.path().join("program");
        let mut config = WebConfig::new(&data_dir);
        let emu = config.emulator.as_mut().unwrap();
        emu.auth_processing_delay = Duration::from_millis(50);
        emu.token_activation_delay = Duration::from_millis(100);
        adjust(&mut config);
        let web = ksef_web::serve(config).await.unwrap();
        let (http, jar) = browser_with_jar();
        Harness {
            web,
            http,
            jar,
            data_dir,
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.web.base_url(), path.trim_start_matches('/'))
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        get_with(&self.http, &self.url(path)).await
    }

    /// A URL-encoded POST in the administrator's browser (redirects followed).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        post_with(&self.http, &self.url(path), fields).await
    }

    /// The administrator browser's program session id (`ksef_web_sid`).
    fn admin_sid(&self) -> String {
        sid_of(&self.jar, &self.web.base_url()).expect("the administrator is logged in")
    }

    /// A second handle on the program's store (SQLite WAL: shared with the server).
    async fn store(&self) -> ksef_store::Store {
        ksef_store::Store::open(&self.data_dir, ksef_program::passphrase())
            .await
            .unwrap()
    }

    /// The administrator adds a program user (not an administrator).
    async fn add_user(&self, name: &str) {
        let (_, page) = self.get("/uzytkownicy").await;
        let (status, page) = self
            .post(
                "/uzytkownicy",
                &[
                    ("csrf", &csrf(&page)),
                    ("name", name),
                    ("password", USER_PASSWORD),
                    ("password2", USER_PASSWORD),
                ],
            )
            .await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert!(
            element_text(&page, "flash")
                .unwrap_or_default()
                .contains(&format!("Dodano użytkownika „{name}”")),
            "{page}"
        );
        assert!(page.contains(&format!("data-name=\"{name}\"")), "{page}");
    }

    /// A new browser logged in to the program as `name`.
    async fn browser_as(&self, name: &str, password: &str) -> Client {
        let b = browser();
        let (status, page) = program_login(&b, self, name, password).await;
        assert_eq!(status, StatusCode::OK, "{page}");
        assert_eq!(
            element_text(&page, "program-user-name").as_deref(),
            Some(name),
            "{page}"
        );
        b
    }
}

/// A browser: cookie store, redirects followed.
fn browser() -> Client {
    browser_with_jar().0
}

fn browser_with_jar() -> (Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = ksef_testkit::http_client_builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

/// A client without cookies that does not follow redirects (to see the 303s themselves).
fn bare() -> Client {
    ksef_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `ksef_web_sid` cookie a jar holds for the server.
fn sid_of(jar: &Jar, base: &str) -> Option<String> {
    let cookies = jar.cookies(&reqwest::Url::parse(base).unwrap())?;
    cookies
        .to_str()
        .unwrap()
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "ksef_web_sid")
        .map(|(_, v)| v.to_string())
}

async fn get_with(http: &Client, url: &str) -> (StatusCode, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post_with(http: &Client, url: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let r = http.post(url).form(fields).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The `Location` of a 303 (panics on anything else).
fn see_other(r: &reqwest::Response) -> String {
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "303 expected from {}",
        r.url()
    );
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The first-start setup in `http` (creates the administrator, logs them in).
async fn setup_admin(http: &Client, h: &Harness) {
    let (status, page) = get_with(http, &h.url(SETUP)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"setup-form\""), "{page}");
    let (status, page) = post_with(
        http,
        &h.url(SETUP),
        &[
            ("csrf", &csrf(&page)),
            ("name", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("password2", ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(
        element_text(&page, "program-user-name").as_deref(),
        Some(ADMIN),
        "{page}"
    );
}

/// The program login form (GET for its CSRF token, then POST); redirects followed.
async fn program_login(
    http: &Client,
    h: &Harness,
    name: &str,
    password: &str,
) -> (StatusCode, String) {
    let (status, page) = get_with(http, &h.url(LOGIN)).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"program-login-form\""), "{page}");
    post_with(
        http,
        &h.url(LOGIN),
        &[
            ("csrf", &csrf(&page)),
            ("name", name),
            ("password", password),
        ],
    )
    .await
}

/// The value of the first `name="csrf"` hidden input.
fn csrf(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field on the page") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

/// The text of the element with `id` (tags and folded `<details>` inside stripped, a few
/// entities decoded).
fn element_text(html: &str, id: &str) -> Option<String> {
    let at = html.find(&format!("id=\"{id}\""))?;
    let open = html[..at].rfind('<')?;
    let tag: String = html[open + 1..]
        .chars()
        .take_while(char::is_ascii_alphanumeric)
        .collect();
    let body = at + html[at..].find('>')? + 1;
    let close = body + html[body..].find(&format!("</{tag}>"))?;
    // Folded technical details (`<details>` of an error) are not the message.
    let mut inner = html[body..close].to_string();
    while let Some(d) = inner.find("<details") {
        let end = inner[d..]
            .find("</details>")
            .map_or(inner.len(), |e| d + e + "</details>".len());
        inner.replace_range(d..end, "");
    }
    let mut text = String::new();
    let mut in_tag = false;
    for c in inner.chars() {
        match c {
            '<' => in_tag = true,
            '>' => in_tag = false,
            c if !in_tag => text.push(c),
            _ => {}
        }
    }
    let text = text
        .replace("&#34;", "\"")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&");
    Some(text.trim().to_string())
}

/// The `<tr>` of a table row carrying `attr="value"`.
fn row<'a>(html: &'a str, attr: &str, value: &str) -> Option<&'a str> {
    let at = html.find(&format!("{attr}=\"{value}\""))?;
    let start = html[..at].rfind("<tr")?;
    let end = at + html[at..].find("</tr>")?;
    Some(&html[start..end])
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

/// The text of the first `<span class="{class}…">` in a piece of a page (e.g. a user's row).
fn span(row: &str, class: &str) -> String {
    let at = row
        .find(&format!("<span class=\"{class}"))
        .unwrap_or_else(|| panic!("no span.{class} in {row}"));
    let body = at + row[at..].find('>').unwrap() + 1;
    let end = body + row[body..].find("</span>").unwrap();
    row[body..end].trim().to_string()
}

/// The `<input ...>` tag of a permission checkbox.
fn permission_input<'a>(html: &'a str, permission: &str) -> &'a str {
    let at = html
        .find(&format!("name=\"permission\" value=\"{permission}\""))
        .unwrap_or_else(|| panic!("no checkbox for {permission}"));
    let start = html[..at].rfind('<').unwrap();
    let end = at + html[at..].find('>').unwrap();
    &html[start..=end]
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

/// Certificate login by multipart upload (PKCS#12 + password) in `http`.
async fn login_p12_in(
    h: &Harness,
    http: &Client,
    nip: &Nip,
    cred: &Credential,
    return_to: &str,
) -> (StatusCode, String) {
    let (_, page) = get_with(http, &h.url(return_to)).await;
    assert!(
        page.contains("id=\"cert-form\""),
        "login page expected: {page}"
    );
    let p12 = cred.to_pkcs12("tajne-haslo").unwrap();
    let form = Form::new()
        .text("csrf", csrf(&page))
        .text("return_to", return_to.to_string())
        .text("nip", nip.as_str().to_string())
        .part("certificate", Part::bytes(p12).file_name("anna.p12"))
        .text("password", "tajne-haslo");
    let r = http
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

/// Certificate login in the administrator's browser.
async fn login_p12(
    h: &Harness,
    nip: &Nip,
    cred: &Credential,
    return_to: &str,
) -> (StatusCode, String) {
    login_p12_in(h, &h.http, nip, cred, return_to).await
}

/// Generuj token KSeF in the administrator's browser (certificate login, Dodaj): the token,
/// its reference and the token page's path.
async fn generate_token(
    h: &Harness,
    nip: &Nip,
    cred: &Credential,
    description: &str,
    permissions: &[&str],
) -> (String, String, String) {
    let (status, page) = login_p12(h, nip, cred, "/generuj").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"grant-form\""), "{page}");
    let token = csrf(&page);
    let mut fields = vec![("csrf", token.as_str()), ("description", description)];
    fields.extend(permissions.iter().map(|p| ("permission", *p)));
    let r = h
        .http
        .post(h.url("/generuj"))
        .form(&fields)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let path = r.url().path().to_string();
    assert!(path.starts_with("/generuj/token/"), "{path}");
    let page = r.text().await.unwrap();
    let token = element_text(&page, "token-value").expect("token shown");
    let parsed: ksef_core::KsefToken = token.parse().expect("a KSeF token");
    (token, parsed.reference_number().to_string(), path)
}

/// The administrator's own KSeF token for a new firm, saved on them; the firm becomes current.
async fn own_token_for_new_firm(h: &Harness) -> (Nip, Credential) {
    let (nip, cred) = owner();
    let (_, _, token_path) = generate_token(
        h,
        &nip,
        &cred,
        "Faktury zakupu",
        &["InvoiceRead", "InvoiceWrite"],
    )
    .await;
    let (_, page) = h.get(&token_path).await;
    let (status, page) = h
        .post(&format!("{token_path}/zapisz"), &[("csrf", &csrf(&page))])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        element_text(&page, "flash")
            .unwrap_or_default()
            .contains(ADMIN),
        "{page}"
    );
    // The start page makes the only firm of the user's tokens the current one.
    let (_, page) = h.get("/").await;
    assert!(page.contains(nip.as_str()), "{page}");
    (nip, cred)
}

/// Another firm (certificate login on the emulator) issues FA(3) invoices to `buyer`; the
/// files sent and their KSeF numbers.
async fn issue_invoices_to(h: &Harness, buyer: &Nip, numbers: &[&str]) -> Vec<(Vec<u8>, String)> {
    let seller = Nip::random();
    let cred = make_test_certificate(
        &TestSubject::person_nip(seller.clone(), "Sprzedawca", "Testowy"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    issue_invoices_as(h, &seller, &cred, buyer, numbers).await
}

/// `seller` (certificate login through the program on the emulator) issues FA(3) invoices.
async fn issue_invoices_as(
    h: &Harness,
    seller: &Nip,
    cred: &Credential,
    buyer: &Nip,
    numbers: &[&str],
) -> Vec<(Vec<u8>, String)> {
    let dir = tempfile::tempdir().unwrap();
    let settings = ksef_program::Settings {
        base_url: h.web.emulator_base_url.clone().unwrap(),
        data_dir: dir.path().join("seller"),
        json: false,
    };
    let mut app = ksef_program::App::new(settings).unwrap();
    ksef_program::auth::login_with_certificate(
        &mut app,
        ksef_core::ContextIdentifier::Nip(seller.clone()),
        cred,
        false,
    )
    .await
    .unwrap();
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).unwrap();
    let mut sent = Vec::new();
    for n in numbers {
        let xml = String::from_utf8(ksef_testkit::invoices::fa3(seller.as_str(), n))
            .unwrap()
            .replace(
                "<NIP>1111111111</NIP>",
                &format!("<NIP>{}</NIP>", buyer.as_str()),
            )
            .into_bytes();
        let path = files.join(format!("{n}.xml"));
        std::fs::write(&path, &xml).unwrap();
        sent.push((path, xml));
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
    .unwrap();
    assert_eq!(totals.accepted, numbers.len(), "{outcomes:?}");
    sent.into_iter()
        .map(|(path, xml)| {
            let o = outcomes
                .iter()
                .find(|o| o.file.file_name() == path.file_name())
                .unwrap();
            (xml, o.ksef_number.clone().unwrap())
        })
        .collect()
}

/// The `data-id` of the list row of a KSeF number.
fn row_id(page: &str, ksef_number: &str) -> i64 {
    let r = row(page, "data-ksef-number", ksef_number)
        .unwrap_or_else(|| panic!("no row of {ksef_number}: {page}"));
    let at = r.find("data-id=\"").unwrap() + "data-id=\"".len();
    r[at..at + r[at..].find('"').unwrap()].parse().unwrap()
}

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

    let (ours, _) = own_token_for_new_firm(&h).await;
    let sent = issue_invoices_to(&h, &ours, &["101", "102"]).await;

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
    let base = h.web.emulator_base_url.clone().unwrap();
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
    let (ours, cred) = own_token_for_new_firm(&h).await;
    // Before any sending: an empty list (the KSeF session opens with the own token).
    let (status, page) = h.get("/sesje").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"ksef-session\""), "{page}");
    assert!(page.contains("id=\"sessions-empty\""), "{page}");
    // Our firm sends one invoice (another program on the same emulator).
    issue_invoices_as(&h, &ours, &cred, &Nip::random(), &["201"]).await;
    let (status, page) = h.get("/sesje").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("class=\"session-row\"").count(), 1, "{page}");
    let at = page.find("class=\"session-row\"").unwrap();
    let r = &page[page[..at].rfind("<tr").unwrap()..at + page[at..].find("</tr>").unwrap()];
    assert_eq!(cell(r, "kind"), "interaktywna");
    assert!(cell(r, "status").contains("Przetworzona"), "{r}");
    assert_eq!(cell(r, "total num"), "1");
    assert_eq!(cell(r, "accepted num"), "1");
    assert_eq!(cell(r, "failed num"), "0");
    assert!(cell(r, "created").contains('.'), "{r}");
}
