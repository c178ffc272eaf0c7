//! Layout: blocks → pages of positioned drawing operations (points, origin at the top left
//! of the page, y downwards; `render` flips to PDF coordinates).
//!
//! Each block becomes pieces: unbreakable fragments (a paragraph line, a key/value pair, a
//! table row…), vertical spaces (dropped at the top of a page) and tables (header fragment +
//! row fragments, the header repeated after every page break). The flow puts fragments on the
//! page while they fit and starts a new page when one does not.

use crate::font::{Face, Fonts, Weight};
use crate::{Align, Block, BlockKind, Document, QrMatrix, Table};

/// A4 width in points.
pub const PAGE_WIDTH: f32 = 595.276;
/// A4 height in points.
pub const PAGE_HEIGHT: f32 = 841.89;

const MM: f32 = 72.0 / 25.4;
const MARGIN_X: f32 = 15.0 * MM;
const MARGIN_TOP: f32 = 15.0 * MM;
/// The bottom of the text area; the footer sits below it.
const CONTENT_BOTTOM: f32 = PAGE_HEIGHT - 20.0 * MM;
const CONTENT_WIDTH: f32 = PAGE_WIDTH - 2.0 * MARGIN_X;

const BODY: f32 = 9.0;
const SMALL: f32 = 7.5;
const TABLE: f32 = 8.0;
const LEADING: f32 = 1.3;
const PARAGRAPH_AFTER: f32 = 4.0;
const COLUMN_GAP: f32 = 18.0;
const CELL_PAD_X: f32 = 3.0;
const CELL_PAD_Y: f32 = 2.5;

const BLACK: u8 = 0;
const GREY_TEXT: u8 = 90;
const GREY_RULE: u8 = 170;
const GREY_FILL: u8 = 232;

/// One drawing operation on a page.
#[derive(Debug, Clone)]
pub(crate) enum Op {
    /// A line of text with its baseline starting at (x, y).
    Text {
        x: f32,
        y: f32,
        size: f32,
        weight: Weight,
        grey: u8,
        text: String,
    },
    /// Filled rectangles (one path) in a grey level.
    Rects { rects: Vec<[f32; 4]>, grey: u8 },
}

impl Op {
    fn shifted(mut self, dx: f32, dy: f32) -> Op {
        match &mut self {
            Op::Text { x, y, .. } => {
                *x += dx;
                *y += dy;
            }
            Op::Rects { rects, .. } => {
                for r in rects {
                    r[0] += dx;
                    r[1] += dy;
                }
            }
        }
        self
    }
}

/// An unbreakable piece of content, its operations relative to its top left corner.
#[derive(Debug, Clone, Default)]
struct Frag {
    height: f32,
    ops: Vec<Op>,
}

impl Frag {
    fn rect(&mut self, x: f32, y: f32, w: f32, h: f32, grey: u8) {
        self.ops.push(Op::Rects {
            rects: vec![[x, y, w, h]],
            grey,
        });
    }

    /// Appends `other` below the current content.
    fn stack(&mut self, other: Frag) {
        let dy = self.height;
        self.ops
            .extend(other.ops.into_iter().map(|op| op.shifted(0.0, dy)));
        self.height += other.height;
    }
}

enum Piece {
    Space(f32),
    Frag { frag: Frag, keep_with_next: bool },
    Table { header: Frag, rows: Vec<Frag> },
}

/// Text style of a run: face, size, grey.
#[derive(Clone, Copy)]
struct Style {
    weight: Weight,
    size: f32,
    grey: u8,
}

impl Style {
    const BODY: Style = Style {
        weight: Weight::Regular,
        size: BODY,
        grey: BLACK,
    };

    fn face(self) -> &'static Face {
        Fonts::get().face(self.weight)
    }

    fn line_height(self) -> f32 {
        self.size * LEADING
    }

    /// The baseline's distance from the top of a line box.
    fn baseline(self) -> f32 {
        let face = self.face();
        let glyph_height = (face.ascent + face.descent) * self.size;
        (self.line_height() - glyph_height) / 2.0 + face.ascent * self.size
    }

    fn text(self, x: f32, top: f32, text: String) -> Op {
        Op::Text {
            x,
            y: top + self.baseline(),
            size: self.size,
            weight: self.weight,
            grey: self.grey,
            text,
        }
    }

    fn width(self, text: &str) -> f32 {
        self.face().width(text, self.size)
    }

    /// Wraps `text` to lines no wider than `width`: at spaces, inside words only when a word
    /// alone is too wide; `\n` breaks a line; runs of spaces and tabs collapse to one space.
    fn wrap(self, text: &str, width: f32) -> Vec<String> {
        let face = self.face();
        let space = face.width(" ", self.size);
        let mut lines = Vec::new();
        for para in text.split('\n') {
            let mut line = String::new();
            let mut line_w = 0.0;
            for word in para.split([' ', '\t', '\r']).filter(|w| !w.is_empty()) {
                let word: String = word.chars().filter(|c| !c.is_control()).collect();
                let word_w = face.width(&word, self.size);
                if line.is_empty() && word_w <= width {
                    line = word;
                    line_w = word_w;
                } else if !line.is_empty() && line_w + space + word_w <= width {
                    line.push(' ');
                    line.push_str(&word);
                    line_w += space + word_w;
                } else if word_w <= width {
                    lines.push(std::mem::take(&mut line));
                    line = word;
                    line_w = word_w;
                } else {
                    // A word wider than the line: break it between characters.
                    if !line.is_empty() {
                        line.push(' ');
                        line_w += space;
                    }
                    for c in word.chars() {
                        let w = face.glyph(c).1 * self.size;
                        if line_w + w > width && !line.trim_end().is_empty() {
                            let done = std::mem::take(&mut line);
                            lines.push(done.trim_end().to_owned());
                            line_w = 0.0;
                        }
                        line.push(c);
                        line_w += w;
                    }
                }
            }
            lines.push(line);
        }
        lines
    }

    /// `lines` set in a column of `width`, aligned, starting at `top`.
    fn lines(self, lines: Vec<String>, width: f32, align: Align, top: f32) -> Vec<Op> {
        let lh = self.line_height();
        lines
            .into_iter()
            .enumerate()
            .filter(|(_, line)| !line.is_empty())
            .map(|(i, line)| {
                let x = match align {
                    Align::Left => 0.0,
                    Align::Right => width - self.width(&line),
                    Align::Center => (width - self.width(&line)) / 2.0,
                };
                self.text(x, top + i as f32 * lh, line)
            })
            .collect()
    }
}

fn heading_style(level: u8) -> (Style, f32, f32) {
    let (size, before, after) = match level {
        1 => (15.0, 0.0, 8.0),
        2 => (11.5, 10.0, 4.0),
        _ => (9.5, 6.0, 2.0),
    };
    let style = Style {
        weight: Weight::Bold,
        size,
        grey: BLACK,
    };
    (style, before, after)
}

/// The pieces of one block laid out in `width`.
fn pieces(block: &Block, width: f32, out: &mut Vec<Piece>) {
    match &block.0 {
        BlockKind::Heading(text, level) => {
            let (style, before, after) = heading_style(*level);
            let lines = style.wrap(text, width);
            let n = lines.len() as f32;
            let ops = style.lines(lines, width, Align::Left, 0.0);
            out.push(Piece::Space(before));
            out.push(Piece::Frag {
                frag: Frag {
                    height: n * style.line_height() + after,
                    ops,
                },
                keep_with_next: true,
            });
        }
        BlockKind::Paragraph(text) => paragraph(Style::BODY, text, width, out),
        BlockKind::Small(text) => {
            let style = Style {
                weight: Weight::Regular,
                size: SMALL,
                grey: GREY_TEXT,
            };
            paragraph(style, text, width, out)
        }
        BlockKind::KeyValues(pairs) => key_values(pairs, width, out),
        BlockKind::Columns(left, right) => {
            let half = (width - COLUMN_GAP) / 2.0;
            let l = column(left, half);
            let r = column(right, half);
            let mut frag = Frag {
                height: l.height.max(r.height),
                ops: l.ops,
            };
            frag.ops.extend(
                r.ops
                    .into_iter()
                    .map(|op| op.shifted(half + COLUMN_GAP, 0.0)),
            );
            out.push(Piece::Frag {
                frag,
                keep_with_next: false,
            });
            out.push(Piece::Space(PARAGRAPH_AFTER));
        }
        BlockKind::Table(table) => {
            let (header, rows) = table_frags(table, width);
            out.push(Piece::Table { header, rows });
            out.push(Piece::Space(PARAGRAPH_AFTER * 2.0));
        }
        BlockKind::Totals(rows) => {
            out.push(Piece::Frag {
                frag: totals(rows, width),
                keep_with_next: false,
            });
            out.push(Piece::Space(PARAGRAPH_AFTER));
        }
        BlockKind::Qr {
            matrix,
            caption,
            size,
        } => {
            out.push(Piece::Frag {
                frag: qr(matrix, caption, *size, width),
                keep_with_next: false,
            });
            out.push(Piece::Space(PARAGRAPH_AFTER));
        }
        BlockKind::Spacer(h) => out.push(Piece::Space(*h)),
        BlockKind::Rule => {
            let mut frag = Frag {
                height: 8.0,
                ..Frag::default()
            };
            frag.rect(0.0, 3.75, width, 0.5, GREY_RULE);
            out.push(Piece::Frag {
                frag,
                keep_with_next: false,
            });
        }
    }
}

fn paragraph(style: Style, text: &str, width: f32, out: &mut Vec<Piece>) {
    let lh = style.line_height();
    for line in style.wrap(text, width) {
        let ops = style.lines(vec![line], width, Align::Left, 0.0);
        out.push(Piece::Frag {
            frag: Frag { height: lh, ops },
            keep_with_next: false,
        });
    }
    out.push(Piece::Space(PARAGRAPH_AFTER));
}

fn key_values(pairs: &[(String, String)], width: f32, out: &mut Vec<Piece>) {
    let label_style = Style {
        grey: GREY_TEXT,
        ..Style::BODY
    };
    let value_style = Style::BODY;
    let gap = 6.0;
    let widest = pairs
        .iter()
        .map(|(k, _)| label_style.width(k))
        .fold(0.0, f32::max);
    let label_w = widest.min(width * 0.45);
    let value_x = label_w + gap;
    let value_w = (width - value_x).max(width * 0.3);
    for (k, v) in pairs {
        let labels = label_style.wrap(k, label_w);
        let values = value_style.wrap(v, value_w);
        let n = labels.len().max(values.len()) as f32;
        let mut ops = label_style.lines(labels, label_w, Align::Left, 0.0);
        ops.extend(
            value_style
                .lines(values, value_w, Align::Left, 0.0)
                .into_iter()
                .map(|op| op.shifted(value_x, 0.0)),
        );
        out.push(Piece::Frag {
            frag: Frag {
                height: n * value_style.line_height() + 1.0,
                ops,
            },
            keep_with_next: false,
        });
    }
    out.push(Piece::Space(PARAGRAPH_AFTER));
}

/// A list of blocks stacked into one unbreakable fragment.
fn column(blocks: &[Block], width: f32) -> Frag {
    let mut list = Vec::new();
    for block in blocks {
        pieces(block, width, &mut list);
    }
    let mut frag = Frag::default();
    let mut pending_space = 0.0;
    for piece in list {
        match piece {
            Piece::Space(h) => {
                if frag.height > 0.0 {
                    pending_space += h;
                }
            }
            Piece::Frag { frag: f, .. } => {
                frag.height += pending_space;
                pending_space = 0.0;
                frag.stack(f);
            }
            Piece::Table { header, rows } => {
                frag.height += pending_space;
                pending_space = 0.0;
                frag.stack(header);
                for row in rows {
                    frag.stack(row);
                }
            }
        }
    }
    frag
}

fn table_frags(table: &Table, width: f32) -> (Frag, Vec<Frag>) {
    let total: f32 = table.widths.iter().sum();
    let widths: Vec<f32> = table.widths.iter().map(|w| w / total * width).collect();
    let header_style = Style {
        weight: Weight::Bold,
        size: TABLE,
        grey: BLACK,
    };
    let cell_style = Style {
        weight: Weight::Regular,
        size: TABLE,
        grey: BLACK,
    };
    let row = |cells: &[String], style: Style, header: bool| -> Frag {
        let lh = style.line_height();
        let mut x = 0.0;
        let mut ops = Vec::new();
        let mut n_lines = 1usize;
        for ((cell, w), align) in cells.iter().zip(&widths).zip(&table.aligns) {
            let inner = (w - 2.0 * CELL_PAD_X).max(1.0);
            let lines = style.wrap(cell, inner);
            n_lines = n_lines.max(lines.len());
            ops.extend(
                style
                    .lines(lines, inner, *align, CELL_PAD_Y)
                    .into_iter()
                    .map(|op| op.shifted(x + CELL_PAD_X, 0.0)),
            );
            x += w;
        }
        let height = n_lines as f32 * lh + 2.0 * CELL_PAD_Y;
        let mut frag = Frag::default();
        if header {
            frag.rect(0.0, 0.0, width, height, GREY_FILL);
            frag.rect(0.0, 0.0, width, 0.75, GREY_RULE);
            frag.rect(0.0, height - 0.75, width, 0.75, GREY_RULE);
        } else {
            frag.rect(0.0, height - 0.4, width, 0.4, GREY_RULE);
        }
        frag.ops.extend(ops);
        frag.height = height;
        frag
    };
    let header = row(&table.headers, header_style, true);
    let rows = table
        .rows
        .iter()
        .map(|cells| row(cells, cell_style, false))
        .collect();
    (header, rows)
}

fn totals(rows: &[(String, String)], width: f32) -> Frag {
    let box_w = (width * 0.5).max(200.0).min(width);
    let x0 = width - box_w;
    let mut frag = Frag::default();
    let last = rows.len().saturating_sub(1);
    for (i, (label, value)) in rows.iter().enumerate() {
        let style = if i == last {
            Style {
                weight: Weight::Bold,
                size: 10.5,
                grey: BLACK,
            }
        } else {
            Style::BODY
        };
        if i == last && rows.len() > 1 {
            frag.height += 2.0;
            frag.rect(x0, frag.height, box_w, 0.75, GREY_RULE);
            frag.height += 2.0;
        }
        let value_w = style.width(value).min(box_w * 0.6);
        let label_w = box_w - value_w - 8.0;
        let labels = style.wrap(label, label_w);
        let values = style.wrap(value, value_w.max(1.0));
        let n = labels.len().max(values.len()) as f32;
        let top = frag.height;
        let mut ops = style.lines(labels, label_w, Align::Left, top);
        ops.extend(style.lines(values, box_w, Align::Right, top));
        frag.ops
            .extend(ops.into_iter().map(|op| op.shifted(x0, 0.0)));
        frag.height += n * style.line_height();
    }
    frag
}

/// Quiet zone around a QR code, in modules (ISO/IEC 18004 asks for 4).
const QUIET_ZONE: usize = 4;

fn qr(matrix: &QrMatrix, caption: &str, size: f32, width: f32) -> Frag {
    let n = matrix.width;
    let module = size / (n + 2 * QUIET_ZONE) as f32;
    let caption_style = Style {
        weight: Weight::Regular,
        size: SMALL,
        grey: BLACK,
    };
    let caption_lines = caption_style.wrap(caption, width);
    let caption_w = caption_lines
        .iter()
        .map(|l| caption_style.width(l))
        .fold(0.0, f32::max);
    let box_w = size.max(caption_w).min(width);
    let qr_x = (box_w - size) / 2.0 + QUIET_ZONE as f32 * module;
    let qr_y = QUIET_ZONE as f32 * module;
    // Dark modules, merged into horizontal runs: one rectangle per run.
    let mut rects = Vec::new();
    for y in 0..n {
        let row = &matrix.dark[y * n..(y + 1) * n];
        let mut x = 0;
        while x < n {
            if row[x] {
                let start = x;
                while x < n && row[x] {
                    x += 1;
                }
                rects.push([
                    qr_x + start as f32 * module,
                    qr_y + y as f32 * module,
                    (x - start) as f32 * module,
                    module,
                ]);
            } else {
                x += 1;
            }
        }
    }
    let mut frag = Frag {
        height: size,
        ops: vec![Op::Rects { rects, grey: BLACK }],
    };
    let n_lines = caption_lines.len() as f32;
    let caption_top = size - (QUIET_ZONE as f32 - 1.0) * module;
    frag.ops
        .extend(caption_style.lines(caption_lines, box_w, Align::Center, caption_top));
    frag.height = caption_top + n_lines * caption_style.line_height();
    frag
}

/// A laid-out page: its operations, without the footer.
pub(crate) struct Page {
    pub(crate) ops: Vec<Op>,
}

struct Flow {
    pages: Vec<Page>,
    y: f32,
}

impl Flow {
    fn at_top(&self) -> bool {
        self.y <= MARGIN_TOP + 0.01
    }

    fn new_page(&mut self) {
        self.pages.push(Page { ops: Vec::new() });
        self.y = MARGIN_TOP;
    }

    fn fits(&self, height: f32) -> bool {
        self.y + height <= CONTENT_BOTTOM + 0.01
    }

    fn place(&mut self, frag: &Frag) {
        let y = self.y;
        let page = self.pages.last_mut().expect("a page is open");
        page.ops
            .extend(frag.ops.iter().cloned().map(|op| op.shifted(MARGIN_X, y)));
        self.y += frag.height;
    }
}

/// The height a piece needs together with the first unbreakable part of what follows it.
fn lead_height(rest: &[Piece]) -> f32 {
    for piece in rest {
        match piece {
            Piece::Space(_) => continue,
            Piece::Frag { frag, .. } => return frag.height,
            Piece::Table { header, rows } => {
                return header.height + rows.first().map_or(0.0, |r| r.height);
            }
        }
    }
    0.0
}

/// Lays out the whole document.
pub(crate) fn layout(doc: &Document) -> Vec<Page> {
    let mut list = Vec::new();
    for block in &doc.blocks {
        pieces(block, CONTENT_WIDTH, &mut list);
    }
    let mut flow = Flow {
        pages: Vec::new(),
        y: 0.0,
    };
    flow.new_page();
    for (i, piece) in list.iter().enumerate() {
        match piece {
            Piece::Space(h) => {
                if !flow.at_top() {
                    flow.y += h;
                }
            }
            Piece::Frag {
                frag,
                keep_with_next,
            } => {
                let mut need = frag.height;
                if *keep_with_next {
                    need += lead_height(&list[i + 1..]);
                }
                if !flow.fits(need) && !flow.at_top() {
                    flow.new_page();
                }
                flow.place(frag);
            }
            Piece::Table { header, rows } => {
                let first = rows.first().map_or(0.0, |r| r.height);
                if !flow.fits(header.height + first) && !flow.at_top() {
                    flow.new_page();
                }
                flow.place(header);
                for row in rows {
                    if !flow.fits(row.height) {
                        flow.new_page();
                        flow.place(header);
                    }
                    flow.place(row);
                }
            }
        }
    }
    flow.pages
}

/// The footer of page `n` (1-based) of `total`.
pub(crate) fn footer(text: &str, n: usize, total: usize) -> Vec<Op> {
    let style = Style {
        weight: Weight::Regular,
        size: SMALL,
        grey: GREY_TEXT,
    };
    let top = CONTENT_BOTTOM + 4.0 * MM;
    let mut ops = vec![Op::Rects {
        rects: vec![[MARGIN_X, top - 2.0, CONTENT_WIDTH, 0.5]],
        grey: GREY_RULE,
    }];
    let page_no = format!("strona {n} z {total}");
    let page_w = style.width(&page_no);
    ops.extend(
        style
            .lines(vec![page_no], CONTENT_WIDTH, Align::Right, top)
            .into_iter()
            .map(|op| op.shifted(MARGIN_X, 0.0)),
    );
    if !text.is_empty() {
        let lines = style.wrap(text, CONTENT_WIDTH - page_w - 12.0);
        ops.extend(
            style
                .lines(lines, CONTENT_WIDTH, Align::Left, top)
                .into_iter()
                .map(|op| op.shifted(MARGIN_X, 0.0)),
        );
    }
    ops
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrap_breaks_at_spaces_and_inside_overlong_words() {
        let style = Style::BODY;
        let lines = style.wrap("ala ma kota\n\nżółw", 1000.0);
        assert_eq!(lines, ["ala ma kota", "", "żółw"]);
        let narrow = style.width("ala ma") + 0.1;
        assert_eq!(style.wrap("ala  ma\tkota", narrow), ["ala ma", "kota"]);
        let long = "x".repeat(100);
        let lines = style.wrap(&long, 50.0);
        assert!(lines.len() > 1);
        assert_eq!(lines.concat(), long);
        assert!(lines.iter().all(|l| style.width(l) <= 50.0));
    }

    #[test]
    fn polish_letters_have_glyphs_in_both_faces() {
        let fonts = Fonts::get();
        for face in [&fonts.regular, &fonts.bold] {
            for c in "ąćęłńóśźżĄĆĘŁŃÓŚŹŻ„”–—…€§".chars() {
                let (gid, advance) = face.glyph(c);
                assert!(gid != 0 && advance > 0.0, "{c:?}");
            }
        }
    }

    #[test]
    fn table_rows_fill_pages_and_each_page_starts_with_the_header() {
        let mut table = Table::new(&["a", "b"], &[1.0, 1.0], &[Align::Left, Align::Right]).unwrap();
        for i in 0..120 {
            table.push_row([format!("{i}"), "x".to_owned()]).unwrap();
        }
        let mut doc = Document::new("t");
        doc.table(table);
        let pages = layout(&doc);
        assert!(pages.len() >= 2);
        for page in &pages {
            // The header's background is the first thing on every page.
            match &page.ops[0] {
                Op::Rects { grey, rects } => {
                    assert_eq!(*grey, GREY_FILL);
                    assert!((rects[0][1] - MARGIN_TOP).abs() < 0.01);
                }
                op => panic!("{op:?}"),
            }
            for op in &page.ops {
                if let Op::Text { y, .. } = op {
                    assert!(*y <= CONTENT_BOTTOM, "{y}");
                }
            }
        }
    }

    #[test]
    fn a_heading_is_never_the_last_line_of_a_page() {
        let texts = |page: &Page| -> Vec<String> {
            page.ops
                .iter()
                .filter_map(|op| match op {
                    Op::Text { text, .. } => Some(text.clone()),
                    _ => None,
                })
                .collect()
        };
        let mut moved = 0;
        for n in 40..=70 {
            let mut doc = Document::new("t");
            for _ in 0..n {
                doc.paragraph("wiersz");
            }
            doc.heading("Sekcja", 2).paragraph("treść");
            let pages = layout(&doc);
            for page in &pages {
                assert_ne!(
                    texts(page).last().map(String::as_str),
                    Some("Sekcja"),
                    "{n}"
                );
            }
            if pages.len() > 1 && texts(&pages[1]).first().map(String::as_str) == Some("Sekcja") {
                moved += 1;
            }
        }
        assert!(moved > 0, "no case put the heading at a page break");
    }
}
