//! PKCS#10 requests: the ones we build are accepted by OpenSSL (`openssl req -verify`), the
//! ones OpenSSL builds are read and verified by [`parse_csr`], and hostile bytes (truncated,
//! garbage, trailing data, flipped bits, forged signatures) give errors, never a panic or an
//! accepted signature.

mod common;

use common::{openssl, openssl_all_output, read, text, write};
use der::{Decode, Encode};
use ksef_crypto::csr::{CsrSubject, csr_for_key, make_csr, parse_csr};
use ksef_crypto::{CryptoError, KeyAlgorithm, PrivateKey};

const SUBJ: &str = "/GN=Jan/SN=Kowalski/serialNumber=TINPL-5260250274/CN=Jan Kowalski/C=PL";

fn person() -> CsrSubject {
    CsrSubject {
        common_name: "Jan Kowalski".into(),
        country_name: "PL".into(),
        given_name: Some("Jan".into()),
        surname: Some("Kowalski".into()),
        serial_number: Some("TINPL-5260250274".into()),
        ..CsrSubject::default()
    }
}

fn person_attributes() -> Vec<(String, String)> {
    person().attributes()
}

/// An OpenSSL-made CSR (DER) for `SUBJ` with a new key of `newkey` (`req -newkey` syntax) and
/// extra `req` arguments.
fn openssl_csr(newkey: &[&str], extra: &[&str]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    let mut args = vec!["req", "-new", "-nodes", "-keyout", "k.pem"];
    args.extend(newkey);
    args.extend(["-subj", SUBJ, "-outform", "DER", "-out", "r.der"]);
    args.extend(extra);
    openssl(dir.path(), &args, None);
    read(dir.path(), "r.der")
}

const RSA: &[&str] = &["-newkey", "rsa:2048"];
const EC: &[&str] = &["-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256"];

#[test]
fn openssl_accepts_our_csrs() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
        let subject = CsrSubject {
            organization_name: Some("Żółta Spółka sp. z o.o.".into()),
            organization_identifier: Some("VATPL-5265877635".into()),
            given_name: None,
            surname: None,
            ..person()
        };
        let (key, der) = make_csr(&subject, alg).unwrap();
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "r.der", &der);
        let (ok, out) = openssl_all_output(
            dir.path(),
            &[
                "req", "-inform", "DER", "-in", "r.der", "-verify", "-noout", "-text",
            ],
        );
        assert!(ok && out.contains("self-signature verify OK"), "{out}");
        let expected_sig = if alg.is_rsa() {
            "sha256WithRSAEncryption"
        } else {
            "ecdsa-with-SHA256"
        };
        assert!(out.contains(expected_sig), "{out}");
        // No attributes at all (OpenSSL 3.0 prints an empty "Requested Extensions:" anyway).
        assert!(out.contains("Attributes:\n            (none)"), "{out}");
        let subject_line = text(openssl(
            dir.path(),
            &[
                "req",
                "-inform",
                "DER",
                "-in",
                "r.der",
                "-noout",
                "-subject",
                "-nameopt",
                "oid,sep_comma_plus_space,utf8,-esc_msb",
            ],
            None,
        ));
        assert_eq!(
            subject_line.trim(),
            "subject=2.5.4.5=TINPL-5260250274, 2.5.4.10=Żółta Spółka sp. z o.o., \
             2.5.4.97=VATPL-5265877635, 2.5.4.3=Jan Kowalski, 2.5.4.6=PL"
        );
        // The key OpenSSL extracts is ours.
        write(dir.path(), "r.der", &der);
        let spki_pem = openssl(
            dir.path(),
            &["req", "-inform", "DER", "-in", "r.der", "-noout", "-pubkey"],
            None,
        );
        write(dir.path(), "pub.pem", &spki_pem);
        openssl(
            dir.path(),
            &[
                "pkey", "-pubin", "-in", "pub.pem", "-outform", "DER", "-out", "pub.der",
            ],
            None,
        );
        assert!(key.matches_spki(&read(dir.path(), "pub.der")).unwrap());
    }
}

#[test]
fn our_csr_strings_are_printable_where_they_fit() {
    let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
    let der = csr_for_key(
        &key,
        &[
            ("2.5.4.5".to_string(), "A@B".to_string()),
            ("2.5.4.3".to_string(), "X".to_string()),
            ("2.5.4.6".to_string(), "PL".to_string()),
        ],
    )
    .unwrap();
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "r.der", &der);
    let dump = text(openssl(
        dir.path(),
        &["asn1parse", "-inform", "DER", "-in", "r.der"],
        None,
    ));
    let types: Vec<&str> = dump
        .lines()
        .filter(|l| l.contains("STRING") && !l.contains("BIT STRING"))
        .map(|l| {
            if l.contains("PRINTABLESTRING") {
                "printable"
            } else if l.contains("UTF8STRING") {
                "utf8"
            } else {
                "other"
            }
        })
        .collect();
    // serialNumber "A@B" is not printable ('@'), so UTF8String; CN UTF8String; C printable.
    assert_eq!(types, ["utf8", "utf8", "printable"], "{dump}");
}

#[test]
fn openssl_made_csrs_are_read_and_verified() {
    let cases: [(&str, &[&str], &[&str], &str); 5] = [
        ("RSA SHA-256", RSA, &[], "1.2.840.113549.1.1.11"),
        ("RSA SHA-1", RSA, &["-sha1"], "1.2.840.113549.1.1.5"),
        (
            "RSA-PSS (OpenSSL's default salt: the maximum)",
            RSA,
            &["-sigopt", "rsa_padding_mode:pss"],
            "1.2.840.113549.1.1.10",
        ),
        ("EC P-256 SHA-256", EC, &[], "1.2.840.10045.4.3.2"),
        (
            "EC P-256 SHA-384 with requested extensions",
            EC,
            &[
                "-sha384",
                "-addext",
                "keyUsage=critical,digitalSignature",
                "-addext",
                "subjectAltName=email:jan@example.com",
            ],
            "1.2.840.10045.4.3.3",
        ),
    ];
    for (name, newkey, extra, sig_oid) in cases {
        let der = openssl_csr(newkey, extra);
        let csr = parse_csr(&der).unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(csr.signature_algorithm, sig_oid, "{name}");
        csr.verify_signature()
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        assert_eq!(
            csr.subject_attributes().unwrap(),
            person_attributes(),
            "{name}"
        );
        ksef_crypto::PublicKey::from_spki_der(&csr.spki_der)
            .unwrap_or_else(|e| panic!("{name}: {e}"));
    }
}

#[test]
fn unsupported_signature_algorithms_are_reported_as_such() {
    // ECDSA with SHA-512 is not verified (KSeF's list has it, the emulator never did).
    let der = openssl_csr(EC, &["-sha512"]);
    let csr = parse_csr(&der).unwrap();
    assert!(
        matches!(
            csr.verify_signature(),
            Err(CryptoError::UnsupportedSignatureAlgorithm(_))
        ),
        "{:?}",
        csr.verify_signature()
    );

    // An ECDSA algorithm on an RSA key: unsupported; an RSA algorithm on an EC key: invalid.
    let swap = |der: &[u8], alg_from: &[u8]| {
        let mut req = x509_cert::request::CertReq::from_der(der).unwrap();
        req.algorithm = spki::AlgorithmIdentifierOwned::from_der(alg_from).unwrap();
        req.to_der().unwrap()
    };
    let ec = openssl_csr(EC, &[]);
    let rsa = openssl_csr(RSA, &[]);
    let alg_of = |der: &[u8]| {
        x509_cert::request::CertReq::from_der(der)
            .unwrap()
            .algorithm
            .to_der()
            .unwrap()
    };
    let rsa_with_ecdsa = parse_csr(&swap(&rsa, &alg_of(&ec))).unwrap();
    assert!(matches!(
        rsa_with_ecdsa.verify_signature(),
        Err(CryptoError::UnsupportedSignatureAlgorithm(_))
    ));
    let ec_with_rsa = parse_csr(&swap(&ec, &alg_of(&rsa))).unwrap();
    assert!(matches!(
        ec_with_rsa.verify_signature(),
        Err(CryptoError::SignatureInvalid(_))
    ));
}

#[test]
fn a_changed_subject_or_signature_does_not_verify() {
    for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
        let (_, der) = make_csr(&person(), alg).unwrap();
        // Another surname, same length: the signature no longer covers it.
        let pos = der.windows(8).position(|w| w == b"Kowalski").unwrap();
        let mut other = der.clone();
        other[pos] = b'N';
        let csr = parse_csr(&other).unwrap();
        assert_eq!(csr.subject_attributes().unwrap()[1].1, "Nowalski");
        assert!(matches!(
            csr.verify_signature(),
            Err(CryptoError::SignatureInvalid(_))
        ));
        // The signature of another request of the same key does not fit either.
        let key = PrivateKey::generate(alg).unwrap();
        let a = csr_for_key(&key, &person_attributes()).unwrap();
        let mut b_attrs = person_attributes();
        b_attrs[1].1 = "Nowalski".into();
        let b = csr_for_key(&key, &b_attrs).unwrap();
        let mut forged = x509_cert::request::CertReq::from_der(&b).unwrap();
        forged.signature = x509_cert::request::CertReq::from_der(&a).unwrap().signature;
        let forged = parse_csr(&forged.to_der().unwrap()).unwrap();
        assert!(matches!(
            forged.verify_signature(),
            Err(CryptoError::SignatureInvalid(_))
        ));
        // OpenSSL agrees.
        let dir = tempfile::tempdir().unwrap();
        write(dir.path(), "r.der", &other);
        let (_, out) = openssl_all_output(
            dir.path(),
            &["req", "-inform", "DER", "-in", "r.der", "-verify", "-noout"],
        );
        assert!(out.contains("self-signature verify failure"), "{out}");
    }
}

#[test]
fn hostile_bytes_are_errors_not_panics() {
    let (_, ec) = make_csr(&person(), KeyAlgorithm::EcP256).unwrap();
    let rsa = openssl_csr(RSA, &["-addext", "keyUsage=digitalSignature"]);
    for der in [&ec, &rsa] {
        // Every truncation.
        for n in 0..der.len() {
            assert!(
                matches!(parse_csr(&der[..n]), Err(CryptoError::InvalidCsr(_))),
                "prefix of {n} bytes"
            );
        }
        // Data after the request.
        let mut longer = der.clone();
        longer.push(0);
        let err = parse_csr(&longer).unwrap_err();
        assert!(
            matches!(&err, CryptoError::InvalidCsr(m) if m.contains("after")),
            "{err}"
        );
        // Every single-bit change: an error somewhere, never a valid signature — except in
        // the outer signatureAlgorithm's parameters, which the signature does not cover (an
        // RSA algorithm's NULL may become another empty value, as ring accepted too).
        let req = x509_cert::request::CertReq::from_der(der).unwrap();
        let info_len = req.info.to_der().unwrap().len();
        let alg = req.algorithm.to_der().unwrap();
        let alg_at = info_len
            + der[info_len..]
                .windows(alg.len())
                .position(|w| w == alg)
                .unwrap();
        let end = alg_at + alg.len();
        let unsigned = if alg.ends_with(&[0x05, 0x00]) {
            end - 2..end
        } else {
            end..end
        };
        for i in 0..der.len() {
            for bit in [0x01u8, 0x80] {
                let mut bad = der.clone();
                bad[i] ^= bit;
                if let Ok(csr) = parse_csr(&bad) {
                    let _ = csr.subject_attributes();
                    assert!(
                        csr.verify_signature().is_err() || unsigned.contains(&i),
                        "byte {i} ^ {bit:#x} still verifies"
                    );
                }
            }
        }
    }
    for garbage in [
        &b""[..],
        b"not a csr",
        &[0x30],
        &[0x30, 0x80, 0x00, 0x00],
        &[0x30, 0x84, 0xff, 0xff, 0xff, 0xff],
        &[0x30, 0x03, 0x02, 0x01, 0x00],
    ] {
        assert!(
            matches!(parse_csr(garbage), Err(CryptoError::InvalidCsr(_))),
            "{garbage:?}"
        );
    }
}

#[test]
fn subject_values_that_are_not_text_strings_are_refused() {
    // With `string_mask=nombstr` OpenSSL writes a non-ASCII commonName as a T61String.
    let dir = tempfile::tempdir().unwrap();
    write(
        dir.path(),
        "req.cnf",
        b"[req]\ndistinguished_name=dn\nstring_mask=nombstr\n[dn]\n",
    );
    openssl(
        dir.path(),
        &[
            "req",
            "-new",
            "-nodes",
            "-config",
            "req.cnf",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:P-256",
            "-keyout",
            "k.pem",
            "-subj",
            "/CN=Zażółć/C=PL",
            "-outform",
            "DER",
            "-out",
            "r.der",
        ],
        None,
    );
    let csr = parse_csr(&read(dir.path(), "r.der")).unwrap();
    csr.verify_signature().unwrap();
    assert!(matches!(
        csr.subject_attributes(),
        Err(CryptoError::InvalidCsr(_))
    ));
}
