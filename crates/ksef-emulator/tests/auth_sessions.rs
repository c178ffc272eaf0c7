//! Who sees and who may end which authentication session (`GET /auth/sessions`,
//! `DELETE /auth/sessions/{ref}`): own sessions always; all sessions of the context with
//! CredentialsManage or CredentialsRead; another subject's session only with CredentialsManage.
//! Over real HTTP against an in-process emulator.

mod common;

use common::{pesel_login, start};
use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::{Answer, RawClient, Session};
use reqwest::StatusCode;
use serde_json::{Value, json};

async fn grant(c: &RawClient, ctx: &Nip, pesel: &Pesel, perms: &[&str]) {
    let perms: Vec<Value> = perms
        .iter()
        .map(|p| json!({"permissionType": p, "description": "Nadane w teście"}))
        .collect();
    let a = c
        .post(
            "/testdata/permissions",
            None,
            json!({"contextIdentifier":{"type":"Nip","value":ctx.as_str()},
                   "authorizedIdentifier":{"type":"Pesel","value":pesel.as_str()},
                   "permissions": perms}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
}

/// The reference numbers listed by `GET /auth/sessions` (one page of 100).
async fn listed(c: &RawClient, access: &str) -> Vec<String> {
    let a = c.get("/auth/sessions?pageSize=100", access).await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    let mut refs: Vec<String> = a.body["items"]
        .as_array()
        .expect("items")
        .iter()
        .filter_map(|i| i["referenceNumber"].as_str().map(String::from))
        .collect();
    refs.sort();
    refs
}

fn sorted(refs: &[&Session]) -> Vec<String> {
    let mut v: Vec<String> = refs.iter().map(|s| s.reference_number.clone()).collect();
    v.sort();
    v
}

async fn end(c: &RawClient, access: &str, reference: &str) -> Answer {
    c.delete(&format!("/auth/sessions/{reference}"), access)
        .await
}

/// The 400 answer with its reference number blanked, to compare "hidden" with "unknown".
fn without_reference(a: &Answer, reference: &str) -> (StatusCode, Value) {
    let mut list = a.body["exception"]["exceptionDetailList"].clone();
    if let Some(entries) = list.as_array_mut() {
        for e in entries {
            if let Some(details) = e["details"].as_array_mut() {
                for d in details {
                    if let Some(s) = d.as_str() {
                        *d = Value::String(s.replace(reference, "REF"));
                    }
                }
            }
        }
    }
    (a.status, list)
}

#[tokio::test]
async fn visibility_and_ending_of_authentication_sessions() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Firma Testowa Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let owner = c.login_with_certificate(&seal, &ctx).await.expect("owner");

    // A person holding only InvoiceRead, logged in twice.
    let reader = Pesel::random();
    grant(&c, &nip, &reader, &["InvoiceRead"]).await;
    let r1 = pesel_login(&c, &reader, &ctx).await.expect("reader login");
    let r2 = pesel_login(&c, &reader, &ctx).await.expect("reader login");
    // A person holding CredentialsRead (sees everything, may end only own sessions).
    let auditor = Pesel::random();
    grant(&c, &nip, &auditor, &["CredentialsRead"]).await;
    let a1 = pesel_login(&c, &auditor, &ctx)
        .await
        .expect("auditor login");

    // The reader sees only its own sessions.
    assert_eq!(listed(&c, &r1.access_token).await, sorted(&[&r1, &r2]));

    // The owner's session is, for the reader, exactly an unknown reference.
    let hidden = end(&c, &r1.access_token, &owner.reference_number).await;
    assert_eq!(hidden.exception_code(), Some(21405), "{:?}", hidden.body);
    let unknown_ref = "20250101-AU-0000000000-0000000000-00";
    let unknown = end(&c, &r1.access_token, unknown_ref).await;
    assert_eq!(
        without_reference(&hidden, &owner.reference_number),
        without_reference(&unknown, unknown_ref)
    );
    assert_eq!(c.refresh(&owner.refresh_token).await.status, StatusCode::OK);

    // The reader ends its own other session.
    let d = end(&c, &r1.access_token, &r2.reference_number).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{:?}", d.body);
    assert_eq!(
        c.refresh(&r2.refresh_token).await.exception_code(),
        Some(21301)
    );

    // CredentialsRead sees all sessions of the context but may not end another subject's.
    assert_eq!(
        listed(&c, &a1.access_token).await,
        sorted(&[&owner, &r1, &a1])
    );
    let f = end(&c, &a1.access_token, &owner.reference_number).await;
    common::assert_missing_permissions(&f, &["CredentialsManage"]);
    assert_eq!(c.refresh(&owner.refresh_token).await.status, StatusCode::OK);

    // The owner sees everyone's sessions and ends the reader's.
    assert_eq!(
        listed(&c, &owner.access_token).await,
        sorted(&[&owner, &r1, &a1])
    );
    let d = end(&c, &owner.access_token, &r1.reference_number).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{:?}", d.body);
    assert_eq!(
        c.refresh(&r1.refresh_token).await.exception_code(),
        Some(21301)
    );
    assert_eq!(c.refresh(&owner.refresh_token).await.status, StatusCode::OK);
}

#[tokio::test]
async fn token_sessions_see_only_sessions_of_their_token() {
    let (_emu, c, _dir) = start(|_| {}).await;
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Firma Testowa Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let owner = c.login_with_certificate(&seal, &ctx).await.expect("owner");
    let (_, token_a) = c
        .generate_active_token(&owner.access_token, &["InvoiceRead"], "Token A do odczytu")
        .await;
    let (_, token_b) = c
        .generate_active_token(&owner.access_token, &["InvoiceRead"], "Token B do odczytu")
        .await;
    let ta1 = c.login_with_token(&token_a, &ctx).await.expect("token A");
    let ta2 = c.login_with_token(&token_a, &ctx).await.expect("token A");
    let tb = c.login_with_token(&token_b, &ctx).await.expect("token B");

    // The same author (the owner), but another token: not the same authenticated subject.
    assert_eq!(listed(&c, &ta1.access_token).await, sorted(&[&ta1, &ta2]));
    let hidden = end(&c, &ta1.access_token, &tb.reference_number).await;
    assert_eq!(hidden.exception_code(), Some(21405), "{:?}", hidden.body);
    let hidden = end(&c, &ta1.access_token, &owner.reference_number).await;
    assert_eq!(hidden.exception_code(), Some(21405), "{:?}", hidden.body);
    let d = end(&c, &ta1.access_token, &ta2.reference_number).await;
    assert_eq!(d.status, StatusCode::NO_CONTENT, "{:?}", d.body);
    assert_eq!(c.refresh(&tb.refresh_token).await.status, StatusCode::OK);
    assert_eq!(c.refresh(&owner.refresh_token).await.status, StatusCode::OK);

    // A signature login of the owner does not list the token sessions as its own, but the
    // owner's CredentialsManage shows them all.
    assert_eq!(
        listed(&c, &owner.access_token).await,
        sorted(&[&owner, &ta1, &tb])
    );
}
