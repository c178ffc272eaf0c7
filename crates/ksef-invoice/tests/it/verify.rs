//! `verify` / `validate_schema` / `extract_facts` on the official C# client templates
//! (the vendored official files, via `ksef_testkit::invoices`).

use ksef_invoice::{FormCode, InvoiceError, extract_facts, validate_schema, verify};
use ksef_testkit::invoices as inv;
use time::macros::date;

const NIP: &str = "5265877635";

#[test]
fn fa3_template_verifies_with_all_facts() {
    let xml = inv::fa3(NIP, "0001");
    let f = verify(FormCode::Fa3, &xml).expect("FA(3) template is valid");
    assert_eq!(f.form_code, FormCode::Fa3);
    assert_eq!(f.seller_nip, NIP);
    assert_eq!(f.seller_name.as_deref(), Some("Elektrownia S.A."));
    assert_eq!(f.invoice_number, "FA/GRQMB-0001/05/2025");
    assert_eq!(f.issue_date, date!(2025 - 09 - 01));
    assert_eq!(f.rodzaj_faktury, "VAT");
    assert_eq!(f.invoice_type, "Vat");
    assert_eq!(f.currency, "PLN");
    assert_eq!(f.net_amount, Some(43.60));
    assert_eq!(f.vat_amount, Some(10.03));
    assert_eq!(f.gross_amount, Some(53.63));
    assert_eq!(f.buyer.identifier_type, "Nip");
    assert_eq!(f.buyer.identifier.as_deref(), Some("1111111111"));
    assert_eq!(f.buyer.name.as_deref(), Some("F.H.U. Jan Kowalski"));
    assert!(f.third_subjects.is_empty());
    assert_eq!(f.authorized_subject, None);
    assert!(!f.is_self_invoicing);
    assert!(!f.has_attachment);
}

#[test]
fn fa2_template_verifies() {
    let xml = inv::fa2(NIP, "FA2/7");
    let f = verify(FormCode::Fa2, &xml).expect("FA(2) template is valid");
    assert_eq!(f.seller_nip, NIP);
    assert_eq!(f.invoice_number, "FA/GRQMB-FA2/7/05/2025");
    assert_eq!(f.buyer.identifier.as_deref(), Some("7352765225"));
    assert_eq!(f.invoice_type, "Vat");
    assert!(f.gross_amount.is_some() && f.net_amount.is_some() && f.vat_amount.is_some());
    let (net, vat, gross) = (
        f.net_amount.unwrap_or_default(),
        f.vat_amount.unwrap_or_default(),
        f.gross_amount.unwrap_or_default(),
    );
    assert!(
        (net + vat - gross).abs() < 0.005,
        "{net} + {vat} != {gross}"
    );
}

#[test]
fn fa_rr1_template_verifies() {
    let xml = inv::fa_rr1(NIP, "RR/1/2026");
    let f = verify(FormCode::FaRr1, &xml).expect("FA_RR(1) template is valid");
    assert_eq!(f.seller_nip, NIP);
    assert_eq!(f.invoice_number, "RR/1/2026");
    assert_eq!(f.issue_date, date!(2026 - 02 - 23));
    assert_eq!(f.rodzaj_faktury, "VAT_RR");
    assert_eq!(f.invoice_type, "VatRr");
    assert_eq!(f.net_amount, Some(2000.00));
    assert_eq!(f.vat_amount, Some(140.00));
    assert_eq!(f.gross_amount, Some(2140.00));
    assert_eq!(f.buyer.identifier.as_deref(), Some(inv::DEFAULT_BUYER_NIP));
}

#[test]
fn pef_templates_verify() {
    let f = verify(FormCode::Pef3, &inv::pef3(NIP, "PEF-1")).expect("PEF(3) template is valid");
    assert_eq!(f.seller_nip, NIP);
    assert_eq!(f.invoice_number, "PEF-1");
    assert_eq!(f.invoice_type, "VatPef");
    assert_eq!(f.rodzaj_faktury, "380");
    assert_eq!(f.currency, "EUR");
    assert_eq!(f.net_amount, Some(5900.00));
    assert_eq!(f.gross_amount, Some(7125.00));
    assert_eq!(f.vat_amount, Some(1225.00));
    assert_eq!(f.issue_date, date!(2025 - 09 - 01));
    let f = verify(FormCode::PefKor3, &inv::pef_kor3(NIP, "PEF-K-1"))
        .expect("PEF_KOR(3) template is valid");
    assert_eq!(f.seller_nip, NIP);
    assert_eq!(f.invoice_type, "KorPef");
    assert_eq!(f.invoice_number, "PEF-K-1");
}

#[test]
fn attachment_and_subjects() {
    let f = verify(FormCode::Fa3, &inv::fa3_with_attachment(NIP, "Z1")).expect("valid");
    assert!(f.has_attachment);

    let f = verify(FormCode::Fa3, &inv::fa3_with_subject3(NIP, "S3/1")).expect("valid");
    assert_eq!(f.invoice_number, "S3/1");
    assert_eq!(f.third_subjects.len(), 1, "{:?}", f.third_subjects);
    assert_eq!(f.third_subjects[0].role, 8);
    assert_eq!(f.third_subjects[0].identifier_type, "Nip");
    assert_eq!(
        f.third_subjects[0].identifier.as_deref(),
        Some(inv::DEFAULT_BUYER_NIP)
    );

    let f = verify(FormCode::Fa3, &inv::fa3_with_multiple_subject3(NIP, "S3/2")).expect("valid");
    assert_eq!(f.third_subjects.len(), 2, "{:?}", f.third_subjects);
    for (i, s) in f.third_subjects.iter().enumerate() {
        assert_eq!(s.identifier_type, "InternalId");
        assert_eq!(s.identifier, Some(format!("{NIP}-0000{}", i + 1)));
        assert!((0..=11).contains(&s.role));
        assert!(
            s.name
                .as_deref()
                .is_some_and(|n| n.starts_with("Szkoła Podstawowa"))
        );
    }

    let xml = inv::from_template(inv::template_path(inv::FA3_CUSTOM_SUBJECT2), NIP, "x");
    let f = verify(FormCode::Fa3, &xml).expect("valid");
    assert_eq!(f.buyer.identifier.as_deref(), Some(inv::DEFAULT_BUYER_NIP));
}

#[test]
fn detect_form_codes() {
    assert_eq!(FormCode::detect(&inv::fa3(NIP, "1")), Some(FormCode::Fa3));
    assert_eq!(FormCode::detect(&inv::fa2(NIP, "1")), Some(FormCode::Fa2));
    assert_eq!(
        FormCode::detect(&inv::fa_rr1(NIP, "1")),
        Some(FormCode::FaRr1)
    );
    assert_eq!(FormCode::detect(&inv::pef3(NIP, "1")), Some(FormCode::Pef3));
    assert_eq!(
        FormCode::detect(&inv::pef_kor3(NIP, "1")),
        Some(FormCode::PefKor3)
    );
    assert_eq!(FormCode::detect(b"<a/>"), None);
    assert_eq!(FormCode::detect(b"not xml"), None);
}

#[test]
fn broken_variants_are_rejected_with_430() {
    for (name, xml, status) in inv::broken_all(NIP, "B1") {
        let err = verify(FormCode::Fa3, &xml).expect_err(name);
        assert_eq!(err.status_code(), status, "{name}: {err:?}");
        assert!(!err.details().is_empty(), "{name}");
        match name {
            "bom" | "encoding_declaration" | "processing_instruction" | "discouraged_char" => {
                assert!(matches!(err, InvoiceError::Encoding(_)), "{name}: {err:?}")
            }
            "not_well_formed" => {
                assert!(
                    matches!(err, InvoiceError::NotWellFormed(_)),
                    "{name}: {err:?}"
                )
            }
            _ => assert!(matches!(err, InvoiceError::Schema(_)), "{name}: {err:?}"),
        }
    }
}

#[test]
fn wrong_session_form_is_named() {
    let err = validate_schema(FormCode::Fa3, &inv::fa2(NIP, "1")).expect_err("FA(2) in FA(3)");
    let details = err.details();
    assert!(
        details[0].contains("FA (2)") && details[0].contains("FA (3)"),
        "{details:?}"
    );
}

#[test]
fn schema_errors_are_specific() {
    // Bad NIP on line 12 of the template.
    let xml = inv::with_element_text(&inv::fa3(NIP, "1"), "NIP", "52658X7635");
    let err = validate_schema(FormCode::Fa3, &xml).expect_err("bad NIP");
    let d = err.details();
    assert!(
        d.iter()
            .any(|l| l.starts_with("line 12:") && l.contains("NIP") && l.contains("52658X7635")),
        "{d:?}"
    );
    // Month 13 in P_1 (line 45).
    let err = validate_schema(FormCode::Fa3, &inv::broken_schema(NIP, "1")).expect_err("P_1");
    let d = err.details();
    assert!(
        d.iter()
            .any(|l| l.starts_with("line 45:") && l.contains("'P_1'") && l.contains("2025-13-01")),
        "{d:?}"
    );
    // Missing P_2: the next element is named together with the expected one.
    let err = validate_schema(FormCode::Fa3, &inv::broken_missing_p2(NIP, "1")).expect_err("P_2");
    let d = err.details();
    assert!(
        d.iter()
            .any(|l| l.starts_with("line ") && l.contains("P_2") && l.contains("OkresFa")),
        "{d:?}"
    );
    // Not well-formed: line of the bad end tag.
    let err = verify(FormCode::Fa3, &inv::broken_not_well_formed(NIP, "1")).expect_err("nwf");
    let d = err.details();
    assert!(
        d.iter().any(|l| l.starts_with("line ") && l.contains("Fx")),
        "{d:?}"
    );
}

#[test]
fn extract_facts_without_xsd() {
    // Facts are readable even when the XSD would refuse the document.
    let f = extract_facts(FormCode::Fa3, &inv::broken_schema(NIP, "9")).expect_err("bad date");
    assert!(matches!(f, InvoiceError::Semantic(_)), "{f:?}");
    let xml = inv::with_element_text(&inv::fa3(NIP, "9"), "P_17", "1");
    let f = extract_facts(FormCode::Fa3, &xml).expect("facts");
    assert!(f.is_self_invoicing);
    // Root of another form.
    let e = extract_facts(FormCode::Fa3, &inv::fa2(NIP, "9")).expect_err("FA(2) root");
    assert_eq!(e.status_code(), 450);
}

#[test]
fn validates_on_many_threads() {
    let xml = inv::fa3(NIP, "T");
    std::thread::scope(|s| {
        for _ in 0..4 {
            s.spawn(|| {
                for _ in 0..20 {
                    verify(FormCode::Fa3, &xml).expect("valid on every thread");
                    assert!(verify(FormCode::Fa3, &inv::broken_schema(NIP, "T")).is_err());
                }
            });
        }
    });
}

#[test]
#[ignore = "prints the detail lines of every broken variant (manual inspection)"]
fn show_details() {
    for (name, xml, _) in inv::broken_all(NIP, "B1") {
        let err = verify(FormCode::Fa3, &xml).expect_err(name);
        println!("== {name}: {err}");
        for l in err.details() {
            println!("   {l}");
        }
    }
}

/// `verify` reads facts from the libxml2 tree, `extract_facts` from roxmltree: same answers.
#[test]
fn both_fact_readers_agree() {
    let cases = [
        (FormCode::Fa3, inv::fa3(NIP, "A1")),
        (FormCode::Fa2, inv::fa2(NIP, "A2")),
        (FormCode::FaRr1, inv::fa_rr1(NIP, "A3")),
        (FormCode::Pef3, inv::pef3(NIP, "A4")),
        (FormCode::PefKor3, inv::pef_kor3(NIP, "A5")),
        (FormCode::Fa3, inv::fa3_with_attachment(NIP, "A6")),
        (FormCode::Fa3, inv::fa3_with_subject3(NIP, "A7")),
        (FormCode::Fa3, inv::fa3_with_multiple_subject3(NIP, "A8")),
    ];
    for (form, xml) in cases {
        let a = verify(form, &xml).expect("valid");
        let b = extract_facts(form, &xml).expect("facts");
        assert_eq!(a, b, "{form}");
    }
}
