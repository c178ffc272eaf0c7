//! Self-signed test certificates as KSeF TEST accepts them (digest §5.2).
//!
//! Subject attributes are written in the order the official client builders use:
//! * person: `2.5.4.42` givenName, `2.5.4.4` surname, `2.5.4.5` serialNumber
//!   (`TINPL-<NIP>` or `PNOPL-<PESEL>`), `2.5.4.3` commonName, `2.5.4.6` countryName=PL;
//! * seal: `2.5.4.10` organizationName, `2.5.4.97` organizationIdentifier (`VATPL-<NIP>`),
//!   `2.5.4.3` commonName, `2.5.4.6` countryName=PL.
//!
//! The two attribute sets are never mixed (KSeF rejects seals with givenName/surname).
//! Validity is now−61 min … now+2 years; the signature is sha256WithRSAEncryption
//! (RSA PKCS#1 v1.5) or ecdsa-with-SHA256; the serial is a random positive 127-bit number.

use ksef_core::{Nip, Pesel};
use time::{Duration, OffsetDateTime};
use x509_cert::ext::pkix::KeyUsages;
use x509_cert::name::Name;

use crate::credential::Credential;
use crate::error::Result;
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::x509::{self, CertificateSpec, Strings};

/// Dotted OIDs of the subject attributes used here.
pub mod oid {
    /// givenName
    pub const GIVEN_NAME: &str = "2.5.4.42";
    /// surname
    pub const SURNAME: &str = "2.5.4.4";
    /// serialNumber (of the subject, not of the certificate)
    pub const SERIAL_NUMBER: &str = "2.5.4.5";
    /// commonName
    pub const COMMON_NAME: &str = "2.5.4.3";
    /// countryName
    pub const COUNTRY_NAME: &str = "2.5.4.6";
    /// organizationName
    pub const ORGANIZATION_NAME: &str = "2.5.4.10";
    /// organizationIdentifier
    pub const ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";
}

/// Who the test certificate identifies.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TestSubject {
    /// Natural person identified by NIP (`serialNumber=TINPL-<nip>`).
    PersonNip {
        /// The person's NIP.
        nip: Nip,
        /// givenName
        given_name: String,
        /// surname
        surname: String,
        /// commonName
        common_name: String,
    },
    /// Natural person identified by PESEL (`serialNumber=PNOPL-<pesel>`).
    PersonPesel {
        /// The person's PESEL.
        pesel: Pesel,
        /// givenName
        given_name: String,
        /// surname
        surname: String,
        /// commonName
        common_name: String,
    },
    /// Organisation seal (`organizationIdentifier=VATPL-<nip>`).
    Seal {
        /// The organisation's NIP.
        nip: Nip,
        /// organizationName
        organization_name: String,
        /// commonName
        common_name: String,
    },
    /// No NIP/PESEL (subject `CN=<common_name>, C=PL`): usable only in
    /// `certificateFingerprint` mode.
    Fingerprint {
        /// commonName
        common_name: String,
    },
    /// Arbitrary subject attributes in the given order, as `(dotted OID, value)` pairs —
    /// for negative tests (e.g. a 10-digit "PESEL", a seal with givenName).
    /// `2.5.4.6` and `2.5.4.5` are written as PrintableString, everything else as UTF8String.
    Custom {
        /// `(dotted OID, value)` pairs, in RDN order.
        attributes: Vec<(String, String)>,
    },
}

impl TestSubject {
    /// Person with NIP; CN defaults to "`<given> <surname>`".
    pub fn person_nip(nip: Nip, given_name: &str, surname: &str) -> Self {
        TestSubject::PersonNip {
            nip,
            given_name: given_name.into(),
            surname: surname.into(),
            common_name: format!("{given_name} {surname}"),
        }
    }

    /// Person with PESEL; CN defaults to "`<given> <surname>`".
    pub fn person_pesel(pesel: Pesel, given_name: &str, surname: &str) -> Self {
        TestSubject::PersonPesel {
            pesel,
            given_name: given_name.into(),
            surname: surname.into(),
            common_name: format!("{given_name} {surname}"),
        }
    }

    /// Seal; CN defaults to the organisation name.
    pub fn seal(nip: Nip, organization_name: &str) -> Self {
        TestSubject::Seal {
            nip,
            organization_name: organization_name.into(),
            common_name: organization_name.into(),
        }
    }

    /// The subject attributes, in RDN order, as `(dotted OID, value)`.
    pub fn attributes(&self) -> Vec<(String, String)> {
        let a = |o: &str, v: &str| (o.to_string(), v.to_string());
        match self {
            TestSubject::PersonNip {
                nip,
                given_name,
                surname,
                common_name,
            } => vec![
                a(oid::GIVEN_NAME, given_name),
                a(oid::SURNAME, surname),
                a(oid::SERIAL_NUMBER, &format!("TINPL-{}", nip.as_str())),
                a(oid::COMMON_NAME, common_name),
                a(oid::COUNTRY_NAME, "PL"),
            ],
            TestSubject::PersonPesel {
                pesel,
                given_name,
                surname,
                common_name,
            } => vec![
                a(oid::GIVEN_NAME, given_name),
                a(oid::SURNAME, surname),
                a(oid::SERIAL_NUMBER, &format!("PNOPL-{}", pesel.as_str())),
                a(oid::COMMON_NAME, common_name),
                a(oid::COUNTRY_NAME, "PL"),
            ],
            TestSubject::Seal {
                nip,
                organization_name,
                common_name,
            } => vec![
                a(oid::ORGANIZATION_NAME, organization_name),
                a(
                    oid::ORGANIZATION_IDENTIFIER,
                    &format!("VATPL-{}", nip.as_str()),
                ),
                a(oid::COMMON_NAME, common_name),
                a(oid::COUNTRY_NAME, "PL"),
            ],
            TestSubject::Fingerprint { common_name } => {
                vec![a(oid::COMMON_NAME, common_name), a(oid::COUNTRY_NAME, "PL")]
            }
            TestSubject::Custom { attributes } => attributes.clone(),
        }
    }
}

/// Create a fresh key of `algorithm` and a self-signed certificate for `subject`.
pub fn make_test_certificate(subject: &TestSubject, algorithm: KeyAlgorithm) -> Result<Credential> {
    let now = OffsetDateTime::now_utc();
    make_test_certificate_with_validity(
        subject,
        algorithm,
        now - Duration::minutes(61),
        add_years(now, 2),
    )
}

/// [`make_test_certificate`] with an explicit validity window (e.g. for expired-certificate
/// tests).
pub fn make_test_certificate_with_validity(
    subject: &TestSubject,
    algorithm: KeyAlgorithm,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
) -> Result<Credential> {
    let key = PrivateKey::generate(algorithm)?;
    let dn = distinguished_name(&subject.attributes())?;
    let der = self_signed_der(&key, dn, not_before, not_after, false)?;
    Credential::new(key, der, Vec::new())
}

/// Build a self-signed certificate for `key` (shared with [`crate::service`]): keyUsage
/// (critical) digitalSignature and nonRepudiation, plus keyEncipherment if asked; no other
/// extension.
pub(crate) fn self_signed_der(
    key: &PrivateKey,
    dn: Name,
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    key_encipherment: bool,
) -> Result<Vec<u8>> {
    let mut usages = vec![KeyUsages::DigitalSignature, KeyUsages::NonRepudiation];
    if key_encipherment {
        usages.push(KeyUsages::KeyEncipherment);
    }
    x509::certificate(
        CertificateSpec {
            issuer: dn.clone(),
            subject: dn,
            spki_der: key.public_key_spki_der()?,
            serial: random_serial().to_vec(),
            not_before: truncate_to_seconds(not_before),
            not_after: truncate_to_seconds(not_after),
            extensions: vec![x509::key_usage(&usages)?],
        },
        key,
    )
}

/// A `Name` from `(dotted OID, value)` pairs, in order: countryName (2.5.4.6) and
/// serialNumber (2.5.4.5) as PrintableString (a value outside its character set is
/// [`crate::CryptoError::InvalidSubject`]), everything else as UTF8String.
pub(crate) fn distinguished_name(attributes: &[(String, String)]) -> Result<Name> {
    x509::name(attributes, Strings::Printable)
}

/// 16 random bytes, positive (top bit clear) and with a non-zero first byte.
pub(crate) fn random_serial() -> [u8; 16] {
    use rand::Rng as _;
    let mut s = [0u8; 16];
    rand::rng().fill_bytes(&mut s);
    s[0] = (s[0] & 0x7f).max(1);
    s
}

pub(crate) fn truncate_to_seconds(t: OffsetDateTime) -> OffsetDateTime {
    t.replace_nanosecond(0).unwrap_or(t)
}

/// `t` plus `years` calendar years (29 Feb → 28 Feb).
pub(crate) fn add_years(t: OffsetDateTime, years: i32) -> OffsetDateTime {
    let y = t.year() + years;
    t.replace_year(y)
        .or_else(|_| t.replace_day(28).and_then(|d| d.replace_year(y)))
        .unwrap_or(t + Duration::days(365 * i64::from(years)))
}
