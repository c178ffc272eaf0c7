//! The SQL of the `ksef_tokens` table.

use ksef_core::{
    ContextIdentifier, ContextIdentifierType, Permission, ReferenceNumber, SubjectIdentifier,
    TokenPermission, TokenStatus,
};
use sqlx::Row;
use time::OffsetDateTime;

use super::StoredToken;
use crate::auth::Caller;
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;
use crate::store::{from_ms, ms};

/// Loads a token, resolving due asynchronous transitions (Pending → Active, Revoking → Revoked)
/// and persisting them.
pub async fn load(state: &AppState, reference: &str) -> ApiResult<Option<StoredToken>> {
    let Some(r) = sqlx::query("SELECT * FROM ksef_tokens WHERE reference_number = ?")
        .bind(reference)
        .fetch_optional(state.pool())
        .await?
    else {
        return Ok(None);
    };
    let now = ms(state.now());
    let mut status: TokenStatus = r
        .get::<String, _>("status")
        .parse()
        .map_err(|e| ApiError::internal(format!("stored token status: {e}")))?;
    let activate_at: i64 = r.get("activate_at_ms");
    let revoked_at: Option<i64> = r.get("revoked_at_ms");
    let next = match status {
        TokenStatus::Pending if now >= activate_at => Some(TokenStatus::Active),
        TokenStatus::Revoking if revoked_at.is_some_and(|t| now >= t) => Some(TokenStatus::Revoked),
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
        .get::<String, _>("context_type")
        .parse()
        .map_err(|e| ApiError::internal(format!("stored context type: {e}")))?;
    let context = ContextIdentifier::parse(ctx_type, &r.get::<String, _>("context_value"))
        .map_err(|e| ApiError::internal(format!("stored context: {e}")))?;
    let author_kind = r
        .get::<String, _>("author_type")
        .parse()
        .map_err(|e| ApiError::internal(format!("stored author type: {e}")))?;
    let author = SubjectIdentifier::parse(author_kind, &r.get::<String, _>("author_value"))
        .map_err(|e| ApiError::internal(format!("stored author: {e}")))?;
    let requested: Vec<TokenPermission> =
        serde_json::from_str(&r.get::<String, _>("permissions")).map_err(ApiError::internal)?;
    Ok(Some(StoredToken {
        reference_number: r.get("reference_number"),
        context,
        author,
        description: r.get("description"),
        permissions: requested.iter().map(|p| Permission::from(*p)).collect(),
        requested,
        secret_sha256: r.get("secret_sha256"),
        created: from_ms(r.get("created_ms")),
        last_use: r.get::<Option<i64>, _>("last_use_ms").map(from_ms),
        status,
        status_details: serde_json::from_str(&r.get::<String, _>("status_details"))
            .unwrap_or_default(),
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
