//! KSeF certificates (digest §14): `GET /certificates/limits`,
//! `GET /certificates/enrollments/data`, `POST /certificates/enrollments`,
//! `GET /certificates/enrollments/{referenceNumber}`, `POST /certificates/retrieve`,
//! `POST /certificates/{certificateSerialNumber}/revoke`, `POST /certificates/query`.

use ksef_core::SubjectIdentifierKind;
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::{OpenEnum, StatusInfo, TypedIdentifier, Validate, ValidationError, wire_enum};
use crate::ksef_time;

wire_enum! {
    /// `KsefCertificateType`.
    pub enum KsefCertificateType {
        /// Used for authentication (XAdES).
        Authentication = "Authentication",
        /// Used only for offline invoices (KOD II).
        Offline = "Offline",
    }
}

wire_enum! {
    /// `CertificateListItemStatus`.
    pub enum CertificateListItemStatus {
        /// Usable.
        Active = "Active",
        /// Blocked while being revoked.
        Blocked = "Blocked",
        /// Revoked.
        Revoked = "Revoked",
        /// Past its validity.
        Expired = "Expired",
    }
}

wire_enum! {
    /// `CertificateRevocationReason`.
    pub enum CertificateRevocationReason {
        /// Not specified.
        Unspecified = "Unspecified",
        /// Replaced by another certificate.
        Superseded = "Superseded",
        /// The private key was compromised.
        KeyCompromise = "KeyCompromise",
    }
}

/// `CertificateSubjectIdentifierType` (`Nip`, `Pesel`, `Fingerprint`).
pub type CertificateSubjectIdentifierType = SubjectIdentifierKind;
/// `CertificateSubjectIdentifier`: whom a certificate was issued for.
pub type CertificateSubjectIdentifier = TypedIdentifier<CertificateSubjectIdentifierType>;

/// Bounds of `certificateName` (characters).
pub const CERTIFICATE_NAME_LENGTH: (usize, usize) = (5, 100);

/// Whether a serial number has the documented form `^[0-9A-F]{16}$`.
pub fn is_certificate_serial_number(s: &str) -> bool {
    s.len() == 16
        && s.bytes()
            .all(|b| b.is_ascii_digit() || (b'A'..=b'F').contains(&b))
}

/// `CertificateLimit`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateLimit {
    /// What is left.
    pub remaining: i32,
    /// The limit.
    pub limit: i32,
}

/// `CertificateLimitsResponse` (`GET /certificates/limits`, 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateLimitsResponse {
    /// Whether the subject may submit a new enrollment now.
    pub can_request: bool,
    /// Enrollment limits.
    pub enrollment: CertificateLimit,
    /// Active-certificate limits.
    pub certificate: CertificateLimit,
}

/// `CertificateEnrollmentDataResponse` (`GET /certificates/enrollments/data`, 200): the DN
/// attributes a CSR must carry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateEnrollmentDataResponse {
    /// commonName (2.5.4.3).
    pub common_name: String,
    /// countryName (2.5.4.6).
    pub country_name: String,
    /// givenName (2.5.4.42).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub given_name: Option<String>,
    /// surname (2.5.4.4).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub surname: Option<String>,
    /// serialNumber (2.5.4.5).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub serial_number: Option<String>,
    /// x500UniqueIdentifier (2.5.4.45).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub unique_identifier: Option<String>,
    /// organizationName (2.5.4.10).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_name: Option<String>,
    /// organizationIdentifier (2.5.4.97).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub organization_identifier: Option<String>,
}

/// `EnrollCertificateRequest` (`POST /certificates/enrollments`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollCertificateRequest {
    /// Own name of the certificate, 5–100 characters of letters (also Polish), digits,
    /// space, `_` and `-`.
    pub certificate_name: String,
    /// Certificate type.
    pub certificate_type: OpenEnum<KsefCertificateType>,
    /// PKCS#10 CSR, DER, Base64.
    pub csr: String,
    /// Start of validity; `None` = from issuance.
    #[serde(
        default,
        with = "crate::warsaw::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_from: Option<OffsetDateTime>,
}

impl Validate for EnrollCertificateRequest {
    type Valid = KsefCertificateType;

    /// Checks `certificateName` (length and characters) and `certificateType`; returns the type.
    fn validate(&self) -> Result<KsefCertificateType, ValidationError> {
        let (min, max) = CERTIFICATE_NAME_LENGTH;
        crate::common::check_length("certificateName", &self.certificate_name, min, max)?;
        let allowed = |c: char| {
            c.is_ascii_alphanumeric()
                || matches!(c, '_' | '-' | ' ')
                || "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ".contains(c)
        };
        if !self.certificate_name.chars().all(allowed) {
            return Err(ValidationError::Invalid {
                field: "certificateName".into(),
                message: "allowed are letters (also Polish), digits, space, '_' and '-'".into(),
            });
        }
        if self.csr.trim().is_empty() {
            return Err(ValidationError::Invalid {
                field: "csr".into(),
                message: "required".into(),
            });
        }
        self.certificate_type.require("certificateType")
    }
}

/// `EnrollCertificateResponse` (`POST /certificates/enrollments`, 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollCertificateResponse {
    /// Reference number of the enrollment.
    pub reference_number: String,
    /// When the enrollment was submitted.
    #[serde(with = "ksef_time")]
    pub timestamp: OffsetDateTime,
}

/// `CertificateEnrollmentStatusResponse` (`GET /certificates/enrollments/{ref}`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateEnrollmentStatusResponse {
    /// When the enrollment was submitted.
    #[serde(with = "ksef_time")]
    pub request_date: OffsetDateTime,
    /// 100 accepted, 200 issued, 400 rejected, 500 unknown error, 550 cancelled.
    pub status: StatusInfo,
    /// Serial number of the issued certificate (status 200 only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial_number: Option<String>,
}

/// `RetrieveCertificatesRequest` (`POST /certificates/retrieve`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrieveCertificatesRequest {
    /// 1–10 serial numbers.
    pub certificate_serial_numbers: Vec<String>,
}

impl Validate for RetrieveCertificatesRequest {
    type Valid = ();

    /// Checks the count (1–10) and the form of every serial number.
    fn validate(&self) -> Result<(), ValidationError> {
        let n = self.certificate_serial_numbers.len();
        if !(1..=10).contains(&n) {
            return Err(ValidationError::Range {
                field: "certificateSerialNumbers".into(),
                min: 1,
                max: 10,
                actual: n as i64,
            });
        }
        for (i, s) in self.certificate_serial_numbers.iter().enumerate() {
            if !is_certificate_serial_number(s) {
                return Err(ValidationError::Invalid {
                    field: format!("certificateSerialNumbers[{i}]"),
                    message: "must match ^[0-9A-F]{16}$".into(),
                });
            }
        }
        Ok(())
    }
}

/// `RetrieveCertificatesListItem`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrieveCertificatesListItem {
    /// Certificate DER, Base64.
    pub certificate: String,
    /// Own name of the certificate.
    pub certificate_name: String,
    /// Serial number (16 uppercase hex digits).
    pub certificate_serial_number: String,
    /// Type.
    pub certificate_type: OpenEnum<KsefCertificateType>,
}

/// `RetrieveCertificatesResponse` (`POST /certificates/retrieve`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RetrieveCertificatesResponse {
    /// The certificates found.
    pub certificates: Vec<RetrieveCertificatesListItem>,
}

/// `RevokeCertificateRequest` (`POST /certificates/{serial}/revoke`; the body is optional).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RevokeCertificateRequest {
    /// Why; `None` = not given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revocation_reason: Option<OpenEnum<CertificateRevocationReason>>,
}

/// `QueryCertificatesRequest` (`POST /certificates/query`; every filter optional).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryCertificatesRequest {
    /// Exact serial number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate_serial_number: Option<String>,
    /// Part of the name (contains).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Type.
    #[serde(default, rename = "type", skip_serializing_if = "Option::is_none")]
    pub r#type: Option<OpenEnum<KsefCertificateType>>,
    /// Status.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub status: Option<OpenEnum<CertificateListItemStatus>>,
    /// Only certificates expiring after this instant.
    #[serde(
        default,
        with = "crate::warsaw::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub expires_after: Option<OffsetDateTime>,
}

/// [`QueryCertificatesRequest`] with its enums checked.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct CertificateFilter {
    /// Exact serial number.
    pub serial_number: Option<String>,
    /// Part of the name.
    pub name: Option<String>,
    /// Type.
    pub certificate_type: Option<KsefCertificateType>,
    /// Status.
    pub status: Option<CertificateListItemStatus>,
    /// Expiring after.
    pub expires_after: Option<OffsetDateTime>,
}

impl Validate for QueryCertificatesRequest {
    type Valid = CertificateFilter;

    /// Checks the serial number form and the enum values.
    fn validate(&self) -> Result<CertificateFilter, ValidationError> {
        if let Some(s) = &self.certificate_serial_number
            && !is_certificate_serial_number(s)
        {
            return Err(ValidationError::Invalid {
                field: "certificateSerialNumber".into(),
                message: "must match ^[0-9A-F]{16}$".into(),
            });
        }
        Ok(CertificateFilter {
            serial_number: self.certificate_serial_number.clone(),
            name: self.name.clone().filter(|n| !n.is_empty()),
            certificate_type: self
                .r#type
                .as_ref()
                .map(|t| t.require("type"))
                .transpose()?,
            status: self
                .status
                .as_ref()
                .map(|s| s.require("status"))
                .transpose()?,
            expires_after: self.expires_after,
        })
    }
}

/// `CertificateListItem`: one certificate in `POST /certificates/query`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateListItem {
    /// Serial number (16 uppercase hex digits).
    pub certificate_serial_number: String,
    /// Own name.
    pub name: String,
    /// Type.
    #[serde(rename = "type")]
    pub r#type: OpenEnum<KsefCertificateType>,
    /// commonName of the subject.
    pub common_name: String,
    /// Status.
    pub status: OpenEnum<CertificateListItemStatus>,
    /// Whom it was issued for.
    pub subject_identifier: CertificateSubjectIdentifier,
    /// notBefore.
    #[serde(with = "ksef_time")]
    pub valid_from: OffsetDateTime,
    /// notAfter.
    #[serde(with = "ksef_time")]
    pub valid_to: OffsetDateTime,
    /// Last use (authentication); skipped when `None`.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub last_use_date: Option<OffsetDateTime>,
    /// When the enrollment was submitted.
    #[serde(with = "ksef_time")]
    pub request_date: OffsetDateTime,
}

/// `QueryCertificatesResponse` (`POST /certificates/query`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct QueryCertificatesResponse {
    /// The page.
    pub certificates: Vec<CertificateListItem>,
    /// Whether another page follows.
    pub has_more: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn enroll_request_validation() {
        let mut r: EnrollCertificateRequest = serde_json::from_value(serde_json::json!({
            "certificateName": "Certyfikat-Auth-004",
            "certificateType": "Authentication",
            "csr": "MIIB",
            "somethingNew": 1
        }))
        .unwrap();
        assert_eq!(r.validate().unwrap(), KsefCertificateType::Authentication);
        r.certificate_name = "Zażółć gęślą_1".into();
        assert!(r.validate().is_ok());
        r.certificate_name = "abc".into();
        assert!(r.validate().is_err());
        r.certificate_name = "name with / slash".into();
        assert!(r.validate().is_err());
        r.certificate_name = "Dobra nazwa".into();
        r.certificate_type = OpenEnum::from_wire("Signing");
        assert!(r.validate().is_err());
    }

    #[test]
    fn serials_and_query_filters() {
        assert!(is_certificate_serial_number("0321C82DA41B4362"));
        assert!(!is_certificate_serial_number("0321c82da41b4362"));
        assert!(!is_certificate_serial_number("0321C82DA41B436"));
        let q: QueryCertificatesRequest =
            serde_json::from_value(serde_json::json!({"type": "Offline", "status": "Active"}))
                .unwrap();
        let f = q.validate().unwrap();
        assert_eq!(f.certificate_type, Some(KsefCertificateType::Offline));
        assert_eq!(f.status, Some(CertificateListItemStatus::Active));
        let bad: QueryCertificatesRequest =
            serde_json::from_value(serde_json::json!({"status": "Gone"})).unwrap();
        assert!(bad.validate().is_err());
        let r = RetrieveCertificatesRequest {
            certificate_serial_numbers: vec![],
        };
        assert!(r.validate().is_err());
    }

    #[test]
    fn list_item_round_trip_matches_example() {
        let v = serde_json::json!({
            "certificateSerialNumber": "018209160C631F1E", "name": "Certyfikat 1",
            "type": "Authentication", "commonName": "Jan Kowalski", "status": "Active",
            "subjectIdentifier": {"type": "Nip", "value": "1234445678"},
            "validFrom": "2025-08-24T14:15:22+00:00", "validTo": "2027-08-24T14:15:22+00:00",
            "lastUseDate": "2025-08-25T14:15:22+00:00", "requestDate": "2025-08-24T14:15:22+00:00"
        });
        let item: CertificateListItem = serde_json::from_value(v).unwrap();
        assert_eq!(item.r#type, KsefCertificateType::Authentication);
        let back = serde_json::to_value(&item).unwrap();
        assert_eq!(back["subjectIdentifier"]["type"], "Nip");
        assert!(back["lastUseDate"].is_string());
    }
}
