//! Interop with `xmlsec1` (libxmlsec1 + OpenSSL), the reference XML-DSig implementation:
//! our signatures must verify there, and its signatures (in every variant KSeF clients
//! produce) must verify here. These tests FAIL when xmlsec1 is not installed.

mod common;

use common::*;
use ksef_xades::signature::{C14nMethod, SignOptions, VerifyError, VerifyOptions};
use ksef_xades::{AuthNamespace, AuthTokenRequest, sign_enveloped, verify_enveloped};

const STRICT: VerifyOptions = VerifyOptions { strict_xades: true };
const LENIENT: VerifyOptions = VerifyOptions {
    strict_xades: false,
};

fn assert_xmlsec_ok(xml: &str, cred: &ksef_crypto::Credential) {
    let (ok, out) = xmlsec_verify(xml.as_bytes(), cred);
    assert!(ok, "xmlsec1 rejected our signature:\n{out}\n{xml}");
    assert!(out.contains("SignedInfo References (ok/all): 2/2"), "{out}");
}

#[test]
fn our_rsa_signature_verifies_in_xmlsec1_for_each_c14n() {
    for c14n in [
        C14nMethod::Inclusive,
        C14nMethod::Exclusive,
        C14nMethod::Inclusive11,
    ] {
        let opts = SignOptions {
            canonicalization: c14n,
            ..SignOptions::default()
        };
        let signed = sign_enveloped(&unsigned_xml(), rsa(), &opts).unwrap();
        assert_xmlsec_ok(&signed, rsa());
    }
}

#[test]
fn our_ec_signature_verifies_in_xmlsec1_for_each_c14n() {
    for c14n in [
        C14nMethod::Inclusive,
        C14nMethod::Exclusive,
        C14nMethod::Inclusive11,
    ] {
        let opts = SignOptions {
            canonicalization: c14n,
            ..SignOptions::default()
        };
        let signed = sign_enveloped(&unsigned_xml(), ec(), &opts).unwrap();
        assert_xmlsec_ok(&signed, ec());
    }
}

#[test]
fn our_signature_of_2_1_namespace_and_prefixed_root_verifies_in_xmlsec1() {
    let xml = common::request().to_xml(AuthNamespace::V2_1);
    let signed = sign_enveloped(&xml, ec(), &SignOptions::default()).unwrap();
    assert_xmlsec_ok(&signed, ec());
    // A prefixed root element and an empty root.
    let prefixed = "<a:Root xmlns:a=\"urn:x\"><a:b>\u{17c}\u{f3}\u{142}w &amp; &lt;</a:b></a:Root>";
    let signed = sign_enveloped(prefixed, rsa(), &SignOptions::default()).unwrap();
    assert_xmlsec_ok(&signed, rsa());
    let empty = "<?xml version='1.0'?><Root xmlns=\"urn:y\" a=\"1\"/>";
    let signed = sign_enveloped(empty, rsa(), &SignOptions::default()).unwrap();
    assert!(signed.ends_with("</ds:Signature></Root>"), "{signed}");
    assert_xmlsec_ok(&signed, rsa());
}

#[test]
fn xmlsec1_tampered_check_is_real() {
    // The oracle must reject what we reject: one byte changed in the challenge.
    let signed = sign_enveloped(&unsigned_xml(), ec(), &SignOptions::default()).unwrap();
    let tampered = signed.replacen("537A6BA15D-D7", "537A6BA15D-D8", 1);
    let (ok, _) = xmlsec_verify(tampered.as_bytes(), ec());
    assert!(!ok, "xmlsec1 accepted a tampered document");
}

/// Sign a template with xmlsec1 and verify it with ours (strict).
fn xmlsec_signed_verifies(
    t: &Template,
    cred: &ksef_crypto::Credential,
) -> ksef_xades::VerifiedSignature {
    let signed = xmlsec_sign(&t.document(), cred);
    // Sanity: the oracle agrees with itself.
    let (ok, out) = xmlsec_verify(signed.as_bytes(), cred);
    assert!(ok, "xmlsec1 cannot verify its own signature: {out}");
    match verify_enveloped(signed.as_bytes(), &STRICT) {
        Ok(v) => v,
        Err(e) => panic!("our verifier rejected an xmlsec1 signature ({t:?}): {e}\n{signed}"),
    }
}

#[test]
fn xmlsec1_rsa_inclusive_c14n_with_signed_properties_transform() {
    let t = Template::new(rsa());
    let v = xmlsec_signed_verifies(&t, rsa());
    assert!(v.has_signed_properties);
    assert_eq!(v.canonicalization, C14N);
    assert_eq!(v.signature_method, RSA_SHA256);
    assert_eq!(v.signer_certificate_der, rsa().certificate_der);
    assert_eq!(v.signing_time.as_deref(), Some("2025-07-11T12:23:56Z"));
    assert!(!v.enveloping);
}

#[test]
fn xmlsec1_ec_exclusive_c14n_signed_properties_without_transform() {
    let mut t = Template::new(ec());
    t.c14n = EXC_C14N;
    t.sp_ref = SpRef::WithoutTransform;
    let v = xmlsec_signed_verifies(&t, ec());
    assert!(v.has_signed_properties);
    assert_eq!(v.signature_method, ECDSA_SHA256);
    assert_eq!(v.signer_certificate_der, ec().certificate_der);
}

#[test]
fn xmlsec1_ec_inclusive_and_rsa_exclusive() {
    let mut t = Template::new(ec());
    t.c14n = C14N;
    xmlsec_signed_verifies(&t, ec());
    let mut t = Template::new(rsa());
    t.c14n = EXC_C14N;
    t.sp_ref = SpRef::WithoutTransform;
    xmlsec_signed_verifies(&t, rsa());
}

#[test]
fn xmlsec1_default_namespace_signature_c14n11_sha512() {
    let mut t = Template::new(rsa());
    t.prefix = None;
    t.c14n = C14N11;
    t.signature_method = RSA_SHA512;
    t.digest = SHA512;
    xmlsec_signed_verifies(&t, rsa());
}

#[test]
fn xmlsec1_sha1_and_sha384_variants_with_comments_c14n() {
    let mut t = Template::new(rsa());
    t.c14n = C14N_COMMENTS;
    t.signature_method = RSA_SHA1;
    t.digest = SHA1;
    xmlsec_signed_verifies(&t, rsa());
    let mut t = Template::new(rsa());
    t.c14n = EXC_C14N_COMMENTS;
    t.signature_method = RSA_SHA384;
    t.digest = SHA384;
    xmlsec_signed_verifies(&t, rsa());
}

#[test]
fn xmlsec1_ecdsa_sha384_and_sha512_on_p256() {
    for m in [ECDSA_SHA384, ECDSA_SHA512] {
        let mut t = Template::new(ec());
        t.signature_method = m;
        let v = xmlsec_signed_verifies(&t, ec());
        assert_eq!(v.signature_method, m);
    }
}

#[test]
fn xmlsec1_signing_time_and_issuer_name_variants() {
    let times = [
        "2025-07-11T12:23:56Z",
        "2025-07-11T12:23:56.015Z",
        "2025-07-11T12:23:56.0154302Z",
        "2025-07-11T12:23:56.015430+00:00",
        "2025-07-11T12:23:56+00:00",
    ];
    let issuers = [
        "CN=Jan Kowalski, SERIALNUMBER=TINPL-5265877635, C=PL",
        "2.5.4.5=TINPL-5265877635,2.5.4.3=Jan Kowalski,2.5.4.6=PL",
    ];
    for (i, time) in times.iter().enumerate() {
        let mut t = Template::new(ec());
        t.signing_time = time.to_string();
        t.issuer_name = issuers[i % 2].to_string();
        let v = xmlsec_signed_verifies(&t, ec());
        assert_eq!(v.signing_time.as_deref(), Some(*time));
    }
}

#[test]
fn xmlsec1_xml_declaration_variants_and_bom() {
    for decl in [
        "<?xml version='1.0' encoding='UTF-8'?>\n",
        "<?xml version=\"1.0\"?>\n",
        "",
    ] {
        let mut t = Template::new(rsa());
        t.decl = decl.to_string();
        xmlsec_signed_verifies(&t, rsa());
    }
    let t = Template::new(ec());
    let signed = xmlsec_sign(&t.document(), ec());
    let mut with_bom = vec![0xEF, 0xBB, 0xBF];
    with_bom.extend_from_slice(signed.as_bytes());
    verify_enveloped(&with_bom, &STRICT).unwrap();
    // ... and the request inside is still readable.
    let (req, ns) = AuthTokenRequest::parse(&with_bom).unwrap();
    assert_eq!(ns, AuthNamespace::V2_0);
    assert_eq!(req.challenge, CHALLENGE);
}

#[test]
fn xmlsec1_cert_digest_sha1_and_sha512() {
    use sha1::Digest as _;
    let mut t = Template::new(rsa());
    t.cert_digest = Some((SHA1, sha1::Sha1::digest(&rsa().certificate_der).to_vec()));
    xmlsec_signed_verifies(&t, rsa());
    let mut t = Template::new(rsa());
    t.cert_digest = Some((
        SHA512,
        sha2::Sha512::digest(&rsa().certificate_der).to_vec(),
    ));
    xmlsec_signed_verifies(&t, rsa());
}

#[test]
fn xmlsec1_wrong_cert_digest_is_rejected_in_both_modes() {
    let mut t = Template::new(ec());
    t.cert_digest = Some((
        SHA256,
        ksef_crypto::sha256(&ec_other().certificate_der).to_vec(),
    ));
    let signed = xmlsec_sign(&t.document(), ec());
    // The XML-DSig signature itself is fine...
    assert!(xmlsec_verify(signed.as_bytes(), ec()).0);
    // ...but the XAdES SigningCertificate names another certificate.
    for opts in [STRICT, LENIENT] {
        let e = verify_enveloped(signed.as_bytes(), &opts).unwrap_err();
        assert!(matches!(e, VerifyError::CertDigestMismatch { .. }), "{e:?}");
        assert_eq!(e.ksef_code(), 9105);
    }
}

#[test]
fn xmlsec1_signed_properties_not_referenced_strict_vs_lenient() {
    let mut t = Template::new(rsa());
    t.sp_ref = SpRef::None;
    let signed = xmlsec_sign(&t.document(), rsa());
    let e = verify_enveloped(signed.as_bytes(), &STRICT).unwrap_err();
    match &e {
        VerifyError::MissingSignedProperties { reason } => {
            assert!(reason.contains("not referenced"), "{reason}")
        }
        other => panic!("{other:?}"),
    }
    let v = verify_enveloped(signed.as_bytes(), &LENIENT).unwrap();
    assert!(!v.has_signed_properties);
}

#[test]
fn xmlsec1_plain_xmldsig_strict_vs_lenient() {
    let mut t = Template::new(ec());
    t.sp_ref = SpRef::None;
    t.qualifying = false;
    let signed = xmlsec_sign(&t.document(), ec());
    let e = verify_enveloped(signed.as_bytes(), &STRICT).unwrap_err();
    assert!(
        matches!(e, VerifyError::MissingSignedProperties { .. }),
        "{e:?}"
    );
    assert!(
        e.to_string().contains("no xades:QualifyingProperties"),
        "{e}"
    );
    let v = verify_enveloped(signed.as_bytes(), &LENIENT).unwrap();
    assert!(!v.has_signed_properties);
    assert_eq!(v.signing_time, None);
}

#[test]
fn xmlsec1_missing_signing_certificate_strict() {
    let mut t = Template::new(ec());
    t.cert_digest = None;
    let signed = xmlsec_sign(&t.document(), ec());
    let e = verify_enveloped(signed.as_bytes(), &STRICT).unwrap_err();
    assert_eq!(e, VerifyError::MissingSigningCertificate);
    assert!(verify_enveloped(signed.as_bytes(), &LENIENT).is_ok());
}

#[test]
fn xmlsec1_signature_covering_only_signed_properties_is_not_whole_document() {
    let mut t = Template::new(ec());
    t.whole_doc_ref = false;
    let signed = xmlsec_sign(&t.document(), ec());
    let e = verify_enveloped(signed.as_bytes(), &LENIENT).unwrap_err();
    assert!(matches!(e, VerifyError::NotWholeDocument { .. }), "{e:?}");
    assert_eq!(e.ksef_code(), 9105);
}

#[test]
fn xmlsec1_enveloping_signature_verifies_and_request_is_parsed() {
    let body = common::request().to_xml(AuthNamespace::V2_1);
    let body = body.split_once("?>\n").unwrap().1;
    let t = Template::new(rsa());
    let sig = t.signature();
    // Turn the template into an enveloping one: no URI="" reference; a reference to
    // the Object holding the request instead.
    let sig = sig.replacen(
        &format!(
            "<ds:Reference URI=\"\"><ds:Transforms><ds:Transform Algorithm=\"{ENVELOPED}\"/><ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>"
        ),
        &format!("<ds:Reference URI=\"#Payload\"><ds:Transforms><ds:Transform Algorithm=\"{EXC_C14N}\"/></ds:Transforms>"),
        1,
    );
    let sig = sig.replacen(
        "</ds:Signature>",
        &format!("<ds:Object Id=\"Payload\">{body}</ds:Object></ds:Signature>"),
        1,
    );
    let signed = xmlsec_sign(
        &format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n{sig}"),
        rsa(),
    );
    let v = verify_enveloped(signed.as_bytes(), &STRICT).unwrap();
    assert!(v.enveloping);
    let (req, ns) = AuthTokenRequest::parse(signed.as_bytes()).unwrap();
    assert_eq!(ns, AuthNamespace::V2_1);
    assert_eq!(req, common::request());
}

#[test]
fn rsa_pss_signature_verifies() {
    // xmlsec1 1.2.37 has no RSA-PSS; sign the template with our template signer instead.
    let mut t = Template::new(rsa());
    t.signature_method = RSA_PSS_SHA256;
    let signed = sign_template(&t.document(), rsa());
    let v = verify_enveloped(signed.as_bytes(), &STRICT).unwrap();
    assert_eq!(v.signature_method, RSA_PSS_SHA256);
}

/// The `DigestValue` texts of a signed document, in order.
fn digest_values(xml: &str) -> Vec<&str> {
    xml.split("<ds:DigestValue>")
        .skip(1)
        .filter_map(|s| s.split("</ds:DigestValue>").next())
        .collect()
}

fn run(cmd: &mut std::process::Command) -> String {
    let out = cmd.output().unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(out.status.success(), "{cmd:?} failed:\n{text}");
    text
}

#[test]
fn rsa_pss_signature_checks_out_with_libxml2_and_openssl() {
    // Independent of our engine: the reference digests equal xmlsec1's for the same
    // template (signed there with rsa-sha256, which xmlsec1 1.2 has), and OpenSSL verifies
    // the PSS value over SignedInfo canonicalized by libxml2.
    use base64::Engine as _;
    let mut t = Template::new(rsa());
    t.signature_method = RSA_PSS_SHA256;
    let ours = sign_template(&t.document(), rsa());
    let mut t_pkcs1 = t.clone();
    t_pkcs1.signature_method = RSA_SHA256;
    let theirs = xmlsec_sign(&t_pkcs1.document(), rsa());
    assert_eq!(digest_values(&ours).len(), 3);
    assert_eq!(digest_values(&ours), digest_values(&theirs));

    // SignedInfo alone, with the namespaces in scope declared on it: its inclusive
    // canonical form is that of the SignedInfo subset of the signed document.
    let start = ours.find("<ds:SignedInfo>").unwrap();
    let end = ours.find("</ds:SignedInfo>").unwrap() + "</ds:SignedInfo>".len();
    let standalone = ours[start..end].replacen(
        "<ds:SignedInfo>",
        &format!(
            "<ds:SignedInfo xmlns=\"{}\" xmlns:ds=\"{DSIG}\">",
            AuthNamespace::V2_0.uri()
        ),
        1,
    );
    let dir = tempfile::tempdir().unwrap();
    let si = write(dir.path(), "signed-info.xml", standalone.as_bytes());
    let canonical = run(std::process::Command::new("xmllint").arg("--c14n").arg(&si));
    let data = write(dir.path(), "signed-info.c14n", canonical.as_bytes());
    let value = ours
        .split("<ds:SignatureValue>")
        .nth(1)
        .and_then(|s| s.split("</ds:SignatureValue>").next())
        .unwrap();
    let value = base64::engine::general_purpose::STANDARD
        .decode(value)
        .unwrap();
    let sig = write(dir.path(), "signature.bin", &value);
    let cert = write(
        dir.path(),
        "cert.pem",
        rsa().certificate_pem().unwrap().as_bytes(),
    );
    let pubkey = run(std::process::Command::new("openssl")
        .args(["x509", "-pubkey", "-noout", "-in"])
        .arg(&cert));
    let pubkey = write(dir.path(), "pub.pem", pubkey.as_bytes());
    let out = run(std::process::Command::new("openssl")
        .args([
            "dgst",
            "-sha256",
            "-sigopt",
            "rsa_padding_mode:pss",
            "-sigopt",
            "rsa_pss_saltlen:32",
            "-sigopt",
            "rsa_mgf1_md:sha256",
            "-verify",
        ])
        .arg(&pubkey)
        .arg("-signature")
        .arg(&sig)
        .arg(&data));
    assert!(out.contains("Verified OK"), "{out}");
}

#[test]
fn xmlsec1_ecdsa_on_p384_and_p521_certificates() {
    // Keys and certificates made by OpenSSL, signatures by xmlsec1.
    use sha2::Digest as _;
    for (curve, method) in [
        ("secp384r1", ECDSA_SHA384),
        ("secp521r1", ECDSA_SHA512),
        ("secp384r1", ECDSA_SHA1),
    ] {
        let dir = tempfile::tempdir().unwrap();
        let key = dir.path().join("key.pem");
        let cert = dir.path().join("cert.pem");
        let der = dir.path().join("cert.der");
        run(std::process::Command::new("openssl")
            .args(["ecparam", "-genkey", "-noout", "-name", curve, "-out"])
            .arg(&key));
        run(std::process::Command::new("openssl")
            .args([
                "req",
                "-x509",
                "-new",
                "-subj",
                "/CN=Jan Kowalski/C=PL",
                "-days",
                "2",
            ])
            .arg("-key")
            .arg(&key)
            .arg("-out")
            .arg(&cert));
        run(std::process::Command::new("openssl")
            .args(["x509", "-outform", "DER", "-in"])
            .arg(&cert)
            .arg("-out")
            .arg(&der));
        let der = std::fs::read(&der).unwrap();
        let mut t = Template::new(ec());
        t.signature_method = method;
        t.cert_digest = Some((SHA256, sha2::Sha256::digest(&der).to_vec()));
        let tmpl = write(dir.path(), "template.xml", t.document().as_bytes());
        let out_path = dir.path().join("signed.xml");
        run(std::process::Command::new(xmlsec1())
            .arg("--sign")
            .arg("--id-attr:Id")
            .arg(SIGNED_PROPERTIES_ID)
            .arg("--privkey-pem")
            .arg(format!("{},{}", key.display(), cert.display()))
            .arg("--output")
            .arg(&out_path)
            .arg(&tmpl));
        let signed = std::fs::read(&out_path).unwrap();
        let v =
            verify_enveloped(&signed, &STRICT).unwrap_or_else(|e| panic!("{curve} {method}: {e}"));
        assert_eq!(v.signer_certificate_der, der);
        assert_eq!(v.signature_method, method);
        // One flipped bit in the signature value is caught.
        let text = String::from_utf8(signed).unwrap();
        let s = text.find("<ds:SignatureValue>").unwrap() + "<ds:SignatureValue>".len();
        let mut tampered = text.clone();
        let c = if &text[s + 5..s + 6] == "A" { "B" } else { "A" };
        tampered.replace_range(s + 5..s + 6, c);
        assert!(matches!(
            verify_enveloped(tampered.as_bytes(), &STRICT),
            Err(VerifyError::SignatureValueInvalid { .. })
        ));
    }
}
