//! `ksef upo get`: the UPO (official receipt) of one invoice or of a whole session.

use std::io::Write;
use std::path::{Path, PathBuf};

use clap::Subcommand;
use ksef_client::invoicing_flows::InvoiceRef;
use ksef_program::invoices;

use crate::app::{App, CliError, CliResult, print_json};

#[derive(Subcommand)]
pub enum UpoCommand {
    /// Download a UPO: of one invoice (--invoice or --ksef-number) or of the session.
    Get {
        /// Reference number of the session.
        #[arg(long)]
        session: String,
        /// Reference number of the invoice in the session.
        #[arg(long, conflicts_with = "ksef_number")]
        invoice: Option<String>,
        /// KSeF number of the invoice.
        #[arg(long)]
        ksef_number: Option<String>,
        /// Write to this file (default: standard output). Further pages of a session UPO go to
        /// FILE-2, FILE-3, … (before the extension).
        #[arg(short, long)]
        output: Option<PathBuf>,
    },
    /// Print a UPO XML file (upo-v4-3) as PDF (local; nothing is sent).
    Pdf(crate::cmd::pdf::UpoPdfArgs),
}

pub async fn run(app: &mut App, cmd: UpoCommand) -> CliResult<()> {
    let (session, invoice, ksef_number, output) = match cmd {
        UpoCommand::Get {
            session,
            invoice,
            ksef_number,
            output,
        } => (session, invoice, ksef_number, output),
        // Handled in main without a session or local store.
        UpoCommand::Pdf(args) => return crate::cmd::pdf::upo(args),
    };
    let which = match (invoice, ksef_number) {
        (Some(r), _) => Some(InvoiceRef::Reference(r.trim().to_string())),
        (None, Some(n)) => Some(InvoiceRef::KsefNumber(n.trim().to_string())),
        (None, None) => None,
    };
    // A session UPO written to files is streamed (it lists every invoice of the session).
    if which.is_none()
        && let Some(path) = &output
    {
        let first = path.clone();
        let written = invoices::session_upo_files(app, &session, move |page| {
            if page == 1 {
                first.clone()
            } else {
                numbered(&first, page)
            }
        })
        .await?;
        return report_written(app, written);
    }
    let docs = invoices::upo(app, &session, which).await?;
    let Some(path) = output else {
        let mut out = std::io::stdout().lock();
        for d in &docs {
            out.write_all(&d.xml)
                .and_then(|_| out.write_all(b"\n"))
                .map_err(|source| CliError::Io {
                    action: "write to standard output",
                    source,
                })?;
        }
        return Ok(());
    };
    let mut written = Vec::new();
    for (i, d) in docs.iter().enumerate() {
        let target = if i == 0 {
            path.clone()
        } else {
            numbered(&path, i + 1)
        };
        invoices::write_file(&target, &d.xml)?;
        written.push((d.name.clone(), target));
    }
    report_written(app, written)
}

/// Prints which UPO went to which file.
fn report_written(app: &App, written: Vec<(String, PathBuf)>) -> CliResult<()> {
    if app.json() {
        let list: Vec<_> = written
            .iter()
            .map(|(name, file)| serde_json::json!({"upo": name, "file": file}))
            .collect();
        return print_json(&list);
    }
    for (name, file) in &written {
        println!("UPO {name} written to {}", file.display());
    }
    Ok(())
}

/// `dir/upo.xml` → `dir/upo-2.xml`.
fn numbered(path: &Path, n: usize) -> PathBuf {
    let stem = path
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_else(|| "upo".into());
    let name = match path.extension() {
        Some(ext) => format!("{stem}-{n}.{}", ext.to_string_lossy()),
        None => format!("{stem}-{n}"),
    };
    path.with_file_name(name)
}
