//! Key management and sealing of secret values.
//!
//! * The 256-bit store key comes either from a passphrase (Argon2id, random 16-byte salt and the
//!   cost parameters stored in the `encryption` table) or from the 32-byte key file `ksef.key`
//!   beside the database (created with mode 0600; a file accessible by group/others is refused).
//! * Every secret is sealed with AES-256-GCM under a fresh random 96-bit nonce and stored as
//!   `nonce || ciphertext || tag`. The AAD names the table, column and row (plus the clear
//!   columns that describe the secret), so a sealed value moved to another row, or a row whose
//!   clear columns were edited, fails to open.
//! * A key check value (the seal of a constant) lets `open` tell a wrong passphrase/key file
//!   from damaged data before anything is written.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use aes_gcm::aead::{Aead, KeyInit, Payload};
use aes_gcm::{Aes256Gcm, Key};
use argon2::{Algorithm, Argon2, Params, Version};
use rand::Rng;
use zeroize::{Zeroize, Zeroizing};

use crate::error::{Result, StoreError};

/// Length of the AES-GCM nonce (96 bits).
const NONCE_LEN: usize = 12;
/// Length of the AES-GCM tag.
const TAG_LEN: usize = 16;
/// Length of the Argon2 salt.
pub(crate) const SALT_LEN: usize = 16;
/// Length of the store key and of the key file.
pub(crate) const KEY_LEN: usize = 32;
/// Plaintext of the key check value.
const KEY_CHECK_PLAINTEXT: &[u8] = b"ksef-store key check v1";

/// Upper bounds accepted for stored Argon2 parameters (a damaged or hostile database must not
/// make `open` allocate gigabytes or spin for minutes).
const MAX_M_COST_KIB: u32 = 1024 * 1024;
const MAX_T_COST: u32 = 64;
const MAX_P_COST: u32 = 16;

/// Argon2id parameters as stored in the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct KdfParams {
    pub m_cost: u32,
    pub t_cost: u32,
    pub p_cost: u32,
    /// Argon2 version number (0x13 = 19).
    pub version: u32,
}

impl KdfParams {
    /// The argon2 crate's defaults for Argon2id (19 MiB, 2 passes, 1 lane; ~50 ms here).
    pub(crate) fn default_id() -> Self {
        KdfParams {
            m_cost: Params::DEFAULT_M_COST,
            t_cost: Params::DEFAULT_T_COST,
            p_cost: Params::DEFAULT_P_COST,
            version: Version::V0x13 as u32,
        }
    }

    fn argon2(&self) -> Result<Argon2<'static>> {
        self.argon2_with_output(Some(KEY_LEN))
    }

    fn argon2_with_output(&self, output_len: Option<usize>) -> Result<Argon2<'static>> {
        if self.m_cost > MAX_M_COST_KIB || self.t_cost > MAX_T_COST || self.p_cost > MAX_P_COST {
            return Err(StoreError::Corrupt(format!(
                "stored Argon2 parameters are out of range (m={} KiB, t={}, p={})",
                self.m_cost, self.t_cost, self.p_cost
            )));
        }
        let version = Version::try_from(self.version)
            .map_err(|_| StoreError::Corrupt(format!("unknown Argon2 version {}", self.version)))?;
        let params = Params::new(self.m_cost, self.t_cost, self.p_cost, output_len)
            .map_err(|e| StoreError::Corrupt(format!("invalid stored Argon2 parameters: {e}")))?;
        Ok(Argon2::new(Algorithm::Argon2id, version, params))
    }
}

impl KdfParams {
    /// An Argon2id PHC string (`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) of a password.
    pub(crate) fn hash_password(&self, password: &[u8], salt: &[u8]) -> Result<String> {
        use argon2::password_hash::PasswordHasher;
        let argon2 = self.argon2_with_output(None)?;
        argon2
            .hash_password_with_salt(password, salt)
            .map(|h| h.to_string())
            .map_err(|e| StoreError::Corrupt(format!("cannot hash the password: {e}")))
    }

    /// Whether `password` matches a stored PHC string. The stored cost parameters are
    /// bounded first (a damaged or hostile database must not make a login allocate gigabytes).
    pub(crate) fn verify_password(password: &[u8], phc: &str) -> Result<bool> {
        use argon2::password_hash::PasswordVerifier;
        use argon2::password_hash::phc::PasswordHash;
        let corrupt = |why: String| StoreError::Corrupt(format!("stored password hash: {why}"));
        let hash = PasswordHash::new(phc).map_err(|e| corrupt(e.to_string()))?;
        if hash.algorithm.as_str() != "argon2id" {
            return Err(corrupt(format!("unsupported algorithm {}", hash.algorithm)));
        }
        let params = Params::try_from(&hash).map_err(|e| corrupt(e.to_string()))?;
        let bounded = KdfParams {
            m_cost: params.m_cost(),
            t_cost: params.t_cost(),
            p_cost: params.p_cost(),
            version: hash.version.unwrap_or(Version::V0x13 as u32),
        };
        let argon2 = bounded.argon2_with_output(params.output_len())?;
        match argon2.verify_password(password, &hash) {
            Ok(()) => Ok(true),
            Err(argon2::password_hash::Error::PasswordInvalid) => Ok(false),
            Err(e) => Err(corrupt(e.to_string())),
        }
    }
}

/// Derives the store key from a passphrase (Argon2id). CPU- and memory-heavy: run it on a
/// blocking thread.
pub(crate) fn derive_key(
    passphrase: &[u8],
    salt: &[u8],
    params: KdfParams,
) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let argon2 = params.argon2()?;
    let mut key = Zeroizing::new([0u8; KEY_LEN]);
    argon2
        .hash_password_into(passphrase, salt, key.as_mut())
        .map_err(|e| {
            StoreError::Corrupt(format!("cannot derive the key from the passphrase: {e}"))
        })?;
    Ok(key)
}

/// Random bytes from the thread-local CSPRNG (ChaCha, seeded from the OS).
pub(crate) fn random_bytes<const N: usize>() -> [u8; N] {
    let mut out = [0u8; N];
    rand::rng().fill_bytes(&mut out);
    out
}

/// Reads the key file, refusing one that is accessible by group/others.
pub(crate) fn read_key_file(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let meta = match std::fs::symlink_metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(StoreError::KeyFileMissing {
                path: path.to_owned(),
            });
        }
        Err(source) => {
            return Err(StoreError::Io {
                action: "inspect the key file",
                path: path.to_owned(),
                source,
            });
        }
    };
    if !meta.file_type().is_file() {
        return Err(StoreError::KeyFileInvalid {
            path: path.to_owned(),
            reason: "not a regular file".into(),
        });
    }
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = meta.permissions().mode() & 0o777;
        if mode & 0o077 != 0 {
            return Err(StoreError::KeyFileInsecure {
                path: path.to_owned(),
                mode,
            });
        }
    }
    if meta.len() != KEY_LEN as u64 {
        return Err(StoreError::KeyFileInvalid {
            path: path.to_owned(),
            reason: format!("expected exactly {KEY_LEN} bytes, found {}", meta.len()),
        });
    }
    let io_err = |source| StoreError::Io {
        action: "read the key file",
        path: path.to_owned(),
        source,
    };
    let file = std::fs::File::open(path).map_err(io_err)?;
    let mut buf = Zeroizing::new(Vec::with_capacity(KEY_LEN + 1));
    file.take(KEY_LEN as u64 + 1)
        .read_to_end(&mut buf)
        .map_err(io_err)?;
    let key: [u8; KEY_LEN] = buf
        .as_slice()
        .try_into()
        .map_err(|_| StoreError::KeyFileInvalid {
            path: path.to_owned(),
            reason: format!("expected exactly {KEY_LEN} bytes, read {}", buf.len()),
        })?;
    Ok(Zeroizing::new(key))
}

/// Creates a new key file with a random key, mode 0600, failing if it already exists.
pub(crate) fn create_key_file(path: &Path) -> Result<Zeroizing<[u8; KEY_LEN]>> {
    let key = Zeroizing::new(random_bytes::<KEY_LEN>());
    let io_err = |source| StoreError::Io {
        action: "create the key file",
        path: path.to_owned(),
        source,
    };
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create_new(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut file = opts.open(path).map_err(io_err)?;
    file.write_all(key.as_ref()).map_err(io_err)?;
    file.sync_all().map_err(io_err)?;
    Ok(key)
}

/// Builds the AAD of a sealed value: a domain tag, then each part length-prefixed (u32 BE), so
/// no two different identities encode the same way.
pub(crate) fn aad(parts: &[&[u8]]) -> Vec<u8> {
    let mut out = b"ksef-store/v1".to_vec();
    for p in parts {
        // Parts are names, URLs and token references: far below 4 GiB.
        out.extend_from_slice(&u32::try_from(p.len()).unwrap_or(u32::MAX).to_be_bytes());
        out.extend_from_slice(p);
    }
    out
}

/// AAD of the key check value.
fn key_check_aad() -> Vec<u8> {
    aad(&[b"encryption", b"key_check"])
}

/// The store's AES-256-GCM cipher. The key schedule is zeroized on drop (`zeroize` feature of
/// `aes-gcm`); `Debug` shows nothing of it.
#[derive(Clone)]
pub(crate) struct Sealer {
    cipher: Aes256Gcm,
}

impl std::fmt::Debug for Sealer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Sealer(<AES-256-GCM key redacted>)")
    }
}

impl Sealer {
    pub(crate) fn new(key: &[u8; KEY_LEN]) -> Self {
        Sealer {
            // A borrowed view of the key (no copy left behind on the stack).
            cipher: Aes256Gcm::new(<&Key<Aes256Gcm>>::from(key)),
        }
    }

    /// Seals `plaintext`: `nonce || ciphertext || tag`.
    pub(crate) fn seal(&self, plaintext: &[u8], aad: &[u8]) -> Result<Vec<u8>> {
        let nonce_bytes = random_bytes::<NONCE_LEN>();
        let nonce = aes_gcm::Nonce::from(nonce_bytes);
        let ct = self
            .cipher
            .encrypt(
                &nonce,
                Payload {
                    msg: plaintext,
                    aad,
                },
            )
            .map_err(|_| StoreError::Encrypt)?;
        let mut out = Vec::with_capacity(NONCE_LEN + ct.len());
        out.extend_from_slice(&nonce_bytes);
        out.extend_from_slice(&ct);
        Ok(out)
    }

    /// Opens a sealed value; `None` if it is malformed or fails authentication.
    pub(crate) fn open(&self, sealed: &[u8], aad: &[u8]) -> Option<Zeroizing<Vec<u8>>> {
        if sealed.len() < NONCE_LEN + TAG_LEN {
            return None;
        }
        let (nonce_bytes, ct) = sealed.split_at(NONCE_LEN);
        let nonce_bytes: [u8; NONCE_LEN] = nonce_bytes.try_into().ok()?;
        let nonce = aes_gcm::Nonce::from(nonce_bytes);
        self.cipher
            .decrypt(&nonce, Payload { msg: ct, aad })
            .ok()
            .map(Zeroizing::new)
    }

    /// Opens a sealed UTF-8 string, mapping failures to [`StoreError::Integrity`].
    pub(crate) fn open_string(
        &self,
        sealed: &[u8],
        aad: &[u8],
        what: &str,
    ) -> Result<Zeroizing<String>> {
        let integrity = || StoreError::Integrity { what: what.into() };
        let mut bytes = self.open(sealed, aad).ok_or_else(integrity)?;
        // Move the bytes out without leaving an unzeroized copy behind.
        let taken = std::mem::take(&mut *bytes);
        match String::from_utf8(taken) {
            Ok(s) => Ok(Zeroizing::new(s)),
            Err(e) => {
                e.into_bytes().zeroize();
                Err(integrity())
            }
        }
    }

    /// The key check value to store for this key.
    pub(crate) fn key_check(&self) -> Result<Vec<u8>> {
        self.seal(KEY_CHECK_PLAINTEXT, &key_check_aad())
    }

    /// Whether `check` is this key's key check value.
    pub(crate) fn verify_key_check(&self, check: &[u8]) -> bool {
        self.open(check, &key_check_aad())
            .is_some_and(|p| p.as_slice() == KEY_CHECK_PLAINTEXT)
    }
}

/// Where the store key comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeySource {
    /// Argon2id from `KSEF_PASSPHRASE`.
    Passphrase,
    /// The 32-byte key file beside the database.
    KeyFile(PathBuf),
}
