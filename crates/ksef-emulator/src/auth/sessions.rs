//! Authentication sessions: who sees and who may end which (`GET /auth/sessions`,
//! `DELETE /auth/sessions/…`).
//!
//! Who sees and who may end which authentication session. The specification is silent on it
//! (digest §4.10: UNSURE); the emulator's rule, enforced by `GET /auth/sessions` and
//! `DELETE /auth/sessions/{referenceNumber}`:
//!
//! * Every caller sees and may end its own authentication sessions, i.e. sessions of the same
//!   authenticated subject: for signature (XAdES) logins the sessions whose recorded subject
//!   identifier (NIP, PESEL or certificate fingerprint) equals the caller's and that were not
//!   opened with a KSeF token; for KSeF-token logins the sessions opened with the same KSeF token.
//! * CredentialsManage or CredentialsRead in the context (the owner holds both) shows all
//!   authentication sessions of the context.
//! * Ending another subject's session requires CredentialsManage; a caller who sees the session
//!   but lacks it gets 403 `missing-permissions`.
//! * A session the caller may not see is answered exactly like an unknown reference number
//!   (400/21405), so its existence does not leak.
//!
//! `DELETE /auth/sessions/current` always ends the caller's own session.

use ksef_core::{Permission, SubjectIdentifier};
use sqlx::{QueryBuilder, Sqlite};

use super::context::Caller;
use super::operation::{AuthOperation, load_operation};
use crate::error::{ApiError, ApiResult, ForbiddenReason};
use crate::jwt::Claims;
use crate::state::AppState;
use crate::store::ms;

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
