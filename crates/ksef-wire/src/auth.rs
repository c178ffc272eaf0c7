//! Authentication (digest §4): `POST /auth/challenge`, `POST /auth/xades-signature`,
//! `POST /auth/ksef-token`, `GET /auth/{referenceNumber}`, `POST /auth/token/redeem`,
//! `POST /auth/token/refresh`, `GET /auth/sessions`.

use std::net::Ipv4Addr;

use ksef_core::{
    AuthenticationMethod, AuthenticationMethodCategory, ContextIdentifier, ContextIdentifierType,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::{
    OpenEnum, StatusInfo, TypedIdentifier, Validate, ValidationError, check_length,
};
use crate::ksef_time;
use crate::secret::Secret;

/// `AuthenticationContextIdentifierType` (`Nip`, `InternalId`, `NipVatUe`, `PeppolId`).
pub type AuthenticationContextIdentifierType = ContextIdentifierType;

/// `AuthenticationContextIdentifier`: the context to authenticate into.
pub type AuthenticationContextIdentifier = TypedIdentifier<AuthenticationContextIdentifierType>;

/// `AuthenticationChallengeResponse` (`POST /auth/challenge`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationChallengeResponse {
    /// The challenge (36 chars, `YYYYMMDD-CR-…`).
    pub challenge: String,
    /// When the challenge was generated.
    #[serde(with = "ksef_time")]
    pub timestamp: OffsetDateTime,
    /// `timestamp` in Unix milliseconds (used in the KSeF-token plaintext).
    pub timestamp_ms: i64,
    /// The client IP address as KSeF sees it.
    pub client_ip: String,
}

/// `TokenInfo`: a JWT and its expiry. `Debug` redacts the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TokenInfo {
    /// The JWT (opaque to clients).
    pub token: Secret<String>,
    /// Expiry of the token.
    #[serde(with = "ksef_time")]
    pub valid_until: OffsetDateTime,
}

impl TokenInfo {
    /// A token with its expiry.
    pub fn new(token: impl Into<String>, valid_until: OffsetDateTime) -> Self {
        TokenInfo {
            token: Secret::new(token.into()),
            valid_until,
        }
    }
}

/// `AuthenticationInitResponse` (`POST /auth/xades-signature` and `POST /auth/ksef-token`, 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationInitResponse {
    /// Reference number of the authentication operation (`…-AU-…`).
    pub reference_number: String,
    /// The operation token, used for status polling and redeem.
    pub authentication_token: TokenInfo,
}

/// `AllowedIps`: IPv4 allow-lists of an [`AuthorizationPolicy`] (0–10 entries each).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AllowedIps {
    /// Single addresses, e.g. `192.168.0.10`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip4_addresses: Option<Vec<String>>,
    /// Ranges `start-end`, e.g. `10.0.0.1-10.0.0.254`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip4_ranges: Option<Vec<String>>,
    /// CIDR masks, e.g. `172.16.0.0/16`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip4_masks: Option<Vec<String>>,
}

/// Maximum entries of each [`AllowedIps`] list.
pub const MAX_ALLOWED_IPS_PER_LIST: usize = 10;

/// Strict dotted-quad IPv4 (no leading zeros), like the OpenAPI pattern.
fn parse_ip4(s: &str) -> Option<Ipv4Addr> {
    // std's parser already rejects leading zeros, signs and short forms.
    s.parse().ok()
}

impl AllowedIps {
    /// Checks list sizes and the address / range / CIDR syntax (`field` is the JSON path of
    /// this object).
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        type EntryCheck = fn(&str) -> bool;
        let lists: [(&str, &Option<Vec<String>>, EntryCheck); 3] = [
            ("ip4Addresses", &self.ip4_addresses, |s| {
                parse_ip4(s).is_some()
            }),
            ("ip4Ranges", &self.ip4_ranges, |s| {
                s.split_once('-').is_some_and(
                    |(a, b)| matches!((parse_ip4(a), parse_ip4(b)), (Some(a), Some(b)) if a <= b),
                )
            }),
            ("ip4Masks", &self.ip4_masks, |s| {
                s.split_once('/').is_some_and(|(a, m)| {
                    parse_ip4(a).is_some()
                        && !(m.len() > 1 && m.starts_with('0'))
                        && m.parse::<u8>().is_ok_and(|m| m <= 32)
                })
            }),
        ];
        for (name, list, ok) in lists {
            let Some(list) = list else { continue };
            if list.len() > MAX_ALLOWED_IPS_PER_LIST {
                return Err(ValidationError::Invalid {
                    field: format!("{field}.{name}"),
                    message: format!(
                        "at most {MAX_ALLOWED_IPS_PER_LIST} entries allowed, got {}",
                        list.len()
                    ),
                });
            }
            if let Some((i, bad)) = list.iter().enumerate().find(|(_, s)| !ok(s)) {
                return Err(ValidationError::Invalid {
                    field: format!("{field}.{name}[{i}]"),
                    message: format!("{bad:?} is not a valid entry"),
                });
            }
        }
        Ok(())
    }
}

/// `AuthorizationPolicy`: restrictions checked on every use of the access token.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthorizationPolicy {
    /// Allowed client IP addresses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub allowed_ips: Option<AllowedIps>,
}

/// `InitTokenAuthenticationRequest` (`POST /auth/ksef-token`). `Debug` redacts
/// `encryptedToken`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InitTokenAuthenticationRequest {
    /// The challenge obtained from `POST /auth/challenge`.
    pub challenge: String,
    /// The context to authenticate into.
    pub context_identifier: AuthenticationContextIdentifier,
    /// Base64 of RSA-OAEP-SHA256(`"<ksefToken>|<timestampMs>"`).
    pub encrypted_token: Secret<String>,
    /// `publicKeyId` of the key used (44 chars); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_id: Option<String>,
    /// Optional IP policy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorization_policy: Option<AuthorizationPolicy>,
}

impl Validate for InitTokenAuthenticationRequest {
    type Valid = ContextIdentifier;

    /// Checks the schema rules the deserializer leaves open (challenge and key-id length,
    /// context identifier type/pattern/checksum, non-empty token, IP policy syntax) and
    /// returns the validated context.
    fn validate(&self) -> Result<ContextIdentifier, ValidationError> {
        check_length("challenge", &self.challenge, 36, 36)?;
        let context = self
            .context_identifier
            .to_context_identifier("contextIdentifier")?;
        if self.encrypted_token.expose_secret().trim().is_empty() {
            return Err(ValidationError::Invalid {
                field: "encryptedToken".to_owned(),
                message: "must not be empty".to_owned(),
            });
        }
        if let Some(id) = &self.public_key_id {
            check_length("publicKeyId", id, 44, 44)?;
        }
        if let Some(ips) = self
            .authorization_policy
            .as_ref()
            .and_then(|p| p.allowed_ips.as_ref())
        {
            ips.validate("authorizationPolicy.allowedIps")?;
        }
        Ok(context)
    }
}

/// `AuthenticationMethodInfo`: how the subject authenticated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationMethodInfo {
    /// Category (`XadesSignature`, `NationalNode`, `Token`, `Other`).
    pub category: OpenEnum<AuthenticationMethodCategory>,
    /// Method code, e.g. `xades.qualified-seal`, `token.ksef`.
    pub code: String,
    /// Display name, e.g. `Pieczęć kwalifikowana`.
    pub display_name: String,
}

/// `AuthenticationOperationStatusResponse` (`GET /auth/{referenceNumber}`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationOperationStatusResponse {
    /// Start of the authentication operation.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
    /// Deprecated method enum (still required by the schema).
    pub authentication_method: OpenEnum<AuthenticationMethod>,
    /// The method as category + code + display name.
    pub authentication_method_info: AuthenticationMethodInfo,
    /// Status (100 in progress, 200 success, 4xx/5xx failures; digest §4.8).
    pub status: StatusInfo,
    /// Whether the tokens were already redeemed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_token_redeemed: Option<bool>,
    /// Last refresh of the access token.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_token_refresh_date: Option<OffsetDateTime>,
    /// Expiry of the refresh token.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token_valid_until: Option<OffsetDateTime>,
}

/// `AuthenticationTokensResponse` (`POST /auth/token/redeem`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationTokensResponse {
    /// The access token.
    pub access_token: TokenInfo,
    /// The refresh token.
    pub refresh_token: TokenInfo,
}

/// `AuthenticationTokenRefreshResponse` (`POST /auth/token/refresh`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationTokenRefreshResponse {
    /// The new access token.
    pub access_token: TokenInfo,
}

/// `AuthenticationListItem`: one authentication session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationListItem {
    /// Reference number of the authentication operation.
    pub reference_number: String,
    /// Whether this session belongs to the token used for the call (optional in the schema;
    /// absent reads as `false`, always written).
    #[serde(default)]
    pub is_current: bool,
    /// Start of the authentication operation.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
    /// Deprecated method enum (still required by the schema).
    pub authentication_method: OpenEnum<AuthenticationMethod>,
    /// The method as category + code + display name.
    pub authentication_method_info: AuthenticationMethodInfo,
    /// Status of the authentication.
    pub status: StatusInfo,
    /// Whether the tokens were already redeemed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub is_token_redeemed: Option<bool>,
    /// Last refresh of the access token.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_token_refresh_date: Option<OffsetDateTime>,
    /// Expiry of the refresh token.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub refresh_token_valid_until: Option<OffsetDateTime>,
}

/// `AuthenticationListResponse` (`GET /auth/sessions`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AuthenticationListResponse {
    /// Token for the next page (send in `x-continuation-token`); `None`/empty = last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Sessions, newest first.
    pub items: Vec<AuthenticationListItem>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    fn request(ctx_type: &str, ctx_value: &str) -> InitTokenAuthenticationRequest {
        serde_json::from_value(serde_json::json!({
            "challenge": "20250625-CR-2FDC223000-C2BFC98A9C-4E",
            "contextIdentifier": {"type": ctx_type, "value": ctx_value},
            "encryptedToken": "c2VjcmV0LWVuY3J5cHRlZC10b2tlbg==",
            "publicKeyId": "QIoAK/Yc3s27Z4t3SZY4Mhp8JNLH7Vl4N3lNlJAEig8=",
            "authorizationPolicy": {"allowedIps": {
                "ip4Addresses": ["192.168.0.1"], "ip4Ranges": ["10.0.0.1-10.0.0.254"],
                "ip4Masks": ["192.168.1.0/24"]}}
        }))
        .unwrap()
    }

    #[test]
    fn ksef_token_request_validates() {
        let ok = request("Nip", "5265877635");
        assert_eq!(ok.validate().unwrap().value(), "5265877635");
        let dbg = format!("{ok:?}");
        assert!(!dbg.contains("c2VjcmV0"), "encrypted token leaked: {dbg}");

        // Unknown type and bad checksum deserialize, then fail validation with a path.
        let err = request("Regon", "5265877635").validate().unwrap_err();
        assert_eq!(err.field(), "contextIdentifier.type");
        assert!(err.to_string().contains("Regon"), "{err}");
        let err = request("Nip", "1234567890").validate().unwrap_err();
        assert_eq!(err.field(), "contextIdentifier.value");

        let mut bad_ip = request("Nip", "5265877635");
        bad_ip.authorization_policy = Some(AuthorizationPolicy {
            allowed_ips: Some(AllowedIps {
                ip4_masks: Some(vec!["192.168.1.0/33".into()]),
                ..AllowedIps::default()
            }),
        });
        let err = bad_ip.validate().unwrap_err();
        assert_eq!(err.field(), "authorizationPolicy.allowedIps.ip4Masks[0]");

        let mut short = request("Nip", "5265877635");
        short.challenge.pop();
        assert_eq!(short.validate().unwrap_err().field(), "challenge");
    }

    #[test]
    fn allowed_ips_syntax() {
        let check = |addr: &str, range: &str, mask: &str| {
            AllowedIps {
                ip4_addresses: Some(vec![addr.into()]),
                ip4_ranges: Some(vec![range.into()]),
                ip4_masks: Some(vec![mask.into()]),
            }
            .validate("p")
        };
        assert!(check("1.2.3.4", "1.1.1.1-1.1.1.2", "0.0.0.0/0").is_ok());
        assert!(check("01.2.3.4", "1.1.1.1-1.1.1.2", "0.0.0.0/0").is_err());
        assert!(check("1.2.3.4", "1.1.1.2-1.1.1.1", "0.0.0.0/0").is_err());
        assert!(check("1.2.3.4", "1.1.1.1-1.1.1.2", "0.0.0.0/08").is_err());
        let too_many = AllowedIps {
            ip4_addresses: Some(vec!["1.2.3.4".into(); 11]),
            ..AllowedIps::default()
        };
        assert!(too_many.validate("p").is_err());
    }

    #[test]
    fn token_info_debug_is_redacted() {
        let t = TokenInfo::new(
            "eyJhbGciOiJIUzI1NiJ9.e30.sig",
            datetime!(2025-07-11 12:00 UTC),
        );
        let r = AuthenticationTokensResponse {
            access_token: t.clone(),
            refresh_token: t,
        };
        assert!(!format!("{r:?}").contains("eyJ"));
        let json = serde_json::to_value(&r).unwrap();
        assert_eq!(json["accessToken"]["token"], "eyJhbGciOiJIUzI1NiJ9.e30.sig");
        assert_eq!(
            json["refreshToken"]["validUntil"],
            "2025-07-11T12:00:00.0000000+00:00"
        );
    }
}
