//! Shared state of a running emulator: configuration, database, signing keys, the CA of the
//! simulated Profil Zaufany signing service, the clocks and the rate-limit counters.
//!
//! Infrastructure only: no feature's types. A feature that keeps in-memory state of its own
//! (the session engine, export builds) keeps it in a [`AppState::feature`] slot, created on
//! first use and started by the feature itself.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use ksef_crypto::Credential;
use ksef_crypto::service::ServiceKeyPair;
use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::clock::StorageClock;
use crate::config::EmulatorConfig;
use crate::error::StartError;
use crate::jwt::JwtKeys;
use crate::keys::{KeyUsage, jwt_secret, service_key, trusted_profile_ca};
use crate::ratelimit::RateLimiter;
use crate::store;

/// One slot per type of [`AppState::feature`].
type Features = std::sync::Mutex<HashMap<TypeId, Arc<dyn Any + Send + Sync>>>;

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
    storage_clock: std::sync::Mutex<StorageClock>,
    /// Offset (ms) added to the wall clock by [`AppState::now`] (tests step the clock with it).
    clock_offset_ms: AtomicI64,
    /// In-memory state of features (see [`AppState::feature`]).
    features: Features,
    /// API rate limits: per-context overrides and sliding windows ([`crate::ratelimit`]).
    rate_limits: RateLimiter,
    /// Base URL of the listener being served (`http://127.0.0.1:PORT`), set by
    /// [`crate::server::serve`]; pre-signed links use it unless `public_base_url` is configured.
    listen_base: std::sync::RwLock<Option<String>>,
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
        let storage_clock = StorageClock::load(&pool).await.map_err(db_err)?;
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
                features: Features::default(),
                rate_limits: RateLimiter::default(),
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
    pub(crate) fn jwt(&self) -> &JwtKeys {
        &self.inner.jwt
    }
    pub(crate) fn key(&self, usage: KeyUsage) -> &ServiceKeyPair {
        match usage {
            KeyUsage::KsefTokenEncryption => &self.inner.token_key,
            KeyUsage::SymmetricKeyEncryption => &self.inner.symmetric_key,
        }
    }
    /// The CA of the simulated Profil Zaufany signing service (`/symulator-podpisu`).
    /// Its key never leaves the emulator.
    pub fn trusted_profile_ca(&self) -> &Credential {
        &self.inner.trusted_profile_ca
    }
    /// Key of the HMAC that signs pre-signed storage links ([`crate::storage`]).
    pub(crate) fn link_key(&self) -> &[u8; 32] {
        &self.inner.link_key
    }
    /// The lock under which invoices are committed as permanently stored and the HWM is read.
    pub fn storage_writer(&self) -> &tokio::sync::Mutex<()> {
        &self.inner.storage_writer
    }
    /// The monotonic permanent-storage clock (see [`StorageClock`]). Lock it only briefly and
    /// only while holding [`Self::storage_writer`].
    pub(crate) fn storage_clock(&self) -> std::sync::MutexGuard<'_, StorageClock> {
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
    /// The in-memory state of type `T` a feature keeps for the running emulator (its
    /// background tasks, say), created with `T::default()` on first use. One per type.
    pub(crate) fn feature<T: Default + Send + Sync + 'static>(&self) -> Arc<T> {
        let mut slots = self
            .inner
            .features
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let slot = slots
            .entry(TypeId::of::<T>())
            .or_insert_with(|| Arc::new(T::default()));
        match Arc::clone(slot).downcast::<T>() {
            Ok(t) => t,
            // Unreachable: the slot of `TypeId::of::<T>()` holds a `T`.
            Err(_) => Arc::new(T::default()),
        }
    }
    /// API rate limits (digest §15.1, [`crate::ratelimit`]).
    pub(crate) fn rate_limits(&self) -> &RateLimiter {
        &self.inner.rate_limits
    }
    /// The base URL links are built on when `public_base_url` is not configured: the address the
    /// server listens on (see [`crate::storage::public_base`]).
    pub(crate) fn listen_base(&self) -> Option<String> {
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
