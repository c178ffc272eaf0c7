//! KSeF tokens (digest §6): `POST /tokens`, `GET /tokens`, `GET /tokens/{referenceNumber}`.

use ksef_core::{ContextIdentifierType, SubjectIdentifierKind, TokenPermission, TokenStatus};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::{
    OpenEnum, TypedIdentifier, Validate, ValidationError, check_length, require_all,
};
use crate::ksef_time;
use crate::secret::Secret;

/// `TokenPermissionType`.
pub type TokenPermissionType = TokenPermission;
/// `AuthenticationTokenStatus`.
pub type AuthenticationTokenStatus = TokenStatus;
/// `TokenAuthorIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type TokenAuthorIdentifierType = SubjectIdentifierKind;
/// `TokenContextIdentifierType` (`Nip`, `InternalId`, `NipVatUe`, `PeppolId`).
pub type TokenContextIdentifierType = ContextIdentifierType;
/// `TokenAuthorIdentifierTypeIdentifier`: who generated the token.
pub type TokenAuthorIdentifierTypeIdentifier = TypedIdentifier<TokenAuthorIdentifierType>;
/// `TokenContextIdentifierTypeIdentifier`: the token's context.
pub type TokenContextIdentifierTypeIdentifier = TypedIdentifier<TokenContextIdentifierType>;

/// Bounds of a token description (characters).
pub const TOKEN_DESCRIPTION_LENGTH: (usize, usize) = (5, 256);

/// `GenerateTokenRequest` (`POST /tokens`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateTokenRequest {
    /// Permissions of the new token.
    pub permissions: Vec<OpenEnum<TokenPermissionType>>,
    /// Description, 5–256 characters.
    pub description: String,
}

impl GenerateTokenRequest {
    /// A request with known permissions.
    pub fn new(permissions: &[TokenPermission], description: impl Into<String>) -> Self {
        GenerateTokenRequest {
            permissions: permissions.iter().copied().map(OpenEnum::Known).collect(),
            description: description.into(),
        }
    }
}

impl Validate for GenerateTokenRequest {
    type Valid = Vec<TokenPermission>;

    /// Checks the description length and that every permission is a known
    /// `TokenPermissionType`; returns the permissions.
    fn validate(&self) -> Result<Vec<TokenPermission>, ValidationError> {
        let (min, max) = TOKEN_DESCRIPTION_LENGTH;
        check_length("description", &self.description, min, max)?;
        require_all(&self.permissions, "permissions")
    }
}

/// `GenerateTokenResponse` (`POST /tokens`, 202). `Debug` redacts the token.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct GenerateTokenResponse {
    /// Reference number of the token (`…-EC-…`).
    pub reference_number: String,
    /// The KSeF token (≤ 160 chars), returned only once.
    pub token: Secret<String>,
}

/// `QueryTokensResponseItem`: one token in `GET /tokens`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryTokensResponseItem {
    /// Reference number of the token.
    pub reference_number: String,
    /// Who generated the token.
    pub author_identifier: TokenAuthorIdentifierTypeIdentifier,
    /// The context the token gives access to.
    pub context_identifier: TokenContextIdentifierTypeIdentifier,
    /// Description.
    pub description: String,
    /// Permissions of the token.
    pub requested_permissions: Vec<OpenEnum<TokenPermissionType>>,
    /// Creation time.
    #[serde(with = "ksef_time")]
    pub date_created: OffsetDateTime,
    /// Last use; skipped when `None` (as in the OpenAPI examples).
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_use_date: Option<OffsetDateTime>,
    /// Status.
    pub status: OpenEnum<AuthenticationTokenStatus>,
    /// Extra status information (the examples show `[]`); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status_details: Option<Vec<String>>,
}

/// `TokenStatusResponse` (`GET /tokens/{referenceNumber}`, 200): the same shape as
/// [`QueryTokensResponseItem`].
pub type TokenStatusResponse = QueryTokensResponseItem;

/// `QueryTokensResponse` (`GET /tokens`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryTokensResponse {
    /// Token for the next page (send in `x-continuation-token`); `None`/empty = last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Tokens, newest first.
    pub tokens: Vec<QueryTokensResponseItem>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generate_request_validation() {
        let ok = GenerateTokenRequest::new(
            &[TokenPermission::InvoiceRead, TokenPermission::InvoiceWrite],
            "Wystawianie i przeglądanie faktur.",
        );
        assert_eq!(
            ok.validate().unwrap(),
            vec![TokenPermission::InvoiceRead, TokenPermission::InvoiceWrite]
        );

        let unknown: GenerateTokenRequest = serde_json::from_str(
            r#"{"permissions":["InvoiceRead","VatUeManage"],"description":"Opis tokena"}"#,
        )
        .unwrap();
        let err = unknown.validate().unwrap_err();
        assert_eq!(err.field(), "permissions[1]");
        assert!(err.to_string().contains("VatUeManage"));

        let short = GenerateTokenRequest::new(&[TokenPermission::InvoiceRead], "abcd");
        assert_eq!(short.validate().unwrap_err().field(), "description");
    }

    #[test]
    fn generate_response_debug_is_redacted() {
        let r = GenerateTokenResponse {
            reference_number: "20251010-EC-1DCE3E3000-12ECB5B36E-45".into(),
            token: Secret::from("20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|919f7044"),
        };
        let dbg = format!("{r:?}");
        assert!(!dbg.contains("919f7044"), "{dbg}");
        assert!(dbg.contains("20251010-EC-1DCE3E3000-12ECB5B36E-45"));
    }
}
