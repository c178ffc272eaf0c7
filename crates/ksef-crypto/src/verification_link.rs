//! KOD II signatures (digest §13.2, §14): signing a [`CertificateLinkData`] with a KSeF
//! `Offline` certificate and checking the signature of a [`CertificateVerificationLink`].
//!
//! * The signed text is [`CertificateLinkData::string_to_sign`] (UTF-8 bytes, hashed with
//!   SHA-256 by the signature scheme).
//! * RSA keys: RSASSA-PSS, SHA-256, MGF1 with SHA-256, salt of 32 bytes (what .NET's
//!   `RSASignaturePadding.Pss` gives the official client), blinded.
//! * EC P-256 keys: ECDSA with SHA-256 (deterministic nonces, RFC 6979), the signature written
//!   IEEE P1363 `R||S` (64 bytes), as the official client does; a DER-encoded ECDSA signature,
//!   which KSeF accepts too, is accepted by [`verify_certificate_link`].
//! * Only a KSeF `Offline` certificate may sign ([`ksef_certificate_usage`]: keyUsage
//!   nonRepudiation, not digitalSignature); an `Authentication` one (digitalSignature) is refused
//!   with [`CryptoError::NotOfflineCertificate`].

use std::fmt;

use der::Decode;
use ksef_core::qr::{
    CertificateLinkData, CertificateSerialNumber, CertificateVerificationLink, InvoiceHash,
    LinkBase, LinkSignature,
};
use ksef_core::{ContextIdentifier, Nip};
use p256::ecdsa::signature::{RandomizedSigner, Signer, Verifier};
use sha2::Sha256;
use x509_cert::Certificate;
use x509_cert::ext::pkix::KeyUsage;

use crate::error::{CryptoError, Result};
use crate::key::{PrivateKey, PublicKey};
use crate::{Credential, certificate_spki_der};

/// The RSASSA-PSS salt length of KOD II (the SHA-256 output size).
pub const RSA_PSS_SALT_LEN: usize = 32;

/// What a certificate is as a KSeF certificate, by its keyUsage (digest §14).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KsefCertificateUsage {
    /// keyUsage digitalSignature (without nonRepudiation): a KSeF `Authentication` certificate,
    /// for logging in (XAdES).
    Authentication,
    /// keyUsage nonRepudiation (without digitalSignature): a KSeF `Offline` certificate, for
    /// KOD II.
    Offline,
    /// Neither: no keyUsage, or both bits, or neither bit.
    Other,
}

impl fmt::Display for KsefCertificateUsage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            KsefCertificateUsage::Authentication => {
                "a KSeF Authentication certificate (keyUsage digitalSignature)"
            }
            KsefCertificateUsage::Offline => "a KSeF Offline certificate (keyUsage nonRepudiation)",
            KsefCertificateUsage::Other => {
                "not a KSeF Offline certificate (its keyUsage is not nonRepudiation alone)"
            }
        })
    }
}

/// The KSeF certificate type a certificate carries in its keyUsage extension.
pub fn ksef_certificate_usage(cert_der: &[u8]) -> Result<KsefCertificateUsage> {
    let cert = Certificate::from_der(cert_der)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    let usage = cert
        .tbs_certificate()
        .get_extension::<KeyUsage>()
        .map_err(|e| CryptoError::InvalidCertificate(format!("keyUsage: {e}")))?;
    Ok(match usage {
        Some((_, ku)) if ku.non_repudiation() && !ku.digital_signature() => {
            KsefCertificateUsage::Offline
        }
        Some((_, ku)) if ku.digital_signature() && !ku.non_repudiation() => {
            KsefCertificateUsage::Authentication
        }
        _ => KsefCertificateUsage::Other,
    })
}

/// The certificate's serial number in the KSeF form (16 uppercase hex digits of the DER
/// integer); [`CryptoError::NotKsefCertificate`] for any other serial.
pub fn certificate_serial(cert_der: &[u8]) -> Result<CertificateSerialNumber> {
    let cert = Certificate::from_der(cert_der)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    let hex = hex::encode_upper(cert.tbs_certificate().serial_number().as_bytes());
    hex.parse()
        .map_err(|_| CryptoError::NotKsefCertificate { serial: hex })
}

/// KOD II of an invoice: the link of `credential`'s KSeF `Offline` certificate for the
/// invoice whose file hashes to `invoice_hash`, issued by `seller_nip` in `context`, signed.
///
/// Refused with [`CryptoError::NotOfflineCertificate`] for an `Authentication` (or any other
/// non-`Offline`) certificate and [`CryptoError::NotKsefCertificate`] for a serial number KSeF
/// does not give.
pub fn sign_certificate_link(
    credential: &Credential,
    base: LinkBase,
    context: ContextIdentifier,
    seller_nip: Nip,
    invoice_hash: InvoiceHash,
) -> Result<CertificateVerificationLink> {
    let found = ksef_certificate_usage(&credential.certificate_der)?;
    if found != KsefCertificateUsage::Offline {
        return Err(CryptoError::NotOfflineCertificate { found });
    }
    let serial = certificate_serial(&credential.certificate_der)?;
    let data = CertificateLinkData::new(base, context, seller_nip, serial, invoice_hash);
    let signature = sign_link_text(&credential.key, &data.string_to_sign())?;
    let signature =
        LinkSignature::new(signature).map_err(|e| CryptoError::SigningFailed(e.to_string()))?;
    Ok(data.with_signature(signature))
}

/// The KOD II signature of `text` with `key` (RSASSA-PSS SHA-256 salt 32, or ECDSA P-256
/// SHA-256 as P1363 `R||S`). No certificate check: see [`sign_certificate_link`].
pub fn sign_link_text(key: &PrivateKey, text: &str) -> Result<Vec<u8>> {
    match key {
        PrivateKey::Rsa(k) => {
            let signing = rsa::pss::BlindedSigningKey::<Sha256>::new_with_salt_len(
                k.clone(),
                RSA_PSS_SALT_LEN,
            );
            let sig = signing
                .try_sign_with_rng(&mut rand::rng(), text.as_bytes())
                .map_err(|e| CryptoError::SigningFailed(format!("RSASSA-PSS: {e}")))?;
            Ok(Box::<[u8]>::from(sig).into_vec())
        }
        PrivateKey::EcP256(k) => {
            let sig: p256::ecdsa::Signature = p256::ecdsa::SigningKey::from(k)
                .try_sign(text.as_bytes())
                .map_err(|e| CryptoError::SigningFailed(format!("ECDSA P-256: {e}")))?;
            Ok(sig.to_bytes().to_vec())
        }
    }
}

/// Checks a KOD II link against the certificate (DER) it names: the serial numbers agree and
/// the signature verifies over [`CertificateVerificationLink::string_to_sign`] with the
/// certificate's key (RSA: PSS SHA-256, salt 32; EC P-256: ECDSA SHA-256, P1363 or DER).
///
/// Whether the certificate is an `Offline` one, valid and not revoked, and whether its owner
/// may issue invoices in the link's context, is for the caller (KSeF's other checks).
pub fn verify_certificate_link(cert_der: &[u8], link: &CertificateVerificationLink) -> Result<()> {
    let serial = certificate_serial(cert_der)?;
    if &serial != link.data().certificate_serial() {
        return Err(CryptoError::LinkCertificateMismatch {
            link: link.data().certificate_serial().to_string(),
            certificate: serial.to_string(),
        });
    }
    let spki = certificate_spki_der(cert_der)?;
    verify_link_text(&spki, &link.string_to_sign(), link.signature().as_bytes())
}

/// Verifies a KOD II signature of `text` with a public key given as `SubjectPublicKeyInfo` DER.
pub fn verify_link_text(spki_der: &[u8], text: &str, signature: &[u8]) -> Result<()> {
    match PublicKey::from_spki_der(spki_der)? {
        PublicKey::Rsa(p) => {
            let sig = rsa::pss::Signature::try_from(signature).map_err(|e| {
                CryptoError::SignatureInvalid(format!("malformed RSASSA-PSS signature: {e}"))
            })?;
            rsa::pss::VerifyingKey::<Sha256>::new_with_salt_len(p, RSA_PSS_SALT_LEN)
                .verify(text.as_bytes(), &sig)
                .map_err(|_| {
                    CryptoError::SignatureInvalid(
                        "RSASSA-PSS SHA-256 (salt 32) signature does not verify".into(),
                    )
                })
        }
        PublicKey::EcP256(p) => {
            let sig = if signature.len() == 64 {
                p256::ecdsa::Signature::from_slice(signature)
            } else {
                p256::ecdsa::Signature::from_der(signature)
            }
            .map_err(|_| {
                CryptoError::SignatureInvalid(format!(
                    "an ECDSA P-256 signature is 64 bytes R||S or DER, got {} malformed bytes",
                    signature.len()
                ))
            })?;
            p256::ecdsa::VerifyingKey::from(&p)
                .verify(text.as_bytes(), &sig)
                .map_err(|_| {
                    CryptoError::SignatureInvalid(
                        "ECDSA P-256 SHA-256 signature does not verify".into(),
                    )
                })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::KeyAlgorithm;
    use crate::ca::{IssuedKeyUsage, Validity, issue_for_public_key, make_ca};
    use crate::testcert::oid;
    use time::Duration;

    /// A certificate for a fresh key issued by a throwaway CA, as the emulator issues KSeF
    /// certificates.
    fn issued(algorithm: KeyAlgorithm, usage: IssuedKeyUsage, serial: &[u8]) -> Credential {
        let ca = make_ca("KSeF CA (test)", KeyAlgorithm::EcP256).unwrap();
        let key = PrivateKey::generate(algorithm).unwrap();
        let der = issue_for_public_key(
            &ca,
            &[
                (oid::COMMON_NAME.to_string(), "Jan Kowalski".to_string()),
                (oid::COUNTRY_NAME.to_string(), "PL".to_string()),
            ],
            &key.public_key_spki_der().unwrap(),
            usage,
            Validity::from_now(Duration::days(30)).unwrap(),
            serial,
        )
        .unwrap();
        Credential::new(key, der, vec![ca.certificate_der]).unwrap()
    }

    fn nip() -> Nip {
        "5265877635".parse().unwrap()
    }

    fn sign(cred: &Credential) -> Result<CertificateVerificationLink> {
        sign_certificate_link(
            cred,
            LinkBase::test(),
            ContextIdentifier::Nip(nip()),
            nip(),
            InvoiceHash::of_file(b"<Faktura/>"),
        )
    }

    #[test]
    fn offline_certificates_sign_and_the_links_verify() {
        const SERIAL: [u8; 8] = [0x01, 0xF2, 0x0A, 0x5D, 0x35, 0x2A, 0xE5, 0x90];
        for alg in [KeyAlgorithm::Rsa2048, KeyAlgorithm::EcP256] {
            let cred = issued(alg, IssuedKeyUsage::NonRepudiation, &SERIAL);
            assert_eq!(
                ksef_certificate_usage(&cred.certificate_der).unwrap(),
                KsefCertificateUsage::Offline
            );
            let link = sign(&cred).unwrap();
            assert_eq!(
                link.data().certificate_serial().as_str(),
                "01F20A5D352AE590"
            );
            assert_eq!(
                link.signature().as_bytes().len(),
                if alg.is_rsa() { 256 } else { 64 }
            );
            verify_certificate_link(&cred.certificate_der, &link).unwrap();
            // What is read back from the text verifies too.
            let parsed = match ksef_core::qr::VerificationLink::parse(&link.url()).unwrap() {
                ksef_core::qr::VerificationLink::Certificate(l) => l,
                other => panic!("{other:?}"),
            };
            verify_certificate_link(&cred.certificate_der, &parsed).unwrap();

            // Another text, or another key, does not verify.
            let spki = cred.key.public_key_spki_der().unwrap();
            let sig = link.signature().as_bytes();
            let text = link.string_to_sign();
            verify_link_text(&spki, &text, sig).unwrap();
            let tampered = text.replace("/Nip/5265877635/", "/Nip/7010002137/");
            assert!(matches!(
                verify_link_text(&spki, &tampered, sig),
                Err(CryptoError::SignatureInvalid(_))
            ));
            let other = issued(alg, IssuedKeyUsage::NonRepudiation, &SERIAL);
            assert!(matches!(
                verify_certificate_link(&other.certificate_der, &link),
                Err(CryptoError::SignatureInvalid(_))
            ));
            // A link naming another certificate.
            let another_serial = issued(alg, IssuedKeyUsage::NonRepudiation, &[0x0A; 8]);
            assert!(matches!(
                verify_certificate_link(&another_serial.certificate_der, &link),
                Err(CryptoError::LinkCertificateMismatch { .. })
            ));
        }
    }

    #[test]
    fn ecdsa_der_signatures_are_accepted_too() {
        let cred = issued(
            KeyAlgorithm::EcP256,
            IssuedKeyUsage::NonRepudiation,
            &[0x11; 8],
        );
        let text =
            "qr-test.ksef.mf.gov.pl/certificate/Nip/5265877635/5265877635/1111111111111111/x";
        let raw = sign_link_text(&cred.key, text).unwrap();
        let der = p256::ecdsa::Signature::from_slice(&raw).unwrap().to_der();
        let spki = cred.key.public_key_spki_der().unwrap();
        verify_link_text(&spki, text, der.as_bytes()).unwrap();
        assert!(verify_link_text(&spki, text, &raw[..63]).is_err());
    }

    #[test]
    fn only_offline_certificates_may_sign() {
        let auth = issued(
            KeyAlgorithm::EcP256,
            IssuedKeyUsage::DigitalSignature,
            &[0x22; 8],
        );
        let e = sign(&auth).unwrap_err();
        assert!(
            matches!(
                e,
                CryptoError::NotOfflineCertificate {
                    found: KsefCertificateUsage::Authentication
                }
            ),
            "{e:?}"
        );
        assert!(e.to_string().contains("Authentication"), "{e}");
        let both = issued(
            KeyAlgorithm::EcP256,
            IssuedKeyUsage::DigitalSignatureAndNonRepudiation,
            &[0x22; 8],
        );
        assert!(matches!(
            sign(&both),
            Err(CryptoError::NotOfflineCertificate {
                found: KsefCertificateUsage::Other
            })
        ));
        // nonRepudiation alone but a serial KSeF does not give (20 bytes, as CAs write them).
        let foreign = issued(
            KeyAlgorithm::EcP256,
            IssuedKeyUsage::NonRepudiation,
            &[0x33; 20],
        );
        assert!(matches!(
            sign(&foreign),
            Err(CryptoError::NotKsefCertificate { .. })
        ));
    }
}
