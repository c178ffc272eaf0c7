//! Test certificates (digest §5.2) read back by `inspect_certificate` and by OpenSSL, plus
//! identity rules (digest §4.5) and issuer-signature checks.

mod common;

use common::{openssl, read, text, try_openssl, write};
use ksef_core::{Nip, Pesel};
use ksef_crypto::identity::{
    CertificateKind, check_validity, inspect_certificate, verify_issued_by, verify_self_signed,
};
use ksef_crypto::testcert::{
    TestSubject, make_test_certificate, make_test_certificate_with_validity,
};
use ksef_crypto::{CryptoError, KeyAlgorithm};
use time::{Duration, OffsetDateTime};

const NIP: &str = "5260250274";
const PESEL: &str = "44051401359";
const ALGS: [KeyAlgorithm; 2] = [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256];

fn nip() -> Nip {
    NIP.parse().unwrap()
}
fn pesel() -> Pesel {
    PESEL.parse().unwrap()
}

fn openssl_subject(der: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.der", der);
    text(openssl(
        dir.path(),
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "c.der",
            "-noout",
            "-subject",
            "-nameopt",
            "oid,sep_comma_plus_space",
        ],
        None,
    ))
}

fn openssl_text(der: &[u8]) -> String {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.der", der);
    text(openssl(
        dir.path(),
        &["x509", "-inform", "DER", "-in", "c.der", "-noout", "-text"],
        None,
    ))
}

#[test]
fn person_nip_certificate() {
    for alg in ALGS {
        let subject = TestSubject::PersonNip {
            nip: nip(),
            given_name: "Jan".into(),
            surname: "Kowalski".into(),
            common_name: "Jan Kowalski".into(),
        };
        let cred = make_test_certificate(&subject, alg).unwrap();
        assert_eq!(cred.algorithm().unwrap(), alg);
        assert!(cred.chain_der.is_empty());
        let info = inspect_certificate(&cred.certificate_der).unwrap();
        assert_eq!(info.kind, CertificateKind::Person);
        assert_eq!(info.nip.as_ref().map(|n| n.as_str()), Some(NIP));
        assert_eq!(info.pesel, None);
        assert_eq!(info.identifier_problem, None);
        assert_eq!(info.given_name.as_deref(), Some("Jan"));
        assert_eq!(info.surname.as_deref(), Some("Kowalski"));
        assert_eq!(info.common_name.as_deref(), Some("Jan Kowalski"));
        assert_eq!(info.organization_name, None);
        assert_eq!(info.country.as_deref(), Some("PL"));
        assert_eq!(
            info.subject_serial_number.as_deref(),
            Some("TINPL-5260250274")
        );
        assert_eq!(info.key_algorithm, Some(alg));
        assert!(info.is_self_signed);
        assert!(verify_self_signed(&cred.certificate_der));
        assert_eq!(info.fingerprint, cred.fingerprint());
        assert_eq!(
            info.subject_dn,
            "C=PL, CN=Jan Kowalski, SERIALNUMBER=TINPL-5260250274, SN=Kowalski, GN=Jan"
        );
        assert_eq!(info.issuer_dn, info.subject_dn);
        let oids: Vec<&str> = info
            .subject_attributes
            .iter()
            .map(|(o, _)| o.as_str())
            .collect();
        assert_eq!(
            oids,
            ["2.5.4.42", "2.5.4.4", "2.5.4.5", "2.5.4.3", "2.5.4.6"]
        );
        // OpenSSL sees the same attributes in the same order.
        assert_eq!(
            openssl_subject(&cred.certificate_der).trim(),
            "subject=2.5.4.42=Jan, 2.5.4.4=Kowalski, 2.5.4.5=TINPL-5260250274, 2.5.4.3=Jan Kowalski, 2.5.4.6=PL"
        );
        let t = openssl_text(&cred.certificate_der);
        let expected_sig = if alg.is_rsa() {
            "sha256WithRSAEncryption"
        } else {
            "ecdsa-with-SHA256"
        };
        assert!(
            t.contains(&format!("Signature Algorithm: {expected_sig}")),
            "{t}"
        );
        assert_eq!(info.signature_algorithm, expected_sig);
        if alg.is_rsa() {
            assert!(t.contains("Public-Key: (2048 bit)"), "{t}");
        } else {
            assert!(t.contains("NIST CURVE: P-256"), "{t}");
        }
    }
}

#[test]
fn person_pesel_certificate() {
    for alg in ALGS {
        let cred = make_test_certificate(&TestSubject::person_pesel(pesel(), "Anna", "Nowak"), alg)
            .unwrap();
        let info = cred.info().unwrap();
        assert_eq!(info.kind, CertificateKind::Person);
        assert_eq!(info.pesel.as_ref().map(|p| p.as_str()), Some(PESEL));
        assert_eq!(info.nip, None);
        assert_eq!(info.identifier_problem, None);
        assert_eq!(info.common_name.as_deref(), Some("Anna Nowak"));
        assert_eq!(
            openssl_subject(&cred.certificate_der).trim(),
            "subject=2.5.4.42=Anna, 2.5.4.4=Nowak, 2.5.4.5=PNOPL-44051401359, 2.5.4.3=Anna Nowak, 2.5.4.6=PL"
        );
    }
}

#[test]
fn seal_certificate() {
    for alg in ALGS {
        let subject = TestSubject::Seal {
            nip: nip(),
            organization_name: "Firma Testowa Sp. z o.o.".into(),
            common_name: "Firma Testowa".into(),
        };
        let cred = make_test_certificate(&subject, alg).unwrap();
        let info = inspect_certificate(&cred.certificate_der).unwrap();
        assert_eq!(info.kind, CertificateKind::Seal);
        assert_eq!(info.nip.as_ref().map(|n| n.as_str()), Some(NIP));
        assert_eq!(info.pesel, None);
        assert_eq!(info.given_name, None);
        assert_eq!(info.surname, None);
        assert_eq!(
            info.organization_name.as_deref(),
            Some("Firma Testowa Sp. z o.o.")
        );
        assert_eq!(
            info.organization_identifier.as_deref(),
            Some("VATPL-5260250274")
        );
        assert_eq!(info.identifier_problem, None);
        assert_eq!(
            info.subject_dn,
            "C=PL, CN=Firma Testowa, 2.5.4.97=VATPL-5260250274, O=Firma Testowa Sp. z o.o."
        );
        assert_eq!(
            openssl_subject(&cred.certificate_der).trim(),
            "subject=2.5.4.10=Firma Testowa Sp. z o.o., 2.5.4.97=VATPL-5260250274, 2.5.4.3=Firma Testowa, 2.5.4.6=PL"
        );
    }
}

#[test]
fn fingerprint_only_certificate() {
    for alg in ALGS {
        let cred = make_test_certificate(
            &TestSubject::Fingerprint {
                common_name: "Integrator X".into(),
            },
            alg,
        )
        .unwrap();
        let info = cred.info().unwrap();
        assert_eq!(info.kind, CertificateKind::Other);
        assert_eq!(info.nip, None);
        assert_eq!(info.pesel, None);
        assert_eq!(info.identifier_problem, None);
        assert_eq!(info.subject_dn, "C=PL, CN=Integrator X");
        assert_eq!(info.fingerprint.len(), 64);
        assert!(
            info.fingerprint
                .chars()
                .all(|c| c.is_ascii_digit() || ('A'..='F').contains(&c))
        );
    }
}

#[test]
fn fingerprint_matches_openssl() {
    let cred = make_test_certificate(
        &TestSubject::person_nip(nip(), "Jan", "Kowalski"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "c.der", &cred.certificate_der);
    let out = text(openssl(
        dir.path(),
        &[
            "x509",
            "-inform",
            "DER",
            "-in",
            "c.der",
            "-noout",
            "-fingerprint",
            "-sha256",
        ],
        None,
    ));
    let hexed = out.trim().rsplit('=').next().unwrap().replace(':', "");
    assert_eq!(hexed, cred.fingerprint());
}

#[test]
fn validity_serial_and_openssl_self_verification() {
    let before = OffsetDateTime::now_utc();
    let cred = make_test_certificate(
        &TestSubject::person_nip(nip(), "Jan", "Kowalski"),
        KeyAlgorithm::Rsa2048,
    )
    .unwrap();
    let other = make_test_certificate(
        &TestSubject::person_nip(nip(), "Jan", "Kowalski"),
        KeyAlgorithm::Rsa2048,
    )
    .unwrap();
    let info = cred.info().unwrap();
    let nb = before - Duration::minutes(61);
    assert!(
        (info.not_before - nb).abs() < Duration::seconds(5),
        "{:?}",
        info.not_before
    );
    let years = info.not_after - info.not_before;
    assert!(
        years > Duration::days(730) && years < Duration::days(732),
        "{years:?}"
    );
    assert!(info.check_validity(OffsetDateTime::now_utc()).is_ok());
    assert!(!info.serial_number_decimal.starts_with('-'));
    assert_ne!(
        info.serial_number_decimal,
        other.info().unwrap().serial_number_decimal
    );
    assert_ne!(cred.fingerprint(), other.fingerprint());
    // OpenSSL prints the same serial (hex) and accepts the self-signature.
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.pem", cred.certificate_pem().unwrap().as_bytes());
    let serial = text(openssl(
        d,
        &["x509", "-in", "c.pem", "-noout", "-serial"],
        None,
    ));
    assert_eq!(
        serial.trim().trim_start_matches("serial="),
        info.serial_number_hex.trim_start_matches("00")
    );
    openssl(
        d,
        &["verify", "-check_ss_sig", "-CAfile", "c.pem", "c.pem"],
        None,
    );
}

#[test]
fn expired_and_not_yet_valid() {
    let now = OffsetDateTime::now_utc();
    let subject = TestSubject::person_pesel(pesel(), "Anna", "Nowak");
    let expired = make_test_certificate_with_validity(
        &subject,
        KeyAlgorithm::EcP256,
        now - Duration::days(10),
        now - Duration::days(1),
    )
    .unwrap();
    assert!(matches!(
        check_validity(&expired.certificate_der, now),
        Err(CryptoError::CertificateExpired { .. })
    ));
    let future = make_test_certificate_with_validity(
        &subject,
        KeyAlgorithm::EcP256,
        now + Duration::days(1),
        now + Duration::days(10),
    )
    .unwrap();
    let err = future.info().unwrap().check_validity(now).unwrap_err();
    assert!(matches!(err, CryptoError::CertificateNotYetValid { .. }));
    assert!(err.to_string().contains("not valid yet"));
    assert!(check_validity(&future.certificate_der, now + Duration::days(2)).is_ok());
}

fn custom(attrs: &[(&str, &str)]) -> ksef_crypto::identity::CertificateInfo {
    let subject = TestSubject::Custom {
        attributes: attrs
            .iter()
            .map(|(o, v)| (o.to_string(), v.to_string()))
            .collect(),
    };
    let cred = make_test_certificate(&subject, KeyAlgorithm::EcP256).unwrap();
    inspect_certificate(&cred.certificate_der).unwrap()
}

#[test]
fn ten_digit_pesel_is_reported() {
    let info = custom(&[
        ("2.5.4.42", "Jan"),
        ("2.5.4.4", "K"),
        ("2.5.4.5", "PNOPL-4405140135"),
        ("2.5.4.3", "J K"),
        ("2.5.4.6", "PL"),
    ]);
    assert_eq!(info.kind, CertificateKind::Person);
    assert_eq!(info.pesel, None);
    assert_eq!(info.nip, None);
    let p = info.identifier_problem.unwrap();
    assert!(p.contains("PESEL") && p.contains("10"), "{p}");
}

#[test]
fn bad_checksums_are_reported() {
    let info = custom(&[
        ("2.5.4.42", "Jan"),
        ("2.5.4.4", "K"),
        ("2.5.4.5", "PNOPL-44051401358"),
        ("2.5.4.3", "J K"),
    ]);
    assert_eq!(info.pesel, None);
    assert!(info.identifier_problem.unwrap().contains("PESEL"));
    let info = custom(&[
        ("2.5.4.42", "Jan"),
        ("2.5.4.4", "K"),
        ("2.5.4.5", "TINPL-5260250275"),
        ("2.5.4.3", "J K"),
    ]);
    assert_eq!(info.nip, None);
    assert!(info.identifier_problem.unwrap().contains("NIP"));
    let info = custom(&[
        ("2.5.4.10", "Org"),
        ("2.5.4.97", "VATPL-5260250275"),
        ("2.5.4.3", "Org"),
    ]);
    assert_eq!(info.kind, CertificateKind::Seal);
    assert_eq!(info.nip, None);
    assert!(info.identifier_problem.unwrap().contains("NIP"));
}

#[test]
fn alternative_prefixes_are_recognised() {
    let info = custom(&[
        ("2.5.4.42", "Jan"),
        ("2.5.4.4", "K"),
        ("2.5.4.5", "PESEL:44051401359"),
        ("2.5.4.3", "J K"),
    ]);
    assert_eq!(
        info.pesel.map(|p| p.as_str().to_string()).as_deref(),
        Some(PESEL)
    );
    let info = custom(&[
        ("2.5.4.42", "Jan"),
        ("2.5.4.4", "K"),
        ("2.5.4.5", "NIP-5260250274"),
        ("2.5.4.3", "J K"),
    ]);
    assert_eq!(
        info.nip.map(|p| p.as_str().to_string()).as_deref(),
        Some(NIP)
    );
}

#[test]
fn mixed_person_and_seal_attributes_are_flagged() {
    let info = custom(&[
        ("2.5.4.42", "Jan"),
        ("2.5.4.4", "Kowalski"),
        ("2.5.4.10", "Firma"),
        ("2.5.4.97", "VATPL-5260250274"),
        ("2.5.4.3", "Jan Kowalski"),
    ]);
    assert_eq!(info.kind, CertificateKind::Person);
    assert_eq!(
        info.nip, None,
        "a person's NIP comes only from serialNumber"
    );
    let p = info.identifier_problem.unwrap();
    assert!(p.contains("organizationIdentifier"), "{p}");
}

#[test]
fn identifier_without_names_is_other() {
    let info = custom(&[("2.5.4.5", "TINPL-5260250274"), ("2.5.4.3", "Somebody")]);
    assert_eq!(info.kind, CertificateKind::Other);
    assert_eq!(info.nip, None);
    assert!(info.identifier_problem.unwrap().contains("givenName"));
}

#[test]
fn invalid_custom_subject_is_an_error() {
    let bad = TestSubject::Custom {
        attributes: vec![("2.5.4.6".into(), "P@".into())],
    };
    assert!(matches!(
        make_test_certificate(&bad, KeyAlgorithm::EcP256),
        Err(CryptoError::InvalidSubject(_))
    ));
    let bad = TestSubject::Custom {
        attributes: vec![("not-an-oid".into(), "x".into())],
    };
    assert!(matches!(
        make_test_certificate(&bad, KeyAlgorithm::EcP256),
        Err(CryptoError::InvalidSubject(_))
    ));
}

/// Issue a leaf with OpenSSL from a CA of the given kind; returns (ca_der, leaf_der).
fn openssl_ca_and_leaf(
    dir: &std::path::Path,
    ca_alg: &[&str],
    sigopts: &[&str],
) -> (Vec<u8>, Vec<u8>) {
    let mut args = vec!["genpkey"];
    args.extend(ca_alg);
    args.extend(["-out", "ca.key"]);
    openssl(dir, &args, None);
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "ca.key",
            "-subj",
            "/C=PL/O=Test CA/CN=Test CA",
            "-days",
            "2",
            "-out",
            "ca.pem",
        ],
        None,
    );
    openssl(
        dir,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "leaf.key",
        ],
        None,
    );
    openssl(
        dir,
        &[
            "req",
            "-new",
            "-key",
            "leaf.key",
            "-subj",
            "/GN=Jan/SN=Kowalski/serialNumber=PNOPL-44051401359/CN=Jan Kowalski/C=PL",
            "-out",
            "leaf.csr",
        ],
        None,
    );
    let mut args = vec![
        "x509",
        "-req",
        "-in",
        "leaf.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "1",
        "-sha256",
        "-out",
        "leaf.pem",
    ];
    args.extend(sigopts);
    openssl(dir, &args, None);
    openssl(
        dir,
        &["x509", "-in", "ca.pem", "-outform", "DER", "-out", "ca.der"],
        None,
    );
    openssl(
        dir,
        &[
            "x509", "-in", "leaf.pem", "-outform", "DER", "-out", "leaf.der",
        ],
        None,
    );
    (read(dir, "ca.der"), read(dir, "leaf.der"))
}

#[test]
fn verify_issued_by_rsa_ec_and_pss_issuers() {
    let cases: [(&[&str], &[&str], &str); 3] = [
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            &[],
            "sha256WithRSAEncryption",
        ),
        (
            &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
            &[
                "-sigopt",
                "rsa_padding_mode:pss",
                "-sigopt",
                "rsa_pss_saltlen:32",
            ],
            "RSASSA-PSS",
        ),
        (
            &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
            &[],
            "ecdsa-with-SHA256",
        ),
    ];
    for (ca_alg, sigopts, sig_name) in cases {
        let dir = tempfile::tempdir().unwrap();
        let (ca, leaf) = openssl_ca_and_leaf(dir.path(), ca_alg, sigopts);
        let info = inspect_certificate(&leaf).unwrap();
        assert_eq!(info.signature_algorithm, sig_name);
        assert!(!info.is_self_signed);
        assert_eq!(info.kind, CertificateKind::Person);
        assert_eq!(info.pesel.as_ref().map(|p| p.as_str()), Some(PESEL));
        assert_eq!(info.issuer_dn, "CN=Test CA, O=Test CA, C=PL");
        verify_issued_by(&leaf, &ca).unwrap_or_else(|e| panic!("{sig_name}: {e}"));
        assert!(verify_self_signed(&ca), "{sig_name}: CA is self-signed");
        assert!(inspect_certificate(&ca).unwrap().is_self_signed);
        assert!(!verify_self_signed(&leaf));
        // Wrong issuer: same name, different key.
        let dir2 = tempfile::tempdir().unwrap();
        let (other_ca, _) = openssl_ca_and_leaf(dir2.path(), ca_alg, sigopts);
        assert!(
            matches!(
                verify_issued_by(&leaf, &other_ca),
                Err(CryptoError::NotIssuedBy(_))
            ),
            "{sig_name}"
        );
        // Tampered leaf: flip a byte inside the subject (the CN text).
        let pos = leaf.windows(12).position(|w| w == b"Jan Kowalski").unwrap();
        let mut bad = leaf.clone();
        bad[pos] = b'X';
        assert!(
            matches!(
                verify_issued_by(&bad, &ca),
                Err(CryptoError::NotIssuedBy(_))
            ),
            "{sig_name}"
        );
    }
}

#[test]
fn verify_issued_by_checks_names() {
    let a = make_test_certificate(
        &TestSubject::Fingerprint {
            common_name: "A".into(),
        },
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let b = make_test_certificate(
        &TestSubject::Fingerprint {
            common_name: "B".into(),
        },
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let err = verify_issued_by(&a.certificate_der, &b.certificate_der).unwrap_err();
    assert!(matches!(err, CryptoError::NotIssuedBy(_)));
    assert!(err.to_string().contains("CN=A"), "{err}");
}

#[test]
fn openssl_generated_p384_certificate_is_described() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "k.pem",
        ],
        None,
    );
    openssl(
        d,
        &[
            "req",
            "-new",
            "-x509",
            "-key",
            "k.pem",
            "-subj",
            "/O=Org/organizationIdentifier=VATPL-5260250274/CN=Org/C=PL",
            "-days",
            "1",
            "-outform",
            "DER",
            "-out",
            "c.der",
        ],
        None,
    );
    let info = inspect_certificate(&read(d, "c.der")).unwrap();
    assert_eq!(info.key_algorithm, None);
    assert_eq!(info.key_algorithm_name, "EC P-384");
    assert_eq!(info.kind, CertificateKind::Seal);
    assert_eq!(info.nip.as_ref().map(|n| n.as_str()), Some(NIP));
    assert!(
        !info.is_self_signed,
        "P-384 cannot be verified here, so it is reported false"
    );
    assert!(
        try_openssl(
            d,
            &["x509", "-inform", "DER", "-in", "c.der", "-noout"],
            None
        )
        .is_ok()
    );
}

#[test]
fn garbage_is_an_invalid_certificate() {
    assert!(matches!(
        inspect_certificate(b"not a certificate"),
        Err(CryptoError::InvalidCertificate(_))
    ));
}
