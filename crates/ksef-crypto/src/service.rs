//! The emulator's own RSA key pairs (digest §3.1, §20): what
//! `GET /security/public-key-certificates` publishes and what decrypts the clients'
//! RSA-OAEP-wrapped AES keys and KSeF tokens.

use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use der::zeroize::Zeroizing;
use pkcs8::{DecodePrivateKey, EncodePrivateKey};
use rsa::{RsaPrivateKey, RsaPublicKey};
use time::{Duration, OffsetDateTime};

use crate::error::{CryptoError, Result};
use crate::identity::inspect_certificate;
use crate::key::PrivateKey;
use crate::{envelope, pem, sha256};

/// Organisation written into service certificates.
pub const SERVICE_ORGANIZATION: &str = "KSeF Emulator";

/// An RSA key pair with a self-signed certificate, as served by the KSeF key endpoint.
///
/// Fields are private so that the cached identifiers always match the key and
/// certificate. `Debug` never shows the key.
#[derive(Clone)]
pub struct ServiceKeyPair {
    key: RsaPrivateKey,
    certificate_der: Vec<u8>,
    certificate_id: String,
    public_key_id: String,
    valid_from: OffsetDateTime,
    valid_to: OffsetDateTime,
}

impl fmt::Debug for ServiceKeyPair {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ServiceKeyPair")
            .field("key", &"<redacted>")
            .field("certificate_id", &self.certificate_id)
            .field("public_key_id", &self.public_key_id)
            .field("valid_from", &self.valid_from)
            .field("valid_to", &self.valid_to)
            .finish()
    }
}

impl ServiceKeyPair {
    /// Generate an RSA-2048 key and a self-signed certificate
    /// `CN=<common_name>, O=KSeF Emulator, C=PL`, valid from now−1 min for `valid_days`.
    pub fn generate(common_name: &str, valid_days: u32) -> Result<Self> {
        let now = OffsetDateTime::now_utc();
        Self::generate_with_validity(
            common_name,
            now - Duration::minutes(1),
            now + Duration::days(i64::from(valid_days)),
        )
    }

    /// [`ServiceKeyPair::generate`] with an explicit validity window.
    pub fn generate_with_validity(
        common_name: &str,
        valid_from: OffsetDateTime,
        valid_to: OffsetDateTime,
    ) -> Result<Self> {
        let key = match PrivateKey::generate(crate::KeyAlgorithm::Rsa2048)? {
            PrivateKey::Rsa(k) => k,
            PrivateKey::EcP256(_) => {
                return Err(CryptoError::KeyGeneration("expected an RSA key".into()));
            }
        };
        let attrs = [
            ("2.5.4.3".to_string(), common_name.to_string()),
            ("2.5.4.10".to_string(), SERVICE_ORGANIZATION.to_string()),
            ("2.5.4.6".to_string(), "PL".to_string()),
        ];
        let dn = crate::testcert::distinguished_name(&attrs)?;
        let der = crate::testcert::self_signed_der(
            &PrivateKey::Rsa(key.clone()),
            dn,
            valid_from,
            valid_to,
            true,
        )?;
        Self::from_parts(key, der)
    }

    /// Restore from a PKCS#8 PEM key and the certificate (DER, or PEM text as bytes).
    /// Fails if the key does not match the certificate.
    pub fn from_pkcs8_pem_and_cert(key_pem: &str, certificate: &[u8]) -> Result<Self> {
        let key = RsaPrivateKey::from_pkcs8_pem(key_pem)
            .map_err(|e| CryptoError::InvalidPrivateKey(format!("RSA PKCS#8 PEM: {e}")))?;
        let der = match std::str::from_utf8(certificate) {
            Ok(text) if text.contains("-----BEGIN") => pem::parse_blocks(text)?
                .into_iter()
                .find(|b| b.label == "CERTIFICATE")
                .map(|b| b.der)
                .ok_or_else(|| CryptoError::NoCertificate("no CERTIFICATE PEM block".into()))?,
            _ => certificate.to_vec(),
        };
        Self::from_parts(key, der)
    }

    fn from_parts(key: RsaPrivateKey, certificate_der: Vec<u8>) -> Result<Self> {
        let spki = crate::certificate_spki_der(&certificate_der)?;
        if !PrivateKey::Rsa(key.clone()).matches_spki(&spki)? {
            return Err(CryptoError::KeyCertificateMismatch(
                "service key does not match its certificate".into(),
            ));
        }
        let info = inspect_certificate(&certificate_der)?;
        Ok(ServiceKeyPair {
            certificate_id: BASE64.encode(sha256(&certificate_der)),
            public_key_id: BASE64.encode(sha256(&spki)),
            valid_from: info.not_before,
            valid_to: info.not_after,
            key,
            certificate_der,
        })
    }

    /// The private key.
    pub fn key(&self) -> &RsaPrivateKey {
        &self.key
    }

    /// The public key.
    pub fn public_key(&self) -> RsaPublicKey {
        self.key.to_public_key()
    }

    /// The certificate, DER.
    pub fn certificate_der(&self) -> &[u8] {
        &self.certificate_der
    }

    /// The certificate as Base64 DER without PEM armour (the `certificate` JSON field).
    pub fn certificate_base64(&self) -> String {
        BASE64.encode(&self.certificate_der)
    }

    /// The certificate as PEM.
    pub fn certificate_pem(&self) -> Result<String> {
        pem::encode("CERTIFICATE", &self.certificate_der)
    }

    /// `certificateId`: Base64(SHA-256(certificate DER)), 44 characters.
    pub fn certificate_id(&self) -> &str {
        &self.certificate_id
    }

    /// `publicKeyId`: Base64(SHA-256(SubjectPublicKeyInfo DER)), 44 characters.
    pub fn public_key_id(&self) -> &str {
        &self.public_key_id
    }

    /// Certificate `notBefore`.
    pub fn valid_from(&self) -> OffsetDateTime {
        self.valid_from
    }

    /// Certificate `notAfter`.
    pub fn valid_to(&self) -> OffsetDateTime {
        self.valid_to
    }

    /// The key as PKCS#8 PEM (for persistence), wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let doc = self
            .key
            .to_pkcs8_der()
            .map_err(|e| CryptoError::InvalidPrivateKey(format!("PKCS#8 encoding: {e}")))?;
        pem::encode("PRIVATE KEY", doc.as_bytes()).map(Zeroizing::new)
    }

    /// RSA-OAEP-SHA-256 decrypt with this key (see [`envelope::rsa_oaep_sha256_decrypt`]).
    pub fn decrypt(&self, ciphertext: &[u8]) -> Result<Vec<u8>> {
        envelope::rsa_oaep_sha256_decrypt(&self.key, ciphertext)
    }
}
