//! The `ksef` command line end to end: every invocation of the client issue against a real
//! `ksef emulator` process on a random port, with a temporary data dir — the seed's workflow,
//! the Profil Zaufany round trip, and bad input (clear message, non-zero exit, store untouched).

use std::path::{Path, PathBuf};
use std::process::Command;

use ksef_core::{ContextIdentifier, Nip, Pesel};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::cli::Program;
use ksef_testkit::{EmulatorProcess, RawClient};
use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_ksef");

/// What the store holds (users, masked tokens, settings, session summary), read through the
/// store itself: a failed command must not change any of it. (File bytes are not compared:
/// SQLite may checkpoint its WAL on a read-only open.)
fn snapshot(p: &Program) -> String {
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let store = ksef_store::Store::open(
            p.data_dir(),
            Some(ksef_crypto::Zeroizing::new(p.passphrase().to_string())),
        )
        .await
        .expect("open store");
        let users: Vec<String> = store
            .list_users()
            .await
            .unwrap()
            .iter()
            .map(|u| {
                format!(
                    "{}|admin={}|password={}|locked={:?}|{:?}",
                    u.name, u.is_admin, u.has_password, u.locked_until, u.tokens
                )
            })
            .collect();
        let settings = store.settings().await.unwrap();
        let session = store
            .load_session(p.base_url())
            .await
            .unwrap()
            .map(|(_, s)| s.reference_number);
        let out = format!("users={users:?} settings={settings:?} session={session:?}");
        store.close().await;
        out
    })
}

/// Files of the data dir (and its subdirectories) containing `needle`.
fn files_containing(p: &Program, needle: &str) -> Vec<PathBuf> {
    fn walk(dir: &Path, needle: &[u8], hits: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let path = e.path();
            if path.is_dir() {
                walk(&path, needle, hits);
            } else if std::fs::read(&path)
                .map(|b| b.windows(needle.len()).any(|w| w == needle))
                .unwrap_or(false)
            {
                hits.push(path);
            }
        }
    }
    assert!(!needle.is_empty());
    let mut hits = Vec::new();
    walk(p.data_dir(), needle.as_bytes(), &mut hits);
    hits
}

/// How many KSeF-token logins (`POST /auth/ksef-token`) the emulator has logged.
fn token_logins(emu: &EmulatorProcess) -> usize {
    emu.log().matches("/auth/ksef-token").count()
}

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn seed_workflow_end_to_end() {
    let emu = EmulatorProcess::start(
        BIN,
        &["--auth-delay-ms", "50", "--token-activation-ms", "200"],
    );
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    let pw = write(files.path(), "pw.txt", "hasło-do-p12\n");
    let p12 = files.path().join("me.p12").display().to_string();
    // The program users' own passwords (not the certificate's).
    let ksiegowa_pw_text = "Księgowa-hasło-2024";
    let ksiegowa_pw = write(
        files.path(),
        "ksiegowa.txt",
        &format!("{ksiegowa_pw_text}\n"),
    );
    let kierownik_pw_text = "Kierownik#hasło#77";
    let kierownik_pw = write(
        files.path(),
        "kierownik.txt",
        &format!("{kierownik_pw_text}\n"),
    );

    // Certificate and certificate login.
    p.ok(&[
        "cert",
        "new",
        "--nip",
        nip.as_str(),
        "--out",
        &p12,
        "--password-file",
        &pw,
    ]);
    p.ok(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &p12,
        "--password-file",
        &pw,
    ]);
    let st = p.json(&["auth", "status"]);
    assert_eq!(st["context"]["value"], nip.as_str());
    assert_eq!(st["tokenSession"], false);

    // Users dictionary and token generation saved on a user.
    p.ok(&["user", "add", "Księgowa", "--password-file", &ksiegowa_pw]);
    let g = p.json(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead,InvoiceWrite",
        "--description",
        "Wystawianie faktur",
        "--save-to-user",
        "Księgowa",
    ]);
    let token = g["token"].as_str().unwrap().to_string();
    let reference = g["referenceNumber"].as_str().unwrap().to_string();
    assert!(token.starts_with(&reference));
    assert_eq!(g["status"], "Active");
    let users = p.json(&["user", "list"]);
    assert_eq!(users[0]["hasToken"], true, "{users:#}");
    assert_eq!(users[0]["tokens"].as_array().unwrap().len(), 1, "{users:#}");
    assert!(
        users[0]["tokens"][0]["firm"]
            .as_str()
            .is_some_and(|f| f.starts_with("Nip:")),
        "{users:#}"
    );
    let masked = users[0]["tokens"][0]["token"].as_str().unwrap();
    assert!(
        !masked.contains(&token) && masked.contains(&reference),
        "{masked}"
    );
    assert_eq!(users[0]["hasPassword"], true, "{users:#}");
    assert_eq!(users[0]["admin"], false, "{users:#}");
    assert!(users[0]["lockedUntil"].is_null(), "{users:#}");
    // Text output is masked too.
    assert!(!p.ok(&["user", "list"]).contains(&token));
    // The token (and any JWT) never appears in the store's files.
    assert!(files_containing(&p, &token).is_empty());
    assert!(files_containing(&p, &token[token.len() - 64..]).is_empty());
    assert!(
        files_containing(&p, "eyJ").is_empty(),
        "a JWT in clear text in the store"
    );
    // Nor the user's password.
    assert!(files_containing(&p, ksiegowa_pw_text).is_empty());
    // Nor does any log: the emulator logs every request, never a token.
    let log = emu.log();
    assert!(
        log.contains("/v2/tokens"),
        "the emulator log is empty: {log}"
    );
    assert!(
        !log.contains(&token[token.len() - 64..]) && !log.contains("eyJ"),
        "a secret in the emulator log"
    );

    // Listing and showing.
    let list = p.json(&["token", "list", "--status", "Active"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["referenceNumber"] == reference.as_str())
    );
    let one = p.json(&["token", "show", &reference]);
    assert_eq!(one["authorIdentifier"]["value"], nip.as_str());
    assert!(p.ok(&["token", "list"]).contains(&reference));

    // Token session: no minting, no browsing (the seed).
    p.ok(&["auth", "logout"]);
    p.fails(&["auth", "status"]);
    p.ok(&[
        "auth",
        "login",
        "--user",
        "Księgowa",
        "--user-password-file",
        &ksiegowa_pw,
    ]);
    assert_eq!(p.json(&["auth", "status"])["tokenSession"], true);
    let e = p.fails(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead",
        "--description",
        "Podtoken",
    ]);
    assert!(e.contains("KSeF token"), "{e}");
    let e = p.fails(&["token", "list"]);
    assert!(e.contains("KSeF token"), "{e}");
    p.ok(&["auth", "logout"]);

    // A token pasted into a user's "Token KSeF" field via stdin.
    p.ok(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &p12,
        "--password-file",
        &pw,
    ]);
    let g2 = p.json(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead",
        "--description",
        "Odczyt faktur",
    ]);
    let token2 = g2["token"].as_str().unwrap().to_string();
    p.ok(&["user", "add", "Kierownik", "--password-file", &kierownik_pw]);
    // Saving a token needs no password: it is sealed to the user's public key.
    let out = p.run_stdin(&["user", "set-token", "Kierownik"], &format!("{token2}\n"));
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!printed.contains(&token2), "set-token echoed the token");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(files_containing(&p, &token2).is_empty());
    assert!(files_containing(&p, &token2[token2.len() - 64..]).is_empty());
    assert!(files_containing(&p, kierownik_pw_text).is_empty());
    let out = p.run_stdin(&["user", "set-token", "Kierownik"], "not a token\n");
    assert!(!out.status.success());

    // Revoke (owner holds CredentialsManage); the revoked token no longer logs in.
    p.ok(&["token", "revoke", &reference]);
    let one = p.json(&["token", "show", &reference]);
    assert!(matches!(
        one["status"].as_str(),
        Some("Revoked" | "Revoking")
    ));
    p.ok(&["auth", "logout"]);
    // The revocation was recorded on the holder: the program refuses before asking KSeF.
    let users = p.json(&["user", "list"]);
    let status = users
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "Księgowa")
        .map(|u| u["tokens"][0]["tokenStatus"].clone())
        .unwrap();
    assert!(
        matches!(status.as_str(), Some("Revoked" | "Revoking")),
        "{users:#}"
    );
    let logins = token_logins(&emu);
    assert!(logins > 0, "the emulator log names no token login");
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Księgowa",
        "--user-password-file",
        &ksiegowa_pw,
    ]);
    assert!(
        e.contains("Księgowa")
            && (e.contains("is Revoked") || e.contains("is Revoking"))
            && e.contains("cannot be used"),
        "{e}"
    );
    assert_eq!(logins, token_logins(&emu), "KSeF was asked anyway");
    p.fails(&["auth", "status"]);
    // The other user's token (pasted via stdin) still logs in, with that user's password.
    p.ok(&[
        "auth",
        "login",
        "--user",
        "Kierownik",
        "--user-password-file",
        &kierownik_pw,
    ]);
    assert_eq!(p.json(&["auth", "status"])["tokenSession"], true);
    p.ok(&["auth", "logout"]);
    p.ok(&["user", "remove", "Kierownik"]);
    assert_eq!(p.json(&["user", "list"]).as_array().unwrap().len(), 1);

    // Wrong passphrase: clear error, nothing lost.
    let before = snapshot(&p);
    let out = p
        .cmd(&["user", "list"])
        .env("KSEF_PASSPHRASE", "wrong")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("passphrase"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(before, snapshot(&p));
    assert_eq!(p.json(&["user", "list"])[0]["name"], "Księgowa");
}

#[test]
fn profil_zaufany_round_trip_and_check() {
    let emu = EmulatorProcess::start(BIN, &["--auth-delay-ms", "50"]);
    let p = Program::new(BIN, &emu.base_url);
    let dir = tempfile::tempdir().unwrap();
    // A sole proprietor: PESEL linked to a NIP (Profil Zaufany identifies by PESEL).
    let nip = Nip::random();
    let pesel = Pesel::random();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let c = RawClient::new(&emu.base_url);
        let a = c
            .post("/testdata/person", None, json!({"nip": nip.as_str(), "pesel": pesel.as_str(), "isBailiff": false, "description": "Jednoosobowa firma"}))
            .await;
        assert_eq!(a.status.as_u16(), 200);
    });
    let out = p.json(&[
        "auth",
        "prepare",
        "--nip",
        nip.as_str(),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let prepared = PathBuf::from(out["file"].as_str().unwrap());
    let name = prepared.file_name().unwrap().to_str().unwrap().to_string();
    assert!(
        name.starts_with("AuthTokenRequest_") && name.ends_with(".xml"),
        "{name}"
    );
    // Against the emulator, the request is signed in its simulated signing service.
    assert_eq!(
        out["signingService"].as_str().unwrap(),
        format!("{}/symulator-podpisu", emu.base_url.trim_end_matches("/v2"))
    );

    // Nothing signed yet → clear refusal.
    let e = p.fails(&["auth", "submit", "--dir", dir.path().to_str().unwrap()]);
    assert!(e.contains("no signed copy"), "{e}");

    // "The signing service": the person signs; the browser saves "<name> (1).xml".
    let person = make_test_certificate(
        &TestSubject::person_pesel(pesel, "Jan", "Przedsiębiorca"),
        KeyAlgorithm::Rsa2048,
    )
    .unwrap();
    let unsigned = std::fs::read_to_string(&prepared).unwrap();
    let signed =
        ksef_xades::signature::sign_enveloped(&unsigned, &person, &Default::default()).unwrap();
    let stem = name.trim_end_matches(".xml");
    let signed_path = dir.path().join(format!("{stem} (1).xml"));
    std::fs::write(&signed_path, &signed).unwrap();
    // An unrelated, unsigned "(2)" copy is ignored.
    std::fs::write(dir.path().join(format!("{stem} (2).xml")), &unsigned).unwrap();

    // Local pre-flight: fine as is, 9105 cause named when re-indented.
    p.ok(&["auth", "check", signed_path.to_str().unwrap()]);
    let reformatted = dir.path().join("reformatted.xml");
    std::fs::write(&reformatted, signed.replace("\n  <", "\n\t<")).unwrap();
    let out = p.run(&["auth", "check", reformatted.to_str().unwrap()]);
    assert!(!out.status.success());
    let report = String::from_utf8_lossy(&out.stdout);
    assert!(report.contains("9105"), "{report}");

    p.ok(&["auth", "submit", "--dir", dir.path().to_str().unwrap()]);
    let st = p.json(&["auth", "status"]);
    assert_eq!(st["context"]["value"], nip.as_str());
    // The owner (by the NIP–PESEL link) may mint a token.
    p.json(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead",
        "--description",
        "Token z Profilu Zaufanego",
    ]);
    // The same signed file cannot be used twice (single-use challenge).
    let e = p.fails(&["auth", "submit", signed_path.to_str().unwrap()]);
    assert!(e.contains("21111"), "{e}");
}

#[test]
fn bad_input_is_refused_clearly_and_writes_nothing() {
    let emu = EmulatorProcess::start(BIN, &["--auth-delay-ms", "20", "--challenge-secs", "1"]);
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    let pw = write(files.path(), "pw.txt", "dobre-hasło\n");
    let bad_pw = write(files.path(), "bad.txt", "złe-hasło\n");
    let p12 = files.path().join("me.p12").display().to_string();
    p.ok(&[
        "cert",
        "new",
        "--nip",
        nip.as_str(),
        "--out",
        &p12,
        "--password-file",
        &pw,
        "--ec",
    ]);
    let ala_pw = write(files.path(), "ala.txt", "hasło-Ali-123\n");
    p.ok(&["user", "add", "Ala", "--password-file", &ala_pw]);
    let before = snapshot(&p);

    let e = p.fails(&[
        "auth",
        "login",
        "--nip",
        "5265877636",
        "--cert",
        &p12,
        "--password-file",
        &pw,
    ]);
    assert!(
        e.contains("--nip") && e.to_lowercase().contains("check"),
        "{e}"
    );
    let e = p.fails(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &p12,
        "--password-file",
        &bad_pw,
    ]);
    assert!(e.to_lowercase().contains("password"), "{e}");
    let e = p.fails(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead,Superpower",
        "--description",
        "Wystawianie",
    ]);
    assert!(e.contains("Superpower"), "{e}");
    let e = p.fails(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead",
        "--description",
        "abc",
    ]);
    assert!(e.contains("5–256"), "{e}");
    let garbage = write(files.path(), "garbage.xml", "<<< not xml");
    let e = p.fails(&["auth", "submit", &garbage]);
    assert!(e.contains("signature"), "{e}");
    let e = p.fails(&[
        "auth",
        "submit",
        files.path().join("missing.xml").to_str().unwrap(),
    ]);
    assert!(e.contains("cannot read"), "{e}");
    let e = p.fails(&[
        "cert",
        "new",
        "--nip",
        "123",
        "--out",
        "x.p12",
        "--password-file",
        &pw,
    ]);
    assert!(e.contains("--nip"), "{e}");
    // Program users: a weak or missing password, an unknown user.
    let short = write(files.path(), "short.txt", "abc\n");
    let e = p.fails(&["user", "add", "Bolek", "--password-file", &short]);
    assert!(e.contains("at least 8 characters"), "{e}");
    let out = p
        .cmd(&["user", "add", "Bolek"])
        .env("KSEF_USER_PASSWORD", "abc")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let e = String::from_utf8_lossy(&out.stderr);
    assert!(e.contains("at least 8 characters"), "{e}");
    let e = p.fails(&["user", "add", "Bolek"]);
    assert!(
        e.contains("--password-file") && e.contains("KSEF_USER_PASSWORD"),
        "{e}"
    );
    let e = p.fails(&[
        "user",
        "add",
        "Bolek",
        "--password-file",
        files.path().join("no-such.txt").to_str().unwrap(),
    ]);
    assert!(e.contains("no-such.txt"), "{e}");
    let e = p.fails(&["user", "add", "ala", "--password-file", &ala_pw]);
    assert!(e.contains("already exists"), "{e}");
    let names: Vec<Value> = p
        .json(&["user", "list"])
        .as_array()
        .unwrap()
        .iter()
        .map(|u| u["name"].clone())
        .collect();
    assert_eq!(names, vec![json!("Ala")], "a refused user was added");
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Nieznany",
        "--user-password-file",
        &ala_pw,
    ]);
    assert!(e.contains("no user named \"Nieznany\""), "{e}");
    let e = p.fails(&["user", "passwd", "Nieznany", "--password-file", &ala_pw]);
    assert!(e.contains("no user named \"Nieznany\""), "{e}");
    let out = p.run_stdin(&["user", "set-token", "Nieznany"], "whatever\n");
    assert!(!out.status.success());
    let e = p.fails(&["user", "remove", "Nieznany"]);
    assert!(e.contains("Nieznany"), "{e}");
    assert_eq!(before, snapshot(&p), "a failed command changed the store");

    // Expired challenge: the emulator gives 1 s here.
    let dir = tempfile::tempdir().unwrap();
    let out = p.json(&[
        "auth",
        "prepare",
        "--nip",
        nip.as_str(),
        "--dir",
        dir.path().to_str().unwrap(),
    ]);
    let prepared = out["file"].as_str().unwrap().to_string();
    let cred = make_test_certificate(
        &TestSubject::person_nip(nip.clone(), "Jan", "Spóźniony"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let signed = ksef_xades::signature::sign_enveloped(
        &std::fs::read_to_string(&prepared).unwrap(),
        &cred,
        &Default::default(),
    )
    .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(1500));
    let signed_path = write(dir.path(), "signed.xml", &signed);
    let e = p.fails(&["auth", "submit", &signed_path]);
    assert!(e.contains("21111"), "{e}");

    // Emulator down: the message names the URL.
    let down = Program::new(BIN, "http://127.0.0.1:9/v2");
    let e = down.fails(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &p12,
        "--password-file",
        &pw,
    ]);
    assert!(e.contains("127.0.0.1:9"), "{e}");
    let _ = ContextIdentifier::Nip(nip);
}

#[test]
fn demo_walks_the_seed_scenario() {
    let out = Command::new(BIN)
        .arg("demo")
        .env_remove("KSEF_BASE_URL")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "ksef demo failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(stdout.contains("behaved as the seed says"), "{stdout}");
}

/// A person with only CredentialsRead + InvoiceRead in a company (granted like ZAW-FA): may browse
/// tokens, may not revoke them, may not give a token a permission she lacks — refused by the
/// program before KSeF is called. Also covers PEM certificates and `--pesel`.
#[test]
fn person_with_credentials_read_only() {
    let emu = EmulatorProcess::start(
        BIN,
        &["--auth-delay-ms", "20", "--token-activation-ms", "50"],
    );
    let owner = Program::new(BIN, &emu.base_url);
    let clerk = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    let pesel = Pesel::random();
    let pw = write(files.path(), "pw.txt", "x\n");
    let owner_p12 = files.path().join("owner.p12").display().to_string();
    owner.ok(&[
        "cert",
        "new",
        "--nip",
        nip.as_str(),
        "--seal",
        "--out",
        &owner_p12,
        "--password-file",
        &pw,
    ]);
    owner.ok(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &owner_p12,
        "--password-file",
        &pw,
    ]);
    let g = owner.json(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceWrite",
        "--description",
        "Token właściciela",
    ]);
    let owner_token_ref = g["referenceNumber"].as_str().unwrap().to_string();

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let a = RawClient::new(&emu.base_url)
            .post(
                "/testdata/permissions",
                None,
                json!({"contextIdentifier":{"type":"Nip","value":nip.as_str()},
                       "authorizedIdentifier":{"type":"Pesel","value":pesel.as_str()},
                       "permissions":[{"permissionType":"CredentialsRead","description":"Przegląd uprawnień"},
                                      {"permissionType":"InvoiceRead","description":"Odczyt faktur"}]}),
            )
            .await;
        assert_eq!(a.status.as_u16(), 200);
    });
    let pem = files.path().join("clerk.pem").display().to_string();
    let key = files.path().join("clerk.key").display().to_string();
    clerk.ok(&[
        "cert",
        "new",
        "--pesel",
        pesel.as_str(),
        "--ec",
        "--pem",
        "--out",
        &pem,
    ]);
    clerk.ok(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &pem,
        "--key",
        &key,
    ]);

    let list = clerk.json(&["token", "list"]);
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|t| t["referenceNumber"] == owner_token_ref.as_str())
    );
    let e = clerk.fails(&["token", "revoke", &owner_token_ref]);
    assert!(e.contains("CredentialsManage"), "{e}");
    let e = clerk.fails(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead,InvoiceWrite",
        "--description",
        "Za dużo",
    ]);
    assert!(
        e.contains("InvoiceWrite") && e.contains("do not hold"),
        "{e}"
    );
    // Nothing was minted by the refused call; a token within her permissions works.
    assert_eq!(clerk.json(&["token", "list"]).as_array().unwrap().len(), 1);
    clerk.json(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead",
        "--description",
        "Odczyt faktur",
    ]);
    assert_eq!(clerk.json(&["token", "list"]).as_array().unwrap().len(), 2);
    // The owner's token is still Active.
    let shown = owner.json(&["token", "show", &owner_token_ref]);
    assert_eq!(shown["status"], "Active");
}

/// The owner gives a bookkeeper CredentialsRead with `ksef permission grant` (the real
/// `/permissions/persons/grants`, no test data): she can then log in to the company and list
/// tokens and permissions, may not grant; after `ksef permission revoke` she cannot log in.
#[test]
fn permissions_granted_and_revoked_with_the_cli() {
    let emu = EmulatorProcess::start(BIN, &["--auth-delay-ms", "20"]);
    let owner = Program::new(BIN, &emu.base_url);
    let clerk = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    let pesel = Pesel::random();
    let pw = write(files.path(), "pw.txt", "x\n");
    let owner_p12 = files.path().join("owner.p12").display().to_string();
    let clerk_p12 = files.path().join("clerk.p12").display().to_string();
    for (p, args) in [
        (
            &owner,
            vec!["--nip", nip.as_str(), "--seal", "--out", &owner_p12],
        ),
        (&clerk, vec!["--pesel", pesel.as_str(), "--out", &clerk_p12]),
    ] {
        let mut a = vec!["cert", "new", "--password-file", &pw];
        a.extend(args);
        p.ok(&a);
    }
    let login = |p: &Program, cert: &str| {
        p.run(&[
            "auth",
            "login",
            "--nip",
            nip.as_str(),
            "--cert",
            cert,
            "--password-file",
            &pw,
        ])
    };
    assert!(login(&owner, &owner_p12).status.success());
    // Before the grant the bookkeeper has no business in the company's context.
    assert!(!login(&clerk, &clerk_p12).status.success());

    // Bad input is named before KSeF is asked.
    let grant = |p: &Program, who: &str, perm: &str| {
        p.run(&[
            "permission",
            "grant",
            who,
            "--permission",
            perm,
            "--first-name",
            "Anna",
            "--last-name",
            "Nowak",
            "--description",
            "Księgowa — przegląd tokenów",
        ])
    };
    let out = grant(&owner, "123", "CredentialsRead");
    assert!(String::from_utf8_lossy(&out.stderr).contains("PESEL"));
    let out = grant(&owner, pesel.as_str(), "Owner");
    assert!(String::from_utf8_lossy(&out.stderr).contains("unknown permission"));

    let out = grant(&owner, pesel.as_str(), "CredentialsRead,InvoiceRead");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        stdout.contains("granted CredentialsRead, InvoiceRead"),
        "{stdout}"
    );

    assert!(login(&clerk, &clerk_p12).status.success());
    clerk.ok(&["token", "list"]);
    let listed = clerk.json(&["permission", "list"]);
    let mine: Vec<&Value> = listed
        .as_array()
        .unwrap()
        .iter()
        .filter(|p| p["authorizedIdentifier"]["value"] == pesel.as_str())
        .collect();
    assert_eq!(mine.len(), 2, "{listed:#}");
    let table = owner.ok(&["permission", "list"]);
    assert!(
        table.contains("Anna Nowak") && table.contains("CredentialsRead"),
        "{table}"
    );
    // CredentialsRead does not let her grant.
    let out = grant(&clerk, pesel.as_str(), "InvoiceWrite");
    assert!(!out.status.success());

    let read_id = mine
        .iter()
        .find(|p| p["permissionScope"] == "CredentialsRead")
        .map(|p| p["id"].as_str().unwrap().to_string())
        .unwrap();
    let revoked = owner.json(&["permission", "revoke", &read_id]);
    assert_eq!(revoked["statusCode"], 200, "{revoked:#}");
    // The id is gone: a second revocation is refused by KSeF.
    let err = owner.fails(&["permission", "revoke", &read_id]);
    assert!(err.contains("refused"), "{err}");
    let after = owner.json(&["permission", "list"]);
    assert!(
        after
            .as_array()
            .unwrap()
            .iter()
            .all(|p| p["id"] != read_id.as_str()),
        "{after:#}"
    );
    // InvoiceRead remains: she still logs in, but may no longer list permissions.
    assert!(login(&clerk, &clerk_p12).status.success());
    let err = clerk.fails(&["permission", "list"]);
    assert!(
        err.contains("403") || err.contains("CredentialsRead"),
        "{err}"
    );
}

/// A program user's password guards the KSeF token saved on the user: `auth login --user`
/// needs it (file or `KSEF_USER_PASSWORD`), a wrong one is refused with the attempts left and
/// changes nothing else, five in a row lock the user (even the right password is then refused),
/// another user's password does not open the token, and an administrator's reset removes the
/// token sealed under the old password. Neither passwords nor tokens reach the data dir.
#[test]
fn program_user_password_guards_the_saved_token() {
    let emu = EmulatorProcess::start(
        BIN,
        &["--auth-delay-ms", "20", "--token-activation-ms", "50"],
    );
    let p = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    p.login_owner(&nip, files.path());

    let anna_text = "Anna-hasło-2024!";
    let bartek_text = "Bartek-hasło-5678";
    let anna_pw = write(
        files.path(),
        "anna.txt",
        &format!("{anna_text}\nignored line\n"),
    );
    let bartek_pw = write(files.path(), "bartek.txt", &format!("{bartek_text}\n"));
    let wrong_pw = write(files.path(), "wrong.txt", "zupełnie-złe-hasło\n");
    p.ok(&[
        "user",
        "add",
        "Anna",
        "--password-file",
        &anna_pw,
        "--admin",
    ]);
    let out = p
        .cmd(&["user", "add", "Bartek", "--json"])
        .env("KSEF_USER_PASSWORD", bartek_text)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let added: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(added, json!({"added": "Bartek", "admin": false}));

    // (3) A 3-character password: refused, no user added.
    let short = write(files.path(), "short.txt", "abc\n");
    let e = p.fails(&["user", "add", "Cezary", "--password-file", &short]);
    assert!(e.contains("at least 8 characters"), "{e}");

    // A token generated and saved on Anna: no password needed (sealed to her public key).
    let g = p.json(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead",
        "--description",
        "Token Anny",
        "--save-to-user",
        "Anna",
    ]);
    let token = g["token"].as_str().unwrap().to_string();
    let reference = g["referenceNumber"].as_str().unwrap().to_string();
    p.ok(&["auth", "logout"]);
    let list = p.json(&["user", "list"]);
    let users = list.as_array().unwrap();
    assert_eq!(users.len(), 2, "{list:#}");
    let (anna, bartek) = (&users[0], &users[1]);
    assert_eq!(anna["name"], "Anna");
    assert_eq!(anna["admin"], true);
    assert_eq!(anna["hasPassword"], true);
    assert_eq!(anna["hasToken"], true);
    let firm = format!("Nip:{}", nip.as_str());
    let tokens = anna["tokens"].as_array().unwrap();
    assert_eq!(tokens.len(), 1, "{list:#}");
    assert_eq!(tokens[0]["firm"], firm.as_str());
    assert_eq!(tokens[0]["tokenReference"], reference.as_str());
    assert_eq!(tokens[0]["tokenContext"], format!("nip-{}", nip.as_str()));
    assert!(tokens[0]["tokenSetAt"].is_string(), "{list:#}");
    assert!(tokens[0]["token"].as_str().unwrap().contains(&reference));
    assert!(anna.get("tokenReference").is_none(), "{list:#}");
    assert!(anna["lockedUntil"].is_null());
    assert_eq!(bartek["name"], "Bartek");
    assert_eq!(bartek["admin"], false);
    assert_eq!(bartek["hasPassword"], true);
    assert_eq!(bartek["hasToken"], false);
    assert_eq!(bartek["tokens"], json!([]));
    let table = p.ok(&["user", "list"]);
    let header = table.lines().next().unwrap();
    for col in ["USER", "ADMIN", "FIRM", "STATUS", "TOKEN"] {
        assert!(header.contains(col), "{table}");
    }
    assert!(
        !table.contains(&token) && table.contains(&reference),
        "{table}"
    );

    // (1) No password at all: refused, naming both ways to give it (an empty variable is none).
    let logins = token_logins(&emu);
    let e = p.fails(&["auth", "login", "--user", "Anna"]);
    assert!(
        e.contains("--user-password-file") && e.contains("KSEF_USER_PASSWORD"),
        "{e}"
    );
    let out = p
        .cmd(&["auth", "login", "--user", "Anna"])
        .env("KSEF_USER_PASSWORD", "")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--user-password-file"));
    assert_eq!(
        list,
        p.json(&["user", "list"]),
        "a missing password counted"
    );

    // A wrong password: refused with the attempts left; nothing else changes, no session.
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &wrong_pw,
    ]);
    assert!(
        e.contains("wrong password") && e.contains("Anna") && e.contains("4 attempts left"),
        "{e}"
    );
    assert_eq!(
        list,
        p.json(&["user", "list"]),
        "a wrong password changed the user"
    );
    p.fails(&["auth", "status"]);

    // (4) Another user's password does not open Anna's token (and counts as a wrong one).
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &bartek_pw,
    ]);
    assert!(
        e.contains("wrong password") && e.contains("3 attempts left"),
        "{e}"
    );
    // Bartek's own password opens only Bartek, who holds no token.
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Bartek",
        "--user-password-file",
        &bartek_pw,
    ]);
    assert!(e.contains("Bartek") && e.contains("no KSeF token"), "{e}");
    assert_eq!(
        logins,
        token_logins(&emu),
        "KSeF was asked without a usable token"
    );
    p.fails(&["auth", "status"]);

    // The right password (here from the environment; names match case-insensitively) logs in
    // with Anna's token and resets the count of wrong ones.
    let out = p
        .cmd(&["auth", "login", "--user", "anna"])
        .env("KSEF_USER_PASSWORD", anna_text)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(token_logins(&emu), logins + 1);
    let st = p.json(&["auth", "status"]);
    assert_eq!(st["tokenSession"], true);
    assert_eq!(st["context"]["value"], nip.as_str());
    p.ok(&["auth", "logout"]);

    // Five wrong passwords in a row lock Anna; then even the right one is refused.
    for left in (1..=4).rev() {
        let e = p.fails(&[
            "auth",
            "login",
            "--user",
            "Anna",
            "--user-password-file",
            &wrong_pw,
        ]);
        assert!(
            e.contains("wrong password") && e.contains(&format!("{left} attempts left")),
            "{left}: {e}"
        );
    }
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &wrong_pw,
    ]);
    assert!(e.contains("Anna") && e.contains("locked"), "{e}");
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &anna_pw,
    ]);
    assert!(e.contains("Anna") && e.contains("locked"), "{e}");
    p.fails(&["auth", "status"]);
    let locked = p.json(&["user", "list"]);
    assert!(locked[0]["lockedUntil"].is_string(), "{locked:#}");
    assert_eq!(locked[0]["hasToken"], true, "{locked:#}");
    assert!(locked[1]["lockedUntil"].is_null(), "{locked:#}");
    let mut unlocked = locked.clone();
    unlocked[0]["lockedUntil"] = Value::Null;
    assert_eq!(list, unlocked, "the lock-out changed more than lockedUntil");
    // The lock-out is Anna's alone.
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Bartek",
        "--user-password-file",
        &bartek_pw,
    ]);
    assert!(e.contains("no KSeF token"), "{e}");
    assert_eq!(
        logins + 1,
        token_logins(&emu),
        "a refused login reached KSeF"
    );

    // (2) An unknown user: clear refusal.
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Zenon",
        "--user-password-file",
        &anna_pw,
    ]);
    assert!(e.contains("no user named \"Zenon\""), "{e}");

    // (5) Neither the passwords nor the token are in clear anywhere in the data dir.
    for secret in [
        anna_text,
        bartek_text,
        "zupełnie-złe-hasło",
        &token,
        &token[token.len() - 64..],
    ] {
        let hits = files_containing(&p, secret);
        assert!(hits.is_empty(), "{secret:?} in clear in {hits:?}");
    }

    // (4) An administrator's reset: the token sealed under the old password is removed (and
    // the message says so); the lock-out is cleared; the old password no longer works.
    let anna_new_pw = write(files.path(), "anna-new.txt", "Nowe-hasło-Anny-1\n");
    let out = p.ok(&["user", "passwd", "Anna", "--password-file", &anna_new_pw]);
    assert!(out.contains("token") && out.contains("removed"), "{out}");
    let after = p.json(&["user", "list"]);
    assert_eq!(after[0]["hasToken"], false, "{after:#}");
    assert_eq!(after[0]["tokens"], json!([]), "{after:#}");
    assert!(after[0]["lockedUntil"].is_null(), "{after:#}");
    assert_eq!(after[0]["hasPassword"], true, "{after:#}");
    assert_eq!(after[0]["admin"], true, "{after:#}");
    assert_eq!(after[1], list[1], "the reset touched another user");
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &anna_pw,
    ]);
    assert!(e.contains("wrong password"), "{e}");
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &anna_new_pw,
    ]);
    assert!(e.contains("no KSeF token"), "{e}");
    // A reset of a user holding no token removes nothing and says nothing of it.
    let out = p.json(&["user", "passwd", "Bartek", "--password-file", &bartek_pw]);
    assert_eq!(out["tokenRemoved"], false, "{out:#}");
    // A 3-character new password is refused and changes nothing.
    let before = snapshot(&p);
    let e = p.fails(&["user", "passwd", "Anna", "--password-file", &short]);
    assert!(e.contains("at least 8 characters"), "{e}");
    assert_eq!(before, snapshot(&p));
    p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &short,
    ]);

    // The token saved again (stdin) opens with the new password; the answer names its firm.
    let out = p.run_stdin(
        &["user", "set-token", "Anna", "--json"],
        &format!("{token}\n"),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let saved: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        saved,
        json!({"user": "Anna", "tokenSaved": true, "firm": firm})
    );
    p.ok(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &anna_new_pw,
    ]);
    assert_eq!(p.json(&["auth", "status"])["tokenSession"], true);
    p.ok(&["auth", "logout"]);
    for secret in [
        anna_text,
        "Nowe-hasło-Anny-1",
        bartek_text,
        &token[token.len() - 64..],
    ] {
        let hits = files_containing(&p, secret);
        assert!(hits.is_empty(), "{secret:?} in clear in {hits:?}");
    }
}

/// One program user holding KSeF tokens for two firms: `auth login --user` without a firm is
/// refused, naming `--nip` and both firms, without asking KSeF; `--nip` picks the firm's token
/// and opens a session in that firm's context. `firm add` names a firm (`firm list` shows it)
/// and saving a token adds its firm.
#[test]
fn user_with_tokens_for_two_firms_logs_in_with_nip_and_firms_are_listed() {
    let emu = EmulatorProcess::start(
        BIN,
        &["--auth-delay-ms", "20", "--token-activation-ms", "50"],
    );
    let p = Program::new(BIN, &emu.base_url);
    let (files1, files2) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let (nip1, nip2) = (Nip::random(), Nip::random());
    let (firm1, firm2) = (
        format!("Nip:{}", nip1.as_str()),
        format!("Nip:{}", nip2.as_str()),
    );
    assert_eq!(p.json(&["firm", "list"]), json!([]));
    assert!(p.ok(&["firm", "list"]).contains("no firms yet"));

    // A firm added by hand, then renamed.
    let added = p.json(&[
        "firm",
        "add",
        "--nip",
        nip1.as_str(),
        "--name",
        "  Alfa sp. z o.o.",
    ]);
    assert_eq!(added, json!({"context": firm1, "name": "Alfa sp. z o.o."}));
    p.ok(&["firm", "add", "--nip", nip1.as_str(), "--name", "Alfa S.A."]);
    let e = p.fails(&["firm", "add", "--nip", "123", "--name", "Zła"]);
    assert!(!e.is_empty());
    let e = p.fails(&["firm", "add", "--nip", nip2.as_str(), "--name", "   "]);
    assert!(e.contains("firm name"), "{e}");
    let firms = p.json(&["firm", "list"]);
    assert_eq!(firms.as_array().unwrap().len(), 1, "{firms:#}");
    assert_eq!(firms[0]["context"], firm1.as_str());
    assert_eq!(firms[0]["name"], "Alfa S.A.");
    assert!(firms[0]["createdAt"].is_string());

    let anna_pw = write(files1.path(), "anna.txt", "Anna-hasło-2024!\n");
    p.ok(&[
        "user",
        "add",
        "Anna",
        "--password-file",
        &anna_pw,
        "--admin",
    ]);
    // A token per firm, each generated in that firm's context and saved on Anna.
    let mut tokens = Vec::new();
    for (nip, files) in [(&nip1, &files1), (&nip2, &files2)] {
        p.login_owner(nip, files.path());
        let g = p.json(&[
            "token",
            "generate",
            "--permissions",
            "InvoiceRead",
            "--description",
            "Token Anny",
            "--save-to-user",
            "Anna",
        ]);
        tokens.push(g["referenceNumber"].as_str().unwrap().to_string());
        p.ok(&["auth", "logout"]);
    }
    let list = p.json(&["user", "list"]);
    let held = list[0]["tokens"].as_array().unwrap();
    assert_eq!(held.len(), 2, "{list:#}");
    let firm_refs: Vec<(String, String)> = held
        .iter()
        .map(|t| {
            (
                t["firm"].as_str().unwrap().to_string(),
                t["tokenReference"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert!(
        firm_refs.contains(&(firm1.clone(), tokens[0].clone())),
        "{list:#}"
    );
    assert!(
        firm_refs.contains(&(firm2.clone(), tokens[1].clone())),
        "{list:#}"
    );
    // The second firm was added by saving its token (named by its NIP); the first keeps its name.
    let firms = p.json(&["firm", "list"]);
    assert_eq!(firms.as_array().unwrap().len(), 2, "{firms:#}");
    let name_of = |ctx: &str| {
        firms
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["context"] == ctx)
            .map(|f| f["name"].as_str().unwrap().to_string())
    };
    assert_eq!(name_of(&firm1).as_deref(), Some("Alfa S.A."));
    assert_eq!(name_of(&firm2).as_deref(), Some(nip2.as_str()));
    let table = p.ok(&["firm", "list"]);
    assert!(table.contains(&firm1) && table.contains("Alfa S.A.") && table.contains(&firm2));

    // No firm named: refused, naming --nip and both firms; KSeF not asked.
    let logins = token_logins(&emu);
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--user-password-file",
        &anna_pw,
    ]);
    assert!(
        e.contains("--nip") && e.contains(&firm1) && e.contains(&firm2) && e.contains("Anna"),
        "{e}"
    );
    assert_eq!(logins, token_logins(&emu), "KSeF was asked without a firm");
    p.fails(&["auth", "status"]);
    // A firm Anna holds no token for.
    let other = Nip::random();
    let e = p.fails(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--nip",
        other.as_str(),
        "--user-password-file",
        &anna_pw,
    ]);
    assert!(
        e.contains("no KSeF token for") && e.contains(other.as_str()),
        "{e}"
    );
    assert_eq!(logins, token_logins(&emu));

    // --nip picks each firm's token: the session opens in that firm's context.
    for (i, nip) in [&nip2, &nip1].into_iter().enumerate() {
        p.ok(&[
            "auth",
            "login",
            "--user",
            "Anna",
            "--nip",
            nip.as_str(),
            "--user-password-file",
            &anna_pw,
        ]);
        assert_eq!(token_logins(&emu), logins + i + 1);
        let st = p.json(&["auth", "status"]);
        assert_eq!(st["tokenSession"], true, "{st:#}");
        assert_eq!(st["context"]["value"], nip.as_str(), "{st:#}");
        p.ok(&["auth", "logout"]);
    }

    // --nip on the register's commands. `invoice list --nip` reads a firm's register without
    // a session; a NIP that is no firm of the program is an error naming the firms.
    assert_eq!(
        p.json(&["invoice", "list", "--nip", nip2.as_str()]),
        json!([])
    );
    let stranger = Nip::random();
    let e = p.fails(&["invoice", "list", "--nip", stranger.as_str()]);
    assert!(
        e.contains(stranger.as_str()) && e.contains(&firm1) && e.contains(&firm2),
        "{e}"
    );
    // With a session of firm 1, sync and send for firm 2 are refused before KSeF is asked.
    p.ok(&[
        "auth",
        "login",
        "--user",
        "Anna",
        "--nip",
        nip1.as_str(),
        "--user-password-file",
        &anna_pw,
    ]);
    let e = p.fails(&["sync", "--nip", nip2.as_str()]);
    assert!(e.contains(&firm1) && e.contains(&firm2), "{e}");
    let file = write(files2.path(), "f.xml", "<Faktura/>");
    let e = p.fails(&["invoice", "send", "--nip", nip2.as_str(), &file]);
    assert!(e.contains(&firm1) && e.contains(&firm2), "{e}");
    // For its own firm, sync runs and fills that firm's register only.
    let synced = p.json(&["sync", "--nip", nip1.as_str()]);
    assert_eq!(synced["downloaded"], 0, "{synced:#}");
    assert_eq!(
        p.json(&["invoice", "list", "--nip", nip1.as_str()]),
        json!([])
    );
    p.ok(&["auth", "logout"]);
}
