//! Regression tests for signature-wrapping and amplification attacks on reference
//! processing: every document here verified before the coverage decision was taken from
//! what the engine actually digested.

mod common;

use std::time::{Duration, Instant};

use common::*;
use ksef_xades::signature::{VerifyError, VerifyOptions};
use ksef_xades::{AuthTokenRequest, verify_enveloped};

const STRICT: VerifyOptions = VerifyOptions { strict_xades: true };
const LENIENT: VerifyOptions = VerifyOptions {
    strict_xades: false,
};

const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";
const XPATH2: &str = "http://www.w3.org/2002/06/xmldsig-filter2";
const NS_AUTH: &str = "http://ksef.mf.gov.pl/auth/token/2.0";
const FORGED: &str = "20990101-CR-FFFFFFFFFF-FFFFFFFFFF-FF";

/// A `URI=""` reference with the given transforms (XML text).
fn whole_doc_reference(transforms: &str) -> String {
    format!(
        "<ds:Reference URI=\"\"><ds:Transforms>{transforms}\
         <ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>\n"
    )
}

/// Sign the template (no standard `URI=""` reference, `extra` instead) the way an
/// attacker would, with a full XPath implementation (`xmlsec1`; our own engine refuses to
/// sign such transforms), then replace the signed Challenge with [`FORGED`].
fn sign_and_forge_challenge(extra: String) -> String {
    let mut t = Template::new(ec());
    t.whole_doc_ref = false;
    t.extra_reference = extra;
    let signed = xmlsec_sign(&t.document(), ec());
    let forged = signed.replacen(CHALLENGE, FORGED, 1);
    assert_ne!(forged, signed);
    // The forgery is cryptographically valid: Challenge is not in any digest.
    let (ok, out) = xmlsec_verify(forged.as_bytes(), ec());
    assert!(ok, "xmlsec1 should accept the forged document:\n{out}");
    forged
}

fn assert_refused(xml: &str) -> VerifyError {
    for opts in [STRICT, LENIENT] {
        if let Ok(v) = verify_enveloped(xml.as_bytes(), &opts) {
            let challenge = AuthTokenRequest::parse(xml.as_bytes())
                .map(|(r, _)| r.challenge)
                .unwrap_or_default();
            panic!("accepted ({opts:?}): {v:?}, Challenge {challenge}");
        }
    }
    let e = verify_enveloped(xml.as_bytes(), &LENIENT).unwrap_err();
    assert_eq!(e.ksef_code(), 9105, "{e:?}");
    e
}

#[test]
fn filter2_second_subtract_of_challenge_is_refused() {
    // The first XPath subtracts the signature (what a string check on the first XPath
    // child sees); the second one silently drops Challenge from the digest.
    let forged = sign_and_forge_challenge(whole_doc_reference(&format!(
        "<ds:Transform Algorithm=\"{XPATH2}\">\
         <f:XPath xmlns:f=\"{XPATH2}\" Filter=\"subtract\">//ds:Signature</f:XPath>\
         <f:XPath xmlns:f=\"{XPATH2}\" xmlns:a=\"{NS_AUTH}\" Filter=\"subtract\">//a:Challenge</f:XPath>\
         </ds:Transform>"
    )));
    assert_refused(&forged);
}

#[test]
fn filter2_subtracting_an_ancestor_is_refused() {
    let forged = sign_and_forge_challenge(whole_doc_reference(&format!(
        "<ds:Transform Algorithm=\"{XPATH2}\">\
         <f:XPath xmlns:f=\"{XPATH2}\" Filter=\"subtract\">here()/ancestor::ds:Signature[1]</f:XPath>\
         <f:XPath xmlns:f=\"{XPATH2}\" xmlns:a=\"{NS_AUTH}\" Filter=\"subtract\">//a:Challenge</f:XPath>\
         </ds:Transform>"
    )));
    assert_refused(&forged);
}

const HOSTILE_XPATH: &str = "<ds:XPath xmlns:a=\"http://ksef.mf.gov.pl/auth/token/2.0\">\
                             not(ancestor-or-self::a:Challenge)</ds:XPath>";

fn xpath_challenge_exclusion_template() -> Template {
    let mut t = Template::new(ec());
    t.c14n = EXC_C14N;
    t.whole_doc_ref = false;
    t.extra_reference = whole_doc_reference(&format!(
        "<ds:Transform Algorithm=\"{XPATH}\">{HOSTILE_XPATH}</ds:Transform>\
         <ds:Transform Algorithm=\"{ENVELOPED}\"/>"
    ));
    t
}

#[test]
fn xpath_exclusion_of_challenge_is_refused() {
    let forged = sign_and_forge_challenge(xpath_challenge_exclusion_template().extra_reference);
    assert_refused(&forged);
}

/// Re-sign the (exclusive-C14N) `SignedInfo` of `xml` as it is now, with the EC test key:
/// `xmllint --exc-c14n` of the extracted element, ECDSA-SHA256, new `SignatureValue`.
fn resign_signed_info(xml: &str) -> String {
    use base64::Engine as _;
    let start = xml.find("<ds:SignedInfo").unwrap();
    let end = xml.find("</ds:SignedInfo>").unwrap() + "</ds:SignedInfo>".len();
    let standalone = xml[start..end].replacen(
        "<ds:SignedInfo",
        &format!("<ds:SignedInfo xmlns:ds=\"{DSIG}\""),
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let path = write(dir.path(), "si.xml", standalone.as_bytes());
    let out = std::process::Command::new("xmllint")
        .arg("--exc-c14n")
        .arg(&path)
        .output()
        .expect("xmllint (libxml2-utils) is required");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let value = ksef_crypto::sign_raw(&ec().key, &out.stdout).unwrap();
    let value = base64::engine::general_purpose::STANDARD.encode(value);
    let s = xml.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let e = xml.find("</ds:SignatureValue>").unwrap();
    format!("{}{value}{}", &xml[..s], &xml[e..])
}

#[test]
fn xpath_exclusion_of_challenge_behind_a_decoy_is_refused() {
    // A foreign-namespace `XPath` decoy first (what a check of "the first child named
    // XPath" reads), then the ds:XPath the engine evaluates. xmlsec1 refuses to process
    // the decoy, so the digests come from the decoy-free document and SignedInfo is
    // re-signed with the decoy in place.
    let signed = xmlsec_sign(&xpath_challenge_exclusion_template().document(), ec());
    // The re-signing itself is sound: without the decoy, xmlsec1 accepts the result.
    let (ok, out) = xmlsec_verify(resign_signed_info(&signed).as_bytes(), ec());
    assert!(ok, "{out}");
    let decoyed = signed.replacen(
        "<ds:XPath ",
        "<x:XPath xmlns:x=\"urn:decoy\">not(ancestor-or-self::ds:Signature)</x:XPath><ds:XPath ",
        1,
    );
    assert_ne!(decoyed, signed);
    let forged = resign_signed_info(&decoyed.replacen(CHALLENGE, FORGED, 1));
    assert_refused(&forged);
}

#[test]
fn signed_properties_reference_excluding_signing_certificate_is_refused() {
    let mut t = Template::new(ec());
    t.sp_ref = SpRef::None;
    t.extra_reference = format!(
        "<ds:Reference Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#SignedProperties\">\
         <ds:Transforms><ds:Transform Algorithm=\"{XPATH2}\">\
         <f:XPath xmlns:f=\"{XPATH2}\" xmlns:xades=\"{XADES}\" Filter=\"subtract\">//xades:SigningCertificate</f:XPath>\
         </ds:Transform><ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>\n"
    );
    let signed = xmlsec_sign(&t.document(), ec());
    // The SigningCertificate is now unsigned: point it at someone else's certificate.
    let forged = signed
        .replacen(
            "<ds:X509SerialNumber>123456789<",
            "<ds:X509SerialNumber>987654321<",
            1,
        )
        .replacen("CN=Jan Kowalski, C=PL", "CN=Someone Else, C=PL", 1);
    assert_ne!(forged, signed);
    let (ok, out) = xmlsec_verify(forged.as_bytes(), ec());
    assert!(ok, "xmlsec1 should accept the forged document:\n{out}");
    assert_refused(&forged);
    assert_refused(&signed);
}

#[test]
fn signed_properties_reference_with_enveloped_signature_transform_is_refused() {
    let mut t = Template::new(ec());
    t.sp_ref = SpRef::None;
    t.extra_reference = format!(
        "<ds:Reference Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#SignedProperties\">\
         <ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"/>\
         <ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>\
         <ds:DigestMethod Algorithm=\"{SHA256}\"/><ds:DigestValue></ds:DigestValue></ds:Reference>\n"
    );
    let signed = sign_template(&t.document(), ec());
    let e = verify_enveloped(signed.as_bytes(), &STRICT).unwrap_err();
    assert_eq!(e.ksef_code(), 9105, "{e:?}");
}

#[test]
fn nine_whole_document_references_are_refused_quickly() {
    let mut t = Template::new(ec());
    // The standard URI="" reference plus eight more.
    t.extra_reference =
        whole_doc_reference(&format!("<ds:Transform Algorithm=\"{ENVELOPED}\"/>")).repeat(8);
    // A large document, so that re-canonicalizing it per reference would show.
    let filler = format!("<Filler>{}</Filler>", "x".repeat(1 << 20));
    let doc = t
        .document()
        .replacen("<Challenge>", &format!("{filler}<Challenge>"), 1);
    let signed = sign_template(&doc, ec());
    let start = Instant::now();
    let e = verify_enveloped(signed.as_bytes(), &LENIENT).unwrap_err();
    let elapsed = start.elapsed();
    assert!(matches!(e, VerifyError::MalformedSignature { .. }), "{e:?}");
    assert_eq!(e.ksef_code(), 9105);
    assert!(e.to_string().contains("Reference"), "{e}");
    assert!(elapsed < Duration::from_secs(2), "took {elapsed:?}");
}

#[test]
fn nine_transforms_in_a_reference_are_refused() {
    let mut t = Template::new(ec());
    t.whole_doc_ref = false;
    t.extra_reference = whole_doc_reference(&format!(
        "<ds:Transform Algorithm=\"{ENVELOPED}\"/>{}",
        format!("<ds:Transform Algorithm=\"{EXC_C14N}\"/>").repeat(7)
    ));
    let signed = sign_template(&t.document(), ec());
    let e = verify_enveloped(signed.as_bytes(), &LENIENT).unwrap_err();
    assert!(matches!(e, VerifyError::MalformedSignature { .. }), "{e:?}");
    assert_eq!(e.ksef_code(), 9105);
}

#[test]
fn eight_transforms_and_the_standard_shape_still_verify() {
    let mut t = Template::new(ec());
    t.whole_doc_ref = false;
    t.extra_reference = whole_doc_reference(&format!(
        "<ds:Transform Algorithm=\"{ENVELOPED}\"/>{}",
        format!("<ds:Transform Algorithm=\"{EXC_C14N}\"/>").repeat(6)
    ));
    let signed = sign_template(&t.document(), ec());
    verify_enveloped(signed.as_bytes(), &STRICT).unwrap();
    // The Filter 2.0 and XPath forms naming the signature keep working.
    for transform in [
        format!(
            "<ds:Transform Algorithm=\"{XPATH2}\">\
             <f:XPath xmlns:f=\"{XPATH2}\" Filter=\"subtract\">//ds:Signature</f:XPath></ds:Transform>"
        ),
        format!(
            "<ds:Transform Algorithm=\"{XPATH2}\">\
             <f:XPath xmlns:f=\"{XPATH2}\" Filter=\"subtract\">here()/ancestor::ds:Signature[1]</f:XPath></ds:Transform>"
        ),
        format!(
            "<ds:Transform Algorithm=\"{XPATH}\">\
             <ds:XPath>not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"
        ),
    ] {
        let mut t = Template::new(ec());
        t.whole_doc_ref = false;
        t.extra_reference = whole_doc_reference(&transform);
        let signed = sign_template(&t.document(), ec());
        verify_enveloped(signed.as_bytes(), &STRICT).unwrap_or_else(|e| panic!("{transform}: {e}"));
    }
}
