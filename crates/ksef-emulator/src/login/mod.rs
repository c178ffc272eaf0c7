//! Logging in (digest §4): challenges, XAdES and KSeF-token logins, the asynchronous status,
//! redeem and refresh. The operations it creates are the `auth` feature's
//! ([`crate::auth::operation`]); the checks it runs ask `tokens` (is this KSeF token valid),
//! `permissions` (what the subject holds, blocked contexts, deceased persons) and `certificates`
//! (is this a KSeF certificate of the emulator).

pub(crate) mod routes;

pub(crate) use routes::routes;

use std::net::IpAddr;

use ksef_core::{
    ContextIdentifier, KsefToken, PermissionSet, ReferenceKind, ReferenceNumber, SubjectIdentifier,
    TokenStatus,
};
use ksef_crypto::identity::CertificateInfo;
use ksef_xades::auth_request::{AuthTokenRequest, SubjectIdentifierType};
use ksef_xades::signature::{VerifyOptions, verify_enveloped};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

use crate::auth::{
    AuthInit, AuthOperation, AuthStatus, MethodInfo, NewOperation, StoredIpPolicy,
    insert_operation, load_operation,
};
use crate::certificates::AuthenticationUse as KsefCertificateUse;
use crate::config::TrustPolicy;
use crate::error::{ApiError, ApiResult};
use crate::jwt::{Claims, TokenType};
use crate::keys::KeyUsage;
use crate::permissions;
use crate::state::AppState;
use crate::store::{from_ms, ms};
use crate::tokens;
use ksef_wire::ExceptionCode;

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
    let redeemed = crate::auth::mark_redeemed(
        state,
        &op.reference_number,
        now + state.config().refresh_token_lifetime,
    )
    .await?;
    if !redeemed {
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
    crate::auth::record_refresh(state, &op.reference_number, now).await?;
    Ok(IssuedTokens {
        access_token,
        access_valid_until,
        refresh: None,
    })
}
