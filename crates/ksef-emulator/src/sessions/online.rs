//! Online (interactive) sessions (digest §8): `POST /sessions/online`, `…/{ref}/invoices`,
//! `…/{ref}/close`.

use axum::extract::{FromRequest, Request, State};
use axum::http::StatusCode;
use axum::response::IntoResponse;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use ksef_core::{ReferenceKind, ReferenceNumber};
use ksef_invoice::FormCode;
use ksef_wire as wire;
use sha2::{Digest, Sha256};
use sqlx::Row;

use super::ONLINE_WRITE;
use super::intake::{NewInvoice, Refused};
use super::model::{self, Kind};
use crate::auth::ContextSession;
use crate::error::{ApiError, ApiResult};
use crate::extract::{ApiJson, ApiPath};
use crate::keys::KeyUsage;
use crate::state::AppState;
use crate::store::ms;
use ksef_wire::{ExceptionCode, Validate};

/// Largest invoice (with an attachment; 1 MB without one is checked during verification).
pub const MAX_INVOICE_BYTES: u64 = 3_000_000;

/// Reads a JSON body after the caller was authenticated (401/403 before 400).
pub(crate) async fn json_body<T: serde::de::DeserializeOwned>(
    state: &AppState,
    req: Request,
) -> ApiResult<T> {
    let ApiJson(v) = ApiJson::<T>::from_request(req, state).await?;
    Ok(v)
}

/// The form code of an open request; 21405 for an unsupported triple.
pub(crate) fn form_code(f: &wire::FormCode, batch: bool) -> ApiResult<FormCode> {
    let form = FormCode::from_parts(&f.system_code, &f.schema_version, &f.value).ok_or_else(|| {
        ApiError::validation(format!(
            "formCode: nieobsługiwany schemat {{systemCode: {:?}, schemaVersion: {:?}, value: {:?}}}. Obsługiwane: {}.",
            f.system_code,
            f.schema_version,
            f.value,
            FormCode::ALL
                .iter()
                .filter(|c| !batch || c.allowed_in_batch())
                .map(|c| format!("{} {} {}", c.system_code(), c.schema_version(), c.value()))
                .collect::<Vec<_>>()
                .join("; ")
        ))
    })?;
    if batch && !form.allowed_in_batch() {
        return Err(ApiError::validation(format!(
            "formCode: schemat {} nie jest dozwolony w sesji wsadowej (dozwolone: FA (2), FA (3), FA_RR (1)).",
            form.system_code()
        )));
    }
    Ok(form)
}

/// Checks `publicKeyId` (21470), decodes the IV, and unwraps the AES key with the emulator's
/// `SymmetricKeyEncryption` key. An undecryptable key is not an error here: `None` (the session
/// then ends in 415, digest §8.1).
pub(crate) async fn unwrap_key(
    state: &AppState,
    enc: &wire::EncryptionInfo,
) -> ApiResult<(Option<[u8; 32]>, [u8; 16])> {
    enc.validate("encryption")
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let key = state.key(KeyUsage::SymmetricKeyEncryption);
    if let Some(id) = &enc.public_key_id
        && id != key.public_key_id()
    {
        return Err(ApiError::bad(
            ExceptionCode::UnknownPublicKey,
            format!("Klucz o identyfikatorze {id} nie jest wspierany."),
        ));
    }
    let iv = STANDARD
        .decode(enc.initialization_vector.trim())
        .ok()
        .and_then(|v| <[u8; 16]>::try_from(v.as_slice()).ok())
        .ok_or_else(|| {
            ApiError::validation(
                "encryption.initializationVector: oczekiwano 16 bajtów zakodowanych w Base64.",
            )
        })?;
    let wrapped = STANDARD
        .decode(enc.encrypted_symmetric_key.expose_secret().trim())
        .map_err(|_| {
            ApiError::validation("encryption.encryptedSymmetricKey: oczekiwano danych w Base64.")
        })?;
    let state2 = state.clone();
    let plain = tokio::task::spawn_blocking(move || {
        state2
            .key(KeyUsage::SymmetricKeyEncryption)
            .decrypt(&wrapped)
    })
    .await
    .map_err(ApiError::internal)?;
    let key = plain
        .ok()
        .and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok());
    Ok((key, iv))
}

/// `POST /sessions/online` → 201.
pub async fn open(
    State(state): State<AppState>,
    auth: ContextSession,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    let who = auth.require(ONLINE_WRITE)?;
    let body: wire::OpenOnlineSessionRequest = json_body(&state, req).await?;
    let form = form_code(&body.form_code, false)?;
    let (key, iv) = unwrap_key(&state, &body.encryption).await?;
    let now = state.now();
    let reference = ReferenceNumber::generate(ReferenceKind::OnlineSession, now);
    let valid_until = now + state.config().session_lifetime;
    // An AES key that cannot be unwrapped makes the session unusable from the start: it is
    // stored already in its final status 415 (no invoice can be sent to it: 21180).
    let (code, details): (i64, Vec<&str>) = match key {
        Some(_) => (100, vec![]),
        None => (
            415,
            vec![
                "Nie można odszyfrować klucza symetrycznego (RSA-OAEP SHA-256) kluczem SymmetricKeyEncryption.",
            ],
        ),
    };
    let caller = &who;
    sqlx::query(
        "INSERT INTO sessions(reference_number, session_type, context_type, context_value, subject_type, \
         subject_value, auth_reference, ksef_token_ref, form_system_code, form_schema_version, form_value, \
         symmetric_key, iv, offline_mode, status_code, status_description, status_details, created_ms, \
         updated_ms, closed_ms, valid_until_ms) \
         VALUES (?, 'Online', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(reference.as_str())
    .bind(caller.context.kind().as_str())
    .bind(caller.context.value())
    .bind(caller.subject.kind().as_str())
    .bind(caller.subject.value())
    .bind(auth.auth_reference())
    .bind(caller.ksef_token_ref.as_deref())
    .bind(form.system_code())
    .bind(form.schema_version())
    .bind(form.value())
    .bind(key.map(|k| k.to_vec()))
    .bind(iv.to_vec())
    .bind(code)
    .bind(model::session_description(Kind::Online, code))
    .bind(model::details_json(&details))
    .bind(ms(now))
    .bind(ms(now))
    .bind((code != 100).then(|| ms(now)))
    .bind(ms(valid_until))
    .execute(state.pool())
    .await?;
    Ok((
        StatusCode::CREATED,
        axum::Json(wire::OpenOnlineSessionResponse {
            reference_number: reference.to_string(),
            valid_until,
        }),
    ))
}

fn b64_sha256(data: &[u8]) -> String {
    STANDARD.encode(Sha256::digest(data))
}

/// `POST /sessions/online/{ref}/invoices` → 202. The ciphertext is committed with status 100
/// before answering (by the group-commit writer, [`super::intake`]); verification runs in the
/// engine.
pub async fn send_invoice(
    State(state): State<AppState>,
    auth: ContextSession,
    ApiPath(reference): ApiPath,
    req: Request,
) -> ApiResult<impl IntoResponse> {
    let who = auth.require(ONLINE_WRITE)?;
    let body: wire::SendInvoiceRequest = json_body(&state, req).await?;
    body.validate()
        .map_err(|e| ApiError::validation(e.to_string()))?;
    let session = model::load_visible(&state, &who, &reference, Some(Kind::Online)).await?;
    if session.status_code != 100 {
        return Err(status_forbids_send(session.status_code));
    }
    // The context's limits (digest §15.3): the count here, the sizes when verified (430).
    let limits = crate::limits::session_limits(
        &state,
        &session.context_type,
        &session.context_value,
        Kind::Online.into(),
    )
    .await?;
    let max_bytes = MAX_INVOICE_BYTES
        .max(crate::limits::mb_bytes(limits.max_invoice_with_attachment_size_in_mb) as u64);
    if body.invoice_size > max_bytes {
        return Err(ApiError::validation(format!(
            "invoiceSize: {} B przekracza największy dopuszczalny rozmiar faktury ({max_bytes} B).",
            body.invoice_size
        )));
    }
    if body.hash_of_corrected_invoice.is_some() && !body.offline_mode {
        return Err(ApiError::validation(
            "hashOfCorrectedInvoice: korekta techniczna wymaga offlineMode = true.",
        ));
    }
    let ciphertext = STANDARD
        .decode(body.encrypted_invoice_content.trim())
        .map_err(|_| {
            ApiError::validation("encryptedInvoiceContent: oczekiwano danych w Base64.")
        })?;
    let size_mismatch = || {
        ApiError::bad(
            ExceptionCode::InvalidFileSize,
            "Długość treści nie zgadza się z rozmiarem pliku.",
        )
    };
    let hash_mismatch = || {
        ApiError::bad(
            ExceptionCode::InvalidFileHash,
            "Skrót treści nie zgadza się ze skrótem pliku.",
        )
    };
    if ciphertext.len() as u64 != body.encrypted_invoice_size {
        return Err(size_mismatch());
    }
    if b64_sha256(&ciphertext) != body.encrypted_invoice_hash {
        return Err(hash_mismatch());
    }
    // What can be checked of the plaintext is checked now; a ciphertext that does not decrypt
    // is queued anyway and ends in 435 (like KSeF, which decrypts asynchronously).
    if let Some(key) = &session.symmetric_key
        && let Ok(plain) = ksef_crypto::envelope::aes256_cbc_decrypt(key, &session.iv, &ciphertext)
    {
        if plain.len() as u64 != body.invoice_size {
            return Err(size_mismatch());
        }
        if b64_sha256(&plain) != body.invoice_hash {
            return Err(hash_mismatch());
        }
    }
    if let Some(original) = &body.hash_of_corrected_invoice {
        check_technical_correction(&state, &session, original).await?;
    }

    let now = state.now();
    let invoice_ref = ReferenceNumber::generate(ReferenceKind::SessionInvoice, now);
    let queued = state
        .sessions()
        .intake()
        .submit(NewInvoice {
            session_ref: session.reference.clone(),
            max_invoices: i64::from(limits.max_invoices),
            reference: invoice_ref.to_string(),
            invoice_hash: body.invoice_hash,
            invoice_size: i64::try_from(body.invoice_size).unwrap_or(i64::MAX),
            ciphertext,
            offline_mode: body.offline_mode,
            hash_of_corrected: body.hash_of_corrected_invoice,
            invoicing_ms: ms(now),
        })
        .await?;
    match queued {
        Ok(_ordinal) => Ok((
            StatusCode::ACCEPTED,
            axum::Json(wire::SendInvoiceResponse {
                reference_number: invoice_ref.to_string(),
            }),
        )),
        Err(Refused::SessionStatus(code)) => Err(status_forbids_send(code)),
        Err(Refused::SessionGone) => Err(model::not_found(&reference)),
        Err(Refused::InvoiceLimit) => Err(ApiError::bad(
            ExceptionCode::SessionInvoiceLimit,
            format!(
                "Sesja o numerze referencyjnym {reference} osiągnęła dozwolony limit liczby faktur {}.",
                limits.max_invoices
            ),
        )),
    }
}

fn status_forbids_send(code: i64) -> ApiError {
    ApiError::bad(
        ExceptionCode::SessionStatusForbidsOperation,
        format!("Status sesji {code} uniemożliwia wysyłkę faktur."),
    )
}

/// 21167 when the corrected invoice was accepted; 21166 when it already has an accepted
/// technical correction (digest §8.2).
async fn check_technical_correction(
    state: &AppState,
    session: &model::SessionRow,
    original_hash: &str,
) -> ApiResult<()> {
    let row = sqlx::query(
        "SELECT \
           EXISTS(SELECT 1 FROM invoices WHERE invoice_hash = ? AND context_type = ? AND context_value = ?) AS accepted, \
           EXISTS(SELECT 1 FROM invoices WHERE hash_of_corrected_invoice = ? AND context_type = ? AND context_value = ?) AS corrected",
    )
    .bind(original_hash)
    .bind(&session.context_type)
    .bind(&session.context_value)
    .bind(original_hash)
    .bind(&session.context_type)
    .bind(&session.context_value)
    .fetch_one(state.pool())
    .await?;
    if row.get::<i64, _>("accepted") != 0 {
        return Err(ApiError::bad(
            ExceptionCode::TechnicalCorrectionNotAllowed,
            "Nie można wysłać korekty technicznej do prawidłowo przetworzonej faktury.",
        ));
    }
    if row.get::<i64, _>("corrected") != 0 {
        return Err(ApiError::bad(
            ExceptionCode::TechnicalCorrectionUnavailable,
            "Faktura posiada już przetworzoną prawidłowo korektę techniczną.",
        ));
    }
    Ok(())
}

/// `POST /sessions/online/{ref}/close` → 204 (170; the engine sets the final status and UPO).
pub async fn close(
    State(state): State<AppState>,
    auth: ContextSession,
    ApiPath(reference): ApiPath,
) -> ApiResult<StatusCode> {
    let who = auth.require(ONLINE_WRITE)?;
    let session = model::load_visible(&state, &who, &reference, Some(Kind::Online)).await?;
    let forbids = |code: i64| {
        ApiError::bad(
            ExceptionCode::SessionStatusForbidsOperation,
            format!("Status sesji {code} uniemożliwia jej zamknięcie."),
        )
    };
    if session.status_code != 100 {
        return Err(forbids(session.status_code));
    }
    if !model::set_status(&state, &session.reference, Kind::Online, &[100], 170, &[]).await? {
        let code = model::load(&state, &session.reference)
            .await?
            .map(|s| s.status_code)
            .unwrap_or(0);
        return Err(forbids(code));
    }
    state.sessions().wake();
    Ok(StatusCode::NO_CONTENT)
}
