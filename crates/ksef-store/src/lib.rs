//! `ksef-store` — the accounting program's local store: one SQLite file `ksef.sqlite3` in a
//! data directory chosen by the caller (the CLI resolves `--data-dir` / `KSEF_DATA_DIR` / the
//! per-user data dir).
//!
//! It owns:
//! * the **users dictionary** (program users, each optionally holding a KSeF token — the
//!   "Konfiguracja > Użytkownicy > Edytuj > Token KSeF" field of desktop accounting programs);
//! * plain, non-secret **settings** (base URL, environment, …);
//! * the current KSeF **session(s)**, one per API base URL (the session JSON holds the JWTs);
//! * the **invoice register** ([`register`]): every invoice sent or received per firm, its
//!   file, status and UPO, and the sync cursors; invoices issued offline before they are sent
//!   (mode, sending deadline, KOD II link) and technical corrections.
//!
//! Secrets at rest: KSeF tokens and session JSON are sealed with AES-256-GCM (random 96-bit
//! nonce per value; AAD = table, column and row identity, so sealed values cannot be swapped
//! between rows). The key is derived from the passphrase (`KSEF_PASSPHRASE`, Argon2id with a
//! random salt; salt and cost parameters are stored in the database) or, without a
//! passphrase, read from the 32-byte key file `ksef.key` beside the database (created with
//! mode 0600; refused if group/others can access it). A key check value makes a wrong
//! passphrase / key file fail on [`Store::open`] with [`StoreError::WrongKey`] before
//! anything is written. The token's reference number and context (not secret) and the last 4
//! hex characters of its secret (16 of 256 bits, for the masked display) are kept in clear
//! columns — and bound into the AAD, so editing them breaks decryption.
//!
//! Key source changes are not supported yet: a store created with a key file must keep it, a
//! store created with a passphrase needs the passphrase. Switching would mean: open with the
//! old key, decrypt every sealed value, re-seal under the new key and replace the
//! `encryption` row, all in one transaction (then delete the key file).
//!
//! Schema: versioned with `PRAGMA user_version`; a database with a newer version is refused
//! ([`StoreError::SchemaTooNew`]) and left untouched. SQLite runs in WAL mode with
//! `secure_delete` on; the database file is created with mode 0600.

mod error;
mod firms;
mod keys;
pub mod register;
mod register_offline;
mod schema;
mod users;

use std::path::{Path, PathBuf};
use std::time::Duration;

use ksef_sqlite::{MigrationError, Migrations};
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqliteConnection, SqlitePool};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use zeroize::Zeroizing;

pub use error::{FilterProblem, Result, StoreError};
pub use firms::{Firm, MAX_FIRM_NAME_CHARS};
pub use keys::KeySource;
use keys::{KdfParams, Sealer};
pub use register::{
    CorrectionOf, CurrencyTotals, CursorUpdate, Direction, FirmId, InvoiceFilter, InvoiceKey,
    InvoicePage, InvoiceRecord, InvoiceStatus, IssuedOffline, OfflineFilter, OfflineIssue,
    RecordCounts, RegisteredInvoice, SendingOutcome,
};
pub use users::{
    FIRST_LOCK, MAX_FAILED_LOGINS, MAX_LOCK, MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS,
    TokenAfterReset, UnlockedUser, UserInfo, UserToken, firm_key, validate_password,
};

/// File name of the database inside the data directory.
pub const DB_FILE_NAME: &str = "ksef.sqlite3";
/// File name of the key file inside the data directory (used when there is no passphrase).
pub const KEY_FILE_NAME: &str = "ksef.key";
/// Maximum length of a user name, in characters.
pub const MAX_USER_NAME_CHARS: usize = 64;
/// Maximum length of a setting key, in characters.
pub const MAX_SETTING_KEY_CHARS: usize = 128;
/// Number of trailing secret characters shown in a masked token.
const MASK_TAIL_CHARS: usize = 4;

/// Non-secret description of a saved KSeF session.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionSummary {
    /// The session's context, e.g. `nip-5265877635` (free text chosen by the caller).
    pub context: String,
    /// The authentication method, e.g. `Token`, `QualifiedSeal`.
    pub method: String,
    /// The authentication operation's reference number.
    pub reference_number: String,
    /// When the access token expires.
    pub access_valid_until: OffsetDateTime,
    /// When the refresh token expires.
    pub refresh_valid_until: OffsetDateTime,
    /// The program user whose KSeF token opened the session, if any.
    pub via_user: Option<String>,
}

/// The open store. Cheap to clone (the pool and cipher are shared).
#[derive(Clone)]
pub struct Store {
    pool: SqlitePool,
    sealer: Sealer,
    db_path: PathBuf,
    key_source: KeySource,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store")
            .field("db_path", &self.db_path)
            .field("key_source", &self.key_source)
            .finish_non_exhaustive()
    }
}

/// The `encryption` row.
struct EncryptionRow {
    key_source: String,
    kdf: Option<String>,
    kdf_params: Option<KdfParams>,
    kdf_salt: Option<Vec<u8>>,
    key_check: Vec<u8>,
}

impl Store {
    /// Opens (creating if needed) the store in `data_dir`.
    ///
    /// With `passphrase`, a new store is protected by Argon2id(passphrase); without, by the key
    /// file `ksef.key` (created with mode 0600 if missing). An existing store must be opened
    /// the way it was created. A wrong passphrase / key file gives [`StoreError::WrongKey`]
    /// and nothing is written.
    pub async fn open(data_dir: &Path, passphrase: Option<Zeroizing<String>>) -> Result<Store> {
        if let Some(p) = &passphrase
            && p.trim().is_empty()
        {
            return Err(StoreError::EmptyPassphrase);
        }
        create_data_dir(data_dir)?;
        let db_path = data_dir.join(DB_FILE_NAME);
        let key_path = data_dir.join(KEY_FILE_NAME);
        // An unusable key file (e.g. readable by others) is refused before the database is
        // touched at all, so the refusal leaves the data directory exactly as it was.
        if passphrase.is_none() && key_path.exists() {
            keys::read_key_file(&key_path)?;
        }
        create_db_file(&db_path)?;

        let opts = SqliteConnectOptions::new()
            .filename(&db_path)
            .create_if_missing(false)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .pragma("secure_delete", "ON")
            // Statement journals of the multi-row statements that record sent and synced
            // invoices stay in memory (they are bounded by one statement's rows).
            .pragma("temp_store", "MEMORY")
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(4)
            .connect_with(opts)
            .await?;
        match Self::init(&pool, &db_path, &key_path, passphrase).await {
            Ok((sealer, key_source)) => Ok(Store {
                pool,
                sealer,
                db_path,
                key_source,
            }),
            Err(e) => {
                pool.close().await;
                Err(e)
            }
        }
    }

    /// Checks the schema version and the key (read-only), then migrates and initializes the
    /// key material if needed (in one `BEGIN IMMEDIATE` transaction).
    async fn init(
        pool: &SqlitePool,
        db_path: &Path,
        key_path: &Path,
        passphrase: Option<Zeroizing<String>>,
    ) -> Result<(Sealer, KeySource)> {
        let mut conn = pool.acquire().await?;
        let version = user_version(&mut conn).await?;
        check_version(db_path, version)?;
        let mut verified = None;
        if version >= 1
            && let Some(row) = read_encryption(&mut conn).await?
        {
            verified = Some(unlock(&row, db_path, key_path, passphrase.clone()).await?);
        }
        drop(conn);
        if let Some(v) = &verified
            && version == schema::MIGRATIONS.current()
        {
            return Ok(v.clone());
        }

        let mut tx = pool.begin_with("BEGIN IMMEDIATE").await?;
        // Re-reads the version under the write lock: another process may have migrated meanwhile.
        schema::MIGRATIONS
            .apply(&mut tx)
            .await
            .map_err(|e| migration_error(db_path, e))?;
        let result = match (verified, read_encryption(&mut tx).await?) {
            (Some(v), _) => v,
            (None, Some(row)) => unlock(&row, db_path, key_path, passphrase).await?,
            (None, None) => initialize_key(&mut tx, key_path, passphrase).await?,
        };
        tx.commit().await?;
        Ok(result)
    }

    /// Closes the database (checkpointing the WAL).
    pub async fn close(self) {
        self.pool.close().await;
    }

    /// Path of the database file.
    pub fn db_path(&self) -> &Path {
        &self.db_path
    }

    /// Where this store's key comes from.
    pub fn key_source(&self) -> &KeySource {
        &self.key_source
    }

    // ----- settings -----

    /// Sets a plain (non-secret) setting.
    pub async fn set_setting(&self, key: &str, value: &str) -> Result<()> {
        validate_setting_key(key)?;
        sqlx::query(
            "INSERT INTO settings (key, value, updated_at) VALUES (?, ?, ?) \
             ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(key)
        .bind(value)
        .bind(now_text()?)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// A setting's value, if set.
    pub async fn setting(&self, key: &str) -> Result<Option<String>> {
        validate_setting_key(key)?;
        let value = sqlx::query_scalar("SELECT value FROM settings WHERE key = ?")
            .bind(key)
            .fetch_optional(&self.pool)
            .await?;
        Ok(value)
    }

    /// Removes a setting; returns whether it existed.
    pub async fn remove_setting(&self, key: &str) -> Result<bool> {
        validate_setting_key(key)?;
        let res = sqlx::query("DELETE FROM settings WHERE key = ?")
            .bind(key)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }

    /// All settings, sorted by key.
    pub async fn settings(&self) -> Result<Vec<(String, String)>> {
        let rows = sqlx::query("SELECT key, value FROM settings ORDER BY key")
            .fetch_all(&self.pool)
            .await?;
        rows.iter()
            .map(|r| Ok((r.try_get("key")?, r.try_get("value")?)))
            .collect()
    }

    // ----- sessions -----

    /// Saves (replacing) the session for `base_url` (a trailing `/` is ignored). The JSON is
    /// sealed; the summary is stored in clear.
    pub async fn save_session(
        &self,
        base_url: &str,
        session_json: &str,
        summary: SessionSummary,
    ) -> Result<()> {
        let base_url = normalize_base_url(base_url)?;
        let sealed = self.sealer.seal(
            session_json.as_bytes(),
            &session_aad(base_url, &summary.reference_number),
        )?;
        sqlx::query(
            "INSERT INTO sessions (base_url, context, method, reference_number, \
             access_valid_until, refresh_valid_until, via_user, saved_at, session_sealed) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) \
             ON CONFLICT (base_url) DO UPDATE SET context = excluded.context, \
             method = excluded.method, reference_number = excluded.reference_number, \
             access_valid_until = excluded.access_valid_until, \
             refresh_valid_until = excluded.refresh_valid_until, via_user = excluded.via_user, \
             saved_at = excluded.saved_at, session_sealed = excluded.session_sealed",
        )
        .bind(base_url)
        .bind(&summary.context)
        .bind(&summary.method)
        .bind(&summary.reference_number)
        .bind(format_time(summary.access_valid_until)?)
        .bind(format_time(summary.refresh_valid_until)?)
        .bind(&summary.via_user)
        .bind(now_text()?)
        .bind(sealed)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// The saved session for `base_url`: its JSON (decrypted) and summary.
    pub async fn load_session(
        &self,
        base_url: &str,
    ) -> Result<Option<(Zeroizing<String>, SessionSummary)>> {
        let base_url = normalize_base_url(base_url)?;
        let Some(row) = sqlx::query(
            "SELECT context, method, reference_number, access_valid_until, refresh_valid_until, \
             via_user, session_sealed FROM sessions WHERE base_url = ?",
        )
        .bind(base_url)
        .fetch_optional(&self.pool)
        .await?
        else {
            return Ok(None);
        };
        let summary = SessionSummary {
            context: row.try_get("context")?,
            method: row.try_get("method")?,
            reference_number: row.try_get("reference_number")?,
            access_valid_until: parse_time(row.try_get::<&str, _>("access_valid_until")?)?,
            refresh_valid_until: parse_time(row.try_get::<&str, _>("refresh_valid_until")?)?,
            via_user: row.try_get("via_user")?,
        };
        let sealed: Vec<u8> = row.try_get("session_sealed")?;
        let json = self.sealer.open_string(
            &sealed,
            &session_aad(base_url, &summary.reference_number),
            &format!("session for {base_url}"),
        )?;
        Ok(Some((json, summary)))
    }

    /// Forgets the session for `base_url`; returns whether there was one.
    pub async fn clear_session(&self, base_url: &str) -> Result<bool> {
        let base_url = normalize_base_url(base_url)?;
        let res = sqlx::query("DELETE FROM sessions WHERE base_url = ?")
            .bind(base_url)
            .execute(&self.pool)
            .await?;
        Ok(res.rows_affected() > 0)
    }
}

// ----- opening helpers -----

/// Creates the data directory (mode 0700 for directories this call creates).
fn create_data_dir(dir: &Path) -> Result<()> {
    let mut builder = std::fs::DirBuilder::new();
    builder.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        builder.mode(0o700);
    }
    builder.create(dir).map_err(|source| StoreError::Io {
        action: "create the data directory",
        path: dir.to_owned(),
        source,
    })
}

/// Creates an empty database file with mode 0600 if there is none (SQLite treats an empty
/// file as an empty database; its WAL/SHM files inherit the mode).
fn create_db_file(path: &Path) -> Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    match opts.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(source) => Err(StoreError::Io {
            action: "create the database file",
            path: path.to_owned(),
            source,
        }),
    }
}

async fn user_version(conn: &mut SqliteConnection) -> Result<i64> {
    Ok(Migrations::version(conn).await?)
}

fn check_version(db_path: &Path, version: i64) -> Result<()> {
    schema::MIGRATIONS
        .check(version)
        .map_err(|e| migration_error(db_path, e))
}

fn migration_error(db_path: &Path, e: MigrationError) -> StoreError {
    match e {
        MigrationError::SchemaTooNew { found, supported } => StoreError::SchemaTooNew {
            path: db_path.to_owned(),
            found,
            supported,
        },
        MigrationError::Database(e) => StoreError::Database(e),
        // `MigrationError` is non-exhaustive; a future variant is still a database failure.
        other => StoreError::Database(sqlx::Error::Protocol(other.to_string())),
    }
}

async fn read_encryption(conn: &mut SqliteConnection) -> Result<Option<EncryptionRow>> {
    let Some(row) = sqlx::query(
        "SELECT key_source, kdf, kdf_version, kdf_m_cost, kdf_t_cost, kdf_p_cost, kdf_salt, \
         key_check FROM encryption WHERE id = 1",
    )
    .fetch_optional(conn)
    .await?
    else {
        return Ok(None);
    };
    let cost = |col: &str| -> Result<Option<u32>> {
        let v: Option<i64> = row.try_get(col)?;
        v.map(|v| {
            u32::try_from(v)
                .map_err(|_| StoreError::Corrupt(format!("encryption.{col} is out of range")))
        })
        .transpose()
    };
    let kdf_params = match (
        cost("kdf_version")?,
        cost("kdf_m_cost")?,
        cost("kdf_t_cost")?,
        cost("kdf_p_cost")?,
    ) {
        (Some(version), Some(m_cost), Some(t_cost), Some(p_cost)) => Some(KdfParams {
            m_cost,
            t_cost,
            p_cost,
            version,
        }),
        _ => None,
    };
    Ok(Some(EncryptionRow {
        key_source: row.try_get("key_source")?,
        kdf: row.try_get("kdf")?,
        kdf_params,
        kdf_salt: row.try_get("kdf_salt")?,
        key_check: row.try_get("key_check")?,
    }))
}

/// Derives/reads the key of an existing store and verifies it against the key check value.
async fn unlock(
    row: &EncryptionRow,
    db_path: &Path,
    key_path: &Path,
    passphrase: Option<Zeroizing<String>>,
) -> Result<(Sealer, KeySource)> {
    let (key, source) = match row.key_source.as_str() {
        "passphrase" => {
            let Some(passphrase) = passphrase else {
                return Err(StoreError::PassphraseRequired {
                    path: db_path.to_owned(),
                });
            };
            if row.kdf.as_deref() != Some("argon2id") {
                return Err(StoreError::Corrupt(format!(
                    "unsupported key derivation {:?}",
                    row.kdf
                )));
            }
            let (Some(params), Some(salt)) = (row.kdf_params, row.kdf_salt.clone()) else {
                return Err(StoreError::Corrupt(
                    "the key derivation parameters are missing".into(),
                ));
            };
            (
                derive_blocking(passphrase, salt, params).await?,
                KeySource::Passphrase,
            )
        }
        "keyfile" => {
            if passphrase.is_some() {
                return Err(StoreError::PassphraseNotUsed {
                    key_file: key_path.to_owned(),
                });
            }
            (
                keys::read_key_file(key_path)?,
                KeySource::KeyFile(key_path.to_owned()),
            )
        }
        other => {
            return Err(StoreError::Corrupt(format!("unknown key source {other:?}")));
        }
    };
    let sealer = Sealer::new(&key);
    if !sealer.verify_key_check(&row.key_check) {
        return Err(StoreError::WrongKey);
    }
    Ok((sealer, source))
}

/// Creates the key material of a new store and writes the `encryption` row.
async fn initialize_key(
    conn: &mut SqliteConnection,
    key_path: &Path,
    passphrase: Option<Zeroizing<String>>,
) -> Result<(Sealer, KeySource)> {
    let created_at = now_text()?;
    match passphrase {
        Some(passphrase) => {
            let params = KdfParams::default_id();
            let salt = keys::random_bytes::<{ keys::SALT_LEN }>().to_vec();
            let key = derive_blocking(passphrase, salt.clone(), params).await?;
            let sealer = Sealer::new(&key);
            sqlx::query(
                "INSERT INTO encryption (id, key_source, kdf, kdf_version, kdf_m_cost, \
                 kdf_t_cost, kdf_p_cost, kdf_salt, key_check, created_at) \
                 VALUES (1, 'passphrase', 'argon2id', ?, ?, ?, ?, ?, ?, ?)",
            )
            .bind(i64::from(params.version))
            .bind(i64::from(params.m_cost))
            .bind(i64::from(params.t_cost))
            .bind(i64::from(params.p_cost))
            .bind(salt)
            .bind(sealer.key_check()?)
            .bind(created_at)
            .execute(conn)
            .await?;
            Ok((sealer, KeySource::Passphrase))
        }
        None => {
            // Reuse an existing key file (e.g. the database was deleted but the key kept).
            let key = match keys::read_key_file(key_path) {
                Err(StoreError::KeyFileMissing { .. }) => keys::create_key_file(key_path)?,
                other => other?,
            };
            let sealer = Sealer::new(&key);
            sqlx::query(
                "INSERT INTO encryption (id, key_source, key_check, created_at) \
                 VALUES (1, 'keyfile', ?, ?)",
            )
            .bind(sealer.key_check()?)
            .bind(created_at)
            .execute(conn)
            .await?;
            Ok((sealer, KeySource::KeyFile(key_path.to_owned())))
        }
    }
}

/// Runs Argon2id on a blocking thread (~50 ms, 19 MiB).
async fn derive_blocking(
    passphrase: Zeroizing<String>,
    salt: Vec<u8>,
    params: KdfParams,
) -> Result<Zeroizing<[u8; keys::KEY_LEN]>> {
    tokio::task::spawn_blocking(move || keys::derive_key(passphrase.as_bytes(), &salt, params))
        .await
        .map_err(|e| StoreError::Corrupt(format!("key derivation task failed: {e}")))?
}

// ----- value helpers -----

fn session_aad(base_url: &str, reference_number: &str) -> Vec<u8> {
    keys::aad(&[
        b"sessions",
        b"session_sealed",
        base_url.as_bytes(),
        reference_number.as_bytes(),
    ])
}

fn validate_setting_key(key: &str) -> Result<()> {
    let n = key.chars().count();
    if n == 0 || n > MAX_SETTING_KEY_CHARS || key.chars().any(char::is_control) {
        return Err(StoreError::InvalidSettingKey(key.into()));
    }
    Ok(())
}

fn normalize_base_url(url: &str) -> Result<&str> {
    let url = url.trim().trim_end_matches('/');
    if url.is_empty() || url.chars().any(char::is_control) {
        return Err(StoreError::InvalidBaseUrl);
    }
    Ok(url)
}

pub(crate) fn format_time(t: OffsetDateTime) -> Result<String> {
    t.format(&Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("cannot format timestamp: {e}")))
}

pub(crate) fn now_text() -> Result<String> {
    format_time(OffsetDateTime::now_utc())
}

pub(crate) fn parse_time(s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339)
        .map_err(|e| StoreError::Corrupt(format!("bad stored timestamp {s:?}: {e}")))
}

#[cfg(test)]
mod tests;
