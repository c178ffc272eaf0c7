//! Subunit administrators and subordinate entities (digest §7.3, §7.6):
//!
//! * `POST /permissions/subunits/grants` (tag "Nadawanie uprawnień");
//! * `POST /permissions/query/subunits/grants` (tag "Wyszukiwanie nadanych uprawnień");
//! * `POST /permissions/query/subordinate-entities/roles` (tag "Wyszukiwanie nadanych
//!   uprawnień").
//!
//! An administrator grant is revoked by `DELETE /permissions/common/grants/{permissionId}`
//! (see `operations.rs`).

use ksef_core::{
    ContextIdentifier, ContextIdentifierType, Nip, SubjectIdentifier, SubjectIdentifierKind,
};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::entities::EntityPermissionsSubjectIdentifierType;
use super::subjects::{PermissionsSubjectPersonDetails, PersonPermissionSubjectDetails};
use crate::common::{
    OpenEnum, TypedIdentifier, Validate, ValidationError, check_length, parse_nip, wire_enum,
};
use crate::ksef_time;

/// `SubunitPermissionsSubjectIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type SubunitPermissionsSubjectIdentifierType = SubjectIdentifierKind;
/// `SubunitPermissionsSubjectIdentifier`: the person made administrator of the unit.
pub type SubunitPermissionsSubjectIdentifier = TypedIdentifier<SubjectIdentifierKind>;
/// `SubunitPermissionsAuthorizedIdentifier`: who holds an administrator grant.
pub type SubunitPermissionsAuthorizedIdentifier = TypedIdentifier<SubjectIdentifierKind>;
/// `SubunitPermissionsAuthorIdentifier`: who made an administrator grant.
pub type SubunitPermissionsAuthorIdentifier = TypedIdentifier<SubjectIdentifierKind>;

wire_enum! {
    /// `SubunitPermissionsContextIdentifierType` (`InternalId`, `Nip`).
    pub enum SubunitPermissionsContextIdentifierType {
        /// A subordinate unit `{nip}-{5 digits}` of the current context.
        InternalId = "InternalId",
        /// A subordinate entity (JST unit, VAT-group member).
        Nip = "Nip",
    }
}

/// `SubunitPermissionsContextIdentifier`: the unit or subordinate entity.
pub type SubunitPermissionsContextIdentifier =
    TypedIdentifier<SubunitPermissionsContextIdentifierType>;
/// `SubunitPermissionsSubunitIdentifierType`: the same two values.
pub type SubunitPermissionsSubunitIdentifierType = SubunitPermissionsContextIdentifierType;
/// `SubunitPermissionsSubunitIdentifier`.
pub type SubunitPermissionsSubunitIdentifier = SubunitPermissionsContextIdentifier;

impl TypedIdentifier<SubunitPermissionsContextIdentifierType> {
    /// Validates type, pattern and checksum (the InternalId check digit included).
    pub fn to_subunit(&self, field: &str) -> Result<ContextIdentifier, ValidationError> {
        let kind = match self.r#type.require(&format!("{field}.type"))? {
            SubunitPermissionsContextIdentifierType::InternalId => {
                ContextIdentifierType::InternalId
            }
            SubunitPermissionsContextIdentifierType::Nip => ContextIdentifierType::Nip,
        };
        ContextIdentifier::parse(kind, &self.value).map_err(|source| ValidationError::Identifier {
            field: format!("{field}.value"),
            source,
        })
    }

    /// The wire form of a NIP or InternalId context; `None` for other types.
    pub fn from_subunit(c: &ContextIdentifier) -> Option<Self> {
        let kind = match c.kind() {
            ContextIdentifierType::InternalId => {
                SubunitPermissionsContextIdentifierType::InternalId
            }
            ContextIdentifierType::Nip => SubunitPermissionsContextIdentifierType::Nip,
            _ => return None,
        };
        Some(TypedIdentifier::new(kind, c.value()))
    }
}

/// `SubunitPermissionsGrantRequest` (`POST /permissions/subunits/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubunitPermissionsGrantRequest {
    /// The future administrator.
    pub subject_identifier: SubunitPermissionsSubjectIdentifier,
    /// The unit (`InternalId`) or subordinate entity (`Nip`).
    pub context_identifier: SubunitPermissionsContextIdentifier,
    /// Description (5–256 characters).
    pub description: String,
    /// Name of the unit (5–256 characters); required for `InternalId`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subunit_name: Option<String>,
    /// Data of the person.
    pub subject_details: PersonPermissionSubjectDetails,
}

/// A validated [`SubunitPermissionsGrantRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidSubunitPermissionsGrant {
    /// `subjectIdentifier`.
    pub subject: SubjectIdentifier,
    /// `contextIdentifier` (`InternalId` or `Nip`).
    pub subunit: ContextIdentifier,
    /// `description`.
    pub description: String,
    /// `subunitName` (always `Some` for an `InternalId`).
    pub subunit_name: Option<String>,
    /// `subjectDetails`, in the shape the queries return.
    pub details: PermissionsSubjectPersonDetails,
}

impl Validate for SubunitPermissionsGrantRequest {
    type Valid = ValidSubunitPermissionsGrant;

    /// Validates identifiers, lengths, `subunitName` (required for `InternalId`) and the
    /// subject details.
    fn validate(&self) -> Result<ValidSubunitPermissionsGrant, ValidationError> {
        let subject = self
            .subject_identifier
            .to_subject_identifier("subjectIdentifier")?;
        let subunit = self.context_identifier.to_subunit("contextIdentifier")?;
        check_length("description", &self.description, 5, 256)?;
        let name = self.subunit_name.as_deref().filter(|n| !n.is_empty());
        match name {
            Some(n) => check_length("subunitName", n, 5, 256)?,
            None if subunit.kind() == ContextIdentifierType::InternalId => {
                return Err(ValidationError::Invalid {
                    field: "subunitName".to_owned(),
                    message: "is required for contextIdentifier.type InternalId".to_owned(),
                });
            }
            None => {}
        }
        let details = self
            .subject_details
            .validate("subjectDetails", subject.kind())?;
        Ok(ValidSubunitPermissionsGrant {
            subject,
            subunit,
            description: self.description.clone(),
            subunit_name: name.map(str::to_owned),
            details,
        })
    }
}

/// `SubunitPermissionsQueryRequest` (`POST /permissions/query/subunits/grants`); optional body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubunitPermissionsQueryRequest {
    /// Only grants for this unit; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subunit_identifier: Option<SubunitPermissionsSubunitIdentifier>,
}

wire_enum! {
    /// `SubunitPermissionScope` (`CredentialsManage`).
    pub enum SubunitPermissionScope {
        /// Administrator of the unit.
        CredentialsManage = "CredentialsManage",
    }
}

/// `SubunitPermission`: one administrator grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubunitPermission {
    /// Permission id.
    pub id: String,
    /// The administrator.
    pub authorized_identifier: SubunitPermissionsAuthorizedIdentifier,
    /// The unit.
    pub subunit_identifier: SubunitPermissionsSubunitIdentifier,
    /// Who made the grant.
    pub author_identifier: SubunitPermissionsAuthorIdentifier,
    /// The permission.
    pub permission_scope: OpenEnum<SubunitPermissionScope>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the administrator; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_person_details: Option<PermissionsSubjectPersonDetails>,
    /// Name of the unit; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subunit_name: Option<String>,
    /// Start of validity.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
}

/// `QuerySubunitPermissionsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuerySubunitPermissionsResponse {
    /// One page, `startDate` descending, then `id` ascending.
    pub permissions: Vec<SubunitPermission>,
    /// Whether a next page exists.
    pub has_more: bool,
}

/// `EntityPermissionsSubordinateEntityIdentifierType` (`Nip`).
pub type EntityPermissionsSubordinateEntityIdentifierType = EntityPermissionsSubjectIdentifierType;
/// `EntityPermissionsSubordinateEntityIdentifier`.
pub type EntityPermissionsSubordinateEntityIdentifier =
    TypedIdentifier<EntityPermissionsSubjectIdentifierType>;
/// `SubordinateRoleSubordinateEntityIdentifier` (`Nip`).
pub type SubordinateRoleSubordinateEntityIdentifier =
    TypedIdentifier<EntityPermissionsSubjectIdentifierType>;

/// `SubordinateEntityRolesQueryRequest` (`POST /permissions/query/subordinate-entities/roles`);
/// optional body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubordinateEntityRolesQueryRequest {
    /// Only this subordinate entity; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subordinate_entity_identifier: Option<EntityPermissionsSubordinateEntityIdentifier>,
}

impl Validate for SubordinateEntityRolesQueryRequest {
    type Valid = Option<Nip>;

    /// Validates the optional NIP filter.
    fn validate(&self) -> Result<Option<Nip>, ValidationError> {
        self.subordinate_entity_identifier
            .as_ref()
            .map(|s| {
                s.r#type.require("subordinateEntityIdentifier.type")?;
                parse_nip("subordinateEntityIdentifier.value", &s.value)
            })
            .transpose()
    }
}

wire_enum! {
    /// `SubordinateEntityRoleType`.
    pub enum SubordinateEntityRoleType {
        /// Subordinate unit of a JST.
        LocalGovernmentSubUnit = "LocalGovernmentSubUnit",
        /// Member of a VAT group.
        VatGroupSubUnit = "VatGroupSubUnit",
    }
}

/// `SubordinateEntityRole`: one subordinate entity of the current context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SubordinateEntityRole {
    /// The subordinate entity.
    pub subordinate_entity_identifier: SubordinateRoleSubordinateEntityIdentifier,
    /// Its role.
    pub role: OpenEnum<SubordinateEntityRoleType>,
    /// Description.
    pub description: String,
    /// Start of the role.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
}

/// `QuerySubordinateEntityRolesResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QuerySubordinateEntityRolesResponse {
    /// One page of roles.
    pub roles: Vec<SubordinateEntityRole>,
    /// Whether a next page exists.
    pub has_more: bool,
}
