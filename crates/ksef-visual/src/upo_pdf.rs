//! A UPO (Urzędowe Poświadczenie Odbioru, upo-v4-3) as a printable PDF: the header fields as
//! label/value pairs and the confirmed documents as a table (breaking across pages). Read
//! leniently (every element is optional for display) with the same hostile-input limits as
//! invoices.

use ksef_pdf::{Align, Document, Table};
use roxmltree::{Node, ParsingOptions};

use crate::ViewError;
use crate::parse::{MAX_INPUT_BYTES, MAX_NODES};

/// The upo-v4-3 namespace.
pub const NAMESPACE: &str = "http://upo.schematy.mf.gov.pl/KSeF/v4-3";

/// Why a UPO cannot be printed.
#[derive(Debug, thiserror::Error)]
pub enum UpoPdfError {
    /// Too large, not UTF-8, not XML, a DTD…
    #[error(transparent)]
    Xml(#[from] ViewError),
    /// Well-formed XML, but not a UPO v4-3 (`{namespace}name` of the root).
    #[error("not a KSeF UPO (upo-v4-3): {0}")]
    NotAUpo(String),
    /// The typesetting layer failed.
    #[error("PDF rendering failed: {0}")]
    Pdf(#[from] ksef_pdf::PdfError),
}

fn child<'a, 'i>(n: Node<'a, 'i>, name: &str) -> Option<Node<'a, 'i>> {
    n.children()
        .find(|c| c.is_element() && c.tag_name().name() == name)
}

fn text(n: Node, name: &str) -> Option<String> {
    child(n, name)
        .and_then(|c| c.text())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

/// `2025-09-16T11:02:41.584+02:00` → `16.09.2025 11:02:41`; anything else as is.
fn timestamp(s: &str) -> String {
    match (s.get(0..10), s.get(11..19)) {
        (Some(d), Some(t)) if s.as_bytes().get(10) == Some(&b'T') => format!("{} {t}", date(d)),
        _ => s.to_string(),
    }
}

/// `2025-09-16` → `16.09.2025`; anything else as is.
fn date(s: &str) -> String {
    let parts: Vec<&str> = s.split('-').collect();
    match parts.as_slice() {
        [y, m, d] if y.len() == 4 && m.len() == 2 && d.len() == 2 => format!("{d}.{m}.{y}"),
        _ => s.to_string(),
    }
}

/// The UPO file as a PDF.
pub fn render(xml: &[u8]) -> Result<Vec<u8>, UpoPdfError> {
    if xml.len() > MAX_INPUT_BYTES {
        return Err(ViewError::TooLarge {
            size: xml.len(),
            limit: MAX_INPUT_BYTES,
        }
        .into());
    }
    if let Some(found) = ksef_core::xml::find_doctype(xml) {
        return Err(ViewError::Doctype(found.to_string()).into());
    }
    let bytes = xml.strip_prefix(&[0xEF, 0xBB, 0xBF]).unwrap_or(xml);
    let text_ = std::str::from_utf8(bytes).map_err(|e| ViewError::NotUtf8 {
        offset: e.valid_up_to(),
    })?;
    let opts = ParsingOptions {
        allow_dtd: false,
        nodes_limit: MAX_NODES,
        ..ParsingOptions::default()
    };
    let doc = roxmltree::Document::parse_with_options(text_, opts).map_err(|e| match e {
        roxmltree::Error::NodesLimitReached => ViewError::TooManyNodes { limit: MAX_NODES },
        other => ViewError::NotXml(other.to_string()),
    })?;
    let root = doc.root_element();
    if root.tag_name().name() != "Potwierdzenie" || root.tag_name().namespace() != Some(NAMESPACE) {
        return Err(UpoPdfError::NotAUpo(format!(
            "{{{}}}{}",
            root.tag_name().namespace().unwrap_or(""),
            root.tag_name().name()
        )));
    }

    let mut fields: Vec<(String, String)> = Vec::new();
    let mut push = |label: &str, value: Option<String>| {
        if let Some(v) = value {
            fields.push((format!("{label}:"), v));
        }
    };
    push(
        "Podmiot przyjmujący",
        text(root, "NazwaPodmiotuPrzyjmujacego"),
    );
    push(
        "Numer referencyjny sesji",
        text(root, "NumerReferencyjnySesji"),
    );
    if let Some(auth) = child(root, "Uwierzytelnienie") {
        if let Some(ctx) = child(auth, "IdKontekstu") {
            for (el, label) in [
                ("Nip", "Kontekst (NIP)"),
                ("IdWewnetrzny", "Kontekst (identyfikator wewnętrzny)"),
                ("IdZlozonyVatUE", "Kontekst (identyfikator złożony VAT UE)"),
                ("IdDostawcyUslugPeppol", "Kontekst (dostawca usług Peppol)"),
            ] {
                push(label, text(ctx, el));
            }
        }
        push(
            "Numer referencyjny tokena KSeF",
            text(auth, "NumerReferencyjnyTokenaKSeF"),
        );
        push(
            "Skrót dokumentu uwierzytelniającego",
            text(auth, "SkrotDokumentuUwierzytelniajacego"),
        );
    }
    if let Some(p) = child(root, "OpisPotwierdzenia") {
        if let (Some(a), Some(b)) = (text(p, "Strona"), text(p, "LiczbaStron")) {
            push("Strona potwierdzenia", Some(format!("{a} z {b}")));
        }
        if let (Some(a), Some(b)) = (text(p, "ZakresDokumentowOd"), text(p, "ZakresDokumentowDo")) {
            push("Zakres dokumentów", Some(format!("od {a} do {b}")));
        }
        push(
            "Całkowita liczba dokumentów",
            text(p, "CalkowitaLiczbaDokumentow"),
        );
    }
    push("Struktura logiczna", text(root, "NazwaStrukturyLogicznej"));
    push("Kod formularza", text(root, "KodFormularza"));

    let mut table = Table::new(
        &[
            "Lp.",
            "Numer KSeF",
            "Numer faktury",
            "NIP sprzedawcy",
            "Wystawiono",
            "Przesłano",
            "Nadano numer KSeF",
            "Tryb",
            "Skrót (SHA-256)",
        ],
        &[3.0, 15.0, 13.0, 10.0, 9.0, 8.5, 8.5, 6.0, 14.0],
        &[
            Align::Right,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
            Align::Left,
        ],
    )?;
    let documents: Vec<Node> = root
        .children()
        .filter(|c| c.is_element() && c.tag_name().name() == "Dokument")
        .collect();
    for (i, d) in documents.iter().enumerate() {
        let t = |name: &str| text(*d, name).unwrap_or_default();
        table.push_row([
            (i + 1).to_string(),
            t("NumerKSeFDokumentu"),
            t("NumerFaktury"),
            t("NipSprzedawcy"),
            date(&t("DataWystawieniaFaktury")),
            timestamp(&t("DataPrzeslaniaDokumentu")),
            timestamp(&t("DataNadaniaNumeruKSeF")),
            t("TrybWysylki"),
            t("SkrotDokumentu"),
        ])?;
    }

    let mut pdf = Document::new("Urzędowe Poświadczenie Odbioru (UPO)");
    pdf.footer("Urzędowe Poświadczenie Odbioru dokumentów w Krajowym Systemie e-Faktur (KSeF)");
    pdf.heading("Urzędowe Poświadczenie Odbioru (UPO)", 1)
        .small("Krajowy System e-Faktur – potwierdzenie przyjęcia dokumentów")
        .rule()
        .key_values(&fields)
        .spacer(8.0)
        .heading(format!("Dokumenty ({})", documents.len()), 2);
    if !table.is_empty() {
        pdf.table(table);
    }
    Ok(pdf.render()?)
}
