//! XML-DSig core processing: reference processing, `SignedInfo` canonicalization and
//! signature values, for verification and for filling signature templates.
//!
//! Specification: XML Signature Syntax and Processing Version 1.1, W3C Recommendation
//! 11 April 2013 (<https://www.w3.org/TR/xmldsig-core1/>) — §3.1/§3.2 (core generation and
//! validation), §4.4.3 (same-document URIs and the node-sets they select), §4.4.3.2 (the
//! reference processing model), §6 (algorithms); RFC 6931 and RFC 9231 for the
//! `xmldsig-more` algorithm URIs; XML-Signature XPath Filter 2.0
//! (<https://www.w3.org/TR/xmldsig-filter2/>).
//!
//! Only what a KSeF signature may use is implemented (digest §4.4): same-document
//! references (`""`, `#id`, `#xpointer(/)`, `#xpointer(id('id'))`), the enveloped-signature,
//! C14N 1.0/1.1/exclusive (± comments), base64, XPath `not(ancestor-or-self::ds:Signature)`
//! and XPath Filter 2.0 `subtract` (of `ds:Signature` elements only) transforms,
//! SHA-1/SHA-2/SHA-3 digests, RSA PKCS#1 v1.5, RSA-PSS (salt length = hash length) and
//! ECDSA on P-256/P-384/P-521 with raw `R||S` values. No detached content is ever fetched.
//! [`verify`] reports what each reference digested (its target and the elements its
//! transforms removed), so the caller decides coverage from what was actually signed.

use std::collections::HashMap;
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as B64;
use der::Decode as _;
use p256::ecdsa::signature::hazmat::{PrehashSigner as _, PrehashVerifier as _};
use roxmltree::{Document, Node, NodeId};
use rsa::pkcs1::DecodeRsaPublicKey as _;
use rsa::{Pkcs1v15Sign, Pss, RsaPrivateKey, RsaPublicKey};
use subtle::ConstantTimeEq as _;

use crate::c14n::{self, Method, Mode, NodeSet};

/// XML-DSig namespace.
pub(crate) const NS_DSIG: &str = "http://www.w3.org/2000/09/xmldsig#";
/// XML-Signature XPath Filter 2.0 namespace (also its transform URI).
const NS_XPATH_FILTER2: &str = "http://www.w3.org/2002/06/xmldsig-filter2";
/// Exclusive C14N namespace (of `InclusiveNamespaces`).
const NS_EXC_C14N: &str = "http://www.w3.org/2001/10/xml-exc-c14n#";

/// Algorithm URIs.
pub(crate) mod uri {
    pub(crate) use crate::c14n::{
        URI_C14N as C14N, URI_C14N_WITH_COMMENTS as C14N_WITH_COMMENTS, URI_C14N11 as C14N11,
        URI_C14N11_WITH_COMMENTS as C14N11_WITH_COMMENTS, URI_EXC_C14N as EXC_C14N,
        URI_EXC_C14N_WITH_COMMENTS as EXC_C14N_WITH_COMMENTS,
    };

    pub(crate) const ENVELOPED_SIGNATURE: &str =
        "http://www.w3.org/2000/09/xmldsig#enveloped-signature";
    pub(crate) const BASE64: &str = "http://www.w3.org/2000/09/xmldsig#base64";
    pub(crate) const XPATH: &str = "http://www.w3.org/TR/1999/REC-xpath-19991116";
    pub(crate) const XPATH2: &str = super::NS_XPATH_FILTER2;

    pub(crate) const SHA1: &str = "http://www.w3.org/2000/09/xmldsig#sha1";
    pub(crate) const SHA256: &str = "http://www.w3.org/2001/04/xmlenc#sha256";
    pub(crate) const SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#sha384";
    pub(crate) const SHA512: &str = "http://www.w3.org/2001/04/xmlenc#sha512";
    pub(crate) const SHA3_256: &str = "http://www.w3.org/2007/05/xmldsig-more#sha3-256";
    pub(crate) const SHA3_384: &str = "http://www.w3.org/2007/05/xmldsig-more#sha3-384";
    pub(crate) const SHA3_512: &str = "http://www.w3.org/2007/05/xmldsig-more#sha3-512";

    pub(crate) const RSA_SHA1: &str = "http://www.w3.org/2000/09/xmldsig#rsa-sha1";
    pub(crate) const RSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256";
    pub(crate) const RSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha384";
    pub(crate) const RSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#rsa-sha512";
    pub(crate) const RSA_PSS_SHA1: &str = "http://www.w3.org/2007/05/xmldsig-more#sha1-rsa-MGF1";
    pub(crate) const RSA_PSS_SHA256: &str =
        "http://www.w3.org/2007/05/xmldsig-more#sha256-rsa-MGF1";
    pub(crate) const RSA_PSS_SHA384: &str =
        "http://www.w3.org/2007/05/xmldsig-more#sha384-rsa-MGF1";
    pub(crate) const RSA_PSS_SHA512: &str =
        "http://www.w3.org/2007/05/xmldsig-more#sha512-rsa-MGF1";
    pub(crate) const RSA_PSS_SHA3_256: &str =
        "http://www.w3.org/2007/05/xmldsig-more#sha3-256-rsa-MGF1";
    pub(crate) const RSA_PSS_SHA3_384: &str =
        "http://www.w3.org/2007/05/xmldsig-more#sha3-384-rsa-MGF1";
    pub(crate) const RSA_PSS_SHA3_512: &str =
        "http://www.w3.org/2007/05/xmldsig-more#sha3-512-rsa-MGF1";
    pub(crate) const ECDSA_SHA1: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha1";
    pub(crate) const ECDSA_SHA256: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256";
    pub(crate) const ECDSA_SHA384: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha384";
    pub(crate) const ECDSA_SHA512: &str = "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha512";
    pub(crate) const ECDSA_SHA3_256: &str = "http://www.w3.org/2021/04/xmldsig-more#ecdsa-sha3-256";
    pub(crate) const ECDSA_SHA3_384: &str = "http://www.w3.org/2021/04/xmldsig-more#ecdsa-sha3-384";
    pub(crate) const ECDSA_SHA3_512: &str = "http://www.w3.org/2021/04/xmldsig-more#ecdsa-sha3-512";
}

/// Attribute names registered as element Ids (besides `xml:id`), as XML-DSig
/// implementations commonly do without a DTD or schema.
pub(crate) const ID_ATTRIBUTES: [&str; 4] = ["Id", "ID", "id", "AssertionID"];

/// Why XML-DSig processing failed. The XAdES layer maps each kind to its own error
/// variants.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum DsigError {
    /// Data that had to be parsed as XML is not well-formed.
    XmlParse(String),
    /// An algorithm outside the supported set.
    UnsupportedAlgorithm {
        /// Algorithm URI.
        uri: String,
        /// Where it was used.
        context: String,
    },
    /// No available key can be used with the `SignatureMethod`.
    KeyMismatch(String),
    /// The signature value does not verify with any candidate key.
    SignatureInvalid(String),
    /// A reference digest does not match.
    DigestMismatch {
        /// The reference URI.
        uri: String,
    },
    /// A reference URI that cannot be dereferenced in the document.
    InvalidUri(String),
    /// Structural problem (missing element or attribute, bad base64, duplicate Id...).
    Malformed(String),
    /// The signing operation itself failed.
    Crypto(String),
}

impl fmt::Display for DsigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DsigError::XmlParse(m) => write!(f, "XML parse error: {m}"),
            DsigError::UnsupportedAlgorithm { uri, context } => {
                write!(f, "unsupported algorithm {uri} ({context})")
            }
            DsigError::KeyMismatch(m) => write!(f, "key does not fit: {m}"),
            DsigError::SignatureInvalid(m) => write!(f, "{m}"),
            DsigError::DigestMismatch { uri } => {
                write!(f, "digest of Reference URI=\"{uri}\" does not match")
            }
            DsigError::InvalidUri(m) => write!(f, "{m}"),
            DsigError::Malformed(m) => write!(f, "{m}"),
            DsigError::Crypto(m) => write!(f, "{m}"),
        }
    }
}

fn malformed(m: impl Into<String>) -> DsigError {
    DsigError::Malformed(m.into())
}

/// The most namespace declarations a document may carry. roxmltree copies the namespaces in
/// scope into every element that declares one, so a hostile document of nested declarations
/// costs memory quadratic in their number; KSeF documents declare a handful.
pub(crate) const MAX_NAMESPACE_DECLARATIONS: usize = 1024;
/// The most nodes a document may have (a 1 MiB request has far fewer).
const MAX_NODES: u32 = 1_000_000;

/// How many namespace declarations (`xmlns=` / `xmlns:p=`) the text holds, counting at most
/// up to one past `limit` (a cheap upper bound: text content that spells `xmlns=` counts too).
pub(crate) fn namespace_declarations(text: &str, limit: usize) -> usize {
    text.match_indices("xmlns")
        .filter(|(at, _)| matches!(text.as_bytes().get(at + 5), Some(b'=' | b':')))
        .take(limit + 1)
        .count()
}

/// Parse XML the way every part of this crate does: no DTD, bounded nodes and namespace
/// declarations.
pub(crate) fn parse_xml(text: &str) -> Result<Document<'_>, roxmltree::Error> {
    if namespace_declarations(text, MAX_NAMESPACE_DECLARATIONS) > MAX_NAMESPACE_DECLARATIONS {
        // roxmltree's own error for "too much": the caller reports it as not well-formed.
        return Err(roxmltree::Error::NodesLimitReached);
    }
    let opts = roxmltree::ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..Default::default()
    };
    Document::parse_with_options(text, opts)
}

// ---------------------------------------------------------------------------
// Algorithms
// ---------------------------------------------------------------------------

/// A digest algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
    Sha384,
    Sha512,
    Sha3_256,
    Sha3_384,
    Sha3_512,
}

/// Run `$body` with `$d` bound to the digest type of `$h`.
macro_rules! with_hash {
    ($h:expr, $d:ident => $body:expr) => {
        match $h {
            Hash::Sha1 => {
                type $d = sha1::Sha1;
                $body
            }
            Hash::Sha256 => {
                type $d = sha2::Sha256;
                $body
            }
            Hash::Sha384 => {
                type $d = sha2::Sha384;
                $body
            }
            Hash::Sha512 => {
                type $d = sha2::Sha512;
                $body
            }
            Hash::Sha3_256 => {
                type $d = sha3::Sha3_256;
                $body
            }
            Hash::Sha3_384 => {
                type $d = sha3::Sha3_384;
                $body
            }
            Hash::Sha3_512 => {
                type $d = sha3::Sha3_512;
                $body
            }
        }
    };
}

impl Hash {
    /// The digest named by a `DigestMethod` URI.
    pub(crate) fn from_uri(u: &str) -> Option<Hash> {
        Some(match u {
            uri::SHA1 => Hash::Sha1,
            uri::SHA256 => Hash::Sha256,
            uri::SHA384 => Hash::Sha384,
            uri::SHA512 => Hash::Sha512,
            uri::SHA3_256 => Hash::Sha3_256,
            uri::SHA3_384 => Hash::Sha3_384,
            uri::SHA3_512 => Hash::Sha3_512,
            _ => return None,
        })
    }

    /// Hash `data`.
    pub(crate) fn digest(self, data: &[u8]) -> Vec<u8> {
        use sha2::Digest as _;
        with_hash!(self, D => D::digest(data).to_vec())
    }
}

/// A signature algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum SigAlg {
    /// RSASSA-PKCS1-v1_5.
    RsaPkcs1(Hash),
    /// RSASSA-PSS with MGF1 of the same hash and a salt as long as the hash.
    RsaPss(Hash),
    /// ECDSA, value = raw `R||S`.
    Ecdsa(Hash),
}

impl SigAlg {
    /// The algorithm named by a `SignatureMethod` URI.
    pub(crate) fn from_uri(u: &str) -> Option<SigAlg> {
        use Hash::*;
        Some(match u {
            uri::RSA_SHA1 => SigAlg::RsaPkcs1(Sha1),
            uri::RSA_SHA256 => SigAlg::RsaPkcs1(Sha256),
            uri::RSA_SHA384 => SigAlg::RsaPkcs1(Sha384),
            uri::RSA_SHA512 => SigAlg::RsaPkcs1(Sha512),
            uri::RSA_PSS_SHA1 => SigAlg::RsaPss(Sha1),
            uri::RSA_PSS_SHA256 => SigAlg::RsaPss(Sha256),
            uri::RSA_PSS_SHA384 => SigAlg::RsaPss(Sha384),
            uri::RSA_PSS_SHA512 => SigAlg::RsaPss(Sha512),
            uri::RSA_PSS_SHA3_256 => SigAlg::RsaPss(Sha3_256),
            uri::RSA_PSS_SHA3_384 => SigAlg::RsaPss(Sha3_384),
            uri::RSA_PSS_SHA3_512 => SigAlg::RsaPss(Sha3_512),
            uri::ECDSA_SHA1 => SigAlg::Ecdsa(Sha1),
            uri::ECDSA_SHA256 => SigAlg::Ecdsa(Sha256),
            uri::ECDSA_SHA384 => SigAlg::Ecdsa(Sha384),
            uri::ECDSA_SHA512 => SigAlg::Ecdsa(Sha512),
            uri::ECDSA_SHA3_256 => SigAlg::Ecdsa(Sha3_256),
            uri::ECDSA_SHA3_384 => SigAlg::Ecdsa(Sha3_384),
            uri::ECDSA_SHA3_512 => SigAlg::Ecdsa(Sha3_512),
            _ => return None,
        })
    }

    fn hash(self) -> Hash {
        match self {
            SigAlg::RsaPkcs1(h) | SigAlg::RsaPss(h) | SigAlg::Ecdsa(h) => h,
        }
    }
}

/// ECDSA input: the hash, left-padded with zeros when shorter than the field (which
/// keeps its integer value, as ECDSA requires); longer hashes are truncated by the
/// `ecdsa` crate.
fn ecdsa_prehash(hash: Vec<u8>, field_len: usize) -> Vec<u8> {
    if hash.len() >= field_len {
        return hash;
    }
    let mut v = vec![0u8; field_len - hash.len()];
    v.extend_from_slice(&hash);
    v
}

/// A verification key taken from a certificate.
#[derive(Debug, Clone)]
pub(crate) enum PublicKey {
    Rsa(RsaPublicKey),
    P256(p256::ecdsa::VerifyingKey),
    P384(p384::ecdsa::VerifyingKey),
    P521(p521::ecdsa::VerifyingKey),
    /// A key no supported `SignatureMethod` can use (description).
    Unsupported(String),
}

const OID_RSA_ENCRYPTION: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
const OID_RSASSA_PSS: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.10");
const OID_EC_PUBLIC_KEY: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
const OID_P256: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");
const OID_P384: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.34");
const OID_P521: der::asn1::ObjectIdentifier =
    der::asn1::ObjectIdentifier::new_unwrap("1.3.132.0.35");

impl PublicKey {
    /// The subject public key of a DER certificate. `Err` = the certificate or its key
    /// cannot be decoded; an undecodable key of an algorithm we do not support anyway is
    /// [`PublicKey::Unsupported`].
    pub(crate) fn from_certificate(der: &[u8]) -> Result<PublicKey, String> {
        let cert = x509_cert::Certificate::from_der(der)
            .map_err(|e| format!("not an X.509 certificate: {e}"))?;
        let spki = cert.tbs_certificate().subject_public_key_info();
        let oid = spki.algorithm.oid;
        let bits = spki
            .subject_public_key
            .as_bytes()
            .ok_or_else(|| "the public key BIT STRING has unused bits".to_string())?;
        if oid == OID_RSA_ENCRYPTION || oid == OID_RSASSA_PSS {
            return RsaPublicKey::from_pkcs1_der(bits)
                .map(PublicKey::Rsa)
                .map_err(|e| format!("RSA public key: {e}"));
        }
        if oid != OID_EC_PUBLIC_KEY {
            return Ok(PublicKey::Unsupported(format!("a key of algorithm {oid}")));
        }
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<der::asn1::ObjectIdentifier>().ok());
        match curve {
            Some(c) if c == OID_P256 => p256::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                .map(PublicKey::P256)
                .map_err(|e| format!("EC P-256 public key: {e}")),
            Some(c) if c == OID_P384 => p384::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                .map(PublicKey::P384)
                .map_err(|e| format!("EC P-384 public key: {e}")),
            Some(c) if c == OID_P521 => p521::ecdsa::VerifyingKey::from_sec1_bytes(bits)
                .map(PublicKey::P521)
                .map_err(|e| format!("EC P-521 public key: {e}")),
            Some(c) => Ok(PublicKey::Unsupported(format!("an EC key on curve {c}"))),
            None => Ok(PublicKey::Unsupported(
                "an EC key without a named curve".into(),
            )),
        }
    }

    fn describe(&self) -> String {
        match self {
            PublicKey::Rsa(_) => "an RSA key".into(),
            PublicKey::P256(_) => "an EC P-256 key".into(),
            PublicKey::P384(_) => "an EC P-384 key".into(),
            PublicKey::P521(_) => "an EC P-521 key".into(),
            PublicKey::Unsupported(d) => format!("{d} (not supported)"),
        }
    }

    fn fits(&self, alg: SigAlg) -> bool {
        matches!(
            (self, alg),
            (PublicKey::Rsa(_), SigAlg::RsaPkcs1(_) | SigAlg::RsaPss(_))
                | (
                    PublicKey::P256(_) | PublicKey::P384(_) | PublicKey::P521(_),
                    SigAlg::Ecdsa(_)
                )
        )
    }

    /// Whether `sig` is a valid signature of `data`.
    fn verify(&self, alg: SigAlg, data: &[u8], sig: &[u8]) -> bool {
        let hash = alg.hash().digest(data);
        match (self, alg) {
            (PublicKey::Rsa(k), SigAlg::RsaPkcs1(h)) => {
                with_hash!(h, D => k.verify(Pkcs1v15Sign::new::<D>(), &hash, sig).is_ok())
            }
            (PublicKey::Rsa(k), SigAlg::RsaPss(h)) => {
                with_hash!(h, D => k.verify(Pss::<D>::new(), &hash, sig).is_ok())
            }
            (PublicKey::P256(k), SigAlg::Ecdsa(_)) => p256::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_prehash(&ecdsa_prehash(hash, 32), &s).is_ok()),
            (PublicKey::P384(k), SigAlg::Ecdsa(_)) => p384::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_prehash(&ecdsa_prehash(hash, 48), &s).is_ok()),
            (PublicKey::P521(k), SigAlg::Ecdsa(_)) => p521::ecdsa::Signature::from_slice(sig)
                .is_ok_and(|s| k.verify_prehash(&ecdsa_prehash(hash, 66), &s).is_ok()),
            _ => false,
        }
    }

    /// The RSA modulus size in bits, for RSA keys.
    pub(crate) fn rsa_bits(&self) -> Option<u32> {
        use rsa::traits::PublicKeyParts as _;
        match self {
            PublicKey::Rsa(k) => Some(k.n().bit_width()),
            _ => None,
        }
    }
}

/// A signing key.
#[derive(Clone)]
pub(crate) enum SigningKey {
    Rsa(RsaPrivateKey),
    P256(p256::ecdsa::SigningKey),
}

impl SigningKey {
    fn sign(&self, alg: SigAlg, data: &[u8]) -> Result<Vec<u8>, DsigError> {
        let hash = alg.hash().digest(data);
        let crypto = |e: &dyn fmt::Display| DsigError::Crypto(format!("signing failed: {e}"));
        match (self, alg) {
            (SigningKey::Rsa(k), SigAlg::RsaPkcs1(h)) => with_hash!(h, D => k
                .sign_with_rng(&mut rand::rng(), Pkcs1v15Sign::new::<D>(), &hash)
                .map_err(|e| crypto(&e))),
            (SigningKey::Rsa(k), SigAlg::RsaPss(h)) => with_hash!(h, D => k
                .sign_with_rng(&mut rand::rng(), Pss::<D>::new(), &hash)
                .map_err(|e| crypto(&e))),
            (SigningKey::P256(k), SigAlg::Ecdsa(_)) => {
                let sig: p256::ecdsa::Signature = k
                    .sign_prehash(&ecdsa_prehash(hash, 32))
                    .map_err(|e| crypto(&e))?;
                Ok(sig.to_bytes().to_vec())
            }
            (key, _) => Err(DsigError::KeyMismatch(format!(
                "a {} key cannot sign with this SignatureMethod",
                match key {
                    SigningKey::Rsa(_) => "RSA",
                    SigningKey::P256(_) => "EC P-256",
                }
            ))),
        }
    }
}

// ---------------------------------------------------------------------------
// Document helpers
// ---------------------------------------------------------------------------

fn is_el(n: Node<'_, '_>, ns: &str, local: &str) -> bool {
    n.is_element() && n.tag_name().name() == local && n.tag_name().namespace() == Some(ns)
}

fn child<'a, 'i>(n: Node<'a, 'i>, ns: &str, local: &str) -> Option<Node<'a, 'i>> {
    n.children().find(|c| is_el(*c, ns, local))
}

/// An unqualified attribute.
fn attr<'a>(n: Node<'a, '_>, name: &str) -> Option<&'a str> {
    n.attributes()
        .find(|a| a.namespace().is_none() && a.name() == name)
        .map(|a| a.value())
}

/// The string value of an element: all descendant text.
fn text_of(n: Node<'_, '_>) -> String {
    n.descendants()
        .filter(|d| d.is_text())
        .filter_map(|d| d.text())
        .collect()
}

fn b64_decode(s: &str) -> Result<Vec<u8>, base64::DecodeError> {
    let clean: String = s.chars().filter(|c| !c.is_ascii_whitespace()).collect();
    B64.decode(clean)
}

/// Element Ids of the document. A value used twice is an error: with two candidates a
/// reference could be made to point at content other than the one shown (signature
/// wrapping).
fn id_map<'a, 'i>(doc: &'a Document<'i>) -> Result<HashMap<&'a str, Node<'a, 'i>>, DsigError> {
    let mut map = HashMap::new();
    for n in doc.descendants().filter(|n| n.is_element()) {
        for a in n.attributes() {
            let is_id = match a.namespace() {
                None => ID_ATTRIBUTES.contains(&a.name()),
                Some(ns) => ns == c14n::NS_XML && a.name() == "id",
            };
            if is_id && map.insert(a.value(), n).is_some() {
                return Err(malformed(format!("duplicate ID: {}", a.value())));
            }
        }
    }
    Ok(map)
}

/// The `PrefixList` of an `InclusiveNamespaces` child of a transform or
/// `CanonicalizationMethod` element.
fn inclusive_prefixes(method_el: Node<'_, '_>) -> Vec<String> {
    child(method_el, NS_EXC_C14N, "InclusiveNamespaces")
        .and_then(|n| attr(n, "PrefixList"))
        .map(|l| l.split_ascii_whitespace().map(str::to_string).collect())
        .unwrap_or_default()
}

// ---------------------------------------------------------------------------
// Reference processing
// ---------------------------------------------------------------------------

/// Data flowing through a transform chain.
enum Data<'a, 'i> {
    Nodes(NodeSet<'a, 'i>),
    Octets(Vec<u8>),
}

/// Dereference a same-document URI (XML-DSig 1.1 §4.4.3.3). Returns the node-set and
/// the element the URI names (for `#id` forms).
fn dereference<'a, 'i>(
    doc: &'a Document<'i>,
    ids: &HashMap<&'a str, Node<'a, 'i>>,
    uri: &str,
) -> Result<(NodeSet<'a, 'i>, Option<Node<'a, 'i>>), DsigError> {
    if uri.is_empty() {
        // The whole document without comments.
        return Ok((NodeSet::tree(doc.root(), false), None));
    }
    let Some(fragment) = uri.strip_prefix('#') else {
        return Err(DsigError::InvalidUri(format!(
            "external URI not supported: {uri}"
        )));
    };
    if fragment == "xpointer(/)" {
        return Ok((NodeSet::tree(doc.root(), true), None));
    }
    let xpointer_id = fragment
        .strip_prefix("xpointer(id('")
        .and_then(|s| s.strip_suffix("'))"))
        .or_else(|| {
            fragment
                .strip_prefix("xpointer(id(\"")
                .and_then(|s| s.strip_suffix("\"))"))
        });
    let id = xpointer_id.unwrap_or(fragment);
    let target = ids
        .get(id)
        .copied()
        .ok_or_else(|| DsigError::InvalidUri(format!("ID not found: {id}")))?;
    // `#id` excludes comments, `#xpointer(id('id'))` keeps them.
    Ok((NodeSet::tree(target, xpointer_id.is_some()), Some(target)))
}

/// The (namespace, local name) of an XPath `P:Local` name test, `P` resolved in the scope
/// of `context`. An unprefixed name test means "no namespace" in XPath 1.0.
fn resolve_name_test<'a, 'q>(
    context: Node<'a, '_>,
    qname: &'q str,
) -> Option<(Option<&'a str>, &'q str)> {
    let (prefix, local) = match qname.split_once(':') {
        Some((p, l)) => (Some(p), l),
        None => (None, qname),
    };
    let valid = |s: &str| {
        !s.is_empty()
            && s.chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.'))
    };
    if !valid(local) || !prefix.is_none_or(valid) {
        return None;
    }
    let ns = match prefix {
        Some(p) => Some(context.lookup_namespace_uri(Some(p))?),
        None => None,
    };
    Some((ns, local))
}

/// Whether a `P:Local` name test (see [`resolve_name_test`]) names `ds:Signature`, the
/// only element the XPath transforms may remove: any other name would let a reference
/// drop signed content from its digest.
fn names_signature(context: Node<'_, '_>, qname: &str) -> bool {
    resolve_name_test(context, qname) == Some((Some(NS_DSIG), "Signature"))
}

/// The `ds:Signature` elements of the document, when the `P:Local` name test `qname`
/// names `ds:Signature`; `None` for any other name.
fn signature_elements<'a, 'i>(
    doc: &'a Document<'i>,
    context: Node<'a, 'i>,
    qname: &str,
) -> Option<Vec<NodeId>> {
    if !names_signature(context, qname) {
        return None;
    }
    Some(
        doc.descendants()
            .filter(|n| is_el(*n, NS_DSIG, "Signature"))
            .map(|n| n.id())
            .collect(),
    )
}

/// Apply one `Transform` element.
fn apply_transform<'a, 'i>(
    doc: &'a Document<'i>,
    sig: Node<'a, 'i>,
    transform: Node<'a, 'i>,
    algorithm: &str,
    reference_uri: &str,
    data: Data<'a, 'i>,
) -> Result<Data<'a, 'i>, DsigError> {
    let unsupported = |context: String| DsigError::UnsupportedAlgorithm {
        uri: algorithm.to_string(),
        context,
    };
    if let Some(method) = Method::from_uri(algorithm) {
        let prefixes = if method.mode == Mode::Exclusive {
            inclusive_prefixes(transform)
        } else {
            Vec::new()
        };
        return match data {
            Data::Nodes(set) => Ok(Data::Octets(
                c14n::canonicalize(&set, method, &prefixes).into_bytes(),
            )),
            Data::Octets(bytes) => canonicalize_octets(&bytes, method, &prefixes).map(Data::Octets),
        };
    }
    match algorithm {
        uri::ENVELOPED_SIGNATURE => match data {
            Data::Nodes(mut set) => {
                set.excluded.push(sig.id());
                Ok(Data::Nodes(set))
            }
            Data::Octets(_) => Err(malformed(
                "the enveloped-signature transform needs a node-set, but an earlier transform \
                 produced octets",
            )),
        },
        uri::BASE64 => {
            let text = match &data {
                Data::Nodes(set) => c14n::text_of_set(set),
                Data::Octets(bytes) => String::from_utf8_lossy(bytes).into_owned(),
            };
            b64_decode(&text)
                .map(Data::Octets)
                .map_err(|e| malformed(format!("base64 transform: {e}")))
        }
        uri::XPATH => {
            let Data::Nodes(mut set) = data else {
                return Err(malformed("the XPath transform needs a node-set"));
            };
            let xpath = child(transform, NS_DSIG, "XPath")
                .ok_or_else(|| malformed("XPath transform without an XPath element"))?;
            let expr = text_of(xpath);
            let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
            let excluded = compact
                .strip_prefix("not(ancestor-or-self::")
                .and_then(|s| s.strip_suffix(')'))
                .and_then(|name| signature_elements(doc, xpath, name))
                .ok_or_else(|| {
                    unsupported(format!(
                        "XPath expression '{}' of Reference URI=\"{reference_uri}\"; only \
                         not(ancestor-or-self::ds:Signature) is supported",
                        expr.trim()
                    ))
                })?;
            set.excluded.extend(excluded);
            Ok(Data::Nodes(set))
        }
        uri::XPATH2 => {
            let Data::Nodes(mut set) = data else {
                return Err(malformed("the XPath Filter 2.0 transform needs a node-set"));
            };
            let filters: Vec<Node> = transform
                .children()
                .filter(|c| is_el(*c, NS_XPATH_FILTER2, "XPath"))
                .collect();
            if filters.is_empty() {
                return Err(malformed(
                    "XPath Filter 2.0 transform without an XPath element",
                ));
            }
            for f in filters {
                let expr = text_of(f);
                let compact: String = expr.chars().filter(|c| !c.is_whitespace()).collect();
                let selected = (attr(f, "Filter") == Some("subtract"))
                    .then(|| filter2_subtracted(doc, f, &compact))
                    .flatten()
                    .ok_or_else(|| {
                        unsupported(format!(
                            "XPath Filter 2.0 '{}' ({}) of Reference URI=\"{reference_uri}\"; \
                             only subtracting the signature is supported",
                            expr.trim(),
                            attr(f, "Filter").unwrap_or("")
                        ))
                    })?;
                set.excluded.extend(selected);
            }
            Ok(Data::Nodes(set))
        }
        other => Err(DsigError::UnsupportedAlgorithm {
            uri: other.to_string(),
            context: format!("transform of Reference URI=\"{reference_uri}\""),
        }),
    }
}

/// The elements an XPath Filter 2.0 `subtract` expression selects, for the forms that
/// name signature elements: `here()/ancestor::P:Signature[1]` (the nearest such ancestor
/// of the `XPath` element, i.e. this signature) and `//P:Signature` /
/// `/descendant::P:Signature` (all), `P` bound to the XML-DSig namespace.
fn filter2_subtracted<'a, 'i>(
    doc: &'a Document<'i>,
    xpath: Node<'a, 'i>,
    compact: &str,
) -> Option<Vec<NodeId>> {
    if let Some(name) = compact
        .strip_prefix("here()/ancestor::")
        .and_then(|s| s.strip_suffix("[1]"))
    {
        if !names_signature(xpath, name) {
            return None;
        }
        let nearest = xpath
            .ancestors()
            .skip(1)
            .find(|a| is_el(*a, NS_DSIG, "Signature"))?;
        return Some(vec![nearest.id()]);
    }
    let name = compact
        .strip_prefix("//")
        .or_else(|| compact.strip_prefix("/descendant::"))?;
    signature_elements(doc, xpath, name)
}

/// Octets given to a canonicalization transform: parsed as a document (no DTD), then
/// canonicalized whole.
fn canonicalize_octets(
    bytes: &[u8],
    method: Method,
    prefixes: &[String],
) -> Result<Vec<u8>, DsigError> {
    let bytes = bytes.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(bytes);
    let text = std::str::from_utf8(bytes)
        .map_err(|e| DsigError::XmlParse(format!("transform input is not UTF-8: {e}")))?;
    let doc = parse_xml(text).map_err(|e| DsigError::XmlParse(e.to_string()))?;
    Ok(c14n::canonicalize(&NodeSet::tree(doc.root(), true), method, prefixes).into_bytes())
}

/// What the processing of one `Reference` digested.
#[derive(Debug, Clone)]
pub(crate) struct ReferenceReport<'a, 'i> {
    /// The node the URI dereferences to: the document (root) node for `""` and
    /// `#xpointer(/)`, the element for the `#id` forms.
    pub target: Node<'a, 'i>,
    /// Elements whose subtrees the transforms removed (enveloped-signature, XPath and
    /// XPath Filter 2.0 `subtract`), in transform order; may repeat.
    pub excluded: Vec<NodeId>,
    /// A base64 transform replaced the content by its decoded text.
    pub decoded: bool,
}

/// A processed `Reference`.
struct ReferenceDigest<'a, 'i> {
    uri: &'a str,
    hash: Vec<u8>,
    report: ReferenceReport<'a, 'i>,
}

/// Reference processing (XML-DSig 1.1 §4.4.3.2): dereference, transform, digest.
fn digest_reference<'a, 'i>(
    doc: &'a Document<'i>,
    ids: &HashMap<&'a str, Node<'a, 'i>>,
    sig: Node<'a, 'i>,
    reference: Node<'a, 'i>,
) -> Result<ReferenceDigest<'a, 'i>, DsigError> {
    let uri = attr(reference, "URI").unwrap_or("");
    let dm = child(reference, NS_DSIG, "DigestMethod")
        .and_then(|n| attr(n, "Algorithm"))
        .ok_or_else(|| {
            malformed(format!(
                "Reference URI=\"{uri}\" has no DigestMethod/@Algorithm"
            ))
        })?;
    let hash = Hash::from_uri(dm).ok_or_else(|| DsigError::UnsupportedAlgorithm {
        uri: dm.to_string(),
        context: format!("DigestMethod of Reference URI=\"{uri}\""),
    })?;
    let (set, named) = dereference(doc, ids, uri)?;
    let target = named.unwrap_or_else(|| doc.root());
    let mut excluded = Vec::new();
    let mut decoded = false;
    let mut data = Data::Nodes(set);
    if let Some(transforms) = child(reference, NS_DSIG, "Transforms") {
        for t in transforms
            .children()
            .filter(|c| is_el(*c, NS_DSIG, "Transform"))
        {
            let algorithm =
                attr(t, "Algorithm").ok_or_else(|| malformed("Transform has no Algorithm"))?;
            decoded |= algorithm == uri::BASE64;
            data = apply_transform(doc, sig, t, algorithm, uri, data)?;
            // Node-set transforms only add exclusions; record them as they happen (a
            // canonicalization turns the set into octets afterwards).
            if let Data::Nodes(set) = &mut data {
                for id in set.excluded.iter().skip(excluded.len()) {
                    excluded.push(*id);
                }
            }
        }
    }
    let octets = match data {
        Data::Octets(b) => b,
        // A node-set left at the end is serialized with Canonical XML 1.0 without comments.
        Data::Nodes(set) => c14n::canonicalize(
            &set,
            Method {
                mode: Mode::Inclusive10,
                with_comments: false,
            },
            &[],
        )
        .into_bytes(),
    };
    Ok(ReferenceDigest {
        uri,
        hash: hash.digest(&octets),
        report: ReferenceReport {
            target,
            excluded,
            decoded,
        },
    })
}

/// `CanonicalizationMethod` of `SignedInfo`, applied to `SignedInfo`.
fn canonical_signed_info(
    signed_info: Node<'_, '_>,
) -> Result<(Vec<u8>, SigAlg, String), DsigError> {
    let cm = child(signed_info, NS_DSIG, "CanonicalizationMethod")
        .ok_or_else(|| malformed("SignedInfo has no CanonicalizationMethod"))?;
    let cm_uri = attr(cm, "Algorithm")
        .ok_or_else(|| malformed("CanonicalizationMethod has no Algorithm"))?;
    let method = Method::from_uri(cm_uri).ok_or_else(|| DsigError::UnsupportedAlgorithm {
        uri: cm_uri.to_string(),
        context: "SignedInfo/CanonicalizationMethod".into(),
    })?;
    let sm_uri = child(signed_info, NS_DSIG, "SignatureMethod")
        .and_then(|n| attr(n, "Algorithm"))
        .ok_or_else(|| malformed("SignedInfo has no SignatureMethod/@Algorithm"))?;
    let alg = SigAlg::from_uri(sm_uri).ok_or_else(|| DsigError::UnsupportedAlgorithm {
        uri: sm_uri.to_string(),
        context: "SignedInfo/SignatureMethod".into(),
    })?;
    let prefixes = if method.mode == Mode::Exclusive {
        inclusive_prefixes(cm)
    } else {
        Vec::new()
    };
    // The SignedInfo element and everything in it, comments included (the method
    // decides whether they are kept), as xmlsec and .NET do.
    let set = NodeSet::tree(signed_info, true);
    Ok((
        c14n::canonicalize(&set, method, &prefixes).into_bytes(),
        alg,
        sm_uri.to_string(),
    ))
}

// ---------------------------------------------------------------------------
// Verification
// ---------------------------------------------------------------------------

/// What a successful [`verify`] found.
pub(crate) struct Verified<'a, 'i> {
    /// For each reference, in order, what it digested.
    pub references: Vec<ReferenceReport<'a, 'i>>,
    /// Index into the `keys` of [`verify`] of the key that verified the signature.
    pub key_index: usize,
}

/// Core validation (XML-DSig 1.1 §3.2) of the signature element `sig`: every reference
/// digest, then the signature value, trying each of `keys` that fits the
/// `SignatureMethod`.
pub(crate) fn verify<'a, 'i>(
    doc: &'a Document<'i>,
    sig: Node<'a, 'i>,
    keys: &[&PublicKey],
) -> Result<Verified<'a, 'i>, DsigError> {
    let ids = id_map(doc)?;
    let signed_info = child(sig, NS_DSIG, "SignedInfo")
        .ok_or_else(|| malformed("ds:Signature has no ds:SignedInfo"))?;
    let reference_elements: Vec<Node> = signed_info
        .children()
        .filter(|c| is_el(*c, NS_DSIG, "Reference"))
        .collect();
    if reference_elements.is_empty() {
        return Err(malformed("SignedInfo has no Reference"));
    }
    let mut references = Vec::with_capacity(reference_elements.len());
    for r in reference_elements {
        let computed = digest_reference(doc, &ids, sig, r)?;
        let expected = child(r, NS_DSIG, "DigestValue").ok_or_else(|| {
            malformed(format!(
                "Reference URI=\"{}\" has no DigestValue",
                computed.uri
            ))
        })?;
        let expected = b64_decode(&text_of(expected)).map_err(|e| {
            malformed(format!(
                "DigestValue of Reference URI=\"{}\" is not valid base64: {e}",
                computed.uri
            ))
        })?;
        if !bool::from(computed.hash.as_slice().ct_eq(&expected)) {
            return Err(DsigError::DigestMismatch {
                uri: computed.uri.to_string(),
            });
        }
        references.push(computed.report);
    }
    let (canonical, alg, alg_uri) = canonical_signed_info(signed_info)?;
    let value = child(sig, NS_DSIG, "SignatureValue")
        .ok_or_else(|| malformed("ds:Signature has no ds:SignatureValue"))?;
    let value = b64_decode(&text_of(value))
        .map_err(|e| malformed(format!("SignatureValue is not valid base64: {e}")))?;

    let candidates: Vec<usize> = (0..keys.len()).filter(|&i| keys[i].fits(alg)).collect();
    if candidates.is_empty() {
        let kinds: Vec<String> = keys.iter().map(|k| k.describe()).collect();
        return Err(DsigError::KeyMismatch(format!(
            "{alg_uri} needs {}, the certificate holds {}",
            match alg {
                SigAlg::Ecdsa(_) => "an EC key",
                _ => "an RSA key",
            },
            kinds.join(", ")
        )));
    }
    for &i in &candidates {
        if keys[i].verify(alg, &canonical, &value) {
            return Ok(Verified {
                references,
                key_index: i,
            });
        }
    }
    Err(DsigError::SignatureInvalid(if candidates.len() == 1 {
        "signature value verification failed".into()
    } else {
        format!(
            "signature value verification failed with each of the {} certificates",
            candidates.len()
        )
    }))
}

// ---------------------------------------------------------------------------
// Signing
// ---------------------------------------------------------------------------

/// The first `ds:Signature` of the document, its `SignedInfo` and references.
fn template_parts<'a, 'i>(
    doc: &'a Document<'i>,
) -> Result<(Node<'a, 'i>, Node<'a, 'i>, Vec<Node<'a, 'i>>), DsigError> {
    let sig = doc
        .descendants()
        .find(|n| is_el(*n, NS_DSIG, "Signature"))
        .ok_or_else(|| malformed("the template has no ds:Signature"))?;
    let signed_info = child(sig, NS_DSIG, "SignedInfo")
        .ok_or_else(|| malformed("ds:Signature has no ds:SignedInfo"))?;
    let refs = signed_info
        .children()
        .filter(|c| is_el(*c, NS_DSIG, "Reference"))
        .collect();
    Ok((sig, signed_info, refs))
}

/// Replace the content of element `el` of `text` (the source `doc` was parsed from).
fn replace_content(text: &str, el: Node<'_, '_>, content: &str) -> Result<String, DsigError> {
    let range = el.range();
    let src = text
        .get(range.clone())
        .ok_or_else(|| malformed("element position out of range"))?;
    let start_end = c14n::start_tag_len(src).ok_or_else(|| malformed("unterminated start tag"))?;
    let mut out = String::with_capacity(text.len() + content.len() + 32);
    out.push_str(&text[..range.start]);
    if start_end == src.len() && src.ends_with("/>") {
        // <x/> → <x>content</x>
        out.push_str(&src[..src.len() - 2]);
        out.push('>');
        out.push_str(content);
        out.push_str("</");
        out.push_str(&c14n::element_qname(el));
        out.push('>');
    } else {
        let end_tag = src
            .rfind("</")
            .filter(|&i| i >= start_end)
            .ok_or_else(|| malformed("element without an end tag"))?;
        out.push_str(&src[..start_end]);
        out.push_str(content);
        out.push_str(&src[end_tag..]);
    }
    out.push_str(&text[range.end..]);
    Ok(out)
}

/// Fill an XML-DSig template (XML-DSig 1.1 §3.1): compute each reference's
/// `DigestValue` in document order (each on the document as filled so far), then sign
/// the canonical `SignedInfo` with `key` and fill `SignatureValue`. The first
/// `ds:Signature` of the document is the template; the rest of the text is kept byte for
/// byte.
pub(crate) fn sign_template(template: &str, key: &SigningKey) -> Result<String, DsigError> {
    let mut text = template.to_string();
    let mut index = 0;
    loop {
        let doc = parse_xml(&text).map_err(|e| DsigError::XmlParse(e.to_string()))?;
        let (sig, signed_info, refs) = template_parts(&doc)?;
        if let Some(&r) = refs.get(index) {
            let ids = id_map(&doc)?;
            let digest = digest_reference(&doc, &ids, sig, r)?;
            let dv = child(r, NS_DSIG, "DigestValue").ok_or_else(|| {
                malformed(format!(
                    "Reference URI=\"{}\" has no DigestValue",
                    digest.uri
                ))
            })?;
            text = replace_content(&text, dv, &B64.encode(&digest.hash))?;
            index += 1;
            continue;
        }
        if refs.is_empty() {
            return Err(malformed("SignedInfo has no Reference"));
        }
        let (canonical, alg, _) = canonical_signed_info(signed_info)?;
        let value = key.sign(alg, &canonical)?;
        let sv = child(sig, NS_DSIG, "SignatureValue")
            .ok_or_else(|| malformed("ds:Signature has no ds:SignatureValue"))?;
        return replace_content(&text, sv, &B64.encode(value));
    }
}

#[cfg(test)]
mod tests {

    #[test]
    fn nested_namespace_declarations_are_bounded() {
        let nested = |n: usize| {
            let mut x = String::new();
            for i in 0..n {
                x.push_str(&format!("<p{i}:e xmlns:p{i}=\"urn:{i}\">"));
            }
            for i in (0..n).rev() {
                x.push_str(&format!("</p{i}:e>"));
            }
            x
        };
        assert!(parse_xml(&nested(MAX_NAMESPACE_DECLARATIONS)).is_ok());
        let hostile = nested(40_000);
        let started = std::time::Instant::now();
        assert!(matches!(
            parse_xml(&hostile),
            Err(roxmltree::Error::NodesLimitReached)
        ));
        assert!(started.elapsed() < std::time::Duration::from_secs(1));
        // The word in text content or a longer name is not a declaration.
        assert_eq!(namespace_declarations("<a>xmlns xmlnsx=</a>", 10), 0);
    }

    use super::*;

    const NO_REFERENCES: &str = "<r><ds:Signature xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
        <ds:SignedInfo>\
        <ds:CanonicalizationMethod Algorithm=\"http://www.w3.org/TR/2001/REC-xml-c14n-20010315\"/>\
        <ds:SignatureMethod Algorithm=\"http://www.w3.org/2001/04/xmldsig-more#rsa-sha256\"/>\
        </ds:SignedInfo><ds:SignatureValue>AAAA</ds:SignatureValue></ds:Signature></r>";

    #[test]
    fn signed_info_without_references_is_refused() {
        let doc = parse_xml(NO_REFERENCES).unwrap();
        let sig = doc
            .descendants()
            .find(|n| is_el(*n, NS_DSIG, "Signature"))
            .unwrap();
        let key = PublicKey::Unsupported("none".into());
        match verify(&doc, sig, &[&key]) {
            Err(DsigError::Malformed(m)) => assert!(m.contains("no Reference"), "{m}"),
            Err(e) => panic!("{e}"),
            Ok(_) => panic!("verified without references"),
        }
    }

    #[test]
    fn xpath_forms_may_only_name_the_signature() {
        let xml = "<a:r xmlns:a=\"urn:a\" xmlns:ds=\"http://www.w3.org/2000/09/xmldsig#\">\
                   <a:Challenge/><ds:Signature/><a:Signature/></a:r>";
        let doc = parse_xml(xml).unwrap();
        let root = doc.root_element();
        assert_eq!(
            signature_elements(&doc, root, "ds:Signature").map(|v| v.len()),
            Some(1)
        );
        assert_eq!(signature_elements(&doc, root, "a:Challenge"), None);
        assert_eq!(signature_elements(&doc, root, "a:Signature"), None);
        assert_eq!(signature_elements(&doc, root, "Signature"), None);
        assert_eq!(filter2_subtracted(&doc, root, "//a:Challenge"), None);
        assert_eq!(
            filter2_subtracted(&doc, root, "/descendant::a:Signature"),
            None
        );
        assert_eq!(
            filter2_subtracted(&doc, root, "//ds:Signature").map(|v| v.len()),
            Some(1)
        );
    }
}
