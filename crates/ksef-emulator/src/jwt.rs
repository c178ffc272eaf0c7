//! The emulator's JWTs (HS256, like the real service — digest §4.9). Clients must treat them as
//! opaque; the claim names follow what real TEST tokens carry (`typ`, `arn`, `cit`, `civ`, `aum`).

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

pub const ISSUER: &str = "ksef-api-emulator";

/// Which of the three tokens this is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TokenType {
    /// The operation token returned by the auth init call.
    AuthenticationToken,
    /// The access token.
    ContextToken,
    /// The refresh token.
    RefreshToken,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct Claims {
    pub typ: TokenType,
    /// Authentication operation (= authentication session) reference number.
    pub arn: String,
    /// Context identifier type and value.
    pub cit: String,
    pub civ: String,
    /// Authentication method (`AuthenticationMethod` API name).
    pub aum: String,
    /// Permissions carried by an access token (API names); empty for other token types.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub per: Vec<String>,
    pub iss: String,
    pub aud: String,
    pub iat: i64,
    pub exp: i64,
    pub jti: String,
}

/// Signs and checks tokens with the emulator's persistent HMAC key.
#[derive(Clone)]
pub struct JwtKeys {
    enc: EncodingKey,
    dec: DecodingKey,
}

impl std::fmt::Debug for JwtKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtKeys(<redacted>)")
    }
}

/// Why a presented bearer token was refused (becomes a 401 detail).
#[derive(Debug, thiserror::Error, PartialEq)]
pub enum JwtError {
    #[error("the token has expired")]
    Expired,
    #[error("the token is not a valid KSeF token: {0}")]
    Invalid(String),
    #[error("this endpoint needs a {expected:?}, but a {found:?} was presented")]
    WrongType {
        expected: Vec<TokenType>,
        found: TokenType,
    },
}

impl JwtKeys {
    pub fn new(secret: &[u8]) -> Self {
        Self {
            enc: EncodingKey::from_secret(secret),
            dec: DecodingKey::from_secret(secret),
        }
    }

    /// Issues a token; returns the compact JWT and its expiry.
    #[allow(clippy::too_many_arguments)]
    pub fn issue(
        &self,
        typ: TokenType,
        arn: &str,
        cit: &str,
        civ: &str,
        aum: &str,
        per: Vec<String>,
        now: OffsetDateTime,
        lifetime: std::time::Duration,
    ) -> Result<(String, OffsetDateTime), JwtError> {
        let exp = now + lifetime;
        let jti: [u8; 16] = rand::random();
        let claims = Claims {
            typ,
            arn: arn.to_string(),
            cit: cit.to_string(),
            civ: civ.to_string(),
            aum: aum.to_string(),
            per,
            iss: ISSUER.to_string(),
            aud: ISSUER.to_string(),
            iat: now.unix_timestamp(),
            exp: exp.unix_timestamp(),
            jti: hex::encode(jti),
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.enc)
            .map_err(|e| JwtError::Invalid(e.to_string()))?;
        Ok((token, exp))
    }

    /// Verifies signature, issuer, audience, expiry and type.
    pub fn verify(&self, token: &str, expected: &[TokenType]) -> Result<Claims, JwtError> {
        let mut v = Validation::new(Algorithm::HS256);
        v.set_issuer(&[ISSUER]);
        v.set_audience(&[ISSUER]);
        v.leeway = 0;
        let data =
            jsonwebtoken::decode::<Claims>(token, &self.dec, &v).map_err(|e| match e.kind() {
                jsonwebtoken::errors::ErrorKind::ExpiredSignature => JwtError::Expired,
                _ => JwtError::Invalid(e.to_string()),
            })?;
        let claims = data.claims;
        if !expected.contains(&claims.typ) {
            return Err(JwtError::WrongType {
                expected: expected.to_vec(),
                found: claims.typ,
            });
        }
        Ok(claims)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn issue_verify_and_reject() {
        let keys = JwtKeys::new(b"0123456789abcdef0123456789abcdef");
        let now = OffsetDateTime::now_utc();
        let (t, exp) = keys
            .issue(
                TokenType::ContextToken,
                "ref",
                "Nip",
                "5265877635",
                "Token",
                vec!["InvoiceRead".into()],
                now,
                Duration::from_secs(60),
            )
            .unwrap();
        assert!(exp > now);
        let c = keys.verify(&t, &[TokenType::ContextToken]).unwrap();
        assert_eq!(c.civ, "5265877635");
        assert_eq!(c.per, vec!["InvoiceRead".to_string()]);
        assert!(matches!(
            keys.verify(&t, &[TokenType::RefreshToken]),
            Err(JwtError::WrongType { .. })
        ));
        let other = JwtKeys::new(b"another-secret-another-secret-xx");
        assert!(matches!(
            other.verify(&t, &[TokenType::ContextToken]),
            Err(JwtError::Invalid(_))
        ));
        let (old, _) = keys
            .issue(
                TokenType::ContextToken,
                "r",
                "Nip",
                "1",
                "Token",
                vec![],
                now - Duration::from_secs(120),
                Duration::from_secs(60),
            )
            .unwrap();
        assert_eq!(
            keys.verify(&old, &[TokenType::ContextToken]),
            Err(JwtError::Expired)
        );
        assert!(matches!(
            keys.verify("garbage", &[TokenType::ContextToken]),
            Err(JwtError::Invalid(_))
        ));
    }
}
