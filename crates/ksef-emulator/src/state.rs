//! Shared state of a running emulator: configuration, database, signing keys, and the CA of
//! the simulated Profil Zaufany signing service.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ksef_crypto::service::ServiceKeyPair;
use ksef_crypto::{Credential, PrivateKey};
use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::config::EmulatorConfig;
use crate::jwt::JwtKeys;
use crate::store;

/// The two usages of the emulator's public keys (digest §3.1).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyUsage {
    KsefTokenEncryption,
    SymmetricKeyEncryption,
}

impl KeyUsage {
    pub fn as_str(self) -> &'static str {
        match self {
            KeyUsage::KsefTokenEncryption => "KsefTokenEncryption",
            KeyUsage::SymmetricKeyEncryption => "SymmetricKeyEncryption",
        }
    }
}

/// Everything handlers need; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: EmulatorConfig,
    pool: SqlitePool,
    jwt: JwtKeys,
    token_key: ServiceKeyPair,
    symmetric_key: ServiceKeyPair,
    trusted_profile_ca: Credential,
    /// HMAC key of pre-signed storage links (derived from the JWT secret, so links survive restarts).
    link_key: [u8; 32],
    /// Serialises the commits that assign `permanentStorageDate`, so the HWM read under the same
    /// lock is a true high-water mark (digest §12.4).
    storage_writer: tokio::sync::Mutex<()>,
    /// The last `permanentStorageDate` assigned and the last HWM reported (digest §12.4), kept
    /// monotonic across wall-clock steps; only changed while [`Self::storage_writer`] is held.
    storage_clock: std::sync::Mutex<crate::retrieval::StorageClock>,
    /// Offset (ms) added to the wall clock by [`AppState::now`] (tests step the clock with it).
    clock_offset_ms: AtomicI64,
    /// Export packages being built in the background ([`crate::retrieval`]).
    exports: crate::retrieval::ExportBuilds,
    /// Background processing of online and batch sessions ([`crate::sessions`]).
    sessions: crate::sessions::Engine,
    /// API rate limits: per-context overrides and sliding windows ([`crate::limits`]).
    rate_limits: crate::limits::RateLimiter,
    /// Base URL of the listener being served (`http://127.0.0.1:PORT`), set by
    /// [`crate::server::serve`]; pre-signed links use it unless `public_base_url` is configured.
    listen_base: std::sync::RwLock<Option<String>>,
}

/// Errors while starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    /// The data directory (or its database) cannot be written: a start would only lead to a
    /// 500 for every write.
    #[error(
        "the data directory {path} is not writable ({reason}); the emulator keeps its database \
         and files there: make it writable or choose another data directory"
    )]
    ReadOnly { path: String, reason: String },
    /// The data directory is open to other users and belongs to another user, so the emulator
    /// does not change its mode.
    #[error(
        "the data directory {path} is accessible to other users (mode {mode:04o}) and cannot be \
         made private by this user; run `chmod 700 {path}` as its owner or choose another data \
         directory"
    )]
    DataDirNotPrivate { path: String, mode: u32 },
    #[error("database {path}: {source}")]
    Database { path: String, source: sqlx::Error },
    #[error("service keys: {0}")]
    Keys(String),
}

impl AppState {
    /// Opens the database in the configured data directory, creating keys on first start.
    pub async fn open(config: EmulatorConfig) -> Result<Self, StartError> {
        let path = config.database_path();
        let dir = config.data_dir.clone();
        let db = path.clone();
        tokio::task::spawn_blocking(move || crate::datadir::prepare(&dir, &db))
            .await
            .map_err(|e| StartError::DataDir {
                path: config.data_dir.display().to_string(),
                source: std::io::Error::other(e),
            })??;
        let pool = store::open(&path)
            .await
            .map_err(|source| StartError::Database {
                path: path.display().to_string(),
                source,
            })?;
        // A database SQLite could only open read-only (its file or directory not writable)
        // must fail the start, not every later write.
        store::check_writable(&pool)
            .await
            .map_err(|e| StartError::ReadOnly {
                path: config.data_dir.display().to_string(),
                reason: format!("database {}: {e}", path.display()),
            })?;
        let db_err = |source| StartError::Database {
            path: path.display().to_string(),
            source,
        };
        let jwt_secret = jwt_secret(&pool).await.map_err(db_err)?;
        let token_key = service_key(&pool, KeyUsage::KsefTokenEncryption).await?;
        let symmetric_key = service_key(&pool, KeyUsage::SymmetricKeyEncryption).await?;
        let trusted_profile_ca = trusted_profile_ca(&pool).await?;
        let storage_clock = crate::retrieval::StorageClock::load(&pool)
            .await
            .map_err(db_err)?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                pool,
                jwt: JwtKeys::new(&jwt_secret),
                link_key: {
                    use sha2::Digest;
                    let mut h = sha2::Sha256::new();
                    h.update(b"ksef-emulator pre-signed links\0");
                    h.update(&jwt_secret);
                    h.finalize().into()
                },
                storage_writer: tokio::sync::Mutex::new(()),
                storage_clock: std::sync::Mutex::new(storage_clock),
                clock_offset_ms: AtomicI64::new(0),
                exports: crate::retrieval::ExportBuilds::default(),
                sessions: crate::sessions::Engine::default(),
                rate_limits: crate::limits::RateLimiter::default(),
                listen_base: std::sync::RwLock::new(None),
                token_key,
                symmetric_key,
                trusted_profile_ca,
            }),
        })
    }

    pub fn config(&self) -> &EmulatorConfig {
        &self.inner.config
    }
    pub fn pool(&self) -> &SqlitePool {
        &self.inner.pool
    }
    pub fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }
    pub fn key(&self, usage: KeyUsage) -> &ServiceKeyPair {
        match usage {
            KeyUsage::KsefTokenEncryption => &self.inner.token_key,
            KeyUsage::SymmetricKeyEncryption => &self.inner.symmetric_key,
        }
    }
    /// The CA of the simulated Profil Zaufany signing service (see [`crate::signing_service`]).
    /// Its key never leaves the emulator.
    pub fn trusted_profile_ca(&self) -> &Credential {
        &self.inner.trusted_profile_ca
    }
    /// Key of the HMAC that signs pre-signed storage links ([`crate::storage`]).
    pub fn link_key(&self) -> &[u8; 32] {
        &self.inner.link_key
    }
    /// The lock under which invoices are committed as permanently stored and the HWM is read.
    pub fn storage_writer(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.storage_writer
    }
    /// The monotonic permanent-storage clock (see [`crate::retrieval::StorageClock`]). Lock it
    /// only briefly and only while holding [`Self::storage_writer`].
    pub fn storage_clock(&self) -> std::sync::MutexGuard<'_, crate::retrieval::StorageClock> {
        self.inner
            .storage_clock
            .lock()
            .unwrap_or_else(|p| p.into_inner())
    }
    /// The `permanent_storage_ms` of invoices committed now whose acquisition time is
    /// `acquisition_ms`: strictly after the acquisition, after every earlier permanent-storage
    /// time and after every HWM already reported, even when the wall clock has stepped back
    /// (digest §12.4). Call only while holding [`Self::storage_writer`], in the commit.
    pub fn next_permanent_storage_ms(&self, acquisition_ms: i64) -> i64 {
        let now = crate::store::ms(self.now());
        self.storage_clock().next_permanent(now, acquisition_ms)
    }
    /// Export packages being built in the background.
    pub fn exports(&self) -> &crate::retrieval::ExportBuilds {
        &self.inner.exports
    }
    /// The session processor (verification of invoices, batch packages, UPO generation).
    pub fn sessions(&self) -> &crate::sessions::Engine {
        &self.inner.sessions
    }
    /// API rate limits (digest §15.1, [`crate::limits`]).
    pub fn rate_limits(&self) -> &crate::limits::RateLimiter {
        &self.inner.rate_limits
    }
    /// The base URL links are built on when `public_base_url` is not configured: the address the
    /// server listens on (see [`crate::storage::public_base`]).
    pub fn listen_base(&self) -> Option<String> {
        self.inner
            .listen_base
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }
    /// Records the listener's base URL (by [`crate::server::serve`]).
    pub(crate) fn set_listen_base(&self, base: String) {
        *self
            .inner
            .listen_base
            .write()
            .unwrap_or_else(|p| p.into_inner()) = Some(base);
    }
    /// The current time: the wall clock plus the offset set by [`Self::step_clock`].
    pub fn now(&self) -> OffsetDateTime {
        let offset = self.inner.clock_offset_ms.load(Ordering::Relaxed);
        OffsetDateTime::now_utc() + time::Duration::milliseconds(offset)
    }
    /// Steps the emulator's clock by `by` (negative = back), like an NTP correction of the
    /// host's wall clock. For tests of clock-dependent behaviour; not reachable over HTTP.
    #[doc(hidden)]
    pub fn step_clock(&self, by: time::Duration) {
        let ms = i64::try_from(by.whole_milliseconds()).unwrap_or(0);
        self.inner.clock_offset_ms.fetch_add(ms, Ordering::Relaxed);
    }
}

async fn jwt_secret(pool: &SqlitePool) -> Result<Vec<u8>, sqlx::Error> {
    if let Some(v) =
        sqlx::query_scalar::<_, Vec<u8>>("SELECT value FROM settings WHERE name = 'jwt_secret'")
            .fetch_optional(pool)
            .await?
    {
        return Ok(v);
    }
    let secret: [u8; 32] = rand::random();
    sqlx::query("INSERT OR IGNORE INTO settings(name, value) VALUES ('jwt_secret', ?)")
        .bind(secret.to_vec())
        .execute(pool)
        .await?;
    sqlx::query_scalar("SELECT value FROM settings WHERE name = 'jwt_secret'")
        .fetch_one(pool)
        .await
}

async fn service_key(pool: &SqlitePool, usage: KeyUsage) -> Result<ServiceKeyPair, StartError> {
    let row: Option<(String, Vec<u8>)> =
        sqlx::query_as("SELECT key_pem, certificate_der FROM service_keys WHERE usage = ?")
            .bind(usage.as_str())
            .fetch_optional(pool)
            .await
            .map_err(|e| StartError::Keys(e.to_string()))?;
    if let Some((pem, der)) = row {
        return ServiceKeyPair::from_pkcs8_pem_and_cert(&pem, &der)
            .map_err(|e| StartError::Keys(e.to_string()));
    }
    let name = format!("KSeF Emulator {}", usage.as_str());
    let pair = tokio::task::spawn_blocking(move || ServiceKeyPair::generate(&name, 2 * 365))
        .await
        .map_err(|e| StartError::Keys(e.to_string()))?
        .map_err(|e| StartError::Keys(e.to_string()))?;
    let pem = pair
        .to_pkcs8_pem()
        .map_err(|e| StartError::Keys(e.to_string()))?;
    sqlx::query("INSERT INTO service_keys(usage, key_pem, certificate_der) VALUES (?, ?, ?)")
        .bind(usage.as_str())
        .bind(pem.to_string())
        .bind(pair.certificate_der().to_vec())
        .execute(pool)
        .await
        .map_err(|e| StartError::Keys(e.to_string()))?;
    Ok(pair)
}

/// `service_keys.usage` of the simulated Profil Zaufany CA.
const TRUSTED_PROFILE_CA_USAGE: &str = "TrustedProfileCa";

/// Loads the simulated Profil Zaufany CA, creating it on first start and renewing it when it
/// expires within a day. Kept in `service_keys` next to the emulator's other keys.
async fn trusted_profile_ca(pool: &SqlitePool) -> Result<Credential, StartError> {
    let keys = |e: &dyn std::fmt::Display| StartError::Keys(format!("trusted profile CA: {e}"));
    let load = || async {
        sqlx::query_as::<_, (String, Vec<u8>)>(
            "SELECT key_pem, certificate_der FROM service_keys WHERE usage = ?",
        )
        .bind(TRUSTED_PROFILE_CA_USAGE)
        .fetch_optional(pool)
        .await
        .map_err(|e| keys(&e))
    };
    let restore = |pem: &str, der: Vec<u8>| -> Result<Credential, StartError> {
        let key = PrivateKey::from_pem(pem).map_err(|e| keys(&e))?;
        Credential::new(key, der, Vec::new()).map_err(|e| keys(&e))
    };
    if let Some((pem, der)) = load().await? {
        let ca = restore(&pem, der.clone())?;
        let info = ca.info().map_err(|e| keys(&e))?;
        if info.not_after > OffsetDateTime::now_utc() + time::Duration::days(1) {
            return Ok(ca);
        }
        // Nearly expired: replace it (only if nobody else has already).
        sqlx::query("DELETE FROM service_keys WHERE usage = ? AND certificate_der = ?")
            .bind(TRUSTED_PROFILE_CA_USAGE)
            .bind(der)
            .execute(pool)
            .await
            .map_err(|e| keys(&e))?;
    }
    let ca = tokio::task::spawn_blocking(crate::signing_service::make_trusted_profile_ca)
        .await
        .map_err(|e| keys(&e))?
        .map_err(|e| keys(&e))?;
    let pem = ca.key_pem().map_err(|e| keys(&e))?;
    sqlx::query(
        "INSERT OR IGNORE INTO service_keys(usage, key_pem, certificate_der) VALUES (?, ?, ?)",
    )
    .bind(TRUSTED_PROFILE_CA_USAGE)
    .bind(pem.as_str())
    .bind(ca.certificate_der.clone())
    .execute(pool)
    .await
    .map_err(|e| keys(&e))?;
    // Another process may have won the race: use what is stored.
    match load().await? {
        Some((pem, der)) => restore(&pem, der),
        None => Err(StartError::Keys(
            "trusted profile CA: not stored after insert".into(),
        )),
    }
}
