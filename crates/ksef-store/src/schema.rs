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
    // v3: firms (KSeF contexts the program works for) and one KSeF token per user per firm.
    // Tokens move from the users row to user_tokens (same sealed bytes and AAD); the firm is
    // the token's own context (`nip-5265877635` → `Nip:5265877635`).
    r#"
    CREATE TABLE firms (
        context TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        created_at TEXT NOT NULL
    );
    CREATE TABLE user_tokens (
        user_id INTEGER NOT NULL REFERENCES users (id) ON DELETE CASCADE,
        firm TEXT NOT NULL,
        token_reference TEXT NOT NULL,
        token_context TEXT NOT NULL,
        token_tail TEXT NOT NULL,
        token_set_at TEXT NOT NULL,
        token_sealing TEXT NOT NULL,
        token_sealed BLOB NOT NULL,
        token_status TEXT,
        token_status_at TEXT,
        PRIMARY KEY (user_id, firm)
    );
    CREATE INDEX user_tokens_reference ON user_tokens (token_reference);
    CREATE TEMP TABLE v3_moved AS
        SELECT id AS user_id,
            CASE
                WHEN token_context LIKE 'nip-%' THEN 'Nip:' || substr(token_context, 5)
                WHEN token_context LIKE 'internalId-%' THEN 'InternalId:' || substr(token_context, 12)
                WHEN token_context LIKE 'nipVatUe-%' THEN 'NipVatUe:' || substr(token_context, 10)
                WHEN token_context LIKE 'peppolId-%' THEN 'PeppolId:' || substr(token_context, 10)
                ELSE token_context
            END AS firm,
            token_reference, token_context, token_tail,
            COALESCE(token_set_at, created_at) AS token_set_at,
            COALESCE(token_sealing, 'store') AS token_sealing,
            token_sealed, token_status, token_status_at
        FROM users WHERE token_sealed IS NOT NULL;
    INSERT INTO user_tokens SELECT * FROM v3_moved;
    INSERT OR IGNORE INTO firms (context, name, created_at)
        SELECT DISTINCT firm, substr(firm, instr(firm, ':') + 1), token_set_at FROM v3_moved;
    DROP TABLE v3_moved;
    UPDATE users SET token_reference = NULL, token_context = NULL, token_tail = NULL,
        token_set_at = NULL, token_sealing = NULL, token_sealed = NULL, token_status = NULL,
        token_status_at = NULL;
    "#,
]);
