//! Shared setup of the emulator's HTTP tests: an in-process emulator on 127.0.0.1:0 with a temp
//! data dir and short asynchronous delays, and a person certificate for a NIP.

use std::net::SocketAddr;
use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_emulator::{EmulatorConfig, RunningEmulator};
use ksef_testkit::RawClient;

/// Starts an emulator (auth status 100 and token Pending for 50 ms each), after `tweak`.
pub async fn start(
    tweak: impl FnOnce(&mut EmulatorConfig),
) -> (RunningEmulator, RawClient, tempfile::TempDir) {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.auth_processing_delay = Duration::from_millis(50);
    config.token_activation_delay = Duration::from_millis(50);
    tweak(&mut config);
    let emu = ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let client = RawClient::new(&emu.base_url());
    (emu, client, dir)
}

/// A self-signed EC person certificate carrying `TINPL-<nip>` (the owner of context `nip`).
#[allow(dead_code)]
pub fn person_cert(nip: &Nip) -> ksef_crypto::Credential {
    make_test_certificate(
        &TestSubject::person_nip(nip.clone(), "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
    )
    .unwrap()
}

/// A running emulator, a raw client and the access token of the owner of `nip` (the setup of
/// the `sessions_*` and `retrieval_*` tests).
#[allow(dead_code)]
pub struct Env {
    pub emu: RunningEmulator,
    pub client: RawClient,
    pub dir: tempfile::TempDir,
    pub nip: Nip,
    pub access: String,
}

#[allow(dead_code)]
impl Env {
    pub fn pool(&self) -> &sqlx::SqlitePool {
        self.emu.state.pool()
    }
}

/// Starts an emulator (after `tweak`) and logs in as the owner of a fresh NIP.
#[allow(dead_code)]
pub async fn start_with_owner(tweak: impl FnOnce(&mut EmulatorConfig)) -> Env {
    let (emu, client, dir) = start(tweak).await;
    let nip = Nip::random();
    let access = owner_login(&client, &nip).await;
    Env {
        emu,
        client,
        dir,
        nip,
        access,
    }
}

/// Access token of the owner of `nip` (company seal carrying the NIP).
#[allow(dead_code)]
pub async fn owner_login(client: &RawClient, nip: &Nip) -> String {
    let cert = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Firma Testowa Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    client
        .login_with_certificate(&cert, &ContextIdentifier::Nip(nip.clone()))
        .await
        .expect("owner login")
        .access_token
}

// ------------------------------------------------ permission-management API helpers

use std::time::Instant;

use ksef_testkit::Answer;
use reqwest::StatusCode;
use serde_json::{Value, json};

/// The `referenceNumber` of a 202 answer (36 characters).
#[allow(dead_code)]
pub fn reference(a: &Answer) -> String {
    let r = a.body["referenceNumber"].as_str().expect("referenceNumber");
    assert_eq!(r.len(), 36, "{r}");
    r.to_string()
}

/// Polls the operation until its code is final (≠ 100) and returns it; checks that only 100
/// precedes it.
#[allow(dead_code)]
pub async fn wait_operation(c: &RawClient, access: &str, reference: &str) -> Value {
    let started = Instant::now();
    loop {
        let a = c
            .get(&format!("/permissions/operations/{reference}"), access)
            .await;
        assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
        let code = a.body["status"]["code"].as_i64().expect("status.code");
        assert!(a.body["status"]["description"].is_string(), "{:?}", a.body);
        if code != 100 {
            return a.body["status"].clone();
        }
        assert!(
            started.elapsed() < Duration::from_secs(10),
            "operation still 100 after 10 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[allow(dead_code)]
pub fn items(a: &Answer) -> Vec<Value> {
    assert_eq!(a.status, StatusCode::OK, "{:?}", a.body);
    assert!(a.body["hasMore"].is_boolean(), "{:?}", a.body);
    a.body["permissions"]
        .as_array()
        .expect("permissions")
        .clone()
}

#[allow(dead_code)]
pub fn assert_missing_permissions(a: &Answer, required: &[&str]) {
    assert_eq!(a.status, StatusCode::FORBIDDEN, "{:?}", a.body);
    assert_eq!(a.reason_code(), Some("missing-permissions"), "{:?}", a.body);
    assert_eq!(
        a.body["security"]["requiredAnyOfPermissions"],
        json!(required),
        "{:?}",
        a.body
    );
}

#[allow(dead_code)]
pub fn assert_400(a: &Answer, what: &str) {
    assert_eq!(a.status, StatusCode::BAD_REQUEST, "{what}: {:?}", a.body);
    assert_eq!(a.exception_code(), Some(21405), "{what}: {:?}", a.body);
}

/// Logs in with a personal certificate carrying `PNOPL-<pesel>` into `ctx`.
#[allow(dead_code)]
pub async fn pesel_login(
    c: &RawClient,
    pesel: &ksef_core::Pesel,
    ctx: &ContextIdentifier,
) -> Result<ksef_testkit::Session, Value> {
    let cert = make_test_certificate(
        &TestSubject::person_pesel(pesel.clone(), "Adam", "Abacki"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    c.login_with_certificate(&cert, ctx).await
}
