//! The SQL of the `ksef_tokens` table.

use ksef_core::{
    ContextIdentifier, ContextIdentifierType, Permission, ReferenceNumber, SubjectIdentifier,
    TokenPermission, TokenStatus,
};
use sqlx::sqlite::SqliteRow;
use sqlx::{FromRow, Row};
use time::OffsetDateTime;

use super::StoredToken;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{from_ms, ms};

/// One row of `ksef_tokens`.
struct TokenRow {
    reference_number: String,
    context_type: String,
    context_value: String,
    author_type: String,
    author_value: String,
    description: String,
    permissions: String,
    secret_sha256: Vec<u8>,
    created_ms: i64,
    last_use_ms: Option<i64>,
    status: String,
    activate_at_ms: i64,
    revoked_at_ms: Option<i64>,
    status_details: String,
}

impl FromRow<'_, SqliteRow> for TokenRow {
    fn from_row(r: &SqliteRow) -> Result<Self, sqlx::Error> {
        Ok(TokenRow {
            reference_number: r.try_get("reference_number")?,
            context_type: r.try_get("context_type")?,
            context_value: r.try_get("context_value")?,
            author_type: r.try_get("author_type")?,
            author_value: r.try_get("author_value")?,
            description: r.try_get("description")?,
            permissions: r.try_get("permissions")?,
            secret_sha256: r.try_get("secret_sha256")?,
            created_ms: r.try_get("created_ms")?,
            last_use_ms: r.try_get("last_use_ms")?,
            status: r.try_get("status")?,
            activate_at_ms: r.try_get("activate_at_ms")?,
            revoked_at_ms: r.try_get("revoked_at_ms")?,
            status_details: r.try_get("status_details")?,
        })
    }
}

/// Loads a token, resolving due asynchronous transitions (Pending → Active, Revoking → Revoked)
/// and persisting them.
pub async fn load(state: &AppState, reference: &str) -> ApiResult<Option<StoredToken>> {
    let Some(r) = sqlx::query_as::<_, TokenRow>(
        "SELECT reference_number, context_type, context_value, author_type, author_value, \
         description, permissions, secret_sha256, created_ms, last_use_ms, status, \
         activate_at_ms, revoked_at_ms, status_details FROM ksef_tokens WHERE reference_number = ?",
    )
    .bind(reference)
    .fetch_optional(state.pool())
    .await?
    else {
        return Ok(None);
    };
    let now = ms(state.now());
    let mut status: TokenStatus = r
        .status
        .parse()
        .map_err(|e| ApiError::internal(format!("stored token status: {e}")))?;
    let next = match status {
        TokenStatus::Pending if now >= r.activate_at_ms => Some(TokenStatus::Active),
        TokenStatus::Revoking if r.revoked_at_ms.is_some_and(|t| now >= t) => {
            Some(TokenStatus::Revoked)
        }
        _ => None,
    };
    if let Some(next) = next
        && status.can_transition_to(next)
    {
        sqlx::query("UPDATE ksef_tokens SET status = ? WHERE reference_number = ? AND status = ?")
            .bind(next.as_str())
            .bind(reference)
            .bind(status.as_str())
            .execute(state.pool())
            .await?;
        status = next;
    }
    let ctx_type: ContextIdentifierType = r
        .context_type
        .parse()
        .map_err(|e| ApiError::internal(format!("stored context type: {e}")))?;
    let context = ContextIdentifier::parse(ctx_type, &r.context_value)
        .map_err(|e| ApiError::internal(format!("stored context: {e}")))?;
    let author_kind = r
        .author_type
        .parse()
        .map_err(|e| ApiError::internal(format!("stored author type: {e}")))?;
    let author = SubjectIdentifier::parse(author_kind, &r.author_value)
        .map_err(|e| ApiError::internal(format!("stored author: {e}")))?;
    let requested: Vec<TokenPermission> =
        serde_json::from_str(&r.permissions).map_err(ApiError::internal)?;
    Ok(Some(StoredToken {
        reference_number: r.reference_number,
        context,
        author,
        description: r.description,
        permissions: requested.iter().map(|p| Permission::from(*p)).collect(),
        requested,
        secret_sha256: r.secret_sha256,
        created: from_ms(r.created_ms),
        last_use: r.last_use_ms.map(from_ms),
        status,
        status_details: serde_json::from_str(&r.status_details).unwrap_or_default(),
    }))
}

pub async fn touch_last_use(state: &AppState, reference: &str) -> ApiResult<()> {
    sqlx::query("UPDATE ksef_tokens SET last_use_ms = ? WHERE reference_number = ?")
        .bind(ms(state.now()))
        .bind(reference)
        .execute(state.pool())
        .await?;
    Ok(())
}

/// Stores a new token (status `Pending` until the configured activation delay has passed).
pub(super) async fn insert(
    state: &AppState,
    reference: &ReferenceNumber,
    caller: &Caller,
    description: &str,
    perms_json: &str,
    secret_sha256: &[u8],
    now: OffsetDateTime,
) -> ApiResult<()> {
    sqlx::query(
        "INSERT INTO ksef_tokens(reference_number, context_type, context_value, author_type, author_value, \
         description, permissions, secret_sha256, created_ms, status, activate_at_ms) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
    )
    .bind(reference.as_str())
    .bind(caller.context.kind().as_str())
    .bind(caller.context.value())
    .bind(caller.subject.kind().as_str())
    .bind(caller.subject.value())
    .bind(description)
    .bind(perms_json)
    .bind(secret_sha256)
    .bind(ms(now))
    .bind(TokenStatus::Pending.as_str())
    .bind(ms(now + state.config().token_activation_delay))
    .execute(state.pool())
    .await?;
    Ok(())
}

/// The reference numbers of a context's tokens, newest first.
pub(super) async fn references_of_context(
    state: &AppState,
    context: &ContextIdentifier,
) -> ApiResult<Vec<String>> {
    Ok(sqlx::query_scalar(
        "SELECT reference_number FROM ksef_tokens WHERE context_type = ? AND context_value = ? \
         ORDER BY created_ms DESC, reference_number DESC",
    )
    .bind(context.kind().as_str())
    .bind(context.value())
    .fetch_all(state.pool())
    .await?)
}

/// `Pending`/`Active` → `Revoking`, revoked for good at `revoked_at`.
pub(super) async fn mark_revoking(
    state: &AppState,
    reference: &str,
    revoked_at: OffsetDateTime,
) -> ApiResult<()> {
    sqlx::query("UPDATE ksef_tokens SET status = ?, revoked_at_ms = ? WHERE reference_number = ? AND status IN ('Pending','Active')")
        .bind(TokenStatus::Revoking.as_str())
        .bind(ms(revoked_at))
        .bind(reference)
        .execute(state.pool())
        .await?;
    Ok(())
}
