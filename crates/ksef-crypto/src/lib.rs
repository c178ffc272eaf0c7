//! KSeF cryptography.
//!
//! This crate owns everything cryptographic that the KSeF client and the emulator share:
//! * [`PrivateKey`] / [`KeyAlgorithm`] / [`PublicKey`] (RSA and EC P-256), raw signatures
//!   ([`sign_raw`], [`verify_raw`]);
//! * [`Credential`] — a signing identity loaded from PKCS#12 or PEM, written back as PKCS#12;
//! * [`envelope`] — RSA-OAEP-SHA-256, AES-256-CBC/PKCS#7, SHA-256/Base64 (digest §3.2);
//! * [`stream`] — the same AES-256-CBC and SHA-256 as streaming writers (batch and export
//!   parts, archives) with constant memory;
//! * [`testcert`] — self-signed test certificates as KSeF TEST accepts them (digest §5.2);
//! * [`csr`] — PKCS#10 requests for KSeF certificates (digest §14): building them, and
//!   reading and verifying untrusted ones (the emulator's enrollment);
//! * [`ca`] — a minimal CA: self-signed CA certificates and certificates issued by them
//!   (the emulator's simulated Profil Zaufany, chain-trust tests);
//! * [`service`] — the emulator's own RSA key pairs and certificates (digest §3.1, §20);
//! * [`verification_link`] — KOD II: signing a verification link with a KSeF `Offline`
//!   certificate (RSASSA-PSS or ECDSA P-256) and checking it; the KSeF certificate type of a
//!   certificate by its keyUsage (digest §13.2, §14);
//! * [`identity`] — who a certificate identifies (NIP, PESEL, seal; digest §4.5) and
//!   certificate checks (validity, issuer signature).
//!
//! Pure Rust: RustCrypto only (`rsa`, `p256`, `sha2`; `x509-cert` builds and reads
//! certificates and CSRs; PKCS#12 on the `pkcs12` crate's types and key derivation).
//! Secrets never appear in `Debug` output or error messages.

mod credential;
mod error;
mod key;
mod pem;
mod pkcs12;
mod x509;

pub mod ca;
pub mod csr;
pub mod envelope;
pub mod identity;
pub mod sealed_box;
pub mod service;
pub mod stream;
pub mod testcert;
pub mod verification_link;

pub use credential::{Credential, certificate_spki_der};
pub use error::{CryptoError, Result};
pub use key::{KeyAlgorithm, PrivateKey, PublicKey, sign_raw, verify_raw};

/// `Zeroizing` wrapper used for returned secrets (PEM keys).
pub use der::zeroize::Zeroizing;
/// Re-exported so callers can name key types without depending on `rsa`/`p256` directly.
pub use p256;
pub use rsa;

use sha2::{Digest, Sha256};

/// SHA-256 of `data`.
pub fn sha256(data: &[u8]) -> [u8; 32] {
    Sha256::digest(data).into()
}

/// SHA-256 of `data` as 64 uppercase hex digits (KSeF certificate fingerprint format).
pub fn sha256_fingerprint_hex(data: &[u8]) -> String {
    hex::encode_upper(sha256(data))
}

/// The certificates in a file's bytes: one or more PEM `CERTIFICATE` blocks, or a single DER
/// certificate. Used to read trusted CA files.
pub fn certificates_from_pem_or_der(bytes: &[u8]) -> Result<Vec<Vec<u8>>> {
    if let Ok(text) = std::str::from_utf8(bytes)
        && text.contains("-----BEGIN ")
    {
        let certs: Vec<Vec<u8>> = pem::parse_blocks(text)?
            .into_iter()
            .filter(|b| b.label == "CERTIFICATE")
            .map(|b| b.der)
            .collect();
        if certs.is_empty() {
            return Err(CryptoError::BadPem("no CERTIFICATE block found".into()));
        }
        return Ok(certs);
    }
    identity::inspect_certificate(bytes)?;
    Ok(vec![bytes.to_vec()])
}
