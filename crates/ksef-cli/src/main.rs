//! `ksef` — the command line of the KSeF toolkit.
//!
//! Today it runs the local emulator (`ksef emulator`) and makes self-signed test certificates
//! (`ksef cert new`); the client workflow (login, tokens, users) follows.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand, ValueEnum};
use ksef_emulator::{EmulatorConfig, TrustPolicy};

#[derive(Parser)]
#[command(
    name = "ksef",
    version,
    about = "KSeF 2.0 toolkit: local emulator, certificates, client"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local KSeF 2.0 emulator (API at http://HOST:PORT/v2).
    Emulator(EmulatorArgs),
    /// Test certificates.
    #[command(subcommand)]
    Cert(CertCommand),
}

#[derive(Args)]
struct EmulatorArgs {
    /// TCP port (0 = any free port; the chosen address is printed).
    #[arg(long, default_value_t = 8080, env = "KSEF_EMULATOR_PORT")]
    port: u16,
    /// Address to bind. Loopback by default; the emulator is a development tool.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Directory for the emulator's SQLite database (default: the per-user data dir).
    #[arg(long, env = "KSEF_EMULATOR_DATA")]
    data: Option<PathBuf>,
    /// Milliseconds `GET /auth/{ref}` answers 100 before the final status.
    #[arg(long, default_value_t = 300)]
    auth_delay_ms: u64,
    /// Milliseconds a new KSeF token stays Pending before it becomes Active.
    #[arg(long, default_value_t = 500)]
    token_activation_ms: u64,
    /// Milliseconds a revoked KSeF token stays Revoking before it becomes Revoked.
    #[arg(long, default_value_t = 0)]
    token_revocation_ms: u64,
    /// Access token lifetime in seconds.
    #[arg(long, default_value_t = 900)]
    access_token_secs: u64,
    /// Refresh token lifetime in seconds.
    #[arg(long, default_value_t = 7 * 24 * 3600)]
    refresh_token_secs: u64,
    /// Challenge lifetime in seconds.
    #[arg(long, default_value_t = 600)]
    challenge_secs: u64,
    /// Require a genuine XAdES profile (SignedProperties + SigningCertificate), as DEMO/PRD.
    #[arg(long)]
    strict_xades: bool,
    /// Trust only certificates issued by these CA files (PEM or DER); repeatable. Without it,
    /// self-signed certificates are accepted, as on TEST.
    #[arg(long = "trusted-ca", value_name = "FILE")]
    trusted_ca: Vec<PathBuf>,
    /// Allow sessions opened with a KSeF token to create tokens (the seed forbids it; so do we by default).
    #[arg(long)]
    allow_token_minting_from_token_sessions: bool,
    /// Externally visible base URL for links the emulator hands out (e.g. behind a proxy).
    #[arg(long)]
    public_base_url: Option<String>,
}

#[derive(Subcommand)]
enum CertCommand {
    /// Make a self-signed certificate for the TEST environment and the local emulator.
    New(CertNewArgs),
}

#[derive(Args)]
struct CertNewArgs {
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
    #[arg(long, default_value = "Jan")]
    given_name: String,
    /// Surname (personal certificates).
    #[arg(long, default_value = "Testowy")]
    surname: String,
    /// Organisation name (seals).
    #[arg(long, default_value = "Firma Testowa Sp. z o.o.")]
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
    /// Output format of the summary.
    #[arg(long, value_enum, default_value_t = Format::Text)]
    format: Format,
}

#[derive(Clone, Copy, ValueEnum, PartialEq)]
enum Format {
    Text,
    Json,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Emulator(args) => run_emulator(args),
        Command::Cert(CertCommand::New(args)) => cert_new(args),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn default_data_dir() -> PathBuf {
    dirs::data_local_dir()
        .unwrap_or_else(std::env::temp_dir)
        .join("ksef")
        .join("emulator")
}

fn read_ca(path: &PathBuf) -> Result<Vec<Vec<u8>>, String> {
    let bytes =
        std::fs::read(path).map_err(|e| format!("cannot read CA file {}: {e}", path.display()))?;
    ksef_crypto::certificates_from_pem_or_der(&bytes)
        .map_err(|e| format!("CA file {}: {e}", path.display()))
}

fn run_emulator(args: EmulatorArgs) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data = args.data.clone().unwrap_or_else(default_data_dir);
    let mut config = EmulatorConfig::new(&data);
    config.auth_processing_delay = Duration::from_millis(args.auth_delay_ms);
    config.token_activation_delay = Duration::from_millis(args.token_activation_ms);
    config.token_revocation_delay = Duration::from_millis(args.token_revocation_ms);
    config.access_token_lifetime = Duration::from_secs(args.access_token_secs);
    config.refresh_token_lifetime = Duration::from_secs(args.refresh_token_secs);
    config.challenge_lifetime = Duration::from_secs(args.challenge_secs);
    config.strict_xades = args.strict_xades;
    config.forbid_token_minting_from_token_sessions = !args.allow_token_minting_from_token_sessions;
    config.public_base_url = args.public_base_url.clone();
    if !args.trusted_ca.is_empty() {
        let mut cas = Vec::new();
        for path in &args.trusted_ca {
            cas.extend(read_ca(path)?);
        }
        config.trust_policy = TrustPolicy::TrustedCas(cas);
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the async runtime: {e}"))?;
    rt.block_on(async move {
        let addr = SocketAddr::new(args.bind, args.port);
        let running = ksef_emulator::spawn(config, addr)
            .await
            .map_err(|e| e.to_string())?;
        // One machine-readable line first: tests and scripts wait for it. A closed stdout must
        // not stop the server, so write errors are ignored.
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "KSeF emulator listening on {}", running.base_url());
            let _ = out.flush();
        }
        tracing::info!(data_dir = %data.display(), "emulator state");
        tokio::signal::ctrl_c()
            .await
            .map_err(|e| format!("signal handler: {e}"))?;
        eprintln!("shutting down");
        running.shutdown().await;
        Ok(())
    })
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

fn cert_new(args: CertNewArgs) -> Result<(), String> {
    use ksef_crypto::KeyAlgorithm;
    use ksef_crypto::testcert::{TestSubject, make_test_certificate};
    let subject = match (&args.nip, &args.pesel, args.seal) {
        (Some(nip), None, true) => TestSubject::Seal {
            nip: nip.parse().map_err(|e| format!("--nip: {e}"))?,
            organization_name: args.organization.clone(),
            common_name: args.organization.clone(),
        },
        (Some(nip), None, false) => TestSubject::PersonNip {
            nip: nip.parse().map_err(|e| format!("--nip: {e}"))?,
            given_name: args.given_name.clone(),
            surname: args.surname.clone(),
            common_name: format!("{} {}", args.given_name, args.surname),
        },
        (None, Some(pesel), false) => TestSubject::PersonPesel {
            pesel: pesel.parse().map_err(|e| format!("--pesel: {e}"))?,
            given_name: args.given_name.clone(),
            surname: args.surname.clone(),
            common_name: format!("{} {}", args.given_name, args.surname),
        },
        (None, Some(_), true) => {
            return Err("--seal needs --nip (a seal carries VATPL-<NIP>)".into());
        }
        _ => return Err("give --nip or --pesel".into()),
    };
    let alg = if args.ec {
        KeyAlgorithm::EcP256
    } else {
        KeyAlgorithm::Rsa2048
    };
    let cred = make_test_certificate(&subject, alg).map_err(|e| e.to_string())?;
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
    if args.format == Format::Json {
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
