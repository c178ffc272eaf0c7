//! Pre-signed links (batch part uploads, UPO downloads, export parts) point at the address the
//! emulator is bound to — or at `public_base_url` when configured — never at whatever the
//! request's `Host` header claims. Over real HTTP against an in-process emulator.

mod sessions_support;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use sessions_support::*;

const EVIL: &str = "evil.example";

/// A request with `Host: evil.example` and the owner's access token → (status, JSON body).
async fn with_evil_host(env: &Env, method: Method, path: &str, body: Option<Value>) -> Value {
    let mut r = ksef_testkit::http_client()
        .request(method, format!("{}{path}", env.client.base_url()))
        .bearer_auth(&env.access)
        .header("host", EVIL);
    if let Some(b) = body {
        r = r.json(&b);
    }
    let resp = r.send().await.unwrap();
    let status = resp.status();
    let body: Value = resp.json().await.unwrap_or(Value::Null);
    assert!(status.is_success(), "{path}: {status} {body}");
    body
}

/// Opens a batch session of one invoice with `Host: evil.example` → (the answer, the encrypted
/// parts to upload).
async fn open_batch_with_evil_host(env: &Env, prefix: &str) -> (Value, Vec<Vec<u8>>) {
    let files = invoices(env, prefix, 1);
    let k = session_key(&env.client).await;
    let p = package(&zip(&files), 1, &k, None);
    let open = with_evil_host(
        env,
        Method::POST,
        "/sessions/batch",
        Some(json!({"formCode": form(FA3), "batchFile": p.batch_file, "encryption": k.encryption})),
    )
    .await;
    (open, p.parts)
}

fn assert_on(url: &Value, base: &str, what: &str) {
    let url = url.as_str().unwrap_or_else(|| panic!("{what}: no URL"));
    assert!(
        url.starts_with(&format!("{base}/storage/")),
        "{what}: {url} is not on {base}"
    );
}

#[tokio::test]
async fn links_ignore_the_host_header() {
    let env = start(|_| {}).await;
    let bound = format!("http://{}", env.emu.addr);
    assert!(bound.starts_with("http://127.0.0.1:"), "{bound}");

    // Batch part upload URLs.
    let (open, parts) = open_batch_with_evil_host(&env, "HOST").await;
    assert_on(&open["partUploadRequests"][0]["url"], &bound, "part upload");
    assert_eq!(upload(&open, 0, &parts[0]).await, StatusCode::CREATED);
    let session = open["referenceNumber"].as_str().unwrap().to_string();
    assert_eq!(
        close_batch(&env, &session).await.status,
        StatusCode::NO_CONTENT
    );
    let st = wait_session(&env, &session).await;
    assert_eq!(st["status"]["code"], 200, "{st}");

    // Session UPO and invoice UPO download URLs.
    let st = with_evil_host(&env, Method::GET, &format!("/sessions/{session}"), None).await;
    assert_on(&st["upo"]["pages"][0]["downloadUrl"], &bound, "session UPO");
    let list = with_evil_host(
        &env,
        Method::GET,
        &format!("/sessions/{session}/invoices"),
        None,
    )
    .await;
    let invoice = &list["invoices"][0];
    assert_on(&invoice["upoDownloadUrl"], &bound, "invoice UPO (list)");
    let one = with_evil_host(
        &env,
        Method::GET,
        &format!(
            "/sessions/{session}/invoices/{}",
            invoice["referenceNumber"].as_str().unwrap()
        ),
        None,
    )
    .await;
    assert_on(&one["upoDownloadUrl"], &bound, "invoice UPO");
    let (status, _, _) = fetch(one["upoDownloadUrl"].as_str().unwrap()).await;
    assert_eq!(status, StatusCode::OK);

    // Export part URLs.
    let encryption = env.client.encryption(&[7u8; 32], &[9u8; 16]).await;
    let from = time::OffsetDateTime::now_utc() - time::Duration::days(1);
    let from = from
        .format(&time::format_description::well_known::Rfc3339)
        .unwrap();
    let export = env
        .client
        .post(
            "/invoices/exports",
            Some(&env.access),
            json!({"encryption": encryption,
                   "filters": {"subjectType": "Subject1",
                               "dateRange": {"dateType": "Invoicing", "from": from}}}),
        )
        .await;
    assert_eq!(export.status, StatusCode::CREATED, "{:?}", export.body);
    let reference = export.body["referenceNumber"].as_str().unwrap();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
    let st = loop {
        let st = with_evil_host(
            &env,
            Method::GET,
            &format!("/invoices/exports/{reference}"),
            None,
        )
        .await;
        if st["status"]["code"] != 100 {
            break st;
        }
        assert!(std::time::Instant::now() < deadline, "export still 100");
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    };
    assert_eq!(st["status"]["code"], 200, "{st}");
    let parts = st["package"]["parts"].as_array().expect("parts");
    assert!(!parts.is_empty(), "{st}");
    for part in parts {
        assert_on(&part["url"], &bound, "export part");
    }
}

#[tokio::test]
async fn configured_public_base_url_wins() {
    let env = start(|c| c.public_base_url = Some("https://ksef-emu.example:8443/".into())).await;
    let (open, _) = open_batch_with_evil_host(&env, "PUB").await;
    assert_on(
        &open["partUploadRequests"][0]["url"],
        "https://ksef-emu.example:8443",
        "part upload",
    );
}
