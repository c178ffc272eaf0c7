//! What the program-layer tests share: an in-process emulator and a program logged in to it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip};
use ksef_program::auth::login_with_certificate;
use ksef_program::certificates::test_certificate_for_nip;
use ksef_program::{App, Settings};

/// The emulator on 127.0.0.1 (a random port) with its data in `dir/emulator`.
pub async fn emulator(dir: &Path) -> ksef_emulator::RunningEmulator {
    let mut config = ksef_emulator::EmulatorConfig::new(dir.join("emulator"));
    config.auth_processing_delay = Duration::from_millis(20);
    ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator")
}

/// A program on `data_dir` logged in to `base_url` with a test certificate of `nip`'s owner.
pub async fn logged_in(base_url: String, data_dir: PathBuf, nip: &Nip) -> App {
    let mut app = App::new(Settings {
        base_url,
        data_dir,
        json: false,
    })
    .unwrap()
    .with_session_in_memory();
    let made = test_certificate_for_nip(nip, "hasło").unwrap();
    let cred = ksef_program::auth::credential_from_bytes(&made.pkcs12, None, "hasło").unwrap();
    login_with_certificate(&mut app, ContextIdentifier::Nip(nip.clone()), &cred, false)
        .await
        .unwrap();
    app
}
