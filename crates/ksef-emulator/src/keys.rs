//! The emulator's key material, kept in `service_keys` / `settings` and created on first start:
//! the JWT secret, the two RSA keys of §3.1 and the CA of the simulated Profil Zaufany signing
//! service.

use ksef_crypto::ca::{Validity, make_ca_with};
use ksef_crypto::service::ServiceKeyPair;
use ksef_crypto::testcert::oid;
use ksef_crypto::{Credential, CryptoError, KeyAlgorithm, PrivateKey};
use sqlx::SqlitePool;
use time::OffsetDateTime;

use crate::error::StartError;

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

pub(crate) async fn jwt_secret(pool: &SqlitePool) -> Result<Vec<u8>, sqlx::Error> {
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

pub(crate) async fn service_key(
    pool: &SqlitePool,
    usage: KeyUsage,
) -> Result<ServiceKeyPair, StartError> {
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
pub(crate) async fn trusted_profile_ca(pool: &SqlitePool) -> Result<Credential, StartError> {
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
    let ca = tokio::task::spawn_blocking(make_trusted_profile_ca)
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

/// commonName of the emulator's trusted-profile CA.
pub const CA_COMMON_NAME: &str = "Symulowany Profil Zaufany (emulator KSeF)";
/// organizationName of the emulator's trusted-profile CA.
pub const CA_ORGANIZATION: &str = "KSeF Emulator";
/// Lifetime of the trusted-profile CA certificate (it is renewed on start when it nears expiry).
pub const CA_LIFETIME_DAYS: i64 = 10 * 365;

/// The subject attributes of the trusted-profile CA (`CN`, `O`, `C=PL`).
pub fn ca_subject() -> Vec<(String, String)> {
    vec![
        (oid::COMMON_NAME.to_string(), CA_COMMON_NAME.to_string()),
        (
            oid::ORGANIZATION_NAME.to_string(),
            CA_ORGANIZATION.to_string(),
        ),
        (oid::COUNTRY_NAME.to_string(), "PL".to_string()),
    ]
}

/// A new trusted-profile CA (EC P-256, [`CA_LIFETIME_DAYS`]). CPU-bound: call off the runtime.
pub fn make_trusted_profile_ca() -> Result<Credential, CryptoError> {
    make_ca_with(
        &ca_subject(),
        KeyAlgorithm::EcP256,
        Validity::from_now(time::Duration::days(CA_LIFETIME_DAYS))?,
    )
}
