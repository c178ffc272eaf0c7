//! The minimal CA: CA certificates and certificates issued by them, checked by our own
//! issuer-signature verification and by OpenSSL (`openssl verify -CAfile`).

mod common;

use common::{openssl, text, try_openssl, write};
use ksef_core::{Nip, Pesel};
use ksef_crypto::ca::{Validity, is_ca_certificate, issue_certificate, make_ca, make_ca_with};
use ksef_crypto::identity::{
    CertificateKind, inspect_certificate, verify_issued_by, verify_self_signed,
};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, CryptoError, KeyAlgorithm};
use time::{Duration, OffsetDateTime};

const PESEL: &str = "44051401359";
const NIP: &str = "5260250274";

fn person() -> TestSubject {
    TestSubject::person_pesel(PESEL.parse::<Pesel>().unwrap(), "Zażółć", "Gęślą")
}

fn hour() -> Validity {
    Validity::from_now(Duration::hours(1)).unwrap()
}

#[test]
fn ca_certificate_is_a_self_signed_ca() {
    for alg in [KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048] {
        let ca = make_ca("Testowe CA", alg).unwrap();
        assert!(ca.chain_der.is_empty());
        assert!(is_ca_certificate(&ca.certificate_der).unwrap());
        assert!(verify_self_signed(&ca.certificate_der));
        let info = inspect_certificate(&ca.certificate_der).unwrap();
        assert_eq!(info.subject_dn, "C=PL, CN=Testowe CA");
        assert_eq!(info.issuer_dn, info.subject_dn);
        assert!(info.not_after - info.not_before > Duration::days(9 * 365));

        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "ca.der", &ca.certificate_der);
        let t = text(openssl(
            dir.path(),
            &["x509", "-inform", "DER", "-in", "ca.der", "-noout", "-text"],
            None,
        ));
        assert!(t.contains("CA:TRUE, pathlen:0"), "{t}");
        assert!(t.contains("Certificate Sign"), "{t}");
        assert!(t.contains("Subject Key Identifier"), "{t}");
    }
}

#[test]
fn issued_certificate_verifies_against_its_ca_only() {
    for (ca_alg, leaf_alg) in [
        (KeyAlgorithm::EcP256, KeyAlgorithm::EcP256),
        (KeyAlgorithm::EcP256, KeyAlgorithm::Rsa2048),
        (KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256),
    ] {
        let ca = make_ca("Testowe CA", ca_alg).unwrap();
        let other = make_ca("Testowe CA", ca_alg).unwrap(); // same name, other key
        let leaf = issue_certificate(&ca, &person(), leaf_alg, hour()).unwrap();

        assert_eq!(leaf.algorithm().unwrap(), leaf_alg);
        assert_eq!(leaf.chain_der, vec![ca.certificate_der.clone()]);
        verify_issued_by(&leaf.certificate_der, &ca.certificate_der).unwrap();
        assert!(matches!(
            verify_issued_by(&leaf.certificate_der, &other.certificate_der),
            Err(CryptoError::NotIssuedBy(_))
        ));
        assert!(!verify_self_signed(&leaf.certificate_der));
        assert!(!is_ca_certificate(&leaf.certificate_der).unwrap());

        let info = inspect_certificate(&leaf.certificate_der).unwrap();
        assert_eq!(info.kind, CertificateKind::Person);
        assert_eq!(info.pesel.as_ref().map(|p| p.as_str()), Some(PESEL));
        assert_eq!(info.given_name.as_deref(), Some("Zażółć"));
        assert_eq!(info.issuer_dn, "C=PL, CN=Testowe CA");
        assert!(!info.is_self_signed);
        assert_eq!(info.identifier_problem, None);

        let dir = tempfile::tempdir().unwrap();
        write(
            dir.path(),
            "ca.pem",
            ca.certificate_pem().unwrap().as_bytes(),
        );
        write(
            dir.path(),
            "other.pem",
            other.certificate_pem().unwrap().as_bytes(),
        );
        write(
            dir.path(),
            "leaf.pem",
            leaf.certificate_pem().unwrap().as_bytes(),
        );
        let ok = text(openssl(
            dir.path(),
            &["verify", "-CAfile", "ca.pem", "leaf.pem"],
            None,
        ));
        assert!(ok.contains("leaf.pem: OK"), "{ok}");
        let bad = try_openssl(
            dir.path(),
            &["verify", "-CAfile", "other.pem", "leaf.pem"],
            None,
        );
        assert!(bad.is_err(), "a foreign CA must not verify the leaf");
        let t = text(openssl(
            dir.path(),
            &["x509", "-in", "leaf.pem", "-noout", "-text"],
            None,
        ));
        assert!(t.contains("CA:FALSE"), "{t}");
        assert!(t.contains("Authority Key Identifier"), "{t}");
        assert!(t.contains("Non Repudiation"), "{t}");
    }
}

#[test]
fn ca_with_custom_subject_and_seal_leaf() {
    let attrs = [
        (
            "2.5.4.3".to_string(),
            "Symulowany Profil Zaufany".to_string(),
        ),
        ("2.5.4.10".to_string(), "KSeF Emulator".to_string()),
        ("2.5.4.6".to_string(), "PL".to_string()),
    ];
    let now = OffsetDateTime::now_utc();
    let ca = make_ca_with(
        &attrs,
        KeyAlgorithm::EcP256,
        Validity::new(now - Duration::hours(1), now + Duration::days(30)).unwrap(),
    )
    .unwrap();
    let info = inspect_certificate(&ca.certificate_der).unwrap();
    assert_eq!(
        info.subject_dn,
        "C=PL, O=KSeF Emulator, CN=Symulowany Profil Zaufany"
    );
    let seal = TestSubject::seal(NIP.parse::<Nip>().unwrap(), "Firma Testowa");
    let leaf = issue_certificate(&ca, &seal, KeyAlgorithm::EcP256, hour()).unwrap();
    let info = inspect_certificate(&leaf.certificate_der).unwrap();
    assert_eq!(info.kind, CertificateKind::Seal);
    assert_eq!(info.nip.as_ref().map(|n| n.as_str()), Some(NIP));
    assert_eq!(
        info.issuer_dn,
        "C=PL, O=KSeF Emulator, CN=Symulowany Profil Zaufany"
    );
    verify_issued_by(&leaf.certificate_der, &ca.certificate_der).unwrap();
}

#[test]
fn issued_credential_survives_pkcs12_with_its_chain() {
    let ca = make_ca("Testowe CA", KeyAlgorithm::EcP256).unwrap();
    let leaf = issue_certificate(&ca, &person(), KeyAlgorithm::EcP256, hour()).unwrap();
    let p12 = leaf.to_pkcs12("haslo").unwrap();
    let back = Credential::from_pkcs12(&p12, "haslo").unwrap();
    assert_eq!(back.certificate_der, leaf.certificate_der);
    assert_eq!(back.chain_der, vec![ca.certificate_der.clone()]);
}

#[test]
fn refuses_non_ca_issuers_and_validity_beyond_the_ca() {
    // A self-signed end-entity certificate cannot issue.
    let plain = make_test_certificate(&person(), KeyAlgorithm::EcP256).unwrap();
    assert!(!is_ca_certificate(&plain.certificate_der).unwrap());
    let err = issue_certificate(&plain, &person(), KeyAlgorithm::EcP256, hour()).unwrap_err();
    assert!(
        matches!(err, CryptoError::NotCertificateAuthority(_)),
        "{err}"
    );

    // Neither can a certificate issued by a CA.
    let ca = make_ca("Testowe CA", KeyAlgorithm::EcP256).unwrap();
    let leaf = issue_certificate(&ca, &person(), KeyAlgorithm::EcP256, hour()).unwrap();
    let err = issue_certificate(&leaf, &person(), KeyAlgorithm::EcP256, hour()).unwrap_err();
    assert!(
        matches!(err, CryptoError::NotCertificateAuthority(_)),
        "{err}"
    );

    // A leaf may not outlive its CA.
    let now = OffsetDateTime::now_utc();
    let short_ca = make_ca_with(
        &[("2.5.4.3".to_string(), "Krótkie CA".to_string())],
        KeyAlgorithm::EcP256,
        Validity::new(now - Duration::minutes(5), now + Duration::hours(1)).unwrap(),
    )
    .unwrap();
    let too_long = Validity::new(now, now + Duration::days(2)).unwrap();
    let err = issue_certificate(&short_ca, &person(), KeyAlgorithm::EcP256, too_long).unwrap_err();
    assert!(
        matches!(err, CryptoError::CertificateGeneration(_)),
        "{err}"
    );
    let ok = Validity::new(now, now + Duration::minutes(30)).unwrap();
    issue_certificate(&short_ca, &person(), KeyAlgorithm::EcP256, ok).unwrap();

    // Empty subject for a CA.
    assert!(matches!(
        make_ca_with(&[], KeyAlgorithm::EcP256, hour()),
        Err(CryptoError::InvalidSubject(_))
    ));
}
