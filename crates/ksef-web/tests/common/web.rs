//! The web app over real HTTP (reqwest, a cookie store per "browser") against its embedded
//! emulator and a real SQLite store in a temp dir: [`Harness`] and the requests the HTTP tests
//! share (program setup and login, certificate login, Generuj token KSeF, Zapisz).

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use ksef_core::Nip;
use ksef_crypto::Credential;
use ksef_web::{RunningWeb, WebConfig};
use reqwest::cookie::{CookieStore, Jar};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};

use super::firms::new_firm;
use super::html::{csrf, element_text};

/// The administrator created by the first-start setup of every [`Harness::start`].
pub const ADMIN: &str = "Administrator";
pub const ADMIN_PASSWORD: &str = "hasło-administratora";
/// Password of the other program users the tests add.
pub const USER_PASSWORD: &str = "hasło-użytkownika";

pub const SETUP: &str = "/pierwsze-uruchomienie";
pub const LOGIN: &str = "/zaloguj";

/// The web app on a fresh data dir, and the administrator's browser.
pub struct Harness {
    pub web: RunningWeb,
    /// The administrator's browser (logged in by the setup unless started empty).
    pub http: Client,
    jar: Arc<Jar>,
    pub data_dir: PathBuf,
    _dir: tempfile::TempDir,
}

impl Harness {
    /// A fresh data dir, the server, and the first administrator set up in `http`.
    pub async fn start() -> Harness {
        let h = Harness::start_with(|_| {}).await;
        setup_admin(&h.http, &h).await;
        h
    }

    /// A fresh data dir and the server on an empty store (nobody logged in).
    pub async fn start_with(adjust: impl FnOnce(&mut WebConfig)) -> Harness {
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

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.web.base_url(), path.trim_start_matches('/'))
    }

    /// The embedded emulator's base URL.
    pub fn emulator(&self) -> String {
        self.web
            .emulator_base_url
            .clone()
            .expect("the web app runs an embedded emulator")
    }

    /// A GET in the administrator's browser (redirects followed).
    pub async fn get(&self, path: &str) -> (StatusCode, String) {
        get_with(&self.http, &self.url(path)).await
    }

    /// A URL-encoded POST in the administrator's browser (redirects followed).
    pub async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        post_with(&self.http, &self.url(path), fields).await
    }

    /// The administrator browser's program session id (`ksef_web_sid`).
    pub fn admin_sid(&self) -> String {
        sid_of(&self.jar, &self.web.base_url()).expect("the administrator is logged in")
    }

    /// A second handle on the program's store (SQLite WAL: shared with the server).
    pub async fn store(&self) -> ksef_store::Store {
        ksef_store::Store::open(&self.data_dir, ksef_program::passphrase())
            .await
            .unwrap()
    }

    /// The administrator adds a program user (not an administrator).
    pub async fn add_user(&self, name: &str) {
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
    pub async fn browser_as(&self, name: &str, password: &str) -> Client {
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
pub fn browser() -> Client {
    browser_with_jar().0
}

/// A browser and its cookie jar.
pub fn browser_with_jar() -> (Client, Arc<Jar>) {
    let jar = Arc::new(Jar::default());
    let client = ksef_testkit::http_client_builder()
        .cookie_provider(jar.clone())
        .build()
        .unwrap();
    (client, jar)
}

/// A client without cookies that does not follow redirects (to see the 303s themselves).
pub fn bare() -> Client {
    ksef_testkit::http_client_builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

/// The `ksef_web_sid` cookie a jar holds for the server.
pub fn sid_of(jar: &Jar, base: &str) -> Option<String> {
    let cookies = jar.cookies(&reqwest::Url::parse(base).unwrap())?;
    cookies
        .to_str()
        .unwrap()
        .split(';')
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == "ksef_web_sid")
        .map(|(_, v)| v.to_string())
}

/// A GET in `http`: status and body.
pub async fn get_with(http: &Client, url: &str) -> (StatusCode, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// A URL-encoded POST in `http`: status and body.
pub async fn post_with(http: &Client, url: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let r = http.post(url).form(fields).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The `Location` of a 303 (panics on anything else).
pub fn see_other(r: &reqwest::Response) -> String {
    assert_eq!(
        r.status(),
        StatusCode::SEE_OTHER,
        "303 expected from {}",
        r.url()
    );
    r.headers()["location"].to_str().unwrap().to_string()
}

/// The first-start setup in `http` (creates the administrator, logs them in).
pub async fn setup_admin(http: &Client, h: &Harness) {
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
pub async fn program_login(
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

/// A new firm and its owner's certificate.
pub fn owner() -> (Nip, Credential) {
    new_firm("Anna", "Właścicielka")
}

/// Certificate login by multipart upload (PKCS#12 + password) in `http`.
pub async fn login_p12_in(
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
pub async fn login_p12(
    h: &Harness,
    nip: &Nip,
    cred: &Credential,
    return_to: &str,
) -> (StatusCode, String) {
    login_p12_in(h, &h.http, nip, cred, return_to).await
}

/// Generuj token KSeF in the administrator's browser (certificate login, Dodaj): the token,
/// its reference and the token page's path.
pub async fn generate_token(
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

/// [`generate_token`], then Zapisz on its page for the administrator (the default): their own
/// token for the firm. The page Zapisz leads to.
pub async fn save_own_token(
    h: &Harness,
    nip: &Nip,
    cred: &Credential,
    description: &str,
    permissions: &[&str],
) -> String {
    let (_, _, token_path) = generate_token(h, nip, cred, description, permissions).await;
    let (_, page) = h.get(&token_path).await;
    let (status, page) = h
        .post(&format!("{token_path}/zapisz"), &[("csrf", &csrf(&page))])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let flash = element_text(&page, "flash").unwrap_or_default();
    assert!(
        flash.contains(&format!("zapisany dla użytkownika „{ADMIN}”")),
        "{page}"
    );
    page
}

/// A new firm ([`owner`]) and the administrator's own token for it with the invoice
/// permissions ([`save_own_token`]); the start page then makes it the current firm.
pub async fn own_invoice_token_for_new_firm(h: &Harness) -> (Nip, Credential) {
    let (nip, cred) = owner();
    save_own_token(
        h,
        &nip,
        &cred,
        "Token do faktur",
        &["InvoiceRead", "InvoiceWrite"],
    )
    .await;
    // The start page makes the only firm of the user's tokens the current one.
    let (_, page) = h.get("/").await;
    assert!(page.contains(nip.as_str()), "{page}");
    (nip, cred)
}
