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
