//! `ksef emulator`: runs the local KSeF 2.0 emulator.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};
use ksef_emulator::{EmulatorConfig, SimulatedTrustedProfile, TrustPolicy};

#[derive(Args)]
pub struct EmulatorArgs {
    /// TCP port (0 = any free port; the chosen address is printed).
    #[arg(long, default_value_t = 8080, env = "KSEF_EMULATOR_PORT")]
    pub port: u16,
    /// Address to bind. Loopback by default; the emulator is a development tool.
    #[arg(long, default_value = "127.0.0.1")]
    bind: IpAddr,
    /// Directory for the emulator's SQLite database (default: the per-user data dir). It is
    /// created 0700 (the database, which holds the emulator's keys, 0600); an existing one open
    /// to other users is made private, or refused when it belongs to another user.
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
    /// self-signed certificates are accepted, as on TEST. With it, the simulated Profil Zaufany
    /// signing service is off unless --simulated-trusted-profile switches it on.
    #[arg(long = "trusted-ca", value_name = "FILE")]
    trusted_ca: Vec<PathBuf>,
    /// The simulated Profil Zaufany signing service (/symulator-podpisu), which issues a
    /// certificate for any PESEL typed into its form. auto: on without --trusted-ca, off with
    /// it; on: also with --trusted-ca (its CA is then one more trusted CA, checked like the
    /// others); off: never. The bare flag means "on".
    #[arg(
        long,
        value_enum,
        value_name = "MODE",
        default_value_t = SimulatorMode::Auto,
        num_args = 0..=1,
        default_missing_value = "on"
    )]
    simulated_trusted_profile: SimulatorMode,
    /// Do not offer, on the simulated signing page, to treat the signer as the owner of the
    /// NIP of the signed request (a sole trader, recorded as a NIP–PESEL link like
    /// POST /testdata/person). Without this flag the option is offered and checked by default.
    #[arg(long)]
    no_simulated_sole_trader: bool,
    /// Allow sessions opened with a KSeF token to create tokens (the seed forbids it; so do we by default).
    #[arg(long)]
    allow_token_minting_from_token_sessions: bool,
    /// Invoices of a batch verified and committed per transaction.
    #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    processing_chunk_size: u32,
    /// Milliseconds to pause after each committed batch chunk (slows processing down on purpose,
    /// to watch or interrupt a batch mid-way).
    #[arg(long, default_value_t = 0)]
    processing_chunk_pause_ms: u64,
    /// Enforce the KSeF API rate limits (production values, HTTP 429 with Retry-After) for
    /// every caller. Off by default; POST /testdata/rate-limits switches them on per context.
    #[arg(long)]
    rate_limits: bool,
    /// Seconds a connection may take to send a request head; also how long an idle
    /// keep-alive connection is kept open between requests.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3600))]
    header_read_timeout_secs: u64,
    /// Most connections served at once; further ones wait until one closes.
    #[arg(long, default_value_t = 1024, value_parser = clap::value_parser!(u64).range(1..=1_000_000))]
    max_connections: u64,
    /// Externally visible base URL for links the emulator hands out (e.g. behind a proxy).
    /// Default: the bound address (127.0.0.1 or [::1] when bound to 0.0.0.0 or [::]).
    #[arg(long)]
    public_base_url: Option<String>,
}

/// `--simulated-trusted-profile` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum SimulatorMode {
    Auto,
    On,
    Off,
}

impl From<SimulatorMode> for SimulatedTrustedProfile {
    fn from(mode: SimulatorMode) -> Self {
        match mode {
            SimulatorMode::Auto => SimulatedTrustedProfile::Auto,
            SimulatorMode::On => SimulatedTrustedProfile::On,
            SimulatorMode::Off => SimulatedTrustedProfile::Off,
        }
    }
}

fn default_emulator_dir() -> PathBuf {
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

pub fn run(args: EmulatorArgs) -> Result<(), String> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info")),
        )
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let data = args.data.clone().unwrap_or_else(default_emulator_dir);
    let mut config = EmulatorConfig::new(&data);
    config.auth_processing_delay = Duration::from_millis(args.auth_delay_ms);
    config.token_activation_delay = Duration::from_millis(args.token_activation_ms);
    config.processing_chunk_size = args.processing_chunk_size as usize;
    config.processing_chunk_pause = Duration::from_millis(args.processing_chunk_pause_ms);
    config.token_revocation_delay = Duration::from_millis(args.token_revocation_ms);
    config.access_token_lifetime = Duration::from_secs(args.access_token_secs);
    config.refresh_token_lifetime = Duration::from_secs(args.refresh_token_secs);
    config.challenge_lifetime = Duration::from_secs(args.challenge_secs);
    config.strict_xades = args.strict_xades;
    config.rate_limits = args.rate_limits;
    config.forbid_token_minting_from_token_sessions = !args.allow_token_minting_from_token_sessions;
    config.public_base_url = args.public_base_url.clone();
    config.simulated_trusted_profile = args.simulated_trusted_profile.into();
    config.simulated_trusted_profile_sole_trader = !args.no_simulated_sole_trader;
    config.header_read_timeout = Duration::from_secs(args.header_read_timeout_secs);
    config.max_connections = usize::try_from(args.max_connections).unwrap_or(usize::MAX);
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
