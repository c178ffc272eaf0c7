//! Limits over real HTTP (digest §15): `GET /limits/context`, `/limits/subject`,
//! `/rate-limits` with their documented defaults, the TEST overrides (round trip, bounds →
//! 400/21405), session limits enforced on an online session (430, 21155), and the rate
//! limiter (off by default; on after `POST /testdata/rate-limits` or with the config flag:
//! 429 with `Retry-After` in both error formats, other counters unaffected, `DELETE` lifts it;
//! unknown paths share one counter, every OpenAPI operation has its own).

mod sessions_support;

use ksef_testkit::invoices;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessions_support::*;

/// A request with the access token and optional extra header → (status, headers, JSON body).
async fn call(
    env: &Env,
    method: Method,
    path: &str,
    body: Option<Value>,
    header: Option<(&str, &str)>,
) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let mut req = ksef_testkit::http_client()
        .request(method, format!("{}{path}", env.client.base_url()))
        .bearer_auth(&env.access);
    if let Some(b) = body {
        req = req.json(&b);
    }
    if let Some((k, v)) = header {
        req = req.header(k, v);
    }
    let r = req.send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    let bytes = r.bytes().await.unwrap();
    (
        status,
        headers,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

async fn get(env: &Env, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    call(env, Method::GET, path, None, None).await
}

fn production() -> Value {
    json!({
        "onlineSession": {"perSecond": 10, "perMinute": 30, "perHour": 120},
        "batchSession": {"perSecond": 10, "perMinute": 20, "perHour": 60},
        "invoiceSend": {"perSecond": 10, "perMinute": 30, "perHour": 180},
        "invoiceStatus": {"perSecond": 30, "perMinute": 120, "perHour": 1200},
        "sessionList": {"perSecond": 5, "perMinute": 10, "perHour": 60},
        "sessionInvoiceList": {"perSecond": 10, "perMinute": 20, "perHour": 200},
        "sessionMisc": {"perSecond": 10, "perMinute": 120, "perHour": 1200},
        "invoiceMetadata": {"perSecond": 8, "perMinute": 16, "perHour": 20},
        "invoiceExport": {"perSecond": 8, "perMinute": 16, "perHour": 20},
        "invoiceExportStatus": {"perSecond": 10, "perMinute": 60, "perHour": 600},
        "invoiceDownload": {"perSecond": 8, "perMinute": 16, "perHour": 64},
        "other": {"perSecond": 10, "perMinute": 30, "perHour": 120}
    })
}

fn default_context_limits() -> Value {
    let s = json!({"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000});
    json!({"onlineSession": s, "batchSession": s})
}

fn exception_code(body: &Value) -> Option<i64> {
    body["exception"]["exceptionDetailList"][0]["exceptionCode"].as_i64()
}

#[tokio::test]
async fn gets_return_documented_defaults_and_need_a_token() {
    let env = start(|_| {}).await;
    let (s, _, b) = get(&env, "/limits/context").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, default_context_limits());
    let (s, _, b) = get(&env, "/limits/subject").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        b,
        json!({"enrollment": {"maxEnrollments": 12}, "certificate": {"maxCertificates": 6}})
    );
    let (s, _, b) = get(&env, "/rate-limits").await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(b, production());
    for (m, p) in [
        (Method::GET, "/limits/context"),
        (Method::GET, "/limits/subject"),
        (Method::GET, "/rate-limits"),
        (Method::DELETE, "/testdata/limits/context/session"),
        (Method::DELETE, "/testdata/limits/subject/certificate"),
        (Method::DELETE, "/testdata/rate-limits"),
        (Method::POST, "/testdata/rate-limits/production"),
    ] {
        let a = env.client.call(m.clone(), p, None, None).await;
        assert_eq!(a.status, StatusCode::UNAUTHORIZED, "{m} {p}");
        assert_eq!(a.body["status"], 401, "{m} {p}: {:?}", a.body);
    }
}

#[tokio::test]
async fn context_session_limits_round_trip_and_bounds() {
    let env = start(|_| {}).await;
    let body = json!({
        "onlineSession": {"maxInvoiceSizeInMB": 5, "maxInvoiceWithAttachmentSizeInMB": 10, "maxInvoices": 100000},
        "batchSession": {"maxInvoiceSizeInMB": 0, "maxInvoiceWithAttachmentSizeInMB": 2, "maxInvoices": 7}
    });
    let (s, _, _) = call(
        &env,
        Method::POST,
        "/testdata/limits/context/session",
        Some(body.clone()),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(get(&env, "/limits/context").await.2, body);

    // Another context keeps the defaults.
    let other = owner_login(&env.client, &ksef_core::Nip::random()).await;
    let a = env.client.get("/limits/context", &other).await;
    assert_eq!(a.body, default_context_limits());

    // Out of bounds, missing parts, wrong types: 400/21405; the stored override is unchanged.
    for bad in [
        json!({"onlineSession": {"maxInvoiceSizeInMB": 6, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1},
               "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1}}),
        json!({"onlineSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 11, "maxInvoices": 1},
               "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1}}),
        json!({"onlineSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1},
               "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 100001}}),
        json!({"onlineSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1}}),
        json!({"onlineSession": {"maxInvoiceSizeInMB": -1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1},
               "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 1}}),
    ] {
        let (s, _, b) = call(
            &env,
            Method::POST,
            "/testdata/limits/context/session",
            Some(bad.clone()),
            None,
        )
        .await;
        assert_eq!(s, StatusCode::BAD_REQUEST, "{bad}");
        assert_eq!(exception_code(&b), Some(21405), "{bad}: {b}");
    }
    assert_eq!(get(&env, "/limits/context").await.2, body);

    let (s, _, _) = call(
        &env,
        Method::DELETE,
        "/testdata/limits/context/session",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        get(&env, "/limits/context").await.2,
        default_context_limits()
    );
}

#[tokio::test]
async fn subject_certificate_limits_round_trip() {
    let env = start(|_| {}).await;
    let (s, _, _) = call(
        &env,
        Method::POST,
        "/testdata/limits/subject/certificate",
        Some(json!({"subjectIdentifierType": "Nip", "certificate": {"maxCertificates": 2}})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        get(&env, "/limits/subject").await.2,
        json!({"enrollment": {"maxEnrollments": 12}, "certificate": {"maxCertificates": 2}})
    );
    let (s, _, b) = call(
        &env,
        Method::POST,
        "/testdata/limits/subject/certificate",
        Some(json!({"subjectIdentifierType": "Regon", "enrollment": {"maxEnrollments": 1}})),
        Some(("X-Error-Format", "problem-details")),
    )
    .await;
    assert_eq!(s, StatusCode::BAD_REQUEST);
    assert_eq!(b["errors"][0]["code"], 21405, "{b}");
    let (s, _, _) = call(
        &env,
        Method::DELETE,
        "/testdata/limits/subject/certificate",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(
        get(&env, "/limits/subject").await.2,
        json!({"enrollment": {"maxEnrollments": 12}, "certificate": {"maxCertificates": 6}})
    );
}

#[tokio::test]
async fn session_limit_override_is_enforced_online() {
    let env = start(|_| {}).await;
    // Online: at most 1 invoice of at most 0 MB (every invoice is too large); batch untouched.
    let (s, _, _) = call(
        &env,
        Method::POST,
        "/testdata/limits/context/session",
        Some(json!({
            "onlineSession": {"maxInvoiceSizeInMB": 0, "maxInvoiceWithAttachmentSizeInMB": 0, "maxInvoices": 1},
            "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000}
        })),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (session, k) = open_online(&env, FA3).await;
    let inv = send(
        &env,
        &session,
        &k,
        &invoices::fa3(env.nip.as_str(), "LIMIT-1"),
    )
    .await;
    let item = wait_invoice(&env, &session, &inv).await;
    assert_eq!(item["status"]["code"], 430, "{item}");
    assert!(
        item["status"]["details"][0]
            .as_str()
            .unwrap()
            .contains("przekracza dopuszczalne 0 B"),
        "{item}"
    );
    // The second invoice exceeds maxInvoices = 1: 21155.
    let a = env
        .client
        .post(
            &format!("/sessions/online/{session}/invoices"),
            Some(&env.access),
            send_body(&k, &invoices::fa3(env.nip.as_str(), "LIMIT-2")),
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST);
    assert_eq!(a.exception_code(), Some(21155), "{:?}", a.body);

    // After DELETE the defaults apply again in a new session.
    let (s, _, _) = call(
        &env,
        Method::DELETE,
        "/testdata/limits/context/session",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (session, k) = open_online(&env, FA3).await;
    let inv = send(
        &env,
        &session,
        &k,
        &invoices::fa3(env.nip.as_str(), "LIMIT-3"),
    )
    .await;
    send(
        &env,
        &session,
        &k,
        &invoices::fa3(env.nip.as_str(), "LIMIT-4"),
    )
    .await;
    let item = wait_invoice(&env, &session, &inv).await;
    assert_eq!(item["status"]["code"], 200, "{item}");
}

#[tokio::test]
async fn nothing_is_limited_by_default() {
    let env = start(|_| {}).await;
    // 40 calls: beyond `other` (30/min) and `sessionList` (10/min) of production.
    for i in 0..40 {
        assert_eq!(get(&env, "/limits/context").await.0, StatusCode::OK, "#{i}");
        assert_eq!(
            get(&env, "/sessions?sessionType=Online").await.0,
            StatusCode::OK,
            "#{i}"
        );
    }
}

#[tokio::test]
async fn custom_rate_limits_answer_429_until_deleted() {
    let env = start(|_| {}).await;
    // `other`: 2 per minute (a generous per-second value keeps the test independent of speed).
    let mut limits = production();
    limits["other"] = json!({"perSecond": 100, "perMinute": 2, "perHour": 100});
    let (s, _, _) = call(
        &env,
        Method::POST,
        "/testdata/rate-limits",
        Some(json!({"rateLimits": limits})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    // GET /rate-limits is itself `other` (its own counter): call 1 of 2.
    assert_eq!(get(&env, "/rate-limits").await.2, limits);

    assert_eq!(get(&env, "/limits/context").await.0, StatusCode::OK);
    assert_eq!(get(&env, "/limits/context").await.0, StatusCode::OK);
    let (s, h, b) = get(&env, "/limits/context").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    let retry: u64 = h["retry-after"].to_str().unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "Retry-After {retry}");
    assert_eq!(b["status"]["code"], 429, "{b}");
    assert_eq!(b["status"]["description"], "Too Many Requests", "{b}");
    let detail = b["status"]["details"][0].as_str().unwrap();
    assert!(
        detail.starts_with("Przekroczono limit 2 żądań na minutę."),
        "{detail}"
    );
    assert!(
        detail.contains(&format!("po {retry} sekundach")),
        "{detail}"
    );
    assert!(
        h["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );

    // Problem Details on request.
    let (s, h, b) = call(
        &env,
        Method::GET,
        "/limits/context",
        None,
        Some(("X-Error-Format", "problem-details")),
    )
    .await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    assert_eq!(h["content-type"], "application/problem+json");
    assert_eq!(b["title"], "Too Many Requests", "{b}");
    assert_eq!(b["status"], 429);
    assert_eq!(b["instance"], "/v2/limits/context");
    assert!(b["detail"].as_str().unwrap().contains("na minutę"), "{b}");
    assert!(
        b["traceId"].is_string() && b["timestamp"].is_string(),
        "{b}"
    );

    // Another `other` endpoint has its own counter; another group is unaffected.
    assert_eq!(get(&env, "/limits/subject").await.0, StatusCode::OK);
    for _ in 0..5 {
        assert_eq!(
            get(&env, "/sessions?sessionType=Online").await.0,
            StatusCode::OK
        );
    }
    // Another context is not limited at all.
    let other = owner_login(&env.client, &ksef_core::Nip::random()).await;
    for _ in 0..5 {
        assert_eq!(
            env.client.get("/limits/context", &other).await.status,
            StatusCode::OK
        );
    }

    // DELETE restores production values and the configured (off) enforcement.
    let (s, _, _) = call(&env, Method::DELETE, "/testdata/rate-limits", None, None).await;
    assert_eq!(s, StatusCode::OK);
    for i in 0..5 {
        assert_eq!(get(&env, "/limits/context").await.0, StatusCode::OK, "#{i}");
    }
    assert_eq!(get(&env, "/rate-limits").await.2, production());
}

#[tokio::test]
async fn production_rate_limits_are_enforced_after_the_production_call() {
    let env = start(|_| {}).await;
    let (s, _, _) = call(
        &env,
        Method::POST,
        "/testdata/rate-limits/production",
        None,
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    assert_eq!(get(&env, "/rate-limits").await.2, production());
    // sessionList: 5/s, 10/min. The first 5 pass; by call 11 at the latest one is refused.
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(get(&env, "/sessions?sessionType=Online").await.0);
    }
    assert!(
        statuses[..5].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn config_flag_enforces_production_limits() {
    let env = start(|c| c.rate_limits = true).await;
    let mut statuses = Vec::new();
    for _ in 0..11 {
        statuses.push(get(&env, "/sessions?sessionType=Online").await.0);
    }
    assert!(
        statuses[..5].iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
    // DELETE keeps the configured enforcement on.
    let (s, _, _) = call(&env, Method::DELETE, "/testdata/rate-limits", None, None).await;
    assert_eq!(s, StatusCode::OK);
    let mut refused = false;
    for _ in 0..11 {
        refused |=
            get(&env, "/sessions?sessionType=Online").await.0 == StatusCode::TOO_MANY_REQUESTS;
    }
    assert!(refused);
}

/// The request body cap of `POST /sessions/online/{ref}/invoices` follows the largest invoice
/// a context limit may allow (10 MB): with the default limits a 6 MB invoice is refused as too
/// large (400), with `maxInvoiceWithAttachmentSizeInMB: 10` it is taken for processing (202),
/// and a body beyond any limit is refused with the documented 400/21405 (the OpenAPI documents
/// no 413) — never a 500.
#[tokio::test]
async fn large_online_invoices_follow_the_context_limits() {
    let env = start(|_| {}).await;
    // ~6 MB: the FA(3) template with padding whitespace before its closing tag.
    let mut big = invoices::fa3(env.nip.as_str(), "BIG-1");
    let close = big
        .windows(b"</Faktura>".len())
        .rposition(|w| w == b"</Faktura>")
        .expect("closing tag");
    big.splice(close..close, std::iter::repeat_n(b' ', 6_000_000));

    let (session, k) = open_online(&env, FA3).await;
    let url = format!("/sessions/online/{session}/invoices");
    let a = env
        .client
        .post(&url, Some(&env.access), send_body(&k, &big))
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);

    let (s, _, _) = call(
        &env,
        Method::POST,
        "/testdata/limits/context/session",
        Some(json!({
            "onlineSession": {"maxInvoiceSizeInMB": 5, "maxInvoiceWithAttachmentSizeInMB": 10, "maxInvoices": 10000},
            "batchSession": {"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000}
        })),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    let (session, k) = open_online(&env, FA3).await;
    let inv = send(&env, &session, &k, &big).await;
    // Taken for processing; its verdict (size over the 5 MB without attachment) comes later.
    let item = wait_invoice(&env, &session, &inv).await;
    assert_eq!(item["status"]["code"], 430, "{item}");

    let mut huge = send_body(&k, &big);
    huge["encryptedInvoiceContent"] = Value::String("A".repeat(15_000_000));
    let a = env
        .client
        .post(
            &format!("/sessions/online/{session}/invoices"),
            Some(&env.access),
            huge,
        )
        .await;
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{:?}", a.body);
    assert_eq!(a.exception_code(), Some(21405), "{:?}", a.body);
}

/// Paths the API does not define share one `other` counter per context and IP: letters-only
/// unknown paths (which the digit heuristic keeps literal) no longer get a counter each, while
/// a known endpoint keeps its own.
#[tokio::test]
async fn unknown_paths_share_one_counter() {
    let env = start(|_| {}).await;
    let mut limits = production();
    limits["other"] = json!({"perSecond": 100, "perMinute": 3, "perHour": 100});
    let (s, _, _) = call(
        &env,
        Method::POST,
        "/testdata/rate-limits",
        Some(json!({"rateLimits": limits})),
        None,
    )
    .await;
    assert_eq!(s, StatusCode::OK);
    for p in ["/aaaa", "/bbbb", "/limits/cccc"] {
        assert_eq!(get(&env, p).await.0, StatusCode::NOT_FOUND, "{p}");
    }
    let (s, h, _) = get(&env, "/dddd").await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    assert!(h.contains_key("retry-after"));
    // A method the API does not define on a known path counts there too.
    let (s, _, _) = call(&env, Method::PATCH, "/limits/context", None, None).await;
    assert_eq!(s, StatusCode::TOO_MANY_REQUESTS);
    // The known endpoint has its own counter.
    assert_eq!(get(&env, "/limits/context").await.0, StatusCode::OK);
}

/// Every operation of `open-api.json`, with concrete path parameters, maps to its own
/// template — the `other` counter key — through the router built from the endpoint table,
/// and nothing else does.
#[tokio::test]
async fn every_openapi_operation_has_its_counter() {
    use ksef_emulator::testing::{UNMATCHED, counter_name};
    let spec_path = ksef_testkit::spec_dir().join("ksef-docs/open-api.json");
    let spec: Value = serde_json::from_slice(&std::fs::read(&spec_path).unwrap()).unwrap();
    let mut n = 0;
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, _) in item.as_object().unwrap() {
            let Ok(m) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            if !["GET", "POST", "PUT", "DELETE", "PATCH"].contains(&m.as_str()) {
                continue;
            }
            let concrete: Vec<&str> = path
                .split('/')
                .map(|s| {
                    if s.starts_with('{') {
                        "20250625-SO-2C3E6C8000-B675CF5D68-07"
                    } else {
                        s
                    }
                })
                .collect();
            let concrete = format!("/v2{}", concrete.join("/"));
            assert_eq!(
                counter_name(m.as_str(), &concrete).await,
                format!("{m} {path}"),
                "{concrete}"
            );
            n += 1;
        }
    }
    assert_eq!(n, 78);
    assert_eq!(counter_name("GET", "/v2/no/such/thing").await, UNMATCHED);
}
