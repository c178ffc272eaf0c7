//! XAdES-BES enveloped signatures of KSeF documents: signing and verification.
//!
//! Signing produces the known-good shape of digest §4.4 (what the official C# client
//! sends). Verification accepts every variant listed in NOTES.md and maps failures to
//! KSeF exception codes ([`VerifyError::ksef_code`]).
//!
//! XML-DSig processing (canonicalization, reference digests, signature values) is done by
//! the crate's own engine (private modules `c14n` and `dsig`) over a `roxmltree` document;
//! this module adds the XAdES and KSeF rules:
//! * reference URIs are checked *before* the engine runs: only same-document
//!   references (`""`, `#id`, `#xpointer(...)`) are allowed, so a detached reference
//!   is reported as such and never makes the verifier open a file;
//! * transforms, canonicalization, digest and signature algorithms are limited to the
//!   ones KSeF accepts (no XSLT);
//! * the signer's certificate is taken from `KeyInfo/X509Data/X509Certificate` by this
//!   module, and only the keys of those certificates are tried; element Ids must be
//!   unique in the document (signature wrapping);
//! * what the signature covers is decided from what the engine digested, not from the
//!   text of the transforms: a reference must target the document (root) and remove
//!   nothing but this signature, and a reference to `SignedProperties` must remove
//!   nothing; at most 8 transforms per reference and 8 whole-document references;
//! * `xades:CertDigest` is compared with the certificate that verified the signature;
//! * ECDSA values that are DER-encoded instead of raw `R||S` are named as such.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::Decode as _;
use ksef_crypto::Credential;
use roxmltree::{Document, Node};
use time::OffsetDateTime;

use crate::auth_request::{AuthRequestError, decode_utf8, escape_text};
use crate::dsig::{self, DsigError, PublicKey, SigningKey, parse_xml, uri as alg};

/// XML-DSig namespace.
pub const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XAdES 1.3.2 namespace.
pub const NS_XADES: &str = "http://uri.etsi.org/01903/v1.3.2#";
/// `Type` of a reference to `SignedProperties`.
pub const SIGNED_PROPERTIES_TYPE: &str = "http://uri.etsi.org/01903#SignedProperties";

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

/// Canonicalization of `SignedInfo` when signing.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum C14nMethod {
    /// Inclusive C14N 1.0 (`REC-xml-c14n-20010315`) — what the official C# client uses.
    #[default]
    Inclusive,
    /// Exclusive C14N (`xml-exc-c14n#`) — used by several SDKs.
    Exclusive,
    /// Inclusive C14N 1.1 (`xml-c14n11`).
    Inclusive11,
}

impl C14nMethod {
    /// The algorithm URI.
    pub fn uri(self) -> &'static str {
        match self {
            C14nMethod::Inclusive => alg::C14N,
            C14nMethod::Exclusive => alg::EXC_C14N,
            C14nMethod::Inclusive11 => alg::C14N11,
        }
    }
}

/// Options of [`sign_enveloped`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignOptions {
    /// Canonicalization of `SignedInfo` (the references always use exclusive C14N).
    pub canonicalization: C14nMethod,
    /// `xades:SigningTime`; `None` = now minus one minute (UTC), like the official client.
    pub signing_time: Option<OffsetDateTime>,
    /// Add the XAdES `QualifyingProperties` and its reference (default `true`). `false`
    /// produces a plain XML-DSig signature — only useful for negative test vectors.
    pub include_signed_properties: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        SignOptions {
            canonicalization: C14nMethod::Inclusive,
            signing_time: None,
            include_signed_properties: true,
        }
    }
}

/// Errors of [`sign_enveloped`].
#[derive(Debug, thiserror::Error)]
pub enum SignError {
    /// The document to sign is not well-formed XML.
    #[error("the document to sign is not well-formed XML: {0}")]
    NotWellFormed(String),
    /// The document already carries an XML signature.
    #[error(
        "the document already contains a ds:Signature; KSeF accepts exactly one signature (9103)"
    )]
    AlreadySigned,
    /// An attribute value holds a literal TAB/LF/CR (not a character reference).
    /// Conforming parsers (ours included) turn it into a space, but an implementation that
    /// skips attribute-value normalisation computes other signed bytes (CRATES.md §1
    /// gotcha 3), so such a signature would not verify everywhere.
    #[error(
        "attribute '{attribute}' of element '{element}' contains a literal tab or line break; \
         XML parsers normalise it to a space, and a verifier that does not would reject the \
         signature — remove it or write it as a character reference before signing"
    )]
    UnsafeAttributeWhitespace {
        /// Element name.
        element: String,
        /// Attribute name.
        attribute: String,
    },
    /// The credential's certificate cannot be read.
    #[error("cannot read the signing certificate: {0}")]
    Certificate(String),
    /// The credential's key cannot be used.
    #[error("cannot use the signing key: {0}")]
    Key(String),
    /// The XML-DSig engine failed.
    #[error("signing failed: {0}")]
    Signing(String),
}

/// Sign `xml` with an enveloped XAdES-BES signature (digest §4.4 shape):
///
/// * `ds:Signature Id="Signature"` appended as the last child of the root element;
/// * `SignedInfo` canonicalization per [`SignOptions::canonicalization`],
///   `rsa-sha256` for RSA keys, `ecdsa-sha256` (raw `R||S`) for P-256 keys;
/// * reference `URI=""` (enveloped-signature + exc-c14n, SHA-256) and reference
///   `URI="#SignedProperties"` with `Type=…#SignedProperties` (exc-c14n, SHA-256);
/// * `KeyInfo/X509Data/X509Certificate` with the signing certificate;
/// * `ds:Object/xades:QualifyingProperties Target="#Signature"` with `SigningTime`
///   and `SigningCertificate` (SHA-256 `CertDigest`, `IssuerSerial` with RFC 4514
///   issuer name and decimal serial number).
///
/// The input bytes are kept as they are (a UTF-8 BOM is dropped); send the returned
/// string unchanged. Only the signature is added, without whitespace inside it.
///
/// To sign many documents with one credential, build an [`XadesSigner`] once (it keeps
/// the key and the certificate fields ready).
pub fn sign_enveloped(
    xml: &str,
    credential: &Credential,
    opts: &SignOptions,
) -> Result<String, SignError> {
    XadesSigner::new(credential)?.sign(xml, opts)
}

/// A credential prepared for XAdES signing (key converted, certificate fields computed).
/// `Debug` shows no key material.
#[derive(Clone)]
pub struct XadesSigner {
    key: SigningKey,
    signature_method: &'static str,
    cert_b64: String,
    cert_digest_b64: String,
    issuer_name: String,
    serial_decimal: String,
}

impl fmt::Debug for XadesSigner {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("XadesSigner")
            .field("signature_method", &self.signature_method)
            .field("issuer_name", &self.issuer_name)
            .field("serial_decimal", &self.serial_decimal)
            .finish_non_exhaustive()
    }
}

impl XadesSigner {
    /// Take the credential's key and read its certificate.
    pub fn new(credential: &Credential) -> Result<Self, SignError> {
        let cert = x509_cert::Certificate::from_der(&credential.certificate_der)
            .map_err(|e| SignError::Certificate(e.to_string()))?;
        let tbs = cert.tbs_certificate();
        let (signature_method, key) = match &credential.key {
            ksef_crypto::PrivateKey::Rsa(k) => (alg::RSA_SHA256, SigningKey::Rsa(k.clone())),
            ksef_crypto::PrivateKey::EcP256(k) => (
                alg::ECDSA_SHA256,
                SigningKey::P256(p256::ecdsa::SigningKey::from(k)),
            ),
        };
        Ok(XadesSigner {
            key,
            signature_method,
            cert_b64: B64.encode(&credential.certificate_der),
            cert_digest_b64: B64.encode(ksef_crypto::sha256(&credential.certificate_der)),
            issuer_name: tbs.issuer().to_string(),
            serial_decimal: be_bytes_to_decimal(tbs.serial_number().as_bytes()),
        })
    }

    /// Sign `xml`; see [`sign_enveloped`].
    pub fn sign(&self, xml: &str, opts: &SignOptions) -> Result<String, SignError> {
        let xml = xml.strip_prefix('\u{feff}').unwrap_or(xml);
        let (insert_at, close_tag) = {
            let doc = parse_xml(xml).map_err(|e| SignError::NotWellFormed(e.to_string()))?;
            let root = doc.root_element();
            if doc.descendants().any(|n| is_el(n, NS_DSIG, "Signature")) {
                return Err(SignError::AlreadySigned);
            }
            check_attribute_whitespace(&doc)?;
            let range = root.range();
            let src = xml.get(range.clone()).ok_or_else(|| {
                SignError::NotWellFormed("root element has no source position".into())
            })?;
            if !root.has_children() && src.ends_with("/>") {
                // `<Root .../>`: turn into `<Root ...>` + signature + `</Root>`.
                let qname = crate::c14n::element_qname(root).into_owned();
                (range.end - 2, Some(qname))
            } else {
                let end_tag = src.rfind("</").ok_or_else(|| {
                    SignError::NotWellFormed("cannot locate the end tag of the root element".into())
                })?;
                (range.start + end_tag, None)
            }
        };

        let signing_time = opts
            .signing_time
            .unwrap_or_else(|| OffsetDateTime::now_utc() - time::Duration::minutes(1));
        let signing_time = format_signing_time(signing_time)?;

        let c14n = opts.canonicalization.uri();
        let sig_method = self.signature_method;
        let cert_b64 = &self.cert_b64;
        let cert_digest_b64 = &self.cert_digest_b64;
        let serial_decimal = &self.serial_decimal;
        let mut sig = String::with_capacity(4096);
        sig.push_str(&format!(
            "<ds:Signature xmlns:ds=\"{NS_DSIG}\" Id=\"Signature\"><ds:SignedInfo>\
             <ds:CanonicalizationMethod Algorithm=\"{c14n}\"/>\
             <ds:SignatureMethod Algorithm=\"{sig_method}\"/>\
             <ds:Reference URI=\"\"><ds:Transforms>\
             <ds:Transform Algorithm=\"{env}\"/><ds:Transform Algorithm=\"{exc}\"/>\
             </ds:Transforms><ds:DigestMethod Algorithm=\"{sha256}\"/>\
             <ds:DigestValue></ds:DigestValue></ds:Reference>",
            env = alg::ENVELOPED_SIGNATURE,
            exc = alg::EXC_C14N,
            sha256 = alg::SHA256,
        ));
        if opts.include_signed_properties {
            sig.push_str(&format!(
                "<ds:Reference Type=\"{SIGNED_PROPERTIES_TYPE}\" URI=\"#SignedProperties\">\
                 <ds:Transforms><ds:Transform Algorithm=\"{exc}\"/></ds:Transforms>\
                 <ds:DigestMethod Algorithm=\"{sha256}\"/><ds:DigestValue></ds:DigestValue>\
                 </ds:Reference>",
                exc = alg::EXC_C14N,
                sha256 = alg::SHA256,
            ));
        }
        sig.push_str(&format!(
            "</ds:SignedInfo><ds:SignatureValue></ds:SignatureValue>\
             <ds:KeyInfo><ds:X509Data><ds:X509Certificate>{cert_b64}</ds:X509Certificate>\
             </ds:X509Data></ds:KeyInfo>"
        ));
        if opts.include_signed_properties {
            sig.push_str(&format!(
                "<ds:Object><xades:QualifyingProperties xmlns:xades=\"{NS_XADES}\" Target=\"#Signature\">\
                 <xades:SignedProperties Id=\"SignedProperties\"><xades:SignedSignatureProperties>\
                 <xades:SigningTime>{signing_time}</xades:SigningTime>\
                 <xades:SigningCertificate><xades:Cert><xades:CertDigest>\
                 <ds:DigestMethod Algorithm=\"{sha256}\"/><ds:DigestValue>{cert_digest_b64}</ds:DigestValue>\
                 </xades:CertDigest><xades:IssuerSerial>\
                 <ds:X509IssuerName>{issuer}</ds:X509IssuerName>\
                 <ds:X509SerialNumber>{serial_decimal}</ds:X509SerialNumber>\
                 </xades:IssuerSerial></xades:Cert></xades:SigningCertificate>\
                 </xades:SignedSignatureProperties></xades:SignedProperties>\
                 </xades:QualifyingProperties></ds:Object>",
                sha256 = alg::SHA256,
                issuer = escape_text(&self.issuer_name),
            ));
        }
        sig.push_str("</ds:Signature>");

        let mut template = String::with_capacity(xml.len() + sig.len() + 64);
        match close_tag {
            None => {
                template.push_str(&xml[..insert_at]);
                template.push_str(&sig);
                template.push_str(&xml[insert_at..]);
            }
            Some(qname) => {
                template.push_str(&xml[..insert_at]);
                template.push('>');
                template.push_str(&sig);
                template.push_str(&format!("</{qname}>"));
                template.push_str(&xml[insert_at + 2..]);
            }
        }

        dsig::sign_template(&template, &self.key).map_err(|e| SignError::Signing(e.to_string()))
    }

    /// Fill an XML-DSig signature template with this signer's key, the way `xmlsec1
    /// --sign` does: the first `ds:Signature` of `template` gets each `Reference`'s
    /// `DigestValue` (in order) and the `SignatureValue`, computed with the algorithms the
    /// template names (any `SignatureMethod` the key can produce: RSA PKCS#1 v1.5 or
    /// RSA-PSS with SHA-1/SHA-2/SHA-3 for an RSA key, ECDSA for a P-256 key). Nothing else
    /// is added or checked — `KeyInfo`, XAdES properties and the KSeF rules are the
    /// template's business, which makes this the tool for interoperability and negative
    /// test vectors. Use [`XadesSigner::sign`] for documents to send.
    pub fn sign_template(&self, template: &str) -> Result<String, SignError> {
        let template = template.strip_prefix('\u{feff}').unwrap_or(template);
        dsig::sign_template(template, &self.key).map_err(|e| SignError::Signing(e.to_string()))
    }
}

fn format_signing_time(t: OffsetDateTime) -> Result<String, SignError> {
    let t = t.to_offset(time::UtcOffset::UTC);
    let t = t.replace_nanosecond(0).unwrap_or(t);
    let fmt = time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second]Z");
    t.format(&fmt)
        .map_err(|e| SignError::Signing(format!("cannot format SigningTime: {e}")))
}

/// Refuse literal TAB/LF/CR inside attribute values (as written in the source; character
/// references are fine). A conforming parser turns them into spaces, but parsers that do
/// not would disagree with every other verifier about the signed bytes.
fn check_attribute_whitespace(doc: &Document<'_>) -> Result<(), SignError> {
    let text = doc.input_text();
    for e in doc.descendants().filter(|n| n.is_element()) {
        for a in e.attributes() {
            let raw = text.get(a.range_value()).unwrap_or("");
            if raw.contains(['\t', '\n', '\r']) {
                let attribute = text.get(a.range_qname()).unwrap_or(a.name()).to_string();
                return Err(SignError::UnsafeAttributeWhitespace {
                    element: crate::c14n::element_qname(e).into_owned(),
                    attribute,
                });
            }
        }
    }
    Ok(())
}

/// Big-endian unsigned integer bytes to decimal. Hand-rolled (a few lines) to avoid a
/// big-integer dependency just for `X509SerialNumber`.
pub(crate) fn be_bytes_to_decimal(bytes: &[u8]) -> String {
    // Repeated division by 10 of a base-256 number.
    let mut num: Vec<u8> = bytes.iter().copied().skip_while(|b| *b == 0).collect();
    if num.is_empty() {
        return "0".into();
    }
    let mut digits = Vec::new();
    while !num.is_empty() {
        let mut rem: u32 = 0;
        let mut next = Vec::with_capacity(num.len());
        for &b in &num {
            let cur = (rem << 8) | u32::from(b);
            let q = cur / 10;
            rem = cur % 10;
            if !(next.is_empty() && q == 0) {
                next.push(q as u8);
            }
        }
        digits.push(b'0' + rem as u8);
        num = next;
    }
    digits.reverse();
    String::from_utf8(digits).unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// Options of [`verify_enveloped`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct VerifyOptions {
    /// Strict XAdES (KSeF since 2.1.0 on TEST, 2026-03-16 on DEMO/PRD): require
    /// `SignedProperties` referenced from `SignedInfo` and a `SigningCertificate`
    /// (or `SigningCertificateV2`) whose `CertDigest` matches the signing
    /// certificate. Lenient (`false`): a plain XML-DSig enveloped or enveloping
    /// signature is enough, but a `SigningCertificate`, if present, must still match.
    pub strict_xades: bool,
}

/// What a successful [`verify_enveloped`] found. `Debug` shows certificate
/// fingerprints (SHA-256, hex) instead of the DER bytes.
#[derive(Clone, PartialEq, Eq)]
pub struct VerifiedSignature {
    /// The certificate whose key verified the signature (DER).
    pub signer_certificate_der: Vec<u8>,
    /// Other certificates found in `KeyInfo` (chain candidates), DER.
    pub other_certificates_der: Vec<Vec<u8>>,
    /// `SignatureMethod` algorithm URI.
    pub signature_method: String,
    /// `SignedInfo` `CanonicalizationMethod` algorithm URI.
    pub canonicalization: String,
    /// `SignedProperties` exists and is referenced from `SignedInfo`.
    pub has_signed_properties: bool,
    /// `xades:SigningTime` text as written (trimmed), if present.
    pub signing_time: Option<String>,
    /// The signature is the root element (content inside `ds:Object`).
    pub enveloping: bool,
}

/// Why a signed document was rejected. [`VerifyError::ksef_code`] gives the KSeF code.
///
/// Code choices (digest §4.6, §16.2): bytes that are not XML at all or not
/// well-formed → 21001 "Nieczytelna treść" (nothing can be read); well-formed XML that
/// cannot be a signed KSeF document (DTD, no root) → 9101 "Nieprawidłowy dokument";
/// every problem of the signature itself → 9105, including a missing certificate in
/// `KeyInfo` (the signature cannot be checked without it; 21115 is left to the
/// caller's certificate checks: trust, validity, identity).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    /// Not well-formed XML. 21001.
    #[error("unreadable content, XML is not well-formed: {0}")]
    NotWellFormed(String),
    /// Not UTF-8 (or declares another encoding for non-ASCII content). 21217.
    #[error("invalid character encoding: {0}")]
    Encoding(String),
    /// Well-formed, but not acceptable as a signed document (e.g. a DOCTYPE). 9101.
    #[error("invalid document: {0}")]
    InvalidDocument(String),
    /// No `ds:Signature` element. 9102.
    #[error("the document has no ds:Signature element")]
    NoSignature,
    /// More than one (top-level) `ds:Signature`. 9103.
    #[error("the document has {count} ds:Signature elements; exactly one is allowed")]
    TooManySignatures {
        /// Number of signatures found.
        count: usize,
    },
    /// A reference points outside the document (detached signature). 9105.
    #[error(
        "detached signature: Reference URI=\"{uri}\" points outside the document; \
         KSeF accepts only enveloped or enveloping signatures"
    )]
    Detached {
        /// The offending URI (or a note that the attribute is missing).
        uri: String,
    },
    /// No reference covers the whole document. 9105.
    #[error("the signature does not cover the whole document: {reason}")]
    NotWholeDocument {
        /// Details.
        reason: String,
    },
    /// A reference digest does not match: the referenced content changed after
    /// signing (for `URI=""` typically re-formatting or re-encoding). 9105.
    #[error("{}", digest_mismatch_message(uri))]
    DigestMismatch {
        /// URI of the failing reference.
        uri: String,
    },
    /// `SignatureValue` does not verify with the certificate's key. 9105.
    #[error("the signature value does not verify with the certificate's public key: {reason}")]
    SignatureValueInvalid {
        /// Details.
        reason: String,
    },
    /// ECDSA `SignatureValue` is a DER `SEQUENCE { r, s }` instead of raw `R||S`. 9105.
    #[error(
        "the ECDSA SignatureValue is DER-encoded ({len} bytes, ASN.1 SEQUENCE of two INTEGERs); \
         XML-DSig requires the raw fixed-length concatenation R||S (64 bytes for P-256) — \
         convert the signature from DER to raw R||S"
    )]
    EcdsaDerEncoded {
        /// Length of the decoded SignatureValue.
        len: usize,
    },
    /// An algorithm KSeF does not accept (or this verifier does not support). 9105.
    #[error("unsupported algorithm {uri} ({context})")]
    UnsupportedAlgorithm {
        /// Algorithm URI.
        uri: String,
        /// Where it was used (SignatureMethod, DigestMethod, Transform...).
        context: String,
    },
    /// Strict XAdES: `SignedProperties` absent or not referenced from `SignedInfo`. 9105.
    #[error("XAdES: {reason}")]
    MissingSignedProperties {
        /// Details.
        reason: String,
    },
    /// Strict XAdES: no `SigningCertificate`/`SigningCertificateV2`. 9105.
    #[error("XAdES: SignedSignatureProperties has no SigningCertificate or SigningCertificateV2")]
    MissingSigningCertificate,
    /// `xades:CertDigest` does not match the certificate in `KeyInfo`. 9105.
    #[error("XAdES: SigningCertificate does not match the signing certificate: {reason}")]
    CertDigestMismatch {
        /// Details.
        reason: String,
    },
    /// No usable `X509Certificate` in `KeyInfo`. 9105 (see the type docs).
    #[error("no signing certificate: {reason}")]
    NoCertificate {
        /// Details.
        reason: String,
    },
    /// RSA key shorter than 2048 bits (digest §4.4). 9105.
    #[error("the signing key is too weak: {reason}")]
    WeakKey {
        /// Details.
        reason: String,
    },
    /// The signature element is malformed (missing SignedInfo, bad base64...). 9105.
    #[error("malformed signature: {reason}")]
    MalformedSignature {
        /// Details.
        reason: String,
    },
}

impl fmt::Debug for VerifiedSignature {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let fps: Vec<String> = self
            .other_certificates_der
            .iter()
            .map(|c| ksef_crypto::sha256_fingerprint_hex(c))
            .collect();
        f.debug_struct("VerifiedSignature")
            .field(
                "signer_certificate_sha256",
                &ksef_crypto::sha256_fingerprint_hex(&self.signer_certificate_der),
            )
            .field("other_certificates_sha256", &fps)
            .field("signature_method", &self.signature_method)
            .field("canonicalization", &self.canonicalization)
            .field("has_signed_properties", &self.has_signed_properties)
            .field("signing_time", &self.signing_time)
            .field("enveloping", &self.enveloping)
            .finish()
    }
}

fn digest_mismatch_message(uri: &str) -> String {
    if uri.is_empty() {
        "digest mismatch for Reference URI=\"\" (the whole document): the document was changed \
         after signing — re-formatted, re-indented, re-encoded or line endings converted; send \
         the signed bytes exactly as produced"
            .to_string()
    } else {
        format!(
            "digest mismatch for Reference URI=\"{uri}\": the referenced element was changed after signing"
        )
    }
}

impl VerifyError {
    /// The KSeF exception code.
    pub fn ksef_code(&self) -> u32 {
        match self {
            VerifyError::NotWellFormed(_) => 21001,
            VerifyError::Encoding(_) => 21217,
            VerifyError::InvalidDocument(_) => 9101,
            VerifyError::NoSignature => 9102,
            VerifyError::TooManySignatures { .. } => 9103,
            _ => 9105,
        }
    }

    /// KSeF's Polish `exceptionDescription` for [`Self::ksef_code`] (from the OpenAPI).
    pub fn description_pl(&self) -> &'static str {
        match self.ksef_code() {
            21001 => "Nieczytelna treść.",
            21217 => "Nieprawidłowe kodowanie znaków.",
            9101 => "Nieprawidłowy dokument.",
            9102 => "Brak podpisu.",
            9103 => "Przekroczona liczba dozwolonych podpisów.",
            _ => "Nieprawidłowy podpis.",
        }
    }
}

impl From<AuthRequestError> for VerifyError {
    fn from(e: AuthRequestError) -> Self {
        match e {
            AuthRequestError::Encoding(m) => VerifyError::Encoding(m),
            AuthRequestError::Doctype(m) => VerifyError::InvalidDocument(m),
            other => VerifyError::NotWellFormed(other.to_string()),
        }
    }
}

const C14N_METHODS: &[&str] = &[
    alg::C14N,
    alg::C14N_WITH_COMMENTS,
    alg::C14N11,
    alg::C14N11_WITH_COMMENTS,
    alg::EXC_C14N,
    alg::EXC_C14N_WITH_COMMENTS,
];

const SIGNATURE_METHODS: &[&str] = &[
    alg::RSA_SHA1,
    alg::RSA_SHA256,
    alg::RSA_SHA384,
    alg::RSA_SHA512,
    alg::RSA_PSS_SHA1,
    alg::RSA_PSS_SHA256,
    alg::RSA_PSS_SHA384,
    alg::RSA_PSS_SHA512,
    alg::RSA_PSS_SHA3_256,
    alg::RSA_PSS_SHA3_384,
    alg::RSA_PSS_SHA3_512,
    alg::ECDSA_SHA1,
    alg::ECDSA_SHA256,
    alg::ECDSA_SHA384,
    alg::ECDSA_SHA512,
    alg::ECDSA_SHA3_256,
    alg::ECDSA_SHA3_384,
    alg::ECDSA_SHA3_512,
];

const DIGEST_METHODS: &[&str] = &[
    alg::SHA1,
    alg::SHA256,
    alg::SHA384,
    alg::SHA512,
    alg::SHA3_256,
    alg::SHA3_384,
    alg::SHA3_512,
];

fn is_ecdsa(method: &str) -> bool {
    method.contains("#ecdsa-")
}

/// Verify the single enveloped (or enveloping) signature of `xml`.
///
/// Checks, in order: no DTD ([`ksef_core::xml::find_doctype`]), encoding (UTF-8, BOM
/// allowed), well-formedness, exactly
/// one top-level `ds:Signature`, allowed algorithms, same-document references only,
/// coverage of the whole document, ECDSA value encoding, unique element Ids, reference
/// digests and the signature value, then the XAdES properties per `opts`.
///
/// Certificate trust (chain, validity, OCSP) is **not** checked here; the caller
/// decides what to do with [`VerifiedSignature::signer_certificate_der`].
pub fn verify_enveloped(
    xml: &[u8],
    opts: &VerifyOptions,
) -> Result<VerifiedSignature, VerifyError> {
    // The DTD guard comes first, before the encoding checks (a UTF-16 document with a DTD is
    // answered as a DTD) and before anything is parsed (the parser refuses DTDs too, but
    // as a well-formedness error).
    if let Some(found) = ksef_core::xml::find_doctype(xml) {
        return Err(VerifyError::InvalidDocument(format!(
            "a signed KSeF document may not have a DTD: {found}"
        )));
    }
    let text = decode_utf8(xml)?;
    let doc = parse_xml(text).map_err(|e| VerifyError::NotWellFormed(e.to_string()))?;
    let root = doc.root_element();

    let sigs = top_level_signatures(&doc);
    let sig = match sigs.as_slice() {
        [] => return Err(VerifyError::NoSignature),
        [one] => *one,
        many => return Err(VerifyError::TooManySignatures { count: many.len() }),
    };
    let enveloping = sig == root;

    let parts = SignatureParts::read(sig)?;
    check_references(root, sig, enveloping, &parts)?;

    let certs = parts.certificates()?;
    let sig_value = parts.signature_value()?;
    // Raw R||S lengths are 64/96/132 bytes (P-256/384/521); a DER SEQUENCE of another
    // length is certainly DER. (A DER value of a raw length is caught after verification.)
    if is_ecdsa(&parts.signature_method)
        && looks_like_der_ecdsa(&sig_value)
        && !matches!(sig_value.len(), 64 | 96 | 132)
    {
        return Err(VerifyError::EcdsaDerEncoded {
            len: sig_value.len(),
        });
    }

    // The keys of the KeyInfo certificates are the only candidates.
    let mut keys: Vec<(usize, PublicKey)> = Vec::new();
    let mut load_errors = Vec::new();
    for (i, der) in certs.iter().enumerate() {
        match PublicKey::from_certificate(der) {
            Ok(k) => keys.push((i, k)),
            Err(e) => load_errors.push(format!("certificate #{}: {e}", i + 1)),
        }
    }
    if keys.is_empty() {
        return Err(VerifyError::NoCertificate {
            reason: format!(
                "no X509Certificate in KeyInfo holds a usable public key ({})",
                load_errors.join("; ")
            ),
        });
    }
    let key_refs: Vec<&PublicKey> = keys.iter().map(|(_, k)| k).collect();
    let verified =
        dsig::verify(&doc, sig, &key_refs).map_err(|e| map_engine_error(e, &parts, &sig_value))?;
    let (signer_idx, signer_key) = &keys[verified.key_index];
    let signer_idx = *signer_idx;
    let signer = certs[signer_idx].clone();
    check_key_strength(signer_key)?;
    // What the references actually digested decides what is signed.
    check_coverage(&doc, sig, enveloping, &verified.references)?;

    // XAdES.
    let xades = XadesParts::read(sig);
    let has_signed_properties = match xades.signed_properties {
        Some(sp) => check_signed_properties_references(sp, &verified.references)?,
        None => false,
    };
    if opts.strict_xades && !has_signed_properties {
        return Err(VerifyError::MissingSignedProperties {
            reason: if xades.signed_properties.is_none() {
                "the signature has no xades:QualifyingProperties/SignedProperties (XAdES-BES \
                 requires it)"
                    .into()
            } else {
                "xades:SignedProperties is not referenced from SignedInfo (add a Reference \
                 URI=\"#<SignedProperties Id>\" Type=\"http://uri.etsi.org/01903#SignedProperties\")"
                    .into()
            },
        });
    }
    match &xades.cert_digests {
        None if opts.strict_xades => return Err(VerifyError::MissingSigningCertificate),
        None => {}
        Some(digests) => check_cert_digest(&signer, digests)?,
    }

    let other_certificates_der = certs
        .iter()
        .enumerate()
        .filter(|(i, _)| *i != signer_idx)
        .map(|(_, c)| c.clone())
        .collect();
    Ok(VerifiedSignature {
        signer_certificate_der: signer,
        other_certificates_der,
        signature_method: parts.signature_method,
        canonicalization: parts.canonicalization,
        has_signed_properties,
        signing_time: xades.signing_time,
        enveloping,
    })
}

pub(crate) fn is_el(n: Node<'_, '_>, ns: &str, local: &str) -> bool {
    n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
}

pub(crate) fn child_el<'a, 'i>(
    parent: Node<'a, 'i>,
    ns: &str,
    local: &str,
) -> Option<Node<'a, 'i>> {
    parent.children().find(|c| is_el(*c, ns, local))
}

pub(crate) fn child_els<'a, 'i>(parent: Node<'a, 'i>, ns: &str, local: &str) -> Vec<Node<'a, 'i>> {
    parent.children().filter(|c| is_el(*c, ns, local)).collect()
}

/// `ds:Signature` elements that are not inside another `ds:Signature` (nested ones
/// are countersignatures in XAdES unsigned properties).
pub(crate) fn top_level_signatures<'a, 'i>(doc: &'a Document<'i>) -> Vec<Node<'a, 'i>> {
    let mut out: Vec<Node<'a, 'i>> = Vec::new();
    for n in doc.descendants() {
        // Document order: a signature inside the last top-level one starts before its end.
        let inside_last = out
            .last()
            .is_some_and(|last| n.range().start < last.range().end);
        if !inside_last && is_el(n, NS_DSIG, "Signature") {
            out.push(n);
        }
    }
    out
}

/// An unqualified attribute of an element.
pub(crate) fn attr<'a>(n: Node<'a, '_>, name: &str) -> Option<&'a str> {
    n.attributes()
        .find(|a| a.namespace().is_none() && a.name() == name)
        .map(|a| a.value())
}

/// All text inside an element.
fn text_content_deep(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

fn b64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let clean: String = s.chars().filter(|c| !c.is_whitespace()).collect();
    B64.decode(clean)
}

struct ReferenceInfo {
    uri: Option<String>,
    /// (algorithm, XPath text, Filter attr); one entry per XPath element the engine
    /// evaluates (several for a Filter 2.0 transform), one per other transform.
    transforms: Vec<(String, Option<String>, Option<String>)>,
}

/// At most this many `Transform`s per `Reference` (each one may re-canonicalize).
const MAX_TRANSFORMS: usize = 8;
/// At most this many references digesting the whole document: each one
/// re-canonicalizes its target before the signature value (which needs a key) is
/// checked, so more would only multiply the work an unauthenticated sender can cause.
/// References to smaller targets (`#id`) count by the size of their target.
const MAX_WHOLE_DOCUMENT_REFERENCES: usize = 8;
/// At most this many references in all.
const MAX_REFERENCES: usize = 32;

/// Refuse reference lists that would canonicalize more than
/// [`MAX_WHOLE_DOCUMENT_REFERENCES`] times the document, before any digest is computed.
/// A reference costs the source size of what it dereferences to: the whole document for
/// `""`, `#xpointer(...)` and unresolvable ids, the element for `#id`.
fn check_reference_work(
    doc: &Document<'_>,
    references: &[ReferenceInfo],
) -> Result<(), VerifyError> {
    use std::collections::HashMap;
    let whole = doc.input_text().len().max(1);
    let mut sizes: HashMap<&str, usize> = HashMap::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            let is_id = match a.namespace() {
                None => dsig::ID_ATTRIBUTES.contains(&a.name()),
                Some(ns) => ns == crate::c14n::NS_XML && a.name() == "id",
            };
            if is_id {
                sizes.insert(a.value(), n.range().len());
            }
        }
    }
    let total: usize = references
        .iter()
        .map(|r| {
            r.uri
                .as_deref()
                .and_then(same_doc_target)
                .and_then(|id| sizes.get(id).copied())
                .unwrap_or(whole)
        })
        .sum();
    if total > MAX_WHOLE_DOCUMENT_REFERENCES * whole {
        return Err(VerifyError::MalformedSignature {
            reason: format!(
                "the {} References of SignedInfo would digest the document {:.1} times over; \
                 at most {MAX_WHOLE_DOCUMENT_REFERENCES} References to the whole document are \
                 accepted",
                references.len(),
                total as f64 / whole as f64
            ),
        });
    }
    Ok(())
}

struct SignatureParts<'a, 'i> {
    signature_method: String,
    canonicalization: String,
    references: Vec<ReferenceInfo>,
    key_info: Option<Node<'a, 'i>>,
    signature_value: Option<Node<'a, 'i>>,
}

impl<'a, 'i> SignatureParts<'a, 'i> {
    fn read(sig: Node<'a, 'i>) -> Result<Self, VerifyError> {
        let malformed = |r: &str| VerifyError::MalformedSignature {
            reason: r.to_string(),
        };
        let si = child_el(sig, NS_DSIG, "SignedInfo")
            .ok_or_else(|| malformed("ds:Signature has no ds:SignedInfo"))?;
        let cm = child_el(si, NS_DSIG, "CanonicalizationMethod")
            .and_then(|n| attr(n, "Algorithm"))
            .ok_or_else(|| malformed("SignedInfo has no CanonicalizationMethod/@Algorithm"))?;
        if !C14N_METHODS.contains(&cm) {
            return Err(VerifyError::UnsupportedAlgorithm {
                uri: cm.into(),
                context: "SignedInfo/CanonicalizationMethod".into(),
            });
        }
        let sm = child_el(si, NS_DSIG, "SignatureMethod")
            .and_then(|n| attr(n, "Algorithm"))
            .ok_or_else(|| malformed("SignedInfo has no SignatureMethod/@Algorithm"))?;
        if !SIGNATURE_METHODS.contains(&sm) {
            return Err(VerifyError::UnsupportedAlgorithm {
                uri: sm.into(),
                context:
                    "SignedInfo/SignatureMethod (KSeF accepts RSA PKCS#1 v1.5, RSA-PSS, ECDSA)"
                        .into(),
            });
        }
        let refs = child_els(si, NS_DSIG, "Reference");
        if refs.is_empty() {
            return Err(malformed("SignedInfo has no Reference"));
        }
        if refs.len() > MAX_REFERENCES {
            return Err(malformed(&format!(
                "SignedInfo has {} References; at most {MAX_REFERENCES} are accepted",
                refs.len()
            )));
        }
        let mut references = Vec::with_capacity(refs.len());
        for r in refs {
            let uri = attr(r, "URI").map(str::to_string);
            let dm = child_el(r, NS_DSIG, "DigestMethod")
                .and_then(|n| attr(n, "Algorithm"))
                .ok_or_else(|| malformed("Reference has no DigestMethod/@Algorithm"))?;
            if !DIGEST_METHODS.contains(&dm) {
                return Err(VerifyError::UnsupportedAlgorithm {
                    uri: dm.into(),
                    context: format!(
                        "DigestMethod of Reference URI=\"{}\"",
                        uri.as_deref().unwrap_or("")
                    ),
                });
            }
            let mut transforms = Vec::new();
            let mut count = 0;
            if let Some(ts) = child_el(r, NS_DSIG, "Transforms") {
                for t in child_els(ts, NS_DSIG, "Transform") {
                    let a = attr(t, "Algorithm")
                        .ok_or_else(|| malformed("Transform has no Algorithm"))?;
                    let allowed = C14N_METHODS.contains(&a)
                        || a == alg::ENVELOPED_SIGNATURE
                        || a == alg::XPATH
                        || a == alg::XPATH2
                        || a == alg::BASE64;
                    if !allowed {
                        return Err(VerifyError::UnsupportedAlgorithm {
                            uri: a.into(),
                            context: format!(
                                "Transform of Reference URI=\"{}\" (KSeF allows enveloped-signature, \
                                 C14N 1.0/1.1/exclusive, XPath, XPath Filter 2.0, base64)",
                                uri.as_deref().unwrap_or("")
                            ),
                        });
                    }
                    count += 1;
                    if count > MAX_TRANSFORMS {
                        return Err(malformed(&format!(
                            "Reference URI=\"{}\" has more than {MAX_TRANSFORMS} Transforms",
                            uri.as_deref().unwrap_or("")
                        )));
                    }
                    // The XPath elements the engine evaluates: the first ds:XPath of an
                    // XPath transform, every filter2 XPath of a Filter 2.0 transform.
                    let xpaths = if a == alg::XPATH {
                        child_el(t, NS_DSIG, "XPath").into_iter().collect()
                    } else if a == alg::XPATH2 {
                        child_els(t, alg::XPATH2, "XPath")
                    } else {
                        Vec::new()
                    };
                    if xpaths.is_empty() {
                        transforms.push((a.to_string(), None, None));
                    }
                    for x in xpaths {
                        transforms.push((
                            a.to_string(),
                            Some(text_content_deep(x)),
                            attr(x, "Filter").map(str::to_string),
                        ));
                    }
                }
            }
            references.push(ReferenceInfo { uri, transforms });
        }
        check_reference_work(sig.document(), &references)?;
        Ok(SignatureParts {
            signature_method: sm.to_string(),
            canonicalization: cm.to_string(),
            references,
            key_info: child_el(sig, NS_DSIG, "KeyInfo"),
            signature_value: child_el(sig, NS_DSIG, "SignatureValue"),
        })
    }

    fn certificates(&self) -> Result<Vec<Vec<u8>>, VerifyError> {
        let ki = self.key_info.ok_or_else(|| VerifyError::NoCertificate {
            reason: "ds:Signature has no ds:KeyInfo (KSeF needs the signing certificate in \
                     KeyInfo/X509Data/X509Certificate)"
                .into(),
        })?;
        let mut certs = Vec::new();
        for xd in child_els(ki, NS_DSIG, "X509Data") {
            for c in child_els(xd, NS_DSIG, "X509Certificate") {
                let der =
                    b64_decode(&text_content_deep(c)).map_err(|e| VerifyError::NoCertificate {
                        reason: format!("X509Certificate is not valid base64: {e}"),
                    })?;
                certs.push(der);
            }
        }
        if certs.is_empty() {
            return Err(VerifyError::NoCertificate {
                reason: "KeyInfo has no X509Data/X509Certificate".into(),
            });
        }
        Ok(certs)
    }

    fn signature_value(&self) -> Result<Vec<u8>, VerifyError> {
        let n = self
            .signature_value
            .ok_or_else(|| VerifyError::MalformedSignature {
                reason: "ds:Signature has no ds:SignatureValue".into(),
            })?;
        b64_decode(&text_content_deep(n)).map_err(|e| VerifyError::MalformedSignature {
            reason: format!("SignatureValue is not valid base64: {e}"),
        })
    }
}

/// Ids of an element (unqualified attribute names the engine registers; `AssertionID`
/// and `xml:id` are registered too but do not name the root of a KSeF document).
fn element_id<'a>(n: Node<'a, '_>) -> Option<&'a str> {
    ["Id", "ID", "id"].into_iter().find_map(|a| attr(n, a))
}

fn same_doc_target(uri: &str) -> Option<&str> {
    // "#id" or "#xpointer(id('id'))"
    let frag = uri.strip_prefix('#')?;
    if let Some(inner) = frag
        .strip_prefix("xpointer(id(")
        .and_then(|s| s.strip_suffix("))"))
    {
        return Some(inner.trim_matches(['\'', '"']));
    }
    if frag.starts_with("xpointer(") {
        return None;
    }
    Some(frag)
}

fn check_references(
    root: Node<'_, '_>,
    sig: Node<'_, '_>,
    enveloping: bool,
    parts: &SignatureParts<'_, '_>,
) -> Result<(), VerifyError> {
    for r in &parts.references {
        match r.uri.as_deref() {
            None => {
                return Err(VerifyError::Detached {
                    uri: "(no URI attribute: the content is supplied out of band)".into(),
                });
            }
            Some(u) if u.is_empty() || u.starts_with('#') => {}
            Some(u) => return Err(VerifyError::Detached { uri: u.into() }),
        }
    }
    let root_id = element_id(root);
    if !enveloping {
        let covering = parts.references.iter().find(|r| {
            let uri = r.uri.as_deref().unwrap_or("");
            let whole = uri.is_empty()
                || uri == "#xpointer(/)"
                || (root_id.is_some() && same_doc_target(uri) == root_id);
            whole && r.transforms.iter().all(transform_keeps_content)
        });
        if covering.is_none() {
            let reason = if parts
                .references
                .iter()
                .any(|r| r.uri.as_deref() == Some(""))
            {
                "the Reference URI=\"\" uses a transform that can drop signed content \
                 (only enveloped-signature, canonicalization, XPath not(ancestor-or-self::ds:Signature) \
                 and XPath Filter 2.0 subtracting the signature are accepted)"
                    .to_string()
            } else {
                "no Reference with URI=\"\" (or the root element's Id) and the \
                 enveloped-signature transform; KSeF requires the signature to cover the whole \
                 document"
                    .to_string()
            };
            return Err(VerifyError::NotWholeDocument { reason });
        }
    } else {
        // Enveloping: the payload is the first non-XAdES element inside a ds:Object.
        let payload = child_els(sig, NS_DSIG, "Object").into_iter().find_map(|o| {
            o.children()
                .find(|c| c.is_element() && c.tag_name().namespace() != Some(NS_XADES))
                .map(|c| (o, c))
        });
        let Some((object, payload)) = payload else {
            return Err(VerifyError::NotWholeDocument {
                reason: "enveloping signature without signed content in ds:Object".into(),
            });
        };
        let ids: Vec<&str> = [element_id(object), element_id(payload)]
            .into_iter()
            .flatten()
            .collect();
        let covered = parts.references.iter().any(|r| {
            r.uri
                .as_deref()
                .and_then(same_doc_target)
                .is_some_and(|t| ids.contains(&t))
                && r.transforms.iter().all(transform_keeps_content)
        });
        if !covered {
            return Err(VerifyError::NotWholeDocument {
                reason: "no Reference points to the ds:Object holding the signed document (or to \
                         the document element inside it)"
                    .into(),
            });
        }
    }
    Ok(())
}

/// Whether an element the transforms of a reference removed may be left out of the
/// signed content: only the signature being verified (or a `ds:Signature` inside it).
fn exclusion_allowed(doc: &Document<'_>, sig: Node<'_, '_>, id: roxmltree::NodeId) -> bool {
    doc.get_node(id).is_some_and(|n| {
        is_el(n, NS_DSIG, "Signature") && (n == sig || n.ancestors().any(|a| a == sig))
    })
}

/// Whether a processed reference digested all of `target` except the signature itself.
fn covers(
    doc: &Document<'_>,
    sig: Node<'_, '_>,
    r: &dsig::ReferenceReport<'_, '_>,
    targets: &[Node<'_, '_>],
) -> bool {
    targets.contains(&r.target)
        && !r.decoded
        && r.excluded.iter().all(|&id| exclusion_allowed(doc, sig, id))
}

/// Coverage decided from what the engine digested: some reference must target the
/// document (or its root element; for an enveloping signature the `ds:Object` holding
/// the payload, or the payload) and have removed nothing but the signature itself.
fn check_coverage(
    doc: &Document<'_>,
    sig: Node<'_, '_>,
    enveloping: bool,
    references: &[dsig::ReferenceReport<'_, '_>],
) -> Result<(), VerifyError> {
    let targets: Vec<Node<'_, '_>> = if enveloping {
        child_els(sig, NS_DSIG, "Object")
            .into_iter()
            .find_map(|o| {
                o.children()
                    .find(|c| c.is_element() && c.tag_name().namespace() != Some(NS_XADES))
                    .map(|c| vec![o, c])
            })
            .unwrap_or_default()
    } else {
        vec![doc.root(), doc.root_element()]
    };
    if references.iter().any(|r| covers(doc, sig, r, &targets)) {
        return Ok(());
    }
    let lossy = references.iter().find(|r| targets.contains(&r.target));
    let reason = match lossy {
        Some(r) if r.decoded => {
            "the Reference covering the document uses a base64 transform, so the document              itself is not what was digested"
                .to_string()
        }
        Some(r) => {
            let names: Vec<String> = r
                .excluded
                .iter()
                .filter(|&&id| !exclusion_allowed(doc, sig, id))
                .filter_map(|&id| doc.get_node(id))
                .map(|n| format!("<{}>", crate::c14n::element_qname(n)))
                .collect();
            format!(
                "the Reference covering the document removes signed content besides the                  signature: {}",
                names.join(", ")
            )
        }
        None if enveloping => "no Reference points to the ds:Object holding the signed                                document (or to the document element inside it)"
            .to_string(),
        None => "no Reference with URI=\"\" (or the root element's Id) and the                  enveloped-signature transform; KSeF requires the signature to cover the whole                  document"
            .to_string(),
    };
    Err(VerifyError::NotWholeDocument { reason })
}

/// Whether `SignedProperties` is referenced from `SignedInfo`. A reference to it must
/// digest all of it: only canonicalization transforms (nothing excluded, no base64), or
/// `SigningCertificate`/`SigningTime` could be left unsigned.
fn check_signed_properties_references(
    sp: Node<'_, '_>,
    references: &[dsig::ReferenceReport<'_, '_>],
) -> Result<bool, VerifyError> {
    let mut referenced = false;
    for r in references.iter().filter(|r| r.target == sp) {
        if r.decoded || !r.excluded.is_empty() {
            return Err(VerifyError::MissingSignedProperties {
                reason: "the Reference to xades:SignedProperties uses a transform that removes                          or changes content (only canonicalization transforms are accepted)"
                    .into(),
            });
        }
        referenced = true;
    }
    Ok(referenced)
}

/// Transforms that cannot remove signed content other than the signature itself, judged
/// from the expression text. Only an early, cheap rejection with a clearer message: what
/// is covered is decided by [`check_coverage`] from what the engine digested.
fn transform_keeps_content(t: &(String, Option<String>, Option<String>)) -> bool {
    let (a, expr, filter) = t;
    if C14N_METHODS.contains(&a.as_str()) || a == alg::ENVELOPED_SIGNATURE {
        return true;
    }
    let compact: String = expr
        .as_deref()
        .unwrap_or("")
        .chars()
        .filter(|c| !c.is_whitespace())
        .collect();
    if a == alg::XPATH {
        return compact.starts_with("not(ancestor-or-self::")
            && compact.ends_with("Signature)")
            && !compact[..compact.len() - 1].contains(')');
    }
    if a == alg::XPATH2 {
        return filter.as_deref() == Some("subtract")
            && (compact.ends_with("Signature") || compact.ends_with("Signature[1]"));
    }
    false
}

/// A DER `SEQUENCE { INTEGER, INTEGER }` spanning the whole buffer. Hand-rolled
/// (short and one-/two-byte long lengths) because it is a heuristic for an error
/// message, not a decoder of trusted data.
pub(crate) fn looks_like_der_ecdsa(v: &[u8]) -> bool {
    fn len_at(v: &[u8], i: usize) -> Option<(usize, usize)> {
        let b = *v.get(i)?;
        if b < 0x80 {
            Some((b as usize, 1))
        } else if b == 0x81 {
            Some((*v.get(i + 1)? as usize, 2))
        } else if b == 0x82 {
            Some((
                ((*v.get(i + 1)? as usize) << 8) | *v.get(i + 2)? as usize,
                3,
            ))
        } else {
            None
        }
    }
    if v.first() != Some(&0x30) {
        return false;
    }
    let Some((seq_len, n)) = len_at(v, 1) else {
        return false;
    };
    let mut i = 1 + n;
    if i + seq_len != v.len() {
        return false;
    }
    for _ in 0..2 {
        if v.get(i) != Some(&0x02) {
            return false;
        }
        let Some((l, n)) = len_at(v, i + 1) else {
            return false;
        };
        if l == 0 {
            return false;
        }
        i += 1 + n + l;
    }
    i == v.len()
}

fn map_invalid(reason: &str, parts: &SignatureParts<'_, '_>, sig_value: &[u8]) -> VerifyError {
    if is_ecdsa(&parts.signature_method) && looks_like_der_ecdsa(sig_value) {
        return VerifyError::EcdsaDerEncoded {
            len: sig_value.len(),
        };
    }
    VerifyError::SignatureValueInvalid {
        reason: reason.to_string(),
    }
}

/// The verification error for each kind of engine failure.
fn map_engine_error(e: DsigError, parts: &SignatureParts<'_, '_>, sig_value: &[u8]) -> VerifyError {
    match e {
        DsigError::XmlParse(m) => VerifyError::NotWellFormed(m),
        DsigError::UnsupportedAlgorithm { uri, context } => {
            VerifyError::UnsupportedAlgorithm { uri, context }
        }
        DsigError::KeyMismatch(m) => VerifyError::SignatureValueInvalid {
            reason: format!(
                "SignatureMethod {} does not fit the certificate's key: {m}",
                parts.signature_method
            ),
        },
        DsigError::SignatureInvalid(m) => map_invalid(&m, parts, sig_value),
        DsigError::Crypto(m) => VerifyError::SignatureValueInvalid { reason: m },
        DsigError::DigestMismatch { uri } => VerifyError::DigestMismatch { uri },
        DsigError::InvalidUri(m) => VerifyError::Detached { uri: m },
        DsigError::Malformed(m) => VerifyError::MalformedSignature { reason: m },
    }
}

fn check_key_strength(key: &PublicKey) -> Result<(), VerifyError> {
    if let Some(bits) = key.rsa_bits()
        && bits < 2048
    {
        return Err(VerifyError::WeakKey {
            reason: format!("RSA key of {bits} bits; KSeF requires at least 2048"),
        });
    }
    Ok(())
}

struct CertDigestRef {
    method: String,
    value: Vec<u8>,
}

struct XadesParts<'a, 'i> {
    signed_properties: Option<Node<'a, 'i>>,
    signing_time: Option<String>,
    /// `None` = no SigningCertificate(V2); `Some` = its Cert digests.
    cert_digests: Option<Vec<Result<CertDigestRef, String>>>,
}

impl<'a, 'i> XadesParts<'a, 'i> {
    fn read(sig: Node<'a, 'i>) -> Self {
        let qp = child_els(sig, NS_DSIG, "Object")
            .into_iter()
            .find_map(|o| child_el(o, NS_XADES, "QualifyingProperties"));
        let sp = qp.and_then(|q| child_el(q, NS_XADES, "SignedProperties"));
        let ssp = sp.and_then(|s| child_el(s, NS_XADES, "SignedSignatureProperties"));
        let signing_time = ssp
            .and_then(|s| child_el(s, NS_XADES, "SigningTime"))
            .map(|t| text_content_deep(t).trim().to_string());
        let sc = ssp.and_then(|s| {
            child_el(s, NS_XADES, "SigningCertificate")
                .or_else(|| child_el(s, NS_XADES, "SigningCertificateV2"))
        });
        let cert_digests = sc.map(|sc| {
            child_els(sc, NS_XADES, "Cert")
                .into_iter()
                .map(|c| {
                    let cd = child_el(c, NS_XADES, "CertDigest")
                        .ok_or_else(|| "Cert has no CertDigest".to_string())?;
                    let method = child_el(cd, NS_DSIG, "DigestMethod")
                        .and_then(|n| attr(n, "Algorithm"))
                        .ok_or_else(|| "CertDigest has no DigestMethod/@Algorithm".to_string())?;
                    let value = child_el(cd, NS_DSIG, "DigestValue")
                        .map(text_content_deep)
                        .ok_or_else(|| "CertDigest has no DigestValue".to_string())?;
                    let value = b64_decode(&value)
                        .map_err(|e| format!("CertDigest/DigestValue is not valid base64: {e}"))?;
                    Ok(CertDigestRef {
                        method: method.to_string(),
                        value,
                    })
                })
                .collect()
        });
        XadesParts {
            signed_properties: sp,
            signing_time,
            cert_digests,
        }
    }
}

fn check_cert_digest(
    signer: &[u8],
    digests: &[Result<CertDigestRef, String>],
) -> Result<(), VerifyError> {
    if digests.is_empty() {
        return Err(VerifyError::CertDigestMismatch {
            reason: "SigningCertificate has no Cert element".into(),
        });
    }
    let mut problems = Vec::new();
    for d in digests {
        match d {
            Ok(d) => match dsig::Hash::from_uri(&d.method).map(|h| h.digest(signer)) {
                Some(actual) if actual == d.value => return Ok(()),
                Some(actual) => problems.push(format!(
                    "CertDigest ({}) is {} but the certificate in KeyInfo has {}",
                    d.method,
                    B64.encode(&d.value),
                    B64.encode(actual)
                )),
                None => {
                    return Err(VerifyError::UnsupportedAlgorithm {
                        uri: d.method.clone(),
                        context: "xades:CertDigest/DigestMethod".into(),
                    });
                }
            },
            Err(m) => problems.push(m.clone()),
        }
    }
    Err(VerifyError::CertDigestMismatch {
        reason: problems.join("; "),
    })
}

impl fmt::Display for C14nMethod {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.uri())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_serial_numbers() {
        assert_eq!(be_bytes_to_decimal(&[]), "0");
        assert_eq!(be_bytes_to_decimal(&[0, 0]), "0");
        assert_eq!(be_bytes_to_decimal(&[0x01, 0x00]), "256");
        assert_eq!(be_bytes_to_decimal(&[0x00, 0xff, 0xff]), "65535");
        let v: u128 = 0x24ae_adb5_70c4_67a1_fd8d_63f6_6d90_0339;
        assert_eq!(be_bytes_to_decimal(&v.to_be_bytes()), v.to_string());
        // 20-byte serial (beyond u128): 2^159 = 730750818665451459101842416358141509827966271488
        let mut b = [0u8; 20];
        b[0] = 0x80;
        assert_eq!(
            be_bytes_to_decimal(&b),
            "730750818665451459101842416358141509827966271488"
        );
    }

    #[test]
    fn der_ecdsa_heuristic() {
        // SEQUENCE { INTEGER 1, INTEGER 2 }
        assert!(looks_like_der_ecdsa(&[
            0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01, 0x02
        ]));
        assert!(!looks_like_der_ecdsa(&[
            0x30, 0x06, 0x02, 0x01, 0x01, 0x02, 0x01
        ]));
        assert!(!looks_like_der_ecdsa(&[
            0x30, 0x06, 0x02, 0x01, 0x01, 0x04, 0x01, 0x02
        ]));
        assert!(!looks_like_der_ecdsa(&[0x31; 64]));
        assert!(!looks_like_der_ecdsa(&[]));
    }

    #[test]
    fn same_document_targets() {
        assert_eq!(same_doc_target("#abc"), Some("abc"));
        assert_eq!(same_doc_target("#xpointer(id('abc'))"), Some("abc"));
        assert_eq!(same_doc_target("#xpointer(/)"), None);
        assert_eq!(same_doc_target("abc"), None);
    }

    #[test]
    fn xpath_transforms_that_keep_content() {
        let t = |a: &str, e: Option<&str>, f: Option<&str>| {
            transform_keeps_content(&(a.into(), e.map(Into::into), f.map(Into::into)))
        };
        assert!(t(
            alg::XPATH,
            Some("not(ancestor-or-self::ds:Signature)"),
            None
        ));
        assert!(t(
            alg::XPATH,
            Some(" not( ancestor-or-self::dsig:Signature ) "),
            None
        ));
        assert!(!t(
            alg::XPATH,
            Some("not(ancestor-or-self::ds:Signature) or self::x"),
            None
        ));
        assert!(!t(alg::XPATH, Some("ancestor-or-self::Challenge"), None));
        assert!(t(
            alg::XPATH2,
            Some("here()/ancestor::ds:Signature[1]"),
            Some("subtract")
        ));
        assert!(!t(alg::XPATH2, Some("//Challenge"), Some("subtract")));
        assert!(!t(alg::XPATH2, Some("/"), Some("intersect")));
        assert!(t(alg::ENVELOPED_SIGNATURE, None, None));
        assert!(!t(alg::BASE64, None, None));
    }
}
