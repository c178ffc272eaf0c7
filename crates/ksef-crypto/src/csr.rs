//! PKCS#10 certificate signing requests for KSeF certificates (digest §14).
//!
//! KSeF issues a certificate only for a CSR whose subject consists of exactly the attributes
//! `GET /certificates/enrollments/data` returned (25003 otherwise), with an RSA-2048 or EC
//! P-256 key (25010) and an allowed signature algorithm (25011). [`make_csr`] generates a
//! fresh key of the chosen algorithm and a CSR signed with it (sha256WithRSAEncryption or
//! ecdsa-with-SHA256) whose subject carries the [`CsrSubject`] attributes, in the order the
//! official client builders use: givenName, surname, serialNumber, organizationName,
//! organizationIdentifier, x500UniqueIdentifier, commonName, countryName. Values are written
//! unchanged; countryName and serialNumber as PrintableString when they fit it (else
//! UTF8String), everything else as UTF8String.
//!
//! The returned private key is the caller's to protect: it never appears in errors or `Debug`.

use rcgen::{CertificateParams, DistinguishedName, DnType, DnValue};

use crate::error::{CryptoError, Result};
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::testcert::{oid, rcgen_key_pair};

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
pub fn csr_for_key(key: &PrivateKey, attributes: &[(String, String)]) -> Result<Vec<u8>> {
    let key_pair = rcgen_key_pair(key)?;
    let mut params = CertificateParams::default();
    params.distinguished_name = subject_name(attributes)?;
    let csr = params
        .serialize_request(&key_pair)
        .map_err(|e| CryptoError::CertificateGeneration(format!("CSR: {e}")))?;
    Ok(csr.der().to_vec())
}

/// A CSR's DER as the Base64 (standard alphabet, padded) that `EnrollCertificateRequest.csr`
/// carries.
pub fn csr_base64(der: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(der)
}

fn subject_name(attributes: &[(String, String)]) -> Result<DistinguishedName> {
    let mut dn = DistinguishedName::new();
    for (o, value) in attributes {
        let arcs = o
            .split('.')
            .map(str::parse::<u64>)
            .collect::<std::result::Result<Vec<u64>, _>>()
            .ok()
            .filter(|a| a.len() >= 2)
            .ok_or_else(|| CryptoError::InvalidSubject(format!("bad OID '{o}'")))?;
        let ty = DnType::from_oid(&arcs);
        if dn.get(&ty).is_some() {
            return Err(CryptoError::InvalidSubject(format!(
                "attribute {o} given twice"
            )));
        }
        let v = if o == oid::COUNTRY_NAME || o == oid::SERIAL_NUMBER {
            match rcgen::string::PrintableString::try_from(value.as_str()) {
                Ok(p) => DnValue::PrintableString(p),
                Err(_) => DnValue::Utf8String(value.clone()),
            }
        } else {
            DnValue::Utf8String(value.clone())
        };
        dn.push(ty, v);
    }
    Ok(dn)
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

    /// Parses the CSR (rcgen verifies its signature) and returns its subject attributes in
    /// order as `(DnType, value)` and its SubjectPublicKeyInfo DER.
    fn parse(der: &[u8]) -> (Vec<(DnType, String)>, Vec<u8>) {
        use der::{Decode, Encode};
        let params =
            rcgen::CertificateSigningRequestParams::from_der(&der.to_vec().into()).unwrap();
        let attrs = params
            .params
            .distinguished_name
            .iter()
            .map(|(t, v)| {
                let v = match v {
                    DnValue::PrintableString(p) => p.as_str().to_string(),
                    DnValue::Utf8String(s) => s.clone(),
                    other => panic!("unexpected value type {other:?}"),
                };
                (t.clone(), v)
            })
            .collect();
        let req = x509_cert::request::CertReq::from_der(der).unwrap();
        (attrs, req.info.public_key.to_der().unwrap())
    }

    fn typed(attributes: &[(String, String)]) -> Vec<(DnType, String)> {
        attributes
            .iter()
            .map(|(o, v)| {
                let arcs: Vec<u64> = o.split('.').map(|a| a.parse().unwrap()).collect();
                (DnType::from_oid(&arcs), v.clone())
            })
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
