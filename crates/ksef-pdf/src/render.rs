//! Laid-out pages → PDF bytes, written with `pdf-writer`.
//!
//! Each face the document uses is embedded once as a Type 0 font (CIDFontType2, Identity-H)
//! over a subset of the TrueType file (`subsetter`) holding only the glyphs the document
//! shows; the subset's glyph ids are the CIDs. Its `/W` array holds the same advances the
//! layout measured with, and its ToUnicode CMap maps every CID back to its character, so text
//! extraction (search, copy, `pdftotext`) returns the original text, Polish letters included.
//! Content streams and font files are deflate-compressed.

use std::io::Write as _;

use pdf_writer::types::{CidFontType, FontFlags, SystemInfo};
use pdf_writer::writers::FontDescriptor;
use pdf_writer::{Content, Filter, Finish, Name, Pdf, Rect, Ref, Str, TextStr};
use subsetter::GlyphRemapper;

use crate::font::{Face, Fonts, Weight};
use crate::layout::{self, Op, PAGE_HEIGHT, PAGE_WIDTH, Page};
use crate::{Document, PdfError};

/// The glyphs one face contributes to a document.
struct UsedFace {
    face: &'static Face,
    resource: &'static [u8],
    remapper: GlyphRemapper,
    /// The character of each CID (subset glyph id), for ToUnicode.
    chars: Vec<Option<char>>,
    used: bool,
}

impl UsedFace {
    fn new(face: &'static Face, resource: &'static [u8]) -> UsedFace {
        UsedFace {
            face,
            resource,
            remapper: GlyphRemapper::new(),
            chars: vec![None],
            used: false,
        }
    }

    /// The text as a string of 2-byte CIDs, registering its glyphs.
    fn encode(&mut self, text: &str) -> Vec<u8> {
        self.used = true;
        let mut out = Vec::with_capacity(2 * text.len());
        for c in text.chars() {
            let cid = self.remapper.remap(self.face.glyph(c).0);
            let slot = usize::from(cid);
            if self.chars.len() <= slot {
                self.chars.resize(slot + 1, None);
            }
            self.chars[slot].get_or_insert(c);
            out.extend_from_slice(&cid.to_be_bytes());
        }
        out
    }
}

fn deflate(data: &[u8]) -> Vec<u8> {
    let mut encoder = flate2::write::ZlibEncoder::new(
        Vec::with_capacity(data.len() / 2),
        flate2::Compression::new(6),
    );
    encoder.write_all(data).expect("writing to memory");
    encoder.finish().expect("writing to memory")
}

pub(crate) fn render(doc: &Document, pages: &[Page]) -> Result<Vec<u8>, PdfError> {
    let fonts = Fonts::get();
    let mut faces = [
        UsedFace::new(&fonts.regular, b"F1"),
        UsedFace::new(&fonts.bold, b"F2"),
    ];

    let mut alloc = Ref::new(1);
    let catalog_id = alloc.bump();
    let tree_id = alloc.bump();
    let info_id = alloc.bump();
    let font_ids: Vec<Ref> = faces.iter().map(|_| alloc.bump()).collect();
    let page_ids: Vec<Ref> = pages.iter().map(|_| alloc.bump()).collect();

    let mut pdf = Pdf::new();
    pdf.set_version(1, 7);
    let total = pages.len();
    for (i, page) in pages.iter().enumerate() {
        let footer = layout::footer(&doc.footer, i + 1, total);
        let content = page_content(page.ops.iter().chain(&footer), &mut faces);
        let content_id = alloc.bump();
        pdf.stream(content_id, &deflate(&content))
            .filter(Filter::FlateDecode);
        let mut pdf_page = pdf.page(page_ids[i]);
        pdf_page
            .media_box(Rect::new(0.0, 0.0, PAGE_WIDTH, PAGE_HEIGHT))
            .parent(tree_id)
            .contents(content_id);
        let mut resources = pdf_page.resources();
        let mut font_dict = resources.fonts();
        for (face, id) in faces.iter().zip(&font_ids) {
            if face.used {
                font_dict.pair(Name(face.resource), *id);
            }
        }
    }

    for (face, id) in faces.iter().zip(&font_ids) {
        if face.used {
            write_font(&mut pdf, &mut alloc, *id, face)?;
        }
    }

    pdf.pages(tree_id)
        .kids(page_ids.iter().copied())
        .count(page_ids.len() as i32);
    pdf.catalog(catalog_id).pages(tree_id).lang(TextStr("pl"));
    let mut info = pdf.document_info(info_id);
    if !doc.title.is_empty() {
        info.title(TextStr(&doc.title));
    }
    info.creator(TextStr("ksef-pdf"));
    info.finish();
    Ok(pdf.finish())
}

fn grey(level: u8) -> f32 {
    f32::from(level) / 255.0
}

/// A page's content stream. The layout's y axis points down from the top of the page, PDF's
/// up from the bottom.
fn page_content<'a>(ops: impl Iterator<Item = &'a Op>, faces: &mut [UsedFace; 2]) -> Vec<u8> {
    let mut content = Content::new();
    for op in ops {
        match op {
            Op::Text {
                x,
                y,
                size,
                weight,
                grey: g,
                text,
            } => {
                let face = match weight {
                    Weight::Regular => &mut faces[0],
                    Weight::Bold => &mut faces[1],
                };
                let encoded = face.encode(text);
                content
                    .set_fill_gray(grey(*g))
                    .begin_text()
                    .set_font(Name(face.resource), *size)
                    .set_text_matrix([1.0, 0.0, 0.0, 1.0, *x, PAGE_HEIGHT - *y])
                    .show(Str(&encoded))
                    .end_text();
            }
            Op::Rects { rects, grey: g } => {
                content.set_fill_gray(grey(*g));
                for [x, y, w, h] in rects {
                    content.rect(*x, PAGE_HEIGHT - *y - *h, *w, *h);
                }
                content.fill_nonzero();
            }
        }
    }
    content.finish().to_vec()
}

/// A subset tag (six capital letters, PDF 32000-1 §9.6.4) derived from the glyph set, so the
/// same text gives the same file.
fn subset_tag(face: &UsedFace) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for old in face.remapper.remapped_gids() {
        hash = (hash ^ u64::from(old)).wrapping_mul(0x0100_0000_01b3);
    }
    (0..6)
        .map(|i| char::from(b'A' + ((hash >> (i * 8)) % 26) as u8))
        .collect()
}

fn write_font(
    pdf: &mut Pdf,
    alloc: &mut Ref,
    type0_id: Ref,
    face: &UsedFace,
) -> Result<(), PdfError> {
    let cid_id = alloc.bump();
    let descriptor_id = alloc.bump();
    let cmap_id = alloc.bump();
    let file_id = alloc.bump();
    let font = face.face;
    let base = format!("{}+{}", subset_tag(face), font.postscript_name);
    let base = Name(base.as_bytes());
    let system_info = SystemInfo {
        registry: Str(b"Adobe"),
        ordering: Str(b"Identity"),
        supplement: 0,
    };

    pdf.type0_font(type0_id)
        .base_font(base)
        .encoding_predefined(Name(b"Identity-H"))
        .descendant_font(cid_id)
        .to_unicode(cmap_id);

    let widths: Vec<f32> = face
        .remapper
        .remapped_gids()
        .map(|old| (font.advance(old) * 1000.0).round())
        .collect();
    let mut cid_font = pdf.cid_font(cid_id);
    cid_font
        .subtype(CidFontType::Type2)
        .base_font(base)
        .system_info(system_info)
        .font_descriptor(descriptor_id)
        .cid_to_gid_map_predefined(Name(b"Identity"));
    cid_font.widths().consecutive(0, widths);
    cid_font.finish();

    let em = |v: f32| (v * 1000.0).round();
    let mut descriptor: FontDescriptor<'_> = pdf.font_descriptor(descriptor_id);
    descriptor
        .name(base)
        .flags(FontFlags::NON_SYMBOLIC)
        .bbox(Rect::new(
            em(font.bbox[0]),
            em(font.bbox[1]),
            em(font.bbox[2]),
            em(font.bbox[3]),
        ))
        .italic_angle(0.0)
        .ascent(em(font.ascent))
        .descent(em(-font.descent))
        .cap_height(em(font.cap_height))
        .stem_v(if font.bold { 140.0 } else { 80.0 })
        .font_file2(file_id);
    descriptor.finish();

    let mut cmap = pdf_writer::types::UnicodeCmap::new(Name(b"Custom"), system_info);
    for (cid, c) in face.chars.iter().enumerate() {
        if let Some(c) = c {
            cmap.pair(cid as u16, *c);
        }
    }
    pdf.stream(cmap_id, &deflate(&cmap.finish()))
        .filter(Filter::FlateDecode);

    let subset = subsetter::subset(font.data, 0, &face.remapper)
        .map_err(|e| PdfError::Writer(format!("font subsetting: {e}")))?;
    let compressed = deflate(&subset);
    let mut file = pdf.stream(file_id, &compressed);
    file.filter(Filter::FlateDecode);
    file.pair(Name(b"Length1"), subset.len() as i32);
    file.finish();
    Ok(())
}
