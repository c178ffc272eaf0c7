//! Every response the emulator sends validates against the official `open-api.json`: a sweep of
//! all 78 operations with valid input (a scenario that reaches a success answer of each) and
//! with invalid input (no token, a forged token, an empty, a wrongly typed and a malformed body,
//! bogus path parameters, both error formats). The checking is done by
//! `ksef_testkit::RawClient`, which validates every answer to an API operation — documented
//! status, documented content type, JSON body against the schema of that status with formats —
//! and panics on a violation; this test then asserts from the client's record that each of the
//! 78 operations was answered both with a success and with an error. The only undocumented
//! status tolerated is 415 for a body without a usable `Content-Type` (ASP.NET's, and so the
//! real service's, answer). An operation answered by the router (404, 405) or with a 5xx fails
//! the sweep too: neither is documented for any operation.

mod sessions_support;

use std::collections::BTreeSet;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ContextIdentifier, InternalId, Nip, NipVatUe, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::csr::{CsrSubject, make_csr};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::openapi::{self, OpenApi};
use ksef_testkit::{Answer, RawClient};
use ksef_xades::auth_request::SubjectIdentifierType;
use reqwest::Method;
use serde_json::{Value, json};
use sessions_support::{
    Env, FA3, close_online, open_online, send, session_key, wait_invoice, wait_session,
};

fn ok(a: &Answer, what: &str) {
    assert!(a.status.is_success(), "{what}: {} {:?}", a.status, a.body);
}

fn reference(a: &Answer) -> String {
    a.body["referenceNumber"]
        .as_str()
        .unwrap_or_else(|| panic!("no referenceNumber in {:?}", a.body))
        .to_string()
}

/// Polls a status endpoint until `status.code` is not 100.
async fn wait_done(c: &RawClient, access: &str, path: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = c.get(path, access).await;
        ok(&a, path);
        if a.body["status"]["code"] != 100 {
            return a.body;
        }
        assert!(Instant::now() < deadline, "{path} still 100 after 30 s");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

fn person_by_id() -> Value {
    json!({"subjectDetailsType": "PersonByIdentifier",
           "personById": {"firstName": "Adam", "lastName": "Abacki"}})
}

/// A PKCS#10 CSR (DER) for the caller's enrollment data, made by the project's own builder.
fn csr(data: &Value) -> Vec<u8> {
    let text = |field: &str| data[field].as_str().map(str::to_string);
    let subject = CsrSubject {
        common_name: text("commonName").unwrap_or_default(),
        country_name: text("countryName").unwrap_or_default(),
        given_name: text("givenName"),
        surname: text("surname"),
        serial_number: text("serialNumber"),
        unique_identifier: text("uniqueIdentifier"),
        organization_name: text("organizationName"),
        organization_identifier: text("organizationIdentifier"),
    };
    make_csr(&subject, KeyAlgorithm::EcP256).unwrap().1
}

/// The success path of every operation, in an order that makes each possible.
async fn valid_scenario(env: &Env) {
    let (c, owner, nip) = (&env.client, env.access.as_str(), &env.nip);
    let ctx = ContextIdentifier::Nip(nip.clone());

    // --- authentication (challenge, xades-signature, status, redeem ran in the owner login)
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Firma Testowa Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let second = c.login_with_certificate(&seal, &ctx).await.expect("login");
    ok(&c.refresh(&second.refresh_token).await, "refresh");
    ok(
        &c.call(Method::GET, "/auth/sessions", Some(owner), None)
            .await,
        "sessions",
    );
    ok(
        &c.delete(
            &format!("/auth/sessions/{}", second.reference_number),
            owner,
        )
        .await,
        "end a session",
    );

    // --- KSeF tokens; the token login covers POST /auth/ksef-token
    let (token_ref, token) = c
        .generate_active_token(owner, &["InvoiceRead", "InvoiceWrite"], "Token do testu")
        .await;
    ok(
        &c.call(Method::GET, "/tokens", Some(owner), None).await,
        "tokens",
    );
    c.login_with_token(&token, &ctx).await.expect("token login");
    ok(
        &c.delete(&format!("/tokens/{token_ref}"), owner).await,
        "revoke token",
    );

    // --- an online session: send, close, statuses, all three UPOs
    let (session, key) = open_online(env, FA3).await;
    let xml = ksef_testkit::invoices::fa3(nip.as_str(), "ZGODNOSC-1");
    let invoice = send(env, &session, &key, &xml).await;
    let item = wait_invoice(env, &session, &invoice).await;
    assert_eq!(item["status"]["code"], 200, "{item}");
    let ksef_number = item["ksefNumber"].as_str().unwrap().to_string();
    close_online(env, &session).await;
    let status = wait_session(env, &session).await;
    let upo_ref = status["upo"]["pages"][0]["referenceNumber"]
        .as_str()
        .unwrap_or_else(|| panic!("no session UPO page in {status}"))
        .to_string();
    for path in [
        "/sessions?sessionType=Online".to_string(),
        format!("/sessions/{session}"),
        format!("/sessions/{session}/invoices"),
        format!("/sessions/{session}/invoices/failed"),
        format!("/sessions/{session}/invoices/{invoice}"),
        format!("/sessions/{session}/invoices/{invoice}/upo"),
        format!("/sessions/{session}/invoices/ksef/{ksef_number}/upo"),
        format!("/sessions/{session}/upo/{upo_ref}"),
        format!("/invoices/ksef/{ksef_number}"),
    ] {
        ok(&c.call(Method::GET, &path, Some(owner), None).await, &path);
    }

    // --- a batch session: open, upload the part, close
    let files = sessions_support::invoices(env, "ZGODNOSC-B", 2);
    let batch = sessions_support::send_batch(env, &sessions_support::zip(&files), 1, None).await;
    wait_session(env, &batch).await;

    // --- retrieval: metadata query and an export
    let yesterday = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let from = yesterday
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let filters = json!({"subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": from}});
    ok(
        &c.post("/invoices/query/metadata", Some(owner), filters.clone())
            .await,
        "metadata",
    );
    let export = c
        .post(
            "/invoices/exports",
            Some(owner),
            json!({"encryption": session_key(c).await.encryption, "filters": filters}),
        )
        .await;
    ok(&export, "export");
    wait_done(
        c,
        owner,
        &format!("/invoices/exports/{}", reference(&export)),
    )
    .await;

    // --- KSeF certificates
    ok(
        &c.get("/certificates/limits", owner).await,
        "certificate limits",
    );
    let data = c.get("/certificates/enrollments/data", owner).await;
    ok(&data, "enrollment data");
    let enrollment = c
        .post(
            "/certificates/enrollments",
            Some(owner),
            json!({"certificateName": "Zgodnosc", "certificateType": "Offline",
                   "csr": STANDARD.encode(csr(&data.body))}),
        )
        .await;
    ok(&enrollment, "enroll");
    let done = wait_done(
        c,
        owner,
        &format!("/certificates/enrollments/{}", reference(&enrollment)),
    )
    .await;
    let serial = done["certificateSerialNumber"]
        .as_str()
        .unwrap()
        .to_string();
    ok(
        &c.post(
            "/certificates/retrieve",
            Some(owner),
            json!({"certificateSerialNumbers": [serial]}),
        )
        .await,
        "retrieve",
    );
    ok(
        &c.post("/certificates/query", Some(owner), json!({})).await,
        "certificate query",
    );
    ok(
        &c.post(
            &format!("/certificates/{serial}/revoke"),
            Some(owner),
            json!({"revocationReason": "Superseded"}),
        )
        .await,
        "revoke certificate",
    );

    // --- limits and their test-data overrides
    for path in ["/limits/context", "/limits/subject"] {
        ok(&c.get(path, owner).await, path);
    }
    let rate_limits = c.get("/rate-limits", owner).await;
    ok(&rate_limits, "rate limits");
    let context_limits = c.get("/limits/context", owner).await.body;
    let subject_limits = c.get("/limits/subject", owner).await.body;
    let mut subject_body = subject_limits.clone();
    subject_body["subjectIdentifierType"] = json!("Nip");
    for (method, path, body) in [
        (
            Method::POST,
            "/testdata/limits/context/session",
            Some(context_limits),
        ),
        (Method::DELETE, "/testdata/limits/context/session", None),
        (
            Method::POST,
            "/testdata/limits/subject/certificate",
            Some(subject_body),
        ),
        (Method::DELETE, "/testdata/limits/subject/certificate", None),
        (
            Method::POST,
            "/testdata/rate-limits",
            Some(json!({"rateLimits": rate_limits.body})),
        ),
        (Method::POST, "/testdata/rate-limits/production", None),
        (Method::DELETE, "/testdata/rate-limits", None),
    ] {
        ok(&c.call(method.clone(), path, Some(owner), body).await, path);
    }

    // --- test data (no token)
    let other = Nip::random();
    let pesel = Pesel::random();
    let other_ctx = json!({"type": "Nip", "value": other.as_str()});
    for (path, body) in [
        (
            "/testdata/subject",
            json!({"subjectNip": other.as_str(), "subjectType": "EnforcementAuthority",
                   "description": "Podmiot testowy"}),
        ),
        (
            "/testdata/subject/remove",
            json!({"subjectNip": other.as_str()}),
        ),
        (
            "/testdata/person",
            json!({"nip": other.as_str(), "pesel": pesel.as_str(), "isBailiff": false,
                   "description": "Osoba testowa"}),
        ),
        ("/testdata/person/remove", json!({"nip": other.as_str()})),
        (
            "/testdata/permissions",
            json!({"contextIdentifier": other_ctx,
                   "authorizedIdentifier": {"type": "Pesel", "value": pesel.as_str()},
                   "permissions": [{"permissionType": "InvoiceRead", "description": "Opis testowy"}]}),
        ),
        (
            "/testdata/permissions/revoke",
            json!({"contextIdentifier": other_ctx,
                   "authorizedIdentifier": {"type": "Pesel", "value": pesel.as_str()}}),
        ),
        ("/testdata/attachment", json!({"nip": other.as_str()})),
        (
            "/testdata/attachment/revoke",
            json!({"nip": other.as_str()}),
        ),
        (
            "/testdata/context/block",
            json!({"contextIdentifier": other_ctx}),
        ),
        (
            "/testdata/context/unblock",
            json!({"contextIdentifier": other_ctx}),
        ),
    ] {
        ok(&c.post(path, None, body).await, path);
    }

    // --- permission grants, each followed by its operation status
    let eu = NipVatUe::new(nip, "DE123456789").unwrap();
    let admin_cert = make_test_certificate(
        &TestSubject::person_nip(Nip::random(), "Hans", "Muller"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let grants = [
        (
            "/permissions/persons/grants",
            json!({"subjectIdentifier": {"type": "Pesel", "value": Pesel::random().as_str()},
                   "permissions": ["InvoiceRead"], "description": "Uprawnienie testowe",
                   "subjectDetails": person_by_id()}),
        ),
        (
            "/permissions/entities/grants",
            json!({"subjectIdentifier": {"type": "Nip", "value": Nip::random().as_str()},
                   "permissions": [{"type": "InvoiceRead", "canDelegate": true}],
                   "description": "Biuro rachunkowe", "subjectDetails": {"fullName": "Biuro sp. z o.o."}}),
        ),
        (
            "/permissions/authorizations/grants",
            json!({"subjectIdentifier": {"type": "Nip", "value": Nip::random().as_str()},
                   "permission": "SelfInvoicing", "description": "Samofakturowanie",
                   "subjectDetails": {"fullName": "Firma sp. z o.o."}}),
        ),
        (
            "/permissions/indirect/grants",
            json!({"subjectIdentifier": {"type": "Pesel", "value": Pesel::random().as_str()},
                   "targetIdentifier": {"type": "AllPartners"}, "permissions": ["InvoiceRead"],
                   "description": "Praca dla klientow biura", "subjectDetails": person_by_id()}),
        ),
        (
            "/permissions/subunits/grants",
            json!({"subjectIdentifier": {"type": "Pesel", "value": Pesel::random().as_str()},
                   "contextIdentifier": {"type": "InternalId",
                                         "value": InternalId::new(nip, 1234).unwrap().as_str()},
                   "description": "Administrator jednostki", "subunitName": "Jednostka 014",
                   "subjectDetails": person_by_id()}),
        ),
        (
            "/permissions/eu-entities/administration/grants",
            json!({"subjectIdentifier": {"type": "Fingerprint", "value": admin_cert.fingerprint()},
                   "contextIdentifier": {"type": "NipVatUe", "value": eu.as_str()},
                   "description": "Administrator podmiotu unijnego", "euEntityName": "Firma G.m.b.H.",
                   "subjectDetails": {"subjectDetailsType": "PersonByFingerprintWithIdentifier",
                       "personByFpWithId": {"firstName": "Hans", "lastName": "Muller",
                           "identifier": {"type": "Pesel", "value": "15062788702"}}},
                   "euEntityDetails": {"fullName": "Firma G.m.b.H.", "address": "Berlin 1"}}),
        ),
    ];
    for (path, body) in grants {
        let a = c.post(path, Some(owner), body).await;
        ok(&a, path);
        wait_done(
            c,
            owner,
            &format!("/permissions/operations/{}", reference(&a)),
        )
        .await;
    }
    // EU-entity representatives are granted by the EU entity's administrator, in its context.
    let signed = c
        .signed_request(
            &admin_cert,
            &ContextIdentifier::NipVatUe(eu.clone()),
            SubjectIdentifierType::CertificateFingerprint,
        )
        .await;
    let admin = c
        .finish_login(&c.post_xades(signed.as_bytes()).await)
        .await
        .expect("EU administrator login")
        .access_token;
    let a = c
        .post(
            "/permissions/eu-entities/grants",
            Some(&admin),
            json!({"subjectIdentifier": {"type": "Fingerprint", "value": "CEB3643BAC2C111ADDE971BDA5A80163441867D65389FC0BC0DFF8B4C1CD4E59"},
                   "permissions": ["InvoiceRead"], "description": "Reprezentant podmiotu",
                   "subjectDetails": {"subjectDetailsType": "EntityByFingerprint",
                       "entityByFp": {"fullName": "Vertreter GmbH", "address": "Wien 1"}}}),
        )
        .await;
    ok(&a, "EU representative");

    // --- permission queries, then the two revocations of what they list
    for (method, path, body) in [
        (
            Method::POST,
            "/permissions/query/personal/grants",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/permissions/query/subunits/grants",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/permissions/query/entities/grants",
            Some(json!({})),
        ),
        (Method::GET, "/permissions/query/entities/roles", None),
        (
            Method::POST,
            "/permissions/query/subordinate-entities/roles",
            Some(json!({})),
        ),
        (
            Method::POST,
            "/permissions/query/eu-entities/grants",
            Some(json!({})),
        ),
        (Method::GET, "/permissions/attachments/status", None),
        (Method::GET, "/peppol/query", None),
    ] {
        ok(&c.call(method, path, Some(owner), body).await, path);
    }
    let persons = c
        .post(
            "/permissions/query/persons/grants",
            Some(owner),
            json!({"queryType": "PermissionsInCurrentContext"}),
        )
        .await;
    ok(&persons, "persons query");
    let authorizations = c
        .post(
            "/permissions/query/authorizations/grants",
            Some(owner),
            json!({"queryType": "Granted"}),
        )
        .await;
    ok(&authorizations, "authorizations query");
    let id = |a: &Answer, list: &str| {
        a.body[list][0]["id"]
            .as_str()
            .unwrap_or_else(|| panic!("no permission in {:?}", a.body))
            .to_string()
    };
    ok(
        &c.delete(
            &format!("/permissions/common/grants/{}", id(&persons, "permissions")),
            owner,
        )
        .await,
        "revoke a person's permission",
    );
    ok(
        &c.delete(
            &format!(
                "/permissions/authorizations/grants/{}",
                id(&authorizations, "authorizationGrants")
            ),
            owner,
        )
        .await,
        "revoke an authorization",
    );

    // --- last: end the current session
    ok(
        &c.call(Method::DELETE, "/auth/sessions/current", Some(owner), None)
            .await,
        "end the current session",
    );
}

/// A plausible but unknown value for a path parameter.
fn dummy(param: &str) -> &'static str {
    match param {
        "ksefNumber" => "5265877635-20250826-0100001AF629-AF",
        "permissionId" => "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d",
        "certificateSerialNumber" => "0123456789ABCDEF",
        _ => "20250625-SO-2C3E6C8000-B675CF5D68-07",
    }
}

fn concrete(template: &str, value: impl Fn(&str) -> String) -> String {
    template
        .split('/')
        .map(
            |seg| match seg.strip_prefix('{').and_then(|s| s.strip_suffix('}')) {
                Some(param) => value(param),
                None => seg.to_string(),
            },
        )
        .collect::<Vec<_>>()
        .join("/")
}

/// One invalid request: bearer token, body (content type and bytes), extra headers.
type Variant<'a> = (
    Option<&'a str>,
    Option<(&'a str, Vec<u8>)>,
    Vec<(&'a str, &'a str)>,
);

/// Invalid input for every operation. The calls that end the session or switch limits on go
/// last, each with a token of its own where it matters.
async fn invalid_sweep(env: &Env) {
    let c = &env.client;
    let mut ops = OpenApi::get().operations().to_vec();
    ops.sort_by_key(|o| {
        (
            o.template.starts_with("/testdata/rate-limits")
                || (o.method == "DELETE" && o.template.starts_with("/auth/sessions")),
            o.template.clone(),
        )
    });
    let forged = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ4In0.c2lnbmF0dXJl";
    for op in &ops {
        let method = Method::from_bytes(op.method.as_bytes()).unwrap();
        let path = concrete(&op.template, |p| dummy(p).to_string());
        let json = |v: &Value| Some(("application/json", serde_json::to_vec(v).unwrap()));
        let variants: Vec<Variant> = vec![
            (None, json(&json!({})), vec![]),
            (Some(forged), json(&json!({})), vec![]),
            (Some(&env.access), json(&json!({})), vec![]),
            (
                Some(&env.access),
                json(&json!({})),
                vec![("X-Error-Format", "problem-details")],
            ),
            (Some(&env.access), json(&json!([1, "x"])), vec![]),
            (
                Some(&env.access),
                Some(("application/json", b"{\"a\": ".to_vec())),
                vec![],
            ),
            (
                Some(&env.access),
                json(&json!({"permissions": "x", "contextIdentifier": 5, "pageSize": -1})),
                vec![("X-Error-Format", "problem-details")],
            ),
        ];
        for (bearer, body, headers) in variants {
            c.request(method.clone(), &path, bearer, body, &headers)
                .await;
        }
        // Path parameters that are not what the operation expects.
        if op.template.contains('{') {
            for bad in ["x", "%20", "ZZZZZZZZ-ZZ-ZZZZZZZZZZ-ZZZZZZZZZZ-ZZ", "1%2F2"] {
                let path = concrete(&op.template, |_| bad.to_string());
                c.request(method.clone(), &path, Some(&env.access), None, &[])
                    .await;
            }
        }
        // The one XML body of the API: not an AuthTokenRequest.
        if op.template == "/auth/xades-signature" {
            for xml in [
                &b"<a/>"[..],
                b"<?xml version=\"1.0\"?><AuthTokenRequest/>",
                b"\xff\xfe",
            ] {
                c.request(
                    method.clone(),
                    &path,
                    None,
                    Some(("application/xml", xml.to_vec())),
                    &[],
                )
                .await;
            }
        }
        // Query parameters out of their bounds.
        let query = format!("{path}?pageSize=0&pageOffset=-1&sessionType=Nic&status=Nic");
        c.request(method.clone(), &query, Some(&env.access), None, &[])
            .await;
    }
}

/// Operations without any input can only be refused by the rate limiter: with the production
/// limits on for every caller, each is called until it answers 429 (with both error formats).
async fn rate_limited_sweep() {
    let (_emu, c, _dir) = sessions_support::start_emulator(|cfg| cfg.rate_limits = true).await;
    for (method, path) in [
        (Method::GET, "/security/public-key-certificates"),
        (Method::POST, "/auth/challenge"),
    ] {
        for headers in [&[][..], &[("X-Error-Format", "problem-details")][..]] {
            let mut limited = false;
            for _ in 0..500 {
                let a = c.request(method.clone(), path, None, None, headers).await;
                if a.status.as_u16() == 429 {
                    limited = true;
                    break;
                }
            }
            assert!(limited, "{method} {path}: no 429 in 500 calls");
        }
    }
}

#[tokio::test]
async fn every_response_of_every_operation_validates_against_the_openapi() {
    rate_limited_sweep().await;
    let env = sessions_support::start(|_| {}).await;
    valid_scenario(&env).await;
    // A fresh owner session: the scenario ended its own.
    let env = Env {
        access: sessions_support::owner_login(&env.client, &env.nip).await,
        ..env
    };
    invalid_sweep(&env).await;

    let checked = openapi::checked();
    let all: BTreeSet<_> = OpenApi::get().operations().iter().cloned().collect();
    assert_eq!(all.len(), 78);
    let mut missing = Vec::new();
    for op in &all {
        let statuses = checked.get(op).cloned().unwrap_or_default();
        if !statuses.iter().any(|s| (200..300).contains(s)) {
            missing.push(format!("{op}: no success answer checked ({statuses:?})"));
        }
        if !statuses.iter().any(|s| *s >= 400) {
            missing.push(format!("{op}: no error answer checked ({statuses:?})"));
        }
    }
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}
