//! KSeF tokens (digest §6): the token status machine [`TokenStatus`], the secret token string
//! [`KsefToken`], and the authentication-method vocabulary ([`AuthenticationMethod`],
//! [`AuthenticationMethodCategory`], digest §4.5).

use std::fmt;
use std::str::FromStr;

use rand::Rng;
use serde::{Deserialize, Serialize};

use crate::api_enum;
use crate::ident::{ContextIdentifier, ContextIdentifierType, IdentifierError};
use crate::reference::ReferenceNumber;

api_enum! {
    /// Status of a KSeF token (API `AuthenticationTokenStatus`).
    ///
    /// Transitions (digest §6.5): `Pending → Active | Failed`, `Active → Revoking → Revoked`.
    /// `Pending → Revoking` is *not* allowed: the API only documents revoking active tokens
    /// (§6.4 "may revoke any active token"), and a pending token is never usable anyway.
    /// `Active → Revoked` directly is not allowed either: revocation always passes through
    /// `Revoking`, even when it looks immediate.
    pub enum TokenStatus as "AuthenticationTokenStatus" {
        Pending,
        Active,
        Revoking,
        Revoked,
        Failed,
    }
}

impl TokenStatus {
    /// Whether the status machine allows moving from `self` to `next`.
    pub fn can_transition_to(self, next: TokenStatus) -> bool {
        use TokenStatus::*;
        matches!(
            (self, next),
            (Pending, Active) | (Pending, Failed) | (Active, Revoking) | (Revoking, Revoked)
        )
    }

    /// Only `Active` tokens can authenticate.
    pub fn can_authenticate(self) -> bool {
        self == TokenStatus::Active
    }

    /// `Revoked` and `Failed` are terminal.
    pub fn is_final(self) -> bool {
        matches!(self, TokenStatus::Revoked | TokenStatus::Failed)
    }
}

api_enum! {
    /// How a session was authenticated (API `AuthenticationMethod`; deprecated by the API in
    /// favour of [`AuthenticationMethodCategory`] + code, still returned).
    pub enum AuthenticationMethod as "AuthenticationMethod" {
        Token,
        TrustedProfile,
        InternalCertificate,
        QualifiedSignature,
        QualifiedSeal,
        PersonalSignature,
        PeppolSignature,
    }
}

api_enum! {
    /// Category of `authenticationMethodInfo` (API `AuthenticationMethodCategory`).
    pub enum AuthenticationMethodCategory as "AuthenticationMethodCategory" {
        XadesSignature,
        NationalNode,
        Token,
        Other,
    }
}

/// Why a KSeF token string was rejected. Never contains the secret.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KsefTokenError {
    #[error("KSeF token must have 3 parts separated by '|' (reference|context|secret), got {0}")]
    WrongPartCount(usize),
    #[error("KSeF token is {0} characters long, the API allows at most 160")]
    TooLong(usize),
    #[error("KSeF token has an invalid reference number: {0}")]
    Reference(#[source] IdentifierError),
    #[error("KSeF token context {0:?} must look like '<type>-<value>', e.g. 'nip-5265877635'")]
    ContextShape(String),
    #[error(
        "KSeF token has an unknown context type {0:?} (expected nip, internalId, nipVatUe or peppolId)"
    )]
    UnknownContextType(String),
    #[error("KSeF token has an invalid context identifier: {0}")]
    Context(#[source] IdentifierError),
    #[error("KSeF token secret must be 64 lowercase hex characters")]
    Secret,
}

/// The context-type prefix used inside token strings (`nip`, `internalId`, …): the API type
/// name in lowerCamelCase. `nip` and `internalId` are observed; the other two are inferred.
fn context_prefix(kind: ContextIdentifierType) -> &'static str {
    match kind {
        ContextIdentifierType::Nip => "nip",
        ContextIdentifierType::InternalId => "internalId",
        ContextIdentifierType::NipVatUe => "nipVatUe",
        ContextIdentifierType::PeppolId => "peppolId",
    }
}

/// Maximum length of a token string (OpenAPI).
pub const MAX_TOKEN_LEN: usize = 160;

/// A KSeF token: `<referenceNumber>|<contextType>-<contextValue>|<64 lowercase hex secret>`,
/// e.g. `20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12345|919f…f7b9`.
///
/// The whole string is a credential. `Debug` redacts the secret and there is no `Display`;
/// use [`KsefToken::expose_secret`] for the full string. Serialization writes the full string
/// (it is the API's wire form) — do not serialize it into logs. Equality compares in constant
/// time.
#[derive(Clone)]
pub struct KsefToken {
    full: String,
    reference: ReferenceNumber,
    context: ContextIdentifier,
    /// Byte offset of the secret in `full`.
    secret_at: usize,
}

impl KsefToken {
    /// Builds the token string from its parts.
    pub fn new(reference: ReferenceNumber, context: &ContextIdentifier, secret: [u8; 32]) -> Self {
        let head = format!(
            "{reference}|{}-{}|",
            context_prefix(context.kind()),
            context.value()
        );
        let secret_at = head.len();
        let full = head + &hex::encode(secret);
        KsefToken {
            full,
            reference,
            context: context.clone(),
            secret_at,
        }
    }

    /// A token with a fresh random secret.
    pub fn generate<R: Rng + ?Sized>(
        rng: &mut R,
        reference: ReferenceNumber,
        context: &ContextIdentifier,
    ) -> Self {
        let mut secret = [0u8; 32];
        rng.fill_bytes(&mut secret);
        KsefToken::new(reference, context, secret)
    }

    /// The token's reference number (not secret).
    pub fn reference_number(&self) -> &ReferenceNumber {
        &self.reference
    }

    /// The context the token is bound to (not secret).
    pub fn context(&self) -> &ContextIdentifier {
        &self.context
    }

    /// The 64 lowercase hex characters of the secret.
    pub fn secret_hex(&self) -> &str {
        &self.full[self.secret_at..]
    }

    /// The full token string — a credential: do not log it.
    pub fn expose_secret(&self) -> &str {
        &self.full
    }
}

impl FromStr for KsefToken {
    type Err = KsefTokenError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.len() > MAX_TOKEN_LEN {
            return Err(KsefTokenError::TooLong(s.chars().count()));
        }
        let parts: Vec<&str> = s.split('|').collect();
        let [reference, context, secret] = parts[..] else {
            return Err(KsefTokenError::WrongPartCount(parts.len()));
        };
        let reference: ReferenceNumber = reference.parse().map_err(KsefTokenError::Reference)?;
        let Some((prefix, value)) = context.split_once('-') else {
            return Err(KsefTokenError::ContextShape(context.to_owned()));
        };
        let kind = ContextIdentifierType::ALL
            .iter()
            .copied()
            .find(|k| context_prefix(*k) == prefix)
            .ok_or_else(|| KsefTokenError::UnknownContextType(prefix.to_owned()))?;
        let context = ContextIdentifier::parse(kind, value).map_err(KsefTokenError::Context)?;
        let secret_ok = secret.len() == 64
            && secret
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        if !secret_ok {
            return Err(KsefTokenError::Secret);
        }
        Ok(KsefToken {
            secret_at: s.len() - 64,
            full: s.to_owned(),
            reference,
            context,
        })
    }
}

impl fmt::Debug for KsefToken {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KsefToken")
            .field("reference_number", &self.reference.as_str())
            .field("context", &self.context)
            .field("secret", &"<redacted>")
            .finish()
    }
}

impl PartialEq for KsefToken {
    /// Constant-time comparison of the full strings (hand-rolled: a few lines instead of a
    /// `subtle` dependency; lengths are not secret).
    fn eq(&self, other: &Self) -> bool {
        let (a, b) = (self.full.as_bytes(), other.full.as_bytes());
        a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
    }
}
impl Eq for KsefToken {}

impl Serialize for KsefToken {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.full)
    }
}

impl<'de> Deserialize<'de> for KsefToken {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let s = String::deserialize(deserializer)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests;
