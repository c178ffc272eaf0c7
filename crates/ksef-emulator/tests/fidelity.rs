//! Where the real service is lenient or answers differently from what the schema alone suggests,
//! the emulator does the same (issue 11, "Fidelity"): the legacy error body as TEST writes it,
//! `date-time` request fields given as a bare date, repeated slashes in paths, and a KSeF number
//! whose CRC is wrong (the last is in `retrieval_download.rs`).

mod retrieval_support;

use ksef_core::Nip;
use reqwest::{Method, StatusCode};
use retrieval_support::{invoice, numbers, seed, start};
use serde_json::json;
use time::macros::datetime;

/// The legacy 400 body: `timestamp` in UTC with `Z` and 7 fractional digits, absent
/// `referenceNumber` / `serviceCtx` / `serviceName` left out (a real 400 body from TEST:
/// `"timestamp":"2025-11-09T22:54:08.6741818Z"`).
#[tokio::test]
async fn legacy_error_body_is_written_like_the_real_service() {
    let env = start(|_| {}).await;
    let a = env
        .client
        .post("/tokens", Some(&env.access), json!({"permissions": []}))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    let exception = a.body["exception"].as_object().expect("exception object");
    for absent in ["referenceNumber", "serviceCtx", "serviceName"] {
        assert!(!exception.contains_key(absent), "{absent}: {}", a.body);
    }
    let ts = exception["timestamp"].as_str().expect("timestamp");
    assert_eq!(ts.len(), 28, "{ts}");
    assert!(ts.ends_with('Z') && ts.as_bytes()[19] == b'.', "{ts}");
    time::OffsetDateTime::parse(ts, &time::format_description::well_known::Rfc3339)
        .unwrap_or_else(|e| panic!("{ts}: {e}"));
    assert!(exception["serviceCode"].is_string(), "{}", a.body);
}

/// `date-time` request fields accept a bare date, as the real (.NET) service does; it stands
/// for midnight Europe/Warsaw. Before: 400/21405.
#[tokio::test]
async fn bare_dates_are_accepted_as_warsaw_midnight() {
    let env = start(|_| {}).await;
    // Stored 00:30 Warsaw time on 6 December 2026 (23:30 UTC on the 5th): inside a range
    // starting at "2026-12-06" only if the bare date means Warsaw midnight, not UTC midnight.
    let early = invoice(&env.nip, &Nip::random(), 1, datetime!(2026-12-05 23:30 UTC));
    // 23:30 Warsaw on the 5th: outside.
    let before = invoice(&env.nip, &Nip::random(), 2, datetime!(2026-12-05 22:30 UTC));
    seed(env.pool(), &[early.clone(), before]).await;

    let body = json!({"subjectType": "Subject1",
        "dateRange": {"dateType": "PermanentStorage", "from": "2026-12-06", "to": "2026-12-07"}});
    let a = env
        .client
        .post("/invoices/query/metadata", Some(&env.access), body)
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert_eq!(numbers(&a.body), vec![early.ksef_number.clone()]);

    let a = env
        .client
        .post(
            "/invoices/exports",
            Some(&env.access),
            json!({"encryption": env.client.encryption(&[7u8; 32], &[9u8; 16]).await,
                   "filters": {"subjectType": "Subject1",
                       "dateRange": {"dateType": "PermanentStorage", "from": "2026-12-06", "to": "2026-12-07"}}}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "{:?}", a.body);

    let a = env
        .client
        .get(
            "/sessions?sessionType=Online&dateCreatedFrom=2026-12-06&dateCreatedTo=2026-12-07",
            &env.access,
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);

    let a = env
        .client
        .post(
            "/certificates/query",
            Some(&env.access),
            json!({"expiresAfter": "2026-12-06"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);

    // Still a validation error: not a date at all, or an impossible one.
    for bad in ["2026-13-06", "06.12.2026", "jutro"] {
        let body = json!({"subjectType": "Subject1",
            "dateRange": {"dateType": "PermanentStorage", "from": bad}});
        let a = env
            .client
            .post("/invoices/query/metadata", Some(&env.access), body)
            .await;
        assert_eq!(a.status, StatusCode::BAD_REQUEST, "{bad}: {:?}", a.body);
        assert_eq!(a.exception_code(), Some(21405), "{bad}: {:?}", a.body);
    }
}

/// `GET /v2//sessions/{ref}/invoices` (a published SDK builds this URL in its batch flow) is
/// routed like `/v2/sessions/{ref}/invoices`. Before: 404.
#[tokio::test]
async fn repeated_slashes_are_collapsed_before_routing() {
    let env = start(|_| {}).await;
    let encryption = env.client.encryption(&[1u8; 32], &[2u8; 16]).await;
    let open = env
        .client
        .post(
            "/sessions/online",
            Some(&env.access),
            json!({"formCode": {"systemCode": "FA (3)", "schemaVersion": "1-0E", "value": "FA"},
                   "encryption": encryption}),
        )
        .await;
    assert_eq!(open.status, StatusCode::CREATED, "{:?}", open.body);
    let session = open.body["referenceNumber"].as_str().unwrap();

    for path in [
        format!("//sessions/{session}/invoices"),
        format!("/sessions//{session}//invoices"),
        format!("///sessions/{session}/invoices?pageSize=10"),
    ] {
        let a = env
            .client
            .call(Method::GET, &path, Some(&env.access), None)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{path}: {:?}", a.body);
        assert!(a.body["invoices"].is_array(), "{path}: {:?}", a.body);
    }
    // Unknown paths stay unknown.
    let a = env
        .client
        .call(Method::GET, "//nie//istnieje", Some(&env.access), None)
        .await;
    assert_eq!(a.status, StatusCode::NOT_FOUND, "{:?}", a.body);
}
