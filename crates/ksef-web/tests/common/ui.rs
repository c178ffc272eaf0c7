//! The app's screens driven in a real Chromium tab (against DOM-CONTRACT.md): [`App`] (the web
//! app with its embedded emulator), the firm and people the browser tests use, and the steps
//! several tests take (first-run setup, certificate login, Generuj token KSeF, Zapisz).

use std::path::{Path, PathBuf};

use ksef_core::Nip;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_testkit::RawClient;
use ksef_web::{RunningWeb, WebConfig};
use serde_json::json;

use super::chrome::{Chrome, Tab};

/// The taxpayer whose KSeF screens are used (the context of every login).
pub const NIP: &str = "5260250274";
/// Password of every PKCS#12 file made here.
pub const P12_PASSWORD: &str = "Hasło-testowe-1";
/// The first administrator, created by the first-run setup, and their password.
pub const ADMIN: &str = "Anna Nowak";
pub const ADMIN_PASSWORD: &str = "Hasło-administratora-1";

/// The web app with its embedded emulator, and a raw API client of that emulator.
pub struct App {
    pub web: RunningWeb,
    pub api: RawClient,
    _dir: tempfile::TempDir,
}

impl App {
    pub async fn start() -> App {
        App::start_with(|_| {}).await
    }

    /// [`App::start`] with the config changed by `adjust` first.
    pub async fn start_with(adjust: impl FnOnce(&mut WebConfig)) -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = WebConfig::new(dir.path().join("program"));
        if let Some(emulator) = config.emulator.as_mut() {
            emulator.auth_processing_delay = std::time::Duration::from_millis(100);
        }
        adjust(&mut config);
        let web = ksef_web::serve(config).await.expect("start the web app");
        let api = RawClient::new(&App::emulator_of(&web));
        App {
            web,
            api,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT/<path>`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.web.base_url(), path.trim_start_matches('/'))
    }

    /// The embedded emulator's base URL.
    pub fn emulator(&self) -> String {
        App::emulator_of(&self.web)
    }

    fn emulator_of(web: &RunningWeb) -> String {
        web.emulator_base_url
            .clone()
            .expect("the web app runs an embedded emulator")
    }
}

/// A test certificate of the owner of [`NIP`] (a person identified by that NIP).
pub fn owner() -> Credential {
    let nip: Nip = NIP.parse().expect("NIP");
    make_test_certificate(
        &TestSubject::person_nip(nip, "Adam", "Właściciel"),
        KeyAlgorithm::EcP256,
    )
    .expect("test certificate")
}

/// Writes `bytes` as `dir/name` (a file to upload); returns its path.
pub fn write_file(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, bytes).unwrap_or_else(|e| panic!("writing {}: {e}", path.display()));
    path
}

/// Writes the credential as a password-protected PKCS#12 file.
pub fn p12_file(dir: &Path, name: &str, credential: &Credential) -> PathBuf {
    write_file(
        dir,
        name,
        &credential.to_pkcs12(P12_PASSWORD).expect("PKCS#12"),
    )
}

/// The path of the page shown (`/uzytkownicy`, …).
pub async fn path(tab: &Tab) -> String {
    tab.call("() => location.pathname", &[])
        .await
        .as_str()
        .unwrap_or_default()
        .to_string()
}

/// Fails the test with the page's `#error` if one is shown.
pub async fn no_error(tab: &Tab, step: &str) {
    if tab.exists("#error").await {
        let e = tab.text("#error .message").await.unwrap_or_default();
        tab.fail::<()>(&format!("{step} failed: {e}")).await;
    }
}

/// The start page of the logged-in `name`: `#guide`, the header names the user.
pub async fn expect_start_page(tab: &Tab, name: &str) {
    if tab.wait_for_any(&["#guide", "#error"]).await == 1 {
        let e = tab.text("#error").await.unwrap_or_default();
        tab.fail::<()>(&format!("expected the start page of {name}: {e}"))
            .await;
    }
    assert_eq!(path(tab).await, "/", "the start page is /");
    assert_eq!(
        tab.text("#program-user-name").await.as_deref(),
        Some(name),
        "the header names the logged-in program user"
    );
    tab.expect("form#logout-form button#logout").await;
}

/// An empty store: any page leads to the first-run setup, which creates `name` as the first
/// administrator and logs them in (→ the start page).
pub async fn first_run_setup(tab: &Tab, app: &App, name: &str, password: &str) {
    tab.goto(&app.url("/uzytkownicy")).await;
    tab.wait_for("form#setup-form").await;
    assert_eq!(
        path(tab).await,
        "/pierwsze-uruchomienie",
        "an empty store sends every page to the first-run setup"
    );
    tab.type_into("#setup-name", name).await;
    tab.type_into("#setup-password", password).await;
    tab.type_into("#setup-password2", password).await;
    tab.click_and_wait("#setup-submit").await;
    expect_start_page(tab, name).await;
    assert!(
        tab.text("#program-user")
            .await
            .unwrap_or_default()
            .contains("administrator"),
        "the first user is an administrator"
    );
}

/// On a page showing `#login`: "Certyfikat" with a PKCS#12 file and its password → logged in.
pub async fn certificate_login(tab: &Tab, p12: &Path) {
    tab.wait_for("#login").await;
    tab.click("input[name=method][value=cert]").await;
    tab.fill("#cert-form input[name=nip]", NIP).await;
    tab.set_files("#cert-form input[name=certificate]", &[p12])
        .await;
    tab.fill("#cert-form input[name=password]", P12_PASSWORD)
        .await;
    tab.click_and_wait("#cert-login").await;
    if tab.exists("#error").await {
        let e = tab.text("#error").await.unwrap_or_default();
        tab.fail::<()>(&format!("certificate login failed: {e}"))
            .await;
    }
    tab.wait_for("#ksef-session").await;
    let banner = tab.text("#ksef-session").await.unwrap_or_default();
    assert!(
        banner.contains(NIP),
        "session banner names the context: {banner:?}"
    );
}

/// On the grant form: description, the permissions, Dodaj → the token's own page; returns
/// (the page's path, reference, token).
pub async fn generate_token(
    tab: &Tab,
    description: &str,
    permissions: &[&str],
) -> (String, String, String) {
    tab.wait_for("form#grant-form").await;
    tab.type_into("form#grant-form input[name=description]", description)
        .await;
    for p in permissions {
        tab.click(&format!("input[name=permission][value={p}]"))
            .await;
    }
    tab.click_and_wait("#add-token").await;
    if tab.wait_for_any(&["#token-value", "#error"]).await == 1 {
        let e = tab.text("#error").await.unwrap_or_default();
        tab.fail::<()>(&format!("Dodaj failed: {e}")).await;
    }
    let page = path(tab).await;
    assert!(
        page.starts_with("/generuj/token/") && page.len() > "/generuj/token/".len(),
        "Dodaj redirects to the token's own page: {page}"
    );
    let token = tab.text("#token-value").await.unwrap_or_default();
    let reference = tab.text("#token-reference").await.unwrap_or_default();
    assert!(
        !reference.is_empty() && token.starts_with(&format!("{reference}|")),
        "#token-reference {reference:?} is the reference of #token-value {token:?}"
    );
    (page, reference, token)
}

/// Generuj token KSeF from the menu: certificate login with `p12`, a token with `permissions`,
/// Zapisz on the logged-in user (the default): their own token for [`NIP`].
pub async fn save_own_token(tab: &Tab, p12: &Path, description: &str, permissions: &[&str]) {
    tab.click_and_wait("a#nav-generate").await;
    certificate_login(tab, p12).await;
    generate_token(tab, description, permissions).await;
    tab.click_and_wait("#save-token").await;
    tab.wait_for("#flash").await;
    no_error(tab, "Zapisz").await;
}

/// The app on an empty store and a Chromium for the test named `test`: the first-run setup of
/// [`ADMIN`], then their own token for [`NIP`] with the invoice permissions ([`save_own_token`]
/// with [`owner`]'s certificate). The tab is left on the page Zapisz leads to.
pub async fn admin_with_invoice_token(test: &str) -> (App, Chrome, Tab) {
    let app = App::start().await;
    let chrome = Chrome::launch(test).await;
    let p12 = p12_file(&chrome.scratch(), "adam.p12", &owner());
    let tab = chrome.tab().await;
    first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
    save_own_token(&tab, &p12, "Faktury", &["InvoiceRead", "InvoiceWrite"]).await;
    (app, chrome, tab)
}

/// The firm switch in the header (the select submits itself): the same page comes back for
/// the chosen firm.
pub async fn switch_firm(tab: &Tab, firm: &str) {
    let before = path(tab).await;
    tab.call("() => { window.__ksefBrowserTestOldPage = true; }", &[])
        .await;
    tab.fill("#firm-select", firm).await;
    tab.wait_until(
        "the page after switching the firm",
        "() => window.__ksefBrowserTestOldPage === undefined && document.readyState === 'complete'",
        &[],
    )
    .await;
    no_error(tab, "switching the firm").await;
    assert_eq!(
        path(tab).await,
        before,
        "the switch returns to the same page"
    );
    assert_eq!(tab.prop("#firm-select", "value").await, json!(firm));
}
