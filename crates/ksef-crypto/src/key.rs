//! Private keys (RSA and EC P-256), their algorithms, raw signatures and verification.

use std::fmt;

use der::Decode;
use der::oid::ObjectIdentifier;
use der::zeroize::Zeroizing;
use p256::ecdsa::signature::{Signer, Verifier};
use pkcs8::{DecodePrivateKey, EncodePrivateKey, EncodePublicKey};
use rsa::pkcs1::DecodeRsaPrivateKey;
use rsa::traits::PublicKeyParts;
use rsa::{RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;
use spki::SubjectPublicKeyInfoRef;

use crate::error::{CryptoError, Result};
use crate::pem;

/// rsaEncryption (PKCS#1).
pub(crate) const OID_RSA_ENCRYPTION: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.113549.1.1.1");
/// id-ecPublicKey.
pub(crate) const OID_EC_PUBLIC_KEY: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.2.1");
/// prime256v1 / secp256r1 / NIST P-256.
pub(crate) const OID_PRIME256V1: ObjectIdentifier =
    ObjectIdentifier::new_unwrap("1.2.840.10045.3.1.7");

/// The key algorithms this crate can hold, generate and sign with.
///
/// KSeF accepts RSA ≥ 2048 bits and EC P-256 (digest §5.2).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum KeyAlgorithm {
    /// RSA, 2048-bit modulus.
    Rsa2048,
    /// RSA, 3072-bit modulus.
    Rsa3072,
    /// RSA, 4096-bit modulus.
    Rsa4096,
    /// ECDSA on NIST P-256 (secp256r1).
    EcP256,
}

impl KeyAlgorithm {
    /// RSA modulus size in bits, `None` for EC.
    pub fn rsa_bits(self) -> Option<usize> {
        match self {
            KeyAlgorithm::Rsa2048 => Some(2048),
            KeyAlgorithm::Rsa3072 => Some(3072),
            KeyAlgorithm::Rsa4096 => Some(4096),
            KeyAlgorithm::EcP256 => None,
        }
    }

    /// True for the RSA variants.
    pub fn is_rsa(self) -> bool {
        self.rsa_bits().is_some()
    }

    /// The RSA variant for a modulus size, if supported.
    pub fn from_rsa_bits(bits: usize) -> Option<Self> {
        match bits {
            2048 => Some(KeyAlgorithm::Rsa2048),
            3072 => Some(KeyAlgorithm::Rsa3072),
            4096 => Some(KeyAlgorithm::Rsa4096),
            _ => None,
        }
    }

    /// The XML-DSig `SignatureMethod` algorithm URI used with this key
    /// (RSA PKCS#1 v1.5 SHA-256 or ECDSA SHA-256).
    pub fn xmldsig_signature_method(self) -> &'static str {
        if self.is_rsa() {
            "http://www.w3.org/2001/04/xmldsig-more#rsa-sha256"
        } else {
            "http://www.w3.org/2001/04/xmldsig-more#ecdsa-sha256"
        }
    }
}

impl fmt::Display for KeyAlgorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.rsa_bits() {
            Some(bits) => write!(f, "RSA-{bits}"),
            None => f.write_str("EC P-256"),
        }
    }
}

/// A private signing key. `Debug` never shows key material.
#[derive(Clone)]
pub enum PrivateKey {
    /// RSA private key (2048, 3072 or 4096 bits).
    Rsa(RsaPrivateKey),
    /// EC private key on NIST P-256.
    EcP256(p256::SecretKey),
}

impl fmt::Debug for PrivateKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.algorithm() {
            Ok(alg) => write!(f, "PrivateKey({alg}, <redacted>)"),
            Err(_) => f.write_str("PrivateKey(<redacted>)"),
        }
    }
}

impl PartialEq for PrivateKey {
    /// Keys are equal when their public halves are equal.
    fn eq(&self, other: &Self) -> bool {
        match (self.public_key_spki_der(), other.public_key_spki_der()) {
            (Ok(a), Ok(b)) => a == b,
            _ => false,
        }
    }
}

impl PrivateKey {
    /// Generate a fresh key of the given algorithm.
    pub fn generate(algorithm: KeyAlgorithm) -> Result<Self> {
        let mut rng = rand::rng();
        match algorithm.rsa_bits() {
            Some(bits) => RsaPrivateKey::new(&mut rng, bits)
                .map(PrivateKey::Rsa)
                .map_err(|e| CryptoError::KeyGeneration(e.to_string())),
            None => Ok(PrivateKey::EcP256(
                <p256::SecretKey as p256::elliptic_curve::Generate>::generate_from_rng(&mut rng),
            )),
        }
    }

    /// The key's algorithm. Fails only for RSA keys of an unusual size.
    pub fn algorithm(&self) -> Result<KeyAlgorithm> {
        match self {
            PrivateKey::Rsa(k) => {
                let bits = k.size() * 8;
                KeyAlgorithm::from_rsa_bits(bits).ok_or_else(|| {
                    CryptoError::UnsupportedKeyAlgorithm(format!(
                        "RSA-{bits} (supported: 2048, 3072, 4096)"
                    ))
                })
            }
            PrivateKey::EcP256(_) => Ok(KeyAlgorithm::EcP256),
        }
    }

    /// Decode a PKCS#8 `PrivateKeyInfo` (unencrypted) in DER form.
    pub fn from_pkcs8_der(der: &[u8]) -> Result<Self> {
        let info = pkcs8::PrivateKeyInfoRef::try_from(der)
            .map_err(|e| CryptoError::InvalidPrivateKey(format!("not a PKCS#8 key: {e}")))?;
        let alg = info.algorithm.oid;
        let key = if alg == OID_RSA_ENCRYPTION {
            RsaPrivateKey::from_pkcs8_der(der)
                .map(PrivateKey::Rsa)
                .map_err(|e| CryptoError::InvalidPrivateKey(format!("RSA: {e}")))?
        } else if alg == OID_EC_PUBLIC_KEY {
            let curve = info.algorithm.parameters_oid().ok();
            if curve != Some(OID_PRIME256V1) {
                return Err(CryptoError::UnsupportedKeyAlgorithm(format!(
                    "EC key on curve {} (only P-256 is supported)",
                    curve
                        .map(|c| curve_name(&c))
                        .unwrap_or_else(|| "<missing>".into())
                )));
            }
            p256::SecretKey::from_pkcs8_der(der)
                .map(PrivateKey::EcP256)
                .map_err(|e| CryptoError::InvalidPrivateKey(format!("EC P-256: {e}")))?
        } else {
            return Err(CryptoError::UnsupportedKeyAlgorithm(describe_oid(&alg)));
        };
        key.algorithm()?;
        Ok(key)
    }

    /// Decode a PEM private key: `PRIVATE KEY` (PKCS#8), `RSA PRIVATE KEY` (PKCS#1)
    /// or `EC PRIVATE KEY` (SEC1). Text outside the PEM block is ignored.
    /// Encrypted keys (`ENCRYPTED PRIVATE KEY`) are refused with a clear error.
    pub fn from_pem(text: &str) -> Result<Self> {
        let blocks = pem::parse_blocks(text)?;
        let block = blocks
            .iter()
            .find(|b| b.label.ends_with("PRIVATE KEY"))
            .ok_or_else(|| CryptoError::BadPem("no PRIVATE KEY block found".into()))?;
        match block.label.as_str() {
            "PRIVATE KEY" => Self::from_pkcs8_der(&block.der),
            "RSA PRIVATE KEY" => {
                let k = RsaPrivateKey::from_pkcs1_der(&block.der)
                    .map_err(|e| CryptoError::InvalidPrivateKey(format!("PKCS#1 RSA: {e}")))?;
                let key = PrivateKey::Rsa(k);
                key.algorithm()?;
                Ok(key)
            }
            "EC PRIVATE KEY" => {
                // SEC1 ECPrivateKey; `from_sec1_der` rejects other named curves.
                p256::SecretKey::from_sec1_der(&block.der)
                    .map(PrivateKey::EcP256)
                    .map_err(|e| {
                        CryptoError::InvalidPrivateKey(format!(
                            "SEC1 EC (only P-256 is supported): {e}"
                        ))
                    })
            }
            "ENCRYPTED PRIVATE KEY" => Err(CryptoError::InvalidPrivateKey(
                "the PEM key is password-encrypted; decrypt it first (openssl pkey) or use PKCS#12"
                    .into(),
            )),
            other => Err(CryptoError::BadPem(format!(
                "unsupported key PEM label '{other}'"
            ))),
        }
    }

    /// PKCS#8 DER (unencrypted), wiped from memory on drop.
    pub fn to_pkcs8_der(&self) -> Result<Zeroizing<Vec<u8>>> {
        let doc = match self {
            PrivateKey::Rsa(k) => k.to_pkcs8_der(),
            PrivateKey::EcP256(k) => k.to_pkcs8_der(),
        }
        .map_err(|e| CryptoError::InvalidPrivateKey(format!("PKCS#8 encoding: {e}")))?;
        Ok(Zeroizing::new(doc.as_bytes().to_vec()))
    }

    /// PKCS#8 PEM (`-----BEGIN PRIVATE KEY-----`, LF line endings), wiped on drop.
    pub fn to_pkcs8_pem(&self) -> Result<Zeroizing<String>> {
        let der = self.to_pkcs8_der()?;
        pem::encode("PRIVATE KEY", &der).map(Zeroizing::new)
    }

    /// The public key as `SubjectPublicKeyInfo` DER.
    pub fn public_key_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            PrivateKey::Rsa(k) => k.to_public_key().to_public_key_der(),
            PrivateKey::EcP256(k) => k.public_key().to_public_key_der(),
        }
        .map_err(|e| CryptoError::InvalidPublicKey(format!("SPKI encoding: {e}")))?;
        Ok(doc.into_vec())
    }

    /// True if `spki_der` holds the public half of this key (compared by value:
    /// RSA modulus and exponent, EC point, regardless of encoding details).
    pub fn matches_spki(&self, spki_der: &[u8]) -> Result<bool> {
        let public = PublicKey::from_spki_der(spki_der)?;
        Ok(match (self, &public) {
            (PrivateKey::Rsa(k), PublicKey::Rsa(p)) => k.n() == p.n() && k.e() == p.e(),
            (PrivateKey::EcP256(k), PublicKey::EcP256(p)) => &k.public_key() == p,
            _ => false,
        })
    }

    /// Sign `data`: RSA PKCS#1 v1.5 with SHA-256, or ECDSA P-256 with SHA-256 as raw
    /// `R||S` (64 bytes, the XML-DSig form). See [`sign_raw`].
    pub fn sign(&self, data: &[u8]) -> Result<Vec<u8>> {
        sign_raw(self, data)
    }
}

/// A public key of a supported kind, decoded from `SubjectPublicKeyInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PublicKey {
    /// RSA public key.
    Rsa(RsaPublicKey),
    /// EC P-256 public key.
    EcP256(p256::PublicKey),
}

impl PublicKey {
    /// Decode `SubjectPublicKeyInfo` DER (RSA or EC P-256).
    pub fn from_spki_der(spki_der: &[u8]) -> Result<Self> {
        use pkcs8::DecodePublicKey;
        let spki = SubjectPublicKeyInfoRef::from_der(spki_der).map_err(|e| {
            CryptoError::InvalidPublicKey(format!("not a SubjectPublicKeyInfo: {e}"))
        })?;
        let alg = spki.algorithm.oid;
        if alg == OID_RSA_ENCRYPTION {
            RsaPublicKey::from_public_key_der(spki_der)
                .map(PublicKey::Rsa)
                .map_err(|e| CryptoError::InvalidPublicKey(format!("RSA: {e}")))
        } else if alg == OID_EC_PUBLIC_KEY {
            let curve = spki.algorithm.parameters_oid().ok();
            if curve != Some(OID_PRIME256V1) {
                return Err(CryptoError::UnsupportedKeyAlgorithm(format!(
                    "EC key on curve {} (only P-256 is supported)",
                    curve
                        .map(|c| curve_name(&c))
                        .unwrap_or_else(|| "<missing>".into())
                )));
            }
            p256::PublicKey::from_public_key_der(spki_der)
                .map(PublicKey::EcP256)
                .map_err(|e| CryptoError::InvalidPublicKey(format!("EC P-256: {e}")))
        } else {
            Err(CryptoError::UnsupportedKeyAlgorithm(describe_oid(&alg)))
        }
    }

    /// The key's algorithm (RSA of an unusual size is an error).
    pub fn algorithm(&self) -> Result<KeyAlgorithm> {
        match self {
            PublicKey::Rsa(k) => {
                let bits = k.size() * 8;
                KeyAlgorithm::from_rsa_bits(bits).ok_or_else(|| {
                    CryptoError::UnsupportedKeyAlgorithm(format!(
                        "RSA-{bits} (supported: 2048, 3072, 4096)"
                    ))
                })
            }
            PublicKey::EcP256(_) => Ok(KeyAlgorithm::EcP256),
        }
    }

    /// `SubjectPublicKeyInfo` DER.
    pub fn to_spki_der(&self) -> Result<Vec<u8>> {
        let doc = match self {
            PublicKey::Rsa(k) => k.to_public_key_der(),
            PublicKey::EcP256(k) => k.to_public_key_der(),
        }
        .map_err(|e| CryptoError::InvalidPublicKey(format!("SPKI encoding: {e}")))?;
        Ok(doc.into_vec())
    }
}

/// Sign `data` with SHA-256: RSA → PKCS#1 v1.5 (`rsa-sha256`); EC P-256 → ECDSA with
/// the signature as raw `R||S` (64 bytes), which is what XML-DSig 1.1 requires.
pub fn sign_raw(key: &PrivateKey, data: &[u8]) -> Result<Vec<u8>> {
    match key {
        PrivateKey::Rsa(k) => {
            let signing = rsa::pkcs1v15::SigningKey::<Sha256>::new(k.clone());
            let sig: rsa::pkcs1v15::Signature = signing
                .try_sign(data)
                .map_err(|e| CryptoError::SigningFailed(format!("RSA PKCS#1 v1.5: {e}")))?;
            Ok(Box::<[u8]>::from(sig).into_vec())
        }
        PrivateKey::EcP256(k) => {
            let signing = p256::ecdsa::SigningKey::from(k);
            let sig: p256::ecdsa::Signature = signing
                .try_sign(data)
                .map_err(|e| CryptoError::SigningFailed(format!("ECDSA P-256: {e}")))?;
            Ok(sig.to_bytes().to_vec())
        }
    }
}

/// Verify a [`sign_raw`] signature against a public key given as `SubjectPublicKeyInfo`
/// DER. For EC P-256 the signature must be raw `R||S` (64 bytes); a DER-encoded ECDSA
/// signature is rejected (it is a client bug in XML-DSig).
pub fn verify_raw(spki_der: &[u8], data: &[u8], signature: &[u8]) -> Result<()> {
    match PublicKey::from_spki_der(spki_der)? {
        PublicKey::Rsa(p) => verify_rsa_pkcs1v15_sha256(&p, data, signature),
        PublicKey::EcP256(p) => {
            if signature.len() != 64 {
                return Err(CryptoError::SignatureInvalid(format!(
                    "ECDSA P-256 signature must be 64 bytes R||S, got {} bytes{}",
                    signature.len(),
                    if signature.first() == Some(&0x30) {
                        " (looks DER-encoded)"
                    } else {
                        ""
                    }
                )));
            }
            let sig = p256::ecdsa::Signature::from_slice(signature)
                .map_err(|e| CryptoError::SignatureInvalid(format!("malformed R||S: {e}")))?;
            p256::ecdsa::VerifyingKey::from(&p)
                .verify(data, &sig)
                .map_err(|_| {
                    CryptoError::SignatureInvalid(
                        "ECDSA P-256 SHA-256 signature does not verify".into(),
                    )
                })
        }
    }
}

pub(crate) fn verify_rsa_pkcs1v15_sha256(
    key: &RsaPublicKey,
    data: &[u8],
    signature: &[u8],
) -> Result<()> {
    let sig = rsa::pkcs1v15::Signature::try_from(signature)
        .map_err(|e| CryptoError::SignatureInvalid(format!("malformed RSA signature: {e}")))?;
    rsa::pkcs1v15::VerifyingKey::<Sha256>::new(key.clone())
        .verify(data, &sig)
        .map_err(|_| {
            CryptoError::SignatureInvalid(
                "RSA PKCS#1 v1.5 SHA-256 signature does not verify".into(),
            )
        })
}

/// Human name of an EC curve OID.
pub(crate) fn curve_name(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.2.840.10045.3.1.7" => "P-256".into(),
        "1.3.132.0.34" => "P-384".into(),
        "1.3.132.0.35" => "P-521".into(),
        "1.3.36.3.3.2.8.1.1.7" => "brainpoolP256r1".into(),
        "1.3.36.3.3.2.8.1.1.11" => "brainpoolP384r1".into(),
        other => other.to_string(),
    }
}

/// Human description of a key algorithm OID.
pub(crate) fn describe_oid(oid: &ObjectIdentifier) -> String {
    match oid.to_string().as_str() {
        "1.3.101.112" => "Ed25519".into(),
        "1.3.101.113" => "Ed448".into(),
        "1.2.840.113549.1.1.10" => "RSASSA-PSS key (id-RSASSA-PSS)".into(),
        "1.2.840.10040.4.1" => "DSA".into(),
        other => format!("OID {other}"),
    }
}
