//! UPO v4-3: rendering reproduces the official samples byte for byte (modulo trailing
//! whitespace), rendered UPOs validate against upo-v4-3.xsd, broken ones do not.

use std::path::PathBuf;

use ksef_invoice::FormCode;
use ksef_invoice::upo::{
    self, RECEIVER_PRD, RECEIVER_TEST, Upo, UpoAuthentication, UpoContext, UpoDocument, UpoPage,
};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::{date, datetime};

const NS: &str = "http://upo.schematy.mf.gov.pl/KSeF/v4-3";

fn samples_dir() -> PathBuf {
    ksef_testkit::spec_dir().join("ksef-docs/faktury/upo/przyklady/v4-3")
}

fn sample_files() -> Vec<PathBuf> {
    let mut out = Vec::new();
    let Ok(dirs) = std::fs::read_dir(samples_dir()) else {
        return out;
    };
    for d in dirs.flatten() {
        for f in std::fs::read_dir(d.path()).into_iter().flatten().flatten() {
            if f.path().extension().is_some_and(|e| e == "xml") {
                out.push(f.path());
            }
        }
    }
    out.sort();
    out
}

/// Reads an official sample into our model (test-side parser, independent of `render`).
fn parse_sample(xml: &str) -> Upo {
    let doc = roxmltree::Document::parse(xml).expect("sample parses");
    let root = doc.root_element();
    fn child<'a, 'i>(n: roxmltree::Node<'a, 'i>, name: &str) -> roxmltree::Node<'a, 'i> {
        n.children()
            .find(|c| c.has_tag_name((NS, name)))
            .unwrap_or_else(|| panic!("no {name}"))
    }
    fn text(n: roxmltree::Node<'_, '_>, name: &str) -> String {
        child(n, name).text().unwrap_or_default().trim().to_string()
    }
    let auth = child(root, "Uwierzytelnienie");
    let ctx = child(auth, "IdKontekstu")
        .children()
        .find(|c| c.is_element())
        .expect("context");
    let ctx_value = ctx.text().unwrap_or_default().to_string();
    let context = match ctx.tag_name().name() {
        "Nip" => UpoContext::Nip(ctx_value),
        "IdWewnetrzny" => UpoContext::InternalId(ctx_value),
        "IdZlozonyVatUE" => UpoContext::NipVatUe(ctx_value),
        "IdDostawcyUslugPeppol" => UpoContext::PeppolId(ctx_value),
        other => panic!("context {other}"),
    };
    let auth_el = auth
        .children()
        .filter(|c| c.is_element())
        .nth(1)
        .expect("auth");
    let auth_value = auth_el.text().unwrap_or_default().to_string();
    let authentication = match auth_el.tag_name().name() {
        "NumerReferencyjnyTokenaKSeF" => UpoAuthentication::KsefTokenReference(auth_value),
        "SkrotDokumentuUwierzytelniajacego" => UpoAuthentication::SignedDocumentHash(auth_value),
        other => panic!("auth {other}"),
    };
    let page = root
        .children()
        .find(|c| c.has_tag_name((NS, "OpisPotwierdzenia")))
        .map(|p| {
            let n = |name: &str| text(p, name).parse::<u32>().expect("number");
            UpoPage {
                page: n("Strona"),
                page_count: n("LiczbaStron"),
                range_from: n("ZakresDokumentowOd"),
                range_to: n("ZakresDokumentowDo"),
                total: n("CalkowitaLiczbaDokumentow"),
            }
        });
    let kod = text(root, "KodFormularza");
    let form_code = FormCode::ALL
        .into_iter()
        .find(|f| f.system_code() == kod)
        .expect("form code");
    assert_eq!(
        text(root, "NazwaStrukturyLogicznej"),
        form_code.structure_name()
    );
    let ts = |s: String| OffsetDateTime::parse(&s, &Rfc3339).expect("timestamp");
    let documents = root
        .children()
        .filter(|c| c.has_tag_name((NS, "Dokument")))
        .map(|d| UpoDocument {
            seller_nip: text(d, "NipSprzedawcy"),
            ksef_number: text(d, "NumerKSeFDokumentu"),
            invoice_number: text(d, "NumerFaktury"),
            issue_date: time::Date::parse(
                &text(d, "DataWystawieniaFaktury"),
                &time::macros::format_description!("[year]-[month]-[day]"),
            )
            .expect("date"),
            sent_at: ts(text(d, "DataPrzeslaniaDokumentu")),
            ksef_number_assigned_at: ts(text(d, "DataNadaniaNumeruKSeF")),
            invoice_hash: text(d, "SkrotDokumentu"),
            invoicing_mode: match text(d, "TrybWysylki").as_str() {
                "Online" => "Online",
                _ => "Offline",
            },
        })
        .collect();
    Upo {
        receiver_name: text(root, "NazwaPodmiotuPrzyjmujacego"),
        session_reference: text(root, "NumerReferencyjnySesji"),
        context,
        authentication,
        page,
        form_code,
        documents,
    }
}

fn normalise(s: &str) -> String {
    s.lines()
        .map(str::trim_end)
        .collect::<Vec<_>>()
        .join("\n")
        .trim_end()
        .to_string()
}

/// Element local names in document order, with the two choices generalised.
fn structure(xml: &str) -> Vec<String> {
    let doc = roxmltree::Document::parse(xml).expect("parses");
    assert_eq!(doc.root_element().tag_name().namespace(), Some(NS));
    doc.descendants()
        .filter(|n| n.is_element())
        .map(|n| match n.tag_name().name() {
            "Nip" | "IdWewnetrzny" | "IdZlozonyVatUE" | "IdDostawcyUslugPeppol" => {
                "<context>".into()
            }
            "NumerReferencyjnyTokenaKSeF" | "SkrotDokumentuUwierzytelniajacego" => "<auth>".into(),
            other => other.to_string(),
        })
        .collect()
}

fn document(n: u32) -> UpoDocument {
    UpoDocument {
        seller_nip: "5265877635".into(),
        ksef_number: format!("5265877635-20250916-0100C002FF{n:02X}-D5"),
        invoice_number: format!("FA/{n}/2025 & <special>"),
        issue_date: date!(2025 - 09 - 16),
        sent_at: datetime!(2025-09-16 09:10:27.710 UTC),
        ksef_number_assigned_at: datetime!(2025-09-16 09:10:28.120 UTC),
        invoice_hash: "jli86Kp2Kw7jppX59P8VmjWRcwLTvsPK3DcPEB87mNk=".into(),
        invoicing_mode: if n.is_multiple_of(2) {
            "Offline"
        } else {
            "Online"
        },
    }
}

fn read_sample(rel: &str) -> Option<String> {
    std::fs::read_to_string(samples_dir().join(rel)).ok()
}

#[test]
fn official_samples_are_reproduced_exactly() {
    let files = sample_files();
    assert_eq!(
        files.len(),
        6,
        "the six official UPO samples under {}: {files:?}",
        samples_dir().display()
    );
    for f in files {
        let sample = std::fs::read_to_string(&f).expect("read sample");
        let model = parse_sample(&sample);
        let rendered = upo::render(&model);
        assert_eq!(normalise(&rendered), normalise(&sample), "{}", f.display());
        // The samples themselves pass our validation (TEST receiver name tolerated).
        upo::validate(sample.as_bytes()).unwrap_or_else(|e| panic!("{}: {e}", f.display()));
    }
}

#[test]
fn nip_context_with_token_auth() {
    let u = Upo {
        receiver_name: RECEIVER_PRD.into(),
        session_reference: "20250916-SO-2C3E6C8000-B675CF5D68-07".into(),
        context: UpoContext::Nip("5265877635".into()),
        authentication: UpoAuthentication::KsefTokenReference(
            "20250819-EC-1ECDD12000-5EE71AE5E3-B7".into(),
        ),
        page: None,
        form_code: FormCode::Fa3,
        documents: vec![document(1)],
    };
    let xml = upo::render(&u);
    upo::validate(xml.as_bytes()).expect("valid UPO");
    assert!(xml.contains("<Nip>5265877635</Nip>"));
    assert!(xml.contains("<NumerReferencyjnyTokenaKSeF>20250819-EC-1ECDD12000-5EE71AE5E3-B7<"));
    assert!(xml.contains("<NumerFaktury>FA/1/2025 &amp; &lt;special&gt;</NumerFaktury>"));
    // Polish summer time, milliseconds.
    assert!(
        xml.contains("<DataPrzeslaniaDokumentu>2025-09-16T11:10:27.710+02:00<"),
        "{xml}"
    );
    if let Some(sample) = read_sample("kontekst-nip/upo-faktura-kontekst-id-nip.xml") {
        assert_eq!(structure(&xml), structure(&sample));
    }
}

#[test]
fn internal_id_context_with_signed_document_hash() {
    let u = Upo {
        receiver_name: RECEIVER_TEST.into(),
        session_reference: "20250916-SO-2C3E6C8000-B675CF5D68-07".into(),
        context: UpoContext::InternalId("5265877635-12345".into()),
        authentication: UpoAuthentication::SignedDocumentHash(
            "kyqH+QUgP8ATWd/95IY632mP4uqibwG66Oqclq9+qno=".into(),
        ),
        page: None,
        form_code: FormCode::FaRr1,
        documents: vec![UpoDocument {
            sent_at: datetime!(2026-01-15 23:30:00.5 UTC),
            ksef_number_assigned_at: datetime!(2026-01-15 23:30:01 UTC),
            ..document(1)
        }],
    };
    let xml = upo::render(&u);
    upo::validate(xml.as_bytes()).expect("valid UPO");
    assert!(xml.contains("<IdWewnetrzny>5265877635-12345</IdWewnetrzny>"));
    assert!(xml.contains("<NazwaStrukturyLogicznej>Schemat_FA_RR(1)_v1-1E.xsd<"));
    assert!(xml.contains("<KodFormularza>FA_RR (1)</KodFormularza>"));
    // Winter time: +01:00, crossing midnight.
    assert!(
        xml.contains("<DataPrzeslaniaDokumentu>2026-01-16T00:30:00.500+01:00<"),
        "{xml}"
    );
    if let Some(sample) = read_sample("kontekst-internal-id/upo-faktura-internal-id.xml") {
        assert_eq!(structure(&xml), structure(&sample));
    }
}

#[test]
fn session_upo_with_several_documents() {
    let documents: Vec<UpoDocument> = (1..=5).map(document).collect();
    let u = Upo {
        receiver_name: RECEIVER_TEST.into(),
        session_reference: "20250916-SB-2C3E6C8000-B675CF5D68-07".into(),
        context: UpoContext::NipVatUe("5265877635-ATU12345678".into()),
        authentication: UpoAuthentication::KsefTokenReference(
            "20250819-EC-1ECDD12000-5EE71AE5E3-B7".into(),
        ),
        page: Some(UpoPage {
            page: 1,
            page_count: 1,
            range_from: 1,
            range_to: 5,
            total: 5,
        }),
        form_code: FormCode::Fa3,
        documents,
    };
    let xml = upo::render(&u);
    upo::validate(xml.as_bytes()).expect("valid UPO");
    assert_eq!(xml.matches("<Dokument>").count(), 5);
    assert_eq!(xml.matches("<TrybWysylki>Offline</TrybWysylki>").count(), 2);
    if let Some(sample) = read_sample("kontekst-nip/upo-sesja-kontekst-id-nip.xml") {
        // Same header, then the same Dokument block repeated.
        let ours = structure(&xml);
        let theirs = structure(&sample);
        let first_doc = theirs
            .iter()
            .position(|n| n == "Dokument")
            .expect("Dokument");
        assert_eq!(ours[..first_doc], theirs[..first_doc]);
        let block = &theirs[first_doc..first_doc + 9];
        for chunk in ours[first_doc..].chunks(9) {
            assert_eq!(chunk, block);
        }
    }
}

#[test]
fn broken_upos_are_rejected() {
    let good = Upo {
        receiver_name: RECEIVER_PRD.into(),
        session_reference: "20250916-SO-2C3E6C8000-B675CF5D68-07".into(),
        context: UpoContext::Nip("5265877635".into()),
        authentication: UpoAuthentication::SignedDocumentHash(
            "kyqH+QUgP8ATWd/95IY632mP4uqibwG66Oqclq9+qno=".into(),
        ),
        page: None,
        form_code: FormCode::Fa3,
        documents: vec![document(1)],
    };
    upo::validate(upo::render(&good).as_bytes()).expect("valid");
    let cases = [
        Upo {
            context: UpoContext::Nip("0265877635".into()),
            ..good.clone()
        },
        Upo {
            receiver_name: "Urząd Skarbowy".into(),
            ..good.clone()
        },
        Upo {
            session_reference: "not-a-reference".into(),
            ..good.clone()
        },
        Upo {
            authentication: UpoAuthentication::SignedDocumentHash("short".into()),
            ..good.clone()
        },
        Upo {
            documents: vec![],
            ..good.clone()
        },
        Upo {
            documents: vec![document(1), document(1)],
            ..good.clone()
        }, // xsd:unique
        Upo {
            documents: vec![UpoDocument {
                ksef_number: "X".into(),
                ..document(1)
            }],
            ..good.clone()
        },
    ];
    for (i, u) in cases.iter().enumerate() {
        let err = upo::validate(upo::render(u).as_bytes()).expect_err(&format!("case {i}"));
        assert!(!err.details().is_empty());
        assert!(err.details()[0].starts_with("line "), "{:?}", err.details());
    }
}
