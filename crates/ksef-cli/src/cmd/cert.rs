//! `ksef cert new`: self-signed test certificates (TEST environment and the local emulator).
//! `ksef cert enroll|list|revoke|limits`: KSeF certificates of the logged-in subject
//! (digest §14) — requested with a fresh key, saved as a password-protected PKCS#12 or PEM.

use std::path::PathBuf;

use clap::Args;
use ksef_crypto::KeyAlgorithm;
use ksef_program::certificates::{self, EnrollRequest, Output};

use crate::app::{App, CliError, CliResult, print_json, show_time};

#[derive(Args)]
pub struct CertNewArgs {
    /// NIP of a person (TINPL-…) or, with --seal, of an organisation (VATPL-…).
    #[arg(long, conflicts_with = "pesel")]
    nip: Option<String>,
    /// PESEL of a person (PNOPL-…).
    #[arg(long)]
    pesel: Option<String>,
    /// Make an organisation seal instead of a personal certificate (needs --nip).
    #[arg(long, requires = "nip")]
    seal: bool,
    /// Use an EC P-256 key instead of RSA-2048.
    #[arg(long)]
    ec: bool,
    /// Given name (personal certificates).
    #[arg(long, default_value = certificates::TEST_GIVEN_NAME)]
    given_name: String,
    /// Surname (personal certificates).
    #[arg(long, default_value = certificates::TEST_SURNAME)]
    surname: String,
    /// Organisation name (seals).
    #[arg(long, default_value = certificates::TEST_ORGANIZATION)]
    organization: String,
    /// Output file: PKCS#12 (.p12/.pfx) or, with --pem, the certificate PEM (key goes to <out>.key).
    #[arg(long)]
    out: PathBuf,
    /// File holding the PKCS#12 password (first line).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Write PEM files instead of PKCS#12.
    #[arg(long)]
    pem: bool,
}

fn read_password(path: &Option<PathBuf>) -> Result<String, String> {
    match path {
        Some(p) => {
            let text = std::fs::read_to_string(p)
                .map_err(|e| format!("cannot read password file {}: {e}", p.display()))?;
            Ok(text.lines().next().unwrap_or("").to_string())
        }
        None => Err("--password-file is required for PKCS#12 output (or use --pem)".into()),
    }
}

pub fn new(args: CertNewArgs, json: bool) -> Result<(), String> {
    if args.nip.is_none() && args.pesel.is_none() {
        return Err("give --nip or --pesel".into());
    }
    if args.seal && args.pesel.is_some() {
        return Err("--seal needs --nip (a seal carries VATPL-<NIP>)".into());
    }
    let req = certificates::TestCertificateRequest {
        nip: args.nip.clone(),
        pesel: args.pesel.clone(),
        seal: args.seal,
        given_name: args.given_name.clone(),
        surname: args.surname.clone(),
        organization: args.organization.clone(),
        key_algorithm: if args.ec {
            KeyAlgorithm::EcP256
        } else {
            KeyAlgorithm::Rsa2048
        },
    };
    let cred = certificates::new_test_credential(&req).map_err(|e| {
        // Name the option the value came from.
        let m = e.to_string();
        if m.starts_with("NIP ") {
            format!("--nip: {m}")
        } else if m.starts_with("PESEL ") {
            format!("--pesel: {m}")
        } else {
            m
        }
    })?;
    if args.pem {
        let key_path = args.out.with_extension("key");
        let cert_pem = cred.certificate_pem().map_err(|e| e.to_string())?;
        std::fs::write(&args.out, cert_pem).map_err(|e| format!("{}: {e}", args.out.display()))?;
        let key_pem = cred.key_pem().map_err(|e| e.to_string())?;
        write_private(&key_path, key_pem.as_bytes())?;
    } else {
        let password = read_password(&args.password_file)?;
        let p12 = cred.to_pkcs12(&password).map_err(|e| e.to_string())?;
        write_private(&args.out, &p12)?;
    }
    let fp = cred.fingerprint();
    if json {
        println!(
            "{{\"file\":{:?},\"fingerprint\":\"{fp}\"}}",
            args.out.display().to_string()
        );
    } else {
        println!("wrote {} (SHA-256 fingerprint {fp})", args.out.display());
    }
    Ok(())
}

/// Writes a file holding private key material with mode 0600 on Unix.
fn write_private(path: &PathBuf, bytes: &[u8]) -> Result<(), String> {
    use std::io::Write;
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts
        .open(path)
        .map_err(|e| format!("{}: {e}", path.display()))?;
    f.write_all(bytes)
        .map_err(|e| format!("{}: {e}", path.display()))
}

#[derive(Args)]
pub struct CertEnrollArgs {
    /// Own name of the certificate (5–100 letters, digits, space, '_' or '-').
    #[arg(long)]
    name: String,
    /// Certificate type: Authentication (XAdES login) or Offline (offline invoices, KOD II).
    #[arg(long = "type", default_value = "Authentication")]
    certificate_type: String,
    /// Use an EC P-256 key instead of RSA-2048.
    #[arg(long)]
    ec: bool,
    /// Output file: PKCS#12 (.p12/.pfx) or, with --pem, the certificate PEM (key goes to
    /// <out>.key). An existing file is never overwritten.
    #[arg(long)]
    out: PathBuf,
    /// File holding the PKCS#12 password (first line).
    #[arg(long)]
    password_file: Option<PathBuf>,
    /// Write PEM files instead of PKCS#12.
    #[arg(long, conflicts_with = "password_file")]
    pem: bool,
}

/// `ksef cert enroll`: a KSeF certificate for the logged-in subject.
pub async fn enroll(app: &mut App, args: CertEnrollArgs) -> CliResult<()> {
    let output = if args.pem {
        Output::Pem { path: args.out }
    } else {
        let Some(pw) = args.password_file.as_deref() else {
            return Err(CliError::Usage(
                "--password-file is required for PKCS#12 output (or use --pem)".into(),
            ));
        };
        Output::Pkcs12 {
            path: args.out,
            password: ksef_program::read_password_file(pw)?,
        }
    };
    let req = EnrollRequest {
        name: args.name,
        certificate_type: certificates::parse_certificate_type(&args.certificate_type)?,
        key_algorithm: if args.ec {
            KeyAlgorithm::EcP256
        } else {
            KeyAlgorithm::Rsa2048
        },
        output,
    };
    let done = certificates::enroll(app, req).await?;
    if app.json() {
        return print_json(&done);
    }
    println!(
        "KSeF issued {} certificate {} \"{}\" for {} (valid {} – {})",
        done.certificate_type,
        done.serial_number,
        done.name,
        done.common_name,
        show_time(done.valid_from),
        show_time(done.valid_to)
    );
    match &done.key_file {
        Some(key) => println!(
            "wrote {} and its key {} (SHA-256 fingerprint {})",
            done.file.display(),
            key.display(),
            done.fingerprint
        ),
        None => println!(
            "wrote {} (SHA-256 fingerprint {})",
            done.file.display(),
            done.fingerprint
        ),
    }
    Ok(())
}

/// `ksef cert list`: the KSeF certificates of the logged-in subject.
pub async fn list(app: &mut App) -> CliResult<()> {
    let list = certificates::list(app).await?;
    if app.json() {
        return print_json(&list);
    }
    if list.is_empty() {
        println!("no KSeF certificates");
        return Ok(());
    }
    println!(
        "{:<16}  {:<14}  {:<8}  {:<23}  {:<23}  NAME",
        "SERIAL", "TYPE", "STATUS", "VALID FROM", "VALID TO"
    );
    for c in &list {
        println!(
            "{:<16}  {:<14}  {:<8}  {:<23}  {:<23}  {}",
            c.certificate_serial_number,
            c.r#type.to_string(),
            c.status.to_string(),
            show_time(c.valid_from),
            show_time(c.valid_to),
            c.name
        );
    }
    Ok(())
}

/// `ksef cert revoke SERIAL`.
pub async fn revoke(app: &mut App, serial: &str) -> CliResult<()> {
    certificates::revoke(app, serial).await?;
    let serial = serial.trim().to_ascii_uppercase();
    if app.json() {
        return print_json(&serde_json::json!({"serialNumber": serial, "revoked": true}));
    }
    println!("KSeF certificate {serial} revoked");
    Ok(())
}

/// `ksef cert limits`.
pub async fn limits(app: &mut App) -> CliResult<()> {
    let l = certificates::limits(app).await?;
    if app.json() {
        return print_json(&l);
    }
    println!(
        "may request a certificate now: {}; enrollments left {} of {}; active certificates left {} of {}",
        if l.can_request { "yes" } else { "no" },
        l.enrollment.remaining,
        l.enrollment.limit,
        l.certificate.remaining,
        l.certificate.limit
    );
    Ok(())
}
