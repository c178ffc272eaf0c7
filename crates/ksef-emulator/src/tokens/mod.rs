//! KSeF tokens (digest §6 and the seed): generation with the subset rule, asynchronous activation,
//! visibility, revocation. Only the SHA-256 of a token's secret is stored.

use ksef_core::{
    ContextIdentifier, ContextIdentifierType, KsefToken, Permission, PermissionSet, ReferenceKind,
    ReferenceNumber, SubjectIdentifier, TokenPermission, TokenStatus,
};
use sha2::{Digest, Sha256};
use time::OffsetDateTime;

pub(crate) mod routes;
mod store;

pub(crate) use routes::routes;
pub(crate) use store::{load, touch_last_use};

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ForbiddenReason};
use crate::permissions;
use crate::state::AppState;
use ksef_wire::ExceptionCode;

/// A token as stored (never with its secret).
#[derive(Debug, Clone)]
pub struct StoredToken {
    pub reference_number: String,
    pub context: ContextIdentifier,
    pub author: SubjectIdentifier,
    pub description: String,
    pub requested: Vec<TokenPermission>,
    pub permissions: PermissionSet,
    pub secret_sha256: Vec<u8>,
    pub created: OffsetDateTime,
    pub last_use: Option<OffsetDateTime>,
    pub status: TokenStatus,
    pub status_details: Vec<String>,
}

/// `POST /tokens`. Returns the reference number and the token string (shown once).
pub async fn generate(
    state: &AppState,
    caller: &Caller,
    requested: Vec<TokenPermission>,
    description: &str,
) -> ApiResult<(ReferenceNumber, KsefToken)> {
    if caller.is_token_session() && state.config().forbid_token_minting_from_token_sessions {
        return Err(ApiError::forbidden(
            ForbiddenReason::AuthMethodNotAllowed,
            "Sesja uwierzytelniona tokenem KSeF nie może generować kolejnych tokenów. \
             Uwierzytelnij się certyfikatem lub Profilem Zaufanym.",
            serde_json::json!({ "authenticationMethodCategory": "Token" }),
        ));
    }
    let len = description.chars().count();
    if !(5..=256).contains(&len) {
        return Err(ApiError::validation(format!(
            "description: wymagana długość 5–256 znaków, podano {len}."
        )));
    }
    if requested.is_empty() {
        return Err(ApiError::validation(
            "permissions: wymagane co najmniej jedno uprawnienie.",
        ));
    }
    if !matches!(
        caller.context.kind(),
        ContextIdentifierType::Nip | ContextIdentifierType::InternalId
    ) {
        return Err(ApiError::bad(
            ExceptionCode::TokenContextTypeNotAllowed,
            format!(
                "Aktualny typ kontekstu: {}. Dozwolone typy kontekstu: Nip, InternalId.",
                caller.context.kind()
            ),
        ));
    }
    let mut unique: Vec<TokenPermission> = Vec::new();
    for p in requested {
        if !unique.contains(&p) {
            unique.push(p);
        }
    }
    let missing: Vec<String> = unique
        .iter()
        .filter(|p| !caller.permissions.contains(Permission::from(**p)))
        .map(|p| p.as_str().to_string())
        .collect();
    if !missing.is_empty() {
        return Err(ApiError::bad(
            ExceptionCode::TokenPermissionsNotHeld,
            format!("Brakujące uprawnienia: {}.", missing.join(", ")),
        ));
    }
    let now = state.now();
    let reference = ReferenceNumber::generate(ReferenceKind::KsefToken, now);
    let secret: [u8; 32] = rand::random();
    let token = KsefToken::new(reference.clone(), &caller.context, secret);
    let secret_sha256 = Sha256::digest(token.secret_hex().as_bytes()).to_vec();
    let perms_json = serde_json::to_string(&unique).map_err(ApiError::internal)?;
    store::insert(
        state,
        &reference,
        caller,
        description,
        &perms_json,
        &secret_sha256,
        now,
    )
    .await?;
    Ok((reference, token))
}

/// Whether the caller sees all tokens of the context (digest §6.3).
fn sees_all(caller: &Caller) -> bool {
    caller.permissions.contains(Permission::CredentialsManage)
        || caller.permissions.contains(Permission::CredentialsRead)
}

/// Whether `token` is visible to `caller`.
async fn visible(state: &AppState, caller: &Caller, token: &StoredToken) -> ApiResult<bool> {
    if token.context != caller.context {
        return Ok(false);
    }
    if sees_all(caller) {
        return Ok(true);
    }
    if caller.is_token_session() {
        return Ok(caller.ksef_token_ref.as_deref() == Some(token.reference_number.as_str()));
    }
    authored_by(state, caller, token).await
}

/// Authored by the caller, counting the NIP–PESEL link as the same person.
async fn authored_by(state: &AppState, caller: &Caller, token: &StoredToken) -> ApiResult<bool> {
    let ids = permissions::same_person_identifiers(state.pool(), &caller.subject).await?;
    Ok(ids
        .iter()
        .any(|(t, v)| t == token.author.kind().as_str() && v == token.author.value()))
}

/// Filters of `GET /tokens`, validated by the handler.
#[derive(Debug, Default, Clone)]
pub struct TokenFilter {
    pub statuses: Vec<TokenStatus>,
    pub description: Option<String>,
    pub author_identifier: Option<String>,
    pub author_identifier_type: Option<String>,
}

/// `GET /tokens`: one page (newest first) and whether more exist.
pub async fn list(
    state: &AppState,
    caller: &Caller,
    filter: &TokenFilter,
    offset: usize,
    page_size: usize,
) -> ApiResult<(Vec<StoredToken>, bool)> {
    let refs = store::references_of_context(state, &caller.context).await?;
    let mut matching = Vec::new();
    for r in refs {
        let Some(t) = load(state, &r).await? else {
            continue;
        };
        if !visible(state, caller, &t).await? || !filter_matches(filter, &t) {
            continue;
        }
        matching.push(t);
    }
    let more = offset
        .checked_add(page_size)
        .is_some_and(|end| matching.len() > end);
    Ok((
        matching.into_iter().skip(offset).take(page_size).collect(),
        more,
    ))
}

fn filter_matches(f: &TokenFilter, t: &StoredToken) -> bool {
    if !f.statuses.is_empty() && !f.statuses.contains(&t.status) {
        return false;
    }
    if let Some(d) = &f.description
        && !t.description.to_lowercase().contains(&d.to_lowercase())
    {
        return false;
    }
    if let Some(a) = &f.author_identifier
        && !t.author.value().to_lowercase().contains(&a.to_lowercase())
    {
        return false;
    }
    if let Some(k) = &f.author_identifier_type
        && t.author.kind().as_str() != k
    {
        return false;
    }
    true
}

fn not_found(reference: &str) -> ApiError {
    ApiError::validation(format!(
        "Token o numerze referencyjnym {reference} nie istnieje w bieżącym kontekście."
    ))
}

/// `GET /tokens/{ref}`.
pub async fn get(state: &AppState, caller: &Caller, reference: &str) -> ApiResult<StoredToken> {
    match load(state, reference).await? {
        Some(t) if visible(state, caller, &t).await? => Ok(t),
        _ => Err(not_found(reference)),
    }
}

/// `DELETE /tokens/{ref}` (digest §6.4).
pub async fn revoke(state: &AppState, caller: &Caller, reference: &str) -> ApiResult<()> {
    // A token the caller may not even see does not exist for them (no existence leak).
    let token = match load(state, reference).await? {
        Some(t) if visible(state, caller, &t).await? => t,
        _ => return Err(not_found(reference)),
    };
    let allowed = if caller.permissions.contains(Permission::CredentialsManage) {
        true
    } else if caller.is_token_session() {
        caller.ksef_token_ref.as_deref() == Some(reference)
    } else {
        authored_by(state, caller, &token).await?
    };
    if !allowed {
        return Err(ApiError::forbidden(
            ForbiddenReason::InsufficientResourceAccess,
            "Usuwanie cudzych tokenów wymaga uprawnienia CredentialsManage.",
            serde_json::json!({
                "requiredAnyOfPermissions": ["CredentialsManage"],
                "presentPermissions": caller.permissions.iter().map(|p| p.as_str()).collect::<Vec<_>>(),
            }),
        ));
    }
    match token.status {
        TokenStatus::Revoking | TokenStatus::Revoked => return Ok(()),
        TokenStatus::Failed => {
            return Err(ApiError::validation(format!(
                "Token {reference} ma status Failed; nie można go unieważnić."
            )));
        }
        TokenStatus::Pending | TokenStatus::Active => {}
    }
    let revoked_at = state.now() + state.config().token_revocation_delay;
    store::mark_revoking(state, reference, revoked_at).await?;
    Ok(())
}
