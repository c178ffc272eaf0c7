//! Store tests on real SQLite files in temporary directories.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ksef_core::{ContextIdentifier, KsefToken, Nip, ReferenceKind, ReferenceNumber};
use ksef_store::{DB_FILE_NAME, KEY_FILE_NAME, KeySource, SessionSummary, Store, StoreError};
use sqlx::Row;
use time::macros::datetime;
use zeroize::Zeroizing;

/// A valid token (NIP context) and one with an InternalId context.
const TOKEN_A: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";
const TOKEN_B: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12346|0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
const FAKE_JWT: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrc2VmLXN0b3JlLXRlc3QifQ.c2lnbmF0dXJlLW5vdC1yZWFs";

fn pass(s: &str) -> Option<Zeroizing<String>> {
    Some(Zeroizing::new(s.to_owned()))
}

fn random_token() -> String {
    let mut rng = rand::rng();
    let reference = ReferenceNumber::generate_with(
        &mut rng,
        ReferenceKind::KsefToken,
        time::OffsetDateTime::now_utc(),
    );
    let ctx = ContextIdentifier::Nip(Nip::random());
    KsefToken::generate(&mut rng, reference, &ctx)
        .expose_secret()
        .to_owned()
}

fn summary(reference: &str, via: Option<&str>) -> SessionSummary {
    SessionSummary {
        context: "nip-5265877635".into(),
        method: "Token".into(),
        reference_number: reference.into(),
        access_valid_until: datetime!(2026-11-25 10:15:30.123456789 +01:00),
        refresh_valid_until: datetime!(2026-12-02 09:15:30 UTC),
        via_user: via.map(str::to_owned),
    }
}

fn session_json(access: &str) -> String {
    format!(
        r#"{{"accessToken":{{"token":"{access}","validUntil":"2026-11-25T10:15:30+01:00"}},"refreshToken":{{"token":"{access}.refresh"}}}}"#
    )
}

/// Every file of the directory (recursively) with its bytes.
fn snapshot(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    let mut out = BTreeMap::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let path = entry.path();
        if path.is_dir() {
            for (k, v) in snapshot(&path) {
                out.insert(format!("{}/{k}", entry.file_name().to_string_lossy()), v);
            }
        } else {
            out.insert(
                entry.file_name().to_string_lossy().into_owned(),
                std::fs::read(&path).unwrap(),
            );
        }
    }
    out
}

fn assert_absent(dir: &Path, needles: &[&str]) {
    let files = snapshot(dir);
    assert!(files.contains_key(DB_FILE_NAME));
    for (name, bytes) in &files {
        for needle in needles {
            assert!(
                !bytes.windows(needle.len()).any(|w| w == needle.as_bytes()),
                "{name} contains a secret ({} bytes of it)",
                needle.len()
            );
        }
    }
}

fn mode(path: &Path) -> u32 {
    std::fs::metadata(path).unwrap().permissions().mode() & 0o777
}

/// A raw connection to the database, bypassing the store (to tamper with it).
async fn raw(dir: &Path) -> sqlx::SqlitePool {
    let opts = sqlx::sqlite::SqliteConnectOptions::new().filename(dir.join(DB_FILE_NAME));
    sqlx::sqlite::SqlitePoolOptions::new()
        .max_connections(1)
        .connect_with(opts)
        .await
        .unwrap()
}

#[tokio::test]
async fn users_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    assert!(store.list_users().await.unwrap().is_empty());

    store.add_user("  Zofia Kowalska ").await.unwrap();
    store.add_user("anna").await.unwrap();
    store
        .set_user_token("ZOFIA KOWALSKA", TOKEN_A)
        .await
        .unwrap();

    let users = store.list_users().await.unwrap();
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["anna", "Zofia Kowalska"]);
    assert!(!users[0].has_token && users[0].token_masked.is_none());
    let z = &users[1];
    assert!(z.has_token);
    assert_eq!(
        z.token_masked.as_deref(),
        Some("20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|…f7b9")
    );
    assert_eq!(
        z.token_reference.as_deref(),
        Some("20251010-EC-1DCE3E3000-12ECB5B36E-45")
    );
    assert_eq!(z.token_context.as_deref(), Some("nip-5265877635"));
    let set_at = z.token_set_at.unwrap();
    assert!(
        (time::OffsetDateTime::now_utc() - set_at)
            .whole_seconds()
            .abs()
            < 60
    );

    assert_eq!(
        store
            .user_token("zofia kowalska")
            .await
            .unwrap()
            .as_deref()
            .map(String::as_str),
        Some(TOKEN_A)
    );
    assert!(store.user_token("anna").await.unwrap().is_none());

    // Replace (with surrounding whitespace, as pasted), then clear.
    store
        .set_user_token("Zofia Kowalska", &format!("  {TOKEN_B}\n"))
        .await
        .unwrap();
    assert_eq!(
        store
            .user_token("Zofia Kowalska")
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_B
    );
    let z = store.list_users().await.unwrap().remove(1);
    assert_eq!(
        z.token_context.as_deref(),
        Some("internalId-5265877635-12346")
    );
    assert!(z.token_masked.unwrap().ends_with("|…cdef"));

    let random = random_token();
    store.set_user_token("anna", &random).await.unwrap();
    assert_eq!(
        store.user_token("anna").await.unwrap().unwrap().as_str(),
        random
    );

    store.clear_user_token("Zofia Kowalska").await.unwrap();
    assert!(store.user_token("Zofia Kowalska").await.unwrap().is_none());
    let z = store.list_users().await.unwrap().remove(1);
    assert!(!z.has_token && z.token_set_at.is_none() && z.token_reference.is_none());

    // Unknown users.
    for r in [
        store.set_user_token("nobody", TOKEN_A).await,
        store.clear_user_token("nobody").await,
        store.remove_user("nobody").await,
        store.user_token("nobody").await.map(|_| ()),
    ] {
        assert!(
            matches!(&r, Err(StoreError::UnknownUser { name }) if name == "nobody"),
            "{r:?}"
        );
    }

    store.remove_user("ANNA").await.unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 1);
    store.close().await;

    // Persistent across reopen.
    let store = Store::open(dir.path(), None).await.unwrap();
    let users = store.list_users().await.unwrap();
    assert_eq!(users.len(), 1);
    assert_eq!(users[0].name, "Zofia Kowalska");
    store.close().await;
}

#[tokio::test]
async fn user_names_unique_case_insensitively_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("Łukasz").await.unwrap();
    for dup in ["łukasz", "ŁUKASZ", "  łUKASZ  "] {
        let err = store.add_user(dup).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::UserExists { name } if name == dup.trim()),
            "{err:?}"
        );
    }
    assert!(store.user_token("ŁUKASZ").await.unwrap().is_none());

    for bad in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
        let err = store.add_user(bad).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidUserName(_)),
            "{bad:?}: {err:?}"
        );
    }
    store.add_user(&"ż".repeat(64)).await.unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 2);
    store.close().await;
}

#[tokio::test]
async fn invalid_token_text_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("anna").await.unwrap();
    let secret = "919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";
    let bad = [
        "not a token".to_owned(),
        String::new(),
        // The digest's placeholder InternalId has a wrong check digit.
        format!("20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12345|{secret}"),
        // Upper-case secret.
        format!(
            "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|{}",
            secret.to_uppercase()
        ),
        // Short secret, missing part, bad reference, unknown context type.
        "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|abcd".to_owned(),
        format!("20251010-EC-1DCE3E3000-12ECB5B36E-45|{secret}"),
        format!("20251010-EC-XXXX|nip-5265877635|{secret}"),
        format!("20251010-EC-1DCE3E3000-12ECB5B36E-45|pesel-90010112345|{secret}"),
    ];
    for text in &bad {
        let err = store.set_user_token("anna", text).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidToken(_)),
            "{text:?}: {err:?}"
        );
        // The message never echoes the secret.
        assert!(!err.to_string().contains(secret) && !format!("{err:?}").contains(secret));
    }
    assert!(store.user_token("anna").await.unwrap().is_none());
    assert!(!store.list_users().await.unwrap()[0].has_token);
    store.close().await;
}

#[tokio::test]
async fn settings_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    assert_eq!(store.setting("base_url").await.unwrap(), None);
    store
        .set_setting("base_url", "https://ksef-test.mf.gov.pl/api/v2")
        .await
        .unwrap();
    store.set_setting("env", "test").await.unwrap();
    store.set_setting("env", "demo").await.unwrap();
    assert_eq!(store.setting("env").await.unwrap().as_deref(), Some("demo"));
    assert!(matches!(
        store.set_setting("", "x").await,
        Err(StoreError::InvalidSettingKey(_))
    ));
    store.close().await;

    let store = Store::open(dir.path(), None).await.unwrap();
    assert_eq!(
        store.settings().await.unwrap(),
        vec![
            (
                "base_url".to_owned(),
                "https://ksef-test.mf.gov.pl/api/v2".to_owned()
            ),
            ("env".to_owned(), "demo".to_owned()),
        ]
    );
    assert!(store.remove_setting("env").await.unwrap());
    assert!(!store.remove_setting("env").await.unwrap());
    assert_eq!(store.setting("env").await.unwrap(), None);
    store.close().await;
}

#[tokio::test]
async fn sessions_round_trip() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), pass("correct horse"))
        .await
        .unwrap();
    let url = "https://ksef-test.mf.gov.pl/api/v2";
    assert!(store.load_session(url).await.unwrap().is_none());

    let json = session_json(FAKE_JWT);
    let s1 = summary("20251125-AU-0000000001-0000000001-01", Some("anna"));
    store.save_session(url, &json, s1.clone()).await.unwrap();
    let (got, sum) = store
        .load_session(&format!("{url}/"))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.as_str(), json);
    assert_eq!(sum, s1);

    // Replace.
    let json2 = session_json("eyJ.second.jwt");
    let s2 = summary("20251125-AU-0000000002-0000000002-02", None);
    store.save_session(url, &json2, s2.clone()).await.unwrap();
    // Another base URL is independent.
    store
        .save_session("http://127.0.0.1:8080", &json, s1.clone())
        .await
        .unwrap();
    store.close().await;

    let store = Store::open(dir.path(), pass("correct horse"))
        .await
        .unwrap();
    let (got, sum) = store.load_session(url).await.unwrap().unwrap();
    assert_eq!((got.as_str(), sum), (json2.as_str(), s2));
    assert!(store.clear_session(url).await.unwrap());
    assert!(!store.clear_session(url).await.unwrap());
    assert!(store.load_session(url).await.unwrap().is_none());
    let (got, _) = store
        .load_session("http://127.0.0.1:8080")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(got.as_str(), json);
    store.close().await;
}

/// Fills a store with secrets, including replaced and cleared ones.
async fn fill_with_secrets(store: &Store, extra_token: &str) {
    store.add_user("anna").await.unwrap();
    store.add_user("jan").await.unwrap();
    store.add_user("ewa").await.unwrap();
    store.set_user_token("anna", TOKEN_A).await.unwrap();
    store.set_user_token("jan", extra_token).await.unwrap();
    store.set_user_token("ewa", TOKEN_B).await.unwrap();
    store.clear_user_token("ewa").await.unwrap();
    store
        .save_session(
            "https://ksef.mf.gov.pl/api/v2",
            &session_json(FAKE_JWT),
            summary("r1", Some("anna")),
        )
        .await
        .unwrap();
    store.set_setting("env", "prod").await.unwrap();
}

async fn check_no_plaintext(passphrase: Option<Zeroizing<String>>) {
    let dir = tempfile::tempdir().unwrap();
    let extra = random_token();
    let store = Store::open(dir.path(), passphrase.clone()).await.unwrap();
    fill_with_secrets(&store, &extra).await;
    let secret_of = |t: &str| t.rsplit('|').next().unwrap().to_owned();
    let mut needles = vec![
        TOKEN_A.to_owned(),
        TOKEN_B.to_owned(),
        extra.clone(),
        secret_of(TOKEN_A),
        secret_of(TOKEN_B),
        secret_of(&extra),
        FAKE_JWT.to_owned(),
    ];
    if let Some(p) = &passphrase {
        needles.push(p.to_string());
    }
    let needles: Vec<&str> = needles.iter().map(String::as_str).collect();
    // While open (WAL not yet checkpointed) …
    assert_absent(dir.path(), &needles);
    // … and after closing.
    store.close().await;
    assert_absent(dir.path(), &needles);
    // The files did hold the data (the test is not vacuous): the reference is in clear.
    let db = std::fs::read(dir.path().join(DB_FILE_NAME)).unwrap();
    let reference = b"20251010-EC-1DCE3E3000-12ECB5B36E-45";
    assert!(db.windows(reference.len()).any(|w| w == reference));

    let store = Store::open(dir.path(), passphrase).await.unwrap();
    assert_eq!(
        store.user_token("anna").await.unwrap().unwrap().as_str(),
        TOKEN_A
    );
    assert_eq!(
        store.user_token("jan").await.unwrap().unwrap().as_str(),
        extra
    );
    store.close().await;
}

#[tokio::test]
async fn no_plaintext_secret_on_disk_with_passphrase() {
    check_no_plaintext(pass("Zażółć gęślą jaźń 42")).await;
}

#[tokio::test]
async fn no_plaintext_secret_on_disk_with_key_file() {
    check_no_plaintext(None).await;
}

#[tokio::test]
async fn key_file_and_database_are_private() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("nested/data");
    let store = Store::open(&data, None).await.unwrap();
    let key = data.join(KEY_FILE_NAME);
    assert_eq!(store.key_source(), &KeySource::KeyFile(key.clone()));
    assert!(!format!("{store:?}").is_empty());
    store.close().await;
    assert_eq!(std::fs::read(&key).unwrap().len(), 32);
    assert_eq!(mode(&key), 0o600);
    assert_eq!(mode(&data.join(DB_FILE_NAME)), 0o600);
    assert_eq!(mode(&data), 0o700);
}

#[tokio::test]
async fn wrong_passphrase_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), pass("right one")).await.unwrap();
    assert_eq!(store.key_source(), &KeySource::Passphrase);
    fill_with_secrets(&store, TOKEN_B).await;
    store.close().await;
    assert!(!dir.path().join(KEY_FILE_NAME).exists());
    let before = snapshot(dir.path());

    let err = Store::open(dir.path(), pass("wrong one"))
        .await
        .unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the passphrase (or key file) does not match this store"
    );
    assert!(!format!("{err:?}").contains("wrong one"));
    assert_eq!(
        snapshot(dir.path()),
        before,
        "a failed open modified the data dir"
    );

    // Without a passphrase: told to set one; no key file is created.
    let err = Store::open(dir.path(), None).await.unwrap_err();
    assert!(
        matches!(err, StoreError::PassphraseRequired { .. }),
        "{err:?}"
    );
    assert!(err.to_string().contains("KSEF_PASSPHRASE"));
    assert_eq!(snapshot(dir.path()), before);

    let err = Store::open(dir.path(), pass("  ")).await.unwrap_err();
    assert!(matches!(err, StoreError::EmptyPassphrase), "{err:?}");

    // The right passphrase still opens everything.
    let store = Store::open(dir.path(), pass("right one")).await.unwrap();
    assert_eq!(
        store.user_token("anna").await.unwrap().unwrap().as_str(),
        TOKEN_A
    );
    assert_eq!(
        store
            .load_session("https://ksef.mf.gov.pl/api/v2")
            .await
            .unwrap()
            .unwrap()
            .0
            .as_str(),
        session_json(FAKE_JWT)
    );
    store.close().await;
}

#[tokio::test]
async fn wrong_key_file_is_refused_and_nothing_changes() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    fill_with_secrets(&store, TOKEN_B).await;
    store.close().await;
    let key = dir.path().join(KEY_FILE_NAME);
    let original_key = std::fs::read(&key).unwrap();

    // Another 32-byte key, correctly private.
    let mut other = original_key.clone();
    other[0] ^= 0xff;
    std::fs::write(&key, &other).unwrap();
    let before = snapshot(dir.path());
    let err = Store::open(dir.path(), None).await.unwrap_err();
    assert!(matches!(err, StoreError::WrongKey), "{err:?}");
    assert_eq!(snapshot(dir.path()), before);

    // A passphrase is not accepted for a key-file store.
    std::fs::write(&key, &original_key).unwrap();
    let before = snapshot(dir.path());
    let err = Store::open(dir.path(), pass("anything")).await.unwrap_err();
    assert!(
        matches!(err, StoreError::PassphraseNotUsed { .. }),
        "{err:?}"
    );
    assert_eq!(snapshot(dir.path()), before);

    // Truncated key file.
    std::fs::write(&key, &original_key[..16]).unwrap();
    let err = Store::open(dir.path(), None).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyFileInvalid { .. }), "{err:?}");

    // Missing key file: not silently replaced by a new one.
    std::fs::remove_file(&key).unwrap();
    let err = Store::open(dir.path(), None).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyFileMissing { .. }), "{err:?}");
    assert!(!key.exists());

    // Restored from a backup (a new file gets the umask's mode: must be made private).
    std::fs::write(&key, &original_key).unwrap();
    assert!(matches!(
        Store::open(dir.path(), None).await,
        Err(StoreError::KeyFileInsecure { .. })
    ));
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o600)).unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    assert_eq!(
        store.user_token("anna").await.unwrap().unwrap().as_str(),
        TOKEN_A
    );
    store.close().await;
}

#[tokio::test]
async fn key_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("anna").await.unwrap();
    store.set_user_token("anna", TOKEN_A).await.unwrap();
    store.close().await;
    let key = dir.path().join(KEY_FILE_NAME);

    for m in [0o644, 0o640, 0o604, 0o660] {
        std::fs::set_permissions(&key, std::fs::Permissions::from_mode(m)).unwrap();
        let before = snapshot(dir.path());
        let err = Store::open(dir.path(), None).await.unwrap_err();
        match &err {
            StoreError::KeyFileInsecure { mode, .. } => assert_eq!(*mode, m),
            other => panic!("mode {m:o}: {other:?}"),
        }
        assert!(err.to_string().contains("chmod 600"), "{err}");
        assert_eq!(snapshot(dir.path()), before);
    }
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o400)).unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    assert!(store.user_token("anna").await.unwrap().is_some());
    store.close().await;

    // A fresh store refuses a pre-existing world-readable key file too.
    let fresh = tempfile::tempdir().unwrap();
    let key = fresh.path().join(KEY_FILE_NAME);
    std::fs::write(&key, [5u8; 32]).unwrap();
    std::fs::set_permissions(&key, std::fs::Permissions::from_mode(0o644)).unwrap();
    let err = Store::open(fresh.path(), None).await.unwrap_err();
    assert!(matches!(err, StoreError::KeyFileInsecure { .. }), "{err:?}");
}

#[tokio::test]
async fn swapped_ciphertexts_are_detected() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    for u in ["anna", "jan", "ewa", "olek"] {
        store.add_user(u).await.unwrap();
    }
    store.set_user_token("anna", TOKEN_A).await.unwrap();
    store.set_user_token("jan", TOKEN_B).await.unwrap();
    // Same token for two users: only the row identity differs.
    store.set_user_token("ewa", TOKEN_A).await.unwrap();
    store.set_user_token("olek", TOKEN_A).await.unwrap();
    let s = summary("r1", None);
    store
        .save_session("https://a.example", &session_json("eyJ.a.a"), s.clone())
        .await
        .unwrap();
    store
        .save_session("https://b.example", &session_json("eyJ.b.b"), s)
        .await
        .unwrap();
    store.close().await;

    let db = raw(dir.path()).await;
    let sealed = |name: &'static str| {
        let db = db.clone();
        async move {
            sqlx::query("SELECT token_sealed FROM users WHERE name_key = ?")
                .bind(name)
                .fetch_one(&db)
                .await
                .unwrap()
                .get::<Vec<u8>, _>(0)
        }
    };
    let (a, b, e, o) = (
        sealed("anna").await,
        sealed("jan").await,
        sealed("ewa").await,
        sealed("olek").await,
    );
    let put = |name: &'static str, v: Vec<u8>| {
        let db = db.clone();
        async move {
            sqlx::query("UPDATE users SET token_sealed = ? WHERE name_key = ?")
                .bind(v)
                .bind(name)
                .execute(&db)
                .await
                .unwrap();
        }
    };
    put("anna", b.clone()).await;
    put("jan", a.clone()).await;
    put("ewa", o).await;
    put("olek", e).await;
    // A clear column edited: the AAD no longer matches either.
    sqlx::query("UPDATE sessions SET session_sealed = (SELECT session_sealed FROM sessions WHERE base_url = 'https://a.example') WHERE base_url = 'https://b.example'")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    let store = Store::open(dir.path(), None).await.unwrap();
    for u in ["anna", "jan", "ewa", "olek"] {
        let err = store.user_token(u).await.unwrap_err();
        assert!(matches!(err, StoreError::Integrity { .. }), "{u}: {err:?}");
    }
    let err = store.load_session("https://b.example").await.unwrap_err();
    assert!(matches!(err, StoreError::Integrity { .. }), "{err:?}");
    assert!(
        store
            .load_session("https://a.example")
            .await
            .unwrap()
            .is_some()
    );
    // Listing (clear columns only) still works, and the user can set the token again.
    assert_eq!(store.list_users().await.unwrap().len(), 4);
    store.set_user_token("anna", TOKEN_A).await.unwrap();
    assert_eq!(
        store.user_token("anna").await.unwrap().unwrap().as_str(),
        TOKEN_A
    );
    store.close().await;

    // Editing a clear column of a row also breaks its seal.
    let db = raw(dir.path()).await;
    sqlx::query("UPDATE users SET token_context = 'nip-1111111111' WHERE name_key = 'anna'")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;
    let store = Store::open(dir.path(), None).await.unwrap();
    let err = store.user_token("anna").await.unwrap_err();
    assert!(matches!(err, StoreError::Integrity { .. }), "{err:?}");
    store.close().await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_newer_schema_refused() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let store = Store::open(dir.path(), pass("pw")).await.unwrap();
        store.add_user(&format!("user{round}")).await.unwrap();
        assert_eq!(store.list_users().await.unwrap().len(), round + 1);
        store.close().await;
    }
    let db = raw(dir.path()).await;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(version, 1);
    let n: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM encryption")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(n, 1);
    sqlx::query("PRAGMA user_version = 99")
        .execute(&db)
        .await
        .unwrap();
    db.close().await;

    let before = snapshot(dir.path());
    let err = Store::open(dir.path(), pass("pw")).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::SchemaTooNew {
                found: 99,
                supported: 1,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade"));
    assert_eq!(snapshot(dir.path()), before);
}
