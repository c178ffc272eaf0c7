//! `ksef-testkit` — test support for end-to-end tests of the emulator.
//!
//! [`RawClient`] talks to a KSeF API over HTTP with plain `serde_json::Value`s, on purpose not
//! with the shared wire types: it reads responses the way a third-party client does (by the
//! documented field names), so a wire-type mistake shared by our client and emulator cannot hide.
//! Every answer it receives to an API operation is checked against the official OpenAPI
//! ([`mod@openapi`]). Helpers build and sign real `AuthTokenRequest` documents and RSA-OAEP-encrypt
//! KSeF tokens; [`cli`] drives the `ksef` binary; [`invoices`] fills the official invoice
//! templates; [`spec_dir`] is the vendored official files.

pub mod cli;
pub mod invoices;
pub mod openapi;

use std::path::PathBuf;

/// The official machine-readable files vendored unchanged into this repository (`spec/` at its
/// root: the OpenAPI, invoice templates, UPO samples, auth examples; see `spec/SOURCES.md`,
/// hash-checked against `spec/SHA256SUMS` by this crate's tests). A clone needs nothing outside it.
pub fn spec_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../spec")
}

/// The official `open-api.json` (API 2.6.0), parsed. Panics with the path if it is missing.
pub fn openapi() -> Value {
    let path = spec_dir().join("ksef-docs/open-api.json");
    let bytes =
        std::fs::read(&path).unwrap_or_else(|e| panic!("cannot read {}: {e}", path.display()));
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("{} is not JSON: {e}", path.display()))
}

use std::time::{Duration, Instant};

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::ContextIdentifier;
use ksef_crypto::Credential;
use ksef_xades::auth_request::{AuthNamespace, AuthTokenRequest, SubjectIdentifierType};
use ksef_xades::signature::{SignOptions, sign_enveloped};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

/// An HTTP answer: status and JSON body (`Value::Null` when empty or not JSON).
#[derive(Debug, Clone)]
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
    pub content_type: String,
}

impl Answer {
    /// The first `exceptionCode` of a legacy 400 body.
    pub fn exception_code(&self) -> Option<i64> {
        self.body["exception"]["exceptionDetailList"][0]["exceptionCode"].as_i64()
    }
    /// The `reasonCode` of a 403 Problem Details body.
    pub fn reason_code(&self) -> Option<&str> {
        self.body["reasonCode"].as_str()
    }
}

/// Tokens of a redeemed authentication.
#[derive(Debug, Clone)]
pub struct Session {
    pub reference_number: String,
    pub access_token: String,
    pub refresh_token: String,
}

/// A raw JSON client of one KSeF base URL (ending in `/v2`).
#[derive(Clone)]
pub struct RawClient {
    http: reqwest::Client,
    base: String,
}

impl RawClient {
    pub fn new(base_url: &str) -> Self {
        Self {
            http: http_client(),
            base: base_url.trim_end_matches('/').to_string(),
        }
    }

    pub fn base_url(&self) -> &str {
        &self.base
    }

    /// Sends a request; `body` as JSON if given. Panics only on transport errors (tests).
    pub async fn call(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<Value>,
    ) -> Answer {
        let body = body.map(|b| {
            let bytes = serde_json::to_vec(&b).expect("a JSON value serialises");
            ("application/json", bytes)
        });
        self.request(method, path, bearer, body, &[]).await
    }

    /// Sends raw bytes with a content type.
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        content_type: &str,
        body: Vec<u8>,
    ) -> Answer {
        self.request(method, path, None, Some((content_type, body)), &[])
            .await
    }

    /// Reads a response. Every answer to an operation of the official OpenAPI is checked
    /// against it on the way ([`openapi::OpenApi::check`]): a documented status, a documented
    /// content type and a body valid against the schema, formats included. A violation panics,
    /// so every test that uses this client is also a conformance test. The one tolerated
    /// undocumented status is 415 for a request sent without a Content-Type or with one the
    /// operation does not take (ASP.NET's answer, which the real service gives too); a 415 to a
    /// request with a documented Content-Type still fails.
    async fn answer(
        &self,
        method: &Method,
        sent_content_type: Option<String>,
        resp: reqwest::Response,
    ) -> Answer {
        let status = resp.status();
        let url_path = resp.url().path().to_string();
        let content_type = resp
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string();
        let bytes = resp.bytes().await.expect("reading body failed");
        self.check_conformance(
            method,
            sent_content_type.as_deref(),
            &url_path,
            status,
            &content_type,
            &bytes,
        );
        let body = serde_json::from_slice(&bytes).unwrap_or(Value::Null);
        Answer {
            status,
            body,
            content_type,
        }
    }

    fn check_conformance(
        &self,
        method: &Method,
        sent_content_type: Option<&str>,
        url_path: &str,
        status: StatusCode,
        content_type: &str,
        body: &[u8],
    ) {
        let base_path = reqwest::Url::parse(&self.base)
            .map(|u| u.path().trim_end_matches('/').to_string())
            .unwrap_or_default();
        let Some(path) = url_path.strip_prefix(&base_path) else {
            return; // not an API path (pre-signed links, the signing page)
        };
        let api = openapi::OpenApi::get();
        let Some(op) = api.operation_for(method.as_str(), path) else {
            return; // not an operation of the API: the emulator's own 404/405 answers
        };
        if status == StatusCode::UNSUPPORTED_MEDIA_TYPE
            && !sent_content_type.is_some_and(|c| api.accepts_request_media_type(op, c))
        {
            return;
        }
        let content_type = (!content_type.is_empty()).then_some(content_type);
        if let Err(v) = api.check(op, status.as_u16(), content_type, body) {
            panic!(
                "OpenAPI violation: {method} {url_path} → {status}: {v}\nbody: {}",
                String::from_utf8_lossy(&body[..body.len().min(2000)])
            );
        }
        openapi::record(op, status.as_u16());
    }

    /// Sends anything: optional bearer, raw body with a content type, extra headers.
    pub async fn request(
        &self,
        method: Method,
        path: &str,
        bearer: Option<&str>,
        body: Option<(&str, Vec<u8>)>,
        headers: &[(&str, &str)],
    ) -> Answer {
        let mut req = self
            .http
            .request(method.clone(), format!("{}{}", self.base, path));
        if let Some(b) = bearer {
            req = req.bearer_auth(b);
        }
        let sent_content_type = body.as_ref().map(|(c, _)| c.to_string()).or_else(|| {
            headers
                .iter()
                .find(|(n, _)| n.eq_ignore_ascii_case("content-type"))
                .map(|(_, v)| v.to_string())
        });
        if let Some((content_type, bytes)) = body {
            req = req.header("content-type", content_type).body(bytes);
        }
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        self.answer(
            &method,
            sent_content_type,
            req.send().await.expect("HTTP request failed"),
        )
        .await
    }

    pub async fn get(&self, path: &str, bearer: &str) -> Answer {
        self.call(Method::GET, path, Some(bearer), None).await
    }

    pub async fn post(&self, path: &str, bearer: Option<&str>, body: Value) -> Answer {
        self.call(Method::POST, path, bearer, Some(body)).await
    }

    pub async fn delete(&self, path: &str, bearer: &str) -> Answer {
        self.call(Method::DELETE, path, Some(bearer), None).await
    }

    /// `POST /auth/token/refresh` with a refresh token.
    pub async fn refresh(&self, refresh_token: &str) -> Answer {
        self.call(
            Method::POST,
            "/auth/token/refresh",
            Some(refresh_token),
            None,
        )
        .await
    }

    /// `POST /auth/challenge` → (challenge, timestampMs).
    pub async fn challenge(&self) -> (String, i64) {
        let a = self.call(Method::POST, "/auth/challenge", None, None).await;
        assert_eq!(a.status, StatusCode::OK, "challenge: {:?}", a.body);
        let c = a.body["challenge"].as_str().expect("challenge").to_string();
        let ts = a.body["timestampMs"].as_i64().expect("timestampMs");
        (c, ts)
    }

    /// A signed `AuthTokenRequest` for a fresh challenge.
    pub async fn signed_request(
        &self,
        credential: &Credential,
        context: &ContextIdentifier,
        subject: SubjectIdentifierType,
    ) -> String {
        let (challenge, _) = self.challenge().await;
        sign_request(&challenge, credential, context, subject)
    }

    /// `POST /auth/xades-signature?verifyCertificateChain=false`.
    pub async fn post_xades(&self, signed: &[u8]) -> Answer {
        self.send_raw(
            Method::POST,
            "/auth/xades-signature?verifyCertificateChain=false",
            "application/xml",
            signed.to_vec(),
        )
        .await
    }

    /// Polls `GET /auth/{ref}` until the status is not 100; returns the final body.
    pub async fn wait_auth(&self, reference: &str, authentication_token: &str) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let a = self
                .get(&format!("/auth/{reference}"), authentication_token)
                .await;
            assert_eq!(a.status, StatusCode::OK, "auth status: {:?}", a.body);
            if a.body["status"]["code"].as_i64() != Some(100) {
                return a.body;
            }
            assert!(
                Instant::now() < deadline,
                "authentication still in progress after 20 s"
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Completes an auth init answer (202) → waits → redeems. `Err` carries the final status body.
    pub async fn finish_login(&self, init: &Answer) -> Result<Session, Value> {
        assert_eq!(
            init.status,
            StatusCode::ACCEPTED,
            "auth init: {:?}",
            init.body
        );
        let reference = init.body["referenceNumber"]
            .as_str()
            .expect("referenceNumber")
            .to_string();
        let auth_token = init.body["authenticationToken"]["token"]
            .as_str()
            .expect("authenticationToken")
            .to_string();
        let status = self.wait_auth(&reference, &auth_token).await;
        if status["status"]["code"].as_i64() != Some(200) {
            return Err(status);
        }
        let r = self
            .call(Method::POST, "/auth/token/redeem", Some(&auth_token), None)
            .await;
        assert_eq!(r.status, StatusCode::OK, "redeem: {:?}", r.body);
        Ok(Session {
            reference_number: reference,
            access_token: r.body["accessToken"]["token"]
                .as_str()
                .expect("accessToken")
                .to_string(),
            refresh_token: r.body["refreshToken"]["token"]
                .as_str()
                .expect("refreshToken")
                .to_string(),
        })
    }

    /// XAdES login with a certificate (subject from the certificate).
    pub async fn login_with_certificate(
        &self,
        credential: &Credential,
        context: &ContextIdentifier,
    ) -> Result<Session, Value> {
        let signed = self
            .signed_request(
                credential,
                context,
                SubjectIdentifierType::CertificateSubject,
            )
            .await;
        let init = self.post_xades(signed.as_bytes()).await;
        self.finish_login(&init).await
    }

    /// The certificate of the key with the given usage from `/security/public-key-certificates`.
    pub async fn public_key(&self, usage: &str) -> (Vec<u8>, String) {
        let a = self
            .call(Method::GET, "/security/public-key-certificates", None, None)
            .await;
        assert_eq!(a.status, StatusCode::OK);
        let list = a.body.as_array().expect("array of certificates");
        let cert = list
            .iter()
            .find(|c| {
                c["usage"]
                    .as_array()
                    .is_some_and(|u| u.iter().any(|x| x == usage))
            })
            .expect("a certificate with the usage");
        let der = STANDARD
            .decode(cert["certificate"].as_str().expect("certificate"))
            .expect("base64");
        (
            der,
            cert["publicKeyId"].as_str().unwrap_or_default().to_string(),
        )
    }

    /// The `encryption` object of session opens and exports (`EncryptionInfo`): `key` wrapped
    /// with RSA-OAEP for the API's `SymmetricKeyEncryption` certificate, `iv`, the key's id.
    pub async fn encryption(&self, key: &[u8; 32], iv: &[u8; 16]) -> Value {
        let (cert, key_id) = self.public_key("SymmetricKeyEncryption").await;
        let wrapped = ksef_crypto::envelope::rsa_oaep_sha256_encrypt_for_certificate(&cert, key)
            .expect("wrap the symmetric key");
        json!({
            "encryptedSymmetricKey": STANDARD.encode(wrapped),
            "initializationVector": STANDARD.encode(iv),
            "publicKeyId": key_id,
        })
    }

    /// `POST /auth/ksef-token` for a fresh challenge.
    pub async fn post_ksef_token(&self, token: &str, context: &ContextIdentifier) -> Answer {
        let (challenge, ts) = self.challenge().await;
        let (cert, key_id) = self.public_key("KsefTokenEncryption").await;
        let plain = format!("{token}|{ts}");
        let enc =
            ksef_crypto::envelope::rsa_oaep_sha256_encrypt_for_certificate(&cert, plain.as_bytes())
                .expect("encrypt token");
        self.post(
            "/auth/ksef-token",
            None,
            json!({
                "challenge": challenge,
                "contextIdentifier": {"type": context.kind().as_str(), "value": context.value()},
                "encryptedToken": STANDARD.encode(enc),
                "publicKeyId": key_id,
            }),
        )
        .await
    }

    /// Login with a KSeF token.
    pub async fn login_with_token(
        &self,
        token: &str,
        context: &ContextIdentifier,
    ) -> Result<Session, Value> {
        let init = self.post_ksef_token(token, context).await;
        self.finish_login(&init).await
    }

    /// `POST /tokens` then polls `GET /tokens/{ref}` until Active. Returns (reference, token).
    pub async fn generate_active_token(
        &self,
        access: &str,
        permissions: &[&str],
        description: &str,
    ) -> (String, String) {
        let a = self
            .post(
                "/tokens",
                Some(access),
                json!({"permissions": permissions, "description": description}),
            )
            .await;
        assert_eq!(a.status, StatusCode::ACCEPTED, "POST /tokens: {:?}", a.body);
        let reference = a.body["referenceNumber"]
            .as_str()
            .expect("referenceNumber")
            .to_string();
        let token = a.body["token"].as_str().expect("token").to_string();
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let s = self.get(&format!("/tokens/{reference}"), access).await;
            assert_eq!(
                s.status,
                StatusCode::OK,
                "GET /tokens/{reference}: {:?}",
                s.body
            );
            match s.body["status"].as_str() {
                Some("Active") => return (reference, token),
                Some("Pending") => {}
                other => panic!("token became {other:?}"),
            }
            assert!(Instant::now() < deadline, "token still Pending after 20 s");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

/// Builds and signs an `AuthTokenRequest` (namespace 2.0, like most clients).
pub fn sign_request(
    challenge: &str,
    credential: &Credential,
    context: &ContextIdentifier,
    subject: SubjectIdentifierType,
) -> String {
    let xml =
        AuthTokenRequest::new(challenge, context.clone(), subject).to_xml(AuthNamespace::V2_0);
    sign_enveloped(&xml, credential, &SignOptions::default()).expect("signing")
}

/// A `ksef emulator` child process on a random loopback port with its own temp data dir; killed
/// on drop.
pub struct EmulatorProcess {
    child: std::process::Child,
    pub base_url: String,
    log_path: std::path::PathBuf,
    _dir: Option<tempfile::TempDir>,
}

impl EmulatorProcess {
    /// Starts `<ksef_bin> emulator --port 0 --data <tmp> <extra…>` and waits for its
    /// "listening on" line.
    pub fn start(ksef_bin: &str, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().expect("temp dir");
        let mut emulator = Self::start_in(ksef_bin, dir.path(), extra);
        emulator._dir = Some(dir);
        emulator
    }

    /// Like [`EmulatorProcess::start`] with a data directory the caller owns (it outlives the
    /// process, e.g. to restart an emulator on the same state after a `kill -9`). The log is
    /// appended to `<data_dir>/emulator.log`.
    pub fn start_in(ksef_bin: &str, data_dir: &std::path::Path, extra: &[&str]) -> Self {
        Self::start_on_port(ksef_bin, data_dir, 0, extra)
    }

    /// [`EmulatorProcess::start_in`] on a given port (0 = any free one), e.g. when the links
    /// it hands out must name a public address known in advance (`--public-base-url`).
    pub fn start_on_port(
        ksef_bin: &str,
        data_dir: &std::path::Path,
        port: u16,
        extra: &[&str],
    ) -> Self {
        let log_path = data_dir.join("emulator.log");
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .expect("log file");
        let mut child = std::process::Command::new(ksef_bin)
            .args(["emulator", "--port", &port.to_string(), "--data"])
            .arg(data_dir)
            .args(extra)
            .stdout(std::process::Stdio::piped())
            .stderr(log)
            .spawn()
            .expect("start ksef emulator");
        let line = first_line(&mut child);
        let base_url = line
            .trim()
            .strip_prefix("KSeF emulator listening on ")
            .unwrap_or_else(|| panic!("unexpected first line: {line:?}"))
            .to_string();
        EmulatorProcess {
            child,
            base_url,
            log_path,
            _dir: None,
        }
    }

    /// Everything the emulator logged (its stderr) so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The process id (e.g. to read its peak memory from `/proc/<pid>/status`).
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Stops the process (like `kill -9`).
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for EmulatorProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Reads a child's first stdout line, then keeps draining stdout on a thread so the child never
/// A plain HTTP client for tests (through `ksef_client::http_client_builder`, which installs
/// the TLS provider that every `reqwest::Client` of this workspace needs).
pub fn http_client() -> reqwest::Client {
    http_client_builder().build().expect("HTTP client")
}

/// A `reqwest::ClientBuilder` for tests that configure their client (redirects, timeouts…).
pub fn http_client_builder() -> reqwest::ClientBuilder {
    ksef_client::http_client_builder()
}

/// blocks or dies on a full or closed pipe.
pub fn first_line(child: &mut std::process::Child) -> String {
    use std::io::BufRead;
    let mut reader = std::io::BufReader::new(child.stdout.take().expect("stdout"));
    let mut line = String::new();
    reader.read_line(&mut line).expect("read first line");
    std::thread::spawn(move || std::io::copy(&mut reader, &mut std::io::sink()));
    line
}
