//! PDF rendering of a [`Layout`] on top of `ksef-pdf`: the same sections, labels and values as
//! the HTML rendering, mapped onto A4 blocks. Header (kind, number, KSeF number), the parties
//! side by side, tables for lines / VAT summary / payments (breaking between rows, the header
//! row repeated), totals, KOD I as a vector QR code with the KSeF number (or `OFFLINE`) under
//! it (for an offline invoice KOD II beside it, `CERTYFIKAT` under it), and a footer
//! `strona N z M` on every page.

use ksef_pdf::{Align, Block as PdfBlock, Document, Table as PdfTable};

use crate::codes::{self, Code, CodeKind};
use crate::html::RenderOptions;
use crate::layout::{Block, Field, Layout, Panel, Table};
use crate::model::InvoiceView;

/// Why an invoice could not be rendered as PDF.
#[derive(Debug, thiserror::Error)]
pub enum PdfError {
    /// The typesetting layer refused the document (a malformed table, a QR payload too long).
    #[error("PDF rendering failed: {0}")]
    Render(#[from] ksef_pdf::PdfError),
}

/// The text in the footer of every page (left; `strona N z M` is on the right).
pub const FOOTER: &str = "Wizualizacja faktury z Krajowego Systemu e-Faktur (KSeF)";

/// The invoice as a PDF document.
pub fn render(view: &InvoiceView, opts: &RenderOptions) -> Result<Vec<u8>, PdfError> {
    let layout = view.layout(opts.ksef_number.as_deref());
    render_layout(&layout, opts)
}

/// A layout (see [`crate::layout::build`]) as a PDF document.
pub fn render_layout(layout: &Layout, opts: &RenderOptions) -> Result<Vec<u8>, PdfError> {
    let mut doc = Document::new(format!("{} {}", layout.title, layout.number));
    doc.footer(FOOTER);

    // Header: the brand on the left, the invoice's identity on the right.
    let mut id = vec![
        PdfBlock::small("Numer faktury:"),
        // A long number in a smaller size, so that it stays on one line where it can.
        PdfBlock::heading(
            layout.number.clone(),
            if layout.number.chars().count() > 24 {
                2
            } else {
                1
            },
        ),
        PdfBlock::paragraph(layout.title.clone()),
    ];
    if let Some(k) = &layout.ksef_number {
        id.push(PdfBlock::key_values(&[("Numer KSeF:", k.as_str())]));
    }
    doc.columns(vec![PdfBlock::heading("Krajowy System e-Faktur", 2)], id);
    doc.rule();

    for section in &layout.sections {
        if section.id == "footer" {
            push_qr(&mut doc, opts)?;
        }
        doc.spacer(6.0);
        doc.heading(section.title.clone(), 2);
        for block in &section.blocks {
            push_block(&mut doc, section.id, block)?;
        }
    }
    Ok(doc.render()?)
}

/// The printed size of KOD II, quiet zone included: 50 mm, 1.4 times KOD I's 36 mm (the
/// Ministry's generator prints them 210 and 150 pt): a KOD II link is two (EC signature) to
/// four and a half (RSA) times as long as KOD I's, and its modules stay at about 0.75 mm (EC)
/// to 0.55 mm (RSA 2048: a version 17 code).
const KOD_II_SIZE: f32 = 50.0 / 25.4 * 72.0;

/// The verification codes, before the footer section, as in the official visualisation: KOD I
/// alone is its heading over the code beside its link; with KOD II the two stand side by side,
/// each with its heading, label, caption and link. Only http(s) links.
fn push_qr(doc: &mut Document, opts: &RenderOptions) -> Result<(), PdfError> {
    let codes = codes::codes(opts);
    match codes.as_slice() {
        [] => {}
        [only] => {
            doc.spacer(6.0);
            doc.heading(only.kind.title(), 2);
            let mut text = Vec::new();
            if let Some(e) = only.kind.explanation() {
                text.push(PdfBlock::paragraph(e));
            }
            text.push(PdfBlock::paragraph(only.kind.pdf_caption()));
            text.push(PdfBlock::small(only.url));
            doc.columns(vec![code_block(only)?], text);
        }
        [first, second, ..] => {
            doc.spacer(6.0);
            doc.columns(stacked(first)?, stacked(second)?);
        }
    }
    Ok(())
}

/// The QR code with its label.
fn code_block(code: &Code) -> Result<PdfBlock, PdfError> {
    Ok(match code.kind {
        CodeKind::KodI => PdfBlock::qr(code.url, code.label)?,
        CodeKind::KodII => PdfBlock::qr_sized(code.url, code.label, KOD_II_SIZE)?,
    })
}

/// One code in its half of the page: heading, code and label, explanation, caption, link.
fn stacked(code: &Code) -> Result<Vec<PdfBlock>, PdfError> {
    let mut blocks = vec![PdfBlock::heading(code.kind.title(), 3), code_block(code)?];
    if let Some(e) = code.kind.explanation() {
        blocks.push(PdfBlock::small(e));
    }
    blocks.push(PdfBlock::paragraph(code.kind.pdf_caption()));
    blocks.push(PdfBlock::small(code.url));
    Ok(blocks)
}

fn pairs(fields: &[Field]) -> Vec<(String, String)> {
    fields
        .iter()
        .map(|f| (format!("{}:", f.label), f.value.clone()))
        .collect()
}

fn panel_blocks(p: &Panel) -> Vec<PdfBlock> {
    vec![
        PdfBlock::heading(p.title.clone(), 3),
        PdfBlock::key_values(&pairs(&p.fields)),
    ]
}

fn push_block(doc: &mut Document, section: &str, block: &Block) -> Result<(), PdfError> {
    match block {
        Block::Subheading(t) => {
            doc.heading(t.clone(), 3);
        }
        Block::Text(t) => {
            doc.paragraph(t.clone());
        }
        Block::Fields(fs) => {
            doc.key_values(&pairs(fs));
        }
        Block::Emphasis(f) => {
            doc.totals(&[(format!("{}:", f.label), f.value.clone())]);
        }
        Block::Panels(ps) => {
            // Two panels per row: seller | buyer, then the third parties in pairs.
            for pair in ps.chunks(2) {
                let left = panel_blocks(&pair[0]);
                let right = pair.get(1).map(panel_blocks).unwrap_or_default();
                doc.columns(left, right);
            }
        }
        Block::Table(t) => {
            if t.columns.is_empty() {
                return Ok(());
            }
            doc.table(table(section, t)?);
        }
    }
    Ok(())
}

/// Column widths from the content: the longest cell (or header word) per column, clamped, so
/// that names and descriptions get the room and numbers stay on one line.
fn widths(t: &Table) -> Vec<f32> {
    (0..t.columns.len())
        .map(|i| {
            let head = t.columns[i]
                .split_whitespace()
                .map(|w| w.chars().count())
                .max()
                .unwrap_or(1);
            let cells = t
                .rows
                .iter()
                .filter_map(|r| r.get(i))
                .map(|c| c.chars().count())
                .max()
                .unwrap_or(0);
            let numeric = t.numeric.get(i).copied().unwrap_or(false);
            let cap = if numeric { 16 } else { 48 };
            head.max(cells).clamp(3, cap) as f32 + 2.0
        })
        .collect()
}

fn table(_section: &str, t: &Table) -> Result<PdfTable, PdfError> {
    let n = t.columns.len();
    let aligns: Vec<Align> = (0..n)
        .map(|i| {
            if t.numeric.get(i).copied().unwrap_or(false) {
                Align::Right
            } else {
                Align::Left
            }
        })
        .collect();
    let headers: Vec<&str> = t.columns.iter().map(String::as_str).collect();
    let mut table = PdfTable::new(&headers, &widths(t), &aligns)?;
    for r in &t.rows {
        let mut row: Vec<&str> = r.iter().map(String::as_str).collect();
        row.resize(n, "");
        table.push_row(row)?;
    }
    Ok(table)
}
