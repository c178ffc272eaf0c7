//! Persistent state of the emulator: one SQLite file (WAL mode) in the data directory.
//!
//! Times are stored as Unix milliseconds. Asynchronous steps (auth processing, token activation,
//! revocation) are stored as "ready at" instants and resolved when read, so they survive restarts
//! without background jobs.
//!
//! Schema migrations are applied by `ksef-sqlite` (the mechanism shared with the program store):
//! versioned with SQLite's `PRAGMA user_version`, in order, inside one transaction; this list is
//! the whole history.

use std::str::FromStr;

use ksef_sqlite::{MigrationError, Migrations};
use sqlx::SqlitePool;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use time::OffsetDateTime;

/// Ordered schema migrations; index + 1 = the `user_version` after applying it.
const MIGRATIONS: Migrations = Migrations::new(&[
    // v1: authentication, KSeF tokens, test data.
    r#"
    CREATE TABLE settings (name TEXT PRIMARY KEY, value BLOB NOT NULL);
    CREATE TABLE service_keys (
        usage TEXT PRIMARY KEY,
        key_pem TEXT NOT NULL,
        certificate_der BLOB NOT NULL
    );
    CREATE TABLE challenges (
        challenge TEXT PRIMARY KEY,
        timestamp_ms INTEGER NOT NULL,
        client_ip TEXT NOT NULL,
        used INTEGER NOT NULL DEFAULT 0
    );
    CREATE TABLE auth_operations (
        reference_number TEXT PRIMARY KEY,
        started_ms INTEGER NOT NULL,
        ready_ms INTEGER NOT NULL,
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        subject_type TEXT NOT NULL,
        subject_value TEXT NOT NULL,
        method TEXT NOT NULL,
        method_code TEXT NOT NULL,
        method_display TEXT NOT NULL,
        ksef_token_ref TEXT,
        final_code INTEGER NOT NULL,
        final_description TEXT NOT NULL,
        final_details TEXT NOT NULL DEFAULT '[]',
        ip_policy TEXT,
        redeemed INTEGER NOT NULL DEFAULT 0,
        last_refresh_ms INTEGER,
        refresh_valid_until_ms INTEGER,
        revoked INTEGER NOT NULL DEFAULT 0,
        signed_document BLOB
    );
    CREATE INDEX auth_operations_context ON auth_operations(context_type, context_value, started_ms);
    CREATE TABLE ksef_tokens (
        reference_number TEXT PRIMARY KEY,
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        author_type TEXT NOT NULL,
        author_value TEXT NOT NULL,
        description TEXT NOT NULL,
        permissions TEXT NOT NULL,
        secret_sha256 BLOB NOT NULL,
        created_ms INTEGER NOT NULL,
        last_use_ms INTEGER,
        status TEXT NOT NULL,
        activate_at_ms INTEGER NOT NULL,
        revoked_at_ms INTEGER,
        status_details TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX ksef_tokens_context ON ksef_tokens(context_type, context_value, created_ms);
    CREATE TABLE persons (
        nip TEXT PRIMARY KEY,
        pesel TEXT NOT NULL,
        is_bailiff INTEGER NOT NULL,
        is_deceased INTEGER NOT NULL,
        description TEXT NOT NULL,
        created_ms INTEGER NOT NULL
    );
    CREATE INDEX persons_pesel ON persons(pesel);
    CREATE TABLE subjects (
        nip TEXT PRIMARY KEY,
        subject_type TEXT NOT NULL,
        description TEXT NOT NULL,
        parent_nip TEXT,
        created_ms INTEGER NOT NULL
    );
    CREATE TABLE grants (
        id TEXT PRIMARY KEY,
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        authorized_type TEXT NOT NULL,
        authorized_value TEXT NOT NULL,
        permission TEXT NOT NULL,
        description TEXT NOT NULL,
        author_type TEXT NOT NULL,
        author_value TEXT,
        created_ms INTEGER NOT NULL,
        UNIQUE(context_type, context_value, authorized_type, authorized_value, permission)
    );
    CREATE TABLE blocked_contexts (
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        PRIMARY KEY (context_type, context_value)
    );
    CREATE TABLE attachment_consents (
        nip TEXT PRIMARY KEY,
        allowed INTEGER NOT NULL,
        revoked_date TEXT
    );
    "#,
    // v2: online and batch sessions, invoices, UPO, exports (digest §8–§12).
    r#"
    CREATE TABLE sessions (
        reference_number TEXT PRIMARY KEY,
        session_type TEXT NOT NULL,              -- 'Online' | 'Batch'
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        subject_type TEXT NOT NULL,              -- who opened it (the authenticated subject)
        subject_value TEXT NOT NULL,
        auth_reference TEXT NOT NULL,            -- the authentication operation (UPO Uwierzytelnienie)
        ksef_token_ref TEXT,                     -- set when the session was opened with a KSeF token
        form_system_code TEXT NOT NULL,
        form_schema_version TEXT NOT NULL,
        form_value TEXT NOT NULL,
        symmetric_key BLOB,                      -- AES-256 key; NULL when RSA-OAEP unwrapping failed (→ 415)
        iv BLOB NOT NULL,
        offline_mode INTEGER NOT NULL DEFAULT 0,
        status_code INTEGER NOT NULL,
        status_description TEXT NOT NULL,
        status_details TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL,
        updated_ms INTEGER NOT NULL,
        closed_ms INTEGER,
        valid_until_ms INTEGER NOT NULL,
        batch_file TEXT,                         -- JSON of the declared batchFile (batch only)
        upo_reference TEXT,                      -- reference number of the session UPO page, once generated
        upo_xml BLOB,
        next_ordinal INTEGER NOT NULL DEFAULT 1
    );
    CREATE INDEX sessions_context ON sessions(context_type, context_value, session_type, created_ms);
    CREATE TABLE batch_parts (
        session_ref TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        declared_size INTEGER NOT NULL,
        declared_hash TEXT NOT NULL,
        uploaded_size INTEGER,
        uploaded_hash TEXT,
        PRIMARY KEY (session_ref, ordinal)
    );
    CREATE TABLE session_invoices (
        reference_number TEXT PRIMARY KEY,
        session_ref TEXT NOT NULL,
        ordinal INTEGER NOT NULL,
        file_name TEXT,
        invoice_hash TEXT NOT NULL,
        invoice_size INTEGER NOT NULL,
        encrypted_content BLOB,                  -- online: queued ciphertext, dropped once final
        offline_mode INTEGER NOT NULL DEFAULT 0,
        hash_of_corrected_invoice TEXT,
        status_code INTEGER NOT NULL,
        status_description TEXT NOT NULL,
        status_details TEXT NOT NULL DEFAULT '[]',
        status_extensions TEXT,
        invoice_number TEXT,
        ksef_number TEXT UNIQUE,
        invoicing_ms INTEGER NOT NULL,
        acquisition_ms INTEGER,
        permanent_storage_ms INTEGER,
        upo_xml BLOB,
        UNIQUE (session_ref, ordinal)
    );
    CREATE INDEX session_invoices_session ON session_invoices(session_ref, ordinal);
    CREATE INDEX session_invoices_pending ON session_invoices(status_code) WHERE status_code < 200;
    -- Accepted invoices: the exact bytes and the metadata of POST /invoices/query/metadata.
    CREATE TABLE invoices (
        ksef_number TEXT PRIMARY KEY,
        session_ref TEXT NOT NULL,
        invoice_ref TEXT NOT NULL,
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        content BLOB NOT NULL,
        invoice_hash TEXT NOT NULL,
        invoice_size INTEGER NOT NULL,
        form_system_code TEXT NOT NULL,
        form_schema_version TEXT NOT NULL,
        form_value TEXT NOT NULL,
        invoice_number TEXT NOT NULL,
        invoice_type TEXT NOT NULL,              -- API name: Vat, Kor, Zal, …
        rodzaj_faktury TEXT NOT NULL,            -- as in the XML: VAT, KOR, … (duplicate key)
        issue_date TEXT NOT NULL,                -- P_1, YYYY-MM-DD
        invoicing_ms INTEGER NOT NULL,
        acquisition_ms INTEGER NOT NULL,
        permanent_storage_ms INTEGER NOT NULL,
        seller_nip TEXT NOT NULL,
        seller_name TEXT,
        buyer_id_type TEXT NOT NULL,             -- Nip | VatUe | Other | None
        buyer_id_value TEXT,
        buyer_name TEXT,
        net_amount REAL,
        gross_amount REAL,
        vat_amount REAL,
        currency TEXT NOT NULL,
        invoicing_mode TEXT NOT NULL,            -- Online | Offline
        is_self_invoicing INTEGER NOT NULL,
        has_attachment INTEGER NOT NULL,
        hash_of_corrected_invoice TEXT,
        third_subjects TEXT NOT NULL DEFAULT '[]',   -- JSON, wire shape
        authorized_subject TEXT                      -- JSON, wire shape
    );
    CREATE UNIQUE INDEX invoices_duplicate ON invoices(seller_nip, rodzaj_faktury, invoice_number);
    CREATE INDEX invoices_storage ON invoices(permanent_storage_ms);
    -- Who may see an invoice, by subject type: Subject1 seller NIP, Subject2 buyer NIP,
    -- Subject3 Podmiot3 identifiers, SubjectAuthorized PodmiotUpowazniony NIP.
    CREATE TABLE invoice_parties (
        ksef_number TEXT NOT NULL,
        subject_type TEXT NOT NULL,
        identifier TEXT NOT NULL,
        PRIMARY KEY (subject_type, identifier, ksef_number)
    );
    CREATE TABLE exports (
        reference_number TEXT PRIMARY KEY,
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        subject_type TEXT NOT NULL,
        request TEXT NOT NULL,                   -- JSON of the filters and options
        symmetric_key BLOB,
        iv BLOB NOT NULL,
        status_code INTEGER NOT NULL,
        status_description TEXT NOT NULL,
        status_details TEXT NOT NULL DEFAULT '[]',
        created_ms INTEGER NOT NULL,
        completed_ms INTEGER,
        package TEXT                             -- JSON of the package description (parts on disk)
    );
    CREATE INDEX exports_context ON exports(context_type, context_value, subject_type, status_code);
    "#,
    // v3: a session's AES key is kept only while the session still needs it (final status ≥ 200
    // drops it, whichever code path sets the status).
    r#"
    UPDATE sessions SET symmetric_key = NULL WHERE status_code >= 200;
    CREATE TRIGGER sessions_drop_key_when_final
    AFTER UPDATE OF status_code ON sessions
    WHEN NEW.status_code >= 200 AND NEW.symmetric_key IS NOT NULL
    BEGIN
        UPDATE sessions SET symmetric_key = NULL WHERE reference_number = NEW.reference_number;
    END;
    "#,
    // v4: the permission-management API (digest §7.3–§7.5): person/entity data and kind of a
    // grant, entity-level authorizations, and the asynchronous grant/revoke operations.
    r#"
    ALTER TABLE grants ADD COLUMN subject_details TEXT;     -- JSON, PermissionsSubjectPersonDetails
    ALTER TABLE grants ADD COLUMN grant_kind TEXT NOT NULL DEFAULT 'Person';  -- 'Person' | 'Entity'
    ALTER TABLE grants ADD COLUMN can_delegate INTEGER NOT NULL DEFAULT 0;
    ALTER TABLE grants ADD COLUMN entity_details TEXT;      -- JSON, PermissionsSubjectEntityDetails
    CREATE INDEX grants_authorized ON grants(authorized_type, authorized_value, grant_kind);
    CREATE INDEX grants_context ON grants(context_type, context_value, created_ms);
    -- Entity-level authorizations (SelfInvoicing, RRInvoicing, TaxRepresentative, PefInvoicing).
    CREATE TABLE authorization_grants (
        id TEXT PRIMARY KEY,
        authorizing_nip TEXT NOT NULL,
        authorized_type TEXT NOT NULL,           -- 'Nip' | 'PeppolId'
        authorized_value TEXT NOT NULL,
        permission TEXT NOT NULL,
        description TEXT NOT NULL,
        full_name TEXT NOT NULL,
        author_type TEXT NOT NULL,
        author_value TEXT NOT NULL,
        created_ms INTEGER NOT NULL,
        UNIQUE(authorizing_nip, authorized_type, authorized_value, permission)
    );
    CREATE TABLE permission_operations (
        reference_number TEXT PRIMARY KEY,
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        operation TEXT NOT NULL,                 -- 'Grant' | 'Revoke'
        created_ms INTEGER NOT NULL,
        ready_ms INTEGER NOT NULL,               -- status 100 until then, the final status after
        final_code INTEGER NOT NULL,
        final_description TEXT NOT NULL,
        final_details TEXT NOT NULL DEFAULT '[]'
    );
    "#,
    // v5: subunit administrators (grant_kind 'Subunit' with the unit's name), indirect grants
    // of an intermediary for a client or all partners, EU-entity composite contexts (§7.3).
    r#"
    ALTER TABLE grants ADD COLUMN subunit_name TEXT;
    CREATE TABLE indirect_grants (
        id TEXT PRIMARY KEY,
        intermediary_type TEXT NOT NULL,         -- the context that granted (the intermediary)
        intermediary_value TEXT NOT NULL,
        target_type TEXT NOT NULL,               -- 'Nip' | 'InternalId' | 'AllPartners'
        target_value TEXT NOT NULL,              -- '' for AllPartners
        authorized_type TEXT NOT NULL,
        authorized_value TEXT NOT NULL,
        permission TEXT NOT NULL,                -- 'InvoiceRead' | 'InvoiceWrite'
        description TEXT NOT NULL,
        author_type TEXT NOT NULL,
        author_value TEXT NOT NULL,
        subject_details TEXT,                    -- JSON, PermissionsSubjectPersonDetails
        created_ms INTEGER NOT NULL,
        UNIQUE(intermediary_type, intermediary_value, target_type, target_value,
               authorized_type, authorized_value, permission)
    );
    CREATE INDEX indirect_grants_authorized ON indirect_grants(authorized_type, authorized_value);
    CREATE TABLE eu_entities (
        context_value TEXT PRIMARY KEY,          -- NipVatUe `{nip}-{VAT UE}`
        nip TEXT NOT NULL,
        vat_ue TEXT NOT NULL,
        name TEXT NOT NULL,                      -- euEntityName
        details TEXT NOT NULL,                   -- JSON, EuEntityDetails
        created_ms INTEGER NOT NULL
    );
    "#,
    // v6: KSeF certificates (digest §14): enrollments and the certificates issued by the
    // emulator's own CA (its key lives in service_keys, usage 'KsefCertificatesCa').
    r#"
    CREATE TABLE ksef_certificate_enrollments (
        reference_number TEXT PRIMARY KEY,
        owner_type TEXT NOT NULL,                -- authenticated subject: 'Nip' | 'Pesel' | 'Fingerprint'
        owner_value TEXT NOT NULL,
        request_ms INTEGER NOT NULL,
        ready_ms INTEGER NOT NULL,               -- status 100 until then, the final status after
        final_code INTEGER NOT NULL,
        final_description TEXT NOT NULL,
        final_details TEXT NOT NULL DEFAULT '[]',
        certificate_serial TEXT
    );
    CREATE INDEX ksef_certificate_enrollments_owner
        ON ksef_certificate_enrollments(owner_type, owner_value);
    CREATE TABLE ksef_certificates (
        serial_number TEXT PRIMARY KEY,          -- 16 uppercase hex digits
        owner_type TEXT NOT NULL,
        owner_value TEXT NOT NULL,
        name TEXT NOT NULL,
        certificate_type TEXT NOT NULL,          -- 'Authentication' | 'Offline'
        common_name TEXT NOT NULL,
        certificate_der BLOB NOT NULL,
        fingerprint TEXT NOT NULL UNIQUE,        -- SHA-256 of the DER, uppercase hex
        public_key_sha256 TEXT NOT NULL,
        valid_from_ms INTEGER NOT NULL,
        valid_to_ms INTEGER NOT NULL,
        request_ms INTEGER NOT NULL,
        ready_ms INTEGER NOT NULL,               -- visible (retrieve/query) from then on
        revoked_ms INTEGER,
        revocation_reason TEXT,
        last_use_ms INTEGER
    );
    CREATE INDEX ksef_certificates_owner ON ksef_certificates(owner_type, owner_value, request_ms);
    CREATE INDEX ksef_certificates_public_key ON ksef_certificates(public_key_sha256);
    "#,
    // v7: a person grant and an entity grant of the same permission to the same NIP are two
    // grants: the unique key includes grant_kind (v1's key made the second one vanish).
    r#"
    CREATE TABLE grants_v7 (
        id TEXT PRIMARY KEY,
        context_type TEXT NOT NULL,
        context_value TEXT NOT NULL,
        authorized_type TEXT NOT NULL,
        authorized_value TEXT NOT NULL,
        permission TEXT NOT NULL,
        description TEXT NOT NULL,
        author_type TEXT NOT NULL,
        author_value TEXT,
        created_ms INTEGER NOT NULL,
        subject_details TEXT,
        grant_kind TEXT NOT NULL DEFAULT 'Person',
        can_delegate INTEGER NOT NULL DEFAULT 0,
        entity_details TEXT,
        subunit_name TEXT,
        UNIQUE(context_type, context_value, authorized_type, authorized_value, permission, grant_kind)
    );
    INSERT INTO grants_v7(id, context_type, context_value, authorized_type, authorized_value,
        permission, description, author_type, author_value, created_ms, subject_details,
        grant_kind, can_delegate, entity_details, subunit_name)
    SELECT id, context_type, context_value, authorized_type, authorized_value,
        permission, description, author_type, author_value, created_ms, subject_details,
        grant_kind, can_delegate, entity_details, subunit_name FROM grants;
    DROP TABLE grants;
    ALTER TABLE grants_v7 RENAME TO grants;
    CREATE INDEX grants_authorized ON grants(authorized_type, authorized_value, grant_kind);
    CREATE INDEX grants_context ON grants(context_type, context_value, created_ms);
    "#,
    // v8: invoices found by the hash of their file (KOD I verification, technical corrections).
    r#"
    CREATE INDEX invoices_hash ON invoices(invoice_hash);
    CREATE INDEX invoices_corrected_hash ON invoices(hash_of_corrected_invoice)
        WHERE hash_of_corrected_invoice IS NOT NULL;
    "#,
]);

/// Unix milliseconds of an instant.
pub fn ms(t: OffsetDateTime) -> i64 {
    (t.unix_timestamp_nanos() / 1_000_000) as i64
}

/// The instant of Unix milliseconds.
pub fn from_ms(v: i64) -> OffsetDateTime {
    OffsetDateTime::from_unix_timestamp_nanos(i128::from(v) * 1_000_000)
        .unwrap_or(OffsetDateTime::UNIX_EPOCH)
}

/// Opens (creating if needed) the database and brings its schema up to date.
pub async fn open(path: &std::path::Path) -> Result<SqlitePool, sqlx::Error> {
    let url = format!("sqlite://{}", path.display());
    let opts = SqliteConnectOptions::from_str(&url)?
        .create_if_missing(true)
        .journal_mode(SqliteJournalMode::Wal)
        // FULL: every commit is fsynced, so an invoice reported as accepted survives a crash
        // of the machine, not only of the process (issue 6).
        .synchronous(SqliteSynchronous::Full)
        .foreign_keys(true)
        .busy_timeout(std::time::Duration::from_secs(10));
    let pool = SqlitePoolOptions::new()
        .max_connections(8)
        .connect_with(opts)
        .await?;
    migrate(&pool).await?;
    Ok(pool)
}

/// A real, committed write: fails when SQLite could open the database only read-only.
pub async fn check_writable(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    sqlx::query("INSERT OR REPLACE INTO settings(name, value) VALUES ('last_start_ms', ?)")
        .bind(ms(OffsetDateTime::now_utc()).to_string().into_bytes())
        .execute(pool)
        .await
        .map(|_| ())
}

async fn migrate(pool: &SqlitePool) -> Result<(), sqlx::Error> {
    let mut tx = pool.begin().await?;
    MIGRATIONS.apply(&mut tx).await.map_err(|e| match e {
        MigrationError::Database(e) => e,
        other => sqlx::Error::Protocol(format!(
            "database {other}: refusing to touch it (written by a newer emulator)"
        )),
    })?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use sqlx::Row;

    #[tokio::test]
    async fn migrates_once_and_reopens() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        {
            let pool = open(&path).await.unwrap();
            sqlx::query("INSERT INTO settings(name, value) VALUES ('x', X'01')")
                .execute(&pool)
                .await
                .unwrap();
            pool.close().await;
        }
        let pool = open(&path).await.unwrap();
        let v: i64 = sqlx::query("PRAGMA user_version")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, MIGRATIONS.current());
        let n: i64 = sqlx::query("SELECT COUNT(*) FROM settings")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(n, 1);
    }

    #[tokio::test]
    async fn refuses_a_database_of_a_newer_emulator_and_leaves_it_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite3");
        let pool = open(&path).await.unwrap();
        let newer = MIGRATIONS.current() + 1;
        sqlx::raw_sql(sqlx::AssertSqlSafe(format!(
            "PRAGMA user_version = {newer}"
        )))
        .execute(&pool)
        .await
        .unwrap();
        pool.close().await;
        let err = open(&path).await.unwrap_err().to_string();
        assert!(err.contains("newer"), "{err}");
        let pool = SqlitePoolOptions::new()
            .connect_with(SqliteConnectOptions::new().filename(&path))
            .await
            .unwrap();
        let v: i64 = sqlx::query("PRAGMA user_version")
            .fetch_one(&pool)
            .await
            .unwrap()
            .get(0);
        assert_eq!(v, newer);
    }

    #[test]
    fn ms_round_trip() {
        let t = OffsetDateTime::from_unix_timestamp(1_752_236_636).unwrap();
        assert_eq!(from_ms(ms(t)), t);
    }
}
