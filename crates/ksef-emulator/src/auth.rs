//! Authentication (digest §4): challenges, XAdES and KSeF-token logins, asynchronous status,
//! redeem/refresh, authentication sessions and their revocation.

use std::net::IpAddr;

use ksef_core::{
    AuthenticationMethod, AuthenticationMethodCategory, ContextIdentifier, ContextIdentifierType,
    KsefToken, Permission, PermissionSet, ReferenceKind, ReferenceNumber, SubjectIdentifier,
    TokenStatus,
};
use ksef_crypto::identity::{CertificateInfo, CertificateKind};
use ksef_xades::auth_request::{AuthTokenRequest, AuthorizationPolicy, SubjectIdentifierType};
use ksef_xades::signature::{VerifyOptions, verify_enveloped};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use sqlx::{QueryBuilder, Row, Sqlite};
use time::OffsetDateTime;

use crate::certificates::AuthenticationUse as KsefCertificateUse;
use crate::config::TrustPolicy;
use crate::error::{ApiError, ApiResult, ForbiddenReason};
use crate::jwt::{Claims, TokenType};
use crate::permissions;
use crate::state::{AppState, KeyUsage};
use crate::store::{from_ms, ms};
use crate::tokens::{self, Caller};
use ksef_wire::ExceptionCode;

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
    fn from_policy(p: &AuthorizationPolicy) -> Self {
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
    fn for_certificate(info: &CertificateInfo, issued_by_trusted_profile: bool) -> Self {
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

/// Loads an operation or answers 400/21304.
async fn require_operation(state: &AppState, reference: &str) -> ApiResult<AuthOperation> {
    load_operation(state, reference).await?.ok_or_else(|| {
        ApiError::bad(
            ExceptionCode::AuthenticationNotFound,
            format!("Brak operacji uwierzytelnienia {reference}."),
        )
    })
}

/// A freshly issued challenge.
pub struct Challenge {
    pub challenge: ReferenceNumber,
    pub timestamp: OffsetDateTime,
    pub timestamp_ms: i64,
    pub client_ip: String,
}

pub async fn create_challenge(state: &AppState, client_ip: IpAddr) -> ApiResult<Challenge> {
    let now = state.now();
    let challenge = ReferenceNumber::generate(ReferenceKind::Challenge, now);
    let timestamp_ms = ms(now);
    // Keep the table small: drop challenges that expired a day ago.
    let horizon = timestamp_ms - 24 * 3600 * 1000;
    sqlx::query("DELETE FROM challenges WHERE timestamp_ms < ?")
        .bind(horizon)
        .execute(state.pool())
        .await?;
    sqlx::query("INSERT INTO challenges(challenge, timestamp_ms, client_ip) VALUES (?, ?, ?)")
        .bind(challenge.as_str())
        .bind(timestamp_ms)
        .bind(client_ip.to_string())
        .execute(state.pool())
        .await?;
    Ok(Challenge {
        challenge,
        timestamp: from_ms(timestamp_ms),
        timestamp_ms,
        client_ip: client_ip.to_string(),
    })
}

/// Marks a challenge used; refuses unknown, expired and reused ones with 21111. Returns its
/// `timestampMs`.
async fn consume_challenge(state: &AppState, challenge: &str) -> ApiResult<i64> {
    let now = ms(state.now());
    let lifetime = i64::try_from(state.config().challenge_lifetime.as_millis()).unwrap_or(i64::MAX);
    let row: Option<(i64, i64)> =
        sqlx::query_as("SELECT timestamp_ms, used FROM challenges WHERE challenge = ?")
            .bind(challenge)
            .fetch_optional(state.pool())
            .await?;
    let bad = |d: String| ApiError::bad(ExceptionCode::InvalidChallenge, d);
    let Some((ts, used)) = row else {
        return Err(bad(format!(
            "Wyzwanie {challenge} nie zostało wydane przez ten system."
        )));
    };
    if used != 0 {
        return Err(bad(format!(
            "Wyzwanie {challenge} zostało już wykorzystane (jest jednorazowe)."
        )));
    }
    if now > ts.saturating_add(lifetime) {
        return Err(bad(format!(
            "Wyzwanie {challenge} wygasło (ważne {} s od wydania).",
            state.config().challenge_lifetime.as_secs()
        )));
    }
    let done = sqlx::query("UPDATE challenges SET used = 1 WHERE challenge = ? AND used = 0")
        .bind(challenge)
        .execute(state.pool())
        .await?;
    if done.rows_affected() != 1 {
        return Err(bad(format!(
            "Wyzwanie {challenge} zostało już wykorzystane (jest jednorazowe)."
        )));
    }
    Ok(ts)
}

/// The answer to an auth init call (`AuthenticationInitResponse`).
pub struct AuthInit {
    pub reference_number: String,
    pub authentication_token: String,
    pub valid_until: OffsetDateTime,
}

struct NewOperation<'a> {
    context: &'a ContextIdentifier,
    subject_type: &'a str,
    subject_value: &'a str,
    method: MethodInfo,
    ksef_token_ref: Option<&'a str>,
    status: AuthStatus,
    ip_policy: Option<StoredIpPolicy>,
    signed_document: Option<&'a [u8]>,
}

async fn insert_operation(state: &AppState, op: NewOperation<'_>) -> ApiResult<AuthInit> {
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

/// Outcome of the checks KSeF does asynchronously for a subject in a context.
async fn authorization_outcome(
    state: &AppState,
    subject: &SubjectIdentifier,
    context: &ContextIdentifier,
    restrict_to: Option<&PermissionSet>,
) -> ApiResult<AuthStatus> {
    let pool = state.pool();
    if permissions::is_blocked(pool, context).await? {
        return Ok(AuthStatus::blocked());
    }
    if permissions::is_deceased(pool, subject).await? {
        return Ok(AuthStatus::deceased());
    }
    let mut held = permissions::effective_permissions(pool, subject, context).await?;
    if let Some(limit) = restrict_to {
        held = held.intersection(limit);
    }
    Ok(if held.is_empty() {
        AuthStatus::no_permissions()
    } else {
        AuthStatus::success()
    })
}

/// `POST /auth/xades-signature`.
pub async fn xades_signature(
    state: &AppState,
    body: &[u8],
    verify_certificate_chain: bool,
    enforce_xades: bool,
) -> ApiResult<AuthInit> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Err(ApiError::bad(
            ExceptionCode::UnreadableContent,
            "Treść żądania jest pusta.",
        ));
    }
    let strict = enforce_xades || state.config().strict_xades;
    let verified = verify_enveloped(
        body,
        &VerifyOptions {
            strict_xades: strict,
        },
    )
    .map_err(|e| {
        let code =
            ExceptionCode::from_code(e.ksef_code()).unwrap_or(ExceptionCode::InvalidSignature);
        ApiError::bad(code, e.to_string())
    })?;
    let (request, _ns) = AuthTokenRequest::parse(body)
        .map_err(|e| ApiError::bad(ExceptionCode::SchemaViolation, e.to_string()))?;
    consume_challenge(state, &request.challenge).await?;

    let info = ksef_crypto::identity::inspect_certificate(&verified.signer_certificate_der)
        .map_err(|e| ApiError::bad(ExceptionCode::InvalidCertificate, e.to_string()))?;
    check_key_strength(&info)?;
    let context = &request.context;
    let subject = match request.subject_identifier_type {
        SubjectIdentifierType::CertificateSubject => {
            if matches!(context, ContextIdentifier::NipVatUe(_)) {
                return Err(ApiError::bad(
                    ExceptionCode::InvalidSubjectForContextType,
                    "W kontekście NipVatUe uwierzytelnia się wyłącznie odcisk palca certyfikatu \
                     (SubjectIdentifierType = certificateFingerprint).",
                ));
            }
            match (&info.nip, &info.pesel) {
                (Some(nip), _) => SubjectIdentifier::Nip(nip.clone()),
                (None, Some(pesel)) => SubjectIdentifier::Pesel(pesel.clone()),
                (None, None) => {
                    let why = info.identifier_problem.clone().unwrap_or_else(|| {
                        "no NIP (TINPL-/VATPL-) or PESEL (PNOPL-) in the certificate subject".into()
                    });
                    return Err(ApiError::bad(
                        ExceptionCode::SignatureAuthTypeConflict,
                        format!(
                            "certificateSubject requires a NIP or PESEL in the certificate: {why}"
                        ),
                    ));
                }
            }
        }
        SubjectIdentifierType::CertificateFingerprint => {
            SubjectIdentifier::fingerprint(&info.fingerprint)
                .map_err(|e| ApiError::bad(ExceptionCode::InvalidCertificate, e.to_string()))?
        }
    };

    let trusted_profile = issued_by_trusted_profile(state, &verified.signer_certificate_der);
    // KSeF certificates issued by the emulator's own CA are trusted under every policy (like the
    // simulated Profil Zaufany); revoked or Offline ones fail with 460.
    let ksef_certificate =
        crate::certificates::authentication_use(state, &verified.signer_certificate_der).await?;
    let method = match ksef_certificate {
        KsefCertificateUse::NotKsef => MethodInfo::for_certificate(&info, trusted_profile),
        _ => MethodInfo::ksef_certificate(),
    };
    let status = match ksef_certificate {
        KsefCertificateUse::Refused(detail) => AuthStatus::certificate(detail),
        _ => match certificate_trust(
            state,
            &info,
            &verified.signer_certificate_der,
            verify_certificate_chain,
            ksef_certificate == KsefCertificateUse::Usable,
        ) {
            Some(failure) => failure,
            None => authorization_outcome(state, &subject, context, None).await?,
        },
    };
    // lastUseDate of a KSeF certificate moves only with a successful login.
    if ksef_certificate == KsefCertificateUse::Usable && status.code == 200 {
        crate::certificates::record_use(state, &verified.signer_certificate_der).await?;
    }
    insert_operation(
        state,
        NewOperation {
            context,
            subject_type: subject.kind().as_str(),
            subject_value: subject.value(),
            method,
            ksef_token_ref: None,
            status,
            ip_policy: request
                .authorization_policy
                .as_ref()
                .map(StoredIpPolicy::from_policy),
            signed_document: Some(body),
        },
    )
    .await
}

fn check_key_strength(info: &CertificateInfo) -> ApiResult<()> {
    // `key_algorithm` is set only for the accepted kinds (RSA 2048/3072/4096, EC P-256).
    match info.key_algorithm {
        Some(_) => Ok(()),
        None => Err(ApiError::bad(
            ExceptionCode::InvalidCertificate,
            format!(
                "Nieobsługiwany klucz certyfikatu: {} (wymagany RSA ≥ 2048 lub EC P-256).",
                info.key_algorithm_name
            ),
        )),
    }
}

/// Whether `der` was issued (signed) by the emulator's simulated Profil Zaufany CA, and that
/// simulation is enabled. The CA certificate itself does not count (it is not a signer).
/// This only names the method (`TrustedProfile`); whether the certificate is trusted is
/// `certificate_trust`'s decision.
pub fn issued_by_trusted_profile(state: &AppState, der: &[u8]) -> bool {
    if !state.config().simulated_trusted_profile_enabled() {
        return false;
    }
    let ca = &state.trusted_profile_ca().certificate_der;
    der != ca.as_slice() && ksef_crypto::identity::verify_issued_by(der, ca).is_ok()
}

/// Certificate validity and trust (asynchronous in KSeF → status 460). `None` = fine.
///
/// `ksef_certificate`: a usable KSeF certificate issued by the emulator's own KSeF CA, trusted
/// under every policy. The simulated Profil Zaufany CA (when the simulation is on) is trusted
/// like this: without a trust list (TEST) its certificates pass also with
/// `verifyCertificateChain=true`, the way KSeF trusts the real Profil Zaufany seal; with a
/// trust list it is one more trusted CA, checked exactly like the listed ones (no bypass).
fn certificate_trust(
    state: &AppState,
    info: &CertificateInfo,
    der: &[u8],
    verify_chain: bool,
    ksef_certificate: bool,
) -> Option<AuthStatus> {
    if info.check_validity(state.now()).is_err() {
        return Some(AuthStatus::certificate("Nieważny certyfikat"));
    }
    if ksef_certificate {
        return None;
    }
    let untrusted = || Some(AuthStatus::certificate("Niezaufany łańcuch certyfikatów"));
    match &state.config().trust_policy {
        TrustPolicy::AcceptSelfSigned if !verify_chain => None,
        TrustPolicy::AcceptSelfSigned => {
            if issued_by_trusted_profile(state, der) {
                None
            } else {
                untrusted()
            }
        }
        TrustPolicy::TrustedCas(cas) => {
            let simulated = state
                .config()
                .simulated_trusted_profile_enabled()
                .then(|| state.trusted_profile_ca().certificate_der.as_slice());
            if cas
                .iter()
                .map(Vec::as_slice)
                .chain(simulated)
                .any(|ca| ksef_crypto::identity::verify_issued_by(der, ca).is_ok())
            {
                None
            } else {
                untrusted()
            }
        }
    }
}

/// Input of `POST /auth/ksef-token`, already shape-validated by the handler.
pub struct KsefTokenLogin {
    pub challenge: String,
    pub context: ContextIdentifier,
    pub encrypted_token: Vec<u8>,
    pub public_key_id: Option<String>,
    pub ip_policy: Option<StoredIpPolicy>,
}

/// `POST /auth/ksef-token`.
pub async fn ksef_token(state: &AppState, login: KsefTokenLogin) -> ApiResult<AuthInit> {
    let key = state.key(KeyUsage::KsefTokenEncryption);
    if let Some(id) = &login.public_key_id
        && *id != key.public_key_id()
    {
        return Err(ApiError::bad(
            ExceptionCode::UnknownPublicKey,
            format!("publicKeyId {id} nie wskazuje aktualnego klucza KsefTokenEncryption."),
        ));
    }
    let challenge_ts = consume_challenge(state, &login.challenge).await?;
    let mut subject: Option<SubjectIdentifier> = None;
    let mut token_ref: Option<String> = None;
    let status =
        match ksef_crypto::envelope::rsa_oaep_sha256_decrypt(key.key(), &login.encrypted_token) {
            Err(_) => AuthStatus::bad_token("Nieprawidłowy token"),
            Ok(plain) => {
                match check_token_plaintext(state, &plain, challenge_ts, &login.context).await? {
                    Err(status) => status,
                    Ok(found) => {
                        subject = Some(found.author.clone());
                        token_ref = Some(found.reference_number.clone());
                        tokens::touch_last_use(state, &found.reference_number).await?;
                        authorization_outcome(
                            state,
                            &found.author,
                            &login.context,
                            Some(&found.permissions),
                        )
                        .await?
                    }
                }
            }
        };
    let (st, sv) = subject
        .as_ref()
        .map(|s| (s.kind().as_str().to_string(), s.value().to_string()))
        .unwrap_or_default();
    insert_operation(
        state,
        NewOperation {
            context: &login.context,
            subject_type: &st,
            subject_value: &sv,
            method: MethodInfo::token(),
            ksef_token_ref: token_ref.as_deref(),
            status,
            ip_policy: login.ip_policy,
            signed_document: None,
        },
    )
    .await
}

/// Checks `token|timestampMs` against the token store. `Ok(Err(status))` = a 450 outcome.
async fn check_token_plaintext(
    state: &AppState,
    plain: &[u8],
    challenge_ts: i64,
    context: &ContextIdentifier,
) -> ApiResult<Result<tokens::StoredToken, AuthStatus>> {
    let bad = |d| Ok(Err(AuthStatus::bad_token(d)));
    let Ok(text) = std::str::from_utf8(plain) else {
        return bad("Nieprawidłowy token");
    };
    let Some((token_str, ts)) = text.rsplit_once('|') else {
        return bad("Nieprawidłowy token");
    };
    if ts.trim().parse::<i64>().ok() != Some(challenge_ts) {
        return bad("Nieprawidłowy czas tokena");
    }
    let Ok(token) = token_str.parse::<KsefToken>() else {
        return bad("Nieprawidłowy token");
    };
    let Some(stored) = tokens::load(state, token.reference_number().as_str()).await? else {
        return bad("Nieprawidłowy token");
    };
    let presented = Sha256::digest(token.secret_hex().as_bytes());
    let matches: bool =
        subtle::ConstantTimeEq::ct_eq(presented.as_slice(), stored.secret_sha256.as_slice()).into();
    if !matches || token.context() != &stored.context || &stored.context != context {
        return bad("Nieprawidłowy token");
    }
    match stored.status {
        TokenStatus::Active => Ok(Ok(stored)),
        TokenStatus::Revoking | TokenStatus::Revoked => bad("Token unieważniony"),
        _ => bad("Token nieaktywny"),
    }
}

/// `GET /auth/{referenceNumber}`: only the operation named in the authentication token.
pub async fn operation_status(
    state: &AppState,
    claims: &Claims,
    reference: &str,
) -> ApiResult<AuthOperation> {
    if claims.arn != reference {
        return Err(ApiError::bad(
            ExceptionCode::AuthenticationNotFound,
            format!(
                "Operacja uwierzytelnienia {reference} nie jest powiązana z przekazanym tokenem."
            ),
        ));
    }
    let op = require_operation(state, reference).await?;
    // Statuses are retained for 7 days, then 410 Gone (digest §2.5).
    if state.now() - op.started > time::Duration::days(7) {
        return Err(ApiError::Gone(format!(
            "Status operacji uwierzytelnienia {reference} nie jest już dostępny (7 dni)."
        )));
    }
    Ok(op)
}

/// Issued access (+ refresh) tokens.
pub struct IssuedTokens {
    pub access_token: String,
    pub access_valid_until: OffsetDateTime,
    pub refresh: Option<(String, OffsetDateTime)>,
}

/// `POST /auth/token/redeem`: once, and only after status 200.
pub async fn redeem(state: &AppState, claims: &Claims) -> ApiResult<IssuedTokens> {
    let op = require_operation(state, &claims.arn).await?;
    let now = state.now();
    let status = op.status_at(now);
    if status.code == 470 {
        return Err(ApiError::bad(ExceptionCode::DeceasedPerson, ""));
    }
    if status.code != 200 {
        return Err(ApiError::bad(
            ExceptionCode::NotAuthorized,
            format!(
                "Status uwierzytelnienia {} ({}) nie pozwala na pobranie tokenów.",
                status.code, status.description
            ),
        ));
    }
    let done = sqlx::query("UPDATE auth_operations SET redeemed = 1, refresh_valid_until_ms = ? WHERE reference_number = ? AND redeemed = 0")
        .bind(ms(now + state.config().refresh_token_lifetime))
        .bind(&op.reference_number)
        .execute(state.pool())
        .await?;
    if done.rows_affected() != 1 {
        return Err(ApiError::bad(
            ExceptionCode::NotAuthorized,
            "Tokeny zostały już pobrane (redeem jest jednorazowy).",
        ));
    }
    let (access_token, access_valid_until) = issue_access(state, &op, now).await?;
    let (refresh, refresh_until) = state
        .jwt()
        .issue(
            TokenType::RefreshToken,
            &op.reference_number,
            &claims.cit,
            &claims.civ,
            op.method.method.as_str(),
            Vec::new(),
            now,
            state.config().refresh_token_lifetime,
        )
        .map_err(ApiError::internal)?;
    Ok(IssuedTokens {
        access_token,
        access_valid_until,
        refresh: Some((refresh, refresh_until)),
    })
}

/// The permissions a session holds right now (token sessions: token ∩ author's current).
pub async fn current_permissions(state: &AppState, op: &AuthOperation) -> ApiResult<PermissionSet> {
    let (Some(subject), Some(context)) = (&op.subject, &op.context) else {
        return Ok(PermissionSet::default());
    };
    let mut held = permissions::effective_permissions(state.pool(), subject, context).await?;
    if let Some(tref) = &op.ksef_token_ref {
        let token = tokens::load(state, tref).await?;
        held = match token {
            Some(t) => held.intersection(&t.permissions),
            None => PermissionSet::default(),
        };
    }
    Ok(held)
}

async fn issue_access(
    state: &AppState,
    op: &AuthOperation,
    now: OffsetDateTime,
) -> ApiResult<(String, OffsetDateTime)> {
    let perms = current_permissions(state, op).await?;
    let context = op
        .context
        .as_ref()
        .ok_or_else(|| ApiError::internal("operation without context"))?;
    state
        .jwt()
        .issue(
            TokenType::ContextToken,
            &op.reference_number,
            context.kind().as_str(),
            context.value(),
            op.method.method.as_str(),
            perms.iter().map(|p| p.as_str().to_string()).collect(),
            now,
            state.config().access_token_lifetime,
        )
        .map_err(ApiError::internal)
}

/// `POST /auth/token/refresh`: the refresh token is not rotated (digest §4.9).
pub async fn refresh(state: &AppState, claims: &Claims) -> ApiResult<IssuedTokens> {
    let op = require_operation(state, &claims.arn).await?;
    let now = state.now();
    if op.revoked {
        return Err(ApiError::bad(
            ExceptionCode::NotAuthorized,
            "Sesja uwierzytelnienia została unieważniona.",
        ));
    }
    if op.refresh_valid_until.is_some_and(|t| now > t) {
        return Err(ApiError::bad(
            ExceptionCode::NotAuthorized,
            "Token odświeżający wygasł.",
        ));
    }
    if let Some(subject) = &op.subject
        && permissions::is_deceased(state.pool(), subject).await?
    {
        return Err(ApiError::bad(ExceptionCode::DeceasedPerson, ""));
    }
    if let Some(tref) = &op.ksef_token_ref {
        let active = tokens::load(state, tref)
            .await?
            .is_some_and(|t| t.status == TokenStatus::Active);
        if !active {
            return Err(ApiError::bad(
                ExceptionCode::NotAuthorized,
                "Token KSeF został unieważniony.",
            ));
        }
    }
    let (access_token, access_valid_until) = issue_access(state, &op, now).await?;
    sqlx::query("UPDATE auth_operations SET last_refresh_ms = ? WHERE reference_number = ?")
        .bind(ms(now))
        .bind(&op.reference_number)
        .execute(state.pool())
        .await?;
    Ok(IssuedTokens {
        access_token,
        access_valid_until,
        refresh: None,
    })
}

// ------------------------------------------------------------ authentication sessions
//
// Who sees and who may end which authentication session. The specification is silent on it
// (digest §4.10: UNSURE); the emulator's rule, enforced by `GET /auth/sessions` and
// `DELETE /auth/sessions/{referenceNumber}`:
//
// * Every caller sees and may end its own authentication sessions, i.e. sessions of the same
//   authenticated subject: for signature (XAdES) logins the sessions whose recorded subject
//   identifier (NIP, PESEL or certificate fingerprint) equals the caller's and that were not
//   opened with a KSeF token; for KSeF-token logins the sessions opened with the same KSeF token.
// * CredentialsManage or CredentialsRead in the context (the owner holds both) shows all
//   authentication sessions of the context.
// * Ending another subject's session requires CredentialsManage; a caller who sees the session
//   but lacks it gets 403 `missing-permissions`.
// * A session the caller may not see is answered exactly like an unknown reference number
//   (400/21405), so its existence does not leak.
//
// `DELETE /auth/sessions/current` always ends the caller's own session.

/// Which sessions a caller sees: all of the context or only its own.
enum SessionScope<'a> {
    All,
    /// Sessions opened with this KSeF token.
    Token(&'a str),
    /// Signature sessions of this subject.
    Subject(&'a SubjectIdentifier),
}

fn session_scope(caller: &Caller) -> SessionScope<'_> {
    if caller.permissions.contains(Permission::CredentialsManage)
        || caller.permissions.contains(Permission::CredentialsRead)
    {
        SessionScope::All
    } else {
        own_scope(caller)
    }
}

fn own_scope(caller: &Caller) -> SessionScope<'_> {
    match &caller.ksef_token_ref {
        Some(token) => SessionScope::Token(token),
        None => SessionScope::Subject(&caller.subject),
    }
}

/// Whether `op` is a session of the caller's own authenticated subject.
fn is_own_session(caller: &Caller, op: &AuthOperation) -> bool {
    match own_scope(caller) {
        SessionScope::Token(token) => op.ksef_token_ref.as_deref() == Some(token),
        SessionScope::Subject(subject) => {
            op.ksef_token_ref.is_none()
                && op.subject.as_ref().is_some_and(|s| {
                    s.kind().as_str() == subject.kind().as_str() && s.value() == subject.value()
                })
        }
        SessionScope::All => false,
    }
}

/// `GET /auth/sessions`: the active (redeemed, not revoked, refresh still valid) sessions of the
/// caller's context that the caller may see (see the rule above), newest first. Returns the page
/// and whether more exist.
pub async fn list_sessions(
    state: &AppState,
    caller: &Caller,
    offset: usize,
    page_size: usize,
) -> ApiResult<(Vec<AuthOperation>, bool)> {
    let now = ms(state.now());
    let offset = i64::try_from(offset).map_err(|_| crate::extract::invalid_continuation())?;
    let limit = page_size
        .checked_add(1)
        .and_then(|n| i64::try_from(n).ok())
        .ok_or_else(|| ApiError::validation("pageSize: wartość poza zakresem."))?;
    let mut qb = QueryBuilder::<Sqlite>::new(
        "SELECT reference_number FROM auth_operations WHERE context_type = ",
    );
    qb.push_bind(caller.context.kind().as_str())
        .push(" AND context_value = ")
        .push_bind(caller.context.value().to_string())
        .push(
            " AND redeemed = 1 AND revoked = 0 \
             AND (refresh_valid_until_ms IS NULL OR refresh_valid_until_ms > ",
        )
        .push_bind(now)
        .push(")");
    match session_scope(caller) {
        SessionScope::All => {}
        SessionScope::Token(token) => {
            qb.push(" AND ksef_token_ref = ")
                .push_bind(token.to_string());
        }
        SessionScope::Subject(subject) => {
            qb.push(" AND ksef_token_ref IS NULL AND subject_type = ")
                .push_bind(subject.kind().as_str())
                .push(" AND subject_value = ")
                .push_bind(subject.value().to_string());
        }
    }
    qb.push(" ORDER BY started_ms DESC, reference_number LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
    let refs: Vec<String> = qb.build_query_scalar().fetch_all(state.pool()).await?;
    let more = refs.len() > page_size;
    let mut out = Vec::new();
    for r in refs.iter().take(page_size) {
        if let Some(op) = load_operation(state, r).await? {
            out.push(op);
        }
    }
    Ok((out, more))
}

fn session_not_found(reference: &str) -> ApiError {
    ApiError::validation(format!(
        "Sesja uwierzytelnienia {reference} nie istnieje w bieżącym kontekście."
    ))
}

/// `DELETE /auth/sessions/{ref}`: ends a session the caller may end (see the rule above). The
/// refresh token stops working; access tokens already issued live until `exp` (digest §4.10).
pub async fn revoke_session(state: &AppState, caller: &Caller, reference: &str) -> ApiResult<()> {
    let op = match load_operation(state, reference).await? {
        Some(op) if op.redeemed && op.context.as_ref() == Some(&caller.context) => op,
        _ => return Err(session_not_found(reference)),
    };
    let own = is_own_session(caller, &op);
    if !own && !matches!(session_scope(caller), SessionScope::All) {
        // Not visible to the caller: indistinguishable from an unknown reference.
        return Err(session_not_found(reference));
    }
    if !own && !caller.permissions.contains(Permission::CredentialsManage) {
        return Err(ApiError::forbidden(
            ForbiddenReason::MissingPermissions,
            "Zakończenie sesji uwierzytelnienia innego podmiotu wymaga uprawnienia CredentialsManage.",
            serde_json::json!({
                "requiredAnyOfPermissions": [Permission::CredentialsManage.as_str()],
                "presentPermissions": caller.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            }),
        ));
    }
    mark_revoked(
        state,
        caller.context.kind().as_str(),
        caller.context.value(),
        reference,
    )
    .await
}

/// `DELETE /auth/sessions/current`: ends the session of the presented token.
pub async fn revoke_current_session(state: &AppState, claims: &Claims) -> ApiResult<()> {
    mark_revoked(state, &claims.cit, &claims.civ, &claims.arn).await
}

async fn mark_revoked(
    state: &AppState,
    context_type: &str,
    context_value: &str,
    reference: &str,
) -> ApiResult<()> {
    let done = sqlx::query(
        "UPDATE auth_operations SET revoked = 1 WHERE reference_number = ? AND context_type = ? AND context_value = ? AND redeemed = 1",
    )
    .bind(reference)
    .bind(context_type)
    .bind(context_value)
    .execute(state.pool())
    .await?;
    if done.rows_affected() == 0 {
        return Err(session_not_found(reference));
    }
    Ok(())
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
