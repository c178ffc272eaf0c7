//! Shared setup of the emulator's HTTP tests: an in-process emulator on 127.0.0.1:0 with a temp
//! data dir and short asynchronous delays, and a person certificate for a NIP.

use std::net::SocketAddr;
use std::time::Duration;

use ksef_core::Nip;
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
