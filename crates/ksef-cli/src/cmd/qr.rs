//! `ksef invoice qr FILE`: the verification links of an invoice and their QR codes (digest
//! §13.2) — KOD I always, KOD II with a KSeF `Offline` certificate (`--cert`) for an invoice
//! issued offline — printed, and drawn with their labels as PNG and/or SVG. Local: nothing is
//! sent; the links point at the QR host of the environment chosen with `--env` / `--base-url`
//! (for the local emulator or any other API: that server's origin).

use std::path::{Path, PathBuf};

use clap::Args;
use ksef_core::qr::{InvoiceVerificationLink, LABEL_CERTIFICATE, LinkBase, invoice_label};
use ksef_core::{ContextIdentifier, ContextIdentifierType, KsefNumber, Nip};
use ksef_crypto::CryptoError;
use ksef_crypto::verification_link::sign_certificate_link;
use ksef_invoice::FormCode;
use ksef_program::ProgramError;
use ksef_visual::qr::{self, LabelledCode};
use serde::Serialize;

use crate::app::{App, CliError, CliResult, print_json};
use crate::cmd::pdf::english;

#[derive(Args)]
pub struct InvoiceQrArgs {
    /// The invoice XML file (FA(2), FA(3), FA_RR(1), PEF(3) or PEF_KOR(3)) exactly as sent to
    /// KSeF: the links carry the SHA-256 of its bytes.
    file: PathBuf,
    /// The invoice's KSeF number, the label under KOD I (default: OFFLINE).
    #[arg(long)]
    ksef_number: Option<String>,
    /// A KSeF Offline certificate to sign KOD II with (offline invoices): PKCS#12, or PEM with
    /// --key. An Authentication certificate is refused.
    #[arg(long)]
    cert: Option<PathBuf>,
    /// PEM private key for a PEM --cert.
    #[arg(long, requires = "cert")]
    key: Option<PathBuf>,
    /// File with the PKCS#12 password (first line); else KSEF_CERT_PASSWORD.
    #[arg(long, requires = "cert")]
    password_file: Option<PathBuf>,
    /// The context KOD II names, TYPE:VALUE with TYPE Nip, InternalId, NipVatUe or PeppolId
    /// (default: Nip:<the seller's NIP>).
    #[arg(long, requires = "cert", value_name = "TYPE:VALUE")]
    context: Option<String>,
    /// Write the code(s) with their labels to this PNG image (KOD I and KOD II side by side).
    #[arg(long, value_name = "OUT")]
    png: Option<PathBuf>,
    /// Write the code(s) with their labels to this SVG image.
    #[arg(long, value_name = "OUT")]
    svg: Option<PathBuf>,
    /// Pixels (SVG: user units) per QR module, 1–64.
    #[arg(long, default_value_t = qr::DEFAULT_MODULE_PX, value_parser = clap::value_parser!(u32).range(1..=64))]
    module_px: u32,
}

/// The `--json` answer.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct QrOutput {
    kod1: String,
    kod1_label: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    kod2: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    kod2_label: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    png: Option<PathBuf>,
    #[serde(skip_serializing_if = "Option::is_none")]
    svg: Option<PathBuf>,
}

/// `ksef invoice qr`.
pub fn run(app: &App, args: InvoiceQrArgs) -> CliResult<()> {
    let xml = std::fs::read(&args.file)
        .map_err(|e| CliError::Usage(format!("cannot read {}: {e}", args.file.display())))?;
    let (seller_nip, issue_date) = seller_and_date(&args.file, &xml)?;
    let base = LinkBase::for_api_base_url(&app.settings.base_url)
        .map_err(|e| CliError::Usage(format!("--base-url: {e}")))?;
    let ksef_number = args
        .ksef_number
        .as_deref()
        .map(str::trim)
        .filter(|n| !n.is_empty())
        .map(|n| {
            n.parse::<KsefNumber>()
                .map_err(|e| CliError::Usage(format!("--ksef-number: {e}")))
        })
        .transpose()?;

    let kod1 =
        InvoiceVerificationLink::for_file(base.clone(), seller_nip.clone(), issue_date, &xml)
            .map_err(|e| CliError::Usage(format!("{}: {e}", args.file.display())))?;
    let kod1_label = invoice_label(ksef_number.as_ref()).to_string();

    let kod2 = match &args.cert {
        None => None,
        Some(cert) => {
            let context = match &args.context {
                Some(c) => parse_context(c)?,
                None => ContextIdentifier::Nip(seller_nip.clone()),
            };
            let cred = ksef_program::auth::load_credential(
                cert,
                args.key.as_deref(),
                args.password_file.as_deref(),
            )?;
            let link =
                sign_certificate_link(&cred, base, context, seller_nip, *kod1.invoice_hash())
                    .map_err(|e| refused(cert, e))?;
            Some(link.url())
        }
    };

    let mut codes = vec![code(&kod1.url(), &kod1_label)?];
    if let Some(k) = &kod2 {
        codes.push(code(k, LABEL_CERTIFICATE)?);
    }
    if let Some(out) = &args.png {
        let bytes = qr::png(&codes, args.module_px).map_err(|e| CliError::Tool(e.to_string()))?;
        ksef_program::invoices::write_file(out, &bytes)?;
    }
    if let Some(out) = &args.svg {
        let text = qr::svg(&codes, args.module_px).map_err(|e| CliError::Tool(e.to_string()))?;
        ksef_program::invoices::write_file(out, text.as_bytes())?;
    }

    let out = QrOutput {
        kod1: kod1.url(),
        kod1_label,
        kod2_label: kod2.as_ref().map(|_| LABEL_CERTIFICATE),
        kod2,
        png: args.png,
        svg: args.svg,
    };
    if app.json() {
        return print_json(&out);
    }
    println!("KOD I  [{}]: {}", out.kod1_label, out.kod1);
    if let Some(k) = &out.kod2 {
        println!("KOD II [{LABEL_CERTIFICATE}]: {k}");
    }
    for path in out.png.iter().chain(&out.svg) {
        println!("wrote {}", path.display());
    }
    Ok(())
}

/// The seller's NIP and the issue date (`P_1`; FA_RR `P_4B`; PEF `cbc:IssueDate`) of any of
/// the five invoice forms.
fn seller_and_date(file: &Path, xml: &[u8]) -> CliResult<(Nip, time::Date)> {
    let form = FormCode::detect(xml).ok_or_else(|| {
        CliError::Usage(format!(
            "{} is not a KSeF invoice (FA(2), FA(3), FA_RR(1), PEF(3), PEF_KOR(3))",
            file.display()
        ))
    })?;
    let facts = ksef_invoice::extract_facts(form, xml)
        .map_err(|e| CliError::Usage(format!("{}: {}", file.display(), english(&e))))?;
    let nip = facts.seller_nip.parse::<Nip>().map_err(|e| {
        CliError::Usage(format!(
            "{}: the seller's NIP cannot be put in a verification link: {e}",
            file.display()
        ))
    })?;
    Ok((nip, facts.issue_date))
}

/// `TYPE:VALUE`, e.g. `InternalId:5265877635-00001`.
fn parse_context(text: &str) -> CliResult<ContextIdentifier> {
    let usage = |m: String| CliError::Usage(format!("--context: {m}"));
    let (kind, value) = text
        .trim()
        .split_once(':')
        .ok_or_else(|| usage(format!("{text:?} is not TYPE:VALUE (e.g. Nip:5265877635)")))?;
    let kind = kind
        .parse::<ContextIdentifierType>()
        .map_err(|e| usage(e.to_string()))?;
    ContextIdentifier::parse(kind, value).map_err(|e| usage(e.to_string()))
}

fn code(data: &str, label: &str) -> CliResult<LabelledCode> {
    LabelledCode::new(data, label).map_err(|e| CliError::Tool(e.to_string()))
}

/// A certificate that may not sign KOD II names the file and says what to use instead.
pub(crate) fn refused(cert: &Path, e: CryptoError) -> CliError {
    match e {
        CryptoError::NotOfflineCertificate { .. } | CryptoError::NotKsefCertificate { .. } => {
            CliError::NotOfflineCertificate {
                file: cert.to_path_buf(),
                source: e,
            }
        }
        other => CliError::Program(ProgramError::Crypto(other).in_file(cert)),
    }
}
