//! The store's schema history, applied by `ksef-sqlite` (the migration mechanism shared with
//! the emulator): this list is the whole history.

use ksef_sqlite::Migrations;

/// Ordered schema migrations; index + 1 = the `user_version` after applying it.
pub(crate) const MIGRATIONS: Migrations = Migrations::new(&[
    // v1: encryption metadata, users (with sealed KSeF tokens), settings, sessions.
    r#"
    CREATE TABLE encryption (
        id INTEGER PRIMARY KEY CHECK (id = 1),
        key_source TEXT NOT NULL CHECK (key_source IN ('passphrase', 'keyfile')),
        kdf TEXT,
        kdf_version INTEGER,
        kdf_m_cost INTEGER,
        kdf_t_cost INTEGER,
        kdf_p_cost INTEGER,
        kdf_salt BLOB,
        key_check BLOB NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE users (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL,
        name_key TEXT NOT NULL UNIQUE,
        created_at TEXT NOT NULL,
        token_reference TEXT,
        token_context TEXT,
        token_tail TEXT,
        token_set_at TEXT,
        token_sealed BLOB,
        CHECK ((token_sealed IS NULL) = (token_reference IS NULL))
    );
    CREATE TABLE settings (
        key TEXT PRIMARY KEY,
        value TEXT NOT NULL,
        updated_at TEXT NOT NULL
    );
    CREATE TABLE sessions (
        base_url TEXT PRIMARY KEY,
        context TEXT NOT NULL,
        method TEXT NOT NULL,
        reference_number TEXT NOT NULL,
        access_valid_until TEXT NOT NULL,
        refresh_valid_until TEXT NOT NULL,
        via_user TEXT,
        saved_at TEXT NOT NULL,
        session_sealed BLOB NOT NULL
    );
    "#,
    // v2: program users log in (Argon2id password hash, lock-out), each has a key pair whose
    // private half the password protects, and tokens are sealed to it; last seen token status.
    r#"
    ALTER TABLE users ADD COLUMN is_admin INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN password_hash TEXT;
    ALTER TABLE users ADD COLUMN key_public BLOB;
    ALTER TABLE users ADD COLUMN key_salt BLOB;
    ALTER TABLE users ADD COLUMN key_sealed BLOB;
    ALTER TABLE users ADD COLUMN failed_logins INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE users ADD COLUMN locked_until TEXT;
    ALTER TABLE users ADD COLUMN token_sealing TEXT;
    ALTER TABLE users ADD COLUMN token_status TEXT;
    ALTER TABLE users ADD COLUMN token_status_at TEXT;
    "#,
]);
