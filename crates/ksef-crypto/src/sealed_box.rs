//! Sealing a secret to a public key: ECIES on P-256 (ephemeral ECDH, HKDF-SHA256, AES-256-GCM).
//!
//! The program store seals each program user's KSeF token to that user's own key pair, whose
//! private half only the user's password unlocks: whoever can write the store (an
//! administrator pasting a token for a user) can seal, only the user can open.
//!
//! Layout of a sealed value: `version (1) || ephemeral public key (65, SEC1 uncompressed) ||
//! nonce (12) || ciphertext || tag (16)`. The AES key is
//! `HKDF-SHA256(salt = ephemeral public || recipient public, ikm = ECDH shared x, info)`, the
//! caller's `aad` binds the value to its place (table, row), so a sealed value moved to another
//! row does not open.
//!
//! Composed by hand from RustCrypto parts (p256 ECDH, hkdf, aes-gcm): no kept crate offers
//! ECIES on the curve this crate already uses without pulling in a second elliptic-curve stack.

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key, Nonce};
use p256::elliptic_curve::Generate;
use p256::elliptic_curve::sec1::ToSec1Point;
use p256::{PublicKey, SecretKey};
use sha2::Sha256;

use crate::{CryptoError, Result, Zeroizing};

const VERSION: u8 = 1;
const POINT_LEN: usize = 65;
const NONCE_LEN: usize = 12;
const TAG_LEN: usize = 16;
const INFO: &[u8] = b"ksef sealed box v1 aes-256-gcm";

/// A recipient's key pair. The secret is zeroized on drop.
pub struct SealingKey {
    secret: SecretKey,
}

impl std::fmt::Debug for SealingKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SealingKey")
            .field("public", &hex::encode(self.public_key_bytes()))
            .finish_non_exhaustive()
    }
}

impl SealingKey {
    /// A fresh random key pair.
    pub fn generate() -> Self {
        let mut rng = rand::rng();
        Self {
            secret: SecretKey::generate_from_rng(&mut rng),
        }
    }

    /// The key pair of a stored 32-byte secret scalar.
    pub fn from_secret_bytes(bytes: &[u8]) -> Result<Self> {
        SecretKey::from_slice(bytes)
            .map(|secret| Self { secret })
            .map_err(|_| CryptoError::InvalidPrivateKey("not a P-256 secret scalar".into()))
    }

    /// The 32-byte secret scalar (to be stored encrypted).
    pub fn secret_bytes(&self) -> Zeroizing<Vec<u8>> {
        Zeroizing::new(self.secret.to_bytes().to_vec())
    }

    /// The public key, SEC1 uncompressed (65 bytes).
    pub fn public_key_bytes(&self) -> Vec<u8> {
        self.secret
            .public_key()
            .to_sec1_point(false)
            .as_bytes()
            .to_vec()
    }

    /// Opens a value sealed to this key with the same `aad`.
    pub fn open(&self, sealed: &[u8], aad: &[u8]) -> Result<Zeroizing<Vec<u8>>> {
        let bad = || CryptoError::DecryptionFailed("sealed value does not open".into());
        if sealed.len() < 1 + POINT_LEN + NONCE_LEN + TAG_LEN || sealed[0] != VERSION {
            return Err(bad());
        }
        let (epk, rest) = sealed[1..].split_at(POINT_LEN);
        let (nonce, ct) = rest.split_at(NONCE_LEN);
        let nonce: [u8; NONCE_LEN] = nonce.try_into().map_err(|_| bad())?;
        let ephemeral = PublicKey::from_sec1_bytes(epk).map_err(|_| bad())?;
        let shared =
            p256::ecdh::diffie_hellman(self.secret.to_nonzero_scalar(), ephemeral.as_affine());
        let key = derive(&shared, epk, &self.public_key_bytes())?;
        let cipher = Aes256Gcm::new(<&Key<Aes256Gcm>>::from(&*key));
        cipher
            .decrypt(&Nonce::from(nonce), Payload { msg: ct, aad })
            .map(Zeroizing::new)
            .map_err(|_| bad())
    }
}

/// Seals `plaintext` to the holder of the private half of `recipient` (SEC1 bytes).
pub fn seal(recipient: &[u8], plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
    let recipient_key = PublicKey::from_sec1_bytes(recipient)
        .map_err(|_| CryptoError::InvalidPublicKey("not a P-256 public key".into()))?;
    let recipient_bytes = recipient_key.to_sec1_point(false).as_bytes().to_vec();
    let mut rng = rand::rng();
    let ephemeral = p256::ecdh::EphemeralSecret::generate_from_rng(&mut rng);
    let epk = ephemeral
        .public_key()
        .to_sec1_point(false)
        .as_bytes()
        .to_vec();
    let shared = ephemeral.diffie_hellman(&recipient_key);
    let key = derive(&shared, &epk, &recipient_bytes)?;
    let nonce: [u8; NONCE_LEN] = rand::random();
    let cipher = Aes256Gcm::new(<&Key<Aes256Gcm>>::from(&*key));
    let ct = cipher
        .encrypt(
            &Nonce::from(nonce),
            Payload {
                msg: plaintext,
                aad,
            },
        )
        .map_err(|_| CryptoError::EncryptionFailed("AES-GCM".into()))?;
    let mut out = Vec::with_capacity(1 + POINT_LEN + NONCE_LEN + ct.len());
    out.push(VERSION);
    out.extend_from_slice(&epk);
    out.extend_from_slice(&nonce);
    out.extend_from_slice(&ct);
    Ok(out)
}

fn derive(
    shared: &p256::ecdh::SharedSecret,
    epk: &[u8],
    recipient: &[u8],
) -> Result<Zeroizing<[u8; 32]>> {
    let salt = [epk, recipient].concat();
    let hkdf = shared.extract::<Sha256>(Some(&salt));
    let mut key = Zeroizing::new([0u8; 32]);
    hkdf.expand(INFO, &mut key[..])
        .map_err(|_| CryptoError::EncryptionFailed("HKDF".into()))?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_binding() {
        let k = SealingKey::generate();
        let sealed = seal(&k.public_key_bytes(), b"secret token", b"row 1").unwrap();
        assert_eq!(&k.open(&sealed, b"row 1").unwrap()[..], b"secret token");
        // Another row's AAD, another key, a flipped bit: all refused.
        assert!(k.open(&sealed, b"row 2").is_err());
        assert!(SealingKey::generate().open(&sealed, b"row 1").is_err());
        let mut bad = sealed.clone();
        let last = bad.len() - 1;
        bad[last] ^= 1;
        assert!(k.open(&bad, b"row 1").is_err());
        assert!(k.open(&sealed[..40], b"row 1").is_err());
        // The secret scalar restores the same key pair.
        let again = SealingKey::from_secret_bytes(&k.secret_bytes()).unwrap();
        assert_eq!(again.public_key_bytes(), k.public_key_bytes());
        assert_eq!(&again.open(&sealed, b"row 1").unwrap()[..], b"secret token");
        // Two seals of the same plaintext differ (ephemeral key and nonce).
        assert_ne!(
            sealed,
            seal(&k.public_key_bytes(), b"secret token", b"row 1").unwrap()
        );
        assert!(seal(b"not a key", b"x", b"").is_err());
    }
}
