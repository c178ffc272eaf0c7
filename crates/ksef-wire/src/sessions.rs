//! Sessions (digest §8–§10): online sessions (`POST /sessions/online`, `…/invoices`,
//! `…/close`), batch sessions (`POST /sessions/batch`, `…/close`, the pre-signed part
//! uploads), session listing and status (`GET /sessions`, `GET /sessions/{ref}`), the
//! invoices of a session (`GET /sessions/{ref}/invoices[/failed|/{invRef}]`) and the UPO
//! links. The UPO documents themselves are XML (`ksef_invoice::upo`), not modelled here.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};
use time::OffsetDateTime;

use crate::common::{
    OpenEnum, StatusInfo, Validate, ValidationError, check_length, check_range, wire_enum,
};
use crate::ksef_time;
use crate::secret::Secret;

/// Response header of every XML download (invoice, UPO, export part, batch part): the
/// Base64 SHA-256 of the returned bytes (digest §10.4, §12.1).
pub const X_MS_META_HASH: &str = "x-ms-meta-hash";

/// Maximum number of parts of a batch package (digest §9.1).
pub const MAX_BATCH_PARTS: usize = 50;
/// Maximum size of a batch package (the unencrypted archive) in bytes: 5 GB.
pub const MAX_BATCH_FILE_SIZE: u64 = 5_000_000_000;
/// Maximum size of one batch part before encryption in bytes: 100 MB.
pub const MAX_BATCH_PART_SIZE: u64 = 100_000_000;

wire_enum! {
    /// `CompressionType`: the archive format of a batch package or an export.
    pub enum CompressionType {
        /// ZIP (the default).
        Zip = "Zip",
        /// tar + gzip (since 2.6.0).
        TarGz = "TarGz",
    }
}

wire_enum! {
    /// `InvoicingMode`: how an invoice was issued.
    pub enum InvoicingMode {
        /// Issued and sent online.
        Online = "Online",
        /// Issued offline, sent later.
        Offline = "Offline",
    }
}

wire_enum! {
    /// `SessionType` (query parameter of `GET /sessions`).
    pub enum SessionType {
        /// Interactive session (single invoices).
        Online = "Online",
        /// Batch session (a package of invoices).
        Batch = "Batch",
    }
}

wire_enum! {
    /// `CommonSessionStatus` (`statuses` filter of `GET /sessions`; inferred mapping:
    /// `InProgress` = 100/150/170, `Succeeded` = 200, `Cancelled` = 440, `Failed` = other).
    pub enum CommonSessionStatus {
        /// Session open or being processed.
        InProgress = "InProgress",
        /// Processed without errors (some invoices may still have been rejected).
        Succeeded = "Succeeded",
        /// Not processed because of errors.
        Failed = "Failed",
        /// Cancelled (nothing sent, or the time ran out).
        Cancelled = "Cancelled",
    }
}

impl CommonSessionStatus {
    /// The filter value a session status code falls under.
    pub fn from_status_code(code: i32) -> CommonSessionStatus {
        match code {
            100 | 150 | 170 => CommonSessionStatus::InProgress,
            200 => CommonSessionStatus::Succeeded,
            440 => CommonSessionStatus::Cancelled,
            _ => CommonSessionStatus::Failed,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Shared pieces
// ---------------------------------------------------------------------------------------------

/// `FormCode`: the invoice schema of a session or invoice (note the space in
/// `systemCode`, e.g. `FA (3)`). The supported triples live in `ksef_invoice::FormCode`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct FormCode {
    /// System code, e.g. `FA (3)`.
    pub system_code: String,
    /// Schema version, e.g. `1-0E`.
    pub schema_version: String,
    /// Value, e.g. `FA`.
    pub value: String,
}

impl FormCode {
    /// A form code from its three parts.
    pub fn new(
        system_code: impl Into<String>,
        schema_version: impl Into<String>,
        value: impl Into<String>,
    ) -> Self {
        FormCode {
            system_code: system_code.into(),
            schema_version: schema_version.into(),
            value: value.into(),
        }
    }
}

impl std::fmt::Display for FormCode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} {} {}",
            self.system_code, self.schema_version, self.value
        )
    }
}

/// `EncryptionInfo`: the session/export AES key, RSA-OAEP-SHA256-encrypted with the MF
/// public key, and the IV. `Debug` redacts the encrypted key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EncryptionInfo {
    /// Base64 of RSA-OAEP-SHA256(32-byte AES key).
    pub encrypted_symmetric_key: Secret<String>,
    /// Base64 of the 16-byte IV.
    pub initialization_vector: String,
    /// `publicKeyId` of the MF key used (44 chars); optional.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub public_key_id: Option<String>,
}

impl EncryptionInfo {
    /// Checks the schema rules: non-empty key, IV present, `publicKeyId` 44 chars (`field`
    /// is the JSON path of this object).
    pub fn validate(&self, field: &str) -> Result<(), ValidationError> {
        if self
            .encrypted_symmetric_key
            .expose_secret()
            .trim()
            .is_empty()
        {
            return Err(invalid(
                format!("{field}.encryptedSymmetricKey"),
                "must not be empty",
            ));
        }
        if self.initialization_vector.trim().is_empty() {
            return Err(invalid(
                format!("{field}.initializationVector"),
                "must not be empty",
            ));
        }
        if let Some(id) = &self.public_key_id {
            check_length(&format!("{field}.publicKeyId"), id, 44, 44)?;
        }
        Ok(())
    }
}

pub(crate) fn invalid(field: impl Into<String>, message: impl Into<String>) -> ValidationError {
    ValidationError::Invalid {
        field: field.into(),
        message: message.into(),
    }
}

/// Checks a `Sha256HashBase64` value: 44 Base64 characters ending in `=`.
pub fn check_sha256_base64(field: &str, value: &str) -> Result<(), ValidationError> {
    check_length(field, value, 44, 44)?;
    // Bytes, not a `str` slice: 44 characters need not be 44 bytes (a slice could panic).
    let bytes = value.as_bytes();
    let body_ok = bytes.len() == 44
        && bytes[..43]
            .iter()
            .all(|&b| b.is_ascii_alphanumeric() || b == b'+' || b == b'/');
    if body_ok && bytes[43] == b'=' {
        Ok(())
    } else {
        Err(invalid(field, format!("{value:?} is not a Base64 SHA-256")))
    }
}

/// Deserializes a JSON object of nullable strings, dropping `null` values.
fn map_skip_nulls<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    let raw = BTreeMap::<String, Option<String>>::deserialize(deserializer)?;
    Ok(raw
        .into_iter()
        .filter_map(|(k, v)| v.map(|v| (k, v)))
        .collect())
}

fn option_map_skip_nulls<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    let raw = Option::<BTreeMap<String, Option<String>>>::deserialize(deserializer)?;
    Ok(raw.map(|m| {
        m.into_iter()
            .filter_map(|(k, v)| v.map(|v| (k, v)))
            .collect()
    }))
}

// ---------------------------------------------------------------------------------------------
// Online session
// ---------------------------------------------------------------------------------------------

/// `OpenOnlineSessionRequest` (`POST /sessions/online`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenOnlineSessionRequest {
    /// Schema of the invoices sent in the session.
    pub form_code: FormCode,
    /// The session key.
    pub encryption: EncryptionInfo,
}

impl Validate for OpenOnlineSessionRequest {
    type Valid = ();

    /// Checks the encryption block (the form code is checked against the supported set
    /// by the caller).
    fn validate(&self) -> Result<(), ValidationError> {
        self.encryption.validate("encryption")
    }
}

/// `OpenOnlineSessionResponse` (`POST /sessions/online`, 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenOnlineSessionResponse {
    /// Session reference number (`…-SO-…`).
    pub reference_number: String,
    /// The session is closed automatically after this moment (12 h).
    #[serde(with = "ksef_time")]
    pub valid_until: OffsetDateTime,
}

/// `SendInvoiceRequest` (`POST /sessions/online/{referenceNumber}/invoices`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendInvoiceRequest {
    /// Base64 SHA-256 of the original invoice XML.
    pub invoice_hash: String,
    /// Size of the original invoice XML in bytes (≥ 1).
    pub invoice_size: u64,
    /// Base64 SHA-256 of the ciphertext.
    pub encrypted_invoice_hash: String,
    /// Size of the ciphertext in bytes (≥ 1).
    pub encrypted_invoice_size: u64,
    /// Base64 of AES-256-CBC/PKCS#7(invoice XML) with the session key.
    pub encrypted_invoice_content: String,
    /// Declares an offline-issued invoice (default `false`; always written).
    #[serde(default)]
    pub offline_mode: bool,
    /// Base64 SHA-256 of the corrected (rejected offline) invoice: marks a technical
    /// correction.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash_of_corrected_invoice: Option<String>,
}

impl Validate for SendInvoiceRequest {
    type Valid = ();

    /// Checks hashes (44-char Base64), sizes (≥ 1) and that the content is present.
    fn validate(&self) -> Result<(), ValidationError> {
        check_sha256_base64("invoiceHash", &self.invoice_hash)?;
        check_sha256_base64("encryptedInvoiceHash", &self.encrypted_invoice_hash)?;
        check_range("invoiceSize", clamp_i64(self.invoice_size), 1, i64::MAX)?;
        check_range(
            "encryptedInvoiceSize",
            clamp_i64(self.encrypted_invoice_size),
            1,
            i64::MAX,
        )?;
        if self.encrypted_invoice_content.trim().is_empty() {
            return Err(invalid("encryptedInvoiceContent", "must not be empty"));
        }
        if let Some(h) = &self.hash_of_corrected_invoice {
            check_sha256_base64("hashOfCorrectedInvoice", h)?;
        }
        Ok(())
    }
}

fn clamp_i64(v: u64) -> i64 {
    i64::try_from(v).unwrap_or(i64::MAX)
}

/// `SendInvoiceResponse` (`POST /sessions/online/{referenceNumber}/invoices`, 202).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SendInvoiceResponse {
    /// Invoice reference number (`…-EE-…`).
    pub reference_number: String,
}

// ---------------------------------------------------------------------------------------------
// Batch session
// ---------------------------------------------------------------------------------------------

/// `BatchFilePartInfo`: one encrypted part of the package.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchFilePartInfo {
    /// Sequence number (≥ 1).
    pub ordinal_number: u32,
    /// Size of the ENCRYPTED part in bytes.
    pub file_size: u64,
    /// Base64 SHA-256 of the ENCRYPTED part.
    pub file_hash: String,
}

/// `BatchFileInfo`: the package (archive) being sent.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchFileInfo {
    /// Size of the UNENCRYPTED archive (1 … 5 000 000 000).
    pub file_size: u64,
    /// Base64 SHA-256 of the UNENCRYPTED archive.
    pub file_hash: String,
    /// Archive format; `None` means ZIP.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub compression_type: Option<OpenEnum<CompressionType>>,
    /// Parts (1–50).
    pub file_parts: Vec<BatchFilePartInfo>,
}

impl BatchFileInfo {
    /// Checks sizes, hashes, the part count and that ordinal numbers are ≥ 1 and unique;
    /// returns the compression type (default ZIP).
    pub fn validate(&self, field: &str) -> Result<CompressionType, ValidationError> {
        check_range(
            &format!("{field}.fileSize"),
            clamp_i64(self.file_size),
            1,
            MAX_BATCH_FILE_SIZE as i64,
        )?;
        check_sha256_base64(&format!("{field}.fileHash"), &self.file_hash)?;
        let compression = match &self.compression_type {
            Some(c) => c.require(&format!("{field}.compressionType"))?,
            None => CompressionType::Zip,
        };
        let n = self.file_parts.len();
        if n == 0 || n > MAX_BATCH_PARTS {
            return Err(invalid(
                format!("{field}.fileParts"),
                format!("must have 1 to {MAX_BATCH_PARTS} items, got {n}"),
            ));
        }
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in self.file_parts.iter().enumerate() {
            let pf = format!("{field}.fileParts[{i}]");
            check_range(
                &format!("{pf}.ordinalNumber"),
                p.ordinal_number.into(),
                1,
                i64::from(i32::MAX),
            )?;
            if !seen.insert(p.ordinal_number) {
                return Err(invalid(
                    format!("{pf}.ordinalNumber"),
                    format!("duplicate ordinal number {}", p.ordinal_number),
                ));
            }
            check_range(
                &format!("{pf}.fileSize"),
                clamp_i64(p.file_size),
                1,
                i64::MAX,
            )?;
            check_sha256_base64(&format!("{pf}.fileHash"), &p.file_hash)?;
        }
        Ok(compression)
    }
}

/// `OpenBatchSessionRequest` (`POST /sessions/batch`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenBatchSessionRequest {
    /// Schema of the invoices in the package (FA (2), FA (3), FA_RR (1)).
    pub form_code: FormCode,
    /// The package.
    pub batch_file: BatchFileInfo,
    /// The session key.
    pub encryption: EncryptionInfo,
    /// Declares all invoices offline-issued (default `false`; always written).
    #[serde(default)]
    pub offline_mode: bool,
}

impl Validate for OpenBatchSessionRequest {
    type Valid = CompressionType;

    /// Checks the package description and the encryption block; returns the compression
    /// type.
    fn validate(&self) -> Result<CompressionType, ValidationError> {
        let c = self.batch_file.validate("batchFile")?;
        self.encryption.validate("encryption")?;
        Ok(c)
    }
}

/// `PartUploadRequest`: how to upload one part (pre-signed URL, no access token).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PartUploadRequest {
    /// Sequence number of the part (matches `fileParts[].ordinalNumber`).
    pub ordinal_number: u32,
    /// HTTP method (`PUT`).
    pub method: String,
    /// Absolute pre-signed URL.
    pub url: String,
    /// Headers to send (e.g. `x-ms-blob-type: BlockBlob`); `null` values are dropped.
    #[serde(deserialize_with = "map_skip_nulls")]
    pub headers: BTreeMap<String, String>,
}

/// `OpenBatchSessionResponse` (`POST /sessions/batch`, 201).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OpenBatchSessionResponse {
    /// Session reference number (`…-SB-…`).
    pub reference_number: String,
    /// One upload instruction per declared part.
    pub part_upload_requests: Vec<PartUploadRequest>,
}

// ---------------------------------------------------------------------------------------------
// Session list and status
// ---------------------------------------------------------------------------------------------

/// Query parameters of `GET /sessions` (not an OpenAPI schema). The continuation token
/// travels in the `x-continuation-token` header, not here.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionsQuery {
    /// `sessionType` (required).
    pub session_type: SessionType,
    /// Exact session reference number.
    pub reference_number: Option<String>,
    /// `dateCreatedFrom`.
    pub date_created_from: Option<OffsetDateTime>,
    /// `dateCreatedTo`.
    pub date_created_to: Option<OffsetDateTime>,
    /// `dateClosedFrom`.
    pub date_closed_from: Option<OffsetDateTime>,
    /// `dateClosedTo`.
    pub date_closed_to: Option<OffsetDateTime>,
    /// `dateModifiedFrom`.
    pub date_modified_from: Option<OffsetDateTime>,
    /// `dateModifiedTo`.
    pub date_modified_to: Option<OffsetDateTime>,
    /// `statuses` (repeated parameter).
    pub statuses: Vec<CommonSessionStatus>,
    /// `pageSize` 10–1000 (server default 10).
    pub page_size: Option<u32>,
}

impl SessionsQuery {
    /// A query for all sessions of one type.
    pub fn new(session_type: SessionType) -> Self {
        SessionsQuery {
            session_type,
            reference_number: None,
            date_created_from: None,
            date_created_to: None,
            date_closed_from: None,
            date_closed_to: None,
            date_modified_from: None,
            date_modified_to: None,
            statuses: Vec::new(),
            page_size: None,
        }
    }

    /// The query parameters in API order (`statuses` repeated once per value).
    pub fn to_query_pairs(&self) -> Vec<(&'static str, String)> {
        let mut out = vec![("sessionType", self.session_type.as_str().to_owned())];
        if let Some(r) = &self.reference_number {
            out.push(("referenceNumber", r.clone()));
        }
        let dates = [
            ("dateCreatedFrom", self.date_created_from),
            ("dateCreatedTo", self.date_created_to),
            ("dateClosedFrom", self.date_closed_from),
            ("dateClosedTo", self.date_closed_to),
            ("dateModifiedFrom", self.date_modified_from),
            ("dateModifiedTo", self.date_modified_to),
        ];
        for (name, d) in dates {
            if let Some(d) = d {
                out.push((name, ksef_time::format(d)));
            }
        }
        for s in &self.statuses {
            out.push(("statuses", s.as_str().to_owned()));
        }
        if let Some(p) = self.page_size {
            out.push(("pageSize", p.to_string()));
        }
        out
    }

    /// Parses decoded query pairs (the emulator side). Unknown parameters are ignored;
    /// `sessionType` is required; `pageSize` must be 10–1000.
    pub fn from_query_pairs<'a>(
        pairs: impl IntoIterator<Item = (&'a str, &'a str)>,
    ) -> Result<Self, ValidationError> {
        let mut session_type = None;
        let mut q = SessionsQuery::new(SessionType::Online);
        for (k, v) in pairs {
            let date = || crate::warsaw::parse(v).map_err(|e| invalid(k, e.to_string()));
            match k {
                "sessionType" => {
                    session_type = Some(OpenEnum::<SessionType>::from_wire(v).require(k)?)
                }
                "referenceNumber" => q.reference_number = Some(v.to_owned()),
                "dateCreatedFrom" => q.date_created_from = Some(date()?),
                "dateCreatedTo" => q.date_created_to = Some(date()?),
                "dateClosedFrom" => q.date_closed_from = Some(date()?),
                "dateClosedTo" => q.date_closed_to = Some(date()?),
                "dateModifiedFrom" => q.date_modified_from = Some(date()?),
                "dateModifiedTo" => q.date_modified_to = Some(date()?),
                "statuses" => {
                    for part in v.split(',').filter(|s| !s.is_empty()) {
                        q.statuses
                            .push(OpenEnum::<CommonSessionStatus>::from_wire(part).require(k)?);
                    }
                }
                "pageSize" => {
                    let n: i64 = v
                        .parse()
                        .map_err(|_| invalid(k, format!("{v:?} is not an integer")))?;
                    check_range(k, n, 10, 1000)?;
                    q.page_size = u32::try_from(n).ok();
                }
                _ => {}
            }
        }
        q.session_type = session_type.ok_or_else(|| invalid("sessionType", "is required"))?;
        Ok(q)
    }
}

/// `SessionsQueryResponseItem`: one session in `GET /sessions`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsQueryResponseItem {
    /// Session reference number.
    pub reference_number: String,
    /// Session status.
    pub status: StatusInfo,
    /// Creation time.
    #[serde(with = "ksef_time")]
    pub date_created: OffsetDateTime,
    /// Last activity.
    #[serde(with = "ksef_time")]
    pub date_updated: OffsetDateTime,
    /// Expiry of an online session.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<OffsetDateTime>,
    /// All invoices, including those still processing.
    pub total_invoice_count: u32,
    /// Accepted invoices.
    pub successful_invoice_count: u32,
    /// Rejected invoices.
    pub failed_invoice_count: u32,
}

/// `SessionsQueryResponse` (`GET /sessions`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionsQueryResponse {
    /// Token for the next page (send in `x-continuation-token`); `None`/empty = last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Sessions, newest first.
    pub sessions: Vec<SessionsQueryResponseItem>,
}

/// `UpoPageResponse`: one page of a session UPO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpoPageResponse {
    /// UPO page reference number (for `GET /sessions/{ref}/upo/{upoRef}`).
    pub reference_number: String,
    /// Pre-signed download URL (plain GET, no access token).
    pub download_url: String,
    /// Expiry of `downloadUrl`.
    #[serde(with = "ksef_time")]
    pub download_url_expiration_date: OffsetDateTime,
}

/// `UpoResponse`: the pages of a session UPO.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct UpoResponse {
    /// UPO pages.
    pub pages: Vec<UpoPageResponse>,
}

/// `SessionStatusResponse` (`GET /sessions/{referenceNumber}`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionStatusResponse {
    /// Current status (digest §8.4, §9.5).
    pub status: StatusInfo,
    /// Creation time.
    #[serde(with = "ksef_time")]
    pub date_created: OffsetDateTime,
    /// Last activity.
    #[serde(with = "ksef_time")]
    pub date_updated: OffsetDateTime,
    /// Expiry of an online session.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub valid_until: Option<OffsetDateTime>,
    /// Session UPO, once the session is closed and the UPO generated.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upo: Option<UpoResponse>,
    /// Invoices accepted for processing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_count: Option<u32>,
    /// Invoices processed successfully.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub successful_invoice_count: Option<u32>,
    /// Invoices rejected.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failed_invoice_count: Option<u32>,
}

// ---------------------------------------------------------------------------------------------
// Invoices of a session
// ---------------------------------------------------------------------------------------------

/// `InvoiceStatusInfo`: an invoice's status; like [`StatusInfo`] plus `extensions`
/// (e.g. `originalSessionReferenceNumber` / `originalKsefNumber` of a duplicate, 440).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct InvoiceStatusInfo {
    /// Status code (100, 150, 200, 405, 410, 415, 430, 435, 440, 450, 500, 550).
    pub code: i32,
    /// Status description.
    pub description: String,
    /// Details; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<Vec<String>>,
    /// Key–value extras; `null` values are dropped; skipped when `None`.
    #[serde(
        default,
        deserialize_with = "option_map_skip_nulls",
        skip_serializing_if = "Option::is_none"
    )]
    pub extensions: Option<BTreeMap<String, String>>,
}

impl InvoiceStatusInfo {
    /// A status without details or extensions.
    pub fn new(code: i32, description: impl Into<String>) -> Self {
        InvoiceStatusInfo {
            code,
            description: description.into(),
            details: None,
            extensions: None,
        }
    }

    /// Adds details.
    pub fn with_details(mut self, details: impl IntoIterator<Item = impl Into<String>>) -> Self {
        self.details = Some(details.into_iter().map(Into::into).collect());
        self
    }

    /// Adds one extension entry.
    pub fn with_extension(mut self, key: impl Into<String>, value: impl Into<String>) -> Self {
        self.extensions
            .get_or_insert_with(BTreeMap::new)
            .insert(key.into(), value.into());
        self
    }
}

impl From<StatusInfo> for InvoiceStatusInfo {
    fn from(s: StatusInfo) -> Self {
        InvoiceStatusInfo {
            code: s.code,
            description: s.description,
            details: s.details,
            extensions: None,
        }
    }
}

/// `SessionInvoiceStatusResponse`: one invoice of a session
/// (`GET /sessions/{ref}/invoices/{invoiceReferenceNumber}`, and the list items).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInvoiceStatusResponse {
    /// Position in the session (≥ 1).
    pub ordinal_number: u32,
    /// `P_2`, when it could be read.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_number: Option<String>,
    /// KSeF number, once assigned.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ksef_number: Option<String>,
    /// Invoice reference number (`…-EE-…`).
    pub reference_number: String,
    /// Base64 SHA-256 of the invoice.
    pub invoice_hash: String,
    /// File name inside the batch archive (batch only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoice_file_name: Option<String>,
    /// When the KSeF number was assigned.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub acquisition_date: Option<OffsetDateTime>,
    /// When KSeF accepted the invoice for processing.
    #[serde(with = "ksef_time")]
    pub invoicing_date: OffsetDateTime,
    /// When the invoice was durably stored (downloadable from then on).
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub permanent_storage_date: Option<OffsetDateTime>,
    /// Pre-signed UPO download URL (plain GET, no access token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upo_download_url: Option<String>,
    /// Expiry of `upoDownloadUrl`.
    #[serde(
        default,
        with = "ksef_time::option",
        skip_serializing_if = "Option::is_none"
    )]
    pub upo_download_url_expiration_date: Option<OffsetDateTime>,
    /// Online / offline.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invoicing_mode: Option<OpenEnum<InvoicingMode>>,
    /// Status.
    pub status: InvoiceStatusInfo,
}

/// `SessionInvoicesResponse` (`GET /sessions/{ref}/invoices` and `…/invoices/failed`, 200).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionInvoicesResponse {
    /// Token for the next page (send in `x-continuation-token`); `None`/empty = last page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub continuation_token: Option<String>,
    /// Invoices in session order.
    pub invoices: Vec<SessionInvoiceStatusResponse>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::datetime;

    #[test]
    fn sha256_check_takes_characters_and_bytes_apart() {
        // 44 characters, 45 bytes: must be refused, not panic on a char boundary.
        let tricky = format!("{}ą=", "A".repeat(42));
        assert_eq!(tricky.chars().count(), 44);
        assert!(check_sha256_base64("invoiceHash", &tricky).is_err());
        assert!(
            check_sha256_base64(
                "invoiceHash",
                "EbrK4cOSjW4hEpJaHU71YXSOZZmqP5++dK9nLgTzgV4="
            )
            .is_ok()
        );
    }

    #[test]
    fn send_invoice_validation() {
        let ok = SendInvoiceRequest {
            invoice_hash: "EbrK4cOSjW4hEpJaHU71YXSOZZmqP5++dK9nLgTzgV4=".into(),
            invoice_size: 6480,
            encrypted_invoice_hash: "miYb1z3Ljw5VucTZslv3Tlt+V/EK1V8Q8evD8HMQ0dc=".into(),
            encrypted_invoice_size: 6496,
            encrypted_invoice_content: "AAAA".into(),
            offline_mode: false,
            hash_of_corrected_invoice: None,
        };
        assert!(ok.validate().is_ok());
        let json = serde_json::to_value(&ok).unwrap();
        assert_eq!(json["offlineMode"], false);
        assert!(json.get("hashOfCorrectedInvoice").is_none());

        let mut bad = ok.clone();
        bad.invoice_hash.pop();
        assert_eq!(bad.validate().unwrap_err().field(), "invoiceHash");
        let mut bad = ok.clone();
        bad.encrypted_invoice_size = 0;
        assert_eq!(bad.validate().unwrap_err().field(), "encryptedInvoiceSize");
        let mut bad = ok;
        bad.hash_of_corrected_invoice = Some("!".repeat(44));
        assert_eq!(
            bad.validate().unwrap_err().field(),
            "hashOfCorrectedInvoice"
        );
    }

    #[test]
    fn batch_file_validation() {
        let part = |n| BatchFilePartInfo {
            ordinal_number: n,
            file_size: 16048,
            file_hash: "23ZyDAN0H/+yhC/En2xbNfF0tajAWSfejDaXD7fc2AE=".into(),
        };
        let mut file = BatchFileInfo {
            file_size: 16037,
            file_hash: "WO86CC+1Lef11wEosItld/NPwxGN8tobOMLqk9PQjgs=".into(),
            compression_type: None,
            file_parts: vec![part(1), part(2)],
        };
        assert_eq!(file.validate("batchFile").unwrap(), CompressionType::Zip);
        file.compression_type = Some(OpenEnum::from_wire("Rar"));
        assert_eq!(
            file.validate("batchFile").unwrap_err().field(),
            "batchFile.compressionType"
        );
        file.compression_type = Some(CompressionType::TarGz.into());
        file.file_parts = vec![part(1), part(1)];
        assert_eq!(
            file.validate("batchFile").unwrap_err().field(),
            "batchFile.fileParts[1].ordinalNumber"
        );
        file.file_parts = (1..=51).map(part).collect();
        assert_eq!(
            file.validate("batchFile").unwrap_err().field(),
            "batchFile.fileParts"
        );
        file.file_parts = vec![part(0)];
        assert_eq!(
            file.validate("batchFile").unwrap_err().field(),
            "batchFile.fileParts[0].ordinalNumber"
        );
        file.file_parts = vec![part(1)];
        file.file_size = MAX_BATCH_FILE_SIZE + 1;
        assert_eq!(
            file.validate("batchFile").unwrap_err().field(),
            "batchFile.fileSize"
        );
    }

    #[test]
    fn encryption_key_is_redacted() {
        let e = EncryptionInfo {
            encrypted_symmetric_key: Secret::from("c2VjcmV0S2V5"),
            initialization_vector: "OmtDQdl6vkOI1GLKZSjgEg==".into(),
            public_key_id: Some("x".into()),
        };
        assert!(!format!("{e:?}").contains("c2VjcmV0S2V5"));
        assert_eq!(
            e.validate("encryption").unwrap_err().field(),
            "encryption.publicKeyId"
        );
    }

    #[test]
    fn part_upload_headers_drop_nulls() {
        let p: PartUploadRequest = serde_json::from_str(
            r#"{"ordinalNumber":1,"method":"PUT","url":"https://h/x","headers":{"a":"b","c":null}}"#,
        )
        .unwrap();
        assert_eq!(p.headers.len(), 1);
        assert_eq!(p.headers["a"], "b");
        assert!(
            serde_json::from_str::<PartUploadRequest>(
                r#"{"ordinalNumber":1,"method":"PUT","url":"https://h/x"}"#
            )
            .is_err()
        );
    }

    #[test]
    fn sessions_query_round_trips_through_pairs() {
        let mut q = SessionsQuery::new(SessionType::Batch);
        q.statuses = vec![CommonSessionStatus::Succeeded, CommonSessionStatus::Failed];
        q.date_created_from = Some(datetime!(2025-09-01 00:00 UTC));
        q.page_size = Some(100);
        let pairs = q.to_query_pairs();
        assert_eq!(pairs[0], ("sessionType", "Batch".to_owned()));
        assert_eq!(pairs.iter().filter(|(k, _)| *k == "statuses").count(), 2);
        let back =
            SessionsQuery::from_query_pairs(pairs.iter().map(|(k, v)| (*k, v.as_str()))).unwrap();
        assert_eq!(back, q);

        let err = SessionsQuery::from_query_pairs([("pageSize", "20")]).unwrap_err();
        assert_eq!(err.field(), "sessionType");
        let err = SessionsQuery::from_query_pairs([("sessionType", "Online"), ("pageSize", "5")])
            .unwrap_err();
        assert_eq!(err.field(), "pageSize");
        let err =
            SessionsQuery::from_query_pairs([("sessionType", "Online"), ("statuses", "Done")])
                .unwrap_err();
        assert!(err.to_string().contains("Done"), "{err}");
    }

    #[test]
    fn common_status_mapping() {
        assert_eq!(
            CommonSessionStatus::from_status_code(170),
            CommonSessionStatus::InProgress
        );
        assert_eq!(
            CommonSessionStatus::from_status_code(440),
            CommonSessionStatus::Cancelled
        );
        assert_eq!(
            CommonSessionStatus::from_status_code(445),
            CommonSessionStatus::Failed
        );
    }
}
