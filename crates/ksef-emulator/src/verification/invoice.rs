//! KOD I: is the invoice in KSeF? (`kody-qr.md` §1, `offline/korekta-techniczna.md`)
//!
//! The invoice whose file hashes to the link's hash is looked up among the accepted invoices;
//! if there is none, among the technical corrections that name it as the rejected original
//! (then the code leads to the correction). Either must have the link's seller NIP and issue
//! date (`P_1`), else the link does not describe it.

use ksef_core::qr::{InvoiceVerificationLink, LinkKind};

use super::verdict::{Facts, Finding, Verdict};
use crate::error::ApiResult;
use crate::retrieval::{InvoiceByHash, corrections_of, invoices_with_hash};
use crate::state::AppState;

pub async fn verify(state: &AppState, link: &InvoiceVerificationLink) -> ApiResult<Verdict> {
    let mut facts = Facts {
        kind: Some(LinkKind::Invoice),
        seller_nip: Some(link.seller_nip().clone()),
        issue_date: Some(link.issue_date()),
        invoice_hash: Some(*link.invoice_hash()),
        ..Facts::default()
    };
    let hash = link.invoice_hash();
    let (found, corrected) = match invoices_with_hash(state, hash).await? {
        accepted if !accepted.is_empty() => (accepted, false),
        _ => (corrections_of(state, hash).await?, true),
    };
    if found.is_empty() {
        return Ok(Verdict {
            finding: Finding::InvoiceNotFound,
            facts,
        });
    }
    let matches = |i: &InvoiceByHash| {
        (
            &i.seller_nip == link.seller_nip(),
            i.issue_date == link.issue_date(),
        )
    };
    let Some(invoice) = found.iter().find(|i| matches(i) == (true, true)) else {
        // Which part differs, from the first one found (there is one in practice).
        let (seller_ok, date_ok) = matches(&found[0]);
        return Ok(Verdict {
            finding: Finding::InvoiceDataMismatch {
                seller_nip: !seller_ok,
                issue_date: !date_ok,
            },
            facts,
        });
    };
    facts.ksef_number = Some(invoice.ksef_number.clone());
    facts.acquired = Some(invoice.acquired);
    Ok(Verdict {
        finding: if corrected {
            Finding::TechnicallyCorrected
        } else {
            Finding::InvoiceInKsef
        },
        facts,
    })
}
