//! The stored session (table `sessions`), status codes with the Polish descriptions of the API
//! (digest §8.4, §9.5, §10.3) and lazy expiry of sessions past `validUntil`.

use ksef_invoice::FormCode;
use sqlx::Row;
use sqlx::sqlite::SqliteRow;
use time::OffsetDateTime;

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::ms;
use ksef_wire::ExceptionCode;

/// Online or batch.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Online,
    Batch,
}

impl From<Kind> for crate::limits::SessionKind {
    fn from(k: Kind) -> Self {
        match k {
            Kind::Online => crate::limits::SessionKind::Online,
            Kind::Batch => crate::limits::SessionKind::Batch,
        }
    }
}

/// Session status descriptions (OpenAPI `SessionStatusResponse`).
pub fn session_description(kind: Kind, code: i64) -> String {
    match (kind, code) {
        (Kind::Online, 100) => "Sesja interaktywna otwarta".into(),
        (Kind::Online, 170) => "Sesja interaktywna zamknięta".into(),
        (Kind::Online, 200) => "Sesja interaktywna przetworzona pomyślnie".into(),
        (Kind::Batch, 100) => "Sesja wsadowa rozpoczęta".into(),
        (Kind::Batch, 150) => "Trwa przetwarzanie".into(),
        (Kind::Batch, 200) => "Sesja wsadowa przetworzona pomyślnie".into(),
        (_, 405) => "Błąd weryfikacji poprawności dostarczonych elementów paczki".into(),
        (_, 415) => "Błąd odszyfrowania dostarczonego klucza".into(),
        (_, 420) => "Przekroczony limit faktur w sesji".into(),
        (_, 430) => "Błąd dekompresji pierwotnego archiwum".into(),
        (_, 435) => "Błąd odszyfrowania zaszyfrowanych części archiwum".into(),
        (_, 440) => "Sesja anulowana".into(),
        (_, 445) => "Błąd weryfikacji, brak poprawnych faktur".into(),
        (_, c) => format!("Nieznany błąd ({c})"),
    }
}

/// Invoice status descriptions (digest §10.3).
pub fn invoice_description(code: i64) -> String {
    match code {
        100 => "Faktura przyjęta do dalszego przetwarzania".into(),
        150 => "Trwa przetwarzanie".into(),
        200 => "Sukces".into(),
        405 => "Przetwarzanie anulowane z powodu błędu sesji".into(),
        410 => "Nieprawidłowy zakres uprawnień".into(),
        415 => "Brak możliwości wysyłania faktury z załącznikiem".into(),
        430 => "Błąd weryfikacji pliku faktury".into(),
        435 => "Błąd odszyfrowania pliku".into(),
        440 => "Duplikat faktury".into(),
        450 => "Błąd weryfikacji semantyki dokumentu faktury".into(),
        550 => "Operacja została anulowana przez system".into(),
        c => format!("Nieznany błąd ({c})"),
    }
}

/// Details of a batch session cancelled because it was not closed in time.
pub const DETAIL_UPLOAD_TIMEOUT: &str = "Przekroczono czas wysyłki";
/// Details of a session cancelled because it had no invoices.
pub const DETAIL_NO_INVOICES: &str = "Nie przesłano faktur";

/// One row of `sessions` (without the UPO bytes). `Debug` leaves the AES key out.
#[derive(Clone)]
pub struct SessionRow {
    pub reference: String,
    pub kind: Kind,
    pub context_type: String,
    pub context_value: String,
    pub auth_reference: String,
    pub ksef_token_ref: Option<String>,
    pub form: FormCode,
    pub symmetric_key: Option<[u8; 32]>,
    pub iv: [u8; 16],
    pub offline_mode: bool,
    pub status_code: i64,
    pub status_description: String,
    pub status_details: Vec<String>,
    pub created_ms: i64,
    pub updated_ms: i64,
    pub valid_until_ms: i64,
    pub batch_file: Option<String>,
    pub upo_reference: Option<String>,
}

impl std::fmt::Debug for SessionRow {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SessionRow")
            .field("reference", &self.reference)
            .field("kind", &self.kind)
            .field("context_value", &self.context_value)
            .field("form", &self.form)
            .field("has_key", &self.symmetric_key.is_some())
            .field("status_code", &self.status_code)
            .finish_non_exhaustive()
    }
}

pub const SESSION_COLUMNS: &str = "reference_number, session_type, context_type, context_value, \
     subject_type, subject_value, auth_reference, ksef_token_ref, form_system_code, \
     form_schema_version, form_value, symmetric_key, iv, offline_mode, status_code, \
     status_description, status_details, created_ms, updated_ms, closed_ms, valid_until_ms, \
     batch_file, upo_reference";

impl SessionRow {
    pub fn from_row(r: &SqliteRow) -> ApiResult<SessionRow> {
        let kind = match r.get::<String, _>("session_type").as_str() {
            "Online" => Kind::Online,
            "Batch" => Kind::Batch,
            other => {
                return Err(ApiError::internal(format!("stored session type {other:?}")));
            }
        };
        let (sc, sv, v): (String, String, String) = (
            r.get("form_system_code"),
            r.get("form_schema_version"),
            r.get("form_value"),
        );
        let form = FormCode::from_parts(&sc, &sv, &v)
            .ok_or_else(|| ApiError::internal(format!("stored form code {sc} {sv} {v}")))?;
        let key: Option<Vec<u8>> = r.get("symmetric_key");
        let iv: Vec<u8> = r.get("iv");
        Ok(SessionRow {
            reference: r.get("reference_number"),
            kind,
            context_type: r.get("context_type"),
            context_value: r.get("context_value"),
            auth_reference: r.get("auth_reference"),
            ksef_token_ref: r.get("ksef_token_ref"),
            form,
            symmetric_key: key.and_then(|k| <[u8; 32]>::try_from(k.as_slice()).ok()),
            iv: <[u8; 16]>::try_from(iv.as_slice())
                .map_err(|_| ApiError::internal("stored IV is not 16 bytes"))?,
            offline_mode: r.get::<i64, _>("offline_mode") != 0,
            status_code: r.get("status_code"),
            status_description: r.get("status_description"),
            status_details: serde_json::from_str(&r.get::<String, _>("status_details"))
                .unwrap_or_default(),
            created_ms: r.get("created_ms"),
            updated_ms: r.get("updated_ms"),
            valid_until_ms: r.get("valid_until_ms"),
            batch_file: r.get("batch_file"),
            upo_reference: r.get("upo_reference"),
        })
    }

    /// The caller's context owns this session.
    pub fn in_context(&self, caller: &Caller) -> bool {
        self.context_type == caller.context.kind().as_str()
            && self.context_value == caller.context.value()
    }
}

/// Loads a session by reference number (any context).
pub async fn load(state: &AppState, reference: &str) -> ApiResult<Option<SessionRow>> {
    let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE reference_number = ?");
    let row = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(reference)
        .fetch_optional(state.pool())
        .await?;
    row.as_ref().map(SessionRow::from_row).transpose()
}

/// 400/21173 for a session that does not exist (or is not visible to the caller).
pub fn not_found(reference: &str) -> ApiError {
    ApiError::bad(
        ExceptionCode::SessionNotFound,
        format!("Sesja o numerze referencyjnym {reference} nie została znaleziona."),
    )
}

/// Loads a session of the caller's context, resolving a due expiry first; 21173 when it does
/// not exist, belongs to another context or is of the other kind (`kind`).
pub async fn load_visible(
    state: &AppState,
    caller: &Caller,
    reference: &str,
    kind: Option<Kind>,
) -> ApiResult<SessionRow> {
    // One read in the common case: the expiry is resolved only for an open session that is due
    // (what `expire_due` would look for), and the session read again after it.
    let mut row = load(state, reference).await?;
    if row
        .as_ref()
        .is_some_and(|s| s.status_code == 100 && s.valid_until_ms <= ms(state.now()))
        && expire_due(state, Some(reference)).await?
    {
        row = load(state, reference).await?;
    }
    match row {
        Some(s) if s.in_context(caller) && kind.is_none_or(|k| k == s.kind) => Ok(s),
        _ => Err(not_found(reference)),
    }
}

/// Resolves sessions whose `validUntil` has passed (all, or only `only`): an open online
/// session is closed (170, then finalised by the engine); a batch session never closed is
/// cancelled (440 "Przekroczono czas wysyłki"). Returns whether anything changed.
pub async fn expire_due(state: &AppState, only: Option<&str>) -> ApiResult<bool> {
    let now = ms(state.now());
    let filter = if only.is_some() {
        " AND reference_number = ?"
    } else {
        ""
    };
    // A read first: an UPDATE would queue behind a long batch commit for the write lock even
    // when nothing is due, stalling every status request.
    let probe = format!(
        "SELECT EXISTS(SELECT 1 FROM sessions WHERE status_code = 100 AND valid_until_ms <= ?{filter})"
    );
    let mut q = sqlx::query_scalar::<_, i64>(sqlx::AssertSqlSafe(probe)).bind(now);
    if let Some(r) = only {
        q = q.bind(r);
    }
    if q.fetch_one(state.pool()).await? == 0 {
        return Ok(false);
    }
    let online = format!(
        "UPDATE sessions SET status_code = 170, status_description = ?, closed_ms = valid_until_ms, \
         updated_ms = valid_until_ms \
         WHERE session_type = 'Online' AND status_code = 100 AND valid_until_ms <= ?{filter}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(online))
        .bind(session_description(Kind::Online, 170))
        .bind(now);
    if let Some(r) = only {
        q = q.bind(r);
    }
    let closed = q.execute(state.pool()).await?.rows_affected();
    let batch = format!(
        "UPDATE sessions SET status_code = 440, status_description = ?, status_details = ?, \
         closed_ms = valid_until_ms, updated_ms = valid_until_ms \
         WHERE session_type = 'Batch' AND status_code = 100 AND valid_until_ms <= ?{filter}"
    );
    let mut q = sqlx::query(sqlx::AssertSqlSafe(batch))
        .bind(session_description(Kind::Batch, 440))
        .bind(details_json(&[DETAIL_UPLOAD_TIMEOUT]))
        .bind(now);
    if let Some(r) = only {
        q = q.bind(r);
    }
    let cancelled = q.execute(state.pool()).await?.rows_affected();
    if closed > 0 {
        state.sessions().wake();
    }
    Ok(closed + cancelled > 0)
}

pub fn details_json<S: AsRef<str>>(details: &[S]) -> String {
    serde_json::to_string(&details.iter().map(|d| d.as_ref()).collect::<Vec<_>>())
        .unwrap_or_else(|_| "[]".into())
}

/// Sets a final (or intermediate) session status if the session is still in one of `from`.
pub async fn set_status(
    state: &AppState,
    reference: &str,
    kind: Kind,
    from: &[i64],
    code: i64,
    details: &[&str],
) -> ApiResult<bool> {
    let now = ms(state.now());
    let from_list = from
        .iter()
        .map(|c| c.to_string())
        .collect::<Vec<_>>()
        .join(",");
    let sql = format!(
        "UPDATE sessions SET status_code = ?, status_description = ?, status_details = ?, \
         updated_ms = ?, closed_ms = COALESCE(closed_ms, ?) \
         WHERE reference_number = ? AND status_code IN ({from_list})"
    );
    let n = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(code)
        .bind(session_description(kind, code))
        .bind(details_json(details))
        .bind(now)
        .bind(now)
        .bind(reference)
        .execute(state.pool())
        .await?
        .rows_affected();
    Ok(n > 0)
}

/// Polish local date of an instant (KSeF numbers and the P_1 rule use the Polish calendar day).
pub fn warsaw_date(t: OffsetDateTime) -> time::Date {
    ksef_core::warsaw::to_warsaw(t).date()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptions() {
        assert_eq!(session_description(Kind::Batch, 150), "Trwa przetwarzanie");
        assert_eq!(
            session_description(Kind::Online, 500),
            "Nieznany błąd (500)"
        );
        assert_eq!(invoice_description(440), "Duplikat faktury");
    }

    #[test]
    fn warsaw_day_boundary() {
        // 23:30 UTC in January is 00:30 the next day in Warsaw.
        let t = time::macros::datetime!(2026-01-14 23:30 UTC);
        assert_eq!(warsaw_date(t), time::macros::date!(2026 - 01 - 15));
    }
}
