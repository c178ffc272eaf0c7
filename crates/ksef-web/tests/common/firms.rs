//! Other firms on the emulator: a new firm's owner certificate, and a firm issuing FA(3)
//! invoices through the program's own workflow (`ksef-program`), as another company's program
//! would.

use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};

/// A firm with a new random NIP and the test certificate of a person identified by it (its
/// owner, `given` `surname`).
pub fn new_firm(given: &str, surname: &str) -> (Nip, Credential) {
    let nip = Nip::random();
    let cred = make_test_certificate(
        &TestSubject::person_nip(nip.clone(), given, surname),
        KeyAlgorithm::EcP256,
    )
    .expect("a test certificate");
    (nip, cred)
}

/// A new firm issues FA(3) invoices numbered `numbers` to `buyer` on the emulator at
/// `emulator`: the seller's NIP and, in the order of `numbers`, each file sent and its KSeF
/// number.
pub async fn issue_invoices_from_new_firm(
    emulator: &str,
    buyer: &Nip,
    numbers: &[&str],
) -> (Nip, Vec<(Vec<u8>, String)>) {
    let (seller, cred) = new_firm("Sprzedawca", "Testowy");
    let sent = issue_invoices(emulator, &seller, &cred, buyer, numbers).await;
    (seller, sent)
}

/// `seller` (certificate login with `cred` through the program) issues FA(3) invoices numbered
/// `numbers` to `buyer` on the emulator at `emulator`: each file sent and its KSeF number, in
/// the order of `numbers`.
pub async fn issue_invoices(
    emulator: &str,
    seller: &Nip,
    cred: &Credential,
    buyer: &Nip,
    numbers: &[&str],
) -> Vec<(Vec<u8>, String)> {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = ksef_program::Settings {
        base_url: emulator.to_string(),
        data_dir: dir.path().join("seller"),
        json: false,
    };
    let mut app = ksef_program::App::new(settings).expect("the seller's program");
    ksef_program::auth::login_with_certificate(
        &mut app,
        ContextIdentifier::Nip(seller.clone()),
        cred,
        false,
    )
    .await
    .expect("the seller's certificate login");
    let files = dir.path().join("files");
    std::fs::create_dir_all(&files).expect("files dir");
    let mut sent = Vec::new();
    for n in numbers {
        let xml = String::from_utf8(ksef_testkit::invoices::fa3(seller.as_str(), n))
            .expect("a UTF-8 invoice")
            .replace(
                "<NIP>1111111111</NIP>",
                &format!("<NIP>{}</NIP>", buyer.as_str()),
            )
            .into_bytes();
        let path = files.join(format!("{n}.xml"));
        std::fs::write(&path, &xml).expect("write an invoice");
        sent.push((path, xml));
    }
    let mut outcomes = Vec::new();
    let totals = ksef_program::invoices::send(
        &mut app,
        ksef_program::invoices::SendRequest::new(vec![files]),
        &mut |e| {
            if let ksef_program::invoices::SendEvent::Outcome(o) = e {
                outcomes.push(o);
            }
        },
    )
    .await
    .expect("the seller sends the invoices");
    assert_eq!(totals.accepted, numbers.len(), "{outcomes:?}");
    sent.into_iter()
        .map(|(path, xml)| {
            let o = outcomes
                .iter()
                .find(|o| o.file.file_name() == path.file_name())
                .unwrap_or_else(|| panic!("no outcome for {}", path.display()));
            (xml, o.ksef_number.clone().expect("a KSeF number"))
        })
        .collect()
}

/// The owner of `nip` (certificate login with `cred` through the program) enrolls a KSeF
/// certificate of `kind` (`Offline` or `Authentication`) on the emulator at `emulator`: the
/// PKCS#12 file's bytes, protected with `password`.
pub async fn ksef_certificate(
    emulator: &str,
    nip: &Nip,
    cred: &Credential,
    kind: &str,
    password: &str,
) -> Vec<u8> {
    let dir = tempfile::tempdir().expect("temp dir");
    let settings = ksef_program::Settings {
        base_url: emulator.to_string(),
        data_dir: dir.path().join("owner"),
        json: false,
    };
    let mut app = ksef_program::App::new(settings).expect("the owner's program");
    ksef_program::auth::login_with_certificate(
        &mut app,
        ContextIdentifier::Nip(nip.clone()),
        cred,
        false,
    )
    .await
    .expect("the owner's certificate login");
    let path = dir.path().join("ksef.p12");
    ksef_program::certificates::enroll(
        &mut app,
        ksef_program::certificates::EnrollRequest {
            name: format!("Certyfikat {kind}"),
            certificate_type: ksef_program::certificates::parse_certificate_type(kind)
                .expect("a certificate type"),
            key_algorithm: KeyAlgorithm::EcP256,
            output: ksef_program::certificates::Output::Pkcs12 {
                path: path.clone(),
                password: ksef_crypto::Zeroizing::new(password.to_string()),
            },
        },
    )
    .await
    .expect("the certificate is issued");
    std::fs::read(&path).expect("the PKCS#12 file")
}
