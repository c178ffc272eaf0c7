//! Shared state of a running emulator: configuration, database, signing keys.

use std::sync::Arc;

use ksef_crypto::service::ServiceKeyPair;
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
}

/// Errors while starting the emulator.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("database {path}: {source}")]
    Database { path: String, source: sqlx::Error },
    #[error("service keys: {0}")]
    Keys(String),
}

impl AppState {
    /// Opens the database in the configured data directory, creating keys on first start.
    pub async fn open(config: EmulatorConfig) -> Result<Self, StartError> {
        std::fs::create_dir_all(&config.data_dir).map_err(|source| StartError::DataDir {
            path: config.data_dir.display().to_string(),
            source,
        })?;
        let path = config.database_path();
        let pool = store::open(&path)
            .await
            .map_err(|source| StartError::Database {
                path: path.display().to_string(),
                source,
            })?;
        let db_err = |source| StartError::Database {
            path: path.display().to_string(),
            source,
        };
        let jwt_secret = jwt_secret(&pool).await.map_err(db_err)?;
        let token_key = service_key(&pool, KeyUsage::KsefTokenEncryption).await?;
        let symmetric_key = service_key(&pool, KeyUsage::SymmetricKeyEncryption).await?;
        Ok(Self {
            inner: Arc::new(Inner {
                config,
                pool,
                jwt: JwtKeys::new(&jwt_secret),
                token_key,
                symmetric_key,
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
    /// The current time (one place, so a test clock can be added later).
    pub fn now(&self) -> OffsetDateTime {
        OffsetDateTime::now_utc()
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
