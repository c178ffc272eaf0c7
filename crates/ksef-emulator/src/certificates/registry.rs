//! The register of issued KSeF certificates as others may consult it: one certificate by its
//! serial number (the KOD II verification pages), with its type, owner, validity and
//! revocation.

use ksef_core::SubjectIdentifier;
use ksef_wire::{KsefCertificateType, WireEnum};
use sqlx::Row;
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{from_ms, ms};

/// An issued KSeF certificate.
#[derive(Debug, Clone)]
pub struct RegisteredCertificate {
    /// 16 uppercase hexadecimal digits.
    pub serial: String,
    pub certificate_type: KsefCertificateType,
    /// The subject that enrolled it (NIP, PESEL or certificate fingerprint).
    pub owner: SubjectIdentifier,
    /// The certificate subject's commonName.
    pub common_name: String,
    /// The certificate (DER).
    pub der: Vec<u8>,
    pub valid_from: OffsetDateTime,
    pub valid_to: OffsetDateTime,
    /// When it was revoked, if it was.
    pub revoked: Option<OffsetDateTime>,
}

/// The certificate with serial number `serial`, once its enrollment is processed; `None` for
/// any other serial.
pub async fn registered(
    state: &AppState,
    serial: &str,
) -> ApiResult<Option<RegisteredCertificate>> {
    let row = sqlx::query(
        "SELECT serial_number, certificate_type, owner_type, owner_value, common_name, \
         certificate_der, valid_from_ms, valid_to_ms, revoked_ms FROM ksef_certificates \
         WHERE serial_number = ? AND ready_ms <= ?",
    )
    .bind(serial)
    .bind(ms(state.now()))
    .fetch_optional(state.pool())
    .await?;
    let Some(r) = row else {
        return Ok(None);
    };
    let bad = |col: &str, e: &dyn std::fmt::Display| {
        ApiError::internal(format!("KSeF certificate {serial}, {col}: {e}"))
    };
    let kind: String = r.try_get("certificate_type")?;
    let owner_type: String = r.try_get("owner_type")?;
    let owner_value: String = r.try_get("owner_value")?;
    let owner_kind = owner_type.parse().map_err(|e| bad("owner_type", &e))?;
    Ok(Some(RegisteredCertificate {
        serial: r.try_get("serial_number")?,
        certificate_type: KsefCertificateType::from_wire_name(&kind)
            .ok_or_else(|| bad("certificate_type", &kind))?,
        owner: SubjectIdentifier::parse(owner_kind, &owner_value)
            .map_err(|e| bad("owner_value", &e))?,
        common_name: r.try_get("common_name")?,
        der: r.try_get("certificate_der")?,
        valid_from: from_ms(r.try_get("valid_from_ms")?),
        valid_to: from_ms(r.try_get("valid_to_ms")?),
        revoked: r.try_get::<Option<i64>, _>("revoked_ms")?.map(from_ms),
    }))
}
