//! Store tests on real SQLite files in temporary directories.

use std::collections::BTreeMap;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

use ksef_core::{ContextIdentifier, KsefToken, Nip, ReferenceKind, ReferenceNumber};
use ksef_store::{
    DB_FILE_NAME, KEY_FILE_NAME, KeySource, MAX_FAILED_LOGINS, MAX_PASSWORD_BYTES, SessionSummary,
    Store, StoreError, TokenAfterReset,
};
use sqlx::Row;
use time::macros::datetime;
use zeroize::Zeroizing;

/// A valid token (NIP context) and one with an InternalId context.
const TOKEN_A: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|919f704466624ce29cd5ac7b65ded5e7cccc112eee314f2aaa76e02cd16df7b9";
const TOKEN_B: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|internalId-5265877635-12346|0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
/// Another token for the NIP context of [`TOKEN_A`] (another secret).
const TOKEN_A2: &str = "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const FAKE_JWT: &str =
    "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJrc2VmLXN0b3JlLXRlc3QifQ.c2lnbmF0dXJlLW5vdC1yZWFs";

/// The password every test user gets unless a test says otherwise.
const PW: &str = "hasło testowe 123";
const PW2: &str = "zupełnie inne hasło";

/// The firms (KSeF contexts) of [`TOKEN_A`] and [`TOKEN_B`].
const FIRM_A: &str = "Nip:5265877635";
const FIRM_B: &str = "InternalId:5265877635-12346";

/// The firm a token works in: its context as a firm key.
fn firm_of(token: &str) -> String {
    ksef_store::firm_key(token.trim().parse::<KsefToken>().unwrap().context())
}

/// The user's only KSeF token (the user must hold at most one), read the way the program
/// reads it: unlock with [`PW`], then read.
async fn token_of(store: &Store, name: &str) -> Option<String> {
    try_token_of(store, name).await.unwrap()
}

async fn try_token_of(store: &Store, name: &str) -> Result<Option<String>, StoreError> {
    let firms: Vec<String> = store
        .user(name)
        .await?
        .tokens
        .into_iter()
        .map(|t| t.firm)
        .collect();
    assert!(firms.len() <= 1, "{name} holds several tokens: {firms:?}");
    match firms.first() {
        Some(firm) => try_token_in(store, name, firm).await,
        None => {
            let user = store.unlock_user(name, PW).await?;
            // Nothing listed, nothing readable for any firm.
            for firm in [FIRM_A, FIRM_B] {
                assert!(store.user_token(&user, firm).await?.is_none());
            }
            Ok(None)
        }
    }
}

/// The user's KSeF token for one firm, read with [`PW`].
async fn token_in(store: &Store, name: &str, firm: &str) -> Option<String> {
    try_token_in(store, name, firm).await.unwrap()
}

async fn try_token_in(store: &Store, name: &str, firm: &str) -> Result<Option<String>, StoreError> {
    let user = store.unlock_user(name, PW).await?;
    Ok(store
        .user_token(&user, firm)
        .await?
        .map(|t| t.as_str().to_owned()))
}

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

    store.add_user("  Zofia Kowalska ", PW, true).await.unwrap();
    store.add_user("anna", PW, false).await.unwrap();
    let set = store
        .set_user_token("ZOFIA KOWALSKA", TOKEN_A)
        .await
        .unwrap();
    assert_eq!(set, FIRM_A, "set_user_token returns the token's firm");

    let users = store.list_users().await.unwrap();
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["anna", "Zofia Kowalska"]);
    assert!(!users[0].has_token && users[0].tokens.is_empty());
    let z = &users[1];
    assert!(z.has_token);
    assert_eq!(z.tokens.len(), 1);
    let t = z.token_for(FIRM_A).unwrap();
    assert_eq!(t.firm, FIRM_A);
    assert_eq!(
        t.masked,
        "20251010-EC-1DCE3E3000-12ECB5B36E-45|nip-5265877635|…f7b9"
    );
    assert_eq!(t.reference, "20251010-EC-1DCE3E3000-12ECB5B36E-45");
    assert_eq!(t.context, "nip-5265877635");
    assert!(t.status.is_none() && t.status_at.is_none());
    assert!(
        (time::OffsetDateTime::now_utc() - t.set_at)
            .whole_seconds()
            .abs()
            < 60
    );
    assert!(z.token_for(FIRM_B).is_none());
    // Saving the token added its firm, named by the context value.
    let firms = store.list_firms().await.unwrap();
    assert_eq!(firms.len(), 1);
    assert_eq!(
        (firms[0].context.as_str(), firms[0].name.as_str()),
        (FIRM_A, "5265877635")
    );

    assert_eq!(
        token_of(&store, "zofia kowalska").await.as_deref(),
        Some(TOKEN_A)
    );
    assert!(token_of(&store, "anna").await.is_none());

    // A token for another firm (with surrounding whitespace, as pasted) is held beside the
    // first one.
    assert_eq!(
        store
            .set_user_token("Zofia Kowalska", &format!("  {TOKEN_B}\n"))
            .await
            .unwrap(),
        FIRM_B
    );
    assert_eq!(
        token_in(&store, "Zofia Kowalska", FIRM_B).await.as_deref(),
        Some(TOKEN_B)
    );
    assert_eq!(
        token_in(&store, "Zofia Kowalska", FIRM_A).await.as_deref(),
        Some(TOKEN_A)
    );
    let z = store.list_users().await.unwrap().remove(1);
    let firms: Vec<_> = z.tokens.iter().map(|t| t.firm.as_str()).collect();
    assert_eq!(firms, [FIRM_B, FIRM_A], "sorted by firm");
    let b = z.token_for(FIRM_B).unwrap();
    assert_eq!(b.context, "internalId-5265877635-12346");
    assert!(b.masked.ends_with("|…cdef"));

    // A new token for the same firm replaces that firm's token only.
    assert_eq!(
        store
            .set_user_token("Zofia Kowalska", TOKEN_A2)
            .await
            .unwrap(),
        FIRM_A
    );
    assert_eq!(
        token_in(&store, "Zofia Kowalska", FIRM_A).await.as_deref(),
        Some(TOKEN_A2)
    );
    assert_eq!(
        token_in(&store, "Zofia Kowalska", FIRM_B).await.as_deref(),
        Some(TOKEN_B)
    );
    let z = store.user("zofia kowalska").await.unwrap();
    assert_eq!(z.tokens.len(), 2);
    assert!(z.token_for(FIRM_A).unwrap().masked.ends_with("|…aaaa"));

    let random = random_token();
    assert_eq!(
        store.set_user_token("anna", &random).await.unwrap(),
        firm_of(&random)
    );
    assert_eq!(
        token_of(&store, "anna").await.as_deref(),
        Some(random.as_str())
    );

    // Clearing one firm's token keeps the other; clearing without a firm removes all.
    store
        .clear_user_token("Zofia Kowalska", Some(FIRM_A))
        .await
        .unwrap();
    assert!(token_in(&store, "Zofia Kowalska", FIRM_A).await.is_none());
    assert_eq!(
        token_of(&store, "Zofia Kowalska").await.as_deref(),
        Some(TOKEN_B)
    );
    store
        .set_user_token("Zofia Kowalska", TOKEN_A)
        .await
        .unwrap();
    store
        .clear_user_token("Zofia Kowalska", None)
        .await
        .unwrap();
    assert!(token_of(&store, "Zofia Kowalska").await.is_none());
    let z = store.list_users().await.unwrap().remove(1);
    assert!(!z.has_token && z.tokens.is_empty() && z.token_for(FIRM_A).is_none());
    // The firms stay (they are the program's, not the user's).
    assert_eq!(store.list_firms().await.unwrap().len(), 3);

    // Unknown users.
    for r in [
        store.set_user_token("nobody", TOKEN_A).await.map(|_| ()),
        store.clear_user_token("nobody", None).await,
        store.clear_user_token("nobody", Some(FIRM_A)).await,
        store.remove_user("nobody").await,
        store.unlock_user("nobody", PW).await.map(|_| ()),
        store.set_password("nobody", PW).await.map(|_| ()),
        store.set_admin("nobody", true).await,
        store.user("nobody").await.map(|_| ()),
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
    assert!(users[0].is_admin && users[0].has_password);
    assert_eq!(token_of(&store, "zofia kowalska").await, None);
    store.close().await;
}

#[tokio::test]
async fn user_names_unique_case_insensitively_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("Łukasz", PW, false).await.unwrap();
    for dup in ["łukasz", "ŁUKASZ", "  łUKASZ  "] {
        let err = store.add_user(dup, PW2, true).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::UserExists { name } if name == dup.trim()),
            "{err:?}"
        );
    }
    // The refused duplicates changed nothing: the first password still opens, not a duplicate's.
    assert!(token_of(&store, "ŁUKASZ").await.is_none());
    assert_eq!(
        store.unlock_user("łukasz", PW).await.unwrap().name(),
        "Łukasz"
    );
    assert!(!store.user("łukasz").await.unwrap().is_admin);

    for bad in ["", "   ", "a\u{7}b", &"x".repeat(65)] {
        let err = store.add_user(bad, PW, false).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidUserName(_)),
            "{bad:?}: {err:?}"
        );
    }
    // Weak or invalid passwords are refused before anything is written.
    for (bad, weak) in [
        ("", true),
        ("krótkie", true),
        ("          ", true),
        ("hasło\nz nową linią", false),
        (&"x".repeat(MAX_PASSWORD_BYTES + 1) as &str, false),
    ] {
        let err = store.add_user("nowy", bad, false).await.unwrap_err();
        if weak {
            assert!(
                matches!(err, StoreError::WeakPassword { min_chars: 8 }),
                "{bad:?}: {err:?}"
            );
        } else {
            assert!(
                matches!(err, StoreError::InvalidPassword),
                "{bad:?}: {err:?}"
            );
        }
    }
    store.add_user(&"ż".repeat(64), PW, false).await.unwrap();
    assert_eq!(store.list_users().await.unwrap().len(), 2);
    store.close().await;
}

#[tokio::test]
async fn invalid_token_text_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("anna", PW, false).await.unwrap();
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
    assert!(token_of(&store, "anna").await.is_none());
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
    store.add_user("anna", PW, true).await.unwrap();
    store.add_user("jan", PW, false).await.unwrap();
    store.add_user("ewa", PW, false).await.unwrap();
    store.set_user_token("anna", TOKEN_A).await.unwrap();
    store.set_user_token("jan", extra_token).await.unwrap();
    store.set_user_token("ewa", TOKEN_B).await.unwrap();
    store.clear_user_token("ewa", None).await.unwrap();
    // A password changed by the user and one reset by the administrator (then set back, so
    // the tests can log in with PW): neither the old nor the new one may be on disk.
    let jan = store.unlock_user("jan", PW).await.unwrap();
    store.change_password(&jan, PW2).await.unwrap();
    let jan = store.unlock_user("jan", PW2).await.unwrap();
    store.change_password(&jan, PW).await.unwrap();
    for pw in [PW2, PW] {
        assert_eq!(
            store.set_password("ewa", pw).await.unwrap(),
            TokenAfterReset::None
        );
    }
    // A wrong password typed at the login is not stored either.
    assert!(matches!(
        store.unlock_user("anna", WRONG_PW).await,
        Err(StoreError::WrongPassword { .. })
    ));
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

const WRONG_PW: &str = "pomyłka przy logowaniu";

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
        PW.to_owned(),
        PW2.to_owned(),
        WRONG_PW.to_owned(),
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
    assert_eq!(token_of(&store, "anna").await.as_deref(), Some(TOKEN_A));
    assert_eq!(
        token_of(&store, "jan").await.as_deref(),
        Some(extra.as_str())
    );
    assert_eq!(token_of(&store, "ewa").await, None);
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
    assert_eq!(token_of(&store, "anna").await.as_deref(), Some(TOKEN_A));
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
    assert_eq!(token_of(&store, "anna").await.as_deref(), Some(TOKEN_A));
    store.close().await;
}

#[tokio::test]
async fn key_file_readable_by_others_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("anna", PW, false).await.unwrap();
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
    assert_eq!(token_of(&store, "anna").await.as_deref(), Some(TOKEN_A));
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
        store.add_user(u, PW, false).await.unwrap();
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
            sqlx::query(
                "SELECT token_sealed FROM user_tokens \
                 WHERE user_id = (SELECT id FROM users WHERE name_key = ?)",
            )
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
            sqlx::query(
                "UPDATE user_tokens SET token_sealed = ? \
                 WHERE user_id = (SELECT id FROM users WHERE name_key = ?)",
            )
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
        let err = try_token_of(&store, u).await.unwrap_err();
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
    assert_eq!(token_of(&store, "anna").await.as_deref(), Some(TOKEN_A));
    store.close().await;

    // Editing a clear column of a row also breaks its seal.
    let db = raw(dir.path()).await;
    sqlx::query(
        "UPDATE user_tokens SET token_context = 'nip-1111111111' \
         WHERE user_id = (SELECT id FROM users WHERE name_key = 'anna')",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let store = Store::open(dir.path(), None).await.unwrap();
    let err = try_token_of(&store, "anna").await.unwrap_err();
    assert!(matches!(err, StoreError::Integrity { .. }), "{err:?}");
    store.close().await;

    // One user's whole credentials (hash, key pair) copied onto another row: the password
    // matches the copied hash, but the sealed private key is bound to its own row.
    let db = raw(dir.path()).await;
    sqlx::query(
        "UPDATE users SET (password_hash, key_public, key_salt, key_sealed) = \
         (SELECT password_hash, key_public, key_salt, key_sealed FROM users WHERE name_key = 'jan') \
         WHERE name_key = 'ewa'",
    )
    .execute(&db)
    .await
    .unwrap();
    db.close().await;
    let store = Store::open(dir.path(), None).await.unwrap();
    let err = store.unlock_user("ewa", PW).await.unwrap_err();
    assert!(matches!(err, StoreError::Integrity { .. }), "{err:?}");
    assert!(store.unlock_user("jan", PW).await.is_ok());
    store.close().await;
}

#[tokio::test]
async fn migrations_are_idempotent_and_newer_schema_refused() {
    let dir = tempfile::tempdir().unwrap();
    for round in 0..3 {
        let store = Store::open(dir.path(), pass("pw")).await.unwrap();
        store
            .add_user(&format!("user{round}"), PW, round == 0)
            .await
            .unwrap();
        assert_eq!(store.list_users().await.unwrap().len(), round + 1);
        store.close().await;
    }
    let db = raw(dir.path()).await;
    let version: i64 = sqlx::query_scalar("PRAGMA user_version")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(version, 6);
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
                supported: 6,
                ..
            }
        ),
        "{err:?}"
    );
    assert!(err.to_string().contains("upgrade"));
    assert_eq!(snapshot(dir.path()), before);
}

// ----- program users: passwords, lock-out, administrators -----

/// All columns of a user row as SQL literals (`quote()`), by column name.
async fn raw_user_row(db: &sqlx::SqlitePool, name_key: &str) -> BTreeMap<String, String> {
    let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('users')")
        .fetch_all(db)
        .await
        .unwrap();
    assert!(cols.iter().any(|c| c == "failed_logins"));
    let select = cols
        .iter()
        .map(|c| format!("quote(\"{c}\")"))
        .collect::<Vec<_>>()
        .join(", ");
    let row = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT {select} FROM users WHERE name_key = ?"
    )))
    .bind(name_key)
    .fetch_one(db)
    .await
    .unwrap();
    cols.iter()
        .enumerate()
        .map(|(i, c)| (c.clone(), row.get::<String, _>(i)))
        .collect()
}

/// The user's `user_tokens` rows, each column quoted, by firm.
async fn raw_token_rows(
    db: &sqlx::SqlitePool,
    name_key: &str,
) -> BTreeMap<String, BTreeMap<String, String>> {
    let cols: Vec<String> = sqlx::query_scalar("SELECT name FROM pragma_table_info('user_tokens')")
        .fetch_all(db)
        .await
        .unwrap();
    assert!(cols.iter().any(|c| c == "token_sealed"));
    let select = cols
        .iter()
        .map(|c| format!("quote(\"{c}\")"))
        .collect::<Vec<_>>()
        .join(", ");
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!(
        "SELECT firm, {select} FROM user_tokens \
         WHERE user_id = (SELECT id FROM users WHERE name_key = ?)"
    )))
    .bind(name_key)
    .fetch_all(db)
    .await
    .unwrap();
    rows.iter()
        .map(|row| {
            let cells = cols
                .iter()
                .enumerate()
                .map(|(i, c)| (c.clone(), row.get::<String, _>(i + 1)))
                .collect();
            (row.get::<String, _>(0), cells)
        })
        .collect()
}

/// The user's only token (the test user holds exactly one).
fn only_token(u: &ksef_store::UserInfo) -> &ksef_store::UserToken {
    assert_eq!(u.tokens.len(), 1, "{u:?}");
    &u.tokens[0]
}

/// Ends a lock-out early (as if its time had passed).
async fn expire_lock(db: &sqlx::SqlitePool, name_key: &str) {
    sqlx::query("UPDATE users SET locked_until = '2000-01-01T00:00:00Z' WHERE name_key = ?")
        .bind(name_key)
        .execute(db)
        .await
        .unwrap();
}

fn assert_locked_for(err: &StoreError, minutes: i64) -> time::OffsetDateTime {
    let StoreError::UserLocked { until, .. } = err else {
        panic!("expected UserLocked, got {err:?}");
    };
    let left = *until - time::OffsetDateTime::now_utc();
    assert!(
        left > time::Duration::minutes(minutes) - time::Duration::seconds(30)
            && left <= time::Duration::minutes(minutes),
        "locked for {left} instead of {minutes} min"
    );
    *until
}

#[tokio::test]
async fn password_login_wrong_passwords_and_lock_out() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("Anna", PW, true).await.unwrap();
    store.add_user("Jan", PW, false).await.unwrap();
    store.set_user_token("jan", TOKEN_A).await.unwrap();

    // A good login: the stored name, the role; the name is matched case-insensitively.
    let jan = store.unlock_user("  JAN ", PW).await.unwrap();
    assert_eq!(jan.name(), "Jan");
    assert!(!jan.is_admin());
    assert!(!format!("{jan:?}").contains(PW));
    assert!(store.unlock_user("anna", PW).await.unwrap().is_admin());

    let db = raw(dir.path()).await;
    let clean = raw_user_row(&db, "jan").await;
    assert_eq!(clean["failed_logins"], "0");
    assert_eq!(clean["locked_until"], "NULL");

    // Wrong passwords count down; nothing but the counter changes.
    for (i, wrong) in ["Hasło testowe 123", "hasło testowe 124", "", "x"]
        .into_iter()
        .enumerate()
    {
        let err = store.unlock_user("jan", wrong).await.unwrap_err();
        let expected_left = MAX_FAILED_LOGINS - 1 - i as u32;
        assert!(
            matches!(&err, StoreError::WrongPassword { name, attempts_left }
                if name == "Jan" && *attempts_left == expected_left),
            "attempt {i}: {err:?}"
        );
        assert!(!err.to_string().contains(PW) && !format!("{err:?}").contains(PW));
        let mut expected = clean.clone();
        expected.insert("failed_logins".into(), (i + 1).to_string());
        assert_eq!(raw_user_row(&db, "jan").await, expected);
        assert!(store.user("jan").await.unwrap().locked_until.is_none());
    }
    // Another user is not affected.
    store.unlock_user("anna", PW).await.unwrap();

    // A successful login resets the counter: the row is exactly as before.
    let jan = store.unlock_user("jan", PW).await.unwrap();
    assert_eq!(raw_user_row(&db, "jan").await, clean);
    assert_eq!(
        store
            .user_token(&jan, FIRM_A)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_A
    );

    // Five wrong passwords in a row lock the user out (the fifth answer says so).
    for i in 0..MAX_FAILED_LOGINS - 1 {
        let err = store.unlock_user("jan", PW2).await.unwrap_err();
        assert!(
            matches!(err, StoreError::WrongPassword { .. }),
            "{i}: {err:?}"
        );
    }
    let err = store.unlock_user("jan", PW2).await.unwrap_err();
    let until = assert_locked_for(&err, 1);
    assert!(err.to_string().contains("Jan"));
    let info = store.user("jan").await.unwrap();
    assert_eq!(info.locked_until, Some(until));
    let locked_row = raw_user_row(&db, "jan").await;
    assert_eq!(locked_row["failed_logins"], "5");

    // While locked, even the right password is refused, and no attempt is counted.
    for pw in [PW, PW2] {
        let err = store.unlock_user("jan", pw).await.unwrap_err();
        assert!(
            matches!(&err, StoreError::UserLocked { until: u, .. } if *u == until),
            "{err:?}"
        );
    }
    assert_eq!(raw_user_row(&db, "jan").await, locked_row);
    // The lock-out does not stop the administrator from saving a token for the user.
    store.set_user_token("jan", TOKEN_B).await.unwrap();

    // After the lock-out, one more wrong password locks again, twice as long.
    expire_lock(&db, "jan").await;
    assert!(store.user("jan").await.unwrap().locked_until.is_none());
    let err = store.unlock_user("jan", PW2).await.unwrap_err();
    assert_locked_for(&err, 2);
    assert_eq!(raw_user_row(&db, "jan").await["failed_logins"], "6");

    // After that lock-out, the right password logs in and clears counter and lock.
    expire_lock(&db, "jan").await;
    let jan = store.unlock_user("jan", PW).await.unwrap();
    let row = raw_user_row(&db, "jan").await;
    assert_eq!(
        (row["failed_logins"].as_str(), row["locked_until"].as_str()),
        ("0", "NULL")
    );
    assert_eq!(
        store
            .user_token(&jan, FIRM_B)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_B
    );

    // An absurdly long password counts as a wrong one (and is not hashed).
    let long = "x".repeat(MAX_PASSWORD_BYTES + 1);
    let err = store.unlock_user("jan", &long).await.unwrap_err();
    assert!(
        matches!(
            err,
            StoreError::WrongPassword {
                attempts_left: 4,
                ..
            }
        ),
        "{err:?}"
    );

    // An administrator's password reset lifts a lock-out.
    for _ in 0..MAX_FAILED_LOGINS {
        let _ = store.unlock_user("jan", PW2).await;
    }
    assert!(matches!(
        store.unlock_user("jan", PW).await,
        Err(StoreError::UserLocked { .. })
    ));
    assert_eq!(
        store.set_password("jan", PW2).await.unwrap(),
        TokenAfterReset::Removed
    );
    assert!(store.user("jan").await.unwrap().locked_until.is_none());
    store.unlock_user("jan", PW2).await.unwrap();
    let row = raw_user_row(&db, "jan").await;
    assert_eq!(row["failed_logins"], "0");

    db.close().await;
    store.close().await;
}

#[tokio::test]
async fn parallel_wrong_passwords_all_count() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("jan", PW, false).await.unwrap();
    let guesses: Vec<_> = (0..MAX_FAILED_LOGINS)
        .map(|i| {
            let store = store.clone();
            tokio::spawn(async move { store.unlock_user("jan", &format!("zgadywanie {i}")).await })
        })
        .collect();
    let mut left = Vec::new();
    let mut locked = 0;
    for g in guesses {
        match g.await.unwrap() {
            Err(StoreError::WrongPassword { attempts_left, .. }) => left.push(attempts_left),
            Err(StoreError::UserLocked { .. }) => locked += 1,
            other => panic!("{other:?}"),
        }
    }
    left.sort_unstable();
    assert_eq!(left, [1, 2, 3, 4]);
    assert_eq!(locked, 1);
    assert!(store.user("jan").await.unwrap().locked_until.is_some());
    store.close().await;
}

#[tokio::test]
async fn administrator_saves_a_token_only_the_user_can_read() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("admin", PW, true).await.unwrap();
    store.add_user("bartek", PW2, false).await.unwrap();

    // The administrator saves Bartek's token without knowing his password.
    store.set_user_token("bartek", TOKEN_A).await.unwrap();
    let info = store.user("bartek").await.unwrap();
    assert!(info.has_token && info.has_password && !info.is_admin);
    assert_eq!(info.tokens.len(), 1);

    // The administrator's own unlocked user reads the administrator's row only.
    let admin = store.unlock_user("admin", PW).await.unwrap();
    assert!(store.user_token(&admin, FIRM_A).await.unwrap().is_none());
    // The administrator's password does not open Bartek.
    assert!(matches!(
        store.unlock_user("bartek", PW).await,
        Err(StoreError::WrongPassword { .. })
    ));
    // Bartek reads it with his password.
    let bartek = store.unlock_user("bartek", PW2).await.unwrap();
    assert_eq!(
        store
            .user_token(&bartek, FIRM_A)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_A
    );

    // A weak password is refused and changes nothing.
    let db = raw(dir.path()).await;
    let before = raw_user_row(&db, "bartek").await;
    for bad in ["krótkie", "bardzo\tdługie hasło"] {
        let err = store.set_password("bartek", bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::WeakPassword { .. } | StoreError::InvalidPassword
            ),
            "{err:?}"
        );
    }
    assert_eq!(raw_user_row(&db, "bartek").await, before);

    // The stored value needs Bartek's key, which his password protects: an administrator's
    // reset (a new key pair) cannot carry the token over, it is removed, and the result
    // says so.
    store
        .set_token_status(&info.token_for(FIRM_A).unwrap().reference, "Active")
        .await
        .unwrap();
    assert_eq!(
        store
            .set_password("bartek", "hasło od administratora")
            .await
            .unwrap(),
        TokenAfterReset::Removed
    );
    let after = raw_user_row(&db, "bartek").await;
    for col in [
        "token_reference",
        "token_context",
        "token_tail",
        "token_set_at",
        "token_sealing",
        "token_sealed",
        "token_status",
        "token_status_at",
    ] {
        assert_eq!(after[col], "NULL", "{col}");
    }
    for col in ["password_hash", "key_public", "key_salt", "key_sealed"] {
        assert_ne!(after[col], before[col], "{col} not replaced");
    }
    assert!(raw_token_rows(&db, "bartek").await.is_empty());
    let info = store.user("bartek").await.unwrap();
    assert!(!info.has_token && info.tokens.is_empty() && info.token_for(FIRM_A).is_none());
    // The old password no longer opens; the new one does, with no token.
    assert!(matches!(
        store.unlock_user("bartek", PW2).await,
        Err(StoreError::WrongPassword { .. })
    ));
    let new_bartek = store
        .unlock_user("bartek", "hasło od administratora")
        .await
        .unwrap();
    for firm in [FIRM_A, FIRM_B] {
        assert!(store.user_token(&new_bartek, firm).await.unwrap().is_none());
    }

    // A token saved after the reset is sealed to the new key: the old unlocked user (the
    // old private key) cannot open it, the new one can.
    store.set_user_token("bartek", TOKEN_B).await.unwrap();
    let err = store.user_token(&bartek, FIRM_B).await.unwrap_err();
    assert!(matches!(err, StoreError::Integrity { .. }), "{err:?}");
    assert_eq!(
        store
            .user_token(&new_bartek, FIRM_B)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_B
    );
    // A reset of a user without a token reports that.
    assert_eq!(
        store.set_password("admin", PW2).await.unwrap(),
        TokenAfterReset::None
    );

    // A removed and re-created user is a new user: the old unlocked user reads nothing of it.
    store.remove_user("bartek").await.unwrap();
    store.add_user("Bartek", PW2, false).await.unwrap();
    store.set_user_token("bartek", TOKEN_A).await.unwrap();
    assert!(store.user_token(&new_bartek, FIRM_A).await.is_err());
    db.close().await;
    store.close().await;
}

#[tokio::test]
async fn change_password_keeps_key_and_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("ewa", PW, false).await.unwrap();
    store.set_user_token("ewa", TOKEN_A).await.unwrap();
    let db = raw(dir.path()).await;
    let before = raw_user_row(&db, "ewa").await;
    let tokens_before = raw_token_rows(&db, "ewa").await;
    assert_eq!(tokens_before.len(), 1);

    let ewa = store.unlock_user("ewa", PW).await.unwrap();
    // Refused new passwords change nothing.
    for bad in [
        "krótkie",
        "        ",
        "z\u{1b}[31m kolorem",
        &"ą".repeat(600),
    ] {
        let err = store.change_password(&ewa, bad).await.unwrap_err();
        assert!(
            matches!(
                err,
                StoreError::WeakPassword { .. } | StoreError::InvalidPassword
            ),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(raw_user_row(&db, "ewa").await, before);
    assert_eq!(raw_token_rows(&db, "ewa").await, tokens_before);

    store.change_password(&ewa, PW2).await.unwrap();
    let after = raw_user_row(&db, "ewa").await;
    // Same key pair and token (the token row untouched); new hash and password-derived
    // wrapping.
    assert_eq!(after["key_public"], before["key_public"]);
    assert_eq!(raw_token_rows(&db, "ewa").await, tokens_before);
    for col in ["password_hash", "key_salt", "key_sealed"] {
        assert_ne!(after[col], before[col], "{col}");
    }

    assert!(matches!(
        store.unlock_user("ewa", PW).await,
        Err(StoreError::WrongPassword {
            attempts_left: 4,
            ..
        })
    ));
    let ewa2 = store.unlock_user("ewa", PW2).await.unwrap();
    assert_eq!(
        store
            .user_token(&ewa2, FIRM_A)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_A
    );
    // The session unlocked before the change still holds the same key.
    assert_eq!(
        store
            .user_token(&ewa, FIRM_A)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_A
    );
    // A token saved afterwards is readable with the new password, across a reopen.
    store.set_user_token("ewa", TOKEN_B).await.unwrap();
    db.close().await;
    store.close().await;
    let store = Store::open(dir.path(), None).await.unwrap();
    let ewa = store.unlock_user("ewa", PW2).await.unwrap();
    assert_eq!(
        store
            .user_token(&ewa, FIRM_B)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_B
    );
    store.close().await;
}

#[tokio::test]
async fn first_admin_and_last_admin() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    assert!(store.needs_first_admin().await.unwrap());
    store.add_user("jan", PW, false).await.unwrap();
    assert!(store.needs_first_admin().await.unwrap());
    store.add_user("anna", PW, true).await.unwrap();
    assert!(!store.needs_first_admin().await.unwrap());
    let admins = |users: Vec<ksef_store::UserInfo>| -> Vec<String> {
        users
            .into_iter()
            .filter(|u| u.is_admin)
            .map(|u| u.name)
            .collect()
    };

    // The only administrator can be neither removed nor demoted.
    let err = store.remove_user("ANNA").await.unwrap_err();
    assert!(
        matches!(&err, StoreError::LastAdmin { name } if name == "anna"),
        "{err:?}"
    );
    let err = store.set_admin("anna", false).await.unwrap_err();
    assert!(matches!(err, StoreError::LastAdmin { .. }), "{err:?}");
    assert_eq!(admins(store.list_users().await.unwrap()), ["anna"]);
    // Making her an administrator again is harmless.
    store.set_admin("anna", true).await.unwrap();

    // With a second administrator, one may go.
    store.set_admin("jan", true).await.unwrap();
    assert!(store.unlock_user("jan", PW).await.unwrap().is_admin());
    store.set_admin("anna", false).await.unwrap();
    assert_eq!(admins(store.list_users().await.unwrap()), ["jan"]);
    assert!(matches!(
        store.remove_user("jan").await,
        Err(StoreError::LastAdmin { .. })
    ));
    assert!(matches!(
        store.set_admin("jan", false).await,
        Err(StoreError::LastAdmin { .. })
    ));
    // A non-administrator can always be removed.
    store.remove_user("anna").await.unwrap();
    store.add_user("ewa", PW, true).await.unwrap();
    store.remove_user("jan").await.unwrap();
    assert_eq!(admins(store.list_users().await.unwrap()), ["ewa"]);
    assert!(!store.needs_first_admin().await.unwrap());
    store.close().await;
}

#[tokio::test]
async fn user_without_password_cannot_log_in_or_receive_a_token() {
    // A user row as a store from before passwords leaves it (no password, no key pair).
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    let db = raw(dir.path()).await;
    sqlx::query(
        "INSERT INTO users (name, name_key, created_at) VALUES ('Stary', 'stary', '2025-01-01T00:00:00Z')",
    )
    .execute(&db)
    .await
    .unwrap();
    let info = store.user("stary").await.unwrap();
    assert!(!info.has_password && !info.is_admin && !info.has_token);
    let before = raw_user_row(&db, "stary").await;
    let err = store.unlock_user("stary", PW).await.unwrap_err();
    assert!(
        matches!(&err, StoreError::NoPassword { name } if name == "Stary"),
        "{err:?}"
    );
    let err = store.set_user_token("stary", TOKEN_A).await.unwrap_err();
    assert!(matches!(err, StoreError::NoPassword { .. }), "{err:?}");
    // Refusals counted nothing and wrote nothing.
    assert_eq!(raw_user_row(&db, "stary").await, before);
    assert!(store.needs_first_admin().await.unwrap());
    // A password-less user cannot become an administrator (it could not log in).
    let err = store.set_admin("stary", true).await.unwrap_err();
    assert!(matches!(err, StoreError::NoPassword { .. }), "{err:?}");
    assert!(store.needs_first_admin().await.unwrap());
    store.add_user("admin", PW, true).await.unwrap();

    assert_eq!(
        store.set_password("stary", PW2).await.unwrap(),
        TokenAfterReset::None
    );
    store.set_user_token("stary", TOKEN_A).await.unwrap();
    let stary = store.unlock_user("stary", PW2).await.unwrap();
    assert_eq!(
        store
            .user_token(&stary, FIRM_A)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_A
    );
    db.close().await;
    store.close().await;
}

#[tokio::test]
async fn hostile_password_hash_is_refused_quickly() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("jan", PW, false).await.unwrap();
    let db = raw(dir.path()).await;
    let hash: String = sqlx::query_scalar("SELECT password_hash FROM users WHERE name_key = 'jan'")
        .fetch_one(&db)
        .await
        .unwrap();
    assert!(hash.starts_with("$argon2id$v=19$m="), "{hash}");
    let params = hash.split('$').nth(3).unwrap().to_owned();
    let hostile = [
        // 4 GiB of memory.
        hash.replace(&params, "m=4194304,t=2,p=1"),
        // A million passes.
        hash.replace(&params, "m=19456,t=1000000,p=1"),
        // Not Argon2id.
        hash.replacen("$argon2id$", "$argon2i$", 1),
        "not a PHC string".to_owned(),
    ];
    for bad in hostile {
        sqlx::query("UPDATE users SET password_hash = ? WHERE name_key = 'jan'")
            .bind(&bad)
            .execute(&db)
            .await
            .unwrap();
        let before = raw_user_row(&db, "jan").await;
        let started = std::time::Instant::now();
        let err = store.unlock_user("jan", PW).await.unwrap_err();
        assert!(matches!(err, StoreError::Corrupt(_)), "{bad}: {err:?}");
        assert!(
            started.elapsed() < std::time::Duration::from_secs(2),
            "{bad}: took {:?}",
            started.elapsed()
        );
        // Damage is not a wrong password: nothing counted.
        assert_eq!(raw_user_row(&db, "jan").await, before);
    }
    // The administrator's reset repairs it.
    store.set_password("jan", PW2).await.unwrap();
    store.unlock_user("jan", PW2).await.unwrap();
    db.close().await;
    store.close().await;
}

#[tokio::test]
async fn token_status_is_listed_and_cleared_with_a_new_token() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    for u in ["anna", "jan", "ewa"] {
        store.add_user(u, PW, u == "anna").await.unwrap();
    }
    let other = random_token();
    store.set_user_token("anna", TOKEN_A).await.unwrap();
    store.set_user_token("jan", TOKEN_A).await.unwrap();
    store.set_user_token("ewa", &other).await.unwrap();
    let reference = "20251010-EC-1DCE3E3000-12ECB5B36E-45";
    for u in store.list_users().await.unwrap() {
        let t = only_token(&u);
        assert!(t.status.is_none() && t.status_at.is_none(), "{u:?}");
    }

    // Recorded on every user holding the token; others untouched.
    assert_eq!(
        store.set_token_status(reference, "Revoked").await.unwrap(),
        2
    );
    assert_eq!(
        store
            .set_token_status("20990101-EC-0000000000-0000000000-00", "Active")
            .await
            .unwrap(),
        0
    );
    let users = store.list_users().await.unwrap();
    let names: Vec<_> = users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["anna", "ewa", "jan"]);
    let now = time::OffsetDateTime::now_utc();
    for u in [&users[0], &users[2]] {
        let t = only_token(u);
        assert_eq!(t.status.as_deref(), Some("Revoked"), "{}", u.name);
        let at = t.status_at.unwrap();
        assert!((now - at).whole_seconds().abs() < 60);
    }
    assert!(
        only_token(&users[1]).status.is_none() && only_token(&users[1]).status_at.is_none(),
        "{:?}",
        users[1]
    );
    // `user` shows the same.
    assert_eq!(
        only_token(&store.user("JAN").await.unwrap())
            .status
            .as_deref(),
        Some("Revoked")
    );

    // A newer status replaces it.
    store.set_token_status(reference, "Active").await.unwrap();
    assert_eq!(
        only_token(&store.user("anna").await.unwrap())
            .status
            .as_deref(),
        Some("Active")
    );

    // A new token (even the same text) clears the status of that user only; clearing the
    // token clears it too.
    store.set_user_token("anna", TOKEN_A).await.unwrap();
    let anna = store.user("anna").await.unwrap();
    assert!(only_token(&anna).status.is_none() && only_token(&anna).status_at.is_none());
    assert_eq!(
        only_token(&store.user("jan").await.unwrap())
            .status
            .as_deref(),
        Some("Active")
    );
    store.clear_user_token("jan", Some(FIRM_A)).await.unwrap();
    let jan = store.user("jan").await.unwrap();
    assert!(jan.tokens.is_empty() && !jan.has_token);
    // A status recorded for a token nobody holds any more lands nowhere; a new token for the
    // firm starts without a status.
    store.set_user_token("jan", TOKEN_A).await.unwrap();
    assert!(
        only_token(&store.user("jan").await.unwrap())
            .status
            .is_none()
    );
    // Persisted.
    store.set_token_status(reference, "Revoked").await.unwrap();
    store.close().await;
    let store = Store::open(dir.path(), None).await.unwrap();
    assert_eq!(
        only_token(&store.user("anna").await.unwrap())
            .status
            .as_deref(),
        Some("Revoked")
    );
    store.close().await;
}

#[tokio::test]
async fn one_user_holds_tokens_for_two_firms() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    store.add_user("admin", PW2, true).await.unwrap();
    store.add_user("jan", PW, false).await.unwrap();
    assert_eq!(store.set_user_token("jan", TOKEN_A).await.unwrap(), FIRM_A);
    assert_eq!(store.set_user_token("jan", TOKEN_B).await.unwrap(), FIRM_B);

    // Both listed, each under its firm, and both firms known to the program.
    let jan = store.user("jan").await.unwrap();
    assert!(jan.has_token);
    assert_eq!(jan.tokens.len(), 2);
    let a = jan.token_for(FIRM_A).unwrap();
    let b = jan.token_for(FIRM_B).unwrap();
    assert_eq!(
        (a.firm.as_str(), a.context.as_str()),
        (FIRM_A, "nip-5265877635")
    );
    assert_eq!(
        (b.firm.as_str(), b.context.as_str()),
        (FIRM_B, "internalId-5265877635-12346")
    );
    assert!(jan.token_for("Nip:1111111111").is_none());
    let firms: Vec<_> = store
        .list_firms()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.context)
        .collect();
    assert_eq!(firms.len(), 2);
    assert!(firms.iter().any(|f| f == FIRM_A) && firms.iter().any(|f| f == FIRM_B));

    // Both read with the password, each for its own firm; an unknown firm reads nothing.
    let unlocked = store.unlock_user("jan", PW).await.unwrap();
    assert_eq!(
        store
            .user_token(&unlocked, FIRM_A)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_A
    );
    assert_eq!(
        store
            .user_token(&unlocked, FIRM_B)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_B
    );
    assert!(
        store
            .user_token(&unlocked, "Nip:1111111111")
            .await
            .unwrap()
            .is_none()
    );
    // Another user's password opens neither.
    let admin = store.unlock_user("admin", PW2).await.unwrap();
    for firm in [FIRM_A, FIRM_B] {
        assert!(store.user_token(&admin, firm).await.unwrap().is_none());
    }

    // A status is recorded per token reference: both tokens here share one reference, so
    // both get it (as every holder of a token does).
    store
        .set_token_status("20251010-EC-1DCE3E3000-12ECB5B36E-45", "Active")
        .await
        .unwrap();
    let jan = store.user("jan").await.unwrap();
    assert!(
        jan.tokens
            .iter()
            .all(|t| t.status.as_deref() == Some("Active"))
    );

    // Clearing one firm's token keeps the other, readable as before.
    store.clear_user_token("JAN", Some(FIRM_A)).await.unwrap();
    let jan = store.user("jan").await.unwrap();
    assert!(jan.has_token && jan.token_for(FIRM_A).is_none());
    assert_eq!(jan.tokens.len(), 1);
    assert_eq!(
        jan.token_for(FIRM_B).unwrap().status.as_deref(),
        Some("Active")
    );
    assert!(store.user_token(&unlocked, FIRM_A).await.unwrap().is_none());
    assert_eq!(
        store
            .user_token(&unlocked, FIRM_B)
            .await
            .unwrap()
            .unwrap()
            .as_str(),
        TOKEN_B
    );
    // Clearing a firm the user holds no token for changes nothing.
    store
        .clear_user_token("jan", Some("Nip:1111111111"))
        .await
        .unwrap();
    assert_eq!(store.user("jan").await.unwrap().tokens.len(), 1);

    // The user's own password change keeps both; an administrator's reset removes both.
    store.set_user_token("jan", TOKEN_A).await.unwrap();
    store.change_password(&unlocked, PW2).await.unwrap();
    let jan2 = store.unlock_user("jan", PW2).await.unwrap();
    for (firm, token) in [(FIRM_A, TOKEN_A), (FIRM_B, TOKEN_B)] {
        assert_eq!(
            store
                .user_token(&jan2, firm)
                .await
                .unwrap()
                .unwrap()
                .as_str(),
            token
        );
    }
    assert_eq!(
        store.set_password("jan", PW).await.unwrap(),
        TokenAfterReset::Removed
    );
    let jan = store.user("jan").await.unwrap();
    assert!(!jan.has_token && jan.tokens.is_empty());
    let db = raw(dir.path()).await;
    assert!(raw_token_rows(&db, "jan").await.is_empty());
    let jan3 = store.unlock_user("jan", PW).await.unwrap();
    for firm in [FIRM_A, FIRM_B] {
        assert!(store.user_token(&jan3, firm).await.unwrap().is_none());
    }
    // The firms stay.
    assert_eq!(store.list_firms().await.unwrap().len(), 2);

    // Removing the user removes the user's token rows (nothing left to match a new user).
    store.set_user_token("jan", TOKEN_B).await.unwrap();
    store.remove_user("jan").await.unwrap();
    let left: i64 = sqlx::query_scalar("SELECT count(*) FROM user_tokens")
        .fetch_one(&db)
        .await
        .unwrap();
    assert_eq!(left, 0);
    db.close().await;
    store.close().await;
}

#[tokio::test]
async fn firms_are_added_renamed_and_validated() {
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(dir.path(), None).await.unwrap();
    assert!(store.list_firms().await.unwrap().is_empty());
    assert!(store.firm(FIRM_A).await.unwrap().is_none());

    store
        .put_firm(FIRM_A, "  Firma Testowa sp. z o.o. ")
        .await
        .unwrap();
    let f = store.firm(FIRM_A).await.unwrap().unwrap();
    assert_eq!(
        (f.context.as_str(), f.name.as_str()),
        (FIRM_A, "Firma Testowa sp. z o.o.")
    );
    let created = f.created_at;
    // Renaming keeps the creation time.
    store.put_firm(FIRM_A, "Abc").await.unwrap();
    let f = store.firm(FIRM_A).await.unwrap().unwrap();
    assert_eq!((f.name.as_str(), f.created_at), ("Abc", created));
    // Saving a token for a named firm keeps its name.
    store.add_user("jan", PW, false).await.unwrap();
    store.set_user_token("jan", TOKEN_A).await.unwrap();
    assert_eq!(store.firm(FIRM_A).await.unwrap().unwrap().name, "Abc");
    store.put_firm(FIRM_B, "Zeta").await.unwrap();
    let names: Vec<_> = store
        .list_firms()
        .await
        .unwrap()
        .into_iter()
        .map(|f| f.name)
        .collect();
    assert_eq!(names, ["Abc", "Zeta"]);

    for bad in ["", "Nip", "Nip:", ":5265877635", "Nip:52\n65"] {
        let err = store.put_firm(bad, "x").await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidFirm(_)),
            "{bad:?}: {err:?}"
        );
    }
    let long = "x".repeat(ksef_store::MAX_FIRM_NAME_CHARS + 1);
    for bad in ["", "   ", "a\u{7}b", long.as_str()] {
        let err = store.put_firm(FIRM_B, bad).await.unwrap_err();
        assert!(
            matches!(err, StoreError::InvalidFirmName),
            "{bad:?}: {err:?}"
        );
    }
    assert_eq!(store.firm(FIRM_B).await.unwrap().unwrap().name, "Zeta");
    store.close().await;

    // Persisted.
    let store = Store::open(dir.path(), None).await.unwrap();
    assert_eq!(store.list_firms().await.unwrap().len(), 2);
    store.close().await;
}
