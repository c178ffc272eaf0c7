//! `ksef invoice pdf` and `ksef upo pdf`: printable PDFs of local files. Nothing is sent and no
//! session or local store is needed; the output file is written atomically (a temporary file
//! renamed into place), so a failure never leaves a partial PDF behind.

use std::path::{Path, PathBuf};

use clap::Args;
use ksef_core::qr::LinkBase;
use ksef_visual::{InvoiceView, RenderOptions};

use crate::app::{CliError, CliResult};

#[derive(Args)]
pub struct InvoicePdfArgs {
    /// The invoice XML file (FA(2), FA(3) or FA_RR(1)), exactly as sent to KSeF: KOD I hashes
    /// its bytes.
    file: PathBuf,
    /// The KSeF number, shown in the header and under KOD I (default: OFFLINE under KOD I).
    #[arg(long)]
    ksef_number: Option<String>,
    /// Whose KOD I link: test, demo or prod (default: the API in use — the QR host of --env, or
    /// the local emulator's own verification pages).
    #[arg(long, value_name = "ENV")]
    env_host: Option<String>,
    /// The PDF file to write.
    #[arg(short, long)]
    output: PathBuf,
}

#[derive(Args)]
pub struct UpoPdfArgs {
    /// The UPO XML file (upo-v4-3).
    file: PathBuf,
    /// The PDF file to write.
    #[arg(short, long)]
    output: PathBuf,
}

/// The KOD I host for an environment name (`test`, `demo`, `prod`/`prd`; `local` = test).
pub fn qr_host(env: &str) -> CliResult<LinkBase> {
    match env.trim().to_ascii_lowercase().as_str() {
        "test" | "local" => Ok(LinkBase::test()),
        "demo" => Ok(LinkBase::demo()),
        "prod" | "prd" => Ok(LinkBase::prod()),
        other => Err(CliError::Usage(format!(
            "unknown environment {other:?}; expected one of: test, demo, prod"
        ))),
    }
}

fn read(path: &Path) -> CliResult<Vec<u8>> {
    std::fs::read(path).map_err(|e| CliError::Usage(format!("cannot read {}: {e}", path.display())))
}

fn write(path: &Path, pdf: &[u8]) -> CliResult<()> {
    ksef_program::invoices::write_file(path, pdf)?;
    Ok(())
}

/// `ksef invoice pdf FILE -o OUT.pdf`.
pub fn invoice(args: InvoicePdfArgs, api_base_url: &str) -> CliResult<()> {
    let xml = read(&args.file)?;
    let ksef_number = args
        .ksef_number
        .map(|n| n.trim().to_string())
        .filter(|n| !n.is_empty());
    let name = args.file.display().to_string();
    let pdf = render_invoice(
        &xml,
        &name,
        ksef_number,
        None,
        args.env_host.as_deref(),
        api_base_url,
    )?;
    write(&args.output, &pdf)?;
    eprintln!("{} written ({} bytes)", args.output.display(), pdf.len());
    Ok(())
}

/// An invoice file as PDF with KOD I (and KOD II when given), for `ksef invoice pdf` and
/// `ksef offline pdf`. KOD I points at `env_host`'s QR host, else at the verification pages of
/// the API in use (TEST/DEMO/PRD: the Ministry's QR hosts; the local emulator: its own
/// `/invoice/…` pages). `name` names the invoice in messages.
pub fn render_invoice(
    xml: &[u8],
    name: &str,
    ksef_number: Option<String>,
    kod_ii_url: Option<String>,
    env_host: Option<&str>,
    api_base_url: &str,
) -> CliResult<Vec<u8>> {
    let host = match env_host {
        Some(h) => qr_host(h).map_err(|e| CliError::Usage(format!("--env-host: {e}")))?,
        None => LinkBase::for_api_base_url(api_base_url)
            .map_err(|e| CliError::Usage(format!("--base-url: {e}")))?,
    };
    let view = InvoiceView::parse(xml).map_err(|e| {
        CliError::Usage(format!(
            "{name} is not an invoice this program can print: {}",
            english(&e)
        ))
    })?;
    let kod_i = view
        .kod_i(&host, xml)
        .map_err(|e| CliError::Usage(format!("{name}: no KOD I link: {e}")))?;
    let opts = RenderOptions {
        kod_i_url: Some(kod_i.url()),
        kod_ii_url,
        ksef_number,
        ..RenderOptions::default()
    };
    let pdf = ksef_visual::pdf::render(&view, &opts)
        .map_err(|e| CliError::Tool(format!("{name}: {e}")))?;
    if !host.is_official() {
        // A printout for a buyer needs the Ministry's host; say so rather than surprise.
        eprintln!(
            "note: KOD I points at {} (the API in use, e.g. the local emulator), not at the \
             Ministry's QR service; give --env-host test|demo|prod for a printout for a buyer",
            host.origin()
        );
    }
    Ok(pdf)
}

/// `ksef upo pdf UPO.xml -o OUT.pdf`.
pub fn upo(args: UpoPdfArgs) -> CliResult<()> {
    let xml = read(&args.file)?;
    let pdf = ksef_visual::upo_pdf::render(&xml).map_err(|e| {
        CliError::Usage(format!(
            "{} is not a UPO this program can print: {}",
            args.file.display(),
            english(&e)
        ))
    })?;
    write(&args.output, &pdf)?;
    eprintln!("{} written ({} bytes)", args.output.display(), pdf.len());
    Ok(())
}

/// The English half of a bilingual `Polish / English: detail` message.
pub(crate) fn english(e: &dyn std::fmt::Display) -> String {
    let s = e.to_string();
    match s.split_once(" / ") {
        Some((_, en)) => en.to_string(),
        None => s,
    }
}
