//! TEST-only data endpoints (digest §17, §15): `/testdata/subject`, `/subject/remove`,
//! `/person`, `/person/remove`, `/permissions`, `/permissions/revoke`, `/attachment`,
//! `/attachment/revoke`, `/context/block`, `/context/unblock`, `/limits/context/session`,
//! `/limits/subject/certificate`, `/rate-limits`. All answer 200 with an empty body.
//!
//! Requests deserialize leniently (identifiers and enums as strings); each implements
//! [`Validate`], whose `validate()` returns the `ksef-core` values or a [`ValidationError`]
//! naming the field.

use ksef_core::{
    ContextIdentifier, ContextIdentifierType, Nip, Pesel, SubjectIdentifier, SubjectIdentifierKind,
    TokenPermission,
};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::common::{
    OpenEnum, TypedIdentifier, Validate, ValidationError, check_length, parse_nip, parse_pesel,
    wire_enum,
};
use crate::ksef_time;
use crate::limits::{
    ApiRateLimitsOverride, BatchSessionContextLimitsOverride, OnlineSessionContextLimitsOverride,
};

/// Bounds of test-data descriptions (characters).
pub const DESCRIPTION_LENGTH: (usize, usize) = (5, 256);

fn check_description(field: &str, s: &str) -> Result<(), ValidationError> {
    check_length(field, s, DESCRIPTION_LENGTH.0, DESCRIPTION_LENGTH.1)
}

wire_enum! {
    /// `SubjectType`: the role of a test entity.
    pub enum SubjectType {
        /// Enforcement authority.
        EnforcementAuthority = "EnforcementAuthority",
        /// VAT group (with member subunits).
        VatGroup = "VatGroup",
        /// Local government unit (with subordinate units).
        Jst = "JST",
    }
}

/// `Subunit`: a member / subordinate unit of a VAT group or JST.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Subunit {
    /// NIP of the unit.
    pub subject_nip: String,
    /// Description, 5–256 characters.
    pub description: String,
}

/// `SubjectCreateRequest` (`POST /testdata/subject`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectCreateRequest {
    /// NIP of the entity.
    pub subject_nip: String,
    /// Role of the entity.
    pub subject_type: OpenEnum<SubjectType>,
    /// Subunits (VAT group members, JST units); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subunits: Option<Vec<Subunit>>,
    /// Description, 5–256 characters.
    pub description: String,
    /// Creation date override (must increase on re-creation); skipped when `None`.
    #[serde(
        default,
        with = "crate::warsaw::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date: Option<OffsetDateTime>,
}

/// A validated [`Subunit`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubunit {
    /// NIP of the unit.
    pub subject_nip: Nip,
    /// Description.
    pub description: String,
}

/// A validated [`SubjectCreateRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubjectCreate {
    /// NIP of the entity.
    pub subject_nip: Nip,
    /// Role of the entity.
    pub subject_type: SubjectType,
    /// Subunits (empty when none were given).
    pub subunits: Vec<ValidSubunit>,
}

impl Validate for SubjectCreateRequest {
    type Valid = ValidSubjectCreate;

    /// Validates NIPs, the subject type and descriptions.
    fn validate(&self) -> Result<ValidSubjectCreate, ValidationError> {
        let subject_nip = parse_nip("subjectNip", &self.subject_nip)?;
        let subject_type = self.subject_type.require("subjectType")?;
        check_description("description", &self.description)?;
        let subunits = self
            .subunits
            .iter()
            .flatten()
            .enumerate()
            .map(|(i, s)| {
                check_description(&format!("subunits[{i}].description"), &s.description)?;
                Ok(ValidSubunit {
                    subject_nip: parse_nip(&format!("subunits[{i}].subjectNip"), &s.subject_nip)?,
                    description: s.description.clone(),
                })
            })
            .collect::<Result<_, ValidationError>>()?;
        Ok(ValidSubjectCreate {
            subject_nip,
            subject_type,
            subunits,
        })
    }
}

/// `SubjectRemoveRequest` (`POST /testdata/subject/remove`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubjectRemoveRequest {
    /// NIP of the entity to remove.
    pub subject_nip: String,
}

impl Validate for SubjectRemoveRequest {
    type Valid = Nip;

    /// Validates the NIP.
    fn validate(&self) -> Result<Nip, ValidationError> {
        parse_nip("subjectNip", &self.subject_nip)
    }
}

/// `PersonCreateRequest` (`POST /testdata/person`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonCreateRequest {
    /// NIP of the person (NIP–PESEL link).
    pub nip: String,
    /// PESEL of the person.
    pub pesel: String,
    /// Court bailiff (adds `EnforcementOperations`).
    pub is_bailiff: bool,
    /// Description, 5–256 characters.
    pub description: String,
    /// Deceased person (auth ends with 470, redeem with 21308). Optional; absent = `false`.
    #[serde(default)]
    pub is_deceased: bool,
    /// Creation date override (must increase on re-creation); skipped when `None`.
    #[serde(
        default,
        with = "crate::warsaw::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub created_date: Option<OffsetDateTime>,
}

impl Validate for PersonCreateRequest {
    type Valid = (Nip, Pesel);

    /// Validates NIP, PESEL and the description.
    fn validate(&self) -> Result<(Nip, Pesel), ValidationError> {
        let nip = parse_nip("nip", &self.nip)?;
        let pesel = parse_pesel("pesel", &self.pesel)?;
        check_description("description", &self.description)?;
        Ok((nip, pesel))
    }
}

/// `PersonRemoveRequest` (`POST /testdata/person/remove`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonRemoveRequest {
    /// NIP of the person.
    pub nip: String,
}

impl Validate for PersonRemoveRequest {
    type Valid = Nip;

    /// Validates the NIP.
    fn validate(&self) -> Result<Nip, ValidationError> {
        parse_nip("nip", &self.nip)
    }
}

wire_enum! {
    /// `TestDataContextIdentifierType`: only `Nip`.
    pub enum TestDataContextIdentifierType {
        /// NIP.
        Nip = "Nip",
    }
}

/// `TestDataContextIdentifier`: `{"type": "Nip", "value": …}`.
pub type TestDataContextIdentifier = TypedIdentifier<TestDataContextIdentifierType>;

impl TypedIdentifier<TestDataContextIdentifierType> {
    /// Validates type and NIP. `field` is the JSON path used in errors.
    pub fn to_nip(&self, field: &str) -> Result<Nip, ValidationError> {
        self.r#type.require(&format!("{field}.type"))?;
        parse_nip(&format!("{field}.value"), &self.value)
    }
}

/// `TestDataAuthorizedIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type TestDataAuthorizedIdentifierType = SubjectIdentifierKind;
/// `TestDataAuthorizedIdentifier`: who receives the permissions.
pub type TestDataAuthorizedIdentifier = TypedIdentifier<TestDataAuthorizedIdentifierType>;
/// `TestDataPermissionType`: the same seven values as `TokenPermissionType`.
pub type TestDataPermissionType = TokenPermission;

/// `TestDataPermission`: one permission to grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestDataPermission {
    /// Description, 5–256 characters.
    pub description: String,
    /// The permission.
    pub permission_type: OpenEnum<TestDataPermissionType>,
}

/// `TestDataPermissionsGrantRequest` (`POST /testdata/permissions`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestDataPermissionsGrantRequest {
    /// The context (a NIP).
    pub context_identifier: TestDataContextIdentifier,
    /// Who receives the permissions.
    pub authorized_identifier: TestDataAuthorizedIdentifier,
    /// Permissions to grant.
    pub permissions: Vec<TestDataPermission>,
}

impl Validate for TestDataPermissionsGrantRequest {
    type Valid = (Nip, SubjectIdentifier, Vec<TokenPermission>);

    /// Validates identifiers, permission types and descriptions.
    fn validate(&self) -> Result<(Nip, SubjectIdentifier, Vec<TokenPermission>), ValidationError> {
        let context = self.context_identifier.to_nip("contextIdentifier")?;
        let authorized = self
            .authorized_identifier
            .to_subject_identifier("authorizedIdentifier")?;
        let permissions = self
            .permissions
            .iter()
            .enumerate()
            .map(|(i, p)| {
                check_description(&format!("permissions[{i}].description"), &p.description)?;
                p.permission_type
                    .require(&format!("permissions[{i}].permissionType"))
            })
            .collect::<Result<_, _>>()?;
        Ok((context, authorized, permissions))
    }
}

/// `TestDataPermissionsRevokeRequest` (`POST /testdata/permissions/revoke`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestDataPermissionsRevokeRequest {
    /// The context (a NIP).
    pub context_identifier: TestDataContextIdentifier,
    /// Whose permissions to remove.
    pub authorized_identifier: TestDataAuthorizedIdentifier,
}

impl Validate for TestDataPermissionsRevokeRequest {
    type Valid = (Nip, SubjectIdentifier);

    /// Validates both identifiers.
    fn validate(&self) -> Result<(Nip, SubjectIdentifier), ValidationError> {
        Ok((
            self.context_identifier.to_nip("contextIdentifier")?,
            self.authorized_identifier
                .to_subject_identifier("authorizedIdentifier")?,
        ))
    }
}

/// `AttachmentPermissionGrantRequest` (`POST /testdata/attachment`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentPermissionGrantRequest {
    /// NIP allowed to send invoices with attachments.
    pub nip: String,
}

impl Validate for AttachmentPermissionGrantRequest {
    type Valid = Nip;

    /// Validates the NIP.
    fn validate(&self) -> Result<Nip, ValidationError> {
        parse_nip("nip", &self.nip)
    }
}

/// `AttachmentPermissionRevokeRequest` (`POST /testdata/attachment/revoke`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct AttachmentPermissionRevokeRequest {
    /// NIP whose consent is withdrawn.
    pub nip: String,
    /// Date the consent ends (`YYYY-MM-DD`); skipped when `None`.
    #[serde(
        default,
        with = "ksef_time::date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expected_end_date: Option<Date>,
}

impl Validate for AttachmentPermissionRevokeRequest {
    type Valid = Nip;

    /// Validates the NIP.
    fn validate(&self) -> Result<Nip, ValidationError> {
        parse_nip("nip", &self.nip)
    }
}

/// `TestDataAuthenticationContextIdentifierType` (`Nip`, `InternalId`, `NipVatUe`, `PeppolId`).
pub type TestDataAuthenticationContextIdentifierType = ContextIdentifierType;
/// `TestDataAuthenticationContextIdentifier`.
pub type TestDataAuthenticationContextIdentifier =
    TypedIdentifier<TestDataAuthenticationContextIdentifierType>;

fn required_context(
    ctx: Option<&TestDataAuthenticationContextIdentifier>,
) -> Result<ContextIdentifier, ValidationError> {
    ctx.ok_or_else(|| ValidationError::Invalid {
        field: "contextIdentifier".to_owned(),
        message: "is required".to_owned(),
    })?
    .to_context_identifier("contextIdentifier")
}

/// `BlockContextAuthenticationRequest` (`POST /testdata/context/block`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BlockContextAuthenticationRequest {
    /// The context to block (nullable in the schema, required in practice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_identifier: Option<TestDataAuthenticationContextIdentifier>,
}

impl Validate for BlockContextAuthenticationRequest {
    type Valid = ContextIdentifier;

    /// Validates the (required) context identifier.
    fn validate(&self) -> Result<ContextIdentifier, ValidationError> {
        required_context(self.context_identifier.as_ref())
    }
}

/// `UnblockContextAuthenticationRequest` (`POST /testdata/context/unblock`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UnblockContextAuthenticationRequest {
    /// The context to unblock (nullable in the schema, required in practice).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_identifier: Option<TestDataAuthenticationContextIdentifier>,
}

impl Validate for UnblockContextAuthenticationRequest {
    type Valid = ContextIdentifier;

    /// Validates the (required) context identifier.
    fn validate(&self) -> Result<ContextIdentifier, ValidationError> {
        required_context(self.context_identifier.as_ref())
    }
}

/// `SetSessionLimitsRequest` (`POST /testdata/limits/context/session`, bearer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetSessionLimitsRequest {
    /// Online session limits.
    pub online_session: OnlineSessionContextLimitsOverride,
    /// Batch session limits.
    pub batch_session: BatchSessionContextLimitsOverride,
}

impl Validate for SetSessionLimitsRequest {
    type Valid = ();

    /// Checks the override bounds of both parts.
    fn validate(&self) -> Result<(), ValidationError> {
        self.online_session.validate_override("onlineSession")?;
        self.batch_session.validate_override("batchSession")
    }
}

/// `SubjectIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type SubjectIdentifierType = SubjectIdentifierKind;

/// `EnrollmentSubjectLimitsOverride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentSubjectLimitsOverride {
    /// Maximum number of enrollments; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_enrollments: Option<u32>,
}

/// `CertificateSubjectLimitsOverride`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateSubjectLimitsOverride {
    /// Maximum number of certificates; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_certificates: Option<u32>,
}

/// `SetSubjectLimitsRequest` (`POST /testdata/limits/subject/certificate`, bearer).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetSubjectLimitsRequest {
    /// Identifier type of the subject; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_identifier_type: Option<OpenEnum<SubjectIdentifierType>>,
    /// Enrollment limit; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<EnrollmentSubjectLimitsOverride>,
    /// Certificate limit; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateSubjectLimitsOverride>,
}

impl Validate for SetSubjectLimitsRequest {
    type Valid = Option<SubjectIdentifierKind>;

    /// Checks that `subjectIdentifierType`, when present, is known; returns it.
    fn validate(&self) -> Result<Option<SubjectIdentifierKind>, ValidationError> {
        self.subject_identifier_type
            .as_ref()
            .map(|t| t.require("subjectIdentifierType"))
            .transpose()
    }
}

/// `SetRateLimitsRequest` (`POST /testdata/rate-limits`, bearer).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SetRateLimitsRequest {
    /// All twelve groups.
    pub rate_limits: ApiRateLimitsOverride,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn subject_create_validation() {
        let mut req: SubjectCreateRequest = serde_json::from_value(json!({
            "subjectNip": "7762811692", "subjectType": "JST", "description": "Gmina testowa",
            "subunits": [{"subjectNip": "5265877635", "description": "Szkoła nr 1"}]
        }))
        .unwrap();
        let v = req.validate().unwrap();
        assert_eq!(v.subject_type, SubjectType::Jst);
        assert_eq!(v.subunits[0].subject_nip.as_str(), "5265877635");
        assert_eq!(serde_json::to_value(&req).unwrap()["subjectType"], "JST");

        req.subunits = Some(vec![Subunit {
            subject_nip: "5265877636".into(),
            description: "Szkoła nr 1".into(),
        }]);
        assert_eq!(
            req.validate().unwrap_err().field(),
            "subunits[0].subjectNip"
        );
        req.subject_type = OpenEnum::from_wire("Jst");
        assert_eq!(req.validate().unwrap_err().field(), "subjectType");
    }

    #[test]
    fn person_validation() {
        let req: PersonCreateRequest = serde_json::from_value(json!({
            "nip": "7762811692", "pesel": "15062788702", "isBailiff": false,
            "description": "TestPerson_01"
        }))
        .unwrap();
        assert!(!req.is_deceased);
        let (nip, pesel) = req.validate().unwrap();
        assert_eq!(
            (nip.as_str(), pesel.as_str()),
            ("7762811692", "15062788702")
        );
        let bad = PersonCreateRequest {
            pesel: "15062788703".into(),
            ..req
        };
        assert_eq!(bad.validate().unwrap_err().field(), "pesel");
    }

    #[test]
    fn permissions_validation() {
        let req: TestDataPermissionsGrantRequest = serde_json::from_value(json!({
            "contextIdentifier": {"type": "Nip", "value": "7762811692"},
            "authorizedIdentifier": {"type": "Pesel", "value": "15062788702"},
            "permissions": [{"description": "Opis testowy", "permissionType": "InvoiceRead"},
                            {"description": "Opis testowy", "permissionType": "PefInvoiceWrite"}]
        }))
        .unwrap();
        let err = req.validate().unwrap_err();
        assert_eq!(err.field(), "permissions[1].permissionType");

        let wrong_ctx: TestDataPermissionsRevokeRequest = serde_json::from_value(json!({
            "contextIdentifier": {"type": "InternalId", "value": "7762811692"},
            "authorizedIdentifier": {"type": "Nip", "value": "7762811692"}
        }))
        .unwrap();
        assert_eq!(
            wrong_ctx.validate().unwrap_err().field(),
            "contextIdentifier.type"
        );
    }

    #[test]
    fn block_requires_context() {
        let empty: BlockContextAuthenticationRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(empty.validate().unwrap_err().field(), "contextIdentifier");
        let ok: UnblockContextAuthenticationRequest = serde_json::from_value(json!({
            "contextIdentifier": {"type": "InternalId", "value": "6824515772-12343"}
        }))
        .unwrap();
        assert_eq!(ok.validate().unwrap().value(), "6824515772-12343");
    }

    #[test]
    fn attachment_revoke_date() {
        let req: AttachmentPermissionRevokeRequest =
            serde_json::from_value(json!({"nip": "7762811692", "expectedEndDate": "2026-03-31"}))
                .unwrap();
        assert_eq!(
            req.expected_end_date,
            Some(time::macros::date!(2026 - 03 - 31))
        );
        assert_eq!(
            serde_json::to_value(&req).unwrap()["expectedEndDate"],
            "2026-03-31"
        );
    }
}
