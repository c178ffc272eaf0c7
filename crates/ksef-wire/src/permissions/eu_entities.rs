//! EU entities: administrators and representatives of `{nip}-{VAT UE}` contexts (digest §7.3,
//! §7.6):
//!
//! * `POST /permissions/eu-entities/administration/grants` (tag "Nadawanie uprawnień");
//! * `POST /permissions/eu-entities/grants` (tag "Nadawanie uprawnień");
//! * `POST /permissions/query/eu-entities/grants` (tag "Wyszukiwanie nadanych uprawnień").
//!
//! An EU-entity grant is revoked by `DELETE /permissions/common/grants/{permissionId}` (see
//! `operations.rs`).

use ksef_core::{Nip, NipVatUe, Permission, SubjectIdentifier, SubjectIdentifierKind};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use super::common::distinct_permissions;
use super::entities::EntityPermissionType;
use super::subjects::{
    EntitySubjectDetailsType, PermissionsSubjectEntityDetails, PermissionsSubjectPersonDetails,
    PersonByFingerprintWithIdentifierDetails, PersonByFingerprintWithoutIdentifierDetails,
    PersonPermissionSubjectDetails, PersonSubjectDetailsType,
};
use crate::common::{
    OpenEnum, TypedIdentifier, Validate, ValidationError, check_length, parse_nip, require_all,
    wire_enum,
};
use crate::ksef_time;

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

impl Validate for EuEntityPermissionsQueryRequest {
    type Valid = ValidEuEntityPermissionsQuery;

    /// Validates the VAT UE number (the per-country patterns), the fingerprint and the enums.
    fn validate(&self) -> Result<ValidEuEntityPermissionsQuery, ValidationError> {
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
