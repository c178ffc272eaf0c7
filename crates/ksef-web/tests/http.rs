//! The web app over real HTTP (reqwest with a cookie store) against its embedded emulator and a
//! real SQLite store: the first-start setup and the program login (every page and form action
//! needs a logged-in program user), certificate login, Nadaj uprawnienia with disabled
//! permissions, Dodaj → the token on its own page, Zapisz → masked token, Tokeny KSeF as owner
//! and as a CredentialsRead-only person, token sessions refused, a user's token usable only by
//! that user, Profil Zaufany round trip, CSRF and Origin checks, upload limits, lock-out, idle
//! program sessions and static files.

mod common;

use std::net::SocketAddr;
use std::time::Duration;

use common::html::{cell, csrf, element_text, permission_input, row, span};
use common::web::{
    ADMIN, ADMIN_PASSWORD, Harness, LOGIN, SETUP, USER_PASSWORD, bare, browser, generate_token,
    get_with, login_p12, owner, post_with, program_login, save_own_token, see_other, setup_admin,
};
use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_web::WebConfig;
use reqwest::StatusCode;
use reqwest::multipart::{Form, Part};
use serde_json::json;

/// What only these tests ask of the embedded emulator (the rest of [`Harness`] is in
/// `common::web`).
impl Harness {
    async fn testdata_permissions(&self, context: &Nip, pesel: &Pesel, perms: &[&str]) {
        let permissions: Vec<_> = perms
            .iter()
            .map(|p| json!({"permissionType": p, "description": "Nadane w teście"}))
            .collect();
        let r = ksef_testkit::http_client()
            .post(format!("{}/testdata/permissions", self.emulator()))
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

/// The administrator's Tokeny KSeF (certificate login first if the KSeF session is gone).
async fn tokens_page(h: &Harness, nip: &Nip, cred: &Credential) -> String {
    let (status, page) = h.get("/tokeny").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    if page.contains("id=\"tokens-table\"") {
        return page;
    }
    let (status, page) = login_p12(h, nip, cred, "/tokeny").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("id=\"tokens-table\""), "{page}");
    page
}

/// A raw HTTP/1.1 GET (paths exactly as given, no client-side normalisation): status and body.
async fn raw_get(addr: SocketAddr, path: &str) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await.unwrap();
    s.write_all(
        format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n").as_bytes(),
    )
    .await
    .unwrap();
    let mut buf = Vec::new();
    s.read_to_end(&mut buf).await.unwrap();
    let text = String::from_utf8_lossy(&buf).to_string();
    let status = text
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status line for {path}: {text}"));
    (status, text)
}

// ---------------------------------------------------------------------------------------------
// The token screens (logged in to the program as the administrator).

#[tokio::test]
async fn owner_generates_saves_checks_and_revokes_a_token() {
    let h = Harness::start().await;
    let (nip, cred) = owner();

    // Konfiguracja › Użytkownicy: a program user to save the token on.
    h.add_user("Księgowa").await;

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

    // Dodaj → 303 to the token's own page.
    let r = bare()
        .post(h.url("/generuj"))
        .header("cookie", format!("ksef_web_sid={}", h.admin_sid()))
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("description", "Wystawianie faktur"),
            ("permission", "InvoiceRead"),
            ("permission", "InvoiceWrite"),
        ])
        .send()
        .await
        .unwrap();
    let token_path = see_other(&r);
    assert!(token_path.starts_with("/generuj/token/"), "{token_path}");
    let (status, page) = h.get(&token_path).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let token = element_text(&page, "token-value").expect("token shown");
    let parsed: ksef_core::KsefToken = token.parse().expect("a KSeF token");
    let reference = parsed.reference_number().to_string();
    assert_eq!(
        element_text(&page, "token-reference").as_deref(),
        Some(reference.as_str())
    );
    assert!(page.contains("id=\"copy-token\""));
    assert!(page.contains("nie będzie już możliwości jego podejrzenia"));
    // The administrator may save it on any user with a password.
    assert!(page.contains("<option value=\"Księgowa\""), "{page}");
    // F5 shows the same token again, never mints another.
    let (_, again) = h.get(&token_path).await;
    assert_eq!(element_text(&again, "token-value"), Some(token.clone()));

    // Zapisz (on Księgowa) → back to Generuj with the reference, never the full token again.
    let secret = parsed.secret_hex().to_string();
    let (status, page) = h
        .post(
            &format!("{token_path}/zapisz"),
            &[("csrf", &csrf(&page)), ("for_user", "Księgowa")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        !page.contains(&secret),
        "the full token must never be shown again"
    );
    let flash = element_text(&page, "flash").unwrap_or_default();
    assert!(
        flash.contains(&reference) && flash.contains("Księgowa"),
        "{flash}"
    );
    // The token page is gone; a second Zapisz has nothing to save.
    let (_, page) = h.get(&token_path).await;
    assert!(!page.contains(&secret));
    assert!(
        element_text(&page, "error")
            .unwrap_or_default()
            .contains("Tego tokenu nie można już wyświetlić"),
        "{page}"
    );
    let (_, page) = h
        .post(&format!("{token_path}/zapisz"), &[("csrf", &csrf(&page))])
        .await;
    assert!(!page.contains(&secret));
    assert!(
        element_text(&page, "error")
            .unwrap_or_default()
            .contains("Tego tokenu nie można już wyświetlić"),
        "{page}"
    );

    // Tokeny KSeF as the owner: exactly one token (the same one), held by Księgowa, with Usuń.
    let (status, page) = h.get("/tokeny").await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert_eq!(page.matches("class=\"token-row\"").count(), 1, "{page}");
    let r = row(&page, "data-reference", &reference).expect("the token's row");
    assert_eq!(cell(r, "holders"), "Księgowa");
    assert!(page.contains("class=\"revoke\""));
    assert!(page.contains("Wystawianie faktur"));
    let (_, filtered) = h.get("/tokeny?status=Revoked").await;
    assert!(!filtered.contains(&format!("data-reference=\"{reference}\"")));

    // Użytkownicy: the masked token on Księgowa's row only.
    let (_, users) = h.get("/uzytkownicy").await;
    assert!(!users.contains(&secret));
    let r = row(&users, "data-name", "Księgowa").unwrap();
    let masked = span(r, "token-masked");
    let firm = format!("Nip:{}", nip.as_str());
    assert!(
        r.contains(&format!("class=\"user-token\" data-firm=\"{firm}\"")),
        "{r}"
    );
    assert_eq!(span(r, "token-firm"), format!("NIP {}", nip.as_str()));
    assert!(
        masked.contains(&reference) && masked.contains('…'),
        "{masked}"
    );
    assert_eq!(
        span(row(&users, "data-name", ADMIN).unwrap(), "token-masked"),
        "—"
    );
    // The edit page shows the masked token only as a placeholder.
    let (_, edit) = h.get("/uzytkownicy/Ksi%C4%99gowa").await;
    assert!(edit.contains("id=\"token-field\""));
    assert!(!edit.contains(&secret));

    // Edytuj › Sprawdź, by Księgowa herself (her password unlocks the token): a token session
    // shows the token's permissions and is closed again.
    let clerk = h.browser_as("Księgowa", USER_PASSWORD).await;
    let (_, edit) = get_with(&clerk, &h.url("/uzytkownicy/Ksi%C4%99gowa")).await;
    assert!(edit.contains("id=\"user-tokens\""), "{edit}");
    assert!(
        edit.contains(&format!("class=\"user-token\" data-firm=\"{firm}\"")),
        "{edit}"
    );
    assert_eq!(
        edit.matches("class=\"check-token-form\"").count(),
        1,
        "{edit}"
    );
    assert!(
        edit.contains(&format!("name=\"firm\" value=\"{firm}\"")),
        "{edit}"
    );
    let (status, page) = post_with(
        &clerk,
        &h.url("/uzytkownicy/Ksi%C4%99gowa/sprawdz"),
        &[("csrf", &csrf(&edit)), ("firm", &firm)],
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
    assert!(!page.contains("id=\"ksef-session\""), "{page}");

    // Usuń (the administrator's certificate session).
    let page = tokens_page(&h, &nip, &cred).await;
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
    let r = row(&page, "data-reference", &reference).unwrap();
    assert!(r.contains("Revoking") || r.contains("Revoked"), "{r}");

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
    // Generuj, Zapisz on the administrator (the default), then Zamknij.
    let page = save_own_token(&h, &nip, &cred, "Token do faktur", &["InvoiceRead"]).await;
    let (_, page) = h
        .post(
            "/sesja/zamknij",
            &[("csrf", &csrf(&page)), ("return_to", "/tokeny")],
        )
        .await;

    // Log in to KSeF with the administrator's own token (the start page's form).
    let (_, start) = h.get("/").await;
    assert!(start.contains("id=\"token-login-form\""), "{start}");
    let (status, page) = h.post("/logowanie/token", &[("csrf", &csrf(&page))]).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(page.contains("sesja tokenem"), "{page}");

    let (status, page) = h.get("/tokeny").await;
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
    let (_, reference, _) = generate_token(
        &h,
        &nip,
        &owner_cred,
        "Token właściciela",
        &["InvoiceWrite"],
    )
    .await;

    // A clerk (PESEL) with CredentialsRead + InvoiceRead in the company's context, in another
    // browser (logged in to the program as a user of its own).
    let pesel = Pesel::random();
    h.testdata_permissions(&nip, &pesel, &["CredentialsRead", "InvoiceRead"])
        .await;
    let clerk = make_test_certificate(
        &TestSubject::person_pesel(pesel.clone(), "Celina", "Księgowa"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    h.add_user("Celina").await;
    let other = h.browser_as("Celina", USER_PASSWORD).await;
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
    let r = row(&after, "data-reference", &reference).unwrap();
    assert!(r.contains("Active"), "{r}");

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
    h.add_user("Piotr").await;
    let third = h.browser_as("Piotr", USER_PASSWORD).await;
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
    let intruder = [
        ("name", "Intruz"),
        ("password", USER_PASSWORD),
        ("password2", USER_PASSWORD),
    ];

    let (status, body) = h.post("/uzytkownicy", &intruder).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(body.contains("CSRF"), "{body}");
    let mut wrong = vec![("csrf", "0000")];
    wrong.extend(intruder);
    let (status, _) = h.post("/uzytkownicy", &wrong).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Another browser's token is not ours (the same administrator, another session).
    let other = h.browser_as(ADMIN, ADMIN_PASSWORD).await;
    let (_, other_page) = get_with(&other, &h.url("/uzytkownicy")).await;
    let other_token = csrf(&other_page);
    assert_ne!(other_token, token);
    let mut foreign = vec![("csrf", other_token.as_str())];
    foreign.extend(intruder);
    let (status, _) = h.post("/uzytkownicy", &foreign).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    // Nor is the pre-login form's token.
    let (_, login_page) = get_with(&browser(), &h.url(LOGIN)).await;
    let pre_token = csrf(&login_page);
    let mut pre = vec![("csrf", pre_token.as_str())];
    pre.extend(intruder);
    let (status, _) = h.post("/uzytkownicy", &pre).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = h.get("/uzytkownicy").await;
    assert!(!page.contains("Intruz"));
    assert!(h.store().await.user("Intruz").await.is_err());

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

    let h = Harness::start_with(|_| {}).await;
    let http = bare();
    // The setup page's pre-login cookie, then the session cookie of the administrator.
    let r = http.get(h.url(SETUP)).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let pre = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        pre.starts_with("ksef_web_pre=")
            && pre.contains("HttpOnly")
            && pre.contains("SameSite=Strict"),
        "{pre}"
    );
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    let page = r.text().await.unwrap();
    let pre_value = pre.split(';').next().unwrap().to_string();
    let r = http
        .post(h.url(SETUP))
        .header("cookie", &pre_value)
        .form(&[
            ("csrf", csrf(&page).as_str()),
            ("name", ADMIN),
            ("password", ADMIN_PASSWORD),
            ("password2", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(see_other(&r), "/");
    let sid = r.headers()["set-cookie"].to_str().unwrap().to_string();
    assert!(
        sid.starts_with("ksef_web_sid=")
            && sid.contains("HttpOnly")
            && sid.contains("SameSite=Strict"),
        "{sid}"
    );
    let sid_value = sid.split(';').next().unwrap().to_string();
    let r = http
        .get(h.url("/generuj"))
        .header("cookie", &sid_value)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    assert!(
        r.headers()["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("script-src 'self'")
    );
    assert_eq!(r.headers()["x-frame-options"], "DENY");
    // A foreign Host is refused, logged in or not.
    for cookie in ["", sid_value.as_str()] {
        let r = http
            .get(h.url("/generuj"))
            .header("host", "evil.example")
            .header("cookie", cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::MISDIRECTED_REQUEST);
    }
    h.web.shutdown().await;
}

// ---------------------------------------------------------------------------------------------
// Program users: nothing works without a program login.

/// Every GET screen (and a few more paths) of the app.
const GET_SCREENS: [&str; 12] = [
    "/",
    "/generuj",
    "/tokeny",
    "/tokeny?status=Active",
    "/uzytkownicy",
    "/uzytkownicy/x",
    "/ustawienia",
    "/generuj/token/abc",
    "/logowanie/pz",
    "/logowanie/pz/plik",
    "/wyloguj",
    "/nie-ma-takiej-strony",
];

/// Every POST route of the router (lib.rs), with plausible form fields.
fn post_routes(user: &str, reference: &str) -> Vec<(String, Vec<(&'static str, String)>)> {
    let pw = |p: &str| p.to_string();
    vec![
        ("/wyloguj".into(), vec![]),
        (
            "/certyfikat-testowy".into(),
            vec![("nip", pw("1234563218")), ("password", pw("haslo"))],
        ),
        ("/sesja/zamknij".into(), vec![("return_to", pw("/tokeny"))]),
        ("/logowanie/token".into(), vec![]),
        (
            "/logowanie/pz".into(),
            vec![("nip", pw("1234563218")), ("return_to", pw("/generuj"))],
        ),
        (
            "/generuj".into(),
            vec![
                ("description", pw("Token intruza")),
                ("permission", pw("InvoiceRead")),
            ],
        ),
        (
            "/generuj/token/abc/zapisz".into(),
            vec![("for_user", user.to_string())],
        ),
        (format!("/tokeny/{reference}/usun"), vec![]),
        (
            "/uzytkownicy".into(),
            vec![
                ("name", pw("Intruz")),
                ("password", pw(USER_PASSWORD)),
                ("password2", pw(USER_PASSWORD)),
                ("admin", pw("1")),
            ],
        ),
        (
            format!("/uzytkownicy/{user}"),
            vec![(
                "token",
                pw("20250101-EC-0000000000-0000000000-00|nip-1234563218|00"),
            )],
        ),
        (
            format!("/uzytkownicy/{user}/haslo"),
            vec![
                ("password", pw("nowe-hasło-intruza")),
                ("password2", pw("nowe-hasło-intruza")),
            ],
        ),
        (
            format!("/uzytkownicy/{user}/rola"),
            vec![("admin", pw("1"))],
        ),
        (format!("/uzytkownicy/{user}/sprawdz"), vec![]),
        (format!("/uzytkownicy/{user}/usun"), vec![]),
        ("/ustawienia".into(), vec![("environment", pw("prod"))]),
    ]
}

/// The multipart POST routes (certificate login, signed Profil Zaufany file).
const MULTIPART_ROUTES: [&str; 2] = ["/logowanie/certyfikat", "/logowanie/pz/podpisany"];

/// Sends every POST route without a program session (with `cookie` as the only cookie and the
/// given CSRF token): each must answer 303 to `expected`.
async fn posts_redirect(
    h: &Harness,
    cookie: &str,
    token: &str,
    user: &str,
    reference: &str,
    expected: &str,
) {
    let http = bare();
    for (path, fields) in post_routes(user, reference) {
        let mut body: Vec<(&str, &str)> = vec![("csrf", token)];
        body.extend(fields.iter().map(|(k, v)| (*k, v.as_str())));
        let r = http
            .post(h.url(&path))
            .header("cookie", cookie)
            .form(&body)
            .send()
            .await
            .unwrap();
        assert_eq!(see_other(&r), expected, "POST {path}");
        assert!(r.headers().get("set-cookie").is_none(), "POST {path}");
        let text = r.text().await.unwrap();
        assert!(!text.contains("ksef_web_sid"), "POST {path}: {text}");
    }
    let (nip, cred) = owner();
    for path in MULTIPART_ROUTES {
        let form = Form::new()
            .text("csrf", token.to_string())
            .text("return_to", "/generuj")
            .text("nip", nip.as_str().to_string())
            .part(
                "certificate",
                Part::bytes(cred.to_pkcs12("x").unwrap()).file_name("c.p12"),
            )
            .part("signed", Part::bytes(b"<x/>".to_vec()).file_name("s.xml"))
            .text("password", "x");
        let r = http
            .post(h.url(path))
            .header("cookie", cookie)
            .multipart(form)
            .send()
            .await
            .unwrap();
        assert_eq!(see_other(&r), expected, "POST {path}");
    }
}

#[tokio::test]
async fn every_screen_redirects_to_the_setup_then_to_the_login_without_a_program_session() {
    let h = Harness::start_with(|_| {}).await;
    let http = bare();
    let stale = format!("ksef_web_sid={}", "ab".repeat(32));
    // An empty store: everything leads to the first-start setup (even a stale session cookie).
    for path in GET_SCREENS {
        for cookie in ["", stale.as_str()] {
            let r = http
                .get(h.url(path))
                .header("cookie", cookie)
                .send()
                .await
                .unwrap();
            assert_eq!(see_other(&r), SETUP, "GET {path} ({cookie:?})");
            assert!(r.headers().get("set-cookie").is_none(), "GET {path}");
        }
    }
    // The login page itself sends to the setup while there is no administrator.
    let r = http.get(h.url(LOGIN)).send().await.unwrap();
    assert_eq!(see_other(&r), SETUP);
    // No POST works either, and the users dictionary stays empty.
    let (_, setup) = get_with(&h.http, &h.url(SETUP)).await;
    posts_redirect(&h, "", &csrf(&setup), "x", "ref", SETUP).await;
    assert!(h.store().await.list_users().await.unwrap().is_empty());
    assert!(h.store().await.needs_first_admin().await.unwrap());

    // Once an administrator exists: the login (a stale or unknown cookie: "wygasła").
    setup_admin(&h.http, &h).await;
    for path in GET_SCREENS {
        let r = http.get(h.url(path)).send().await.unwrap();
        assert_eq!(see_other(&r), LOGIN, "GET {path}");
        let r = http
            .get(h.url(path))
            .header("cookie", &stale)
            .send()
            .await
            .unwrap();
        assert_eq!(see_other(&r), "/zaloguj?wygasla=1", "GET {path}");
        // …while the administrator's browser opens it (or is sent on within the app).
        let r = bare()
            .get(h.url(path))
            .header("cookie", format!("ksef_web_sid={}", h.admin_sid()))
            .send()
            .await
            .unwrap();
        if r.status() == StatusCode::SEE_OTHER {
            let to = see_other(&r);
            assert!(
                to != LOGIN && to != SETUP && !to.starts_with("/zaloguj"),
                "GET {path} → {to}"
            );
        } else {
            assert!(
                [
                    StatusCode::OK,
                    StatusCode::NOT_FOUND,
                    StatusCode::METHOD_NOT_ALLOWED
                ]
                .contains(&r.status()),
                "GET {path}: {}",
                r.status()
            );
        }
    }
    // The setup cannot run again.
    let r = http.get(h.url(SETUP)).send().await.unwrap();
    assert_eq!(see_other(&r), LOGIN);
    h.web.shutdown().await;
}

#[tokio::test]
async fn no_form_action_works_without_a_program_login() {
    let h = Harness::start().await;
    let (nip, cred) = owner();
    h.add_user("Anna").await;
    // Anna holds a token (pasted by the administrator).
    let (token, reference, _) =
        generate_token(&h, &nip, &cred, "Token Anny", &["InvoiceRead"]).await;
    let (_, edit) = h.get("/uzytkownicy/Anna").await;
    let (status, page) = h
        .post(
            "/uzytkownicy/Anna",
            &[("csrf", &csrf(&edit)), ("token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let store = h.store().await;
    let users_before = store.list_users().await.unwrap();
    let env_before = store.setting("environment").await.unwrap();
    assert!(users_before.iter().any(|u| u.name == "Anna" && u.has_token));

    // Cookie-less POSTs carrying the administrator's real CSRF token (as a forged form would):
    // all 303 to the login.
    let (_, page) = h.get("/uzytkownicy").await;
    let admin_csrf = csrf(&page);
    posts_redirect(&h, "", &admin_csrf, "Anna", &reference, LOGIN).await;
    // A browser that only opened the login page (pre-login cookie and its valid token).
    let pre_browser = bare();
    let r = pre_browser.get(h.url(LOGIN)).send().await.unwrap();
    let pre = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let pre_csrf = csrf(&r.text().await.unwrap());
    posts_redirect(&h, &pre, &pre_csrf, "Anna", &reference, LOGIN).await;
    // An unknown session id.
    let stale = format!("ksef_web_sid={}", "cd".repeat(32));
    posts_redirect(
        &h,
        &stale,
        &admin_csrf,
        "Anna",
        &reference,
        "/zaloguj?wygasla=1",
    )
    .await;

    // Nothing changed: users (no Intruz, same roles, tokens, locks), the environment…
    let store = h.store().await;
    assert_eq!(store.list_users().await.unwrap(), users_before);
    assert!(store.user("Intruz").await.is_err());
    assert_eq!(store.setting("environment").await.unwrap(), env_before);
    // …the passwords (both still log in)…
    h.browser_as(ADMIN, ADMIN_PASSWORD).await;
    let anna = h.browser_as("Anna", USER_PASSWORD).await;
    // …and Anna's token was never used: KSeF shows it active, unused, held by Anna.
    let page = tokens_page(&h, &nip, &cred).await;
    let r = row(&page, "data-reference", &reference).expect("Anna's token");
    assert_eq!(cell(r, "last-use"), "—", "{r}");
    assert_eq!(cell(r, "holders"), "Anna");
    assert!(r.contains("data-status=\"Active\""), "{r}");
    // The check itself works: Anna's own login with her token shows up as a use.
    let (_, start) = get_with(&anna, &h.url("/")).await;
    let (status, start) = post_with(
        &anna,
        &h.url("/logowanie/token"),
        &[("csrf", &csrf(&start))],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{start}");
    assert!(
        element_text(&start, "ksef-session")
            .unwrap_or_default()
            .contains("sesja tokenem"),
        "{start}"
    );
    let page = tokens_page(&h, &nip, &cred).await;
    let r = row(&page, "data-reference", &reference).unwrap();
    assert_ne!(cell(r, "last-use"), "—", "{r}");
    h.web.shutdown().await;
}

#[tokio::test]
async fn cookie_less_requests_do_not_log_a_user_out() {
    let h = Harness::start().await;
    let sid = h.admin_sid();
    let (_, page) = h.get("/uzytkownicy").await;
    let admin_csrf = csrf(&page);
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..300usize {
        let http = bare();
        let base = h.web.base_url();
        let token = admin_csrf.clone();
        tasks.spawn(async move {
            let paths = [
                "",
                "generuj",
                "tokeny",
                "uzytkownicy",
                "zaloguj",
                "ustawienia",
            ];
            let path = paths[i % paths.len()];
            let url = format!("{base}{path}");
            let req = match i % 3 {
                0 => http.get(&url),
                1 => http
                    .post(&url)
                    .form(&[("csrf", token.as_str()), ("name", "x")]),
                // A random (unknown) session id.
                _ => http
                    .get(&url)
                    .header("cookie", format!("ksef_web_sid={:064x}", i)),
            };
            let r = req.send().await.unwrap();
            (path, r.status())
        });
    }
    while let Some(done) = tasks.join_next().await {
        let (path, status) = done.unwrap();
        // Only the login page answers itself (POST /zaloguj without its cookie: 403).
        if path == "zaloguj" {
            assert!(
                [StatusCode::OK, StatusCode::FORBIDDEN].contains(&status),
                "{path}: {status}"
            );
        } else {
            assert_eq!(status, StatusCode::SEE_OTHER, "{path}");
        }
    }
    // The administrator is still logged in, in the same session.
    let r = bare()
        .get(h.url("/uzytkownicy"))
        .header("cookie", format!("ksef_web_sid={sid}"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert_eq!(
        element_text(&page, "program-user-name").as_deref(),
        Some(ADMIN)
    );
    assert_eq!(csrf(&page), admin_csrf);
    h.web.shutdown().await;
}

#[tokio::test]
async fn unknown_static_paths_are_404_never_500() {
    let h = Harness::start().await;
    let addr = h.web.addr;
    for ok in ["/static/app.js", "/static/app.css"] {
        let (status, _) = raw_get(addr, ok).await;
        assert_eq!(status, 200, "{ok}");
    }
    for path in [
        "/static/x",
        "/static/",
        "/static/app.js.map",
        "/static/../../etc/passwd",
        "/static/../../../../../../etc/passwd",
        "/static/..%2f..%2fetc%2fpasswd",
        "/static/%2e%2e/%2e%2e/etc/passwd",
        "/static/app.js/../../etc/passwd",
        "/static//etc/passwd",
        "/static/%00",
        "/static/..\\..\\windows\\win.ini",
        "/static/%c0%ae%c0%ae/etc/passwd",
    ] {
        let (status, text) = raw_get(addr, path).await;
        assert_eq!(status, 404, "{path}: {text}");
        assert!(!text.contains("root:"), "{path}");
        assert!(text.contains("Nie ma takiego pliku"), "{path}: {text}");
    }
    // The same through a client (normalised paths), with and without a session.
    for client in [bare(), h.http.clone()] {
        let r = client.get(h.url("/static/x")).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::NOT_FOUND);
    }
    h.web.shutdown().await;
}

#[tokio::test]
async fn wrong_passwords_count_down_then_lock_and_change_nothing_else() {
    let h = Harness::start().await;
    h.add_user("Jan").await;
    let store = h.store().await;
    let before = store.list_users().await.unwrap();

    let jan = browser();
    for left in (1..=4).rev() {
        let (status, page) = program_login(&jan, &h, "Jan", "złe-hasło-123").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{page}");
        let error = element_text(&page, "error").unwrap();
        assert!(
            error.starts_with("Nieprawidłowe hasło. Pozostałe próby")
                && error.ends_with(&format!(": {left}.")),
            "{error}"
        );
        assert!(!page.contains("id=\"program-user\""));
        // The name stays in the form.
        assert!(page.contains("value=\"Jan\""), "{page}");
    }
    let (status, page) = program_login(&jan, &h, "Jan", "złe-hasło-123").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let error = element_text(&page, "error").unwrap();
    assert!(error.contains("zablokowane"), "{error}");
    // Locked: even the right password is refused.
    let (status, page) = program_login(&jan, &h, "Jan", USER_PASSWORD).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert!(
        element_text(&page, "error")
            .unwrap()
            .contains("zablokowane")
    );
    assert!(!page.contains("id=\"program-user\""));
    let r = bare().get(h.url("/")).send().await.unwrap();
    assert_eq!(see_other(&r), LOGIN);

    // Only Jan's lock changed.
    let after = store.list_users().await.unwrap();
    assert_eq!(after.len(), before.len());
    for (b, a) in before.iter().zip(&after) {
        if a.name == "Jan" {
            assert!(a.locked_until.is_some());
            let mut unlocked = a.clone();
            unlocked.locked_until = None;
            assert_eq!(&unlocked, b);
        } else {
            assert_eq!(a, b);
        }
    }
    // The administrator sees the lock and is not affected.
    let (status, page) = h.get("/uzytkownicy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        row(&page, "data-name", "Jan")
            .unwrap()
            .contains("zablokowany do")
    );
    h.web.shutdown().await;
}

#[tokio::test]
async fn unknown_users_and_non_administrators_get_polish_refusals() {
    let h = Harness::start().await;
    // An unknown user.
    let (status, page) = program_login(&browser(), &h, "Ktoś", "jakieś-hasło-1").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let error = element_text(&page, "error").unwrap();
    assert!(
        error.contains("Nie ma użytkownika programu „Ktoś”"),
        "{error}"
    );
    // Empty fields.
    let b = browser();
    let (_, login) = get_with(&b, &h.url(LOGIN)).await;
    let (status, page) = post_with(
        &b,
        &h.url(LOGIN),
        &[("csrf", &csrf(&login)), ("name", "Jan")],
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        element_text(&page, "error")
            .unwrap()
            .contains("Podaj nazwę użytkownika i hasło")
    );

    h.add_user("Jan").await;
    let store = h.store().await;
    let before = store.list_users().await.unwrap();
    let jan = h.browser_as("Jan", USER_PASSWORD).await;
    // Jan sees only himself and no form to add users.
    let (status, page) = get_with(&jan, &h.url("/uzytkownicy")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("data-name=\"Jan\""));
    assert!(!page.contains(&format!("data-name=\"{ADMIN}\"")), "{page}");
    assert!(!page.contains("id=\"add-user-form\""));
    // A crafted "add user" is refused in Polish.
    let (status, page) = post_with(
        &jan,
        &h.url("/uzytkownicy"),
        &[
            ("csrf", &csrf(&page)),
            ("name", "Intruz"),
            ("password", USER_PASSWORD),
            ("password2", USER_PASSWORD),
            ("admin", "1"),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let error = element_text(&page, "error").unwrap();
    assert!(
        error.contains("Tylko administrator programu może dodawać użytkowników"),
        "{error}"
    );
    assert!(!page.contains("Intruz"));
    // Another user's page: refused, back to Jan's list.
    let r = jan
        .get(h.url(&format!("/uzytkownicy/{ADMIN}")))
        .send()
        .await
        .unwrap();
    assert_eq!(r.url().path(), "/uzytkownicy");
    let page = r.text().await.unwrap();
    let error = element_text(&page, "error").unwrap();
    assert!(
        error.contains("Możesz oglądać i zmieniać tylko swoje konto"),
        "{error}"
    );
    assert!(!page.contains(&format!("data-name=\"{ADMIN}\"")));
    // Nor may Jan change the administrator (password, role, removal) or make himself one.
    let token = csrf(&page);
    for (path, fields) in [
        (
            format!("/uzytkownicy/{ADMIN}/haslo"),
            vec![
                ("password", "przejęte-hasło"),
                ("password2", "przejęte-hasło"),
            ],
        ),
        (format!("/uzytkownicy/{ADMIN}/rola"), vec![]),
        (format!("/uzytkownicy/{ADMIN}/usun"), vec![]),
        ("/uzytkownicy/Jan/rola".to_string(), vec![("admin", "1")]),
    ] {
        let mut body = vec![("csrf", token.as_str())];
        body.extend(fields);
        let (status, page) = post_with(&jan, &h.url(&path), &body).await;
        assert!(
            status.is_success() || status.is_client_error(),
            "{path}: {status}"
        );
        let error = element_text(&page, "error").unwrap_or_default();
        assert!(
            error.starts_with("Tylko administrator programu")
                || error.starts_with("Możesz oglądać"),
            "{path}: {page}"
        );
    }
    // Nothing changed; the administrator's password still works.
    assert_eq!(store.list_users().await.unwrap(), before);
    h.browser_as(ADMIN, ADMIN_PASSWORD).await;
    h.web.shutdown().await;
}

#[tokio::test]
async fn an_idle_program_session_expires_and_the_login_says_so() {
    let h = Harness::start_with(|c| c.program_idle = Duration::from_millis(300)).await;
    setup_admin(&h.http, &h).await;
    let sid = h.admin_sid();
    let cookie = format!("ksef_web_sid={sid}");
    // Requests keep it alive…
    for _ in 0..4 {
        tokio::time::sleep(Duration::from_millis(50)).await;
        let r = bare()
            .get(h.url("/"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::OK);
    }
    // …idling ends it.
    tokio::time::sleep(Duration::from_millis(600)).await;
    let r = bare()
        .get(h.url("/uzytkownicy"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(see_other(&r), "/zaloguj?wygasla=1");
    let r = bare()
        .post(h.url("/uzytkownicy"))
        .header("cookie", &cookie)
        .form(&[("name", "Intruz")])
        .send()
        .await
        .unwrap();
    assert_eq!(see_other(&r), "/zaloguj?wygasla=1");
    // The browser follows to the login, which says the session expired.
    let (status, page) = h.get("/uzytkownicy").await;
    assert_eq!(status, StatusCode::OK);
    assert!(page.contains("id=\"program-login-form\""), "{page}");
    let flash = element_text(&page, "flash").unwrap();
    assert!(flash.contains("wygasła"), "{flash}");
    // Logging in again works.
    let (status, page) = program_login(&h.http, &h, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        element_text(&page, "program-user-name").as_deref(),
        Some(ADMIN)
    );
    assert_ne!(h.admin_sid(), sid);
    h.web.shutdown().await;
}

#[tokio::test]
async fn a_users_token_works_only_for_that_user() {
    let h = Harness::start().await;
    let (nip, cred) = owner();
    h.add_user("Anna").await;
    h.add_user("Bartek").await;
    let (token, reference, _) = generate_token(
        &h,
        &nip,
        &cred,
        "Token Anny do faktur",
        &["InvoiceRead", "InvoiceWrite"],
    )
    .await;
    // The administrator pastes it on Anna (Użytkownicy › Edytuj › Token KSeF).
    let (_, edit) = h.get("/uzytkownicy/Anna").await;
    let (status, page) = h
        .post(
            "/uzytkownicy/Anna",
            &[("csrf", &csrf(&edit)), ("token", &token)],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(
        element_text(&page, "flash")
            .unwrap_or_default()
            .contains("Token KSeF zapisany dla użytkownika „Anna”"),
        "{page}"
    );
    let secret = token
        .parse::<ksef_core::KsefToken>()
        .unwrap()
        .secret_hex()
        .to_string();
    assert!(!page.contains(&secret));
    assert!(span(row(&page, "data-name", "Anna").unwrap(), "token-masked").contains(&reference));
    assert_eq!(
        span(row(&page, "data-name", "Bartek").unwrap(), "token-masked"),
        "—"
    );
    // The administrator cannot use or check it.
    let (_, page) = h.post("/logowanie/token", &[("csrf", &csrf(&page))]).await;
    assert!(
        element_text(&page, "error")
            .unwrap_or_default()
            .contains(&format!(
                "Użytkownik „{ADMIN}” nie ma zapisanego tokenu KSeF dla firmy NIP {}",
                nip.as_str()
            )),
        "{page}"
    );
    assert!(!page.contains("id=\"ksef-session\""));
    let (_, page) = h
        .post("/uzytkownicy/Anna/sprawdz", &[("csrf", &csrf(&page))])
        .await;
    assert!(
        element_text(&page, "error")
            .unwrap_or_default()
            .contains("Token można sprawdzić tylko na swoim koncie"),
        "{page}"
    );

    // Bartek: no token on his start page, the token login refused in Polish.
    let bartek = h.browser_as("Bartek", USER_PASSWORD).await;
    let (_, start) = get_with(&bartek, &h.url("/")).await;
    assert!(start.contains("id=\"own-token-missing\""), "{start}");
    assert!(!start.contains("id=\"token-login-form\""));
    let (status, page) = post_with(
        &bartek,
        &h.url("/logowanie/token"),
        &[("csrf", &csrf(&start))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let error = element_text(&page, "error").unwrap();
    assert!(
        error.contains("Użytkownik „Bartek” nie ma zapisanego tokenu KSeF"),
        "{error}"
    );
    assert!(!page.contains("id=\"ksef-session\""));
    // Nor can he reach Anna's entry: not to view, check, or overwrite it.
    let (_, page) = post_with(
        &bartek,
        &h.url("/uzytkownicy/Anna/sprawdz"),
        &[("csrf", &csrf(&start))],
    )
    .await;
    assert!(
        element_text(&page, "error")
            .unwrap_or_default()
            .contains("Token można sprawdzić tylko na swoim koncie"),
        "{page}"
    );
    let (_, page) = post_with(
        &bartek,
        &h.url("/uzytkownicy/Anna"),
        &[("csrf", &csrf(&start)), ("token", "x")],
    )
    .await;
    assert!(element_text(&page, "error").is_some(), "{page}");
    assert!(!page.contains("data-name=\"Anna\""));
    let anna_info = h.store().await.user("Anna").await.unwrap();
    assert_eq!(anna_info.tokens.len(), 1);
    assert_eq!(anna_info.tokens[0].reference.as_str(), reference.as_str());

    // KSeF: the token is unused so far.
    let page = tokens_page(&h, &nip, &cred).await;
    let r = row(&page, "data-reference", &reference).unwrap();
    assert_eq!(cell(r, "holders"), "Anna");
    assert_eq!(cell(r, "last-use"), "—", "{r}");

    // Anna: her start page offers the token login, and it works.
    let anna = h.browser_as("Anna", USER_PASSWORD).await;
    let (_, start) = get_with(&anna, &h.url("/")).await;
    assert!(start.contains("id=\"token-login-form\""), "{start}");
    assert!(!start.contains("id=\"own-token-missing\""));
    let (status, page) = post_with(
        &anna,
        &h.url("/logowanie/token"),
        &[("csrf", &csrf(&start))],
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let flash = element_text(&page, "flash").unwrap_or_default();
    assert!(
        flash.contains("Zalogowano do KSeF tokenem użytkownika „Anna”"),
        "{page}"
    );
    let banner = element_text(&page, "ksef-session").unwrap();
    assert!(
        banner.contains("sesja tokenem") && banner.contains("Anna"),
        "{banner}"
    );
    // …and KSeF saw exactly that use.
    let (_, page) = h.get("/tokeny").await;
    let r = row(&page, "data-reference", &reference).unwrap();
    assert_ne!(cell(r, "last-use"), "—", "{r}");
    // Bartek still has nothing.
    let (_, start) = get_with(&bartek, &h.url("/")).await;
    assert!(start.contains("id=\"own-token-missing\""));
    assert!(!start.contains("id=\"ksef-session\""));
    h.web.shutdown().await;
}

#[tokio::test]
async fn csrf_and_foreign_origins_are_refused() {
    let h = Harness::start().await;
    let sid = format!("ksef_web_sid={}", h.admin_sid());
    let (_, page) = h.get("/uzytkownicy").await;
    let token = csrf(&page);
    let add = |csrf: Option<&str>| {
        let mut f = vec![
            ("name", "Intruz".to_string()),
            ("password", USER_PASSWORD.to_string()),
            ("password2", USER_PASSWORD.to_string()),
        ];
        if let Some(c) = csrf {
            f.push(("csrf", c.to_string()));
        }
        f
    };
    let http = bare();
    // Logged in: no token, a wrong one, an empty one → 403, on every kind of form.
    for path in [
        "/uzytkownicy",
        "/ustawienia",
        "/wyloguj",
        "/logowanie/token",
        "/generuj",
        "/uzytkownicy/Administrator/haslo",
    ] {
        for bad in [None, Some("0".repeat(64).as_str()), Some("")] {
            let r = http
                .post(h.url(path))
                .header("cookie", &sid)
                .form(&add(bad))
                .send()
                .await
                .unwrap();
            assert_eq!(
                r.status(),
                StatusCode::FORBIDDEN,
                "POST {path} csrf {bad:?}"
            );
            assert!(r.text().await.unwrap().contains("CSRF"));
        }
    }
    // A foreign Origin is refused even with the right token and session (another local port).
    for origin in [
        "http://127.0.0.1:1",
        "http://localhost:1",
        "https://evil.example",
        "null",
    ] {
        let r = http
            .post(h.url("/uzytkownicy"))
            .header("cookie", &sid)
            .header("origin", origin)
            .form(&add(Some(&token)))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "Origin {origin}");
    }
    // …also for the pre-login forms.
    let b = browser();
    let (_, login) = get_with(&b, &h.url(LOGIN)).await;
    let r = b
        .post(h.url(LOGIN))
        .header("origin", "http://127.0.0.1:1")
        .form(&[
            ("csrf", csrf(&login).as_str()),
            ("name", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // The login form without its pre-login cookie, or with a wrong token: 403.
    let r = bare()
        .post(h.url(LOGIN))
        .form(&[
            ("csrf", csrf(&login).as_str()),
            ("name", ADMIN),
            ("password", ADMIN_PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let (status, _) = post_with(
        &b,
        &h.url(LOGIN),
        &[
            ("csrf", "00"),
            ("name", ADMIN),
            ("password", ADMIN_PASSWORD),
        ],
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    assert!(h.store().await.user("Intruz").await.is_err());
    // Our own origin with the right token works.
    let r = http
        .post(h.url("/uzytkownicy"))
        .header("cookie", &sid)
        .header("origin", format!("http://{}", h.web.addr))
        .form(&add(Some(&token)))
        .send()
        .await
        .unwrap();
    assert_eq!(see_other(&r), "/uzytkownicy");
    assert!(h.store().await.user("Intruz").await.is_ok());
    // Logout needs the token too; with it the session is gone.
    let r = http
        .post(h.url("/wyloguj"))
        .header("cookie", &sid)
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(see_other(&r), "/zaloguj?wylogowano=1");
    let r = http
        .get(h.url("/"))
        .header("cookie", &sid)
        .send()
        .await
        .unwrap();
    assert_eq!(see_other(&r), "/zaloguj?wygasla=1");
    h.web.shutdown().await;
}

#[tokio::test]
async fn a_demoted_administrator_loses_the_rights_at_once() {
    let h = Harness::start().await;
    // Jan becomes an administrator and logs in.
    h.add_user("Jan").await;
    let (_, edit) = h.get("/uzytkownicy/Jan").await;
    let (status, page) = h
        .post(
            "/uzytkownicy/Jan/rola",
            &[("csrf", &csrf(&edit)), ("admin", "1")],
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    assert!(h.store().await.user("Jan").await.unwrap().is_admin);
    let jan = h.browser_as("Jan", USER_PASSWORD).await;
    let (_, jan_page) = get_with(&jan, &h.url("/uzytkownicy")).await;
    assert!(jan_page.contains("id=\"add-user-form\""));
    // The administrator takes the role away while Jan's page is open.
    let (status, page) = h
        .post("/uzytkownicy/Jan/rola", &[("csrf", &csrf(&edit))])
        .await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let store = h.store().await;
    assert!(!store.user("Jan").await.unwrap().is_admin);
    let before = store.list_users().await.unwrap();
    // Jan's open form no longer adds anybody (logged out, or refused).
    let (_, page) = post_with(
        &jan,
        &h.url("/uzytkownicy"),
        &[
            ("csrf", &csrf(&jan_page)),
            ("name", "Intruz"),
            ("password", USER_PASSWORD),
            ("password2", USER_PASSWORD),
        ],
    )
    .await;
    assert!(
        page.contains("id=\"program-login-form\"")
            || element_text(&page, "error")
                .unwrap_or_default()
                .contains("Tylko administrator programu"),
        "{page}"
    );
    assert_eq!(store.list_users().await.unwrap(), before);
    h.web.shutdown().await;
}

/// Two setup forms sent at once make one administrator (the store checks "no administrator
/// yet" and inserts in one `BEGIN IMMEDIATE` transaction); the other gets the login.
#[tokio::test]
async fn concurrent_first_start_setups_create_one_administrator() {
    let h = Harness::start_with(|_| {}).await;
    let (a, b) = (browser(), browser());
    let (_, pa) = get_with(&a, &h.url(SETUP)).await;
    let (_, pb) = get_with(&b, &h.url(SETUP)).await;
    let form = |page: &str, name: &'static str| {
        vec![
            ("csrf", csrf(page)),
            ("name", name.to_string()),
            ("password", ADMIN_PASSWORD.to_string()),
            ("password2", ADMIN_PASSWORD.to_string()),
        ]
    };
    let (fa, fb) = (form(&pa, "Ala"), form(&pb, "Bob"));
    let (ra, rb) = tokio::join!(
        a.post(h.url(SETUP)).form(&fa).send(),
        b.post(h.url(SETUP)).form(&fb).send()
    );
    let logged_in = [ra.unwrap(), rb.unwrap()]
        .iter()
        .filter(|r| r.url().path() == "/")
        .count();
    let admins = h
        .store()
        .await
        .list_users()
        .await
        .unwrap()
        .into_iter()
        .filter(|u| u.is_admin)
        .count();
    assert_eq!((logged_in, admins), (1, 1));
    h.web.shutdown().await;
}
