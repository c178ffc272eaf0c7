//! `ksef-pdf` — A4 business documents as PDF: the small typesetting layer the program's
//! invoice visualisation and UPO printouts use.
//!
//! The crate knows nothing about KSeF data. A caller builds a [`Document`] from a few kinds
//! of blocks, top to bottom, and [`Document::render`] lays them out on A4 pages and returns
//! the PDF bytes:
//!
//! * [`Document::heading`] (levels 1–3), [`Document::paragraph`] (wrapped, breaks between
//!   lines across pages), [`Document::small`] (small grey print), [`Document::spacer`],
//!   [`Document::rule`];
//! * [`Document::key_values`]: label/value pairs, the labels in a column of their own;
//! * [`Document::columns`]: two blocks lists side by side (seller | buyer), kept together on
//!   one page;
//! * [`Document::table`]: a [`Table`] with column width fractions and alignments; it breaks
//!   between rows across pages and repeats its header row on every page;
//! * [`Document::totals`]: a right-aligned summary, the last row bold under a rule;
//! * [`Document::qr`]: a QR code (drawn as filled rectangles, vector, no image) with a
//!   caption under it.
//!
//! Every page gets a footer: an optional text of the caller's ([`Document::footer`]) on the
//! left and `strona N z M` on the right.
//!
//! The same blocks are values of their own ([`Block`]), for the two sides of
//! [`Document::columns`].
//!
//! ```
//! use ksef_pdf::{Align, Block, Document, Table};
//!
//! let mut doc = Document::new("Faktura FV/1/2026");
//! doc.heading("Faktura VAT FV/1/2026", 1)
//!     .columns(
//!         vec![Block::heading("Sprzedawca", 3), Block::paragraph("Żółć Sp. z o.o.\nul. Łąkowa 1")],
//!         vec![Block::heading("Nabywca", 3), Block::paragraph("Jan Kowalski")],
//!     );
//! let table = Table::new(
//!     &["Lp.", "Nazwa", "Kwota"],
//!     &[0.1, 0.6, 0.3],
//!     &[Align::Right, Align::Left, Align::Right],
//! )?
//! .row(["1", "Usługa", "100,00"])?;
//! doc.table(table).totals(&[("Razem", "100,00 PLN")]);
//! doc.qr("https://ksef.mf.gov.pl/", "1234567890-20260101-0123456789AB-CD")?;
//! let pdf: Vec<u8> = doc.render()?;
//! assert!(pdf.starts_with(b"%PDF-"));
//! # Ok::<(), ksef_pdf::PdfError>(())
//! ```
//!
//! Text is set in the embedded DejaVu Sans Condensed (regular and bold; licence and source in
//! `fonts/`), subset into each PDF with a ToUnicode map, so the PDF is small and its text —
//! Polish letters included — can be searched and copied. Characters are placed one glyph per
//! character from the font's advances (no shaping or kerning); characters the font lacks come
//! out as its empty box glyph. Why `pdf-writer` + `subsetter` write the PDF (and not krilla,
//! printpdf or genpdf): see the crate's README.md.

mod font;
mod layout;
mod render;

use std::fmt;

pub use layout::{PAGE_HEIGHT, PAGE_WIDTH};

/// The embedded faces as TrueType data, for other renderings that must print text the way the
/// PDFs do (the labels under the QR codes of `ksef-visual`'s PNG images).
pub mod fonts {
    /// DejaVu Sans Condensed (licence in the crate's `fonts/`).
    pub static DEJAVU_SANS_CONDENSED: &[u8] = crate::font::REGULAR_TTF;
    /// DejaVu Sans Condensed Bold.
    pub static DEJAVU_SANS_CONDENSED_BOLD: &[u8] = crate::font::BOLD_TTF;
}

/// Why a document could not be built or rendered.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// A table's headers, widths, alignments and rows disagree, or a width is not a positive
    /// number.
    #[error("invalid table: {0}")]
    Table(String),
    /// The data does not fit in a QR code.
    #[error("QR code: {0}")]
    Qr(String),
    /// The PDF writer failed.
    #[error("PDF writer: {0}")]
    Writer(String),
}

/// Horizontal alignment of a table column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Align {
    /// Flush left (text).
    #[default]
    Left,
    /// Centred.
    Center,
    /// Flush right (numbers and amounts).
    Right,
}

/// A table: a header row, column widths as fractions of the text width, column alignments and
/// data rows. Cells wrap within their column.
#[derive(Clone)]
pub struct Table {
    pub(crate) headers: Vec<String>,
    pub(crate) widths: Vec<f32>,
    pub(crate) aligns: Vec<Align>,
    pub(crate) rows: Vec<Vec<String>>,
}

impl Table {
    /// A table with these column headers, width fractions (normalised to their sum, so
    /// `[1.0, 4.0, 2.0]` works as well as fractions adding up to 1) and alignments; all three
    /// must have the same, non-zero length.
    pub fn new(
        headers: &[impl AsRef<str>],
        widths: &[f32],
        aligns: &[Align],
    ) -> Result<Table, PdfError> {
        let n = headers.len();
        if n == 0 {
            return Err(PdfError::Table("a table needs at least one column".into()));
        }
        if widths.len() != n || aligns.len() != n {
            return Err(PdfError::Table(format!(
                "{n} headers, {} widths, {} alignments",
                widths.len(),
                aligns.len()
            )));
        }
        if widths.iter().any(|w| !w.is_finite() || *w <= 0.0) {
            return Err(PdfError::Table(format!(
                "column widths must be positive: {widths:?}"
            )));
        }
        Ok(Table {
            headers: headers.iter().map(|h| h.as_ref().to_owned()).collect(),
            widths: widths.to_vec(),
            aligns: aligns.to_vec(),
            rows: Vec::new(),
        })
    }

    /// Adds a row; it must have one cell per column.
    pub fn row<I, S>(mut self, cells: I) -> Result<Table, PdfError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        self.push_row(cells)?;
        Ok(self)
    }

    /// Adds a row in place; it must have one cell per column.
    pub fn push_row<I, S>(&mut self, cells: I) -> Result<&mut Table, PdfError>
    where
        I: IntoIterator<Item = S>,
        S: Into<String>,
    {
        let row: Vec<String> = cells.into_iter().map(Into::into).collect();
        if row.len() != self.headers.len() {
            return Err(PdfError::Table(format!(
                "row {} has {} cells, the table {} columns",
                self.rows.len() + 1,
                row.len(),
                self.headers.len()
            )));
        }
        self.rows.push(row);
        Ok(self)
    }

    /// The number of data rows.
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// Whether the table has no data rows (it still prints its header).
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("headers", &self.headers)
            .field("rows", &self.rows.len())
            .finish()
    }
}

/// A QR code's module matrix (dark = `true`), row by row.
#[derive(Clone)]
pub(crate) struct QrMatrix {
    pub(crate) width: usize,
    pub(crate) dark: Vec<bool>,
}

/// One block of a document. Built with the constructors below and added with
/// [`Document::push`] or given to [`Document::columns`]; [`Document`]'s methods of the same
/// names are shorthands.
#[derive(Clone)]
pub struct Block(pub(crate) BlockKind);

#[derive(Clone)]
pub(crate) enum BlockKind {
    Heading(String, u8),
    Paragraph(String),
    Small(String),
    KeyValues(Vec<(String, String)>),
    Columns(Vec<Block>, Vec<Block>),
    Table(Table),
    Totals(Vec<(String, String)>),
    Qr {
        matrix: QrMatrix,
        caption: String,
        size: f32,
    },
    Spacer(f32),
    Rule,
}

impl fmt::Debug for Block {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.0 {
            BlockKind::Heading(t, l) => write!(f, "Heading({l}, {t:?})"),
            BlockKind::Paragraph(t) => write!(f, "Paragraph({t:?})"),
            BlockKind::Small(t) => write!(f, "Small({t:?})"),
            BlockKind::KeyValues(kv) => write!(f, "KeyValues({kv:?})"),
            BlockKind::Columns(l, r) => write!(f, "Columns({l:?}, {r:?})"),
            BlockKind::Table(t) => write!(f, "{t:?}"),
            BlockKind::Totals(t) => write!(f, "Totals({t:?})"),
            BlockKind::Qr { caption, .. } => write!(f, "Qr({caption:?})"),
            BlockKind::Spacer(h) => write!(f, "Spacer({h})"),
            BlockKind::Rule => write!(f, "Rule"),
        }
    }
}

fn pairs(pairs: &[(impl AsRef<str>, impl AsRef<str>)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| (k.as_ref().to_owned(), v.as_ref().to_owned()))
        .collect()
}

/// The default printed size of a QR code, quiet zone included: 36 mm.
pub const QR_DEFAULT_SIZE: f32 = 36.0 / 25.4 * 72.0;

impl Block {
    /// A bold heading; level 1 is the document title size, 2 a section, 3 (and above) a
    /// label-sized heading. Kept on the same page as the block after it.
    pub fn heading(text: impl Into<String>, level: u8) -> Block {
        Block(BlockKind::Heading(text.into(), level.max(1)))
    }

    /// Body text, wrapped at word boundaries; `\n` starts a new line.
    pub fn paragraph(text: impl Into<String>) -> Block {
        Block(BlockKind::Paragraph(text.into()))
    }

    /// Small grey text (notes, legal remarks), wrapped like a paragraph.
    pub fn small(text: impl Into<String>) -> Block {
        Block(BlockKind::Small(text.into()))
    }

    /// Label/value pairs, one per line; long values wrap beside their label.
    pub fn key_values(pairs_: &[(impl AsRef<str>, impl AsRef<str>)]) -> Block {
        Block(BlockKind::KeyValues(pairs(pairs_)))
    }

    /// Two lists of blocks side by side, each half the width; kept together on one page
    /// (tables inside do not break).
    pub fn columns(left: Vec<Block>, right: Vec<Block>) -> Block {
        Block(BlockKind::Columns(left, right))
    }

    /// A table; see [`Table`].
    pub fn table(table: Table) -> Block {
        Block(BlockKind::Table(table))
    }

    /// A right-aligned summary of label/value rows; the last row is bold, under a rule.
    pub fn totals(rows: &[(impl AsRef<str>, impl AsRef<str>)]) -> Block {
        Block(BlockKind::Totals(pairs(rows)))
    }

    /// A QR code of `data` (byte mode, error correction level M) with `caption` centred
    /// under it, [`QR_DEFAULT_SIZE`] wide.
    pub fn qr(data: &str, caption: impl Into<String>) -> Result<Block, PdfError> {
        Block::qr_sized(data, caption, QR_DEFAULT_SIZE)
    }

    /// [`Block::qr`] with the printed size (points, quiet zone of 4 modules included).
    pub fn qr_sized(data: &str, caption: impl Into<String>, size: f32) -> Result<Block, PdfError> {
        let code = qrcode::QrCode::with_error_correction_level(data.as_bytes(), qrcode::EcLevel::M)
            .map_err(|e| PdfError::Qr(e.to_string()))?;
        let width = code.width();
        let dark = code
            .to_colors()
            .into_iter()
            .map(|c| c == qrcode::Color::Dark)
            .collect();
        Ok(Block(BlockKind::Qr {
            matrix: QrMatrix { width, dark },
            caption: caption.into(),
            size: if size.is_finite() && size > 0.0 {
                size
            } else {
                QR_DEFAULT_SIZE
            },
        }))
    }

    /// Vertical space of `points` (dropped at the top of a page).
    pub fn spacer(points: f32) -> Block {
        Block(BlockKind::Spacer(points.max(0.0)))
    }

    /// A thin horizontal line across the text width.
    pub fn rule() -> Block {
        Block(BlockKind::Rule)
    }
}

/// A document under construction: a title (the PDF's metadata), blocks top to bottom and an
/// optional footer text. Rendered with [`Document::render`].
#[derive(Debug, Clone)]
pub struct Document {
    pub(crate) title: String,
    pub(crate) footer: String,
    pub(crate) blocks: Vec<Block>,
}

impl Document {
    /// An empty document; `title` becomes the PDF's title (shown by viewers), not a heading.
    pub fn new(title: impl Into<String>) -> Document {
        Document {
            title: title.into(),
            footer: String::new(),
            blocks: Vec::new(),
        }
    }

    /// The text printed at the bottom left of every page (`strona N z M` is on the right).
    pub fn footer(&mut self, text: impl Into<String>) -> &mut Self {
        self.footer = text.into();
        self
    }

    /// Appends a block.
    pub fn push(&mut self, block: Block) -> &mut Self {
        self.blocks.push(block);
        self
    }

    /// Appends [`Block::heading`].
    pub fn heading(&mut self, text: impl Into<String>, level: u8) -> &mut Self {
        self.push(Block::heading(text, level))
    }

    /// Appends [`Block::paragraph`].
    pub fn paragraph(&mut self, text: impl Into<String>) -> &mut Self {
        self.push(Block::paragraph(text))
    }

    /// Appends [`Block::small`].
    pub fn small(&mut self, text: impl Into<String>) -> &mut Self {
        self.push(Block::small(text))
    }

    /// Appends [`Block::key_values`].
    pub fn key_values(&mut self, pairs: &[(impl AsRef<str>, impl AsRef<str>)]) -> &mut Self {
        self.push(Block::key_values(pairs))
    }

    /// Appends [`Block::columns`].
    pub fn columns(&mut self, left: Vec<Block>, right: Vec<Block>) -> &mut Self {
        self.push(Block::columns(left, right))
    }

    /// Appends [`Block::table`].
    pub fn table(&mut self, table: Table) -> &mut Self {
        self.push(Block::table(table))
    }

    /// Appends [`Block::totals`].
    pub fn totals(&mut self, rows: &[(impl AsRef<str>, impl AsRef<str>)]) -> &mut Self {
        self.push(Block::totals(rows))
    }

    /// Appends [`Block::qr`].
    pub fn qr(&mut self, data: &str, caption: impl Into<String>) -> Result<&mut Self, PdfError> {
        Ok(self.push(Block::qr(data, caption)?))
    }

    /// Appends [`Block::spacer`].
    pub fn spacer(&mut self, points: f32) -> &mut Self {
        self.push(Block::spacer(points))
    }

    /// Appends [`Block::rule`].
    pub fn rule(&mut self) -> &mut Self {
        self.push(Block::rule())
    }

    /// Lays the document out on A4 pages and writes the PDF.
    pub fn render(&self) -> Result<Vec<u8>, PdfError> {
        let pages = layout::layout(self);
        render::render(self, &pages)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tables_reject_mismatched_shapes() {
        assert!(matches!(
            Table::new(&["a", "b"], &[1.0], &[Align::Left, Align::Left]),
            Err(PdfError::Table(_))
        ));
        assert!(matches!(
            Table::new(&["a"], &[0.0], &[Align::Left]),
            Err(PdfError::Table(_))
        ));
        assert!(matches!(
            Table::new(&[] as &[&str], &[], &[]),
            Err(PdfError::Table(_))
        ));
        let table = Table::new(&["a", "b"], &[1.0, 2.0], &[Align::Left, Align::Right]).unwrap();
        assert!(matches!(table.row(["only one"]), Err(PdfError::Table(_))));
    }

    #[test]
    fn qr_data_too_long_is_an_error() {
        let data = "x".repeat(3000);
        assert!(matches!(Block::qr(&data, ""), Err(PdfError::Qr(_))));
    }
}
