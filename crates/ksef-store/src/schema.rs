//! The store's schema history, applied by `ksef-sqlite` (the migration mechanism shared with
//! the emulator): this list is the whole history.

use ksef_sqlite::Migrations;

/// Ordered schema migrations; index + 1 = the `user_version` after applying it.
pub(crate) const MIGRATIONS: Migrations = Migrations::new(STEPS);

/// The SQL of every migration (the tests build stores of older versions from a prefix).
pub(crate) const STEPS: &[&str] = &[
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
    // v4: the invoice register — every invoice sent or received per firm (API + context), its
    // exact file (content-addressed, in its own table so the register rows stay small), its UPO,
    // and the sync cursors (moved in the same transaction as the invoices they cover).
    r#"
    CREATE TABLE registers (
        id INTEGER PRIMARY KEY,
        api TEXT NOT NULL,
        context TEXT NOT NULL,
        created_at TEXT NOT NULL,
        UNIQUE (api, context)
    );
    CREATE TABLE invoice_files (
        sha256 BLOB PRIMARY KEY CHECK (length(sha256) = 32),
        size INTEGER NOT NULL,
        content BLOB NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE invoices (
        id INTEGER PRIMARY KEY,
        firm_id INTEGER NOT NULL REFERENCES registers (id),
        direction TEXT NOT NULL CHECK (direction IN ('sale', 'purchase', 'other')),
        ksef_number TEXT,
        invoice_reference TEXT,
        session_reference TEXT,
        invoice_number TEXT NOT NULL,
        issue_date TEXT NOT NULL,
        seller_nip TEXT NOT NULL,
        seller_name TEXT,
        buyer_id_type TEXT NOT NULL,
        buyer_id TEXT,
        buyer_name TEXT,
        net INTEGER,
        vat INTEGER,
        gross INTEGER,
        currency TEXT NOT NULL,
        form_code TEXT NOT NULL,
        invoice_type TEXT,
        acquisition_date TEXT,
        invoicing_date TEXT,
        permanent_storage_date TEXT,
        offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
        status TEXT NOT NULL CHECK (status IN ('sent', 'accepted', 'rejected', 'received')),
        status_code INTEGER,
        status_description TEXT,
        status_details TEXT,
        sha256 BLOB NOT NULL REFERENCES invoice_files (sha256),
        size INTEGER NOT NULL,
        recorded_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        -- What the text filter searches, in one column so that an index holds it.
        search TEXT GENERATED ALWAYS AS (lower(invoice_number || ' ' || coalesce(ksef_number, '')
            || ' ' || coalesce(seller_name, '') || ' ' || coalesce(buyer_name, ''))) VIRTUAL,
        CHECK (ksef_number IS NOT NULL OR invoice_reference IS NOT NULL)
    );
    CREATE UNIQUE INDEX invoices_ksef_number ON invoices (firm_id, ksef_number)
        WHERE ksef_number IS NOT NULL;
    CREATE UNIQUE INDEX invoices_reference ON invoices (firm_id, invoice_reference)
        WHERE invoice_reference IS NOT NULL;
    CREATE INDEX invoices_by_date ON invoices (firm_id, direction, issue_date, id);
    CREATE INDEX invoices_by_any_date ON invoices (firm_id, issue_date, id);
    CREATE INDEX invoices_totals ON invoices
        (firm_id, direction, currency, issue_date, net, vat, gross);
    CREATE INDEX invoices_by_text ON invoices (firm_id, direction, search);
    CREATE INDEX invoices_by_seller ON invoices (firm_id, seller_nip, issue_date);
    CREATE INDEX invoices_by_buyer ON invoices (firm_id, buyer_id, issue_date);
    CREATE INDEX invoices_by_gross ON invoices (firm_id, gross);
    CREATE TABLE invoice_upos (
        invoice_id INTEGER PRIMARY KEY REFERENCES invoices (id),
        xml BLOB NOT NULL,
        fetched_at TEXT NOT NULL
    );
    CREATE TABLE sync_cursors (
        firm_id INTEGER NOT NULL REFERENCES registers (id),
        subject_type TEXT NOT NULL,
        checkpoint TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (firm_id, subject_type)
    ) WITHOUT ROWID;
    "#,
    // v5: offline invoices (digest §13). An invoice issued offline is in the register before
    // KSeF has seen it (status 'issued', neither KSeF number nor reference yet) with its offline
    // mode, the announced end of the unavailability or failure, and the sending deadline (a
    // date, so that pending and overdue invoices are found by index); the KOD II link once the
    // QR code is made; a technical correction names the row it corrects and the SHA-256 of the
    // corrected (rejected) file. SQLite cannot alter CHECK constraints, so `invoices` is rebuilt:
    // its UPOs wait in a temporary table (no foreign key may point at the old table when it is
    // dropped), the rows are copied with their ids, the indexes recreated — all in the
    // migration's one transaction.
    r#"
    CREATE TEMP TABLE v5_upos AS SELECT invoice_id, xml, fetched_at FROM invoice_upos;
    DROP TABLE invoice_upos;
    CREATE TABLE invoices_v5 (
        id INTEGER PRIMARY KEY,
        firm_id INTEGER NOT NULL REFERENCES registers (id),
        direction TEXT NOT NULL CHECK (direction IN ('sale', 'purchase', 'other')),
        ksef_number TEXT,
        invoice_reference TEXT,
        session_reference TEXT,
        invoice_number TEXT NOT NULL,
        issue_date TEXT NOT NULL,
        seller_nip TEXT NOT NULL,
        seller_name TEXT,
        buyer_id_type TEXT NOT NULL,
        buyer_id TEXT,
        buyer_name TEXT,
        net INTEGER,
        vat INTEGER,
        gross INTEGER,
        currency TEXT NOT NULL,
        form_code TEXT NOT NULL,
        invoice_type TEXT,
        acquisition_date TEXT,
        invoicing_date TEXT,
        permanent_storage_date TEXT,
        offline INTEGER NOT NULL DEFAULT 0 CHECK (offline IN (0, 1)),
        status TEXT NOT NULL
            CHECK (status IN ('issued', 'sent', 'accepted', 'rejected', 'received')),
        status_code INTEGER,
        status_description TEXT,
        status_details TEXT,
        sha256 BLOB NOT NULL REFERENCES invoice_files (sha256),
        size INTEGER NOT NULL,
        recorded_at TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        offline_mode TEXT CHECK (offline_mode IN ('offline24', 'unavailability', 'emergency')),
        offline_mode_ends TEXT,
        send_deadline TEXT,
        kod2_link TEXT,
        corrects_id INTEGER REFERENCES invoices (id),
        corrected_sha256 BLOB CHECK (corrected_sha256 IS NULL OR length(corrected_sha256) = 32),
        search TEXT GENERATED ALWAYS AS (lower(invoice_number || ' ' || coalesce(ksef_number, '')
            || ' ' || coalesce(seller_name, '') || ' ' || coalesce(buyer_name, ''))) VIRTUAL,
        CHECK (ksef_number IS NOT NULL OR invoice_reference IS NOT NULL OR status = 'issued'),
        CHECK (status <> 'issued' OR (offline = 1 AND offline_mode IS NOT NULL
            AND ksef_number IS NULL AND invoice_reference IS NULL)),
        CHECK ((offline_mode IS NULL) = (send_deadline IS NULL)),
        CHECK ((offline_mode_ends IS NOT NULL)
            = (offline_mode IS NOT NULL AND offline_mode <> 'offline24')),
        CHECK ((corrects_id IS NULL) = (corrected_sha256 IS NULL))
    );
    INSERT INTO invoices_v5 (id, firm_id, direction, ksef_number, invoice_reference,
        session_reference, invoice_number, issue_date, seller_nip, seller_name, buyer_id_type,
        buyer_id, buyer_name, net, vat, gross, currency, form_code, invoice_type,
        acquisition_date, invoicing_date, permanent_storage_date, offline, status, status_code,
        status_description, status_details, sha256, size, recorded_at, updated_at)
    SELECT id, firm_id, direction, ksef_number, invoice_reference,
        session_reference, invoice_number, issue_date, seller_nip, seller_name, buyer_id_type,
        buyer_id, buyer_name, net, vat, gross, currency, form_code, invoice_type,
        acquisition_date, invoicing_date, permanent_storage_date, offline, status, status_code,
        status_description, status_details, sha256, size, recorded_at, updated_at
    FROM invoices;
    DROP TABLE invoices;
    ALTER TABLE invoices_v5 RENAME TO invoices;
    CREATE UNIQUE INDEX invoices_ksef_number ON invoices (firm_id, ksef_number)
        WHERE ksef_number IS NOT NULL;
    CREATE UNIQUE INDEX invoices_reference ON invoices (firm_id, invoice_reference)
        WHERE invoice_reference IS NOT NULL;
    CREATE INDEX invoices_by_date ON invoices (firm_id, direction, issue_date, id);
    CREATE INDEX invoices_by_any_date ON invoices (firm_id, issue_date, id);
    CREATE INDEX invoices_totals ON invoices
        (firm_id, direction, currency, issue_date, net, vat, gross);
    CREATE INDEX invoices_by_text ON invoices (firm_id, direction, search);
    CREATE INDEX invoices_by_seller ON invoices (firm_id, seller_nip, issue_date);
    CREATE INDEX invoices_by_buyer ON invoices (firm_id, buyer_id, issue_date);
    CREATE INDEX invoices_by_gross ON invoices (firm_id, gross);
    -- Offline invoices not sent yet, by deadline (the pending and overdue lists).
    CREATE INDEX invoices_offline_pending ON invoices (firm_id, send_deadline, id)
        WHERE status = 'issued';
    -- The same file issued offline twice is one invoice. Partial: the rows the sync writes in
    -- bulk (not offline) pay nothing for it.
    CREATE INDEX invoices_by_file ON invoices (firm_id, sha256) WHERE offline = 1;
    -- Also what the self-referencing foreign key checks when a row is deleted.
    CREATE INDEX invoices_corrections ON invoices (corrects_id) WHERE corrects_id IS NOT NULL;
    CREATE TABLE invoice_upos (
        invoice_id INTEGER PRIMARY KEY REFERENCES invoices (id),
        xml BLOB NOT NULL,
        fetched_at TEXT NOT NULL
    );
    INSERT INTO invoice_upos (invoice_id, xml, fetched_at)
        SELECT invoice_id, xml, fetched_at FROM v5_upos;
    DROP TABLE v5_upos;
    "#,
    // v6: the files as a rowid table with a unique index on the hash (was WITHOUT ROWID, keyed
    // by the hash). A WITHOUT ROWID table keeps each row in its key's B-tree: every ~3 KB file
    // landed at a random place of a tree of large cells, so recording 10 000 invoices into a
    // register of 100 000 cost most of its time seeking, splitting and re-reading pages
    // (0.65 s of CPU against 0.18 s now: the index holds 32-byte keys, the contents are
    // appended). `invoices.sha256` keeps referencing `invoice_files (sha256)`: the old table is
    // dropped with the foreign keys deferred (each invoice row counts as a violation, found
    // through a temporary index) and every file inserted again into the new one (each insert
    // settles the rows that reference it), so the migration's one transaction commits only if
    // every invoice has its file again.
    r#"
    PRAGMA defer_foreign_keys = ON;
    CREATE INDEX v6_invoices_sha256 ON invoices (sha256);
    CREATE TABLE v6_files AS SELECT sha256, size, content FROM invoice_files;
    DROP TABLE invoice_files;
    CREATE TABLE invoice_files (
        id INTEGER PRIMARY KEY,
        sha256 BLOB NOT NULL UNIQUE CHECK (length(sha256) = 32),
        size INTEGER NOT NULL,
        content BLOB NOT NULL
    );
    INSERT INTO invoice_files (sha256, size, content)
        SELECT sha256, size, content FROM v6_files ORDER BY sha256;
    DROP TABLE v6_files;
    DROP INDEX v6_invoices_sha256;
    "#,
];
