//! UPO (Urzędowe Poświadczenie Odbioru) v4-3 rendering, shaped exactly like the official
//! samples (`ksef-docs/faktury/upo/przyklady/v4-3/`): `<?xml version="1.0" encoding="utf-8"?>`,
//! default namespace `http://upo.schematy.mf.gov.pl/KSeF/v4-3`, tab indentation, dates
//! `YYYY-MM-DD`, timestamps with milliseconds in Polish local time
//! (`2025-09-16T11:05:40.841+02:00`). Real UPOs are XAdES-signed by MF; these are not.

use std::fmt::Write as _;

use ksef_core::xml::escape;
use time::{Date, OffsetDateTime};

use crate::{FormCode, InvoiceError};

/// Target namespace of upo-v4-3.xsd.
pub const NAMESPACE: &str = "http://upo.schematy.mf.gov.pl/KSeF/v4-3";
/// `NazwaPodmiotuPrzyjmujacego` on production (the XSD's fixed value).
pub const RECEIVER_PRD: &str = "Ministerstwo Finansów";
/// `NazwaPodmiotuPrzyjmujacego` on TEST (as in the official samples).
pub const RECEIVER_TEST: &str = "Ministerstwo Finansów - środowisko testowe (TE)";
/// `NazwaPodmiotuPrzyjmujacego` on DEMO.
pub const RECEIVER_DEMO: &str = "Ministerstwo Finansów - środowisko przedprodukcyjne (TR)";

/// One UPO document (one page of a session UPO, or a single-invoice UPO).
#[derive(Debug, Clone, PartialEq)]
pub struct Upo {
    /// `NazwaPodmiotuPrzyjmujacego`, e.g. [`RECEIVER_TEST`].
    pub receiver_name: String,
    /// `NumerReferencyjnySesji`.
    pub session_reference: String,
    /// `Uwierzytelnienie/IdKontekstu`.
    pub context: UpoContext,
    /// Token reference or hash of the signed authentication document.
    pub authentication: UpoAuthentication,
    /// `OpisPotwierdzenia` (session UPOs; absent in a single-invoice UPO).
    pub page: Option<UpoPage>,
    /// Gives `NazwaStrukturyLogicznej` and `KodFormularza`.
    pub form_code: FormCode,
    /// `Dokument` elements (1–10 000).
    pub documents: Vec<UpoDocument>,
}

/// `IdKontekstu` choice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpoContext {
    /// `Nip`.
    Nip(String),
    /// `IdWewnetrzny` (`NIP-12345`).
    InternalId(String),
    /// `IdZlozonyVatUE` (`NIP-ATU12345678`).
    NipVatUe(String),
    /// `IdDostawcyUslugPeppol`.
    PeppolId(String),
}

/// How the session was authenticated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum UpoAuthentication {
    /// `NumerReferencyjnyTokenaKSeF`.
    KsefTokenReference(String),
    /// `SkrotDokumentuUwierzytelniajacego`: Base64 SHA-256 of the signed AuthTokenRequest.
    SignedDocumentHash(String),
}

/// `OpisPotwierdzenia`. The samples use an inclusive range (`1`..`2` for two documents).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UpoPage {
    pub page: u32,
    pub page_count: u32,
    pub range_from: u32,
    pub range_to: u32,
    pub total: u32,
}

/// One `Dokument`.
#[derive(Debug, Clone, PartialEq)]
pub struct UpoDocument {
    pub seller_nip: String,
    pub ksef_number: String,
    pub invoice_number: String,
    pub issue_date: Date,
    /// `DataPrzeslaniaDokumentu` (rendered in Polish local time, milliseconds).
    pub sent_at: OffsetDateTime,
    /// `DataNadaniaNumeruKSeF` (rendered in Polish local time, milliseconds).
    pub ksef_number_assigned_at: OffsetDateTime,
    /// `SkrotDokumentu`: Base64 SHA-256 of the invoice.
    pub invoice_hash: String,
    /// `Online` or `Offline`.
    pub invoicing_mode: &'static str,
}

/// `2025-09-16T11:05:40.841+02:00` (Polish local time, milliseconds).
pub fn format_timestamp(t: OffsetDateTime) -> String {
    let local = ksef_core::warsaw::to_warsaw(t);
    let offset = local.offset();
    let (oh, om, _) = offset.as_hms();
    format!(
        "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}{}{:02}:{:02}",
        local.year(),
        u8::from(local.month()),
        local.day(),
        local.hour(),
        local.minute(),
        local.second(),
        local.millisecond(),
        if offset.is_negative() { '-' } else { '+' },
        oh.unsigned_abs(),
        om.unsigned_abs()
    )
}

fn format_date(d: Date) -> String {
    format!("{:04}-{:02}-{:02}", d.year(), u8::from(d.month()), d.day())
}

/// Renders the UPO XML (UTF-8, no BOM), element order as in upo-v4-3.xsd and the samples.
pub fn render(upo: &Upo) -> String {
    let mut x = String::with_capacity(1024 + 640 * upo.documents.len());
    // Writing to a String cannot fail.
    let _ = write!(
        x,
        "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<Potwierdzenie xmlns=\"{NAMESPACE}\">\n"
    );
    let el = |x: &mut String, indent: usize, name: &str, value: &str| {
        let _ = writeln!(
            x,
            "{}<{name}>{}</{name}>",
            "\t".repeat(indent),
            escape(value)
        );
    };
    el(&mut x, 1, "NazwaPodmiotuPrzyjmujacego", &upo.receiver_name);
    el(&mut x, 1, "NumerReferencyjnySesji", &upo.session_reference);
    x.push_str("\t<Uwierzytelnienie>\n\t\t<IdKontekstu>\n");
    let (ctx_name, ctx_value) = match &upo.context {
        UpoContext::Nip(v) => ("Nip", v),
        UpoContext::InternalId(v) => ("IdWewnetrzny", v),
        UpoContext::NipVatUe(v) => ("IdZlozonyVatUE", v),
        UpoContext::PeppolId(v) => ("IdDostawcyUslugPeppol", v),
    };
    el(&mut x, 3, ctx_name, ctx_value);
    x.push_str("\t\t</IdKontekstu>\n");
    match &upo.authentication {
        UpoAuthentication::KsefTokenReference(v) => el(&mut x, 2, "NumerReferencyjnyTokenaKSeF", v),
        UpoAuthentication::SignedDocumentHash(v) => {
            el(&mut x, 2, "SkrotDokumentuUwierzytelniajacego", v)
        }
    }
    x.push_str("\t</Uwierzytelnienie>\n");
    if let Some(p) = &upo.page {
        x.push_str("\t<OpisPotwierdzenia>\n");
        el(&mut x, 2, "Strona", &p.page.to_string());
        el(&mut x, 2, "LiczbaStron", &p.page_count.to_string());
        el(&mut x, 2, "ZakresDokumentowOd", &p.range_from.to_string());
        el(&mut x, 2, "ZakresDokumentowDo", &p.range_to.to_string());
        el(&mut x, 2, "CalkowitaLiczbaDokumentow", &p.total.to_string());
        x.push_str("\t</OpisPotwierdzenia>\n");
    }
    el(
        &mut x,
        1,
        "NazwaStrukturyLogicznej",
        &upo.form_code.structure_name(),
    );
    el(&mut x, 1, "KodFormularza", upo.form_code.system_code());
    for d in &upo.documents {
        x.push_str("\t<Dokument>\n");
        el(&mut x, 2, "NipSprzedawcy", &d.seller_nip);
        el(&mut x, 2, "NumerKSeFDokumentu", &d.ksef_number);
        el(&mut x, 2, "NumerFaktury", &d.invoice_number);
        el(
            &mut x,
            2,
            "DataWystawieniaFaktury",
            &format_date(d.issue_date),
        );
        el(
            &mut x,
            2,
            "DataPrzeslaniaDokumentu",
            &format_timestamp(d.sent_at),
        );
        el(
            &mut x,
            2,
            "DataNadaniaNumeruKSeF",
            &format_timestamp(d.ksef_number_assigned_at),
        );
        el(&mut x, 2, "SkrotDokumentu", &d.invoice_hash);
        el(&mut x, 2, "TrybWysylki", d.invoicing_mode);
        x.push_str("\t</Dokument>\n");
    }
    x.push_str("</Potwierdzenie>");
    x
}

/// Validates a UPO against upo-v4-3.xsd. The TEST/DEMO receiver names
/// ("Ministerstwo Finansów - …") are tolerated although the XSD fixes the production name.
pub fn validate(xml: &[u8]) -> Result<(), InvoiceError> {
    let text = crate::bytes::check(xml)?;
    let doc = crate::schema::parse(text)?;
    crate::schema::validate_doc(crate::schema::SchemaKind::Upo, &doc)
}
