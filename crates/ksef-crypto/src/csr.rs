//! PKCS#10 certificate signing requests for KSeF certificates (digest §14): building them
//! ([`make_csr`], [`csr_for_key`]) and reading untrusted ones ([`parse_csr`]).
//!
//! KSeF issues a certificate only for a CSR whose subject consists of exactly the attributes
//! `GET /certificates/enrollments/data` returned (25003 otherwise), with an RSA-2048 or EC
//! P-256 key (25010) and an allowed signature algorithm (25011). [`make_csr`] generates a
//! fresh key of the chosen algorithm and a CSR signed with it (sha256WithRSAEncryption or
//! ecdsa-with-SHA256) whose subject carries the [`CsrSubject`] attributes, in the order the
//! official client builders use: givenName, surname, serialNumber, organizationName,
//! organizationIdentifier, x500UniqueIdentifier, commonName, countryName. Values are written
//! unchanged, one RDN each; countryName and serialNumber as PrintableString when they fit it
//! (else UTF8String), everything else as UTF8String. The request has no attributes (an empty
//! `[0]` set, no extensionRequest).
//!
//! [`parse_csr`] reads a request from hostile bytes without panicking: strict DER, nothing
//! after it; [`ParsedCsr::verify_signature`] checks its self-signature with the public key it
//! carries and [`ParsedCsr::subject_attributes`] gives its subject as text.
//!
//! The returned private key is the caller's to protect: it never appears in errors or `Debug`.

use der::asn1::{AnyRef, BitString};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode, Reader, SliceReader, Tag, Tagged};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256, Sha384, Sha512};
use spki::AlgorithmIdentifierOwned;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::request::{CertReq, CertReqInfo, Version};

use crate::error::{CryptoError, Result};
use crate::key::{KeyAlgorithm, PrivateKey, PublicKey};
use crate::testcert::oid;
use crate::x509::{self, Strings};

/// Dotted OID of x500UniqueIdentifier.
pub const UNIQUE_IDENTIFIER_OID: &str = "2.5.4.45";

/// The subject of a CSR: the attributes of KSeF's enrollment data (absent ones are `None`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CsrSubject {
    /// commonName (2.5.4.3).
    pub common_name: String,
    /// countryName (2.5.4.6).
    pub country_name: String,
    /// givenName (2.5.4.42).
    pub given_name: Option<String>,
    /// surname (2.5.4.4).
    pub surname: Option<String>,
    /// serialNumber (2.5.4.5), e.g. `TINPL-<NIP>`.
    pub serial_number: Option<String>,
    /// x500UniqueIdentifier (2.5.4.45).
    pub unique_identifier: Option<String>,
    /// organizationName (2.5.4.10).
    pub organization_name: Option<String>,
    /// organizationIdentifier (2.5.4.97), e.g. `VATPL-<NIP>`.
    pub organization_identifier: Option<String>,
}

impl CsrSubject {
    /// The `(dotted OID, value)` pairs of the subject, in RDN order (see the module docs).
    pub fn attributes(&self) -> Vec<(String, String)> {
        [
            (oid::GIVEN_NAME, self.given_name.as_deref()),
            (oid::SURNAME, self.surname.as_deref()),
            (oid::SERIAL_NUMBER, self.serial_number.as_deref()),
            (oid::ORGANIZATION_NAME, self.organization_name.as_deref()),
            (
                oid::ORGANIZATION_IDENTIFIER,
                self.organization_identifier.as_deref(),
            ),
            (UNIQUE_IDENTIFIER_OID, self.unique_identifier.as_deref()),
            (oid::COMMON_NAME, Some(self.common_name.as_str())),
            (oid::COUNTRY_NAME, Some(self.country_name.as_str())),
        ]
        .into_iter()
        .filter_map(|(o, v)| v.map(|v| (o.to_string(), v.to_string())))
        .collect()
    }
}

/// A fresh key of `algorithm` (RSA-2048 or EC P-256 only, as KSeF requires) and a PKCS#10 CSR
/// (DER) for `subject` signed with it.
pub fn make_csr(subject: &CsrSubject, algorithm: KeyAlgorithm) -> Result<(PrivateKey, Vec<u8>)> {
    if !matches!(algorithm, KeyAlgorithm::Rsa2048 | KeyAlgorithm::EcP256) {
        return Err(CryptoError::UnsupportedKeyAlgorithm(format!(
            "{algorithm:?}: KSeF certificates need RSA-2048 or EC P-256"
        )));
    }
    if subject.common_name.trim().is_empty() || subject.country_name.trim().is_empty() {
        return Err(CryptoError::InvalidSubject(
            "commonName and countryName are required".into(),
        ));
    }
    let key = PrivateKey::generate(algorithm)?;
    let der = csr_for_key(&key, &subject.attributes())?;
    Ok((key, der))
}

/// A PKCS#10 CSR (DER) with these `(dotted OID, value)` subject attributes, in order, signed
/// by `key`.
///
/// Fails with [`CryptoError::InvalidSubject`] for a malformed OID or an attribute given twice.
pub fn csr_for_key(key: &PrivateKey, attributes: &[(String, String)]) -> Result<Vec<u8>> {
    let gen_err = |e: der::Error| CryptoError::CertificateGeneration(format!("CSR: {e}"));
    let public_key =
        spki::SubjectPublicKeyInfoOwned::from_der(&key.public_key_spki_der()?).map_err(gen_err)?;
    // Built by hand rather than with `x509_cert::request::RequestBuilder`, which always adds
    // an extensionRequest attribute (empty here).
    let info = CertReqInfo {
        version: Version::V1,
        subject: x509::name(attributes, Strings::PrintableIfPossible)?,
        public_key,
        attributes: Default::default(),
    };
    let (algorithm, signature) = x509::sign(key, &info.to_der().map_err(gen_err)?)?;
    CertReq {
        info,
        algorithm,
        signature,
    }
    .to_der()
    .map_err(gen_err)
}

/// A CSR's DER as the Base64 (standard alphabet, padded) that `EnrollCertificateRequest.csr`
/// carries.
pub fn csr_base64(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

/// extensionRequest (PKCS#9).
const OID_EXTENSION_REQUEST: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.14");
/// challengePassword (PKCS#9).
const OID_CHALLENGE_PASSWORD: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.9.7");

/// A PKCS#10 request read by [`parse_csr`]; its signature is not checked yet.
#[derive(Clone)]
pub struct ParsedCsr {
    /// The requested key's `SubjectPublicKeyInfo` DER, as in the request.
    pub spki_der: Vec<u8>,
    /// Dotted OID of the signature algorithm.
    pub signature_algorithm: String,
    algorithm: AlgorithmIdentifierOwned,
    /// The DER of `certificationRequestInfo` as received (what the signature covers).
    signed: Vec<u8>,
    signature: BitString,
    /// Subject attributes in encoding order.
    subject: Vec<AttributeTypeAndValue>,
}

impl std::fmt::Debug for ParsedCsr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ParsedCsr")
            .field("signature_algorithm", &self.signature_algorithm)
            .field("subject_attributes", &self.subject.len())
            .finish_non_exhaustive()
    }
}

/// Reads a PKCS#10 request (DER) from untrusted bytes: `CertificationRequest` in strict DER
/// with nothing after it, version 1, a decodable subject and `SubjectPublicKeyInfo`; each
/// extensionRequest attribute value must be a sequence of extensions, each challengePassword
/// value a directory string. Anything else is [`CryptoError::InvalidCsr`]. Nothing here
/// panics on malformed input.
pub fn parse_csr(der: &[u8]) -> Result<ParsedCsr> {
    let bad = |what: &str, e: der::Error| CryptoError::InvalidCsr(format!("{what}: {e}"));
    let req = CertReq::from_der(der).map_err(|e| match e.kind() {
        der::ErrorKind::TrailingData { .. } => {
            CryptoError::InvalidCsr("data after the CSR structure".into())
        }
        _ => bad("not a PKCS#10 CertificationRequest", e),
    })?;
    for attr in req.info.attributes.iter() {
        for value in attr.values.iter() {
            if attr.oid == OID_EXTENSION_REQUEST {
                value
                    .decode_as::<Vec<x509_cert::ext::Extension>>()
                    .map_err(|e| bad("extensionRequest", e))?;
            } else if attr.oid == OID_CHALLENGE_PASSWORD
                && !matches!(
                    value.tag(),
                    Tag::Utf8String | Tag::PrintableString | Tag::TeletexString | Tag::BmpString
                )
            {
                return Err(CryptoError::InvalidCsr(format!(
                    "challengePassword is a {}, not a directory string",
                    value.tag()
                )));
            }
        }
    }
    let (signed, subject) = raw_info(der).map_err(|e| bad("certificationRequestInfo", e))?;
    let spki_der = req
        .info
        .public_key
        .to_der()
        .map_err(|e| bad("subjectPKInfo", e))?;
    Ok(ParsedCsr {
        spki_der,
        signature_algorithm: req.algorithm.oid.to_string(),
        algorithm: req.algorithm,
        signed: signed.to_vec(),
        signature: req.signature,
        subject,
    })
}

/// The received bytes of `certificationRequestInfo`, and its subject's attributes in the
/// order they are encoded (a decoded `Name` sorts the members of multi-valued RDNs).
fn raw_info(der: &[u8]) -> der::Result<(&[u8], Vec<AttributeTypeAndValue>)> {
    let outer = AnyRef::from_der(der)?;
    let mut reader = SliceReader::new(outer.value())?;
    let info = AnyRef::decode(&mut reader)?;
    let info_len = usize::try_from(u32::from(info.encoded_len()?))
        .map_err(|_| der::Error::from(der::ErrorKind::Overflow))?;
    let signed = outer
        .value()
        .get(..info_len)
        .ok_or_else(|| der::Error::from(der::ErrorKind::Failed))?;
    let mut fields = SliceReader::new(info.value())?;
    let _version = AnyRef::decode(&mut fields)?;
    let subject = AnyRef::decode(&mut fields)?;
    subject.tag().assert_eq(Tag::Sequence)?;
    let mut attributes = Vec::new();
    let mut rdns = SliceReader::new(subject.value())?;
    while !rdns.is_finished() {
        let rdn = AnyRef::decode(&mut rdns)?;
        rdn.tag().assert_eq(Tag::Set)?;
        let mut atvs = SliceReader::new(rdn.value())?;
        while !atvs.is_finished() {
            attributes.push(AttributeTypeAndValue::decode(&mut atvs)?);
        }
    }
    Ok((signed, attributes))
}

impl ParsedCsr {
    /// Verifies the request's signature with the public key it carries:
    /// * sha1WithRSAEncryption (both OIDs), sha256/384/512WithRSAEncryption: RSA PKCS#1 v1.5;
    /// * RSASSA-PSS with SHA-256/384/512 (MGF1 with the same hash, the salt length of the
    ///   parameters);
    /// * ecdsa-with-SHA256/SHA384 with an EC P-256 key (DER `ECDSA-Sig-Value`).
    ///
    /// A signature that does not verify — also one made for an RSA algorithm by an EC key —
    /// is [`CryptoError::SignatureInvalid`]. Any other algorithm, RSASSA-PSS with missing or
    /// other parameters, and ECDSA with a non-EC key are
    /// [`CryptoError::UnsupportedSignatureAlgorithm`]; a key this crate cannot read is the
    /// error of [`PublicKey::from_spki_der`].
    pub fn verify_signature(&self) -> Result<()> {
        let key = PublicKey::from_spki_der(&self.spki_der)?;
        let alg = self.signature_algorithm.as_str();
        let unsupported = |why: &str| {
            CryptoError::UnsupportedSignatureAlgorithm(format!("CSR signed with {alg}{why}"))
        };
        let invalid =
            || CryptoError::SignatureInvalid(format!("the CSR's {alg} signature does not verify"));
        let sig = self.signature.as_bytes().ok_or_else(invalid)?;
        let data = self.signed.as_slice();
        let rsa_key = || match &key {
            PublicKey::Rsa(k) => Ok(k),
            PublicKey::EcP256(_) => Err(invalid()),
        };
        match alg {
            "1.2.840.113549.1.1.5" | "1.3.14.3.2.29" => {
                crate::identity::rsa_pkcs1::<sha1::Sha1>(rsa_key()?, data, sig)
                    .map_err(|_| invalid())
            }
            "1.2.840.113549.1.1.11" => {
                crate::identity::rsa_pkcs1::<Sha256>(rsa_key()?, data, sig).map_err(|_| invalid())
            }
            "1.2.840.113549.1.1.12" => {
                crate::identity::rsa_pkcs1::<Sha384>(rsa_key()?, data, sig).map_err(|_| invalid())
            }
            "1.2.840.113549.1.1.13" => {
                crate::identity::rsa_pkcs1::<Sha512>(rsa_key()?, data, sig).map_err(|_| invalid())
            }
            "1.2.840.113549.1.1.10" => {
                let params = self
                    .algorithm
                    .parameters
                    .as_ref()
                    .ok_or_else(|| unsupported(" without parameters"))?
                    .to_der()
                    .ok()
                    .and_then(|p| rsa::pkcs1::RsaPssParamsOwned::from_der(&p).ok())
                    .ok_or_else(|| unsupported(" with unreadable parameters"))?;
                let salt = usize::from(params.salt_len);
                let ok = match params.hash.oid.to_string().as_str() {
                    "2.16.840.1.101.3.4.2.1" => {
                        crate::identity::rsa_pss::<Sha256>(rsa_key()?, salt, data, sig)
                    }
                    "2.16.840.1.101.3.4.2.2" => {
                        crate::identity::rsa_pss::<Sha384>(rsa_key()?, salt, data, sig)
                    }
                    "2.16.840.1.101.3.4.2.3" => {
                        crate::identity::rsa_pss::<Sha512>(rsa_key()?, salt, data, sig)
                    }
                    other => return Err(unsupported(&format!(" and hash {other}"))),
                };
                ok.map_err(|_| invalid())
            }
            "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" => {
                let PublicKey::EcP256(pk) = &key else {
                    return Err(unsupported(" by a non-EC key"));
                };
                let sig = p256::ecdsa::Signature::from_der(sig).map_err(|_| invalid())?;
                let vk = p256::ecdsa::VerifyingKey::from(pk);
                let res = if alg == "1.2.840.10045.4.3.2" {
                    vk.verify(data, &sig)
                } else {
                    vk.verify_prehash(&Sha384::digest(data), &sig)
                };
                res.map_err(|_| invalid())
            }
            _ => Err(unsupported("")),
        }
    }

    /// The subject attributes in encoding order as `(dotted OID, text)`. Values must be
    /// UTF8String, PrintableString, IA5String or NumericString holding UTF-8; any other value
    /// is [`CryptoError::InvalidCsr`].
    pub fn subject_attributes(&self) -> Result<Vec<(String, String)>> {
        self.subject
            .iter()
            .map(|atv| {
                let oid = atv.oid.to_string();
                let text = match atv.value.tag() {
                    Tag::Utf8String
                    | Tag::PrintableString
                    | Tag::Ia5String
                    | Tag::NumericString => std::str::from_utf8(atv.value.value()).ok(),
                    _ => None,
                }
                .ok_or_else(|| {
                    CryptoError::InvalidCsr(format!(
                        "subject attribute {oid} is a {}, not a text string",
                        atv.value.tag()
                    ))
                })?;
                Ok((oid, text.to_string()))
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn person() -> CsrSubject {
        CsrSubject {
            common_name: "Jan Kowalski".into(),
            country_name: "PL".into(),
            given_name: Some("Jan".into()),
            surname: Some("Kowalski".into()),
            serial_number: Some("TINPL-5265877635".into()),
            ..CsrSubject::default()
        }
    }

    /// The attribute types of these tests, named as rcgen named them.
    #[derive(Debug, Clone, PartialEq, Eq)]
    enum DnType {
        OrganizationName,
        Other(String),
    }

    impl DnType {
        fn from_oid(oid: &str) -> Self {
            match oid {
                "2.5.4.10" => DnType::OrganizationName,
                other => DnType::Other(other.to_string()),
            }
        }
    }

    /// Parses the CSR, verifies its signature and returns its subject attributes in order as
    /// `(DnType, value)` and its SubjectPublicKeyInfo DER.
    fn parse(der: &[u8]) -> (Vec<(DnType, String)>, Vec<u8>) {
        let csr = parse_csr(der).unwrap();
        csr.verify_signature().unwrap();
        let attrs = csr
            .subject_attributes()
            .unwrap()
            .into_iter()
            .map(|(o, v)| (DnType::from_oid(&o), v))
            .collect();
        (attrs, csr.spki_der)
    }

    fn typed(attributes: &[(String, String)]) -> Vec<(DnType, String)> {
        attributes
            .iter()
            .map(|(o, v)| (DnType::from_oid(o), v.clone()))
            .collect()
    }

    #[test]
    fn ec_csr_carries_the_subject_in_order_and_the_new_key() {
        let subject = person();
        let (key, der) = make_csr(&subject, KeyAlgorithm::EcP256).unwrap();
        assert_eq!(key.algorithm().unwrap(), KeyAlgorithm::EcP256);
        let (attrs, spki) = parse(&der);
        let pair = |o: &str, v: &str| (o.to_string(), v.to_string());
        assert_eq!(
            attrs,
            typed(&[
                pair("2.5.4.42", "Jan"),
                pair("2.5.4.4", "Kowalski"),
                pair("2.5.4.5", "TINPL-5265877635"),
                pair("2.5.4.3", "Jan Kowalski"),
                pair("2.5.4.6", "PL"),
            ])
        );
        assert!(key.matches_spki(&spki).unwrap());
        assert!(csr_base64(&der).starts_with("MI"));
    }

    #[test]
    fn rsa_seal_csr_with_polish_letters() {
        let subject = CsrSubject {
            common_name: "Żółta Spółka".into(),
            country_name: "PL".into(),
            organization_name: Some("Żółta Spółka sp. z o.o.".into()),
            organization_identifier: Some("VATPL-5265877635".into()),
            unique_identifier: Some("abc_1@x".into()),
            ..CsrSubject::default()
        };
        let (key, der) = make_csr(&subject, KeyAlgorithm::Rsa2048).unwrap();
        assert_eq!(key.algorithm().unwrap(), KeyAlgorithm::Rsa2048);
        let (attrs, spki) = parse(&der);
        assert_eq!(attrs, typed(&subject.attributes()));
        assert_eq!(attrs[0].0, DnType::OrganizationName);
        assert_eq!(attrs[2].1, "abc_1@x");
        assert!(key.matches_spki(&spki).unwrap());
    }

    #[test]
    fn refuses_other_keys_and_empty_names() {
        assert!(matches!(
            make_csr(&person(), KeyAlgorithm::Rsa3072),
            Err(CryptoError::UnsupportedKeyAlgorithm(_))
        ));
        let mut s = person();
        s.common_name = " ".into();
        assert!(matches!(
            make_csr(&s, KeyAlgorithm::EcP256),
            Err(CryptoError::InvalidSubject(_))
        ));
        let twice = vec![
            ("2.5.4.3".to_string(), "A".to_string()),
            ("2.5.4.3".to_string(), "B".to_string()),
        ];
        let key = PrivateKey::generate(KeyAlgorithm::EcP256).unwrap();
        assert!(csr_for_key(&key, &twice).is_err());
    }
}
