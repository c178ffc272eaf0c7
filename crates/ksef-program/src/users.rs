//! The program's users and their rules, in one place: who may log in to the program (a
//! password; the first administrator on a fresh store), who administers (adds users, sets
//! passwords), whose KSeF token may be saved by whom and used by whom, which token a user
//! holds and whether it may still be offered for a KSeF login.
//!
//! The store ([`ksef_store`]) keeps the secrets (Argon2id hashes, a key pair per user, tokens
//! sealed to it); this module decides. Front ends (the web app, the CLI) call these functions
//! and never apply a user rule themselves.

use std::collections::BTreeMap;

use ksef_crypto::Zeroizing;
use ksef_store::{Store, TokenAfterReset, UnlockedUser, UserInfo, UserToken};

use crate::{ProgramError, ProgramResult};

/// What a user rule refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The action needs an administrator.
    #[error("only a program administrator may {action}")]
    NotAdmin { action: AdminAction },
    /// The first administrator exists already; the setup cannot run again.
    #[error("the program already has an administrator; log in instead")]
    SetupDone,
    /// The program has no administrator yet: run the first-start setup.
    #[error("the program has no users yet; create the first administrator first")]
    SetupNeeded,
    /// A user who is not an administrator may save a token only on themselves.
    #[error("program user {user:?} may save a KSeF token only on their own account")]
    OnlyOwnToken { user: String },
    /// The user holds tokens for several firms and none was named.
    #[error(
        "program user {user:?} holds KSeF tokens for several firms ({}); name one with --nip",
        firms.join(", ")
    )]
    FirmNeeded { user: String, firms: Vec<String> },
    /// The user holds no KSeF token for this firm.
    #[error("program user {user:?} has no KSeF token for {firm}")]
    NoTokenForFirm { user: String, firm: String },
    /// The user holds no KSeF token.
    #[error(
        "program user {user:?} has no KSeF token; save one first (`ksef user set-token {user}`)"
    )]
    NoToken { user: String },
    /// The user's token is known to be unusable (revoked, failed).
    #[error("the KSeF token of program user {user:?} is {status} in KSeF and cannot be used")]
    TokenUnusable { user: String, status: String },
    /// The stored token text is not a KSeF token (damaged store).
    #[error("the KSeF token saved on program user {user:?} is not a valid KSeF token")]
    TokenDamaged { user: String },
    /// An administrator may not remove their own account while logged in with it.
    #[error("you cannot remove the account you are logged in with")]
    RemoveSelf,
}

/// Actions reserved to administrators (named in [`UserError::NotAdmin`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AdminAction {
    AddUser,
    RemoveUser,
    SetPassword,
    SetAdmin,
    SaveTokenForOthers,
}

impl std::fmt::Display for AdminAction {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            AdminAction::AddUser => "add program users",
            AdminAction::RemoveUser => "remove program users",
            AdminAction::SetPassword => "set another user's password",
            AdminAction::SetAdmin => "change who is an administrator",
            AdminAction::SaveTokenForOthers => "save a KSeF token on another user",
        })
    }
}

/// The program user logged in (by password): the only one whose KSeF token the program uses.
#[derive(Debug)]
pub struct ProgramUser {
    unlocked: UnlockedUser,
}

impl ProgramUser {
    /// The user's name as stored.
    pub fn name(&self) -> &str {
        self.unlocked.name()
    }

    /// Whether the user administers the program (as when logged in).
    pub fn is_admin(&self) -> bool {
        self.unlocked.is_admin()
    }

    /// Refuses unless the user is an administrator *now* (read from the store, so a role
    /// taken away meanwhile counts, and a removed user can do nothing).
    async fn require_admin(&self, store: &Store, action: AdminAction) -> ProgramResult<()> {
        if store.user(self.name()).await?.is_admin {
            Ok(())
        } else {
            Err(UserError::NotAdmin { action }.into())
        }
    }

    fn is(&self, name: &str) -> bool {
        same_name(self.name(), name)
    }
}

/// Whether two user names name the same user (trimmed, case-insensitive in Unicode, as the
/// store compares them).
pub fn same_name(a: &str, b: &str) -> bool {
    a.trim().to_lowercase() == b.trim().to_lowercase()
}

/// KSeF token statuses that can never log in again.
const UNUSABLE_STATUSES: [&str; 3] = ["Revoking", "Revoked", "Failed"];

/// Whether a token may be offered for a KSeF login (not known to be revoked or failed).
pub fn usable(token: &UserToken) -> bool {
    !token
        .status
        .as_deref()
        .is_some_and(|s| UNUSABLE_STATUSES.contains(&s))
}

/// Whether the user's token for a firm may be offered for a KSeF login (held, not known to
/// be revoked or failed).
pub fn token_usable(user: &UserInfo, firm: &str) -> bool {
    user.token_for(firm).is_some_and(usable)
}

/// Who holds which token: token reference → the users holding it (the seed: "widoczne są
/// osoby, które mają przypisany token").
pub fn holders(users: &[UserInfo]) -> BTreeMap<String, Vec<String>> {
    let mut map: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for u in users {
        for t in &u.tokens {
            map.entry(t.reference.clone())
                .or_default()
                .push(u.name.clone());
        }
    }
    map
}

/// Whether the first-start setup must run (no administrator yet).
pub async fn setup_needed(store: &Store) -> ProgramResult<bool> {
    Ok(store.needs_first_admin().await?)
}

/// The first-start setup: creates the first administrator and logs them in. Refused once an
/// administrator exists. If a user of that name exists (a store from before passwords), it
/// gets the password and becomes the administrator; its old token is kept, re-sealed.
pub async fn create_first_admin(
    store: &Store,
    name: &str,
    password: &str,
) -> ProgramResult<ProgramUser> {
    match store.add_first_admin(name, password).await {
        Ok(()) => {}
        Err(ksef_store::StoreError::FirstAdminExists) => return Err(UserError::SetupDone.into()),
        Err(e) => return Err(e.into()),
    }
    log_in(store, name, password).await
}

/// Logs a program user in with the password (wrong passwords count towards a lock-out).
pub async fn log_in(store: &Store, name: &str, password: &str) -> ProgramResult<ProgramUser> {
    if store.needs_first_admin().await? && store.list_users().await?.is_empty() {
        return Err(UserError::SetupNeeded.into());
    }
    let unlocked = store.unlock_user(name, password).await?;
    Ok(ProgramUser { unlocked })
}

/// The logged-in user's current entry (fresh from the store: admin flag, token, status).
pub async fn me(store: &Store, me: &ProgramUser) -> ProgramResult<UserInfo> {
    Ok(store.user(me.name()).await?)
}

/// An administrator adds a user with a password.
pub async fn add_user(
    store: &Store,
    by: &ProgramUser,
    name: &str,
    password: &str,
    admin: bool,
) -> ProgramResult<()> {
    by.require_admin(store, AdminAction::AddUser).await?;
    Ok(store.add_user(name, password, admin).await?)
}

/// Sets a password: an administrator for anyone (a new key pair — a token sealed to the old
/// one is removed), a user for themselves with the current password (key and token kept).
pub async fn set_password(
    store: &Store,
    by: &ProgramUser,
    name: &str,
    current_password: Option<&str>,
    new_password: &str,
) -> ProgramResult<TokenAfterReset> {
    if by.is(name)
        && let Some(current) = current_password
    {
        let again = store.unlock_user(by.name(), current).await?;
        store.change_password(&again, new_password).await?;
        return Ok(TokenAfterReset::Kept);
    }
    by.require_admin(store, AdminAction::SetPassword).await?;
    Ok(store.set_password(name, new_password).await?)
}

/// An administrator makes a user an administrator or not (the last one stays).
pub async fn set_admin(
    store: &Store,
    by: &ProgramUser,
    name: &str,
    admin: bool,
) -> ProgramResult<()> {
    by.require_admin(store, AdminAction::SetAdmin).await?;
    Ok(store.set_admin(name, admin).await?)
}

/// An administrator removes a user (not themselves, not the last administrator).
pub async fn remove_user(store: &Store, by: &ProgramUser, name: &str) -> ProgramResult<()> {
    by.require_admin(store, AdminAction::RemoveUser).await?;
    if by.is(name) {
        return Err(UserError::RemoveSelf.into());
    }
    Ok(store.remove_user(name).await?)
}

/// Saves a KSeF token on a user, sealed to that user: users on themselves, administrators on
/// anyone (they cannot read it back).
pub async fn save_token(
    store: &Store,
    by: &ProgramUser,
    for_user: &str,
    token: &str,
) -> ProgramResult<String> {
    if !by.is(for_user) && !store.user(by.name()).await?.is_admin {
        return Err(UserError::OnlyOwnToken {
            user: by.name().to_string(),
        }
        .into());
    }
    Ok(store.set_user_token(for_user, token).await?)
}

/// Saves a token on a user without a logged-in program user: the command line, run by whoever
/// can open the store (sealing needs no password; reading it back does).
pub async fn save_token_locally(
    store: &Store,
    for_user: &str,
    token: &str,
) -> ProgramResult<String> {
    Ok(store.set_user_token(for_user, token).await?)
}

/// The firm whose token to use: the one asked for, or the user's only one.
pub fn choose_firm(info: &UserInfo, firm: Option<&str>) -> ProgramResult<String> {
    match firm {
        Some(f) => Ok(f.to_string()),
        None => match info.tokens.as_slice() {
            [] => Err(UserError::NoToken {
                user: info.name.clone(),
            }
            .into()),
            [only] => Ok(only.firm.clone()),
            many => Err(UserError::FirmNeeded {
                user: info.name.clone(),
                firms: many.iter().map(|t| t.firm.clone()).collect(),
            }
            .into()),
        },
    }
}

/// The logged-in user's own KSeF token for a firm (or their only one), if usable; with the
/// firm it works in.
pub async fn own_token(
    store: &Store,
    me: &ProgramUser,
    firm: Option<&str>,
) -> ProgramResult<(String, Zeroizing<String>)> {
    let info = store.user(me.name()).await?;
    let firm = choose_firm(&info, firm)?;
    let Some(held) = info.token_for(&firm) else {
        return Err(UserError::NoTokenForFirm {
            user: info.name.clone(),
            firm,
        }
        .into());
    };
    if !usable(held) {
        return Err(UserError::TokenUnusable {
            user: info.name.clone(),
            status: held.status.clone().unwrap_or_default(),
        }
        .into());
    }
    let token = store
        .user_token(&me.unlocked, &firm)
        .await?
        .ok_or_else(|| {
            ProgramError::from(UserError::NoTokenForFirm {
                user: info.name.clone(),
                firm: firm.clone(),
            })
        })?;
    Ok((firm, token))
}

/// Records what KSeF said about a token's status on every user holding it.
pub async fn record_token_status(
    store: &Store,
    reference: &str,
    status: &str,
) -> ProgramResult<()> {
    store.set_token_status(reference, status).await?;
    Ok(())
}
