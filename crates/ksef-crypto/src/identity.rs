//! Who a certificate identifies (digest §4.5) and basic certificate checks.
//!
//! Rules implemented by [`inspect_certificate`]:
//! * **person** = the subject has both givenName (2.5.4.42) and surname (2.5.4.4). Its
//!   serialNumber (2.5.4.5) yields a PESEL if it matches `(PNOPL|PESEL).*?(\d{11})`,
//!   otherwise a NIP if it matches `(TINPL|NIP).*?(\d{10})`;
//! * **seal** = not a person and has organizationIdentifier (2.5.4.97); a NIP comes from
//!   `(VATPL).*?(\d{10})`;
//! * **other** = anything else (usable only in `certificateFingerprint` mode).
//!
//! Checksums are validated with `ksef_core::{Nip, Pesel}`; a recognised but invalid
//! identifier gives `None` and an explanation in `identifier_problem`. A person certificate
//! that also carries organizationIdentifier is flagged too (KSeF keeps the two attribute
//! sets apart).
//!
//! Distinguished names are rendered RFC 4514 style (last RDN first, `", "` between RDNs,
//! `+` inside multi-valued RDNs, RFC 4514 escaping) with these short names:
//! `CN O OU C L ST STREET SN`(surname) `GN`(givenName) `SERIALNUMBER E DC UID T`.
//! Other attribute types are written as dotted OIDs (e.g. `2.5.4.97=VATPL-…`); their value
//! is shown as text when it is a string type and as `#<hex DER>` otherwise.

use std::fmt::Write as _;

use der::asn1::AnyRef;
use der::oid::ObjectIdentifier;
use der::{Decode, Encode, SliceReader, Tag, Tagged};
use ksef_core::{Nip, Pesel};
use p256::ecdsa::signature::Verifier;
use p256::ecdsa::signature::hazmat::PrehashVerifier;
use sha2::{Digest, Sha256, Sha384, Sha512};
use time::OffsetDateTime;
use x509_cert::Certificate;
use x509_cert::name::Name;

use crate::error::{CryptoError, Result};
use crate::key::{KeyAlgorithm, OID_EC_PUBLIC_KEY, OID_RSA_ENCRYPTION, PublicKey, curve_name};
use crate::sha256_fingerprint_hex;

/// What kind of subject a certificate describes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum CertificateKind {
    /// Natural person (givenName + surname present).
    Person,
    /// Organisation seal (organizationIdentifier present, no givenName/surname).
    Seal,
    /// Neither.
    Other,
}

/// What [`inspect_certificate`] found in a certificate.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CertificateInfo {
    /// Subject DN (see the module docs for the format).
    pub subject_dn: String,
    /// Issuer DN (same format).
    pub issuer_dn: String,
    /// Subject attributes in encoding order as `(dotted OID, text value)`.
    pub subject_attributes: Vec<(String, String)>,
    /// Certificate serial number, decimal.
    pub serial_number_decimal: String,
    /// Certificate serial number, uppercase hex of the DER integer's content bytes.
    pub serial_number_hex: String,
    /// notBefore.
    pub not_before: OffsetDateTime,
    /// notAfter.
    pub not_after: OffsetDateTime,
    /// SHA-256 of the certificate DER, 64 uppercase hex digits.
    pub fingerprint: String,
    /// Person, seal or other.
    pub kind: CertificateKind,
    /// NIP (person `TINPL-`/`NIP-` serialNumber, or seal `VATPL-` organizationIdentifier).
    pub nip: Option<Nip>,
    /// PESEL (person `PNOPL-`/`PESEL-` serialNumber).
    pub pesel: Option<Pesel>,
    /// givenName (2.5.4.42).
    pub given_name: Option<String>,
    /// surname (2.5.4.4).
    pub surname: Option<String>,
    /// commonName (2.5.4.3).
    pub common_name: Option<String>,
    /// organizationName (2.5.4.10).
    pub organization_name: Option<String>,
    /// organizationIdentifier (2.5.4.97), raw.
    pub organization_identifier: Option<String>,
    /// Subject serialNumber (2.5.4.5), raw.
    pub subject_serial_number: Option<String>,
    /// countryName (2.5.4.6).
    pub country: Option<String>,
    /// The subject key's algorithm if it is one this crate supports.
    pub key_algorithm: Option<KeyAlgorithm>,
    /// Human description of the subject key (e.g. `RSA-2048`, `EC P-384`).
    pub key_algorithm_name: String,
    /// Signature algorithm name (e.g. `sha256WithRSAEncryption`) or dotted OID.
    pub signature_algorithm: String,
    /// Issuer DN equals subject DN and the signature verifies with the certificate's own key
    /// (false when the key/signature algorithm is not supported for verification).
    pub is_self_signed: bool,
    /// Why no identifier could be taken, or what is suspicious about it.
    pub identifier_problem: Option<String>,
}

impl CertificateInfo {
    /// Ok if `now` is within `[not_before, not_after]`.
    pub fn check_validity(&self, now: OffsetDateTime) -> Result<()> {
        check_validity_window(self.not_before, self.not_after, now)
    }
}

fn check_validity_window(
    not_before: OffsetDateTime,
    not_after: OffsetDateTime,
    now: OffsetDateTime,
) -> Result<()> {
    let fmt = |t: OffsetDateTime| {
        t.format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|_| t.to_string())
    };
    if now < not_before {
        return Err(CryptoError::CertificateNotYetValid {
            not_before: fmt(not_before),
        });
    }
    if now > not_after {
        return Err(CryptoError::CertificateExpired {
            not_after: fmt(not_after),
        });
    }
    Ok(())
}

/// Check that `now` is within the certificate's validity window.
pub fn check_validity(cert_der: &[u8], now: OffsetDateTime) -> Result<()> {
    let cert = parse(cert_der)?;
    let v = cert.tbs_certificate().validity();
    check_validity_window(to_offset(v.not_before)?, to_offset(v.not_after)?, now)
}

const OID_GIVEN_NAME: &str = "2.5.4.42";
const OID_SURNAME: &str = "2.5.4.4";
const OID_SERIAL_NUMBER: &str = "2.5.4.5";
const OID_COMMON_NAME: &str = "2.5.4.3";
const OID_ORGANIZATION: &str = "2.5.4.10";
const OID_ORGANIZATION_IDENTIFIER: &str = "2.5.4.97";
const OID_COUNTRY: &str = "2.5.4.6";

/// Parse a certificate and work out whom it identifies.
pub fn inspect_certificate(cert_der: &[u8]) -> Result<CertificateInfo> {
    let cert = parse(cert_der)?;
    let tbs = cert.tbs_certificate();
    let subject_attributes = attributes(tbs.subject());
    let get = |oid: &str| {
        subject_attributes
            .iter()
            .find(|(o, _)| o == oid)
            .map(|(_, v)| v.clone())
    };
    let given_name = get(OID_GIVEN_NAME);
    let surname = get(OID_SURNAME);
    let subject_serial_number = get(OID_SERIAL_NUMBER);
    let organization_identifier = get(OID_ORGANIZATION_IDENTIFIER);

    let mut nip = None;
    let mut pesel = None;
    let mut problems: Vec<String> = Vec::new();
    let is_person = given_name.is_some() && surname.is_some();
    let kind = if is_person {
        if let Some(org_id) = &organization_identifier {
            problems.push(format!(
                "person certificate (givenName+surname) also has organizationIdentifier '{org_id}'; \
                 KSeF keeps person and seal attributes apart"
            ));
        }
        match &subject_serial_number {
            Some(sn) => {
                let (n, p, problem) = person_identifier(sn);
                nip = n;
                pesel = p;
                problems.extend(problem);
            }
            None => problems.push(
                "person certificate without serialNumber (2.5.4.5): no NIP/PESEL; \
                 usable only in certificateFingerprint mode"
                    .into(),
            ),
        }
        CertificateKind::Person
    } else if let Some(org_id) = &organization_identifier {
        match find_identifier(org_id, &["VATPL"], 10) {
            IdMatch::Found(digits) => match digits.parse::<Nip>() {
                Ok(n) => nip = Some(n),
                Err(e) => problems.push(format!("organizationIdentifier NIP is invalid: {e}")),
            },
            IdMatch::PrefixOnly { longest_digit_run } => problems.push(format!(
                "organizationIdentifier '{org_id}' has the VATPL prefix but {longest_digit_run} \
                 consecutive digits (a NIP has 10)"
            )),
            IdMatch::NoPrefix => problems.push(format!(
                "organizationIdentifier '{org_id}' has no VATPL-<NIP> identifier"
            )),
        }
        CertificateKind::Seal
    } else {
        if given_name.is_some() != surname.is_some() {
            problems.push(
                "subject has only one of givenName/surname; a person certificate needs both".into(),
            );
        }
        if let Some(sn) = &subject_serial_number
            && !matches!(
                find_identifier(sn, &["PNOPL", "PESEL", "TINPL", "NIP"], 10),
                IdMatch::NoPrefix
            )
        {
            problems.push(format!(
                "serialNumber '{sn}' carries an identifier but givenName/surname are missing, \
                 so it is not a person certificate"
            ));
        }
        CertificateKind::Other
    };

    let spki = tbs.subject_public_key_info();
    let (key_algorithm, key_algorithm_name) = describe_spki(spki);
    let v = tbs.validity();
    let serial = tbs.serial_number().as_bytes();
    let is_self_signed =
        tbs.issuer() == tbs.subject() && verify_issued_by(cert_der, cert_der).is_ok();

    Ok(CertificateInfo {
        subject_dn: format_name(tbs.subject()),
        issuer_dn: format_name(tbs.issuer()),
        serial_number_decimal: bytes_to_decimal(serial),
        serial_number_hex: hex::encode_upper(serial),
        not_before: to_offset(v.not_before)?,
        not_after: to_offset(v.not_after)?,
        fingerprint: sha256_fingerprint_hex(cert_der),
        kind,
        nip,
        pesel,
        given_name,
        surname,
        common_name: get(OID_COMMON_NAME),
        organization_name: get(OID_ORGANIZATION),
        organization_identifier,
        subject_serial_number,
        country: get(OID_COUNTRY),
        key_algorithm,
        key_algorithm_name,
        signature_algorithm: signature_algorithm_name(&cert.signature_algorithm().oid),
        is_self_signed,
        identifier_problem: if problems.is_empty() {
            None
        } else {
            Some(problems.join("; "))
        },
        subject_attributes,
    })
}

/// PESEL or NIP from a person's serialNumber.
fn person_identifier(sn: &str) -> (Option<Nip>, Option<Pesel>, Option<String>) {
    match find_identifier(sn, &["PNOPL", "PESEL"], 11) {
        IdMatch::Found(d) => {
            return match d.parse::<Pesel>() {
                Ok(p) => (None, Some(p), None),
                Err(e) => (
                    None,
                    None,
                    Some(format!("serialNumber PESEL is invalid: {e}")),
                ),
            };
        }
        IdMatch::PrefixOnly { longest_digit_run } => {
            return (
                None,
                None,
                Some(format!(
                    "serialNumber '{sn}' has a PESEL prefix but {longest_digit_run} consecutive \
                     digits (a PESEL has 11)"
                )),
            );
        }
        IdMatch::NoPrefix => {}
    }
    match find_identifier(sn, &["TINPL", "NIP"], 10) {
        IdMatch::Found(d) => match d.parse::<Nip>() {
            Ok(n) => (Some(n), None, None),
            Err(e) => (
                None,
                None,
                Some(format!("serialNumber NIP is invalid: {e}")),
            ),
        },
        IdMatch::PrefixOnly { longest_digit_run } => (
            None,
            None,
            Some(format!(
                "serialNumber '{sn}' has a NIP prefix but {longest_digit_run} consecutive digits \
                 (a NIP has 10)"
            )),
        ),
        IdMatch::NoPrefix => (
            None,
            None,
            Some(format!(
                "serialNumber '{sn}' has no PNOPL/PESEL or TINPL/NIP identifier; \
                 usable only in certificateFingerprint mode"
            )),
        ),
    }
}

enum IdMatch<'a> {
    Found(&'a str),
    PrefixOnly { longest_digit_run: usize },
    NoPrefix,
}

/// Equivalent of the unanchored regex `(P1|P2|…).*?(\d{n})` (case-sensitive): the earliest
/// prefix occurrence, then the first window of `n` consecutive ASCII digits after it.
/// Hand-rolled because these two tiny patterns are all we need, and the `regex` crate is
/// not otherwise in the dependency tree. Later prefix occurrences cannot find a window the
/// earliest one misses, so scanning once from the earliest occurrence is exact.
fn find_identifier<'a>(s: &'a str, prefixes: &[&str], n: usize) -> IdMatch<'a> {
    let Some(start) = prefixes
        .iter()
        .filter_map(|p| s.find(p).map(|i| i + p.len()))
        .min()
    else {
        return IdMatch::NoPrefix;
    };
    let tail = &s[start..];
    let bytes = tail.as_bytes();
    let mut run = 0usize;
    let mut longest = 0usize;
    for (i, b) in bytes.iter().enumerate() {
        if b.is_ascii_digit() {
            run += 1;
            longest = longest.max(run);
            if run == n {
                let begin = i + 1 - n;
                return IdMatch::Found(&tail[begin..=i]);
            }
        } else {
            run = 0;
        }
    }
    IdMatch::PrefixOnly {
        longest_digit_run: longest,
    }
}

/// Verify that `issuer_der`'s key signed `cert_der` and that the issuer name matches the
/// issuer's subject. Supports RSA issuers (PKCS#1 v1.5 with SHA-256/384/512, RSASSA-PSS with
/// SHA-256/384/512) and EC P-256 issuers (ECDSA with SHA-256/384/512). Does not check
/// validity periods, key usage or basic constraints.
pub fn verify_issued_by(cert_der: &[u8], issuer_der: &[u8]) -> Result<()> {
    let cert = parse(cert_der)?;
    let issuer = parse(issuer_der)?;
    if cert.tbs_certificate().issuer() != issuer.tbs_certificate().subject() {
        return Err(CryptoError::NotIssuedBy(format!(
            "issuer name '{}' differs from the issuer certificate's subject '{}'",
            format_name(cert.tbs_certificate().issuer()),
            format_name(issuer.tbs_certificate().subject())
        )));
    }
    let tbs = raw_tbs(cert_der)?;
    let sig = cert.signature().as_bytes().ok_or_else(|| {
        CryptoError::InvalidCertificate("signature BIT STRING has unused bits".into())
    })?;
    let issuer_spki = issuer
        .tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| CryptoError::InvalidCertificate(format!("issuer SPKI: {e}")))?;
    let issuer_key = PublicKey::from_spki_der(&issuer_spki)?;
    let alg = cert.signature_algorithm();
    let alg_oid = alg.oid.to_string();
    let bad = |what: &str| CryptoError::NotIssuedBy(format!("{what} signature does not verify"));
    match (&issuer_key, alg_oid.as_str()) {
        (PublicKey::Rsa(pk), "1.2.840.113549.1.1.11") => {
            crate::key::verify_rsa_pkcs1v15_sha256(pk, tbs, sig)
                .map_err(|_| bad("sha256WithRSAEncryption"))
        }
        (PublicKey::Rsa(pk), "1.2.840.113549.1.1.12") => {
            rsa_pkcs1::<Sha384>(pk, tbs, sig).map_err(|_| bad("sha384WithRSAEncryption"))
        }
        (PublicKey::Rsa(pk), "1.2.840.113549.1.1.13") => {
            rsa_pkcs1::<Sha512>(pk, tbs, sig).map_err(|_| bad("sha512WithRSAEncryption"))
        }
        (PublicKey::Rsa(pk), "1.2.840.113549.1.1.10") => {
            let params = alg
                .parameters
                .as_ref()
                .ok_or_else(|| {
                    CryptoError::InvalidCertificate("RSASSA-PSS without parameters".into())
                })?
                .to_der()
                .map_err(|e| {
                    CryptoError::InvalidCertificate(format!("RSASSA-PSS parameters: {e}"))
                })?;
            let params = rsa::pkcs1::RsaPssParamsOwned::from_der(&params).map_err(|e| {
                CryptoError::InvalidCertificate(format!("RSASSA-PSS parameters: {e}"))
            })?;
            let salt = usize::from(params.salt_len);
            let hash = params.hash.oid.to_string();
            let ok = match hash.as_str() {
                "2.16.840.1.101.3.4.2.1" => rsa_pss::<Sha256>(pk, salt, tbs, sig),
                "2.16.840.1.101.3.4.2.2" => rsa_pss::<Sha384>(pk, salt, tbs, sig),
                "2.16.840.1.101.3.4.2.3" => rsa_pss::<Sha512>(pk, salt, tbs, sig),
                other => {
                    return Err(CryptoError::UnsupportedSignatureAlgorithm(format!(
                        "RSASSA-PSS with hash {other}"
                    )));
                }
            };
            ok.map_err(|_| bad("RSASSA-PSS"))
        }
        (
            PublicKey::EcP256(pk),
            "1.2.840.10045.4.3.2" | "1.2.840.10045.4.3.3" | "1.2.840.10045.4.3.4",
        ) => {
            let sig = p256::ecdsa::Signature::from_der(sig)
                .map_err(|e| CryptoError::InvalidCertificate(format!("ECDSA signature: {e}")))?;
            let vk = p256::ecdsa::VerifyingKey::from(pk);
            let res = match alg_oid.as_str() {
                "1.2.840.10045.4.3.2" => vk.verify(tbs, &sig),
                "1.2.840.10045.4.3.3" => vk.verify_prehash(&Sha384::digest(tbs), &sig),
                _ => vk.verify_prehash(&Sha512::digest(tbs), &sig),
            };
            res.map_err(|_| bad("ECDSA"))
        }
        _ => Err(CryptoError::UnsupportedSignatureAlgorithm(format!(
            "{} with a {} issuer key",
            signature_algorithm_name(&alg.oid),
            match issuer_key {
                PublicKey::Rsa(_) => "RSA",
                PublicKey::EcP256(_) => "EC P-256",
            }
        ))),
    }
}

/// True if the certificate is signed by its own key (and names itself as issuer).
pub fn verify_self_signed(cert_der: &[u8]) -> bool {
    verify_issued_by(cert_der, cert_der).is_ok()
}

pub(crate) fn rsa_pkcs1<D>(pk: &rsa::RsaPublicKey, data: &[u8], sig: &[u8]) -> Result<(), ()>
where
    D: Digest + der::oid::AssociatedOid,
{
    let sig = rsa::pkcs1v15::Signature::try_from(sig).map_err(|_| ())?;
    rsa::pkcs1v15::VerifyingKey::<D>::new(pk.clone())
        .verify(data, &sig)
        .map_err(|_| ())
}

pub(crate) fn rsa_pss<D>(
    pk: &rsa::RsaPublicKey,
    salt: usize,
    data: &[u8],
    sig: &[u8],
) -> Result<(), ()>
where
    D: Digest + sha2::digest::FixedOutputReset,
{
    let sig = rsa::pss::Signature::try_from(sig).map_err(|_| ())?;
    rsa::pss::VerifyingKey::<D>::new_with_salt_len(pk.clone(), salt)
        .verify(data, &sig)
        .map_err(|_| ())
}

/// The original DER bytes of `tbsCertificate` (not a re-encoding of the parsed value).
fn raw_tbs(cert_der: &[u8]) -> Result<&[u8]> {
    let bad = |e: der::Error| CryptoError::InvalidCertificate(e.to_string());
    let outer = AnyRef::from_der(cert_der).map_err(bad)?;
    let content = outer.value();
    let mut reader = SliceReader::new(content).map_err(bad)?;
    let tbs = AnyRef::decode(&mut reader).map_err(bad)?;
    let len = tbs.encoded_len().map_err(bad)?;
    let len = usize::try_from(u32::from(len))
        .map_err(|_| CryptoError::InvalidCertificate("tbsCertificate too long".into()))?;
    content
        .get(..len)
        .ok_or_else(|| CryptoError::InvalidCertificate("truncated tbsCertificate".into()))
}

fn parse(cert_der: &[u8]) -> Result<Certificate> {
    Certificate::from_der(cert_der).map_err(|e| CryptoError::InvalidCertificate(e.to_string()))
}

fn to_offset(t: x509_cert::time::Time) -> Result<OffsetDateTime> {
    let secs = i64::try_from(t.to_unix_duration().as_secs())
        .map_err(|_| CryptoError::InvalidCertificate("time out of range".into()))?;
    OffsetDateTime::from_unix_timestamp(secs)
        .map_err(|e| CryptoError::InvalidCertificate(format!("time out of range: {e}")))
}

fn describe_spki(spki: &spki::SubjectPublicKeyInfoOwned) -> (Option<KeyAlgorithm>, String) {
    let alg = spki.algorithm.oid;
    let der = spki.to_der().ok();
    let parsed = der.as_deref().map(PublicKey::from_spki_der);
    if alg == OID_RSA_ENCRYPTION {
        match parsed {
            Some(Ok(PublicKey::Rsa(k))) => {
                use rsa::traits::PublicKeyParts;
                let bits = k.size() * 8;
                (KeyAlgorithm::from_rsa_bits(bits), format!("RSA-{bits}"))
            }
            _ => (None, "RSA (unreadable key)".into()),
        }
    } else if alg == OID_EC_PUBLIC_KEY {
        let curve = spki
            .algorithm
            .parameters
            .as_ref()
            .and_then(|p| p.decode_as::<ObjectIdentifier>().ok());
        match (parsed, curve) {
            (Some(Ok(PublicKey::EcP256(_))), _) => (Some(KeyAlgorithm::EcP256), "EC P-256".into()),
            (_, Some(c)) => (None, format!("EC {}", curve_name(&c))),
            _ => (None, "EC (unknown curve)".into()),
        }
    } else {
        (None, crate::key::describe_oid(&alg))
    }
}

fn signature_algorithm_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.113549.1.1.5" => "sha1WithRSAEncryption".into(),
        "1.2.840.113549.1.1.11" => "sha256WithRSAEncryption".into(),
        "1.2.840.113549.1.1.12" => "sha384WithRSAEncryption".into(),
        "1.2.840.113549.1.1.13" => "sha512WithRSAEncryption".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS".into(),
        "1.2.840.10045.4.3.2" => "ecdsa-with-SHA256".into(),
        "1.2.840.10045.4.3.3" => "ecdsa-with-SHA384".into(),
        "1.2.840.10045.4.3.4" => "ecdsa-with-SHA512".into(),
        "1.3.101.112" => "Ed25519".into(),
        other => other.to_string(),
    }
}

/// Subject/issuer attributes in encoding order, values as text (`#hex` for non-strings).
fn attributes(name: &Name) -> Vec<(String, String)> {
    name.iter()
        .map(|atv| {
            let v = any_to_text(&atv.value).unwrap_or_else(|| hex_der(&atv.value));
            (atv.oid.to_string(), v)
        })
        .collect()
}

fn hex_der(value: &der::Any) -> String {
    match value.to_der() {
        Ok(d) => format!("#{}", hex::encode(d)),
        Err(_) => "#".into(),
    }
}

/// Text of a DirectoryString-like value.
fn any_to_text(value: &der::Any) -> Option<String> {
    let bytes = value.value();
    match value.tag() {
        Tag::Utf8String
        | Tag::PrintableString
        | Tag::Ia5String
        | Tag::VisibleString
        | Tag::NumericString => String::from_utf8(bytes.to_vec()).ok(),
        // T.61 in practice carries Latin-1.
        Tag::TeletexString => Some(bytes.iter().map(|&b| char::from(b)).collect()),
        Tag::BmpString => {
            if !bytes.len().is_multiple_of(2) {
                return None;
            }
            let units: Vec<u16> = bytes
                .chunks_exact(2)
                .map(|c| u16::from_be_bytes([c[0], c[1]]))
                .collect();
            String::from_utf16(&units).ok()
        }
        _ => None,
    }
}

fn short_name(oid: &str) -> Option<&'static str> {
    Some(match oid {
        "2.5.4.3" => "CN",
        "2.5.4.10" => "O",
        "2.5.4.11" => "OU",
        "2.5.4.6" => "C",
        "2.5.4.7" => "L",
        "2.5.4.8" => "ST",
        "2.5.4.9" => "STREET",
        "2.5.4.4" => "SN",
        "2.5.4.42" => "GN",
        "2.5.4.5" => "SERIALNUMBER",
        "2.5.4.12" => "T",
        "1.2.840.113549.1.9.1" => "E",
        "0.9.2342.19200300.100.1.25" => "DC",
        "0.9.2342.19200300.100.1.1" => "UID",
        _ => return None,
    })
}

/// Render a Name RFC 4514 style (see the module docs).
pub fn format_name(name: &Name) -> String {
    let mut rdns: Vec<String> = Vec::new();
    for rdn in name.iter_rdn() {
        let parts: Vec<String> = rdn
            .iter()
            .map(|atv| {
                let oid = atv.oid.to_string();
                let key = short_name(&oid)
                    .map(str::to_string)
                    .unwrap_or_else(|| oid.clone());
                let value = match any_to_text(&atv.value) {
                    Some(text) => escape_rfc4514(&text),
                    None => hex_der(&atv.value),
                };
                format!("{key}={value}")
            })
            .collect();
        rdns.push(parts.join("+"));
    }
    rdns.reverse();
    rdns.join(", ")
}

fn escape_rfc4514(v: &str) -> String {
    let mut out = String::with_capacity(v.len());
    let last = v.chars().count().saturating_sub(1);
    for (i, c) in v.chars().enumerate() {
        match c {
            '#' if i == 0 => out.push_str("\\#"),
            ' ' if i == 0 || i == last => out.push_str("\\ "),
            '"' | '+' | ',' | ';' | '<' | '>' | '\\' | '=' => {
                out.push('\\');
                out.push(c);
            }
            '\0' => out.push_str("\\00"),
            _ => out.push(c),
        }
    }
    out
}

/// Big-endian two's-complement integer bytes → decimal string.
/// Hand-rolled (schoolbook division by 10) to avoid a bignum dependency for display only.
fn bytes_to_decimal(bytes: &[u8]) -> String {
    let negative = bytes.first().is_some_and(|b| b & 0x80 != 0);
    let mut mag: Vec<u8> = if negative {
        // two's complement magnitude: invert and add one
        let mut m: Vec<u8> = bytes.iter().map(|b| !b).collect();
        for b in m.iter_mut().rev() {
            let (v, carry) = b.overflowing_add(1);
            *b = v;
            if !carry {
                break;
            }
        }
        m
    } else {
        bytes.to_vec()
    };
    let mut digits = Vec::new();
    while mag.iter().any(|&b| b != 0) {
        let mut rem = 0u16;
        for b in mag.iter_mut() {
            let cur = (rem << 8) | u16::from(*b);
            *b = (cur / 10) as u8;
            rem = cur % 10;
        }
        digits.push(b'0' + rem as u8);
    }
    if digits.is_empty() {
        digits.push(b'0');
    }
    let mut s = String::with_capacity(digits.len() + 1);
    if negative {
        s.push('-');
    }
    for d in digits.iter().rev() {
        let _ = write!(s, "{}", char::from(*d));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn decimal_serials() {
        assert_eq!(bytes_to_decimal(&[0x00]), "0");
        assert_eq!(bytes_to_decimal(&[0x01, 0x00]), "256");
        assert_eq!(
            bytes_to_decimal(&[0x00, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]),
            "18446744073709551615"
        );
        assert_eq!(bytes_to_decimal(&[0xff]), "-1");
        assert_eq!(bytes_to_decimal(&[0x80]), "-128");
    }

    #[test]
    fn identifier_scan_matches_regex_semantics() {
        assert!(matches!(
            find_identifier("PNOPL-90010112345", &["PNOPL", "PESEL"], 11),
            IdMatch::Found("90010112345")
        ));
        // lazy .*? then the first 11-digit window, even inside a longer run
        assert!(matches!(
            find_identifier("PESEL:x 123456789012", &["PNOPL", "PESEL"], 11),
            IdMatch::Found("12345678901")
        ));
        assert!(matches!(
            find_identifier("PNOPL-1234567890", &["PNOPL", "PESEL"], 11),
            IdMatch::PrefixOnly {
                longest_digit_run: 10
            }
        ));
        assert!(matches!(
            find_identifier("TINPL-5260250274", &["PNOPL", "PESEL"], 11),
            IdMatch::NoPrefix
        ));
        assert!(matches!(
            find_identifier("NIP 526-025-02-74", &["TINPL", "NIP"], 10),
            IdMatch::PrefixOnly {
                longest_digit_run: 3
            }
        ));
        // case-sensitive like the regex
        assert!(matches!(
            find_identifier("tinpl-5260250274", &["TINPL", "NIP"], 10),
            IdMatch::NoPrefix
        ));
    }

    #[test]
    fn escaping() {
        assert_eq!(escape_rfc4514("A, B"), "A\\, B");
        assert_eq!(escape_rfc4514(" x "), "\\ x\\ ");
        assert_eq!(escape_rfc4514("#1"), "\\#1");
    }
}
