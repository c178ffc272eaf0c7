//! Logging in: with a certificate, with Profil Zaufany (external signature round trip), or with
//! the KSeF token of a program user; logging out.

use std::path::{Path, PathBuf};
use std::time::Duration;

use ksef_core::{ContextIdentifier, InternalId, KsefToken, Nip, PermissionSet};
use ksef_crypto::Credential;
use ksef_crypto::identity::inspect_certificate;
use ksef_xades::auth_request::{AuthNamespace, AuthTokenRequest, SubjectIdentifierType};
use serde::{Deserialize, Serialize};
use time::OffsetDateTime;

use crate::{
    App, Field, InputProblem, IoAction, ProgramError, ProgramResult, StoredSession,
    read_password_file,
};

/// The government signing service for Profil Zaufany (digest §5.1).
pub const SIGNING_SERVICE_URL: &str =
    "https://www.gov.pl/web/gov/podpisz-dokument-elektronicznie-wykorzystaj-podpis-zaufany";

/// How long an emulator/KSeF challenge lives (digest §4.2).
pub const CHALLENGE_LIFETIME: Duration = Duration::from_secs(600);

/// The context chosen on the command line.
pub fn context_from_args(
    nip: Option<&str>,
    internal_id: Option<&str>,
) -> ProgramResult<ContextIdentifier> {
    match (nip, internal_id) {
        (Some(n), None) => Ok(ContextIdentifier::Nip(n.parse::<Nip>().map_err(|e| {
            ProgramError::invalid(Field::Nip, InputProblem::Identifier(e))
        })?)),
        (None, Some(i)) => Ok(ContextIdentifier::InternalId(
            i.parse::<InternalId>().map_err(|e| {
                ProgramError::invalid(Field::InternalId, InputProblem::Identifier(e))
            })?,
        )),
        _ => Err(ProgramError::invalid(
            Field::Context,
            InputProblem::Missing {
                hint: "--nip NIP (or --internal-id NIP-NNNNN)",
            },
        )),
    }
}

/// Loads a signing credential: PKCS#12 (`.p12`/`.pfx`, password from a file) or PEM (`--key`).
pub fn load_credential(
    cert: &Path,
    key: Option<&Path>,
    password_file: Option<&Path>,
) -> ProgramResult<Credential> {
    let bytes = std::fs::read(cert).map_err(|e| ProgramError::io(IoAction::Read, cert, e))?;
    if let Some(key) = key {
        let key_pem = std::fs::read(key).map_err(|e| ProgramError::io(IoAction::Read, key, e))?;
        return credential_from_bytes(&bytes, Some(&key_pem), "").map_err(|e| e.in_file(cert));
    }
    let password = match password_file {
        Some(p) => read_password_file(p)?,
        None => {
            ksef_crypto::Zeroizing::new(std::env::var("KSEF_CERT_PASSWORD").unwrap_or_default())
        }
    };
    credential_from_bytes(&bytes, None, &password).map_err(|e| e.in_file(cert))
}

/// Loads a signing credential from bytes (an upload): PKCS#12 with `password`, or a PEM
/// certificate with a PEM key (`key_pem`, or a key inside the same PEM file).
pub fn credential_from_bytes(
    cert: &[u8],
    key_pem: Option<&[u8]>,
    password: &str,
) -> ProgramResult<Credential> {
    let looks_pem =
        cert.starts_with(b"-----") || String::from_utf8_lossy(cert).contains("-----BEGIN ");
    if key_pem.is_some() || looks_pem {
        let cert_pem = std::str::from_utf8(cert)
            .map_err(|_| ProgramError::invalid(Field::Certificate, InputProblem::NotPem))?;
        let key_pem = match key_pem {
            Some(k) => std::str::from_utf8(k)
                .map_err(|_| ProgramError::invalid(Field::Key, InputProblem::NotPem))?,
            None => cert_pem,
        };
        return Credential::from_pem(key_pem, cert_pem).map_err(ProgramError::from);
    }
    Credential::from_pkcs12(cert, password).map_err(ProgramError::from)
}

/// What the login learned about the subject: `Type:value` and the permissions known to be held.
fn subject_of(
    cred_cert: &[u8],
    context: &ContextIdentifier,
) -> (Option<String>, Option<Vec<String>>) {
    let Ok(info) = inspect_certificate(cred_cert) else {
        return (None, None);
    };
    let subject = match (&info.nip, &info.pesel) {
        (Some(n), _) => Some(format!("Nip:{n}")),
        (None, Some(p)) => Some(format!("Pesel:{p}")),
        _ => Some(format!("Fingerprint:{}", info.fingerprint)),
    };
    // Owner of a NIP context by certificate: every owner permission (digest §7.2).
    let owner = matches!((context, &info.nip), (ContextIdentifier::Nip(c), Some(n)) if c == n);
    let perms = owner.then(|| {
        PermissionSet::owner(false)
            .iter()
            .map(|p| p.as_str().to_string())
            .collect()
    });
    (subject, perms)
}

/// The permissions the subject holds in the session's context, as far as the API lets us know:
/// owner by certificate NIP → every owner permission; else the personal grants
/// (`POST /permissions/query/personal/grants`). Authentication succeeds only for an owner or a
/// holder of some grant, so an empty list means an owner through the NIP–PESEL link. `None` when
/// the query fails: then KSeF decides (26001).
async fn discover_permissions(
    app: &App,
    s: &ksef_client::Session,
    owner: Option<Vec<String>>,
) -> Option<Vec<String>> {
    if owner.is_some() {
        return owner;
    }
    let query = ksef_wire::PersonalPermissionsQueryRequest::default();
    let grants = app
        .client
        .all_personal_permissions(s.access_token.expose_secret(), &query)
        .await
        .ok()?;
    let in_context: Vec<String> = grants
        .iter()
        .filter(|g| {
            g.context_identifier
                .as_ref()
                .is_none_or(|c| c.value == s.context.value())
        })
        .map(|g| g.permission_scope.as_str().to_string())
        .collect();
    if in_context.is_empty() {
        Some(
            PermissionSet::owner(false)
                .iter()
                .map(|p| p.as_str().to_string())
                .collect(),
        )
    } else {
        Some(in_context)
    }
}

/// `ksef auth login --nip N --cert FILE`.
pub async fn login_with_certificate(
    app: &mut App,
    context: ContextIdentifier,
    cred: &Credential,
    fingerprint: bool,
) -> ProgramResult<StoredSession> {
    let subject_type = if fingerprint {
        SubjectIdentifierType::CertificateFingerprint
    } else {
        SubjectIdentifierType::CertificateSubject
    };
    let session = app
        .client
        .login_with_credential(cred, &context, subject_type)
        .await?;
    let (subject, owner) = subject_of(&cred.certificate_der, &context);
    let permissions = discover_permissions(app, &session, owner).await;
    let stored = StoredSession {
        session,
        subject,
        via_user: None,
        permissions,
    };
    app.save_session(&stored).await?;
    Ok(stored)
}

/// `ksef auth login --user NAME`: the KSeF token saved on the logged-in program user (only
/// their own; reading it needs their password).
pub async fn login_with_user(
    app: &mut App,
    user: &crate::users::ProgramUser,
    firm: Option<&str>,
) -> ProgramResult<StoredSession> {
    let store = app.store().await?.clone();
    let (_, token) = crate::users::own_token(&store, user, firm).await?;
    let parsed: KsefToken = token
        .parse()
        .map_err(|_| crate::users::UserError::TokenDamaged {
            user: user.name().to_string(),
        })?;
    let context = parsed.context().clone();
    let session = app.client.login_with_ksef_token(&token, &context).await?;
    let stored = StoredSession {
        session,
        subject: None,
        via_user: Some(user.name().to_string()),
        permissions: None,
    };
    app.save_session(&stored).await?;
    Ok(stored)
}

/// A prepared, not yet signed, request (kept in the store's settings until submitted).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PendingRequest {
    pub file: PathBuf,
    pub challenge: String,
    pub timestamp_ms: i64,
    pub base_url: String,
}

impl PendingRequest {
    pub fn deadline(&self) -> OffsetDateTime {
        let issued =
            OffsetDateTime::from_unix_timestamp_nanos(i128::from(self.timestamp_ms) * 1_000_000)
                .unwrap_or(OffsetDateTime::UNIX_EPOCH);
        issued + CHALLENGE_LIFETIME
    }
}

const PENDING_KEY: &str = "auth.pending_request";

/// The request prepared by `ksef auth prepare` and not yet submitted.
pub async fn pending(app: &mut App) -> ProgramResult<Option<PendingRequest>> {
    Ok(app
        .store()
        .await?
        .setting(PENDING_KEY)
        .await?
        .and_then(|j| serde_json::from_str(&j).ok()))
}

/// An unsigned `AuthTokenRequest` for a fresh challenge, not yet written anywhere.
pub struct PreparedRequest {
    /// `AuthTokenRequest_<dd-mm-yyyy_HH_MM_SS>.xml`.
    pub file_name: String,
    /// The document to sign.
    pub xml: String,
    /// What to remember until the signed copy comes back (`file` = `file_name`).
    pub pending: PendingRequest,
}

/// Asks KSeF for a challenge and builds the unsigned request (the web app offers it for download).
pub async fn prepare_request(
    app: &mut App,
    context: ContextIdentifier,
) -> ProgramResult<PreparedRequest> {
    let challenge = app.client.challenge().await?;
    let xml = AuthTokenRequest::new(
        challenge.challenge.clone(),
        context,
        SubjectIdentifierType::CertificateSubject,
    )
    .to_xml(AuthNamespace::V2_0);
    // UTC: the `time` crate cannot read the local offset safely in a multi-threaded process.
    let now = OffsetDateTime::now_utc();
    let file_name = format!(
        "AuthTokenRequest_{:02}-{:02}-{:04}_{:02}_{:02}_{:02}.xml",
        now.day(),
        u8::from(now.month()),
        now.year(),
        now.hour(),
        now.minute(),
        now.second()
    );
    let pending = PendingRequest {
        file: PathBuf::from(&file_name),
        challenge: challenge.challenge,
        timestamp_ms: challenge.timestamp_ms,
        base_url: app.settings.base_url.clone(),
    };
    Ok(PreparedRequest {
        file_name,
        xml,
        pending,
    })
}

/// `ksef auth prepare --nip N --dir D`: writes `D/AuthTokenRequest_<dd-mm-yyyy_HH_MM_SS>.xml`.
pub async fn prepare(
    app: &mut App,
    context: ContextIdentifier,
    dir: &Path,
) -> ProgramResult<PendingRequest> {
    std::fs::create_dir_all(dir)
        .map_err(|e| ProgramError::io(IoAction::CreateDirectory, dir, e))?;
    let prepared = prepare_request(app, context).await?;
    let file = dir.join(&prepared.file_name);
    std::fs::write(&file, &prepared.xml)
        .map_err(|e| ProgramError::io(IoAction::Write, &file, e))?;
    let pending = PendingRequest {
        file,
        ..prepared.pending
    };
    let json = serde_json::to_string(&pending).map_err(|e| ProgramError::Serialize {
        what: "the prepared request",
        detail: e.to_string(),
    })?;
    app.store().await?.set_setting(PENDING_KEY, &json).await?;
    Ok(pending)
}

fn has_signature(bytes: &[u8]) -> bool {
    let text = String::from_utf8_lossy(bytes);
    text.contains("SignatureValue") && text.contains("http://www.w3.org/2000/09/xmldsig#")
}

/// The signed file for a prepared request: the newest of `<name>.xml`, `<name> (1).xml`, … in
/// `dir` that carries a signature.
pub fn find_signed(dir: &Path, prepared: &Path) -> ProgramResult<PathBuf> {
    let stem = prepared
        .file_stem()
        .and_then(|s| s.to_str())
        .ok_or_else(|| {
            ProgramError::invalid(
                Field::PreparedFile,
                InputProblem::BadFormat {
                    value: prepared.display().to_string(),
                    expected: "a file name in UTF-8",
                },
            )
        })?;
    let entries = std::fs::read_dir(dir).map_err(|e| ProgramError::io(IoAction::Read, dir, e))?;
    let mut best: Option<(std::time::SystemTime, PathBuf)> = None;
    for entry in entries.flatten() {
        let path = entry.path();
        let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
            continue;
        };
        let Some(rest) = name.strip_prefix(stem) else {
            continue;
        };
        let variant = rest == ".xml"
            || (rest.starts_with(" (")
                && rest.ends_with(").xml")
                && rest[2..rest.len() - 5].chars().all(|c| c.is_ascii_digit()));
        if !variant {
            continue;
        }
        let Ok(bytes) = std::fs::read(&path) else {
            continue;
        };
        if !has_signature(&bytes) {
            continue;
        }
        let modified = entry
            .metadata()
            .and_then(|m| m.modified())
            .unwrap_or(std::time::UNIX_EPOCH);
        if best.as_ref().is_none_or(|(t, _)| modified >= *t) {
            best = Some((modified, path));
        }
    }
    best.map(|(_, p)| p)
        .ok_or_else(|| ProgramError::SignedFileNotFound {
            prepared: prepared.to_path_buf(),
            dir: dir.to_path_buf(),
        })
}

/// `ksef auth submit --dir D` or `ksef auth submit FILE`.
pub async fn submit(
    app: &mut App,
    file: Option<&Path>,
    dir: Option<&Path>,
) -> ProgramResult<StoredSession> {
    let pending = pending(app).await?;
    let path = match (file, dir) {
        (Some(f), _) => f.to_path_buf(),
        (None, Some(d)) => {
            let p = pending.as_ref().ok_or(ProgramError::NoPreparedRequest)?;
            find_signed(d, &p.file)?
        }
        (None, None) => {
            return Err(ProgramError::invalid(
                Field::SignedFile,
                InputProblem::Missing {
                    hint: "the signed FILE or --dir DIR",
                },
            ));
        }
    };
    let bytes = std::fs::read(&path).map_err(|e| ProgramError::io(IoAction::Read, &path, e))?;
    let stored = submit_signed(app, &bytes, pending.as_ref())
        .await
        .map_err(|e| e.in_file(&path))?;
    app.store().await?.remove_setting(PENDING_KEY).await?;
    Ok(stored)
}

/// Logs in with a signed `AuthTokenRequest` (bytes, e.g. an upload). With the `pending` request
/// of the same challenge, an expired challenge is refused before KSeF is called.
pub async fn submit_signed(
    app: &mut App,
    bytes: &[u8],
    pending: Option<&PendingRequest>,
) -> ProgramResult<StoredSession> {
    if !has_signature(bytes) {
        return Err(ProgramError::NoXmlSignature);
    }
    let (request, _) = AuthTokenRequest::parse(bytes).map_err(ProgramError::NotAuthTokenRequest)?;
    if let Some(p) = pending.filter(|p| p.challenge == request.challenge) {
        let now = OffsetDateTime::now_utc();
        if now > p.deadline() {
            return Err(ProgramError::ChallengeExpired {
                deadline: p.deadline(),
            });
        }
    }
    let session = app.client.login_with_signed_request(bytes, None).await?;
    let cert = ksef_xades::signature::verify_enveloped(bytes, &Default::default())
        .map(|v| v.signer_certificate_der)
        .unwrap_or_default();
    let (subject, owner) = subject_of(&cert, &request.context);
    let permissions = discover_permissions(app, &session, owner).await;
    let stored = StoredSession {
        session,
        subject,
        via_user: None,
        permissions,
    };
    app.save_session(&stored).await?;
    Ok(stored)
}

/// Ends the KSeF session (`DELETE /auth/sessions/current`) and forgets it locally; returns the
/// session's reference number.
pub async fn logout(app: &mut App) -> ProgramResult<String> {
    let s = match app.session().await {
        Ok(s) => s,
        Err(e) => {
            app.clear_session().await?;
            return Err(e);
        }
    };
    let result = app
        .client
        .logout(s.session.access_token.expose_secret())
        .await;
    app.clear_session().await?;
    result?;
    Ok(s.session.reference_number)
}
