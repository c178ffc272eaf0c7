//! One line of label text as anti-aliased coverage, set in the embedded DejaVu Sans Condensed
//! of `ksef-pdf` (so the PNG labels look like the PDFs' text).
//!
//! `skrifa` reads each glyph's outline and advance from the font (the fontations reader that
//! `ksef-pdf`'s `read-fonts` belongs to); `ab_glyph_rasterizer` fills the outlines (lines and
//! Bézier curves to per-pixel coverage). Glyphs are placed one per character from their
//! advances, without shaping or kerning, as `ksef-pdf` does; a character the font lacks takes
//! the font's `.notdef` box.

use ab_glyph_rasterizer::{Point, Rasterizer, point};
use skrifa::instance::{LocationRef, Size};
use skrifa::outline::{DrawSettings, OutlinePen};
use skrifa::{FontRef, GlyphId, MetadataProvider};

/// A line of text as coverage (0 = paper, 1 = ink), `width × height`, baseline `baseline`
/// pixels from the top.
pub(super) struct TextRaster {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) baseline: usize,
    pub(super) coverage: Vec<f32>,
}

fn font() -> Option<FontRef<'static>> {
    // The face is part of ksef-pdf and read by every test of this crate; were it ever
    // unreadable, labels would come out empty rather than fail the image.
    FontRef::new(ksef_pdf::fonts::DEJAVU_SANS_CONDENSED).ok()
}

/// Ascender and descender (positive, below the baseline) at `px` pixels per em.
pub(super) fn vertical_metrics(px: f32) -> (f32, f32) {
    match font() {
        Some(f) => {
            let m = f.metrics(Size::new(px), LocationRef::default());
            (m.ascent, -m.descent)
        }
        None => (px * 0.76, px * 0.24),
    }
}

fn glyphs(font: &FontRef<'_>, text: &str) -> Vec<GlyphId> {
    let charmap = font.charmap();
    text.chars()
        .map(|c| charmap.map(c).unwrap_or(GlyphId::NOTDEF))
        .collect()
}

/// The width of `text` at `px` pixels per em.
pub(super) fn advance(text: &str, px: f32) -> f32 {
    let Some(font) = font() else {
        return 0.0;
    };
    let metrics = font.glyph_metrics(Size::new(px), LocationRef::default());
    glyphs(&font, text)
        .into_iter()
        .map(|g| metrics.advance_width(g).unwrap_or(0.0))
        .sum()
}

/// Feeds outline segments to the rasterizer, offset by the pen position and flipped (font y
/// points up, image y down).
struct Pen<'r> {
    raster: &'r mut Rasterizer,
    origin_x: f32,
    baseline: f32,
    start: Point,
    last: Point,
}

impl Pen<'_> {
    fn at(&self, x: f32, y: f32) -> Point {
        point(self.origin_x + x, self.baseline - y)
    }
}

impl OutlinePen for Pen<'_> {
    fn move_to(&mut self, x: f32, y: f32) {
        self.start = self.at(x, y);
        self.last = self.start;
    }

    fn line_to(&mut self, x: f32, y: f32) {
        let p = self.at(x, y);
        self.raster.draw_line(self.last, p);
        self.last = p;
    }

    fn quad_to(&mut self, cx0: f32, cy0: f32, x: f32, y: f32) {
        let (c, p) = (self.at(cx0, cy0), self.at(x, y));
        self.raster.draw_quad(self.last, c, p);
        self.last = p;
    }

    fn curve_to(&mut self, cx0: f32, cy0: f32, cx1: f32, cy1: f32, x: f32, y: f32) {
        let (c0, c1, p) = (self.at(cx0, cy0), self.at(cx1, cy1), self.at(x, y));
        self.raster.draw_cubic(self.last, c0, c1, p);
        self.last = p;
    }

    fn close(&mut self) {
        if self.last != self.start {
            self.raster.draw_line(self.last, self.start);
        }
        self.last = self.start;
    }
}

/// `text` at `px` pixels per em.
pub(super) fn rasterize(text: &str, px: f32) -> TextRaster {
    let (ascent, descent) = vertical_metrics(px);
    let baseline = ascent.ceil();
    let width = advance(text, px).ceil().max(1.0) as usize + 2;
    let height = (baseline + descent.ceil()).max(1.0) as usize + 1;
    let mut raster = Rasterizer::new(width, height);
    if let Some(font) = font() {
        let size = Size::new(px);
        let metrics = font.glyph_metrics(size, LocationRef::default());
        let outlines = font.outline_glyphs();
        let mut x = 1.0;
        for g in glyphs(&font, text) {
            if let Some(outline) = outlines.get(g) {
                let mut pen = Pen {
                    raster: &mut raster,
                    origin_x: x,
                    baseline,
                    start: point(0.0, 0.0),
                    last: point(0.0, 0.0),
                };
                // A glyph that cannot be drawn is left blank (no fallible input here: the
                // font is ours).
                let _ = outline.draw(
                    DrawSettings::unhinted(size, LocationRef::default()),
                    &mut pen,
                );
            }
            x += metrics.advance_width(g).unwrap_or(0.0);
        }
    }
    let mut coverage = vec![0.0; width * height];
    raster.for_each_pixel(|i, a| {
        if let Some(c) = coverage.get_mut(i) {
            *c = a;
        }
    });
    TextRaster {
        width,
        height,
        baseline: baseline as usize,
        coverage,
    }
}
