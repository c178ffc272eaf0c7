//! `ksef invoice …`: validate locally, send (online or batch), list the register, query
//! metadata, download.

use std::io::Write;
use std::path::PathBuf;

use clap::{Args, Subcommand};
use ksef_client::LimitsSource;
use ksef_client::invoicing_flows::InvoiceOutcome;
use ksef_program::invoices::{
    self, FileCheck, ModeDecision, ModeReason, QueryRequest, SendEvent, SendMode, SendRequest,
    SendTotals,
};
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
    /// List the invoice register (what `ksef sync` and `ksef invoice send` stored), newest
    /// first.
    List(ListArgs),
    /// Search invoice metadata (POST /invoices/query/metadata).
    Query(QueryArgs),
    /// Print an invoice XML file as PDF with KOD I (local; nothing is sent).
    Pdf(crate::cmd::pdf::InvoicePdfArgs),
    /// The verification links of an invoice (KOD I; KOD II with a KSeF Offline certificate)
    /// and their QR codes as PNG/SVG (local; nothing is sent).
    Qr(crate::cmd::qr::InvoiceQrArgs),
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
    /// The firm sending (checked against the KSeF session: nothing is sent for another firm).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
    /// Send through a batch session (one encrypted package). Default: online, or batch when
    /// sending online would take more than 5 minutes at the context's API rate limits.
    #[arg(long, conflicts_with = "online")]
    batch: bool,
    /// Send through an online session however long the context's rate limits make it take.
    #[arg(long)]
    online: bool,
    /// Declare the invoices issued offline (offlineMode).
    #[arg(long)]
    offline: bool,
    /// Form code for every file (FA3, FA2, FA_RR, PEF, PEF_KOR); default: detected per file.
    #[arg(long)]
    form: Option<String>,
    /// Batch archive format: targz (default; recommended by the API for large packages) or zip.
    #[arg(long, default_value = "targz", requires = "batch")]
    compression: String,
    /// Skip the local XSD check (to exercise KSeF's own verification).
    #[arg(long, hide = true)]
    no_validate: bool,
    /// Batch part size in bytes before encryption (default 100 MB).
    #[arg(long, hide = true, requires = "batch")]
    part_size: Option<u64>,
    /// Invoices per session (at most 10 000, the default); more files are sent in several sessions.
    #[arg(long, hide = true, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    session_size: Option<u64>,
}

#[derive(Args)]
pub struct ListArgs {
    /// Sales only (invoices you issued).
    #[arg(long, conflicts_with = "purchases")]
    sales: bool,
    /// Purchases only (invoices you received).
    #[arg(long)]
    purchases: bool,
    /// Issue date from (YYYY-MM-DD).
    #[arg(long)]
    from: Option<String>,
    /// Issue date to (YYYY-MM-DD, inclusive).
    #[arg(long)]
    to: Option<String>,
    /// The firm whose register to list (default: the KSeF session's, or the only one).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
    /// The other party: the seller's NIP (with --sales: the buyer's NIP or other identifier).
    #[arg(long)]
    party: Option<String>,
    /// A fragment of the invoice number, KSeF number or a party's name.
    #[arg(long)]
    text: Option<String>,
    /// Smallest gross amount (e.g. 100 or 99.99).
    #[arg(long)]
    min_amount: Option<String>,
    /// Largest gross amount.
    #[arg(long)]
    max_amount: Option<String>,
    /// Page (from 1).
    #[arg(long, default_value_t = 1)]
    page: u32,
    /// Invoices per page (1–1000).
    #[arg(long, default_value_t = 100)]
    page_size: u32,
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
        InvoiceCommand::List(args) => list(app, args).await,
        InvoiceCommand::Query(args) => query(app, args).await,
        InvoiceCommand::Download { number, output } => download(app, &number, output).await,
        InvoiceCommand::Qr(args) => crate::cmd::qr::run(app, args),
        // Local: no session; KOD I points at this API's verification pages.
        InvoiceCommand::Pdf(args) => crate::cmd::pdf::invoice(args, &app.settings.base_url),
    }
}

fn parse_form(form: Option<&str>) -> CliResult<Option<ksef_invoice::FormCode>> {
    Ok(form.map(invoices::parse_form).transpose()?)
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
        return Err(CliError::InvoicesInvalid {
            invalid: bad,
            total: checks.len(),
        });
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
    if let Some(firm) = args.context.firm()? {
        ksef_program::register::ensure_session_for(app, &firm).await?;
    }
    let mut req = SendRequest::new(args.files);
    req.mode = match (args.online, args.batch) {
        (true, _) => SendMode::Online,
        (_, true) => SendMode::Batch,
        _ => SendMode::Auto,
    };
    req.offline = args.offline;
    req.form = parse_form(args.form.as_deref())?;
    req.validate = !args.no_validate;
    req.compression = args
        .compression
        .parse()
        .map_err(|e| CliError::Usage(format!("--compression: {e}")))?;
    req.part_size = args.part_size;
    req.session_size = args.session_size.map(|n| n as usize);
    let bar = Bar::new();
    req.progress = bar.callback();
    // Rows are written as KSeF reports them: nothing per invoice is kept here.
    let mut out = if app.json() {
        Output::Json(JsonStream::default())
    } else {
        Output::Table(TableStream::default())
    };
    let result = invoices::send(app, req, &mut |event| {
        bar.suspend(|| {
            if let SendEvent::ModeChosen(d) = &event
                && let Some(line) = mode_line(d)
            {
                eprintln!("{line}");
            }
            out.event(event)
        });
    })
    .await
    .map_err(CliError::from);
    bar.finish();
    out.finish(&result);
    let totals = result?;
    if totals.failed > 0 {
        return Err(CliError::InvoicesNotAccepted {
            failed: totals.failed,
            total: totals.accepted + totals.failed,
        });
    }
    Ok(())
}

/// The one stderr line about the session kind, when the online send is slow at the context's
/// limits (chosen batch instead, or online anyway); `None` otherwise.
fn mode_line(d: &ModeDecision) -> Option<String> {
    if !d.online_is_slow() {
        return None;
    }
    let l = d.invoice_send;
    let whose = match d.limits_source {
        LimitsSource::Context => "this context's limits",
        LimitsSource::Documented => "KSeF's documented limits (the context's could not be read)",
    };
    let n = group_thousands(d.invoices as u64);
    let invoices = if d.invoices == 1 {
        "invoice"
    } else {
        "invoices"
    };
    let estimate = format!(
        "about {} at {whose} (invoiceSend {}/s, {}/min, {}/h)",
        crate::cmd::progress::human_duration(d.online_estimate),
        l.per_second,
        l.per_minute,
        l.per_hour
    );
    Some(match d.reason {
        ModeReason::TooSlowOnline => format!(
            "{n} {invoices} online would take {estimate}; sending them in a batch session instead \
             (--online to force)"
        ),
        ModeReason::NotBatchable { form } => format!(
            "{n} {invoices} online will take {estimate}; {form} cannot go in a batch session, so \
             they are sent online"
        ),
        ModeReason::Forced if !d.batch() => format!("{n} {invoices} online will take {estimate}"),
        ModeReason::Forced | ModeReason::FitsOnline => return None,
    })
}

/// `1000000` → `1 000 000`.
fn group_thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(' ');
        }
        out.push(c);
    }
    out
}

/// How `invoice send` prints.
enum Output {
    Table(TableStream),
    Json(JsonStream),
}

impl Output {
    fn event(&mut self, event: SendEvent) {
        let mut stdout = std::io::stdout().lock();
        let written = match self {
            Output::Table(t) => t.event(&mut stdout, event),
            Output::Json(j) => j.event(&mut stdout, event),
        };
        // A closed stdout (e.g. `| head`) must not stop the sending.
        let _ = written.and_then(|_| stdout.flush());
    }

    fn finish(&mut self, result: &CliResult<SendTotals>) {
        let mut stdout = std::io::stdout().lock();
        let written = match self {
            Output::Table(_) => Ok(()),
            Output::Json(j) => j.finish(&mut stdout, result),
        };
        let _ = written.and_then(|_| stdout.flush());
    }
}

/// The result table, one row per invoice as it arrives, a summary line per session.
#[derive(Default)]
struct TableStream {
    width: usize,
}

impl TableStream {
    fn event(&mut self, out: &mut impl Write, event: SendEvent) -> std::io::Result<()> {
        let width = self.width;
        match event {
            // On stderr (`mode_line`).
            SendEvent::ModeChosen(_) => Ok(()),
            SendEvent::Planned {
                longest_path,
                sessions,
                files,
            } => {
                self.width = longest_path.clamp(4, 60);
                if sessions > 1 {
                    writeln!(
                        out,
                        "{files} invoices in {sessions} sessions (KSeF takes at most {} per session)",
                        invoices::MAX_PER_SESSION
                    )?;
                }
                let width = self.width;
                writeln!(out, "{:<width$}  {:<38}  KSEF NUMBER", "FILE", "STATUS")
            }
            SendEvent::Outcome(o) => {
                writeln!(
                    out,
                    "{:<width$}  {:<38}  {}",
                    o.file.display(),
                    truncate(&status_text(&o), 38),
                    o.ksef_number.as_deref().unwrap_or("-")
                )?;
                if !o.accepted() {
                    for d in &o.details {
                        writeln!(out, "{:<width$}    {d}", "")?;
                    }
                }
                Ok(())
            }
            SendEvent::SessionDone(s) => writeln!(
                out,
                "session {} ({}): {} {}; {} accepted, {} not accepted",
                s.session_reference,
                s.session_kind,
                s.session_status_code,
                s.session_status_description,
                s.accepted,
                s.failed
            ),
        }
    }
}

/// `--json`: one document, written as it grows —
/// `{"sessions": [{"invoices": [...], "sessionReference": ..., ...}], "accepted": N,
/// "failed": M}` (plus `"error"` when the sending stopped on an error).
#[derive(Default)]
struct JsonStream {
    started: bool,
    sessions: usize,
    in_session: bool,
    outcomes: usize,
}

impl JsonStream {
    fn start(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        if !self.started {
            self.started = true;
            write!(out, "{{\n  \"sessions\": [")?;
        }
        Ok(())
    }

    fn open_session(&mut self, out: &mut impl Write) -> std::io::Result<()> {
        self.start(out)?;
        if !self.in_session {
            self.in_session = true;
            self.outcomes = 0;
            let sep = if self.sessions > 0 { "," } else { "" };
            write!(out, "{sep}\n    {{\n      \"invoices\": [")?;
        }
        Ok(())
    }

    fn event(&mut self, out: &mut impl Write, event: SendEvent) -> std::io::Result<()> {
        match event {
            SendEvent::ModeChosen(_) => Ok(()),
            SendEvent::Planned { .. } => self.start(out),
            SendEvent::Outcome(o) => {
                self.open_session(out)?;
                let sep = if self.outcomes > 0 { "," } else { "" };
                self.outcomes += 1;
                write!(out, "{sep}\n        {}", json_line(&o))
            }
            SendEvent::SessionDone(summary) => {
                self.open_session(out)?;
                let end = if self.outcomes > 0 { "\n      " } else { "" };
                write!(out, "{end}]")?;
                if let Ok(serde_json::Value::Object(fields)) = serde_json::to_value(&summary) {
                    for (k, v) in fields {
                        write!(out, ",\n      {}: {}", json_line(&k), json_line(&v))?;
                    }
                }
                write!(out, "\n    }}")?;
                self.in_session = false;
                self.sessions += 1;
                Ok(())
            }
        }
    }

    fn finish(
        &mut self,
        out: &mut impl Write,
        result: &CliResult<SendTotals>,
    ) -> std::io::Result<()> {
        if !self.started {
            // Refused before anything was planned: the error goes to stderr alone.
            return Ok(());
        }
        if self.in_session {
            write!(out, "\n      ]\n    }}")?;
        }
        let end = if self.sessions > 0 || self.in_session {
            "\n  "
        } else {
            ""
        };
        write!(out, "{end}]")?;
        match result {
            Ok(t) => write!(
                out,
                ",\n  \"accepted\": {},\n  \"failed\": {}",
                t.accepted, t.failed
            )?,
            Err(e) => write!(out, ",\n  \"error\": {}", json_line(&e.to_string()))?,
        }
        writeln!(out, "\n}}")
    }
}

fn json_line<T: serde::Serialize + ?Sized>(v: &T) -> String {
    serde_json::to_string(v).unwrap_or_else(|_| "null".into())
}

fn status_text(o: &InvoiceOutcome) -> String {
    match o.status_code {
        Some(code) => format!("{code} {}", o.status_description),
        None => o.status_description.clone(),
    }
}

/// At most `n` characters of `s`, an ellipsis marking a cut.
pub(crate) fn truncate(s: &str, n: usize) -> String {
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
        from: invoices::parse_when(ksef_program::Field::From, &args.from)?,
        to: args
            .to
            .as_deref()
            .map(|t| invoices::parse_when(ksef_program::Field::To, t))
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

fn parse_day(field: ksef_program::Field, s: &str) -> CliResult<time::Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    time::Date::parse(s.trim(), fmt).map_err(|_| {
        CliError::from(ksef_program::ProgramError::invalid(
            field,
            ksef_program::InputProblem::BadFormat {
                value: s.to_string(),
                expected: "a date YYYY-MM-DD",
            },
        ))
    })
}

async fn list(app: &mut App, args: ListArgs) -> CliResult<()> {
    use ksef_program::Field;
    use ksef_program::register::{self, ListRequest, ListedInvoice};
    use ksef_store::Direction;
    let direction = match (args.sales, args.purchases) {
        (true, _) => Some(Direction::Sale),
        (_, true) => Some(Direction::Purchase),
        _ => None,
    };
    let nip = args.party.map(|n| n.trim().to_string());
    let req = ListRequest {
        firm: args.context.firm()?,
        direction,
        from: args
            .from
            .as_deref()
            .map(|d| parse_day(Field::From, d))
            .transpose()?,
        to: args
            .to
            .as_deref()
            .map(|d| parse_day(Field::To, d))
            .transpose()?,
        // Sales are filtered by the buyer, everything else by the seller.
        seller_nip: nip.clone().filter(|_| direction != Some(Direction::Sale)),
        buyer_id: nip.filter(|_| direction == Some(Direction::Sale)),
        text: args.text,
        min_gross: args
            .min_amount
            .as_deref()
            .map(|a| register::parse_amount(Field::MinAmount, a))
            .transpose()?,
        max_gross: args
            .max_amount
            .as_deref()
            .map(|a| register::parse_amount(Field::MaxAmount, a))
            .transpose()?,
        offline: None,
        page: args.page,
        page_size: args.page_size,
    };
    let page = register::list(app, &req).await?;
    let rows: Vec<ListedInvoice> = page.invoices.iter().map(ListedInvoice::from).collect();
    if app.json() {
        return print_json(&rows);
    }
    println!(
        "{:<36}  {:<20}  {:<10}  {:<10}  {:<14}  {:>14}  {:<3}  {:<8}",
        "KSEF NUMBER", "INVOICE NUMBER", "ISSUED", "SELLER", "BUYER", "GROSS", "CUR", "STATUS"
    );
    for r in &rows {
        // Offline invoices: the mode and the sending deadline (flagged once passed).
        let offline = match (r.offline_mode, &r.send_deadline, r.corrects) {
            (Some(mode), Some(due), _) if r.status == "issued" => format!(
                "  {mode}, due {due}{}",
                if r.overdue { " OVERDUE" } else { "" }
            ),
            (Some(mode), _, _) => format!("  {mode}"),
            (None, _, Some(id)) => format!("  technical correction of id {id}"),
            _ => String::new(),
        };
        println!(
            "{:<36}  {:<20}  {:<10}  {:<10}  {:<14}  {:>14}  {:<3}  {:<8}{offline}",
            r.ksef_number.as_deref().unwrap_or("-"),
            truncate(&r.invoice_number, 20),
            r.issue_date,
            r.seller.nip.as_deref().unwrap_or("-"),
            r.buyer.nip.as_deref().unwrap_or("-"),
            r.gross.as_deref().unwrap_or("-"),
            r.currency,
            r.status
        );
    }
    let shown_to = (u64::from(req.page.max(1)) - 1) * u64::from(req.page_size) + rows.len() as u64;
    println!("{} of {} invoice(s)", shown_to, page.total);
    for t in &page.totals {
        println!(
            "  {}: {} invoice(s), net {}, VAT {}, gross {}",
            t.currency,
            t.count,
            register::format_grosze(t.net),
            register::format_grosze(t.vat),
            register::format_grosze(t.gross)
        );
    }
    Ok(())
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
                .map_err(|source| CliError::Io {
                    action: "write to standard output",
                    source,
                })
        }
    }
}
