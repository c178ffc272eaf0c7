//! `GET /invoices/ksef/{ksefNumber}` (digest §12.1) and the InvoiceRead rule of every retrieval
//! endpoint (§7.8), over real HTTP against an in-process emulator.

mod retrieval_support;

use ksef_core::Nip;
use reqwest::StatusCode;
use retrieval_support::{Env, invoice, owner_login, person_login, seed, sha256_b64, start};
use serde_json::json;
use time::OffsetDateTime;

async fn get_raw(env: &Env, access: &str, number: &str) -> reqwest::Response {
    ksef_testkit::http_client()
        .get(format!("{}/invoices/ksef/{number}", env.client.base_url()))
        .bearer_auth(access)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn download_returns_the_exact_bytes_to_every_party() {
    let env = start(|_| {}).await;
    let buyer = Nip::random();
    let mut inv = invoice(&env.nip, &buyer, 1, OffsetDateTime::now_utc());
    // Bytes that a re-serialisation would change: CRLF, a trailing space, no final newline.
    inv.content = [inv.content.as_slice(), b"\r\n<!-- koniec -->  "].concat();
    seed(env.pool(), std::slice::from_ref(&inv)).await;

    let r = get_raw(&env, &env.access, &inv.ksef_number).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.headers()["content-type"], "application/xml");
    let hash = r.headers()["x-ms-meta-hash"].to_str().unwrap().to_string();
    let body = r.bytes().await.unwrap();
    assert_eq!(body.as_ref(), inv.content.as_slice());
    assert_eq!(hash, sha256_b64(&inv.content));

    // The buyer's context (Subject2) sees it too.
    let buyer_access = owner_login(&env.client, &buyer).await;
    let r = get_raw(&env, &buyer_access, &inv.ksef_number).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(r.bytes().await.unwrap().as_ref(), inv.content.as_slice());
}

#[tokio::test]
async fn not_a_party_unknown_and_malformed_numbers() {
    let env = start(|_| {}).await;
    // An invoice between two other companies.
    let (seller, buyer) = (Nip::random(), Nip::random());
    let mut inv = invoice(&seller, &buyer, 1, OffsetDateTime::now_utc());
    inv.third = vec![("Nip".into(), Nip::random().to_string(), None, 4)];
    seed(env.pool(), std::slice::from_ref(&inv)).await;

    let a = env
        .client
        .get(&format!("/invoices/ksef/{}", inv.ksef_number), &env.access)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.exception_code(), Some(21164));
    let details = a.body["exception"]["exceptionDetailList"][0]["details"].to_string();
    assert!(details.contains(&inv.ksef_number), "{details}");

    // The third subject (Podmiot3) is a party.
    let third = owner_login(&env.client, &inv.third[0].1.parse().unwrap()).await;
    let a = env
        .client
        .get(&format!("/invoices/ksef/{}", inv.ksef_number), &third)
        .await;
    assert_eq!(a.status, StatusCode::OK);

    // A well-formed number nobody has.
    let unknown = ksef_core::KsefNumber::generate(&env.nip, OffsetDateTime::now_utc().date());
    let a = env
        .client
        .get(&format!("/invoices/ksef/{unknown}"), &env.access)
        .await;
    assert_eq!(a.exception_code(), Some(21164));

    // Well-formed but with a wrong CRC: like any unknown invoice, as the real service answers.
    let mut bad_crc = inv.ksef_number.clone();
    let last = if bad_crc.ends_with('0') { "1" } else { "0" };
    bad_crc.replace_range(bad_crc.len() - 1.., last);
    let a = env
        .client
        .get(&format!("/invoices/ksef/{bad_crc}"), &env.access)
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.exception_code(), Some(21164), "{:?}", a.body);
    let details = a.body["exception"]["exceptionDetailList"][0]["details"].to_string();
    assert!(details.contains(&bad_crc), "{details}");

    // Malformed: wrong length, lower-case hex, bad date.
    for n in [
        "1234567890-20250101-ABC",
        "5265877635-20250826-0100001af629-AF",
        "5265877635-20251301-0100001AF629-AF",
    ] {
        let a = env
            .client
            .get(&format!("/invoices/ksef/{n}"), &env.access)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{n}: {:?}", a.body);
        assert_eq!(a.exception_code(), Some(21405), "{n}: {:?}", a.body);
    }
}

#[tokio::test]
async fn every_retrieval_endpoint_needs_invoice_read() {
    let env = start(|_| {}).await;
    let inv = invoice(&env.nip, &Nip::random(), 1, OffsetDateTime::now_utc());
    seed(env.pool(), std::slice::from_ref(&inv)).await;
    let clerk = person_login(&env.client, &env.nip, &["InvoiceWrite"]).await;
    let reader = person_login(&env.client, &env.nip, &["InvoiceRead"]).await;

    let filters = json!({"subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": "2025-01-01T00:00:00Z", "to": "2025-02-01T00:00:00Z"}});
    // The body is not even looked at without the permission (garbage → still 403).
    let calls = [
        ("GET", format!("/invoices/ksef/{}", inv.ksef_number), None),
        (
            "POST",
            "/invoices/query/metadata".to_string(),
            Some(json!({"garbage": true})),
        ),
        (
            "POST",
            "/invoices/query/metadata".to_string(),
            Some(filters.clone()),
        ),
        (
            "POST",
            "/invoices/exports".to_string(),
            Some(json!({"filters": filters})),
        ),
        (
            "GET",
            "/invoices/exports/20250101-EH-0000000000-0000000000-00".to_string(),
            None,
        ),
    ];
    for (method, path, body) in &calls {
        let a = env
            .client
            .call(method.parse().unwrap(), path, Some(&clerk), body.clone())
            .await;
        assert_eq!(
            a.status,
            StatusCode::FORBIDDEN,
            "{method} {path}: {:?}",
            a.body
        );
        assert_eq!(a.reason_code(), Some("missing-permissions"), "{:?}", a.body);
        assert_eq!(
            a.body["security"]["requiredAnyOfPermissions"],
            json!(["InvoiceRead"])
        );
        assert_eq!(
            a.body["security"]["presentPermissions"],
            json!(["InvoiceWrite"])
        );
    }
    // Without a token: 401.
    let a = env
        .client
        .call(
            reqwest::Method::GET,
            &format!("/invoices/ksef/{}", inv.ksef_number),
            None,
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::UNAUTHORIZED);
    // A person with InvoiceRead in the seller's context reads it.
    let r = get_raw(&env, &reader, &inv.ksef_number).await;
    assert_eq!(r.status(), StatusCode::OK);
}
