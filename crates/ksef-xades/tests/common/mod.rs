//! Shared helpers of the integration tests: test credentials, sample documents and the
//! `xmlsec1` interop oracle.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_crypto::{Credential, KeyAlgorithm};
use ksef_xades::{AuthNamespace, AuthTokenRequest, AuthorizationPolicy, SubjectIdentifierType};

pub const CHALLENGE: &str = "20250604-CR-461EA5B000-537A6BA15D-D7";
pub const NIP: &str = "5265877635";

fn subject() -> TestSubject {
    TestSubject::person_nip(NIP.parse::<Nip>().unwrap(), "Jan", "Kowalski")
}

/// RSA-2048 test credential (generated once per test binary).
pub fn rsa() -> &'static Credential {
    static C: OnceLock<Credential> = OnceLock::new();
    C.get_or_init(|| make_test_certificate(&subject(), KeyAlgorithm::Rsa2048).unwrap())
}

/// EC P-256 test credential (generated once per test binary).
pub fn ec() -> &'static Credential {
    static C: OnceLock<Credential> = OnceLock::new();
    C.get_or_init(|| make_test_certificate(&subject(), KeyAlgorithm::EcP256).unwrap())
}

/// A second EC credential (for "wrong certificate" cases).
pub fn ec_other() -> &'static Credential {
    static C: OnceLock<Credential> = OnceLock::new();
    C.get_or_init(|| {
        let s = TestSubject::seal(NIP.parse::<Nip>().unwrap(), "Firma Testowa");
        make_test_certificate(&s, KeyAlgorithm::EcP256).unwrap()
    })
}

pub fn request() -> AuthTokenRequest {
    let mut r = AuthTokenRequest::new(
        CHALLENGE,
        ContextIdentifier::Nip(NIP.parse().unwrap()),
        SubjectIdentifierType::CertificateSubject,
    );
    r.authorization_policy = Some(AuthorizationPolicy {
        ip4_addresses: vec!["192.168.0.1".into()],
        ip4_ranges: vec![],
        ip4_masks: vec!["192.168.1.0/24".into()],
    });
    r
}

/// The unsigned sample document (namespace 2.0).
pub fn unsigned_xml() -> String {
    request().to_xml(AuthNamespace::V2_0)
}

/// Path of the `xmlsec1` binary; panics (test failure, not a skip) when missing.
pub fn xmlsec1() -> PathBuf {
    let out = Command::new("xmlsec1").arg("--version").output();
    match out {
        Ok(o) if o.status.success() => PathBuf::from("xmlsec1"),
        _ => panic!(
            "xmlsec1 is required by the interop tests but was not found on PATH; install it with \
             `apt-get update && apt-get install -y xmlsec1 libxml2-utils` (Debian/Ubuntu)"
        ),
    }
}

/// Write `content` to `dir/name` and return the path.
pub fn write(dir: &Path, name: &str, content: &[u8]) -> PathBuf {
    let p = dir.join(name);
    std::fs::write(&p, content).unwrap();
    p
}

/// The `Id` attribute xmlsec1 must register for XAdES (`--id-attr:Id NODE`).
pub const SIGNED_PROPERTIES_ID: &str = "http://uri.etsi.org/01903/v1.3.2#:SignedProperties";

/// `xmlsec1 --verify` of `xml` with the credential's certificate as the trusted anchor
/// (self-signed) and `Id` registered on xades:SignedProperties. Returns (ok, output).
pub fn xmlsec_verify(xml: &[u8], cred: &Credential) -> (bool, String) {
    xmlsec_verify_with_ids(xml, cred, &[SIGNED_PROPERTIES_ID])
}

/// [`xmlsec_verify`] with `Id` registered on each of `id_nodes` (`ns#:Local` or `Local`).
pub fn xmlsec_verify_with_ids(xml: &[u8], cred: &Credential, id_nodes: &[&str]) -> (bool, String) {
    let dir = tempfile::tempdir().unwrap();
    let cert = write(
        dir.path(),
        "cert.pem",
        cred.certificate_pem().unwrap().as_bytes(),
    );
    let doc = write(dir.path(), "signed.xml", xml);
    let mut cmd = Command::new(xmlsec1());
    cmd.arg("--verify");
    for node in id_nodes {
        cmd.arg("--id-attr:Id").arg(node);
    }
    let out = cmd
        .arg("--enabled-key-data")
        .arg("x509")
        .arg("--trusted-pem")
        .arg(&cert)
        .arg(&doc)
        .output()
        .unwrap();
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    (out.status.success(), text)
}

/// `xmlsec1 --sign` of a template with the credential's key and certificate.
pub fn xmlsec_sign(template: &str, cred: &Credential) -> String {
    xmlsec_sign_with_ids(template, cred, &[SIGNED_PROPERTIES_ID])
}

/// [`xmlsec_sign`] with `Id` registered on each of `id_nodes`.
pub fn xmlsec_sign_with_ids(template: &str, cred: &Credential, id_nodes: &[&str]) -> String {
    let dir = tempfile::tempdir().unwrap();
    let key = write(dir.path(), "key.pem", cred.key_pem().unwrap().as_bytes());
    let cert = write(
        dir.path(),
        "cert.pem",
        cred.certificate_pem().unwrap().as_bytes(),
    );
    let tmpl = write(dir.path(), "template.xml", template.as_bytes());
    let out_path = dir.path().join("signed.xml");
    let mut cmd = Command::new(xmlsec1());
    cmd.arg("--sign");
    for node in id_nodes {
        cmd.arg("--id-attr:Id").arg(node);
    }
    let out = cmd
        .arg("--privkey-pem")
        .arg(format!("{},{}", key.display(), cert.display()))
        .arg("--output")
        .arg(&out_path)
        .arg(&tmpl)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "xmlsec1 --sign failed:\n{}{}\ntemplate:\n{template}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::read_to_string(out_path).unwrap()
}

pub const DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
pub const C14N: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315";
pub const C14N_COMMENTS: &str = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315#WithComments";
pub const C14N11: &str = "http://www.w3.org/2006/12/xml-c14n11";
pub const EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";
pub const EXC_C14N_COMMENTS: &str = "http://www.w3.org/2001/10/xml-exc-c14n#WithComments";
pub const ENVELOPED: &str = "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
pub const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
pub const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
pub const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
pub const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
pub const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
pub const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
pub const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
pub const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
pub const RSA_PSS_SHA256: &str = "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1";
pub const ECDSA_SHA1: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1";
pub const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
pub const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
pub const ECDSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
pub const XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";

/// How the template references SignedProperties.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum SpRef {
    /// No reference (SignedProperties unsigned or absent).
    None,
    /// Reference with an exc-c14n transform (digest §4.4 shape).
    WithTransform,
    /// Reference without Transforms (.NET SignedXml style).
    WithoutTransform,
}

/// A signature template for `xmlsec1 --sign` (or [`sign_template`]).
#[derive(Clone, Debug)]
pub struct Template {
    /// XML declaration (with trailing newline) or empty.
    pub decl: String,
    /// `Some("ds")` = prefixed, `None` = default namespace `<Signature xmlns=…>`.
    pub prefix: Option<&'static str>,
    pub c14n: &'static str,
    pub signature_method: &'static str,
    pub digest: &'static str,
    pub sp_ref: SpRef,
    /// Include ds:Object/xades:QualifyingProperties.
    pub qualifying: bool,
    /// `Some((digest method URI, digest bytes))` = SigningCertificate present.
    pub cert_digest: Option<(&'static str, Vec<u8>)>,
    pub signing_time: String,
    pub issuer_name: String,
    pub serial: String,
    /// Extra Reference element XML (inside SignedInfo), e.g. a detached one.
    pub extra_reference: String,
    /// Include the whole-document URI="" reference.
    pub whole_doc_ref: bool,
}

impl Template {
    /// The digest §4.4 shape for `cred`.
    pub fn new(cred: &Credential) -> Self {
        let is_rsa = matches!(cred.key, ksef_crypto::PrivateKey::Rsa(_));
        Template {
            decl: "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n".into(),
            prefix: Some("ds"),
            c14n: C14N,
            signature_method: if is_rsa { RSA_SHA256 } else { ECDSA_SHA256 },
            digest: SHA256,
            sp_ref: SpRef::WithTransform,
            qualifying: true,
            cert_digest: Some((SHA256, ksef_crypto::sha256(&cred.certificate_der).to_vec())),
            signing_time: "2025-07-11T12:23:56Z".into(),
            issuer_name: "CN=Jan Kowalski, C=PL".into(),
            serial: "123456789".into(),
            extra_reference: String::new(),
            whole_doc_ref: true,
        }
    }

    fn p(&self, local: &str) -> String {
        match self.prefix {
            Some(p) => format!("{p}:{local}"),
            None => local.to_string(),
        }
    }

    /// The `<Signature>` element of the template.
    pub fn signature(&self) -> String {
        let p = |l: &str| self.p(l);
        let ns = match self.prefix {
            Some(pre) => format!("xmlns:{pre}=\"{DSIG}\""),
            None => format!("xmlns=\"{DSIG}\""),
        };
        let mut s = String::new();
        s += &format!("<{} {ns} Id=\"Signature\">\n", p("Signature"));
        s += &format!("<{}>\n", p("SignedInfo"));
        s += &format!(
            "<{} Algorithm=\"{}\"/>\n",
            p("CanonicalizationMethod"),
            self.c14n
        );
        s += &format!(
            "<{} Algorithm=\"{}\"/>\n",
            p("SignatureMethod"),
            self.signature_method
        );
        if self.whole_doc_ref {
            s += &format!(
                "<{r} URI=\"\"><{ts}><{t} Algorithm=\"{ENVELOPED}\"/><{t} Algorithm=\"{EXC_C14N}\"/></{ts}>\
                 <{dm} Algorithm=\"{d}\"/><{dv}></{dv}></{r}>\n",
                r = p("Reference"),
                ts = p("Transforms"),
                t = p("Transform"),
                dm = p("DigestMethod"),
                dv = p("DigestValue"),
                d = self.digest
            );
        }
        let transforms = match self.sp_ref {
            SpRef::WithTransform => format!(
                "<{ts}><{t} Algorithm=\"{EXC_C14N}\"/></{ts}>",
                ts = p("Transforms"),
                t = p("Transform")
            ),
            _ => String::new(),
        };
        if self.sp_ref != SpRef::None {
            s += &format!(
                "<{r} Type=\"http://uri.etsi.org/01903#SignedProperties\" URI=\"#SignedProperties\">{transforms}\
                 <{dm} Algorithm=\"{d}\"/><{dv}></{dv}></{r}>\n",
                r = p("Reference"),
                dm = p("DigestMethod"),
                dv = p("DigestValue"),
                d = self.digest
            );
        }
        s += &self.extra_reference;
        s += &format!("</{}>\n", p("SignedInfo"));
        s += &format!("<{sv}></{sv}>\n", sv = p("SignatureValue"));
        s += &format!(
            "<{ki}><{xd}/></{ki}>\n",
            ki = p("KeyInfo"),
            xd = p("X509Data")
        );
        if self.qualifying {
            let cert = match &self.cert_digest {
                Some((m, v)) => {
                    use base64::Engine;
                    let b = base64::engine::general_purpose::STANDARD.encode(v);
                    format!(
                        "<xades:SigningCertificate><xades:Cert><xades:CertDigest>\
                         <{dm} Algorithm=\"{m}\"/><{dv}>{b}</{dv}></xades:CertDigest>\
                         <xades:IssuerSerial><{inm}>{iss}</{inm}><{sn}>{ser}</{sn}></xades:IssuerSerial>\
                         </xades:Cert></xades:SigningCertificate>",
                        dm = p("DigestMethod"),
                        dv = p("DigestValue"),
                        inm = p("X509IssuerName"),
                        sn = p("X509SerialNumber"),
                        iss = self.issuer_name,
                        ser = self.serial
                    )
                }
                None => String::new(),
            };
            s += &format!(
                "<{o}><xades:QualifyingProperties xmlns:xades=\"{XADES}\" Target=\"#Signature\">\
                 <xades:SignedProperties Id=\"SignedProperties\"><xades:SignedSignatureProperties>\
                 <xades:SigningTime>{}</xades:SigningTime>{cert}</xades:SignedSignatureProperties>\
                 </xades:SignedProperties></xades:QualifyingProperties></{o}>\n",
                self.signing_time,
                o = p("Object")
            );
        }
        s += &format!("</{}>", p("Signature"));
        s
    }

    /// The full template: the sample request with the signature as last child.
    pub fn document(&self) -> String {
        let body = unsigned_xml();
        let body = body.split_once("?>\n").map(|(_, b)| b).unwrap_or(&body);
        let end = body.rfind("</AuthTokenRequest>").unwrap();
        format!(
            "{}{}{}\n{}",
            self.decl,
            &body[..end],
            self.signature(),
            &body[end..]
        )
    }
}

/// Fill a signature template with our own template signer (for algorithms xmlsec1 1.2
/// lacks, e.g. RSA-PSS): the empty `X509Data` gets the certificate first.
pub fn sign_template(template: &str, cred: &Credential) -> String {
    use base64::Engine;
    let b64 = base64::engine::general_purpose::STANDARD.encode(&cred.certificate_der);
    let t = template
        .replacen(
            "<ds:X509Data/>",
            &format!("<ds:X509Data><ds:X509Certificate>{b64}</ds:X509Certificate></ds:X509Data>"),
            1,
        )
        .replacen(
            "<X509Data/>",
            &format!("<X509Data><X509Certificate>{b64}</X509Certificate></X509Data>"),
            1,
        );
    ksef_xades::XadesSigner::new(cred)
        .unwrap()
        .sign_template(&t)
        .unwrap()
}
