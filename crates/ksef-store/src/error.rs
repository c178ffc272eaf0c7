//! The store's error type. No variant carries a secret (tokens, session JSON, passphrases,
//! keys): only names, paths, counts and the underlying library errors, which never see
//! plaintext (secrets are bound as parameters, never spliced into SQL).

use std::path::PathBuf;

use ksef_core::KsefTokenError;

/// Everything that can go wrong in [`Store`](crate::Store).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// A file or directory of the data dir could not be read/created.
    #[error("cannot {action} {}: {source}", path.display())]
    Io {
        /// What was being done ("create the data directory", "read the key file", …).
        action: &'static str,
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },

    /// SQLite reported an error.
    #[error("local database error: {0}")]
    Database(#[from] sqlx::Error),

    /// The database was written by a newer version of this program.
    #[error(
        "the local database {} has schema version {found}, but this program only knows versions up to \
         {supported}; upgrade the program (the database was not modified)",
        path.display()
    )]
    SchemaTooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },

    /// The passphrase or key file does not decrypt this store's key check value.
    #[error("the passphrase (or key file) does not match this store")]
    WrongKey,

    /// The store is protected by a passphrase, but none was given.
    #[error(
        "the local store {} is protected by a passphrase; set KSEF_PASSPHRASE",
        path.display()
    )]
    PassphraseRequired { path: PathBuf },

    /// A passphrase was given, but the store is protected by its key file.
    #[error(
        "the local store is protected by the key file {}, not by a passphrase; unset KSEF_PASSPHRASE \
         (switching a store from key file to passphrase is not supported)",
        key_file.display()
    )]
    PassphraseNotUsed { key_file: PathBuf },

    /// The passphrase is empty (or only whitespace).
    #[error("the passphrase (KSEF_PASSPHRASE) is empty")]
    EmptyPassphrase,

    /// The store is protected by a key file that no longer exists.
    #[error(
        "the key file {} of this store is missing; without it the stored KSeF tokens and sessions \
         cannot be decrypted (restore it from a backup)",
        path.display()
    )]
    KeyFileMissing { path: PathBuf },

    /// The key file can be read by group or others.
    #[error(
        "refusing to use the key file {}: it is accessible by group/others (mode {mode:03o}); \
         run `chmod 600 {}`",
        path.display(),
        path.display()
    )]
    KeyFileInsecure { path: PathBuf, mode: u32 },

    /// The key file exists but is not a 32-byte regular file.
    #[error("the key file {} is invalid: {reason}", path.display())]
    KeyFileInvalid { path: PathBuf, reason: String },

    /// The store's own metadata is damaged (not a secret mismatch).
    #[error("the local store is damaged: {0}")]
    Corrupt(String),

    /// A stored encrypted value failed authentication although the key is right: the value
    /// was altered or copied from another row.
    #[error(
        "the stored {what} failed its integrity check (altered, or copied from another row); \
         clear it and set it again"
    )]
    Integrity { what: String },

    /// A user name is empty, too long or contains control characters.
    #[error("invalid user name: {0}")]
    InvalidUserName(String),

    /// A user with this name (compared case-insensitively) already exists.
    #[error("user {name:?} already exists")]
    UserExists { name: String },

    /// No user with this name.
    #[error("no user named {name:?}")]
    UnknownUser { name: String },

    /// The user has no password yet (a store from before passwords): an administrator must
    /// set one.
    #[error("program user {name:?} has no password yet; an administrator must set one")]
    NoPassword { name: String },

    /// The password is wrong.
    #[error(
        "wrong password for program user {name:?} ({attempts_left} attempts left before a lock-out)"
    )]
    WrongPassword { name: String, attempts_left: u32 },

    /// The user is locked out after repeated wrong passwords.
    #[error("program user {name:?} is locked after repeated wrong passwords until {until}")]
    UserLocked {
        name: String,
        until: time::OffsetDateTime,
    },

    /// A new password is too short (or only whitespace).
    #[error("the password is too weak: use at least {min_chars} characters")]
    WeakPassword { min_chars: usize },

    /// A new password is too long or contains control characters.
    #[error("the password is too long or contains control characters")]
    InvalidPassword,

    /// The user's password or key changed while this operation ran (another window or
    /// process); nothing was written.
    #[error("program user {name:?} was changed meanwhile (another window or process); try again")]
    ChangedMeanwhile { name: String },

    /// The first administrator was to be created, but one exists (e.g. a second setup ran
    /// at the same time); nothing was written.
    #[error("the program already has an administrator")]
    FirstAdminExists,

    /// A firm key is not `<ContextType>:<value>`.
    #[error("invalid firm {0:?}: expected a KSeF context such as Nip:5265877635")]
    InvalidFirm(String),

    /// A firm name is empty, too long or contains control characters.
    #[error("invalid firm name: use 1–256 printable characters")]
    InvalidFirmName,

    /// The last administrator cannot be removed or demoted.
    #[error("program user {name:?} is the last administrator and must stay one")]
    LastAdmin { name: String },

    /// The text is not a KSeF token (`<reference>|<contextType>-<contextValue>|<64 hex>`).
    #[error("not a valid KSeF token: {0}")]
    InvalidToken(#[source] KsefTokenError),

    /// A setting key is empty, too long or contains control characters.
    #[error("invalid setting key {0:?}: use 1–128 printable characters")]
    InvalidSettingKey(String),

    /// A session base URL is empty or contains control characters.
    #[error("invalid base URL for a session: must be non-empty and printable")]
    InvalidBaseUrl,

    /// Encryption failed (not expected in practice; AES-GCM only fails on absurd sizes).
    #[error("encryption failed")]
    Encrypt,

    /// An invoice for the register has neither a KSeF number nor an invoice reference, so it
    /// could never be found again.
    #[error("invoice {invoice_number:?} has neither a KSeF number nor a KSeF reference number")]
    InvoiceUnidentified { invoice_number: String },

    /// A register page outside what the register serves (pages count from 1; a page holds
    /// 1 to [`MAX_PAGE_SIZE`](crate::register::MAX_PAGE_SIZE) invoices).
    #[error(
        "page {page} of {page_size} invoices: pages count from 1 and hold 1 to {} invoices",
        crate::register::MAX_PAGE_SIZE
    )]
    InvalidPage { page: u32, page_size: u32 },

    /// The register of the firm has no invoice with this row id.
    #[error("the invoice register has no invoice with id {id}")]
    InvoiceNotFound { id: i64 },

    /// A register filter that can match nothing sensible (e.g. `to` before `from`).
    #[error("invalid invoice filter: {problem}")]
    InvalidFilter { problem: FilterProblem },
}

/// What is wrong with a register filter.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FilterProblem {
    /// The date range ends before it starts.
    #[error("the end date is before the start date")]
    DatesReversed,
    /// The amount range ends below where it starts.
    #[error("the largest amount is below the smallest")]
    AmountsReversed,
}

/// Shorthand for results of this crate.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;
