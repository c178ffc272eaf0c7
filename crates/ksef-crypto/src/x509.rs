//! Building X.509 certificates and PKCS#10 requests with `x509-cert` (shared by
//! [`crate::testcert`], [`crate::ca`], [`crate::csr`] and [`crate::service`]).
//!
//! What every certificate built here has in common:
//! * version 3, the given serial number, validity as UTCTime up to 2049 and GeneralizedTime
//!   from 2050 on (RFC 5280), whole seconds;
//! * each subject attribute in its own RDN, in the given order;
//! * signed with sha256WithRSAEncryption (RSA PKCS#1 v1.5, NULL parameters) or
//!   ecdsa-with-SHA256 (DER `ECDSA-Sig-Value`), by the issuer's [`PrivateKey`];
//! * the extensions the caller lists, in that order (helpers below: keyUsage critical,
//!   basicConstraints critical, subject/authority key identifiers non-critical, key identifiers
//!   being the first 20 bytes of SHA-256 of the `SubjectPublicKeyInfo` DER).

use std::time::Duration as StdDuration;

use der::asn1::{Any, BitString, OctetString, PrintableStringRef};
use der::oid::ObjectIdentifier;
use der::{Decode, Encode, Tag};
use p256::ecdsa::signature::Signer;
use sha2::{Digest, Sha256};
use spki::{AlgorithmIdentifierOwned, SubjectPublicKeyInfoOwned, SubjectPublicKeyInfoRef};
use time::OffsetDateTime;
use x509_cert::attr::AttributeTypeAndValue;
use x509_cert::builder::profile::BuilderProfile;
use x509_cert::builder::{Builder, CertificateBuilder};
use x509_cert::certificate::TbsCertificate;
use x509_cert::ext::Extension;
use x509_cert::ext::pkix::{AuthorityKeyIdentifier, BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::{Name, RdnSequence, RelativeDistinguishedName};
use x509_cert::serial_number::SerialNumber;
use x509_cert::time::{Time, Validity};

use crate::error::{CryptoError, Result};
use crate::key::PrivateKey;

/// sha256WithRSAEncryption.
const OID_SHA256_WITH_RSA: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.11");
/// ecdsa-with-SHA256.
const OID_ECDSA_WITH_SHA256: ObjectIdentifier = ObjectIdentifier::new_unwrap("1.2.840.10045.4.3.2");
/// keyUsage.
const OID_KEY_USAGE: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.15");
/// basicConstraints.
const OID_BASIC_CONSTRAINTS: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.19");
/// subjectKeyIdentifier.
const OID_SUBJECT_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.14");
/// authorityKeyIdentifier.
const OID_AUTHORITY_KEY_IDENTIFIER: ObjectIdentifier = ObjectIdentifier::new_unwrap("2.5.29.35");
/// countryName.
const OID_COUNTRY_NAME: &str = "2.5.4.6";
/// serialNumber (of the subject).
const OID_SERIAL_NUMBER: &str = "2.5.4.5";

/// How the string type of countryName (2.5.4.6) and serialNumber (2.5.4.5) is chosen; every
/// other attribute is a UTF8String.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Strings {
    /// PrintableString; a value outside its character set is an error (test certificates).
    Printable,
    /// PrintableString when the value fits it, else UTF8String (CSRs and what KSeF issues).
    PrintableIfPossible,
}

/// A `Name` from `(dotted OID, value)` pairs, one RDN each, in order. A malformed OID, an
/// attribute given twice or (with [`Strings::Printable`]) a value that is not printable is
/// [`CryptoError::InvalidSubject`].
pub(crate) fn name(attributes: &[(String, String)], strings: Strings) -> Result<Name> {
    let mut rdns = RdnSequence::default();
    let mut seen: Vec<ObjectIdentifier> = Vec::with_capacity(attributes.len());
    for (oid, value) in attributes {
        let bad_oid = || CryptoError::InvalidSubject(format!("bad OID '{oid}'"));
        // At least two numeric arcs; const-oid checks the rest (first arc 0–2 etc.).
        if oid.split('.').count() < 2 || !oid.split('.').all(|a| a.parse::<u64>().is_ok()) {
            return Err(bad_oid());
        }
        let type_oid = ObjectIdentifier::new(oid).map_err(|_| bad_oid())?;
        if seen.contains(&type_oid) {
            return Err(CryptoError::InvalidSubject(format!(
                "attribute {oid} given twice"
            )));
        }
        seen.push(type_oid);
        let printable = (oid == OID_COUNTRY_NAME || oid == OID_SERIAL_NUMBER)
            && match strings {
                Strings::Printable => {
                    PrintableStringRef::new(value).map_err(|_| {
                        CryptoError::InvalidSubject(format!(
                            "value of {oid} must be a PrintableString: '{value}'"
                        ))
                    })?;
                    true
                }
                Strings::PrintableIfPossible => PrintableStringRef::new(value).is_ok(),
            };
        let tag = if printable {
            Tag::PrintableString
        } else {
            Tag::Utf8String
        };
        let value = Any::new(tag, value.as_bytes())
            .map_err(|e| CryptoError::InvalidSubject(format!("value of {oid}: {e}")))?;
        let rdn = RelativeDistinguishedName::try_from(vec![AttributeTypeAndValue {
            oid: type_oid,
            value,
        }])
        .map_err(|e| CryptoError::InvalidSubject(format!("attribute {oid}: {e}")))?;
        rdns.push(rdn);
    }
    // `Name` is built from its DER: its inner sequence is only settable under `hazmat`.
    let der = rdns
        .to_der()
        .map_err(|e| CryptoError::InvalidSubject(format!("encoding the name: {e}")))?;
    Name::from_der(&der).map_err(|e| CryptoError::InvalidSubject(format!("the name: {e}")))
}

/// A key identifier: the first 20 bytes of SHA-256 of the `SubjectPublicKeyInfo` DER.
pub(crate) fn key_identifier(spki_der: &[u8]) -> Vec<u8> {
    Sha256::digest(spki_der)[..20].to_vec()
}

fn extension(oid: ObjectIdentifier, critical: bool, value: &impl Encode) -> Result<Extension> {
    let der = value
        .to_der()
        .map_err(|e| CryptoError::CertificateGeneration(format!("extension {oid}: {e}")))?;
    Ok(Extension {
        extn_id: oid,
        critical,
        extn_value: OctetString::new(der)
            .map_err(|e| CryptoError::CertificateGeneration(format!("extension {oid}: {e}")))?,
    })
}

/// keyUsage (critical) with these bits.
pub(crate) fn key_usage(bits: &[KeyUsages]) -> Result<Extension> {
    let mut usage = KeyUsage(Default::default());
    for b in bits {
        usage.0 |= *b;
    }
    extension(OID_KEY_USAGE, true, &usage)
}

/// basicConstraints (critical): `CA:TRUE` with a path length constraint, or `CA:FALSE` (an
/// empty sequence).
pub(crate) fn basic_constraints(ca: bool, path_len: Option<u8>) -> Result<Extension> {
    extension(
        OID_BASIC_CONSTRAINTS,
        true,
        &BasicConstraints {
            ca,
            path_len_constraint: path_len,
        },
    )
}

/// subjectKeyIdentifier (non-critical) of this `SubjectPublicKeyInfo` DER.
pub(crate) fn subject_key_identifier(spki_der: &[u8]) -> Result<Extension> {
    let id = OctetString::new(key_identifier(spki_der))
        .map_err(|e| CryptoError::CertificateGeneration(format!("key identifier: {e}")))?;
    extension(OID_SUBJECT_KEY_IDENTIFIER, false, &id)
}

/// authorityKeyIdentifier (non-critical) with only the keyIdentifier field.
pub(crate) fn authority_key_identifier(key_id: &[u8]) -> Result<Extension> {
    let id = OctetString::new(key_id)
        .map_err(|e| CryptoError::CertificateGeneration(format!("key identifier: {e}")))?;
    extension(
        OID_AUTHORITY_KEY_IDENTIFIER,
        false,
        &AuthorityKeyIdentifier {
            key_identifier: Some(id),
            authority_cert_issuer: None,
            authority_cert_serial_number: None,
        },
    )
}

/// The key identifier an issuer's certificate gives its key: its subjectKeyIdentifier if it
/// has one, else [`key_identifier`] of its public key.
pub(crate) fn issuer_key_identifier(issuer: &x509_cert::Certificate) -> Result<Vec<u8>> {
    let tbs = issuer.tbs_certificate();
    let ski = tbs
        .get_extension::<x509_cert::ext::pkix::SubjectKeyIdentifier>()
        .map_err(|e| CryptoError::InvalidCertificate(format!("subjectKeyIdentifier: {e}")))?;
    if let Some((_, ski)) = ski {
        return Ok(ski.0.as_bytes().to_vec());
    }
    let spki = tbs
        .subject_public_key_info()
        .to_der()
        .map_err(|e| CryptoError::InvalidCertificate(format!("SPKI: {e}")))?;
    Ok(key_identifier(&spki))
}

/// A certificate's time: UTCTime before 2050, GeneralizedTime from then on.
fn time(t: OffsetDateTime) -> Result<Time> {
    let secs = u64::try_from(t.unix_timestamp())
        .map_err(|_| CryptoError::CertificateGeneration(format!("time {t} is before 1970")))?;
    let dt = der::DateTime::from_unix_duration(StdDuration::from_secs(secs))
        .map_err(|e| CryptoError::CertificateGeneration(format!("time {t}: {e}")))?;
    Ok(Time::from(dt))
}

/// Everything of a certificate but its signature.
pub(crate) struct CertificateSpec {
    pub subject: Name,
    pub issuer: Name,
    pub spki_der: Vec<u8>,
    pub serial: Vec<u8>,
    pub not_before: OffsetDateTime,
    pub not_after: OffsetDateTime,
    pub extensions: Vec<Extension>,
}

/// The `x509-cert` builder profile: exactly the given names and extensions.
struct Fixed {
    subject: Name,
    issuer: Name,
    extensions: Vec<Extension>,
}

impl BuilderProfile for Fixed {
    fn get_issuer(&self, _subject: &Name) -> Name {
        self.issuer.clone()
    }

    fn get_subject(&self) -> Name {
        self.subject.clone()
    }

    fn build_extensions(
        &self,
        _spk: SubjectPublicKeyInfoRef<'_>,
        _issuer_spk: SubjectPublicKeyInfoRef<'_>,
        _tbs: &TbsCertificate,
    ) -> x509_cert::builder::Result<Vec<Extension>> {
        Ok(self.extensions.clone())
    }
}

/// The certificate (DER) described by `spec`, signed by `issuer_key`.
pub(crate) fn certificate(spec: CertificateSpec, issuer_key: &PrivateKey) -> Result<Vec<u8>> {
    let gen_err = |e: &dyn std::fmt::Display| CryptoError::CertificateGeneration(e.to_string());
    let spki = SubjectPublicKeyInfoOwned::from_der(&spec.spki_der)
        .map_err(|e| CryptoError::InvalidPublicKey(format!("not a SubjectPublicKeyInfo: {e}")))?;
    let serial = SerialNumber::new(&spec.serial).map_err(|e| gen_err(&e))?;
    let validity = Validity::new(time(spec.not_before)?, time(spec.not_after)?);
    let profile = Fixed {
        subject: spec.subject,
        issuer: spec.issuer,
        extensions: spec.extensions,
    };
    let builder =
        CertificateBuilder::new(profile, serial, validity, spki).map_err(|e| gen_err(&e))?;
    let cert = match issuer_key {
        PrivateKey::Rsa(k) => {
            let signer = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.clone());
            builder.build::<_, rsa::pkcs1v15::Signature>(&signer)
        }
        PrivateKey::EcP256(k) => {
            let signer = p256::ecdsa::SigningKey::from(k);
            builder.build::<_, p256::ecdsa::DerSignature>(&signer)
        }
    }
    .map_err(|e| gen_err(&e))?;
    cert.to_der().map_err(|e| gen_err(&e))
}

/// Signs `data` for an X.509 structure: the signature algorithm (sha256WithRSAEncryption with
/// NULL parameters, or ecdsa-with-SHA256 without) and the signature BIT STRING (PKCS#1 v1.5,
/// or a DER `ECDSA-Sig-Value`).
pub(crate) fn sign(key: &PrivateKey, data: &[u8]) -> Result<(AlgorithmIdentifierOwned, BitString)> {
    let (oid, parameters, signature) = match key {
        PrivateKey::Rsa(_) => (
            OID_SHA256_WITH_RSA,
            Some(Any::null()),
            crate::key::sign_raw(key, data)?,
        ),
        PrivateKey::EcP256(k) => {
            let signer = p256::ecdsa::SigningKey::from(k);
            let sig: p256::ecdsa::DerSignature = signer
                .try_sign(data)
                .map_err(|e| CryptoError::SigningFailed(format!("ECDSA P-256: {e}")))?;
            (OID_ECDSA_WITH_SHA256, None, sig.as_bytes().to_vec())
        }
    };
    let signature = BitString::from_bytes(&signature)
        .map_err(|e| CryptoError::SigningFailed(format!("signature BIT STRING: {e}")))?;
    Ok((AlgorithmIdentifierOwned { oid, parameters }, signature))
}
