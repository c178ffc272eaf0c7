//! Canonicalization of document subsets and the less common transforms, checked against
//! xmlsec1 (libxmlsec1 + libxml2): a namespace-heavy document signed with one reference per
//! variant. The same template is filled by xmlsec1 and by our template signer; every
//! `DigestValue` must come out identical (so each subset canonicalizes to the same bytes),
//! and each side must verify the other's signature. These tests FAIL when xmlsec1 is not
//! installed.

mod common;

use common::*;
use ksef_xades::signature::{VerifyError, VerifyOptions};
use ksef_xades::verify_enveloped;

const LENIENT: VerifyOptions = VerifyOptions {
    strict_xades: false,
};
const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";
const XPATH2: &str = "http://www.w3.org/2002/06/xmldsig-filter2";
const BASE64: &str = "http://www.w3.org/2000/09/xmldsig#base64";
const C14N11_COMMENTS: &str = "http://www.w3.org/2006/12/xml-c14n11#WithComments";

/// `Id` attributes xmlsec1 must know about (no DTD).
const ID_ATTRS: [&str; 2] = ["urn:data:Data", "urn:data:Blob"];

fn reference(uri: &str, transforms: &[String]) -> String {
    let ts = if transforms.is_empty() {
        String::new()
    } else {
        format!("<ds:Transforms>{}</ds:Transforms>", transforms.concat())
    };
    format!(
        "<ds:Reference URI=\"{uri}\">{ts}<ds:DigestMethod Algorithm=\"{SHA256}\"/>\
         <ds:DigestValue></ds:DigestValue></ds:Reference>\n"
    )
}

fn transform(alg: &str) -> String {
    format!("<ds:Transform Algorithm=\"{alg}\"/>")
}

fn exc_with_prefixes(alg: &str, prefixes: &str) -> String {
    format!(
        "<ds:Transform Algorithm=\"{alg}\"><ec:InclusiveNamespaces \
         xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"{prefixes}\"/>\
         </ds:Transform>"
    )
}

/// The test document with a signature template using `c14n` for SignedInfo.
fn template(signature_method: &str, c14n: &str, signed_info_extra: &str) -> String {
    let cm = if c14n.starts_with(EXC_C14N) {
        format!(
            "<ds:CanonicalizationMethod Algorithm=\"{c14n}\"><ec:InclusiveNamespaces \
             xmlns:ec=\"http://www.w3.org/2001/10/xml-exc-c14n#\" PrefixList=\"r #default\"/>\
             </ds:CanonicalizationMethod>"
        )
    } else {
        format!("<ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>")
    };
    let refs = [
        reference("", &[transform(ENVELOPED), transform(C14N)]),
        reference("#d1", &[transform(C14N)]),
        reference("#d1", &[transform(C14N11)]),
        reference("#d1", &[exc_with_prefixes(EXC_C14N, "#default w")]),
        reference("#d1", &[transform(EXC_C14N)]),
        reference("#xpointer(id('d1'))", &[transform(C14N_COMMENTS)]),
        reference("#d1", &[transform(C14N_COMMENTS)]),
        reference("#d2", &[]),
        reference("#d2", &[transform(C14N11)]),
        reference("#d3", &[transform(EXC_C14N_COMMENTS)]),
        reference("#xpointer(id('d3'))", &[transform(EXC_C14N_COMMENTS)]),
        reference(
            "",
            &[
                format!(
                    "<ds:Transform Algorithm=\"{XPATH}\"><ds:XPath>\
                     not(ancestor-or-self::ds:Signature)</ds:XPath></ds:Transform>"
                ),
                transform(EXC_C14N),
            ],
        ),
        reference(
            "",
            &[format!(
                "<ds:Transform Algorithm=\"{XPATH2}\"><dsig-xpath:XPath \
                 xmlns:dsig-xpath=\"{XPATH2}\" Filter=\"subtract\">\
                 here()/ancestor::ds:Signature[1]</dsig-xpath:XPath></ds:Transform>"
            )],
        ),
        reference(
            "#xpointer(/)",
            &[transform(ENVELOPED), transform(C14N11_COMMENTS)],
        ),
        reference("#b64", &[transform(BASE64)]),
    ]
    .concat();
    format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n\
<!-- before the root -->\n\
<r:Root xmlns:r=\"urn:root\" xmlns=\"urn:default\" xmlns:u=\"urn:unused\" xml:lang=\"pl\" \
xml:space=\"default\" xml:base=\"http://example.com/dir/\">\n\
  <Wrap xml:lang=\"en\" xmlns:w=\"urn:w\" w:a=\"1\" xml:base=\"sub/\" xml:id=\"wrap\">\n\
    <d:Data xmlns:d=\"urn:data\" Id=\"d1\" b=\"&#9;2&#10;\" a=\"1\" r:z=\"&quot;&lt;\">Zażółć &amp; \
&lt;gęślą&gt; jaźń<!-- inside d1 --><x xmlns=\"\">t<w:y/></x><w:y xmlns:w=\"urn:w2\"/>\
<![CDATA[<cdata> & ]]><?pi data?></d:Data>\n\
  </Wrap>\n\
  <d:Data xmlns:d=\"urn:data\" Id=\"d2\" xml:base=\"../other/\"><inner r:at=\"v\"/></d:Data>\n\
  <d:Data xmlns:d=\"urn:data\" Id=\"d3\"><p:e xmlns:p=\"urn:p\"><!-- kept? --></p:e></d:Data>\n\
  <d:Blob xmlns:d=\"urn:data\" Id=\"b64\">WmHFvMOzxYLEhyBnxJnFm2zEhSBqYcW6xYQ=\n</d:Blob>\n\
<ds:Signature xmlns:ds=\"{DSIG}\" Id=\"Signature\">\n\
<ds:SignedInfo>{cm}\n<ds:SignatureMethod Algorithm=\"{signature_method}\"/>\n{signed_info_extra}{refs}\
</ds:SignedInfo>\n<ds:SignatureValue></ds:SignatureValue>\n<ds:KeyInfo><ds:X509Data/></ds:KeyInfo>\n\
</ds:Signature>\n</r:Root>\n<!-- after the root -->\n"
    )
}

fn xmlsec_sign_doc(template: &str, cred: &ksef_crypto::Credential) -> String {
    xmlsec_sign_with_ids(template, cred, &ID_ATTRS)
}

fn xmlsec_verify_doc(xml: &str, cred: &ksef_crypto::Credential) -> (bool, String) {
    xmlsec_verify_with_ids(xml.as_bytes(), cred, &ID_ATTRS)
}

/// The texts of the `ds:DigestValue` elements, in order.
fn digest_values(xml: &str) -> Vec<String> {
    xml.split("<ds:DigestValue>")
        .skip(1)
        .map(|s| s.split("</ds:DigestValue>").next().unwrap().to_string())
        .collect()
}

fn ours_sign(template: &str, cred: &ksef_crypto::Credential) -> String {
    sign_template(template, cred)
}

fn check_both_ways(
    signature_method: &str,
    c14n: &str,
    extra: &str,
    cred: &ksef_crypto::Credential,
) {
    let t = template(signature_method, c14n, extra);
    let theirs = xmlsec_sign_doc(&t, cred);
    let mine = ours_sign(&t, cred);
    let (d_theirs, d_mine) = (digest_values(&theirs), digest_values(&mine));
    assert_eq!(d_theirs.len(), 15);
    for (i, (a, b)) in d_theirs.iter().zip(&d_mine).enumerate() {
        assert_eq!(a, b, "DigestValue of reference #{} differs ({c14n})", i + 1);
    }
    let (ok, out) = xmlsec_verify_doc(&mine, cred);
    assert!(
        ok,
        "xmlsec1 rejected our signature ({c14n}):\n{out}\n{mine}"
    );
    assert!(
        out.contains("SignedInfo References (ok/all): 15/15"),
        "{out}"
    );
    let v = verify_enveloped(theirs.as_bytes(), &LENIENT)
        .unwrap_or_else(|e| panic!("we rejected xmlsec1's signature ({c14n}): {e}\n{theirs}"));
    assert_eq!(v.canonicalization, c14n);
    assert_eq!(v.signature_method, signature_method);
    assert!(!v.has_signed_properties);
    verify_enveloped(mine.as_bytes(), &LENIENT).unwrap();
}

#[test]
fn subsets_and_transforms_agree_with_xmlsec1_rsa() {
    check_both_ways(RSA_SHA256, C14N, "", rsa());
    check_both_ways(RSA_SHA512, C14N11, "", rsa());
    check_both_ways(RSA_SHA1, EXC_C14N, "", rsa());
}

#[test]
fn subsets_and_transforms_agree_with_xmlsec1_ec() {
    check_both_ways(ECDSA_SHA256, EXC_C14N_COMMENTS, "", ec());
    check_both_ways(ECDSA_SHA384, C14N11_COMMENTS, "", ec());
}

#[test]
fn comments_inside_signed_info_follow_the_canonicalization_method() {
    // A comment inside SignedInfo is signed by the #WithComments methods (xmlsec1, .NET).
    check_both_ways(RSA_SHA256, C14N_COMMENTS, "<!-- signed? -->\n", rsa());
    check_both_ways(ECDSA_SHA256, C14N, "<!-- not signed -->\n", ec());
}

#[test]
fn tampering_a_subset_is_a_digest_mismatch_of_its_reference() {
    let t = template(RSA_SHA256, C14N, "");
    let signed = xmlsec_sign_doc(&t, rsa());
    let tampered = signed.replacen("<inner r:at=\"v\"/>", "<inner r:at=\"w\"/>", 1);
    assert_ne!(tampered, signed);
    match verify_enveloped(tampered.as_bytes(), &LENIENT) {
        // The whole-document reference comes first and covers d2 as well.
        Err(VerifyError::DigestMismatch { uri }) => assert_eq!(uri, ""),
        other => panic!("{other:?}"),
    }
    // A changed comment inside d1 breaks only the references that keep comments.
    let tampered = signed.replacen("<!-- inside d1 -->", "<!-- inside d1! -->", 1);
    match verify_enveloped(tampered.as_bytes(), &LENIENT) {
        Err(VerifyError::DigestMismatch { uri }) => assert_eq!(uri, "#xpointer(id('d1'))"),
        other => panic!("{other:?}"),
    }
    assert!(!xmlsec_verify_doc(&tampered, rsa()).0);
}

#[test]
fn duplicate_ids_and_unknown_ids_are_refused() {
    let t = template(RSA_SHA256, C14N, "");
    let signed = ours_sign(&t, rsa());
    let dup = signed.replacen("Id=\"d3\"", "Id=\"d2\"", 1);
    match verify_enveloped(dup.as_bytes(), &LENIENT) {
        Err(VerifyError::MalformedSignature { reason }) => {
            assert!(reason.contains("duplicate ID: d2"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let unknown = signed.replacen("URI=\"#d2\"", "URI=\"#nowhere\"", 1);
    match verify_enveloped(unknown.as_bytes(), &LENIENT) {
        Err(VerifyError::Detached { uri }) => assert!(uri.contains("nowhere"), "{uri}"),
        other => panic!("{other:?}"),
    }
}
