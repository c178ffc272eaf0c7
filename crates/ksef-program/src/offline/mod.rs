//! Offline invoicing (digest §13): issuing invoices while KSeF is not used — in one of the
//! [`OfflineMode`]s — sending them later with `offlineMode`, and the technical correction of an
//! offline invoice KSeF rejected.
//!
//! * [`issue_offline`] checks each file locally (the XSD, as [`crate::invoices::send`] does),
//!   refuses an invoice whose seller is not the firm, computes the sending deadline from `P_1`
//!   and the mode ([`OfflineMode::sending_deadline`]: Polish public holidays and weekends
//!   count) and records the invoice in the firm's register as issued offline, not sent yet
//!   (issuing the same file again finds the same invoice). Nothing is sent: KSeF may be down.
//! * [`crate::register::list`] shows them ([`crate::register::OfflineList`]: the pending and
//!   the overdue ones) with their mode, deadline and whether the deadline has passed.
//! * [`send_offline`] sends the pending ones with `offlineMode: true` — online, or in a batch
//!   session when [`crate::invoices::batch_is_better`] says so — and fills their register rows
//!   with what KSeF said (no second row).
//! * [`correct_technically`] re-sends a rejected offline invoice as a new file with
//!   `hashOfCorrectedInvoice` = the Base64 SHA-256 of the rejected file, in an online session,
//!   after checking locally what §13.1 allows ([`CorrectionRefusal`]); KSeF's own refusals
//!   (21166, 21167) come back as the same typed error. The correction is recorded linked to
//!   its original.

mod correction;
mod issue;
mod send;

use std::path::Path;

pub use correction::{
    CorrectionField, CorrectionOutcome, CorrectionRefusal, CorrectionRequest, correct_technically,
    parse_invoice_key,
};
pub use issue::{IssueRequest, IssuedInvoice, issue_offline};
pub use ksef_core::offline::{OfflineMode, OfflineModeKind};
use ksef_core::{ContextIdentifier, ContextIdentifierType};
use ksef_store::{FirmId, InvoiceKey, InvoiceStatus, RegisteredInvoice};
pub(crate) use send::sending_outcome;
pub use send::{
    OfflineSelection, OfflineSendEvent, OfflineSendRequest, OfflineSendTotals, SentOffline,
    send_offline,
};
use serde::Serializer;
use time::{Date, OffsetDateTime};

use crate::register::chosen_firm;
use crate::{App, Field, InputProblem, IoAction, ProgramError, ProgramResult};

/// Parses `--mode` (`offline24`, `unavailability`, `emergency`; also the Polish
/// `niedostepnosc` / `awaryjny`, case-insensitive) and `--ends` (`YYYY-MM-DD`, required for
/// the two announced modes, refused for offline24).
pub fn parse_mode(kind: &str, ends: Option<&str>) -> ProgramResult<OfflineMode> {
    let norm = kind.trim().to_lowercase();
    let kind = match norm.as_str() {
        "offline24" | "24" => OfflineModeKind::Offline24,
        "unavailability" | "unavailable" | "niedostepnosc" | "niedostępność" => {
            OfflineModeKind::Unavailability
        }
        "emergency" | "awaryjny" | "failure" => OfflineModeKind::Emergency,
        _ => {
            return Err(ProgramError::invalid(
                Field::OfflineMode,
                InputProblem::UnexpectedValue {
                    value: kind.to_string(),
                    expected: "offline24, unavailability or emergency".into(),
                },
            ));
        }
    };
    let ends = ends.map(|d| parse_day(Field::OfflineEnds, d)).transpose()?;
    OfflineMode::new(kind, ends).map_err(|e| match e {
        ksef_core::offline::OfflineModeError::MissingEnd(_) => ProgramError::invalid(
            Field::OfflineEnds,
            InputProblem::Missing {
                hint: "the day the announced unavailability or failure ended (--ends YYYY-MM-DD)",
            },
        ),
        ksef_core::offline::OfflineModeError::UnexpectedEnd => ProgramError::invalid(
            Field::OfflineEnds,
            InputProblem::NotApplicable {
                why: "offline24 is the taxpayer's own choice and has no end date",
            },
        ),
    })
}

/// Parses a `YYYY-MM-DD` day.
pub fn parse_day(field: Field, s: &str) -> ProgramResult<Date> {
    let fmt = time::macros::format_description!("[year]-[month]-[day]");
    Date::parse(s.trim(), fmt).map_err(|_| {
        ProgramError::invalid(
            field,
            InputProblem::BadFormat {
                value: s.to_string(),
                expected: "a date YYYY-MM-DD",
            },
        )
    })
}

/// Today in Poland (the calendar the deadlines are counted in).
pub fn today() -> Date {
    ksef_core::warsaw::to_warsaw(OffsetDateTime::now_utc()).date()
}

/// Whether an invoice is an offline one not sent yet whose deadline passed before `today`.
pub fn is_overdue(invoice: &RegisteredInvoice, today: Date) -> bool {
    invoice.record.status == InvoiceStatus::Issued
        && invoice
            .offline_issue
            .is_some_and(|o| ksef_core::offline::is_overdue_on(o.send_deadline, today))
}

pub(super) fn date_text<S: Serializer>(d: &Date, s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(d)
}

pub(super) fn opt_date_text<S: Serializer>(d: &Option<Date>, s: S) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => s.collect_str(d),
        None => s.serialize_none(),
    }
}

pub(super) fn kind_code<S: Serializer>(k: &OfflineModeKind, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(k.as_str())
}

pub(super) fn status_code<S: Serializer>(st: &InvoiceStatus, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(st.as_str())
}

/// The register of the firm named (`Nip:…`), else of the KSeF session or the only one, with
/// its context.
pub(super) async fn firm_with_context(
    app: &mut App,
    firm: Option<&str>,
) -> ProgramResult<(FirmId, String)> {
    let id = chosen_firm(app, firm).await?;
    let base = app.settings.base_url.clone();
    let registers = app.store().await?.registers(&base).await?;
    let context = registers
        .into_iter()
        .find(|(r, _)| *r == id)
        .map(|(_, c)| c)
        .ok_or_else(|| ProgramError::NoRegister {
            base_url: base,
            firms: Vec::new(),
        })?;
    Ok((id, context))
}

/// The NIP a firm (`Nip:5265877635`, `InternalId:5265877635-00001`, …) invoices as; `None`
/// for a context without one (Peppol providers), where KSeF alone decides.
fn firm_nip(context: &str) -> Option<String> {
    let (kind, value) = context.split_once(':')?;
    let kind: ContextIdentifierType = kind.parse().ok()?;
    let nip = ContextIdentifier::parse(kind, value).ok()?.nip()?;
    Some(nip.as_str().to_string())
}

pub(super) async fn read(file: &Path) -> ProgramResult<Vec<u8>> {
    tokio::fs::read(file)
        .await
        .map_err(|e| ProgramError::io(IoAction::Read, file, e))
}

/// The technical corrections recorded for an invoice of the firm's register (oldest first),
/// as the lists show them; `None` when the register has no such invoice.
pub async fn corrections_of(
    app: &mut App,
    firm: Option<&str>,
    original: &InvoiceKey,
) -> ProgramResult<Option<Vec<crate::register::ListedInvoice>>> {
    let firm = chosen_firm(app, firm).await?;
    let store = app.store().await?;
    let Some((inv, _)) = store.invoice(firm, original).await? else {
        return Ok(None);
    };
    let today = today();
    Ok(Some(
        store
            .corrections_of(firm, inv.id)
            .await?
            .iter()
            .map(|c| crate::register::ListedInvoice::as_of(c, today))
            .collect(),
    ))
}

// ---------------------------------------------------------------------------------------------
// KOD II
// ---------------------------------------------------------------------------------------------

/// Stores (or with `None` clears) the KOD II link of an invoice of the firm's register (made
/// where the offline certificate is at hand); `false` when the register has no such invoice.
pub async fn set_kod2_link(
    app: &mut App,
    firm: Option<&str>,
    invoice: &InvoiceKey,
    link: Option<&str>,
) -> ProgramResult<bool> {
    let firm = chosen_firm(app, firm).await?;
    Ok(app
        .store()
        .await?
        .set_kod2_link(firm, invoice, link)
        .await?)
}

/// Reads the firm's KSeF `Offline` certificate (PKCS#12, or PEM with `key_pem`) for KOD II,
/// refusing any other certificate before anything is issued or signed with it.
pub fn offline_credential(
    cert: &[u8],
    key_pem: Option<&[u8]>,
    password: &str,
) -> ProgramResult<ksef_crypto::Credential> {
    require_offline(crate::auth::credential_from_bytes(cert, key_pem, password)?)
}

/// `credential` if its certificate is a KSeF `Offline` one (the only kind that may sign
/// KOD II), else [`ksef_crypto::CryptoError::NotOfflineCertificate`].
pub fn require_offline(
    credential: ksef_crypto::Credential,
) -> ProgramResult<ksef_crypto::Credential> {
    use ksef_crypto::verification_link::{KsefCertificateUsage, ksef_certificate_usage};
    match ksef_certificate_usage(&credential.certificate_der)? {
        KsefCertificateUsage::Offline => Ok(credential),
        found => Err(ksef_crypto::CryptoError::NotOfflineCertificate { found }.into()),
    }
}

/// Makes KOD II of an invoice of the firm's register (named `Nip:…`, else the session's or the
/// only one) with the firm's KSeF `Offline`
/// certificate and stores it on the invoice; returns the link. It points at the API in use
/// (the Ministry's QR host on TEST/DEMO/PRD, the emulator's own pages locally). An
/// `Authentication` certificate is refused ([`ksef_crypto::CryptoError::NotOfflineCertificate`]).
pub async fn make_kod2_link(
    app: &mut App,
    firm: Option<&str>,
    invoice: &InvoiceKey,
    credential: &ksef_crypto::Credential,
) -> ProgramResult<String> {
    use ksef_core::qr::{InvoiceHash, LinkBase, LinkError};
    let register = chosen_firm(app, firm).await?;
    let base_url = app.settings.base_url.clone();
    let store = app.store().await?;
    // The firm's context as the register knows it (named, the session's or the only one).
    let firm = store
        .registers(&base_url)
        .await?
        .into_iter()
        .find(|(id, _)| *id == register)
        .map(|(_, context)| context)
        .unwrap_or_default();
    let Some((inv, bytes)) = store.invoice(register, invoice).await? else {
        return Err(crate::register::not_in_register(invoice));
    };
    if inv.record.direction != ksef_store::Direction::Sale || !inv.record.offline {
        return Err(ProgramError::invalid(
            Field::Invoice,
            InputProblem::NotApplicable {
                why: "KOD II belongs on the firm's own invoices issued offline",
            },
        ));
    }
    let no_link = |source: LinkError| ProgramError::NoVerificationLink {
        invoice: inv.record.invoice_number.clone(),
        source,
    };
    let context = firm_context(&firm).map_err(no_link)?;
    let seller = inv
        .record
        .seller_nip
        .parse()
        .map_err(|e| no_link(LinkError::SellerNip(e)))?;
    let base = LinkBase::for_api_base_url(&base_url).map_err(no_link)?;
    let link = ksef_crypto::verification_link::sign_certificate_link(
        credential,
        base,
        context,
        seller,
        InvoiceHash::of_file(&bytes),
    )?
    .url();
    store
        .set_kod2_link(register, &InvoiceKey::Id(inv.id), Some(&link))
        .await?;
    Ok(link)
}

/// A firm key (`Nip:5265877635`) as the context of a KOD II link.
fn firm_context(firm: &str) -> Result<ContextIdentifier, ksef_core::qr::LinkError> {
    use ksef_core::qr::LinkError;
    let (kind, value) = firm.split_once(':').ok_or_else(|| LinkError::ContextType {
        found: firm.to_string(),
    })?;
    let kind: ContextIdentifierType = kind.parse().map_err(|_| LinkError::ContextType {
        found: kind.to_string(),
    })?;
    ContextIdentifier::parse(kind, value).map_err(LinkError::Context)
}

#[cfg(test)]
mod tests {
    use super::*;
    use time::macros::date;

    #[test]
    fn modes_and_their_end_dates() {
        assert_eq!(
            parse_mode("offline24", None).unwrap(),
            OfflineMode::Offline24
        );
        assert_eq!(
            parse_mode("Unavailability", Some("2026-12-31")).unwrap(),
            OfflineMode::Unavailability {
                ends: date!(2026 - 12 - 31)
            }
        );
        assert_eq!(
            parse_mode("awaryjny", Some("2027-01-04")).unwrap(),
            OfflineMode::Emergency {
                ends: date!(2027 - 01 - 04)
            }
        );
        for (kind, ends, field) in [
            ("emergency", None, Field::OfflineEnds),
            ("offline24", Some("2026-12-31"), Field::OfflineEnds),
            ("unavailability", Some("31.12.2026"), Field::OfflineEnds),
            ("total", None, Field::OfflineMode),
        ] {
            let e = parse_mode(kind, ends).unwrap_err();
            assert!(
                matches!(&e, ProgramError::InvalidInput { field: f, .. } if *f == field),
                "{kind} {ends:?}: {e:?}"
            );
        }
    }

    #[test]
    fn firm_nips() {
        assert_eq!(firm_nip("Nip:5265877635").as_deref(), Some("5265877635"));
        let nip: ksef_core::Nip = "5265877635".parse().unwrap();
        let unit = ksef_core::InternalId::new(&nip, 1).unwrap();
        assert_eq!(
            firm_nip(&format!("InternalId:{}", unit.as_str())).as_deref(),
            Some("5265877635")
        );
        assert_eq!(
            firm_nip("InternalId:5265877635-00009"),
            None,
            "bad check digit"
        );
        assert_eq!(firm_nip("nonsense"), None);
    }
}
