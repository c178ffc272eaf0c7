//! `ksef session …`: the online and batch sessions of the context and their invoices.

use clap::Subcommand;
use ksef_program::invoices;
use ksef_program::show_time;
use ksef_wire::{SessionType, SessionsQueryResponseItem, WireEnum};

use crate::app::{App, CliResult, print_json};

#[derive(Subcommand)]
pub enum SessionCommand {
    /// List sessions, newest first.
    List {
        /// online or batch (default: both).
        #[arg(long = "type")]
        session_type: Option<String>,
        /// Only these statuses: InProgress, Succeeded, Failed, Cancelled (repeatable or
        /// comma-separated).
        #[arg(long)]
        status: Vec<String>,
        /// At most this many sessions (per type).
        #[arg(long, default_value_t = 100)]
        limit: usize,
    },
    /// Show one session: status, UPO pages and every invoice.
    Show {
        /// Reference number of the session.
        reference: String,
    },
}

pub async fn run(app: &mut App, cmd: SessionCommand) -> CliResult<()> {
    match cmd {
        SessionCommand::List {
            session_type,
            status,
            limit,
        } => list(app, session_type, status, limit).await,
        SessionCommand::Show { reference } => show(app, &reference).await,
    }
}

async fn list(
    app: &mut App,
    session_type: Option<String>,
    status: Vec<String>,
    limit: usize,
) -> CliResult<()> {
    let types = match session_type {
        Some(t) => vec![invoices::parse_session_type(&t)?],
        None => vec![SessionType::Online, SessionType::Batch],
    };
    let statuses = invoices::parse_session_statuses(&status)?;
    let mut rows: Vec<(SessionType, SessionsQueryResponseItem)> = Vec::new();
    for t in types {
        let items = invoices::list_sessions(app, t, statuses.clone(), limit.max(1)).await?;
        rows.extend(items.into_iter().map(|i| (t, i)));
    }
    rows.sort_by_key(|r| std::cmp::Reverse(r.1.date_created));
    if app.json() {
        let v: Vec<_> = rows
            .iter()
            .map(|(t, i)| {
                let mut j = serde_json::to_value(i).unwrap_or_default();
                if let Some(o) = j.as_object_mut() {
                    o.insert("sessionType".into(), t.wire_name().into());
                }
                j
            })
            .collect();
        return print_json(&v);
    }
    if rows.is_empty() {
        println!("no sessions");
        return Ok(());
    }
    println!(
        "{:<36}  {:<6}  {:<48}  {:<23}  INVOICES (ok/failed/all)",
        "REFERENCE", "TYPE", "STATUS", "CREATED"
    );
    for (t, s) in &rows {
        println!(
            "{:<36}  {:<6}  {:<48}  {:<23}  {}/{}/{}",
            s.reference_number,
            t.wire_name(),
            format!("{} {}", s.status.code, s.status.description),
            show_time(s.date_created),
            s.successful_invoice_count,
            s.failed_invoice_count,
            s.total_invoice_count
        );
    }
    Ok(())
}

async fn show(app: &mut App, reference: &str) -> CliResult<()> {
    let (status, invoices) = invoices::show_session(app, reference).await?;
    if app.json() {
        return print_json(&serde_json::json!({
            "referenceNumber": reference.trim(),
            "session": status,
            "invoices": invoices,
        }));
    }
    println!("session:   {}", reference.trim());
    println!(
        "status:    {} {}",
        status.status.code, status.status.description
    );
    for d in status.status.details.iter().flatten() {
        println!("           {d}");
    }
    println!("created:   {}", show_time(status.date_created));
    println!("updated:   {}", show_time(status.date_updated));
    if let Some(v) = status.valid_until {
        println!("valid to:  {}", show_time(v));
    }
    println!(
        "invoices:  {} ({} accepted, {} failed)",
        status.invoice_count.unwrap_or(invoices.len() as u32),
        status.successful_invoice_count.unwrap_or(0),
        status.failed_invoice_count.unwrap_or(0)
    );
    for p in status.upo.iter().flat_map(|u| &u.pages) {
        println!(
            "UPO:       {} (ksef upo get --session {} -o upo.xml)",
            p.reference_number,
            reference.trim()
        );
    }
    if invoices.is_empty() {
        return Ok(());
    }
    println!();
    println!(
        "{:>5}  {:<36}  {:<40}  {:<36}  FILE / NUMBER",
        "#", "REFERENCE", "STATUS", "KSEF NUMBER"
    );
    for i in &invoices {
        println!(
            "{:>5}  {:<36}  {:<40}  {:<36}  {}",
            i.ordinal_number,
            i.reference_number,
            format!("{} {}", i.status.code, i.status.description),
            i.ksef_number.as_deref().unwrap_or("-"),
            i.invoice_file_name
                .as_deref()
                .or(i.invoice_number.as_deref())
                .unwrap_or("-")
        );
        if i.status.code != 200 {
            for d in i.status.details.iter().flatten() {
                println!("{:>5}  {d}", "");
            }
        }
    }
    Ok(())
}
