//! The emulator's switches and policies over real HTTP: certificate trust (460), strict XAdES,
//! certificate validity, public key ids (21470), authentication sessions and their revocation.

mod common;

use common::{person_cert, start};
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate_with_validity};
use ksef_emulator::TrustPolicy;
use ksef_xades::auth_request::{AuthNamespace, AuthTokenRequest, SubjectIdentifierType};
use ksef_xades::signature::{SignOptions, sign_enveloped};
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn chain_verification_and_trusted_cas() {
    // TEST default: self-signed accepted, unless the client asks for verifyCertificateChain=true.
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let signed = c
        .signed_request(
            &person_cert(&nip),
            &ctx,
            SubjectIdentifierType::CertificateSubject,
        )
        .await;
    let init = c
        .send_raw(
            Method::POST,
            "/auth/xades-signature?verifyCertificateChain=true",
            "application/xml",
            signed.into_bytes(),
        )
        .await;
    let err = c
        .finish_login(&init)
        .await
        .expect_err("self-signed with chain verification");
    assert_eq!(err["status"]["code"], 460, "{err:?}");
    assert_eq!(
        err["status"]["details"][0],
        "Niezaufany łańcuch certyfikatów"
    );
    // A malformed switch value is a 400, not a silent default.
    let signed = c
        .signed_request(
            &person_cert(&nip),
            &ctx,
            SubjectIdentifierType::CertificateSubject,
        )
        .await;
    let a = c
        .send_raw(
            Method::POST,
            "/auth/xades-signature?verifyCertificateChain=maybe",
            "application/xml",
            signed.into_bytes(),
        )
        .await;
    assert_eq!(a.exception_code(), Some(21405));

    // Strict trust: only certificates issued by a configured CA.
    let some_ca = person_cert(&Nip::random()).certificate_der;
    let (_emu, c, _dir) =
        start(move |cfg| cfg.trust_policy = TrustPolicy::TrustedCas(vec![some_ca])).await;
    let err = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .expect_err("untrusted");
    assert_eq!(err["status"]["code"], 460);
}

#[tokio::test]
async fn expired_certificate_is_refused_with_460() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let now = time::OffsetDateTime::now_utc();
    let expired = make_test_certificate_with_validity(
        &TestSubject::person_nip(nip.clone(), "Jan", "Stary"),
        KeyAlgorithm::EcP256,
        now - time::Duration::days(30),
        now - time::Duration::days(1),
    )
    .unwrap();
    let err = c
        .login_with_certificate(&expired, &ContextIdentifier::Nip(nip))
        .await
        .expect_err("expired");
    assert_eq!(err["status"]["code"], 460);
    assert_eq!(err["status"]["details"][0], "Nieważny certyfikat");
}

#[tokio::test]
async fn strict_xades_requires_signed_properties() {
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let cred = person_cert(&nip);
    let plain_dsig = |challenge: &str| {
        let xml = AuthTokenRequest::new(
            challenge,
            ctx.clone(),
            SubjectIdentifierType::CertificateSubject,
        )
        .to_xml(AuthNamespace::V2_1);
        let opts = SignOptions {
            include_signed_properties: false,
            ..SignOptions::default()
        };
        sign_enveloped(&xml, &cred, &opts).unwrap()
    };
    // Lenient (TEST-like) default: a plain XML-DSig signature is accepted…
    let (_emu, c, _dir) = start(|_| {}).await;
    let (challenge, _) = c.challenge().await;
    let a = c.post_xades(plain_dsig(&challenge).as_bytes()).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    // …unless the request opts in with X-KSeF-Feature: enforce-xades-compliance.
    let (challenge, _) = c.challenge().await;
    let resp = ksef_testkit::http_client()
        .post(format!("{}/auth/xades-signature", c.base_url()))
        .header("content-type", "application/xml")
        .header("X-KSeF-Feature", "enforce-xades-compliance")
        .body(plain_dsig(&challenge))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["exception"]["exceptionDetailList"][0]["exceptionCode"], 9105,
        "{body}"
    );
    // Strict mode configured: refused without the header, a full XAdES-BES passes.
    let (_emu, c, _dir) = start(|cfg| cfg.strict_xades = true).await;
    let (challenge, _) = c.challenge().await;
    assert_eq!(
        c.post_xades(plain_dsig(&challenge).as_bytes())
            .await
            .exception_code(),
        Some(9105)
    );
    c.login_with_certificate(&cred, &ctx)
        .await
        .expect("XAdES-BES in strict mode");
}

#[tokio::test]
async fn unknown_public_key_id_is_21470() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let (challenge, _) = c.challenge().await;
    let (_, sym_key_id) = c.public_key("SymmetricKeyEncryption").await;
    let a = c
        .post(
            "/auth/ksef-token",
            None,
            json!({"challenge": challenge, "contextIdentifier": {"type":"Nip","value":Nip::random().as_str()},
                   "encryptedToken": "AAAA", "publicKeyId": sym_key_id}),
        )
        .await;
    assert_eq!(a.exception_code(), Some(21470), "{:?}", a.body);
    // Undecryptable token material → accepted (202), then status 450.
    let nip = Nip::random();
    let (challenge, _) = c.challenge().await;
    let init = c
        .post(
            "/auth/ksef-token",
            None,
            json!({"challenge": challenge, "contextIdentifier": {"type":"Nip","value":nip.as_str()},
                   "encryptedToken": "AAAA"}),
        )
        .await;
    let err = c.finish_login(&init).await.expect_err("garbage token");
    assert_eq!(err["status"]["code"], 450);
}

#[tokio::test]
async fn authentication_sessions_list_and_revoke() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let cred = person_cert(&nip);
    let first = c.login_with_certificate(&cred, &ctx).await.unwrap();
    let second = c.login_with_certificate(&cred, &ctx).await.unwrap();
    let list = c.get("/auth/sessions", &second.access_token).await;
    assert_eq!(list.status, StatusCode::OK, "{:?}", list.body);
    let items = list.body["items"].as_array().unwrap();
    assert_eq!(items.len(), 2);
    let current: Vec<_> = items.iter().filter(|i| i["isCurrent"] == true).collect();
    assert_eq!(current.len(), 1);
    assert_eq!(
        current[0]["referenceNumber"],
        second.reference_number.as_str()
    );
    assert!(
        items
            .iter()
            .all(|i| i["authenticationMethodInfo"]["code"].is_string())
    );

    // Revoke the other session: its refresh token stops working, ours keeps working.
    let d = c
        .delete(
            &format!("/auth/sessions/{}", first.reference_number),
            &second.access_token,
        )
        .await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{:?}", d.body);
    assert_eq!(
        c.refresh(&first.refresh_token).await.exception_code(),
        Some(21301)
    );
    assert_eq!(
        c.refresh(&second.refresh_token).await.status,
        StatusCode::OK
    );
    let list = c.get("/auth/sessions", &second.access_token).await;
    assert_eq!(list.body["items"].as_array().unwrap().len(), 1);
    // A session of another context cannot be revoked from here.
    let other = Nip::random();
    let foreign = c
        .login_with_certificate(&person_cert(&other), &ContextIdentifier::Nip(other))
        .await
        .unwrap();
    let d = c
        .delete(
            &format!("/auth/sessions/{}", foreign.reference_number),
            &second.access_token,
        )
        .await;
    assert_eq!(d.exception_code(), Some(21405));
    assert_eq!(
        c.refresh(&foreign.refresh_token).await.status,
        StatusCode::OK
    );
}
