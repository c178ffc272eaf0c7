//! Unit tests of the private helpers; the store itself is tested in `tests/store.rs`.

use super::*;
use crate::users::{TokenParts, name_key, user_token_aad, validate_user_name};
use ksef_core::KsefToken;

const TOKEN: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";

#[test]
fn token_parts_split_reference_context_and_tail() {
    let t: KsefToken = TOKEN.parse().unwrap();
    let p = TokenParts::of(&t).unwrap();
    assert_eq!(p.reference, "20251010-EC-1DCE3E3000-12ECB5B36E-45");
    assert_eq!(p.context, "nip-5265877635");
    assert_eq!(p.tail, "f7b9");
}

#[test]
fn aad_is_unambiguous() {
    // Without length prefixes these two would concatenate to the same bytes.
    let a = keys::aad(&[b"ab", b"c"]);
    let b = keys::aad(&[b"a", b"bc"]);
    assert_ne!(a, b);
    let t: KsefToken = TOKEN.parse().unwrap();
    let p = TokenParts::of(&t).unwrap();
    assert_ne!(
        user_token_aad("anna", "user", &p),
        user_token_aad("ann", "user", &p)
    );
    assert_ne!(
        user_token_aad("anna", "store", &p),
        user_token_aad("ann", "store", &p)
    );
    // The sealing mode is bound: a token sealed to the user's key cannot pass as a legacy one.
    assert_ne!(
        user_token_aad("anna", "store", &p),
        user_token_aad("anna", "user", &p)
    );
    // Legacy (schema v1) tokens keep the AAD they were sealed with.
    assert_eq!(
        user_token_aad("anna", "store", &p),
        keys::aad(&[
            b"users",
            b"token_sealed",
            b"anna",
            p.reference.as_bytes(),
            p.context.as_bytes(),
            p.tail.as_bytes(),
        ])
    );
    assert_ne!(
        session_aad("https://a", "r1"),
        session_aad("https://a", "r2")
    );
}

#[test]
fn sealer_round_trip_and_rejections() {
    let key = [7u8; keys::KEY_LEN];
    let s = Sealer::new(&key);
    let sealed = s.seal(b"secret", b"aad-1").unwrap();
    assert!(!sealed.windows(6).any(|w| w == b"secret"));
    assert_eq!(s.open(&sealed, b"aad-1").unwrap().as_slice(), b"secret");
    // Fresh nonce per value.
    assert_ne!(sealed, s.seal(b"secret", b"aad-1").unwrap());
    assert!(s.open(&sealed, b"aad-2").is_none(), "wrong AAD accepted");
    let mut flipped = sealed.clone();
    let last = flipped.len() - 1;
    flipped[last] ^= 1;
    assert!(
        s.open(&flipped, b"aad-1").is_none(),
        "tampered tag accepted"
    );
    assert!(s.open(&sealed[..20], b"aad-1").is_none());
    assert!(
        Sealer::new(&[8u8; keys::KEY_LEN])
            .open(&sealed, b"aad-1")
            .is_none()
    );
    // Key check value.
    let check = s.key_check().unwrap();
    assert!(s.verify_key_check(&check));
    assert!(!Sealer::new(&[8u8; keys::KEY_LEN]).verify_key_check(&check));
    assert!(!format!("{s:?}").contains('7'));
}

#[test]
fn user_name_rules() {
    assert_eq!(validate_user_name("  Anna Nowak \t").unwrap(), "Anna Nowak");
    assert!(validate_user_name("   ").is_err());
    assert!(validate_user_name(&"ż".repeat(64)).is_ok());
    assert!(validate_user_name(&"ż".repeat(65)).is_err());
    assert!(validate_user_name("a\u{0}b").is_err());
    assert_eq!(name_key("ŁUKASZ"), name_key("łukasz"));
}

#[test]
fn base_url_normalization() {
    assert_eq!(
        normalize_base_url(" https://ksef-test.mf.gov.pl/api/v2/ ").unwrap(),
        "https://ksef-test.mf.gov.pl/api/v2"
    );
    assert!(normalize_base_url("/").is_err());
    assert!(normalize_base_url("https://x\n").is_ok());
    assert!(normalize_base_url("https://x\ny").is_err());
}

#[test]
fn kdf_params_bounds() {
    let ok = KdfParams::default_id();
    assert!(keys::derive_key(b"pw", &[1; 16], ok).is_ok());
    let huge = KdfParams {
        m_cost: u32::MAX,
        ..ok
    };
    assert!(matches!(
        keys::derive_key(b"pw", &[1; 16], huge),
        Err(StoreError::Corrupt(_))
    ));
    let bad_version = KdfParams { version: 7, ..ok };
    assert!(matches!(
        keys::derive_key(b"pw", &[1; 16], bad_version),
        Err(StoreError::Corrupt(_))
    ));
    // Deterministic for the same salt, different for another salt.
    let a = keys::derive_key(b"pw", &[1; 16], ok).unwrap();
    let b = keys::derive_key(b"pw", &[1; 16], ok).unwrap();
    let c = keys::derive_key(b"pw", &[2; 16], ok).unwrap();
    assert_eq!(*a, *b);
    assert_ne!(*a, *c);
}

/// The schema v1 DDL, as released (copied: the test must keep building v1 stores even if
/// `schema.rs` is ever reorganized).
const SCHEMA_V1: &str = r#"
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
"#;

const PASSWORD: &str = "hasło administratora 1";

async fn raw_pool(path: &Path) -> SqlitePool {
    let opts = SqliteConnectOptions::new()
        .filename(path)
        .create_if_missing(true);
    SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap()
}

/// Builds a store as the v1 program wrote it: schema v1, a key file, the `encryption` row,
/// user "Anna Stara" holding `TOKEN` sealed with the store key only (v1 AAD, no
/// `token_sealing`, set at [`V1_SET_AT`]), and user "jan" without a token. Returns the
/// token's sealed bytes.
async fn v1_store(dir: &Path) -> Vec<u8> {
    let key = keys::create_key_file(&dir.join(KEY_FILE_NAME)).unwrap();
    let sealer = Sealer::new(&key);
    let db = raw_pool(&dir.join(DB_FILE_NAME)).await;
    sqlx::raw_sql(SCHEMA_V1).execute(&db).await.unwrap();
    sqlx::query(
        "INSERT INTO encryption (id, key_source, key_check, created_at) VALUES (1, 'keyfile', ?, ?)",
    )
    .bind(sealer.key_check().unwrap())
    .bind(now_text().unwrap())
    .execute(&db)
    .await
    .unwrap();
    let token: KsefToken = TOKEN.parse().unwrap();
    let parts = TokenParts::of(&token).unwrap();
    let sealed = sealer
        .seal(
            TOKEN.as_bytes(),
            &user_token_aad("anna stara", "store", &parts),
        )
        .unwrap();
    sqlx::query(
        "INSERT INTO users (name, name_key, created_at, token_reference, token_context, \
         token_tail, token_set_at, token_sealed) VALUES ('Anna Stara', 'anna stara', ?, ?, ?, ?, ?, ?)",
    )
    .bind(now_text().unwrap())
    .bind(&parts.reference)
    .bind(&parts.context)
    .bind(&parts.tail)
    .bind(V1_SET_AT)
    .bind(&sealed)
    .execute(&db)
    .await
    .unwrap();
    sqlx::query("INSERT INTO users (name, name_key, created_at) VALUES ('jan', 'jan', ?)")
        .bind(now_text().unwrap())
        .execute(&db)
        .await
        .unwrap();
    sqlx::raw_sql("PRAGMA user_version = 1")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    sealed
}

/// When the v1 token was saved.
const V1_SET_AT: &str = "2025-10-10T12:00:00Z";

/// The firm of [`TOKEN`] (its context `nip-5265877635`).
const FIRM: &str = "Nip:5265877635";

/// The sealing mode and sealed bytes of the user's token for [`FIRM`] (`user_tokens`), or
/// `(None, None)` without one.
async fn token_columns(store: &Store, name_key: &str) -> (Option<String>, Option<Vec<u8>>) {
    let row = sqlx::query(
        "SELECT token_sealing, token_sealed FROM user_tokens \
         WHERE user_id = (SELECT id FROM users WHERE name_key = ?) AND firm = ?",
    )
    .bind(name_key)
    .bind(FIRM)
    .fetch_optional(&store.pool)
    .await
    .unwrap();
    row.map_or((None, None), |row| (row.get(0), row.get(1)))
}

/// The token columns left on the users row (all NULL from schema v3 on).
async fn users_row_token_columns(store: &Store, name_key: &str) -> Vec<Option<String>> {
    let row = sqlx::query(
        "SELECT token_reference, token_context, token_tail, token_set_at, token_sealing, \
         quote(token_sealed), token_status, token_status_at FROM users WHERE name_key = ?",
    )
    .bind(name_key)
    .fetch_one(&store.pool)
    .await
    .unwrap();
    (0..8)
        .map(|i| row.get::<Option<String>, _>(i))
        .map(|v| v.filter(|v| v != "NULL"))
        .collect()
}

#[tokio::test]
async fn v1_store_migrates_and_legacy_token_is_resealed_on_the_first_password() {
    let dir = tempfile::tempdir().unwrap();
    let v1_sealed = v1_store(dir.path()).await;
    let v1_set_at = parse_time(V1_SET_AT).unwrap();

    let store = Store::open(dir.path(), None).await.unwrap();
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(version, schema::MIGRATIONS.current());
    assert_eq!(version, 6);

    // The v1 users survive the migrations (v2 … v6): no password, not administrators, the
    // token listed under its firm (the token's own context).
    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 2);
    let anna = &users[0];
    assert_eq!(anna.name, "Anna Stara");
    assert!(!anna.is_admin && !anna.has_password && anna.locked_until.is_none());
    assert!(anna.has_token);
    assert_eq!(anna.tokens.len(), 1);
    let t = anna.token_for(FIRM).unwrap();
    assert_eq!(t.firm, FIRM);
    assert_eq!(
        t.masked,
        "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|…f7b9"
    );
    assert_eq!(t.reference, "20251010-EC-1DCE3E3000-12ECB5B36E-45");
    assert_eq!(t.context, "nip-5265877635");
    assert_eq!(t.set_at, v1_set_at);
    assert!(t.status.is_none() && t.status_at.is_none());
    assert!(!users[1].has_token && users[1].tokens.is_empty());
    assert!(store.needs_first_admin().await.unwrap());
    // The token moved off the users row into user_tokens, sealed as it was (store key, v1
    // AAD): a v1 row had no sealing mode, which is the store's.
    assert_eq!(
        users_row_token_columns(&store, "anna stara").await,
        vec![None; 8]
    );
    let (sealing, legacy_sealed) = token_columns(&store, "anna stara").await;
    assert_eq!(sealing.as_deref(), Some("store"));
    let legacy_sealed = legacy_sealed.unwrap();
    assert_eq!(legacy_sealed, v1_sealed, "same sealed bytes");
    let moved: i64 = sqlx::query_scalar("SELECT count(*) FROM user_tokens")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(moved, 1);
    // The token's firm is known to the program, named by its NIP.
    let firms = store.list_firms().await.unwrap();
    assert_eq!(firms.len(), 1);
    assert_eq!(
        (firms[0].context.as_str(), firms[0].name.as_str()),
        (FIRM, "5265877635")
    );
    assert_eq!(firms[0].created_at, v1_set_at);

    // Without a password the user cannot log in, and no token can be sealed to a key pair
    // that does not exist; the legacy token stays as it was.
    let err = store.unlock_user("anna stara", PASSWORD).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NoPassword { name } if name == "Anna Stara"),
        "{err:?}"
    );
    let err = store.set_user_token("Anna Stara", TOKEN).await.unwrap_err();
    assert!(matches!(err, StoreError::NoPassword { .. }), "{err:?}");
    assert_eq!(
        token_columns(&store, "anna stara").await,
        (Some("store".into()), Some(legacy_sealed.clone()))
    );
    // A no-password user cannot be made an administrator (they could not log in).
    let err = store.set_admin("jan", true).await.unwrap_err();
    assert!(matches!(err, StoreError::NoPassword { .. }), "{err:?}");
    assert!(store.needs_first_admin().await.unwrap());

    // The first administrator, then the administrator sets Anna's password: the legacy token
    // is re-sealed to her new key.
    store.add_user("admin", PASSWORD, true).await.unwrap();
    assert!(!store.needs_first_admin().await.unwrap());
    assert_eq!(
        store.set_password("anna stara", PASSWORD).await.unwrap(),
        TokenAfterReset::Kept
    );
    let (sealing, sealed) = token_columns(&store, "anna stara").await;
    assert_eq!(sealing.as_deref(), Some("user"));
    let sealed = sealed.unwrap();
    assert_ne!(sealed, legacy_sealed);
    // No longer openable with the store key alone (neither as a legacy value nor as a
    // plaintext under the new AAD).
    let parts = TokenParts::of(&TOKEN.parse::<KsefToken>().unwrap()).unwrap();
    assert!(
        store
            .sealer
            .open(&sealed, &user_token_aad("anna stara", "store", &parts))
            .is_none()
    );
    let inner = store
        .sealer
        .open(&sealed, &user_token_aad("anna stara", "user", &parts))
        .unwrap();
    assert!(!inner.windows(TOKEN.len()).any(|w| w == TOKEN.as_bytes()));
    let secret = TOKEN.rsplit('|').next().unwrap();
    assert!(!inner.windows(secret.len()).any(|w| w == secret.as_bytes()));
    let info = store.user("ANNA STARA").await.unwrap();
    assert!(info.has_password && info.has_token);
    assert_eq!(info.token_for(FIRM).unwrap().set_at, v1_set_at);

    // She reads it with her password.
    let anna = store.unlock_user("Anna Stara", PASSWORD).await.unwrap();
    assert_eq!(
        store
            .user_token(&anna, FIRM)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN
    );

    // A second reset cannot re-seal a token sealed to the old key: it is removed.
    assert_eq!(
        store
            .set_password("anna stara", "inne hasło 2")
            .await
            .unwrap(),
        TokenAfterReset::Removed
    );
    assert_eq!(token_columns(&store, "anna stara").await, (None, None));
    assert!(!store.user("anna stara").await.unwrap().has_token);
    // A user without a token: nothing to do.
    assert_eq!(
        store.set_password("jan", PASSWORD).await.unwrap(),
        TokenAfterReset::None
    );
    let jan = store.unlock_user("jan", PASSWORD).await.unwrap();
    assert!(store.user_token(&jan, FIRM).await.unwrap().is_none());
    store.close().await;

    // Reopening does not migrate again.
    let store = Store::open(dir.path(), None).await.unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 3);
    store.close().await;
}

#[tokio::test]
async fn legacy_sealed_token_is_read_with_the_store_key_and_kept_by_a_reset() {
    // `user_token` still opens a token sealed the v1 way (store key only) on a user who has a
    // password (not reachable through the API today, which re-seals on the first password),
    // and a reset re-seals it.
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("ewa", PASSWORD, false).await.unwrap();
    let parts = TokenParts::of(&TOKEN.parse::<KsefToken>().unwrap()).unwrap();
    let sealed = store
        .sealer
        .seal(TOKEN.as_bytes(), &user_token_aad("ewa", "store", &parts))
        .unwrap();
    sqlx::query(
        "INSERT INTO user_tokens (user_id, firm, token_reference, token_context, token_tail, \
         token_set_at, token_sealing, token_sealed) \
         SELECT id, ?, ?, ?, ?, ?, 'store', ? FROM users WHERE name_key = 'ewa'",
    )
    .bind(FIRM)
    .bind(&parts.reference)
    .bind(&parts.context)
    .bind(&parts.tail)
    .bind(now_text().unwrap())
    .bind(sealed)
    .execute(&store.pool)
    .await
    .unwrap();
    let ewa = store.unlock_user("ewa", PASSWORD).await.unwrap();
    assert_eq!(
        store
            .user_token(&ewa, FIRM)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN
    );
    // An unknown sealing mode is refused as damage, not guessed.
    sqlx::query("UPDATE user_tokens SET token_sealing = 'other' WHERE firm = ?")
        .bind(FIRM)
        .execute(&store.pool)
        .await
        .unwrap();
    let err = store.user_token(&ewa, FIRM).await.unwrap_err();
    assert!(matches!(err, StoreError::Corrupt(_)), "{err:?}");
    sqlx::query("UPDATE user_tokens SET token_sealing = 'store' WHERE firm = ?")
        .bind(FIRM)
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        store.set_password("ewa", "nowe hasło 3").await.unwrap(),
        TokenAfterReset::Kept
    );
    let ewa = store.unlock_user("ewa", "nowe hasło 3").await.unwrap();
    assert_eq!(
        store
            .user_token(&ewa, FIRM)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN
    );
    assert_eq!(
        token_columns(&store, "ewa").await.0.as_deref(),
        Some("user")
    );

    // A legacy token beside one sealed to the user's key: a reset re-seals the legacy one
    // and removes the other, and says that a token was removed.
    let other_firm = "InternalId:5265877635-12346";
    let other = "20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12346|0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
    assert_eq!(
        store.set_user_token("ewa", other).await.unwrap(),
        other_firm
    );
    let sealed = store
        .sealer
        .seal(TOKEN.as_bytes(), &user_token_aad("ewa", "store", &parts))
        .unwrap();
    sqlx::query("UPDATE user_tokens SET token_sealing = 'store', token_sealed = ? WHERE firm = ?")
        .bind(sealed)
        .bind(FIRM)
        .execute(&store.pool)
        .await
        .unwrap();
    assert_eq!(
        store.set_password("ewa", PASSWORD).await.unwrap(),
        TokenAfterReset::Removed
    );
    let info = store.user("ewa").await.unwrap();
    let firms: Vec<_> = info.tokens.iter().map(|t| t.firm.as_str()).collect();
    assert_eq!(firms, [FIRM]);
    let ewa = store.unlock_user("ewa", PASSWORD).await.unwrap();
    assert_eq!(
        store
            .user_token(&ewa, FIRM)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN
    );
    assert!(store.user_token(&ewa, other_firm).await.unwrap().is_none());
    store.close().await;
}

// ----- v4 → v5: the invoices table rebuilt for offline invoices -----

/// One v4 invoice: id, firm id, direction, KSeF number, reference, offline, status, code.
type V4Row = (
    i64,
    i64,
    &'static str,
    Option<&'static str>,
    Option<&'static str>,
    i64,
    &'static str,
    Option<i64>,
);

/// A v4 store with a register: schema v4 exactly as the migrations built it, a key file, and
/// invoices of two firms — accepted with a UPO, rejected (reference only), sent offline,
/// received — plus a sync cursor. Returns the rows as v4 held them (`id|…` lines).
async fn v4_store(dir: &Path) -> Vec<String> {
    let key = keys::create_key_file(&dir.join(KEY_FILE_NAME)).unwrap();
    let sealer = Sealer::new(&key);
    let db = raw_pool(&dir.join(DB_FILE_NAME)).await;
    {
        let mut conn = db.acquire().await.unwrap();
        let mut tx = sqlx::Connection::begin(&mut *conn).await.unwrap();
        Migrations::new(&schema::STEPS[..4])
            .apply(&mut tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
    }
    sqlx::query(
        "INSERT INTO encryption (id, key_source, key_check, created_at) VALUES (1, 'keyfile', ?, ?)",
    )
    .bind(sealer.key_check().unwrap())
    .bind(now_text().unwrap())
    .execute(&db)
    .await
    .unwrap();
    sqlx::raw_sql(
        "INSERT INTO registers (id, api, context, created_at) VALUES \
           (1, 'http://127.0.0.1:8080/v2', 'Nip:5265877635', '2025-08-01T00:00:00Z'), \
           (2, 'http://127.0.0.1:8080/v2', 'Nip:1111111111', '2025-08-01T00:00:00Z');
         INSERT INTO sync_cursors VALUES (1, 'Subject2', '2025-08-26T08:01:00Z', '2025-08-26T08:01:00Z');",
    )
    .execute(&db)
    .await
    .unwrap();
    // Real hashes for the files (the register checks them on reading).
    let mut shas = Vec::new();
    for n in 0..4u8 {
        let content = format!("<Faktura n='{n}'/>").into_bytes();
        let sha = ksef_crypto::sha256(&content);
        sqlx::query("INSERT INTO invoice_files (sha256, size, content) VALUES (?, ?, ?)")
            .bind(&sha[..])
            .bind(content.len() as i64)
            .bind(content)
            .execute(&db)
            .await
            .unwrap();
        shas.push(sha);
    }
    let rows: [V4Row; 4] = [
        (
            7,
            1,
            "sale",
            Some("5265877635-20250826-0100001AF629-AF"),
            Some("20250826-EE-0000000001-01"),
            0,
            "accepted",
            Some(200),
        ),
        (
            9,
            1,
            "sale",
            None,
            Some("20250826-EE-0000000002-01"),
            1,
            "rejected",
            Some(450),
        ),
        (
            12,
            1,
            "sale",
            Some("5265877635-20250826-0100001AF630-01"),
            Some("20250826-EE-0000000003-01"),
            1,
            "accepted",
            Some(200),
        ),
        (
            15,
            2,
            "purchase",
            Some("5265877635-20250827-0100001AF631-02"),
            None,
            0,
            "received",
            None,
        ),
    ];
    for (i, (id, firm, direction, ksef, reference, offline, status, code)) in
        rows.iter().enumerate()
    {
        sqlx::query(
            "INSERT INTO invoices (id, firm_id, direction, ksef_number, invoice_reference, \
             session_reference, invoice_number, issue_date, seller_nip, seller_name, \
             buyer_id_type, buyer_id, buyer_name, net, vat, gross, currency, form_code, \
             invoice_type, acquisition_date, offline, status, status_code, status_description, \
             status_details, sha256, size, recorded_at, updated_at) \
             VALUES (?, ?, ?, ?, ?, 'SO-1', ?, ?, '5265877635', 'Sprzedawca', 'Nip', \
             '1111111111', 'Nabywca', 10000, 2300, 12300, 'PLN', 'FA (3)', 'Vat', \
             '2025-08-26T10:00:00Z', ?, ?, ?, 'opis', 'a\nb', ?, 16, '2025-08-26T10:00:00Z', \
             '2025-08-26T10:00:00Z')",
        )
        .bind(id)
        .bind(firm)
        .bind(direction)
        .bind(ksef)
        .bind(reference)
        .bind(format!("FV/{id}"))
        .bind(format!("2025-08-{:02}", 10 + i))
        .bind(offline)
        .bind(status)
        .bind(code)
        .bind(&shas[i][..])
        .execute(&db)
        .await
        .unwrap();
    }
    sqlx::query("INSERT INTO invoice_upos VALUES (7, x'3c55504f2f3e', '2025-08-26T11:00:00Z')")
        .execute(&db)
        .await
        .unwrap();
    let before = v4_rows(&db).await;
    db.close().await;
    before
}

/// Every v4 column of every invoice, with its UPO, as text.
async fn v4_rows(db: &SqlitePool) -> Vec<String> {
    sqlx::query_scalar(
        "SELECT i.id || '|' || i.firm_id || '|' || i.direction || '|' || \
         coalesce(i.ksef_number, '-') || '|' || coalesce(i.invoice_reference, '-') || '|' || \
         i.session_reference || '|' || i.invoice_number || '|' || i.issue_date || '|' || \
         i.seller_nip || '|' || i.buyer_id || '|' || i.gross || '|' || i.offline || '|' || \
         i.status || '|' || coalesce(i.status_code, '-') || '|' || i.status_details || '|' || \
         hex(i.sha256) || '|' || i.search || '|' || coalesce(hex(u.xml), '-') \
         FROM invoices i LEFT JOIN invoice_upos u ON u.invoice_id = i.id ORDER BY i.id",
    )
    .fetch_all(db)
    .await
    .unwrap()
}

#[tokio::test]
async fn v4_register_migrates_to_v6_whole_and_takes_offline_invoices() {
    let dir = tempfile::tempdir().unwrap();
    let before = v4_store(dir.path()).await;
    assert_eq!(before.len(), 4);

    let store = Store::open(dir.path(), None).await.unwrap();
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(version, schema::MIGRATIONS.current());
    // Every row with its id, values, search text and UPO.
    assert_eq!(v4_rows(&store.pool).await, before);
    // v6: every file is there again, byte for byte, in the rowid table, and the foreign key
    // from the invoices still holds.
    let files: Vec<(Vec<u8>, Vec<u8>)> =
        sqlx::query_as("SELECT sha256, content FROM invoice_files ORDER BY content")
            .fetch_all(&store.pool)
            .await
            .unwrap();
    assert_eq!(files.len(), 4);
    for (n, (sha, content)) in files.iter().enumerate() {
        assert_eq!(content, format!("<Faktura n='{n}'/>").as_bytes());
        assert_eq!(sha, &ksef_crypto::sha256(content).to_vec());
    }
    let files_sql: String =
        sqlx::query_scalar("SELECT sql FROM sqlite_master WHERE name = 'invoice_files'")
            .fetch_one(&store.pool)
            .await
            .unwrap();
    assert!(
        files_sql.contains("id INTEGER PRIMARY KEY") && !files_sql.contains("WITHOUT ROWID"),
        "{files_sql}"
    );
    let referenced: Vec<u8> = sqlx::query_scalar("SELECT sha256 FROM invoices WHERE id = 7")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    let orphaning = sqlx::query("DELETE FROM invoice_files WHERE sha256 = ?")
        .bind(&referenced)
        .execute(&store.pool)
        .await;
    assert!(
        orphaning.is_err(),
        "the files' foreign key is enforced after v6"
    );
    let problems: Vec<(String,)> = sqlx::query_as("PRAGMA foreign_key_check")
        .fetch_all(&store.pool)
        .await
        .unwrap();
    assert!(problems.is_empty(), "{problems:?}");
    let integrity: String = sqlx::query_scalar("PRAGMA integrity_check")
        .fetch_one(&store.pool)
        .await
        .unwrap();
    assert_eq!(integrity, "ok");
    // The indexes of v4 are back, with the new ones; nothing of the rebuild is left over.
    let mut indexes: Vec<String> = sqlx::query_scalar(
        "SELECT name FROM sqlite_master WHERE type = 'index' AND tbl_name = 'invoices' \
         AND name NOT LIKE 'sqlite_autoindex%' ORDER BY name",
    )
    .fetch_all(&store.pool)
    .await
    .unwrap();
    indexes.sort();
    assert_eq!(
        indexes,
        [
            "invoices_by_any_date",
            "invoices_by_buyer",
            "invoices_by_date",
            "invoices_by_file",
            "invoices_by_gross",
            "invoices_by_seller",
            "invoices_by_text",
            "invoices_corrections",
            "invoices_ksef_number",
            "invoices_offline_pending",
            "invoices_reference",
            "invoices_totals",
        ]
    );
    let leftovers: i64 = sqlx::query_scalar(
        "SELECT (SELECT count(*) FROM sqlite_master WHERE name LIKE '%v5%' OR name LIKE '%v6%') \
         + (SELECT count(*) FROM sqlite_temp_master WHERE name LIKE '%v5%' OR name LIKE '%v6%')",
    )
    .fetch_one(&store.pool)
    .await
    .unwrap();
    assert_eq!(leftovers, 0);

    // Through the register: the rows read back as before, the UPO and the cursor kept.
    let firm = store
        .register_of("http://127.0.0.1:8080/v2", "Nip:5265877635")
        .await
        .unwrap();
    let page = store
        .list_invoices(&register::InvoiceFilter::new(firm), 1, 10)
        .await
        .unwrap();
    assert_eq!(page.total, 3);
    let accepted = page.invoices.iter().find(|i| i.id == 7).unwrap();
    assert!(accepted.has_upo);
    assert_eq!(accepted.record.status, InvoiceStatus::Accepted);
    assert_eq!(accepted.record.status_details, vec!["a", "b"]);
    assert!(accepted.offline_issue.is_none() && accepted.corrects.is_none());
    let sent_offline = page.invoices.iter().find(|i| i.id == 12).unwrap();
    assert!(sent_offline.record.offline);
    assert_eq!(
        store.sync_cursor(firm, "Subject2").await.unwrap(),
        Some(time::macros::datetime!(2025-08-26 08:01 UTC))
    );
    let (inv, bytes) = store
        .invoice(firm, &InvoiceKey::Id(9))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(inv.record.status, InvoiceStatus::Rejected);
    assert_eq!(bytes, b"<Faktura n='1'/>");
    // The UPO still belongs to its invoice: a UPO of no invoice is refused.
    let orphan = sqlx::query("INSERT INTO invoice_upos VALUES (999, x'00', 'x')")
        .execute(&store.pool)
        .await;
    assert!(orphan.is_err(), "the UPO's foreign key is gone");

    // What v4 refused: an invoice issued offline, before KSeF has seen it.
    let issued = store
        .record_issued_offline(
            firm,
            &[(
                accepted.record.clone(),
                OfflineIssue {
                    mode: ksef_core::offline::OfflineMode::Offline24,
                    send_deadline: time::macros::date!(2026 - 12 - 28),
                },
                b"<Faktura offline/>".as_slice(),
            )],
        )
        .await
        .unwrap();
    let [IssuedOffline::New(id)] = issued.as_slice() else {
        panic!("{issued:?}");
    };
    assert!(*id > 15, "a fresh id after the migrated ones: {id}");
    // And the new checks hold: no pending invoice without its mode.
    let bad =
        sqlx::query("UPDATE invoices SET offline_mode = NULL, send_deadline = NULL WHERE id = ?")
            .bind(id)
            .execute(&store.pool)
            .await;
    assert!(bad.is_err(), "an issued invoice without its offline mode");
    store.close().await;
}
