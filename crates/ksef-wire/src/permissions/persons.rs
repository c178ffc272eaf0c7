//! Permissions of persons to work in KSeF (digest §7.3, §7.6):
//!
//! * `POST /permissions/persons/grants` (tag "Nadawanie uprawnień");
//! * `POST /permissions/query/persons/grants` (tag "Wyszukiwanie nadanych uprawnień").
//!
//! A person grant is revoked by `DELETE /permissions/common/grants/{permissionId}` (see
//! `operations.rs`).

use ksef_core::{ContextIdentifier, Permission, SubjectIdentifier, SubjectIdentifierKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::common::{
    PermissionState, PersonalPermissionsContextIdentifier,
    PersonalPermissionsContextIdentifierType, PersonalPermissionsTarget,
    PersonalPermissionsTargetIdentifier, PersonalPermissionsTargetIdentifierType,
};
use super::subjects::{
    PermissionsSubjectEntityDetails, PermissionsSubjectPersonDetails,
    PersonPermissionSubjectDetails,
};
use crate::common::{
    OpenEnum, TypedIdentifier, Validate, ValidationError, check_length, require_all, wire_enum,
};
use crate::ksef_time;

wire_enum! {
    /// `PersonPermissionType`: what `POST /permissions/persons/grants` can grant (the seven
    /// person permissions; no `VatUeManage`).
    pub enum PersonPermissionType {
        /// Manage permissions.
        CredentialsManage = "CredentialsManage",
        /// View permissions.
        CredentialsRead = "CredentialsRead",
        /// Issue invoices.
        InvoiceWrite = "InvoiceWrite",
        /// View invoices.
        InvoiceRead = "InvoiceRead",
        /// View the session history.
        Introspection = "Introspection",
        /// Manage subordinate units.
        SubunitManage = "SubunitManage",
        /// Enforcement operations.
        EnforcementOperations = "EnforcementOperations",
    }
}

/// `PersonPermissionScope`: the same seven values as [`PersonPermissionType`].
pub type PersonPermissionScope = PersonPermissionType;

impl From<PersonPermissionType> for Permission {
    fn from(p: PersonPermissionType) -> Self {
        match p {
            PersonPermissionType::CredentialsManage => Permission::CredentialsManage,
            PersonPermissionType::CredentialsRead => Permission::CredentialsRead,
            PersonPermissionType::InvoiceWrite => Permission::InvoiceWrite,
            PersonPermissionType::InvoiceRead => Permission::InvoiceRead,
            PersonPermissionType::Introspection => Permission::Introspection,
            PersonPermissionType::SubunitManage => Permission::SubunitManage,
            PersonPermissionType::EnforcementOperations => Permission::EnforcementOperations,
        }
    }
}

impl TryFrom<Permission> for PersonPermissionType {
    /// The permission outside this vocabulary (`VatUeManage`, `PefInvoiceWrite`).
    type Error = Permission;
    fn try_from(p: Permission) -> Result<Self, Self::Error> {
        Ok(match p {
            Permission::CredentialsManage => Self::CredentialsManage,
            Permission::CredentialsRead => Self::CredentialsRead,
            Permission::InvoiceWrite => Self::InvoiceWrite,
            Permission::InvoiceRead => Self::InvoiceRead,
            Permission::Introspection => Self::Introspection,
            Permission::SubunitManage => Self::SubunitManage,
            Permission::EnforcementOperations => Self::EnforcementOperations,
            other @ (Permission::VatUeManage | Permission::PefInvoiceWrite) => return Err(other),
        })
    }
}

/// `PersonPermissionsSubjectIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type PersonPermissionsSubjectIdentifierType = SubjectIdentifierKind;
/// `PersonPermissionsSubjectIdentifier`: the person receiving the permissions.
pub type PersonPermissionsSubjectIdentifier = TypedIdentifier<SubjectIdentifierKind>;
/// `PersonPermissionsAuthorizedIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type PersonPermissionsAuthorizedIdentifierType = SubjectIdentifierKind;
/// `PersonPermissionsAuthorizedIdentifier`: who holds a permission.
pub type PersonPermissionsAuthorizedIdentifier = TypedIdentifier<SubjectIdentifierKind>;
/// `PersonPermissionsContextIdentifierType` (`Nip`, `InternalId`).
pub type PersonPermissionsContextIdentifierType = PersonalPermissionsContextIdentifierType;
/// `PersonPermissionsContextIdentifier`.
pub type PersonPermissionsContextIdentifier = PersonalPermissionsContextIdentifier;
/// `PersonPermissionsTargetIdentifierType` (`Nip`, `AllPartners`, `InternalId`).
pub type PersonPermissionsTargetIdentifierType = PersonalPermissionsTargetIdentifierType;
/// `PersonPermissionsTargetIdentifier` (`value` absent for `AllPartners`).
pub type PersonPermissionsTargetIdentifier = PersonalPermissionsTargetIdentifier;

/// `PersonPermissionsGrantRequest` (`POST /permissions/persons/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonPermissionsGrantRequest {
    /// The person receiving the permissions.
    pub subject_identifier: PersonPermissionsSubjectIdentifier,
    /// The permissions; each value at most once.
    pub permissions: Vec<OpenEnum<PersonPermissionType>>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the person.
    pub subject_details: PersonPermissionSubjectDetails,
}

/// A validated [`PersonPermissionsGrantRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPersonPermissionsGrant {
    /// `subjectIdentifier`.
    pub subject: SubjectIdentifier,
    /// `permissions` (non-empty, no duplicates).
    pub permissions: Vec<PersonPermissionType>,
    /// `description`.
    pub description: String,
    /// `subjectDetails`, in the shape the queries return.
    pub details: PermissionsSubjectPersonDetails,
}

impl Validate for PersonPermissionsGrantRequest {
    type Valid = ValidPersonPermissionsGrant;

    /// Validates identifiers (pattern and checksum), enum values, lengths and the subject
    /// details.
    fn validate(&self) -> Result<ValidPersonPermissionsGrant, ValidationError> {
        let subject = self
            .subject_identifier
            .to_subject_identifier("subjectIdentifier")?;
        let permissions = require_all(&self.permissions, "permissions")?;
        if permissions.is_empty() {
            return Err(ValidationError::Invalid {
                field: "permissions".to_owned(),
                message: "at least one permission is required".to_owned(),
            });
        }
        for (i, p) in permissions.iter().enumerate() {
            if permissions[..i].contains(p) {
                return Err(ValidationError::Invalid {
                    field: format!("permissions[{i}]"),
                    message: format!("{p} occurs more than once"),
                });
            }
        }
        check_length("description", &self.description, 5, 256)?;
        let details = self
            .subject_details
            .validate("subjectDetails", subject.kind())?;
        Ok(ValidPersonPermissionsGrant {
            subject,
            permissions,
            description: self.description.clone(),
            details,
        })
    }
}

wire_enum! {
    /// `PersonPermissionsQueryType`.
    pub enum PersonPermissionsQueryType {
        /// Permissions in force in the current context.
        PermissionsInCurrentContext = "PermissionsInCurrentContext",
        /// Permissions granted in the current context by the caller.
        PermissionsGrantedInCurrentContext = "PermissionsGrantedInCurrentContext",
    }
}

wire_enum! {
    /// `PersonPermissionsAuthorIdentifierType` (`Nip`, `Pesel`, `Fingerprint`, `System`).
    pub enum PersonPermissionsAuthorIdentifierType {
        /// NIP.
        Nip = "Nip",
        /// PESEL.
        Pesel = "Pesel",
        /// Certificate fingerprint.
        Fingerprint = "Fingerprint",
        /// KSeF itself (ZAW-FA grants); no value.
        System = "System",
    }
}

/// `PersonPermissionsAuthorIdentifier`: who granted a permission (`value` absent for
/// `System`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonPermissionsAuthorIdentifier {
    /// Identifier type.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<PersonPermissionsAuthorIdentifierType>,
    /// Identifier value; `None` for `System`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A validated [`PersonPermissionsAuthorIdentifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PermissionAuthor {
    /// A person or entity.
    Subject(SubjectIdentifier),
    /// KSeF itself (ZAW-FA).
    System,
}

impl PersonPermissionsAuthorIdentifier {
    /// Validates type and value (required and checked unless `System`).
    pub fn validate(&self, field: &str) -> Result<PermissionAuthor, ValidationError> {
        let kind = self.r#type.require(&format!("{field}.type"))?;
        let value = self.value.as_deref().filter(|v| !v.is_empty());
        let subject_kind = match kind {
            PersonPermissionsAuthorIdentifierType::System => {
                return match value {
                    None => Ok(PermissionAuthor::System),
                    Some(_) => Err(ValidationError::Invalid {
                        field: format!("{field}.value"),
                        message: "must be empty for type System".to_owned(),
                    }),
                };
            }
            PersonPermissionsAuthorIdentifierType::Nip => SubjectIdentifierKind::Nip,
            PersonPermissionsAuthorIdentifierType::Pesel => SubjectIdentifierKind::Pesel,
            PersonPermissionsAuthorIdentifierType::Fingerprint => {
                SubjectIdentifierKind::Fingerprint
            }
        };
        let v = value.ok_or_else(|| ValidationError::Invalid {
            field: format!("{field}.value"),
            message: format!("is required for type {kind}"),
        })?;
        SubjectIdentifier::parse(subject_kind, v)
            .map(PermissionAuthor::Subject)
            .map_err(|source| ValidationError::Identifier {
                field: format!("{field}.value"),
                source,
            })
    }

    /// The wire form of an author.
    pub fn from_author(a: &PermissionAuthor) -> Self {
        match a {
            PermissionAuthor::System => PersonPermissionsAuthorIdentifier {
                r#type: PersonPermissionsAuthorIdentifierType::System.into(),
                value: None,
            },
            PermissionAuthor::Subject(s) => PersonPermissionsAuthorIdentifier {
                r#type: match s.kind() {
                    SubjectIdentifierKind::Nip => PersonPermissionsAuthorIdentifierType::Nip,
                    SubjectIdentifierKind::Pesel => PersonPermissionsAuthorIdentifierType::Pesel,
                    SubjectIdentifierKind::Fingerprint => {
                        PersonPermissionsAuthorIdentifierType::Fingerprint
                    }
                }
                .into(),
                value: Some(s.value().to_owned()),
            },
        }
    }
}

/// `PersonPermissionsQueryRequest` (`POST /permissions/query/persons/grants`); `queryType`
/// is required, every filter optional.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonPermissionsQueryRequest {
    /// Only permissions granted by this author; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_identifier: Option<PersonPermissionsAuthorIdentifier>,
    /// Only permissions held by this identifier; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_identifier: Option<PersonPermissionsAuthorizedIdentifier>,
    /// Only permissions in this context (subunit administrators); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_identifier: Option<PersonPermissionsContextIdentifier>,
    /// Only indirect permissions with this target; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_identifier: Option<PersonPermissionsTargetIdentifier>,
    /// Only these permission types; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_types: Option<Vec<OpenEnum<PersonPermissionType>>>,
    /// Only permissions in this state; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_state: Option<OpenEnum<PermissionState>>,
    /// Which of the two lists to return.
    pub query_type: OpenEnum<PersonPermissionsQueryType>,
}

/// A validated [`PersonPermissionsQueryRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidPersonPermissionsQuery {
    /// `queryType`.
    pub query_type: PersonPermissionsQueryType,
    /// `authorIdentifier`, if given.
    pub author: Option<PermissionAuthor>,
    /// `authorizedIdentifier`, if given.
    pub authorized: Option<SubjectIdentifier>,
    /// `contextIdentifier`, if given.
    pub context: Option<ContextIdentifier>,
    /// `targetIdentifier`, if given.
    pub target: Option<PersonalPermissionsTarget>,
    /// `permissionTypes`; empty when absent or `[]` (= no filter).
    pub permission_types: Vec<PersonPermissionType>,
    /// `permissionState`, if given.
    pub permission_state: Option<PermissionState>,
}

impl Validate for PersonPermissionsQueryRequest {
    type Valid = ValidPersonPermissionsQuery;

    /// Validates identifiers and enum values.
    fn validate(&self) -> Result<ValidPersonPermissionsQuery, ValidationError> {
        Ok(ValidPersonPermissionsQuery {
            query_type: self.query_type.require("queryType")?,
            author: self
                .author_identifier
                .as_ref()
                .map(|a| a.validate("authorIdentifier"))
                .transpose()?,
            authorized: self
                .authorized_identifier
                .as_ref()
                .map(|a| a.to_subject_identifier("authorizedIdentifier"))
                .transpose()?,
            context: self
                .context_identifier
                .as_ref()
                .map(|c| c.to_context_identifier("contextIdentifier"))
                .transpose()?,
            target: self
                .target_identifier
                .as_ref()
                .map(|t| t.validate("targetIdentifier"))
                .transpose()?,
            permission_types: self
                .permission_types
                .as_deref()
                .map(|p| require_all(p, "permissionTypes"))
                .transpose()?
                .unwrap_or_default(),
            permission_state: self
                .permission_state
                .as_ref()
                .map(|s| s.require("permissionState"))
                .transpose()?,
        })
    }
}

/// `PersonPermission`: one item of the persons query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonPermission {
    /// Permission id (`PermissionId`, 36 characters), used to revoke it.
    pub id: String,
    /// The identifier holding it.
    pub authorized_identifier: PersonPermissionsAuthorizedIdentifier,
    /// Context of the permission; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_identifier: Option<PersonPermissionsContextIdentifier>,
    /// Target of an indirect permission; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_identifier: Option<PersonPermissionsTargetIdentifier>,
    /// Who granted it.
    pub author_identifier: PersonPermissionsAuthorIdentifier,
    /// The permission.
    pub permission_scope: OpenEnum<PersonPermissionScope>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the authorized person; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_person_details: Option<PermissionsSubjectPersonDetails>,
    /// Data of the authorized entity; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_entity_details: Option<PermissionsSubjectEntityDetails>,
    /// State.
    pub permission_state: OpenEnum<PermissionState>,
    /// Start of validity.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
    /// Whether the permission may be passed on.
    pub can_delegate: bool,
}

/// `QueryPersonPermissionsResponse` (`POST /permissions/query/persons/grants`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPersonPermissionsResponse {
    /// One page, `startDate` descending, then `id` ascending.
    pub permissions: Vec<PersonPermission>,
    /// Whether a next page exists.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn person_grant_validation_names_fields() {
        let good = json!({
            "subjectIdentifier": {"type": "Pesel", "value": "15062788702"},
            "permissions": ["InvoiceRead", "InvoiceWrite"],
            "description": "Księgowa — wystawianie i odczyt",
            "subjectDetails": {"subjectDetailsType": "PersonByIdentifier",
                "personById": {"firstName": "Adam", "lastName": "Abacki"}},
            "unknownField": 1
        });
        let v = serde_json::from_value::<PersonPermissionsGrantRequest>(good.clone())
            .unwrap()
            .validate()
            .unwrap();
        assert_eq!(v.subject.value(), "15062788702");
        assert_eq!(v.details.first_name, "Adam");
        let bad = |path: &[&str], value: serde_json::Value| {
            let mut b = good.clone();
            let mut t = &mut b;
            for p in &path[..path.len() - 1] {
                t = &mut t[*p];
            }
            t[path[path.len() - 1]] = value;
            serde_json::from_value::<PersonPermissionsGrantRequest>(b)
                .unwrap()
                .validate()
                .unwrap_err()
                .field()
                .to_owned()
        };
        assert_eq!(bad(&["description"], json!("abc")), "description");
        assert_eq!(bad(&["permissions"], json!([])), "permissions");
        assert_eq!(
            bad(&["permissions"], json!(["InvoiceRead", "InvoiceRead"])),
            "permissions[1]"
        );
        assert_eq!(
            bad(&["permissions"], json!(["VatUeManage"])),
            "permissions[0]"
        );
        assert_eq!(
            bad(&["subjectIdentifier", "value"], json!("15062788703")),
            "subjectIdentifier.value"
        );
        assert_eq!(
            bad(&["subjectDetails", "personById"], json!(null)),
            "subjectDetails.personById"
        );
        assert_eq!(
            bad(
                &["subjectDetails", "subjectDetailsType"],
                json!("PersonByFingerprintWithIdentifier")
            ),
            "subjectDetails.subjectDetailsType"
        );
    }

    #[test]
    fn person_permission_requires_its_required_properties() {
        let item = json!({
            "id": "0c9a72e8-f344-457f-9c16-7c640eb60242",
            "authorizedIdentifier": {"type": "Pesel", "value": "15062788702"},
            "authorIdentifier": {"type": "System"},
            "permissionScope": "InvoiceWrite", "description": "Opis uprawnienia",
            "permissionState": "Active", "startDate": "2025-06-22T10:41:11+00:00",
            "canDelegate": false
        });
        let ok: PersonPermission = serde_json::from_value(item.clone()).unwrap();
        assert_eq!(
            ok.author_identifier.validate("authorIdentifier").unwrap(),
            PermissionAuthor::System
        );
        for field in [
            "id",
            "authorizedIdentifier",
            "authorIdentifier",
            "permissionScope",
        ] {
            let mut v = item.clone();
            v.as_object_mut().unwrap().remove(field);
            let err = serde_json::from_value::<PersonPermission>(v).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
    }
}
