//! `ksef limits`: the session limits of the context, the subject's certificate limits and the
//! API rate limits (digest §15) — what KSeF will take before it answers 400 or 429.

use ksef_program::invoices;
use ksef_wire::{EffectiveApiRateLimitValues, SessionContextLimits};

use crate::app::{App, CliResult, print_json};

pub async fn run(app: &mut App) -> CliResult<()> {
    let limits = invoices::limits(app).await?;
    if app.json() {
        return print_json(&limits);
    }
    println!(
        "{:<16}  {:>12}  {:>22}  {:>12}",
        "SESSION", "INVOICE", "WITH ATTACHMENT", "INVOICES"
    );
    let session = |name: &str, l: &SessionContextLimits| {
        println!(
            "{name:<16}  {:>9} MB  {:>19} MB  {:>12}",
            l.max_invoice_size_in_mb, l.max_invoice_with_attachment_size_in_mb, l.max_invoices
        );
    };
    session("online", &limits.context.online_session);
    session("batch", &limits.context.batch_session);
    if let Some(e) = limits
        .subject
        .enrollment
        .as_ref()
        .and_then(|e| e.max_enrollments)
    {
        println!("certificate enrollments: at most {e}");
    }
    if let Some(c) = limits
        .subject
        .certificate
        .as_ref()
        .and_then(|c| c.max_certificates)
    {
        println!("certificates: at most {c}");
    }
    println!();
    println!(
        "{:<22}  {:>8}  {:>8}  {:>8}",
        "RATE LIMITS", "PER SEC", "PER MIN", "PER HOUR"
    );
    let r = &limits.rate_limits;
    let groups: [(&str, &EffectiveApiRateLimitValues); 12] = [
        ("onlineSession", &r.online_session),
        ("batchSession", &r.batch_session),
        ("invoiceSend", &r.invoice_send),
        ("invoiceStatus", &r.invoice_status),
        ("sessionList", &r.session_list),
        ("sessionInvoiceList", &r.session_invoice_list),
        ("sessionMisc", &r.session_misc),
        ("invoiceMetadata", &r.invoice_metadata),
        ("invoiceExport", &r.invoice_export),
        ("invoiceExportStatus", &r.invoice_export_status),
        ("invoiceDownload", &r.invoice_download),
        ("other", &r.other),
    ];
    for (name, v) in groups {
        println!(
            "{name:<22}  {:>8}  {:>8}  {:>8}",
            v.per_second, v.per_minute, v.per_hour
        );
    }
    Ok(())
}
