//! A minimal certificate authority: self-signed CA certificates and end-entity certificates
//! issued by them.
//!
//! Used by the emulator's simulated Profil Zaufany signing service (a local "trusted profile"
//! CA that issues short-lived person certificates) and by tests that need certificates with a
//! real chain (e.g. `verifyCertificateChain=true`, `TrustPolicy::TrustedCas`).
//!
//! * CA certificate: keyUsage `keyCertSign, cRLSign, digitalSignature` (critical), a
//!   subjectKeyIdentifier, basicConstraints `CA:TRUE, pathlen:0` (critical);
//! * issued certificate: the subject attributes of a [`TestSubject`] (same rules as
//!   [`crate::testcert`]), an authorityKeyIdentifier pointing at the CA key, keyUsage
//!   `digitalSignature, nonRepudiation` (critical), a subjectKeyIdentifier, basicConstraints
//!   `CA:FALSE` (critical), signed with sha256WithRSAEncryption (RSA CA) or ecdsa-with-SHA256
//!   (EC P-256 CA). [`issue_for_public_key`] issues the same kind of certificate for a public
//!   key the caller has (e.g. from a CSR) with the keyUsage it chooses.
//!
//! Key identifiers are the first 20 bytes of SHA-256 of the `SubjectPublicKeyInfo` DER. The
//! returned [`Credential`]s carry the CA certificate (and the CA's own chain) in
//! [`Credential::chain_der`].

use der::Decode;
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints, KeyUsage, KeyUsages};
use x509_cert::name::Name;

use crate::credential::Credential;
use crate::error::{CryptoError, Result};
use crate::identity::inspect_certificate;
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::testcert::{TestSubject, distinguished_name, oid, random_serial, truncate_to_seconds};
use crate::x509::{self, CertificateSpec, Strings};

/// Default lifetime of a CA made by [`make_ca`]: 10 years.
pub const DEFAULT_CA_LIFETIME_DAYS: i64 = 10 * 365;

/// A certificate's validity window (`notBefore` … `notAfter`, whole seconds).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Validity {
    /// Start of validity.
    pub not_before: OffsetDateTime,
    /// End of validity.
    pub not_after: OffsetDateTime,
}

impl Validity {
    /// An explicit window; fails unless `not_before < not_after`.
    pub fn new(not_before: OffsetDateTime, not_after: OffsetDateTime) -> Result<Self> {
        let v = Validity {
            not_before: truncate_to_seconds(not_before),
            not_after: truncate_to_seconds(not_after),
        };
        if v.not_before >= v.not_after {
            return Err(CryptoError::CertificateGeneration(format!(
                "validity window is empty: notBefore {} is not before notAfter {}",
                v.not_before, v.not_after
            )));
        }
        Ok(v)
    }

    /// From one minute ago (clock skew) until `lifetime` from now.
    pub fn from_now(lifetime: Duration) -> Result<Self> {
        let now = OffsetDateTime::now_utc();
        Self::new(now - Duration::minutes(1), now + lifetime)
    }

    /// Whether `other` lies entirely within this window.
    pub fn contains(&self, other: &Validity) -> bool {
        self.not_before <= other.not_before && other.not_after <= self.not_after
    }
}

/// A fresh key of `algorithm` and a self-signed CA certificate `CN=<common_name>, C=PL`,
/// valid from one minute ago for [`DEFAULT_CA_LIFETIME_DAYS`].
pub fn make_ca(common_name: &str, algorithm: KeyAlgorithm) -> Result<Credential> {
    let attributes = [
        (oid::COMMON_NAME.to_string(), common_name.to_string()),
        (oid::COUNTRY_NAME.to_string(), "PL".to_string()),
    ];
    make_ca_with(
        &attributes,
        algorithm,
        Validity::from_now(Duration::days(DEFAULT_CA_LIFETIME_DAYS))?,
    )
}

/// A fresh key of `algorithm` and a self-signed CA certificate with the given subject
/// attributes (`(dotted OID, value)` in RDN order; `2.5.4.6` and `2.5.4.5` are written as
/// PrintableString, everything else as UTF8String) and validity.
pub fn make_ca_with(
    subject_attributes: &[(String, String)],
    algorithm: KeyAlgorithm,
    validity: Validity,
) -> Result<Credential> {
    if subject_attributes.is_empty() {
        return Err(CryptoError::InvalidSubject(
            "a CA certificate needs at least one subject attribute".into(),
        ));
    }
    let key = PrivateKey::generate(algorithm)?;
    let dn = distinguished_name(subject_attributes)?;
    let spki_der = key.public_key_spki_der()?;
    let der = x509::certificate(
        CertificateSpec {
            issuer: dn.clone(),
            subject: dn,
            serial: random_serial().to_vec(),
            not_before: validity.not_before,
            not_after: validity.not_after,
            extensions: vec![
                x509::key_usage(&[
                    KeyUsages::KeyCertSign,
                    KeyUsages::CRLSign,
                    KeyUsages::DigitalSignature,
                ])?,
                x509::subject_key_identifier(&spki_der)?,
                // pathlen 0: this CA issues end-entity certificates only.
                x509::basic_constraints(true, Some(0))?,
            ],
            spki_der,
        },
        &key,
    )?;
    Credential::new(key, der, Vec::new())
}

/// Whether the certificate may issue certificates: basicConstraints `CA:TRUE` and, if a
/// keyUsage extension is present, `keyCertSign` in it.
pub fn is_ca_certificate(cert_der: &[u8]) -> Result<bool> {
    let cert = Certificate::from_der(cert_der)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let bc = tbs
        .get_extension::<BasicConstraints>()
        .map_err(|e| CryptoError::InvalidCertificate(format!("basicConstraints: {e}")))?;
    let ku = tbs
        .get_extension::<KeyUsage>()
        .map_err(|e| CryptoError::InvalidCertificate(format!("keyUsage: {e}")))?;
    let ca = bc.is_some_and(|(_, bc)| bc.ca);
    let may_sign_certs = ku.is_none_or(|(_, ku)| ku.key_cert_sign());
    Ok(ca && may_sign_certs)
}

/// A fresh key of `algorithm` and a certificate for `subject` issued (signed) by `ca`.
///
/// Fails if `ca`'s certificate is not a CA certificate ([`is_ca_certificate`]) or if
/// `validity` reaches outside the CA certificate's own validity. The returned credential's
/// chain is the CA certificate followed by the CA's chain.
pub fn issue_certificate(
    ca: &Credential,
    subject: &TestSubject,
    algorithm: KeyAlgorithm,
    validity: Validity,
) -> Result<Credential> {
    if !is_ca_certificate(&ca.certificate_der)? {
        return Err(CryptoError::NotCertificateAuthority(
            "basicConstraints CA:TRUE (and keyCertSign, if keyUsage is present) is required".into(),
        ));
    }
    let ca_info = inspect_certificate(&ca.certificate_der)?;
    let ca_validity = Validity {
        not_before: ca_info.not_before,
        not_after: ca_info.not_after,
    };
    if !ca_validity.contains(&validity) {
        return Err(CryptoError::CertificateGeneration(format!(
            "the requested validity {} … {} is outside the CA certificate's validity {} … {}",
            validity.not_before, validity.not_after, ca_info.not_before, ca_info.not_after
        )));
    }

    let key = PrivateKey::generate(algorithm)?;
    let der = issue(
        ca,
        distinguished_name(&subject.attributes())?,
        &key.public_key_spki_der()?,
        &[KeyUsages::DigitalSignature, KeyUsages::NonRepudiation],
        validity,
        &random_serial(),
    )?;

    let mut chain = Vec::with_capacity(1 + ca.chain_der.len());
    chain.push(ca.certificate_der.clone());
    chain.extend(ca.chain_der.iter().cloned());
    Credential::new(key, der, chain)
}

/// What a certificate issued by [`issue_for_public_key`] may be used for (its keyUsage).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum IssuedKeyUsage {
    /// digitalSignature only (e.g. a KSeF `Authentication` certificate).
    DigitalSignature,
    /// nonRepudiation only (e.g. a KSeF `Offline` certificate).
    NonRepudiation,
    /// digitalSignature and nonRepudiation (what [`issue_certificate`] gives).
    DigitalSignatureAndNonRepudiation,
}

/// A certificate (DER) for somebody else's public key — e.g. the key of a checked PKCS#10
/// request — issued (signed) by `ca`.
///
/// * subject: `subject_attributes` as `(dotted OID, value)` in RDN order, one RDN each;
///   countryName (2.5.4.6) and serialNumber (2.5.4.5) as PrintableString when the value fits
///   it, else UTF8String, everything else as UTF8String (as [`crate::csr`] writes them);
/// * issuer: the CA certificate's subject, byte for byte;
/// * `spki_der`: the `SubjectPublicKeyInfo` DER, written unchanged;
/// * `serial`: a positive big-endian integer of at most 20 bytes;
/// * extensions: authorityKeyIdentifier (the CA's subjectKeyIdentifier, or SHA-256 of its key),
///   keyUsage (critical) per `usage`, subjectKeyIdentifier, basicConstraints `CA:FALSE`
///   (critical); signed like [`issue_certificate`].
///
/// Unlike [`issue_certificate`] it does not check that `ca` is a CA nor that `validity` lies
/// within the CA's: the caller decides.
pub fn issue_for_public_key(
    ca: &Credential,
    subject_attributes: &[(String, String)],
    spki_der: &[u8],
    usage: IssuedKeyUsage,
    validity: Validity,
    serial: &[u8],
) -> Result<Vec<u8>> {
    let usages: &[KeyUsages] = match usage {
        IssuedKeyUsage::DigitalSignature => &[KeyUsages::DigitalSignature],
        IssuedKeyUsage::NonRepudiation => &[KeyUsages::NonRepudiation],
        IssuedKeyUsage::DigitalSignatureAndNonRepudiation => {
            &[KeyUsages::DigitalSignature, KeyUsages::NonRepudiation]
        }
    };
    issue(
        ca,
        x509::name(subject_attributes, Strings::PrintableIfPossible)?,
        spki_der,
        usages,
        validity,
        serial,
    )
}

/// An end-entity certificate for `spki_der` signed by `ca` (see [`issue_for_public_key`]).
fn issue(
    ca: &Credential,
    subject: Name,
    spki_der: &[u8],
    usages: &[KeyUsages],
    validity: Validity,
    serial: &[u8],
) -> Result<Vec<u8>> {
    let ca_cert = Certificate::from_der(&ca.certificate_der)
        .map_err(|e| CryptoError::InvalidCertificate(format!("the CA certificate: {e}")))?;
    let extensions = vec![
        x509::authority_key_identifier(&x509::issuer_key_identifier(&ca_cert)?)?,
        x509::key_usage(usages)?,
        x509::subject_key_identifier(spki_der)?,
        x509::basic_constraints(false, None)?,
    ];
    x509::certificate(
        CertificateSpec {
            subject,
            issuer: ca_cert.tbs_certificate().subject().clone(),
            spki_der: spki_der.to_vec(),
            serial: serial.to_vec(),
            not_before: validity.not_before,
            not_after: validity.not_after,
            extensions,
        },
        &ca.key,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_validity_is_refused() {
        let now = OffsetDateTime::now_utc();
        assert!(Validity::new(now, now).is_err());
        assert!(Validity::new(now, now - Duration::seconds(5)).is_err());
        assert!(Validity::new(now, now + Duration::seconds(5)).is_ok());
    }

    #[test]
    fn contains_is_inclusive() {
        let now = OffsetDateTime::now_utc();
        let outer = Validity::new(now, now + Duration::hours(2)).unwrap();
        let inner = Validity::new(now, now + Duration::hours(1)).unwrap();
        assert!(outer.contains(&inner));
        assert!(outer.contains(&outer));
        assert!(!inner.contains(&outer));
    }
}
