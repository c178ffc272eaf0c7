//! `ksef demo`: the seed's whole scenario, narrated, against an in-process emulator on a temporary
//! data dir. Exits 0 only if every step behaved as the seed says.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use ksef_core::{ContextIdentifier, Nip, TokenPermission};
use ksef_crypto::KeyAlgorithm;
use ksef_crypto::testcert::{TestSubject, make_test_certificate};
use ksef_emulator::EmulatorConfig;

use crate::app::{App, CliError, CliResult, Settings};
use crate::cmd::{auth, token};

struct Narrator {
    step: usize,
    started: Instant,
}

impl Narrator {
    fn step(&mut self, text: &str) {
        self.step += 1;
        println!("\n[{:>2}] {text}", self.step);
    }
    fn ok(&self, text: &str) {
        println!("     ✓ {text}");
    }
}

fn expect(cond: bool, what: &str) -> CliResult<()> {
    if cond {
        Ok(())
    } else {
        Err(CliError::DemoStep(what.to_string()))
    }
}

/// Files of `dir` (recursively) that contain `needle`.
fn files_containing(dir: &std::path::Path, needle: &[u8]) -> Vec<std::path::PathBuf> {
    let mut hits = Vec::new();
    let Ok(entries) = std::fs::read_dir(dir) else {
        return hits;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            hits.extend(files_containing(&p, needle));
        } else if let Ok(bytes) = std::fs::read(&p)
            && bytes.windows(needle.len()).any(|w| w == needle)
        {
            hits.push(p);
        }
    }
    hits
}

pub async fn run() -> CliResult<()> {
    let mut n = Narrator {
        step: 0,
        started: Instant::now(),
    };
    let work = tempfile::tempdir().map_err(|source| CliError::Io {
        action: "create a temporary directory",
        source,
    })?;
    println!(
        "KSeF demo: the accounting program's token workflow (Generuj token KSeF, Tokeny KSeF, Użytkownicy)"
    );
    println!(
        "against a local KSeF 2.0 emulator with real cryptography. Working directory: {}",
        work.path().display()
    );

    n.step("Starting the local KSeF emulator");
    let mut config = EmulatorConfig::new(work.path().join("emulator"));
    config.auth_processing_delay = Duration::from_millis(200);
    config.token_activation_delay = Duration::from_millis(500);
    let emu = ksef_emulator::spawn(config, SocketAddr::from(([127, 0, 0, 1], 0))).await?;
    n.ok(&format!("KSeF API at {}", emu.base_url()));
    let settings = Settings {
        base_url: emu.base_url(),
        data_dir: work.path().join("program"),
        json: false,
    };
    let mut app = App::new(settings)?;

    n.step("Making a self-signed test certificate for a new company (as on KSeF TEST)");
    let nip = Nip::random();
    let context = ContextIdentifier::Nip(nip.clone());
    let cred = make_test_certificate(
        &TestSubject::person_nip(nip.clone(), "Anna", "Właścicielka"),
        KeyAlgorithm::EcP256,
    )?;
    n.ok(&format!(
        "owner Anna Właścicielka, NIP {nip} (serialNumber TINPL-{nip}), EC P-256"
    ));

    n.step("Konfiguracja › KSeF › Generuj token KSeF: logging in with the certificate (XAdES signature)");
    let s = auth::login_with_certificate(&mut app, context.clone(), &cred, false).await?;
    n.ok(&format!(
        "KSeF session {} ({})",
        s.session.reference_number,
        s.session.authentication_method.as_deref().unwrap_or("?")
    ));

    n.step("Konfiguracja › Użytkownicy: adding program user \"Księgowa\" with a password");
    // A throwaway password for this demo's temporary store.
    let password = ksef_crypto::Zeroizing::new(hex::encode(rand::random::<[u8; 12]>()));
    app.store()
        .await?
        .add_user("Księgowa", &password, true)
        .await?;
    n.ok("user added (the password protects the user's KSeF token)");

    n.step("Nadaj uprawnienia KSeF: name \"Wystawianie faktur\", InvoiceRead + InvoiceWrite → Dodaj, Zapisz");
    let g = token::generate(
        &mut app,
        &[TokenPermission::InvoiceRead, TokenPermission::InvoiceWrite],
        "Wystawianie faktur",
        Some("Księgowa"),
    )
    .await?;
    n.ok(&format!(
        "token {} is Active; shown once, saved on \"Księgowa\"",
        g.reference_number
    ));

    n.step("Checking that the saved token is encrypted at rest");
    let hits = files_containing(&work.path().join("program"), g.token.as_bytes());
    expect(hits.is_empty(), &format!("token text found in {hits:?}"))?;
    let users = app.store().await?.list_users().await?;
    let masked = users
        .iter()
        .find(|u| u.name == "Księgowa")
        .and_then(|u| u.tokens.first().map(|t| t.masked.clone()))
        .unwrap_or_default();
    expect(
        !masked.is_empty() && !masked.contains(g.token.as_str()),
        "user list must show a masked token",
    )?;
    n.ok(&format!(
        "no file of the program's data dir contains the token; the users list shows {masked}"
    ));

    n.step("Konfiguracja › KSeF › Tokeny KSeF: listing the entity's tokens");
    let list = token::list(&mut app, &[]).await?;
    expect(
        list.iter()
            .any(|t| t.reference_number == g.reference_number && t.status.as_str() == "Active"),
        "the new token is listed as Active",
    )?;
    n.ok(&format!(
        "{} token(s); ours is Active, author Nip {nip}",
        list.len()
    ));

    n.step("Zamknij: closing the certificate session");
    auth::logout(&mut app).await?;
    n.ok("session ended (DELETE /auth/sessions/current)");

    n.step("Logging in with the KSeF token saved on \"Księgowa\" (the preferred daily session)");
    let store = app.store().await?.clone();
    let ksiegowa = ksef_program::users::log_in(&store, "Księgowa", &password).await?;
    let ts = auth::login_with_user(&mut app, &ksiegowa, None).await?;
    expect(ts.session.is_token_session(), "a token session")?;
    n.ok(&format!("token session {}", ts.session.reference_number));

    n.step("A token session must not mint tokens (the seed: \"Sesja z tokenem nie może generować kolejnych podtokenów\")");
    let local = token::generate(&mut app, &[TokenPermission::InvoiceRead], "Podtoken", None).await;
    expect(local.is_err(), "the program refuses before calling KSeF")?;
    n.ok("refused by the program before calling KSeF");
    let remote = app
        .client
        .generate_token(
            ts.session.access_token.expose_secret(),
            &[TokenPermission::InvoiceRead],
            "Podtoken",
        )
        .await;
    let refused = matches!(&remote, Err(ksef_client::KsefError::Api { status: 403, reason_code: Some(r), .. }) if r == "auth-method-not-allowed");
    expect(
        refused,
        &format!("KSeF must answer 403 auth-method-not-allowed, got {remote:?}"),
    )?;
    n.ok("and refused by KSeF itself: 403 auth-method-not-allowed");
    let browse = token::list(&mut app, &[]).await;
    expect(
        browse.is_err(),
        "a token session cannot browse tokens in the program",
    )?;
    n.ok("browsing tokens from the token session is refused too");
    auth::logout(&mut app).await?;

    n.step("Tokeny KSeF › Usuń: revoking the token in a certificate session (CredentialsManage)");
    auth::login_with_certificate(&mut app, context.clone(), &cred, false).await?;
    token::revoke(&mut app, &g.reference_number).await?;
    let shown = token::show(&mut app, &g.reference_number).await?;
    expect(
        matches!(shown.status.as_str(), "Revoking" | "Revoked"),
        "token revoked",
    )?;
    n.ok(&format!(
        "token {} is {}",
        g.reference_number,
        shown.status.as_str()
    ));
    auth::logout(&mut app).await?;

    n.step("The revoked token no longer opens a session");
    let again = auth::login_with_user(&mut app, &ksiegowa, None).await;
    let refused_locally = matches!(
        &again,
        Err(ksef_program::ProgramError::User(
            ksef_program::users::UserError::TokenUnusable { .. }
        ))
    );
    expect(
        refused_locally,
        &format!(
            "the program must know the token is revoked, got {:?}",
            again.as_ref().err()
        ),
    )?;
    let direct = app.client.login_with_ksef_token(&g.token, &context).await;
    let failed_450 = matches!(
        &direct,
        Err(ksef_client::KsefError::AuthenticationFailed { code: 450, .. })
    );
    expect(
        failed_450,
        &format!(
            "login with a revoked token must end with status 450, got {:?}",
            direct.as_ref().err()
        ),
    )?;
    n.ok("the program no longer offers it, and KSeF ends such a login with status 450 (Token unieważniony)");

    emu.shutdown().await;
    println!(
        "\nAll {} steps behaved as the seed says ({:.1} s).",
        n.step,
        n.started.elapsed().as_secs_f64()
    );
    Ok(())
}
