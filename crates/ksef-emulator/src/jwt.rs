//! The emulator's JWTs (HS256, like the real service — digest §4.9). Clients must treat them as
//! opaque; the claim names follow what real TEST tokens carry (`typ`, `arn`, `cit`, `civ`, `aum`).
//!
//! Written on the `hmac` and `sha2` crates already in the tree rather than a JWT library: the
//! emulator issues and checks only its own compact HS256 tokens (one fixed header), which is
//! a base64url join and one MAC; a JWT crate brought a second RustCrypto generation with it.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use serde::{Deserialize, Serialize};
use sha2::Sha256;
use time::OffsetDateTime;
use zeroize::Zeroizing;

pub const ISSUER: &str = "ksef-api-emulator";

/// Which of the three tokens this is.
// The variant names are written into issued tokens (serde): renaming them would invalidate
// the tokens of a running emulator's clients.
#[allow(clippy::enum_variant_names)]
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

/// The JOSE header of every token the emulator issues.
const HEADER: &str = r#"{"alg":"HS256","typ":"JWT"}"#;

/// The header fields a presented token is checked for.
#[derive(Deserialize)]
struct Header {
    alg: String,
}

/// Signs and checks tokens with the emulator's persistent HMAC key.
#[derive(Clone)]
pub struct JwtKeys {
    secret: Zeroizing<Vec<u8>>,
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
            secret: Zeroizing::new(secret.to_vec()),
        }
    }

    fn mac(&self, signing_input: &str) -> Hmac<Sha256> {
        // HMAC takes a key of any length; `new_from_slice` cannot fail for it.
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(&self.secret)
            .unwrap_or_else(|_| unreachable!("HMAC accepts keys of every length"));
        mac.update(signing_input.as_bytes());
        mac
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
        let payload = serde_json::to_vec(&claims).map_err(|e| JwtError::Invalid(e.to_string()))?;
        let signing_input = format!(
            "{}.{}",
            URL_SAFE_NO_PAD.encode(HEADER),
            URL_SAFE_NO_PAD.encode(payload)
        );
        let signature = self.mac(&signing_input).finalize().into_bytes();
        let token = format!("{signing_input}.{}", URL_SAFE_NO_PAD.encode(signature));
        Ok((token, exp))
    }

    /// Verifies signature, issuer, audience, expiry and type.
    pub fn verify(&self, token: &str, expected: &[TokenType]) -> Result<Claims, JwtError> {
        let invalid = |why: &str| JwtError::Invalid(why.to_string());
        let mut parts = token.split('.');
        let (Some(header), Some(payload), Some(signature), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(invalid("not a compact JWS (three dot-separated parts)"));
        };
        let decode = |part: &str| {
            URL_SAFE_NO_PAD
                .decode(part)
                .map_err(|_| invalid("not base64url"))
        };
        let h: Header =
            serde_json::from_slice(&decode(header)?).map_err(|_| invalid("unreadable header"))?;
        if h.alg != "HS256" {
            return Err(invalid("unexpected algorithm"));
        }
        self.mac(&token[..header.len() + 1 + payload.len()])
            .verify_slice(&decode(signature)?)
            .map_err(|_| invalid("signature mismatch"))?;
        let claims: Claims = serde_json::from_slice(&decode(payload)?)
            .map_err(|e| JwtError::Invalid(format!("claims: {e}")))?;
        if claims.iss != ISSUER || claims.aud != ISSUER {
            return Err(invalid("issuer or audience"));
        }
        if claims.exp < OffsetDateTime::now_utc().unix_timestamp() {
            return Err(JwtError::Expired);
        }
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
        // Altered claims, `alg: none`, an extra part: refused.
        let (h, rest) = t.split_once('.').unwrap();
        let (payload, sig) = rest.split_once('.').unwrap();
        let mut claims: serde_json::Value =
            serde_json::from_slice(&URL_SAFE_NO_PAD.decode(payload).unwrap()).unwrap();
        claims["civ"] = "1111111111".into();
        let forged = format!(
            "{h}.{}.{sig}",
            URL_SAFE_NO_PAD.encode(serde_json::to_vec(&claims).unwrap())
        );
        assert!(matches!(
            keys.verify(&forged, &[TokenType::ContextToken]),
            Err(JwtError::Invalid(_))
        ));
        let none = format!(
            "{}.{payload}.",
            URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"JWT"}"#)
        );
        assert!(matches!(
            keys.verify(&none, &[TokenType::ContextToken]),
            Err(JwtError::Invalid(_))
        ));
        assert!(matches!(
            keys.verify(&format!("{t}.x"), &[TokenType::ContextToken]),
            Err(JwtError::Invalid(_))
        ));
    }

    /// The compact form is standard HS256: the third-party client and jwt.io-style tools can
    /// decode it (checked here by recomputing the MAC independently of `verify`).
    #[test]
    fn tokens_are_standard_hs256() {
        let keys = JwtKeys::new(b"k");
        let (t, _) = keys
            .issue(
                TokenType::RefreshToken,
                "r",
                "Nip",
                "5265877635",
                "Token",
                vec![],
                OffsetDateTime::now_utc(),
                Duration::from_secs(60),
            )
            .unwrap();
        let (input, sig) = t.rsplit_once('.').unwrap();
        let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(b"k").unwrap();
        mac.update(input.as_bytes());
        assert_eq!(
            URL_SAFE_NO_PAD.decode(sig).unwrap(),
            mac.finalize().into_bytes().to_vec()
        );
        let header = URL_SAFE_NO_PAD
            .decode(t.split('.').next().unwrap())
            .unwrap();
        assert_eq!(header, HEADER.as_bytes());
    }
}
