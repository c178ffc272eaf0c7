//! Browser tests of the web app (issue 5 "Done when") in a real headless Chromium, written against
//! DOM-CONTRACT.md only. Each test starts the app with its embedded emulator in a temp dir, sets
//! up test data through the emulator's `/testdata` API, clicks through the screens and saves
//! screenshots into `<target>/screenshots/<test>-<step>.png` (paths are printed; run with
//! `--nocapture` to see them).
//!
//! Chromium is required: without it these tests FAIL and say to run scripts/test.sh.

mod common;

use std::path::{Path, PathBuf};

use common::{Chrome, Tab};
use ksef_core::{ContextIdentifier, KsefToken, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::RawClient;
use ksef_web::{RunningWeb, WebConfig};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The taxpayer whose KSeF screens are used (the context of every login).
const NIP: &str = "5260250274";
/// A person (PESEL) with only some permissions in [`NIP`].
const PESEL_PARTIAL: &str = "44051401359";
/// A person (PESEL) linked to [`NIP`] as its owner (Profil Zaufany test).
const PESEL_OWNER: &str = "15062788702";
/// Password of every PKCS#12 file made here.
const P12_PASSWORD: &str = "Hasło-testowe-1";

/// Every token permission the grant form offers (DOM-CONTRACT.md).
const TOKEN_PERMISSIONS: [&str; 7] = [
    "InvoiceRead",
    "InvoiceWrite",
    "CredentialsRead",
    "CredentialsManage",
    "SubunitManage",
    "EnforcementOperations",
    "Introspection",
];

/// The web app with its embedded emulator, and a raw API client of that emulator.
struct App {
    web: RunningWeb,
    api: RawClient,
    _dir: tempfile::TempDir,
}

impl App {
    async fn start() -> App {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut config = WebConfig::new(dir.path().join("program"));
        if let Some(emulator) = config.emulator.as_mut() {
            emulator.auth_processing_delay = std::time::Duration::from_millis(100);
        }
        let web = ksef_web::serve(config).await.expect("start the web app");
        let api = RawClient::new(
            web.emulator_base_url
                .as_deref()
                .expect("the web app runs an embedded emulator"),
        );
        App {
            web,
            api,
            _dir: dir,
        }
    }

    /// `http://127.0.0.1:PORT/<path>`.
    fn url(&self, path: &str) -> String {
        format!("{}{}", self.web.base_url(), path.trim_start_matches('/'))
    }

    fn context() -> ContextIdentifier {
        ContextIdentifier::Nip(NIP.parse().expect("NIP"))
    }

    /// ZAW-FA simulation: grants `permissions` in [`NIP`] to a PESEL.
    async fn grant(&self, pesel: &str, permissions: &[&str]) {
        let perms: Vec<Value> = permissions
            .iter()
            .map(|p| json!({"permissionType": p, "description": format!("Test przeglądarki: {p}")}))
            .collect();
        let a = self
            .api
            .post(
                "/testdata/permissions",
                None,
                json!({"contextIdentifier": {"type": "Nip", "value": NIP},
                       "authorizedIdentifier": {"type": "Pesel", "value": pesel},
                       "permissions": perms}),
            )
            .await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "/testdata/permissions: {:?}",
            a.body
        );
    }

    /// Links a PESEL to [`NIP`] (the person owns the NIP's context).
    async fn link_person(&self, pesel: &str) {
        let a = self
            .api
            .post(
                "/testdata/person",
                None,
                json!({"nip": NIP, "pesel": pesel, "isBailiff": false,
                       "description": "Właściciel do testu przeglądarki"}),
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "/testdata/person: {:?}", a.body);
    }

    /// Logs in through the API as the owner of [`NIP`] and creates active tokens with these
    /// descriptions; returns `(reference, token)` for each.
    async fn owner_tokens(
        &self,
        owner: &ksef_crypto::Credential,
        descriptions: &[&str],
    ) -> Vec<(String, String)> {
        let session = self
            .api
            .login_with_certificate(owner, &App::context())
            .await
            .expect("owner login through the API");
        let mut out = Vec::new();
        for d in descriptions {
            out.push(
                self.api
                    .generate_active_token(&session.access_token, &["InvoiceRead"], d)
                    .await,
            );
        }
        out
    }

    /// A token's status as KSeF reports it (read in a fresh session of `who`).
    async fn token_status(&self, who: &ksef_crypto::Credential, reference: &str) -> String {
        let session = self
            .api
            .login_with_certificate(who, &App::context())
            .await
            .expect("login through the API");
        let a = self
            .api
            .get(&format!("/tokens/{reference}"), &session.access_token)
            .await;
        assert_eq!(
            a.status,
            StatusCode::OK,
            "GET /tokens/{reference}: {:?}",
            a.body
        );
        a.body["status"].as_str().unwrap_or_default().to_string()
    }
}

/// A test certificate for a person with a PESEL.
fn person(pesel: &str, given: &str, surname: &str) -> ksef_crypto::Credential {
    make_test_certificate(
        &TestSubject::person_pesel(pesel.parse().expect("PESEL"), given, surname),
        KeyAlgorithm::EcP256,
    )
    .expect("test certificate")
}

/// A test certificate of the owner of [`NIP`] (a person identified by that NIP).
fn owner() -> ksef_crypto::Credential {
    let nip: Nip = NIP.parse().expect("NIP");
    make_test_certificate(
        &TestSubject::person_nip(nip, "Adam", "Właściciel"),
        KeyAlgorithm::EcP256,
    )
    .expect("test certificate")
}

/// Writes the credential as a password-protected PKCS#12 file.
fn p12_file(dir: &Path, name: &str, credential: &ksef_crypto::Credential) -> PathBuf {
    let path = dir.join(name);
    std::fs::write(&path, credential.to_pkcs12(P12_PASSWORD).expect("PKCS#12"))
        .expect("write .p12");
    path
}

/// On a page showing `#login`: "Certyfikat" with a PKCS#12 file and its password → logged in.
async fn certificate_login(tab: &Tab, p12: &Path) {
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

/// Użytkownicy › Dodaj `name`, then makes it the current program user.
async fn add_program_user(tab: &Tab, name: &str) {
    tab.click_and_wait("a#nav-users").await;
    tab.fill("#add-user-form input[name=name]", name).await;
    tab.click_and_wait("#add-user").await;
    let row = format!("tr.user-row[data-name=\"{name}\"]");
    tab.expect(&row).await;
    tab.fill("select#current-user", name).await;
    tab.click_and_wait("#current-user-save").await;
    assert_eq!(
        tab.prop("select#current-user", "value").await,
        json!(name),
        "{name} is the current program user"
    );
}

/// The secret part of a KSeF token (after the last `|`): what must never be shown again.
fn token_secret(token: &str) -> &str {
    token.rsplit('|').next().unwrap_or(token)
}

/// certificate login → Nadaj uprawnienia (what the person lacks is disabled, with a reason) →
/// Dodaj → token shown once → Zapisz → Użytkownicy shows it masked; the saved token works.
#[test]
fn certificate_login_grant_add_save_masked() {
    common::run(|| async {
        let app = App::start().await;
        let held = ["InvoiceRead", "CredentialsManage"];
        app.grant(PESEL_PARTIAL, &held).await;
        let chrome = Chrome::launch("cert-token").await;
        let jan = person(PESEL_PARTIAL, "Jan", "Kowalski");
        let p12 = p12_file(&chrome.scratch(), "jan-kowalski.p12", &jan);
        let tab = chrome.tab().await;

        tab.goto(&app.web.base_url()).await;
        add_program_user(&tab, "Anna Nowak").await;

        // Generuj token KSeF → login → Nadaj uprawnienia KSeF.
        tab.click_and_wait("a#nav-generate").await;
        certificate_login(&tab, &p12).await;
        tab.wait_for("form#grant-form").await;
        for p in TOKEN_PERMISSIONS {
            let sel = format!("form#grant-form input[type=checkbox][name=permission][value={p}]");
            tab.expect(&sel).await;
            let disabled = tab.prop(&sel, "disabled").await;
            assert_eq!(
                disabled,
                json!(!held.contains(&p)),
                "{p}: enabled exactly when the person holds it"
            );
            let reason = tab
                .call(
                    "(s) => { const c = document.querySelector(s); \
                     const l = c.closest('label') || document.querySelector('label[for=\"' + c.id + '\"]'); \
                     const r = l && l.querySelector('span.reason'); return r ? r.innerText.trim() : ''; }",
                    &[json!(sel)],
                )
                .await;
            let reason = reason.as_str().unwrap_or_default();
            if held.contains(&p) {
                assert!(
                    reason.is_empty(),
                    "{p} is held, yet a reason is shown: {reason:?}"
                );
            } else {
                assert!(!reason.is_empty(), "{p} is disabled without a span.reason");
            }
        }
        tab.screenshot("01-nadaj-uprawnienia").await;

        // A real click on a disabled permission does nothing; held ones can be ticked.
        tab.click("input[name=permission][value=InvoiceWrite]")
            .await;
        assert_eq!(
            tab.prop("input[name=permission][value=InvoiceWrite]", "checked")
                .await,
            false
        );
        tab.type_into(
            "form#grant-form input[name=description]",
            "Faktury - test przeglądarki",
        )
        .await;
        tab.click("input[name=permission][value=InvoiceRead]").await;
        assert_eq!(
            tab.prop("input[name=permission][value=InvoiceRead]", "checked")
                .await,
            true
        );

        // Dodaj → the token, shown once, with the copy button and the warning.
        tab.click_and_wait("#add-token").await;
        if tab.wait_for_any(&["#token-value", "#error"]).await == 1 {
            let e = tab.text("#error").await.unwrap_or_default();
            tab.fail::<()>(&format!("Dodaj failed: {e}")).await;
        }
        let token = tab.text("#token-value").await.unwrap_or_default();
        assert!(!token.is_empty(), "#token-value is empty");
        let parsed: KsefToken = token.parse().expect("#token-value holds a KSeF token");
        assert_eq!(parsed.context(), &App::context());
        tab.expect("button#copy-token").await;
        let warning = tab.text("#token-warning").await.unwrap_or_default();
        assert!(warning.contains("nie będzie już możliwości"), "{warning:?}");
        tab.screenshot("02-token").await;

        // Zapisz → saved on the current program user.
        tab.click_and_wait("#save-token").await;
        tab.expect("#flash").await;
        assert!(
            !tab.html().await.contains(token_secret(&token)),
            "the token is shown again after Zapisz"
        );

        // Użytkownicy: masked, never the full token.
        tab.click_and_wait("a#nav-users").await;
        let row = "tr.user-row[data-name=\"Anna Nowak\"]";
        tab.expect(row).await;
        let masked = tab
            .text(&format!("{row} td.token-masked"))
            .await
            .unwrap_or_default();
        assert!(!masked.is_empty(), "the user's token is not shown masked");
        assert!(
            !masked.contains(token_secret(&token)),
            "masked token shows the secret: {masked:?}"
        );
        let html = tab.html().await;
        assert!(!html.contains(&token), "Użytkownicy shows the full token");
        assert!(
            !html.contains(token_secret(&token)),
            "Użytkownicy shows the token's secret"
        );
        tab.screenshot("03-uzytkownicy").await;

        // Edytuj: the field is empty (masked placeholder only); the check button opens a token
        // session with the saved token and shows what it gives.
        tab.click_and_wait(&format!("{row} a.edit")).await;
        assert_eq!(tab.prop("textarea#token-field", "value").await, json!(""));
        assert!(
            !tab.html().await.contains(token_secret(&token)),
            "Edytuj shows the token's secret"
        );
        tab.click_and_wait("#check-token").await;
        if tab.wait_for_any(&["#token-permissions", "#error"]).await == 1 {
            let e = tab.text("#error").await.unwrap_or_default();
            tab.fail::<()>(&format!("checking the saved token failed: {e}"))
                .await;
        }
        assert_eq!(
            tab.texts("#token-permissions li").await,
            vec!["InvoiceRead".to_string()]
        );
        tab.screenshot("04-sprawdz-token").await;

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// `AuthTokenRequest_dd-mm-yyyy_HH_MM_SS.xml`.
fn is_request_file_name(name: &str) -> bool {
    let Some(stamp) = name
        .strip_prefix("AuthTokenRequest_")
        .and_then(|r| r.strip_suffix(".xml"))
    else {
        return false;
    };
    let shape = "dd-dd-dddd_dd_dd_dd";
    stamp.len() == shape.len()
        && stamp.chars().zip(shape.chars()).all(
            |(c, s)| {
                if s == 'd' { c.is_ascii_digit() } else { c == s }
            },
        )
}

/// Profil Zaufany: prepare → download the unsigned request → sign it in the emulator's simulated
/// signing service (in a second tab, like a user) → upload `<name> (1).xml` → logged in.
#[test]
fn profil_zaufany_round_trip() {
    common::run(|| async {
        let app = App::start().await;
        app.link_person(PESEL_OWNER).await;
        let chrome = Chrome::launch("profil-zaufany").await;
        let tab = chrome.tab().await;

        tab.goto(&app.url("/generuj")).await;
        tab.wait_for("#login").await;
        tab.click("input[name=method][value=pz]").await;
        tab.fill("#pz-prepare-form input[name=nip]", NIP).await;
        tab.click_and_wait("#pz-prepare").await;
        tab.wait_for("#pz-step2").await;
        let deadline = tab.text("#pz-deadline").await.unwrap_or_default();
        assert!(
            deadline.contains(':') && !deadline.contains("minął"),
            "time left to sign: {deadline:?}"
        );
        let signing = tab.prop("a#pz-signing-link", "href").await;
        assert_eq!(
            signing.as_str(),
            app.web.signing_simulator_url().as_deref(),
            "offline, the signing link is the emulator's simulated service"
        );
        tab.screenshot("01-plik-do-podpisu").await;

        // Download the unsigned request by clicking the link.
        let before = tab.downloads();
        tab.click("a#pz-download").await;
        let unsigned = tab
            .wait_download("the unsigned request", &before, is_request_file_name)
            .await;
        let unsigned_xml = std::fs::read_to_string(&unsigned).expect("read the request");
        assert!(
            unsigned_xml.contains("AuthTokenRequest") && unsigned_xml.contains(NIP),
            "{unsigned_xml}"
        );
        assert!(
            !unsigned_xml.contains("SignatureValue"),
            "the request is already signed"
        );

        // The simulated signing service, in its own tab.
        let signer = chrome.tab().await;
        signer.goto(signing.as_str().unwrap_or_default()).await;
        let title = signer
            .call("() => document.title + ' ' + document.body.innerText", &[])
            .await;
        assert!(
            title.as_str().unwrap_or_default().contains("SYMULACJA"),
            "the signing page is labelled a simulation: {title}"
        );
        signer
            .set_files("#sign-form input[name=document]", &[unsigned.as_path()])
            .await;
        signer
            .fill("#sign-form input[name=pesel]", PESEL_OWNER)
            .await;
        signer
            .fill("#sign-form input[name=given_name]", "Zofia")
            .await;
        signer
            .fill("#sign-form input[name=surname]", "Zaufana")
            .await;
        signer.screenshot("02-symulator-podpisu").await;
        let stem = unsigned
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or_default()
            .to_string();
        let before = signer.downloads();
        signer.click("#sign").await;
        let expected = format!("{stem} (1).xml");
        let signed = signer
            .wait_download("the signed request", &before, |n| n == expected)
            .await;
        let signed_xml = std::fs::read_to_string(&signed).expect("read the signed request");
        assert!(
            signed_xml.contains("SignatureValue"),
            "not signed: {signed_xml}"
        );
        drop(signer);

        // Upload the signed file → logged in → Nadaj uprawnienia KSeF.
        tab.set_files("#pz-submit-form input[name=signed]", &[signed.as_path()])
            .await;
        tab.click_and_wait("#pz-submit").await;
        if tab.wait_for_any(&["form#grant-form", "#error"]).await == 1 {
            let e = tab.text("#error").await.unwrap_or_default();
            tab.fail::<()>(&format!("Profil Zaufany login failed: {e}"))
                .await;
        }
        let banner = tab.text("#ksef-session").await.unwrap_or_default();
        assert!(banner.contains(NIP), "session banner: {banner:?}");
        // The owner (PESEL linked to the NIP) may give a token everything an owner holds.
        assert_eq!(
            tab.prop(
                "input[name=permission][value=CredentialsManage]",
                "disabled"
            )
            .await,
            false
        );
        tab.screenshot("03-zalogowany").await;

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// Tokeny KSeF as the owner (Usuń revokes, after a confirmation) and, after Zamknij, as a person
/// with only CredentialsRead (the table, but no Usuń).
#[test]
fn tokens_owner_revokes_reader_cannot() {
    common::run(|| async {
        let app = App::start().await;
        let owner = owner();
        let tokens = app
            .owner_tokens(&owner, &["Token do usunięcia", "Token zostaje"])
            .await;
        let (doomed, kept) = (tokens[0].0.clone(), tokens[1].0.clone());
        app.grant(PESEL_PARTIAL, &["CredentialsRead"]).await;
        let chrome = Chrome::launch("tokeny").await;
        let owner_p12 = p12_file(&chrome.scratch(), "wlasciciel.p12", &owner);
        let reader = person(PESEL_PARTIAL, "Ewa", "Czytelniczka");
        let reader_p12 = p12_file(&chrome.scratch(), "czytelniczka.p12", &reader);
        let tab = chrome.tab().await;

        // Owner.
        tab.goto(&app.url("/tokeny")).await;
        certificate_login(&tab, &owner_p12).await;
        tab.wait_for("table#tokens-table").await;
        let doomed_row = format!("tr.token-row[data-reference=\"{doomed}\"]");
        let kept_row = format!("tr.token-row[data-reference=\"{kept}\"]");
        tab.expect(&doomed_row).await;
        tab.expect(&kept_row).await;
        assert_eq!(
            tab.text(&format!("{doomed_row} td.description"))
                .await
                .as_deref(),
            Some("Token do usunięcia")
        );
        assert_eq!(
            tab.text(&format!("{doomed_row} td.status"))
                .await
                .as_deref(),
            Some("Active")
        );
        assert!(
            tab.count(".revoke").await >= 2,
            "the owner gets Usuń on every row"
        );
        tab.screenshot("01-wlasciciel").await;

        tab.click_and_wait(&format!("{doomed_row} button.revoke"))
            .await;
        let dialogs = tab.dialogs();
        assert_eq!(
            dialogs.len(),
            1,
            "Usuń asks for a confirmation first: {dialogs:?}"
        );
        if tab.exists("#error").await {
            let e = tab.text("#error").await.unwrap_or_default();
            tab.fail::<()>(&format!("Usuń failed: {e}")).await;
        }
        tab.goto(&app.url("/tokeny")).await;
        tab.wait_for(&doomed_row).await;
        let status = tab
            .text(&format!("{doomed_row} td.status"))
            .await
            .unwrap_or_default();
        assert!(
            status == "Revoking" || status == "Revoked",
            "revoked token's status: {status:?}"
        );
        assert_eq!(
            tab.text(&format!("{kept_row} td.status")).await.as_deref(),
            Some("Active")
        );
        let in_ksef = app.token_status(&owner, &doomed).await;
        assert!(
            in_ksef == "Revoking" || in_ksef == "Revoked",
            "KSeF status: {in_ksef}"
        );
        assert_eq!(app.token_status(&owner, &kept).await, "Active");
        tab.screenshot("02-po-usunieciu").await;

        // The status filter.
        tab.fill("form#filter-form select[name=status]", "Active")
            .await;
        tab.call("() => { window.__ksefBrowserTestOldPage = true; document.querySelector('form#filter-form').requestSubmit(); }", &[])
            .await;
        tab.wait_until(
            "the filtered list",
            "() => window.__ksefBrowserTestOldPage === undefined && document.readyState === 'complete'",
            &[],
        )
        .await;
        tab.expect(&kept_row).await;
        assert!(
            !tab.exists(&doomed_row).await,
            "the Active filter shows a revoked token"
        );

        // Zamknij ends the KSeF session; then a person with only CredentialsRead.
        tab.click_and_wait("#close-session").await;
        assert!(
            !tab.exists("#ksef-session").await,
            "Zamknij left the KSeF session open"
        );
        tab.goto(&app.url("/tokeny")).await;
        certificate_login(&tab, &reader_p12).await;
        tab.wait_for("table#tokens-table").await;
        assert!(
            !tab.exists("#refusal").await,
            "CredentialsRead may browse tokens"
        );
        tab.expect(&kept_row).await;
        assert!(tab.count("tr.token-row").await >= 2);
        assert_eq!(
            tab.count(".revoke").await,
            0,
            "no Usuń without CredentialsManage"
        );
        assert_eq!(tab.count("form.revoke-form").await, 0);
        tab.screenshot("03-tylko-odczyt").await;

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// A session opened with a program user's KSeF token is refused in Tokeny KSeF (and in Generuj
/// token KSeF), with the seed's explanation.
#[test]
fn token_session_refused_in_tokens() {
    common::run(|| async {
        let app = App::start().await;
        let owner = owner();
        let tokens = app
            .owner_tokens(&owner, &["Token użytkownika programu"])
            .await;
        let token = tokens[0].1.clone();
        let chrome = Chrome::launch("sesja-tokenem").await;
        let tab = chrome.tab().await;

        // Użytkownicy › Dodaj › Edytuj › paste the token › Zapisz.
        tab.goto(&app.web.base_url()).await;
        add_program_user(&tab, "Piotr Token").await;
        tab.click_and_wait("tr.user-row[data-name=\"Piotr Token\"] a.edit")
            .await;
        tab.fill("textarea#token-field", &token).await;
        tab.click_and_wait("#save-user").await;
        assert!(
            !tab.html().await.contains(token_secret(&token)),
            "the pasted token is shown back"
        );

        // Tokeny KSeF with the user's token.
        tab.click_and_wait("a#nav-tokens").await;
        tab.wait_for("#login").await;
        tab.click("input[name=method][value=token]").await;
        tab.fill("#token-login-form select[name=user]", "Piotr Token")
            .await;
        tab.click_and_wait("#token-login").await;
        tab.wait_for_any(&["#refusal", "table#tokens-table", "#error"])
            .await;
        let banner = tab.text("#ksef-session").await.unwrap_or_default();
        assert!(
            banner.contains("sesja tokenem"),
            "session banner: {banner:?}"
        );
        let refusal = tab.text("#refusal").await.unwrap_or_default();
        assert!(
            refusal.contains("Sesja z tokenem"),
            "Tokeny KSeF refusal: {refusal:?}"
        );
        assert!(
            !tab.exists("table#tokens-table").await,
            "a token session sees the tokens table"
        );
        tab.screenshot("01-tokeny-odmowa").await;

        tab.click_and_wait("a#nav-generate").await;
        let refusal = tab.text("#refusal").await.unwrap_or_default();
        assert!(
            refusal.contains("Sesja z tokenem nie może generować kolejnych tokenów"),
            "Generuj token KSeF refusal: {refusal:?}"
        );
        assert!(!tab.exists("form#grant-form").await);
        tab.screenshot("02-generuj-odmowa").await;

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}
