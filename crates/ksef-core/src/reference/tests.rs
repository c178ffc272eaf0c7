use super::*;
use rand::SeedableRng;
use rand::rngs::StdRng;
use time::macros::{date, datetime};

/// Reference numbers from the digest and the OpenAPI examples; in the unedited ones the last
/// two hex digits are the CRC-8 of the first 33 characters.
const ISSUED_REFERENCES: &[&str] = &[
    "20250514-AU-2DFC46C000-3AC6D5877F-D4",
    "20250514-CR-226FB7B000-3ACF9BE4C0-10",
    "20250604-CR-461EA5B000-537A6BA15D-D7",
    "20250625-CR-20F5EE4000-DA48AE4124-46",
    "20250625-EE-319D7EE000-B67F415CDC-2C",
    "20250625-SO-2C3E6C8000-B675CF5D68-07",
    "20250626-EE-2F20AD2000-242386DF86-52",
    "20250626-EG-333C814000-C529F710D8-D2",
    "20250626-SB-213D593000-4DE10D80A5-E9",
    "20250918-SB-3789A40000-20373E1269-A3",
    "20250925-EH-2D2C11B000-E9C9ED8340-EE",
    "20250928-SO-494B541000-3AD87C01BA-5D",
    "20251001-EC-220B0CE000-E228129563-96",
    "20251010-AU-19F5E39000-39B5B182BA-B8",
    "20251010-EC-1DCE3E3000-12ECB5B36E-45",
    "20251010-EH-1B6C9EB000-4B15D3AEB9-89",
];

/// Documentation examples whose date was edited by hand: valid shape, CRC does not match.
const EDITED_REFERENCES: &[&str] = &[
    "20250819-EC-1ECDD12000-5EE71AE5E3-B7",
    "20250918-EE-2F20AD2000-242386DF86-52",
    "20250918-EU-2EBD6FA000-242EB9B66D-43",
];

#[test]
fn crc8_standard_check_value() {
    // CRC-8/SMBUS catalogue check value.
    assert_eq!(crc8(b"123456789"), 0xF4);
    assert_eq!(crc8(b""), 0);
}

#[test]
fn reference_number_examples() {
    for s in ISSUED_REFERENCES {
        let r: ReferenceNumber = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(r.as_str(), *s);
        assert!(r.has_valid_checksum(), "{s}");
        assert_eq!(r.kind_code(), &s[9..11]);
        assert!(r.kind().is_some(), "{s}");
    }
    for s in EDITED_REFERENCES {
        let r: ReferenceNumber = s.parse().unwrap();
        assert!(!r.has_valid_checksum(), "{s}");
    }
    let r: ReferenceNumber = "20251010-EC-1DCE3E3000-12ECB5B36E-45".parse().unwrap();
    assert_eq!(r.kind(), Some(ReferenceKind::KsefToken));
    assert_eq!(r.date(), date!(2025 - 10 - 10));
    // Unknown (but well-formed) type codes are accepted.
    let r: ReferenceNumber = "20251010-Z9-1DCE3E3000-12ECB5B36E-45".parse().unwrap();
    assert_eq!(r.kind(), None);
    assert_eq!(r.kind_code(), "Z9");
}

#[test]
fn reference_number_invalid() {
    let bad = [
        "20251010-ec-1DCE3E3000-12ECB5B36E-45", // lowercase type
        "20251010-EC-1dce3e3000-12ECB5B36E-45", // lowercase hex
        "20251010-EC-1DCE3E300G-12ECB5B36E-45", // non-hex
        "20251010_EC-1DCE3E3000-12ECB5B36E-45", // separator
        "20191010-EC-1DCE3E3000-12ECB5B36E-45", // year < 2020
        "20251310-EC-1DCE3E3000-12ECB5B36E-45", // month 13
        "20250231-EC-1DCE3E3000-12ECB5B36E-45", // 31 February
        "2025101a-EC-1DCE3E3000-12ECB5B36E-45",
    ];
    for s in bad {
        assert!(
            matches!(
                s.parse::<ReferenceNumber>(),
                Err(IdentifierError::PatternMismatch {
                    kind: IdentifierKind::ReferenceNumber,
                    ..
                })
            ),
            "{s}"
        );
    }
    assert!(matches!(
        "20251010-EC-1DCE3E3000-12ECB5B36E-4".parse::<ReferenceNumber>(),
        Err(IdentifierError::WrongLength { actual: 35, .. })
    ));
    // Non-ASCII input of the right char count must not panic.
    assert!(
        "2025101ą-EC-1DCE3E3000-12ECB5B36E-4"
            .parse::<ReferenceNumber>()
            .is_err()
    );
}

#[test]
fn reference_kind_codes() {
    let expected = [
        (ReferenceKind::Challenge, "CR"),
        (ReferenceKind::AuthenticationOperation, "AU"),
        (ReferenceKind::OnlineSession, "SO"),
        (ReferenceKind::BatchSession, "SB"),
        (ReferenceKind::SessionInvoice, "EE"),
        (ReferenceKind::UpoPage, "EU"),
        (ReferenceKind::KsefToken, "EC"),
        (ReferenceKind::PermissionOperation, "EG"),
        (ReferenceKind::InvoiceExport, "EH"),
    ];
    assert_eq!(expected.len(), ReferenceKind::ALL.len());
    for (k, code) in expected {
        assert_eq!(k.code(), code);
        assert_eq!(ReferenceKind::from_code(code), Some(k));
    }
}

#[test]
fn reference_number_generate_roundtrip() {
    let mut rng = StdRng::seed_from_u64(7);
    let at = datetime!(2025-10-10 23:59:59 UTC);
    let mut seen = std::collections::HashSet::new();
    for i in 0..3000 {
        let kind = ReferenceKind::ALL[i % ReferenceKind::ALL.len()];
        let r = ReferenceNumber::generate_with(&mut rng, kind, at);
        let parsed: ReferenceNumber = r.as_str().parse().unwrap();
        assert_eq!(parsed, r);
        assert_eq!(r.kind(), Some(kind));
        assert_eq!(r.date(), date!(2025 - 10 - 10));
        assert!(r.has_valid_checksum());
        assert!(seen.insert(r));
    }
    let r = ReferenceNumber::generate(ReferenceKind::Challenge, at);
    assert!(r.as_str().starts_with("20251010-CR-"));
}

#[test]
fn reference_number_serde() {
    let s = "\"20251010-EC-1DCE3E3000-12ECB5B36E-45\"";
    let r: ReferenceNumber = serde_json::from_str(s).unwrap();
    assert_eq!(serde_json::to_string(&r).unwrap(), s);
    assert!(serde_json::from_str::<ReferenceNumber>("\"20251010-EC\"").is_err());
}

// ----- KSeF numbers --------------------------------------------------------------------------

/// Every KSeF number found in the digest and the official docs (UPO samples, OpenAPI).
const KSEF_NUMBERS: &[&str] = &[
    "5265877635-20250626-010080DD2B5E-26",
    "5265877635-20250916-010040741B3E-46",
    "5265877635-20250916-0100C002FF3E-D5",
    "5265877635-20250916-02000009FF3E-FB",
    "5265877635-20250916-020000583241-84",
    "5265877635-20250916-0200A0D6723E-C2",
    "5265877635-20250925-010020A0A242-0A",
    "5555555555-20250828-010080615740-E4",
];

#[test]
fn ksef_number_digest_crc_example() {
    assert_eq!(crc8(b"5265877635-20250826-0100001AF629"), 0xAF);
    let n: KsefNumber = "5265877635-20250826-0100001AF629-AF".parse().unwrap();
    assert_eq!(n.crc(), "AF");
}

#[test]
fn ksef_number_examples() {
    for s in KSEF_NUMBERS {
        let n: KsefNumber = s.parse().unwrap_or_else(|e| panic!("{s}: {e}"));
        assert_eq!(n.as_str(), *s);
        assert!(!n.is_legacy());
        assert_eq!(n.seller_nip(), &s[..10]);
        assert!(n.nip().is_some());
        assert_eq!(format!("{:02X}", crc8(&s.as_bytes()[..32])), n.crc());
    }
    let n: KsefNumber = KSEF_NUMBERS[0].parse().unwrap();
    assert_eq!(n.date(), date!(2025 - 06 - 26));
}

#[test]
fn ksef_number_legacy_form() {
    // 36-char KSeF 1.0 form: CRC over everything before the last hyphen (incl. the extra one).
    let body = "5265877635-20230102-ABCDEF-012345";
    let s = format!("{body}-{:02X}", crc8(body.as_bytes()));
    let n: KsefNumber = s.parse().unwrap();
    assert!(n.is_legacy());
    assert_eq!(n.date(), date!(2023 - 01 - 02));
    let wrong = format!("{body}-{:02X}", crc8(body.as_bytes()) ^ 1);
    assert!(matches!(
        wrong.parse::<KsefNumber>(),
        Err(IdentifierError::BadChecksum { .. })
    ));
}

#[test]
fn ksef_number_invalid() {
    let err = "5265877635-20250626-010080DD2B5E-27"
        .parse::<KsefNumber>()
        .unwrap_err();
    assert_eq!(
        err,
        IdentifierError::BadChecksum {
            kind: IdentifierKind::KsefNumber,
            value: "5265877635-20250626-010080DD2B5E-27".into(),
            expected: "26".into(),
            found: "27".into(),
        }
    );
    assert!(err.to_string().contains("KSeF number"), "{err}");
    let pattern_bad = [
        "0265877635-20250626-010080DD2B5E-26", // leading zero NIP
        "5265877635-20250626-010080dd2b5e-26", // lowercase hex
        "5265877635-20251326-010080DD2B5E-26", // month 13
        "5265877635-20190626-010080DD2B5E-26", // year < 2020
        "5265877635_20250626-010080DD2B5E-26", // separator
        "5265877635-20250626-010080DD2B5E_26",
        "5265877635-20250626-010080-DD2B5-E26", // hyphen in wrong place (36 chars)
        "5265877635-20250626-010080DD2B5E-2G",
    ];
    for s in pattern_bad {
        assert!(
            matches!(
                s.parse::<KsefNumber>(),
                Err(IdentifierError::PatternMismatch { .. })
            ),
            "{s}: {:?}",
            s.parse::<KsefNumber>()
        );
    }
    assert!(matches!(
        "5265877635-20250626-010080DD2B5E-2".parse::<KsefNumber>(),
        Err(IdentifierError::WrongLength { actual: 34, .. })
    ));
    assert!(
        "5265877635-2025062ą-010080DD2B5E-2"
            .parse::<KsefNumber>()
            .is_err()
    );
}

#[test]
fn ksef_number_generate_roundtrip_and_errors_detected() {
    let mut rng = StdRng::seed_from_u64(11);
    for _ in 0..3000 {
        let nip = Nip::generate(&mut rng);
        let n = KsefNumber::generate_with(&mut rng, &nip, date!(2025 - 08 - 26));
        assert_eq!(n.as_str().len(), 35);
        let parsed: KsefNumber = n.as_str().parse().unwrap();
        assert_eq!(parsed, n);
        assert_eq!(n.nip(), Some(nip));
        // A CRC-8 catches every single-character change in the technical part.
        let mut b = n.as_str().as_bytes().to_vec();
        b[25] = if b[25] == b'0' { b'1' } else { b'0' };
        let bad = String::from_utf8(b).unwrap();
        assert!(bad.parse::<KsefNumber>().is_err(), "{bad}");
    }
    let n = KsefNumber::generate("5265877635".parse::<Nip>().unwrap(), date!(2026 - 01 - 31));
    assert!(n.as_str().starts_with("5265877635-20260131-"));
}
