//! `ksef-visual` — human-readable KSeF invoices.
//!
//! * [`parse()`] reads an FA(2), FA(3) or FA_RR(1) document into an [`InvoiceView`]: a typed,
//!   owned view with every section a reader needs (parties incl. `Podmiot3` and
//!   `PodmiotUpowazniony`, dates, lines, VAT rate summary, totals, FA_RR amount in words,
//!   payment, annotations, correction data, advance payments, additional descriptions,
//!   attachments, footer, system info). Lenient for display, strict about hostile input: size,
//!   node count and nesting are bounded, DTDs refused, and every failure is a [`ViewError`].
//! * [`layout::build`] turns a view into a [`layout::Layout`]: the sections in the order of the
//!   Ministry's official visualisation (header, Dane faktury korygowanej, Sprzedawca / Nabywca /
//!   Podmiot trzeci, Szczegóły, Pozycje, Zamówienie, Podsumowanie stawek podatku, Adnotacje,
//!   Dodatkowe informacje, Rozliczenie, Płatność, Warunki transakcji, Załącznik, Stopka) with
//!   Polish labels and values formatted the Polish way (`1 234,56 zł`, `DD.MM.RRRR`). Any
//!   renderer (HTML and PDF here, the PDF typeset by `ksef-pdf`) draws that, so all show the same strings.
//! * [`html::render`] / [`html::render_page`]: an HTML fragment to embed in a page, or a
//!   standalone page (askama, auto-escaped), with KOD I as an inline SVG QR code and the KSeF
//!   number (or `OFFLINE`) under it, and for an offline invoice KOD II beside it, labelled
//!   `CERTYFIKAT` ([`RenderOptions::kod_ii_url`]).
//! * [`pdf::render`]: the same layout as an A4 PDF (ksef-pdf): tables breaking across pages,
//!   KOD I (and KOD II) as vector QR codes, `strona N z M` in the footer.
//! * [`upo_pdf::render`]: a UPO (upo-v4-3) as a PDF: its fields and the table of documents.
//! * [`InvoiceView::kod_i`]: the KOD I verification link of the invoice (built by
//!   `ksef_core::qr`, digest §13.2); [`qr`]: QR codes with their labels as SVG and PNG images,
//!   and the bare code as an inline SVG for HTML.
//! * [`facts::Facts`]: the key strings of an invoice as every rendering must show them, for
//!   tests of the HTML and PDF renderings.
//!
//! PEF (UBL) documents are not covered: [`parse()`] answers [`ViewError::UnsupportedForm`].

mod codes;
pub mod decimal;
pub mod facts;
pub mod html;
pub mod layout;
pub mod model;
pub mod parse;
pub mod pdf;
pub mod qr;
pub mod upo_pdf;

pub use decimal::Decimal;
pub use facts::Facts;
pub use html::RenderOptions;
pub use model::*;
pub use parse::parse;

/// Why a document cannot be shown.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ViewError {
    /// Larger than [`parse::MAX_INPUT_BYTES`].
    #[error("dokument jest za duży ({size} B, limit {limit} B) / document too large")]
    TooLarge { size: usize, limit: usize },
    /// Carries a document type declaration (refused by the workspace's DTD guard).
    #[error("{0}")]
    Doctype(String),
    /// Not UTF-8.
    #[error("dokument nie jest w UTF-8 (bajt {offset}) / document is not UTF-8")]
    NotUtf8 { offset: usize },
    /// Not well-formed XML.
    #[error("to nie jest poprawny dokument XML / not well-formed XML: {0}")]
    NotXml(String),
    /// Nested deeper than [`parse::MAX_DEPTH`] elements.
    #[error("zbyt głębokie zagnieżdżenie elementów (limit {limit}) / nesting too deep")]
    TooDeep { limit: usize },
    /// More than [`parse::MAX_NODES`] XML nodes.
    #[error("zbyt wiele węzłów XML (limit {limit}) / too many XML nodes")]
    TooManyNodes { limit: u32 },
    /// Well-formed XML, but its root is no invoice at all (`{namespace}name`).
    #[error("to nie jest faktura KSeF / not a KSeF invoice: {0}")]
    NotAnInvoice(String),
    /// An invoice of a form this crate does not show (PEF, an unknown or mismatched
    /// `KodFormularza`…).
    #[error("nieobsługiwana struktura faktury / unsupported invoice form: {0}")]
    UnsupportedForm(String),
    /// A part every view needs is missing (path of the element).
    #[error("brak wymaganego elementu {0} / required element missing")]
    MissingElement(&'static str),
    /// A part every view needs cannot be read (path, the value cut to 40 characters).
    #[error("niepoprawna wartość elementu {element}: „{value}” / invalid value")]
    InvalidValue {
        element: &'static str,
        value: String,
    },
}

impl InvoiceView {
    /// Reads an invoice document; see [`parse()`].
    pub fn parse(xml: &[u8]) -> Result<InvoiceView, ViewError> {
        parse::parse(xml)
    }

    /// The KOD I link of this invoice at `base`: `file` must be the exact bytes this view was
    /// read from. Fails when the seller's NIP is not a valid NIP (no link can name it).
    pub fn kod_i(
        &self,
        base: &ksef_core::qr::LinkBase,
        file: &[u8],
    ) -> Result<ksef_core::qr::InvoiceVerificationLink, ksef_core::qr::LinkError> {
        let nip = self
            .seller_nip()
            .parse()
            .map_err(ksef_core::qr::LinkError::SellerNip)?;
        ksef_core::qr::InvoiceVerificationLink::for_file(base.clone(), nip, self.issue_date, file)
    }

    /// The display layout (see [`layout::build`]).
    pub fn layout(&self, ksef_number: Option<&str>) -> layout::Layout {
        layout::build(self, ksef_number)
    }

    /// The key strings every rendering must show.
    pub fn facts(&self) -> Facts {
        Facts::of(self)
    }
}
