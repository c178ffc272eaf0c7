//! End to end against the `ksef emulator` binary on a random loopback port: the acceptance
//! scenario of the emulator issue, driven by a raw JSON client (as a third-party client would),
//! plus the same scenario driven by a pinned third-party Python KSeF SDK (tests/third_party).

use std::process::{Command, Stdio};
use std::time::Duration;

use ksef_core::{ContextIdentifier, Nip};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_testkit::{EmulatorProcess, RawClient, first_line};
use reqwest::{Method, StatusCode};
use serde_json::json;

fn start_emulator(extra: &[&str]) -> EmulatorProcess {
    let mut args = vec!["--auth-delay-ms", "150", "--token-activation-ms", "300"];
    args.extend_from_slice(extra);
    EmulatorProcess::start(env!("CARGO_BIN_EXE_ksef"), &args)
}

#[tokio::test]
async fn acceptance_scenario_over_http() {
    let emu = start_emulator(&[]);
    let c = RawClient::new(&emu.base_url);

    // 1. Public keys: both usages, ids as specified.
    let keys = c
        .call(Method::GET, "/security/public-key-certificates", None, None)
        .await;
    assert_eq!(keys.status, StatusCode::OK);
    let list = keys.body.as_array().expect("array");
    assert_eq!(list.len(), 2);
    for k in list {
        for f in [
            "certificate",
            "certificateId",
            "publicKeyId",
            "validFrom",
            "validTo",
            "usage",
        ] {
            assert!(!k[f].is_null(), "missing {f}");
        }
        assert_eq!(k["publicKeyId"].as_str().unwrap().len(), 44);
    }

    // 2. XAdES login with a self-signed certificate, status 100 → 200, redeem once, refresh.
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let cert = make_test_certificate(
        &TestSubject::person_nip(nip.clone(), "Jan", "Kowalski"),
        KeyAlgorithm::Rsa2048,
    )
    .unwrap();
    let signed = c
        .signed_request(
            &cert,
            &ctx,
            ksef_xades::auth_request::SubjectIdentifierType::CertificateSubject,
        )
        .await;
    let init = c.post_xades(signed.as_bytes()).await;
    assert_eq!(init.status, StatusCode::ACCEPTED, "{:?}", init.body);
    let auth_ref = init.body["referenceNumber"].as_str().unwrap().to_string();
    let auth_token = init.body["authenticationToken"]["token"]
        .as_str()
        .unwrap()
        .to_string();
    let first = c.get(&format!("/auth/{auth_ref}"), &auth_token).await;
    assert_eq!(
        first.body["status"]["code"], 100,
        "processing first: {:?}",
        first.body
    );
    assert_eq!(
        first.body["status"]["description"],
        "Uwierzytelnianie w toku"
    );
    let owner = c.finish_login(&init).await.expect("owner login");
    let again = c
        .call(Method::POST, "/auth/token/redeem", Some(&auth_token), None)
        .await;
    assert_eq!(
        again.exception_code(),
        Some(21301),
        "second redeem: {:?}",
        again.body
    );
    let refreshed = c.refresh(&owner.refresh_token).await;
    assert_eq!(refreshed.status, StatusCode::OK);
    let access = refreshed.body["accessToken"]["token"]
        .as_str()
        .unwrap()
        .to_string();

    // 3. Create a token, see it Pending, then Active, then in the list.
    let created =
        c.post("/tokens", Some(&access), json!({"permissions":["InvoiceRead","InvoiceWrite"],"description":"Wystawianie faktur"})).await;
    assert_eq!(created.status, StatusCode::ACCEPTED, "{:?}", created.body);
    let token_ref = created.body["referenceNumber"]
        .as_str()
        .unwrap()
        .to_string();
    let token = created.body["token"].as_str().unwrap().to_string();
    assert!(
        token.starts_with(&format!("{token_ref}|nip-{nip}|")),
        "{token_ref}"
    );
    let pending = c.get(&format!("/tokens/{token_ref}"), &access).await;
    assert_eq!(pending.body["status"], "Pending");
    tokio::time::sleep(Duration::from_millis(400)).await;
    let active = c.get(&format!("/tokens/{token_ref}"), &access).await;
    assert_eq!(active.body["status"], "Active", "{:?}", active.body);
    assert_eq!(active.body["authorIdentifier"]["type"], "Nip");
    assert_eq!(active.body["authorIdentifier"]["value"], nip.as_str());
    let listed = c.get("/tokens?status=Active", &access).await;
    assert!(
        listed.body["tokens"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t["referenceNumber"] == token_ref.as_str())
    );

    // 4. Log in with the token; the token session may not mint tokens.
    let tsess = c.login_with_token(&token, &ctx).await.expect("token login");
    let refused = c
        .post(
            "/tokens",
            Some(&tsess.access_token),
            json!({"permissions":["InvoiceRead"],"description":"Podtoken"}),
        )
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    assert_eq!(refused.reason_code(), Some("auth-method-not-allowed"));
    let used = c.get(&format!("/tokens/{token_ref}"), &access).await;
    assert!(
        used.body["lastUseDate"].is_string(),
        "lastUseDate set: {:?}",
        used.body
    );

    // 5. Revoke it with the certificate session; it can no longer log in.
    let revoked = c.delete(&format!("/tokens/{token_ref}"), &access).await;
    assert_eq!(revoked.status, StatusCode::NO_CONTENT);
    let err = c
        .login_with_token(&token, &ctx)
        .await
        .expect_err("revoked token");
    assert_eq!(err["status"]["code"], 450);
    assert_eq!(err["status"]["details"][0], "Token unieważniony");
}

#[tokio::test]
async fn state_survives_restart() {
    let dir = tempfile::tempdir().unwrap();
    let run = |dir: &std::path::Path| {
        let mut child = Command::new(env!("CARGO_BIN_EXE_ksef"))
            .args([
                "emulator",
                "--port",
                "0",
                "--auth-delay-ms",
                "0",
                "--token-activation-ms",
                "0",
                "--data",
            ])
            .arg(dir)
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let line = first_line(&mut child);
        let url = line
            .trim()
            .trim_start_matches("KSeF emulator listening on ")
            .to_string();
        (child, url)
    };
    let nip = Nip::random();
    let ctx = ContextIdentifier::Nip(nip.clone());
    let cert = make_test_certificate(
        &TestSubject::seal(nip, "Spółka Testowa"),
        KeyAlgorithm::EcP256,
    )
    .unwrap();
    let (mut child, url) = run(dir.path());
    let c = RawClient::new(&url);
    let (pk_before, _) = c.public_key("KsefTokenEncryption").await;
    let s = c.login_with_certificate(&cert, &ctx).await.expect("login");
    let (token_ref, token) = c
        .generate_active_token(&s.access_token, &["InvoiceRead"], "Przetrwa restart")
        .await;
    child.kill().unwrap();
    child.wait().unwrap();

    let (mut child, url) = run(dir.path());
    let c = RawClient::new(&url);
    let (pk_after, _) = c.public_key("KsefTokenEncryption").await;
    assert_eq!(pk_before, pk_after, "keys persist");
    // The refresh token issued before the restart still works, and so does the KSeF token.
    let r = c.refresh(&s.refresh_token).await;
    assert_eq!(r.status, StatusCode::OK, "{:?}", r.body);
    let t = c
        .login_with_token(&token, &ctx)
        .await
        .expect("token login after restart");
    let me = c
        .get(&format!("/tokens/{token_ref}"), &t.access_token)
        .await;
    assert_eq!(me.body["status"], "Active");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// The acceptance scenario driven by a third-party Python KSeF SDK that was never written for
/// this emulator (see tests/third_party/README.md). `scripts/test.sh` prepares its venv and
/// exports KSEF_THIRD_PARTY_PYTHON.
#[test]
fn third_party_client_scenario() {
    let Ok(python) = std::env::var("KSEF_THIRD_PARTY_PYTHON") else {
        panic!(
            "KSEF_THIRD_PARTY_PYTHON is not set: run the tests with scripts/test.sh, which installs the \
             pinned third-party client (tests/third_party/requirements.txt) into a venv"
        );
    };
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../tests/third_party/scenario.py"
    );
    let emu = start_emulator(&[]);
    // Default variant (RSA person certificate, schema 2.1), then EC seal on schema 2.0 with
    // Problem Details errors and an explicit verifyCertificateChain=false.
    let variants: [&[&str]; 2] = [
        &[],
        &[
            "--subject",
            "seal",
            "--key",
            "ec",
            "--schema-version",
            "2.0",
            "--verify-certificate-chain",
            "false",
            "--problem-details",
        ],
    ];
    for extra in variants {
        let work = tempfile::tempdir().unwrap();
        let out = Command::new(&python)
            .arg(script)
            .args(["--base-url", &emu.base_url, "--workdir"])
            .arg(work.path())
            .args(extra)
            .output()
            .expect("run the third-party scenario");
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        println!("{stdout}");
        assert!(
            out.status.success(),
            "third-party scenario {extra:?} failed:\n{stdout}\n{stderr}"
        );
        assert!(stdout.contains("16 passed, 0 failed"), "{stdout}");
    }
}

/// Issue 11 item 8: `--trusted-ca` switches the simulated Profil Zaufany signing service off
/// unless `--simulated-trusted-profile` asks for it.
#[tokio::test]
async fn trusted_ca_switches_the_signing_simulator_off_unless_asked_for() {
    let dir = tempfile::tempdir().unwrap();
    let ca = ksef_crypto::ca::make_ca("Firmowe CA", KeyAlgorithm::EcP256).unwrap();
    let ca_file = dir.path().join("ca.pem");
    std::fs::write(&ca_file, ca.certificate_pem().unwrap()).unwrap();
    let ca_file = ca_file.to_str().unwrap();
    for (extra, expected) in [
        (vec![], StatusCode::OK),
        (vec!["--trusted-ca", ca_file], StatusCode::NOT_FOUND),
        (
            vec!["--trusted-ca", ca_file, "--simulated-trusted-profile"],
            StatusCode::OK,
        ),
        (
            vec!["--trusted-ca", ca_file, "--simulated-trusted-profile=off"],
            StatusCode::NOT_FOUND,
        ),
        (
            vec!["--simulated-trusted-profile", "off"],
            StatusCode::NOT_FOUND,
        ),
    ] {
        let emu = start_emulator(&extra);
        let root = emu.base_url.trim_end_matches("/v2");
        let page = ksef_testkit::http_client()
            .get(format!("{root}/symulator-podpisu"))
            .send()
            .await
            .unwrap();
        assert_eq!(page.status(), expected, "{extra:?}");
    }
}

/// Issue 11 item 10: a data directory that cannot be written stops `ksef emulator` at once
/// with a message naming it (procfs: not writable for root either).
#[cfg(target_os = "linux")]
#[test]
fn read_only_data_directory_exits_with_a_clear_message() {
    let out = Command::new(env!("CARGO_BIN_EXE_ksef"))
        .args(["emulator", "--port", "0", "--data", "/proc/self/fdinfo"])
        .stdin(Stdio::null())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(!out.status.success(), "{stderr}");
    assert!(
        stderr.contains("the data directory /proc/self/fdinfo is not writable"),
        "{stderr}"
    );
}
