//! Error mapping against the emulator (legacy `exception` body, Problem Details), transport
//! errors, `Retry-After` handling and the 21470 key-rotation retry.
//!
//! The 429 and 21470 tests use tiny axum servers written here as TEST DOUBLES for exactly that
//! one behaviour (the emulator's rate limits are off by default and its key is fixed); the
//! 21470 double forwards every other request to the real emulator.

use crate::common;

use std::sync::Arc;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use ksef_client::{KsefClient, KsefError, RetryPolicy, SubjectIdentifierType, TokenQuery};
use ksef_core::TokenPermission;
use serde_json::json;
use tokio::net::TcpListener;

async fn serve(app: Router) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}/v2")
}

fn api(e: &KsefError) -> (u16, Option<u32>, &str, &[String]) {
    match e {
        KsefError::Api {
            status,
            code,
            description,
            details,
            ..
        } => (*status, *code, description, details),
        other => panic!("expected KsefError::Api, got {other:?}"),
    }
}

#[tokio::test]
async fn exception_and_problem_details_bodies_map_to_api_errors() {
    let emu = common::emulator().await;
    let co = common::company();
    let legacy = KsefClient::new(&emu.emulator.base_url()).unwrap();
    let problem = legacy.clone().with_problem_details(true);
    let session = legacy
        .login_with_credential(
            &co.seal,
            &co.context,
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .unwrap();
    let access = session.access_token.expose_secret();

    // 21405: pageSize outside 10–100, in both 400 formats.
    let bad = TokenQuery {
        page_size: Some(5),
        ..TokenQuery::default()
    };
    for client in [&legacy, &problem] {
        let err = client.list_tokens(access, &bad, None).await.unwrap_err();
        let (status, code, description, details) = api(&err);
        assert_eq!((status, code), (400, Some(21405)), "{err:?}");
        assert_eq!(description, "Błąd walidacji danych wejściowych.");
        assert!(
            details.iter().any(|d| d.contains("pageSize")),
            "{details:?}"
        );
        let shown = err.to_string();
        assert!(
            shown.contains("21405") && shown.contains("Błąd walidacji"),
            "{shown}"
        );
        assert_eq!(err.code(), Some(21405));
    }

    // 21301: redeeming a second time (legacy body).
    let challenge = legacy.challenge().await.unwrap();
    let xml = ksef_xades::auth_request::AuthTokenRequest::new(
        challenge.challenge,
        co.context.clone(),
        SubjectIdentifierType::CertificateSubject,
    )
    .to_xml(ksef_xades::auth_request::AuthNamespace::V2_0);
    let signed =
        ksef_xades::signature::sign_enveloped(&xml, &co.seal, &Default::default()).unwrap();
    let init = legacy
        .submit_xades(signed.as_bytes(), Some(false))
        .await
        .unwrap();
    let auth = init.authentication_token.token.expose_secret();
    legacy
        .wait_for_authentication(&init.reference_number, auth, Duration::from_secs(10))
        .await
        .unwrap();
    legacy.redeem(auth).await.unwrap();
    let err = legacy.redeem(auth).await.unwrap_err();
    assert_eq!(api(&err).1, Some(21301), "{err:?}");

    // 401: always Problem Details.
    let err = legacy
        .list_tokens("not-a-valid-jwt", &TokenQuery::default(), None)
        .await
        .unwrap_err();
    let (status, code, description, _) = api(&err);
    assert_eq!((status, code), (401, None), "{err:?}");
    assert!(description.starts_with("Unauthorized"), "{description}");
    assert!(err.to_string().contains("401"), "{err}");

    // 400 from the XAdES endpoint with a tampered document (signature no longer matches).
    let tampered = signed.replace(co.nip.as_str(), ksef_core::Nip::random().as_str());
    let err = legacy
        .submit_xades(tampered.as_bytes(), None)
        .await
        .unwrap_err();
    let (status, code, ..) = api(&err);
    assert_eq!(status, 400, "{err:?}");
    assert!(code.is_some(), "{err:?}");
}

#[tokio::test]
async fn transport_error_names_the_url() {
    // A port nobody listens on: bind, note the address, drop the listener.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    drop(listener);
    let client = KsefClient::new(&format!("http://{addr}/v2")).unwrap();
    let err = client.challenge().await.unwrap_err();
    let KsefError::Transport(message) = &err else {
        panic!("expected Transport, got {err:?}")
    };
    assert!(
        message.contains(&format!("http://{addr}/v2/auth/challenge")),
        "{message}"
    );
    assert!(
        message.to_lowercase().contains("refused") || message.contains("connect"),
        "{message}"
    );
    // GETs (retried once on resets) fail the same way.
    let err = client.public_key_certificates().await.unwrap_err();
    assert!(
        err.to_string().contains(&format!(
            "http://{addr}/v2/security/public-key-certificates"
        )),
        "{err}"
    );
    // HTTPS is built in: a TLS handshake with a plain-HTTP server fails as a transport error
    // naming the URL (without a TLS backend reqwest would refuse the scheme instead).
    let emu = common::emulator().await;
    let tls_url = format!("https://{}/v2", emu.emulator.addr);
    let err = KsefClient::new(&tls_url)
        .unwrap()
        .challenge()
        .await
        .unwrap_err();
    let KsefError::Transport(message) = &err else {
        panic!("expected Transport, got {err:?}")
    };
    assert!(
        message.contains(&format!("{tls_url}/auth/challenge")),
        "{message}"
    );
}

/// A raw HTTP/1.1 server that answers `200` with a promised body of 1000 bytes, sends 10 and
/// closes the connection. Returns the base URL.
async fn broken_body_server() -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let mut buf = vec![0u8; 8192];
            let _ = sock.read(&mut buf).await;
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/xml\r\ncontent-length: 1000\r\n\r\n<UPO>01234")
                .await;
            let _ = sock.flush().await;
            drop(sock);
        }
    });
    format!("http://{addr}/v2")
}

#[tokio::test]
async fn transport_error_in_the_middle_of_a_body_names_the_url() {
    let url = broken_body_server().await;
    let client = KsefClient::new(&url).unwrap();
    let mut out = Vec::new();
    let err = client
        .session_upo_to("token", "SESSION-REF", "UPO-REF", &mut out)
        .await
        .unwrap_err();
    let KsefError::Transport(message) = &err else {
        panic!("expected Transport, got {err:?}")
    };
    assert!(
        message.contains(&format!("{url}/sessions/SESSION-REF/upo/UPO-REF")),
        "{message}"
    );
    assert!(message.contains("session UPO"), "{message}");
    // The buffered download reports the URL the same way.
    let err = client
        .session_upo("token", "SESSION-REF", "UPO-REF")
        .await
        .unwrap_err();
    assert!(
        err.to_string()
            .contains(&format!("{url}/sessions/SESSION-REF/upo/UPO-REF")),
        "{err}"
    );
}

/// A raw HTTP/1.1 server that drops the first `drops` connections without answering, then
/// answers every request with `200 []`. Returns the base URL and the connection count.
async fn flaky_server(drops: u32) -> (String, Arc<AtomicU32>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let conns = Arc::new(AtomicU32::new(0));
    let counter = conns.clone();
    tokio::spawn(async move {
        while let Ok((mut sock, _)) = listener.accept().await {
            let n = counter.fetch_add(1, Ordering::SeqCst);
            let mut buf = vec![0u8; 8192];
            let _ = sock.read(&mut buf).await;
            if n < drops {
                drop(sock); // closed without an answer
                continue;
            }
            let _ = sock
                .write_all(b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n[]")
                .await;
        }
    });
    (format!("http://{addr}/v2"), conns)
}

#[tokio::test]
async fn get_is_retried_once_after_a_dropped_connection() {
    let (url, conns) = flaky_server(1).await;
    let client = KsefClient::new(&url).unwrap();
    let keys = client.public_key_certificates().await.unwrap();
    assert!(keys.is_empty());
    assert_eq!(conns.load(Ordering::SeqCst), 2);

    // Only once: two drops in a row fail the GET.
    let (url, conns) = flaky_server(2).await;
    let err = KsefClient::new(&url)
        .unwrap()
        .public_key_certificates()
        .await
        .unwrap_err();
    assert!(matches!(err, KsefError::Transport(_)), "{err:?}");
    assert_eq!(conns.load(Ordering::SeqCst), 2);

    // POST is not idempotent: never retried.
    let (url, conns) = flaky_server(1).await;
    let err = KsefClient::new(&url)
        .unwrap()
        .challenge()
        .await
        .unwrap_err();
    assert!(matches!(err, KsefError::Transport(_)), "{err:?}");
    assert_eq!(conns.load(Ordering::SeqCst), 1);
}

fn challenge_json() -> serde_json::Value {
    json!({
        "challenge": "20250514-CR-226FB7B000-3ACF9BE4C0-10",
        "timestamp": "2025-07-11T12:23:56.0154302+00:00",
        "timestampMs": 1752236636015_i64,
        "clientIp": "127.0.0.1"
    })
}

/// A double that answers 429 (`Retry-After: <value>`, legacy body) `limit` times, then 200.
async fn rate_limited_server(retry_after: &'static str, limit: u32) -> (String, Arc<AtomicU32>) {
    let hits = Arc::new(AtomicU32::new(0));
    let app = Router::new()
        .fallback(
            async move |State(hits): State<Arc<AtomicU32>>| -> Response {
                if hits.fetch_add(1, Ordering::SeqCst) < limit {
                    let mut r = (
                        StatusCode::TOO_MANY_REQUESTS,
                        axum::Json(json!({"status": {"code": 429, "description": "Too Many Requests",
                            "details": ["Przekroczono limit 20 żądań na minutę. Spróbuj ponownie po 1 sekundach."]}})),
                    )
                        .into_response();
                    r.headers_mut()
                        .insert("retry-after", HeaderValue::from_static(retry_after));
                    r
                } else {
                    axum::Json(challenge_json()).into_response()
                }
            },
        )
        .with_state(hits.clone());
    (serve(app).await, hits)
}

#[tokio::test]
async fn retry_after_is_honoured() {
    let (url, hits) = rate_limited_server("1", 1).await;
    // No default wait: any delay comes from the Retry-After header.
    let client = KsefClient::new(&url)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            default_wait: Duration::ZERO,
            ..RetryPolicy::default()
        });
    let started = Instant::now();
    let c = client.challenge().await.unwrap();
    let elapsed = started.elapsed();
    assert_eq!(c.challenge, "20250514-CR-226FB7B000-3ACF9BE4C0-10");
    assert_eq!(hits.load(Ordering::SeqCst), 2);
    assert!(elapsed >= Duration::from_secs(1), "{elapsed:?}");
    assert!(elapsed < Duration::from_secs(5), "{elapsed:?}");
}

#[tokio::test]
async fn retry_after_gives_up_after_the_policy() {
    // Always 429: 1 try + 3 retries, then the 429 error with the server's details.
    let (url, hits) = rate_limited_server("0", u32::MAX).await;
    let client = KsefClient::new(&url).unwrap();
    let err = client.challenge().await.unwrap_err();
    let (status, code, description, details) = api(&err);
    assert_eq!((status, code), (429, None));
    assert_eq!(description, "Too Many Requests");
    assert!(details[0].contains("Przekroczono limit"), "{details:?}");
    assert_eq!(hits.load(Ordering::SeqCst), 4);

    // A Retry-After beyond the total-wait cap is not slept at all.
    let (url, hits) = rate_limited_server("3600", u32::MAX).await;
    let client = KsefClient::new(&url)
        .unwrap()
        .with_retry_policy(RetryPolicy {
            max_total_wait: Duration::from_secs(5),
            ..RetryPolicy::default()
        });
    let started = Instant::now();
    let err = client.challenge().await.unwrap_err();
    assert_eq!(api(&err).0, 429);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
    assert!(started.elapsed() < Duration::from_secs(2));
}

/// Forwards a request to the emulator unchanged (method, path, query, relevant headers, body).
async fn forward(http: &reqwest::Client, upstream: &str, req: Request) -> Response {
    let (parts, body) = req.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20).await.unwrap();
    let path = parts
        .uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/");
    let mut out = http.request(parts.method.clone(), format!("{upstream}{path}"));
    for name in [
        "authorization",
        "content-type",
        "x-continuation-token",
        "x-error-format",
    ] {
        if let Some(v) = parts.headers.get(name) {
            out = out.header(name, v.as_bytes());
        }
    }
    let resp = out.body(body.to_vec()).send().await.unwrap();
    let status = StatusCode::from_u16(resp.status().as_u16()).unwrap();
    let content_type = resp
        .headers()
        .get("content-type")
        .map(|v| v.as_bytes().to_vec());
    let bytes = resp.bytes().await.unwrap();
    let mut r = Response::new(Body::from(bytes));
    *r.status_mut() = status;
    if let Some(ct) = content_type {
        r.headers_mut()
            .insert("content-type", HeaderValue::from_bytes(&ct).unwrap());
    }
    r
}

#[derive(Clone)]
struct Proxy {
    http: reqwest::Client,
    upstream: String,
    key_downloads: Arc<AtomicU32>,
    token_posts: Arc<AtomicU32>,
}

#[tokio::test]
async fn unknown_public_key_21470_refetches_keys_and_retries_once() {
    let emu = common::emulator().await;
    let co = common::company();
    let upstream = format!("http://{}", emu.emulator.addr);
    let proxy = Proxy {
        http: ksef_client::http_client_builder().build().unwrap(),
        upstream,
        key_downloads: Arc::new(AtomicU32::new(0)),
        token_posts: Arc::new(AtomicU32::new(0)),
    };
    // The double: the first POST /auth/ksef-token answers 400/21470 (as after an emergency key
    // rotation); everything else goes to the emulator.
    let app = Router::new()
        .fallback(async |State(p): State<Proxy>, req: Request| -> Response {
            let path = req.uri().path().to_owned();
            if path.ends_with("/security/public-key-certificates") {
                p.key_downloads.fetch_add(1, Ordering::SeqCst);
            }
            if path.ends_with("/auth/ksef-token")
                && p.token_posts.fetch_add(1, Ordering::SeqCst) == 0
            {
                return (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"exception": {"exceptionDetailList": [{
                        "exceptionCode": 21470,
                        "exceptionDescription": "Nieprawidłowy identyfikator klucza publicznego.",
                        "details": ["publicKeyId"]}],
                        "referenceNumber": null, "serviceCode": "x", "serviceCtx": "srvABCDA",
                        "serviceName": "Undefined", "timestamp": "2025-10-11T12:23:56.0154302"}})),
                )
                    .into_response();
            }
            forward(&p.http, &p.upstream, req).await
        })
        .with_state(proxy.clone());
    let client = KsefClient::new(&serve(app).await).unwrap();

    let owner = client
        .login_with_credential(
            &co.seal,
            &co.context,
            SubjectIdentifierType::CertificateSubject,
        )
        .await
        .unwrap();
    let access = owner.access_token.expose_secret();
    let generated = client
        .generate_token(
            access,
            &[TokenPermission::InvoiceRead],
            "Token rotacji kluczy",
        )
        .await
        .unwrap();
    client
        .wait_token_active(access, &generated.reference_number, Duration::from_secs(20))
        .await
        .unwrap();

    let session = client
        .login_with_ksef_token(generated.token.expose_secret(), &co.context)
        .await
        .expect("token login succeeds after one 21470");
    assert!(session.is_token_session());
    assert_eq!(proxy.token_posts.load(Ordering::SeqCst), 2);
    assert_eq!(proxy.key_downloads.load(Ordering::SeqCst), 2);

    // The refetched keys are cached: the next login downloads nothing and posts once.
    let again = client
        .login_with_ksef_token(generated.token.expose_secret(), &co.context)
        .await
        .unwrap();
    assert!(again.is_token_session());
    assert_eq!(proxy.token_posts.load(Ordering::SeqCst), 3);
    assert_eq!(proxy.key_downloads.load(Ordering::SeqCst), 2);
}

/// A streamed UPO download is hash-checked against `x-ms-meta-hash` like a buffered one, a 429
/// before it is retried per `Retry-After`, and an error answer becomes `KsefError::Api`. A test
/// double serves the document (the emulator's hashes are always right).
#[tokio::test]
async fn streamed_downloads_are_hash_checked_and_retried() {
    let doc = "<Potwierdzenie>…</Potwierdzenie>".repeat(2000);
    let good = ksef_crypto::envelope::sha256_base64(doc.as_bytes());
    let calls = Arc::new(AtomicU32::new(0));
    let state = (doc.clone(), good.clone(), calls.clone());
    let app = Router::new()
        .fallback(
            async |State((doc, good, calls)): State<(String, String, Arc<AtomicU32>)>,
                   req: Request|
                   -> Response {
                let path = req.uri().path().to_owned();
                if path.ends_with("/upo/UPO-GOOD") {
                    // The first call is throttled.
                    if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                        let mut r = (
                            StatusCode::TOO_MANY_REQUESTS,
                            axum::Json(json!({"status": {"code": 429,
                                "description": "Too Many Requests", "details": []}})),
                        )
                            .into_response();
                        r.headers_mut()
                            .insert("retry-after", HeaderValue::from_static("1"));
                        return r;
                    }
                    let mut r = Response::new(Body::from(doc));
                    r.headers_mut()
                        .insert("x-ms-meta-hash", HeaderValue::from_str(&good).unwrap());
                    return r;
                }
                if path.ends_with("/upo/UPO-BAD") {
                    let mut r = Response::new(Body::from(doc));
                    r.headers_mut().insert(
                        "x-ms-meta-hash",
                        HeaderValue::from_static("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="),
                    );
                    return r;
                }
                (
                    StatusCode::BAD_REQUEST,
                    axum::Json(json!({"exception": {"exceptionDetailList": [{
                        "exceptionCode": 21405, "exceptionDescription": "Błąd walidacji danych wejściowych.",
                        "details": ["upoReferenceNumber"]}],
                        "referenceNumber": null, "serviceCode": "x", "serviceCtx": "srvABCDA",
                        "serviceName": "Undefined", "timestamp": "2025-10-11T12:23:56.0154302"}})),
                )
                    .into_response()
            },
        )
        .with_state(state);
    let client = KsefClient::new(&serve(app).await).unwrap();

    let mut out = Vec::new();
    let started = Instant::now();
    let n = client
        .session_upo_to(
            "token",
            "20250625-SO-2C3E6C8000-B675CF5D68-07",
            "UPO-GOOD",
            &mut out,
        )
        .await
        .unwrap();
    assert!(
        started.elapsed() >= Duration::from_millis(900),
        "Retry-After was honoured"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
    assert_eq!(n as usize, doc.len());
    assert_eq!(out, doc.as_bytes());

    let mut out = Vec::new();
    let e = client
        .session_upo_to(
            "token",
            "20250625-SO-2C3E6C8000-B675CF5D68-07",
            "UPO-BAD",
            &mut out,
        )
        .await
        .unwrap_err();
    assert!(
        matches!(&e, KsefError::Decode { message, .. } if message.contains("x-ms-meta-hash")),
        "{e:?}"
    );

    let mut out = Vec::new();
    let e = client
        .session_upo_to(
            "token",
            "20250625-SO-2C3E6C8000-B675CF5D68-07",
            "UPO-NONE",
            &mut out,
        )
        .await
        .unwrap_err();
    assert_eq!(api(&e).1, Some(21405));
    assert!(out.is_empty());
}
