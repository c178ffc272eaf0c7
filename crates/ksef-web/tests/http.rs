//! The web app over real HTTP (reqwest with a cookie store) against an in-process emulator:
//! certificate login, Nadaj uprawnienia with disabled permissions, Dodaj → token shown once,
//! Zapisz → masked token, Tokeny KSeF as owner and as a CredentialsRead-only person, token
//! sessions refused, Profil Zaufany round trip, CSRF and upload limits.

use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_web::{RunningWeb, WebConfig};
use reqwest::multipart::{Form, Part};
use reqwest::{Client, StatusCode};
use serde_json::json;

struct Harness {
    web: RunningWeb,
    http: Client,
    _dir: tempfile::TempDir,
}

impl Harness {
    async fn start() -> Harness {
        let dir = tempfile::tempdir().unwrap();
        let mut config = WebConfig::new(dir.path().join("program"));
        let emu = config.emulator.as_mut().unwrap();
        emu.auth_processing_delay = Duration::from_millis(50);
        emu.token_activation_delay = Duration::from_millis(100);
        let web = ksef_web::serve(config).await.unwrap();
        Harness {
            web,
            http: browser(),
            _dir: dir,
        }
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.web.base_url(), path.trim_start_matches('/'))
    }

    async fn get(&self, path: &str) -> (StatusCode, String) {
        get_with(&self.http, &self.url(path)).await
    }

    /// A URL-encoded POST with the page's CSRF token (taken from `csrf_page`).
    async fn post(&self, path: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
        post_with(&self.http, &self.url(path), fields).await
    }

    async fn testdata_permissions(&self, context: &Nip, pesel: &Pesel, perms: &[&str]) {
        let permissions: Vec<_> = perms
            .iter()
            .map(|p| json!({"permissionType": p, "description": "Nadane w teście"}))
            .collect();
        let r = ksef_testkit::http_client()
            .post(format!(
                "{}/testdata/permissions",
                self.web.emulator_base_url.as_ref().unwrap()
            ))
            .json(
                &json!({"contextIdentifier": {"type": "Nip", "value": context.as_str()},
                          "authorizedIdentifier": {"type": "Pesel", "value": pesel.as_str()},
                          "permissions": permissions}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{:?}", r.text().await);
    }
}

fn browser() -> Client {
    ksef_testkit::http_client_builder()
        .cookie_store(true)
        .build()
        .unwrap()
}

async fn get_with(http: &Client, url: &str) -> (StatusCode, String) {
    let r = http.get(url).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

async fn post_with(http: &Client, url: &str, fields: &[(&str, &str)]) -> (StatusCode, String) {
    let r = http.post(url).form(fields).send().await.unwrap();
    (r.status(), r.text().await.unwrap())
}

/// The value of the first `name="csrf"` hidden input.
fn csrf(html: &str) -> String {
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("a CSRF field on the page") + marker.len();
    let end = html[start..].find('"').unwrap();
    html[start..start + end].to_string()
}

/// The text of the element with `id`.
fn element_text(html: &str, id: &str) -> Option<String> {
    let start = html.find(&format!("id=\"{id}\""))?;
    let open_end = start + html[start..].find('>')? + 1;
    let close = open_end + html[open_end..].find("</")?;
    Some(html[open_end..close].trim().to_string())
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

/// Certificate login by multipart upload (PKCS#12 + password).
async fn login_p12(
    h: &Harness,
    nip: &Nip,
    cred: &Credential,
    return_to: &str,
) -> (StatusCode, String) {
    let (_, page) = h.get(return_to).await;
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
    let r = h
        .http
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    (r.status(), r.text().await.unwrap())
}

#[tokio::test]
async fn owner_generates_saves_checks_and_revokes_a_token() {
    let h = Harness::start().await;
    let (nip, cred) = owner();

    // Konfiguracja › Użytkownicy: a program user to save the token on.
    let (_, page) = h.get("/uzytkownicy").await;
    let (status, page) = h
        .post(
            "/uzytkownicy",
            &[("csrf", &csrf(&page)), ("name", "Księgowa")],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-name=\"Księgowa\""), "{page}");

    // Generuj token KSeF: certificate login, then Nadaj uprawnienia KSeF.
    let (status, page) = login_p12(&h, &nip, &cred, "/generuj").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"grant-form\""), "{page}");
    assert!(page.contains("id=\"ksef-session\""), "{page}");
    // The owner holds everything but EnforcementOperations (no enforcement role).
    assert!(!permission_input(&page, "InvoiceWrite").contains("disabled"));
    assert!(!permission_input(&page, "CredentialsManage").contains("disabled"));
    assert!(permission_input(&page, "EnforcementOperations").contains("disabled"));
    assert!(page.contains("class=\"reason\""));

    // Dodaj.
    let (status, page) = h
        .post(
            "/generuj",
            &[
                ("csrf", &csrf(&page)),
                ("description", "Wystawianie faktur"),
                ("permission", "InvoiceRead"),
                ("permission", "InvoiceWrite"),
                ("for_user", ""),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let token = element_text(&page, "token-value").expect("token shown");
    let parsed: ksef_core::KsefToken = token.parse().expect("a KSeF token");
    let reference = parsed.reference_number().to_string();
    assert!(page.contains("id=\"copy-token\""));
    assert!(page.contains("nie będzie już możliwości jego podejrzenia"));

    // Zapisz → the users list shows the masked token, never the full one.
    let (status, page) = h.post("/generuj/zapisz", &[("csrf", &csrf(&page))]).await;
    assert_eq!(status, StatusCode::OK);
    let secret = parsed.secret_hex();
    assert!(
        !page.contains(secret),
        "the full token must never be shown again"
    );
    let masked = element_text(&page, "flash").unwrap_or_default();
    assert!(masked.contains(&reference), "{masked}");
    assert!(page.contains("class=\"token-masked\">"), "{page}");
    let row_start = page.find("data-name=\"Księgowa\"").unwrap();
    let row = &page[row_start..row_start + page[row_start..].find("</tr>").unwrap()];
    assert!(row.contains(&reference) && row.contains('…'), "{row}");
    assert!(!row.contains(secret));
    // The edit page shows the masked token only as a placeholder.
    let (_, edit) = h.get("/uzytkownicy/Ksi%C4%99gowa").await;
    assert!(edit.contains("id=\"token-field\""));
    assert!(!edit.contains(secret));
    // A second Zapisz has nothing to save: the token lived only until then.
    let (_, page) = h.post("/generuj/zapisz", &[("csrf", &csrf(&edit))]).await;
    assert!(page.contains("Nie ma tokenu do zapisania"), "{page}");

    // Edytuj › check: a token session shows the token's permissions and is closed again.
    let (status, page) = h
        .post(
            "/uzytkownicy/Ksi%C4%99gowa/sprawdz",
            &[("csrf", &csrf(&edit))],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let at = page
        .find("id=\"token-permissions\"")
        .expect("token permissions");
    let perms = &page[at..at + page[at..].find("</ul>").unwrap()];
    assert!(
        perms.contains("InvoiceRead") && perms.contains("InvoiceWrite"),
        "{perms}"
    );
    assert!(!perms.contains("CredentialsManage"));
    // … and the certificate session of this browser is still the current one.
    assert!(!page.contains("sesja tokenem"), "{page}");

    // Tokeny KSeF as the owner: the row is there with Usuń.
    let (status, page) = h.get("/tokeny").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        page.contains(&format!("data-reference=\"{reference}\"")),
        "{page}"
    );
    assert!(page.contains("class=\"revoke\""));
    assert!(page.contains("Wystawianie faktur"));
    let (_, filtered) = h.get("/tokeny?status=Revoked").await;
    assert!(!filtered.contains(&format!("data-reference=\"{reference}\"")));

    // Usuń.
    let (status, page) = h
        .post(
            &format!("/tokeny/{reference}/usun"),
            &[("csrf", &csrf(&page))],
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        element_text(&page, "flash")
            .unwrap_or_default()
            .contains(&reference),
        "{page}"
    );
    let row_start = page
        .find(&format!("data-reference=\"{reference}\""))
        .unwrap();
    let row = &page[row_start..row_start + page[row_start..].find("</tr>").unwrap()];
    assert!(row.contains("Revoking") || row.contains("Revoked"), "{row}");

    // Zamknij ends the KSeF session: the login page comes back.
    let (_, page) = h
        .post(
            "/sesja/zamknij",
            &[("csrf", &csrf(&page)), ("return_to", "/tokeny")],
        )
        .await;
    assert!(page.contains("id=\"login\""), "{page}");
    assert!(!page.contains("id=\"ksef-session\""));
    h.web.shutdown().await;
}

#[tokio::test]
async fn token_session_is_refused_in_tokeny_and_generuj() {
    let h = Harness::start().await;
    let (nip, cred) = owner();
    let (_, page) = h.get("/uzytkownicy").await;
    h.post("/uzytkownicy", &[("csrf", &csrf(&page)), ("name", "Jan")])
        .await;
    let (_, page) = login_p12(&h, &nip, &cred, "/generuj").await;
    let (_, page) = h
        .post(
            "/generuj",
            &[
                ("csrf", &csrf(&page)),
                ("description", "Token do faktur"),
                ("permission", "InvoiceRead"),
            ],
        )
        .await;
    assert!(element_text(&page, "token-value").is_some(), "{page}");
    let (_, page) = h.post("/generuj/zapisz", &[("csrf", &csrf(&page))]).await;
    let (_, page) = h
        .post(
            "/sesja/zamknij",
            &[("csrf", &csrf(&page)), ("return_to", "/tokeny")],
        )
        .await;

    // Log in with Jan's token.
    let (status, page) = h
        .post(
            "/logowanie/token",
            &[
                ("csrf", &csrf(&page)),
                ("user", "Jan"),
                ("return_to", "/tokeny"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{page}");
    assert!(page.contains("sesja tokenem"), "{page}");
    let refusal = element_text(&page, "refusal").expect("refusal");
    assert!(refusal.contains("Sesja z tokenem nie pozwala"), "{refusal}");
    assert!(!page.contains("id=\"tokens-table\""));

    let (status, page) = h.get("/generuj").await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let refusal = element_text(&page, "refusal").expect("refusal");
    assert!(
        refusal.contains("Sesja z tokenem nie może generować"),
        "{refusal}"
    );
    assert!(!page.contains("id=\"grant-form\""));
    // Even a crafted POST is refused before KSeF is called.
    let (status, page) = h
        .post(
            "/generuj",
            &[
                ("csrf", &csrf(&page)),
                ("description", "Podtoken xx"),
                ("permission", "InvoiceRead"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(element_text(&page, "token-value").is_none());
    h.web.shutdown().await;
}

#[tokio::test]
async fn credentials_read_person_sees_tokens_without_revoke_and_lacks_permissions() {
    let h = Harness::start().await;
    let (nip, owner_cred) = owner();
    // The owner mints a token so the list is not empty.
    let (_, page) = login_p12(&h, &nip, &owner_cred, "/generuj").await;
    let (_, page) = h
        .post(
            "/generuj",
            &[
                ("csrf", &csrf(&page)),
                ("description", "Token właściciela"),
                ("permission", "InvoiceWrite"),
            ],
        )
        .await;
    let token: ksef_core::KsefToken = element_text(&page, "token-value").unwrap().parse().unwrap();
    let reference = token.reference_number().to_string();

    // A clerk (PESEL) with CredentialsRead + InvoiceRead in the company's context, in another browser.
    let pesel = Pesel::random();
    h.testdata_permissions(&nip, &pesel, &["CredentialsRead", "InvoiceRead"])
        .await;
    let clerk = make_test_certificate(
        &TestSubject::person_pesel(pesel.clone(), "Celina", "Księgowa"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let other = browser();
    let (_, page) = get_with(&other, &h.url("/tokeny")).await;
    assert!(page.contains("id=\"login\""));
    let form = Form::new()
        .text("csrf", csrf(&page))
        .text("return_to", "/tokeny")
        .text("nip", nip.as_str().to_string())
        .part(
            "certificate",
            Part::bytes(clerk.certificate_pem().unwrap().into_bytes()).file_name("celina.pem"),
        )
        .part(
            "key",
            Part::bytes(clerk.key_pem().unwrap().as_bytes().to_vec()).file_name("celina.key"),
        )
        .text("password", "");
    let r = other
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();

    // Tokeny KSeF: the owner's token is listed, but no Usuń.
    assert!(page.contains("id=\"tokens-table\""), "{page}");
    assert!(
        page.contains(&format!("data-reference=\"{reference}\"")),
        "{page}"
    );
    assert!(!page.contains("class=\"revoke\""));
    assert!(!page.contains("class=\"revoke-form\""));
    // A crafted revoke is refused by the program.
    let (_, after) = post_with(
        &other,
        &h.url(&format!("/tokeny/{reference}/usun")),
        &[("csrf", &csrf(&page))],
    )
    .await;
    assert!(
        element_text(&after, "error")
            .unwrap_or_default()
            .contains("CredentialsManage"),
        "{after}"
    );
    let row_start = after
        .find(&format!("data-reference=\"{reference}\""))
        .unwrap();
    assert!(
        after[row_start..]
            .split("</tr>")
            .next()
            .unwrap()
            .contains("Active")
    );

    // Nadaj uprawnienia KSeF: only the held permissions are enabled.
    let (_, page) = get_with(&other, &h.url("/generuj")).await;
    assert!(page.contains("id=\"grant-form\""), "{page}");
    assert!(!permission_input(&page, "InvoiceRead").contains("disabled"));
    assert!(!permission_input(&page, "CredentialsRead").contains("disabled"));
    assert!(permission_input(&page, "InvoiceWrite").contains("disabled"));
    assert!(permission_input(&page, "CredentialsManage").contains("disabled"));
    let reason_at = page.find("value=\"InvoiceWrite\"").unwrap();
    let label_end = reason_at + page[reason_at..].find("</label>").unwrap();
    assert!(page[reason_at..label_end].contains("class=\"reason\""));
    // Forcing a permission the clerk lacks is refused with a Polish message.
    let (status, page) = post_with(
        &other,
        &h.url("/generuj"),
        &[
            ("csrf", &csrf(&page)),
            ("description", "Próba wystawiania"),
            ("permission", "InvoiceWrite"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    let err = element_text(&page, "error").unwrap();
    assert!(
        err.contains("Nie można nadać tokenowi uprawnień których nie posiadasz"),
        "{err}"
    );

    // A person with no credentials permission is refused in Tokeny KSeF.
    let pesel2 = Pesel::random();
    h.testdata_permissions(&nip, &pesel2, &["InvoiceRead"])
        .await;
    let reader = make_test_certificate(
        &TestSubject::person_pesel(pesel2, "Piotr", "Czytelnik"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let third = browser();
    let (_, page) = get_with(&third, &h.url("/tokeny")).await;
    let form = Form::new()
        .text("csrf", csrf(&page))
        .text("return_to", "/tokeny")
        .text("nip", nip.as_str().to_string())
        .part(
            "certificate",
            Part::bytes(reader.to_pkcs12("x").unwrap()).file_name("p.p12"),
        )
        .text("password", "x");
    let r = third
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let page = r.text().await.unwrap();
    assert!(
        element_text(&page, "refusal")
            .unwrap()
            .contains("Brak uprawnień do odczytu lub zarządzania")
    );
    h.web.shutdown().await;
}

#[tokio::test]
async fn profil_zaufany_round_trip_with_an_uploaded_signed_file() {
    let h = Harness::start().await;
    let (nip, cred) = owner();
    let (_, page) = h.get("/generuj").await;
    let (status, page) = h
        .post(
            "/logowanie/pz",
            &[
                ("csrf", &csrf(&page)),
                ("nip", nip.as_str()),
                ("return_to", "/generuj"),
            ],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"pz-step2\""), "{page}");
    let link_at = page.find("id=\"pz-signing-link\"").unwrap();
    let link_tag =
        &page[page[..link_at].rfind('<').unwrap()..link_at + page[link_at..].find('>').unwrap()];
    assert!(
        link_tag.contains(&h.web.signing_simulator_url().unwrap()),
        "{link_tag}"
    );
    assert!(page.contains("id=\"pz-deadline\""));

    let r = h
        .http
        .get(h.url("/logowanie/pz/plik"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let disposition = r.headers()["content-disposition"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(disposition.contains("AuthTokenRequest_"), "{disposition}");
    let unsigned = r.text().await.unwrap();
    assert!(unsigned.contains("<Challenge>"), "{unsigned}");
    let signed =
        ksef_xades::signature::sign_enveloped(&unsigned, &cred, &Default::default()).unwrap();

    // Uploading the unsigned file is refused with a Polish explanation.
    let form = Form::new().text("csrf", csrf(&page)).part(
        "signed",
        Part::bytes(unsigned.into_bytes()).file_name("AuthTokenRequest.xml"),
    );
    let r = h
        .http
        .post(h.url("/logowanie/pz/podpisany"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(
        element_text(&body, "error")
            .unwrap()
            .contains("nie zawiera podpisu"),
        "{body}"
    );

    let form = Form::new().text("csrf", csrf(&page)).part(
        "signed",
        Part::bytes(signed.into_bytes()).file_name("AuthTokenRequest (1).xml"),
    );
    let r = h
        .http
        .post(h.url("/logowanie/pz/podpisany"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("id=\"grant-form\""), "{page}");
    assert!(page.contains(nip.as_str()));
    let _ = ContextIdentifier::Nip(nip);
    h.web.shutdown().await;
}

#[tokio::test]
async fn posts_without_csrf_are_forbidden_and_big_uploads_are_refused_clearly() {
    let h = Harness::start().await;
    let (_, page) = h.get("/uzytkownicy").await;
    let token = csrf(&page);

    let (status, body) = h.post("/uzytkownicy", &[("name", "Intruz")]).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("CSRF"), "{body}");
    let (status, _) = h
        .post("/uzytkownicy", &[("csrf", "0000"), ("name", "Intruz")])
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another browser's token is not ours.
    let (_, other_page) = get_with(&browser(), &h.url("/uzytkownicy")).await;
    assert_ne!(csrf(&other_page), token);
    let (status, _) = h
        .post(
            "/uzytkownicy",
            &[("csrf", &csrf(&other_page)), ("name", "Intruz")],
        )
        .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = h.get("/uzytkownicy").await;
    assert!(!page.contains("Intruz"));

    // Multipart without the CSRF field.
    let form = Form::new()
        .text("nip", "1234563218")
        .part("certificate", Part::bytes(vec![1, 2, 3]));
    let r = h
        .http
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);

    // An upload over the 1 MiB cap.
    let big = vec![0x30u8; 1024 * 1024 + 10];
    let form = Form::new()
        .text("csrf", token.clone())
        .text("return_to", "/generuj")
        .text("nip", "1234563218")
        .part("certificate", Part::bytes(big).file_name("duzy.p12"))
        .text("password", "x");
    let r = h
        .http
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::PAYLOAD_TOO_LARGE);
    let body = r.text().await.unwrap();
    let err = element_text(&body, "error").unwrap();
    assert!(err.contains("za duży") && err.contains("1 MiB"), "{err}");

    // A wrong password gives a Polish sentence, not a stack trace.
    let (nip, cred) = owner();
    let form = Form::new()
        .text("csrf", token.clone())
        .text("return_to", "/generuj")
        .text("nip", nip.as_str().to_string())
        .part(
            "certificate",
            Part::bytes(cred.to_pkcs12("dobre").unwrap()).file_name("a.p12"),
        )
        .text("password", "złe");
    let r = h
        .http
        .post(h.url("/logowanie/certyfikat"))
        .multipart(form)
        .send()
        .await
        .unwrap();
    let body = r.text().await.unwrap();
    assert!(
        element_text(&body, "error")
            .unwrap()
            .starts_with("Nie można odczytać certyfikatu"),
        "{body}"
    );
    h.web.shutdown().await;
}

#[tokio::test]
async fn loopback_only_cookie_flags_and_foreign_host_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = WebConfig::new(dir.path());
    config.addr = "0.0.0.0:0".parse().unwrap();
    assert!(matches!(
        ksef_web::serve(config).await,
        Err(ksef_web::WebError::NotLoopback(_))
    ));

    let h = Harness::start().await;
    let r = ksef_testkit::http_client()
        .get(h.url("/generuj"))
        .send()
        .await
        .unwrap();
    let cookie = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        cookie.contains("HttpOnly") && cookie.contains("SameSite=Strict"),
        "{cookie}"
    );
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let r = ksef_testkit::http_client()
        .get(h.url("/generuj"))
        .header("host", "evil.example")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    h.web.shutdown().await;
}

/// The setting read back through the store itself (key file, as the web app opened it).
async fn recorded(data_dir: &std::path::Path) -> Option<String> {
    let store = ksef_store::Store::open(data_dir, None).await.unwrap();
    let v = store
        .setting(ksef_program::local_emulator::BASE_URL_SETTING)
        .await
        .unwrap();
    store.close().await;
    v
}

#[tokio::test]
async fn embedded_emulator_keeps_its_address_and_owns_its_data_directory() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("program");
    let config = || {
        let mut c = WebConfig::new(&data);
        c.emulator.as_mut().unwrap().auth_processing_delay = Duration::from_millis(20);
        c
    };
    // First start: a free port, recorded in the store.
    let web = ksef_web::serve(config()).await.unwrap();
    let first = web.emulator_base_url.clone().unwrap();
    assert_eq!(recorded(&data).await.as_deref(), Some(first.as_str()));

    // A second web app on the same data directory cannot run a second emulator there.
    let err = match ksef_web::serve(config()).await {
        Ok(_) => panic!("two emulators on one data directory"),
        Err(e) => e,
    };
    assert!(
        matches!(
            err,
            ksef_web::WebError::Emulator(ksef_emulator::SpawnError::DataDirInUse { .. })
        ),
        "{err:?}"
    );
    let message = err.to_string();
    assert!(
        message.contains(&data.join("emulator").display().to_string()),
        "{message}"
    );
    // The first one still serves, on the recorded address.
    let a = ksef_testkit::http_client()
        .post(format!("{first}/auth/challenge"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    web.shutdown().await;

    // Restarted: the same address.
    let web = ksef_web::serve(config()).await.unwrap();
    assert_eq!(web.emulator_base_url.as_deref(), Some(first.as_str()));
    web.shutdown().await;

    // The recorded port taken by someone else: a free port, recorded anew.
    let port: u16 = first
        .trim_end_matches("/v2")
        .rsplit(':')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    let squatter = std::net::TcpListener::bind(("127.0.0.1", port)).unwrap();
    let web = ksef_web::serve(config()).await.unwrap();
    let moved = web.emulator_base_url.clone().unwrap();
    assert_ne!(moved, first);
    assert_eq!(recorded(&data).await.as_deref(), Some(moved.as_str()));
    let a = ksef_testkit::http_client()
        .post(format!("{moved}/auth/challenge"))
        .send()
        .await
        .unwrap();
    assert_eq!(a.status(), StatusCode::OK);
    web.shutdown().await;
    drop(squatter);
}
