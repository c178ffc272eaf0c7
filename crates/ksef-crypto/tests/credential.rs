//! Credential loading/saving (PKCS#12, PEM), raw signatures, service key pairs.

mod common;

use base64::Engine;
use common::{openssl, read, text, try_openssl, write};
use ksef_crypto::service::ServiceKeyPair;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, CryptoError, KeyAlgorithm, PrivateKey, sign_raw, verify_raw};

const ALGS: [KeyAlgorithm; 2] = [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256];

fn cred(alg: KeyAlgorithm) -> Credential {
    let subject = TestSubject::person_nip("5260250274".parse().unwrap(), "Jan", "Kowalski");
    make_test_certificate(&subject, alg).unwrap()
}

#[test]
fn pkcs12_round_trip_and_wrong_password() {
    for alg in ALGS {
        let c = cred(alg);
        let p12 = c.to_pkcs12("s3cret-hasło").unwrap();
        let back = Credential::from_pkcs12(&p12, "s3cret-hasło").unwrap();
        assert_eq!(back.certificate_der, c.certificate_der);
        assert_eq!(back.key, c.key);
        assert_eq!(back.fingerprint(), c.fingerprint());
        assert!(matches!(
            Credential::from_pkcs12(&p12, "wrong"),
            Err(CryptoError::WrongPkcs12Password)
        ));
        let msg = Credential::from_pkcs12(&p12, "wrong")
            .unwrap_err()
            .to_string();
        assert!(msg.contains("wrong PKCS#12 password"), "{msg}");
    }
}

#[test]
fn our_pkcs12_is_readable_by_openssl() {
    for alg in ALGS {
        let c = cred(alg);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "c.p12", &c.to_pkcs12("pass123").unwrap());
        let info = text(openssl(
            d,
            &[
                "pkcs12",
                "-in",
                "c.p12",
                "-info",
                "-noout",
                "-passin",
                "pass:pass123",
            ],
            None,
        ));
        // openssl prints the MAC and PBES2 details to stderr; -noout just must succeed.
        let _ = info;
        let out = text(openssl(
            d,
            &[
                "pkcs12",
                "-in",
                "c.p12",
                "-nodes",
                "-passin",
                "pass:pass123",
            ],
            None,
        ));
        assert!(
            out.contains("BEGIN CERTIFICATE") && out.contains("BEGIN PRIVATE KEY"),
            "{out}"
        );
        // What openssl extracted is the same identity.
        let again = Credential::from_pem(&out, &out).unwrap();
        assert_eq!(again.certificate_der, c.certificate_der);
        assert_eq!(again.key, c.key);
        assert!(
            try_openssl(
                d,
                &["pkcs12", "-in", "c.p12", "-noout", "-passin", "pass:nope"],
                None
            )
            .is_err()
        );
    }
}

#[test]
fn reads_openssl_pkcs12_default_and_legacy() {
    for alg in ALGS {
        let c = cred(alg);
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "k.pem", c.key_pem().unwrap().as_bytes());
        write(d, "c.pem", c.certificate_pem().unwrap().as_bytes());
        // An extra "CA" cert in the file goes to the chain.
        let extra = make_test_certificate(
            &TestSubject::Fingerprint {
                common_name: "Extra".into(),
            },
            KeyAlgorithm::EcP256,
        )
        .unwrap();
        write(d, "extra.pem", extra.certificate_pem().unwrap().as_bytes());
        for (name, legacy) in [("default.p12", false), ("legacy.p12", true)] {
            let mut args = vec![
                "pkcs12",
                "-export",
                "-inkey",
                "k.pem",
                "-in",
                "c.pem",
                "-certfile",
                "extra.pem",
                "-passout",
                "pass:zaq1@WSX",
                "-out",
                name,
            ];
            if legacy {
                args.push("-legacy");
            }
            if let Err(e) = try_openssl(d, &args, None) {
                if legacy && e.contains("legacy") {
                    panic!("OpenSSL legacy provider unavailable: {e}");
                }
                panic!("openssl pkcs12 -export failed: {e}");
            }
            let bytes = read(d, name);
            let loaded = Credential::from_pkcs12(&bytes, "zaq1@WSX")
                .unwrap_or_else(|e| panic!("{name}: {e}"));
            assert_eq!(loaded.certificate_der, c.certificate_der, "{name}");
            assert_eq!(
                loaded.chain_der,
                vec![extra.certificate_der.clone()],
                "{name}"
            );
            assert_eq!(loaded.key, c.key, "{name}");
            assert!(
                matches!(
                    Credential::from_pkcs12(&bytes, "zaq1@WSY"),
                    Err(CryptoError::WrongPkcs12Password)
                ),
                "{name}"
            );
        }
    }
}

#[test]
fn pkcs12_without_key_or_with_foreign_key() {
    let c = cred(KeyAlgorithm::EcP256);
    let other = cred(KeyAlgorithm::EcP256);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.pem", c.certificate_pem().unwrap().as_bytes());
    write(d, "k2.pem", other.key_pem().unwrap().as_bytes());
    openssl(
        d,
        &[
            "pkcs12",
            "-export",
            "-nokeys",
            "-in",
            "c.pem",
            "-passout",
            "pass:x",
            "-out",
            "nokey.p12",
        ],
        None,
    );
    assert!(matches!(
        Credential::from_pkcs12(&read(d, "nokey.p12"), "x"),
        Err(CryptoError::NoPrivateKey)
    ));
    // A certificate with a key that does not belong to it (openssl refuses to pair them
    // itself, so build the file from two separately exported parts via our own writer).
    let mismatched = Credential {
        key: other.key.clone(),
        certificate_der: c.certificate_der.clone(),
        chain_der: vec![],
    };
    let p12 = mismatched.to_pkcs12("x").unwrap();
    assert!(matches!(
        Credential::from_pkcs12(&p12, "x"),
        Err(CryptoError::KeyCertificateMismatch(_))
    ));
    assert!(matches!(
        Credential::from_pkcs12(b"garbage", "x"),
        Err(CryptoError::Pkcs12(_))
    ));
}

#[test]
fn pem_loading_variants() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // RSA: PKCS#8 and traditional PKCS#1
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:2048",
            "-out",
            "rsa.pem",
        ],
        None,
    );
    openssl(
        d,
        &[
            "req", "-new", "-x509", "-key", "rsa.pem", "-subj", "/CN=rsa", "-days", "1", "-out",
            "rsa.crt",
        ],
        None,
    );
    openssl(
        d,
        &["rsa", "-in", "rsa.pem", "-traditional", "-out", "rsa1.pem"],
        None,
    );
    // EC: PKCS#8 and SEC1
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-out",
            "ec.pem",
        ],
        None,
    );
    openssl(
        d,
        &[
            "req", "-new", "-x509", "-key", "ec.pem", "-subj", "/CN=ec", "-days", "1", "-out",
            "ec.crt",
        ],
        None,
    );
    openssl(d, &["ec", "-in", "ec.pem", "-out", "ec1.pem"], None);
    let rsa1 = text(read(d, "rsa1.pem"));
    assert!(rsa1.contains("BEGIN RSA PRIVATE KEY"));
    let ec1 = text(read(d, "ec1.pem"));
    assert!(ec1.contains("BEGIN EC PRIVATE KEY"));
    let a = Credential::from_pem(&text(read(d, "rsa.pem")), &text(read(d, "rsa.crt"))).unwrap();
    let b = Credential::from_pem(&rsa1, &text(read(d, "rsa.crt"))).unwrap();
    assert_eq!(a.key, b.key);
    assert_eq!(a.algorithm().unwrap(), KeyAlgorithm::Rsa2048);
    let e = Credential::from_pem(&text(read(d, "ec.pem")), &text(read(d, "ec.crt"))).unwrap();
    let f = Credential::from_pem(&ec1, &text(read(d, "ec.crt"))).unwrap();
    assert_eq!(e.key, f.key);
    assert_eq!(f.algorithm().unwrap(), KeyAlgorithm::EcP256);
    // Chain in PEM: issuer first, leaf second → the leaf is picked by key.
    let chain = format!("{}{}", text(read(d, "rsa.crt")), text(read(d, "ec.crt")));
    let g = Credential::from_pem(&ec1, &chain).unwrap();
    assert_eq!(g.certificate_der, e.certificate_der);
    assert_eq!(g.chain_der, vec![a.certificate_der.clone()]);
    // Our own PEM output round-trips.
    let h = Credential::from_pem(&g.key_pem().unwrap(), &g.chain_pem().unwrap()).unwrap();
    assert_eq!(h.certificate_der, g.certificate_der);
    assert_eq!(h.chain_der, g.chain_der);
    // Mismatch, unsupported, garbage, encrypted.
    assert!(matches!(
        Credential::from_pem(&ec1, &text(read(d, "rsa.crt"))),
        Err(CryptoError::KeyCertificateMismatch(_))
    ));
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "EC",
            "-pkeyopt",
            "ec_paramgen_curve:P-384",
            "-out",
            "p384.pem",
        ],
        None,
    );
    assert!(matches!(
        PrivateKey::from_pem(&text(read(d, "p384.pem"))),
        Err(CryptoError::UnsupportedKeyAlgorithm(_))
    ));
    openssl(
        d,
        &["genpkey", "-algorithm", "ED25519", "-out", "ed.pem"],
        None,
    );
    let err = PrivateKey::from_pem(&text(read(d, "ed.pem"))).unwrap_err();
    assert!(
        matches!(err, CryptoError::UnsupportedKeyAlgorithm(ref m) if m.contains("Ed25519")),
        "{err}"
    );
    assert!(matches!(
        PrivateKey::from_pem("hello"),
        Err(CryptoError::BadPem(_))
    ));
    assert!(matches!(
        PrivateKey::from_pem("-----BEGIN PRIVATE KEY-----\n!!!!\n-----END PRIVATE KEY-----\n"),
        Err(CryptoError::BadPem(_))
    ));
    openssl(
        d,
        &[
            "pkey", "-in", "ec.pem", "-aes256", "-passout", "pass:x", "-out", "enc.pem",
        ],
        None,
    );
    assert!(matches!(
        PrivateKey::from_pem(&text(read(d, "enc.pem"))),
        Err(CryptoError::InvalidPrivateKey(_))
    ));
    assert!(matches!(
        Credential::from_pem(&ec1, &ec1),
        Err(CryptoError::NoCertificate(_))
    ));
}

#[test]
fn debug_output_redacts_key_material() {
    for alg in ALGS {
        let c = cred(alg);
        let pem = c.key_pem().unwrap();
        let body: String = pem.lines().nth(1).unwrap().chars().take(20).collect();
        for dbg in [format!("{c:?}"), format!("{:?}", c.key), format!("{c:#?}")] {
            assert!(dbg.contains("redacted"), "{dbg}");
            assert!(!dbg.contains(&body), "key material in Debug: {dbg}");
            assert!(!dbg.to_lowercase().contains("prime"), "{dbg}");
        }
        assert_eq!(
            format!("{:?}", c.key),
            format!("PrivateKey({alg}, <redacted>)")
        );
        let svc_dbg = format!("{:?}", ServiceKeyPair::generate("x", 1).unwrap());
        assert!(
            svc_dbg.contains("redacted") && !svc_dbg.contains("BoxedUint"),
            "{svc_dbg}"
        );
    }
}

#[test]
fn raw_signatures_verify_here_and_in_openssl() {
    for alg in ALGS {
        let c = cred(alg);
        let data = b"<SignedInfo>canonical bytes</SignedInfo>";
        let sig = sign_raw(&c.key, data).unwrap();
        let spki = c.key.public_key_spki_der().unwrap();
        verify_raw(&spki, data, &sig).unwrap();
        assert!(matches!(
            verify_raw(&spki, b"other", &sig),
            Err(CryptoError::SignatureInvalid(_))
        ));
        let dir = tempfile::tempdir().unwrap();
        let d = dir.path();
        write(d, "data", data);
        write(d, "c.pem", c.certificate_pem().unwrap().as_bytes());
        openssl(
            d,
            &[
                "x509", "-in", "c.pem", "-pubkey", "-noout", "-out", "pub.pem",
            ],
            None,
        );
        if alg.is_rsa() {
            assert_eq!(sig.len(), 256);
            write(d, "sig", &sig);
        } else {
            assert_eq!(sig.len(), 64, "raw R||S");
            let s = ksef_crypto::p256::ecdsa::Signature::from_slice(&sig).unwrap();
            write(d, "sig", s.to_der().as_bytes());
            // DER-encoded ECDSA is refused by verify_raw (XML-DSig wants R||S).
            let err = verify_raw(&spki, data, s.to_der().as_bytes()).unwrap_err();
            assert!(err.to_string().contains("DER"), "{err}");
        }
        let out = text(openssl(
            d,
            &[
                "dgst",
                "-sha256",
                "-verify",
                "pub.pem",
                "-signature",
                "sig",
                "data",
            ],
            None,
        ));
        assert!(out.contains("Verified OK"), "{out}");
    }
}

#[test]
fn openssl_signatures_verify_here() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    openssl(
        d,
        &[
            "genpkey",
            "-algorithm",
            "RSA",
            "-pkeyopt",
            "rsa_keygen_bits:3072",
            "-out",
            "k.pem",
        ],
        None,
    );
    openssl(
        d,
        &[
            "pkey", "-in", "k.pem", "-pubout", "-outform", "DER", "-out", "pub.der",
        ],
        None,
    );
    write(d, "data", b"payload");
    let sig = openssl(d, &["dgst", "-sha256", "-sign", "k.pem", "data"], None);
    verify_raw(&read(d, "pub.der"), b"payload", &sig).unwrap();
    let key = PrivateKey::from_pem(&text(read(d, "k.pem"))).unwrap();
    assert_eq!(key.algorithm().unwrap(), KeyAlgorithm::Rsa3072);
    // PKCS#1 v1.5 is deterministic: our signature equals OpenSSL's.
    assert_eq!(sign_raw(&key, b"payload").unwrap(), sig);
}

#[test]
fn credential_new_checks_the_pair() {
    let a = cred(KeyAlgorithm::Rsa2048);
    let b = cred(KeyAlgorithm::Rsa2048);
    assert!(Credential::new(a.key.clone(), a.certificate_der.clone(), vec![]).is_ok());
    assert!(matches!(
        Credential::new(b.key.clone(), a.certificate_der.clone(), vec![]),
        Err(CryptoError::KeyCertificateMismatch(_))
    ));
    let ec = cred(KeyAlgorithm::EcP256);
    assert!(matches!(
        Credential::new(ec.key.clone(), a.certificate_der.clone(), vec![]),
        Err(CryptoError::KeyCertificateMismatch(_))
    ));
}

#[test]
fn service_key_pair_ids_and_persistence() {
    let kp = ServiceKeyPair::generate("KSeF Emulator KsefTokenEncryption", 730).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    write(d, "c.der", kp.certificate_der());
    let b64 = |b: &[u8]| base64::engine::general_purpose::STANDARD.encode(b);
    let cert_hash = openssl(d, &["dgst", "-sha256", "-binary", "c.der"], None);
    assert_eq!(kp.certificate_id(), b64(&cert_hash));
    openssl(
        d,
        &[
            "x509", "-inform", "DER", "-in", "c.der", "-pubkey", "-noout", "-out", "pub.pem",
        ],
        None,
    );
    openssl(
        d,
        &[
            "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der",
        ],
        None,
    );
    let spki_hash = openssl(d, &["dgst", "-sha256", "-binary", "pub.der"], None);
    assert_eq!(kp.public_key_id(), b64(&spki_hash));
    assert_eq!(kp.certificate_id().len(), 44);
    assert_eq!(kp.public_key_id().len(), 44);
    let days = (kp.valid_to() - kp.valid_from()).whole_days();
    assert_eq!(days, 730);
    let subject = text(openssl(
        d,
        &[
            "x509", "-inform", "DER", "-in", "c.der", "-noout", "-subject", "-nameopt", "RFC2253",
        ],
        None,
    ));
    assert_eq!(
        subject.trim(),
        "subject=C=PL,O=KSeF Emulator,CN=KSeF Emulator KsefTokenEncryption"
    );
    assert_eq!(kp.certificate_base64(), b64(kp.certificate_der()));

    // Persistence: PEM key + DER or PEM certificate.
    let pem = kp.to_pkcs8_pem().unwrap();
    let again = ServiceKeyPair::from_pkcs8_pem_and_cert(&pem, kp.certificate_der()).unwrap();
    assert_eq!(again.public_key_id(), kp.public_key_id());
    assert_eq!(again.certificate_id(), kp.certificate_id());
    assert_eq!(again.valid_to(), kp.valid_to());
    let again2 =
        ServiceKeyPair::from_pkcs8_pem_and_cert(&pem, kp.certificate_pem().unwrap().as_bytes())
            .unwrap();
    assert_eq!(again2.certificate_id(), kp.certificate_id());
    let ct = ksef_crypto::envelope::rsa_oaep_sha256_encrypt(&kp.public_key(), b"k").unwrap();
    assert_eq!(again.decrypt(&ct).unwrap(), b"k");
    // Re-certification keeps publicKeyId semantics: another key → different ids; mismatch refused.
    let other = ServiceKeyPair::generate("other", 1).unwrap();
    assert_ne!(other.public_key_id(), kp.public_key_id());
    assert!(matches!(
        ServiceKeyPair::from_pkcs8_pem_and_cert(&pem, other.certificate_der()),
        Err(CryptoError::KeyCertificateMismatch(_))
    ));
}

#[test]
fn certificates_from_pem_or_der_reads_both_forms() {
    let a = cred(KeyAlgorithm::EcP256);
    let b = cred(KeyAlgorithm::EcP256);
    let pem = format!(
        "{}{}",
        a.certificate_pem().unwrap(),
        b.certificate_pem().unwrap()
    );
    let certs = ksef_crypto::certificates_from_pem_or_der(pem.as_bytes()).unwrap();
    assert_eq!(
        certs,
        vec![a.certificate_der.clone(), b.certificate_der.clone()]
    );
    let certs = ksef_crypto::certificates_from_pem_or_der(&a.certificate_der).unwrap();
    assert_eq!(certs, vec![a.certificate_der.clone()]);
    assert!(ksef_crypto::certificates_from_pem_or_der(b"junk").is_err());
    let key_only = a.key_pem().unwrap();
    assert!(matches!(
        ksef_crypto::certificates_from_pem_or_der(key_only.as_bytes()),
        Err(CryptoError::BadPem(_))
    ));
}
