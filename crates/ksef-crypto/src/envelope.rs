//! Client-side encryption of KSeF (digest §3.2): RSA-OAEP (SHA-256, MGF1-SHA-256, empty
//! label) for wrapping the AES key and the KSeF token, AES-256-CBC with PKCS#7 padding for
//! invoices, batch parts and export parts, and SHA-256/Base64 hashes.
//!
//! The AES ciphertext is the raw CBC output, **not** prefixed with the IV: the IV travels
//! separately in `initializationVector`.

use aes::cipher::block_padding::Pkcs7;
use aes::cipher::{BlockModeDecrypt, BlockModeEncrypt, KeyIvInit};
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use rand::Rng as _;
use rsa::{Oaep, RsaPrivateKey, RsaPublicKey};
use sha2::Sha256;

use crate::error::{CryptoError, Result};
use crate::key::PublicKey;

type Aes256CbcEnc = cbc::Encryptor<aes::Aes256>;
type Aes256CbcDec = cbc::Decryptor<aes::Aes256>;

/// RSAES-OAEP encrypt with SHA-256, MGF1-SHA-256 and an empty label.
pub fn rsa_oaep_sha256_encrypt(public_key: &RsaPublicKey, plaintext: &[u8]) -> Result<Vec<u8>> {
    public_key
        .encrypt(&mut rand::rng(), Oaep::<Sha256>::new(), plaintext)
        .map_err(|e| CryptoError::EncryptionFailed(format!("RSA-OAEP: {e}")))
}

/// [`rsa_oaep_sha256_encrypt`] with the public key given as `SubjectPublicKeyInfo` DER.
pub fn rsa_oaep_sha256_encrypt_spki(spki_der: &[u8], plaintext: &[u8]) -> Result<Vec<u8>> {
    match PublicKey::from_spki_der(spki_der)? {
        PublicKey::Rsa(k) => rsa_oaep_sha256_encrypt(&k, plaintext),
        PublicKey::EcP256(_) => Err(CryptoError::UnsupportedKeyAlgorithm(
            "RSA-OAEP needs an RSA public key, got EC P-256".into(),
        )),
    }
}

/// [`rsa_oaep_sha256_encrypt`] with the public key taken from an X.509 certificate (DER),
/// e.g. one from `GET /security/public-key-certificates` (Base64-decoded).
pub fn rsa_oaep_sha256_encrypt_for_certificate(
    cert_der: &[u8],
    plaintext: &[u8],
) -> Result<Vec<u8>> {
    let spki = crate::credential::certificate_spki_der(cert_der)?;
    rsa_oaep_sha256_encrypt_spki(&spki, plaintext)
}

/// RSAES-OAEP decrypt (SHA-256, MGF1-SHA-256, empty label), with RSA blinding.
pub fn rsa_oaep_sha256_decrypt(key: &RsaPrivateKey, ciphertext: &[u8]) -> Result<Vec<u8>> {
    key.decrypt_blinded(&mut rand::rng(), Oaep::<Sha256>::new(), ciphertext)
        // Deliberately vague: details of OAEP failures must not leak to callers' clients.
        .map_err(|_| {
            CryptoError::DecryptionFailed(
                "RSA-OAEP SHA-256 decryption failed (wrong key or corrupted data)".into(),
            )
        })
}

/// AES-256-CBC encrypt with PKCS#7 padding. Output is the raw ciphertext (no IV prefix),
/// always a multiple of 16 bytes and 1..=16 bytes longer than the input.
pub fn aes256_cbc_encrypt(key: &[u8; 32], iv: &[u8; 16], plaintext: &[u8]) -> Vec<u8> {
    Aes256CbcEnc::new(key.into(), iv.into()).encrypt_padded_vec::<Pkcs7>(plaintext)
}

/// AES-256-CBC decrypt and strip PKCS#7 padding. `ciphertext` must not carry the IV.
pub fn aes256_cbc_decrypt(key: &[u8; 32], iv: &[u8; 16], ciphertext: &[u8]) -> Result<Vec<u8>> {
    if ciphertext.is_empty() || !ciphertext.len().is_multiple_of(16) {
        return Err(CryptoError::DecryptionFailed(format!(
            "AES-256-CBC ciphertext length {} is not a positive multiple of 16",
            ciphertext.len()
        )));
    }
    Aes256CbcDec::new(key.into(), iv.into())
        .decrypt_padded_vec::<Pkcs7>(ciphertext)
        .map_err(|_| {
            CryptoError::DecryptionFailed(
                "AES-256-CBC: bad PKCS#7 padding (wrong key/IV or corrupted data)".into(),
            )
        })
}

/// SHA-256 of `data`, Base64 (standard alphabet, padded) — KSeF's `*Hash` fields.
pub fn sha256_base64(data: &[u8]) -> String {
    BASE64.encode(crate::sha256(data))
}

/// A fresh random AES-256 key (OS-seeded CSPRNG).
pub fn random_aes_key() -> [u8; 32] {
    let mut k = [0u8; 32];
    rand::rng().fill_bytes(&mut k);
    k
}

/// A fresh random 16-byte IV.
pub fn random_iv() -> [u8; 16] {
    let mut iv = [0u8; 16];
    rand::rng().fill_bytes(&mut iv);
    iv
}
