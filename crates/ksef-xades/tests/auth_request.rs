//! `AuthTokenRequest`: official examples, round trips, and schema violations with paths.

mod common;

use std::net::Ipv4Addr;

use common::*;
use ksef_core::ContextIdentifier;
use ksef_xades::{
    AuthNamespace, AuthRequestError, AuthTokenRequest, AuthorizationPolicy, SubjectIdentifierType,
};

const EXAMPLES: &str = "../../spec/ksef-docs/auth/examples";

fn examples_dir() -> std::path::PathBuf {
    std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(EXAMPLES)
}

fn parse(xml: &str) -> Result<(AuthTokenRequest, AuthNamespace), AuthRequestError> {
    AuthTokenRequest::parse(xml.as_bytes())
}

/// Expect a schema error whose path and message contain the given fragments.
fn schema_err(xml: &str, path_part: &str, msg_part: &str) {
    match parse(xml) {
        Err(AuthRequestError::Schema {
            path,
            message,
            line,
        }) => {
            assert!(
                path.contains(path_part),
                "path {path:?} lacks {path_part:?} ({message})"
            );
            assert!(
                message.contains(msg_part),
                "message {message:?} lacks {msg_part:?}"
            );
            assert!(line.is_some());
        }
        other => panic!("expected a schema error for {path_part}, got {other:?}\n{xml}"),
    }
}

fn doc(ns: &str, body: &str) -> String {
    format!(
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<AuthTokenRequest xmlns=\"{ns}\">{body}</AuthTokenRequest>"
    )
}

const CH: &str = "<Challenge>20250604-CR-461EA5B000-537A6BA15D-D7</Challenge>";
const CTX: &str = "<ContextIdentifier><Nip>5265877635</Nip></ContextIdentifier>";
const SUB: &str = "<SubjectIdentifierType>certificateSubject</SubjectIdentifierType>";
const NS20: &str = "http://ksef.mf.gov.pl/auth/token/2.0";
const NS21: &str = "http://ksef.mf.gov.pl/auth/token/2.1";

#[test]
fn official_examples_parse() {
    let mut seen = 0;
    for entry in std::fs::read_dir(examples_dir()).unwrap() {
        let path = entry.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        let name = path.file_name().unwrap().to_string_lossy().to_string();
        if name == "context-identifier-internal-id.xml" {
            // The official example's InternalId "5265877635-12345" is schema-valid but its
            // check digit is wrong (digest §2.3: the check digit would be 6), so it is
            // reported as an identifier error (21405), not a schema error.
            match AuthTokenRequest::parse(&bytes) {
                Err(e @ AuthRequestError::InvalidIdentifier { .. }) => {
                    assert!(e.to_string().contains("InternalId"), "{e}");
                    assert_eq!(e.ksef_code(), 21405);
                }
                other => panic!("{other:?}"),
            }
            let fixed = String::from_utf8(bytes)
                .unwrap()
                .replace("5265877635-12345", "5265877635-12346");
            let (req, _) = parse(&fixed).unwrap();
            assert_eq!(req.context.value(), "5265877635-12346");
            assert!(matches!(req.context, ContextIdentifier::InternalId(_)));
            seen += 1;
            continue;
        }
        let (req, ns) =
            AuthTokenRequest::parse(&bytes).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert_eq!(ns, AuthNamespace::V2_0);
        assert_eq!(req.challenge, "20250604-CR-461EA5B000-537A6BA15D-D7");
        match name.as_str() {
            "context-identifier-nip-vat-ue.xml" => {
                assert!(matches!(req.context, ContextIdentifier::NipVatUe(_)));
            }
            "subject-identifier-type-certificate-fingerprint.xml" => {
                assert_eq!(
                    req.subject_identifier_type,
                    SubjectIdentifierType::CertificateFingerprint
                );
            }
            _ => {
                assert!(matches!(req.context, ContextIdentifier::Nip(_)));
                assert_eq!(
                    req.subject_identifier_type,
                    SubjectIdentifierType::CertificateSubject
                );
            }
        }
        assert_eq!(req.authorization_policy, None);
        seen += 1;
    }
    assert_eq!(seen, 5);
}

#[test]
fn to_xml_matches_the_official_example_byte_for_byte() {
    let req = AuthTokenRequest::new(
        CHALLENGE,
        ContextIdentifier::Nip(NIP.parse().unwrap()),
        SubjectIdentifierType::CertificateSubject,
    );
    let official =
        std::fs::read_to_string(examples_dir().join("context-identifier-nip.xml")).unwrap();
    assert_eq!(
        req.to_xml(AuthNamespace::V2_0).trim_end(),
        official.trim_end()
    );
}

#[test]
fn round_trip_both_namespaces_with_policy() {
    for ns in [AuthNamespace::V2_0, AuthNamespace::V2_1] {
        let mut req = request();
        req.authorization_policy = Some(AuthorizationPolicy {
            ip4_addresses: vec!["192.168.0.1".into(), "10.0.0.7".into()],
            ip4_ranges: vec!["10.0.0.1-10.0.0.254".into()],
            ip4_masks: vec!["172.16.0.0/16".into()],
        });
        let xml = req.to_xml(ns);
        assert!(xml.contains(ns.uri()));
        let (back, ns2) = parse(&xml).unwrap();
        assert_eq!(ns2, ns);
        assert_eq!(back, req);
        req.validate().unwrap();
    }
    // Empty AllowedIps is schema-valid and round-trips.
    let mut req = request();
    req.authorization_policy = Some(AuthorizationPolicy::default());
    let (back, _) = parse(&req.to_xml(AuthNamespace::V2_1)).unwrap();
    assert_eq!(
        back.authorization_policy,
        Some(AuthorizationPolicy::default())
    );
}

#[test]
fn all_context_kinds_round_trip() {
    for (kind, value) in [
        ("Nip", "5265877635"),
        ("InternalId", "5265877635-12346"),
        ("NipVatUe", "5265877635-DE123456789"),
        ("PeppolId", "PPL123456"),
    ] {
        let xml = doc(
            NS21,
            &format!("{CH}<ContextIdentifier><{kind}>{value}</{kind}></ContextIdentifier>{SUB}"),
        );
        let (req, _) = parse(&xml).unwrap_or_else(|e| panic!("{kind}: {e}"));
        assert_eq!(req.context.kind().as_str(), kind);
        assert_eq!(req.context.value(), value);
        let again = req.to_xml(AuthNamespace::V2_1);
        assert_eq!(parse(&again).unwrap().0, req);
    }
}

#[test]
fn signature_child_is_ignored_and_whitespace_tolerated() {
    let xml = doc(
        NS20,
        &format!(
            "\n  {CH}\n  {CTX}\n  {SUB}\n  <!-- comment -->\n  <ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\"><ds:SignedInfo/></ds:Signature>\n"
        ),
    );
    parse(&xml).unwrap();
    // xsd:token collapses whitespace around the challenge and the enum value.
    let xml = doc(
        NS20,
        &format!(
            "<Challenge>\n  20250604-CR-461EA5B000-537A6BA15D-D7\n</Challenge>{CTX}<SubjectIdentifierType> certificateFingerprint </SubjectIdentifierType>"
        ),
    );
    let (req, _) = parse(&xml).unwrap();
    assert_eq!(req.challenge, CHALLENGE);
    assert_eq!(
        req.subject_identifier_type,
        SubjectIdentifierType::CertificateFingerprint
    );
}

#[test]
fn wrong_order_missing_and_unknown_elements() {
    schema_err(
        &doc(NS20, &format!("{CTX}{CH}{SUB}")),
        "/AuthTokenRequest",
        "ContextIdentifier is not expected; expected Challenge",
    );
    schema_err(
        &doc(NS20, &format!("{CH}{CTX}")),
        "/AuthTokenRequest",
        "missing child element SubjectIdentifierType",
    );
    schema_err(
        &doc(NS20, &format!("{CH}{CTX}{SUB}<Extra/>")),
        "/AuthTokenRequest",
        "Extra is not expected",
    );
    schema_err(
        &doc(NS20, &format!("{CH}{CH}{CTX}{SUB}")),
        "/AuthTokenRequest",
        "Challenge is not expected",
    );
    // Element in the wrong namespace.
    schema_err(
        &doc(
            NS20,
            &format!(
                "<Challenge xmlns=\"{NS21}\">20250604-CR-461EA5B000-537A6BA15D-D7</Challenge>{CTX}{SUB}"
            ),
        ),
        "/AuthTokenRequest",
        "{http://ksef.mf.gov.pl/auth/token/2.1}Challenge",
    );
    // Text in element-only content, unexpected attribute.
    schema_err(
        &doc(NS20, &format!("{CH}oops{CTX}{SUB}")),
        "/AuthTokenRequest",
        "text 'oops'",
    );
    schema_err(
        &doc(
            NS20,
            &format!(
                "<Challenge a=\"1\">20250604-CR-461EA5B000-537A6BA15D-D7</Challenge>{CTX}{SUB}"
            ),
        ),
        "/AuthTokenRequest/Challenge",
        "attribute 'a'",
    );
}

#[test]
fn root_element_and_namespace_are_checked() {
    schema_err(
        &doc(
            "http://ksef.mf.gov.pl/auth/token/2.2",
            &format!("{CH}{CTX}{SUB}"),
        ),
        "/AuthTokenRequest",
        "unsupported namespace",
    );
    schema_err(
        "<AuthTokenRequest>x</AuthTokenRequest>",
        "/AuthTokenRequest",
        "root element is {}AuthTokenRequest",
    );
    schema_err(&format!("<Other xmlns=\"{NS20}\"/>"), "/Other", "expected");
}

#[test]
fn challenge_facets() {
    schema_err(
        &doc(
            NS20,
            &format!("<Challenge>20250604-CR-461EA5B000-537A6BA15D-D</Challenge>{CTX}{SUB}"),
        ),
        "/AuthTokenRequest/Challenge",
        "length 35",
    );
    schema_err(
        &doc(
            NS20,
            &format!("<Challenge>20250604-CR-461ea5b000-537A6BA15D-D7</Challenge>{CTX}{SUB}"),
        ),
        "/AuthTokenRequest/Challenge",
        "pattern",
    );
}

#[test]
fn context_identifier_choice_and_patterns() {
    schema_err(
        &doc(
            NS20,
            &format!("{CH}<ContextIdentifier></ContextIdentifier>{SUB}"),
        ),
        "/AuthTokenRequest/ContextIdentifier",
        "missing child element",
    );
    schema_err(
        &doc(
            NS20,
            &format!(
                "{CH}<ContextIdentifier><Nip>5265877635</Nip><InternalId>5265877635-12345</InternalId></ContextIdentifier>{SUB}"
            ),
        ),
        "/AuthTokenRequest/ContextIdentifier",
        "exactly one",
    );
    schema_err(
        &doc(
            NS20,
            &format!("{CH}<ContextIdentifier><Pesel>44051401359</Pesel></ContextIdentifier>{SUB}"),
        ),
        "/AuthTokenRequest/ContextIdentifier",
        "Pesel is not expected",
    );
    for (kind, bad) in [
        ("Nip", "526587763"),
        ("Nip", " 5265877635"),
        ("Nip", "0265877635"),
        ("InternalId", "5265877635-1234"),
        ("NipVatUe", "5265877635-PL123456789"),
        ("PeppolId", "PL123456"),
    ] {
        schema_err(
            &doc(
                NS20,
                &format!("{CH}<ContextIdentifier><{kind}>{bad}</{kind}></ContextIdentifier>{SUB}"),
            ),
            &format!("/AuthTokenRequest/ContextIdentifier/{kind}"),
            "does not match",
        );
    }
    // Pattern-valid NIP with a wrong checksum: not a schema error but an identifier error.
    match parse(&doc(
        NS20,
        &format!("{CH}<ContextIdentifier><Nip>5265877636</Nip></ContextIdentifier>{SUB}"),
    )) {
        Err(e @ AuthRequestError::InvalidIdentifier { .. }) => {
            assert_eq!(e.ksef_code(), 21405);
            assert!(
                e.to_string()
                    .contains("/AuthTokenRequest/ContextIdentifier/Nip"),
                "{e}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn subject_identifier_type_enumeration() {
    schema_err(
        &doc(
            NS20,
            &format!("{CH}{CTX}<SubjectIdentifierType>certificateNip</SubjectIdentifierType>"),
        ),
        "/AuthTokenRequest/SubjectIdentifierType",
        "enumeration",
    );
}

#[test]
fn authorization_policy_rules() {
    let policy = |inner: &str| {
        doc(
            NS20,
            &format!("{CH}{CTX}{SUB}<AuthorizationPolicy>{inner}</AuthorizationPolicy>"),
        )
    };
    schema_err(
        &policy(""),
        "/AuthTokenRequest/AuthorizationPolicy",
        "missing child element AllowedIps",
    );
    schema_err(
        &policy(
            "<AllowedIps><Ip4Mask>10.0.0.0/8</Ip4Mask><Ip4Address>10.0.0.1</Ip4Address></AllowedIps>",
        ),
        "AllowedIps",
        "Ip4Address is not expected",
    );
    for (name, bad) in [
        ("Ip4Address", "256.0.0.1"),
        ("Ip4Address", "01.2.3.4"),
        ("Ip4Address", "1.2.3"),
        ("Ip4Range", "10.0.0.1"),
        ("Ip4Mask", "10.0.0.0/33"),
    ] {
        schema_err(
            &policy(&format!("<AllowedIps><{name}>{bad}</{name}></AllowedIps>")),
            &format!("AllowedIps/{name}[1]"),
            "not a valid",
        );
    }
    let eleven: String = (1..=11)
        .map(|i| format!("<Ip4Address>10.0.0.{i}</Ip4Address>"))
        .collect();
    schema_err(
        &policy(&format!("<AllowedIps>{eleven}</AllowedIps>")),
        "Ip4Address[11]",
        "at most 10",
    );
    let ten: String = (1..=10)
        .map(|i| format!("<Ip4Address>10.0.0.{i}</Ip4Address>"))
        .collect();
    let (req, _) = parse(&policy(&format!("<AllowedIps>{ten}</AllowedIps>"))).unwrap();
    assert_eq!(req.authorization_policy.unwrap().ip4_addresses.len(), 10);
}

#[test]
fn policy_validate_and_allows() {
    let p = AuthorizationPolicy {
        ip4_addresses: vec!["192.168.0.1".into()],
        ip4_ranges: vec!["10.0.0.10-10.0.0.20".into(), "10.9.9.9-10.9.9.1".into()],
        ip4_masks: vec!["172.16.5.4/16".into()],
    };
    p.validate().unwrap();
    let ip = |s: &str| s.parse::<Ipv4Addr>().unwrap();
    assert!(p.allows(ip("192.168.0.1")));
    assert!(!p.allows(ip("192.168.0.2")));
    assert!(p.allows(ip("10.0.0.10")) && p.allows(ip("10.0.0.20")) && p.allows(ip("10.0.0.15")));
    assert!(!p.allows(ip("10.0.0.21")) && !p.allows(ip("10.0.0.9")));
    assert!(!p.allows(ip("10.9.9.5")), "inverted range matches nothing");
    assert!(p.allows(ip("172.16.0.1")) && p.allows(ip("172.16.255.255")));
    assert!(!p.allows(ip("172.17.0.0")));
    // Empty policy: everything allowed.
    assert!(AuthorizationPolicy::default().allows(ip("8.8.8.8")));
    // /0 and /32 masks.
    let any = AuthorizationPolicy {
        ip4_masks: vec!["0.0.0.0/0".into()],
        ..Default::default()
    };
    assert!(any.allows(ip("1.2.3.4")));
    let one = AuthorizationPolicy {
        ip4_masks: vec!["1.2.3.4/32".into()],
        ..Default::default()
    };
    assert!(one.allows(ip("1.2.3.4")) && !one.allows(ip("1.2.3.5")));
    // validate() rejects bad entries and too many.
    let bad = AuthorizationPolicy {
        ip4_ranges: vec!["1.2.3.4".into()],
        ..Default::default()
    };
    assert!(matches!(
        bad.validate(),
        Err(AuthRequestError::Schema { .. })
    ));
    let many = AuthorizationPolicy {
        ip4_masks: vec!["1.2.3.4/32".into(); 11],
        ..Default::default()
    };
    assert!(
        many.validate()
            .unwrap_err()
            .to_string()
            .contains("at most 10")
    );
}

#[test]
fn not_well_formed_and_encoding_errors() {
    let e = parse("<AuthTokenRequest>").unwrap_err();
    assert!(matches!(e, AuthRequestError::NotWellFormed(_)), "{e:?}");
    assert_eq!(e.ksef_code(), 21001);
    let e = AuthTokenRequest::parse(&[0x3c, 0x61, 0xff, 0x3e]).unwrap_err();
    assert!(matches!(e, AuthRequestError::Encoding(_)), "{e:?}");
    assert_eq!(e.ksef_code(), 21217);
    let dtd = format!(
        "<!DOCTYPE x [<!ENTITY a \"b\">]>{}",
        doc(NS20, "").split_once("?>\n").unwrap().1
    );
    // A DTD is refused by the workspace's DTD guard: 9101, like the signature check.
    let e = parse(&dtd).unwrap_err();
    assert!(matches!(e, AuthRequestError::Doctype(_)), "{e:?}");
    assert_eq!(e.ksef_code(), 9101);
    assert_eq!(e.description_pl(), "Nieprawidłowy dokument.");
    // Schema errors map to 21401 with the Polish description.
    let e = parse(&doc(NS20, CH)).unwrap_err();
    assert_eq!(e.ksef_code(), 21401);
    assert_eq!(
        e.description_pl(),
        "Dokument nie jest zgodny ze schemą (xsd)."
    );
    assert!(
        e.to_string()
            .starts_with("/AuthTokenRequest (line 2): missing child element"),
        "{e}"
    );
}

#[test]
fn xsi_attributes_are_allowed() {
    let xml = format!(
        "<AuthTokenRequest xmlns=\"{NS21}\" xmlns:xsi=\"http://www.w3.org/2001/XMLSchema-instance\" xsi:schemaLocation=\"{NS21} schemat_auth_v2-1.xsd\">{CH}{CTX}{SUB}</AuthTokenRequest>"
    );
    parse(&xml).unwrap();
}
