//! Subject details: the data of the person or entity receiving a permission, as the grant
//! requests send it ([`PersonPermissionSubjectDetails`], used by the persons, subunit,
//! indirect and EU-entity grants) and as the queries return it
//! ([`PermissionsSubjectPersonDetails`], [`PermissionsSubjectEntityDetails`]).

use ksef_core::SubjectIdentifierKind;
use serde::{Deserialize, Serialize};
use time::Date;

use crate::common::{
    OpenEnum, TypedIdentifier, ValidationError, check_length, parse_nip, parse_pesel, wire_enum,
};
use crate::ksef_time;

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
