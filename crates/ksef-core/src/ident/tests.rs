use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::macros::date;

fn rng() -> StdRng {
    StdRng::seed_from_u64(0x4B53_6546)
}

/// Replaces the digit at `i` with a different digit.
fn mutate_digit(s: &str, i: usize, delta: u8) -> String {
    let mut b = s.as_bytes().to_vec();
    b[i] = b'0' + (b[i] - b'0' + delta) % 10;
    String::from_utf8(b).unwrap()
}

// ----- NIP -----------------------------------------------------------------------------------

#[test]
fn nip_valid_examples() {
    // From the digest / API docs.
    for s in ["5265877635", "7762811692", "5555555555", "6824515772"] {
        let nip: Nip = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(nip.as_str(), s);
        assert_eq!(nip.to_string(), s);
    }
}

#[test]
fn nip_bad_checksum_names_expected_digit() {
    let err = "5265877636".parse::<Nip>().unwrap_err();
    assert_eq!(
        err,
        IdentifierError::BadChecksum {
            kind: IdentifierKind::Nip,
            value: "5265877636".into(),
            expected: "5".into(),
            found: "6".into(),
        }
    );
    let msg = err.to_string();
    assert!(
        msg.contains("NIP") && msg.contains("expected check 5"),
        "{msg}"
    );
}

#[test]
fn nip_remainder_ten_is_invalid() {
    // 1,2,3,4,5,6,7,8,9 × 6,5,7,2,3,4,5,6,7 = 230; 230 mod 11 = 10.
    for last in 0..=9 {
        let s = format!("123456789{last}");
        assert_eq!(
            s.parse::<Nip>().unwrap_err(),
            IdentifierError::UnsatisfiableChecksum {
                kind: IdentifierKind::Nip,
                value: s.clone()
            }
        );
    }
}

#[test]
fn nip_shape_errors() {
    assert!(matches!(
        "526587763".parse::<Nip>(),
        Err(IdentifierError::WrongLength {
            kind: IdentifierKind::Nip,
            actual: 9,
            ..
        })
    ));
    assert!(matches!(
        "52658776350".parse::<Nip>(),
        Err(IdentifierError::WrongLength { actual: 11, .. })
    ));
    assert!(matches!(
        "526-877635".parse::<Nip>(),
        Err(IdentifierError::NonDigit {
            position: 3,
            found: '-',
            ..
        })
    ));
    // Leading zero and "00" in positions 2-3 violate the API pattern.
    for s in ["0265877635", "5005877635"] {
        assert!(
            matches!(
                s.parse::<Nip>(),
                Err(IdentifierError::PatternMismatch { .. })
            ),
            "{s}"
        );
    }
    // Non-ASCII digits are not digits.
    assert!(matches!(
        "５265877635".parse::<Nip>(),
        Err(IdentifierError::NonDigit { position: 0, .. })
    ));
}

#[test]
fn nip_generate_roundtrip_and_single_digit_errors_detected() {
    let mut rng = rng();
    for _ in 0..3000 {
        let nip = Nip::generate(&mut rng);
        let parsed: Nip = nip.as_str().parse().unwrap();
        assert_eq!(parsed, nip);
        // Every weight is non-zero mod 11, so any single-digit change is caught.
        for i in 0..10 {
            let bad = mutate_digit(nip.as_str(), i, 1 + (i as u8 % 9));
            assert!(bad.parse::<Nip>().is_err(), "{bad} accepted");
        }
    }
    assert!(Nip::random().as_str().parse::<Nip>().is_ok());
}

#[test]
fn nip_serde_validates() {
    let nip: Nip = serde_json::from_str("\"5265877635\"").unwrap();
    assert_eq!(serde_json::to_string(&nip).unwrap(), "\"5265877635\"");
    let err = serde_json::from_str::<Nip>("\"5265877636\"").unwrap_err();
    assert!(err.to_string().contains("bad checksum"), "{err}");
}

// ----- PESEL ---------------------------------------------------------------------------------

#[test]
fn pesel_valid_examples_and_birth_dates() {
    // (PESEL, birth date); the first two are from the API docs' examples.
    let cases = [
        ("15062788702", date!(1915 - 06 - 27)),
        ("22271569167", date!(2022 - 07 - 15)),
        ("44051401359", date!(1944 - 05 - 14)),
    ];
    for (s, born) in cases {
        let p: Pesel = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(p.birth_date(), Some(born), "{s}");
    }
}

#[test]
fn pesel_month_encodings() {
    // Month offsets: 1800s +80, 1900s +0, 2000s +20, 2100s +40, 2200s +60.
    let cases = [
        (date!(1850 - 03 - 09), "508309"),
        (date!(1999 - 12 - 31), "991231"),
        (date!(2000 - 01 - 01), "002101"),
        (date!(2012 - 11 - 30), "123130"),
        (date!(2150 - 02 - 28), "504228"),
        (date!(2299 - 10 - 05), "997005"),
    ];
    for (born, prefix) in cases {
        let p = Pesel::from_parts(born, 1234).unwrap();
        assert!(p.as_str().starts_with(prefix), "{p} for {born}");
        assert_eq!(p.as_str().parse::<Pesel>().unwrap(), p);
        assert_eq!(p.birth_date(), Some(born));
    }
    assert!(Pesel::from_parts(date!(1799 - 12 - 31), 0).is_err());
    assert!(Pesel::from_parts(date!(2300 - 01 - 01), 0).is_err());
    assert!(Pesel::from_parts(date!(2000 - 01 - 01), 10000).is_err());
}

#[test]
fn pesel_invalid() {
    // Bad check digit (valid one is 9).
    let err = "44051401358".parse::<Pesel>().unwrap_err();
    assert!(
        matches!(&err, IdentifierError::BadChecksum { expected, found, .. } if expected == "9" && found == "8"),
        "{err:?}"
    );
    assert!(err.to_string().contains("PESEL"));
    // Month 13, 00, 20, 33, 93 are not encodable: pattern mismatch before the checksum.
    for mm in ["13", "00", "20", "33", "93"] {
        let s = format!("44{mm}1401359");
        assert!(
            matches!(
                s.parse::<Pesel>(),
                Err(IdentifierError::PatternMismatch {
                    kind: IdentifierKind::Pesel,
                    ..
                })
            ),
            "{s}"
        );
    }
    assert!(matches!(
        "4405140135".parse::<Pesel>(),
        Err(IdentifierError::WrongLength { actual: 10, .. })
    ));
    assert!(matches!(
        "4405140135a".parse::<Pesel>(),
        Err(IdentifierError::NonDigit { position: 10, .. })
    ));
    // The API pattern does not check the day: 31 February passes, but has no birth date.
    let body = "0202310000";
    let d: Vec<u8> = body.bytes().map(|b| b - b'0').collect();
    let feb31: Pesel = format!("{body}{}", pesel_check_digit(&d)).parse().unwrap();
    assert_eq!(feb31.birth_date(), None);
}

#[test]
fn pesel_generate_roundtrip() {
    let mut rng = rng();
    for _ in 0..3000 {
        let p = Pesel::generate(&mut rng);
        assert_eq!(p.as_str().parse::<Pesel>().unwrap(), p);
        let born = p.birth_date().expect("generated PESEL has a real date");
        assert!((1940..=2006).contains(&born.year()));
        // Weights 1,3,7,9 are coprime with 10: any single-digit change is caught.
        for i in 0..11 {
            let bad = mutate_digit(p.as_str(), i, 5);
            assert!(bad.parse::<Pesel>().is_err(), "{bad} accepted");
        }
    }
    assert!(Pesel::random().birth_date().is_some());
}

// ----- InternalId ----------------------------------------------------------------------------

#[test]
fn internal_id_digest_example() {
    let nip: Nip = "6824515772".parse().unwrap();
    let id = InternalId::new(&nip, 1234).unwrap();
    assert_eq!(id.as_str(), "6824515772-12343");
    assert_eq!(InternalId::new(nip.clone(), 1234).unwrap(), id);
    assert_eq!(id.nip(), nip);
    assert_eq!(id.suffix(), "12343");
    assert_eq!("6824515772-12343".parse::<InternalId>().unwrap(), id);
    assert!(InternalId::new(&nip, 10000).is_err());
    assert_eq!(
        InternalId::new(&nip, 7).unwrap().as_str().len(),
        16,
        "suffix is zero-padded"
    );
}

#[test]
fn internal_id_invalid() {
    let err = "6824515772-12344".parse::<InternalId>().unwrap_err();
    assert_eq!(
        err,
        IdentifierError::BadChecksum {
            kind: IdentifierKind::InternalId,
            value: "6824515772-12344".into(),
            expected: "3".into(),
            found: "4".into(),
        }
    );
    // NIP part with a bad checksum is reported as an InternalId error.
    assert!(matches!(
        "6824515773-12343".parse::<InternalId>(),
        Err(IdentifierError::BadChecksum {
            kind: IdentifierKind::InternalId,
            ..
        })
    ));
    assert!(matches!(
        "6824515772_12343".parse::<InternalId>(),
        Err(IdentifierError::PatternMismatch { .. })
    ));
    assert!(matches!(
        "6824515772-1234".parse::<InternalId>(),
        Err(IdentifierError::WrongLength {
            expected: "16",
            actual: 15,
            ..
        })
    ));
    assert!(matches!(
        "6824515772-12a43".parse::<InternalId>(),
        Err(IdentifierError::NonDigit {
            position: 13,
            found: 'a',
            ..
        })
    ));
}

#[test]
fn internal_id_roundtrip() {
    let mut rng = rng();
    for i in 0..3000u16 {
        let nip = Nip::generate(&mut rng);
        let id = InternalId::new(&nip, i * 3).unwrap();
        assert_eq!(id.as_str().parse::<InternalId>().unwrap(), id);
        for pos in 11..16 {
            let bad = mutate_digit(id.as_str(), pos, 3);
            assert!(bad.parse::<InternalId>().is_err(), "{bad} accepted");
        }
    }
}

// ----- NipVatUe ------------------------------------------------------------------------------

#[test]
fn nip_vat_ue_valid_per_country() {
    let vats = [
        "ATU12345678",
        "BE0123456789",
        "BE1123456789",
        "BG123456789",
        "BG1234567890",
        "CY12345678X",
        "CZ12345678",
        "CZ1234567890",
        "DE123456789",
        "DK12345678",
        "EE123456789",
        "EL123456789",
        "ESX12345678",
        "ES12345678X",
        "ESX1234567X",
        "FI12345678",
        "FRXX123456789",
        "FR12123456789",
        "HR12345678901",
        "HU12345678",
        "IE1234567WA",
        "IE1A23456B",
        "IE1+23456B",
        "IT12345678901",
        "LT123456789",
        "LT123456789012",
        "LU12345678",
        "LV12345678901",
        "MT12345678",
        "NL123456789B01",
        "NL+*3456789B01",
        "PT123456789",
        "RO12",
        "RO1234567890",
        "SE123456789012",
        "SI12345678",
        "SK1234567890",
        "XI123456789",
        "XI123456789012",
        "XIGD123",
        "XIHA999",
    ];
    for vat in vats {
        let s = format!("5265877635-{vat}");
        let v: NipVatUe = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(v.vat_ue(), vat);
        assert_eq!(v.nip().as_str(), "5265877635");
    }
    assert_eq!(
        NipVatUe::new("5265877635".parse::<Nip>().unwrap(), "ATU12345678")
            .unwrap()
            .as_str(),
        "5265877635-ATU12345678"
    );
}

#[test]
fn nip_vat_ue_invalid() {
    let bad_pattern = [
        "AT12345678",    // missing U
        "ATU1234567",    // too short
        "BE2123456789",  // BE must start with 0 or 1
        "BG12345678",    // 8 digits
        "BG12345678901", // 11 digits
        "CZ1234567",     // 7 digits
        "CZ12345678901", // 11 digits
        "ES123456789",   // no letter
        "FRX12345678",   // 1 char + 8 digits
        "IE12345678",    // no letters
        "LT1234567890",  // 10 digits
        "NL12345678B01", // 11 chars
        "RO1",           // 1 digit
        "RO12345678901", // 11 digits
        "XIGD12",        // short
        "XIAB123",       // not GD/HA
        "DE12345678 ",   // trailing space
    ];
    for vat in bad_pattern {
        let s = format!("5265877635-{vat}");
        assert!(
            matches!(
                s.parse::<NipVatUe>(),
                Err(IdentifierError::PatternMismatch {
                    kind: IdentifierKind::NipVatUe,
                    ..
                })
            ),
            "{s} accepted or wrong error: {:?}",
            s.parse::<NipVatUe>()
        );
    }
    // Not an EU country prefix (PL is deliberately excluded, GB left the EU).
    for vat in ["PL5265877635", "GB123456789", "X", "de123456789"] {
        let s = format!("5265877635-{vat}");
        let err = s.parse::<NipVatUe>().unwrap_err();
        assert!(
            matches!(&err, IdentifierError::Invalid { .. }) && err.to_string().contains("country"),
            "{s}: {err:?}"
        );
    }
    // NIP part is validated with its checksum.
    assert!(matches!(
        "5265877636-ATU12345678".parse::<NipVatUe>(),
        Err(IdentifierError::BadChecksum {
            kind: IdentifierKind::NipVatUe,
            ..
        })
    ));
    assert!(matches!(
        "526587763-ATU12345678".parse::<NipVatUe>(),
        Err(IdentifierError::Invalid { .. })
    ));
    assert!("5265877635".parse::<NipVatUe>().is_err());
}

// ----- PeppolId ------------------------------------------------------------------------------

#[test]
fn peppol_id() {
    assert_eq!(
        "PPL123456".parse::<PeppolId>().unwrap().as_str(),
        "PPL123456"
    );
    for s in ["XPL123456", "Ppl123456", "PPL12345A", "PP1123456"] {
        assert!(
            matches!(
                s.parse::<PeppolId>(),
                Err(IdentifierError::PatternMismatch { .. })
            ),
            "{s}"
        );
    }
    assert!(matches!(
        "PPL1234567".parse::<PeppolId>(),
        Err(IdentifierError::WrongLength { actual: 10, .. })
    ));
}

// ----- Context / subject identifiers ---------------------------------------------------------

#[test]
fn context_identifier_json_shape() {
    let json = r#"{"type":"Nip","value":"5265877635"}"#;
    let c: ContextIdentifier = serde_json::from_str(json).unwrap();
    assert_eq!(c.kind(), ContextIdentifierType::Nip);
    assert_eq!(c.value(), "5265877635");
    assert_eq!(serde_json::to_string(&c).unwrap(), json);
    assert_eq!(c.to_string(), "Nip:5265877635");

    let cases = [
        (ContextIdentifierType::InternalId, "6824515772-12343"),
        (ContextIdentifierType::NipVatUe, "5265877635-ATU12345678"),
        (ContextIdentifierType::PeppolId, "PPL123456"),
    ];
    for (kind, value) in cases {
        let c = ContextIdentifier::parse(kind, value).unwrap();
        let json = serde_json::to_string(&c).unwrap();
        assert_eq!(json, format!(r#"{{"type":"{kind}","value":"{value}"}}"#));
        assert_eq!(serde_json::from_str::<ContextIdentifier>(&json).unwrap(), c);
    }
}

#[test]
fn context_identifier_rejects_bad_values() {
    for json in [
        r#"{"type":"Nip","value":"5265877636"}"#,
        r#"{"type":"InternalId","value":"5265877635"}"#,
        r#"{"type":"Pesel","value":"15062788702"}"#,
        r#"{"type":"nip","value":"5265877635"}"#,
        r#"{"value":"5265877635"}"#,
    ] {
        assert!(
            serde_json::from_str::<ContextIdentifier>(json).is_err(),
            "{json}"
        );
    }
    assert!(ContextIdentifier::parse(ContextIdentifierType::Nip, "6824515772-12343").is_err());
}

#[test]
fn context_identifier_nip() {
    let i =
        ContextIdentifier::parse(ContextIdentifierType::InternalId, "6824515772-12343").unwrap();
    assert_eq!(i.nip().unwrap().as_str(), "6824515772");
    let p = ContextIdentifier::parse(ContextIdentifierType::PeppolId, "PPL123456").unwrap();
    assert_eq!(p.nip(), None);
}

#[test]
fn context_identifier_type_names() {
    for (t, name) in [
        (ContextIdentifierType::Nip, "Nip"),
        (ContextIdentifierType::InternalId, "InternalId"),
        (ContextIdentifierType::NipVatUe, "NipVatUe"),
        (ContextIdentifierType::PeppolId, "PeppolId"),
    ] {
        assert_eq!(serde_json::to_string(&t).unwrap(), format!("\"{name}\""));
        assert_eq!(name.parse::<ContextIdentifierType>().unwrap(), t);
    }
    let err = "NIP".parse::<ContextIdentifierType>().unwrap_err();
    assert!(
        err.to_string().contains("expected one of: Nip, InternalId"),
        "{err}"
    );
}

#[test]
fn subject_identifier_json_shape() {
    let fp = "a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f90";
    let s = SubjectIdentifier::parse(SubjectIdentifierKind::Fingerprint, fp).unwrap();
    assert_eq!(s.value(), fp.to_ascii_uppercase());
    let json = serde_json::to_string(&s).unwrap();
    assert_eq!(
        json,
        format!(
            r#"{{"type":"Fingerprint","value":"{}"}}"#,
            fp.to_ascii_uppercase()
        )
    );
    assert_eq!(serde_json::from_str::<SubjectIdentifier>(&json).unwrap(), s);

    let p: SubjectIdentifier =
        serde_json::from_str(r#"{"type":"Pesel","value":"15062788702"}"#).unwrap();
    assert_eq!(p.kind(), SubjectIdentifierKind::Pesel);
    assert_eq!(p, SubjectIdentifier::Pesel("15062788702".parse().unwrap()));

    for json in [
        r#"{"type":"Fingerprint","value":"ABC"}"#,
        r#"{"type":"Fingerprint","value":"G1B2C3D4E5F60718293A4B5C6D7E8F90A1B2C3D4E5F60718293A4B5C6D7E8F90"}"#,
        r#"{"type":"Pesel","value":"15062788703"}"#,
        r#"{"type":"InternalId","value":"6824515772-12343"}"#,
    ] {
        assert!(
            serde_json::from_str::<SubjectIdentifier>(json).is_err(),
            "{json}"
        );
    }
}
