//! Self-signed test certificates made by the program (`ksef cert new`, the web app's "test
//! certificate for a NIP"): the PKCS#12 opens with its password only, and the local emulator
//! (TEST behaviour) accepts it for a login as the owner of the NIP, over real HTTP.

use std::net::SocketAddr;
use std::time::Duration;

use ksef_client::Environment;
use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::identity::inspect_certificate;
use ksef_program::auth::{credential_from_bytes, login_with_certificate};
use ksef_program::certificates::{
    TestCertificateRequest, accepts_test_certificates, new_test_credential,
    test_certificate_for_nip,
};
use ksef_program::{App, Settings};

async fn emulator(dir: &std::path::Path) -> ksef_emulator::RunningEmulator {
    let mut config = ksef_emulator::EmulatorConfig::new(dir.join("emulator"));
    config.auth_processing_delay = Duration::from_millis(20);
    ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .expect("emulator")
}

fn app(base_url: String, dir: &std::path::Path) -> App {
    App::new(Settings {
        base_url,
        data_dir: dir.join("program"),
        json: false,
    })
    .expect("app")
    .with_session_in_memory()
}

#[tokio::test]
async fn test_certificate_for_a_nip_logs_in_to_the_emulator_as_owner() {
    let dir = tempfile::tempdir().unwrap();
    let emu = emulator(dir.path()).await;
    let nip = Nip::random();
    let password = "hasło do certyfikatu";
    let made = test_certificate_for_nip(&nip, password).unwrap();
    assert!(!format!("{made:?}").contains(password));

    // Only the password opens it.
    let wrong = credential_from_bytes(&made.pkcs12, None, "inne hasło").unwrap_err();
    assert!(
        wrong.to_string().to_lowercase().contains("password"),
        "{wrong}"
    );
    let cred = credential_from_bytes(&made.pkcs12, None, password).unwrap();
    assert_eq!(cred.fingerprint(), made.fingerprint);
    let info = inspect_certificate(&cred.certificate_der).unwrap();
    assert_eq!(info.nip.as_ref(), Some(&nip));
    assert!(info.is_self_signed);
    assert_eq!(
        info.subject_serial_number.as_deref(),
        Some(format!("TINPL-{}", nip.as_str()).as_str())
    );

    // The emulator accepts it: a login as the owner of the NIP.
    let mut a = app(emu.base_url(), dir.path());
    let s = login_with_certificate(&mut a, ContextIdentifier::Nip(nip.clone()), &cred, false)
        .await
        .unwrap();
    assert_eq!(s.session.context, ContextIdentifier::Nip(nip.clone()));
    assert_eq!(
        s.subject.as_deref(),
        Some(format!("Nip:{}", nip.as_str()).as_str())
    );
    let perms = s.permissions.clone().unwrap_or_default();
    assert!(perms.iter().any(|p| p == "CredentialsManage"), "{perms:?}");
    // The session works (the API answers with it).
    let sessions = a
        .client
        .auth_sessions(s.session.access_token.expose_secret(), None)
        .await
        .unwrap();
    assert!(sessions.items.iter().any(|i| i.is_current));

    // It makes its holder the owner of that NIP only: another NIP's context is refused (415).
    let other = Nip::random();
    let Err(err) =
        login_with_certificate(&mut a, ContextIdentifier::Nip(other), &cred, false).await
    else {
        panic!("logged in to a NIP the certificate does not own");
    };
    assert!(err.to_string().contains("415"), "{err}");
    emu.shutdown().await;
}

#[test]
fn test_certificate_requests_are_checked() {
    let nip = Nip::random();
    let mut req = TestCertificateRequest::person_nip(&nip);
    req.key_algorithm = KeyAlgorithm::EcP256;
    let cred = new_test_credential(&req).unwrap();
    let info = inspect_certificate(&cred.certificate_der).unwrap();
    assert_eq!(info.given_name.as_deref(), Some("Jan"));
    assert_eq!(info.surname.as_deref(), Some("Testowy"));

    let seal = TestCertificateRequest {
        seal: true,
        ..TestCertificateRequest::person_nip(&nip)
    };
    let info = inspect_certificate(&new_test_credential(&seal).unwrap().certificate_der).unwrap();
    assert_eq!(
        info.organization_name.as_deref(),
        Some("Firma Testowa Sp. z o.o.")
    );
    assert_eq!(info.nip.as_ref(), Some(&nip));

    let fails = |req: TestCertificateRequest, needle: &str| {
        let err = new_test_credential(&req).unwrap_err().to_string();
        assert!(err.contains(needle), "expected {needle:?} in {err}");
    };
    fails(
        TestCertificateRequest {
            nip: Some("1234567890".into()),
            ..TestCertificateRequest::person_nip(&nip)
        },
        "NIP \"1234567890\"",
    );
    fails(
        TestCertificateRequest {
            nip: None,
            pesel: Some("44051401358".into()),
            ..TestCertificateRequest::person_nip(&nip)
        },
        "PESEL \"44051401358\"",
    );
    fails(
        TestCertificateRequest {
            nip: None,
            pesel: Some("44051401359".into()),
            seal: true,
            ..TestCertificateRequest::person_nip(&nip)
        },
        "a seal needs a NIP",
    );
    fails(
        TestCertificateRequest {
            pesel: Some("44051401359".into()),
            ..TestCertificateRequest::person_nip(&nip)
        },
        "not both",
    );
    fails(
        TestCertificateRequest {
            nip: None,
            ..TestCertificateRequest::person_nip(&nip)
        },
        "give a NIP or a PESEL",
    );
    fails(
        TestCertificateRequest {
            surname: " ".into(),
            ..TestCertificateRequest::person_nip(&nip)
        },
        "surname",
    );

    assert!(accepts_test_certificates(Environment::Local));
    assert!(accepts_test_certificates(Environment::Test));
    assert!(!accepts_test_certificates(Environment::Demo));
    assert!(!accepts_test_certificates(Environment::Prod));
}
