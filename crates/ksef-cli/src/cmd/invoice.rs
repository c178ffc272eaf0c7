//! `ksef invoice …`: validate locally, send (online or batch), query metadata, download.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ksef_client::invoicing_flows::{InvoiceOutcome, SendReport};
use ksef_program::invoices::{self, FileCheck, QueryRequest, SendRequest};
use ksef_wire::{InvoiceMetadata, InvoiceQueryDateType};

use crate::app::{App, CliError, CliResult, print_json};
use crate::cmd::progress::Bar;

#[derive(Subcommand)]
pub enum InvoiceCommand {
    /// Check invoice files locally against the official XSD (nothing is sent).
    Validate {
        /// Invoice files or directories (all *.xml in them).
        #[arg(required = true)]
        files: Vec<PathBuf>,
        /// Form code for every file (FA3, FA2, FA_RR, PEF, PEF_KOR); default: detected per file.
        #[arg(long)]
        form: Option<String>,
    },
    /// Send invoices to KSeF and wait for their KSeF numbers.
    Send(SendArgs),
    /// Search invoice metadata (POST /invoices/query/metadata).
    Query(QueryArgs),
    /// Download one invoice XML by its KSeF number.
    Download {
        /// The KSeF number.
        number: String,
        /// Write to this file (default: standard output).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
}

#[derive(Args)]
pub struct SendArgs {
    /// Invoice files or directories (all *.xml in them).
    #[arg(required = true)]
    files: Vec<PathBuf>,
    /// Send through a batch session (one encrypted package) instead of an online session.
    #[arg(long)]
    batch: bool,
    /// Declare the invoices issued offline (offlineMode).
    #[arg(long)]
    offline: bool,
    /// Form code for every file (FA3, FA2, FA_RR, PEF, PEF_KOR); default: detected per file.
    #[arg(long)]
    form: Option<String>,
    /// Batch archive format: zip (default) or targz.
    #[arg(long, default_value = "zip", requires = "batch")]
    compression: String,
    /// Skip the local XSD check (to exercise KSeF's own verification).
    #[arg(long, hide = true)]
    no_validate: bool,
    /// Batch part size in bytes before encryption (default 100 MB).
    #[arg(long, hide = true, requires = "batch")]
    part_size: Option<u64>,
}

#[derive(Args)]
pub struct QueryArgs {
    /// Start of the range: YYYY-MM-DD (UTC midnight) or an RFC 3339 timestamp.
    #[arg(long)]
    from: String,
    /// End of the range (default: now).
    #[arg(long)]
    to: Option<String>,
    /// Subject1 (you are the seller), Subject2 (buyer), Subject3, SubjectAuthorized.
    #[arg(long, default_value = "Subject1")]
    subject_type: String,
    /// Which date the range applies to: Issue, Invoicing, PermanentStorage.
    #[arg(long, default_value = "PermanentStorage")]
    date_type: String,
    /// Rows per request (10–250).
    #[arg(long, default_value_t = 100)]
    page_size: u32,
    /// Stop after this many rows.
    #[arg(long, default_value_t = 1000)]
    limit: usize,
}

pub async fn run(app: &mut App, cmd: InvoiceCommand) -> CliResult<()> {
    match cmd {
        InvoiceCommand::Validate { files, form } => validate(app, files, form).await,
        InvoiceCommand::Send(args) => send(app, args).await,
        InvoiceCommand::Query(args) => query(app, args).await,
        InvoiceCommand::Download { number, output } => download(app, &number, output).await,
    }
}

fn parse_form(form: Option<&str>) -> CliResult<Option<ksef_invoice::FormCode>> {
    form.map(invoices::parse_form).transpose()
}

async fn validate(app: &App, files: Vec<PathBuf>, form: Option<String>) -> CliResult<()> {
    let form = parse_form(form.as_deref())?;
    let checks = invoices::validate(&files, form).await?;
    let bad = checks.iter().filter(|c| !c.ok).count();
    if app.json() {
        print_json(&checks)?;
    } else {
        print_checks(&checks);
    }
    if bad > 0 {
        return Err(CliError(format!(
            "{bad} of {} invoice file(s) are not valid",
            checks.len()
        )));
    }
    Ok(())
}

fn print_checks(checks: &[FileCheck]) {
    let mut out = std::io::stdout().lock();
    for c in checks {
        let form = c.form.as_deref().unwrap_or("?");
        if c.ok {
            let _ = writeln!(out, "OK     {} ({form})", c.file.display());
        } else {
            let first = c.errors.first().map(String::as_str).unwrap_or("invalid");
            let _ = writeln!(out, "ERROR  {} ({form}): {first}", c.file.display());
            for line in c.errors.iter().skip(1) {
                let _ = writeln!(out, "         {line}");
            }
        }
    }
}

async fn send(app: &mut App, args: SendArgs) -> CliResult<()> {
    let mut req = SendRequest::new(args.files);
    req.batch = args.batch;
    req.offline = args.offline;
    req.form = parse_form(args.form.as_deref())?;
    req.validate = !args.no_validate;
    req.compression = args
        .compression
        .parse()
        .map_err(|e| CliError(format!("--compression: {e}")))?;
    req.part_size = args.part_size;
    let bar = Bar::new();
    req.progress = bar.callback();
    let result = invoices::send(app, req).await;
    bar.finish();
    let reports = result?;
    let total: usize = reports.iter().map(|r| r.invoices.len()).sum();
    let accepted: usize = reports.iter().map(SendReport::accepted).sum();
    if app.json() {
        print_json(&serde_json::json!({
            "sessions": reports,
            "accepted": accepted,
            "failed": total - accepted,
        }))?;
    } else {
        print_reports(&reports);
    }
    if accepted < total {
        return Err(CliError(format!(
            "{} of {total} invoice(s) were not accepted by KSeF",
            total - accepted
        )));
    }
    Ok(())
}

fn status_text(o: &InvoiceOutcome) -> String {
    match o.status_code {
        Some(code) => format!("{code} {}", o.status_description),
        None => o.status_description.clone(),
    }
}

fn print_reports(reports: &[SendReport]) {
    let mut out = std::io::stdout().lock();
    for r in reports {
        let width = r
            .invoices
            .iter()
            .map(|o| o.file.display().to_string().chars().count())
            .max()
            .unwrap_or(4)
            .clamp(4, 60);
        let _ = writeln!(out, "{:<width$}  {:<38}  KSEF NUMBER", "FILE", "STATUS");
        for o in &r.invoices {
            let _ = writeln!(
                out,
                "{:<width$}  {:<38}  {}",
                o.file.display(),
                truncate(&status_text(o), 38),
                o.ksef_number.as_deref().unwrap_or("-")
            );
            if !o.accepted() {
                for d in &o.details {
                    let _ = writeln!(out, "{:<width$}    {d}", "");
                }
            }
        }
        let _ = writeln!(
            out,
            "session {} ({}): {} {}; {} accepted, {} not accepted",
            r.session_reference,
            r.session_kind,
            r.session_status_code,
            r.session_status_description,
            r.accepted(),
            r.failed()
        );
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        return s.to_string();
    }
    let mut t: String = s.chars().take(n.saturating_sub(1)).collect();
    t.push('…');
    t
}

async fn query(app: &mut App, args: QueryArgs) -> CliResult<()> {
    let date_type = invoices::parse_date_type(&args.date_type)?;
    let req = QueryRequest {
        subject_type: invoices::parse_subject_type(&args.subject_type)?,
        date_type,
        from: invoices::parse_when("--from", &args.from)?,
        to: args
            .to
            .as_deref()
            .map(|t| invoices::parse_when("--to", t))
            .transpose()?,
        page_size: args.page_size,
        limit: args.limit,
    };
    let result = invoices::query(app, &req).await?;
    if app.json() {
        return print_json(&result);
    }
    if result.invoices.is_empty() {
        println!("no invoices match");
        return Ok(());
    }
    println!(
        "{:<36}  {:<20}  {:<10}  {:<10}  {:<14}  {:>14}  {:<3}  {}",
        "KSEF NUMBER",
        "INVOICE NUMBER",
        "ISSUED",
        "SELLER",
        "BUYER",
        "GROSS",
        "CUR",
        date_label(date_type)
    );
    for m in &result.invoices {
        print_metadata_row(m, date_type);
    }
    if result.more {
        println!("… more invoices match; raise --limit or narrow the range");
    }
    Ok(())
}

fn date_label(t: InvoiceQueryDateType) -> &'static str {
    match t {
        InvoiceQueryDateType::Issue => "ISSUED",
        InvoiceQueryDateType::Invoicing => "INVOICED",
        InvoiceQueryDateType::PermanentStorage => "STORED",
    }
}

fn print_metadata_row(m: &InvoiceMetadata, t: InvoiceQueryDateType) {
    let date = match t {
        InvoiceQueryDateType::Issue => m.issue_date.to_string(),
        InvoiceQueryDateType::Invoicing => ksef_program::show_time(m.invoicing_date),
        InvoiceQueryDateType::PermanentStorage => ksef_program::show_time(m.permanent_storage_date),
    };
    println!(
        "{:<36}  {:<20}  {:<10}  {:<10}  {:<14}  {:>14.2}  {:<3}  {}",
        m.ksef_number,
        truncate(&m.invoice_number, 20),
        m.issue_date,
        m.seller.nip,
        m.buyer.identifier.value.as_deref().unwrap_or("-"),
        m.gross_amount,
        m.currency,
        date
    );
}

async fn download(app: &mut App, number: &str, output: Option<PathBuf>) -> CliResult<()> {
    let xml = invoices::download(app, number).await?;
    match output {
        Some(path) => {
            invoices::write_file(&path, &xml)?;
            if app.json() {
                print_json(
                    &serde_json::json!({"ksefNumber": number.trim(), "file": path, "size": xml.len()}),
                )
            } else {
                println!(
                    "{} written to {} ({} bytes)",
                    number.trim(),
                    path.display(),
                    xml.len()
                );
                Ok(())
            }
        }
        None => {
            let mut out = std::io::stdout().lock();
            out.write_all(&xml)
                .and_then(|_| out.flush())
                .map_err(|e| CliError(format!("cannot write to standard output: {e}")))
        }
    }
}
