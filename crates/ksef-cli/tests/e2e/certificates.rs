//! `ksef cert enroll|list|revoke` end to end: the `ksef` binary against a `ksef emulator`
//! process. An owner logs in with a self-signed seal, gets a KSeF certificate into a .p12,
//! logs in with it, sees it Active, revokes it and can no longer log in with it; a session
//! opened with a KSeF token is refused by KSeF with its code named.

use std::path::Path;

use ksef_core::Nip;
use ksef_testkit::EmulatorProcess;
use ksef_testkit::cli::Program;
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ksef");

fn write(dir: &Path, name: &str, text: &str) -> String {
    let p = dir.join(name);
    std::fs::write(&p, text).unwrap();
    p.display().to_string()
}

#[test]
fn enroll_login_list_revoke_and_token_session_refused() {
    let emu = EmulatorProcess::start(
        BIN,
        &["--auth-delay-ms", "20", "--token-activation-ms", "50"],
    );
    let k = Program::new(BIN, &emu.base_url);
    let files = tempfile::tempdir().unwrap();
    let nip = Nip::random();
    let seal_pw = write(files.path(), "seal.txt", "hasło-pieczęci\n");
    let ksef_pw_text = "Hasło do certyfikatu KSeF 42";
    let ksef_pw = write(files.path(), "ksef.txt", &format!("{ksef_pw_text}\n"));
    let seal = files.path().join("seal.p12").display().to_string();
    let issued = files.path().join("ksef.p12");
    let issued_s = issued.display().to_string();

    // The owner logs in with a self-signed seal.
    k.ok(&[
        "cert",
        "new",
        "--nip",
        nip.as_str(),
        "--seal",
        "--out",
        &seal,
        "--password-file",
        &seal_pw,
    ]);
    k.ok(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &seal,
        "--password-file",
        &seal_pw,
    ]);

    // A bad name is refused before anything is requested or written.
    let e = k.fails(&[
        "cert",
        "enroll",
        "--name",
        "ab",
        "--out",
        &issued_s,
        "--password-file",
        &ksef_pw,
    ]);
    assert!(e.contains("certificateName"), "{e}");
    assert!(!issued.exists());
    let limits = k.json(&["cert", "limits"]);
    assert_eq!(
        limits["enrollment"]["remaining"],
        limits["enrollment"]["limit"]
    );

    // Enrollment: a KSeF certificate with a fresh EC key, in a password-protected PKCS#12.
    let out = k.ok(&[
        "cert",
        "enroll",
        "--name",
        "Pieczęć firmy-1",
        "--ec",
        "--out",
        &issued_s,
        "--password-file",
        &ksef_pw,
        "--json",
    ]);
    assert!(!out.contains(ksef_pw_text), "the password was printed");
    assert!(!out.contains("PRIVATE KEY"), "the key was printed");
    let done: Value = serde_json::from_str(&out).unwrap();
    let serial = done["serialNumber"].as_str().unwrap().to_string();
    assert!(ksef_wire::is_certificate_serial_number(&serial), "{done}");
    assert_eq!(done["certificateType"], "Authentication");
    assert_eq!(done["name"], "Pieczęć firmy-1");
    let p12 = std::fs::read(&issued).unwrap();
    let cred = ksef_crypto::Credential::from_pkcs12(&p12, ksef_pw_text).unwrap();
    assert_eq!(cred.fingerprint(), done["fingerprint"].as_str().unwrap());
    let info = cred.info().unwrap();
    assert_eq!(info.serial_number_hex.to_uppercase(), serial);
    assert_eq!(info.nip.as_ref(), Some(&nip), "{}", info.subject_dn);
    assert!(info.issuer_dn.contains("KSeF CA"), "{}", info.issuer_dn);
    assert!(ksef_crypto::Credential::from_pkcs12(&p12, "złe hasło").is_err());
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&issued).unwrap().permissions().mode();
        assert_eq!(mode & 0o077, 0, "the .p12 is readable by others: {mode:o}");
    }
    // An existing file is never overwritten.
    let e = k.fails(&[
        "cert",
        "enroll",
        "--name",
        "Druga pieczęć",
        "--out",
        &issued_s,
        "--password-file",
        &ksef_pw,
    ]);
    assert!(e.contains("already exists"), "{e}");
    assert_eq!(std::fs::read(&issued).unwrap(), p12);

    // An Offline certificate with the default RSA-2048 key, as PEM files.
    let pem = files.path().join("offline.pem");
    let offline = k.json(&[
        "cert",
        "enroll",
        "--name",
        "Certyfikat offline",
        "--type",
        "offline",
        "--pem",
        "--out",
        &pem.display().to_string(),
    ]);
    assert_eq!(offline["certificateType"], "Offline", "{offline}");
    let key_pem = std::fs::read_to_string(files.path().join("offline.key")).unwrap();
    let cert_pem = std::fs::read_to_string(&pem).unwrap();
    let offline_cred = ksef_crypto::Credential::from_pem(&key_pem, &cert_pem).unwrap();
    assert_eq!(
        offline_cred.algorithm().unwrap(),
        ksef_crypto::KeyAlgorithm::Rsa2048
    );

    // A KSeF certificate login with the issued certificate.
    let login = k.json(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &issued_s,
        "--password-file",
        &ksef_pw,
    ]);
    assert_eq!(login["context"]["value"], nip.as_str(), "{login}");

    let list = k.json(&["cert", "list"]);
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["certificateSerialNumber"] == serial.as_str())
        .unwrap_or_else(|| panic!("{serial} not listed: {list}"));
    assert_eq!(mine["status"], "Active", "{mine}");
    assert_eq!(mine["type"], "Authentication");
    assert_eq!(mine["name"], "Pieczęć firmy-1");
    assert!(
        list.as_array()
            .unwrap()
            .iter()
            .any(|c| c["certificateSerialNumber"] == offline["serialNumber"]
                && c["type"] == "Offline"),
        "{list}"
    );
    assert!(
        mine["lastUseDate"].is_string(),
        "login not recorded: {mine}"
    );
    assert!(k.ok(&["cert", "list"]).contains(&serial));

    // Revocation; the certificate no longer logs in.
    k.ok(&["cert", "revoke", &serial.to_lowercase()]);
    let list = k.json(&["cert", "list"]);
    let mine = list
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["certificateSerialNumber"] == serial.as_str())
        .unwrap();
    assert_eq!(mine["status"], "Revoked", "{list}");
    let e = k.fails(&["cert", "revoke", &serial]);
    assert!(e.contains("25009"), "{e}");
    let e = k.fails(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &issued_s,
        "--password-file",
        &ksef_pw,
    ]);
    assert!(e.contains("460") && e.contains("odwołany"), "{e}");

    // A session opened with a KSeF token: KSeF refuses the enrollment (25001), named clearly.
    k.ok(&[
        "auth",
        "login",
        "--nip",
        nip.as_str(),
        "--cert",
        &seal,
        "--password-file",
        &seal_pw,
    ]);
    let user_pw = write(files.path(), "ksiegowa.txt", "hasło księgowej 1\n");
    k.ok(&["user", "add", "Księgowa", "--password-file", &user_pw]);
    k.ok(&[
        "token",
        "generate",
        "--permissions",
        "InvoiceRead",
        "--description",
        "Token księgowej",
        "--save-to-user",
        "Księgowa",
    ]);
    k.ok(&[
        "auth",
        "login",
        "--user",
        "Księgowa",
        "--user-password-file",
        &user_pw,
    ]);
    let other = files.path().join("token.p12");
    let e = k.fails(&[
        "cert",
        "enroll",
        "--name",
        "Z tokenu",
        "--out",
        &other.display().to_string(),
        "--password-file",
        &ksef_pw,
    ]);
    assert!(e.contains("25001") && e.contains("KSeF token"), "{e}");
    assert!(!other.exists());
}
