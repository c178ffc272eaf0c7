//! `ksef offline …`: invoices issued offline (digest §13) — issue them into the register in an
//! offline mode, list the ones waiting (with their sending deadlines, overdue ones flagged),
//! send them with `offlineMode`, correct a rejected one technically, and print one as PDF with
//! KOD I (labelled OFFLINE until KSeF gave it a number).

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ksef_program::offline::{
    self, CorrectionRequest, IssueRequest, IssuedInvoice, OfflineSelection, OfflineSendEvent,
    OfflineSendRequest, SentOffline,
};
use ksef_program::register::{self, ListRequest, ListedInvoice, OfflineList};

use crate::app::{App, CliError, CliResult, print_json};
use crate::cmd::invoice::truncate;
use crate::cmd::progress::Bar;

#[derive(Subcommand)]
pub enum OfflineCommand {
    /// Record invoices issued offline (nothing is sent): each is checked against the XSD and
    /// gets its sending deadline from its issue date (P_1) and the mode.
    Issue(IssueArgs),
    /// List the offline invoices not sent yet, with their deadlines (overdue ones flagged).
    List(ListArgs),
    /// Send the offline invoices not sent yet (or the ids given) with offlineMode.
    Send(SendArgs),
    /// Technical correction: re-send a rejected offline invoice as a corrected file.
    Correct(CorrectArgs),
    /// Print an invoice of the register as PDF with KOD I: labelled OFFLINE until KSeF gave
    /// it a number, then with the KSeF number.
    Pdf(PdfArgs),
}

#[derive(Args)]
pub struct IssueArgs {
    /// Invoice files or directories (all *.xml in them).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Why offline: offline24 (your choice; due the next business day), unavailability (KSeF
    /// unavailability announced by MF; due the next business day after it ends) or emergency
    /// (KSeF failure announced by MF; due 7 business days after it ends).
    #[arg(long)]
    mode: String,
    /// The day the announced unavailability or failure ended (YYYY-MM-DD; not for offline24).
    #[arg(long)]
    ends: Option<String>,
    /// The firm issuing (default: the KSeF session's, or the only one).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
    /// Form code for every file (FA3, FA2, FA_RR, PEF, PEF_KOR); default: detected per file.
    #[arg(long)]
    form: Option<String>,
    /// Skip the local XSD check (to exercise KSeF's own verification).
    #[arg(long, hide = true)]
    no_validate: bool,
    /// The firm's KSeF Offline certificate: KOD II is made for each invoice and kept in the
    /// register (PDFs then carry it). PKCS#12, or PEM with --key. An Authentication
    /// certificate is refused before anything is recorded.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// PEM private key for a PEM --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// File with the PKCS#12 password (first line); else KSEF_CERT_PASSWORD.
    #[arg(long, requires = "cert")]
    password_file: Option<PathBuf>,
}

#[derive(Args)]
pub struct ListArgs {
    /// Only the ones past their sending deadline.
    #[arg(long)]
    overdue: bool,
    /// The firm whose register to list (default: the KSeF session's, or the only one).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
    /// Page (from 1).
    #[arg(long, default_value_t = 1)]
    page: u32,
    /// Invoices per page (1–1000).
    #[arg(long, default_value_t = 100)]
    page_size: u32,
}

#[derive(Args)]
pub struct SendArgs {
    /// Register ids of the invoices to send (default: every offline invoice not sent yet).
    ids: Vec<i64>,
    /// The firm sending (checked against the KSeF session: nothing is sent for another firm).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
}

#[derive(Args)]
pub struct CorrectArgs {
    /// The rejected offline invoice: its register id (`ksef invoice list`) or the reference
    /// number KSeF gave it in its sending session.
    original: String,
    /// The corrected invoice file (the same invoice: number, issue date, seller).
    #[arg(long)]
    file: PathBuf,
    /// The firm (checked against the KSeF session).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
    /// Form code of the file (FA3, FA2, FA_RR, PEF, PEF_KOR); default: detected.
    #[arg(long)]
    form: Option<String>,
    /// Skip the local XSD check (to exercise KSeF's own verification).
    #[arg(long, hide = true)]
    no_validate: bool,
}

#[derive(Args)]
pub struct PdfArgs {
    /// The invoice: its register id, KSeF number or reference number.
    invoice: String,
    /// The firm whose register holds it (default: the KSeF session's, or the only one).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
    /// Whose KOD I link: test, demo or prod (default: from the API in use; test for the
    /// emulator).
    #[arg(long, value_name = "ENV")]
    env_host: Option<String>,
    /// The PDF file to write.
    #[arg(short, long)]
    output: PathBuf,
}

pub async fn run(app: &mut App, cmd: OfflineCommand) -> CliResult<()> {
    match cmd {
        OfflineCommand::Issue(args) => issue(app, args).await,
        OfflineCommand::List(args) => list(app, args).await,
        OfflineCommand::Send(args) => send(app, args).await,
        OfflineCommand::Correct(args) => correct(app, args).await,
        OfflineCommand::Pdf(args) => pdf(app, args).await,
    }
}

fn parse_form(form: Option<&str>) -> CliResult<Option<ksef_invoice::FormCode>> {
    Ok(form.map(ksef_program::invoices::parse_form).transpose()?)
}

async fn issue(app: &mut App, args: IssueArgs) -> CliResult<()> {
    let mode = offline::parse_mode(&args.mode, args.ends.as_deref())?;
    // The certificate first: a refused one must not leave invoices without their KOD II.
    let credential = match &args.cert {
        Some(cert) => Some(
            offline::require_offline(ksef_program::auth::load_credential(
                cert,
                args.key.as_deref(),
                args.password_file.as_deref(),
            )?)
            .map_err(|e| match e {
                ksef_program::ProgramError::Crypto(c) => crate::cmd::qr::refused(cert, c),
                other => other.into(),
            })?,
        ),
        None => None,
    };
    let firm = args.context.firm()?;
    let mut req = IssueRequest::new(args.files, mode);
    req.firm = firm.clone();
    req.form = parse_form(args.form.as_deref())?;
    req.validate = !args.no_validate;
    let issued = offline::issue_offline(app, req).await?;
    if let Some(cred) = &credential {
        for i in &issued {
            offline::make_kod2_link(
                app,
                firm.as_deref(),
                &ksef_store::InvoiceKey::Id(i.id),
                cred,
            )
            .await?;
        }
        eprintln!("KOD II made for {} invoice(s)", issued.len());
    }
    if app.json() {
        return print_json(&issued);
    }
    print_issued(&issued);
    Ok(())
}

fn print_issued(issued: &[IssuedInvoice]) {
    let mut out = std::io::stdout().lock();
    let width = issued
        .iter()
        .map(|i| i.file.display().to_string().chars().count())
        .max()
        .unwrap_or(4)
        .clamp(4, 50);
    let _ = writeln!(
        out,
        "{:<width$}  {:>6}  {:<20}  {:<10}  {:<34}  DUE",
        "FILE", "ID", "INVOICE NUMBER", "ISSUED", "MODE"
    );
    for i in issued {
        let mode = match i.mode_ends {
            Some(ends) => format!("{} (ended {ends})", i.mode),
            None => i.mode.to_string(),
        };
        let mut flags = Vec::new();
        if i.overdue {
            flags.push("OVERDUE");
        }
        if i.already_issued {
            flags.push("already in the register");
        }
        let _ = writeln!(
            out,
            "{:<width$}  {:>6}  {:<20}  {:<10}  {:<34}  {}{}",
            i.file.display(),
            i.id,
            truncate(&i.invoice_number, 20),
            i.issue_date,
            mode,
            i.send_deadline,
            if flags.is_empty() {
                String::new()
            } else {
                format!("  ({})", flags.join(", "))
            }
        );
    }
    let new = issued.iter().filter(|i| !i.already_issued).count();
    let _ = writeln!(
        out,
        "{new} invoice(s) issued offline, {} already in the register; send them with `ksef offline send`",
        issued.len() - new
    );
}

async fn list(app: &mut App, args: ListArgs) -> CliResult<()> {
    let req = ListRequest {
        firm: args.context.firm()?,
        offline: Some(if args.overdue {
            OfflineList::Overdue
        } else {
            OfflineList::Pending
        }),
        page: args.page,
        page_size: args.page_size,
        ..ListRequest::default()
    };
    let page = register::list(app, &req).await?;
    let rows: Vec<ListedInvoice> = page.invoices.iter().map(ListedInvoice::from).collect();
    if app.json() {
        return print_json(&rows);
    }
    println!(
        "{:>6}  {:<20}  {:<10}  {:<14}  {:<10}  {:<10}  {:>14}  {:<3}",
        "ID", "INVOICE NUMBER", "ISSUED", "MODE", "ENDED", "DUE", "GROSS", "CUR"
    );
    for r in &rows {
        println!(
            "{:>6}  {:<20}  {:<10}  {:<14}  {:<10}  {:<10}  {:>14}  {:<3}{}",
            r.id,
            truncate(&r.invoice_number, 20),
            r.issue_date,
            r.offline_mode.unwrap_or("-"),
            r.offline_mode_ends.as_deref().unwrap_or("-"),
            r.send_deadline.as_deref().unwrap_or("-"),
            r.gross.as_deref().unwrap_or("-"),
            r.currency,
            if r.overdue { "  OVERDUE" } else { "" }
        );
    }
    let what = if args.overdue {
        "overdue offline invoice(s)"
    } else {
        "offline invoice(s) not sent yet"
    };
    let shown_to = (u64::from(req.page.max(1)) - 1) * u64::from(req.page_size) + rows.len() as u64;
    println!("{shown_to} of {} {what}", page.total);
    Ok(())
}

async fn send(app: &mut App, args: SendArgs) -> CliResult<()> {
    let mut req = OfflineSendRequest::pending();
    req.firm = args.context.firm()?;
    if !args.ids.is_empty() {
        req.selection = OfflineSelection::Ids(args.ids);
    }
    let bar = Bar::new();
    req.progress = bar.callback();
    let json = app.json();
    let mut sent: Vec<SentOffline> = Vec::new();
    let mut sessions = Vec::new();
    let mut header = false;
    let mut held = Vec::new();
    let result = offline::send_offline(app, req, &mut |event| {
        bar.suspend(|| match event {
            OfflineSendEvent::HeldBack {
                id,
                invoice_number,
                issue_date,
            } => {
                if json {
                    held.push(serde_json::json!({
                        "id": id, "invoiceNumber": invoice_number,
                        "issueDate": issue_date.to_string(),
                    }));
                } else {
                    println!(
                        "held back: {invoice_number} (id {id}) is dated {issue_date}, after today; \
                         KSeF takes it from that day on"
                    );
                }
            }
            OfflineSendEvent::Planned { invoices, sessions } => {
                if !json {
                    if invoices == 0 {
                        println!("no offline invoices waiting to be sent");
                    } else {
                        println!("{invoices} offline invoice(s) in {sessions} session(s)");
                    }
                }
            }
            OfflineSendEvent::SessionPlanned { kind, invoices } => {
                if !json {
                    println!("{kind} session for {invoices} invoice(s) (offlineMode)");
                    if !header {
                        header = true;
                        println!(
                            "{:>6}  {:<20}  {:<10}  {:<38}  KSEF NUMBER",
                            "ID", "INVOICE NUMBER", "DUE", "STATUS"
                        );
                    }
                }
            }
            OfflineSendEvent::Outcome(s) => {
                if json {
                    sent.push(*s);
                } else {
                    print_sent(&s);
                }
            }
            OfflineSendEvent::SessionDone(summary) => {
                if !json {
                    println!(
                        "session {} ({}): {} {}; {} accepted, {} not accepted",
                        summary.session_reference,
                        summary.session_kind,
                        summary.session_status_code,
                        summary.session_status_description,
                        summary.accepted,
                        summary.failed
                    );
                }
                sessions.push(summary);
            }
        })
    })
    .await;
    bar.finish();
    let totals = result?;
    if json {
        print_json(&serde_json::json!({
            "invoices": sent,
            "heldBack": held,
            "sessions": sessions,
            "accepted": totals.accepted,
            "failed": totals.failed,
        }))?;
    }
    if totals.failed > 0 {
        return Err(CliError::InvoicesNotAccepted {
            failed: totals.failed,
            total: totals.accepted + totals.failed,
        });
    }
    Ok(())
}

fn print_sent(s: &SentOffline) {
    let o = &s.outcome;
    let status = match o.status_code {
        Some(code) => format!("{code} {}", o.status_description),
        None => o.status_description.clone(),
    };
    println!(
        "{:>6}  {:<20}  {:<10}  {:<38}  {}{}",
        s.id,
        truncate(&s.invoice_number, 20),
        s.send_deadline,
        truncate(&status, 38),
        o.ksef_number.as_deref().unwrap_or("-"),
        if s.late {
            "  (sent after the deadline)"
        } else {
            ""
        }
    );
    if !o.accepted() {
        for d in &o.details {
            println!("{:>6}    {d}", "");
        }
    }
}

async fn correct(app: &mut App, args: CorrectArgs) -> CliResult<()> {
    let mut req = CorrectionRequest::new(offline::parse_invoice_key(&args.original)?, args.file);
    req.firm = args.context.firm()?;
    req.form = parse_form(args.form.as_deref())?;
    req.validate = !args.no_validate;
    let done = offline::correct_technically(app, req).await?;
    if app.json() {
        print_json(&done)?;
    } else {
        let o = &done.outcome;
        let status = match o.status_code {
            Some(code) => format!("{code} {}", o.status_description),
            None => o.status_description.clone(),
        };
        println!(
            "technical correction of invoice {} (id {}), hashOfCorrectedInvoice {}",
            done.invoice_number, done.original_id, done.hash_of_corrected_invoice
        );
        if let Some(id) = done.correction_id {
            println!("recorded as id {id}");
        }
        println!(
            "status: {status}; KSeF number: {}",
            o.ksef_number.as_deref().unwrap_or("-")
        );
        if !o.accepted() {
            for d in &o.details {
                println!("  {d}");
            }
        }
    }
    if !done.accepted() {
        return Err(CliError::InvoicesNotAccepted {
            failed: 1,
            total: 1,
        });
    }
    Ok(())
}

async fn pdf(app: &mut App, args: PdfArgs) -> CliResult<()> {
    let firm = args.context.firm()?;
    let key = offline::parse_invoice_key(&args.invoice)?;
    let (inv, xml) = register::invoice(app, firm.as_deref(), &key).await?;
    let pdf = crate::cmd::pdf::render_invoice(
        &xml,
        &inv.record.invoice_number,
        inv.record.ksef_number.clone(),
        inv.kod2_link.clone(),
        args.env_host.as_deref(),
        &app.settings.base_url,
    )?;
    ksef_program::invoices::write_file(&args.output, &pdf)?;
    eprintln!(
        "{} written ({} bytes; KOD I labelled {})",
        args.output.display(),
        pdf.len(),
        inv.record.ksef_number.as_deref().unwrap_or("OFFLINE")
    );
    Ok(())
}
