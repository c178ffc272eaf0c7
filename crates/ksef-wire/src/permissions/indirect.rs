//! Indirect grants: permissions to the clients' invoices, given by an entity that holds them
//! with `canDelegate` (digest §7.3):
//!
//! * `POST /permissions/indirect/grants` (tag "Nadawanie uprawnień").
//!
//! Indirect permissions are listed by the persons query (`persons.rs`) and revoked by
//! `DELETE /permissions/common/grants/{permissionId}` (see `operations.rs`).

use ksef_core::{SubjectIdentifier, SubjectIdentifierKind};
use serde::{Deserialize, Serialize};

use super::common::{
    PersonalPermissionsTarget, PersonalPermissionsTargetIdentifier, distinct_permissions,
};
use super::entities::EntityPermissionType;
use super::subjects::{PermissionsSubjectPersonDetails, PersonPermissionSubjectDetails};
use crate::common::{OpenEnum, TypedIdentifier, Validate, ValidationError, check_length};

/// `IndirectPermissionType`: the same two values as [`EntityPermissionType`].
pub type IndirectPermissionType = EntityPermissionType;
/// `IndirectPermissionsSubjectIdentifier` (`Nip`, `Pesel`, `Fingerprint`).
pub type IndirectPermissionsSubjectIdentifier = TypedIdentifier<SubjectIdentifierKind>;
/// `IndirectPermissionsTargetIdentifier` (`Nip`, `AllPartners`, `InternalId`).
pub type IndirectPermissionsTargetIdentifier = PersonalPermissionsTargetIdentifier;

/// `IndirectPermissionsGrantRequest` (`POST /permissions/indirect/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IndirectPermissionsGrantRequest {
    /// The person receiving the permissions.
    pub subject_identifier: IndirectPermissionsSubjectIdentifier,
    /// The client (`Nip`/`InternalId`) or `AllPartners`; absent = `AllPartners`; skipped when
    /// `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_identifier: Option<IndirectPermissionsTargetIdentifier>,
    /// The permissions; each at most once.
    pub permissions: Vec<OpenEnum<IndirectPermissionType>>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the person.
    pub subject_details: PersonPermissionSubjectDetails,
}

/// A validated [`IndirectPermissionsGrantRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidIndirectPermissionsGrant {
    /// `subjectIdentifier`.
    pub subject: SubjectIdentifier,
    /// `targetIdentifier` (`AllPartners` when absent).
    pub target: PersonalPermissionsTarget,
    /// `permissions` (non-empty, no duplicates).
    pub permissions: Vec<IndirectPermissionType>,
    /// `description`.
    pub description: String,
    /// `subjectDetails`, in the shape the queries return.
    pub details: PermissionsSubjectPersonDetails,
}

impl Validate for IndirectPermissionsGrantRequest {
    type Valid = ValidIndirectPermissionsGrant;

    /// Validates identifiers, permissions, lengths and the subject details.
    fn validate(&self) -> Result<ValidIndirectPermissionsGrant, ValidationError> {
        let subject = self
            .subject_identifier
            .to_subject_identifier("subjectIdentifier")?;
        let target = match &self.target_identifier {
            Some(t) => t.validate("targetIdentifier")?,
            None => PersonalPermissionsTarget::AllPartners,
        };
        let permissions = distinct_permissions(&self.permissions)?;
        check_length("description", &self.description, 5, 256)?;
        let details = self
            .subject_details
            .validate("subjectDetails", subject.kind())?;
        Ok(ValidIndirectPermissionsGrant {
            subject,
            target,
            permissions,
            description: self.description.clone(),
            details,
        })
    }
}
