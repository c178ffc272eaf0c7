//! `ksef sync --dir D`: download new invoices of the context into a directory (incremental,
//! resumable, idempotent; see `ksef_client::invoicing_flows::sync`).

use std::path::PathBuf;

use clap::Args;
use ksef_program::{invoices, show_time};

use crate::app::{App, CliError, CliResult, print_json};
use crate::cmd::progress::Bar;

#[derive(Args)]
pub struct SyncArgs {
    /// The directory: invoices go to DIR/Subject1/{ksefNumber}.xml etc., the checkpoints to
    /// DIR/.ksef-sync.json.
    #[arg(long)]
    dir: PathBuf,
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
}

pub async fn run(app: &mut App, args: SyncArgs) -> CliResult<()> {
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
    let result = invoices::sync(app, &args.dir, types, since, compression, bar.callback()).await;
    bar.finish();
    let report = result?;
    if app.json() {
        return print_json(&serde_json::json!({
            "dir": report.dir,
            "downloaded": report.downloaded(),
            "subjects": report.subjects,
        }));
    }
    for s in &report.subjects {
        println!(
            "{}: {} new, {} already present ({} export(s)); up to date to {}; in {}",
            s.subject_type,
            s.downloaded,
            s.already_present,
            s.exports,
            show_time(s.checkpoint),
            s.dir.display()
        );
    }
    Ok(())
}
