//! `ksef` — the command line of the KSeF toolkit: the accounting program's KSeF token workflow
//! (log in with a certificate or Profil Zaufany, generate and manage KSeF tokens, keep them on
//! program users, log in with them), invoices (validate, send online or in batches, UPOs,
//! sessions, queries, downloads, incremental sync; offline invoices issued now, sent later, and
//! their technical corrections), permissions of persons, KSeF certificates
//! (enroll, list, revoke), limits, the local emulator, and test certificates.
//!
//! Every command talks to one KSeF API (`--base-url` / `--env`, default: the local emulator at
//! http://127.0.0.1:8080/v2) and one local store (`--data-dir`), also set by `KSEF_BASE_URL`,
//! `KSEF_ENV`, `KSEF_DATA_DIR`; the store key comes from `KSEF_PASSPHRASE` or a key file.

// The doc comments of the clap arguments are `--help` texts, plain text rather than
// Markdown: `<out>` and `[::1]` there are meant literally.
#![allow(rustdoc::invalid_html_tags, rustdoc::broken_intra_doc_links)]

mod app;
mod cmd;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ksef_core::TokenPermission;

use crate::app::{App, CliError, CliResult, print_json, show_time};
use crate::cmd::{
    auth, cert, demo, emulator, firm, invoice, limits, offline, permission, session, sync, token,
    upo, user,
};
use ksef_program::check;

#[derive(Parser)]
#[command(
    name = "ksef",
    version,
    about = "KSeF 2.0 toolkit: invoices, tokens, sessions, local emulator"
)]
struct Cli {
    /// KSeF API base URL ending in /v2 (wins over --env).
    #[arg(long, global = true, env = "KSEF_BASE_URL")]
    base_url: Option<String>,
    /// Environment: local (the emulator at 127.0.0.1:8080), test, demo or prod.
    #[arg(long = "env", global = true, env = "KSEF_ENV")]
    environment: Option<String>,
    /// Directory of the program's local store (users dictionary, settings, sessions).
    #[arg(long, global = true, env = "KSEF_DATA_DIR")]
    data_dir: Option<PathBuf>,
    /// Machine-readable JSON output.
    #[arg(long, global = true)]
    json: bool,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the local KSeF 2.0 emulator (API at http://HOST:PORT/v2).
    Emulator(emulator::EmulatorArgs),
    /// Test certificates; KSeF certificates of the logged-in subject.
    #[command(subcommand)]
    Cert(CertCommand),
    /// Log in to KSeF, check signed files, show or end the session.
    #[command(subcommand)]
    Auth(AuthCommand),
    /// KSeF tokens: generate, list, show, revoke.
    #[command(subcommand)]
    Token(TokenCommand),
    /// The program's users dictionary (each user may hold a KSeF token per firm).
    #[command(subcommand)]
    User(UserCommand),
    /// The firms (KSeF contexts) the program works for.
    #[command(subcommand)]
    Firm(FirmCommand),
    /// Invoices: validate locally, send (online or batch), query, download.
    #[command(subcommand)]
    Invoice(invoice::InvoiceCommand),
    /// Offline invoices: issue in an offline mode, list with deadlines, send later, correct
    /// a rejected one technically.
    #[command(subcommand)]
    Offline(offline::OfflineCommand),
    /// UPO (official receipts) of invoices and sessions.
    #[command(subcommand)]
    Upo(upo::UpoCommand),
    /// Online and batch sessions and their invoices.
    #[command(subcommand)]
    Session(session::SessionCommand),
    /// Download new invoices into a directory (incremental, resumable).
    Sync(sync::SyncArgs),
    /// Session, certificate and API rate limits of the current context.
    Limits,
    /// Permissions of persons in the current context: grant, list, revoke.
    #[command(subcommand)]
    Permission(permission::PermissionCommand),
    /// Walk the whole seed scenario against an in-process emulator, with narration.
    Demo,
    /// Serve the local web app (Generuj token KSeF, Tokeny KSeF, Użytkownicy) on 127.0.0.1.
    Ui {
        /// Port on 127.0.0.1 (0 = a free port).
        #[arg(long, default_value_t = 8765)]
        port: u16,
        /// Do not start the embedded emulator; use the environment chosen in the settings
        /// (or --env / --base-url).
        #[arg(long)]
        no_emulator: bool,
    },
}

#[derive(Subcommand)]
enum CertCommand {
    /// Make a self-signed certificate for the TEST environment and the local emulator.
    New(cert::CertNewArgs),
    /// Request a KSeF certificate for the logged-in subject (needs a certificate login).
    Enroll(cert::CertEnrollArgs),
    /// List the KSeF certificates of the logged-in subject.
    List,
    /// Revoke a KSeF certificate by its serial number (from `ksef cert list`).
    Revoke {
        /// Serial number (16 hex digits).
        serial: String,
    },
    /// Certificate enrollment limits of the logged-in subject.
    Limits,
}

#[derive(Subcommand)]
enum AuthCommand {
    /// Log in with a certificate (XAdES) or with the KSeF token of a program user (--user).
    Login {
        #[command(flatten)]
        context: cmd::ContextArgs,
        /// Certificate: PKCS#12 (.p12/.pfx) or PEM (then --key).
        #[arg(long, conflicts_with = "user")]
        cert: Option<PathBuf>,
        /// PEM private key for a PEM --cert.
        #[arg(long, requires = "cert")]
        key: Option<PathBuf>,
        /// File with the PKCS#12 password (first line); else KSEF_CERT_PASSWORD.
        #[arg(long, requires = "cert")]
        password_file: Option<PathBuf>,
        /// Identify by certificate fingerprint instead of the NIP/PESEL in its subject.
        #[arg(long, requires = "cert")]
        fingerprint: bool,
        /// Log in with the KSeF token saved on this program user (needs the user's password).
        #[arg(long)]
        user: Option<String>,
        #[command(flatten)]
        user_password: UserPasswordArgs,
    },
    /// Profil Zaufany / external signature: write the unsigned request for signing.
    Prepare {
        #[command(flatten)]
        context: cmd::ContextArgs,
        /// Folder to write AuthTokenRequest_<date_time>.xml into.
        #[arg(long)]
        dir: PathBuf,
    },
    /// Submit the signed request (FILE, or the newest signed copy in --dir) and log in.
    Submit {
        /// The signed file.
        file: Option<PathBuf>,
        /// Folder of the prepared request; picks "<name>.xml", "<name> (1).xml", … that is signed.
        #[arg(long, conflicts_with = "file")]
        dir: Option<PathBuf>,
    },
    /// Check a signed request locally and say why KSeF would reject it.
    Check {
        /// The signed AuthTokenRequest file.
        file: PathBuf,
    },
    /// Show the current KSeF session.
    Status,
    /// End the KSeF session (DELETE /auth/sessions/current).
    Logout,
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Generate a KSeF token with a subset of your permissions; shown once.
    Generate {
        /// Comma-separated: InvoiceRead, InvoiceWrite, CredentialsRead, CredentialsManage,
        /// SubunitManage, EnforcementOperations, Introspection.
        #[arg(long)]
        permissions: String,
        /// The token's name (5–256 characters).
        #[arg(long)]
        description: String,
        /// Save the token (encrypted) on this program user.
        #[arg(long)]
        save_to_user: Option<String>,
    },
    /// List the tokens of the entity.
    List {
        /// Only these statuses (Pending, Active, Revoking, Revoked, Failed); repeatable or comma-separated.
        #[arg(long)]
        status: Vec<String>,
    },
    /// Show one token.
    Show { reference: String },
    /// Revoke a token (needs CredentialsManage).
    Revoke { reference: String },
}

/// The program user's password, for commands that use a user's stored KSeF token.
#[derive(clap::Args)]
struct UserPasswordArgs {
    /// File whose first line is the program user's password; else KSEF_USER_PASSWORD.
    #[arg(long, value_name = "FILE")]
    user_password_file: Option<PathBuf>,
}

/// A new password for a program user.
#[derive(clap::Args)]
struct NewPasswordArgs {
    /// File whose first line is the password (at least 8 characters); else KSEF_USER_PASSWORD.
    #[arg(long, value_name = "FILE")]
    password_file: Option<PathBuf>,
}

#[derive(Subcommand)]
enum FirmCommand {
    /// List the firms.
    List,
    /// Add a firm (or rename it).
    Add {
        #[command(flatten)]
        context: cmd::ContextArgs,
        /// The firm's name, as people know it.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum UserCommand {
    /// Add a program user with a password (the user logs in to the program with it; their KSeF
    /// token can only be used with it).
    Add {
        name: String,
        #[command(flatten)]
        password: NewPasswordArgs,
        /// Make the user an administrator (adds users, sets passwords).
        #[arg(long)]
        admin: bool,
    },
    /// Set a user's password (an administrator's reset: a KSeF token saved on the user under
    /// the old password cannot be kept and is removed).
    Passwd {
        name: String,
        #[command(flatten)]
        password: NewPasswordArgs,
    },
    /// List program users (tokens masked).
    List,
    /// Set a user's KSeF token, read from standard input.
    SetToken { name: String },
    /// Remove a program user (and its saved token).
    Remove { name: String },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Emulator(args) => emulator::run(args).map_err(CliError::Tool),
        Command::Cert(CertCommand::New(args)) => cert::new(args, cli.json).map_err(CliError::Tool),
        // A local rendering: no runtime, session or local store.
        Command::Upo(upo::UpoCommand::Pdf(args)) => cmd::pdf::upo(args),
        Command::Ui { port, no_emulator } => run_ui(
            cli.base_url,
            cli.environment,
            cli.data_dir,
            port,
            no_emulator,
        ),
        command => run_async(
            cli.base_url,
            cli.environment,
            cli.data_dir,
            cli.json,
            command,
        ),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e}");
            ExitCode::FAILURE
        }
    }
}

fn run_async(
    base_url: Option<String>,
    environment: Option<String>,
    data_dir: Option<PathBuf>,
    json: bool,
    command: Command,
) -> CliResult<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            action: "start the async runtime",
            source,
        })?;
    rt.block_on(async move {
        if let Command::Demo = command {
            return demo::run().await;
        }
        // In the local environment: the emulator `ksef ui` runs for this data directory.
        let mut app =
            ksef_program::local_emulator::local_app(base_url, environment, data_dir, json).await?;
        dispatch(&mut app, command).await
    })
}

/// `ksef ui`: the web app until Ctrl+C; the first stdout line is its address.
fn run_ui(
    base_url: Option<String>,
    environment: Option<String>,
    data_dir: Option<PathBuf>,
    port: u16,
    no_emulator: bool,
) -> CliResult<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn")),
        )
        .with_writer(std::io::stderr)
        .init();
    let data_dir = data_dir.unwrap_or_else(ksef_program::default_data_dir);
    let mut config = ksef_web::WebConfig::new(&data_dir);
    config.addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
    if no_emulator {
        config.emulator = None;
    }
    if let Some(url) = base_url {
        config.local_base_url = url.trim_end_matches('/').to_string();
    }
    if let Some(env) = environment {
        config.environment = Some(
            env.parse()
                .map_err(|e| CliError::Usage(format!("--env: {e}")))?,
        );
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .map_err(|source| CliError::Io {
            action: "start the async runtime",
            source,
        })?;
    rt.block_on(async move {
        let web = ksef_web::serve(config).await?;
        {
            use std::io::Write;
            let mut out = std::io::stdout().lock();
            let _ = writeln!(out, "KSeF web app: {}", web.base_url());
            if web.first_start {
                let _ = writeln!(
                    out,
                    "first start: open the address above to create the program's administrator"
                );
            }
            if let Some(emu) = &web.emulator_base_url {
                let _ = writeln!(
                    out,
                    "embedded KSeF emulator: {emu} (data in {})",
                    data_dir.join("emulator").display()
                );
            }
            let _ = out.flush();
        }
        tokio::signal::ctrl_c()
            .await
            .map_err(|source| CliError::Io {
                action: "wait for Ctrl+C",
                source,
            })?;
        eprintln!("shutting down");
        web.shutdown().await;
        Ok(())
    })
}

fn parse_permissions(list: &str) -> CliResult<Vec<TokenPermission>> {
    ksef_core::permission::parse_list::<TokenPermission>(list)
        .map_err(|e| CliError::Usage(format!("--permissions: {e}")))
}

async fn dispatch(app: &mut App, command: Command) -> CliResult<()> {
    match command {
        Command::Auth(AuthCommand::Login {
            context,
            cert,
            key,
            password_file,
            fingerprint,
            user,
            user_password,
        }) => {
            let s = match (cert, user) {
                (Some(cert), None) => {
                    let ctx = auth::context_from_args(
                        context.nip.as_deref(),
                        context.internal_id.as_deref(),
                    )?;
                    let cred =
                        auth::load_credential(&cert, key.as_deref(), password_file.as_deref())?;
                    auth::login_with_certificate(app, ctx, &cred, fingerprint).await?
                }
                (None, Some(user)) => {
                    let who = user::log_in(app, &user, user_password.user_password_file).await?;
                    // --nip / --internal-id pick the firm when the user holds several tokens.
                    let firm = context.firm()?;
                    auth::login_with_user(app, &who, firm.as_deref()).await?
                }
                _ => {
                    return Err(CliError::Usage(
                        "give --cert FILE (with --nip) or --user NAME".into(),
                    ));
                }
            };
            auth::print_login(app, &s)
        }
        Command::Auth(AuthCommand::Prepare { context, dir }) => {
            let ctx =
                auth::context_from_args(context.nip.as_deref(), context.internal_id.as_deref())?;
            let p = auth::prepare(app, ctx, &dir).await?;
            // The government service, or the emulator's simulated one in the local environment.
            let signing = ksef_program::local_emulator::signing_service_url(&app.settings.base_url);
            if app.json() {
                return print_json(&serde_json::json!({
                    "file": p.file, "challenge": p.challenge,
                    "signingService": signing, "deadline": show_time(p.deadline()),
                }));
            }
            println!("Wrote {}", p.file.display());
            if signing == auth::SIGNING_SERVICE_URL {
                println!("Sign it with Profil Zaufany (or a qualified signature) here:");
            } else {
                println!(
                    "Sign it in the emulator's simulated Profil Zaufany signing service \
                     (a SIMULATION, accepted only by the emulator):"
                );
            }
            println!("  {signing}");
            println!(
                "save the signed file next to it, then run: ksef auth submit --dir {}",
                dir.display()
            );
            println!(
                "Deadline: {} (the challenge lives {} minutes).",
                show_time(p.deadline()),
                auth::CHALLENGE_LIFETIME.as_secs() / 60
            );
            Ok(())
        }
        Command::Auth(AuthCommand::Submit { file, dir }) => {
            let s = auth::submit(app, file.as_deref(), dir.as_deref()).await?;
            auth::print_login(app, &s)
        }
        Command::Auth(AuthCommand::Check { file }) => {
            // The prepared request (for its deadline); the check itself works without a store.
            let pending = auth::pending(app).await.ok().flatten();
            let lines =
                check::check_file(&file, pending.as_ref(), time::OffsetDateTime::now_utc())?;
            let errors = lines.iter().filter(|l| l.severity == "error").count();
            if app.json() {
                print_json(
                    &serde_json::json!({"file": file, "ok": errors == 0, "findings": lines}),
                )?;
            } else if lines.is_empty() {
                println!(
                    "{}: signature, document and certificate look right",
                    file.display()
                );
            } else {
                for l in &lines {
                    match l.code {
                        Some(c) => println!("{} [{c}]: {}", l.severity, l.message),
                        None => println!("{}: {}", l.severity, l.message),
                    }
                }
            }
            if errors > 0 {
                return Err(CliError::CheckFindings { file, errors });
            }
            Ok(())
        }
        Command::Auth(AuthCommand::Status) => auth::status(app).await,
        Command::Auth(AuthCommand::Logout) => auth::logout(app).await,
        Command::Token(TokenCommand::Generate {
            permissions,
            description,
            save_to_user,
        }) => {
            let perms = parse_permissions(&permissions)?;
            let g = token::generate(app, &perms, &description, save_to_user.as_deref()).await?;
            token::print_generated(app, &g, save_to_user.as_deref())
        }
        Command::Token(TokenCommand::List { status }) => {
            let list = token::list(app, &status).await?;
            token::print_list(app, &list)
        }
        Command::Token(TokenCommand::Show { reference }) => {
            let t = token::show(app, &reference).await?;
            token::print_one(app, &t)
        }
        Command::Token(TokenCommand::Revoke { reference }) => {
            token::revoke_and_print(app, &reference).await
        }
        Command::User(UserCommand::Add {
            name,
            password,
            admin,
        }) => user::add(app, &name, password.password_file, admin).await,
        Command::User(UserCommand::Passwd { name, password }) => {
            user::passwd(app, &name, password.password_file).await
        }
        Command::User(UserCommand::List) => user::list(app).await,
        Command::Firm(FirmCommand::List) => firm::list(app).await,
        Command::Firm(FirmCommand::Add { context, name }) => {
            let ctx =
                auth::context_from_args(context.nip.as_deref(), context.internal_id.as_deref())?;
            firm::add(app, &ctx, &name).await
        }
        Command::User(UserCommand::SetToken { name }) => user::set_token(app, &name).await,
        Command::User(UserCommand::Remove { name }) => user::remove(app, &name).await,
        Command::Invoice(cmd) => invoice::run(app, cmd).await,
        Command::Offline(cmd) => offline::run(app, cmd).await,
        Command::Upo(cmd) => upo::run(app, cmd).await,
        Command::Session(cmd) => session::run(app, cmd).await,
        Command::Sync(args) => sync::run(app, args).await,
        Command::Limits => limits::run(app).await,
        Command::Permission(cmd) => permission::run(app, cmd).await,
        Command::Cert(CertCommand::Enroll(args)) => cert::enroll(app, args).await,
        Command::Cert(CertCommand::List) => cert::list(app).await,
        Command::Cert(CertCommand::Revoke { serial }) => cert::revoke(app, &serial).await,
        Command::Cert(CertCommand::Limits) => cert::limits(app).await,
        Command::Emulator(_)
        | Command::Cert(CertCommand::New(_))
        | Command::Demo
        | Command::Ui { .. } => Err(CliError::Usage("unreachable command".into())),
    }
}
