//! KSeF tokens: generate (with the seed's rules checked before KSeF is called), list, show,
//! revoke. Token management needs a session opened by certificate or Profil Zaufany.

use std::time::Duration;

use ksef_client::TokenQuery;
use ksef_core::{Permission, TokenPermission, TokenStatus};
use ksef_wire::QueryTokensResponseItem;

use crate::{
    App, Field, InputProblem, Operation, ProgramError, ProgramResult, StoredSession,
    TokenSessionRefusal,
};

/// The seed: "Sesja z tokenem nie może generować kolejnych podtokenów" / cannot browse tokens.
fn refuse_token_session(s: &StoredSession, what: TokenSessionRefusal) -> ProgramResult<()> {
    if s.session.is_token_session() {
        return Err(ProgramError::RefusedInTokenSession(what));
    }
    Ok(())
}

fn held(s: &StoredSession) -> Option<Vec<Permission>> {
    s.permissions
        .as_ref()
        .map(|v| v.iter().filter_map(|p| p.parse().ok()).collect())
}

/// The permissions known to be held in the session's context (`None` = unknown: KSeF decides).
pub fn held_permissions(s: &StoredSession) -> Option<Vec<Permission>> {
    held(s)
}

/// Why a session may not generate tokens (the seed's rule), or `None` if it may.
pub fn generate_refusal(s: &StoredSession) -> Option<ProgramError> {
    refuse_token_session(s, TokenSessionRefusal::GenerateTokens).err()
}

/// Why a session may not browse tokens (token session), or `None` if it may.
pub fn browse_refusal(s: &StoredSession) -> Option<ProgramError> {
    refuse_token_session(s, TokenSessionRefusal::BrowseTokens).err()
}

/// One token permission as offered on "Nadaj uprawnienia KSeF".
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OfferedPermission {
    pub permission: TokenPermission,
    /// Held in the session's context (or unknown, then KSeF decides).
    pub held: bool,
}

/// Every token permission, marked held or not for this session.
pub fn offered_permissions(s: &StoredSession) -> Vec<OfferedPermission> {
    let have = held(s);
    TokenPermission::ALL
        .iter()
        .map(|p| OfferedPermission {
            permission: *p,
            held: have
                .as_ref()
                .is_none_or(|h| h.contains(&Permission::from(*p))),
        })
        .collect()
}

/// Whether the session may browse tokens (CredentialsRead or CredentialsManage; `true` when
/// the held permissions are unknown — then KSeF decides).
pub fn can_browse(s: &StoredSession) -> bool {
    held(s).is_none_or(|h| {
        h.contains(&Permission::CredentialsRead) || h.contains(&Permission::CredentialsManage)
    })
}

/// Whether the session may revoke tokens (CredentialsManage; `true` when unknown).
pub fn can_revoke(s: &StoredSession) -> bool {
    held(s).is_none_or(|h| h.contains(&Permission::CredentialsManage))
}

/// What a program user's KSeF token gives, read in a token session of its own.
#[derive(Debug, Clone)]
pub struct TokenCheck {
    pub reference_number: String,
    pub context: String,
    pub status: String,
    pub permissions: Vec<String>,
    pub description: String,
}

/// Opens a token session with the token saved on `user` (beside the caller's own session,
/// which stays untouched), reads the token's permissions (`GET /tokens/{ref}`, visible to the
/// token's own session) and ends that session.
pub async fn check_user_token(
    app: &App,
    user: &crate::users::ProgramUser,
    firm: Option<&str>,
) -> ProgramResult<TokenCheck> {
    let mut side = app.side_app();
    let store = side.store().await?.clone();
    let (firm, token) = crate::users::own_token(&store, user, firm).await?;
    let reference = token
        .parse::<ksef_core::KsefToken>()
        .map(|t| t.reference_number().to_string())
        .map_err(|_| crate::users::UserError::TokenDamaged {
            user: user.name().to_string(),
        })?;
    drop(token);
    let s = crate::auth::login_with_user(&mut side, user, Some(&firm)).await?;
    let access = s.session.access_token.expose_secret().clone();
    let result = side.client.token_status(&access, &reference).await;
    let _ = side.client.logout(&access).await;
    side.clear_session().await?;
    let t = result?;
    crate::users::record_token_status(&store, &t.reference_number, t.status.as_str()).await?;
    Ok(TokenCheck {
        reference_number: t.reference_number,
        context: format!(
            "{}:{}",
            t.context_identifier.r#type.as_str(),
            t.context_identifier.value
        ),
        status: t.status.as_str().to_string(),
        permissions: t
            .requested_permissions
            .iter()
            .map(|p| p.as_str().to_string())
            .collect(),
        description: t.description,
    })
}

/// Outcome of `token generate`.
pub struct Generated {
    pub reference_number: String,
    pub token: ksef_crypto::Zeroizing<String>,
}

/// `ksef token generate`: checks locally, mints, waits for Active, optionally saves on a user.
pub async fn generate(
    app: &mut App,
    permissions: &[TokenPermission],
    description: &str,
    save_to_user: Option<&str>,
) -> ProgramResult<Generated> {
    let len = description.chars().count();
    if !(5..=256).contains(&len) {
        return Err(ProgramError::invalid(
            Field::Description,
            InputProblem::Length {
                min: 5,
                max: 256,
                actual: len,
            },
        ));
    }
    if permissions.is_empty() {
        return Err(ProgramError::invalid(
            Field::TokenPermissions,
            InputProblem::Missing {
                hint: "at least one permission",
            },
        ));
    }
    if let Some(user) = save_to_user {
        // Fails with the store's UnknownUser before anything is minted.
        app.store().await?.user(user).await?;
    }
    let s = app.session().await?;
    refuse_token_session(&s, TokenSessionRefusal::GenerateTokens)?;
    if let Some(have) = held(&s) {
        let missing: Vec<TokenPermission> = permissions
            .iter()
            .filter(|p| !have.contains(&Permission::from(**p)))
            .copied()
            .collect();
        if !missing.is_empty() {
            return Err(ProgramError::TokenPermissionsNotHeld { missing });
        }
    }
    let access = s.session.access_token.expose_secret().clone();
    let created = app
        .client
        .generate_token(&access, permissions, description)
        .await?;
    let reference = created.reference_number.clone();
    let token = ksef_crypto::Zeroizing::new(created.token.expose_secret().clone());
    app.client
        .wait_token_active(&access, &reference, Duration::from_secs(120))
        .await?;
    if let Some(user) = save_to_user {
        app.store().await?.set_user_token(user, &token).await?;
    }
    Ok(Generated {
        reference_number: reference,
        token,
    })
}

fn parse_statuses(statuses: &[String]) -> ProgramResult<Vec<TokenStatus>> {
    statuses
        .iter()
        .flat_map(|s| s.split(','))
        .filter(|s| !s.trim().is_empty())
        .map(|s| {
            s.trim().parse::<TokenStatus>().map_err(|e| {
                ProgramError::invalid(
                    Field::TokenStatus,
                    InputProblem::UnexpectedValue {
                        value: e.value,
                        expected: e.expected.join(", "),
                    },
                )
            })
        })
        .collect()
}

/// `ksef token list`.
pub async fn list(
    app: &mut App,
    statuses: &[String],
) -> ProgramResult<Vec<QueryTokensResponseItem>> {
    let statuses = parse_statuses(statuses)?;
    let s = app.session().await?;
    refuse_token_session(&s, TokenSessionRefusal::BrowseTokens)?;
    let query = TokenQuery {
        statuses,
        ..TokenQuery::default()
    };
    let list = app
        .client
        .list_all_tokens(s.session.access_token.expose_secret(), &query)
        .await?;
    record_statuses(app, &list).await?;
    Ok(list)
}

/// Remembers the statuses KSeF reported for tokens held by program users.
async fn record_statuses(app: &mut App, list: &[QueryTokensResponseItem]) -> ProgramResult<()> {
    let store = app.store().await?.clone();
    let held = crate::users::holders(&store.list_users().await?);
    for t in list
        .iter()
        .filter(|t| held.contains_key(&t.reference_number))
    {
        crate::users::record_token_status(&store, &t.reference_number, t.status.as_str()).await?;
    }
    Ok(())
}

/// `ksef token show REF`.
pub async fn show(app: &mut App, reference: &str) -> ProgramResult<QueryTokensResponseItem> {
    let s = app.session().await?;
    refuse_token_session(&s, TokenSessionRefusal::BrowseTokens)?;
    let t = app
        .client
        .token_status(s.session.access_token.expose_secret(), reference)
        .await?;
    record_statuses(app, std::slice::from_ref(&t)).await?;
    Ok(t)
}

/// `ksef token revoke REF`: only with CredentialsManage (the seed: "Usuwanie tokenów jest jedynie
/// możliwe dla użytkowników, którzy mają w KSeF uprawnienie zarządzania uprawnieniami").
pub async fn revoke(app: &mut App, reference: &str) -> ProgramResult<()> {
    let s = app.session().await?;
    refuse_token_session(&s, TokenSessionRefusal::RevokeTokens)?;
    if let Some(have) = held(&s)
        && !have.contains(&Permission::CredentialsManage)
    {
        return Err(ProgramError::PermissionMissing {
            operation: Operation::RevokeTokens,
            needed: vec![Permission::CredentialsManage],
            held: s.permissions.clone().unwrap_or_default(),
        });
    }
    let access = s.session.access_token.expose_secret().clone();
    app.client.revoke_token(&access, reference).await?;
    // KSeF revokes asynchronously (Revoking → Revoked); remember what it says now.
    let status = match app.client.token_status(&access, reference).await {
        Ok(t) => t.status.as_str().to_string(),
        Err(_) => "Revoking".to_string(),
    };
    let store = app.store().await?.clone();
    crate::users::record_token_status(&store, reference, &status).await?;
    Ok(())
}
