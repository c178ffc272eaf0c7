//! Permissions (digest §7): `POST /permissions/query/personal/grants` (the caller's own
//! permissions in the current context), person grants (`POST /permissions/persons/grants`),
//! the operation status, the persons query, attachment consent and entity roles. Queries are
//! paged with `pageOffset`/`pageSize` (a 0-based page index, digest §2.2) and `hasMore`.
//!
//! Requests deserialize leniently (identifiers and enums as strings); their
//! [`Validate`](crate::Validate) impls (e.g. [`PersonalPermissionsQueryRequest`]'s) return
//! `ksef-core` values or a [`ValidationError`](crate::ValidationError) naming the field.
//!
//! # Layout
//!
//! One private file per subject kind of the operations, each naming the OpenAPI operations
//! (method, path, tag) it covers; everything is re-exported here:
//!
//! * `personal.rs`: the caller's own permissions (`POST /permissions/query/personal/grants`);
//! * `persons.rs`: person grants and the persons query (`/permissions/persons/grants`,
//!   `/permissions/query/persons/grants`);
//! * `entities.rs`: entity grants and the entities query (`/permissions/entities/grants`,
//!   `/permissions/query/entities/grants`);
//! * `authorizations.rs`: entity-level authorizations (`/permissions/authorizations/grants`,
//!   `/permissions/query/authorizations/grants`);
//! * `subunits.rs`: subunit administrators and subordinate entities
//!   (`/permissions/subunits/grants`, `/permissions/query/subunits/grants`,
//!   `/permissions/query/subordinate-entities/roles`);
//! * `indirect.rs`: indirect grants (`/permissions/indirect/grants`);
//! * `eu_entities.rs`: EU-entity administrators and representatives
//!   (`/permissions/eu-entities/*`, `/permissions/query/eu-entities/grants`);
//! * `roles.rs`: the roles of the current context (`/permissions/query/entities/roles`);
//! * `operations.rs`: the operation answer and status, the revocations and the attachment
//!   consent (tag "Operacje", `/permissions/operations/{referenceNumber}`,
//!   `/permissions/attachments/status`);
//! * `peppol.rs`: Peppol providers (`GET /peppol/query`);
//! * `subjects.rs`: the subject details the grants send and the queries return;
//! * `common.rs`: the page-size bounds, the shared context and target identifiers,
//!   `PermissionState` and the permission-list check.

mod authorizations;
mod common;
mod entities;
mod eu_entities;
mod indirect;
mod operations;
mod peppol;
mod personal;
mod persons;
mod roles;
mod subjects;
mod subunits;

pub use authorizations::{
    EntityAuthorizationGrant, EntityAuthorizationPermissionType,
    EntityAuthorizationPermissionsGrantRequest, EntityAuthorizationPermissionsQueryRequest,
    EntityAuthorizationPermissionsSubjectIdentifier,
    EntityAuthorizationPermissionsSubjectIdentifierType, EntityAuthorizationsAuthorIdentifier,
    EntityAuthorizationsAuthorIdentifierType, EntityAuthorizationsAuthorizedEntityIdentifier,
    EntityAuthorizationsAuthorizedEntityIdentifierType,
    EntityAuthorizationsAuthorizingEntityIdentifier,
    EntityAuthorizationsAuthorizingEntityIdentifierType, EntitySubjectByIdentifierDetailsType,
    InvoicePermissionType, PermissionsSubjectEntityByIdentifierDetails,
    QueryEntityAuthorizationPermissionsResponse, QueryType, ValidEntityAuthorizationGrant,
    ValidEntityAuthorizationQuery,
};
pub use common::{
    PERMISSIONS_QUERY_DEFAULT_PAGE_SIZE, PERMISSIONS_QUERY_PAGE_SIZE, PermissionState,
    PersonalPermissionsContextIdentifier, PersonalPermissionsContextIdentifierType,
    PersonalPermissionsTarget, PersonalPermissionsTargetIdentifier,
    PersonalPermissionsTargetIdentifierType,
};
pub use entities::{
    EntityDetails, EntityPermission, EntityPermissionItem, EntityPermissionItemScope,
    EntityPermissionType, EntityPermissionsContextIdentifier,
    EntityPermissionsContextIdentifierType, EntityPermissionsGrantRequest,
    EntityPermissionsQueryRequest, EntityPermissionsSubjectIdentifier,
    EntityPermissionsSubjectIdentifierType, QueryEntityPermissionsResponse,
    ValidEntityPermissionsGrant,
};
pub use eu_entities::{
    EntityByFingerprintDetails, EuEntityAdministrationPermissionsContextIdentifier,
    EuEntityAdministrationPermissionsContextIdentifierType,
    EuEntityAdministrationPermissionsGrantRequest,
    EuEntityAdministrationPermissionsSubjectIdentifier,
    EuEntityAdministrationPermissionsSubjectIdentifierType, EuEntityDetails, EuEntityPermission,
    EuEntityPermissionSubjectDetails, EuEntityPermissionSubjectDetailsType, EuEntityPermissionType,
    EuEntityPermissionsAuthorIdentifier, EuEntityPermissionsGrantRequest,
    EuEntityPermissionsQueryPermissionType, EuEntityPermissionsQueryRequest,
    EuEntityPermissionsSubjectIdentifier, EuEntityPermissionsSubjectIdentifierType,
    EuSubjectDetails, QueryEuEntityPermissionsResponse, ValidEuEntityAdministrationGrant,
    ValidEuEntityPermissionsGrant, ValidEuEntityPermissionsQuery,
};
pub use indirect::{
    IndirectPermissionType, IndirectPermissionsGrantRequest, IndirectPermissionsSubjectIdentifier,
    IndirectPermissionsTargetIdentifier, ValidIndirectPermissionsGrant,
};
pub use operations::{
    CheckAttachmentPermissionStatusResponse, PermissionsOperationResponse,
    PermissionsOperationStatusResponse,
};
pub use peppol::{PeppolProvider, QueryPeppolProvidersResponse};
pub use personal::{
    PersonalPermission, PersonalPermissionScope, PersonalPermissionType,
    PersonalPermissionsAuthorizedIdentifier, PersonalPermissionsAuthorizedIdentifierType,
    PersonalPermissionsQueryRequest, QueryPersonalPermissionsResponse,
    ValidPersonalPermissionsQuery,
};
pub use persons::{
    PermissionAuthor, PersonPermission, PersonPermissionScope, PersonPermissionType,
    PersonPermissionsAuthorIdentifier, PersonPermissionsAuthorIdentifierType,
    PersonPermissionsAuthorizedIdentifier, PersonPermissionsAuthorizedIdentifierType,
    PersonPermissionsContextIdentifier, PersonPermissionsContextIdentifierType,
    PersonPermissionsGrantRequest, PersonPermissionsQueryRequest, PersonPermissionsQueryType,
    PersonPermissionsSubjectIdentifier, PersonPermissionsSubjectIdentifierType,
    PersonPermissionsTargetIdentifier, PersonPermissionsTargetIdentifierType,
    QueryPersonPermissionsResponse, ValidPersonPermissionsGrant, ValidPersonPermissionsQuery,
};
pub use roles::{
    EntityRole, EntityRoleType, EntityRolesParentEntityIdentifier,
    EntityRolesParentEntityIdentifierType, QueryEntityRolesResponse,
};
pub use subjects::{
    EntitySubjectDetailsType, IdDocument, PermissionsSubjectEntityDetails,
    PermissionsSubjectPersonDetails, PersonByFingerprintWithIdentifierDetails,
    PersonByFingerprintWithoutIdentifierDetails, PersonDetails, PersonIdentifier,
    PersonIdentifierType, PersonPermissionSubjectDetails, PersonPermissionSubjectDetailsType,
    PersonSubjectDetailsType,
};
pub use subunits::{
    EntityPermissionsSubordinateEntityIdentifier, EntityPermissionsSubordinateEntityIdentifierType,
    QuerySubordinateEntityRolesResponse, QuerySubunitPermissionsResponse, SubordinateEntityRole,
    SubordinateEntityRoleType, SubordinateEntityRolesQueryRequest,
    SubordinateRoleSubordinateEntityIdentifier, SubunitPermission, SubunitPermissionScope,
    SubunitPermissionsAuthorIdentifier, SubunitPermissionsAuthorizedIdentifier,
    SubunitPermissionsContextIdentifier, SubunitPermissionsContextIdentifierType,
    SubunitPermissionsGrantRequest, SubunitPermissionsQueryRequest,
    SubunitPermissionsSubjectIdentifier, SubunitPermissionsSubjectIdentifierType,
    SubunitPermissionsSubunitIdentifier, SubunitPermissionsSubunitIdentifierType,
    ValidSubunitPermissionsGrant,
};
