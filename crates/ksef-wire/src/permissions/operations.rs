//! The asynchronous permission operations and the attachment consent (digest §7.5, §7.7):
//!
//! * `GET /permissions/operations/{referenceNumber}` (tag "Operacje");
//! * `GET /permissions/attachments/status` (tag "Operacje");
//! * the 202 answer of every grant (tag "Nadawanie uprawnień") and of the two revocations,
//!   `DELETE /permissions/common/grants/{permissionId}` and
//!   `DELETE /permissions/authorizations/grants/{permissionId}` (tag "Odbieranie
//!   uprawnień"), which have no request body.

use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::common::StatusInfo;
use crate::ksef_time;

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
