//! The users dictionary: program users, their passwords, their KSeF tokens.
//!
//! * A user logs in to the program with a password, kept as an Argon2id PHC hash. Repeated
//!   wrong passwords lock the user out for a while ([`MAX_FAILED_LOGINS`], then a lock that
//!   doubles with every further failure, up to [`MAX_LOCK`]).
//! * Each user has a key pair (P-256). Its public half is stored in clear; its private half is
//!   sealed with a key derived from the user's password (Argon2id, own salt), then with the
//!   store key. A KSeF token saved on a user is sealed to the user's public key (then with
//!   the store key): anyone who can open the store can *save* a token for a user (the
//!   administrator pasting it, "Użytkownicy › Edytuj › Token KSeF"), only the user, with the
//!   password, can read or use it.
//! * An administrator's password reset gives the user a new key pair; a token sealed to the
//!   old one cannot be re-sealed and is dropped (the result says so). Users of a store from
//!   before passwords (schema v1) hold tokens sealed with the store key only; they are
//!   re-sealed to the user's key when the user gets a password.
//! * A user's changes run in one transaction; a refused operation writes nothing, except
//!   that a wrong password counts towards the lock-out.

use ksef_core::KsefToken;
use ksef_crypto::sealed_box::{self, SealingKey};
use sqlx::Row;
use time::OffsetDateTime;
use zeroize::Zeroizing;

use crate::error::{Result, StoreError};
use crate::keys::{self, KdfParams, Sealer};
use crate::{MASK_TAIL_CHARS, MAX_USER_NAME_CHARS, Store, format_time, now_text, parse_time};

/// Wrong passwords in a row before a user is locked out.
pub const MAX_FAILED_LOGINS: u32 = 5;
/// The first lock-out; each further wrong password doubles it.
pub const FIRST_LOCK: time::Duration = time::Duration::minutes(1);
/// The longest lock-out.
pub const MAX_LOCK: time::Duration = time::Duration::hours(1);
/// Shortest accepted password, in characters.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Longest accepted password, in bytes (Argon2 input bound; far above any real password).
pub const MAX_PASSWORD_BYTES: usize = 1024;

/// One entry of the users dictionary, as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserInfo {
    /// The name as entered (trimmed).
    pub name: String,
    /// Whether the user administers the program (adds users, sets passwords).
    pub is_admin: bool,
    /// Whether the user has a password (users of a store from before passwords have none
    /// until an administrator sets one).
    pub has_password: bool,
    /// Set while the user is locked out after wrong passwords.
    pub locked_until: Option<OffsetDateTime>,
    /// Whether the user holds a KSeF token for any firm.
    pub has_token: bool,
    /// The user's KSeF tokens, one per firm, sorted by firm.
    pub tokens: Vec<UserToken>,
}

impl UserInfo {
    /// The user's token for a firm (`Nip:5265877635`), if any.
    pub fn token_for(&self, firm: &str) -> Option<&UserToken> {
        self.tokens.iter().find(|t| t.firm == firm)
    }
}

/// A KSeF token held by a user for one firm, as listed (no secret).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserToken {
    /// The firm (KSeF context) the token works in, e.g. `Nip:5265877635` ([`firm_key`]).
    pub firm: String,
    /// The token with its secret masked: `<reference>|<context>|…<last 4 hex>`.
    pub masked: String,
    /// The token's reference number (not secret).
    pub reference: String,
    /// The token's context as written in the token, e.g. `nip-5265877635` (not secret).
    pub context: String,
    /// When the token was stored.
    pub set_at: OffsetDateTime,
    /// The token's KSeF status when last seen (`Active`, `Revoked`, …), if known.
    pub status: Option<String>,
    /// When that status was seen.
    pub status_at: Option<OffsetDateTime>,
}

/// The firm of a token's context text (`nip-5265877635` → `Nip:5265877635`), as migration v3
/// maps it.
fn firm_of_token_context(context: &str) -> Option<String> {
    const PREFIXES: [(&str, &str); 4] = [
        ("nip-", "Nip"),
        ("internalId-", "InternalId"),
        ("nipVatUe-", "NipVatUe"),
        ("peppolId-", "PeppolId"),
    ];
    PREFIXES.iter().find_map(|(prefix, kind)| {
        context
            .strip_prefix(prefix)
            .map(|value| format!("{kind}:{value}"))
    })
}

/// The store's key of a firm (a KSeF context): `Nip:5265877635`, `InternalId:5265877635-12345`.
pub fn firm_key(context: &ksef_core::ContextIdentifier) -> String {
    format!("{}:{}", context.kind(), context.value())
}

/// A user who proved the password: holds the user's private key in memory (zeroized on drop)
/// and can read the user's KSeF token.
pub struct UnlockedUser {
    name: String,
    name_key: String,
    is_admin: bool,
    key: SealingKey,
}

impl std::fmt::Debug for UnlockedUser {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("UnlockedUser")
            .field("name", &self.name)
            .field("is_admin", &self.is_admin)
            .finish_non_exhaustive()
    }
}

impl UnlockedUser {
    /// The user's name as stored.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the user was an administrator when unlocked.
    pub fn is_admin(&self) -> bool {
        self.is_admin
    }
}

/// What an administrator's password reset did to the user's KSeF token.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenAfterReset {
    /// The user had no token.
    None,
    /// The token (saved before passwords existed) was re-sealed to the new key.
    Kept,
    /// The token was sealed to the old password's key and had to be removed.
    Removed,
}

/// The non-secret parts of a token kept in clear columns (and bound into the AAD).
pub(crate) struct TokenParts {
    pub(crate) reference: String,
    pub(crate) context: String,
    pub(crate) tail: String,
}

impl TokenParts {
    pub(crate) fn of(token: &KsefToken) -> Result<TokenParts> {
        let full = token.expose_secret();
        let secret = token.secret_hex();
        // `full` is `<reference>|<context>|<secret>` (validated by the parser).
        let head = full
            .strip_suffix(secret)
            .and_then(|h| h.strip_suffix('|'))
            .ok_or_else(|| StoreError::Corrupt("unexpected KSeF token layout".into()))?;
        let (reference, context) = head
            .split_once('|')
            .ok_or_else(|| StoreError::Corrupt("unexpected KSeF token layout".into()))?;
        let tail_start = secret.len().saturating_sub(MASK_TAIL_CHARS);
        Ok(TokenParts {
            reference: reference.to_owned(),
            context: context.to_owned(),
            tail: secret.get(tail_start..).unwrap_or_default().to_owned(),
        })
    }
}

/// How a stored token is sealed: `store` = the store key only (schema v1), `user` = to the
/// user's key pair, then the store key.
const SEALING_STORE: &str = "store";
const SEALING_USER: &str = "user";

pub(crate) fn user_token_aad(name_key: &str, sealing: &str, parts: &TokenParts) -> Vec<u8> {
    let mut fields: Vec<&[u8]> = vec![
        b"users",
        b"token_sealed",
        name_key.as_bytes(),
        parts.reference.as_bytes(),
        parts.context.as_bytes(),
        parts.tail.as_bytes(),
    ];
    // v1 rows were sealed without the sealing mode; keep their AAD unchanged.
    if sealing != SEALING_STORE {
        fields.push(sealing.as_bytes());
    }
    keys::aad(&fields)
}

fn user_key_aad(name_key: &str, public: &[u8]) -> Vec<u8> {
    keys::aad(&[b"users", b"key_sealed", name_key.as_bytes(), public])
}

pub(crate) fn validate_user_name(name: &str) -> Result<&str> {
    let name = name.trim();
    let chars = name.chars().count();
    if chars == 0 {
        return Err(StoreError::InvalidUserName("the name is empty".into()));
    }
    if chars > MAX_USER_NAME_CHARS {
        return Err(StoreError::InvalidUserName(format!(
            "the name has {chars} characters, at most {MAX_USER_NAME_CHARS} are allowed"
        )));
    }
    if name.chars().any(char::is_control) {
        return Err(StoreError::InvalidUserName(
            "the name contains control characters".into(),
        ));
    }
    Ok(name)
}

/// Checks a new password: at least [`MIN_PASSWORD_CHARS`] characters, at most
/// [`MAX_PASSWORD_BYTES`] bytes, not only whitespace, no control characters.
pub fn validate_password(password: &str) -> Result<()> {
    let chars = password.chars().count();
    if password.trim().is_empty() || chars < MIN_PASSWORD_CHARS {
        return Err(StoreError::WeakPassword {
            min_chars: MIN_PASSWORD_CHARS,
        });
    }
    if password.len() > MAX_PASSWORD_BYTES || password.chars().any(char::is_control) {
        return Err(StoreError::InvalidPassword);
    }
    Ok(())
}

/// The case-insensitive identity of a (trimmed) user name. Unicode lowercase, so `ŁUKASZ`
/// and `łukasz` are the same user (SQLite's NOCASE folds ASCII only).
pub(crate) fn name_key(trimmed: &str) -> String {
    trimmed.to_lowercase()
}

/// Everything the password protects, built on a blocking thread (two Argon2id runs).
struct Credentials {
    password_hash: String,
    key_salt: Vec<u8>,
    key_public: Vec<u8>,
    /// The private key under the password-derived key (not yet under the store key).
    key_wrapped: Vec<u8>,
}

/// Hashes the password and wraps `key` (a new key pair if `None`) under it.
async fn credentials(
    password: Zeroizing<String>,
    name_key: String,
    key: Option<Zeroizing<Vec<u8>>>,
) -> Result<(Credentials, SealingKey)> {
    blocking(move || {
        let params = KdfParams::default_id();
        let hash_salt = keys::random_bytes::<{ keys::SALT_LEN }>();
        let password_hash = params.hash_password(password.as_bytes(), &hash_salt)?;
        let key = match key {
            Some(secret) => SealingKey::from_secret_bytes(&secret)
                .map_err(|_| StoreError::Corrupt("the user's private key is invalid".into()))?,
            None => SealingKey::generate(),
        };
        let key_salt = keys::random_bytes::<{ keys::SALT_LEN }>().to_vec();
        let kek = keys::derive_key(password.as_bytes(), &key_salt, params)?;
        let key_public = key.public_key_bytes();
        let key_wrapped =
            Sealer::new(&kek).seal(&key.secret_bytes(), &user_key_aad(&name_key, &key_public))?;
        Ok((
            Credentials {
                password_hash,
                key_salt,
                key_public,
                key_wrapped,
            },
            key,
        ))
    })
    .await
}

async fn blocking<T: Send + 'static>(f: impl FnOnce() -> Result<T> + Send + 'static) -> Result<T> {
    tokio::task::spawn_blocking(f)
        .await
        .map_err(|e| StoreError::Corrupt(format!("a key derivation task failed: {e}")))?
}

/// The columns of a user row this module reads.
struct UserRow {
    id: i64,
    name: String,
    name_key: String,
    is_admin: bool,
    password_hash: Option<String>,
    key_public: Option<Vec<u8>>,
    key_salt: Option<Vec<u8>>,
    key_sealed: Option<Vec<u8>>,
    failed_logins: u32,
    locked_until: Option<OffsetDateTime>,
}

/// A row of `user_tokens`.
struct TokenRow {
    firm: String,
    parts: TokenParts,
    sealing: String,
    sealed: Vec<u8>,
}

impl TokenRow {
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Self> {
        Ok(TokenRow {
            firm: row.try_get("firm")?,
            parts: TokenParts {
                reference: row.try_get("token_reference")?,
                context: row.try_get("token_context")?,
                tail: row.try_get("token_tail")?,
            },
            sealing: row.try_get("token_sealing")?,
            sealed: row.try_get("token_sealed")?,
        })
    }
}

impl UserRow {
    fn from_row(row: &sqlx::sqlite::SqliteRow) -> Result<Self> {
        let locked: Option<String> = row.try_get("locked_until")?;
        let failed: i64 = row.try_get("failed_logins")?;
        Ok(UserRow {
            id: row.try_get("id")?,
            name: row.try_get("name")?,
            name_key: row.try_get("name_key")?,
            is_admin: row.try_get::<i64, _>("is_admin")? != 0,
            password_hash: row.try_get("password_hash")?,
            key_public: row.try_get("key_public")?,
            key_salt: row.try_get("key_salt")?,
            key_sealed: row.try_get("key_sealed")?,
            failed_logins: u32::try_from(failed.max(0)).unwrap_or(u32::MAX),
            locked_until: locked.as_deref().map(parse_time).transpose()?,
        })
    }
}

/// How long a user is locked out after `failures` wrong passwords in a row.
fn lock_for(failures: u32) -> Option<time::Duration> {
    let over = failures.checked_sub(MAX_FAILED_LOGINS)?;
    let lock = FIRST_LOCK * 2i32.saturating_pow(over.min(16));
    Some(lock.min(MAX_LOCK))
}

impl Store {
    async fn user_row(&self, name: &str) -> Result<UserRow> {
        let trimmed = name.trim();
        let row = sqlx::query(
            "SELECT id, name, name_key, is_admin, password_hash, key_public, key_salt, key_sealed, \
             failed_logins, locked_until FROM users WHERE name_key = ?",
        )
        .bind(name_key(trimmed))
        .fetch_optional(&self.pool)
        .await?
        .ok_or_else(|| StoreError::UnknownUser {
            name: trimmed.into(),
        })?;
        UserRow::from_row(&row)
    }

    /// Adds a user with a password (see [`validate_password`]). The name is trimmed, must have
    /// 1–64 characters and no control characters, and must be unique case-insensitively.
    pub async fn add_user(&self, name: &str, password: &str, admin: bool) -> Result<()> {
        let name = validate_user_name(name)?.to_owned();
        validate_password(password)?;
        let key = name_key(&name);
        let (c, _) = credentials(Zeroizing::new(password.to_owned()), key.clone(), None).await?;
        let key_sealed = self
            .sealer
            .seal(&c.key_wrapped, &user_key_aad(&key, &c.key_public))?;
        let res = sqlx::query(
            "INSERT INTO users (name, name_key, created_at, is_admin, password_hash, key_public, \
             key_salt, key_sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (name_key) DO NOTHING",
        )
        .bind(&name)
        .bind(&key)
        .bind(now_text()?)
        .bind(i64::from(admin))
        .bind(&c.password_hash)
        .bind(&c.key_public)
        .bind(&c.key_salt)
        .bind(key_sealed)
        .execute(&self.pool)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::UserExists { name });
        }
        Ok(())
    }

    /// Whether the program still needs its first administrator (no administrator with a
    /// password exists).
    pub async fn needs_first_admin(&self) -> Result<bool> {
        let n: i64 = sqlx::query_scalar(
            "SELECT COUNT(*) FROM users WHERE is_admin = 1 AND password_hash IS NOT NULL",
        )
        .fetch_one(&self.pool)
        .await?;
        Ok(n == 0)
    }

    /// All users, sorted by name (case-insensitively), with their tokens.
    pub async fn list_users(&self) -> Result<Vec<UserInfo>> {
        let rows = sqlx::query(
            "SELECT id, name, is_admin, password_hash IS NOT NULL AS has_password, locked_until \
             FROM users ORDER BY name_key",
        )
        .fetch_all(&self.pool)
        .await?;
        let token_rows = sqlx::query(
            "SELECT user_id, firm, token_reference, token_context, token_tail, token_set_at, \
             token_status, token_status_at FROM user_tokens ORDER BY user_id, firm",
        )
        .fetch_all(&self.pool)
        .await?;
        let mut tokens: std::collections::HashMap<i64, Vec<UserToken>> =
            std::collections::HashMap::new();
        for row in &token_rows {
            let time = |col: &str| -> Result<Option<OffsetDateTime>> {
                let v: Option<String> = row.try_get(col)?;
                v.as_deref().map(parse_time).transpose()
            };
            let reference: String = row.try_get("token_reference")?;
            let context: String = row.try_get("token_context")?;
            let tail: String = row.try_get("token_tail")?;
            let set_at: String = row.try_get("token_set_at")?;
            tokens
                .entry(row.try_get("user_id")?)
                .or_default()
                .push(UserToken {
                    firm: row.try_get("firm")?,
                    masked: format!("{reference}|{context}|…{tail}"),
                    reference,
                    context,
                    set_at: parse_time(&set_at)?,
                    status: row.try_get("token_status")?,
                    status_at: time("token_status_at")?,
                });
        }
        let now = OffsetDateTime::now_utc();
        rows.iter()
            .map(|row| {
                let locked: Option<String> = row.try_get("locked_until")?;
                let id: i64 = row.try_get("id")?;
                let tokens = tokens.remove(&id).unwrap_or_default();
                Ok(UserInfo {
                    name: row.try_get("name")?,
                    is_admin: row.try_get::<i64, _>("is_admin")? != 0,
                    has_password: row.try_get::<i64, _>("has_password")? != 0,
                    locked_until: locked
                        .as_deref()
                        .map(parse_time)
                        .transpose()?
                        .filter(|t| *t > now),
                    has_token: !tokens.is_empty(),
                    tokens,
                })
            })
            .collect()
    }

    /// One user, as listed.
    pub async fn user(&self, name: &str) -> Result<UserInfo> {
        let key = name_key(name.trim());
        self.list_users()
            .await?
            .into_iter()
            .find(|u| name_key(&u.name) == key)
            .ok_or_else(|| StoreError::UnknownUser {
                name: name.trim().into(),
            })
    }

    /// Checks the user's password and unlocks the user's key. A wrong password counts
    /// towards the lock-out; a locked user is refused without checking the password.
    pub async fn unlock_user(&self, name: &str, password: &str) -> Result<UnlockedUser> {
        let row = self.user_row(name).await?;
        let now = OffsetDateTime::now_utc();
        if let Some(until) = row.locked_until
            && until > now
        {
            return Err(StoreError::UserLocked {
                name: row.name,
                until,
            });
        }
        let (Some(hash), Some(public), Some(salt), Some(sealed)) = (
            row.password_hash.clone(),
            row.key_public.clone(),
            row.key_salt.clone(),
            row.key_sealed.clone(),
        ) else {
            return Err(StoreError::NoPassword { name: row.name });
        };
        if password.len() > MAX_PASSWORD_BYTES {
            return self.count_failure(&row).await;
        }
        let wrapped = self
            .sealer
            .open(&sealed, &user_key_aad(&row.name_key, &public))
            .ok_or_else(|| StoreError::Integrity {
                what: format!("key of user {:?}", row.name),
            })?;
        let password = Zeroizing::new(password.to_owned());
        let name_key_for_task = row.name_key.clone();
        let key = blocking(move || {
            if !KdfParams::verify_password(password.as_bytes(), &hash)? {
                return Ok(None);
            }
            let params = KdfParams::default_id();
            let kek = keys::derive_key(password.as_bytes(), &salt, params)?;
            let secret = Sealer::new(&kek)
                .open(&wrapped, &user_key_aad(&name_key_for_task, &public))
                .ok_or_else(|| StoreError::Integrity {
                    what: "user key".into(),
                })?;
            SealingKey::from_secret_bytes(&secret)
                .map(Some)
                .map_err(|_| StoreError::Corrupt("the user's private key is invalid".into()))
        })
        .await?;
        let Some(key) = key else {
            return self.count_failure(&row).await;
        };
        if row.failed_logins > 0 || row.locked_until.is_some() {
            sqlx::query(
                "UPDATE users SET failed_logins = 0, locked_until = NULL WHERE name_key = ?",
            )
            .bind(&row.name_key)
            .execute(&self.pool)
            .await?;
        }
        Ok(UnlockedUser {
            name: row.name,
            name_key: row.name_key,
            is_admin: row.is_admin,
            key,
        })
    }

    /// Records a wrong password (atomically, so parallel guesses all count) and refuses.
    async fn count_failure<T>(&self, row: &UserRow) -> Result<T> {
        let failures: i64 = sqlx::query_scalar(
            "UPDATE users SET failed_logins = failed_logins + 1 WHERE name_key = ? \
             RETURNING failed_logins",
        )
        .bind(&row.name_key)
        .fetch_one(&self.pool)
        .await?;
        let failures = u32::try_from(failures.max(0)).unwrap_or(u32::MAX);
        if let Some(lock) = lock_for(failures) {
            let until = OffsetDateTime::now_utc() + lock;
            sqlx::query("UPDATE users SET locked_until = ? WHERE name_key = ?")
                .bind(format_time(until)?)
                .bind(&row.name_key)
                .execute(&self.pool)
                .await?;
            return Err(StoreError::UserLocked {
                name: row.name.clone(),
                until,
            });
        }
        Err(StoreError::WrongPassword {
            name: row.name.clone(),
            attempts_left: MAX_FAILED_LOGINS.saturating_sub(failures),
        })
    }

    /// An administrator sets a user's password: a new key pair, the lock-out cleared. A token
    /// saved before passwords existed is re-sealed to the new key; one sealed to the old key
    /// cannot be and is removed.
    pub async fn set_password(&self, name: &str, password: &str) -> Result<TokenAfterReset> {
        self.reset_password(name, password, false).await
    }

    /// Creates the program's first administrator — or, on a store from before passwords,
    /// gives an existing user of that name a password and the role — atomically: if an
    /// administrator with a password exists by the time of writing, nothing is written and
    /// [`StoreError::FirstAdminExists`] is returned (two setups at once make one administrator).
    pub async fn add_first_admin(&self, name: &str, password: &str) -> Result<()> {
        let name = validate_user_name(name)?.to_owned();
        validate_password(password)?;
        match self.user_row(&name).await {
            Ok(_) => return self.reset_password(&name, password, true).await.map(|_| ()),
            Err(StoreError::UnknownUser { .. }) => {}
            Err(e) => return Err(e),
        }
        let key = name_key(&name);
        let (c, _) = credentials(Zeroizing::new(password.to_owned()), key.clone(), None).await?;
        let key_sealed = self
            .sealer
            .seal(&c.key_wrapped, &user_key_aad(&key, &c.key_public))?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if admins(&mut tx).await? > 0 {
            return Err(StoreError::FirstAdminExists);
        }
        let res = sqlx::query(
            "INSERT INTO users (name, name_key, created_at, is_admin, password_hash, key_public, \
             key_salt, key_sealed) VALUES (?, ?, ?, 1, ?, ?, ?, ?) \
             ON CONFLICT (name_key) DO NOTHING",
        )
        .bind(&name)
        .bind(&key)
        .bind(now_text()?)
        .bind(&c.password_hash)
        .bind(&c.key_public)
        .bind(&c.key_salt)
        .bind(key_sealed)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::UserExists { name });
        }
        tx.commit().await?;
        Ok(())
    }

    async fn reset_password(
        &self,
        name: &str,
        password: &str,
        first_admin: bool,
    ) -> Result<TokenAfterReset> {
        validate_password(password)?;
        let row = self.user_row(name).await?;
        let (c, key) = credentials(
            Zeroizing::new(password.to_owned()),
            row.name_key.clone(),
            None,
        )
        .await?;
        let held = self.token_rows(row.id).await?;
        // Tokens saved before passwords (store key only) can be re-sealed to the new key;
        // tokens sealed to the old key cannot and are removed.
        let mut legacy = Vec::new();
        for t in held.iter().filter(|t| t.sealing == SEALING_STORE) {
            let aad = user_token_aad(&row.name_key, SEALING_STORE, &t.parts);
            let what = format!("KSeF token of user {:?}", row.name);
            let token = self.sealer.open_string(&t.sealed, &aad, &what)?;
            legacy.push((t.firm.clone(), token, &t.parts));
        }
        let removed = held.iter().any(|t| t.sealing != SEALING_STORE);
        let outcome = if removed {
            TokenAfterReset::Removed
        } else if !legacy.is_empty() {
            TokenAfterReset::Kept
        } else {
            TokenAfterReset::None
        };
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if first_admin {
            if admins(&mut tx).await? > 0 {
                return Err(StoreError::FirstAdminExists);
            }
            sqlx::query("UPDATE users SET is_admin = 1 WHERE name_key = ?")
                .bind(&row.name_key)
                .execute(&mut *tx)
                .await?;
        }
        self.write_credentials(&mut tx, &row.name_key, row.key_public.as_deref(), &c)
            .await?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = ? AND token_sealing <> ?")
            .bind(row.id)
            .bind(SEALING_STORE)
            .execute(&mut *tx)
            .await?;
        for (firm, token, parts) in legacy {
            let sealed = self.seal_token(&row.name_key, &c.key_public, &token, parts)?;
            sqlx::query(
                "UPDATE user_tokens SET token_sealing = ?, token_sealed = ? \
                 WHERE user_id = ? AND firm = ?",
            )
            .bind(SEALING_USER)
            .bind(sealed)
            .bind(row.id)
            .bind(&firm)
            .execute(&mut *tx)
            .await?;
        }
        tx.commit().await?;
        drop(key);
        Ok(outcome)
    }

    /// The user changes the own password (the key pair and the token stay).
    pub async fn change_password(&self, user: &UnlockedUser, new_password: &str) -> Result<()> {
        validate_password(new_password)?;
        let (c, _) = credentials(
            Zeroizing::new(new_password.to_owned()),
            user.name_key.clone(),
            Some(user.key.secret_bytes()),
        )
        .await?;
        let mut tx = self.pool.begin().await?;
        let public = user.key.public_key_bytes();
        self.write_credentials(&mut tx, &user.name_key, Some(&public), &c)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn write_credentials(
        &self,
        tx: &mut sqlx::SqliteConnection,
        name_key: &str,
        expected_public: Option<&[u8]>,
        c: &Credentials,
    ) -> Result<()> {
        let key_sealed = self
            .sealer
            .seal(&c.key_wrapped, &user_key_aad(name_key, &c.key_public))?;
        // Written only if the key pair is still the one read before the (slow) Argon2 work:
        // a password reset or change in between makes this one fail instead of undoing it.
        let res = sqlx::query(
            "UPDATE users SET password_hash = ?, key_public = ?, key_salt = ?, key_sealed = ?, \
             failed_logins = 0, locked_until = NULL WHERE name_key = ? AND key_public IS ?",
        )
        .bind(&c.password_hash)
        .bind(&c.key_public)
        .bind(&c.key_salt)
        .bind(key_sealed)
        .bind(name_key)
        .bind(expected_public)
        .execute(&mut *tx)
        .await?;
        if res.rows_affected() == 0 {
            return Err(StoreError::ChangedMeanwhile {
                name: name_key.into(),
            });
        }
        Ok(())
    }

    /// Makes a user an administrator or not; the last administrator stays one.
    pub async fn set_admin(&self, name: &str, admin: bool) -> Result<()> {
        let row = self.user_row(name).await?;
        if admin && row.password_hash.is_none() {
            return Err(StoreError::NoPassword { name: row.name });
        }
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Only administrators who can log in (with a password) count, see `admins`.
        if !admin && row.is_admin && row.password_hash.is_some() && admins(&mut tx).await? <= 1 {
            return Err(StoreError::LastAdmin { name: row.name });
        }
        sqlx::query("UPDATE users SET is_admin = ? WHERE name_key = ?")
            .bind(i64::from(admin))
            .bind(&row.name_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    fn seal_token(
        &self,
        name_key: &str,
        public: &[u8],
        token: &str,
        parts: &TokenParts,
    ) -> Result<Vec<u8>> {
        let aad = user_token_aad(name_key, SEALING_USER, parts);
        let inner = sealed_box::seal(public, token.as_bytes(), &aad)
            .map_err(|_| StoreError::Corrupt("the user's public key is invalid".into()))?;
        self.sealer.seal(&inner, &aad)
    }

    async fn token_rows(&self, user_id: i64) -> Result<Vec<TokenRow>> {
        let rows = sqlx::query(
            "SELECT firm, token_reference, token_context, token_tail, token_sealing, token_sealed \
             FROM user_tokens WHERE user_id = ? ORDER BY firm",
        )
        .bind(user_id)
        .fetch_all(&self.pool)
        .await?;
        rows.iter().map(TokenRow::from_row).collect()
    }

    /// Stores (replacing) the user's KSeF token for the token's firm (its context), sealed to
    /// the user's key: no password needed to save, the user's password needed to read.
    /// Surrounding whitespace is ignored; the text must be a valid KSeF token
    /// (`<reference>|<contextType>-<contextValue>|<64 hex>`). The firm is added to the firms
    /// if new. Returns the firm.
    pub async fn set_user_token(&self, name: &str, token: &str) -> Result<String> {
        let token: KsefToken = token.trim().parse().map_err(StoreError::InvalidToken)?;
        let parts = TokenParts::of(&token)?;
        let firm = firm_key(token.context());
        let row = self.user_row(name).await?;
        let Some(public) = &row.key_public else {
            return Err(StoreError::NoPassword { name: row.name });
        };
        let sealed = self.seal_token(&row.name_key, public, token.expose_secret(), &parts)?;
        let now = now_text()?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        // Only if the key pair is still the one the token was sealed to.
        let same_key: Option<i64> =
            sqlx::query_scalar("SELECT id FROM users WHERE id = ? AND key_public = ?")
                .bind(row.id)
                .bind(public)
                .fetch_optional(&mut *tx)
                .await?;
        if same_key.is_none() {
            return Err(StoreError::ChangedMeanwhile { name: row.name });
        }
        sqlx::query(
            "INSERT INTO user_tokens (user_id, firm, token_reference, token_context, token_tail, \
             token_set_at, token_sealing, token_sealed) VALUES (?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (user_id, firm) DO UPDATE SET token_reference = excluded.token_reference, \
             token_context = excluded.token_context, token_tail = excluded.token_tail, \
             token_set_at = excluded.token_set_at, token_sealing = excluded.token_sealing, \
             token_sealed = excluded.token_sealed, token_status = NULL, token_status_at = NULL",
        )
        .bind(row.id)
        .bind(&firm)
        .bind(&parts.reference)
        .bind(&parts.context)
        .bind(&parts.tail)
        .bind(&now)
        .bind(SEALING_USER)
        .bind(sealed)
        .execute(&mut *tx)
        .await?;
        add_firm_if_new(&mut tx, &firm, &now).await?;
        tx.commit().await?;
        Ok(firm)
    }

    /// Removes the user's KSeF token for a firm, or all of the user's tokens (the user stays).
    pub async fn clear_user_token(&self, name: &str, firm: Option<&str>) -> Result<()> {
        let row = self.user_row(name).await?;
        sqlx::query("DELETE FROM user_tokens WHERE user_id = ? AND (? IS NULL OR firm = ?)")
            .bind(row.id)
            .bind(firm)
            .bind(firm)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// The unlocked user's KSeF token for a firm in clear, or `None` if the user has none.
    pub async fn user_token(
        &self,
        user: &UnlockedUser,
        firm: &str,
    ) -> Result<Option<Zeroizing<String>>> {
        let row = self.user_row(&user.name).await?;
        if row.name_key != user.name_key {
            return Err(StoreError::UnknownUser {
                name: user.name.clone(),
            });
        }
        let Some(t) = self
            .token_rows(row.id)
            .await?
            .into_iter()
            .find(|t| t.firm == firm)
        else {
            return Ok(None);
        };
        let what = format!("KSeF token of user {:?}", row.name);
        // The row's firm must be the token's own context: a row relabelled to another firm
        // (an edited database) must not log in "for" that firm.
        if firm_of_token_context(&t.parts.context).as_deref() != Some(t.firm.as_str()) {
            return Err(StoreError::Integrity { what });
        }
        let aad = user_token_aad(&row.name_key, &t.sealing, &t.parts);
        match t.sealing.as_str() {
            SEALING_STORE => Ok(Some(self.sealer.open_string(&t.sealed, &aad, &what)?)),
            SEALING_USER => {
                let integrity = || StoreError::Integrity { what: what.clone() };
                let inner = self.sealer.open(&t.sealed, &aad).ok_or_else(integrity)?;
                let mut plain = user.key.open(&inner, &aad).map_err(|_| integrity())?;
                let taken = std::mem::take(&mut *plain);
                String::from_utf8(taken)
                    .map(|s| Some(Zeroizing::new(s)))
                    .map_err(|e| {
                        drop(Zeroizing::new(e.into_bytes()));
                        integrity()
                    })
            }
            other => Err(StoreError::Corrupt(format!(
                "unknown token sealing {other:?}"
            ))),
        }
    }

    /// Records the KSeF status of a token seen by the program (on every user holding it).
    pub async fn set_token_status(&self, reference: &str, status: &str) -> Result<u64> {
        let res = sqlx::query(
            "UPDATE user_tokens SET token_status = ?, token_status_at = ? WHERE token_reference = ?",
        )
        .bind(status)
        .bind(now_text()?)
        .bind(reference)
        .execute(&self.pool)
        .await?;
        Ok(res.rows_affected())
    }

    /// Removes a user (and the token); the last administrator cannot be removed.
    pub async fn remove_user(&self, name: &str) -> Result<()> {
        let row = self.user_row(name).await?;
        let mut tx = self.pool.begin_with("BEGIN IMMEDIATE").await?;
        if row.is_admin && row.password_hash.is_some() && admins(&mut tx).await? <= 1 {
            return Err(StoreError::LastAdmin { name: row.name });
        }
        sqlx::query("DELETE FROM users WHERE name_key = ?")
            .bind(&row.name_key)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }
}

async fn admins(conn: &mut sqlx::SqliteConnection) -> Result<i64> {
    Ok(sqlx::query_scalar(
        "SELECT COUNT(*) FROM users WHERE is_admin = 1 AND password_hash IS NOT NULL",
    )
    .fetch_one(conn)
    .await?)
}

async fn add_firm_if_new(conn: &mut sqlx::SqliteConnection, firm: &str, now: &str) -> Result<()> {
    let name = firm.split_once(':').map(|(_, v)| v).unwrap_or(firm);
    sqlx::query("INSERT OR IGNORE INTO firms (context, name, created_at) VALUES (?, ?, ?)")
        .bind(firm)
        .bind(name)
        .bind(now)
        .execute(conn)
        .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lock_out_grows_and_is_capped() {
        assert_eq!(lock_for(4), None);
        assert_eq!(lock_for(5), Some(time::Duration::minutes(1)));
        assert_eq!(lock_for(6), Some(time::Duration::minutes(2)));
        assert_eq!(lock_for(11), Some(time::Duration::hours(1)));
        assert_eq!(lock_for(u32::MAX), Some(time::Duration::hours(1)));
    }

    #[test]
    fn passwords_are_checked() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("        ").is_err());
        assert!(validate_password("długie hasło").is_ok());
        assert!(validate_password(&"x".repeat(MAX_PASSWORD_BYTES + 1)).is_err());
        assert!(validate_password("abc\ndefgh").is_err());
    }
}
