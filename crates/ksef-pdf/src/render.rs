//! Laid-out pages → PDF bytes, through krilla (which subsets the fonts and writes the
//! ToUnicode maps).

use krilla::Document as PdfDocument;
use krilla::color::luma;
use krilla::geom::{PathBuilder, Point, Rect};
use krilla::metadata::Metadata;
use krilla::page::PageSettings;
use krilla::paint::Fill;
use krilla::surface::Surface;

use crate::font::Fonts;
use crate::layout::{self, Op, PAGE_HEIGHT, PAGE_WIDTH, Page};
use crate::{Document, PdfError};

pub(crate) fn render(doc: &Document, pages: &[Page]) -> Result<Vec<u8>, PdfError> {
    let fonts = Fonts::get();
    let mut pdf = PdfDocument::new();
    let mut metadata = Metadata::new()
        .language("pl".into())
        .creator("ksef-pdf".into());
    if !doc.title.is_empty() {
        metadata = metadata.title(doc.title.clone());
    }
    pdf.set_metadata(metadata);
    let settings = PageSettings::from_wh(PAGE_WIDTH, PAGE_HEIGHT).expect("A4 is a valid size");
    let total = pages.len();
    for (i, page) in pages.iter().enumerate() {
        let mut pdf_page = pdf.start_page_with(settings.clone());
        let mut surface = pdf_page.surface();
        for op in page
            .ops
            .iter()
            .chain(layout::footer(&doc.footer, i + 1, total).iter())
        {
            draw(&mut surface, fonts, op);
        }
        surface.finish();
        pdf_page.finish();
    }
    pdf.finish()
        .map_err(|e| PdfError::Writer(format!("{e:?}")))
}

fn fill(grey: u8) -> Fill {
    Fill {
        paint: luma::Color::new(grey).into(),
        ..Fill::default()
    }
}

fn draw(surface: &mut Surface<'_>, fonts: &Fonts, op: &Op) {
    match op {
        Op::Text {
            x,
            y,
            size,
            weight,
            grey,
            text,
        } => {
            let face = fonts.face(*weight);
            surface.set_fill(Some(fill(*grey)));
            surface.draw_glyphs(
                Point::from_xy(*x, *y),
                &face.glyphs(text),
                face.krilla.clone(),
                text,
                *size,
                false,
            );
        }
        Op::Rects { rects, grey } => {
            let mut path = PathBuilder::new();
            for [x, y, w, h] in rects {
                if let Some(rect) = Rect::from_xywh(*x, *y, *w, *h) {
                    path.push_rect(rect);
                }
            }
            if let Some(path) = path.finish() {
                surface.set_fill(Some(fill(*grey)));
                surface.draw_path(&path);
            }
        }
    }
}
