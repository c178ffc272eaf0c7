//! Browser tests of the web app (issue 5 and the program users' "Done when") in a real headless
//! Chromium, written against DOM-CONTRACT.md only. Each test starts the app with its embedded
//! emulator in a temp dir (an empty store: the first page is the first-run setup), sets up test
//! data through the emulator's `/testdata` API, clicks through the screens and saves screenshots
//! into `<target>/screenshots/<test>-<step>.png` (paths are printed; run with `--nocapture` to
//! see them).
//!
//! Chromium is required: without it these tests FAIL and say to run scripts/test.sh.

mod common;

use common::chrome::{Chrome, Tab};
use common::ui::{
    ADMIN, ADMIN_PASSWORD, App, NIP, certificate_login, expect_start_page, first_run_setup,
    generate_token, no_error, owner, p12_file, path, switch_firm,
};
use ksef_core::{ContextIdentifier, KsefToken, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use reqwest::StatusCode;
use serde_json::{Value, json};

/// A person (PESEL) with only some permissions in [`NIP`].
const PESEL_PARTIAL: &str = "44051401359";
/// A person (PESEL) linked to [`NIP`] as its owner (Profil Zaufany test).
const PESEL_OWNER: &str = "15062788702";
/// A second program user (not an administrator) and their password.
const USER2: &str = "Beata Druga";
const USER2_PASSWORD: &str = "Hasło-Beaty-2";

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

/// What only these tests ask of the embedded emulator (the rest of [`App`] is in `common::ui`).
impl App {
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

/// `/zaloguj` with `name` and `password`; returns the page's `#error .message` (or fails when
/// the login succeeds).
async fn refused_login(tab: &Tab, app: &App, name: &str, password: &str) -> String {
    tab.goto(&app.url("/zaloguj")).await;
    tab.wait_for("form#program-login-form").await;
    tab.type_into("#login-name", name).await;
    tab.type_into("#login-password", password).await;
    tab.click_and_wait("#program-login").await;
    if tab.wait_for_any(&["#error", "#guide"]).await == 1 {
        tab.fail::<()>(&format!("{name} logged in with a wrong password"))
            .await;
    }
    tab.expect("form#program-login-form").await;
    assert!(!tab.exists("#program-user-name").await);
    tab.text("#error .message").await.unwrap_or_default()
}

/// `/zaloguj` as `name` → the start page.
async fn program_login(tab: &Tab, app: &App, name: &str, password: &str) {
    tab.goto(&app.url("/zaloguj")).await;
    tab.wait_for("form#program-login-form").await;
    tab.type_into("#login-name", name).await;
    tab.type_into("#login-password", password).await;
    tab.click_and_wait("#program-login").await;
    expect_start_page(tab, name).await;
}

/// Wyloguj → the login page saying so; no page is served without logging in again.
async fn logout(tab: &Tab, app: &App) {
    tab.click_and_wait("#logout").await;
    tab.wait_for("form#program-login-form").await;
    assert_eq!(path(tab).await, "/zaloguj");
    let flash = tab.text("#flash").await.unwrap_or_default();
    assert!(flash.contains("Wylogowano"), "after Wyloguj: {flash:?}");
    assert!(!tab.exists("#program-user-name").await);
    tab.goto(&app.url("/uzytkownicy")).await;
    tab.wait_for("form#program-login-form").await;
    assert_eq!(path(tab).await, "/zaloguj", "a page after Wyloguj");
}

/// Użytkownicy › Dodaj (an administrator): `name` with `password`.
async fn add_program_user(tab: &Tab, name: &str, password: &str, admin: bool) {
    tab.click_and_wait("a#nav-users").await;
    tab.fill("#add-user-form input[name=name]", name).await;
    tab.fill("#add-user-form input[name=password]", password)
        .await;
    tab.fill("#add-user-form input[name=password2]", password)
        .await;
    if admin {
        tab.click("#add-user-form input[type=checkbox][name=admin]")
            .await;
    }
    tab.click_and_wait("#add-user").await;
    no_error(tab, &format!("adding {name}")).await;
    let row = format!("tr.user-row[data-name=\"{name}\"]");
    tab.expect(&row).await;
    let role = if admin {
        "administrator"
    } else {
        "użytkownik"
    };
    assert_eq!(
        tab.text(&format!("{row} td.role")).await.as_deref(),
        Some(role)
    );
}

/// Submits a POST form built in the page with the session's CSRF token (as a crafted page of
/// ours would), and waits for the answer's page: what the server does, not what the UI offers.
async fn post_in_page(tab: &Tab, action: &str, fields: &[(&str, &str)]) {
    let fields: Vec<Value> = fields.iter().map(|(n, v)| json!([n, v])).collect();
    tab.call(
        "(action, fields) => { const f = document.createElement('form'); f.method = 'post'; \
         f.action = action; const add = (n, v) => { const i = document.createElement('input'); \
         i.type = 'hidden'; i.name = n; i.value = v; f.appendChild(i); }; \
         add('csrf', document.querySelector('#logout-form input[name=csrf]').value); \
         for (const [n, v] of fields) add(n, v); document.body.appendChild(f); \
         window.__ksefBrowserTestOldPage = true; f.submit(); }",
        &[json!(action), json!(fields)],
    )
    .await;
    tab.wait_until(
        &format!("the answer to POST {action}"),
        "() => window.__ksefBrowserTestOldPage === undefined && document.readyState === 'complete'",
        &[],
    )
    .await;
}

/// The secret part of a KSeF token (after the last `|`): what must never be shown again.
fn token_secret(token: &str) -> &str {
    token.rsplit('|').next().unwrap_or(token)
}

/// Asserts the users table shows `name` holding exactly `token`, masked: its reference and
/// context, the secret's last 4 characters, never the secret.
async fn expect_masked(tab: &Tab, name: &str, token: &str) {
    let row = format!("tr.user-row[data-name=\"{name}\"]");
    tab.expect(&row).await;
    // One token, shown under its firm (the token's context).
    let parsed: ksef_core::KsefToken = token.parse().unwrap();
    let firm = ksef_store::firm_key(parsed.context());
    assert_eq!(
        tab.texts(&format!("{row} td.tokens div.user-token"))
            .await
            .len(),
        1,
        "{name} should hold one token"
    );
    assert_eq!(
        tab.attr(&format!("{row} td.tokens div.user-token"), "data-firm")
            .await
            .as_deref(),
        Some(firm.as_str())
    );
    assert_eq!(
        tab.text(&format!("{row} td.tokens span.token-firm"))
            .await
            .as_deref(),
        Some(format!("NIP {}", parsed.context().value()).as_str())
    );
    let masked = tab
        .text(&format!("{row} td.tokens span.token-masked"))
        .await
        .unwrap_or_default();
    let secret = token_secret(token);
    let shown_part = &token[..token.len() - secret.len()];
    let tail = &secret[secret.len() - 4..];
    assert!(
        masked.starts_with(shown_part) && masked.ends_with(tail),
        "{name}'s masked token {masked:?} is not {shown_part}…{tail}"
    );
    assert!(
        !masked.contains(secret),
        "masked token shows the secret: {masked:?}"
    );
}

/// The leaving of the token screens ended the KSeF session: no banner, a flash saying so.
async fn expect_session_ended(tab: &Tab) {
    assert!(
        !tab.exists("#ksef-session").await,
        "the KSeF session outlived leaving the token screens"
    );
    let flash = tab.text("#flash").await.unwrap_or_default();
    assert!(
        flash.contains("Sesja KSeF") && flash.contains("zakończona"),
        "no flash saying the KSeF session ended: {flash:?}"
    );
}

/// certificate login → Nadaj uprawnienia (what the person lacks is disabled, with a reason) →
/// Dodaj → the token on its own page, F5 shows the same one (one mint: one row in Tokeny KSeF)
/// → Zapisz → the page is gone; Użytkownicy shows it masked on the logged-in user; the saved
/// token works (Sprawdź).
#[test]
fn certificate_login_grant_add_save_masked() {
    common::chrome::run(|| async {
        let app = App::start().await;
        let held = ["InvoiceRead", "CredentialsManage"];
        app.grant(PESEL_PARTIAL, &held).await;
        let chrome = Chrome::launch("cert-token").await;
        let jan = person(PESEL_PARTIAL, "Jan", "Kowalski");
        let p12 = p12_file(&chrome.scratch(), "jan-kowalski.p12", &jan);
        let tab = chrome.tab().await;

        first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;

        // Generuj token KSeF → the KSeF login (certificate or Profil Zaufany; no token method).
        tab.click_and_wait("a#nav-generate").await;
        tab.wait_for("#login").await;
        tab.expect("input[name=method][value=cert]").await;
        tab.expect("input[name=method][value=pz]").await;
        assert!(!tab.exists("input[name=method][value=token]").await);
        assert!(!tab.exists("#token-login-form").await);
        assert!(!tab.exists("#current-user").await);
        assert!(!tab.exists("#ksef-session").await);
        tab.screenshot("01-generuj-logowanie").await;
        certificate_login(&tab, &p12).await;
        tab.wait_for("form#grant-form").await;
        // What a browser fetches by itself after a page (the icon) and what the page fetches is
        // not leaving the token screens: the KSeF session stays.
        let (status, _, _) = tab.fetch("/favicon.ico").await;
        assert_eq!(status, 404, "/favicon.ico");
        tab.reload().await;
        tab.wait_for("form#grant-form").await;
        assert!(
            tab.exists("#ksef-session").await,
            "fetching /favicon.ico ended the KSeF session"
        );
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
        tab.screenshot("02-nadaj-uprawnienia").await;

        // A real click on a disabled permission does nothing; held ones can be ticked.
        tab.click("input[name=permission][value=InvoiceWrite]")
            .await;
        assert_eq!(
            tab.prop("input[name=permission][value=InvoiceWrite]", "checked")
                .await,
            false
        );

        // Dodaj → the token on its own page, with the copy button and the warning.
        let (page, reference, token) =
            generate_token(&tab, "Faktury - test przeglądarki", &["InvoiceRead"]).await;
        let parsed: KsefToken = token.parse().expect("#token-value holds a KSeF token");
        assert_eq!(parsed.context(), &App::context());
        tab.expect("button#copy-token").await;
        let warning = tab.text("#token-warning").await.unwrap_or_default();
        assert!(warning.contains("nie będzie już możliwości"), "{warning:?}");
        // An administrator chooses whom to save it on; the logged-in user is preselected.
        assert_eq!(tab.prop("select#for-user", "value").await, json!(ADMIN));
        tab.screenshot("03-token").await;

        // F5: the same page shows the same token; nothing new is minted.
        tab.reload().await;
        tab.wait_for("#token-value").await;
        assert_eq!(path(&tab).await, page, "F5 stays on the token's page");
        assert_eq!(
            tab.text("#token-value").await.as_deref(),
            Some(token.as_str()),
            "F5 shows the same token"
        );
        assert_eq!(
            tab.text("#token-reference").await.as_deref(),
            Some(reference.as_str())
        );

        // Zapisz → saved on the logged-in user; back on Generuj token KSeF with a flash.
        tab.click_and_wait("#save-token").await;
        no_error(&tab, "Zapisz").await;
        assert_eq!(path(&tab).await, "/generuj");
        let flash = tab.text("#flash").await.unwrap_or_default();
        assert!(
            flash.contains(&reference) && flash.contains(ADMIN),
            "Zapisz's flash names the token and the user: {flash:?}"
        );
        assert!(
            !tab.html().await.contains(token_secret(&token)),
            "the token is shown again after Zapisz"
        );
        // The saved token's page is gone.
        tab.goto(&app.url(&page)).await;
        assert_eq!(path(&tab).await, "/generuj", "a saved token's page");
        tab.expect("#error").await;
        assert!(!tab.html().await.contains(token_secret(&token)));

        // Tokeny KSeF: exactly one token was minted (despite F5), held by the admin.
        tab.click_and_wait("a#nav-tokens").await;
        tab.wait_for("table#tokens-table").await;
        assert!(
            tab.exists("#ksef-session").await,
            "Tokeny KSeF keeps the session"
        );
        assert_eq!(
            tab.count("tr.token-row").await,
            1,
            "one Dodaj and an F5 mint exactly one token"
        );
        let trow = format!("tr.token-row[data-reference=\"{reference}\"]");
        tab.expect(&trow).await;
        assert_eq!(
            tab.text(&format!("{trow} td.holders")).await.as_deref(),
            Some(ADMIN)
        );
        assert_eq!(
            tab.attr(&format!("{trow} td.status"), "data-status")
                .await
                .as_deref(),
            Some("Active")
        );
        assert_eq!(
            tab.text(&format!("{trow} td.status")).await.as_deref(),
            Some("Aktywny")
        );
        tab.screenshot("04-tokeny").await;

        // Użytkownicy (leaving the token screens ends the KSeF session): masked, never the
        // full token; status in Polish.
        tab.click_and_wait("a#nav-users").await;
        expect_session_ended(&tab).await;
        let row = format!("tr.user-row[data-name=\"{ADMIN}\"]");
        expect_masked(&tab, ADMIN, &token).await;
        assert_eq!(
            tab.attr(&format!("{row} td.tokens span.token-status"), "data-status")
                .await
                .as_deref(),
            Some("Active")
        );
        let status = tab
            .text(&format!("{row} td.tokens span.token-status"))
            .await
            .unwrap_or_default();
        assert!(status.starts_with("Aktywny"), "token status: {status:?}");
        let html = tab.html().await;
        assert!(!html.contains(&token), "Użytkownicy shows the full token");
        assert!(
            !html.contains(token_secret(&token)),
            "Użytkownicy shows the token's secret"
        );
        tab.screenshot("05-uzytkownicy").await;

        // Edytuj: the field is empty (masked placeholder only); the check button opens a token
        // session with the saved token and shows what it gives.
        tab.click_and_wait(&format!("{row} a.edit")).await;
        assert_eq!(tab.prop("textarea#token-field", "value").await, json!(""));
        assert!(
            !tab.html().await.contains(token_secret(&token)),
            "Edytuj shows the token's secret"
        );
        tab.click_and_wait("form.check-token-form button.check-token")
            .await;
        if tab.wait_for_any(&["#token-permissions", "#error"]).await == 1 {
            let e = tab.text("#error").await.unwrap_or_default();
            tab.fail::<()>(&format!("checking the saved token failed: {e}"))
                .await;
        }
        assert_eq!(
            tab.texts("#token-permissions li").await,
            vec!["InvoiceRead".to_string()]
        );
        tab.screenshot("06-sprawdz-token").await;

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
    common::chrome::run(|| async {
        let app = App::start().await;
        app.link_person(PESEL_OWNER).await;
        let chrome = Chrome::launch("profil-zaufany").await;
        let tab = chrome.tab().await;

        first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
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

/// Tokeny KSeF as the owner (Usuń revokes, after a confirmation; statuses in Polish) and, after
/// Zamknij, as a person with only CredentialsRead (the table, but no Usuń); leaving Tokeny KSeF
/// ends the KSeF session.
#[test]
fn tokens_owner_revokes_reader_cannot() {
    common::chrome::run(|| async {
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
        first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
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
            Some("Aktywny")
        );
        assert_eq!(
            tab.attr(&format!("{doomed_row} td.status"), "data-status")
                .await
                .as_deref(),
            Some("Active")
        );
        // Made through the API: no program user holds them.
        assert_eq!(
            tab.text(&format!("{doomed_row} td.holders"))
                .await
                .as_deref(),
            Some("—")
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
        no_error(&tab, "Usuń").await;
        tab.goto(&app.url("/tokeny")).await;
        tab.wait_for(&doomed_row).await;
        let code = tab
            .attr(&format!("{doomed_row} td.status"), "data-status")
            .await
            .unwrap_or_default();
        let status = tab
            .text(&format!("{doomed_row} td.status"))
            .await
            .unwrap_or_default();
        assert!(
            (code == "Revoking" && status == "W trakcie unieważniania")
                || (code == "Revoked" && status == "Unieważniony"),
            "revoked token's status: {code:?} {status:?}"
        );
        assert_eq!(
            tab.text(&format!("{kept_row} td.status")).await.as_deref(),
            Some("Aktywny")
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

        // Leaving Tokeny KSeF (to Użytkownicy) ends the KSeF session; coming back asks for a
        // login again.
        tab.click_and_wait("a#nav-users").await;
        tab.wait_for("table#users-table").await;
        expect_session_ended(&tab).await;
        tab.click_and_wait("a#nav-tokens").await;
        tab.wait_for("#login").await;
        assert!(!tab.exists("table#tokens-table").await);
        assert!(!tab.exists("#ksef-session").await);

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// A KSeF session opened on the start page with the logged-in user's own token is refused in
/// Tokeny KSeF and in Generuj token KSeF, with the seed's explanation.
#[test]
fn token_session_refused_in_tokens() {
    common::chrome::run(|| async {
        let app = App::start().await;
        let owner = owner();
        let tokens = app
            .owner_tokens(&owner, &["Token użytkownika programu"])
            .await;
        let token = tokens[0].1.clone();
        let chrome = Chrome::launch("sesja-tokenem").await;
        let tab = chrome.tab().await;

        // Użytkownicy › Edytuj (own account) › paste the token › Zapisz.
        first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
        tab.expect("#own-token-missing").await;
        assert!(
            !tab.exists("#token-login").await,
            "no token, no token login"
        );
        tab.click_and_wait("a#nav-users").await;
        tab.click_and_wait(&format!("tr.user-row[data-name=\"{ADMIN}\"] a.edit"))
            .await;
        tab.fill("textarea#token-field", &token).await;
        tab.click_and_wait("#save-user").await;
        no_error(&tab, "saving the pasted token").await;
        assert!(
            !tab.html().await.contains(token_secret(&token)),
            "the pasted token is shown back"
        );
        expect_masked(&tab, ADMIN, &token).await;

        // Start page: a KSeF session with the own token.
        tab.click_and_wait("a#nav-home").await;
        tab.click_and_wait("#token-login").await;
        no_error(&tab, "the token login").await;
        tab.wait_for("#ksef-session").await;
        let banner = tab.text("#ksef-session").await.unwrap_or_default();
        assert!(
            banner.contains("sesja tokenem") && banner.contains(ADMIN),
            "session banner: {banner:?}"
        );
        assert!(
            !tab.exists("#token-login").await,
            "a session is already open"
        );

        // Tokeny KSeF with that session: refused.
        tab.click_and_wait("a#nav-tokens").await;
        tab.wait_for_any(&["#refusal", "table#tokens-table", "#error"])
            .await;
        let refusal = tab.text("#refusal").await.unwrap_or_default();
        assert!(
            refusal.contains("Sesja z tokenem"),
            "Tokeny KSeF refusal: {refusal:?}"
        );
        assert!(
            !tab.exists("table#tokens-table").await,
            "a token session sees the tokens table"
        );
        assert!(
            tab.text("#ksef-session")
                .await
                .unwrap_or_default()
                .contains("sesja tokenem"),
            "the token session is shown in the banner"
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

/// Two tabs each generate a token (each its own page and id); Zapisz in each saves that tab's
/// token: tab A's on the administrator, tab B's on a chosen user (the masked tails match).
/// Tokeny KSeF shows the holders; revoking tab B's token shows it as such on its user, who can
/// no longer log in to KSeF with it.
#[test]
fn two_tabs_save_their_own_tokens_and_revoked_shows_on_user() {
    common::chrome::run(|| async {
        let app = App::start().await;
        let owner = owner();
        let chrome = Chrome::launch("dwie-karty").await;
        let owner_p12 = p12_file(&chrome.scratch(), "wlasciciel.p12", &owner);
        let a = chrome.tab().await;

        first_run_setup(&a, &app, ADMIN, ADMIN_PASSWORD).await;
        add_program_user(&a, USER2, USER2_PASSWORD, false).await;

        // Tab A: login, Dodaj → token A.
        a.click_and_wait("a#nav-generate").await;
        certificate_login(&a, &owner_p12).await;
        let (page_a, ref_a, token_a) = generate_token(&a, "Token karty A", &["InvoiceRead"]).await;

        // Tab B (same browser, same program and KSeF session): Dodaj → token B.
        let b = chrome.tab().await;
        b.goto(&app.url("/generuj")).await;
        let (page_b, ref_b, token_b) =
            generate_token(&b, "Token karty B", &["InvoiceRead", "InvoiceWrite"]).await;
        assert_ne!(page_a, page_b, "each tab gets its own token page");
        assert_ne!(ref_a, ref_b);
        assert_ne!(token_a, token_b);
        b.screenshot("01-karta-b-token").await;

        // Tab A still shows token A (F5 included).
        a.reload().await;
        assert_eq!(
            a.text("#token-value").await.as_deref(),
            Some(token_a.as_str())
        );

        // Zapisz in tab A: token A on the administrator.
        a.click_and_wait("#save-token").await;
        no_error(&a, "Zapisz in tab A").await;
        let flash = a.text("#flash").await.unwrap_or_default();
        assert!(flash.contains(&ref_a) && flash.contains(ADMIN), "{flash:?}");

        // Zapisz in tab B (its page is still there): token B on the second user.
        assert_eq!(
            b.text("#token-value").await.as_deref(),
            Some(token_b.as_str())
        );
        b.fill("select#for-user", USER2).await;
        b.click_and_wait("#save-token").await;
        no_error(&b, "Zapisz in tab B").await;
        let flash = b.text("#flash").await.unwrap_or_default();
        assert!(flash.contains(&ref_b) && flash.contains(USER2), "{flash:?}");

        // Tokeny KSeF: who holds which token.
        b.click_and_wait("a#nav-tokens").await;
        b.wait_for("table#tokens-table").await;
        assert_eq!(b.count("tr.token-row").await, 2, "two Dodaj, two tokens");
        let row_a = format!("tr.token-row[data-reference=\"{ref_a}\"]");
        let row_b = format!("tr.token-row[data-reference=\"{ref_b}\"]");
        assert_eq!(
            b.text(&format!("{row_a} td.holders")).await.as_deref(),
            Some(ADMIN)
        );
        assert_eq!(
            b.text(&format!("{row_b} td.holders")).await.as_deref(),
            Some(USER2)
        );
        b.screenshot("02-tokeny-posiadacze").await;

        // Użytkownicy: each user holds their tab's token.
        b.click_and_wait("a#nav-users").await;
        expect_session_ended(&b).await;
        expect_masked(&b, ADMIN, &token_a).await;
        expect_masked(&b, USER2, &token_b).await;
        // The administrator cannot use (check) the second user's token.
        b.click_and_wait(&format!("tr.user-row[data-name=\"{USER2}\"] a.edit"))
            .await;
        assert!(
            !b.exists("form.check-token-form").await,
            "an administrator is offered a check of another user's token"
        );
        assert!(!b.html().await.contains(token_secret(&token_b)));

        // Revoke token B in Tokeny KSeF (a new KSeF login: leaving ended the last one).
        b.click_and_wait("a#nav-tokens").await;
        certificate_login(&b, &owner_p12).await;
        b.wait_for(&row_b).await;
        b.click_and_wait(&format!("{row_b} button.revoke")).await;
        no_error(&b, "Usuń").await;
        b.wait_for(&row_b).await;
        assert_eq!(
            b.text(&format!("{row_b} td.holders")).await.as_deref(),
            Some(USER2)
        );

        // Użytkownicy: the holder's token is shown revoked.
        b.click_and_wait("a#nav-users").await;
        let user2_row = format!("tr.user-row[data-name=\"{USER2}\"]");
        let code = b
            .attr(
                &format!("{user2_row} td.tokens span.token-status"),
                "data-status",
            )
            .await
            .unwrap_or_default();
        let status = b
            .text(&format!("{user2_row} td.tokens span.token-status"))
            .await
            .unwrap_or_default();
        assert!(
            (code == "Revoking" && status.starts_with("W trakcie unieważniania"))
                || (code == "Revoked" && status.starts_with("Unieważniony")),
            "{USER2}'s revoked token: {code:?} {status:?}"
        );
        assert_eq!(
            b.attr(
                &format!("tr.user-row[data-name=\"{ADMIN}\"] td.tokens span.token-status"),
                "data-status"
            )
            .await
            .as_deref(),
            Some("Active"),
            "the other token stays active"
        );
        b.screenshot("03-uzytkownicy-uniewazniony").await;

        // The second user: their start page says the token cannot be used; no token login.
        drop(a);
        logout(&b, &app).await;
        program_login(&b, &app, USER2, USER2_PASSWORD).await;
        b.expect("#own-token-unusable").await;
        assert!(
            !b.exists("#token-login").await,
            "a revoked token is offered for login"
        );
        b.screenshot("04-start-token-uniewazniony").await;

        drop(b);
        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// First-run setup, logout, login (and its errors, up to the lock-out), Ustawienia, and a second
/// user who cannot see, check or use the first user's token.
#[test]
fn setup_login_logout_and_second_user_cannot_use_first_users_token() {
    common::chrome::run(|| async {
        let app = App::start().await;
        let owner = owner();
        let tokens = app.owner_tokens(&owner, &["Token administratora"]).await;
        let token = tokens[0].1.clone();
        let chrome = Chrome::launch("uzytkownicy").await;
        let tab = chrome.tab().await;

        // The first-run setup; the login page is not offered yet.
        tab.goto(&app.web.base_url()).await;
        tab.wait_for("form#setup-form").await;
        assert_eq!(path(&tab).await, "/pierwsze-uruchomienie");
        tab.expect("#setup-name").await;
        tab.expect("#setup-password").await;
        tab.expect("#setup-password2").await;
        tab.expect("#setup-form input[type=hidden][name=csrf]")
            .await;
        assert!(
            !tab.exists("nav#menu").await,
            "the menu before any user exists"
        );
        tab.goto(&app.url("/zaloguj")).await;
        tab.wait_for("form#setup-form").await;
        assert_eq!(
            path(&tab).await,
            "/pierwsze-uruchomienie",
            "/zaloguj before the setup"
        );
        tab.screenshot("01-pierwsze-uruchomienie").await;
        // Passwords that differ are refused.
        tab.type_into("#setup-name", ADMIN).await;
        tab.type_into("#setup-password", ADMIN_PASSWORD).await;
        tab.type_into("#setup-password2", "Inne-hasło-123").await;
        tab.click_and_wait("#setup-submit").await;
        let e = tab.text("#error .message").await.unwrap_or_default();
        assert!(e.contains("Hasła nie są takie same"), "{e:?}");
        tab.expect("form#setup-form").await;
        first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
        // Done once: the setup page is not offered again.
        tab.goto(&app.url("/pierwsze-uruchomienie")).await;
        tab.wait_for("#guide").await;
        assert_eq!(path(&tab).await, "/");

        // Start page: the guide, no token yet, the test certificate (local emulator).
        tab.expect("#own-token-missing").await;
        assert!(!tab.exists("#token-login").await);
        tab.expect("form#test-certificate-form").await;
        tab.screenshot("02-start-bez-tokenu").await;

        // The administrator saves their own token; the start page offers the token login.
        tab.click_and_wait("a#nav-users").await;
        tab.click_and_wait(&format!("tr.user-row[data-name=\"{ADMIN}\"] a.edit"))
            .await;
        tab.fill("textarea#token-field", &token).await;
        tab.click_and_wait("#save-user").await;
        no_error(&tab, "saving the pasted token").await;
        tab.click_and_wait("a#nav-home").await;
        tab.expect("#token-login").await;
        tab.screenshot("03-start").await;

        // Użytkownicy › Dodaj a second user; the administrator's view of them.
        add_program_user(&tab, USER2, USER2_PASSWORD, false).await;
        tab.expect("#add-user-form input[name=password2]").await;
        tab.expect("#add-user-form input[type=checkbox][name=admin]")
            .await;
        assert_eq!(tab.count("tr.user-row").await, 2);
        tab.screenshot("04-uzytkownicy").await;
        tab.click_and_wait(&format!("tr.user-row[data-name=\"{USER2}\"] a.edit"))
            .await;
        tab.expect("form#user-form textarea#token-field").await;
        tab.expect("form#password-form button#set-password").await;
        tab.expect("form#admin-form").await;
        tab.expect("form#remove-user-form button#remove-user").await;
        assert!(
            !tab.exists("form.check-token-form").await,
            "USER2 has no token to check"
        );
        tab.screenshot("05-edycja-uzytkownika").await;

        // Ustawienia.
        tab.click_and_wait("a#nav-settings").await;
        tab.expect("form#settings-form select[name=environment]")
            .await;
        assert_eq!(
            tab.prop("form#settings-form select[name=environment]", "value")
                .await,
            json!("local")
        );
        tab.screenshot("06-ustawienia").await;

        // Wyloguj → the login page.
        logout(&tab, &app).await;
        tab.expect("#login-name").await;
        tab.expect("#login-password").await;
        tab.screenshot("07-logowanie").await;

        // A wrong password: a Polish message, the technical detail folded away.
        let e = refused_login(&tab, &app, USER2, "Złe-hasło-000").await;
        assert!(e.contains("Nieprawidłowe hasło"), "{e:?}");
        assert_eq!(
            tab.prop("#error details", "open").await,
            json!(false),
            "Szczegóły are folded"
        );
        assert_eq!(
            tab.text("#error details summary").await.as_deref(),
            Some("Szczegóły")
        );
        assert_eq!(
            tab.prop("#login-name", "value").await,
            json!(USER2),
            "the name stays filled in"
        );
        tab.screenshot("08-logowanie-blad").await;

        // The second user: only their own entry, no token, no way to the first user's token.
        program_login(&tab, &app, USER2, USER2_PASSWORD).await;
        assert!(
            !tab.text("#program-user")
                .await
                .unwrap_or_default()
                .contains("administrator")
        );
        tab.expect("#own-token-missing").await;
        assert!(
            !tab.exists("#token-login").await,
            "USER2 is offered a token login"
        );
        tab.click_and_wait("a#nav-users").await;
        assert!(
            !tab.exists("#add-user-form").await,
            "a user who is not an administrator may add users"
        );
        assert_eq!(tab.count("tr.user-row").await, 1);
        tab.expect(&format!("tr.user-row[data-name=\"{USER2}\"]"))
            .await;
        assert!(!tab.html().await.contains(token_secret(&token)));
        // The first user's page is refused.
        tab.goto(&app.url(&format!("/uzytkownicy/{}", ADMIN.replace(' ', "%20"))))
            .await;
        assert_eq!(path(&tab).await, "/uzytkownicy");
        let e = tab.text("#error .message").await.unwrap_or_default();
        assert!(e.contains("tylko swoje konto"), "{e:?}");
        // Checking the first user's token is refused.
        post_in_page(
            &tab,
            &format!("/uzytkownicy/{}/sprawdz", ADMIN.replace(' ', "%20")),
            &[],
        )
        .await;
        let e = tab.text("#error .message").await.unwrap_or_default();
        assert!(e.contains("tylko na swoim koncie"), "{e:?}");
        assert!(!tab.exists("#token-permissions").await);
        // Logging in to KSeF "with my token" does not use the first user's token.
        tab.click_and_wait("a#nav-home").await;
        post_in_page(&tab, "/logowanie/token", &[]).await;
        assert_eq!(path(&tab).await, "/");
        let e = tab.text("#error .message").await.unwrap_or_default();
        assert!(
            e.contains(USER2) && e.contains("nie ma zapisanego tokenu"),
            "USER2's token login: {e:?}"
        );
        assert!(
            !tab.exists("#ksef-session").await,
            "USER2 got a KSeF session"
        );
        // Saving a token on the first user is refused too.
        post_in_page(
            &tab,
            &format!("/uzytkownicy/{}", ADMIN.replace(' ', "%20")),
            &[("token", &token)],
        )
        .await;
        tab.expect("#error").await;
        logout(&tab, &app).await;

        // The first user's token still works for them.
        program_login(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
        tab.click_and_wait("#token-login").await;
        no_error(&tab, "the administrator's token login").await;
        let banner = tab.text("#ksef-session").await.unwrap_or_default();
        assert!(
            banner.contains("sesja tokenem") && banner.contains(ADMIN),
            "{banner:?}"
        );
        logout(&tab, &app).await;

        // Wrong passwords lock the account out, even for the right password.
        let mut locked = String::new();
        for _ in 0..8 {
            let e = refused_login(&tab, &app, USER2, "Złe-hasło-000").await;
            if e.contains("zablokowane") {
                locked = e;
                break;
            }
            assert!(e.contains("Nieprawidłowe hasło"), "{e:?}");
        }
        assert!(
            !locked.is_empty(),
            "wrong passwords never locked {USER2} out"
        );
        assert!(locked.contains(USER2), "{locked:?}");
        tab.screenshot("09-konto-zablokowane").await;
        let e = refused_login(&tab, &app, USER2, USER2_PASSWORD).await;
        assert!(
            e.contains("zablokowane"),
            "the right password during the lock-out: {e:?}"
        );

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// The KSeF session of the token screens ends after `screen_idle` without a request.
#[test]
fn ksef_session_of_token_screens_ends_when_idle() {
    common::chrome::run(|| async {
        let idle = std::time::Duration::from_secs(2);
        let app = App::start_with(|c| c.screen_idle = idle).await;
        let chrome = Chrome::launch("bezczynnosc").await;
        let owner_p12 = p12_file(&chrome.scratch(), "wlasciciel.p12", &owner());
        let tab = chrome.tab().await;

        first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
        tab.goto(&app.url("/tokeny")).await;
        certificate_login(&tab, &owner_p12).await;
        tab.wait_for("table#tokens-table").await;
        // Requests to the token screens keep it open.
        tab.reload().await;
        tab.wait_for("table#tokens-table").await;
        tab.expect("#ksef-session").await;

        tokio::time::sleep(idle * 2).await;
        tab.reload().await;
        tab.wait_for("#login").await;
        assert!(
            !tab.exists("#ksef-session").await,
            "an idle KSeF session outlived screen_idle"
        );
        let flash = tab.text("#flash").await.unwrap_or_default();
        assert!(flash.contains("bezczynności"), "{flash:?}");

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}

/// A program user holding KSeF tokens for two firms: the users table lists both (one
/// `div.user-token[data-firm]` each); the start page asks for a firm first; switching the firm
/// in the header (`#firm-select`, one change) makes the start page's token login open a session
/// in that firm's context (`#ksef-session` names its NIP); switching again ends that session and
/// the next token login is in the other firm.
#[test]
fn user_with_two_firms_switches_firm_and_logs_in_with_that_firms_token() {
    common::chrome::run(|| async {
        let app = App::start().await;
        // Token A in NIP (the owner's), token B in a second firm, through the API.
        let token_a = app.owner_tokens(&owner(), &["Token firmy A"]).await[0]
            .1
            .clone();
        let nip_b = loop {
            let n = Nip::random();
            if n.as_str() != NIP {
                break n;
            }
        };
        let owner_b = make_test_certificate(
            &TestSubject::person_nip(nip_b.clone(), "Bogdan", "Drugi"),
            KeyAlgorithm::EcP256,
        )
        .expect("test certificate");
        let session_b = app
            .api
            .login_with_certificate(&owner_b, &ContextIdentifier::Nip(nip_b.clone()))
            .await
            .expect("second owner's login through the API");
        let (_, token_b) = app
            .api
            .generate_active_token(&session_b.access_token, &["InvoiceRead"], "Token firmy B")
            .await;
        let (firm_a, firm_b) = (format!("Nip:{NIP}"), format!("Nip:{}", nip_b.as_str()));

        let chrome = Chrome::launch("dwie-firmy").await;
        let tab = chrome.tab().await;
        first_run_setup(&tab, &app, ADMIN, ADMIN_PASSWORD).await;
        // Before any token or KSeF login: no firm to choose.
        assert!(tab.exists("form#firm-form select#firm-select").await);
        assert_eq!(tab.count("#firm-select option[value^='Nip:']").await, 0);

        // Both tokens pasted on the administrator's own entry.
        for token in [&token_a, &token_b] {
            tab.click_and_wait("a#nav-users").await;
            tab.click_and_wait(&format!("tr.user-row[data-name=\"{ADMIN}\"] a.edit"))
                .await;
            tab.fill("textarea#token-field", token).await;
            tab.click_and_wait("#save-user").await;
            no_error(&tab, "saving a pasted token").await;
        }
        let row = format!("tr.user-row[data-name=\"{ADMIN}\"]");
        tab.wait_for(&row).await;
        assert_eq!(
            tab.count(&format!("{row} td.tokens div.user-token")).await,
            2
        );
        for (firm, token) in [(&firm_a, &token_a), (&firm_b, &token_b)] {
            let cell = format!("{row} td.tokens div.user-token[data-firm=\"{firm}\"]");
            let masked = tab
                .text(&format!("{cell} span.token-masked"))
                .await
                .unwrap_or_default();
            let reference = token.split('|').next().unwrap();
            assert!(masked.starts_with(reference), "{firm}: {masked:?}");
            assert_eq!(
                tab.text(&format!("{cell} span.token-firm")).await,
                Some(format!("NIP {}", firm.trim_start_matches("Nip:")))
            );
        }
        assert!(!tab.html().await.contains(token_secret(&token_b)));
        // The edit page: one row per firm, each with its own check form.
        tab.click_and_wait(&format!("{row} a.edit")).await;
        assert_eq!(tab.count("table#user-tokens tr.user-token").await, 2);
        for firm in [&firm_a, &firm_b] {
            let r = format!("table#user-tokens tr.user-token[data-firm=\"{firm}\"]");
            tab.expect(&format!("{r} form.check-token-form button.check-token"))
                .await;
            assert_eq!(
                tab.prop(
                    &format!("{r} form.check-token-form input[name=firm]"),
                    "value"
                )
                .await,
                json!(firm)
            );
        }
        tab.screenshot("01-dwa-tokeny").await;

        // The start page: two tokens and no firm chosen yet → choose one first.
        tab.click_and_wait("a#nav-home").await;
        tab.expect("#own-token-missing").await;
        assert!(
            !tab.exists("#token-login").await,
            "a token login without a firm"
        );
        // The two firms, and a placeholder selected while no firm is chosen.
        assert_eq!(tab.count("#firm-select option[value^='Nip:']").await, 2);
        assert_eq!(
            tab.attr("#firm-select option:checked", "value")
                .await
                .as_deref(),
            Some("")
        );
        // A token login posted anyway is refused in Polish, naming both firms.
        post_in_page(&tab, "/logowanie/token", &[]).await;
        let e = tab.text("#error .message").await.unwrap_or_default();
        assert!(
            e.contains("kilku firm") && e.contains(NIP) && e.contains(nip_b.as_str()),
            "{e:?}"
        );
        assert!(!tab.exists("#ksef-session").await);

        // Switch to the second firm in the header: one change of the list.
        switch_firm(&tab, &firm_b).await;
        let flash = tab.text("#flash").await.unwrap_or_default();
        assert!(flash.contains(nip_b.as_str()), "{flash:?}");
        tab.expect("#token-login").await;
        tab.screenshot("02-firma-b").await;
        tab.click_and_wait("#token-login").await;
        no_error(&tab, "the token login in the second firm").await;
        let banner = tab.text("#ksef-session").await.unwrap_or_default();
        assert!(
            banner.contains("sesja tokenem") && banner.contains(nip_b.as_str()),
            "{banner:?}"
        );
        assert!(!banner.contains(NIP), "{banner:?}");
        assert_eq!(tab.prop("#firm-select", "value").await, json!(firm_b));
        tab.screenshot("03-sesja-firmy-b").await;

        // Back to the first firm: the second firm's KSeF session ends; the token login is now
        // the first firm's.
        switch_firm(&tab, &firm_a).await;
        let flash = tab.text("#flash").await.unwrap_or_default();
        assert!(
            flash.contains("zakończona") && flash.contains(NIP),
            "{flash:?}"
        );
        assert!(
            !tab.exists("#ksef-session").await,
            "the old firm's session stayed"
        );
        tab.click_and_wait("#token-login").await;
        no_error(&tab, "the token login in the first firm").await;
        let banner = tab.text("#ksef-session").await.unwrap_or_default();
        assert!(
            banner.contains("sesja tokenem") && banner.contains(NIP),
            "{banner:?}"
        );
        assert!(!banner.contains(nip_b.as_str()), "{banner:?}");
        tab.screenshot("04-sesja-firmy-a").await;

        drop(tab);
        chrome.close().await;
        app.web.shutdown().await;
    });
}
