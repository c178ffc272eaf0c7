//! What the sample-based tests share: the official sample invoices vendored in the repository,
//! their placeholders filled in, and the openssl oracle of KOD I's hash.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::atomic::{AtomicUsize, Ordering};

use ksef_core::ContextIdentifier;
use ksef_core::qr::{CertificateVerificationLink, InvoiceHash, LinkBase};
use ksef_crypto::ca::{IssuedKeyUsage, Validity, issue_for_public_key, make_ca};
use ksef_crypto::testcert::oid;
use ksef_crypto::verification_link::sign_certificate_link;
use ksef_crypto::{Credential, KeyAlgorithm, PrivateKey};

static NEXT: AtomicUsize = AtomicUsize::new(0);

pub const SELLER_NIP: &str = "5265877635";
pub const BUYER_NIP: &str = "7010002137";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Every official sample (FA(2), FA(3) variants, FA_RR(1), PEF), sorted.
pub fn sample_files() -> Vec<PathBuf> {
    let dirs = [
        "spec/ksef-client-csharp/KSeF.Client.Tests.Core/Templates",
        "spec/ksef-client-java/demo-web-app/src/integrationTest/resources/xml/invoices/sample",
    ];
    let mut out = Vec::new();
    for d in dirs {
        let dir = repo_root().join(d);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for e in entries {
            let p = e.expect("dir entry").path();
            if p.extension().is_some_and(|x| x == "xml") {
                out.push(p);
            }
        }
    }
    out.sort();
    out
}

/// The sample with its placeholders filled in.
pub fn load(path: &Path) -> Vec<u8> {
    let text = std::fs::read_to_string(path).expect("sample is UTF-8");
    text.replace("#nip#", SELLER_NIP)
        .replace("#supplier_nip#", SELLER_NIP)
        .replace("#nip_podmiot1#", SELLER_NIP)
        .replace("#selfInvocingNip#", SELLER_NIP)
        .replace("#nip_podmiot2#", BUYER_NIP)
        .replace("#nipOdbiorca#", BUYER_NIP)
        .replace("#nip1_podmiot3#", "9512345675")
        .replace("#nip2_podmiot3#", "1132345673")
        .replace("#idwew1_podmiot3#", "9512345675-00001")
        .replace("#idwew2_podmiot3#", "1132345673-00002")
        .replace("#buyer_nip#", BUYER_NIP)
        .replace("#invoice_number#", "FV/2026/02/0042")
        .replace("#issue_date#", "2026-02-03")
        .replace("#invoicing_date#", "2026-02-03")
        .replace("#due_date#", "2026-02-17")
        .replace("#ksef_number#", "5265877635-20260203-0100A0B1C2D3-4E")
        .replace("#buyer_reference#", "REF-1")
        .replace("#iban#", "PL61109010140000071219812874")
        .into_bytes()
}

/// The serial number of the test `Offline` certificates (the one of `kody-qr.md`'s example).
pub const OFFLINE_CERT_SERIAL: &str = "01F20A5D352AE590";

/// A KSeF `Offline` certificate (keyUsage nonRepudiation only) for a fresh `algorithm` key,
/// issued by a throwaway CA as the emulator issues KSeF certificates.
pub fn offline_certificate(algorithm: KeyAlgorithm) -> Credential {
    let ca = make_ca("KSeF CA (test)", KeyAlgorithm::EcP256).expect("CA");
    let key = PrivateKey::generate(algorithm).expect("key");
    let serial = [0x01, 0xF2, 0x0A, 0x5D, 0x35, 0x2A, 0xE5, 0x90];
    let der = issue_for_public_key(
        &ca,
        &[
            (oid::COMMON_NAME.to_string(), "Jan Kowalski".to_string()),
            (oid::COUNTRY_NAME.to_string(), "PL".to_string()),
        ],
        &key.public_key_spki_der().expect("SPKI"),
        IssuedKeyUsage::NonRepudiation,
        Validity::from_now(time::Duration::days(30)).expect("validity"),
        &serial,
    )
    .expect("certificate");
    Credential::new(key, der, vec![ca.certificate_der]).expect("credential")
}

/// KOD II of the invoice file `xml` on TEST, issued by the seller in its own NIP context and
/// signed with `credential` (an `Offline` certificate).
pub fn kod_ii(credential: &Credential, xml: &[u8]) -> CertificateVerificationLink {
    let nip: ksef_core::Nip = SELLER_NIP.parse().expect("NIP");
    sign_certificate_link(
        credential,
        LinkBase::test(),
        ContextIdentifier::Nip(nip.clone()),
        nip,
        InvoiceHash::of_file(xml),
    )
    .expect("KOD II")
}

/// A PEF (UBL) sample: not shown by this crate.
pub fn is_pef(path: &Path) -> bool {
    path.file_name()
        .and_then(|n| n.to_str())
        .is_some_and(|n| n.contains("pef"))
}

/// Base64URL(SHA-256(file)) without padding, computed by openssl.
pub fn openssl_hash(bytes: &[u8]) -> String {
    let dir = std::env::temp_dir().join(format!(
        "ksef-visual-test-{}-{}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("invoice.xml");
    std::fs::write(&file, bytes).expect("write");
    let out = Command::new("sh")
        .arg("-c")
        .arg("openssl dgst -sha256 -binary \"$1\" | openssl base64 -A | tr '+/' '-_' | tr -d '='")
        .arg("sh")
        .arg(&file)
        .output()
        .expect("openssl runs");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let _ = std::fs::remove_dir_all(&dir);
    String::from_utf8(out.stdout)
        .expect("ascii")
        .trim()
        .to_string()
}
