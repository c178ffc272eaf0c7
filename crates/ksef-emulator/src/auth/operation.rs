//! The authentication operations (`auth_operations`): an operation started by a login, which
//! after redeem is the authentication session behind access and refresh tokens. This module owns
//! the table: the statuses, methods and IP policies stored with an operation, and its SQL.

use std::net::IpAddr;

use ksef_core::{
    AuthenticationMethod, AuthenticationMethodCategory, ContextIdentifier, ContextIdentifierType,
    ReferenceKind, ReferenceNumber, SubjectIdentifier,
};
use ksef_crypto::identity::{CertificateInfo, CertificateKind};
use ksef_xades::auth_request::AuthorizationPolicy;
use serde::{Deserialize, Serialize};
use sqlx::Row;
use time::OffsetDateTime;

use crate::error::{ApiError, ApiResult, ForbiddenReason};
use crate::jwt::TokenType;
use crate::state::AppState;
use crate::store::{from_ms, ms};

/// Final and intermediate authentication statuses with their official descriptions (digest §4.8).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuthStatus {
    pub code: u16,
    pub description: &'static str,
    pub details: Vec<String>,
}

impl AuthStatus {
    fn new(code: u16, details: &[&str]) -> Self {
        let description = match code {
            100 => "Uwierzytelnianie w toku",
            200 => "Uwierzytelnianie zakończone sukcesem",
            415 => "Uwierzytelnianie zakończone niepowodzeniem",
            425 => "Uwierzytelnienie unieważnione",
            450 => "Uwierzytelnianie zakończone niepowodzeniem z powodu błędnego tokenu",
            460 => "Uwierzytelnianie zakończone niepowodzeniem z powodu błędu certyfikatu",
            470 => "Uwierzytelnianie zakończone niepowodzeniem",
            480 => "Uwierzytelnienie zablokowane",
            550 => "Operacja została anulowana przez system",
            _ => "Nieznany błąd",
        };
        Self {
            code,
            description,
            details: details.iter().map(|s| s.to_string()).collect(),
        }
    }
    pub fn in_progress() -> Self {
        Self::new(100, &[])
    }
    pub fn success() -> Self {
        Self::new(200, &[])
    }
    pub fn no_permissions() -> Self {
        Self::new(415, &["Brak przypisanych uprawnień"])
    }
    pub fn revoked() -> Self {
        Self::new(
            425,
            &["Sesja uwierzytelnienia i jej tokeny odświeżające zostały unieważnione"],
        )
    }
    pub fn bad_token(detail: &str) -> Self {
        Self::new(450, &[detail])
    }
    pub fn certificate(detail: &str) -> Self {
        Self::new(460, &[detail])
    }
    pub fn deceased() -> Self {
        Self::new(
            470,
            &["Próba wykorzystania metod autoryzacyjnych osoby zmarłej"],
        )
    }
    pub fn blocked() -> Self {
        Self::new(
            480,
            &["Uwierzytelnianie w tym kontekście zostało zablokowane"],
        )
    }
}

/// The IP policy stored with an authentication (JSON names as in the API).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StoredIpPolicy {
    #[serde(default)]
    pub ip4_addresses: Vec<String>,
    #[serde(default)]
    pub ip4_ranges: Vec<String>,
    #[serde(default)]
    pub ip4_masks: Vec<String>,
}

impl StoredIpPolicy {
    pub(crate) fn from_policy(p: &AuthorizationPolicy) -> Self {
        Self {
            ip4_addresses: p.ip4_addresses.clone(),
            ip4_ranges: p.ip4_ranges.clone(),
            ip4_masks: p.ip4_masks.clone(),
        }
    }
    fn to_policy(&self) -> AuthorizationPolicy {
        AuthorizationPolicy {
            ip4_addresses: self.ip4_addresses.clone(),
            ip4_ranges: self.ip4_ranges.clone(),
            ip4_masks: self.ip4_masks.clone(),
        }
    }
    /// Whether a request from `ip` may use tokens of this authentication.
    pub fn allows(&self, ip: IpAddr) -> bool {
        match ip {
            IpAddr::V4(v4) => self.to_policy().allows(v4),
            IpAddr::V6(v6) => v6
                .to_ipv4_mapped()
                .is_some_and(|v4| self.to_policy().allows(v4)),
        }
    }
}

/// How a subject authenticated: the API's method plus the newer `authenticationMethodInfo`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MethodInfo {
    pub method: AuthenticationMethod,
    pub code: &'static str,
    pub display_name: &'static str,
}

impl MethodInfo {
    pub fn token() -> Self {
        Self {
            method: AuthenticationMethod::Token,
            code: "token.ksef",
            display_name: "Token KSeF",
        }
    }
    /// `issued_by_trusted_profile`: the certificate was issued by the emulator's simulated
    /// Profil Zaufany CA (see [`issued_by_trusted_profile`]).
    pub(crate) fn for_certificate(info: &CertificateInfo, issued_by_trusted_profile: bool) -> Self {
        match info.kind {
            CertificateKind::Person if issued_by_trusted_profile => Self::trusted_profile(),
            CertificateKind::Seal => Self {
                method: AuthenticationMethod::QualifiedSeal,
                code: "xades.qualified-seal",
                display_name: "Pieczęć kwalifikowana",
            },
            _ => Self {
                method: AuthenticationMethod::QualifiedSignature,
                code: "xades.qualified-signature",
                display_name: "Podpis kwalifikowany",
            },
        }
    }
    /// A KSeF certificate issued by the emulator (digest §4.5: method `InternalCertificate`;
    /// the `authenticationMethodInfo` code is not documented, this one is the emulator's).
    pub fn ksef_certificate() -> Self {
        Self {
            method: AuthenticationMethod::InternalCertificate,
            code: "xades.ksef-certificate",
            display_name: "Certyfikat KSeF",
        }
    }
    /// A Profil Zaufany signature (digest §4.5: method `TrustedProfile`).
    pub fn trusted_profile() -> Self {
        Self {
            method: AuthenticationMethod::TrustedProfile,
            code: "xades.trusted-profile",
            display_name: "Profil zaufany",
        }
    }
    pub fn category(&self) -> AuthenticationMethodCategory {
        if self.method == AuthenticationMethod::Token {
            AuthenticationMethodCategory::Token
        } else {
            AuthenticationMethodCategory::XadesSignature
        }
    }
    fn from_stored(method: &str, code: &str, display: &str) -> Self {
        let method = method
            .parse()
            .unwrap_or(AuthenticationMethod::QualifiedSignature);
        let code = KNOWN_CODES
            .iter()
            .find(|c| c.0 == code)
            .map(|c| c.0)
            .unwrap_or("xades.qualified-signature");
        let display_name = KNOWN_CODES
            .iter()
            .find(|c| c.1 == display)
            .map(|c| c.1)
            .unwrap_or("Podpis kwalifikowany");
        Self {
            method,
            code,
            display_name,
        }
    }
}

const KNOWN_CODES: &[(&str, &str)] = &[
    ("token.ksef", "Token KSeF"),
    ("xades.qualified-seal", "Pieczęć kwalifikowana"),
    ("xades.qualified-signature", "Podpis kwalifikowany"),
    ("xades.trusted-profile", "Profil zaufany"),
    ("xades.ksef-certificate", "Certyfikat KSeF"),
];

/// One row of `auth_operations`: an authentication operation, which after redeem is the
/// authentication session.
#[derive(Debug, Clone)]
pub struct AuthOperation {
    pub reference_number: String,
    pub started: OffsetDateTime,
    pub ready: OffsetDateTime,
    pub context: Option<ContextIdentifier>,
    pub subject: Option<SubjectIdentifier>,
    pub method: MethodInfo,
    pub ksef_token_ref: Option<String>,
    pub final_status: AuthStatus,
    pub ip_policy: Option<StoredIpPolicy>,
    pub redeemed: bool,
    pub last_refresh: Option<OffsetDateTime>,
    pub refresh_valid_until: Option<OffsetDateTime>,
    pub revoked: bool,
}

impl AuthOperation {
    /// The status a client sees now.
    pub fn status_at(&self, now: OffsetDateTime) -> AuthStatus {
        if now < self.ready {
            AuthStatus::in_progress()
        } else if self.revoked && self.final_status.code == 200 {
            AuthStatus::revoked()
        } else {
            self.final_status.clone()
        }
    }
}

pub async fn load_operation(state: &AppState, reference: &str) -> ApiResult<Option<AuthOperation>> {
    let Some(r) = sqlx::query("SELECT * FROM auth_operations WHERE reference_number = ?")
        .bind(reference)
        .fetch_optional(state.pool())
        .await?
    else {
        return Ok(None);
    };
    let ctx_type: String = r.get("context_type");
    let ctx_value: String = r.get("context_value");
    let context = ctx_type
        .parse::<ContextIdentifierType>()
        .ok()
        .and_then(|k| ContextIdentifier::parse(k, &ctx_value).ok());
    let subject_type: String = r.get("subject_type");
    let subject_value: String = r.get("subject_value");
    let subject = subject_type
        .parse()
        .ok()
        .and_then(|k| SubjectIdentifier::parse(k, &subject_value).ok());
    let code: i64 = r.get("final_code");
    let details: Vec<String> =
        serde_json::from_str(&r.get::<String, _>("final_details")).unwrap_or_default();
    let detail_refs: Vec<&str> = details.iter().map(String::as_str).collect();
    let ip_policy: Option<String> = r.get("ip_policy");
    Ok(Some(AuthOperation {
        reference_number: r.get("reference_number"),
        started: from_ms(r.get("started_ms")),
        ready: from_ms(r.get("ready_ms")),
        context,
        subject,
        method: MethodInfo::from_stored(
            r.get("method"),
            r.get("method_code"),
            r.get("method_display"),
        ),
        ksef_token_ref: r.get("ksef_token_ref"),
        final_status: AuthStatus::new(u16::try_from(code).unwrap_or(500), &detail_refs),
        ip_policy: ip_policy.and_then(|p| serde_json::from_str(&p).ok()),
        redeemed: r.get::<i64, _>("redeemed") != 0,
        last_refresh: r.get::<Option<i64>, _>("last_refresh_ms").map(from_ms),
        refresh_valid_until: r
            .get::<Option<i64>, _>("refresh_valid_until_ms")
            .map(from_ms),
        revoked: r.get::<i64, _>("revoked") != 0,
    }))
}

/// Checks the IP policy of the session behind an access token.
pub fn check_ip(op: &AuthOperation, client_ip: IpAddr) -> ApiResult<()> {
    if let Some(policy) = &op.ip_policy
        && !policy.allows(client_ip)
    {
        return Err(ApiError::forbidden(
            ForbiddenReason::IpNotAllowed,
            format!(
                "Adres IP {client_ip} nie jest dozwolony przez politykę autoryzacji tej sesji."
            ),
            serde_json::json!({ "clientIp": client_ip.to_string() }),
        ));
    }
    Ok(())
}

/// The answer to an auth init call (`AuthenticationInitResponse`).
pub struct AuthInit {
    pub reference_number: String,
    pub authentication_token: String,
    pub valid_until: OffsetDateTime,
}

pub(crate) struct NewOperation<'a> {
    pub(crate) context: &'a ContextIdentifier,
    pub(crate) subject_type: &'a str,
    pub(crate) subject_value: &'a str,
    pub(crate) method: MethodInfo,
    pub(crate) ksef_token_ref: Option<&'a str>,
    pub(crate) status: AuthStatus,
    pub(crate) ip_policy: Option<StoredIpPolicy>,
    pub(crate) signed_document: Option<&'a [u8]>,
}

pub(crate) async fn insert_operation(
    state: &AppState,
    op: NewOperation<'_>,
) -> ApiResult<AuthInit> {
    let now = state.now();
    let reference = ReferenceNumber::generate(ReferenceKind::AuthenticationOperation, now);
    let ready = now + state.config().auth_processing_delay;
    let details = serde_json::to_string(&op.status.details).map_err(ApiError::internal)?;
    let policy = op
        .ip_policy
        .as_ref()
        .map(serde_json::to_string)
        .transpose()
        .map_err(ApiError::internal)?;
    sqlx::query(
        "INSERT INTO auth_operations(reference_number, started_ms, ready_ms, context_type, context_value, \
         subject_type, subject_value, method, method_code, method_display, ksef_token_ref, final_code, \
         final_description, final_details, ip_policy, signed_document) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(reference.as_str())
    .bind(ms(now))
    .bind(ms(ready))
    .bind(op.context.kind().as_str())
    .bind(op.context.value())
    .bind(op.subject_type)
    .bind(op.subject_value)
    .bind(op.method.method.as_str())
    .bind(op.method.code)
    .bind(op.method.display_name)
    .bind(op.ksef_token_ref)
    .bind(i64::from(op.status.code))
    .bind(op.status.description)
    .bind(details)
    .bind(policy)
    .bind(op.signed_document)
    .execute(state.pool())
    .await?;
    let (token, valid_until) = state
        .jwt()
        .issue(
            TokenType::AuthenticationToken,
            reference.as_str(),
            op.context.kind().as_str(),
            op.context.value(),
            op.method.method.as_str(),
            Vec::new(),
            now,
            state.config().authentication_token_lifetime,
        )
        .map_err(ApiError::internal)?;
    Ok(AuthInit {
        reference_number: reference.to_string(),
        authentication_token: token,
        valid_until,
    })
}

/// Marks an operation redeemed (once) with the refresh token's validity; `false` when it was
/// already redeemed.
pub(crate) async fn mark_redeemed(
    state: &AppState,
    reference: &str,
    refresh_valid_until: OffsetDateTime,
) -> ApiResult<bool> {
    let done = sqlx::query("UPDATE auth_operations SET redeemed = 1, refresh_valid_until_ms = ? WHERE reference_number = ? AND redeemed = 0")
        .bind(ms(refresh_valid_until))
        .bind(reference)
        .execute(state.pool())
        .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a refresh of the session's access token at `now`.
pub(crate) async fn record_refresh(
    state: &AppState,
    reference: &str,
    now: OffsetDateTime,
) -> ApiResult<()> {
    sqlx::query("UPDATE auth_operations SET last_refresh_ms = ? WHERE reference_number = ?")
        .bind(ms(now))
        .bind(reference)
        .execute(state.pool())
        .await?;
    Ok(())
}
