//! Permissions (digest §7): `POST /permissions/query/personal/grants` (the caller's own
//! permissions in the current context), person grants (`POST /permissions/persons/grants`),
//! the operation status, the persons query, attachment consent and entity roles. Queries are
//! paged with `pageOffset`/`pageSize` (a 0-based page index, digest §2.2) and `hasMore`.
//!
//! The request deserializes leniently (identifiers and enums as strings);
//! [`PersonalPermissionsQueryRequest::validate`] returns `ksef-core` values or a
//! [`ValidationError`] naming the field.

use ksef_core::{
    ContextIdentifier, ContextIdentifierType, InternalId, Nip, NipVatUe, Permission,
    SubjectIdentifier, SubjectIdentifierKind,
};
use serde::{Deserialize, Serialize};
use time::{Date, OffsetDateTime};

use crate::common::{
    OpenEnum, StatusInfo, TypedIdentifier, Validate, ValidationError, check_length, parse_nip,
    parse_pesel, require_all, wire_enum,
};
use crate::ksef_time;

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
}

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

wire_enum! {
    /// `PermissionState`.
    pub enum PermissionState {
        /// Active permission.
        Active = "Active",
        /// Inactive permission (e.g. an indirect one whose source was withdrawn).
        Inactive = "Inactive",
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

impl PersonalPermissionsQueryRequest {
    /// Validates identifiers and enum values.
    pub fn validate(&self) -> Result<ValidPersonalPermissionsQuery, ValidationError> {
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

wire_enum! {
    /// `PersonSubjectDetailsType`: how the authorized person is identified.
    pub enum PersonSubjectDetailsType {
        /// By a NIP/PESEL in Profil Zaufany or the certificate.
        PersonByIdentifier = "PersonByIdentifier",
        /// By certificate fingerprint; the person has a NIP or PESEL.
        PersonByFingerprintWithIdentifier = "PersonByFingerprintWithIdentifier",
        /// By certificate fingerprint; the person has neither NIP nor PESEL.
        PersonByFingerprintWithoutIdentifier = "PersonByFingerprintWithoutIdentifier",
    }
}

wire_enum! {
    /// `PersonIdentifierType` (`Pesel`, `Nip`).
    pub enum PersonIdentifierType {
        /// PESEL.
        Pesel = "Pesel",
        /// NIP.
        Nip = "Nip",
    }
}

/// `PersonIdentifier`: a person's PESEL or NIP.
pub type PersonIdentifier = TypedIdentifier<PersonIdentifierType>;

/// `IdDocument`: an identity document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct IdDocument {
    /// Document kind (≤ 20 characters).
    #[serde(rename = "type")]
    pub r#type: String,
    /// Series and number (≤ 20 characters).
    pub number: String,
    /// Issuing country, ISO 3166-1 alpha-2.
    pub country: String,
}

/// `PermissionsSubjectPersonDetails`: data of the authorized person.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsSubjectPersonDetails {
    /// How the person is identified.
    pub subject_details_type: OpenEnum<PersonSubjectDetailsType>,
    /// First name.
    pub first_name: String,
    /// Last name.
    pub last_name: String,
    /// PESEL or NIP; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_identifier: Option<PersonIdentifier>,
    /// Date of birth; skipped when `None`.
    #[serde(
        default,
        with = "ksef_time::date::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub birth_date: Option<Date>,
    /// Identity document; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_document: Option<IdDocument>,
}

wire_enum! {
    /// `EntitySubjectDetailsType`: how the authorized entity is identified.
    pub enum EntitySubjectDetailsType {
        /// By NIP.
        EntityByIdentifier = "EntityByIdentifier",
        /// By the fingerprint of a qualified seal.
        EntityByFingerprint = "EntityByFingerprint",
    }
}

/// `PermissionsSubjectEntityDetails`: data of the authorized entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsSubjectEntityDetails {
    /// How the entity is identified.
    pub subject_details_type: OpenEnum<EntitySubjectDetailsType>,
    /// Full name (≤ 100 characters).
    pub full_name: String,
    /// Address; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub address: Option<String>,
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

// ---------------------------------------------------------------------------------------------
// Person grants (`POST /permissions/persons/grants`), operations, persons query (digest §7.3–§7.6)
// ---------------------------------------------------------------------------------------------

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
/// `PersonPermissionSubjectDetailsType`: the same three values as [`PersonSubjectDetailsType`].
pub type PersonPermissionSubjectDetailsType = PersonSubjectDetailsType;

/// `PersonDetails`: first and last name.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonDetails {
    /// First name (2–30 characters).
    pub first_name: String,
    /// Last name (2–81 characters).
    pub last_name: String,
}

/// `PersonByFingerprintWithIdentifierDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonByFingerprintWithIdentifierDetails {
    /// First name (2–30 characters).
    pub first_name: String,
    /// Last name (2–81 characters).
    pub last_name: String,
    /// The person's PESEL or NIP.
    pub identifier: PersonIdentifier,
}

/// `PersonByFingerprintWithoutIdentifierDetails`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonByFingerprintWithoutIdentifierDetails {
    /// First name (2–30 characters).
    pub first_name: String,
    /// Last name (2–81 characters).
    pub last_name: String,
    /// Date of birth.
    #[serde(with = "ksef_time::date")]
    pub birth_date: Date,
    /// Identity document.
    pub id_document: IdDocument,
}

/// `PersonPermissionSubjectDetails`: data of the person receiving permissions; exactly the
/// object named by `subjectDetailsType` is required.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PersonPermissionSubjectDetails {
    /// Which of the three objects carries the data.
    pub subject_details_type: OpenEnum<PersonPermissionSubjectDetailsType>,
    /// For `PersonByIdentifier`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_by_id: Option<PersonDetails>,
    /// For `PersonByFingerprintWithIdentifier`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_by_fp_with_id: Option<PersonByFingerprintWithIdentifierDetails>,
    /// For `PersonByFingerprintWithoutIdentifier`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_by_fp_no_id: Option<PersonByFingerprintWithoutIdentifierDetails>,
}

fn check_names(field: &str, first: &str, last: &str) -> Result<(), ValidationError> {
    check_length(&format!("{field}.firstName"), first, 2, 30)?;
    check_length(&format!("{field}.lastName"), last, 2, 81)
}

impl PersonPermissionSubjectDetails {
    /// Validates the details against the subject identifier (`PersonByIdentifier` needs a
    /// NIP/PESEL subject, the fingerprint variants a `Fingerprint` one) and returns them in
    /// the shape the queries answer with (`PermissionsSubjectPersonDetails`).
    pub fn validate(
        &self,
        field: &str,
        subject: SubjectIdentifierKind,
    ) -> Result<PermissionsSubjectPersonDetails, ValidationError> {
        let kind = self
            .subject_details_type
            .require(&format!("{field}.subjectDetailsType"))?;
        let by_fingerprint = subject == SubjectIdentifierKind::Fingerprint;
        let consistent = match kind {
            PersonSubjectDetailsType::PersonByIdentifier => !by_fingerprint,
            _ => by_fingerprint,
        };
        if !consistent {
            return Err(ValidationError::Invalid {
                field: format!("{field}.subjectDetailsType"),
                message: format!("{kind} does not match subjectIdentifier.type {subject}"),
            });
        }
        let missing = |name: &str| ValidationError::Invalid {
            field: format!("{field}.{name}"),
            message: format!("is required for subjectDetailsType {kind}"),
        };
        let mut out = PermissionsSubjectPersonDetails {
            subject_details_type: kind.into(),
            first_name: String::new(),
            last_name: String::new(),
            person_identifier: None,
            birth_date: None,
            id_document: None,
        };
        match kind {
            PersonSubjectDetailsType::PersonByIdentifier => {
                let d = self
                    .person_by_id
                    .as_ref()
                    .ok_or_else(|| missing("personById"))?;
                check_names(&format!("{field}.personById"), &d.first_name, &d.last_name)?;
                out.first_name.clone_from(&d.first_name);
                out.last_name.clone_from(&d.last_name);
            }
            PersonSubjectDetailsType::PersonByFingerprintWithIdentifier => {
                let f = format!("{field}.personByFpWithId");
                let d = self
                    .person_by_fp_with_id
                    .as_ref()
                    .ok_or_else(|| missing("personByFpWithId"))?;
                check_names(&f, &d.first_name, &d.last_name)?;
                let id_field = format!("{f}.identifier");
                match d.identifier.r#type.require(&format!("{id_field}.type"))? {
                    PersonIdentifierType::Pesel => {
                        parse_pesel(&format!("{id_field}.value"), &d.identifier.value)?;
                    }
                    PersonIdentifierType::Nip => {
                        parse_nip(&format!("{id_field}.value"), &d.identifier.value)?;
                    }
                }
                out.first_name.clone_from(&d.first_name);
                out.last_name.clone_from(&d.last_name);
                out.person_identifier = Some(d.identifier.clone());
            }
            PersonSubjectDetailsType::PersonByFingerprintWithoutIdentifier => {
                let f = format!("{field}.personByFpNoId");
                let d = self
                    .person_by_fp_no_id
                    .as_ref()
                    .ok_or_else(|| missing("personByFpNoId"))?;
                check_names(&f, &d.first_name, &d.last_name)?;
                let doc = &d.id_document;
                check_length(&format!("{f}.idDocument.type"), &doc.r#type, 1, 20)?;
                check_length(&format!("{f}.idDocument.number"), &doc.number, 1, 20)?;
                if !(doc.country.len() == 2 && doc.country.bytes().all(|b| b.is_ascii_uppercase()))
                {
                    return Err(ValidationError::Invalid {
                        field: format!("{f}.idDocument.country"),
                        message: "must be an ISO 3166-1 alpha-2 code".to_owned(),
                    });
                }
                out.first_name.clone_from(&d.first_name);
                out.last_name.clone_from(&d.last_name);
                out.birth_date = Some(d.birth_date);
                out.id_document = Some(doc.clone());
            }
        }
        Ok(out)
    }
}

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

/// `PermissionsOperationResponse` (202 of every grant and revocation).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsOperationResponse {
    /// Reference number of the operation (`GET /permissions/operations/{referenceNumber}`).
    pub reference_number: String,
}

/// `PermissionsOperationStatusResponse` (`GET /permissions/operations/{referenceNumber}`):
/// codes 100 accepted, 200 success, 400–550 failures (digest §7.5).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PermissionsOperationStatusResponse {
    /// Current status.
    pub status: StatusInfo,
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

impl PersonPermissionsQueryRequest {
    /// Validates identifiers and enum values.
    pub fn validate(&self) -> Result<ValidPersonPermissionsQuery, ValidationError> {
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

// ---------------------------------------------------------------------------------------------
// Attachments consent, entity roles (digest §7.6, §7.7)
// ---------------------------------------------------------------------------------------------

/// `CheckAttachmentPermissionStatusResponse` (`GET /permissions/attachments/status`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CheckAttachmentPermissionStatusResponse {
    /// Whether the entity may attach attachments to invoices now (absent = `false`).
    #[serde(default)]
    pub is_attachment_allowed: bool,
    /// End of the consent; `None` = no end date.
    #[serde(default, with = "ksef_time::option")]
    pub revoked_date: Option<OffsetDateTime>,
}

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

// ---------------------------------------------------------------------------------------------
// Entity grants (`POST /permissions/entities/grants`) and the entities query (digest §7.3, §7.6)
// ---------------------------------------------------------------------------------------------

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

// ---------------------------------------------------------------------------------------------
// Entity-level authorizations (`/permissions/authorizations/grants`, digest §7.3, §7.4, §7.6)
// ---------------------------------------------------------------------------------------------

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

impl EntityAuthorizationPermissionsQueryRequest {
    /// Validates identifiers and enum values.
    pub fn validate(&self) -> Result<ValidEntityAuthorizationQuery, ValidationError> {
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

// ---------------------------------------------------------------------------------------------
// Subunit administrators and subordinate entities (digest §7.3, §7.6)
// ---------------------------------------------------------------------------------------------

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

impl SubordinateEntityRolesQueryRequest {
    /// Validates the optional NIP filter.
    pub fn validate(&self) -> Result<Option<Nip>, ValidationError> {
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

// ---------------------------------------------------------------------------------------------
// Indirect grants (`POST /permissions/indirect/grants`, digest §7.3)
// ---------------------------------------------------------------------------------------------

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

/// Non-empty, without duplicates.
fn distinct_permissions<E: crate::WireEnum + std::fmt::Display>(
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

impl PersonalPermissionsTargetIdentifier {
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

// ---------------------------------------------------------------------------------------------
// EU entities (`/permissions/eu-entities/*`, digest §7.3, §7.6)
// ---------------------------------------------------------------------------------------------

wire_enum! {
    /// `EuEntityAdministrationPermissionsContextIdentifierType` (`NipVatUe`).
    pub enum EuEntityAdministrationPermissionsContextIdentifierType {
        /// `{nip}-{EU VAT number}`.
        NipVatUe = "NipVatUe",
    }
}

/// `EuEntityAdministrationPermissionsContextIdentifier`: the composite context to create.
pub type EuEntityAdministrationPermissionsContextIdentifier =
    TypedIdentifier<EuEntityAdministrationPermissionsContextIdentifierType>;

wire_enum! {
    /// `EuEntityPermissionsSubjectIdentifierType` (`Fingerprint`).
    pub enum EuEntityPermissionsSubjectIdentifierType {
        /// SHA-256 fingerprint of a certificate (64 hex characters).
        Fingerprint = "Fingerprint",
    }
}

/// `EuEntityAdministrationPermissionsSubjectIdentifierType` (`Fingerprint`).
pub type EuEntityAdministrationPermissionsSubjectIdentifierType =
    EuEntityPermissionsSubjectIdentifierType;
/// `EuEntityPermissionsSubjectIdentifier`: a certificate fingerprint.
pub type EuEntityPermissionsSubjectIdentifier =
    TypedIdentifier<EuEntityPermissionsSubjectIdentifierType>;
/// `EuEntityAdministrationPermissionsSubjectIdentifier`.
pub type EuEntityAdministrationPermissionsSubjectIdentifier = EuEntityPermissionsSubjectIdentifier;
/// `EuEntityPermissionsAuthorIdentifier` (`Nip`, `Pesel`, `Fingerprint`).
pub type EuEntityPermissionsAuthorIdentifier = TypedIdentifier<SubjectIdentifierKind>;

impl TypedIdentifier<EuEntityPermissionsSubjectIdentifierType> {
    /// Validates the type and the fingerprint (64 hex characters, upper-cased).
    pub fn to_fingerprint(&self, field: &str) -> Result<SubjectIdentifier, ValidationError> {
        self.r#type.require(&format!("{field}.type"))?;
        SubjectIdentifier::fingerprint(&self.value).map_err(|source| ValidationError::Identifier {
            field: format!("{field}.value"),
            source,
        })
    }
}

wire_enum! {
    /// `EuEntityPermissionSubjectDetailsType`.
    pub enum EuEntityPermissionSubjectDetailsType {
        /// A person with a NIP or PESEL, by fingerprint.
        PersonByFingerprintWithIdentifier = "PersonByFingerprintWithIdentifier",
        /// A person without NIP/PESEL, by fingerprint.
        PersonByFingerprintWithoutIdentifier = "PersonByFingerprintWithoutIdentifier",
        /// An entity, by the fingerprint of its seal.
        EntityByFingerprint = "EntityByFingerprint",
    }
}

/// `EntityByFingerprintDetails` / `EuEntityDetails` / `PermissionsEuEntityDetails`: full name
/// (≤ 100 characters) and address (≤ 512 characters).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EuEntityDetails {
    /// Full name.
    pub full_name: String,
    /// Address.
    pub address: String,
}

/// `EntityByFingerprintDetails`.
pub type EntityByFingerprintDetails = EuEntityDetails;

impl EuEntityDetails {
    fn validate(&self, field: &str) -> Result<(), ValidationError> {
        check_length(&format!("{field}.fullName"), &self.full_name, 1, 100)?;
        check_length(&format!("{field}.address"), &self.address, 1, 512)
    }
}

/// `EuEntityPermissionSubjectDetails`: data of the person or entity behind a fingerprint.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EuEntityPermissionSubjectDetails {
    /// Which of the three objects carries the data.
    pub subject_details_type: OpenEnum<EuEntityPermissionSubjectDetailsType>,
    /// For `PersonByFingerprintWithIdentifier`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_by_fp_with_id: Option<PersonByFingerprintWithIdentifierDetails>,
    /// For `PersonByFingerprintWithoutIdentifier`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub person_by_fp_no_id: Option<PersonByFingerprintWithoutIdentifierDetails>,
    /// For `EntityByFingerprint`; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_by_fp: Option<EntityByFingerprintDetails>,
}

/// Validated [`EuEntityPermissionSubjectDetails`], in the shapes the queries return.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum EuSubjectDetails {
    /// `subjectPersonDetails`.
    Person(PermissionsSubjectPersonDetails),
    /// `subjectEntityDetails`.
    Entity(PermissionsSubjectEntityDetails),
}

impl EuEntityPermissionSubjectDetails {
    /// Validates the object named by `subjectDetailsType`.
    pub fn validate(&self, field: &str) -> Result<EuSubjectDetails, ValidationError> {
        let kind = self
            .subject_details_type
            .require(&format!("{field}.subjectDetailsType"))?;
        let person = |t: PersonSubjectDetailsType| {
            PersonPermissionSubjectDetails {
                subject_details_type: t.into(),
                person_by_id: None,
                person_by_fp_with_id: self.person_by_fp_with_id.clone(),
                person_by_fp_no_id: self.person_by_fp_no_id.clone(),
            }
            .validate(field, SubjectIdentifierKind::Fingerprint)
            .map(EuSubjectDetails::Person)
        };
        match kind {
            EuEntityPermissionSubjectDetailsType::PersonByFingerprintWithIdentifier => {
                person(PersonSubjectDetailsType::PersonByFingerprintWithIdentifier)
            }
            EuEntityPermissionSubjectDetailsType::PersonByFingerprintWithoutIdentifier => {
                person(PersonSubjectDetailsType::PersonByFingerprintWithoutIdentifier)
            }
            EuEntityPermissionSubjectDetailsType::EntityByFingerprint => {
                let d = self
                    .entity_by_fp
                    .as_ref()
                    .ok_or_else(|| ValidationError::Invalid {
                        field: format!("{field}.entityByFp"),
                        message: format!("is required for subjectDetailsType {kind}"),
                    })?;
                d.validate(&format!("{field}.entityByFp"))?;
                Ok(EuSubjectDetails::Entity(PermissionsSubjectEntityDetails {
                    subject_details_type: EntitySubjectDetailsType::EntityByFingerprint.into(),
                    full_name: d.full_name.clone(),
                    address: Some(d.address.clone()),
                }))
            }
        }
    }
}

/// `EuEntityAdministrationPermissionsGrantRequest`
/// (`POST /permissions/eu-entities/administration/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EuEntityAdministrationPermissionsGrantRequest {
    /// The administrator's certificate fingerprint.
    pub subject_identifier: EuEntityAdministrationPermissionsSubjectIdentifier,
    /// The composite context `{nip}-{VAT UE}`.
    pub context_identifier: EuEntityAdministrationPermissionsContextIdentifier,
    /// Description (5–256 characters).
    pub description: String,
    /// Name of the EU entity (5–256 characters).
    pub eu_entity_name: String,
    /// Data of the administrator.
    pub subject_details: EuEntityPermissionSubjectDetails,
    /// Data of the EU entity.
    pub eu_entity_details: EuEntityDetails,
}

/// A validated [`EuEntityAdministrationPermissionsGrantRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEuEntityAdministrationGrant {
    /// `subjectIdentifier` (a fingerprint).
    pub subject: SubjectIdentifier,
    /// `contextIdentifier`.
    pub context: NipVatUe,
    /// `description`.
    pub description: String,
    /// `euEntityName`.
    pub eu_entity_name: String,
    /// `subjectDetails`.
    pub details: EuSubjectDetails,
    /// `euEntityDetails`.
    pub eu_entity_details: EuEntityDetails,
}

impl Validate for EuEntityAdministrationPermissionsGrantRequest {
    type Valid = ValidEuEntityAdministrationGrant;

    /// Validates the fingerprint, the composite context (NIP checksum, VIES pattern), lengths
    /// and the details.
    fn validate(&self) -> Result<ValidEuEntityAdministrationGrant, ValidationError> {
        let subject = self
            .subject_identifier
            .to_fingerprint("subjectIdentifier")?;
        self.context_identifier
            .r#type
            .require("contextIdentifier.type")?;
        let context: NipVatUe = self.context_identifier.value.parse().map_err(|source| {
            ValidationError::Identifier {
                field: "contextIdentifier.value".to_owned(),
                source,
            }
        })?;
        check_length("description", &self.description, 5, 256)?;
        check_length("euEntityName", &self.eu_entity_name, 5, 256)?;
        let details = self.subject_details.validate("subjectDetails")?;
        self.eu_entity_details.validate("euEntityDetails")?;
        Ok(ValidEuEntityAdministrationGrant {
            subject,
            context,
            description: self.description.clone(),
            eu_entity_name: self.eu_entity_name.clone(),
            details,
            eu_entity_details: self.eu_entity_details.clone(),
        })
    }
}

/// `EuEntityPermissionType`: the same two values as [`EntityPermissionType`].
pub type EuEntityPermissionType = EntityPermissionType;

/// `EuEntityPermissionsGrantRequest` (`POST /permissions/eu-entities/grants`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EuEntityPermissionsGrantRequest {
    /// The representative's certificate fingerprint.
    pub subject_identifier: EuEntityPermissionsSubjectIdentifier,
    /// The permissions; each at most once.
    pub permissions: Vec<OpenEnum<EuEntityPermissionType>>,
    /// Description (5–256 characters).
    pub description: String,
    /// Data of the representative.
    pub subject_details: EuEntityPermissionSubjectDetails,
}

/// A validated [`EuEntityPermissionsGrantRequest`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ValidEuEntityPermissionsGrant {
    /// `subjectIdentifier` (a fingerprint).
    pub subject: SubjectIdentifier,
    /// `permissions` (non-empty, no duplicates).
    pub permissions: Vec<EuEntityPermissionType>,
    /// `description`.
    pub description: String,
    /// `subjectDetails`.
    pub details: EuSubjectDetails,
}

impl Validate for EuEntityPermissionsGrantRequest {
    type Valid = ValidEuEntityPermissionsGrant;

    /// Validates the fingerprint, permissions, lengths and the details.
    fn validate(&self) -> Result<ValidEuEntityPermissionsGrant, ValidationError> {
        let subject = self
            .subject_identifier
            .to_fingerprint("subjectIdentifier")?;
        let permissions = distinct_permissions(&self.permissions)?;
        check_length("description", &self.description, 5, 256)?;
        let details = self.subject_details.validate("subjectDetails")?;
        Ok(ValidEuEntityPermissionsGrant {
            subject,
            permissions,
            description: self.description.clone(),
            details,
        })
    }
}

wire_enum! {
    /// `EuEntityPermissionsQueryPermissionType`.
    pub enum EuEntityPermissionsQueryPermissionType {
        /// Administrator of the EU-entity context.
        VatUeManage = "VatUeManage",
        /// Issue invoices.
        InvoiceWrite = "InvoiceWrite",
        /// View invoices.
        InvoiceRead = "InvoiceRead",
        /// View the session history.
        Introspection = "Introspection",
    }
}

impl From<EuEntityPermissionsQueryPermissionType> for Permission {
    fn from(p: EuEntityPermissionsQueryPermissionType) -> Self {
        match p {
            EuEntityPermissionsQueryPermissionType::VatUeManage => Permission::VatUeManage,
            EuEntityPermissionsQueryPermissionType::InvoiceWrite => Permission::InvoiceWrite,
            EuEntityPermissionsQueryPermissionType::InvoiceRead => Permission::InvoiceRead,
            EuEntityPermissionsQueryPermissionType::Introspection => Permission::Introspection,
        }
    }
}

impl TryFrom<Permission> for EuEntityPermissionsQueryPermissionType {
    /// Any other permission.
    type Error = Permission;
    fn try_from(p: Permission) -> Result<Self, Self::Error> {
        Ok(match p {
            Permission::VatUeManage => Self::VatUeManage,
            Permission::InvoiceWrite => Self::InvoiceWrite,
            Permission::InvoiceRead => Self::InvoiceRead,
            Permission::Introspection => Self::Introspection,
            other => return Err(other),
        })
    }
}

/// `EuEntityPermissionsQueryRequest` (`POST /permissions/query/eu-entities/grants`); optional
/// body.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EuEntityPermissionsQueryRequest {
    /// Only this EU VAT number (with country prefix); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub vat_ue_identifier: Option<String>,
    /// Only grants to this fingerprint; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authorized_fingerprint_identifier: Option<String>,
    /// Only these permissions; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub permission_types: Option<Vec<OpenEnum<EuEntityPermissionsQueryPermissionType>>>,
}

/// A validated [`EuEntityPermissionsQueryRequest`].
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ValidEuEntityPermissionsQuery {
    /// `vatUeIdentifier`.
    pub vat_ue: Option<String>,
    /// `authorizedFingerprintIdentifier`, upper-cased.
    pub fingerprint: Option<String>,
    /// `permissionTypes`; empty = all.
    pub permission_types: Vec<EuEntityPermissionsQueryPermissionType>,
}

impl EuEntityPermissionsQueryRequest {
    /// Validates the VAT UE number (the per-country patterns), the fingerprint and the enums.
    pub fn validate(&self) -> Result<ValidEuEntityPermissionsQuery, ValidationError> {
        let vat_ue = match self.vat_ue_identifier.as_deref().filter(|v| !v.is_empty()) {
            Some(v) => {
                // The VIES patterns are checked by `NipVatUe`; any valid NIP serves as the
                // Polish half.
                let probe: Nip = parse_nip("vatUeIdentifier", "1111111111")?;
                NipVatUe::new(&probe, v).map_err(|source| ValidationError::Identifier {
                    field: "vatUeIdentifier".to_owned(),
                    source,
                })?;
                Some(v.to_owned())
            }
            None => None,
        };
        let fingerprint = match self
            .authorized_fingerprint_identifier
            .as_deref()
            .filter(|v| !v.is_empty())
        {
            Some(f) => Some(
                SubjectIdentifier::fingerprint(f)
                    .map_err(|source| ValidationError::Identifier {
                        field: "authorizedFingerprintIdentifier".to_owned(),
                        source,
                    })?
                    .value()
                    .to_owned(),
            ),
            None => None,
        };
        Ok(ValidEuEntityPermissionsQuery {
            vat_ue,
            fingerprint,
            permission_types: self
                .permission_types
                .as_deref()
                .map(|p| require_all(p, "permissionTypes"))
                .transpose()?
                .unwrap_or_default(),
        })
    }
}

/// `EuEntityPermission`: one administrator or representative grant of an EU entity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EuEntityPermission {
    /// Permission id.
    pub id: String,
    /// Who made the grant.
    pub author_identifier: EuEntityPermissionsAuthorIdentifier,
    /// The EU VAT number of the entity.
    pub vat_ue_identifier: String,
    /// Name of the EU entity.
    pub eu_entity_name: String,
    /// The fingerprint holding the permission.
    pub authorized_fingerprint_identifier: String,
    /// The permission.
    pub permission_scope: OpenEnum<EuEntityPermissionsQueryPermissionType>,
    /// Description.
    pub description: String,
    /// Data of the person (`PermissionsSubjectPersonByFingerprintDetails`); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_person_details: Option<PermissionsSubjectPersonDetails>,
    /// Data of the entity (`PermissionsSubjectEntityByFingerprintDetails`); skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject_entity_details: Option<PermissionsSubjectEntityDetails>,
    /// Data of the EU entity; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub eu_entity_details: Option<EuEntityDetails>,
    /// Start of validity.
    #[serde(with = "ksef_time")]
    pub start_date: OffsetDateTime,
}

/// `QueryEuEntityPermissionsResponse`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryEuEntityPermissionsResponse {
    /// One page, `startDate` descending, then `id` ascending.
    pub permissions: Vec<EuEntityPermission>,
    /// Whether a next page exists.
    pub has_more: bool,
}

// ---------------------------------------------------------------------------------------------
// Peppol providers (`GET /peppol/query`, digest §18)
// ---------------------------------------------------------------------------------------------

/// `PeppolProvider`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PeppolProvider {
    /// Peppol id (`P` + 2 letters + 6 digits).
    pub id: String,
    /// Name (≤ 256 characters).
    pub name: String,
    /// When the provider was registered.
    #[serde(with = "ksef_time")]
    pub date_created: OffsetDateTime,
}

/// `QueryPeppolProvidersResponse` (`GET /peppol/query`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryPeppolProvidersResponse {
    /// One page, `dateCreated` descending, then `id` ascending.
    pub peppol_providers: Vec<PeppolProvider>,
    /// Whether a next page exists.
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
