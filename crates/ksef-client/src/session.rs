//! [`Session`]: the tokens of one redeemed authentication, storable (serde) and refreshable.

use ksef_core::{AuthenticationMethod, ContextIdentifier};
use ksef_wire::{Secret, ksef_time};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

/// An authenticated session: access and refresh tokens of one authentication operation.
///
/// Serializes with the tokens in clear text (callers store it encrypted); `Debug` redacts them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Session {
    /// Reference number of the authentication operation (`…-AU-…`).
    pub reference_number: String,
    /// The context the session acts in.
    pub context: ContextIdentifier,
    /// The API's `authenticationMethod` name from the auth status (e.g. `Token`,
    /// `QualifiedSeal`), when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication_method: Option<String>,
    /// The access token (JWT).
    pub access_token: Secret<String>,
    /// Expiry of the access token.
    #[serde(with = "ksef_time")]
    pub access_valid_until: OffsetDateTime,
    /// The refresh token (JWT).
    pub refresh_token: Secret<String>,
    /// Expiry of the refresh token.
    #[serde(with = "ksef_time")]
    pub refresh_valid_until: OffsetDateTime,
}

impl Session {
    /// Whether the session was opened with a KSeF token (such sessions cannot manage tokens).
    pub fn is_token_session(&self) -> bool {
        self.authentication_method.as_deref() == Some(AuthenticationMethod::Token.as_str())
    }

    /// Whether the access token expires within `margin` of `now` (or already has).
    pub fn access_expires_within(&self, margin: time::Duration, now: OffsetDateTime) -> bool {
        self.access_valid_until - now <= margin
    }

    /// Whether the refresh token is still valid at `now`.
    pub fn can_refresh(&self, now: OffsetDateTime) -> bool {
        now < self.refresh_valid_until
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn serde_round_trip_and_redacted_debug() {
        let s = Session {
            reference_number: "20250514-AU-2DFC46C000-3AC6D5877F-D4".into(),
            context: ContextIdentifier::parse(ksef_core::ContextIdentifierType::Nip, "5265877635")
                .unwrap(),
            authentication_method: Some("Token".into()),
            access_token: Secret::from("eyJaccess"),
            access_valid_until: datetime!(2025-07-11 12:00 UTC),
            refresh_token: Secret::from("eyJrefresh"),
            refresh_valid_until: datetime!(2025-07-18 12:00 UTC),
        };
        assert!(s.is_token_session());
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("eyJ"), "{dbg}");
        let json = serde_json::to_string(&s).unwrap();
        assert!(json.contains("eyJrefresh"));
        let back: Session = serde_json::from_str(&json).unwrap();
        assert_eq!(back, s);
        let now = datetime!(2025-07-11 11:59:30 UTC);
        assert!(s.access_expires_within(time::Duration::seconds(60), now));
        assert!(!s.access_expires_within(time::Duration::seconds(10), now));
        assert!(s.can_refresh(now));
    }
}
