//! `diagnose`: each of the NOTES.md top causes of 9105 is named.

mod common;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use common::*;
use ksef_xades::diagnose::{Cause, Severity, diagnose};
use ksef_xades::sign_enveloped;
use ksef_xades::signature::SignOptions;

fn causes(xml: &str) -> Vec<(Cause, Severity)> {
    diagnose(xml.as_bytes())
        .into_iter()
        .map(|f| (f.cause, f.severity))
        .collect()
}

#[test]
fn clean_document_only_warns_about_self_signed_certificate() {
    let signed = sign_enveloped(&unsigned_xml(), ec(), &SignOptions::default()).unwrap();
    let f = diagnose(signed.as_bytes());
    assert_eq!(f.len(), 1, "{f:?}");
    assert_eq!(f[0].cause, Cause::SelfSignedCertificate);
    assert_eq!(f[0].severity, Severity::Warning);
    assert_eq!(f[0].ksef_code, Some(21115));
}

#[test]
fn pretty_printed_after_signing_is_located() {
    // A compact document signed, then pretty-printed as a whole.
    let compact: String = unsigned_xml().split('\n').map(str::trim).collect();
    let signed = sign_enveloped(&compact, rsa(), &SignOptions::default()).unwrap();
    let pretty = signed.replace("><", ">\n  <");
    assert_ne!(pretty, signed);
    let f = diagnose(pretty.as_bytes());
    let m = f
        .iter()
        .find(|f| f.cause == Cause::ModifiedAfterSigning)
        .unwrap_or_else(|| panic!("{f:?}"));
    assert_eq!(m.ksef_code, Some(9105));
    assert!(m.message.contains("URI=\"\""), "{}", m.message);
    assert!(m.message.contains("pretty-printed"), "{}", m.message);
    // Only the signature block pretty-printed: SignedInfo changed → signature value fails.
    let signed = sign_enveloped(&unsigned_xml(), ec(), &SignOptions::default()).unwrap();
    let pretty_sig = signed.replace("><ds:", ">\n<ds:");
    let f = diagnose(pretty_sig.as_bytes());
    let m = f
        .iter()
        .find(|f| f.cause == Cause::ModifiedAfterSigning)
        .unwrap_or_else(|| panic!("{f:?}"));
    assert!(m.message.contains("pretty-printed"), "{}", m.message);
}

#[test]
fn trailing_spaces_are_located_and_edits_are_reported() {
    let signed = sign_enveloped(&unsigned_xml(), ec(), &SignOptions::default()).unwrap();
    let spaced = signed.replacen("</Challenge>\n", "</Challenge>   \n", 1);
    let f = diagnose(spaced.as_bytes());
    let m = f
        .iter()
        .find(|f| f.cause == Cause::ModifiedAfterSigning)
        .unwrap();
    assert!(
        m.message.contains("pretty-printed") || m.message.contains("trailing spaces"),
        "{}",
        m.message
    );
    let edited = signed.replacen("certificateSubject", "certificateFingerprint", 1);
    let f = diagnose(edited.as_bytes());
    let m = f
        .iter()
        .find(|f| f.cause == Cause::ModifiedAfterSigning)
        .unwrap();
    assert!(
        m.message.contains("inside the signed content"),
        "{}",
        m.message
    );
}

#[test]
fn der_ecdsa_detached_and_plain_xmldsig_are_named() {
    let signed = sign_enveloped(&unsigned_xml(), ec(), &SignOptions::default()).unwrap();
    let s = signed.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
    let e = signed.find("</ds:SignatureValue>").unwrap();
    let raw = B64.decode(&signed[s..e]).unwrap();
    let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
    let der_doc = format!(
        "{}{}{}",
        &signed[..s],
        B64.encode(der.as_bytes()),
        &signed[e..]
    );
    assert!(causes(&der_doc).contains(&(Cause::EcdsaDerEncoded, Severity::Error)));

    let detached = signed.replacen("URI=\"\"", "URI=\"request.xml\"", 1);
    assert!(causes(&detached).contains(&(Cause::NotEnveloped, Severity::Error)));

    let plain = sign_enveloped(
        &unsigned_xml(),
        ec(),
        &SignOptions {
            include_signed_properties: false,
            ..SignOptions::default()
        },
    )
    .unwrap();
    assert!(causes(&plain).contains(&(Cause::XadesProperties, Severity::Error)));
}

#[test]
fn sha1_and_pss_are_warned_about() {
    let mut t = Template::new(rsa());
    t.signature_method = RSA_SHA1;
    t.digest = SHA1;
    let signed = sign_template(&t.document(), rsa());
    let f = diagnose(signed.as_bytes());
    assert!(
        f.iter()
            .any(|f| f.cause == Cause::AlgorithmRisk && f.message.contains("SHA-1")),
        "{f:?}"
    );
    let mut t = Template::new(rsa());
    t.signature_method = RSA_PSS_SHA256;
    let signed = sign_template(&t.document(), rsa());
    let f = diagnose(signed.as_bytes());
    assert!(
        f.iter()
            .any(|f| f.cause == Cause::AlgorithmRisk && f.message.contains("RSA-PSS")),
        "{f:?}"
    );
}

#[test]
fn schema_problems_and_missing_signature_are_reported() {
    let f = diagnose(
        unsigned_xml()
            .replace("certificateSubject", "nope")
            .as_bytes(),
    );
    assert!(
        f.iter()
            .any(|f| f.cause == Cause::Schema && f.ksef_code == Some(21401)),
        "{f:?}"
    );
    assert!(
        f.iter()
            .any(|f| f.cause == Cause::Other && f.ksef_code == Some(9102)),
        "{f:?}"
    );
    let f = diagnose(b"garbage");
    assert!(
        f.iter()
            .all(|f| f.cause == Cause::Schema && f.ksef_code == Some(21001)),
        "{f:?}"
    );
}
