//! Our signer + our verifier: round trips and every rejection reason with its KSeF code.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use ksef_xades::signature::{C14nMethod, SignError, SignOptions, VerifyError, VerifyOptions};
use ksef_xades::{AuthTokenRequest, sign_enveloped, verify_enveloped};

const STRICT: VerifyOptions = VerifyOptions { strict_xades: true };
const LENIENT: VerifyOptions = VerifyOptions {
    strict_xades: false,
};

fn signed_ec() -> String {
    sign_enveloped(&unsigned_xml(), ec(), &SignOptions::default()).unwrap()
}

fn signed_rsa() -> String {
    sign_enveloped(&unsigned_xml(), rsa(), &SignOptions::default()).unwrap()
}

fn err(xml: &[u8], opts: &VerifyOptions) -> VerifyError {
    match verify_enveloped(xml, opts) {
        Ok(v) => panic!("expected an error, got {v:?}"),
        Err(e) => e,
    }
}

/// Replace the text of the first `<ds:{tag}>` element.
fn replace_element_text(xml: &str, tag: &str, f: impl FnOnce(&str) -> String) -> String {
    let open = format!("<ds:{tag}>");
    let close = format!("</ds:{tag}>");
    let s = xml.find(&open).unwrap() + open.len();
    let e = s + xml[s..].find(&close).unwrap();
    format!("{}{}{}", &xml[..s], f(&xml[s..e]), &xml[e..])
}

#[test]
fn round_trip_rsa_and_ec_all_c14n() {
    for cred in [rsa(), ec()] {
        for c14n in [
            C14nMethod::Inclusive,
            C14nMethod::Exclusive,
            C14nMethod::Inclusive11,
        ] {
            let opts = SignOptions {
                canonicalization: c14n,
                ..SignOptions::default()
            };
            let signed = sign_enveloped(&unsigned_xml(), cred, &opts).unwrap();
            let v = verify_enveloped(signed.as_bytes(), &STRICT).unwrap();
            assert_eq!(v.canonicalization, c14n.uri());
            assert_eq!(v.signer_certificate_der, cred.certificate_der);
            assert!(v.has_signed_properties);
            assert!(!v.enveloping);
            assert!(v.other_certificates_der.is_empty());
            // The request is still readable from the signed document.
            let (req, _) = AuthTokenRequest::parse(signed.as_bytes()).unwrap();
            assert_eq!(req, request());
        }
    }
}

#[test]
fn signed_document_shape_matches_digest_4_4() {
    let t = time::macros::datetime!(2025-07-11 12:23:56.789 UTC);
    let opts = SignOptions {
        signing_time: Some(t),
        ..SignOptions::default()
    };
    let signed = sign_enveloped(&unsigned_xml(), rsa(), &opts).unwrap();
    assert!(
        signed.starts_with(&unsigned_xml()[..unsigned_xml().rfind("</AuthTokenRequest>").unwrap()])
    );
    assert!(
        signed
            .trim_end()
            .ends_with("</ds:Signature></AuthTokenRequest>")
    );
    for needle in [
        "<ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\" Id=\"Signature\">",
        "<ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>",
        "<ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>",
        "<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/><ds:Transform Algorithm=\"http://www.w3.org/2001/10/xml-exc-c14n#\"/></ds:Transforms>",
        "<ds:Reference Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#SignedProperties\">",
        "<xades:QualifyingProperties xmlns:xades=\"http://uri.etsi.org/01903/v1.3.2#\" Target=\"#Signature\">",
        "<xades:SignedProperties Id=\"SignedProperties\">",
        "<xades:SigningTime>2025-07-11T12:23:56Z</xades:SigningTime>",
        "<ds:X509IssuerName>C=PL,CN=Jan Kowalski,SERIALNUMBER=TINPL-5265877635,SN=Kowalski,GN=Jan</ds:X509IssuerName>",
    ] {
        assert!(signed.contains(needle), "missing {needle} in\n{signed}");
    }
    let digest = B64.encode(ksef_crypto::sha256(&rsa().certificate_der));
    assert!(signed.contains(&format!(
        "<ds:DigestValue>{digest}</ds:DigestValue></xades:CertDigest>"
    )));
    // Serial number in decimal, as parsed back from the certificate by x509-cert.
    let cert = <x509_cert::Certificate as der::Decode>::from_der(&rsa().certificate_der).unwrap();
    let serial = cert.tbs_certificate().serial_number().as_bytes().to_vec();
    let dec = num_from_be(&serial);
    assert!(
        signed.contains(&format!("<ds:X509SerialNumber>{dec}</ds:X509SerialNumber>")),
        "{dec}"
    );
    // ECDSA: raw R||S of 64 bytes.
    let signed = signed_ec();
    let sv = B64
        .decode(
            signed
                .split("<ds:SignatureValue>")
                .nth(1)
                .unwrap()
                .split("</ds:SignatureValue>")
                .next()
                .unwrap(),
        )
        .unwrap();
    assert_eq!(sv.len(), 64);
    assert!(signed.contains("xmldsig-more#ecdsa-sha256"));
}

/// Decimal of a big-endian number via u128 (test certificates have 127-bit serials).
fn num_from_be(b: &[u8]) -> String {
    assert!(b.len() <= 16 || b[..b.len() - 16].iter().all(|x| *x == 0));
    let mut v: u128 = 0;
    for x in b {
        v = (v << 8) | u128::from(*x);
    }
    v.to_string()
}

#[test]
fn default_signing_time_is_about_now_minus_one_minute() {
    let signed = signed_ec();
    let v = verify_enveloped(signed.as_bytes(), &STRICT).unwrap();
    let t = time::OffsetDateTime::parse(
        v.signing_time.as_deref().unwrap(),
        &time::format_description::well_known::Rfc3339,
    )
    .unwrap();
    let age = time::OffsetDateTime::now_utc() - t;
    assert!(
        age >= time::Duration::seconds(55) && age <= time::Duration::seconds(70),
        "{age}"
    );
}

#[test]
fn tampered_byte_is_a_digest_mismatch_of_the_whole_document() {
    for signed in [signed_ec(), signed_rsa()] {
        let tampered = signed.replacen("537A6BA15D-D7", "537A6BA15D-D8", 1);
        assert_ne!(tampered, signed);
        let e = err(tampered.as_bytes(), &LENIENT);
        assert_eq!(e, VerifyError::DigestMismatch { uri: String::new() });
        assert_eq!(e.ksef_code(), 9105);
        assert_eq!(e.description_pl(), "Nieprawidłowy podpis.");
        assert!(e.to_string().contains("changed after signing"), "{e}");
    }
}

#[test]
fn reindented_document_is_a_digest_mismatch() {
    let signed = signed_ec();
    let reindented = signed.replace("\n  <", "\n    <");
    assert_ne!(reindented, signed);
    assert_eq!(
        err(reindented.as_bytes(), &STRICT),
        VerifyError::DigestMismatch { uri: String::new() }
    );
}

#[test]
fn crlf_line_endings_still_verify_because_parsers_normalise_them() {
    // XML parsers turn CR LF into LF before canonicalization, so this change is harmless.
    let signed = signed_rsa();
    let crlf = signed.replace('\n', "\r\n");
    verify_enveloped(crlf.as_bytes(), &STRICT).unwrap();
}

#[test]
fn tampered_signing_time_is_a_digest_mismatch_of_signed_properties() {
    let signed = signed_ec();
    let s = signed.find("<xades:SigningTime>").unwrap() + "<xades:SigningTime>".len();
    let mut tampered = signed.clone();
    tampered.replace_range(s..s + 4, "1999");
    assert_eq!(
        err(tampered.as_bytes(), &LENIENT),
        VerifyError::DigestMismatch {
            uri: "#SignedProperties".into()
        }
    );
}

#[test]
fn tampered_signature_value_is_invalid() {
    let signed = signed_rsa();
    let tampered = replace_element_text(&signed, "SignatureValue", |v| {
        let mut raw = B64.decode(v).unwrap();
        raw[10] ^= 0x01;
        B64.encode(raw)
    });
    let e = err(tampered.as_bytes(), &LENIENT);
    assert!(
        matches!(e, VerifyError::SignatureValueInvalid { .. }),
        "{e:?}"
    );
}

#[test]
fn certificate_of_someone_else_in_key_info_is_rejected() {
    let signed = signed_ec();
    let other = B64.encode(&ec_other().certificate_der);
    let swapped = replace_element_text(&signed, "X509Certificate", |_| other);
    let e = err(swapped.as_bytes(), &LENIENT);
    assert!(
        matches!(e, VerifyError::SignatureValueInvalid { .. }),
        "{e:?}"
    );
}

#[test]
fn rsa_certificate_with_ecdsa_method_says_key_does_not_fit() {
    let signed = signed_ec();
    let other = B64.encode(&rsa().certificate_der);
    let swapped = replace_element_text(&signed, "X509Certificate", |_| other);
    let e = err(swapped.as_bytes(), &LENIENT);
    match e {
        VerifyError::SignatureValueInvalid { reason } => {
            assert!(reason.contains("ecdsa-sha256"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn ecdsa_der_signature_value_is_named() {
    let signed = signed_ec();
    let der_encoded = replace_element_text(&signed, "SignatureValue", |v| {
        let raw = B64.decode(v).unwrap();
        let sig = p256::ecdsa::Signature::from_slice(&raw).unwrap();
        B64.encode(sig.to_der().as_bytes())
    });
    let e = err(der_encoded.as_bytes(), &LENIENT);
    match &e {
        VerifyError::EcdsaDerEncoded { len } => assert!((68..=72).contains(len), "{len}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(e.ksef_code(), 9105);
    assert!(e.to_string().contains("R||S"), "{e}");
}

#[test]
fn missing_signed_properties_strict_error_lenient_ok() {
    let opts = SignOptions {
        include_signed_properties: false,
        ..SignOptions::default()
    };
    for cred in [ec(), rsa()] {
        let signed = sign_enveloped(&unsigned_xml(), cred, &opts).unwrap();
        assert!(!signed.contains("SignedProperties"));
        let e = err(signed.as_bytes(), &STRICT);
        assert!(
            matches!(e, VerifyError::MissingSignedProperties { .. }),
            "{e:?}"
        );
        assert_eq!(e.ksef_code(), 9105);
        let v = verify_enveloped(signed.as_bytes(), &LENIENT).unwrap();
        assert!(!v.has_signed_properties);
    }
}

#[test]
fn two_signatures_are_too_many() {
    let signed = signed_ec();
    let start = signed.find("<ds:Signature ").unwrap();
    let end = signed.find("</ds:Signature>").unwrap() + "</ds:Signature>".len();
    let sig = &signed[start..end];
    let twice = format!(
        "{}{}{}",
        &signed[..end],
        sig.replace("\"Signature", "\"Signature2")
            .replace("\"SignedProperties\"", "\"SignedProperties2\""),
        &signed[end..]
    );
    let e = err(twice.as_bytes(), &LENIENT);
    assert_eq!(e, VerifyError::TooManySignatures { count: 2 });
    assert_eq!(e.ksef_code(), 9103);
    assert_eq!(
        e.description_pl(),
        "Przekroczona liczba dozwolonych podpisów."
    );
}

#[test]
fn unsigned_document_has_no_signature() {
    let e = err(unsigned_xml().as_bytes(), &LENIENT);
    assert_eq!(e, VerifyError::NoSignature);
    assert_eq!(e.ksef_code(), 9102);
    assert_eq!(e.description_pl(), "Brak podpisu.");
}

#[test]
fn garbage_is_not_well_formed() {
    for junk in [
        &b"this is not XML"[..],
        b"",
        b"<a><b></a>",
        b"{\"challenge\":1}",
    ] {
        let e = err(junk, &LENIENT);
        assert!(
            matches!(e, VerifyError::NotWellFormed(_)),
            "{junk:?}: {e:?}"
        );
        assert_eq!(e.ksef_code(), 21001);
        assert_eq!(e.description_pl(), "Nieczytelna treść.");
    }
    // A signed document cut short.
    let signed = signed_ec();
    let e = err(&signed.as_bytes()[..signed.len() - 30], &LENIENT);
    assert!(matches!(e, VerifyError::NotWellFormed(_)), "{e:?}");
}

#[test]
fn encodings_other_than_utf8_are_rejected() {
    // Latin-2 bytes for "ż" (0xBF) are not UTF-8.
    let mut latin2 = b"<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?><a>".to_vec();
    latin2.push(0xBF);
    latin2.extend_from_slice(b"</a>");
    let e = err(&latin2, &LENIENT);
    assert!(matches!(e, VerifyError::Encoding(_)), "{e:?}");
    assert_eq!(e.ksef_code(), 21217);
    // UTF-8 bytes but declared as ISO-8859-2 with non-ASCII content.
    let declared = "<?xml version=\"1.0\" encoding=\"ISO-8859-2\"?><a>\u{17c}</a>";
    assert!(matches!(
        err(declared.as_bytes(), &LENIENT),
        VerifyError::Encoding(_)
    ));
    // UTF-16 with BOM.
    let mut utf16 = vec![0xFF, 0xFE];
    for u in "<a/>".encode_utf16() {
        utf16.extend_from_slice(&u.to_le_bytes());
    }
    assert!(matches!(err(&utf16, &LENIENT), VerifyError::Encoding(_)));
}

#[test]
fn doctype_is_an_invalid_document() {
    let signed = signed_ec();
    let with_dtd = signed.replacen(
        "?>\n",
        "?>\n<!DOCTYPE AuthTokenRequest [<!ENTITY x \"y\">]>\n",
        1,
    );
    let e = err(with_dtd.as_bytes(), &LENIENT);
    assert!(matches!(e, VerifyError::InvalidDocument(_)), "{e:?}");
    assert_eq!(e.ksef_code(), 9101);
    // Issue 11 item 12: prologs that fooled the old text scan, and UTF-16.
    const DTD: &str = "<!DOCTYPE AuthTokenRequest [<!ENTITY x \"y\">]>";
    for prolog in [
        format!("<!-- <AuthTokenRequest> -->{DTD}"),
        format!("<?pi <AuthTokenRequest/> ?>{DTD}"),
        format!("<!-- x -->\r\n\t{DTD}"),
    ] {
        let doc = signed.replacen("?>\n", &format!("?>\n{prolog}\n"), 1);
        let e = err(doc.as_bytes(), &LENIENT);
        assert!(
            matches!(e, VerifyError::InvalidDocument(_)),
            "{prolog}: {e:?}"
        );
    }
    let mut utf16 = vec![0xFE, 0xFF];
    utf16.extend(with_dtd.encode_utf16().flat_map(u16::to_be_bytes));
    let e = err(&utf16, &LENIENT);
    assert!(matches!(e, VerifyError::InvalidDocument(_)), "{e:?}");
}

#[test]
fn detached_reference_is_named() {
    let signed = signed_ec();
    for uri in [
        "http://example.com/request.xml",
        "request.xml",
        "file:///etc/passwd",
    ] {
        let detached = signed.replacen("URI=\"\"", &format!("URI=\"{uri}\""), 1);
        assert_eq!(
            err(detached.as_bytes(), &LENIENT),
            VerifyError::Detached { uri: uri.into() }
        );
    }
    let no_uri = signed.replacen("<ds:Reference URI=\"\">", "<ds:Reference>", 1);
    let e = err(no_uri.as_bytes(), &LENIENT);
    assert!(matches!(e, VerifyError::Detached { .. }), "{e:?}");
    assert_eq!(e.ksef_code(), 9105);
}

#[test]
fn unsupported_algorithms_are_named() {
    let signed = signed_ec();
    let hmac = signed.replacen(
        "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256",
        "http://www.w3.org/2000/09/xmldsig#hmac-sha1",
        1,
    );
    match err(hmac.as_bytes(), &LENIENT) {
        VerifyError::UnsupportedAlgorithm { uri, .. } => {
            assert_eq!(uri, "http://www.w3.org/2000/09/xmldsig#hmac-sha1")
        }
        other => panic!("{other:?}"),
    }
    let xslt = signed.replacen(
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature",
        "http://www.w3.org/TR/1999/REC-xslt-19991116",
        1,
    );
    assert!(matches!(
        err(xslt.as_bytes(), &LENIENT),
        VerifyError::UnsupportedAlgorithm { .. }
    ));
    let md5 = signed.replacen(
        "http://www.w3.org/2001/04/xmlenc#sha256",
        "http://www.w3.org/2001/04/xmldsig-more#md5",
        1,
    );
    assert!(matches!(
        err(md5.as_bytes(), &LENIENT),
        VerifyError::UnsupportedAlgorithm { .. }
    ));
}

#[test]
fn missing_certificate_is_named() {
    let signed = signed_ec();
    let s = signed.find("<ds:KeyInfo>").unwrap();
    let e = signed.find("</ds:KeyInfo>").unwrap() + "</ds:KeyInfo>".len();
    let no_key_info = format!("{}{}", &signed[..s], &signed[e..]);
    let err1 = err(no_key_info.as_bytes(), &LENIENT);
    assert!(
        matches!(err1, VerifyError::NoCertificate { .. }),
        "{err1:?}"
    );
    let garbage_cert = replace_element_text(&signed, "X509Certificate", |_| "AAAA".into());
    assert!(matches!(
        err(garbage_cert.as_bytes(), &LENIENT),
        VerifyError::NoCertificate { .. }
    ));
}

#[test]
fn wrong_cert_digest_in_our_own_signature_after_tampering_is_caught_by_digest() {
    // Changing CertDigest after signing breaks the SignedProperties digest first.
    let signed = signed_rsa();
    let other = B64.encode(ksef_crypto::sha256(&ec_other().certificate_der));
    let cd = B64.encode(ksef_crypto::sha256(&rsa().certificate_der));
    let tampered = signed.replacen(&cd, &other, 1);
    assert_eq!(
        err(tampered.as_bytes(), &LENIENT),
        VerifyError::DigestMismatch {
            uri: "#SignedProperties".into()
        }
    );
}

#[test]
fn signature_not_covering_root_via_xpath_filter_is_not_whole_document() {
    // A URI="" reference with an XPath transform keeping only the Challenge element.
    let signed = signed_ec();
    let filtered = signed.replacen(
        "<ds:Transform Algorithm=\"http://www.w3.org/2000/09/xmldsig#enveloped-signature\"/>",
        "<ds:Transform Algorithm=\"http://www.w3.org/TR/1999/REC-xpath-19991116\"><ds:XPath>ancestor-or-self::*[local-name()='Challenge']</ds:XPath></ds:Transform>",
        1,
    );
    assert!(matches!(
        err(filtered.as_bytes(), &LENIENT),
        VerifyError::NotWholeDocument { .. }
    ));
}

#[test]
fn sign_refuses_signed_documents_and_raw_whitespace_in_attributes() {
    let signed = signed_ec();
    assert!(matches!(
        sign_enveloped(&signed, ec(), &SignOptions::default()),
        Err(SignError::AlreadySigned)
    ));
    let bad = "<Root note=\"a\nb\"><x/></Root>";
    match sign_enveloped(bad, ec(), &SignOptions::default()) {
        Err(SignError::UnsafeAttributeWhitespace { element, attribute }) => {
            assert_eq!((element.as_str(), attribute.as_str()), ("Root", "note"));
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        sign_enveloped("<a>", ec(), &SignOptions::default()),
        Err(SignError::NotWellFormed(_))
    ));
}

#[test]
fn bom_input_is_signed_without_bom_and_verifies() {
    let with_bom = format!("\u{feff}{}", unsigned_xml());
    let signed = sign_enveloped(&with_bom, ec(), &SignOptions::default()).unwrap();
    assert!(signed.starts_with("<?xml"));
    verify_enveloped(signed.as_bytes(), &STRICT).unwrap();
}

#[test]
fn hostile_documents_do_not_panic() {
    // 100 000 nested elements in the signed content: signing, verifying and tampering.
    let deep = format!("{}{}", "<x>".repeat(100_000), "</x>".repeat(100_000));
    let xml = unsigned_xml().replacen(
        "<SubjectIdentifierType>",
        &format!("{deep}<SubjectIdentifierType>"),
        1,
    );
    let signed = sign_enveloped(&xml, ec(), &SignOptions::default()).unwrap();
    verify_enveloped(signed.as_bytes(), &STRICT).unwrap();
    let tampered = signed.replacen("<x><x></x></x>", "<x><y></y></x>", 1);
    assert_eq!(
        err(tampered.as_bytes(), &LENIENT),
        VerifyError::DigestMismatch { uri: String::new() }
    );
    // 50 000 nested signatures: one top-level signature, without SignedInfo.
    let nested = format!(
        "<r xmlns:ds=\"{DSIG}\">{}{}</r>",
        "<ds:Signature>".repeat(50_000),
        "</ds:Signature>".repeat(50_000)
    );
    assert!(matches!(
        err(nested.as_bytes(), &LENIENT),
        VerifyError::MalformedSignature { .. }
    ));
    // The same with a namespace declaration on each (quadratic memory in the parser): refused
    // before parsing.
    let redeclared = format!(
        "<r>{}{}</r>",
        format!("<ds:Signature xmlns:ds=\"{DSIG}\">").repeat(50_000),
        "</ds:Signature>".repeat(50_000)
    );
    assert!(matches!(
        err(redeclared.as_bytes(), &LENIENT),
        VerifyError::NotWellFormed(_)
    ));
    // 5 000 attributes on the root of a signed document.
    let attrs: String = (0..5_000).map(|i| format!(" a{i}=\"{i}\"")).collect();
    let signed = signed_rsa();
    let many = signed.replacen(
        "<AuthTokenRequest ",
        &format!("<AuthTokenRequest{attrs} "),
        1,
    );
    assert_eq!(
        err(many.as_bytes(), &LENIENT),
        VerifyError::DigestMismatch { uri: String::new() }
    );
    let signed_many = sign_enveloped(
        &unsigned_xml().replacen(
            "<AuthTokenRequest ",
            &format!("<AuthTokenRequest{attrs} "),
            1,
        ),
        rsa(),
        &SignOptions::default(),
    )
    .unwrap();
    verify_enveloped(signed_many.as_bytes(), &STRICT).unwrap();
    assert!(!ksef_xades::diagnose::diagnose(many.as_bytes()).is_empty());
}
