//! The caller's own permissions in the current context (digest §7.6):
//!
//! * `POST /permissions/query/personal/grants` (tag "Wyszukiwanie nadanych uprawnień").

use ksef_core::{ContextIdentifier, Permission, SubjectIdentifierKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::common::{
    PermissionState, PersonalPermissionsContextIdentifier, PersonalPermissionsTarget,
    PersonalPermissionsTargetIdentifier,
};
use super::subjects::{PermissionsSubjectEntityDetails, PermissionsSubjectPersonDetails};
use crate::common::{OpenEnum, TypedIdentifier, Validate, ValidationError, require_all, wire_enum};
use crate::ksef_time;

/// `PersonalPermissionsAuthorizedIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type PersonalPermissionsAuthorizedIdentifierType = SubjectIdentifierKind;
/// `PersonalPermissionsAuthorizedIdentifier`: who holds the permission.
pub type PersonalPermissionsAuthorizedIdentifier =
    TypedIdentifier<PersonalPermissionsAuthorizedIdentifierType>;

wire_enum! {
    /// `PersonalPermissionType`: the person permissions a personal query can return (the
    /// seven token permissions plus `VatUeManage`).
    pub enum PersonalPermissionType {
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
        /// Manage permissions inside an EU-entity context.
        VatUeManage = "VatUeManage",
    }
}

/// `PersonalPermissionScope`: the same eight values as [`PersonalPermissionType`].
pub type PersonalPermissionScope = PersonalPermissionType;

impl From<PersonalPermissionType> for Permission {
    fn from(p: PersonalPermissionType) -> Self {
        match p {
            PersonalPermissionType::CredentialsManage => Permission::CredentialsManage,
            PersonalPermissionType::CredentialsRead => Permission::CredentialsRead,
            PersonalPermissionType::InvoiceWrite => Permission::InvoiceWrite,
            PersonalPermissionType::InvoiceRead => Permission::InvoiceRead,
            PersonalPermissionType::Introspection => Permission::Introspection,
            PersonalPermissionType::SubunitManage => Permission::SubunitManage,
            PersonalPermissionType::EnforcementOperations => Permission::EnforcementOperations,
            PersonalPermissionType::VatUeManage => Permission::VatUeManage,
        }
    }
}

impl TryFrom<Permission> for PersonalPermissionType {
    /// The permission outside this vocabulary (`PefInvoiceWrite`).
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
            Permission::VatUeManage => Self::VatUeManage,
            other @ Permission::PefInvoiceWrite => return Err(other),
        })
    }
}

/// `PersonalPermissionsQueryRequest` (`POST /permissions/query/personal/grants`). Every
/// filter is optional; an empty object lists everything.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalPermissionsQueryRequest {
    /// Only permissions granted by this context; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_identifier: Option<PersonalPermissionsContextIdentifier>,
    /// Only indirect permissions with this target; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_identifier: Option<PersonalPermissionsTargetIdentifier>,
    /// Only these permission types; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_types: Option<Vec<OpenEnum<PersonalPermissionType>>>,
    /// Only permissions in this state; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_state: Option<OpenEnum<PermissionState>>,
}

/// A validated [`PersonalPermissionsQueryRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidPersonalPermissionsQuery {
    /// `contextIdentifier`, if given.
    pub context: Option<ContextIdentifier>,
    /// `targetIdentifier`, if given.
    pub target: Option<PersonalPermissionsTarget>,
    /// `permissionTypes`; empty when absent or `[]` (= no filter).
    pub permission_types: Vec<PersonalPermissionType>,
    /// `permissionState`, if given.
    pub permission_state: Option<PermissionState>,
}

impl Validate for PersonalPermissionsQueryRequest {
    type Valid = ValidPersonalPermissionsQuery;

    /// Validates identifiers and enum values.
    fn validate(&self) -> Result<ValidPersonalPermissionsQuery, ValidationError> {
        Ok(ValidPersonalPermissionsQuery {
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

/// `PersonalPermission`: one of the caller's own permissions.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonalPermission {
    /// Permission id (`PermissionId`, 36 characters), used to revoke it.
    pub id: String,
    /// The context that granted it; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_identifier: Option<PersonalPermissionsContextIdentifier>,
    /// The identifier holding it; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_identifier: Option<PersonalPermissionsAuthorizedIdentifier>,
    /// Target of an indirect permission; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub target_identifier: Option<PersonalPermissionsTargetIdentifier>,
    /// The permission.
    pub permission_scope: OpenEnum<PersonalPermissionScope>,
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

/// `QueryPersonalPermissionsResponse` (`POST /permissions/query/personal/grants`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPersonalPermissionsResponse {
    /// One page of permissions, `startDate` descending, then `id` ascending.
    pub permissions: Vec<PersonalPermission>,
    /// Whether a next page exists (call again with `pageOffset + 1`).
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn empty_query_is_valid_and_written_as_empty_object() {
        let q: PersonalPermissionsQueryRequest = serde_json::from_str("{}").unwrap();
        assert_eq!(
            q.validate().unwrap(),
            ValidPersonalPermissionsQuery::default()
        );
        assert_eq!(serde_json::to_value(&q).unwrap(), json!({}));
        // Explicit nulls (the properties are nullable) mean "no filter" too.
        let q: PersonalPermissionsQueryRequest = serde_json::from_value(json!({
            "contextIdentifier": null, "targetIdentifier": null,
            "permissionTypes": null, "permissionState": null
        }))
        .unwrap();
        assert_eq!(
            q.validate().unwrap(),
            ValidPersonalPermissionsQuery::default()
        );
    }

    #[test]
    fn query_validation_names_fields() {
        let q: PersonalPermissionsQueryRequest = serde_json::from_value(json!({
            "contextIdentifier": {"type": "InternalId", "value": "6824515772-12343"},
            "targetIdentifier": {"type": "AllPartners"},
            "permissionTypes": ["InvoiceWrite", "VatUeManage"],
            "permissionState": "Active"
        }))
        .unwrap();
        let v = q.validate().unwrap();
        assert_eq!(v.context.unwrap().value(), "6824515772-12343");
        assert_eq!(v.target, Some(PersonalPermissionsTarget::AllPartners));
        assert_eq!(
            v.permission_types,
            vec![
                PersonalPermissionType::InvoiceWrite,
                PersonalPermissionType::VatUeManage
            ]
        );
        assert_eq!(v.permission_state, Some(PermissionState::Active));

        let bad = |body: serde_json::Value| {
            serde_json::from_value::<PersonalPermissionsQueryRequest>(body)
                .unwrap()
                .validate()
                .unwrap_err()
                .field()
                .to_owned()
        };
        assert_eq!(
            bad(json!({"contextIdentifier": {"type": "NipVatUe", "value": "5265877635-DE123"}})),
            "contextIdentifier.type"
        );
        assert_eq!(
            bad(json!({"contextIdentifier": {"type": "Nip", "value": "5265877636"}})),
            "contextIdentifier.value"
        );
        assert_eq!(
            bad(json!({"permissionTypes": ["InvoiceRead", "PefInvoiceWrite"]})),
            "permissionTypes[1]"
        );
        assert_eq!(
            bad(json!({"permissionState": "Revoked"})),
            "permissionState"
        );
        assert_eq!(
            bad(json!({"targetIdentifier": {"type": "Nip"}})),
            "targetIdentifier.value"
        );
        assert_eq!(
            bad(json!({"targetIdentifier": {"type": "AllPartners", "value": "5265877635"}})),
            "targetIdentifier.value"
        );
        assert_eq!(
            bad(json!({"targetIdentifier": {"type": "Pesel", "value": "15062788702"}})),
            "targetIdentifier.type"
        );
        // A wrong JSON type is a deserialization error, not a silent "no filter".
        assert!(
            serde_json::from_value::<PersonalPermissionsQueryRequest>(
                json!({"permissionTypes": "InvoiceRead"})
            )
            .is_err()
        );
    }

    #[test]
    fn permission_vocabulary_maps_to_core() {
        for p in <PersonalPermissionType as crate::WireEnum>::VALUES {
            let core = Permission::from(*p);
            assert_eq!(core.as_str(), p.as_str());
            assert_eq!(PersonalPermissionType::try_from(core), Ok(*p));
        }
        assert_eq!(
            PersonalPermissionType::try_from(Permission::PefInvoiceWrite),
            Err(Permission::PefInvoiceWrite)
        );
    }

    #[test]
    fn response_requires_its_required_properties() {
        let item = json!({
            "id": "0c9a72e8-f344-457f-9c16-7c640eb60242",
            "permissionScope": "InvoiceWrite", "description": "Opis uprawnienia",
            "permissionState": "Active", "startDate": "2025-06-22T10:41:11+00:00",
            "canDelegate": false
        });
        let ok: PersonalPermission = serde_json::from_value(item.clone()).unwrap();
        assert!(ok.context_identifier.is_none() && ok.authorized_identifier.is_none());
        for field in [
            "id",
            "permissionScope",
            "description",
            "permissionState",
            "startDate",
            "canDelegate",
        ] {
            let mut v = item.clone();
            v.as_object_mut().unwrap().remove(field);
            let err = serde_json::from_value::<PersonalPermission>(v).unwrap_err();
            assert!(err.to_string().contains(field), "{field}: {err}");
        }
        let err =
            serde_json::from_value::<QueryPersonalPermissionsResponse>(json!({"permissions": []}))
                .unwrap_err();
        assert!(err.to_string().contains("hasMore"), "{err}");
    }
}
