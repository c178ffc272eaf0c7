//! KSeF certificates (digest §14): enrollment, issuance by the emulator's own CA, retrieval,
//! query, revocation, and their use for XAdES authentication.
//!
//! Endpoints (access token of a signature-authenticated subject; no permission needed):
//! - `GET /certificates/limits` — enrollment and active-certificate limits of the caller's
//!   subject: the effective values of `GET /limits/subject` (its TEST override or 12/6);
//! - `GET /certificates/enrollments/data` — the DN attributes of the certificate the caller
//!   authenticated with (25001 after KSeF-token authentication);
//! - `POST /certificates/enrollments` — checks the PKCS#10 CSR (format and signature 25004,
//!   key RSA-2048/EC P-256 25010, signature algorithm 25011, subject equal to the enrollment
//!   data 25003), the limits (25006, 25007), issues the certificate at once and answers 202;
//!   the enrollment reports status 100 for [`ENROLLMENT_PROCESSING`], then 200 (or 400 when
//!   the public key is already certified for another subject);
//! - `GET /certificates/enrollments/{ref}` — status (25005 unknown or not the caller's; 410
//!   after [`ENROLLMENT_STATUS_RETENTION_DAYS`]);
//! - `POST /certificates/retrieve` — DER Base64 of the caller's issued certificates (unknown or
//!   foreign serial numbers are left out);
//! - `POST /certificates/query` — the caller's certificates, newest request first, filters and
//!   `pageSize` (10–50) / `pageOffset` (page index) paging;
//! - `POST /certificates/{serial}/revoke` — 204; 25008 unknown or foreign, 25009 already
//!   revoked or expired; not available after KSeF-token authentication (21405).
//!
//! The CA ("KSeF CA (emulator)", EC P-256, 20 years) is created on first use and kept in the
//! `service_keys` table of the data directory's database, like the emulator's other keys.
//! Issued certificates ([`ksef_crypto::ca::issue_for_public_key`]): subject = the CSR subject
//! (attributes in CSR order, one RDN each; countryName and serialNumber PrintableString when
//! they fit, else UTF8String, the rest UTF8String), the CSR's key unchanged, validity
//! [`CERTIFICATE_LIFETIME_DAYS`] from `validFrom` (or issuance), a random positive 64-bit serial
//! (16 uppercase hex digits), authorityKeyIdentifier, keyUsage (critical) digitalSignature
//! (`Authentication`) or nonRepudiation (`Offline`), subjectKeyIdentifier, basicConstraints
//! CA:FALSE (critical), signed ecdsa-with-SHA256.
//!
//! Authentication ([`authentication_use`], called by `POST /auth/xades-signature`): a
//! certificate this emulator issued (found by fingerprint) is trusted under every trust policy
//! and `verifyCertificateChain` value, like KSeF trusts its own certificates; a revoked one
//! fails with status 460 "Certyfikat odwołany", an `Offline` one with 460 "Niepoprawny
//! certyfikat". Successful use updates `lastUseDate`.
//!
//! The register as others consult it (the KOD II verification pages): [`registered`].

mod registry;

pub use registry::registered;

use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::StatusCode;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ReferenceKind, ReferenceNumber, SubjectIdentifier};
use ksef_crypto::Credential;
use ksef_crypto::ca::{IssuedKeyUsage, Validity, issue_for_public_key, make_ca_with};
use ksef_crypto::identity::{CertificateInfo, inspect_certificate};
use ksef_crypto::testcert::oid;
use ksef_crypto::{CryptoError, KeyAlgorithm, PrivateKey, PublicKey};
use ksef_wire as wire;
use ksef_wire::{
    CertificateListItemStatus, EffectiveSubjectLimits, ExceptionCode, KsefCertificateType,
    OpenEnum, StatusInfo,
};
use ksef_wire::{Operation, Validate};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, QueryBuilder, Row, Sqlite};
use time::{Duration, OffsetDateTime};

use crate::auth::ContextSession;
use crate::endpoint::{Routes, handle};
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath, page_size, parse_json};
use crate::state::AppState;
use crate::store::{from_ms, ms};

/// `service_keys.usage` of the KSeF certificates CA.
const CA_USAGE: &str = "KsefCertificatesCa";
/// commonName of the emulator's KSeF CA.
pub const CA_COMMON_NAME: &str = "KSeF CA (emulator)";
/// organizationName of the emulator's KSeF CA.
pub const CA_ORGANIZATION: &str = "KSeF Emulator";
/// Lifetime of the CA certificate.
pub const CA_LIFETIME_DAYS: i64 = 20 * 365;
/// Lifetime of an issued certificate (two years, as in the OpenAPI query example).
pub const CERTIFICATE_LIFETIME_DAYS: i64 = 730;
/// How long an enrollment reports status 100 before its final status.
pub const ENROLLMENT_PROCESSING: std::time::Duration = std::time::Duration::from_millis(300);
/// How long an enrollment status stays readable (digest §2: 30 days), then 410.
pub const ENROLLMENT_STATUS_RETENTION_DAYS: i64 = 30;
/// How far in the past `validFrom` may lie (clock skew).
const VALID_FROM_TOLERANCE: Duration = Duration::minutes(5);

/// Routes under `/v2` owned by this module.
pub fn routes() -> Routes {
    vec![
        handle(Operation::CertificateLimits, limits),
        handle(Operation::EnrollmentData, enrollment_data),
        handle(Operation::EnrollCertificate, enroll),
        handle(Operation::EnrollmentStatus, enrollment_status),
        handle(Operation::RetrieveCertificates, retrieve),
        handle(Operation::QueryCertificates, query),
        handle(Operation::RevokeCertificate, revoke),
    ]
}

// ---------------------------------------------------------------- caller

/// The owner of certificates: the authenticated subject, and whether it used a KSeF token.
struct Owner {
    subject: SubjectIdentifier,
    by_token: bool,
    auth_reference: String,
}

impl Owner {
    fn kind(&self) -> &'static str {
        self.subject.kind().as_str()
    }
    fn value(&self) -> &str {
        self.subject.value()
    }
}

fn owner(s: &ContextSession) -> ApiResult<Owner> {
    let subject =
        s.op.subject
            .clone()
            .ok_or_else(|| ApiError::internal("session without subject"))?;
    Ok(Owner {
        subject,
        by_token: s.op.method.method == ksef_core::AuthenticationMethod::Token,
        auth_reference: s.op.reference_number.clone(),
    })
}

// ---------------------------------------------------------------- CA

/// The emulator's KSeF CA: loaded from `service_keys`, created on first use.
pub async fn ca(state: &AppState) -> ApiResult<Credential> {
    if let Some(ca) = load_ca(state).await? {
        return Ok(ca);
    }
    let made = tokio::task::spawn_blocking(|| {
        let attributes = [
            (oid::COMMON_NAME.to_string(), CA_COMMON_NAME.to_string()),
            (
                oid::ORGANIZATION_NAME.to_string(),
                CA_ORGANIZATION.to_string(),
            ),
            (oid::COUNTRY_NAME.to_string(), "PL".to_string()),
        ];
        make_ca_with(
            &attributes,
            KeyAlgorithm::EcP256,
            Validity::from_now(Duration::days(CA_LIFETIME_DAYS))?,
        )
    })
    .await
    .map_err(ApiError::internal)?
    .map_err(ApiError::internal)?;
    let pem = made.key_pem().map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT OR IGNORE INTO service_keys(usage, key_pem, certificate_der) VALUES (?, ?, ?)",
    )
    .bind(CA_USAGE)
    .bind(pem.as_str())
    .bind(made.certificate_der.clone())
    .execute(state.pool())
    .await?;
    // Another request may have won the race: use what is stored.
    load_ca(state)
        .await?
        .ok_or_else(|| ApiError::internal("KSeF CA not stored after insert"))
}

async fn load_ca(state: &AppState) -> ApiResult<Option<Credential>> {
    let row = sqlx::query_as::<_, (String, Vec<u8>)>(
        "SELECT key_pem, certificate_der FROM service_keys WHERE usage = ?",
    )
    .bind(CA_USAGE)
    .fetch_optional(state.pool())
    .await?;
    let Some((pem, der)) = row else {
        return Ok(None);
    };
    let key = PrivateKey::from_pem(&pem).map_err(ApiError::internal)?;
    Credential::new(key, der, Vec::new())
        .map(Some)
        .map_err(ApiError::internal)
}

/// DER of the CA certificate (created on first use), e.g. to configure trust elsewhere.
pub async fn ca_certificate_der(state: &AppState) -> ApiResult<Vec<u8>> {
    Ok(ca(state).await?.certificate_der)
}

// ---------------------------------------------------------------- authentication

/// What a signing certificate means for `POST /auth/xades-signature`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthenticationUse {
    /// Not a certificate issued by this emulator: the normal trust rules apply.
    NotKsef,
    /// An active `Authentication` KSeF certificate: trusted (validity is still checked).
    Usable,
    /// A KSeF certificate that may not authenticate; status 460 with this detail.
    Refused(&'static str),
}

/// Classifies the signing certificate of a XAdES login (the use is recorded by
/// [`record_use`] once the login succeeded).
pub async fn authentication_use(state: &AppState, der: &[u8]) -> ApiResult<AuthenticationUse> {
    let fingerprint = ksef_crypto::sha256_fingerprint_hex(der);
    let row = sqlx::query(
        "SELECT serial_number, certificate_type, revoked_ms FROM ksef_certificates \
         WHERE fingerprint = ?",
    )
    .bind(&fingerprint)
    .fetch_optional(state.pool())
    .await?;
    let Some(row) = row else {
        return Ok(AuthenticationUse::NotKsef);
    };
    if row.get::<Option<i64>, _>("revoked_ms").is_some() {
        return Ok(AuthenticationUse::Refused("Certyfikat odwołany"));
    }
    if row.get::<String, _>("certificate_type") != KsefCertificateType::Authentication.as_str() {
        return Ok(AuthenticationUse::Refused("Niepoprawny certyfikat"));
    }
    Ok(AuthenticationUse::Usable)
}

/// Records a successful login with a KSeF certificate (`lastUseDate`).
pub async fn record_use(state: &AppState, der: &[u8]) -> ApiResult<()> {
    sqlx::query("UPDATE ksef_certificates SET last_use_ms = ? WHERE fingerprint = ?")
        .bind(ms(state.now()))
        .bind(ksef_crypto::sha256_fingerprint_hex(der))
        .execute(state.pool())
        .await?;
    Ok(())
}

// ---------------------------------------------------------------- limits

/// Effective limits of a subject: the `/limits/subject` override (stored by
/// [`crate::limits`] under this settings key) or the documented defaults.
async fn subject_limits(state: &AppState, owner: &Owner) -> ApiResult<(u32, u32)> {
    let key = format!(
        "limits.subject_certificate:{}:{}",
        owner.kind(),
        owner.value()
    );
    let stored: Option<Vec<u8>> = sqlx::query_scalar("SELECT value FROM settings WHERE name = ?")
        .bind(key)
        .fetch_optional(state.pool())
        .await?;
    let limits: EffectiveSubjectLimits = stored
        .and_then(|v| serde_json::from_slice(&v).ok())
        .unwrap_or_default();
    let defaults = EffectiveSubjectLimits::default();
    let pick = |l: &EffectiveSubjectLimits| {
        (
            l.enrollment.and_then(|e| e.max_enrollments),
            l.certificate.and_then(|c| c.max_certificates),
        )
    };
    let (e, c) = pick(&limits);
    let (de, dc) = pick(&defaults);
    Ok((e.or(de).unwrap_or(12), c.or(dc).unwrap_or(6)))
}

/// (enrollments submitted, active or pending certificates) of a subject.
async fn usage(state: &AppState, owner: &Owner) -> ApiResult<(u32, u32)> {
    let mut conn = state.pool().acquire().await?;
    usage_in(&mut conn, owner, state.now()).await
}

/// [`usage`] on a given connection (inside the enrollment's write transaction, so that
/// parallel enrollments cannot all pass the limits).
async fn usage_in(
    conn: &mut sqlx::SqliteConnection,
    owner: &Owner,
    now: time::OffsetDateTime,
) -> ApiResult<(u32, u32)> {
    let enrollments: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ksef_certificate_enrollments WHERE owner_type = ? AND owner_value = ?",
    )
    .bind(owner.kind())
    .bind(owner.value())
    .fetch_one(&mut *conn)
    .await?;
    let certificates: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ksef_certificates WHERE owner_type = ? AND owner_value = ? \
         AND revoked_ms IS NULL AND valid_to_ms > ?",
    )
    .bind(owner.kind())
    .bind(owner.value())
    .bind(ms(now))
    .fetch_one(&mut *conn)
    .await?;
    Ok((
        u32::try_from(enrollments).unwrap_or(u32::MAX),
        u32::try_from(certificates).unwrap_or(u32::MAX),
    ))
}

/// The limits refusal, if `used` reached them.
fn over_limits(used: (u32, u32), max: (u32, u32)) -> ApiResult<()> {
    if used.0 >= max.0 {
        return Err(ApiError::bad(
            ExceptionCode::EnrollmentLimit,
            format!("Limit wniosków: {}.", max.0),
        ));
    }
    if used.1 >= max.1 {
        return Err(ApiError::bad(
            ExceptionCode::CertificateLimit,
            format!("Limit aktywnych certyfikatów: {}.", max.1),
        ));
    }
    Ok(())
}

fn limit(limit: u32, used: u32) -> wire::CertificateLimit {
    wire::CertificateLimit {
        remaining: i32::try_from(limit.saturating_sub(used)).unwrap_or(i32::MAX),
        limit: i32::try_from(limit).unwrap_or(i32::MAX),
    }
}

async fn limits(
    State(state): State<AppState>,
    session: ContextSession,
) -> ApiResult<axum::Json<wire::CertificateLimitsResponse>> {
    let owner = owner(&session)?;
    let (max_enrollments, max_certificates) = subject_limits(&state, &owner).await?;
    let (enrollments, certificates) = usage(&state, &owner).await?;
    let enrollment = limit(max_enrollments, enrollments);
    let certificate = limit(max_certificates, certificates);
    Ok(axum::Json(wire::CertificateLimitsResponse {
        can_request: !owner.by_token && enrollment.remaining > 0 && certificate.remaining > 0,
        enrollment,
        certificate,
    }))
}

// ---------------------------------------------------------------- enrollment data

/// The certificate the caller authenticated with (from the stored signed `AuthTokenRequest`).
async fn authentication_certificate(state: &AppState, owner: &Owner) -> ApiResult<Vec<u8>> {
    let doc: Option<Vec<u8>> = sqlx::query_scalar(
        "SELECT signed_document FROM auth_operations WHERE reference_number = ?",
    )
    .bind(&owner.auth_reference)
    .fetch_optional(state.pool())
    .await?
    .flatten();
    let doc = doc.ok_or_else(|| {
        ApiError::bad(
            ExceptionCode::CsrDataUnavailable,
            "Brak certyfikatu uwierzytelnienia tej sesji.",
        )
    })?;
    let verified = ksef_xades::signature::verify_enveloped(
        &doc,
        &ksef_xades::signature::VerifyOptions {
            strict_xades: false,
        },
    )
    .map_err(ApiError::internal)?;
    Ok(verified.signer_certificate_der)
}

/// The enrollment data of a certificate: its DN attributes, identifiers in the KSeF form
/// (`TINPL-`/`PNOPL-`/`VATPL-`), `countryName` PL when absent.
fn enrollment_data_of(info: &CertificateInfo) -> wire::CertificateEnrollmentDataResponse {
    let person = info.given_name.is_some() || info.surname.is_some();
    let serial_number = match (&info.pesel, &info.nip) {
        (Some(pesel), _) if person => Some(format!("PNOPL-{pesel}")),
        (None, Some(nip)) if person => Some(format!("TINPL-{nip}")),
        _ => info.subject_serial_number.clone(),
    };
    let organization_identifier = match (&info.nip, &info.organization_identifier) {
        (Some(nip), Some(_)) => Some(format!("VATPL-{nip}")),
        (_, raw) => raw.clone(),
    };
    let common_name = info.common_name.clone().unwrap_or_else(|| {
        match (&info.given_name, &info.surname, &info.organization_name) {
            (Some(g), Some(s), _) => format!("{g} {s}"),
            (_, _, Some(o)) => o.clone(),
            _ => info.fingerprint.clone(),
        }
    });
    wire::CertificateEnrollmentDataResponse {
        common_name,
        country_name: info.country.clone().unwrap_or_else(|| "PL".into()),
        given_name: info.given_name.clone(),
        surname: info.surname.clone(),
        serial_number,
        unique_identifier: None,
        organization_name: info.organization_name.clone(),
        organization_identifier,
    }
}

/// The `(dotted OID, value)` pairs a CSR subject must consist of, sorted.
fn expected_attributes(data: &wire::CertificateEnrollmentDataResponse) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = [
        (oid::COMMON_NAME, Some(&data.common_name)),
        (oid::COUNTRY_NAME, Some(&data.country_name)),
        (oid::GIVEN_NAME, data.given_name.as_ref()),
        (oid::SURNAME, data.surname.as_ref()),
        (oid::SERIAL_NUMBER, data.serial_number.as_ref()),
        ("2.5.4.45", data.unique_identifier.as_ref()),
        (oid::ORGANIZATION_NAME, data.organization_name.as_ref()),
        (
            oid::ORGANIZATION_IDENTIFIER,
            data.organization_identifier.as_ref(),
        ),
    ]
    .into_iter()
    .filter_map(|(o, v)| v.map(|v| (o.to_string(), v.clone())))
    .collect();
    v.sort();
    v
}

async fn caller_enrollment_data(
    state: &AppState,
    owner: &Owner,
    code: ExceptionCode,
    what: &str,
) -> ApiResult<wire::CertificateEnrollmentDataResponse> {
    if owner.by_token {
        return Err(ApiError::bad(
            code,
            format!("{what} nie jest dostępne dla uwierzytelnienia tokenem KSeF."),
        ));
    }
    let der = authentication_certificate(state, owner).await?;
    let info = inspect_certificate(&der).map_err(ApiError::internal)?;
    Ok(enrollment_data_of(&info))
}

async fn enrollment_data(
    State(state): State<AppState>,
    session: ContextSession,
) -> ApiResult<axum::Json<wire::CertificateEnrollmentDataResponse>> {
    let owner = owner(&session)?;
    let data = caller_enrollment_data(
        &state,
        &owner,
        ExceptionCode::CsrDataUnavailable,
        "Pobranie danych do CSR",
    )
    .await?;
    Ok(axum::Json(data))
}

// ---------------------------------------------------------------- CSR checks and issuance

/// Signature algorithms a CSR may use: RSA PKCS#1 v1.5 (SHA-1/256/384/512), RSA-PSS,
/// ECDSA (SHA-1/256/384/512).
const CSR_SIGNATURE_ALGORITHMS: &[&str] = &[
    "1.2.840.113549.1.1.5",
    "1.3.14.3.2.29",
    "1.2.840.113549.1.1.11",
    "1.2.840.113549.1.1.12",
    "1.2.840.113549.1.1.13",
    "1.2.840.113549.1.1.10",
    "1.2.840.10045.4.1",
    "1.2.840.10045.4.3.2",
    "1.2.840.10045.4.3.3",
    "1.2.840.10045.4.3.4",
];

/// A CSR that passed every check.
#[derive(Debug)]
pub struct CheckedCsr {
    /// SubjectPublicKeyInfo DER of the requested key.
    pub spki_der: Vec<u8>,
    /// Subject attributes in CSR order.
    pub attributes: Vec<(String, String)>,
}

/// Checks a PKCS#10 CSR (DER): format (25004), key type and size (25010), signature
/// algorithm (25011), signature (25004), subject equal to `expected` as a set (25003).
///
/// The signature is verified with the CSR's own key
/// ([`ksef_crypto::csr::ParsedCsr::verify_signature`]): RSA PKCS#1 v1.5 with
/// SHA-1/256/384/512, RSASSA-PSS with SHA-256/384/512, ECDSA P-256 with SHA-256/384. An allowed
/// algorithm the emulator does not verify (ecdsa-with-SHA1/SHA512, RSASSA-PSS with other
/// parameters, ECDSA on an RSA key) is 25011; a signature that does not verify (also an RSA
/// algorithm on an EC key) is 25004. Subject values must be text strings (UTF8String,
/// PrintableString, IA5String, NumericString), else 25004.
pub fn check_csr(der: &[u8], expected: &[(String, String)]) -> ApiResult<CheckedCsr> {
    let bad_csr = |d: String| ApiError::bad(ExceptionCode::InvalidCsr, d);
    let csr = ksef_crypto::csr::parse_csr(der)
        .map_err(|e| bad_csr(format!("Niepoprawny format CSR: {e}")))?;
    let key_ok = PublicKey::from_spki_der(&csr.spki_der)
        .and_then(|k| k.algorithm())
        .is_ok_and(|a| matches!(a, KeyAlgorithm::Rsa2048 | KeyAlgorithm::EcP256));
    if !key_ok {
        return Err(ApiError::bad(
            ExceptionCode::InvalidKey,
            "Dozwolone klucze: RSA 2048 bitów lub EC P-256 (secp256r1).",
        ));
    }
    let sig_oid = csr.signature_algorithm.as_str();
    if !CSR_SIGNATURE_ALGORITHMS.contains(&sig_oid) {
        return Err(ApiError::bad(
            ExceptionCode::InvalidCsrSignatureAlgorithm,
            format!(
                "Algorytm podpisu CSR {sig_oid} jest niedozwolony (RSA PKCS#1 v1.5, RSA-PSS, ECDSA)."
            ),
        ));
    }
    match csr.verify_signature() {
        Ok(()) => {}
        Err(CryptoError::UnsupportedSignatureAlgorithm(_)) => {
            return Err(ApiError::bad(
                ExceptionCode::InvalidCsrSignatureAlgorithm,
                format!("Emulator nie weryfikuje podpisów CSR algorytmem {sig_oid}."),
            ));
        }
        Err(_) => return Err(bad_csr("Niepoprawny podpis CSR.".into())),
    }
    let attributes = csr
        .subject_attributes()
        .map_err(|e| bad_csr(format!("Nieczytelny atrybut podmiotu CSR: {e}")))?;
    let mut sorted = attributes.clone();
    sorted.sort();
    if sorted != expected {
        let show = |v: &[(String, String)]| {
            v.iter()
                .map(|(o, v)| format!("{o}={v}"))
                .collect::<Vec<_>>()
                .join(", ")
        };
        return Err(ApiError::bad(
            ExceptionCode::CsrDataMismatch,
            format!(
                "Podmiot CSR [{}] różni się od danych do wniosku [{}].",
                show(&sorted),
                show(expected)
            ),
        ));
    }
    Ok(CheckedCsr {
        spki_der: csr.spki_der,
        attributes,
    })
}

/// A random positive 8-byte serial with a non-zero first byte (16 hex digits in DER).
fn random_serial() -> [u8; 8] {
    let mut s: [u8; 8] = rand::random();
    s[0] = (s[0] & 0x7f).max(1);
    s
}

/// Issues the certificate for a checked CSR, signed by `ca` (see the module docs).
fn issue(
    ca: &Credential,
    csr: &CheckedCsr,
    certificate_type: KsefCertificateType,
    validity: Validity,
    serial: &[u8],
) -> Result<Vec<u8>, String> {
    let usage = match certificate_type {
        KsefCertificateType::Authentication => IssuedKeyUsage::DigitalSignature,
        KsefCertificateType::Offline => IssuedKeyUsage::NonRepudiation,
    };
    issue_for_public_key(ca, &csr.attributes, &csr.spki_der, usage, validity, serial)
        .map_err(|e| e.to_string())
}

fn status_description(code: i64) -> &'static str {
    match code {
        100 => "Wniosek przyjęty do realizacji",
        200 => "Wniosek obsłużony (certyfikat wygenerowany)",
        400 => "Wniosek odrzucony",
        550 => "Operacja została anulowana przez system",
        _ => "Nieznany błąd",
    }
}

async fn enroll(
    State(state): State<AppState>,
    session: ContextSession,
    ApiJson(req): ApiJson<wire::EnrollCertificateRequest>,
) -> ApiResult<(StatusCode, axum::Json<wire::EnrollCertificateResponse>)> {
    let owner = owner(&session)?;
    if owner.by_token {
        return Err(ApiError::bad(
            ExceptionCode::EnrollmentNotAllowed,
            "Złożenie wniosku certyfikacyjnego nie jest dostępne dla uwierzytelnienia tokenem KSeF.",
        ));
    }
    let certificate_type = req
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let now = state.now();
    let not_before = match req.valid_from {
        Some(t) if t < now - VALID_FROM_TOLERANCE => {
            return Err(ApiError::validation(
                "validFrom: data rozpoczęcia ważności nie może być w przeszłości.",
            ));
        }
        Some(t) => t,
        None => now,
    };
    // checked_add: a far-future validFrom (year 9999) must be a 400, not a panic.
    let not_after = not_before
        .checked_add(Duration::days(CERTIFICATE_LIFETIME_DAYS))
        .ok_or_else(|| ApiError::validation("validFrom: data poza obsługiwanym zakresem."))?;
    let validity = Validity::new(not_before, not_after)
        .map_err(|e| ApiError::validation(format!("validFrom: {e}")))?;
    let csr_der = STANDARD.decode(req.csr.trim()).map_err(|e| {
        ApiError::bad(
            ExceptionCode::InvalidCsr,
            format!("csr: niepoprawny Base64: {e}"),
        )
    })?;

    // Checked here (a cheap refusal before the CSR work) and again inside the transaction.
    let max = subject_limits(&state, &owner).await?;
    over_limits(usage(&state, &owner).await?, max)?;

    let data = caller_enrollment_data(
        &state,
        &owner,
        ExceptionCode::EnrollmentNotAllowed,
        "Złożenie wniosku certyfikacyjnego",
    )
    .await?;
    let expected = expected_attributes(&data);
    let ca = ca(&state).await?;
    let ca_info = inspect_certificate(&ca.certificate_der).map_err(ApiError::internal)?;
    if validity.not_after > ca_info.not_after {
        return Err(ApiError::validation(
            "validFrom: certyfikat wykraczałby poza ważność certyfikatu CA.",
        ));
    }
    let serial = random_serial();
    let serial_hex = hex::encode_upper(serial);
    let (checked, der) = tokio::task::spawn_blocking(move || {
        let checked = check_csr(&csr_der, &expected)?;
        let der = issue(&ca, &checked, certificate_type, validity, &serial)
            .map_err(ApiError::internal)?;
        Ok::<_, ApiError>((checked, der))
    })
    .await
    .map_err(ApiError::internal)??;

    let reference = ReferenceNumber::generate(ReferenceKind::InvoiceExport, now).to_string();
    let ready = now + Duration::try_from(ENROLLMENT_PROCESSING).unwrap_or(Duration::ZERO);
    let public_key_hash = hex::encode_upper(ksef_crypto::sha256(&checked.spki_der));
    // One write transaction from the checks to the inserts (BEGIN IMMEDIATE): parallel
    // enrollments cannot all pass the limits or certify one key for two subjects.
    let mut tx = state.pool().begin_with("BEGIN IMMEDIATE").await?;
    over_limits(usage_in(&mut tx, &owner, now).await?, max)?;
    // "Klucz publiczny został już certyfikowany przez inny podmiot" (status 400).
    let foreign_key: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM ksef_certificates WHERE public_key_sha256 = ? \
         AND NOT (owner_type = ? AND owner_value = ?)",
    )
    .bind(&public_key_hash)
    .bind(owner.kind())
    .bind(owner.value())
    .fetch_one(&mut *tx)
    .await?;

    if foreign_key > 0 {
        sqlx::query(
            "INSERT INTO ksef_certificate_enrollments(reference_number, owner_type, owner_value, \
             request_ms, ready_ms, final_code, final_description, final_details) \
             VALUES (?, ?, ?, ?, ?, 400, ?, ?)",
        )
        .bind(&reference)
        .bind(owner.kind())
        .bind(owner.value())
        .bind(ms(now))
        .bind(ms(ready))
        .bind(status_description(400))
        .bind(r#"["Klucz publiczny został już certyfikowany przez inny podmiot."]"#)
        .execute(&mut *tx)
        .await?;
    } else {
        sqlx::query(
            "INSERT INTO ksef_certificate_enrollments(reference_number, owner_type, owner_value, \
             request_ms, ready_ms, final_code, final_description, certificate_serial) \
             VALUES (?, ?, ?, ?, ?, 200, ?, ?)",
        )
        .bind(&reference)
        .bind(owner.kind())
        .bind(owner.value())
        .bind(ms(now))
        .bind(ms(ready))
        .bind(status_description(200))
        .bind(&serial_hex)
        .execute(&mut *tx)
        .await?;
        sqlx::query(
            "INSERT INTO ksef_certificates(serial_number, owner_type, owner_value, name, \
             certificate_type, common_name, certificate_der, fingerprint, public_key_sha256, \
             valid_from_ms, valid_to_ms, request_ms, ready_ms) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        )
        .bind(&serial_hex)
        .bind(owner.kind())
        .bind(owner.value())
        .bind(&req.certificate_name)
        .bind(certificate_type.as_str())
        .bind(&data.common_name)
        .bind(&der)
        .bind(ksef_crypto::sha256_fingerprint_hex(&der))
        .bind(&public_key_hash)
        .bind(ms(validity.not_before))
        .bind(ms(validity.not_after))
        .bind(ms(now))
        .bind(ms(ready))
        .execute(&mut *tx)
        .await?;
    }
    tx.commit().await?;
    Ok((
        StatusCode::ACCEPTED,
        axum::Json(wire::EnrollCertificateResponse {
            reference_number: reference,
            timestamp: now,
        }),
    ))
}

async fn enrollment_status(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<axum::Json<wire::CertificateEnrollmentStatusResponse>> {
    let owner = owner(&session)?;
    let row = sqlx::query(
        "SELECT * FROM ksef_certificate_enrollments WHERE reference_number = ? \
         AND owner_type = ? AND owner_value = ?",
    )
    .bind(&reference)
    .bind(owner.kind())
    .bind(owner.value())
    .fetch_optional(state.pool())
    .await?
    .ok_or_else(|| {
        ApiError::bad(
            ExceptionCode::EnrollmentNotFound,
            format!("Wniosek certyfikacyjny {reference} nie istnieje."),
        )
    })?;
    let now = state.now();
    let requested = from_ms(row.get("request_ms"));
    if now > requested + Duration::days(ENROLLMENT_STATUS_RETENTION_DAYS) {
        return Err(ApiError::Gone(
            "Operacja wygasła i nie jest już dostępna.".into(),
        ));
    }
    let ready = now >= from_ms(row.get("ready_ms"));
    let (status, serial) = if ready {
        let code: i64 = row.get("final_code");
        let details: Vec<String> =
            serde_json::from_str(&row.get::<String, _>("final_details")).unwrap_or_default();
        let mut s = StatusInfo::new(
            i32::try_from(code).unwrap_or(500),
            row.get::<String, _>("final_description"),
        );
        if !details.is_empty() {
            s.details = Some(details);
        }
        (s, row.get::<Option<String>, _>("certificate_serial"))
    } else {
        (StatusInfo::new(100, status_description(100)), None)
    };
    Ok(axum::Json(wire::CertificateEnrollmentStatusResponse {
        request_date: requested,
        status,
        certificate_serial_number: serial,
    }))
}

// ---------------------------------------------------------------- retrieve, query, revoke

/// One stored certificate.
struct Stored {
    serial: String,
    name: String,
    certificate_type: String,
    common_name: String,
    der: Vec<u8>,
    valid_from: OffsetDateTime,
    valid_to: OffsetDateTime,
    request: OffsetDateTime,
    revoked: bool,
    last_use: Option<OffsetDateTime>,
}

/// The columns of `ksef_certificates` read into [`Stored`].
const CERTIFICATE_COLUMNS: &str = "serial_number, name, certificate_type, common_name, \
     certificate_der, valid_from_ms, valid_to_ms, request_ms, revoked_ms, last_use_ms";

impl FromRow<'_, SqliteRow> for Stored {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(Stored {
            serial: r.try_get("serial_number")?,
            name: r.try_get("name")?,
            certificate_type: r.try_get("certificate_type")?,
            common_name: r.try_get("common_name")?,
            der: r.try_get("certificate_der")?,
            valid_from: from_ms(r.try_get("valid_from_ms")?),
            valid_to: from_ms(r.try_get("valid_to_ms")?),
            request: from_ms(r.try_get("request_ms")?),
            revoked: r.try_get::<Option<i64>, _>("revoked_ms")?.is_some(),
            last_use: r.try_get::<Option<i64>, _>("last_use_ms")?.map(from_ms),
        })
    }
}

impl Stored {
    fn status(&self, now: OffsetDateTime) -> CertificateListItemStatus {
        if self.revoked {
            CertificateListItemStatus::Revoked
        } else if now > self.valid_to {
            CertificateListItemStatus::Expired
        } else {
            CertificateListItemStatus::Active
        }
    }
}

/// `SELECT` of the owner's issued certificates (enrollment processed at `now`); the caller
/// appends filters and `ORDER BY`.
fn owned_query(owner: &Owner, now: OffsetDateTime) -> QueryBuilder<Sqlite> {
    let mut qb = QueryBuilder::<Sqlite>::new("SELECT ");
    qb.push(CERTIFICATE_COLUMNS)
        .push(" FROM ksef_certificates WHERE owner_type = ")
        .push_bind(owner.kind())
        .push(" AND owner_value = ")
        .push_bind(owner.value().to_string())
        .push(" AND ready_ms <= ")
        .push_bind(ms(now));
    qb
}

/// Newest request first.
const OWNED_ORDER: &str = " ORDER BY request_ms DESC, serial_number";

/// The owner's issued certificates (enrollment processed), newest request first.
async fn owned(state: &AppState, owner: &Owner) -> ApiResult<Vec<Stored>> {
    let mut qb = owned_query(owner, state.now());
    qb.push(OWNED_ORDER);
    Ok(qb.build_query_as().fetch_all(state.pool()).await?)
}

/// Unix milliseconds rounded down (`t` is after instant `v` ms ⇔ `v` > this).
fn floor_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos().div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

/// Unix milliseconds rounded up (`t` is after instant `v` ms ⇔ `v` < this).
fn ceil_ms(t: OffsetDateTime) -> i64 {
    i64::try_from(-(-t.unix_timestamp_nanos()).div_euclid(1_000_000)).unwrap_or(i64::MAX)
}

async fn retrieve(
    State(state): State<AppState>,
    session: ContextSession,
    ApiJson(req): ApiJson<wire::RetrieveCertificatesRequest>,
) -> ApiResult<axum::Json<wire::RetrieveCertificatesResponse>> {
    let owner = owner(&session)?;
    req.validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let all = owned(&state, &owner).await?;
    let certificates = req
        .certificate_serial_numbers
        .iter()
        .filter_map(|s| all.iter().find(|c| &c.serial == s))
        .map(|c| wire::RetrieveCertificatesListItem {
            certificate: STANDARD.encode(&c.der),
            certificate_name: c.name.clone(),
            certificate_serial_number: c.serial.clone(),
            certificate_type: OpenEnum::from_wire(&c.certificate_type),
        })
        .collect();
    Ok(axum::Json(wire::RetrieveCertificatesResponse {
        certificates,
    }))
}

async fn query(
    State(state): State<AppState>,
    session: ContextSession,
    RawQuery(raw): RawQuery,
    body: Bytes,
) -> ApiResult<axum::Json<wire::QueryCertificatesResponse>> {
    let owner = owner(&session)?;
    let params: Vec<(String, String)> =
        form_urlencoded::parse(raw.as_deref().unwrap_or("").as_bytes())
            .into_owned()
            .collect();
    let param = |n: &str| params.iter().find(|(k, _)| k == n).map(|(_, v)| v.as_str());
    let size = page_size(param("pageSize"), 10, 50, 10)?;
    let offset = match param("pageOffset") {
        None => 0,
        Some(v) => v.parse::<usize>().map_err(|_| {
            ApiError::validation(format!("pageOffset: wymagana liczba ≥ 0, podano {v:?}."))
        })?,
    };
    let req: wire::QueryCertificatesRequest = if body.iter().all(u8::is_ascii_whitespace) {
        wire::QueryCertificatesRequest::default()
    } else {
        parse_json(&body)?
    };
    let filter = req
        .validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let now = state.now();
    // Every filter but the name is a column comparison in SQL ([`Stored::status`] spelled out:
    // revoked, else expired once `now` is past `valid_to`, else active).
    let mut qb = owned_query(&owner, now);
    if let Some(serial) = &filter.serial_number {
        qb.push(" AND serial_number = ").push_bind(serial.clone());
    }
    if let Some(t) = filter.certificate_type {
        qb.push(" AND certificate_type = ").push_bind(t.as_str());
    }
    match filter.status {
        None => {}
        Some(CertificateListItemStatus::Revoked) => {
            qb.push(" AND revoked_ms IS NOT NULL");
        }
        Some(CertificateListItemStatus::Expired) => {
            qb.push(" AND revoked_ms IS NULL AND valid_to_ms < ")
                .push_bind(ceil_ms(now));
        }
        Some(CertificateListItemStatus::Active) => {
            qb.push(" AND revoked_ms IS NULL AND valid_to_ms >= ")
                .push_bind(ceil_ms(now));
        }
        // No stored certificate is ever Blocked.
        Some(_) => {
            qb.push(" AND 0");
        }
    }
    if let Some(t) = filter.expires_after {
        qb.push(" AND valid_to_ms > ").push_bind(floor_ms(t));
    }
    qb.push(OWNED_ORDER);
    let start = offset.saturating_mul(size);
    let (page, has_more): (Vec<Stored>, bool) = match &filter.name {
        None => {
            qb.push(" LIMIT ")
                .push_bind(i64::try_from(size.saturating_add(1)).unwrap_or(i64::MAX))
                .push(" OFFSET ")
                .push_bind(i64::try_from(start).unwrap_or(i64::MAX));
            let mut rows: Vec<Stored> = qb.build_query_as().fetch_all(state.pool()).await?;
            let has_more = rows.len() > size;
            rows.truncate(size);
            (rows, has_more)
        }
        // The name filter is a Unicode case-insensitive substring match (Polish letters
        // included); SQLite's lower()/LIKE fold ASCII only, so this one filter stays in Rust
        // and the page is cut after it.
        Some(name) => {
            let name = name.to_lowercase();
            let matching: Vec<Stored> = qb
                .build_query_as::<Stored>()
                .fetch_all(state.pool())
                .await?
                .into_iter()
                .filter(|c| c.name.to_lowercase().contains(&name))
                .collect();
            let has_more = matching.len() > start.saturating_add(size);
            (
                matching.into_iter().skip(start).take(size).collect(),
                has_more,
            )
        }
    };
    let certificates = page
        .into_iter()
        .map(|c| wire::CertificateListItem {
            status: OpenEnum::Known(c.status(now)),
            certificate_serial_number: c.serial,
            name: c.name,
            r#type: OpenEnum::from_wire(&c.certificate_type),
            common_name: c.common_name,
            subject_identifier: wire::CertificateSubjectIdentifier::new(
                owner.subject.kind(),
                owner.value(),
            ),
            valid_from: c.valid_from,
            valid_to: c.valid_to,
            last_use_date: c.last_use,
            request_date: c.request,
        })
        .collect();
    Ok(axum::Json(wire::QueryCertificatesResponse {
        certificates,
        has_more,
    }))
}

async fn revoke(
    State(state): State<AppState>,
    session: ContextSession,
    ApiPath(serial): ApiPath,
    body: Bytes,
) -> ApiResult<StatusCode> {
    let owner = owner(&session)?;
    if owner.by_token {
        return Err(ApiError::validation(
            "Unieważnienie certyfikatu nie jest dostępne dla podmiotu uwierzytelnionego tokenem KSeF.",
        ));
    }
    if !wire::is_certificate_serial_number(&serial) {
        return Err(ApiError::validation(
            "certificateSerialNumber: wymagane 16 cyfr szesnastkowych (0-9, A-F).",
        ));
    }
    let req: wire::RevokeCertificateRequest = if body.iter().all(u8::is_ascii_whitespace) {
        wire::RevokeCertificateRequest::default()
    } else {
        parse_json(&body)?
    };
    let reason = match &req.revocation_reason {
        None => wire::CertificateRevocationReason::Unspecified,
        Some(r) => r
            .require("revocationReason")
            .map_err(|e| ApiError::validation(e.to_string()))?,
    };
    let now = state.now();
    let certificate = owned(&state, &owner)
        .await?
        .into_iter()
        .find(|c| c.serial == serial)
        .ok_or_else(|| {
            ApiError::bad(
                ExceptionCode::CertificateNotFound,
                format!("Certyfikat {serial} nie istnieje."),
            )
        })?;
    if certificate.status(now) != CertificateListItemStatus::Active {
        return Err(ApiError::bad(
            ExceptionCode::CertificateNotRevocable,
            format!("Certyfikat {serial} ma status {}.", certificate.status(now)),
        ));
    }
    let done = sqlx::query(
        "UPDATE ksef_certificates SET revoked_ms = ?, revocation_reason = ? \
         WHERE serial_number = ? AND revoked_ms IS NULL",
    )
    .bind(ms(now))
    .bind(reason.as_str())
    .bind(&serial)
    .execute(state.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(ApiError::bad(
            ExceptionCode::CertificateNotRevocable,
            format!("Certyfikat {serial} jest już unieważniony."),
        ));
    }
    Ok(StatusCode::NO_CONTENT)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn serials_are_16_hex_digits() {
        for _ in 0..200 {
            let s = random_serial();
            assert!(s[0] >= 1 && s[0] < 0x80);
            assert!(wire::is_certificate_serial_number(&hex::encode_upper(s)));
        }
    }

    #[test]
    fn enrollment_data_of_person_and_seal() {
        let nip = ksef_core::Nip::random();
        let person = ksef_crypto::testcert::make_test_certificate(
            &ksef_crypto::testcert::TestSubject::person_nip(nip.clone(), "Jan", "Kowalski"),
            KeyAlgorithm::EcP256,
        )
        .unwrap();
        let d = enrollment_data_of(&person.info().unwrap());
        assert_eq!(
            d.serial_number.as_deref(),
            Some(format!("TINPL-{nip}").as_str())
        );
        assert_eq!(d.given_name.as_deref(), Some("Jan"));
        assert_eq!(d.country_name, "PL");
        assert!(d.organization_identifier.is_none());
        let seal = ksef_crypto::testcert::make_test_certificate(
            &ksef_crypto::testcert::TestSubject::seal(nip.clone(), "Firma"),
            KeyAlgorithm::EcP256,
        )
        .unwrap();
        let d = enrollment_data_of(&seal.info().unwrap());
        assert_eq!(
            d.organization_identifier.as_deref(),
            Some(format!("VATPL-{nip}").as_str())
        );
        assert!(d.given_name.is_none() && d.serial_number.is_none());
        assert_eq!(expected_attributes(&d).len(), 4);
    }

    #[test]
    fn garbage_csr_is_25004() {
        let e = check_csr(b"not a csr", &[]).unwrap_err();
        assert_eq!(e.codes(), vec![25004]);
    }
}
