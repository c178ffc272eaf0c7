//! [`Credential`]: a signing identity (private key + certificate + optional chain).

use std::fmt;

use der::zeroize::Zeroizing;
use der::{Decode, Encode};

use crate::error::{CryptoError, Result};
use crate::key::{KeyAlgorithm, PrivateKey};
use crate::{pem, sha256_fingerprint_hex};

/// A signing identity: private key, its certificate (DER) and the rest of the chain
/// (DER, leaf's issuer first; empty for self-signed certificates).
///
/// All constructors check that the key matches the certificate. `Debug` redacts the key.
#[derive(Clone)]
pub struct Credential {
    /// The private key.
    pub key: PrivateKey,
    /// The signer's (leaf) certificate, DER.
    pub certificate_der: Vec<u8>,
    /// Further certificates (intermediates / root), DER; may be empty.
    pub chain_der: Vec<Vec<u8>>,
}

impl fmt::Debug for Credential {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credential")
            .field("key", &self.key)
            .field("certificate_sha256", &self.fingerprint())
            .field("chain_len", &self.chain_der.len())
            .finish()
    }
}

impl Credential {
    /// Build from parts, checking that `key` matches `certificate_der`.
    pub fn new(key: PrivateKey, certificate_der: Vec<u8>, chain_der: Vec<Vec<u8>>) -> Result<Self> {
        let spki = certificate_spki_der(&certificate_der)?;
        if !key.matches_spki(&spki)? {
            return Err(CryptoError::KeyCertificateMismatch(
                "the certificate's public key is not the key's public half".into(),
            ));
        }
        Ok(Credential {
            key,
            certificate_der,
            chain_der,
        })
    }

    /// Read a PKCS#12 (.p12/.pfx) file: OpenSSL 3 default (PBES2/AES-256, HMAC-SHA256)
    /// and `-legacy` (3DES/RC2, SHA-1 MAC) files, Java/Windows exports.
    ///
    /// The leaf is the certificate matching the key; all other certificates go to the
    /// chain in file order.
    pub fn from_pkcs12(bytes: &[u8], password: &str) -> Result<Self> {
        let contents = crate::pkcs12::read(bytes, password).map_err(|e| match e {
            crate::pkcs12::ReadError::WrongPassword => CryptoError::WrongPkcs12Password,
            crate::pkcs12::ReadError::Invalid(why) => CryptoError::Pkcs12(why),
        })?;
        if contents.keys.is_empty() {
            return Err(CryptoError::NoPrivateKey);
        }
        let certs = contents.certs;
        if certs.is_empty() {
            return Err(CryptoError::NoCertificate(
                "the PKCS#12 file contains no certificate".into(),
            ));
        }
        let mut last_err = None;
        for der in &contents.keys {
            let key = match PrivateKey::from_pkcs8_der(der) {
                Ok(k) => k,
                Err(e) => {
                    last_err = Some(e);
                    continue;
                }
            };
            if let Some(cred) = Self::pick_leaf(key, &certs)? {
                return Ok(cred);
            }
            last_err = Some(CryptoError::KeyCertificateMismatch(format!(
                "none of the {} certificate(s) in the PKCS#12 file belongs to the private key",
                certs.len()
            )));
        }
        Err(last_err.unwrap_or(CryptoError::NoPrivateKey))
    }

    /// Read a PEM private key and a PEM certificate (or chain: leaf plus issuers, any
    /// order; the leaf is the one matching the key). `key_pem` may be `PRIVATE KEY`
    /// (PKCS#8), `RSA PRIVATE KEY` or `EC PRIVATE KEY`. Both may be the same text.
    pub fn from_pem(key_pem: &str, cert_pem: &str) -> Result<Self> {
        let key = PrivateKey::from_pem(key_pem)?;
        let certs: Vec<Vec<u8>> = pem::parse_blocks(cert_pem)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| b.der)
            .collect();
        if certs.is_empty() {
            return Err(CryptoError::NoCertificate(
                "no CERTIFICATE block in the PEM text".into(),
            ));
        }
        Self::pick_leaf(key, &certs)?.ok_or_else(|| {
            CryptoError::KeyCertificateMismatch(format!(
                "none of the {} PEM certificate(s) belongs to the private key",
                certs.len()
            ))
        })
    }

    fn pick_leaf(key: PrivateKey, certs: &[Vec<u8>]) -> Result<Option<Self>> {
        for (i, cert) in certs.iter().enumerate() {
            let spki = certificate_spki_der(cert)?;
            if key.matches_spki(&spki)? {
                let chain = certs
                    .iter()
                    .enumerate()
                    .filter(|(j, c)| *j != i && *c != cert)
                    .map(|(_, c)| c.clone())
                    .collect();
                return Ok(Some(Credential {
                    key,
                    certificate_der: cert.clone(),
                    chain_der: chain,
                }));
            }
        }
        Ok(None)
    }

    /// Write a PKCS#12 file (PBES2 with PBKDF2-HMAC-SHA256 and AES-256-CBC, HMAC-SHA256
    /// MAC, 10 000 iterations) that `openssl pkcs12` (3.x) reads.
    pub fn to_pkcs12(&self, password: &str) -> Result<Vec<u8>> {
        let der = self.key.to_pkcs8_der()?;
        let certs: Vec<Vec<u8>> = std::iter::once(&self.certificate_der)
            .chain(self.chain_der.iter())
            .cloned()
            .collect();
        // localKeyId: first 20 bytes of the certificate's SHA-256 (any opaque id works).
        let fp = crate::sha256(&self.certificate_der);
        crate::pkcs12::write(&der, &certs, &fp[..20], password).map_err(CryptoError::Pkcs12Write)
    }

    /// The leaf certificate as PEM.
    pub fn certificate_pem(&self) -> Result<String> {
        pem::encode("CERTIFICATE", &self.certificate_der)
    }

    /// Leaf certificate followed by the chain, as concatenated PEM blocks.
    pub fn chain_pem(&self) -> Result<String> {
        let mut out = self.certificate_pem()?;
        for c in &self.chain_der {
            out.push_str(&pem::encode("CERTIFICATE", c)?);
        }
        Ok(out)
    }

    /// The private key as PKCS#8 PEM (unencrypted), wiped on drop.
    pub fn key_pem(&self) -> Result<Zeroizing<String>> {
        self.key.to_pkcs8_pem()
    }

    /// SHA-256 of the certificate DER, 64 uppercase hex digits (KSeF's certificate
    /// fingerprint, used by `certificateFingerprint` mode).
    pub fn fingerprint(&self) -> String {
        sha256_fingerprint_hex(&self.certificate_der)
    }

    /// The key's algorithm.
    pub fn algorithm(&self) -> Result<KeyAlgorithm> {
        self.key.algorithm()
    }

    /// Sign with the credential's key; see [`crate::sign_raw`].
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        crate::sign_raw(&self.key, data)
    }

    /// Inspect the leaf certificate (identity, validity...).
    pub fn info(&self) -> Result<crate::identity::CertificateInfo> {
        crate::identity::inspect_certificate(&self.certificate_der)
    }
}

/// The `SubjectPublicKeyInfo` DER of a certificate.
pub fn certificate_spki_der(cert_der: &[u8]) -> Result<Vec<u8>> {
    let cert = x509_cert::Certificate::from_der(cert_der)
        .map_err(|e| CryptoError::InvalidCertificate(e.to_string()))?;
    cert.tbs_certificate()
        .subject_public_key_info()
        .to_der()
        .map_err(|e| CryptoError::InvalidCertificate(format!("SPKI encoding: {e}")))
}
