//! Shared setup of the `sessions_*` tests: an emulator with a logged-in owner, a client side of
//! online sessions (AES key wrapped for the emulator's `SymmetricKeyEncryption` key, invoices
//! encrypted and declared with their hashes) and of batch sessions (ZIP / tar.gz packages, parts
//! encrypted and uploaded to the pre-signed URLs), plus polling helpers.

#![allow(dead_code)]

use std::io::Write;
use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_crypto::envelope::{aes256_cbc_encrypt, sha256_base64};
use ksef_emulator::{EmulatorConfig, RunningEmulator};
use ksef_testkit::{Answer, RawClient};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

#[path = "../common/mod.rs"]
mod common;

/// Starts an emulator without logging in (e.g. a restart on an existing data directory).
pub async fn start_emulator(
    tweak: impl FnOnce(&mut EmulatorConfig),
) -> (RunningEmulator, RawClient, tempfile::TempDir) {
    common::start(tweak).await
}

#[allow(unused_imports)]
pub use common::{Env, owner_login, pesel_login, start_with_owner as start, wait_operation};

pub const FA3: (&str, &str, &str) = ("FA (3)", "1-0E", "FA");
pub const FA2: (&str, &str, &str) = ("FA (2)", "1-0E", "FA");

pub fn form(f: (&str, &str, &str)) -> Value {
    json!({"systemCode": f.0, "schemaVersion": f.1, "value": f.2})
}

/// A session key and IV, and the `encryption` object wrapping the key for the emulator.
pub struct SessionKey {
    pub key: [u8; 32],
    pub iv: [u8; 16],
    pub encryption: Value,
}

pub async fn session_key(c: &RawClient) -> SessionKey {
    let key = ksef_crypto::envelope::random_aes_key();
    let iv = ksef_crypto::envelope::random_iv();
    SessionKey {
        key,
        iv,
        encryption: c.encryption(&key, &iv).await,
    }
}

/// Opens an online session → (reference, key).
pub async fn open_online(env: &Env, f: (&str, &str, &str)) -> (String, SessionKey) {
    let k = session_key(&env.client).await;
    let a = env
        .client
        .post(
            "/sessions/online",
            Some(&env.access),
            json!({"formCode": form(f), "encryption": k.encryption}),
        )
        .await;
    assert_eq!(a.status, StatusCode::CREATED, "open online: {:?}", a.body);
    (a.body["referenceNumber"].as_str().unwrap().to_string(), k)
}

/// The `SendInvoiceRequest` of `xml` (correctly declared).
pub fn send_body(k: &SessionKey, xml: &[u8]) -> Value {
    let enc = aes256_cbc_encrypt(&k.key, &k.iv, xml);
    json!({
        "invoiceHash": sha256_base64(xml),
        "invoiceSize": xml.len(),
        "encryptedInvoiceHash": sha256_base64(&enc),
        "encryptedInvoiceSize": enc.len(),
        "encryptedInvoiceContent": STANDARD.encode(&enc),
    })
}

/// Sends one invoice; asserts 202 and returns its reference number.
pub async fn send(env: &Env, session: &str, k: &SessionKey, xml: &[u8]) -> String {
    let a = env
        .client
        .post(
            &format!("/sessions/online/{session}/invoices"),
            Some(&env.access),
            send_body(k, xml),
        )
        .await;
    assert_eq!(a.status, StatusCode::ACCEPTED, "send invoice: {:?}", a.body);
    a.body["referenceNumber"].as_str().unwrap().to_string()
}

pub async fn close_online(env: &Env, session: &str) {
    let a = env
        .client
        .call(
            Method::POST,
            &format!("/sessions/online/{session}/close"),
            Some(&env.access),
            None,
        )
        .await;
    assert_eq!(a.status, StatusCode::NO_CONTENT, "close: {:?}", a.body);
}

/// Polls `GET /sessions/{ref}/invoices/{inv}` until the status is final (≥ 200).
pub async fn wait_invoice(env: &Env, session: &str, invoice: &str) -> Value {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let a = env
            .client
            .get(
                &format!("/sessions/{session}/invoices/{invoice}"),
                &env.access,
            )
            .await;
        assert_eq!(a.status, StatusCode::OK, "invoice status: {:?}", a.body);
        if a.body["status"]["code"].as_i64().unwrap_or(0) >= 200 {
            return a.body;
        }
        assert!(
            Instant::now() < deadline,
            "invoice still {:?}",
            a.body["status"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Polls `GET /sessions/{ref}` until the session status is final (≥ 200).
pub async fn wait_session(env: &Env, session: &str) -> Value {
    wait_session_for(env, session, Duration::from_secs(60)).await
}

pub async fn wait_session_for(env: &Env, session: &str, limit: Duration) -> Value {
    let deadline = Instant::now() + limit;
    loop {
        let a = env
            .client
            .get(&format!("/sessions/{session}"), &env.access)
            .await;
        assert_eq!(a.status, StatusCode::OK, "session status: {:?}", a.body);
        if a.body["status"]["code"].as_i64().unwrap_or(0) >= 200 {
            return a.body;
        }
        assert!(
            Instant::now() < deadline,
            "session still {:?}",
            a.body["status"]
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// All invoices of a session (follows the continuation token).
pub async fn all_invoices(env: &Env, session: &str, failed: bool) -> Vec<Value> {
    let mut out = Vec::new();
    let mut token: Option<String> = None;
    let path = if failed {
        format!("/sessions/{session}/invoices/failed?pageSize=1000")
    } else {
        format!("/sessions/{session}/invoices?pageSize=1000")
    };
    loop {
        let mut req = ksef_testkit::http_client()
            .get(format!("{}{path}", env.client.base_url()))
            .bearer_auth(&env.access);
        if let Some(t) = &token {
            req = req.header("x-continuation-token", t);
        }
        let resp = req.send().await.unwrap();
        assert_eq!(resp.status(), StatusCode::OK);
        let body: Value = resp.json().await.unwrap();
        out.extend(body["invoices"].as_array().unwrap().iter().cloned());
        match body["continuationToken"].as_str() {
            Some(t) if !t.is_empty() => token = Some(t.to_string()),
            _ => return out,
        }
    }
}

/// A plain GET without the access token (pre-signed links) → (status, headers, bytes).
pub async fn fetch(url: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = ksef_testkit::http_client().get(url).send().await.unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

/// GET with the access token → (status, headers, bytes).
pub async fn get_bytes(env: &Env, path: &str) -> (StatusCode, reqwest::header::HeaderMap, Vec<u8>) {
    let r = ksef_testkit::http_client()
        .get(format!("{}{path}", env.client.base_url()))
        .bearer_auth(&env.access)
        .send()
        .await
        .unwrap();
    let status = r.status();
    let headers = r.headers().clone();
    (status, headers, r.bytes().await.unwrap().to_vec())
}

// ---------------------------------------------------------------- batch

/// A ZIP of `(name, bytes)` files (deflated).
pub fn zip(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let mut w = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (name, bytes) in files {
        w.start_file(name.as_str(), opts).unwrap();
        w.write_all(bytes).unwrap();
    }
    w.finish().unwrap().into_inner()
}

/// A tar.gz of `(name, bytes)` files.
pub fn tar_gz(files: &[(String, Vec<u8>)]) -> Vec<u8> {
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    let mut tar = tar::Builder::new(gz);
    for (name, bytes) in files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_cksum();
        tar.append_data(&mut h, name, bytes.as_slice()).unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap()
}

/// A prepared package: encrypted parts and the `batchFile` declaration.
pub struct Package {
    pub parts: Vec<Vec<u8>>,
    pub batch_file: Value,
}

/// Splits `archive` into `n` byte ranges, encrypts each with the session key.
pub fn package(archive: &[u8], n: usize, k: &SessionKey, compression: Option<&str>) -> Package {
    let size = archive.len().div_ceil(n).max(1);
    let parts: Vec<Vec<u8>> = archive
        .chunks(size)
        .map(|c| aes256_cbc_encrypt(&k.key, &k.iv, c))
        .collect();
    let file_parts: Vec<Value> = parts
        .iter()
        .enumerate()
        .map(|(i, p)| json!({"ordinalNumber": i + 1, "fileSize": p.len(), "fileHash": sha256_base64(p)}))
        .collect();
    let mut batch_file = json!({
        "fileSize": archive.len(),
        "fileHash": sha256_base64(archive),
        "fileParts": file_parts,
    });
    if let Some(c) = compression {
        batch_file["compressionType"] = json!(c);
    }
    Package { parts, batch_file }
}

/// `POST /sessions/batch` with an explicit `encryption` object.
pub async fn open_batch_raw(
    env: &Env,
    f: (&str, &str, &str),
    batch_file: &Value,
    encryption: &Value,
) -> Answer {
    env.client
        .post(
            "/sessions/batch",
            Some(&env.access),
            json!({"formCode": form(f), "batchFile": batch_file, "encryption": encryption}),
        )
        .await
}

/// Uploads part `i` (0-based) to its pre-signed URL → HTTP status.
pub async fn upload(open: &Value, i: usize, bytes: &[u8]) -> StatusCode {
    let req = &open["partUploadRequests"][i];
    let mut r = ksef_testkit::http_client().put(req["url"].as_str().unwrap());
    for (k, v) in req["headers"].as_object().unwrap() {
        r = r.header(k.as_str(), v.as_str().unwrap());
    }
    r.body(bytes.to_vec()).send().await.unwrap().status()
}

pub async fn close_batch(env: &Env, session: &str) -> Answer {
    env.client
        .call(
            Method::POST,
            &format!("/sessions/batch/{session}/close"),
            Some(&env.access),
            None,
        )
        .await
}

/// Opens a batch session for `archive`, uploads all parts and closes it → session reference.
pub async fn send_batch(
    env: &Env,
    archive: &[u8],
    parts: usize,
    compression: Option<&str>,
) -> String {
    let k = session_key(&env.client).await;
    let p = package(archive, parts, &k, compression);
    let a = open_batch_raw(env, FA3, &p.batch_file, &k.encryption).await;
    assert_eq!(a.status, StatusCode::CREATED, "open batch: {:?}", a.body);
    for (i, part) in p.parts.iter().enumerate() {
        assert_eq!(upload(&a.body, i, part).await, StatusCode::CREATED);
    }
    let session = a.body["referenceNumber"].as_str().unwrap().to_string();
    let c = close_batch(env, &session).await;
    assert_eq!(
        c.status,
        StatusCode::NO_CONTENT,
        "close batch: {:?}",
        c.body
    );
    session
}

/// `n` distinct valid FA(3) invoices of the env's NIP, named `fa-{i}.xml`.
pub fn invoices(env: &Env, prefix: &str, n: usize) -> Vec<(String, Vec<u8>)> {
    (0..n)
        .map(|i| {
            (
                format!("{prefix}-{i:05}.xml"),
                ksef_testkit::invoices::fa3(env.nip.as_str(), &format!("{prefix}-{i}")),
            )
        })
        .collect()
}
