//! Shared setup: an in-process emulator on 127.0.0.1:0 with a temporary data directory, and
//! a test company (NIP) whose seal certificate makes its holder the owner.

#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_emulator::{EmulatorConfig, RunningEmulator};

pub struct Emu {
    pub emulator: RunningEmulator,
    // Kept alive for the emulator's lifetime.
    _dir: tempfile::TempDir,
}

pub async fn emulator() -> Emu {
    let dir = tempfile::tempdir().unwrap();
    let mut config = EmulatorConfig::new(dir.path());
    config.auth_processing_delay = Duration::from_millis(30);
    config.token_activation_delay = Duration::from_millis(150);
    let emulator = ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    Emu {
        emulator,
        _dir: dir,
    }
}

pub struct Company {
    pub nip: Nip,
    pub context: ContextIdentifier,
    pub seal: Credential,
}

pub fn company() -> Company {
    let nip = Nip::random();
    let seal = make_test_certificate(
        &TestSubject::seal(nip.clone(), "Firma Testowa Sp. z o.o."),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    Company {
        context: ContextIdentifier::Nip(nip.clone()),
        nip,
        seal,
    }
}
