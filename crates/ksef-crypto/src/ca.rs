//! A minimal certificate authority: self-signed CA certificates and end-entity certificates
//! issued by them.
//!
//! Used by the emulator's simulated Profil Zaufany signing service (a local "trusted profile"
//! CA that issues short-lived person certificates) and by tests that need certificates with a
//! real chain (e.g. `verifyCertificateChain=true`, `TrustPolicy::TrustedCas`).
//!
//! * CA certificate: basicConstraints `CA:TRUE, pathlen:0` (critical), keyUsage
//!   `keyCertSign, cRLSign, digitalSignature`, a subjectKeyIdentifier;
//! * issued certificate: the subject attributes of a [`TestSubject`] (same rules as
//!   [`crate::testcert`]), basicConstraints `CA:FALSE`, keyUsage `digitalSignature,
//!   nonRepudiation`, an authorityKeyIdentifier pointing at the CA key, signed with
//!   sha256WithRSAEncryption (RSA CA) or ecdsa-with-SHA256 (EC P-256 CA).
//!
//! The returned [`Credential`]s carry the CA certificate (and the CA's own chain) in
//! [`Credential::chain_der`].

use der::Decode;
use rcgen::{BasicConstraints, CertificateParams, IsCa, Issuer, KeyUsagePurpose, SerialNumber};
use time::{Duration, OffsetDateTime};
use x509_cert::Certificate;
use x509_cert::ext::pkix::{BasicConstraints as X509BasicConstraints, KeyUsage};

use crate::credential::Credential;
use crate::error::{CryptoError, Result};
use crate::identity::inspect_certificate;
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::testcert::{
    TestSubject, distinguished_name, oid, random_serial, rcgen_key_pair, truncate_to_seconds,
};

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
    let key_pair = rcgen_key_pair(&key)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(subject_attributes)?;
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    // pathlen 0: this CA issues end-entity certificates only.
    params.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    params.key_usages = vec![
        KeyUsagePurpose::KeyCertSign,
        KeyUsagePurpose::CrlSign,
        KeyUsagePurpose::DigitalSignature,
    ];
    let cert = params
        .self_signed(&key_pair)
        .map_err(|e| CryptoError::CertificateGeneration(e.to_string()))?;
    Credential::new(key, cert.der().to_vec(), Vec::new())
}

/// Whether the certificate may issue certificates: basicConstraints `CA:TRUE` and, if a
/// keyUsage extension is present, `keyCertSign` in it.
pub fn is_ca_certificate(cert_der: &[u8]) -> Result<bool> {
    let cert = Certificate::from_der(cert_der)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    let tbs = cert.tbs_certificate();
    let bc = tbs
        .get_extension::<X509BasicConstraints>()
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

    let ca_key_pair = rcgen_key_pair(&ca.key)?;
    let issuer = Issuer::from_ca_cert_der(&ca.certificate_der.as_slice().into(), ca_key_pair)
        .map_err(|e| CryptoError::CertificateGeneration(format!("reading the CA: {e}")))?;

    let key = PrivateKey::generate(algorithm)?;
    let key_pair = rcgen_key_pair(&key)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = distinguished_name(&subject.attributes())?;
    params.not_before = validity.not_before;
    params.not_after = validity.not_after;
    params.serial_number = Some(SerialNumber::from_slice(&random_serial()));
    params.is_ca = IsCa::ExplicitNoCa;
    params.key_usages = vec![
        KeyUsagePurpose::DigitalSignature,
        KeyUsagePurpose::ContentCommitment,
    ];
    params.use_authority_key_identifier_extension = true;
    let cert = params
        .signed_by(&key_pair, &issuer)
        .map_err(|e| CryptoError::CertificateGeneration(e.to_string()))?;

    let mut chain = Vec::with_capacity(1 + ca.chain_der.len());
    chain.push(ca.certificate_der.clone());
    chain.extend(ca.chain_der.iter().cloned());
    Credential::new(key, cert.der().to_vec(), chain)
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
