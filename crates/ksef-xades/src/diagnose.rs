//! Explanations for a rejected signed `AuthTokenRequest` (for `ksef auth check`):
//! which of the common causes of KSeF error 9105 applies (NOTES.md top 5).

/// One diagnostic finding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    /// Which known cause this is.
    pub cause: Cause,
    /// Human explanation (English).
    pub message: String,
}

/// The known causes of a rejected signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Cause {
    /// 1. Re-formatted / re-encoded after signing.
    ModifiedAfterSigning,
    /// 2. ECDSA signature DER-encoded instead of raw R||S.
    EcdsaDerEncoded,
    /// 3. Algorithm not accepted (RSA-PSS on older servers, SHA-1 on DEMO/PRD).
    AlgorithmRisk,
    /// 4. Detached signature or not covering the whole document.
    NotEnveloped,
    /// 5. SignedProperties not referenced / wrong CertDigest.
    XadesProperties,
    /// Anything else that makes the document unacceptable.
    Other,
}

/// Analyse a signed document. Empty result = no problem found.
pub fn diagnose(xml: &[u8]) -> Vec<Finding> {
    let _ = xml;
    Vec::new()
}
