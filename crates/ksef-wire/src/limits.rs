//! Limits (digest §15): `GET /limits/context`, `GET /limits/subject`, `GET /rate-limits`.
//!
//! The OpenAPI has pairs of identical schemas for the effective values and the TEST
//! overrides (`OnlineSessionEffectiveContextLimits` / `OnlineSessionContextLimitsOverride`,
//! `EffectiveApiRateLimits` / `ApiRateLimitsOverride`, …). Each pair is one Rust struct with
//! the schema names as aliases, so an override can be stored and served back unchanged.
//! The override request bodies live in [`crate::testdata`].

use serde::{Deserialize, Serialize};

use crate::common::{ValidationError, check_range};
use crate::endpoints::RateLimitGroup;

/// Session limits of a context (MB = 1 000 000 bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionContextLimits {
    /// Maximum invoice size in MB.
    #[serde(rename = "maxInvoiceSizeInMB")]
    pub max_invoice_size_in_mb: u32,
    /// Maximum size of an invoice with attachments in MB.
    #[serde(rename = "maxInvoiceWithAttachmentSizeInMB")]
    pub max_invoice_with_attachment_size_in_mb: u32,
    /// Maximum number of invoices in one session.
    pub max_invoices: u32,
}

/// `OnlineSessionEffectiveContextLimits`.
pub type OnlineSessionEffectiveContextLimits = SessionContextLimits;
/// `BatchSessionEffectiveContextLimits`.
pub type BatchSessionEffectiveContextLimits = SessionContextLimits;
/// `OnlineSessionContextLimitsOverride` (TEST override; see [`SessionContextLimits::validate_override`]).
pub type OnlineSessionContextLimitsOverride = SessionContextLimits;
/// `BatchSessionContextLimitsOverride` (TEST override; see [`SessionContextLimits::validate_override`]).
pub type BatchSessionContextLimitsOverride = SessionContextLimits;

impl SessionContextLimits {
    /// The documented defaults (OpenAPI example of `GET /limits/context`): 1 MB, 3 MB,
    /// 10 000 invoices.
    pub const DEFAULT: SessionContextLimits = SessionContextLimits {
        max_invoice_size_in_mb: 1,
        max_invoice_with_attachment_size_in_mb: 3,
        max_invoices: 10_000,
    };

    /// Checks the override bounds: size 0–5, size with attachments 0–10, invoices 0–100 000.
    pub fn validate_override(&self, field: &str) -> Result<(), ValidationError> {
        check_range(
            &format!("{field}.maxInvoiceSizeInMB"),
            self.max_invoice_size_in_mb.into(),
            0,
            5,
        )?;
        check_range(
            &format!("{field}.maxInvoiceWithAttachmentSizeInMB"),
            self.max_invoice_with_attachment_size_in_mb.into(),
            0,
            10,
        )?;
        check_range(
            &format!("{field}.maxInvoices"),
            self.max_invoices.into(),
            0,
            100_000,
        )
    }
}

/// `EffectiveContextLimits` (`GET /limits/context`, 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveContextLimits {
    /// Online (interactive) session limits.
    pub online_session: OnlineSessionEffectiveContextLimits,
    /// Batch session limits.
    pub batch_session: BatchSessionEffectiveContextLimits,
}

impl Default for EffectiveContextLimits {
    fn default() -> Self {
        EffectiveContextLimits {
            online_session: SessionContextLimits::DEFAULT,
            batch_session: SessionContextLimits::DEFAULT,
        }
    }
}

/// `EnrollmentEffectiveSubjectLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EnrollmentEffectiveSubjectLimits {
    /// Maximum number of certificate enrollments; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_enrollments: Option<u32>,
}

/// `CertificateEffectiveSubjectLimits`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct CertificateEffectiveSubjectLimits {
    /// Maximum number of active KSeF certificates; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_certificates: Option<u32>,
}

/// `EffectiveSubjectLimits` (`GET /limits/subject`, 200).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveSubjectLimits {
    /// Enrollment limits; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrollment: Option<EnrollmentEffectiveSubjectLimits>,
    /// Certificate limits; skipped when `None`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub certificate: Option<CertificateEffectiveSubjectLimits>,
}

impl Default for EffectiveSubjectLimits {
    /// The documented defaults (OpenAPI example): 12 enrollments, 6 certificates.
    fn default() -> Self {
        EffectiveSubjectLimits {
            enrollment: Some(EnrollmentEffectiveSubjectLimits {
                max_enrollments: Some(12),
            }),
            certificate: Some(CertificateEffectiveSubjectLimits {
                max_certificates: Some(6),
            }),
        }
    }
}

/// `EffectiveApiRateLimitValues` / `ApiRateLimitValuesOverride`: requests per second,
/// minute and hour.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveApiRateLimitValues {
    /// Requests per second.
    pub per_second: u32,
    /// Requests per minute.
    pub per_minute: u32,
    /// Requests per hour.
    pub per_hour: u32,
}

/// `ApiRateLimitValuesOverride`.
pub type ApiRateLimitValuesOverride = EffectiveApiRateLimitValues;

impl EffectiveApiRateLimitValues {
    /// Shorthand constructor.
    pub const fn new(per_second: u32, per_minute: u32, per_hour: u32) -> Self {
        EffectiveApiRateLimitValues {
            per_second,
            per_minute,
            per_hour,
        }
    }
}

/// `EffectiveApiRateLimits` (`GET /rate-limits`, 200) / `ApiRateLimitsOverride`: one entry
/// per endpoint group (digest §15.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EffectiveApiRateLimits {
    /// Open/close online sessions.
    pub online_session: EffectiveApiRateLimitValues,
    /// Open/close batch sessions.
    pub batch_session: EffectiveApiRateLimitValues,
    /// Send an invoice.
    pub invoice_send: EffectiveApiRateLimitValues,
    /// Invoice status in a session.
    pub invoice_status: EffectiveApiRateLimitValues,
    /// List sessions.
    pub session_list: EffectiveApiRateLimitValues,
    /// List invoices of a session.
    pub session_invoice_list: EffectiveApiRateLimitValues,
    /// Other session operations (status, UPO).
    pub session_misc: EffectiveApiRateLimitValues,
    /// Invoice metadata query.
    pub invoice_metadata: EffectiveApiRateLimitValues,
    /// Invoice export.
    pub invoice_export: EffectiveApiRateLimitValues,
    /// Export status.
    pub invoice_export_status: EffectiveApiRateLimitValues,
    /// Invoice download by KSeF number.
    pub invoice_download: EffectiveApiRateLimitValues,
    /// Every other protected endpoint (each with its own counter).
    pub other: EffectiveApiRateLimitValues,
}

/// `ApiRateLimitsOverride`.
pub type ApiRateLimitsOverride = EffectiveApiRateLimits;

impl EffectiveApiRateLimits {
    /// The production defaults (digest §15.1, equal to the OpenAPI example).
    pub const PRODUCTION: EffectiveApiRateLimits = {
        use EffectiveApiRateLimitValues as V;
        EffectiveApiRateLimits {
            online_session: V::new(10, 30, 120),
            batch_session: V::new(10, 20, 60),
            invoice_send: V::new(10, 30, 180),
            invoice_status: V::new(30, 120, 1200),
            session_list: V::new(5, 10, 60),
            session_invoice_list: V::new(10, 20, 200),
            session_misc: V::new(10, 120, 1200),
            invoice_metadata: V::new(8, 16, 20),
            invoice_export: V::new(8, 16, 20),
            invoice_export_status: V::new(10, 60, 600),
            invoice_download: V::new(8, 16, 64),
            other: V::new(10, 30, 120),
        }
    };
}

impl EffectiveApiRateLimits {
    /// The values of `group`: its entry, or for [`RateLimitGroup::Public`] (no entry; counted
    /// per client IP) [`PUBLIC_RATE_LIMIT`]. The one table from group to values, for the
    /// client's pacer and the emulator's limiter alike.
    pub const fn group(&self, group: RateLimitGroup) -> EffectiveApiRateLimitValues {
        match group {
            RateLimitGroup::OnlineSession => self.online_session,
            RateLimitGroup::BatchSession => self.batch_session,
            RateLimitGroup::InvoiceSend => self.invoice_send,
            RateLimitGroup::InvoiceStatus => self.invoice_status,
            RateLimitGroup::SessionList => self.session_list,
            RateLimitGroup::SessionInvoiceList => self.session_invoice_list,
            RateLimitGroup::SessionMisc => self.session_misc,
            RateLimitGroup::InvoiceMetadata => self.invoice_metadata,
            RateLimitGroup::InvoiceExport => self.invoice_export,
            RateLimitGroup::InvoiceExportStatus => self.invoice_export_status,
            RateLimitGroup::InvoiceDownload => self.invoice_download,
            RateLimitGroup::Other => self.other,
            RateLimitGroup::Public => PUBLIC_RATE_LIMIT,
        }
    }
}

/// The limit of the public endpoints (digest §15.1): 60 requests per second per client IP, no
/// minute or hour limit (`u32::MAX`: never reached).
pub const PUBLIC_RATE_LIMIT: EffectiveApiRateLimitValues =
    EffectiveApiRateLimitValues::new(60, u32::MAX, u32::MAX);

impl Default for EffectiveApiRateLimits {
    fn default() -> Self {
        Self::PRODUCTION
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn override_bounds() {
        let ok = SessionContextLimits {
            max_invoice_size_in_mb: 5,
            max_invoice_with_attachment_size_in_mb: 10,
            max_invoices: 100_000,
        };
        assert!(ok.validate_override("onlineSession").is_ok());
        let too_big = SessionContextLimits {
            max_invoice_size_in_mb: 6,
            ..ok
        };
        let err = too_big.validate_override("onlineSession").unwrap_err();
        assert_eq!(err.field(), "onlineSession.maxInvoiceSizeInMB");
    }

    #[test]
    fn every_group_has_its_values() {
        // Distinct values per group, set through the wire keys: a mix-up cannot hide.
        let mut json = serde_json::Map::new();
        for (i, g) in RateLimitGroup::ALL.iter().enumerate() {
            let i = i as u32;
            json.insert(
                g.key().into(),
                serde_json::json!({"perSecond": i, "perMinute": i + 100, "perHour": i + 1000}),
            );
        }
        let l: EffectiveApiRateLimits = serde_json::from_value(json.into()).unwrap();
        for (i, g) in RateLimitGroup::ALL.iter().enumerate() {
            let i = i as u32;
            let want = if *g == RateLimitGroup::Public {
                PUBLIC_RATE_LIMIT
            } else {
                EffectiveApiRateLimitValues::new(i, i + 100, i + 1000)
            };
            assert_eq!(l.group(*g), want, "{g}");
        }
    }

    #[test]
    fn mb_field_names_are_exact() {
        let v = serde_json::to_value(SessionContextLimits::DEFAULT).unwrap();
        assert_eq!(
            v,
            serde_json::json!({"maxInvoiceSizeInMB": 1, "maxInvoiceWithAttachmentSizeInMB": 3, "maxInvoices": 10000})
        );
    }
}
