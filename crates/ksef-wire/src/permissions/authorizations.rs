//! Entity-level authorizations (self-invoicing, RR invoices, tax representative, PEF),
//! digest §7.3, §7.4, §7.6:
//!
//! * `POST /permissions/authorizations/grants` (tag "Nadawanie uprawnień");
//! * `DELETE /permissions/authorizations/grants/{permissionId}` (tag "Odbieranie uprawnień";
//!   no body, answered with `PermissionsOperationResponse`);
//! * `POST /permissions/query/authorizations/grants` (tag "Wyszukiwanie nadanych uprawnień").

use ksef_core::{ContextIdentifier, ContextIdentifierType, Nip, SubjectIdentifierKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::entities::EntityDetails;
use crate::common::{
    OpenEnum, TypedIdentifier, Validate, ValidationError, check_length, parse_nip, require_all,
    wire_enum,
};
use crate::ksef_time;

wire_enum! {
    /// `EntityAuthorizationPermissionType`: entity-level permissions, checked when invoices are
    /// validated.
    pub enum EntityAuthorizationPermissionType {
        /// The authorized entity may self-bill on behalf of the grantor.
        SelfInvoicing = "SelfInvoicing",
        /// VAT RR invoices.
        RRInvoicing = "RRInvoicing",
        /// Tax representative.
        TaxRepresentative = "TaxRepresentative",
        /// PEF invoices by a Peppol provider.
        PefInvoicing = "PefInvoicing",
    }
}

/// `InvoicePermissionType`: the same four values as [`EntityAuthorizationPermissionType`].
pub type InvoicePermissionType = EntityAuthorizationPermissionType;

wire_enum! {
    /// `EntityAuthorizationPermissionsSubjectIdentifierType` (`Nip`, `PeppolId`).
    pub enum EntityAuthorizationPermissionsSubjectIdentifierType {
        /// NIP.
        Nip = "Nip",
        /// Peppol provider id.
        PeppolId = "PeppolId",
    }
}

/// `EntityAuthorizationPermissionsSubjectIdentifier`: the authorized entity.
pub type EntityAuthorizationPermissionsSubjectIdentifier =
    TypedIdentifier<EntityAuthorizationPermissionsSubjectIdentifierType>;
/// `EntityAuthorizationsAuthorizedEntityIdentifierType` (`Nip`, `PeppolId`).
pub type EntityAuthorizationsAuthorizedEntityIdentifierType =
    EntityAuthorizationPermissionsSubjectIdentifierType;
/// `EntityAuthorizationsAuthorizedEntityIdentifier`.
pub type EntityAuthorizationsAuthorizedEntityIdentifier =
    TypedIdentifier<EntityAuthorizationPermissionsSubjectIdentifierType>;

impl TypedIdentifier<EntityAuthorizationPermissionsSubjectIdentifierType> {
    /// Validates type, pattern and checksum; a NIP or a Peppol id as a context identifier.
    pub fn to_entity(&self, field: &str) -> Result<ContextIdentifier, ValidationError> {
        let kind = match self.r#type.require(&format!("{field}.type"))? {
            EntityAuthorizationPermissionsSubjectIdentifierType::Nip => ContextIdentifierType::Nip,
            EntityAuthorizationPermissionsSubjectIdentifierType::PeppolId => {
                ContextIdentifierType::PeppolId
            }
        };
        ContextIdentifier::parse(kind, &self.value).map_err(|source| ValidationError::Identifier {
            field: format!("{field}.value"),
            source,
        })
    }

    /// The wire form of a NIP or Peppol-id entity; `None` for other identifier types.
    pub fn from_entity(c: &ContextIdentifier) -> Option<Self> {
        let kind = match c.kind() {
            ContextIdentifierType::Nip => EntityAuthorizationPermissionsSubjectIdentifierType::Nip,
            ContextIdentifierType::PeppolId => {
                EntityAuthorizationPermissionsSubjectIdentifierType::PeppolId
            }
            _ => return None,
        };
        Some(TypedIdentifier::new(kind, c.value()))
    }
}

wire_enum! {
    /// `EntityAuthorizationsAuthorizingEntityIdentifierType` (`Nip`).
    pub enum EntityAuthorizationsAuthorizingEntityIdentifierType {
        /// NIP.
        Nip = "Nip",
    }
}

/// `EntityAuthorizationsAuthorizingEntityIdentifier`: the granting entity.
pub type EntityAuthorizationsAuthorizingEntityIdentifier =
    TypedIdentifier<EntityAuthorizationsAuthorizingEntityIdentifierType>;
/// `EntityAuthorizationsAuthorIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type EntityAuthorizationsAuthorIdentifierType = SubjectIdentifierKind;
/// `EntityAuthorizationsAuthorIdentifier`: who made the grant.
pub type EntityAuthorizationsAuthorIdentifier = TypedIdentifier<SubjectIdentifierKind>;

/// `EntityAuthorizationPermissionsGrantRequest` (`POST /permissions/authorizations/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityAuthorizationPermissionsGrantRequest {
    /// The authorized entity.
    pub subject_identifier: EntityAuthorizationPermissionsSubjectIdentifier,
    /// The permission.
    pub permission: OpenEnum<EntityAuthorizationPermissionType>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the entity.
    pub subject_details: EntityDetails,
}

/// A validated [`EntityAuthorizationPermissionsGrantRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEntityAuthorizationGrant {
    /// `subjectIdentifier` (a NIP or Peppol-id context identifier).
    pub subject: ContextIdentifier,
    /// `permission`.
    pub permission: EntityAuthorizationPermissionType,
    /// `description`.
    pub description: String,
    /// `subjectDetails.fullName`.
    pub full_name: String,
}

impl Validate for EntityAuthorizationPermissionsGrantRequest {
    type Valid = ValidEntityAuthorizationGrant;

    /// Validates the identifier, the permission and the lengths.
    fn validate(&self) -> Result<ValidEntityAuthorizationGrant, ValidationError> {
        let subject = self.subject_identifier.to_entity("subjectIdentifier")?;
        let permission = self.permission.require("permission")?;
        check_length("description", &self.description, 5, 256)?;
        check_length(
            "subjectDetails.fullName",
            &self.subject_details.full_name,
            5,
            90,
        )?;
        Ok(ValidEntityAuthorizationGrant {
            subject,
            permission,
            description: self.description.clone(),
            full_name: self.subject_details.full_name.clone(),
        })
    }
}

wire_enum! {
    /// `QueryType` of the authorizations query.
    pub enum QueryType {
        /// Granted by the current context.
        Granted = "Granted",
        /// Received by the current context.
        Received = "Received",
    }
}

/// `EntityAuthorizationPermissionsQueryRequest` (`POST /permissions/query/authorizations/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityAuthorizationPermissionsQueryRequest {
    /// Only grants of this entity; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorizing_identifier: Option<EntityAuthorizationsAuthorizingEntityIdentifier>,
    /// Only grants to this entity; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_identifier: Option<EntityAuthorizationsAuthorizedEntityIdentifier>,
    /// Granted or received.
    pub query_type: OpenEnum<QueryType>,
    /// Only these permissions; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_types: Option<Vec<OpenEnum<InvoicePermissionType>>>,
}

/// A validated [`EntityAuthorizationPermissionsQueryRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEntityAuthorizationQuery {
    /// `queryType`.
    pub query_type: QueryType,
    /// `authorizingIdentifier`, if given.
    pub authorizing: Option<Nip>,
    /// `authorizedIdentifier`, if given.
    pub authorized: Option<ContextIdentifier>,
    /// `permissionTypes`; empty = all.
    pub permission_types: Vec<InvoicePermissionType>,
}

impl Validate for EntityAuthorizationPermissionsQueryRequest {
    type Valid = ValidEntityAuthorizationQuery;

    /// Validates identifiers and enum values.
    fn validate(&self) -> Result<ValidEntityAuthorizationQuery, ValidationError> {
        Ok(ValidEntityAuthorizationQuery {
            query_type: self.query_type.require("queryType")?,
            authorizing: self
                .authorizing_identifier
                .as_ref()
                .map(|a| {
                    a.r#type.require("authorizingIdentifier.type")?;
                    parse_nip("authorizingIdentifier.value", &a.value)
                })
                .transpose()?,
            authorized: self
                .authorized_identifier
                .as_ref()
                .map(|a| a.to_entity("authorizedIdentifier"))
                .transpose()?,
            permission_types: self
                .permission_types
                .as_deref()
                .map(|p| require_all(p, "permissionTypes"))
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

wire_enum! {
    /// `EntitySubjectByIdentifierDetailsType` (`EntityByIdentifier`).
    pub enum EntitySubjectByIdentifierDetailsType {
        /// By NIP.
        EntityByIdentifier = "EntityByIdentifier",
    }
}

/// `PermissionsSubjectEntityByIdentifierDetails`: data of the authorized entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsSubjectEntityByIdentifierDetails {
    /// How the entity is identified.
    pub subject_details_type: OpenEnum<EntitySubjectByIdentifierDetailsType>,
    /// Full name (≤ 100 characters).
    pub full_name: String,
}

/// `EntityAuthorizationGrant`: one item of the authorizations query.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityAuthorizationGrant {
    /// Permission id (revoke with `DELETE /permissions/authorizations/grants/{id}`).
    pub id: String,
    /// Who made the grant; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub author_identifier: Option<EntityAuthorizationsAuthorIdentifier>,
    /// The authorized entity.
    pub authorized_entity_identifier: EntityAuthorizationsAuthorizedEntityIdentifier,
    /// The granting entity.
    pub authorizing_entity_identifier: EntityAuthorizationsAuthorizingEntityIdentifier,
    /// The permission.
    pub authorization_scope: OpenEnum<InvoicePermissionType>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the authorized entity; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_entity_details: Option<PermissionsSubjectEntityByIdentifierDetails>,
    /// Start of validity.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
}

/// `QueryEntityAuthorizationPermissionsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryEntityAuthorizationPermissionsResponse {
    /// One page, `startDate` descending, then `id` ascending.
    pub authorization_grants: Vec<EntityAuthorizationGrant>,
    /// Whether a next page exists.
    pub has_more: bool,
}
