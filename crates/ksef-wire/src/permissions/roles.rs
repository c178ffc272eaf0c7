//! The roles of the current context (digest §7.6):
//!
//! * `GET /permissions/query/entities/roles` (tag "Wyszukiwanie nadanych uprawnień").
//!
//! The roles of subordinate entities are in `subunits.rs`.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::{OpenEnum, TypedIdentifier, wire_enum};
use crate::ksef_time;

wire_enum! {
    /// `EntityRoleType`.
    pub enum EntityRoleType {
        /// Court bailiff.
        CourtBailiff = "CourtBailiff",
        /// Enforcement authority.
        EnforcementAuthority = "EnforcementAuthority",
        /// Local government unit (JST).
        LocalGovernmentUnit = "LocalGovernmentUnit",
        /// Subordinate unit of a JST.
        LocalGovernmentSubUnit = "LocalGovernmentSubUnit",
        /// VAT group.
        VatGroupUnit = "VatGroupUnit",
        /// Member of a VAT group.
        VatGroupSubUnit = "VatGroupSubUnit",
    }
}

wire_enum! {
    /// `EntityRolesParentEntityIdentifierType` (`Nip`).
    pub enum EntityRolesParentEntityIdentifierType {
        /// NIP.
        Nip = "Nip",
    }
}

/// `EntityRolesParentEntityIdentifier`.
pub type EntityRolesParentEntityIdentifier = TypedIdentifier<EntityRolesParentEntityIdentifierType>;

/// `EntityRole`: one role of the current context.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EntityRole {
    /// The parent entity (for sub-unit roles); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent_entity_identifier: Option<EntityRolesParentEntityIdentifier>,
    /// The role.
    pub role: OpenEnum<EntityRoleType>,
    /// Description (5–256 characters).
    pub description: String,
    /// Start of the role.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
}

/// `QueryEntityRolesResponse` (`GET /permissions/query/entities/roles`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryEntityRolesResponse {
    /// One page of roles.
    pub roles: Vec<EntityRole>,
    /// Whether a next page exists.
    pub has_more: bool,
}
