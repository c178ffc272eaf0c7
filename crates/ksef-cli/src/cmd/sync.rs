//! `ksef sync [--dir D]`: download new invoices of the context into the invoice register (and
//! a directory; incremental, resumable, idempotent; see `ksef_program::invoices::sync`).

use std::path::PathBuf;

use clap::Args;
use ksef_program::{invoices, show_time};

use crate::app::{App, CliError, CliResult, print_json};
use crate::cmd::progress::Bar;

#[derive(Args)]
pub struct SyncArgs {
    /// Also write the invoices to DIR/Subject1/{ksefNumber}.xml etc. (checkpoints in
    /// DIR/.ksef-sync.json). Without it, the invoices go to the register only.
    #[arg(long)]
    dir: Option<PathBuf>,
    /// Subject types (Subject1 = issued by you, Subject2 = received, Subject3,
    /// SubjectAuthorized); repeatable or comma-separated. Default: Subject1 and Subject2.
    #[arg(long)]
    subject_type: Vec<String>,
    /// First sync only: start from this date (YYYY-MM-DD or RFC 3339; default 87 days ago,
    /// KSeF takes at most 3 months per request).
    #[arg(long)]
    since: Option<String>,
    /// Export package format: zip (default) or targz.
    #[arg(long, default_value = "zip")]
    compression: String,
    /// The firm to sync (checked against the KSeF session: nothing is filed under another firm).
    #[command(flatten)]
    context: crate::cmd::ContextArgs,
}

pub async fn run(app: &mut App, args: SyncArgs) -> CliResult<()> {
    if let Some(firm) = args.context.firm()? {
        ksef_program::register::ensure_session_for(app, &firm).await?;
    }
    let mut types = Vec::new();
    for v in args.subject_type.iter().flat_map(|s| s.split(',')) {
        if !v.trim().is_empty() {
            types.push(invoices::parse_subject_type(v)?);
        }
    }
    let since = args
        .since
        .as_deref()
        .map(|s| invoices::parse_when(ksef_program::Field::Since, s))
        .transpose()?;
    let compression = args
        .compression
        .parse()
        .map_err(|e| CliError::Usage(format!("--compression: {e}")))?;
    let bar = Bar::new();
    let result = invoices::sync(
        app,
        args.dir.as_deref(),
        types,
        since,
        compression,
        bar.callback(),
    )
    .await;
    bar.finish();
    let report = result?;
    if app.json() {
        return print_json(&serde_json::json!({
            "dir": report.dir,
            "downloaded": report.downloaded(),
            "registered": report.subjects.iter().map(|s| s.registered).sum::<u64>(),
            "subjects": report.subjects,
        }));
    }
    for s in &report.subjects {
        match &s.dir {
            Some(dir) => println!(
                "{}: {} new in the register; {} new, {} already present in {} ({} export(s)); \
                 up to date to {}",
                s.subject_type,
                s.registered,
                s.downloaded,
                s.already_present,
                dir.display(),
                s.exports,
                show_time(s.checkpoint)
            ),
            None => println!(
                "{}: {} new in the register ({} export(s)); up to date to {}",
                s.subject_type,
                s.registered,
                s.exports,
                show_time(s.checkpoint)
            ),
        }
    }
    Ok(())
}
