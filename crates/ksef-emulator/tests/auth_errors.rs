//! Authentication edge cases over real HTTP against an in-process emulator: every refusal must be
//! the documented code and body (digest §4, §16).

mod common;

use std::time::Duration;

use common::{person_cert, start};
use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::sign_request;
use ksef_xades::auth_request::SubjectIdentifierType;
use reqwest::{Method, StatusCode};
use serde_json::json;

#[tokio::test]
async fn signature_and_challenge_errors_have_documented_codes() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let cred = person_cert(&nip);

    // One byte changed after signing → 9105.
    let signed = c
        .signed_request(&cred, &ctx, SubjectIdentifierType::CertificateSubject)
        .await;
    let tampered = signed.replacen(
        "<SubjectIdentifierType>certificateSubject",
        "<SubjectIdentifierType>certificateSubjecT",
        1,
    );
    assert_ne!(tampered, signed);
    let a = c.post_xades(tampered.as_bytes()).await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.exception_code(), Some(9105), "{:?}", a.body);
    assert_eq!(
        a.body["exception"]["exceptionDetailList"][0]["exceptionDescription"],
        "Nieprawidłowy podpis."
    );

    // Re-indented after signing → 9105.
    let reformatted = signed.replace("\n  <", "\n    <");
    let a = c.post_xades(reformatted.as_bytes()).await;
    assert_eq!(a.exception_code(), Some(9105), "{:?}", a.body);

    // The untouched document still works once…
    let a = c.post_xades(signed.as_bytes()).await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "{:?}", a.body);
    c.finish_login(&a).await.expect("owner login");
    // …and its challenge cannot be reused → 21111.
    let a = c.post_xades(signed.as_bytes()).await;
    assert_eq!(a.exception_code(), Some(21111), "{:?}", a.body);

    // Detached: the document reference points outside the document → 9105.
    let signed = c
        .signed_request(&cred, &ctx, SubjectIdentifierType::CertificateSubject)
        .await;
    let detached = signed.replacen(
        "URI=\"\"",
        "URI=\"http://example.com/AuthTokenRequest.xml\"",
        1,
    );
    assert_ne!(detached, signed);
    let a = c.post_xades(detached.as_bytes()).await;
    assert_eq!(a.exception_code(), Some(9105), "{:?}", a.body);

    // No signature at all → 9102.
    let (challenge, _) = c.challenge().await;
    let unsigned = ksef_xades::auth_request::AuthTokenRequest::new(
        challenge,
        ctx.clone(),
        SubjectIdentifierType::CertificateSubject,
    )
    .to_xml(ksef_xades::auth_request::AuthNamespace::V2_1);
    let a = c.post_xades(unsigned.as_bytes()).await;
    assert_eq!(a.exception_code(), Some(9102), "{:?}", a.body);

    // A challenge we never issued → 21111.
    let forged = sign_request(
        "20250514-CR-226FB7B000-3ACF9BE4C0-10",
        &cred,
        &ctx,
        SubjectIdentifierType::CertificateSubject,
    );
    let a = c.post_xades(forged.as_bytes()).await;
    assert_eq!(a.exception_code(), Some(21111), "{:?}", a.body);

    // Not XML → 21001 or 9101, never 500.
    let a = c.post_xades(b"this is not xml").await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert!(
        matches!(a.exception_code(), Some(21001) | Some(9101)),
        "{:?}",
        a.body
    );

    // Wrong content type → 415 with a legacy body.
    let a = c
        .send_raw(
            Method::POST,
            "/auth/xades-signature",
            "application/json",
            b"{}".to_vec(),
        )
        .await;
    assert_eq!(a.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);
    assert_eq!(a.exception_code(), Some(21405));
}

#[tokio::test]
async fn expired_challenge_is_refused() {
    let (_emu, c, _dir) = start(|cfg| cfg.challenge_lifetime = Duration::from_millis(300)).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let signed = c
        .signed_request(
            &person_cert(&nip),
            &ctx,
            SubjectIdentifierType::CertificateSubject,
        )
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    let a = c.post_xades(signed.as_bytes()).await;
    assert_eq!(a.exception_code(), Some(21111), "{:?}", a.body);
    let detail = a.body["exception"]["exceptionDetailList"][0]["details"][0]
        .as_str()
        .unwrap_or_default();
    assert!(detail.contains("wygasło"), "{detail}");
}

#[tokio::test]
async fn identity_rules() {
    let (_emu, c, _dir) = start(|_| {}).await;
    // A certificate for another NIP: not the owner, no grants → final status 415.
    let mine = Nip::random();
    let other = Nip::random();
    let err = c
        .login_with_certificate(&person_cert(&mine), &ContextIdentifier::Nip(other.clone()))
        .await
        .expect_err("must not authenticate");
    assert_eq!(err["status"]["code"], 415, "{err:?}");
    assert_eq!(err["status"]["details"][0], "Brak przypisanych uprawnień");

    // certificateSubject with a certificate that carries no NIP/PESEL → 21406.
    let anon = make_test_certificate(
        &TestSubject::Fingerprint {
            common_name: "Anon".into(),
        },
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let signed = c
        .signed_request(
            &anon,
            &ContextIdentifier::Nip(other.clone()),
            SubjectIdentifierType::CertificateSubject,
        )
        .await;
    let a = c.post_xades(signed.as_bytes()).await;
    assert_eq!(a.exception_code(), Some(21406), "{:?}", a.body);

    // The same certificate in fingerprint mode, after a grant to its fingerprint, works.
    let fp = anon.fingerprint();
    let g = c
        .post(
            "/testdata/permissions",
            None,
            json!({"contextIdentifier":{"type":"Nip","value":other.as_str()},
                   "authorizedIdentifier":{"type":"Fingerprint","value":fp},
                   "permissions":[{"permissionType":"InvoiceRead","description":"Odczyt faktur"}]}),
        )
        .await;
    assert_eq!(g.status, StatusCode::OK, "{:?}", g.body);
    let signed = c
        .signed_request(
            &anon,
            &ContextIdentifier::Nip(other.clone()),
            SubjectIdentifierType::CertificateFingerprint,
        )
        .await;
    let init = c.post_xades(signed.as_bytes()).await;
    c.finish_login(&init)
        .await
        .expect("fingerprint login after grant");

    // PESEL owns a NIP through /testdata/person.
    let pesel = Pesel::random();
    let nip = Nip::random();
    let p = c
        .post("/testdata/person", None, json!({"nip":nip.as_str(),"pesel":pesel.as_str(),"isBailiff":false,"description":"Osoba testowa"}))
        .await;
    assert_eq!(p.status, StatusCode::OK, "{:?}", p.body);
    let again = c
        .post("/testdata/person", None, json!({"nip":nip.as_str(),"pesel":pesel.as_str(),"isBailiff":false,"description":"Osoba testowa"}))
        .await;
    assert_eq!(again.exception_code(), Some(30001));
    let pz = make_test_certificate(
        &TestSubject::person_pesel(pesel, "Anna", "Nowak"),
        KeyAlgorithm::Rsa2048,
    )
    .unwrap();
    c.login_with_certificate(&pz, &ContextIdentifier::Nip(nip.clone()))
        .await
        .expect("PESEL owner login");

    // Blocked context → 480.
    let b = c
        .post(
            "/testdata/context/block",
            None,
            json!({"contextIdentifier":{"type":"Nip","value":nip.as_str()}}),
        )
        .await;
    assert_eq!(b.status, StatusCode::OK, "{:?}", b.body);
    let err = c
        .login_with_certificate(&pz, &ContextIdentifier::Nip(nip))
        .await
        .expect_err("blocked");
    assert_eq!(err["status"]["code"], 480);
}

#[tokio::test]
async fn token_endpoints_and_error_formats() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let s = c
        .login_with_certificate(&person_cert(&nip), &ctx)
        .await
        .expect("login");

    // No bearer → 401 Problem Details.
    let a = c.call(Method::GET, "/tokens", None, None).await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    assert_eq!(a.body["status"], 401);
    assert!(a.content_type.starts_with("application/problem+json"));
    // Refresh token where an access token is needed → 401.
    assert_eq!(
        c.get("/tokens", &s.refresh_token).await.status,
        StatusCode::UNAUTHORIZED
    );

    // Refresh works and is not rotated.
    let r = c.refresh(&s.refresh_token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    assert!(r.body["accessToken"]["token"].is_string());
    assert!(r.body.get("refreshToken").is_none());

    // Validation: description too short, unknown permission, malformed JSON, wrong content type.
    let a = c
        .post(
            "/tokens",
            Some(&s.access_token),
            json!({"permissions":["InvoiceRead"],"description":"abc"}),
        )
        .await;
    assert_eq!(a.exception_code(), Some(21405), "{:?}", a.body);
    let a = c
        .post(
            "/tokens",
            Some(&s.access_token),
            json!({"permissions":["Superpower"],"description":"abcdef"}),
        )
        .await;
    assert_eq!(a.exception_code(), Some(21405), "{:?}", a.body);
    let a = c
        .send_raw(
            Method::POST,
            "/tokens",
            "application/json",
            b"{\"permissions\":".to_vec(),
        )
        .await;
    // (no bearer on raw sends: authentication is checked first)
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);

    // The same 400 as Problem Details on request.
    let resp = ksef_testkit::http_client()
        .post(format!("{}/tokens", c.base_url()))
        .bearer_auth(&s.access_token)
        .header("X-Error-Format", "problem-details")
        .json(&json!({"permissions":["InvoiceRead"],"description":"abc"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::BAD_REQUEST);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(body["status"], 400);
    assert_eq!(body["errors"][0]["code"], 21405);

    // Unknown token reference → 400/21405, unknown auth reference → 21304.
    let a = c
        .get(
            "/tokens/20250101-EC-0000000000-0000000000-00",
            &s.access_token,
        )
        .await;
    assert_eq!(a.exception_code(), Some(21405));
    // Malformed continuation token → 21418.
    let resp = ksef_testkit::http_client()
        .get(format!("{}/tokens", c.base_url()))
        .bearer_auth(&s.access_token)
        .header("x-continuation-token", "garbage!")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = resp.json().await.unwrap();
    assert_eq!(
        body["exception"]["exceptionDetailList"][0]["exceptionCode"],
        21418
    );

    // Unknown path → 404, never 500.
    assert_eq!(
        c.get("/nope", &s.access_token).await.status,
        StatusCode::NOT_FOUND
    );

    // Logout: the refresh token dies, the access token lives until exp.
    let d = c.delete("/auth/sessions/current", &s.access_token).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{:?}", d.body);
    let r = c.refresh(&s.refresh_token).await;
    assert_eq!(r.exception_code(), Some(21301), "{:?}", r.body);
    assert_eq!(
        c.get("/tokens", &s.access_token).await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn ip_policy_is_enforced() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let cred = person_cert(&nip);
    let (challenge, _) = c.challenge().await;
    let mut req = ksef_xades::auth_request::AuthTokenRequest::new(
        challenge,
        ctx,
        SubjectIdentifierType::CertificateSubject,
    );
    req.authorization_policy = Some(ksef_xades::auth_request::AuthorizationPolicy {
        ip4_addresses: vec!["192.0.2.10".into()],
        ip4_ranges: vec![],
        ip4_masks: vec![],
    });
    let xml = req.to_xml(ksef_xades::auth_request::AuthNamespace::V2_1);
    let signed = ksef_xades::signature::sign_enveloped(&xml, &cred, &Default::default()).unwrap();
    let init = c.post_xades(signed.as_bytes()).await;
    let s = c.finish_login(&init).await.expect("login");
    let a = c.get("/tokens", &s.access_token).await;
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:?}", a.body);
    assert_eq!(a.reason_code(), Some("ip-not-allowed"));
    assert_eq!(a.body["security"]["clientIp"], "127.0.0.1");
}

/// Every route, fed garbage: never a 500, always a JSON error body with a documented status.
#[tokio::test]
async fn malformed_input_never_yields_500() {
    let (_emu, c, _dir) = start(|cfg| cfg.max_body_bytes = 64 * 1024).await;
    let nip = Nip::random();
    let s = c
        .login_with_certificate(&person_cert(&nip), &ContextIdentifier::Nip(nip))
        .await
        .expect("login");
    let routes: &[(Method, &str)] = &[
        (Method::POST, "/auth/challenge"),
        (Method::POST, "/auth/xades-signature"),
        (Method::POST, "/auth/ksef-token"),
        (Method::GET, "/auth/20250514-AU-2DFC46C000-3AC6D5877F-D4"),
        (Method::GET, "/auth/not-a-reference"),
        (Method::POST, "/auth/token/redeem"),
        (Method::POST, "/auth/token/refresh"),
        (Method::GET, "/auth/sessions"),
        (Method::DELETE, "/auth/sessions/current"),
        (Method::DELETE, "/auth/sessions/xyz"),
        (Method::POST, "/tokens"),
        (Method::GET, "/tokens?pageSize=abc&status=Nope"),
        (Method::GET, "/tokens/%00%ff"),
        (Method::DELETE, "/tokens/xyz"),
        (Method::POST, "/testdata/subject"),
        (Method::POST, "/testdata/subject/remove"),
        (Method::POST, "/testdata/person"),
        (Method::POST, "/testdata/person/remove"),
        (Method::POST, "/testdata/permissions"),
        (Method::POST, "/testdata/permissions/revoke"),
        (Method::POST, "/testdata/attachment"),
        (Method::POST, "/testdata/attachment/revoke"),
        (Method::POST, "/testdata/context/block"),
        (Method::POST, "/testdata/context/unblock"),
        (Method::PUT, "/tokens"),
    ];
    let huge = vec![b'a'; 200 * 1024];
    let bodies: Vec<(&str, Vec<u8>)> = vec![
        ("application/json", Vec::new()),
        ("application/json", b"{".to_vec()),
        ("application/json", b"[]".to_vec()),
        ("application/json", b"{\"nip\": 12, \"permissions\": \"x\", \"contextIdentifier\": {\"type\": \"Nope\"}}".to_vec()),
        ("application/json", b"{\"nip\":\"0000000000\",\"pesel\":\"1\",\"isBailiff\":false,\"description\":\"abcdef\"}".to_vec()),
        ("application/xml", b"<a><b></a>".to_vec()),
        ("application/xml", vec![0xff, 0xfe, 0x00, 0x3c]),
        ("text/plain", b"hello".to_vec()),
        ("application/json", huge.clone()),
        ("application/xml", huge.clone()),
    ];
    let http = ksef_testkit::http_client();
    for (method, path) in routes {
        for bearer in [
            None,
            Some(s.access_token.as_str()),
            Some("garbage.token.value"),
        ] {
            for (ct, body) in &bodies {
                let mut req = http
                    .request(method.clone(), format!("{}{}", c.base_url(), path))
                    .header("content-type", *ct)
                    .body(body.clone());
                if let Some(b) = bearer {
                    req = req.bearer_auth(b);
                }
                let resp = req.send().await.unwrap();
                let status = resp.status();
                let bytes = resp.bytes().await.unwrap();
                assert!(
                    status.as_u16() < 500,
                    "{method} {path} ({ct}, {} bytes) → {status}",
                    body.len()
                );
                if !status.is_success() {
                    let v: Result<serde_json::Value, _> = serde_json::from_slice(&bytes);
                    assert!(
                        v.is_ok(),
                        "{method} {path} → {status} with a non-JSON body {:?}",
                        String::from_utf8_lossy(&bytes)
                    );
                }
            }
        }
    }
}

/// Signed requests made by a third-party client's own XAdES signer (python-xmlsec, exclusive
/// C14N, single-quoted XML declaration, wrapped Base64, EC seal on schema 2.0 and RSA person on
/// 2.1): the signature verifies, so the refusal is about the challenge (not issued here).
#[tokio::test]
async fn third_party_signatures_verify() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let dir = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/third_party/samples"
    );
    let mut seen = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("xml") {
            continue;
        }
        let bytes = std::fs::read(&path).unwrap();
        let a = c.post_xades(&bytes).await;
        assert_eq!(
            a.exception_code(),
            Some(21111),
            "{}: {:?}",
            path.display(),
            a.body
        );
        // One changed byte in the signed content turns it into 9105.
        let text = String::from_utf8(bytes).unwrap();
        let tampered = text.replacen("certificateSubject", "certificateSubjecT", 1);
        let a = c.post_xades(tampered.as_bytes()).await;
        assert_eq!(
            a.exception_code(),
            Some(9105),
            "{}: {:?}",
            path.display(),
            a.body
        );
        seen += 1;
    }
    assert!(seen >= 2, "expected the third-party samples in {dir}");
}

/// Issue 11 item 12: a DTD anywhere a parser would read it (after a comment or a PI that looks
/// like the root element, after a BOM and odd whitespace, in UTF-16) is refused with 400/9101
/// before anything else happens; the challenge stays unused.
#[tokio::test]
async fn any_dtd_in_a_signed_request_is_9101_before_anything_else() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let cred = person_cert(&nip);
    const DTD: &str = "<!DOCTYPE AuthTokenRequest [<!ENTITY e \"x\">]>";
    // Inserted into the prolog of a validly signed document: C14N leaves the DTD out, so the
    // signature still verifies and only the DTD guard stands between it and the parser.
    type Make = fn(&str) -> Vec<u8>;
    let variants: [(&str, Make); 6] = [
        ("after a comment", |s: &str| {
            with_prolog(s, &format!("<!-- x -->{DTD}"))
        }),
        ("after a comment holding an element start", |s: &str| {
            with_prolog(s, &format!("<!-- <AuthTokenRequest> -->{DTD}"))
        }),
        ("after a processing instruction", |s: &str| {
            with_prolog(s, &format!("<?pi <AuthTokenRequest/> ?>{DTD}"))
        }),
        ("after a BOM and whitespace", |s: &str| {
            let mut b = vec![0xEF, 0xBB, 0xBF];
            b.extend(with_prolog(s, &format!("\r\n\t \n{DTD}\r\n")));
            b
        }),
        ("in UTF-16 with a BOM", |s: &str| {
            let text = String::from_utf8(with_prolog(s, DTD)).unwrap();
            let mut b = vec![0xFF, 0xFE];
            b.extend(text.encode_utf16().flat_map(u16::to_le_bytes));
            b
        }),
        ("first thing in the document", |s: &str| {
            let body = s.split_once("?>").map_or(s, |(_, rest)| rest);
            format!("{DTD}{body}").into_bytes()
        }),
    ];
    for (what, make) in &variants {
        let signed = c
            .signed_request(&cred, &ctx, SubjectIdentifierType::CertificateSubject)
            .await;
        let a = c.post_xades(&make(&signed)).await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {:?}", a.body);
        assert_eq!(a.exception_code(), Some(9101), "{what}: {:?}", a.body);
        assert_eq!(
            a.body["exception"]["exceptionDetailList"][0]["exceptionDescription"],
            "Nieprawidłowy dokument.",
            "{what}"
        );
        // Refused before the challenge was looked up: the same signed request without the DTD
        // still authenticates.
        let a = c.post_xades(signed.as_bytes()).await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "{what}: {:?}", a.body);
    }
}

/// `signed` with `extra` inserted right after its XML declaration.
fn with_prolog(signed: &str, extra: &str) -> Vec<u8> {
    let (decl, rest) = signed
        .split_once("?>")
        .expect("the signed request starts with an XML declaration");
    assert!(decl.starts_with("<?xml"), "{decl}");
    format!("{decl}?>{extra}{rest}").into_bytes()
}
