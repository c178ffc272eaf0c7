//! Permissions of entities to handle the grantor's invoices (digest §7.3, §7.6):
//!
//! * `POST /permissions/entities/grants` (tag "Nadawanie uprawnień");
//! * `POST /permissions/query/entities/grants` (tag "Wyszukiwanie nadanych uprawnień").
//!
//! An entity grant is revoked by `DELETE /permissions/common/grants/{permissionId}` (see
//! `operations.rs`).

use ksef_core::{Nip, Permission};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::common::{
    PersonalPermissionsContextIdentifier, PersonalPermissionsContextIdentifierType,
};
use super::subjects::{EntitySubjectDetailsType, PermissionsSubjectEntityDetails};
use crate::common::{
    OpenEnum, TypedIdentifier, Validate, ValidationError, check_length, parse_nip, wire_enum,
};
use crate::ksef_time;

wire_enum! {
    /// `EntityPermissionType`: what an entity can be granted to handle the grantor's invoices.
    pub enum EntityPermissionType {
        /// Issue invoices.
        InvoiceWrite = "InvoiceWrite",
        /// View invoices.
        InvoiceRead = "InvoiceRead",
    }
}

/// `EntityPermissionItemScope`: the same two values as [`EntityPermissionType`].
pub type EntityPermissionItemScope = EntityPermissionType;

impl From<EntityPermissionType> for Permission {
    fn from(p: EntityPermissionType) -> Self {
        match p {
            EntityPermissionType::InvoiceWrite => Permission::InvoiceWrite,
            EntityPermissionType::InvoiceRead => Permission::InvoiceRead,
        }
    }
}

impl TryFrom<Permission> for EntityPermissionType {
    /// Any other permission.
    type Error = Permission;
    fn try_from(p: Permission) -> Result<Self, Self::Error> {
        match p {
            Permission::InvoiceWrite => Ok(Self::InvoiceWrite),
            Permission::InvoiceRead => Ok(Self::InvoiceRead),
            other => Err(other),
        }
    }
}

wire_enum! {
    /// `EntityPermissionsSubjectIdentifierType` (`Nip`).
    pub enum EntityPermissionsSubjectIdentifierType {
        /// NIP.
        Nip = "Nip",
    }
}

/// `EntityPermissionsSubjectIdentifier`: the entity receiving the permissions.
pub type EntityPermissionsSubjectIdentifier =
    TypedIdentifier<EntityPermissionsSubjectIdentifierType>;
/// `EntityPermissionsContextIdentifierType` (`Nip`, `InternalId`).
pub type EntityPermissionsContextIdentifierType = PersonalPermissionsContextIdentifierType;
/// `EntityPermissionsContextIdentifier`: the entity that granted the permission.
pub type EntityPermissionsContextIdentifier = PersonalPermissionsContextIdentifier;

/// `EntityPermission`: one permission of an entity grant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityPermission {
    /// The permission.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<EntityPermissionType>,
    /// Whether the entity may pass it on (indirect grants); absent = `false`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_delegate: Option<bool>,
}

/// `EntityDetails`: the entity's full name (5–90 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityDetails {
    /// Full name.
    pub full_name: String,
}

/// `EntityPermissionsGrantRequest` (`POST /permissions/entities/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityPermissionsGrantRequest {
    /// The entity receiving the permissions.
    pub subject_identifier: EntityPermissionsSubjectIdentifier,
    /// The permissions; each type at most once.
    pub permissions: Vec<EntityPermission>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the entity.
    pub subject_details: EntityDetails,
}

/// A validated [`EntityPermissionsGrantRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEntityPermissionsGrant {
    /// `subjectIdentifier`.
    pub subject: Nip,
    /// `permissions` with `canDelegate` (non-empty, no duplicate types).
    pub permissions: Vec<(EntityPermissionType, bool)>,
    /// `description`.
    pub description: String,
    /// `subjectDetails`, in the shape the queries return.
    pub details: PermissionsSubjectEntityDetails,
}

impl Validate for EntityPermissionsGrantRequest {
    type Valid = ValidEntityPermissionsGrant;

    /// Validates the NIP (pattern and checksum), enum values and lengths.
    fn validate(&self) -> Result<ValidEntityPermissionsGrant, ValidationError> {
        self.subject_identifier
            .r#type
            .require("subjectIdentifier.type")?;
        let subject = parse_nip("subjectIdentifier.value", &self.subject_identifier.value)?;
        if self.permissions.is_empty() {
            return Err(ValidationError::Invalid {
                field: "permissions".to_owned(),
                message: "at least one permission is required".to_owned(),
            });
        }
        let mut permissions: Vec<(EntityPermissionType, bool)> = Vec::new();
        for (i, p) in self.permissions.iter().enumerate() {
            let t = p.r#type.require(&format!("permissions[{i}].type"))?;
            if permissions.iter().any(|(q, _)| *q == t) {
                return Err(ValidationError::Invalid {
                    field: format!("permissions[{i}].type"),
                    message: format!("{t} occurs more than once"),
                });
            }
            permissions.push((t, p.can_delegate.unwrap_or(false)));
        }
        check_length("description", &self.description, 5, 256)?;
        check_length(
            "subjectDetails.fullName",
            &self.subject_details.full_name,
            5,
            90,
        )?;
        Ok(ValidEntityPermissionsGrant {
            subject,
            permissions,
            description: self.description.clone(),
            details: PermissionsSubjectEntityDetails {
                subject_details_type: EntitySubjectDetailsType::EntityByIdentifier.into(),
                full_name: self.subject_details.full_name.clone(),
                address: None,
            },
        })
    }
}

/// `EntityPermissionsQueryRequest` (`POST /permissions/query/entities/grants`); the body is
/// optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityPermissionsQueryRequest {
    /// Only permissions granted by this entity; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_identifier: Option<EntityPermissionsContextIdentifier>,
}

/// `EntityPermissionItem`: a permission the current context received from another entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityPermissionItem {
    /// Permission id.
    pub id: String,
    /// The entity that granted it.
    pub context_identifier: EntityPermissionsContextIdentifier,
    /// The permission.
    pub permission_scope: OpenEnum<EntityPermissionItemScope>,
    /// Description (5–256 characters).
    pub description: String,
    /// Start of validity.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
    /// Whether it may be passed on.
    pub can_delegate: bool,
}

/// `QueryEntityPermissionsResponse` (`POST /permissions/query/entities/grants`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryEntityPermissionsResponse {
    /// One page, `startDate` descending, then `id` ascending.
    pub permissions: Vec<EntityPermissionItem>,
    /// Whether a next page exists.
    pub has_more: bool,
}
