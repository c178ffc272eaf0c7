use super::*;
use crate::{ContextIdentifier, InternalId, Nip, NipVatUe};
use time::macros::date;

/// The example of the Ministry's `kody-qr.md` and digest §13.2.
const DOC_HASH: &str = "UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE";
const DOC_SIGNATURE: &str = "KFoN1Z91HvySb2uqP2ZDFKubKftzWtWsQOjqTdLFXA3ZEoC1PB8sixNi1LLwgnndwL-MkDcpaCEZxBuVtjWcBpAUJEYlnmDQFOMQs-ueSsp5uuVbmNb-d8_yRTAQvSUdHNuIYfpy7Wpj1jTY0yghgOmdTQzpV5MrcHEReLKjpGONHj8lZtq7RpY43LlCfvctHbUWbqSYAC0C7zmNKz5ROK1LFE-QIi5qGqrRIdw1PCEEPW9tKcB94G3qAHXizNyp5TO6V_0qZ9eC1DXtftkCocQD_CEI3MY-nu7yk6LC7hF7yQ1t8GGRikhQP6w4OwBR-z048IdhCtWd-RYNnxiU6w";

fn nip(s: &str) -> Nip {
    s.parse().unwrap()
}

fn doc_data(base: LinkBase) -> CertificateLinkData {
    CertificateLinkData::new(
        base,
        ContextIdentifier::Nip(nip("1111111111")),
        nip("1111111111"),
        "01F20A5D352AE590".parse().unwrap(),
        InvoiceHash::from_base64url(DOC_HASH).unwrap(),
    )
}

#[test]
fn kod_i_as_documented() {
    let link = InvoiceVerificationLink::new(
        LinkBase::test(),
        nip("1111111111"),
        date!(2026 - 02 - 01),
        InvoiceHash::from_base64url(DOC_HASH).unwrap(),
    )
    .unwrap();
    assert_eq!(
        link.url(),
        "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
    );
    // SHA-256("abc") = ba7816bf…15ad.
    let link = InvoiceVerificationLink::for_file(
        LinkBase::prod(),
        nip("5265877635"),
        date!(2025 - 12 - 31),
        b"abc",
    )
    .unwrap();
    assert_eq!(
        link.to_string(),
        "https://qr.ksef.mf.gov.pl/invoice/5265877635/31-12-2025/ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0"
    );
    assert_eq!(
        InvoiceHash::of_file(b"abc"),
        InvoiceHash::from_base64("ungWv48Bz+pBQUDeXa4iI7ADYaOWF3qctBD/YfIAFa0=").unwrap()
    );
}

#[test]
fn kod_ii_string_to_sign_as_documented() {
    let data = doc_data(LinkBase::test());
    assert_eq!(
        data.string_to_sign(),
        "qr-test.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE"
    );
    let link = data.with_signature(LinkSignature::from_base64url(DOC_SIGNATURE).unwrap());
    assert_eq!(link.signature().as_bytes().len(), 256);
    let url = link.url();
    assert_eq!(
        url,
        format!("https://{}/{DOC_SIGNATURE}", link.string_to_sign())
    );
    // The emulator's origin: http, and the signed text starts with host:port.
    let local = doc_data(LinkBase::for_api_base_url("http://127.0.0.1:8080/v2").unwrap());
    assert!(
        local
            .string_to_sign()
            .starts_with("127.0.0.1:8080/certificate/Nip/1111111111/"),
        "{}",
        local.string_to_sign()
    );
}

#[test]
fn links_read_back_exactly() {
    let kod_i = "https://qr-test.ksef.mf.gov.pl/invoice/1111111111/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIE";
    let kod_ii = format!(
        "https://qr-demo.ksef.mf.gov.pl/certificate/Nip/1111111111/1111111111/01F20A5D352AE590/{DOC_HASH}/{DOC_SIGNATURE}"
    );
    let internal = format!(
        "http://127.0.0.1:39123/certificate/InternalId/5265877635-00004/5265877635/0A1B2C3D4E5F6071/{DOC_HASH}/AQ"
    );
    let vat_ue = format!(
        "http://[::1]:8080/certificate/NipVatUe/5265877635-NL12345678901+/5265877635/0A1B2C3D4E5F6071/{DOC_HASH}/AQ"
    );
    let peppol = format!(
        "http://localhost/certificate/PeppolId/PPL123456/5265877635/0A1B2C3D4E5F6071/{DOC_HASH}/AQ"
    );
    for text in [kod_i.to_string(), kod_ii, internal, vat_ue, peppol] {
        let link = VerificationLink::parse(&text).unwrap_or_else(|e| panic!("{text}: {e}"));
        assert_eq!(link.to_string(), text);
    }
    match VerificationLink::parse(kod_i).unwrap() {
        VerificationLink::Invoice(l) => {
            assert_eq!(l.seller_nip().as_str(), "1111111111");
            assert_eq!(l.issue_date(), date!(2026 - 02 - 01));
            assert_eq!(l.base(), &LinkBase::test());
        }
        other => panic!("{other:?}"),
    }
    let l = VerificationLink::parse(&format!(
        "http://127.0.0.1:39123/certificate/InternalId/5265877635-00004/5265877635/0A1B2C3D4E5F6071/{DOC_HASH}/AQ"
    ))
    .unwrap();
    let VerificationLink::Certificate(l) = l else {
        panic!("{l:?}")
    };
    assert_eq!(
        l.data().context(),
        &ContextIdentifier::InternalId("5265877635-00004".parse::<InternalId>().unwrap())
    );
    assert_eq!(l.signature().as_bytes(), &[1]);
    assert_eq!(l.data().base().scheme(), Scheme::Http);
    assert!(NipVatUe::new(nip("5265877635"), "NL12345678901+").is_ok());
}

#[test]
fn segments_from_a_router() {
    let base = LinkBase::from_origin("http://127.0.0.1:8080").unwrap();
    let link = InvoiceVerificationLink::from_segments(
        base.clone(),
        &["5265877635", "29-02-2024", DOC_HASH],
    )
    .unwrap();
    assert_eq!(
        link.url(),
        format!("http://127.0.0.1:8080/invoice/5265877635/29-02-2024/{DOC_HASH}")
    );
    assert!(matches!(
        InvoiceVerificationLink::from_segments(base.clone(), &["5265877635", DOC_HASH]),
        Err(LinkError::SegmentCount {
            kind: LinkKind::Invoice,
            expected: 3,
            found: 2
        })
    ));
    assert!(matches!(
        CertificateVerificationLink::from_segments(base, &["Nip"; 7]),
        Err(LinkError::SegmentCount {
            kind: LinkKind::Certificate,
            expected: 6,
            found: 7
        })
    ));
}

#[test]
fn hostile_links_get_typed_errors() {
    let base = "https://qr-test.ksef.mf.gov.pl";
    let ok_tail = format!("5265877635/01-02-2026/{DOC_HASH}");
    let cert_tail = format!("5265877635/0A1B2C3D4E5F6071/{DOC_HASH}/AQ");
    let cases: Vec<(String, fn(&LinkError) -> bool)> = vec![
        ("x".repeat(MAX_LINK_LENGTH + 1), |e| {
            matches!(e, LinkError::TooLong { .. })
        }),
        (format!("ftp://h/invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (
            format!("HTTPS://qr-test.ksef.mf.gov.pl/invoice/{ok_tail}"),
            |e| matches!(e, LinkError::BadUrl { .. }),
        ),
        (
            format!("https://QR-test.ksef.mf.gov.pl/invoice/{ok_tail}"),
            |e| matches!(e, LinkError::BadUrl { .. }),
        ),
        (format!("https://user@evil/invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("https://h:0/invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("https://h:65536/invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("https://h:080/invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("https://h..x/invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("https://[zz]/invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        ("https://qr-test.ksef.mf.gov.pl".into(), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("{base}/invoice/{ok_tail}/"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("{base}//invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("{base}/invoice/{ok_tail}?x=1"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("{base}/invoice/{ok_tail}#f"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (
            format!("{base}/invoice/%35265877635/01-02-2026/{DOC_HASH}"),
            |e| matches!(e, LinkError::BadUrl { .. }),
        ),
        (format!("{base}/invoice/../{ok_tail}"), |e| {
            matches!(e, LinkError::BadUrl { .. })
        }),
        (format!("{base}/faktura/{ok_tail}"), |e| {
            matches!(e, LinkError::UnknownKind { .. })
        }),
        (format!("{base}/Invoice/{ok_tail}"), |e| {
            matches!(e, LinkError::UnknownKind { .. })
        }),
        (format!("{base}/invoice/5265877635/01-02-2026"), |e| {
            matches!(e, LinkError::SegmentCount { found: 2, .. })
        }),
        (
            format!("{base}/invoice/5265877636/01-02-2026/{DOC_HASH}"),
            |e| matches!(e, LinkError::SellerNip(_)),
        ),
        (
            format!("{base}/invoice/5265877635/30-02-2026/{DOC_HASH}"),
            |e| matches!(e, LinkError::IssueDate { .. }),
        ),
        (
            format!("{base}/invoice/5265877635/2026-02-01/{DOC_HASH}"),
            |e| matches!(e, LinkError::IssueDate { .. }),
        ),
        (
            format!("{base}/invoice/5265877635/1-02-2026/{DOC_HASH}"),
            |e| matches!(e, LinkError::IssueDate { .. }),
        ),
        (
            format!("{base}/invoice/5265877635/01-02-0000/{DOC_HASH}"),
            |e| matches!(e, LinkError::IssueDate { .. }),
        ),
        // The last character carries 2 unused bits: 'F' sets one of them.
        (
            format!(
                "{base}/invoice/5265877635/01-02-2026/UtQp9Gpc51y-u3xApZjIjgkpZ01js-J8KflSPW8WzIF"
            ),
            |e| matches!(e, LinkError::InvoiceHash { .. }),
        ),
        (
            format!("{base}/invoice/5265877635/01-02-2026/{}", &DOC_HASH[..42]),
            |e| matches!(e, LinkError::InvoiceHash { .. }),
        ),
        (
            format!("{base}/certificate/NIP/5265877635/{cert_tail}"),
            |e| matches!(e, LinkError::ContextType { .. }),
        ),
        (
            format!("{base}/certificate/Nip/5265877636/{cert_tail}"),
            |e| matches!(e, LinkError::Context(_)),
        ),
        (
            format!("{base}/certificate/InternalId/5265877635/{cert_tail}"),
            |e| matches!(e, LinkError::Context(_)),
        ),
        (
            format!("{base}/certificate/Nip/5265877635/5265877635/0a1b2c3d4e5f6071/{DOC_HASH}/AQ"),
            |e| matches!(e, LinkError::CertificateSerial { .. }),
        ),
        (
            format!("{base}/certificate/Nip/5265877635/5265877635/0A1B2C3D4E5F607/{DOC_HASH}/AQ"),
            |e| matches!(e, LinkError::CertificateSerial { .. }),
        ),
        (
            format!("{base}/certificate/Nip/5265877635/5265877635/0A1B2C3D4E5F6071/{DOC_HASH}/AR"),
            |e| matches!(e, LinkError::Signature { .. }),
        ),
        (
            format!(
                "{base}/certificate/Nip/5265877635/5265877635/0A1B2C3D4E5F6071/{DOC_HASH}/{}",
                "A".repeat(700)
            ),
            |e| matches!(e, LinkError::Signature { .. }),
        ),
        (
            "https://qr-test.ksef.mf.gov.pl/invoice/żółw/01-02-2026/x".into(),
            |e| matches!(e, LinkError::BadUrl { .. }),
        ),
    ];
    for (text, expected) in cases {
        match VerificationLink::parse(&text) {
            Ok(l) => panic!("{text}: accepted as {l:?}"),
            Err(e) => {
                assert!(expected(&e), "{text}: {e:?}");
                assert!(e.to_string().chars().count() < 400, "{e}");
            }
        }
    }
}

#[test]
fn hosts_per_environment() {
    for (api, qr) in [
        (
            "https://api-test.ksef.mf.gov.pl/v2",
            "https://qr-test.ksef.mf.gov.pl",
        ),
        (
            "https://API-TEST.ksef.mf.gov.pl/v2/",
            "https://qr-test.ksef.mf.gov.pl",
        ),
        (
            "https://ksef-test.mf.gov.pl/api/v2",
            "https://qr-test.ksef.mf.gov.pl",
        ),
        (
            "https://api-demo.ksef.mf.gov.pl/v2",
            "https://qr-demo.ksef.mf.gov.pl",
        ),
        (
            "https://api.ksef.mf.gov.pl:443/v2",
            "https://qr.ksef.mf.gov.pl",
        ),
        ("https://api.ksef.mf.gov.pl", "https://qr.ksef.mf.gov.pl"),
        ("http://127.0.0.1:8080/v2", "http://127.0.0.1:8080"),
        ("  http://Localhost:39999/v2  ", "http://localhost:39999"),
        ("http://[::1]:8080/v2", "http://[::1]:8080"),
        (
            "https://ksef.example.com/v2?x#y",
            "https://ksef.example.com",
        ),
        // Plain http to an official host is not the official service.
        (
            "http://api-test.ksef.mf.gov.pl/v2",
            "http://api-test.ksef.mf.gov.pl",
        ),
    ] {
        let base = LinkBase::for_api_base_url(api).unwrap_or_else(|e| panic!("{api}: {e}"));
        assert_eq!(base.origin(), qr, "{api}");
        assert_eq!(base.to_string(), qr, "{api}");
    }
    assert!(LinkBase::test().is_official());
    assert!(
        !LinkBase::for_api_base_url("http://127.0.0.1:8080/v2")
            .unwrap()
            .is_official()
    );
    for bad in [
        "127.0.0.1:8080/v2",
        "ftp://x/v2",
        "https:///v2",
        "https://u:p@api-test.ksef.mf.gov.pl/v2",
        "https://x y/v2",
    ] {
        assert!(
            matches!(
                LinkBase::for_api_base_url(bad),
                Err(LinkError::BadUrl { .. })
            ),
            "{bad}"
        );
    }
    assert!(LinkBase::from_origin("http://127.0.0.1:8080/").is_err());
    assert!(LinkBase::from_origin("http://Host").is_err());
}

#[test]
fn labels_and_dates() {
    assert_eq!(invoice_label(None), "OFFLINE");
    let n = crate::KsefNumber::generate(nip("5265877635"), date!(2026 - 02 - 01));
    assert_eq!(invoice_label(Some(&n)), n.as_str());
    assert_eq!(LABEL_CERTIFICATE, "CERTYFIKAT");
    let far = time::Date::from_calendar_date(-5, time::Month::January, 1).unwrap();
    assert!(matches!(
        InvoiceVerificationLink::for_file(LinkBase::test(), nip("5265877635"), far, b""),
        Err(LinkError::DateOutOfRange { .. })
    ));
    assert!(LinkSignature::new(vec![]).is_err());
    assert!(LinkSignature::new(vec![0; 513]).is_err());
    assert_eq!(
        LinkSignature::new(vec![0; 512])
            .unwrap()
            .to_base64url()
            .len(),
        683
    );
}
