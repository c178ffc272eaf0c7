//! The crate's error type.

use thiserror::Error;

/// Everything that can go wrong in `ksef-crypto`.
///
/// Messages never contain key material or passwords.
#[derive(Debug, Error)]
#[non_exhaustive]
pub enum CryptoError {
    /// The PKCS#12 integrity check (MAC) failed: almost always a wrong password.
    #[error("wrong PKCS#12 password (the file's integrity check failed)")]
    WrongPkcs12Password,

    /// The PKCS#12 file could not be read for another reason.
    #[error("cannot read PKCS#12 file: {0}")]
    Pkcs12(String),

    /// Writing a PKCS#12 file failed.
    #[error("cannot write PKCS#12 file: {0}")]
    Pkcs12Write(String),

    /// The PKCS#12 file holds no private key.
    #[error("the PKCS#12 file contains no private key")]
    NoPrivateKey,

    /// No certificate was found (in a PKCS#12 file or PEM input).
    #[error("no certificate found: {0}")]
    NoCertificate(String),

    /// None of the certificates matches the private key.
    #[error("the private key does not match the certificate ({0})")]
    KeyCertificateMismatch(String),

    /// A key algorithm (or RSA size / EC curve) that this crate does not handle.
    #[error("unsupported key algorithm: {0}")]
    UnsupportedKeyAlgorithm(String),

    /// A signature algorithm that this crate does not handle.
    #[error("unsupported signature algorithm: {0}")]
    UnsupportedSignatureAlgorithm(String),

    /// PEM text could not be parsed.
    #[error("bad PEM: {0}")]
    BadPem(String),

    /// A private key could not be decoded.
    #[error("invalid private key: {0}")]
    InvalidPrivateKey(String),

    /// A public key (SubjectPublicKeyInfo) could not be decoded.
    #[error("invalid public key: {0}")]
    InvalidPublicKey(String),

    /// An X.509 certificate could not be decoded.
    #[error("invalid certificate: {0}")]
    InvalidCertificate(String),

    /// Encryption failed (e.g. plaintext too long for RSA-OAEP).
    #[error("encryption failed: {0}")]
    EncryptionFailed(String),

    /// Decryption failed (wrong key, corrupted ciphertext or bad padding).
    #[error("decryption failed: {0}")]
    DecryptionFailed(String),

    /// Creating a signature failed.
    #[error("signing failed: {0}")]
    SigningFailed(String),

    /// A signature did not verify.
    #[error("signature verification failed: {0}")]
    SignatureInvalid(String),

    /// Key generation failed.
    #[error("key generation failed: {0}")]
    KeyGeneration(String),

    /// A PKCS#10 certificate signing request could not be decoded.
    #[error("invalid certificate signing request: {0}")]
    InvalidCsr(String),

    /// Building a certificate failed.
    #[error("certificate generation failed: {0}")]
    CertificateGeneration(String),

    /// The certificate is not valid yet at the checked instant.
    #[error("certificate is not valid yet (valid from {not_before})")]
    CertificateNotYetValid {
        /// Start of validity (RFC 3339).
        not_before: String,
    },

    /// The certificate has expired at the checked instant.
    #[error("certificate has expired (valid to {not_after})")]
    CertificateExpired {
        /// End of validity (RFC 3339).
        not_after: String,
    },

    /// The certificate was not issued by the given issuer.
    #[error("certificate was not issued by the given issuer: {0}")]
    NotIssuedBy(String),

    /// The certificate meant to issue others is not a CA certificate.
    #[error("not a certificate authority: {0}")]
    NotCertificateAuthority(String),

    /// KOD II may be signed only with a KSeF `Offline` certificate; this one is another kind
    /// (an `Authentication` certificate, or not a KSeF certificate at all), by its keyUsage.
    #[error(
        "KOD II may be signed only with a KSeF Offline certificate (keyUsage nonRepudiation); this is {found}"
    )]
    NotOfflineCertificate {
        /// What the certificate's keyUsage makes it.
        found: crate::verification_link::KsefCertificateUsage,
    },

    /// The certificate's serial number is not of the KSeF form (16 hexadecimal digits), so it
    /// was not issued by KSeF.
    #[error("not a KSeF certificate: its serial number {serial} is not 16 hexadecimal digits")]
    NotKsefCertificate {
        /// The serial number, uppercase hex.
        serial: String,
    },

    /// A KOD II link names another certificate than the one given to check it.
    #[error("the link names certificate {link}, but the certificate given is {certificate}")]
    LinkCertificateMismatch {
        /// The serial number in the link.
        link: String,
        /// The certificate's serial number.
        certificate: String,
    },

    /// Invalid input to a test-certificate builder (e.g. a bad NIP).
    #[error("invalid test certificate subject: {0}")]
    InvalidSubject(String),
}

/// Result alias of this crate.
pub type Result<T, E = CryptoError> = std::result::Result<T, E>;
