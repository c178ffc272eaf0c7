//! Pieces several permission operations share: the `pageSize` bounds of the queries, the
//! context and target identifiers of the personal, persons and indirect operations (with
//! their conversions to and from `ksef-core`), [`PermissionState`], and the check of the
//! grant requests' permission lists.

use ksef_core::{ContextIdentifier, ContextIdentifierType, InternalId, Nip};
use serde::{Deserialize, Serialize};

use crate::common::{
    OpenEnum, TypedIdentifier, ValidationError, parse_nip, require_all, wire_enum,
};

/// Bounds and default of `pageSize` in the permission queries (digest §2.2).
pub const PERMISSIONS_QUERY_PAGE_SIZE: (u32, u32) = (10, 100);
/// Default `pageSize` of the permission queries.
pub const PERMISSIONS_QUERY_DEFAULT_PAGE_SIZE: u32 = 10;

wire_enum! {
    /// `PersonalPermissionsContextIdentifierType` (`Nip`, `InternalId`).
    pub enum PersonalPermissionsContextIdentifierType {
        /// NIP.
        Nip = "Nip",
        /// `{nip}-{5 digits}` internal identifier.
        InternalId = "InternalId",
    }
}

impl From<PersonalPermissionsContextIdentifierType> for ContextIdentifierType {
    fn from(t: PersonalPermissionsContextIdentifierType) -> Self {
        match t {
            PersonalPermissionsContextIdentifierType::Nip => ContextIdentifierType::Nip,
            PersonalPermissionsContextIdentifierType::InternalId => {
                ContextIdentifierType::InternalId
            }
        }
    }
}

impl TryFrom<ContextIdentifierType> for PersonalPermissionsContextIdentifierType {
    /// The context type that has no counterpart (`NipVatUe`, `PeppolId`).
    type Error = ContextIdentifierType;
    fn try_from(t: ContextIdentifierType) -> Result<Self, Self::Error> {
        match t {
            ContextIdentifierType::Nip => Ok(Self::Nip),
            ContextIdentifierType::InternalId => Ok(Self::InternalId),
            other => Err(other),
        }
    }
}

/// `PersonalPermissionsContextIdentifier`: the context (entity) that granted the permission.
pub type PersonalPermissionsContextIdentifier =
    TypedIdentifier<PersonalPermissionsContextIdentifierType>;

impl TypedIdentifier<PersonalPermissionsContextIdentifierType> {
    /// Validates type, pattern and checksum. `field` is the JSON path used in errors.
    pub fn to_context_identifier(&self, field: &str) -> Result<ContextIdentifier, ValidationError> {
        let kind = self.r#type.require(&format!("{field}.type"))?;
        ContextIdentifier::parse(kind.into(), &self.value).map_err(|source| {
            ValidationError::Identifier {
                field: format!("{field}.value"),
                source,
            }
        })
    }

    /// The wire form of a context, `None` for context types this schema lacks
    /// (`NipVatUe`, `PeppolId`).
    pub fn from_context(c: &ContextIdentifier) -> Option<Self> {
        let kind = PersonalPermissionsContextIdentifierType::try_from(c.kind()).ok()?;
        Some(TypedIdentifier::new(kind, c.value()))
    }
}

wire_enum! {
    /// `PersonalPermissionsTargetIdentifierType` (`Nip`, `AllPartners`, `InternalId`).
    pub enum PersonalPermissionsTargetIdentifierType {
        /// A selected client, by NIP.
        Nip = "Nip",
        /// General indirect permissions (all clients); no value.
        AllPartners = "AllPartners",
        /// A selected client, by internal identifier.
        InternalId = "InternalId",
    }
}

/// `PersonalPermissionsTargetIdentifier`: the target entity of an indirect permission. Unlike
/// the other identifiers `value` is optional (absent for `AllPartners`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PersonalPermissionsTargetIdentifier {
    /// Identifier type.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<PersonalPermissionsTargetIdentifierType>,
    /// Identifier value; `None` for `AllPartners`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
}

/// A validated [`PersonalPermissionsTargetIdentifier`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PersonalPermissionsTarget {
    /// A selected client, by NIP.
    Nip(Nip),
    /// A selected client, by internal identifier.
    InternalId(InternalId),
    /// General indirect permissions.
    AllPartners,
}

impl PersonalPermissionsTargetIdentifier {
    /// Validates the type and the value (required and checked for `Nip`/`InternalId`, absent
    /// or empty for `AllPartners`). `field` is the JSON path used in errors.
    pub fn validate(&self, field: &str) -> Result<PersonalPermissionsTarget, ValidationError> {
        let kind = self.r#type.require(&format!("{field}.type"))?;
        let value = self.value.as_deref().filter(|v| !v.is_empty());
        let value_field = format!("{field}.value");
        let required = || ValidationError::Invalid {
            field: value_field.clone(),
            message: format!("is required for type {kind}"),
        };
        match kind {
            PersonalPermissionsTargetIdentifierType::AllPartners => match value {
                None => Ok(PersonalPermissionsTarget::AllPartners),
                Some(_) => Err(ValidationError::Invalid {
                    field: value_field.clone(),
                    message: "must be empty for type AllPartners".to_owned(),
                }),
            },
            PersonalPermissionsTargetIdentifierType::Nip => Ok(PersonalPermissionsTarget::Nip(
                parse_nip(&value_field, value.ok_or_else(required)?)?,
            )),
            PersonalPermissionsTargetIdentifierType::InternalId => {
                let v = value.ok_or_else(required)?;
                v.parse()
                    .map(PersonalPermissionsTarget::InternalId)
                    .map_err(|source| ValidationError::Identifier {
                        field: value_field.clone(),
                        source,
                    })
            }
        }
    }

    /// The wire form of a validated target.
    pub fn from_target(t: &PersonalPermissionsTarget) -> Self {
        let (kind, value) = match t {
            PersonalPermissionsTarget::Nip(n) => (
                PersonalPermissionsTargetIdentifierType::Nip,
                Some(n.to_string()),
            ),
            PersonalPermissionsTarget::InternalId(i) => (
                PersonalPermissionsTargetIdentifierType::InternalId,
                Some(i.to_string()),
            ),
            PersonalPermissionsTarget::AllPartners => {
                (PersonalPermissionsTargetIdentifierType::AllPartners, None)
            }
        };
        PersonalPermissionsTargetIdentifier {
            r#type: kind.into(),
            value,
        }
    }
}

wire_enum! {
    /// `PermissionState`.
    pub enum PermissionState {
        /// Active permission.
        Active = "Active",
        /// Inactive permission (e.g. an indirect one whose source was withdrawn).
        Inactive = "Inactive",
    }
}

/// Non-empty, without duplicates.
pub(super) fn distinct_permissions<E: crate::WireEnum + std::fmt::Display>(
    values: &[OpenEnum<E>],
) -> Result<Vec<E>, ValidationError> {
    let permissions = require_all(values, "permissions")?;
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
    Ok(permissions)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn context_identifier_from_core() {
        let nip = ContextIdentifier::parse(ContextIdentifierType::Nip, "5265877635").unwrap();
        let w = PersonalPermissionsContextIdentifier::from_context(&nip).unwrap();
        assert_eq!(
            serde_json::to_value(&w).unwrap(),
            json!({"type": "Nip", "value": "5265877635"})
        );
        let vat_ue =
            ContextIdentifier::parse(ContextIdentifierType::NipVatUe, "5265877635-DE123456789")
                .unwrap();
        assert!(PersonalPermissionsContextIdentifier::from_context(&vat_ue).is_none());
    }
}
